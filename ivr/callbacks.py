"""Callback decisions, pure: who is called back now, by which agent, and what happens
after each attempt. No I/O, no clock: every time is passed in (aware UTC datetimes).

The line of a queue
- A queue's line holds the callers waiting in the PBX queue (``QueueEntry`` of
  QueueStatus: joined at ``joined_at`` with the queue priority ``priority``) and the
  callbacks that are due now (state waiting, ``not_before`` and ``next_attempt_at``
  reached), each at its ``place_at`` (when the caller joined the line) with its
  priority. Order: higher priority first (Asterisk's order), then earlier time; on a tie
  the PBX caller goes first (a callback never jumps ahead of someone who was waiting at
  the same moment).
- A callback is dialled only while NO PBX caller is ahead of it: the callbacks dialled
  now are the ones before the first PBX caller of the line, in line order, each given a
  free agent until none is left. A caller who joined after the callback's place is
  behind it.
- "Free agent": a queue member whose device is not in use (status 0 or 1) and who is
  not paused, or is paused by us with reason ``RESERVE_REASON`` (held for a callback),
  and is not dialling another callback of ours. An agent who just failed to answer for
  a callback is tried for it again only when no other agent is free.
- Reservation: app_queue hands a freed agent to the next PBX caller by itself, within a
  second, without asking Hotline. When a callback at the head of the line has no free
  agent while PBX callers (necessarily later ones) wait behind it, every busy, unpaused
  member of the queue is paused with ``RESERVE_REASON``; the first one freed is then
  ours, the rest are released as soon as no callback needs them. Pausing a busy member
  does not touch the call they are on, and an Originate is not subject to queue pauses.

After an attempt (``transition``)
- ``answered`` (the customer answered): done.
- ``busy``, ``no-answer``, ``failed`` (the customer's leg failed): one customer attempt
  used; waiting again after ``retry_s`` (keeping its place), or failed once
  ``max_attempts`` are used.
- ``agent-missed`` (the agent did not answer, or the PBX did not place the call): no
  customer attempt used; waiting again after ``agent_retry_s``; failed after
  ``max_agent_misses`` of them (no agent can take it: a person should look).
- ``interrupted``: Hotline lost sight of the attempt (restart or AMI outage) and its
  channels were gone when it looked again; whether the customer was reached is
  unknown, so it is never dialled again automatically: failed, for a person to decide.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from numbering.normalize import dialled_form

RESERVE_REASON = "hotline-callback"
FREE_STATUSES = frozenset({0, 1})  # device unknown / not in use: app_queue rings those too
BUSY_STATUSES = frozenset({2, 3, 6, 7, 8})  # in use, busy, ringing, ringinuse, on hold
STATES = ("waiting", "dialing", "done", "failed", "cancelled")
PENDING_STATES = ("waiting", "dialing")

ANSWERED = "answered"
BUSY = "busy"
NO_ANSWER = "no-answer"
FAILED = "failed"
AGENT_MISSED = "agent-missed"
INTERRUPTED = "interrupted"
CUSTOMER_OUTCOMES = frozenset({ANSWERED, BUSY, NO_ANSWER, FAILED})
OUTCOMES = (ANSWERED, BUSY, NO_ANSWER, FAILED, AGENT_MISSED, INTERRUPTED)
# DialStatus of the customer's leg -> outcome
DIAL_STATUS = {"ANSWER": ANSWERED, "BUSY": BUSY, "NOANSWER": NO_ANSWER}


# --------------------------------------------------------------------------- inputs


@dataclass(frozen=True, kw_only=True)
class WaitingCaller:
    """A caller waiting in the PBX queue."""

    uniqueid: str
    joined_at: datetime
    priority: int = 0


@dataclass(frozen=True, kw_only=True)
class Member:
    """A queue member as QueueStatus reports it."""

    interface: str
    name: str
    status: int
    paused: bool = False
    reason: str = ""

    @property
    def reserved(self) -> bool:
        """Paused by us, to hold them for a callback."""
        return self.paused and self.reason == RESERVE_REASON


@dataclass(frozen=True, kw_only=True)
class QueueState:
    """One PBX queue: its waiting callers and its members."""

    name: str
    callers: tuple[WaitingCaller, ...] = ()
    members: tuple[Member, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Pending:
    """A callback in state waiting."""

    id: int
    queue: str
    place_at: datetime
    priority: int = 0
    not_before: datetime | None = None
    next_attempt_at: datetime | None = None
    preferred_agent: str | None = None
    avoid: frozenset[str] = frozenset()  # agents who just missed it

    def due(self, now: datetime) -> bool:
        """Its time has come (an agent's "at 15:00", the pause after a failed attempt)."""
        return all(t is None or t <= now for t in (self.not_before, self.next_attempt_at))

    def ready_at(self) -> datetime | None:
        """When it becomes due (None: it is due whenever its place comes)."""
        times = [t for t in (self.not_before, self.next_attempt_at) if t is not None]
        return max(times) if times else None


# -------------------------------------------------------------------------- the plan


@dataclass(frozen=True)
class Dial:
    """Call back ``callback_id`` through this agent."""

    callback_id: int
    interface: str
    agent: str


@dataclass(frozen=True)
class Plan:
    """What to do now in one queue."""

    dials: tuple[Dial, ...] = ()
    reserve: tuple[str, ...] = ()  # interfaces to pause with RESERVE_REASON
    release: tuple[str, ...] = ()  # interfaces paused with RESERVE_REASON to unpause
    waiting_for_agent: int = 0  # callbacks whose place has come but who got no agent


def _line_key(priority: int, at: datetime, rank: int, tie: str | int) -> tuple[Any, ...]:
    return (-priority, at, rank, str(tie))


def line(queue: QueueState, pending: Iterable[Pending], now: datetime
         ) -> list[WaitingCaller | Pending]:
    """The queue's line now: PBX callers and due callbacks, first in line first."""
    entries: list[tuple[tuple[Any, ...], WaitingCaller | Pending]] = []
    for c in queue.callers:
        entries.append((_line_key(c.priority, c.joined_at, 0, c.uniqueid), c))
    for p in pending:
        if p.queue == queue.name and p.due(now):
            entries.append((_line_key(p.priority, p.place_at, 1, f"{p.id:020d}"), p))
    entries.sort(key=lambda e: e[0])
    return [entry for _, entry in entries]


def _pick(free: list[Member], p: Pending) -> Member | None:
    """The agent for ``p``: held ones first (paused for a callback), then its preferred
    agent, then queue order; one who just missed it only when nobody else is free."""
    fresh = [m for m in free if m.interface not in p.avoid] or free
    if not fresh:
        return None
    held = [m for m in fresh if m.reserved]
    if held:
        return held[0]
    if p.preferred_agent:
        for m in fresh:
            if p.preferred_agent in (m.interface, m.name):
                return m
    return fresh[0]


def plan(queue: QueueState, pending: Iterable[Pending], now: datetime, *,
         busy: frozenset[str] = frozenset()) -> Plan:
    """What to do in ``queue`` now. ``busy``: interfaces dialling a callback of ours
    (the PBX may not show them in use yet)."""
    free = [m for m in queue.members
            if m.status in FREE_STATUSES and (not m.paused or m.reserved)
            and m.interface not in busy]
    dials: list[Dial] = []
    unserved = 0
    later_callers = False
    for entry in line(queue, pending, now):
        if isinstance(entry, WaitingCaller):
            later_callers = True  # everything from here on is behind a waiting caller
            break
        member = _pick(free, entry)
        if member is None:
            unserved += 1
            continue
        free.remove(member)
        dials.append(Dial(entry.id, member.interface, member.name))
    used = {d.interface for d in dials}
    reserve: list[str] = []
    release: list[str] = []
    if unserved and later_callers:
        reserve = [m.interface for m in queue.members
                   if not m.paused and m.status in BUSY_STATUSES]
    else:
        release = [m.interface for m in queue.members
                   if m.reserved and m.interface not in used]
    return Plan(tuple(dials), tuple(reserve), tuple(release), unserved)


def next_wake(pending: Iterable[Pending], now: datetime) -> datetime | None:
    """The earliest moment a callback that is not due yet becomes due."""
    times = [t for p in pending if not p.due(now) and (t := p.ready_at()) is not None]
    return min(times) if times else None


# ------------------------------------------------------------------- after a dial


@dataclass(frozen=True, kw_only=True)
class Policy:
    """How often and how soon to try again."""

    max_attempts: int = 3  # default of a new callback (each row has its own)
    retry_s: float = 120.0  # after busy / no answer / failed
    agent_retry_s: float = 5.0  # after an agent did not answer
    max_agent_misses: int = 20


@dataclass(frozen=True, kw_only=True)
class Facts:
    """What Hotline saw of one attempt (AMI events, or a snapshot after a restart)."""

    originate_failed: str | None = None  # OriginateResponse Failure Reason (agent leg)
    refused: bool = False  # the PBX refused the Originate outright
    agent_answered: bool = False  # OriginateResponse Success: the agent picked up
    customer_dialled: bool = False  # the agent's channel began dialling the customer
    dial_status: str | None = None  # DialEnd DialStatus of the customer's leg
    customer_answered: bool = False  # seen up in a snapshot after a restart
    ended: bool = False  # the originated (agent) channel hung up
    cut: bool = False  # part of the attempt happened while Hotline could not see


def outcome(f: Facts) -> str | None:
    """The attempt's outcome, or None while it is still going on."""
    if f.customer_answered or f.dial_status == "ANSWER":
        return ANSWERED
    if f.dial_status is not None:
        return DIAL_STATUS.get(f.dial_status.upper(), FAILED)
    if f.originate_failed is not None or f.refused:
        return AGENT_MISSED
    if not f.ended:
        return None
    if f.cut:
        return INTERRUPTED  # it ended while we looked away: reached or not, unknown
    # ended in plain sight without a dial result: the agent never answered (missed), or
    # answered and the customer's leg failed to start or went away unreported (a failed
    # customer attempt: counted, so a dialplan that cannot dial the number stops)
    return FAILED if f.customer_dialled or f.agent_answered else AGENT_MISSED


@dataclass(frozen=True, kw_only=True)
class Transition:
    """The row after an attempt."""

    state: str
    attempts: int
    next_attempt_at: datetime | None
    last_result: str


def agent_misses(history: Sequence[Mapping[str, Any]]) -> int:
    return sum(1 for h in history if h.get("event") == AGENT_MISSED)


def transition(result: str, *, attempts: int, max_attempts: int, misses: int,
               now: datetime, policy: Policy) -> Transition:
    """Where a callback goes after an attempt with ``result`` (see the module rules).
    ``attempts``/``misses``: customer attempts and agent misses BEFORE this one."""
    if result == ANSWERED:
        return Transition(state="done", attempts=attempts + 1, next_attempt_at=None,
                          last_result=result)
    if result in CUSTOMER_OUTCOMES:
        used = attempts + 1
        if used >= max_attempts:
            return Transition(state="failed", attempts=used, next_attempt_at=None,
                              last_result=result)
        return Transition(state="waiting", attempts=used,
                          next_attempt_at=now + timedelta(seconds=policy.retry_s),
                          last_result=result)
    if result == AGENT_MISSED:
        if misses + 1 >= policy.max_agent_misses:
            return Transition(state="failed", attempts=attempts, next_attempt_at=None,
                              last_result="no-agent")
        return Transition(state="waiting", attempts=attempts,
                          next_attempt_at=now + timedelta(seconds=policy.agent_retry_s),
                          last_result=result)
    return Transition(state="failed", attempts=attempts, next_attempt_at=None,
                      last_result=INTERRUPTED)


def avoid_after(history: Sequence[Mapping[str, Any]]) -> frozenset[str]:
    """Agents to spare for a callback: the one who missed its last attempt."""
    if history:
        last = history[-1]
        if last.get("event") == AGENT_MISSED and last.get("agent"):
            return frozenset({str(last["agent"])})
    return frozenset()


# ----------------------------------------------------------------- small helpers

_DIGITS = re.compile(r"\d+")


def dial_string(phone: str, region: str = "CN") -> str | None:
    """The digits the hotline's dialplan dials for ``phone`` (E.164 or as written):
    ``+8613800138000`` -> ``13800138000``, ``+861051297073`` -> ``01051297073``, abroad
    ``00...``; other digits as they are; None when there are none."""
    text = phone.strip()
    digits = "".join(_DIGITS.findall(dialled_form(text, region) or text))
    return digits or None


@dataclass(frozen=True)
class Waiting:
    """A queue's waiting count: callers in the PBX queue plus pending callbacks."""

    callers: int = 0
    callbacks: int = 0

    @property
    def total(self) -> int:
        return self.callers + self.callbacks

    def to_dict(self) -> dict[str, int]:
        return {"callers": self.callers, "callbacks": self.callbacks, "total": self.total}


def waiting_counts(live_calls: Iterable[Mapping[str, Any]],
                   callbacks: Mapping[str, int]) -> dict[str, dict[str, int]]:
    """Per queue: callers waiting in it (the tracker's live calls queued or ringing an
    agent) and callbacks still waiting to be connected (waiting or dialing)."""
    callers: dict[str, int] = {}
    for call in live_calls:
        queue = call.get("queue")
        if queue and call.get("state") in ("queued", "ringing"):
            callers[queue] = callers.get(queue, 0) + 1
    out: dict[str, Waiting] = {}
    for queue in sorted(set(callers) | {q for q, n in callbacks.items() if n}):
        out[queue] = Waiting(callers.get(queue, 0), callbacks.get(queue, 0))
    return {queue: w.to_dict() for queue, w in out.items()}


@dataclass
class HistoryEntry:
    """One line of a callback's ``history`` (JSON)."""

    at: datetime
    event: str
    agent: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"at": self.at.isoformat(), "event": self.event}
        if self.agent is not None:
            out["agent"] = self.agent
        out.update(self.detail)
        return out
