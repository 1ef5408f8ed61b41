"""What the call tracker knows: constants, the transition table, one open call and its
channels, and the small pure readers of AMI fields. No behaviour beyond reading."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from enum import StrEnum

from telephony.events import DomainEvent, Transfer

Message = Mapping[str, str]
Handler = Callable[[Message], list[DomainEvent]]

ENDED_MEMORY = 20_000  # recently ended Linkedids remembered (a few hours of a busy PBX)
MAX_OPEN_CALLS = 50_000  # beyond this the oldest open call is closed as "system"
IVR_NAMES = frozenset({"QUEUE", "PRIORITY", "QUEUE_PRIO"})
# a VarSet of one of these on the first channel of a call: an Originate of ours
ORIGIN_VARS = frozenset({"HOTLINE_ORIGINATED_BY", "HOTLINE_CALLBACK", "ORIGINATED_BY"})
USER_VARS = frozenset({"HOTLINE_ORIGINATED_BY", "ORIGINATED_BY"})  # value: the user
AGENT_NAME_VAR = "HOTLINE_AGENT_NAME"  # the agent's name as the call log writes it
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
LATEST_EPOCH = 32_503_680_000.0  # year 3000: a Timestamp beyond is garbage
MAX_DURATION = 7 * 86_400.0  # a snapshot channel older than a week is garbage


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
PHONE = "phone"  # outbound: the agent's own phone, dialled by the agent's side


class Chan:
    """One channel (Uniqueid) of an open call."""

    __slots__ = ("uid", "name", "call", "role", "exten", "seq", "bridge")

    def __init__(self, uid: str, name: str, call: Call, role: str, exten: str, seq: int) -> None:
        self.uid = uid
        self.name = name
        self.call = call
        self.role = role
        self.exten = exten
        self.seq = seq
        self.bridge: str | None = None


class Attempt:
    """One queue member rung for a call."""

    __slots__ = ("agent", "interface", "queue", "dest_uid", "called_at", "result", "ring_ms",
                 "answered_at", "ended_at", "talk_s", "consult")

    def __init__(self, agent: str, interface: str, queue: str, dest_uid: str, at: float,
                 *, consult: str | None = None) -> None:
        self.agent = agent
        self.interface = interface
        self.queue = queue
        self.dest_uid = dest_uid
        self.called_at = at
        self.result: str | None = None
        self.ring_ms: int | None = None
        self.answered_at: float | None = None
        self.ended_at: float | None = None  # the agent's part ended (complete, transfer)
        self.talk_s: int | None = None  # AgentComplete's TalkTime for this agent
        # the Uniqueid of the consult channel whose queue call rang this member (an
        # attended transfer's target reached through a queue); None: the caller's own
        self.consult = consult


class Call:
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
        self.channels: dict[str, Chan] = {}
        self.by_name: dict[str, str] = {}
        self.queue: str | None = None
        self.queues: list[str] = []
        self.queue_uid: str | None = None
        self.queue_context: str | None = None
        self.queued_at: float | None = None
        self.joined_at: float | None = None
        self.left_at: float | None = None
        self.attempts: dict[str, Attempt] = {}
        self.agent: str | None = None
        self.agent_interface: str | None = None
        self.agent_channel: str | None = None
        self.agent_uids: set[str] = set()
        self.talking: Attempt | None = None  # the answered attempt talking now
        # consult channels (attended transfer targets) that ran Queue(): their queue
        # calls are attempts of this call, outside its state machine (``consult``)
        self.consults: set[str] = set()
        self.answered_at: float | None = None
        self.wait_s: int | None = None
        self.ring_s: int | None = None
        self.talk_s: int | None = None
        self.hangup_by: str | None = None  # the PBX's own word (AgentComplete Reason)
        self.completed = False
        self.abandoned = False
        self.transfers: list[Transfer] = []
        self.redirect_to: str | None = None
        self.first_side: str | None = None  # the side that hung up first after the answer
        self.talk_end: float | None = None
        self.talk_left: str | None = None  # the channel whose BridgeLeave set talk_end
        self.first_hangup_handset: bool | None = None
        self.handset_up = True  # False when the PBX never answered the caller channel
        # outbound only
        self.origin_name = ""  # the agent leg's channel name (the first channel)
        self.originated_by: str | None = None
        self.agent_name: str | None = None
        self.origin_up = False  # the agent answered their own phone
        self.originate_failed = False
        self.first_origin: bool | None = None  # first hangup on the agent's side (unanswered)
        self.placed = False  # the agent's leg rings or is up (or the customer is dialled)
        self.dialled_at: float | None = None  # the customer's leg was dialled
        self.popped = False  # AgentRinging emitted


def to_int(value: str | None) -> int | None:
    """An AMI number field as an int (floats truncated); None when absent or garbage."""
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


def known(value: str | None) -> str | None:
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


def channel_state(m: Message) -> str:
    """A channel's state code (``5`` ringing, ``6`` up), from its desc when the code is absent."""
    return m.get("ChannelState") or {"Ringing": "5", "Up": "6"}.get(
        m.get("ChannelStateDesc", ""), "")


def looks_like_number(exten: str | None) -> bool:
    digits = (exten or "").lstrip("+")
    return digits.isascii() and digits.isdigit()


def device_of(channel: str) -> str:
    """The device of a channel name: ``Local/1001@agents-0000005c;1`` -> ``Local/1001@agents``,
    ``PJSIP/1001-0000000a`` -> ``PJSIP/1001``."""
    base = channel.split(";", 1)[0]
    head, sep, _ = base.rpartition("-")
    return head if sep else base


def target_of(chan: Chan) -> str:
    """What a transfer target channel was dialled as: its Exten, else its device name."""
    if chan.exten and chan.exten != "s":
        return chan.exten
    return device_of(chan.name).split("/", 1)[-1].split("@", 1)[0]


def duration(value: str | None) -> float:
    """CoreShowChannel Duration ``HH:MM:SS`` in seconds (0 when unreadable, at most a week)."""
    if not value:
        return 0.0
    total = 0.0
    for part in value.split(":"):
        n = to_int(part)
        if n is None or n < 0 or n > MAX_DURATION:
            return 0.0
        total = total * 60 + n
    return min(total, MAX_DURATION)
