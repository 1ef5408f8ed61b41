"""A call's record from the PBX's journal (CEL, ``telephony.cel``): what the call log
needs of a call that Hotline could not watch over AMI, because it ended during an AMI
outage or while Hotline was down (issue 13 item 2). Pure.

What one Linkedid's events tell (Asterisk 22's cel.c):
- the caller's channel is the one that ran ``Queue()`` (APP_START), else the one that
  started in an inbound context (deploy/asterisk's ``from-pstn``): its caller ID is
  the caller, the Exten it started on in that context the DID;
- the queues are the first field of each ``Queue()`` APP_START, in order; the call was
  queued at the first;
- an agent's leg is a channel whose device is a queue member (``member_of``), the ;1
  half of a Local pair; it rang from its CHAN_START; it answered when it entered a
  bridge with a channel that ran Queue() (the caller's, or an attended transfer's
  consult channel: BRIDGE_ENTER, same ``bridge_id``); the call's agent is the first;
- a BLINDTRANSFER or ATTENDEDTRANSFER of the answered call: transferred;
- the call ended at LINKEDID_END (else its last event). Who hung up: the side whose
  channel hung up first after the answer, the caller's (his channel or its Local
  partner) or the agent's;
- unanswered and queued: abandoned when the caller's side hung up first, unless the
  hotline dialplan's Hangup() ended the channel that ran Queue() (``hangupsource``
  ``dialplan/builtin``: Queue()'s timeout), then no-answer; never queued: ivr-only.

An agent's Originate (click-to-dial, a callback: the first channel started in one of
``origin`` contexts or ran in one of ``outbound``) is an outbound call:
``telephony.cel_outbound`` makes its record. Calls the journal cannot make a record of
(neither: no events, a call from a phone that is not an Originate of Hotline's) are None:
the caller keeps what the tracker had.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace

from numbering.normalize import normalize
from telephony.cel import CelEvent
from telephony.cel_outbound import MemberOf, origin_of, summarize_outbound
from telephony.events import AgentAttempt, CallSummary, Transfer, ts
from telephony.tracker.model import device_of, known

TRANSFERS = {"BLINDTRANSFER": "blind", "ATTENDEDTRANSFER": "attended"}


def by_linkedid(events: Iterable[CelEvent]) -> dict[str, list[CelEvent]]:
    """Events grouped by call, each group in time order (file order among equals)."""
    groups: dict[str, list[CelEvent]] = {}
    for event in events:
        groups.setdefault(event.linkedid, []).append(event)
    for group in groups.values():
        group.sort(key=lambda e: e.time)
    return groups


def ended_calls(events: Iterable[CelEvent]) -> list[str]:
    """Linkedids whose LINKEDID_END is among ``events``, in the order they ended."""
    return [e.linkedid for e in events if e.type == "LINKEDID_END"]


def summarize(events: Sequence[CelEvent], *, inbound: Iterable[str], member_of: MemberOf,
              region: str = "CN", origin: Iterable[str] = (),
              outbound: Iterable[str] = ()) -> CallSummary | None:
    """The call-log record of one call's events (``by_linkedid``), or None. ``inbound``,
    ``origin``: the tracker's contexts of the same names; ``outbound``: the contexts
    Hotline's Originates run (click-to-dial, callbacks), where the customer is dialled."""
    if not events:
        return None
    inbound, outbound = set(inbound), set(outbound)
    start = origin_of(events, origin=set(origin), outbound=outbound)
    if start is not None and start.context not in inbound:
        return summarize_outbound(events, start, outbound=outbound, member_of=member_of,
                                  region=region)
    linkedid = events[0].linkedid
    starts = {e.uniqueid: e for e in events if e.type == "CHAN_START"}
    queue_starts = [e for e in events if e.type == "APP_START" and e.app.lower() == "queue"]
    caller = next((starts.get(e.uniqueid) or e for e in queue_starts), None)
    if caller is None:
        caller = next((e for e in starts.values() if e.context in inbound), None)
    if caller is None:
        return None  # not a call into the hotline: the journal cannot tell more
    did = next((e.exten for e in starts.values() if e.context in inbound and e.exten), None)
    queues: list[str] = []
    for e in queue_starts:
        name = e.appdata.split(",", 1)[0].strip()
        if name and name not in queues:
            queues.append(name)

    # bridges a queue's caller entered (the caller's channel, or a consult channel that
    # ran Queue() for an attended transfer): bridge_id -> when
    queued_uids = {e.uniqueid for e in queue_starts}
    queue_bridges = {str(e.extra.get("bridge_id")): e.time for e in events
                     if e.type == "BRIDGE_ENTER" and e.uniqueid in queued_uids}
    # the channel app_queue dialled: a member's own channel, or the ;1 half of her Local
    # pair (the ;2 half runs her [agents] dialplan)
    legs = [(e, member_of(e.channel)) for e in starts.values()
            if e.uniqueid != caller.uniqueid and not e.channel.endswith(";2")]
    answered: tuple[CelEvent, str, str, float] | None = None
    attempts: list[AgentAttempt] = []
    for start, (agent, interface) in ((e, m) for e, m in legs if m is not None):
        joined = next((max(e.time, queue_bridges[str(e.extra.get("bridge_id"))])
                       for e in events if e.type == "BRIDGE_ENTER"
                       and e.uniqueid == start.uniqueid
                       and str(e.extra.get("bridge_id")) in queue_bridges), None)
        queue = _queue_at(queue_starts, start.time)
        left = _left_at(events, start.uniqueid)
        if joined is not None:
            if answered is None:
                answered = (start, agent, interface, joined)
            attempts.append(AgentAttempt(
                agent=agent, interface=interface, queue=queue, result="answered",
                ring_ms=int((joined - start.time) * 1000),
                talk_s=None if left is None else max(0, round(left - joined))))
        else:
            ring = None if left is None else int((left - start.time) * 1000)
            attempts.append(AgentAttempt(agent=agent, interface=interface, queue=queue,
                                         result="no-answer", ring_ms=ring))

    end = next((e.time for e in events if e.type == "LINKEDID_END"), events[-1].time)
    transfers = tuple(
        Transfer(kind=TRANSFERS[e.type], by=answered[1] if answered else None,
                 target=str(e.extra.get("extension") or e.extra.get("transfer_target") or ""),
                 result="Success", at=ts(e.time))
        for e in events if e.type in TRANSFERS)
    queued_at = queue_starts[0].time if queue_starts else None
    # the caller ID as his channel first had it (a Local pair's may come after CHAN_START)
    side = [e for e in events if _caller_side(e, caller)]
    number = next((e.cid_num for e in side if known(e.cid_num)), None)
    shown = next((e.cid_name for e in side if known(e.cid_name)), None)
    summary = CallSummary(
        linkedid=linkedid, caller=normalize(known(number), region),
        caller_name=known(shown), did=did, queues=tuple(queues),
        agents_tried=tuple(attempts), started_at=ts(events[0].time),
        queued_at=None if queued_at is None else ts(queued_at), ended_at=ts(end))
    if answered is not None:
        start, agent, interface, at = answered
        talk = max(0, round(end - at))
        return replace(
            summary, agent=agent, agent_interface=interface,
            answered_at=ts(at), ring_s=round(at - start.time), talk_s=talk,
            wait_s=None if queued_at is None else max(0, round(at - queued_at)),
            transfers=transfers,
            outcome="transferred" if transfers else "answered",
            hangup_by="transfer" if transfers else _hung_up_by(events, caller, at))
    if queued_at is None:
        return replace(summary, outcome="ivr-only", hangup_by=_caller_or_system(events, caller))
    by = _caller_or_system(events, caller)
    return replace(summary, wait_s=max(0, round(end - queued_at)), hangup_by=by,
                   outcome="abandoned" if by == "caller" else "no-answer")


def _queue_at(queue_starts: Sequence[CelEvent], at: float) -> str:
    """The queue the caller was in at ``at``: the last Queue() started by then."""
    name = ""
    for e in queue_starts:
        if e.time <= at:
            name = e.appdata.split(",", 1)[0].strip()
    return name


def _left_at(events: Sequence[CelEvent], uniqueid: str) -> float | None:
    """When a channel left the call: its first BRIDGE_EXIT, else its HANGUP."""
    return next((e.time for e in events if e.uniqueid == uniqueid
                 and e.type in ("BRIDGE_EXIT", "HANGUP")), None)


def _caller_side(event: CelEvent, caller: CelEvent) -> bool:
    """Whether ``event``'s channel is the caller's: his channel, or the other half of its
    Local pair (the handset, in the rig; a trunk channel is one channel)."""
    return device_of(event.channel) == device_of(caller.channel)


def _first_hangup(events: Sequence[CelEvent], after: float | None = None) -> CelEvent | None:
    return next((e for e in events if e.type == "HANGUP"
                 and (after is None or e.time >= after)), None)


def _hung_up_by(events: Sequence[CelEvent], caller: CelEvent, answered_at: float) -> str:
    """caller | agent: the side whose channel hung up first after the answer (as the
    tracker reads the AMI's Hangup events: Local channels carry no hangupsource)."""
    first = _first_hangup(events, answered_at)
    if first is None:
        return "system"
    return "caller" if _caller_side(first, caller) else "agent"


def _caller_or_system(events: Sequence[CelEvent], caller: CelEvent) -> str:
    """caller when the caller's side hung up first; system when the hotline's dialplan
    ended the call: Hangup() (``dialplan/builtin``) on the channel that ran Queue() (its
    timeout). The other half of the caller's Local pair is his phone: whatever ends it
    there (on the rig, his own dialplan's Hangup()) is the caller hanging up."""
    first = _first_hangup(events)
    if first is None or not _caller_side(first, caller):
        return "system"
    source = str(first.extra.get("hangupsource") or "")
    if source == "dialplan/builtin" and first.uniqueid == caller.uniqueid:
        return "system"
    return "caller"
