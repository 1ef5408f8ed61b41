"""An outbound call's record from the PBX's journal (CEL, ``telephony.cel``): click-to-dial
and callbacks, an Originate that rings the agent's phone first and, once she answers,
runs the dialplan's outbound context, which dials the customer (issue 13 item 2). Pure;
``telephony.cel_calls.summarize`` hands it the calls that are not calls into the hotline.

What one Linkedid's events tell (Asterisk 22 on deploy/asterisk: the journals in
tests/fixtures/asterisk/cel/click-to-dial-*.csv and callback-*.csv):
- the ORIGIN is the call's first channel (Uniqueid = Linkedid; a callback's is the claim
  token). The call is outbound when the origin started in one of ``origin`` contexts (the
  agents' Local channels: the tracker's ``origin_contexts``) or later ran in one of
  ``outbound`` (the Originate's Context, where the customer is dialled);
- the agent's side: the origin, its Local partner, and every channel that started before
  the origin was answered (her phone: nothing else is dialled until she picks up). The
  customer's side: every other channel (dialled from the outbound context after that);
- the number (``caller``, as the tracker reports it: the customer's, normalised) is the
  Exten of the origin once it runs in an outbound context (the digits dialled, which the
  tracker reads from HOTLINE_DIALLED, kept in ``ivr`` likewise). When the agent never
  answered, the dialplan never ran: the journal has no number;
- the customer answered when the origin or a customer-side channel entered a bridge after
  the origin was answered (Dial() bridges them at the answer); the ring runs from the
  first customer-side channel; the talk until the first HANGUP or BRIDGE_EXIT after the
  answer, whose side hung up (the console's hang-up of the origin leaves the bridge first);
- unanswered: no-answer when the origin was answered (the agent picked up), else failed
  (her phone never answered); who hung up: the agent when her side hung up first on a
  no-answer, else the system;
- agent and interface: ``member_of`` the origin, else its device (a Local device's
  interface ``<device>/n``), as the tracker names an agent who is no queue member and set
  no name.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import replace

from numbering.normalize import normalize
from telephony.cel import CelEvent
from telephony.events import CallSummary, ts
from telephony.tracker.model import DIALLED_VAR, OUTBOUND, device_of, looks_like_number

MemberOf = Callable[[str], tuple[str, str] | None]  # channel -> (agent, interface) or None
LEAVES = ("HANGUP", "BRIDGE_EXIT")  # a channel leaving the talk


def origin_of(events: Sequence[CelEvent], *, origin: Collection[str],
              outbound: Collection[str]) -> CelEvent | None:
    """The CHAN_START of an outbound call's origin channel, or None when the call is no
    Originate of an agent's (see the module docstring) or its first channel's start is
    not among ``events`` (then any other channel could pass for it: an inbound call's
    agent leg is in the agents' context too)."""
    first = next((e for e in events if e.type == "CHAN_START" and e.uniqueid == e.linkedid),
                 None)
    if first is None:
        return None
    if first.context in origin or any(e.uniqueid == first.uniqueid and e.context in outbound
                                      for e in events):
        return first
    return None


def summarize_outbound(events: Sequence[CelEvent], start: CelEvent, *,
                       outbound: Collection[str], member_of: MemberOf,
                       region: str = "CN") -> CallSummary:
    """The call-log record of an outbound call whose origin started at ``start``.
    ``events`` in time order (``cel_calls.by_linkedid``): what came first is read from
    their order, which stays right when two events share a microsecond."""
    uid, device = start.uniqueid, device_of(start.channel)
    began = {e.uniqueid: i for i, e in enumerate(events) if e.type == "CHAN_START"}
    up = next((i for i, e in enumerate(events) if e.type == "ANSWER"
               and device_of(e.channel) == device), None)

    def agent_side(e: CelEvent) -> bool:
        return device_of(e.channel) == device or up is None \
            or began.get(e.uniqueid, len(events)) < up

    customer = [e for e in events if e.type == "CHAN_START" and not agent_side(e)]
    answer = None if up is None else next(
        (i for i, e in enumerate(events) if i > up and e.type == "BRIDGE_ENTER"
         and (e.uniqueid == uid or not agent_side(e))), None)
    end = next((e.time for e in events if e.type == "LINKEDID_END"), events[-1].time)
    number = _number(events, start, outbound)
    agent, interface = member_of(start.channel) or _device_agent(device)
    summary = CallSummary(
        linkedid=start.linkedid, caller=normalize(number, region), caller_name=None, did=None,
        agent=agent, agent_interface=interface, started_at=ts(events[0].time),
        ended_at=ts(end), ivr={DIALLED_VAR: number} if number else {}, direction=OUTBOUND)
    if answer is not None:
        at = events[answer].time
        left = next((e for e in events[answer + 1:] if e.type in LEAVES), None)
        dialled_at = customer[0].time if customer else at
        return replace(
            summary, outcome="answered", answered_at=ts(at),
            ring_s=max(0, round(at - dialled_at)),
            talk_s=max(0, round((end if left is None else left.time) - at)),
            hangup_by="agent" if left is not None and agent_side(left) else "customer")
    if up is None:  # her phone never answered: the customer was never dialled
        return replace(summary, outcome="failed", hangup_by="system")
    first = next((e for e in events if e.type == "HANGUP"), None)
    gave_up = first is not None and agent_side(first)
    return replace(summary, outcome="no-answer", hangup_by="agent" if gave_up else "system")


def _number(events: Sequence[CelEvent], start: CelEvent, outbound: Collection[str]) -> str | None:
    """The digits the origin's outbound context dialled (when ``outbound`` is not known:
    the Exten of the first other context it ran in)."""
    for e in events:
        if e.uniqueid != start.uniqueid or e.type == "CHAN_START":
            continue
        moved = e.context in outbound if outbound else e.context != start.context
        if moved and looks_like_number(e.exten):
            return e.exten
    return None


def _device_agent(device: str) -> tuple[str, str]:
    return device, device + "/n" if device.startswith("Local/") else device
