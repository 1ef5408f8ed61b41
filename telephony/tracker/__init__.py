"""The call tracker: a pure state machine from AMI events to domain events.

``CallTracker.feed(msg)`` takes one decoded AMI message (a flat ``dict``) and
returns the domain events (``telephony.events``) it implies. No I/O, no asyncio,
no clock except the injected one: replaying a capture gives the same answer
every time.

Correlation
- Linkedid = the call, Uniqueid = one channel. A call is tracked only when its
  FIRST channel (Uniqueid == Linkedid) is created in one of ``inbound_contexts``
  (an inbound call), or is an originated agent leg (an outbound call, below).
  ChanSpy sessions have their own Linkedid and never produce a ``CallEnded``.
- Caller side = the first channel plus every channel of the call created in an
  inbound context (the ;1/;2 halves of a Local pair; the lone trunk channel on
  a real trunk). Queue events are keyed by the caller channel that ran
  ``Queue()`` (the Channel of QueueCallerJoin); the agent leg is DestChannel.
- A call ends when every channel registered for it has hung up, and then emits
  exactly one ``CallEnded``. Its Linkedid goes into a bounded memory of recently
  ended calls (``ENDED_MEMORY``), so late Cdr/CEL/QueueMemberStatus or a
  replayed stream never resurrect it nor end it twice.

IVR variables (``ivr`` of AgentRinging and CallSummary)
- A ``VarSet`` on a caller-side channel whose name, with the leading
  underscores of inheritance stripped, is one of ``IVR_NAMES`` (QUEUE, PRIORITY,
  QUEUE_PRIO) or starts with one of ``IVR_PREFIXES`` (CRM_, IVR_, HOTLINE_).
  Everything else is Asterisk bookkeeping (QUEUEPOSITION, QUEUEWAIT, MEMBER*,
  DIAL*, BRIDGEPEER, ANSWEREDTIME, AGISTATUS, ...) or rig-only originate
  variables, and is ignored. An empty value unsets the variable.

Recording (``recording`` of CallSummary): the dialplan's MixMonitor announces its file
with ``Set(HOTLINE_RECORDING=<file relative to the recordings folder>)``; the VarSet on a
caller-side channel is kept apart from ``ivr``. The value comes from the PBX, so it
is kept only when it is a plain relative path (``safe_recording``): letters, digits
and ``._-`` in ``/``-separated parts, no empty, ``.`` or ``..`` part, at most
``RECORDING_MAX`` characters. Anything else is ignored (counted in ``unexpected``);
an empty value forgets it.

Outbound calls (click-to-dial, callbacks: an ``Originate`` that rings the agent's
phone first, then the dialplan dials the customer; captures 07/07b)
- Recognised by their FIRST channel: created in one of ``origin_contexts`` (the
  Local agent channels, ``agents``: only an Originate makes one the first channel
  of a call; inside an inbound call they have the caller's Linkedid), or, for any
  channel technology, carrying a ``VarSet`` of one of ``ORIGIN_VARS`` (what our
  Originates set: HOTLINE_ORIGINATED_BY for click-to-dial, HOTLINE_CALLBACK for a
  callback attempt; the capture rig's ORIGINATED_BY). A
  failed Originate that never creates a channel (``Response: Error``, 07b) is no
  call: nothing to log.
- Sides: the origin channel and its Local partner are the agent's side (roles
  HANDSET/CALLER, so their HOTLINE_*/CRM_* variables reach ``ivr``). Hotline's
  ``[agents]`` context DIALS the agent's phone, so on a real PBX an Originate of
  ``Local/1001@agents/n`` gives the origin ``;1``, its partner ``;2`` running
  ``Dial(PJSIP/1001)``, and the agent's PHONE channel (PJSIP/1001-xxxx, or a Local
  pair on a test overlay); once the agent's leg is up the origin ``;1`` runs context
  outbound and dials the customer. So the side of any other channel is who dialled
  it (its DialBegin): dialled by the origin channel (or by the customer's side) =
  the customer's side; dialled by the origin's partner (or by the phone's side) =
  the agent's PHONE (role PHONE, the agent's side, its variables ignored). Before
  its DialBegin a new channel is guessed: a Local half is on its partner's side,
  else the phone while the agent's leg is not up yet (the Originate dials nothing
  else before), else the customer's side.
- ``caller`` is the CUSTOMER's number (normalised), as for an inbound call: the
  HOTLINE_DIALLED variable of our Originate, else the Exten of the first
  customer-side channel, else the Exten of the OriginateResponse. ``did`` is None.
- ``agent``/``agent_interface``: the queue member of the origin channel's device
  when known, else HOTLINE_ORIGINATED_BY, else the device.
- The agent leg is up at a ``Newstate`` Up of the origin channel or its partner (or
  a customer-side channel exists, or OriginateResponse Success). ``answered_at`` is
  when the CUSTOMER answered: the ORIGIN channel's ``DialEnd`` with DialStatus
  ANSWER to a customer-side channel, else a customer-side channel entering a
  bridge. The phone's DialEnd ANSWER (from ``;2``) is the agent picking up, never
  the answer. Talk time runs from the answer to the end of the talk (below).
- outcome: answered | no-answer (agent up, customer never answered) | failed
  (agent leg never up, or OriginateResponse Failure). hangup_by: customer | agent |
  system, by the one cascade below ("Who hung up"). Never queued:
  no queues, no wait, never abandoned; KPIs count ``direction`` inbound only.
- The agent's side, as for a queue call (the pop, the agent board, the live page):
  ``AgentRinging`` (direction outbound, queue "", did None, caller = the number) once
  the call is placed (the agent's leg rings or is up, a customer-side channel exists,
  or OriginateResponse Success) AND the number is known, whichever comes last (never
  after the Originate failed: nothing to answer any more); then
  ``CallAnswered`` (direction outbound, queue "", no wait/ring) when the customer
  answers (``answered_at``). Both name the agent as the summary does, with the origin
  channel as ``agent_channel``. Neither has a queue: no queue figure counts them.
- Adopted from a resync snapshot like an inbound call, and brought up to date after an
  outage (``outbound_resync``): recognised by its first channel, sides by the bridges,
  Local pairs and ``Dial()`` data of the snapshot, number and agent from the Originate's
  variables in the Status list.

DID: the Exten of the first channel when it is one of ``hotline_numbers``,
else the HOTLINE_DID variable, else that Exten when it looks like a number.

Times: ``float(msg["Timestamp"])`` when Asterisk sends ``timestampevents``,
else ``clock()``; only read for events that matter (never for dismissed ones).

Transitions of a call are the table ``TRANSITIONS`` ((state, event) -> next
state). Channel bookkeeping events (Newchannel, NewCallerid, VarSet,
BridgeEnter/Leave, Hangup) apply in every state and are not in the table. An
event the table does not allow in the call's state is counted in
``unexpected`` (key ``"<Event> in <state>"``), logged at debug, and ignored.
"Redirect" is synthetic: the caller's queue channel left the agent bridge into
another context, and then the agent leg hung up (AMI Redirect, capture 05b).

Who hung up (``hangup_by``), ONE cascade for both directions (``figures``):
``transfer`` when a blind or attended transfer handed the caller on (or AgentComplete
says so); else, after an answer, the side that ended the talk first: the first of its
channels to leave the conversation's bridge or hang up (inbound: the caller's side,
or the answering agent's leg and its Local partner; outbound: the customer's side,
or the agent's side: origin, partner, phone). AgentComplete's Reason is NOT trusted
over that: app_queue takes the first HangupRequest of caller or member, and an AMI
Hangup (the console's hang-up of the agent leg) publishes none for the channel it
hangs up, so Asterisk 22 says ``caller`` there; and for an outbound call hung up
from the console the customer's leg, kicked out of the bridge, hangs up before the
agent's. The channel hung up leaves its bridge before the other is kicked out, so
the first BridgeLeave tells. Only when no channel ended the talk (e.g. a resync)
Reason is taken; then ``system`` when the call ended unseen (``end_resync``), else
the answering side (inbound ``caller``, outbound ``customer``). Unanswered: an
abandoned call is ``caller``; another inbound call is ``caller`` when the caller's
first channel hung up first; an outbound call is ``agent`` when the agent's side hung
up first while its leg was up (gave up on a ringing customer); else ``system``.

Wait (``wait_s``): from entering the FIRST queue (QueueCallerJoin; ``queued_at``) to
the answer, or to leaving / abandoning the queues: a caller offered first to a
preferred agent in the personal queue ``agent-<ext>`` waited there too. With
Asterisk's HoldTime of the queue being left, that plus the seconds in the queues
before it; without, measured. ``CallAnswered.wait_s`` stays that queue's HoldTime.

Ring and legs: every answered attempt (``agents_tried``) carries its own ``ring_ms``
(from its AgentCalled to AgentConnect, else Asterisk's RingTime) and ``talk_s`` (its
AgentComplete TalkTime, else from its answer to the end of that agent's part: the
transfer, the end of the talk, or the call's end), so a call transferred into another
queue keeps each agent's leg; the summary's ``talk_s`` and ``agent`` stay the first
agent's. An outbound call's ``ring_s`` is the customer's ring: from its leg being
dialled to the answer (also on its ``CallAnswered``).

Consult calls (an attended transfer to an agent or a queue; ``consult``): the transfer
creates a consult Local pair in the call's Linkedid, and its ``;2`` half runs
``Queue()`` (an agent is reached through her personal queue ``agent-<ext>``) while the
caller still talks to, or is held by, the transferring agent. A QueueCallerJoin by a
channel of a tracked call that is NOT on the caller's side (not the first channel,
nor one created in an inbound context) is such a consult queue call. Its queue is
added to ``queues``; each member it rings is an attempt (``agents_tried``, in order,
with its ``ring_ms`` and ``talk_s`` as for any attempt: its own AgentComplete
TalkTime, else from its answer to the hang-up of its leg or of the consult channel).
The call's state machine, ``queued_at``, ``wait_s``, ``agent``, ``answered_at`` and
``talk_s`` stay the first answer's: a consult never queues the caller. Emitted, all
with ``consult`` true: ``AgentRinging`` at AgentCalled (the CALLER's number, name, DID
and IVR data: the target's pop is the caller's, like any call's);
``AgentRingNoAnswer`` when that member does not answer, or when the consult is given
up while it rings (QueueCallerAbandon: the transferring agent hung up or went back):
the target's pop and board drop the call; ``CallAnswered`` at AgentConnect: the target
agent is on the call (her board shows it talking, and she wraps up when the call
ends; the board matches it by her interface, so the first agent's state is not
touched, and ``CallTransferred`` by the first agent ends only hers). No CallQueued.
Consumers keep the CALL's state (the live page) for the consult's ringing and missed
events, which say nothing of the caller; the consult's answer names the agent now on
the call (``live_calls``: the agent of the latest answered attempt). AgentComplete of
a consult naming no channel (app_queue sends it without snapshots once both channels
are gone) is matched by queue and member to the open answered consult attempt.

Outcome: answered | transferred (hangup_by == transfer) | abandoned (left the
queue before an answer, or ended while queued) | no-answer (left the queue by
timeout) | failed (never queued and the PBX never answered the caller channel)
| ivr-only.

Agent state: QueueMember* events give one ``QueueMemberChanged`` per event
(per queue) and an ``AgentStateChanged`` per interface only when its
(state, paused, reason) changed. An interface removed from its last queue is
reported ``unavailable`` and forgotten.

Resync: ``begin_resync()``; feed the CoreShowChannel / QueueParams /
QueueMember / QueueEntry / Status list events (live events may interleave);
``end_resync()`` ends the known calls whose channels are all gone (hangup_by
``system``, ended_at = the last event seen before the outage), drops their
vanished channels, and adopts unknown calls of the snapshot so their later
events are tracked and they end exactly once. Live events of such a call that
arrive once the channel list is complete wait for its adoption and are then fed
in order (``resync`` module docstring). List events outside a resync only feed
agent state (QueueMember).
- Variables: the ``Status`` list (AMI ``Status`` with ``AllVariables``: one
  ``Variable: NAME=value`` line per channel variable) gives each channel's variables;
  those of a caller-side channel go to ``ivr`` and ``recording`` by the same rules as
  a VarSet (``variables``): a tracked channel takes them when its Status arrives (a
  later VarSet wins), an adopted one when it is registered. Without a Status list
  (refused) calls are adopted all the same, without their variables.
- Times of an adopted call: ``started_at`` = now minus the age of its oldest channel
  (CoreShowChannel Duration, Status Seconds); waiting in a queue: ``queued_at`` = now
  minus its QueueEntry Wait; talking: answered when its agent leg was created (it rang
  first: at most its ring early), ``wait_s`` app_queue's QUEUEWAIT of the caller's
  channel (set at the connect) and ``queued_at`` that long before the answer, unknown
  without it. ``queued_at`` and ``answered_at`` are never before ``started_at``.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from telephony.events import CallSummary, DomainEvent, ts
from telephony.tracker.book import CallBook
from telephony.tracker.channels import Channels
from telephony.tracker.inbound import InboundCalls
from telephony.tracker.members import Members
from telephony.tracker.model import (
    DEVICE_STATES,
    DIALLED_VAR,
    ENDED_MEMORY,
    HANGUP_REASONS,
    INBOUND,
    IVR_NAMES,
    IVR_PREFIXES,
    LIVE_STATE,
    MAX_OPEN_CALLS,
    ORIGIN_VARS,
    OUTBOUND,
    RECORDING_MAX,
    RECORDING_VAR,
    TRANSITIONS,
    USER_VARS,
    Call,
    CallState,
    Chan,
    Handler,
    device_of,
    safe_recording,
)
from telephony.tracker.outbound import OutboundCalls
from telephony.tracker.resync import Resync

__all__ = [
    "DEVICE_STATES", "DIALLED_VAR", "ENDED_MEMORY", "HANGUP_REASONS", "INBOUND", "IVR_NAMES",
    "IVR_PREFIXES", "LIVE_STATE", "MAX_OPEN_CALLS", "ORIGIN_VARS", "OUTBOUND", "RECORDING_MAX",
    "RECORDING_VAR", "TRANSITIONS", "USER_VARS", "CallState", "CallTracker", "safe_recording",
]

log = logging.getLogger("telephony.tracker")


class CallTracker:
    """Feeds on AMI messages, emits domain events; see the module docstring.

    The concerns live in sibling modules around one shared book of calls
    (``book``): channel bookkeeping (``channels``), inbound queue calls
    (``inbound``), outbound calls (``outbound``), agents and queue members
    (``members``), resync (``resync``); the hang-up cascade and the wait/ring/talk
    arithmetic are one function (``figures``). This class only wires and dispatches."""

    def __init__(
        self,
        *,
        region: str = "CN",
        inbound_contexts: Iterable[str] = ("from-pstn", "from-trunk", "from-external"),
        origin_contexts: Iterable[str] = ("agents",),
        hotline_numbers: Iterable[str] = ("4008001234", "8008001234"),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.region = region
        # module globals read here, so a test may lower the limits before building one
        self._book = book = CallBook(
            region=region, inbound_contexts=inbound_contexts, origin_contexts=origin_contexts,
            hotline_numbers=hotline_numbers, clock=clock, ended_memory=ENDED_MEMORY,
            max_open_calls=MAX_OPEN_CALLS)
        self._members = Members(book)
        self._inbound = InboundCalls(book)
        self._outbound = OutboundCalls(book, self._members)
        self._resync = Resync(book, self._inbound, self._members, self._outbound)
        channels = Channels(book, self._inbound, self._outbound, self._resync)
        book.summarise = self._summary
        self._handlers: dict[str, Handler] = {}
        for part in (channels, self._outbound, self._inbound, self._members, self._resync):
            self._handlers.update(part.handlers())

    # ------------------------------------------------------------------ public

    @property
    def unexpected(self) -> Counter[str]:
        """Events the table did not allow, and other oddities, by ``"<what> in <state>"``."""
        return self._book.unexpected

    def feed(self, event: Mapping[str, str]) -> list[DomainEvent]:
        """One AMI message in, the domain events it implies out. Never raises."""
        try:
            handler = self._handlers.get(event.get("Event", ""))
            if handler is None:  # VarSet-free noise: Newexten, CEL, Cdr, DeviceStateChange...
                return []
            if self._resync.defers(event):  # a call the snapshot will adopt: after that
                return []
            return handler(event)
        except Exception:  # a tracker bug must not stop the AMI reader
            self.unexpected["tracker-error"] += 1
            log.warning("tracker failed on %r", event, exc_info=True)
            return []

    def begin_resync(self) -> None:
        """An AMI (re)connect: list events of CoreShowChannels/QueueStatus follow."""
        self._resync.begin()

    def end_resync(self) -> list[DomainEvent]:
        """Reconcile with the snapshot: end vanished calls once, adopt unknown ones."""
        if not self._resync.active:
            return []
        out: list[DomainEvent] = []
        try:
            self._resync.end(out)
        except Exception:  # same contract as feed(): count, log, keep going
            self.unexpected["tracker-error"] += 1
            log.warning("tracker failed to end a resync", exc_info=True)
        for event in self._resync.take_deferred():  # now their calls are adopted
            out.extend(self.feed(event))
        return out

    # what the journal's reconciliation (hotline.journal) reads of the tracker

    @property
    def last_event_time(self) -> float | None:
        """The PBX time of the newest event read (where an outage began), else None."""
        return self._book.last_time

    @property
    def inbound_contexts(self) -> frozenset[str]:
        return frozenset(self._book.inbound)

    @property
    def origin_contexts(self) -> frozenset[str]:
        return self._book.origin

    def is_open(self, linkedid: str) -> bool:
        """Whether the call is still followed (a resync adopted it: it is up)."""
        return linkedid in self._book.calls

    def open_linkedids(self) -> frozenset[str]:
        """The Linkedids of the calls followed now (each will end, and be logged, once)."""
        return frozenset(self._book.calls)

    def member_of(self, channel: str) -> tuple[str, str] | None:
        """(member name, interface) of a queue member's channel, None for any other."""
        return self._members.devices.get(device_of(channel))

    def live_calls(self) -> list[dict[str, Any]]:
        """The open calls, JSON-ready, oldest first."""
        out: list[dict[str, Any]] = []
        for call in self._book.calls.values():
            part = self._outbound if call.direction == OUTBOUND else self._inbound
            state, agent = part.live_state(call)
            started = ts(call.started_at)
            out.append({
                "linkedid": call.linkedid,
                "caller": call.caller,
                "caller_name": call.caller_name,
                "did": call.did,
                "state": state,
                "queue": call.queue,
                "agent": agent,
                "started_at": started.isoformat() if started else None,
                "direction": call.direction,
            })
        return out

    # ------------------------------------------------------------ internals

    def _summary(self, call: Call, t: float, system: bool) -> CallSummary:
        part = self._outbound if call.direction == OUTBOUND else self._inbound
        return part.summary(call, t, system)

    # read by tests and the replay: the book behind the tracker
    @property
    def _clock(self) -> Callable[[], float]:
        return self._book.clock

    @_clock.setter
    def _clock(self, clock: Callable[[], float]) -> None:
        self._book.clock = clock

    @property
    def _calls(self) -> dict[str, Call]:
        return self._book.calls

    @property
    def _channels(self) -> dict[str, Chan]:
        return self._book.channels

    @property
    def _bridges(self) -> dict[str, set[str]]:
        return self._book.bridges

    @property
    def _ended(self) -> dict[str, None]:
        return self._book.ended
