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
  HANDSET/CALLER, so their HOTLINE_*/CRM_* variables reach ``ivr``); every other
  channel of the Linkedid is the customer's side.
- ``caller`` is the CUSTOMER's number (normalised), as for an inbound call: the
  HOTLINE_DIALLED variable of our Originate, else the Exten of the first
  customer-side channel, else the Exten of the OriginateResponse. ``did`` is None.
- ``agent``/``agent_interface``: the queue member of the origin channel's device
  when known, else HOTLINE_ORIGINATED_BY, else the device.
- The agent leg is up at a ``Newstate`` Up of an agent-side channel (or a
  customer-side channel exists, or OriginateResponse Success). ``answered_at`` is
  when the CUSTOMER answered: the agent-side ``DialEnd`` with DialStatus ANSWER
  to a customer-side channel, else a customer-side channel entering a bridge.
  Talk time runs from then to the first hangup.
- outcome: answered | no-answer (agent up, customer never answered) | failed
  (agent leg never up, or OriginateResponse Failure). hangup_by: after the
  answer, the side that hung up first (customer | agent); before it, ``agent``
  when the agent's side hung up first while up, else ``system``. Never queued:
  no queues, no wait, never abandoned; KPIs count ``direction`` inbound only.
- The agent's side, as for a queue call (the pop, the agent board, the live page):
  ``AgentRinging`` (direction outbound, queue "", did None, caller = the number) once
  the call is placed (the agent's leg rings or is up, a customer-side channel exists,
  or OriginateResponse Success) AND the number is known, whichever comes last (never
  after the Originate failed: nothing to answer any more); then
  ``CallAnswered`` (direction outbound, queue "", no wait/ring) when the customer
  answers (``answered_at``). Both name the agent as the summary does, with the origin
  channel as ``agent_channel``. Neither has a queue: no queue figure counts them.
- Not adopted from a resync snapshot (an unknown outbound call is left alone).

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

Who hung up: AgentComplete Reason (caller | agent | transfer) when there is one;
else, after an answer, the side whose channel hung up first; an abandoned call
is ``caller``; other unanswered calls are ``caller`` when the caller's first
channel hung up first, else ``system``; calls found gone after an AMI outage
(``end_resync``) are ``system``.

Outcome: answered | transferred (hangup_by == transfer) | abandoned (left the
queue before an answer, or ended while queued) | no-answer (left the queue by
timeout) | failed (never queued and the PBX never answered the caller channel)
| ivr-only.

Agent state: QueueMember* events give one ``QueueMemberChanged`` per event
(per queue) and an ``AgentStateChanged`` per interface only when its
(state, paused, reason) changed. An interface removed from its last queue is
reported ``unavailable`` and forgotten.

Resync: ``begin_resync()``; feed the CoreShowChannel / QueueParams /
QueueMember / QueueEntry list events (live events may interleave);
``end_resync()`` ends the known calls whose channels are all gone (hangup_by
``system``, ended_at = the last event seen before the outage), drops their
vanished channels, and adopts unknown calls of the snapshot so their later
events are tracked and they end exactly once. List events outside a resync
only feed agent state (QueueMember).
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from enum import StrEnum
from typing import Any

from numbering.normalize import normalize
from telephony.events import (
    AgentAttempt,
    AgentRinging,
    AgentRingNoAnswer,
    AgentStateChanged,
    CallAnswered,
    CallEnded,
    CallQueued,
    CallStarted,
    CallSummary,
    CallTransferred,
    DomainEvent,
    QueueMemberChanged,
    Transfer,
    ts,
)

log = logging.getLogger("telephony.tracker")

Message = Mapping[str, str]
Handler = Callable[[Message], list[DomainEvent]]

ENDED_MEMORY = 20_000  # recently ended Linkedids remembered (a few hours of a busy PBX)
MAX_OPEN_CALLS = 50_000  # beyond this the oldest open call is closed as "system"
IVR_NAMES = frozenset({"QUEUE", "PRIORITY", "QUEUE_PRIO"})
# a VarSet of one of these on the first channel of a call: an Originate of ours
ORIGIN_VARS = frozenset({"HOTLINE_ORIGINATED_BY", "HOTLINE_CALLBACK", "ORIGINATED_BY"})
USER_VARS = frozenset({"HOTLINE_ORIGINATED_BY", "ORIGINATED_BY"})  # value: the user
DIALLED_VAR = "HOTLINE_DIALLED"  # the number our Originate dials (agent_console.pbx_actions)
INBOUND, OUTBOUND = "inbound", "outbound"
IVR_PREFIXES = ("CRM_", "IVR_", "HOTLINE_")
RECORDING_VAR = "HOTLINE_RECORDING"
RECORDING_MAX = 200
# one part of a recording's relative path; "." and ".." parts are refused separately
_RECORDING_PART = re.compile(r"[A-Za-z0-9_.-]+")
HANGUP_REASONS = frozenset({"caller", "agent", "transfer"})
# device state code of QueueMember* Status -> agent state
DEVICE_STATES = {
    "0": "unknown", "1": "available", "2": "busy", "3": "busy", "4": "unknown",
    "5": "unavailable", "6": "ringing", "7": "ringing", "8": "on-hold",
}
_LATEST_EPOCH = 32_503_680_000.0  # year 3000: a Timestamp beyond is garbage
_MAX_DURATION = 7 * 86_400.0  # a snapshot channel older than a week is garbage


class CallState(StrEnum):
    IVR = "ivr"  # in the dialplan / IVR, not (yet) queued
    QUEUED = "queued"  # waiting in a queue, no member ringing
    RINGING = "ringing"  # waiting in a queue while a member rings
    LEFT = "left-queue"  # QueueCallerLeave seen; AgentConnect may still follow
    TALKING = "talking"  # connected to the agent who answered
    AFTER = "after-agent"  # the queue part is over (complete / transferred)


S = CallState
TRANSITIONS: dict[tuple[CallState, str], CallState] = {
    (S.IVR, "QueueCallerJoin"): S.QUEUED,
    (S.LEFT, "QueueCallerJoin"): S.QUEUED,  # timed out of one queue, into another
    (S.AFTER, "QueueCallerJoin"): S.QUEUED,  # transferred back into a queue
    (S.QUEUED, "AgentCalled"): S.RINGING,
    (S.RINGING, "AgentCalled"): S.RINGING,  # ringall: several members ring
    (S.RINGING, "AgentRingNoAnswer"): S.QUEUED,  # stays RINGING while others still ring
    (S.QUEUED, "AgentRingNoAnswer"): S.QUEUED,
    (S.LEFT, "AgentRingNoAnswer"): S.LEFT,
    (S.QUEUED, "QueueCallerAbandon"): S.LEFT,
    (S.RINGING, "QueueCallerAbandon"): S.LEFT,
    (S.QUEUED, "QueueCallerLeave"): S.LEFT,
    (S.RINGING, "QueueCallerLeave"): S.LEFT,
    (S.LEFT, "QueueCallerLeave"): S.LEFT,  # after QueueCallerAbandon
    (S.LEFT, "AgentConnect"): S.TALKING,  # Leave comes first at the same instant
    (S.RINGING, "AgentConnect"): S.TALKING,
    (S.QUEUED, "AgentConnect"): S.TALKING,
    (S.TALKING, "AgentComplete"): S.AFTER,
    (S.AFTER, "AgentComplete"): S.AFTER,  # late, e.g. after a Redirect (05b)
    (S.TALKING, "BlindTransfer"): S.AFTER,  # only a Result=Success transfer moves
    (S.AFTER, "BlindTransfer"): S.AFTER,
    (S.TALKING, "AttendedTransfer"): S.AFTER,
    (S.AFTER, "AttendedTransfer"): S.AFTER,
    (S.TALKING, "Redirect"): S.AFTER,
}
LIVE_STATE = {
    S.IVR: "ivr", S.QUEUED: "queued", S.RINGING: "ringing", S.LEFT: "queued",
    S.TALKING: "talking", S.AFTER: "talking",
}

# roles of a channel within its call
HANDSET, CALLER, AGENT, OTHER = "handset", "caller", "agent", "other"


class _Chan:
    __slots__ = ("uid", "name", "call", "role", "exten", "seq", "bridge")

    def __init__(self, uid: str, name: str, call: _Call, role: str, exten: str, seq: int) -> None:
        self.uid = uid
        self.name = name
        self.call = call
        self.role = role
        self.exten = exten
        self.seq = seq
        self.bridge: str | None = None


class _Attempt:
    __slots__ = ("agent", "interface", "queue", "dest_uid", "called_at", "result", "ring_ms")

    def __init__(self, agent: str, interface: str, queue: str, dest_uid: str, at: float) -> None:
        self.agent = agent
        self.interface = interface
        self.queue = queue
        self.dest_uid = dest_uid
        self.called_at = at
        self.result: str | None = None
        self.ring_ms: int | None = None


class _Call:
    """Everything known about one open call; turned into a CallSummary at the end."""

    def __init__(self, linkedid: str, at: float, seq: int, direction: str = INBOUND) -> None:
        self.linkedid = linkedid
        self.seq = seq
        self.direction = direction
        self.state = S.IVR
        self.started = False  # CallStarted emitted
        self.started_at = at
        self.caller: str | None = None
        self.caller_name: str | None = None
        self.did: str | None = None
        self.ivr: dict[str, str] = {}
        self.recording: str | None = None
        self.channels: dict[str, _Chan] = {}
        self.by_name: dict[str, str] = {}
        self.queue: str | None = None
        self.queues: list[str] = []
        self.queue_uid: str | None = None
        self.queue_context: str | None = None
        self.queued_at: float | None = None
        self.joined_at: float | None = None
        self.left_at: float | None = None
        self.attempts: dict[str, _Attempt] = {}
        self.agent: str | None = None
        self.agent_interface: str | None = None
        self.agent_channel: str | None = None
        self.agent_uids: set[str] = set()
        self.answered_at: float | None = None
        self.wait_s: int | None = None
        self.ring_s: int | None = None
        self.talk_s: int | None = None
        self.hangup_by: str | None = None
        self.completed = False
        self.abandoned = False
        self.transfers: list[Transfer] = []
        self.redirect_to: str | None = None
        self.first_side: str | None = None  # caller | agent: first hangup after answer
        self.talk_end: float | None = None
        self.first_hangup_handset: bool | None = None
        self.handset_up = True  # False when the PBX never answered the caller channel
        # outbound only
        self.origin_name = ""  # the agent leg's channel name (the first channel)
        self.originated_by: str | None = None
        self.origin_up = False  # the agent answered their own phone
        self.originate_failed = False
        self.first_origin: bool | None = None  # first hangup on the agent's side (unanswered)
        self.placed = False  # the agent's leg rings or is up (or the customer is dialled)
        self.popped = False  # AgentRinging emitted


def _int(value: str | None) -> int | None:
    if not value:
        return None
    try:
        return int(value.strip())
    except ValueError:
        try:
            f = float(value)
        except ValueError:
            return None
        return int(f) if math.isfinite(f) else None


def _known(value: str | None) -> str | None:
    """A caller id field, None for Asterisk's ``<unknown>`` and empty values."""
    if not value or value == "<unknown>":
        return None
    return value


def safe_recording(value: str | None) -> str | None:
    """A recording's file name relative to the recordings folder, when it is a plain
    relative path (see the module docstring); else None. PBX text is not trusted: this
    name ends up in a URL of the agents' console."""
    if not value or len(value) > RECORDING_MAX:
        return None
    parts = value.split("/")
    for part in parts:
        if part in (".", "..") or _RECORDING_PART.fullmatch(part) is None:
            return None
    return value


def _channel_state(m: Message) -> str:
    """A channel's state code (``5`` ringing, ``6`` up), from its desc when the code is absent."""
    return m.get("ChannelState") or {"Ringing": "5", "Up": "6"}.get(
        m.get("ChannelStateDesc", ""), "")


def _looks_like_number(exten: str | None) -> bool:
    digits = (exten or "").lstrip("+")
    return digits.isascii() and digits.isdigit()


def _device(channel: str) -> str:
    """The device of a channel name: ``Local/1001@agents-0000005c;1`` -> ``Local/1001@agents``,
    ``PJSIP/1001-0000000a`` -> ``PJSIP/1001``."""
    base = channel.split(";", 1)[0]
    head, sep, _ = base.rpartition("-")
    return head if sep else base


def _target_of(chan: _Chan) -> str:
    """What a transfer target channel was dialled as: its Exten, else its device name."""
    if chan.exten and chan.exten != "s":
        return chan.exten
    return _device(chan.name).split("/", 1)[-1].split("@", 1)[0]


def _duration(value: str | None) -> float:
    """CoreShowChannel Duration ``HH:MM:SS`` in seconds (0 when unreadable, at most a week)."""
    if not value:
        return 0.0
    total = 0.0
    for part in value.split(":"):
        n = _int(part)
        if n is None or n < 0 or n > _MAX_DURATION:
            return 0.0
        total = total * 60 + n
    return min(total, _MAX_DURATION)


class CallTracker:
    """Feeds on AMI messages, emits domain events; see the module docstring."""

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
        self._inbound = frozenset(inbound_contexts)
        self._origin = frozenset(origin_contexts)
        self._hotline = frozenset(hotline_numbers)
        self._clock = clock
        self.unexpected: Counter[str] = Counter()
        self._calls: dict[str, _Call] = {}
        self._channels: dict[str, _Chan] = {}
        self._bridges: dict[str, set[str]] = {}
        self._ended: dict[str, None] = {}  # insertion-ordered, bounded
        self._seq = 0
        self._last_time: float | None = None
        # agent state
        self._agent_states: dict[str, tuple[str, bool, str]] = {}
        self._members: dict[tuple[str, str], tuple[str, int | None, bool, str, int | None]] = {}
        self._devices: dict[str, tuple[str, str]] = {}  # state interface -> (name, interface)
        # resync
        self._resyncing = False
        self._resync_seq = 0
        self._outage_at: float | None = None
        self._snap_channels: dict[str, Message] = {}
        self._snap_entries: dict[str, Message] = {}
        self._snap_members: set[tuple[str, str]] = set()
        self._snap_queues: set[str] = set()
        self._snap_gone: set[str] = set()  # Uniqueids hung up while resyncing
        self._snap_channels_done = False
        self._snap_queues_done = False
        self._handlers: dict[str, Handler] = {
            "Newchannel": self._on_newchannel,
            "Hangup": self._on_hangup,
            "NewCallerid": self._on_newcallerid,
            "VarSet": self._on_varset,
            "BridgeEnter": self._on_bridge_enter,
            "BridgeLeave": self._on_bridge_leave,
            "Newstate": self._on_newstate,
            "DialEnd": self._on_dial_end,
            "OriginateResponse": self._on_originate_response,
            "QueueCallerJoin": self._on_join,
            "QueueCallerLeave": self._on_leave,
            "QueueCallerAbandon": self._on_abandon,
            "AgentCalled": self._on_agent_called,
            "AgentRingNoAnswer": self._on_ring_no_answer,
            "AgentConnect": self._on_connect,
            "AgentComplete": self._on_complete,
            "BlindTransfer": self._on_blind_transfer,
            "AttendedTransfer": self._on_attended_transfer,
            "QueueMemberStatus": self._on_member_status,
            "QueueMemberPause": self._on_member_pause,
            "QueueMemberPaused": self._on_member_pause,  # name before Asterisk 12
            "QueueMemberAdded": self._on_member_added,
            "QueueMemberRemoved": self._on_member_removed,
            "QueueMemberPenalty": self._on_member_penalty,
            "QueueMember": self._on_queue_member,
            "QueueParams": self._on_queue_params,
            "QueueEntry": self._on_queue_entry,
            "QueueStatusComplete": self._on_queue_status_complete,
            "CoreShowChannel": self._on_core_show_channel,
            "CoreShowChannelsComplete": self._on_core_show_complete,
        }

    # ------------------------------------------------------------------ public

    def feed(self, event: Mapping[str, str]) -> list[DomainEvent]:
        """One AMI message in, the domain events it implies out. Never raises."""
        try:
            handler = self._handlers.get(event.get("Event", ""))
            if handler is None:  # VarSet-free noise: Newexten, CEL, Cdr, DeviceStateChange...
                return []
            return handler(event)
        except Exception:  # a tracker bug must not stop the AMI reader
            self.unexpected["tracker-error"] += 1
            log.warning("tracker failed on %r", event, exc_info=True)
            return []

    def begin_resync(self) -> None:
        """An AMI (re)connect: list events of CoreShowChannels/QueueStatus follow."""
        self._resyncing = True
        self._resync_seq = self._seq
        self._outage_at = self._last_time
        self._snap_channels = {}
        self._snap_entries = {}
        self._snap_members = set()
        self._snap_queues = set()
        self._snap_gone = set()
        self._snap_channels_done = False
        self._snap_queues_done = False

    def end_resync(self) -> list[DomainEvent]:
        """Reconcile with the snapshot: end vanished calls once, adopt unknown ones."""
        if not self._resyncing:
            return []
        self._resyncing = False
        out: list[DomainEvent] = []
        try:
            now = self._clock()
            if self._snap_channels_done:
                ended_at = self._outage_at if self._outage_at is not None else now
                self._reconcile_calls(ended_at, out)
                self._adopt_calls(now, out)
            if self._snap_queues_done:
                self._reconcile_members(now, out)
        except Exception:  # same contract as feed(): count, log, keep going
            self.unexpected["tracker-error"] += 1
            log.warning("tracker failed to end a resync", exc_info=True)
        self._snap_channels, self._snap_entries = {}, {}
        self._snap_members, self._snap_queues, self._snap_gone = set(), set(), set()
        return out

    def live_calls(self) -> list[dict[str, Any]]:
        """The open calls, JSON-ready, oldest first."""
        out: list[dict[str, Any]] = []
        for call in self._calls.values():
            state = LIVE_STATE[call.state]
            agent = call.agent
            if call.direction == OUTBOUND:  # never in a queue: dialling until the answer
                state = "talking" if call.answered_at is not None else "dialling"
                agent = self._outbound_agent(call)[0] if call.popped else None
            elif call.state is S.AFTER and not call.transfers:
                state = "ivr"
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

    # ----------------------------------------------------------- small helpers

    def _time(self, msg: Message) -> float:
        stamp = msg.get("Timestamp")
        t: float | None = None
        if stamp:
            try:
                t = float(stamp)
            except ValueError:
                t = None
            if t is not None and not (0.0 <= t < _LATEST_EPOCH):  # NaN fails too
                t = None
        if t is None:
            t = self._clock()
        self._last_time = t
        return t

    def _transition(self, call: _Call, event: str) -> CallState | None:
        nxt = TRANSITIONS.get((call.state, event))
        if nxt is None:
            key = f"{event} in {call.state.value}"
            self.unexpected[key] += 1
            log.debug("unexpected %s for call %s", key, call.linkedid)
        return nxt

    def _call_of(self, msg: Message, uid_key: str = "Uniqueid", lid_key: str = "Linkedid",
                 ) -> _Call | None:
        chan = self._channels.get(msg.get(uid_key, ""))
        if chan is not None:
            return chan.call
        return self._calls.get(msg.get(lid_key, ""))

    def _untracked(self, name: str, msg: Message) -> None:
        lid = msg.get("Linkedid", "")
        if lid and lid not in self._ended:
            self.unexpected[f"{name} for untracked call"] += 1

    def _ensure_started(self, call: _Call, out: list[DomainEvent]) -> None:
        if call.started:
            return
        call.started = True
        out.append(CallStarted(at=ts(call.started_at), linkedid=call.linkedid, caller=call.caller,
                               caller_name=call.caller_name, did=call.did,
                               direction=call.direction))

    def _set_caller(self, call: _Call, num: str | None, name: str | None) -> None:
        if call.caller is None:
            caller = normalize(_known(num), self.region)
            if caller is not None:
                call.caller = caller
        if call.caller_name is None:
            call.caller_name = _known(name)

    def _set_did(self, call: _Call, exten: str | None, *, from_var: bool = False) -> None:
        if not exten:
            return
        if exten in self._hotline:
            if call.did not in self._hotline:
                call.did = exten
        elif call.did is None and (from_var or _looks_like_number(exten)):
            call.did = exten

    def _register(self, call: _Call, uid: str, name: str, role: str, exten: str) -> _Chan:
        self._seq += 1
        chan = _Chan(uid, name, call, role, exten, self._seq)
        call.channels[uid] = chan
        if name:
            call.by_name[name] = uid
        self._channels[uid] = chan
        return chan

    def _partner(self, call: _Call, name: str) -> str | None:
        """Uniqueid of the other half of a Local channel pair, if known."""
        if name.endswith(";1"):
            return call.by_name.get(name[:-1] + "2")
        if name.endswith(";2"):
            return call.by_name.get(name[:-1] + "1")
        return None

    def _remember_ended(self, linkedid: str) -> None:
        ended = self._ended
        ended[linkedid] = None
        if len(ended) > ENDED_MEMORY:
            del ended[next(iter(ended))]

    # ------------------------------------------------------- channel lifecycle

    def _on_newchannel(self, m: Message) -> list[DomainEvent]:
        uid = m.get("Uniqueid", "")
        lid = m.get("Linkedid", "")
        if not uid or not lid or uid in self._channels:
            return []
        call = self._calls.get(lid)
        context = m.get("Context", "")
        if call is None:
            if uid != lid or lid in self._ended:
                return []
            if context in self._origin:
                return self._start_outbound(m, uid, lid)
            if context not in self._inbound:
                return []
            return self._start_call(m, uid, lid)
        if call.direction == OUTBOUND:
            return self._outbound_channel(call, m, uid)
        role = CALLER if context in self._inbound else OTHER
        chan = self._register(call, uid, m.get("Channel", ""), role, m.get("Exten", ""))
        if role == OTHER:
            partner = self._partner(call, chan.name)
            if partner is not None and partner in call.agent_uids:
                chan.role = AGENT
        return []

    def _new_call(self, m: Message, lid: str, direction: str,
                  out: list[DomainEvent]) -> _Call:
        if len(self._calls) >= MAX_OPEN_CALLS:
            oldest = next(iter(self._calls.values()))
            out.extend(self._end(oldest, self._last_time or self._clock(), system=True))
        t = self._time(m)
        self._seq += 1
        call = _Call(lid, t, self._seq, direction)
        self._calls[lid] = call
        return call

    def _start_call(self, m: Message, uid: str, lid: str) -> list[DomainEvent]:
        out: list[DomainEvent] = []
        call = self._new_call(m, lid, INBOUND, out)
        self._register(call, uid, m.get("Channel", ""), HANDSET, m.get("Exten", ""))
        self._set_did(call, m.get("Exten"))
        num = m.get("CallerIDNum")
        self._set_caller(call, num, m.get("CallerIDName"))
        if _known(num) is not None:  # a trunk channel knows its caller id at once
            self._ensure_started(call, out)
        return out

    # ---------------------------------------------------------- outbound calls

    def _start_outbound(self, m: Message, uid: str, lid: str) -> list[DomainEvent]:
        """The first channel of an originated call: the agent's leg."""
        out: list[DomainEvent] = []
        call = self._new_call(m, lid, OUTBOUND, out)
        call.origin_name = m.get("Channel", "")
        self._register(call, uid, call.origin_name, HANDSET, m.get("Exten", ""))
        if _channel_state(m) == "6":
            call.origin_up = True
        return out

    def _outbound_ringing(self, call: _Call, t: float, out: list[DomainEvent]) -> None:
        """The agent's pop of an outbound call: once it is placed and its number known."""
        if call.popped or not call.placed or call.caller is None or call.originate_failed:
            return  # a failed Originate (its number only in the failure, 07b): no pop
        agent, interface = self._outbound_agent(call)
        if agent is None or interface is None:
            return
        call.popped = True
        out.append(AgentRinging(
            at=ts(t), linkedid=call.linkedid, queue="", agent=agent, interface=interface,
            agent_channel=call.origin_name, caller=call.caller, caller_name=None, did=None,
            ivr=dict(call.ivr), direction=OUTBOUND))

    def _placed(self, call: _Call, t: float, out: list[DomainEvent]) -> None:
        call.placed = True
        self._outbound_ringing(call, t, out)

    def _outbound_channel(self, call: _Call, m: Message, uid: str) -> list[DomainEvent]:
        """Another channel of an outbound call: the agent leg's Local partner, or the
        customer's side (whose first number-like Exten is the number dialled)."""
        name = m.get("Channel", "")
        partner = self._partner(call, name)
        role = CALLER if partner is not None and call.channels[partner].role in (
            HANDSET, CALLER) else OTHER
        self._register(call, uid, name, role, m.get("Exten", ""))
        out: list[DomainEvent] = []
        if role == OTHER:
            call.origin_up = True  # the dialplan dials the customer only once the agent answered
            t = self._time(m)
            if call.caller is None and _looks_like_number(m.get("Exten")):
                self._set_number(call, m.get("Exten"), out)
            self._placed(call, t, out)
        return out

    def _set_number(self, call: _Call, number: str | None, out: list[DomainEvent]) -> None:
        """The customer's number of an outbound call; CallStarted once it is known."""
        if call.caller is None:
            self._set_caller(call, number, None)
        if call.caller is not None:
            self._ensure_started(call, out)
            self._outbound_ringing(call, self._last_time or call.started_at, out)

    def _outbound_of(self, uid: str) -> tuple[_Chan, _Call] | None:
        chan = self._channels.get(uid)
        if chan is None or chan.call.direction != OUTBOUND:
            return None
        return chan, chan.call

    def _on_newstate(self, m: Message) -> list[DomainEvent]:
        found = self._outbound_of(m.get("Uniqueid", ""))
        if found is None:
            return []
        chan, call = found
        out: list[DomainEvent] = []
        if chan.role not in (HANDSET, CALLER):
            return out
        state = _channel_state(m)
        if state == "6":
            call.origin_up = True
        if state in ("5", "6"):
            self._placed(call, self._time(m), out)
        return out

    def _on_dial_end(self, m: Message) -> list[DomainEvent]:
        # the agent leg's Dial() of the customer; the Originate's own DialEnd of the
        # agent leg has no Channel (capture 07) and is not this
        found = self._outbound_of(m.get("Uniqueid", ""))
        if found is None or m.get("DialStatus") != "ANSWER":
            return []
        chan, call = found
        dest = self._channels.get(m.get("DestUniqueid", ""))
        out: list[DomainEvent] = []
        if chan.role in (HANDSET, CALLER) and (dest is None or (
                dest.call is call and dest.role == OTHER)):
            self._customer_answered(call, m, out)
        return out

    def _customer_answered(self, call: _Call, m: Message, out: list[DomainEvent]) -> None:
        if call.answered_at is not None:
            return
        t = call.answered_at = self._time(m)
        call.origin_up = True
        self._placed(call, t, out)
        if call.popped:  # the agent's call is now a conversation (the board's "talking")
            agent, interface = self._outbound_agent(call)
            out.append(CallAnswered(
                at=ts(t), linkedid=call.linkedid, queue="", agent=agent or "",
                interface=interface or "", agent_channel=call.origin_name, wait_s=None,
                ring_s=None, direction=OUTBOUND))

    def _on_originate_response(self, m: Message) -> list[DomainEvent]:
        """Success names the agent leg's Uniqueid; Failure only the requested channel
        (``Local/1002@agents/n``, Uniqueid ``<unknown>``, 07b): then the open outbound
        call of that device whose agent leg never came up."""
        call: _Call | None = None
        found = self._outbound_of(m.get("Uniqueid", ""))
        if found is not None:
            call = found[1]
        elif m.get("Response") == "Failure":
            device = _device(m.get("Channel", "").removesuffix("/n"))
            for candidate in self._calls.values():
                if (candidate.direction == OUTBOUND and not candidate.origin_up
                        and _device(candidate.origin_name) == device):
                    call = candidate
                    break
        if call is None:
            return []
        out: list[DomainEvent] = []
        if m.get("Response") == "Failure":
            call.originate_failed = True
        elif m.get("Response") == "Success":
            call.origin_up = True
        if call.caller is None and _looks_like_number(m.get("Exten")):
            self._time(m)
            self._set_number(call, m.get("Exten"), out)
        if m.get("Response") == "Success":
            self._placed(call, self._time(m), out)
        return out

    def _origin_varset(self, m: Message, var: str) -> list[DomainEvent]:
        """An Originate variable: starts an outbound call whose first channel was not
        in an origin context (e.g. ``PJSIP/1001``), names the agent, or the number."""
        uid, lid = m.get("Uniqueid", ""), m.get("Linkedid", "")
        value = m.get("Value", "")
        out: list[DomainEvent] = []
        chan = self._channels.get(uid)
        if chan is None:
            if var not in ORIGIN_VARS or not uid or uid != lid or lid in self._ended \
                    or lid in self._calls:
                return out
            out.extend(self._start_outbound(m, uid, lid))
            chan = self._channels[uid]
        call = chan.call
        if call.direction != OUTBOUND or chan.role not in (HANDSET, CALLER):
            return out
        if var in USER_VARS and value:
            call.originated_by = value
        elif var == DIALLED_VAR and value:
            self._time(m)
            self._set_number(call, value, out)
        return out

    def _outbound_agent(self, call: _Call) -> tuple[str | None, str | None]:
        device = _device(call.origin_name) if call.origin_name else ""
        found = self._devices.get(device)
        if found is not None:
            return found
        interface = device + "/n" if device.startswith("Local/") else device
        return (call.originated_by or device or None), (interface or None)

    def _outbound_hangup(self, call: _Call, chan: _Chan, t: float) -> None:
        agent_side = chan.role in (HANDSET, CALLER)
        if call.answered_at is not None:
            if call.first_side is None:
                call.first_side = "agent" if agent_side else "customer"
                call.talk_end = t
        elif call.first_origin is None:
            call.first_origin = agent_side

    def _outbound_summary(self, call: _Call, t: float, system: bool) -> CallSummary:
        answered = call.answered_at is not None
        if answered:
            outcome = "answered"
        elif call.origin_up and not call.originate_failed:
            outcome = "no-answer"
        else:
            outcome = "failed"
        if system:
            hangup_by = "system"
        elif answered:
            hangup_by = call.first_side or "customer"
        elif outcome == "no-answer" and call.first_origin:
            hangup_by = "agent"  # gave up while the customer's phone rang
        else:
            hangup_by = "system"
        talk_s = None
        if answered and call.answered_at is not None:
            talk_s = max(0, round((call.talk_end or t) - call.answered_at))
        agent, interface = self._outbound_agent(call)
        return CallSummary(
            linkedid=call.linkedid, caller=call.caller, caller_name=None, did=None,
            agent=agent, agent_interface=interface, started_at=ts(call.started_at),
            answered_at=ts(call.answered_at), ended_at=ts(t), talk_s=talk_s,
            hangup_by=hangup_by, outcome=outcome, ivr=dict(call.ivr),
            recording=call.recording, direction=OUTBOUND)

    def _on_newcallerid(self, m: Message) -> list[DomainEvent]:
        chan = self._channels.get(m.get("Uniqueid", ""))
        if chan is None or chan.role not in (HANDSET, CALLER) or chan.call.direction == OUTBOUND:
            return []  # an outbound agent leg's caller id is the hotline's own number
        call = chan.call
        self._set_caller(call, m.get("CallerIDNum"), m.get("CallerIDName"))
        out: list[DomainEvent] = []
        if call.caller is not None and not call.started:
            self._time(m)
            self._ensure_started(call, out)
        return out

    def _on_varset(self, m: Message) -> list[DomainEvent]:
        var = m.get("Variable", "").lstrip("_")
        out: list[DomainEvent] = []
        if var in ORIGIN_VARS or var == DIALLED_VAR:
            out = self._origin_varset(m, var)
        if var not in IVR_NAMES and not var.startswith(IVR_PREFIXES):
            return out
        chan = self._channels.get(m.get("Uniqueid", ""))
        if chan is None or chan.role not in (HANDSET, CALLER):
            return out
        call = chan.call
        value = m.get("Value", "")
        if var == RECORDING_VAR:
            self._set_recording(call, value)
        elif value:
            call.ivr[var] = value
            if var == "HOTLINE_DID" and call.direction == INBOUND:
                self._set_did(call, value, from_var=True)
        else:
            call.ivr.pop(var, None)
        return out

    def _set_recording(self, call: _Call, value: str) -> None:
        if not value:
            call.recording = None
            return
        safe = safe_recording(value)
        if safe is None:
            self.unexpected["unsafe recording name"] += 1
            log.debug("unsafe recording name %r for call %s ignored", value[:100], call.linkedid)
            return
        call.recording = safe

    def _on_bridge_enter(self, m: Message) -> list[DomainEvent]:
        chan = self._channels.get(m.get("Uniqueid", ""))
        bridge = m.get("BridgeUniqueid", "")
        if chan is None or not bridge:
            return []
        self._leave_bridge(chan)
        chan.bridge = bridge
        self._bridges.setdefault(bridge, set()).add(chan.uid)
        out: list[DomainEvent] = []
        if chan.call.direction == OUTBOUND and chan.role == OTHER:
            self._customer_answered(chan.call, m, out)  # in case its DialEnd was missed
        return out

    def _leave_bridge(self, chan: _Chan) -> None:
        if chan.bridge is None:
            return
        members = self._bridges.get(chan.bridge)
        if members is not None:
            members.discard(chan.uid)
            if not members:
                del self._bridges[chan.bridge]
        chan.bridge = None

    def _on_bridge_leave(self, m: Message) -> list[DomainEvent]:
        chan = self._channels.get(m.get("Uniqueid", ""))
        if chan is None:
            return []
        self._leave_bridge(chan)
        call = chan.call
        # Redirect, first half: the caller's queue channel leaves the agent bridge
        # into another context; confirmed when the agent leg hangs up.
        if (call.state is S.TALKING and chan.uid == call.queue_uid
                and m.get("Context", "") != call.queue_context):
            call.redirect_to = m.get("Exten", "") or m.get("Context", "")
        return []

    def _on_hangup(self, m: Message) -> list[DomainEvent]:
        uid = m.get("Uniqueid", "")
        if self._resyncing:  # the snapshot may still list it: do not adopt it later
            self._snap_gone.add(uid)
        chan = self._channels.pop(uid, None)
        if chan is None:
            return []
        t = self._time(m)
        call = chan.call
        call.channels.pop(chan.uid, None)
        if call.by_name.get(chan.name) == chan.uid:
            del call.by_name[chan.name]
        self._leave_bridge(chan)
        out: list[DomainEvent] = []
        if call.direction == OUTBOUND:
            self._outbound_hangup(call, chan, t)
            if not call.channels:
                out.extend(self._end(call, t))
            return out
        caller_side = chan.role in (HANDSET, CALLER)
        if call.first_hangup_handset is None:
            call.first_hangup_handset = chan.role == HANDSET
        if chan.role == HANDSET and m.get("ChannelState", "6") != "6":
            call.handset_up = False
        is_agent = chan.uid in call.agent_uids
        if is_agent and call.state is S.TALKING and call.redirect_to is not None:
            self._redirect(call, t, out)
        elif call.answered_at is not None and call.first_side is None and (
                caller_side or (is_agent and call.state is S.TALKING)):
            call.first_side = "caller" if caller_side else "agent"
            call.talk_end = t
        if not call.channels:
            out.extend(self._end(call, t))
        return out

    def _redirect(self, call: _Call, t: float, out: list[DomainEvent]) -> None:
        nxt = self._transition(call, "Redirect")
        if nxt is None:
            return
        call.state = nxt
        target = call.redirect_to or ""
        call.redirect_to = None
        call.transfers.append(Transfer(kind="redirect", by=None, target=target, result="Success",
                                       at=ts(t)))
        out.append(CallTransferred(at=ts(t), linkedid=call.linkedid, kind="redirect", by=None,
                                   target=target, result="Success"))

    # ----------------------------------------------------------- queue events

    def _on_join(self, m: Message) -> list[DomainEvent]:
        call = self._call_of(m)
        if call is None:
            self._untracked("QueueCallerJoin", m)
            return []
        queue = m.get("Queue", "")
        if call.state is S.QUEUED and call.queue == queue:
            return []  # replayed
        nxt = self._transition(call, "QueueCallerJoin")
        if nxt is None:
            return []
        t = self._time(m)
        out: list[DomainEvent] = []
        self._set_caller(call, m.get("CallerIDNum"), m.get("CallerIDName"))
        if m.get("Context") in self._inbound:
            self._set_did(call, m.get("Exten"))
        self._ensure_started(call, out)
        call.state = nxt
        call.queue = queue
        if queue not in call.queues:
            call.queues.append(queue)
        if call.queued_at is None:
            call.queued_at = t
        call.joined_at = t
        call.left_at = None
        call.queue_uid = m.get("Uniqueid") or call.queue_uid
        position = _int(m.get("Position")) or 0
        out.append(CallQueued(at=ts(t), linkedid=call.linkedid, queue=queue, position=position,
                              caller=call.caller, caller_name=call.caller_name, did=call.did))
        return out

    def _on_leave(self, m: Message) -> list[DomainEvent]:
        call = self._call_of(m)
        if call is None:
            return []
        nxt = self._transition(call, "QueueCallerLeave")
        if nxt is None:
            return []
        t = self._time(m)
        call.state = nxt
        if call.left_at is None:
            call.left_at = t
        return []

    def _on_abandon(self, m: Message) -> list[DomainEvent]:
        call = self._call_of(m)
        if call is None:
            self._untracked("QueueCallerAbandon", m)
            return []
        nxt = self._transition(call, "QueueCallerAbandon")
        if nxt is None:
            return []
        t = self._time(m)
        call.state = nxt
        call.abandoned = True
        call.left_at = t
        hold = _int(m.get("HoldTime"))
        if hold is not None:
            call.wait_s = hold
        for attempt in call.attempts.values():
            if attempt.result is None:
                attempt.result = "abandoned"
                attempt.ring_ms = max(0, round((t - attempt.called_at) * 1000))
        return []

    def _on_agent_called(self, m: Message) -> list[DomainEvent]:
        call = self._call_of(m)
        if call is None:
            self._untracked("AgentCalled", m)
            return []
        dest_uid = m.get("DestUniqueid", "") or m.get("DestChannel", "")
        if dest_uid in call.attempts:
            return []  # replayed
        nxt = self._transition(call, "AgentCalled")
        if nxt is None:
            return []
        t = self._time(m)
        out: list[DomainEvent] = []
        self._ensure_started(call, out)
        call.state = nxt
        agent = m.get("MemberName", "") or m.get("Interface", "")
        interface = m.get("Interface", "")
        queue = m.get("Queue", "") or call.queue or ""
        call.attempts[dest_uid] = _Attempt(agent, interface, queue, dest_uid, t)
        self._mark_agent_leg(call, dest_uid, m.get("DestChannel", ""))
        out.append(AgentRinging(
            at=ts(t), linkedid=call.linkedid, queue=queue, agent=agent, interface=interface,
            agent_channel=m.get("DestChannel", ""), caller=call.caller,
            caller_name=call.caller_name, did=call.did, ivr=dict(call.ivr)))
        return out

    def _mark_agent_leg(self, call: _Call, uid: str, name: str) -> None:
        chan = call.channels.get(uid)
        if chan is not None and chan.role == OTHER:
            chan.role = AGENT
        partner = self._partner(call, name)
        if partner is not None:
            other = call.channels.get(partner)
            if other is not None and other.role == OTHER:
                other.role = AGENT

    def _find_attempt(self, call: _Call, m: Message) -> _Attempt | None:
        attempt = call.attempts.get(m.get("DestUniqueid", "") or m.get("DestChannel", ""))
        if attempt is not None:
            return attempt
        interface = m.get("Interface", "")
        for candidate in reversed(list(call.attempts.values())):
            if candidate.interface == interface and candidate.result is None:
                return candidate
        return None

    def _on_ring_no_answer(self, m: Message) -> list[DomainEvent]:
        call = self._call_of(m)
        if call is None:
            return []
        attempt = self._find_attempt(call, m)
        if attempt is not None and attempt.result is not None:
            return []  # replayed
        nxt = self._transition(call, "AgentRingNoAnswer")
        if nxt is None:
            return []
        t = self._time(m)
        ring_ms = _int(m.get("RingTime"))
        if attempt is None:
            attempt = _Attempt(m.get("MemberName", "") or m.get("Interface", ""),
                               m.get("Interface", ""), m.get("Queue", "") or call.queue or "",
                               m.get("DestUniqueid", ""), t)
            call.attempts[attempt.dest_uid or f"?{len(call.attempts)}"] = attempt
        attempt.result = "no-answer"
        attempt.ring_ms = ring_ms
        if nxt is S.QUEUED and any(a.result is None for a in call.attempts.values()):
            nxt = S.RINGING
        call.state = nxt
        return [AgentRingNoAnswer(at=ts(t), linkedid=call.linkedid, queue=attempt.queue,
                                  agent=attempt.agent, interface=attempt.interface,
                                  ring_ms=ring_ms)]

    def _on_connect(self, m: Message) -> list[DomainEvent]:
        call = self._call_of(m)
        if call is None:
            self._untracked("AgentConnect", m)
            return []
        nxt = self._transition(call, "AgentConnect")
        if nxt is None:
            return []
        t = self._time(m)
        out: list[DomainEvent] = []
        self._ensure_started(call, out)
        call.state = nxt
        dest_uid = m.get("DestUniqueid", "")
        attempt = self._find_attempt(call, m)
        if attempt is None:
            attempt = _Attempt(m.get("MemberName", "") or m.get("Interface", ""),
                               m.get("Interface", ""), m.get("Queue", "") or call.queue or "",
                               dest_uid, t)
            call.attempts[dest_uid or f"?{len(call.attempts)}"] = attempt
        attempt.result = "answered"
        for other in call.attempts.values():
            if other.result is None:
                other.result = "lost"  # ringall: someone else answered first
        hold, ring = _int(m.get("HoldTime")), _int(m.get("RingTime"))
        queue = m.get("Queue", "") or attempt.queue
        if call.agent is None:  # the summary keeps the first agent who answered
            call.agent = attempt.agent
            call.agent_interface = attempt.interface
            call.agent_channel = m.get("DestChannel", "") or None
            call.answered_at = t
            call.wait_s = hold
            call.ring_s = ring
            call.queue_context = m.get("Context", "")
            if m.get("Uniqueid"):
                call.queue_uid = m.get("Uniqueid")
            call.agent_uids = {dest_uid}
            partner = self._partner(call, m.get("DestChannel", ""))
            if partner is not None:
                call.agent_uids.add(partner)
            self._mark_agent_leg(call, dest_uid, m.get("DestChannel", ""))
        out.append(CallAnswered(at=ts(t), linkedid=call.linkedid, queue=queue,
                                agent=attempt.agent, interface=attempt.interface,
                                agent_channel=m.get("DestChannel", ""), wait_s=hold, ring_s=ring))
        return out

    def _on_complete(self, m: Message) -> list[DomainEvent]:
        call = self._call_of(m)
        if call is None:
            return []
        nxt = self._transition(call, "AgentComplete")
        if nxt is None:
            return []
        self._time(m)
        call.state = nxt
        if not call.completed:
            call.completed = True
            talk = _int(m.get("TalkTime"))
            if talk is not None:
                call.talk_s = talk
            reason = m.get("Reason", "")
            if reason in HANGUP_REASONS:
                call.hangup_by = reason
            if call.wait_s is None:
                call.wait_s = _int(m.get("HoldTime"))
        return []

    # ------------------------------------------------------------- transfers

    def _transfer(self, call: _Call, m: Message, kind: str, by_uid: str, by_chan: str,
                  target: str) -> list[DomainEvent]:
        result = m.get("Result", "")
        if result == "Success":
            nxt = self._transition(call, "BlindTransfer" if kind == "blind" else "AttendedTransfer")
            if nxt is None:
                return []
            call.state = nxt
        t = self._time(m)
        out: list[DomainEvent] = []
        self._ensure_started(call, out)
        by = call.agent if by_uid and by_uid in call.agent_uids else (by_chan or None)
        call.transfers.append(Transfer(kind=kind, by=by, target=target, result=result, at=ts(t)))
        out.append(CallTransferred(at=ts(t), linkedid=call.linkedid, kind=kind, by=by,
                                   target=target, result=result))
        return out

    def _on_blind_transfer(self, m: Message) -> list[DomainEvent]:
        call = (self._call_of(m, "TransfererUniqueid", "TransfererLinkedid")
                or self._call_of(m, "TransfereeUniqueid", "TransfereeLinkedid"))
        if call is None:
            return []
        target = m.get("Extension", "")
        return self._transfer(call, m, "blind", m.get("TransfererUniqueid", ""),
                              m.get("TransfererChannel", ""), target)

    def _on_attended_transfer(self, m: Message) -> list[DomainEvent]:
        call = (self._call_of(m, "OrigTransfererUniqueid", "OrigTransfererLinkedid")
                or self._call_of(m, "TransfereeUniqueid", "TransfereeLinkedid")
                or self._call_of(m, "SecondTransfererUniqueid", "SecondTransfererLinkedid"))
        if call is None:
            return []
        return self._transfer(call, m, "attended", m.get("OrigTransfererUniqueid", ""),
                              m.get("OrigTransfererChannel", ""), self._atxfer_target(call, m))

    def _atxfer_target(self, call: _Call, m: Message) -> str:
        """Who the caller was handed to: the target channel, else who shares their bridge."""
        target = self._channels.get(m.get("TransferTargetUniqueid", ""))
        if target is not None:
            return _target_of(target)
        skip = {m.get(k, "") for k in ("TransfereeUniqueid", "OrigTransfererUniqueid",
                                       "SecondTransfererUniqueid")}
        for key in ("DestBridgeUniqueid", "SecondBridgeUniqueid"):
            for uid in sorted(self._bridges.get(m.get(key, ""), ())):
                chan = self._channels.get(uid)
                if chan is not None and uid not in skip and chan.role == OTHER:
                    return _target_of(chan)
        others = [c for c in call.channels.values() if c.role == OTHER]
        if others:
            return _target_of(min(others, key=lambda c: c.seq))
        return m.get("TransferTargetChannel", "") or m.get("DestApp", "")

    # ------------------------------------------------------------------ ending

    def _end(self, call: _Call, t: float, *, system: bool = False) -> list[DomainEvent]:
        out: list[DomainEvent] = []
        if self._calls.get(call.linkedid) is not call:
            return out
        del self._calls[call.linkedid]
        for chan in call.channels.values():
            self._leave_bridge(chan)
            if self._channels.get(chan.uid) is chan:
                del self._channels[chan.uid]
        call.channels.clear()
        self._remember_ended(call.linkedid)
        self._ensure_started(call, out)
        out.append(CallEnded(at=ts(t), summary=self._summary(call, t, system)))
        return out

    def _summary(self, call: _Call, t: float, system: bool) -> CallSummary:
        if call.direction == OUTBOUND:
            return self._outbound_summary(call, t, system)
        answered = call.agent is not None
        abandoned = not answered and (
            call.abandoned or call.state in (S.QUEUED, S.RINGING))
        hangup_by = call.hangup_by
        if hangup_by is None:
            if system:
                hangup_by = "system"
            elif answered:
                hangup_by = call.first_side or "caller"
            elif abandoned:
                hangup_by = "caller"
            else:
                hangup_by = "caller" if call.first_hangup_handset else "system"
        if answered:
            outcome = "transferred" if hangup_by == "transfer" else "answered"
        elif abandoned:
            outcome = "abandoned"
        elif call.queues:
            outcome = "no-answer"
        elif not call.handset_up:
            outcome = "failed"
        else:
            outcome = "ivr-only"
        wait_s = call.wait_s
        if wait_s is None and call.joined_at is not None:
            until = call.answered_at if answered else (call.left_at or t)
            wait_s = max(0, round((until or t) - call.joined_at))
        talk_s = call.talk_s
        if talk_s is None and answered and call.answered_at is not None:
            talk_s = max(0, round((call.talk_end or t) - call.answered_at))
        tried = []
        for a in call.attempts.values():
            result = a.result or ("abandoned" if outcome == "abandoned" else "lost")
            tried.append(AgentAttempt(agent=a.agent, interface=a.interface, queue=a.queue,
                                      result=result, ring_ms=a.ring_ms))
        return CallSummary(
            linkedid=call.linkedid, caller=call.caller, caller_name=call.caller_name,
            did=call.did, queues=tuple(call.queues), agents_tried=tuple(tried),
            agent=call.agent, agent_interface=call.agent_interface,
            started_at=ts(call.started_at), queued_at=ts(call.queued_at),
            answered_at=ts(call.answered_at), ended_at=ts(t), wait_s=wait_s,
            ring_s=call.ring_s, talk_s=talk_s, hangup_by=hangup_by, outcome=outcome,
            transfers=tuple(call.transfers), ivr=dict(call.ivr), recording=call.recording)

    # ------------------------------------------------------------ agent state

    def _member(self, m: Message, change: str | None) -> list[DomainEvent]:
        queue = m.get("Queue", "")
        interface = m.get("Interface", "") or m.get("Location", "")
        if not interface:
            return []
        agent = m.get("MemberName", "") or m.get("Name", "") or interface
        status = _int(m.get("Status"))
        paused = m.get("Paused", "") == "1"
        reason = m.get("PausedReason", "") if paused else ""
        penalty = _int(m.get("Penalty"))
        key = (queue, interface)
        record = (agent, status, paused, reason, penalty)
        if change is None:  # a QueueStatus snapshot entry: report only what changed
            if self._members.get(key) == record:
                return []
            change = "status"
        t = self._time(m)
        out: list[DomainEvent] = [QueueMemberChanged(
            at=ts(t), queue=queue, interface=interface, agent=agent, change=change,
            status=status, paused=paused, reason=reason, penalty=penalty)]
        device = m.get("StateInterface", "") or interface.removesuffix("/n")
        if change == "removed":
            self._members.pop(key, None)
            if not any(k[1] == interface for k in self._members):
                self._devices.pop(device, None)
                if self._agent_states.pop(interface, None) is not None:
                    out.append(AgentStateChanged(at=ts(t), interface=interface, agent=agent,
                                                 state="unavailable", paused=False, reason=""))
            return out
        self._members[key] = record
        self._devices[device] = (agent, interface)
        state = DEVICE_STATES.get(m.get("Status", ""), "unknown")
        if self._agent_states.get(interface) != (state, paused, reason):
            self._agent_states[interface] = (state, paused, reason)
            out.append(AgentStateChanged(at=ts(t), interface=interface, agent=agent, state=state,
                                         paused=paused, reason=reason))
        return out

    def _on_member_status(self, m: Message) -> list[DomainEvent]:
        return self._member(m, "status")

    def _on_member_pause(self, m: Message) -> list[DomainEvent]:
        return self._member(m, "paused" if m.get("Paused", "") == "1" else "unpaused")

    def _on_member_added(self, m: Message) -> list[DomainEvent]:
        return self._member(m, "added")

    def _on_member_removed(self, m: Message) -> list[DomainEvent]:
        return self._member(m, "removed")

    def _on_member_penalty(self, m: Message) -> list[DomainEvent]:
        return self._member(m, "penalty")

    def _on_queue_member(self, m: Message) -> list[DomainEvent]:
        if self._resyncing:
            self._snap_members.add((m.get("Queue", ""), m.get("Location", "")))
        return self._member(m, None)

    # ----------------------------------------------------------------- resync

    def _on_queue_params(self, m: Message) -> list[DomainEvent]:
        if self._resyncing:
            self._snap_queues.add(m.get("Queue", ""))
        return []

    def _on_queue_entry(self, m: Message) -> list[DomainEvent]:
        if self._resyncing and m.get("Uniqueid"):
            self._snap_entries[m.get("Uniqueid", "")] = dict(m)
        return []

    def _on_queue_status_complete(self, m: Message) -> list[DomainEvent]:
        if self._resyncing:
            self._snap_queues_done = True
        return []

    def _on_core_show_channel(self, m: Message) -> list[DomainEvent]:
        if self._resyncing and m.get("Uniqueid"):
            self._snap_channels[m.get("Uniqueid", "")] = dict(m)
        return []

    def _on_core_show_complete(self, m: Message) -> list[DomainEvent]:
        if self._resyncing:
            self._snap_channels_done = True
        return []

    def _reconcile_calls(self, ended_at: float, out: list[DomainEvent]) -> None:
        snap = self._snap_channels
        for call in list(self._calls.values()):
            if call.seq > self._resync_seq:
                continue  # started during the resync: the snapshot may predate it
            for chan in list(call.channels.values()):
                if chan.uid not in snap and chan.seq <= self._resync_seq:
                    call.channels.pop(chan.uid, None)
                    self._channels.pop(chan.uid, None)
                    self._leave_bridge(chan)
            if not call.channels:
                out.extend(self._end(call, ended_at, system=True))
            elif call.state in (S.QUEUED, S.RINGING, S.LEFT) and call.agent is None:
                self._answered_in_outage(call, ended_at, out)

    def _agent_legs(self, rows: Iterable[Message]) -> list[Message]:
        return [r for r in rows if r.get("Application") == "AppQueue"]

    def _member_of(self, channel: str) -> tuple[str, str]:
        device = _device(channel)
        found = self._devices.get(device)
        return found if found is not None else (device, device + "/n")

    def _answered_in_outage(self, call: _Call, at: float, out: list[DomainEvent]) -> None:
        rows = [r for uid, r in self._snap_channels.items() if uid in call.channels]
        caller = next((r for r in rows if r.get("Uniqueid") == call.queue_uid), None)
        bridge = caller.get("BridgeId", "") if caller else ""
        for leg in self._agent_legs(rows):
            if bridge and leg.get("BridgeId") == bridge:
                agent, interface = self._member_of(leg.get("Channel", ""))
                call.state = S.TALKING
                call.agent, call.agent_interface = agent, interface
                call.agent_channel = leg.get("Channel", "")
                call.answered_at = at
                call.queue_context = caller.get("Context", "") if caller else None
                call.agent_uids = {leg.get("Uniqueid", "")}
                partner = self._partner(call, call.agent_channel)
                if partner is not None:
                    call.agent_uids.add(partner)
                out.append(CallAnswered(at=ts(at), linkedid=call.linkedid, queue=call.queue or "",
                                        agent=agent, interface=interface,
                                        agent_channel=call.agent_channel, wait_s=None,
                                        ring_s=None))
                return

    def _adopt_calls(self, now: float, out: list[DomainEvent]) -> None:
        groups: dict[str, list[Message]] = {}
        for uid, row in self._snap_channels.items():
            lid = row.get("Linkedid", "")
            if lid and uid not in self._channels and lid not in self._ended:
                groups.setdefault(lid, []).append(row)
        for lid, rows in groups.items():
            live = [r for r in rows if r.get("Uniqueid") not in self._snap_gone]
            call = self._calls.get(lid)
            if call is not None:  # a known call: register the channels we missed
                for row in live:
                    self._register_row(call, row)
            elif self._is_inbound(rows):
                self._adopt(lid, live or rows, now, out)
                if not live:  # seen only in the snapshot, gone before the resync ended
                    out.extend(self._end(self._calls[lid], now, system=True))

    def _is_inbound(self, rows: list[Message]) -> bool:
        return any(r.get("Context") in self._inbound or r.get("Uniqueid") in self._snap_entries
                   or r.get("Application") == "AppQueue" for r in rows)

    def _register_row(self, call: _Call, row: Message) -> _Chan:
        uid = row.get("Uniqueid", "")
        if uid == call.linkedid:
            role = HANDSET
        elif row.get("Context") in self._inbound or uid in self._snap_entries:
            role = CALLER
        elif row.get("Application") == "AppQueue":
            role = AGENT
        else:
            role = OTHER
        chan = self._register(call, uid, row.get("Channel", ""), role, row.get("Exten", ""))
        bridge = row.get("BridgeId", "")
        if bridge:
            chan.bridge = bridge
            self._bridges.setdefault(bridge, set()).add(uid)
        return chan

    def _adopt(self, lid: str, rows: list[Message], now: float, out: list[DomainEvent]) -> None:
        age = max(_duration(r.get("Duration")) for r in rows)
        self._seq += 1
        call = _Call(lid, now - age, self._seq)
        self._calls[lid] = call
        rows = sorted(rows, key=lambda r: (r.get("Uniqueid") != lid, r.get("Uniqueid", "")))
        for row in rows:
            self._register_row(call, row)
        for row in rows:  # agent legs are Local pairs too: mark their other halves
            if row.get("Application") == "AppQueue":
                self._mark_agent_leg(call, row.get("Uniqueid", ""), row.get("Channel", ""))
        caller_row = next((r for r in rows if r.get("Uniqueid") in self._snap_entries), None)
        if caller_row is None:
            caller_row = next((r for r in rows if r.get("Context") in self._inbound), rows[0])
        for row in rows:
            self._set_caller(call, row.get("CallerIDNum"), row.get("CallerIDName"))
            if row.get("Context") in self._inbound:
                self._set_did(call, row.get("Exten"))
        self._ensure_started(call, out)
        call.queue_uid = caller_row.get("Uniqueid")
        call.queue_context = caller_row.get("Context")
        entry = self._snap_entries.get(call.queue_uid or "")
        if entry is None:
            entry = next((self._snap_entries[u] for u in call.channels if u in self._snap_entries),
                         None)
        bridge = caller_row.get("BridgeId", "")
        legs = self._agent_legs(rows)
        if entry is not None:
            queue = entry.get("Queue", "")
            wait = _int(entry.get("Wait")) or 0
            call.queue, call.queues, call.state = queue, [queue], S.QUEUED
            call.queued_at = call.joined_at = now - wait
            out.append(CallQueued(at=ts(now), linkedid=lid, queue=queue,
                                  position=_int(entry.get("Position")) or 0, caller=call.caller,
                                  caller_name=call.caller_name, did=call.did))
            self._adopt_ringing(call, legs, now, out)
        else:
            queue = caller_row.get("ApplicationData", "").split(",", 1)[0]
            for leg in legs:
                if bridge and leg.get("BridgeId") == bridge:
                    self._adopt_talking(call, leg, queue, now, out)
                    break

    def _adopt_ringing(self, call: _Call, legs: list[Message], now: float,
                       out: list[DomainEvent]) -> None:
        for leg in legs:
            agent, interface = self._member_of(leg.get("Channel", ""))
            uid = leg.get("Uniqueid", "")
            started = now - _duration(leg.get("Duration"))
            call.attempts[uid] = _Attempt(agent, interface, call.queue or "", uid, started)
            call.state = S.RINGING
            out.append(AgentRinging(
                at=ts(now), linkedid=call.linkedid, queue=call.queue or "", agent=agent,
                interface=interface, agent_channel=leg.get("Channel", ""), caller=call.caller,
                caller_name=call.caller_name, did=call.did, ivr=dict(call.ivr)))

    def _adopt_talking(self, call: _Call, leg: Message, queue: str, now: float,
                       out: list[DomainEvent]) -> None:
        agent, interface = self._member_of(leg.get("Channel", ""))
        uid = leg.get("Uniqueid", "")
        call.state = S.TALKING
        call.queue = queue or None
        call.queues = [queue] if queue else []
        call.agent, call.agent_interface = agent, interface
        call.agent_channel = leg.get("Channel", "")
        call.answered_at = now - _duration(leg.get("Duration"))
        call.agent_uids = {uid}
        partner = self._partner(call, call.agent_channel)
        if partner is not None:
            call.agent_uids.add(partner)
        attempt = _Attempt(agent, interface, queue, uid, call.answered_at)
        attempt.result = "answered"
        call.attempts[uid] = attempt
        out.append(CallAnswered(at=ts(now), linkedid=call.linkedid, queue=queue, agent=agent,
                                interface=interface, agent_channel=call.agent_channel,
                                wait_s=None, ring_s=None))

    def _reconcile_members(self, now: float, out: list[DomainEvent]) -> None:
        for queue, interface in list(self._members):
            if queue in self._snap_queues and (queue, interface) not in self._snap_members:
                agent = self._members[(queue, interface)][0]
                out.extend(self._member({"Queue": queue, "Interface": interface,
                                         "MemberName": agent, "Timestamp": str(now)},
                                        "removed"))
