"""Who hung up, and the wait, ring and talk seconds of a finished call: ONE set of rules
for inbound and outbound calls (the module docstring of ``telephony.tracker`` states
them). The direction only says what its two sides are called and which party may be
blamed for an unanswered call; everything else is the same arithmetic."""

from __future__ import annotations

from dataclasses import dataclass

from telephony.tracker.model import Call


@dataclass(frozen=True, slots=True)
class Figures:
    hangup_by: str
    wait_s: int | None
    ring_s: int | None
    talk_s: int | None


def seconds(start: float | None, end: float | None) -> int | None:
    """Whole seconds from ``start`` to ``end`` (never negative); None when either is unknown."""
    if start is None or end is None:
        return None
    return max(0, round(end - start))


def queue_wait(call: Call, hold: int | None, until: float) -> int | None:
    """Seconds the caller waited: from entering the FIRST queue (``queued_at``) to
    ``until`` (the answer, or leaving / abandoning the queues). With Asterisk's HoldTime
    for the queue being left (whole seconds, as app_queue counts them), that plus the
    seconds spent in the queues before it (a preferred agent's personal queue...)."""
    if hold is not None:
        return hold + (seconds(call.queued_at, call.joined_at) or 0)
    return seconds(call.queued_at, until)


def transferred(call: Call) -> bool:
    """The caller was handed on by a blind or attended transfer (a redirect is the
    caller leaving, see the inbound rules)."""
    return any(x.result == "Success" and x.kind != "redirect" for x in call.transfers)


def talk_ends(call: Call, side: str, t: float, left: str | None = None) -> None:
    """A channel of ``side`` hung up or left its bridge (``left``: its Uniqueid) at
    ``t``: the first after the answer ended the talk, and says who hung up."""
    if call.answered_at is not None and call.first_side is None:
        call.first_side = side
        call.talk_end = t
        call.talk_left = left


def talk_resumes(call: Call, uid: str) -> None:
    """The channel whose BridgeLeave ended the talk entered a bridge again: it had not
    hung up (an attended transfer's agent moves to the consult bridge, and back when
    the consult is given up), so the talk goes on."""
    if uid and call.talk_left == uid:
        call.first_side = call.talk_end = call.talk_left = None


def figures(call: Call, t: float, *, system: bool, answerer: str,
            gave_up: str | None) -> Figures:
    """The hang-up cascade and the time arithmetic of ``call`` ending at ``t``.

    ``answerer`` names the side that answered (blamed when nothing else is known:
    inbound ``caller``, outbound ``customer``), ``gave_up`` the party that ended the
    call before any answer (None: nobody to blame, the PBX did)."""
    answered = call.answered_at is not None
    if answered and (call.hangup_by == "transfer" or transferred(call)):
        hangup_by = "transfer"
    elif answered and call.first_side is not None:
        hangup_by = call.first_side  # the channels' word beats AgentComplete's Reason
    elif call.hangup_by is not None:
        hangup_by = call.hangup_by
    elif system:
        hangup_by = "system"
    elif answered:
        hangup_by = answerer
    else:
        hangup_by = gave_up or "system"
    wait_s = call.wait_s
    if wait_s is None:
        until = call.answered_at if answered else call.left_at
        wait_s = queue_wait(call, None, until or t)
    talk_s = call.talk_s
    if talk_s is None and answered:
        talk_s = seconds(call.answered_at, call.talk_end or t)
    return Figures(hangup_by=hangup_by, wait_s=wait_s, ring_s=call.ring_s, talk_s=talk_s)
