"""Domain events: the shared vocabulary between the call tracker and its consumers.

Rules:
- every event is a frozen, keyword-only dataclass; times are aware UTC datetimes;
- ``to_dict()`` gives plain JSON-ready data (times as ISO 8601 strings) with a
  ``type`` key, and ``event_from_dict()`` rebuilds the very same event, so an
  event crosses the in-process bus and Redis unchanged;
- consumers must ignore keys they do not know (newer producers may add some).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, TypeVar

T = TypeVar("T")


def ts(epoch: float | None) -> datetime | None:
    """An epoch float as an aware UTC datetime (None stays None)."""
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)


def _dump(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _dump(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [_dump(v) for v in value]
    if isinstance(value, dict):
        return {k: _dump(v) for k, v in value.items()}
    return value


def _time(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


@dataclass(frozen=True, kw_only=True)
class AgentAttempt:
    """One queue member rung for a call, and how that ended."""

    agent: str
    interface: str
    queue: str
    result: str  # answered | no-answer | abandoned (caller left while ringing) | lost
    ring_ms: int | None = None  # how long this member's phone rang (answered ones too)
    # answered: this agent's own talk (the call's leg with them; a transferred call has
    # one answered attempt per agent who took it)
    talk_s: int | None = None

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AgentAttempt:
        return cls(
            agent=str(d["agent"]),
            interface=str(d["interface"]),
            queue=str(d["queue"]),
            result=str(d["result"]),
            ring_ms=None if d.get("ring_ms") is None else int(d["ring_ms"]),
            talk_s=None if d.get("talk_s") is None else int(d["talk_s"]),
        )


@dataclass(frozen=True, kw_only=True)
class Transfer:
    """A transfer of the caller away from the agent who had them."""

    kind: str  # blind | attended | redirect
    by: str | None  # agent member name (or channel) who transferred
    target: str  # extension or channel the caller was sent to
    result: str  # Success | Fail | ...
    at: datetime | None = None

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Transfer:
        return cls(
            kind=str(d["kind"]),
            by=d.get("by"),
            target=str(d["target"]),
            result=str(d["result"]),
            at=_time(d.get("at")),
        )


OUTCOMES = ("answered", "abandoned", "no-answer", "ivr-only", "transferred", "failed")
DIRECTIONS = ("inbound", "outbound")


@dataclass(frozen=True, kw_only=True)
class CallSummary:
    """Everything the call log keeps about one finished call (one Linkedid).

    ``direction`` inbound: a customer called the hotline. outbound: an agent's Originate
    (click-to-dial, callback) called the customer; then ``caller`` is the customer's
    number all the same (the number dialled), ``did`` None, ``queues`` empty,
    ``answered_at`` when the customer answered, ``hangup_by`` customer | agent | system
    and ``outcome`` answered | no-answer | failed (``telephony.tracker``)."""

    linkedid: str
    caller: str | None  # E.164 (+8613800138000) when it parses, else the raw digits
    caller_name: str | None
    did: str | None
    queues: tuple[str, ...] = ()
    agents_tried: tuple[AgentAttempt, ...] = ()
    agent: str | None = None  # member name of the agent who answered
    agent_interface: str | None = None
    started_at: datetime | None = None
    queued_at: datetime | None = None
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    wait_s: int | None = None  # seconds in queue before answer or abandon
    # seconds the answering agent's phone rang (outbound: the customer's phone)
    ring_s: int | None = None
    talk_s: int | None = None
    hangup_by: str | None = None  # caller | agent | transfer | system
    outcome: str = "ivr-only"
    transfers: tuple[Transfer, ...] = ()
    ivr: dict[str, str] = field(default_factory=dict)
    # the call's recording, relative to the recordings folder (tracker.safe_recording)
    recording: str | None = None
    direction: str = "inbound"  # inbound | outbound

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = _dump(self)
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CallSummary:
        return cls(
            linkedid=str(d["linkedid"]),
            caller=d.get("caller"),
            caller_name=d.get("caller_name"),
            did=d.get("did"),
            queues=tuple(d.get("queues") or ()),
            agents_tried=tuple(AgentAttempt.from_dict(a) for a in d.get("agents_tried") or ()),
            agent=d.get("agent"),
            agent_interface=d.get("agent_interface"),
            started_at=_time(d.get("started_at")),
            queued_at=_time(d.get("queued_at")),
            answered_at=_time(d.get("answered_at")),
            ended_at=_time(d.get("ended_at")),
            wait_s=d.get("wait_s"),
            ring_s=d.get("ring_s"),
            talk_s=d.get("talk_s"),
            hangup_by=d.get("hangup_by"),
            outcome=str(d.get("outcome") or "ivr-only"),
            transfers=tuple(Transfer.from_dict(t) for t in d.get("transfers") or ()),
            ivr={str(k): str(v) for k, v in (d.get("ivr") or {}).items()},
            recording=None if d.get("recording") is None else str(d["recording"]),
            direction=str(d.get("direction") or "inbound"),
        )


@dataclass(frozen=True, kw_only=True)
class DomainEvent:
    """Base of every event on the bus. ``at`` is when it happened on the PBX."""

    at: datetime | None = None
    registry: ClassVar[dict[str, type[DomainEvent]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        DomainEvent.registry[cls.__name__] = cls

    @property
    def type(self) -> str:
        return type(self).__name__

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = _dump(self)
        out["type"] = self.type
        return out


@dataclass(frozen=True, kw_only=True)
class CallStarted(DomainEvent):
    linkedid: str
    caller: str | None  # outbound: the customer's number (the number dialled)
    caller_name: str | None
    did: str | None
    direction: str = "inbound"  # inbound | outbound


@dataclass(frozen=True, kw_only=True)
class CallQueued(DomainEvent):
    linkedid: str
    queue: str
    position: int
    caller: str | None
    caller_name: str | None
    did: str | None


@dataclass(frozen=True, kw_only=True)
class AgentRinging(DomainEvent):
    """A queue member's phone rings for a call, or an agent places an outbound call:
    the trigger of the screen pop."""

    linkedid: str
    queue: str
    agent: str
    interface: str
    agent_channel: str
    caller: str | None
    caller_name: str | None
    did: str | None
    ivr: dict[str, str] = field(default_factory=dict)
    # outbound: the agent's own Originate (queue "", did None, caller = the number
    # dialled); it rings the agent's phone, then the customer's
    direction: str = "inbound"
    # an attended transfer's target rung through a queue (``telephony.tracker``,
    # "Consult calls"): the caller still talks to (is held by) the transferring agent,
    # so the call's own state (the live page) does not change; the target agent's
    # pop and board do
    consult: bool = False


@dataclass(frozen=True, kw_only=True)
class AgentRingNoAnswer(DomainEvent):
    linkedid: str
    queue: str
    agent: str
    interface: str
    ring_ms: int | None
    consult: bool = False  # a consult call's member (see AgentRinging)


@dataclass(frozen=True, kw_only=True)
class CallAnswered(DomainEvent):
    linkedid: str
    queue: str
    agent: str
    interface: str
    agent_channel: str
    wait_s: int | None
    ring_s: int | None
    direction: str = "inbound"  # outbound: the customer answered the agent's call (queue "")
    # the target of an attended transfer answered the consult call (see AgentRinging):
    # that agent is now on the call; it is not the caller's answer (the call was
    # answered once, by its first agent)
    consult: bool = False


@dataclass(frozen=True, kw_only=True)
class CallTransferred(DomainEvent):
    linkedid: str
    kind: str  # blind | attended | redirect
    by: str | None
    target: str
    result: str


@dataclass(frozen=True, kw_only=True)
class CallEnded(DomainEvent):
    summary: CallSummary

    @property
    def linkedid(self) -> str:
        return self.summary.linkedid


@dataclass(frozen=True, kw_only=True)
class AgentStateChanged(DomainEvent):
    """What the PBX believes about one agent (a queue member interface)."""

    interface: str
    agent: str
    state: str  # available | ringing | busy | on-hold | unavailable | unknown
    paused: bool
    reason: str  # pause reason, "" when not paused


@dataclass(frozen=True, kw_only=True)
class QueueMemberChanged(DomainEvent):
    """A queue's membership or a member's status changed."""

    queue: str
    interface: str
    agent: str
    change: str  # added | removed | paused | unpaused | penalty | status
    status: int | None
    paused: bool
    reason: str
    penalty: int | None = None


def event_from_dict(d: dict[str, Any]) -> DomainEvent:
    """Rebuild an event from ``to_dict()`` output; unknown keys are ignored."""
    name = d.get("type")
    cls = DomainEvent.registry.get(str(name))
    if cls is None:
        raise ValueError(f"unknown domain event type: {name!r}")
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name not in d:
            continue
        value = d[f.name]
        if f.name == "at":
            value = _time(value)
        elif f.name == "summary":
            value = CallSummary.from_dict(value)
        elif f.name == "ivr":
            value = {str(k): str(v) for k, v in (value or {}).items()}
        kwargs[f.name] = value
    return cls(**kwargs)


def from_dict(d: dict[str, Any]) -> DomainEvent:
    """Alias of :func:`event_from_dict`, the name DESIGN.md uses."""
    return event_from_dict(d)
