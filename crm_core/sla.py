"""SLA clocks of repair tickets: policies, start, pause/resume, marks, and the sweep.

Rules:
- a policy (``SlaPolicy``) matches a ticket when each of its priority / category / tier
  is None or fits (``tier`` is a minimum: a tier-1 policy covers VIP tiers 1 and up);
  the most specific active match wins (most fields set, then the higher tier, then the
  older policy); ``seed_policies`` writes sensible defaults when there are none;
- the targets are business minutes of the ticket's STATION: its hours in its zone and
  its holiday calendar (``crm_core.sla_clock``, ``crm_core.holidays``); a ticket
  without a station, or a station whose hours are unusable, counts in the default
  hours (Mon-Fri 08:30-12:00, 13:00-17:30, Asia/Shanghai) and calendar "CN";
- ``start_clock`` (after routing) sets the policy and the three dues; calling it again
  (a re-route) restarts the clock at ``now`` in the new station's hours;
- ``pause`` (waiting for the customer) stops the clock; ``resume`` adds the paused
  business time to ``sla_paused_s`` and pushes every due not yet met by it;
- ``mark`` records accepted / arrived / resolved; the next target then starts from
  ``ok`` / level 0 and the sweep evaluates it at its next run;
- ``sweep``: the steps (``crm_core.sla_steps``: warning at warn_pct, breach, one
  escalation level per further half target) of every open ticket whose
  ``sla_next_at`` has come, read through that column's index only, so its cost is the
  tickets that change, not the tickets open; rows locked ``FOR UPDATE SKIP LOCKED`` on
  PostgreSQL (two sweepers never fire the same step; ``hotline.sla_worker`` also lets
  only one node sweep); the writes go as three batched statements (tickets, history,
  outbox). Each step is a ``TicketStatusChange`` of kind ``sla-warning`` or
  ``escalation`` with its data, and a notification (outbox) to the station (warning) or
  the person of the chain at that level (station manager -> regional service manager ->
  the service director, a username from the settings; a level without a person goes
  to the next one up). A ticket whose accept target is breached while still ``routed``
  (``sla_steps.station_unanswered``: its station did not answer) is then routed again,
  in the same transaction (``crm_core.unanswered``; ``reroute=False`` leaves it).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Protocol, TypeVar

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from crm_core import network_cache
from crm_core.holidays import all_calendars
from crm_core.models import (
    Customer,
    Holiday,
    ServiceStation,
    SlaPolicy,
    Ticket,
    TicketStatusChange,
    User,
)
from crm_core.notifications import escalation_messages, warning_messages
from crm_core.outbox import Message, enqueue_many
from crm_core.sla_clock import DEFAULT_HOURS, BusinessCalendar, add_business, business_time
from crm_core.sla_steps import (
    LEVELS,
    Step,
    current_target,
    due_steps,
    next_instant,
    progress,
    station_unanswered,
    thresholds,
)

log = logging.getLogger("crm_core.sla")

DONE = ("resolved", "closed", "cancelled")
EVENTS = ("accepted", "arrived", "resolved")
DEFAULT_TZ, DEFAULT_CALENDAR = "Asia/Shanghai", "CN"

# (name, priority, category, min tier, accept, arrive, resolve): business minutes; a
# business day is the default 8 working hours
DEFAULT_POLICIES: tuple[tuple[str, str | None, str | None, int | None, int, int, int], ...] = (
    ("普通 normal", None, None, None, 120, 480, 3 * 480),
    ("低 low", "low", None, None, 240, 2 * 480, 5 * 480),
    ("高 high", "high", None, None, 60, 480, 2 * 480),
    ("紧急 urgent", "urgent", None, None, 30, 240, 480),
    ("紧急故障 urgent breakdown", "urgent", "repair", None, 30, 240, 480),
    ("VIP", None, None, 1, 60, 240, 2 * 480),
    ("VIP 高 high", "high", None, 1, 30, 240, 480),
    ("VIP 紧急故障 urgent breakdown", "urgent", "repair", 1, 15, 180, 360),
)


class StationHours(Protocol):
    """What the clock reads of a station: a ``ServiceStation`` row, or routing's
    ``crm_core.dispatch.StationDetails`` (kept in memory)."""

    @property
    def id(self) -> int: ...
    @property
    def code(self) -> str: ...
    @property
    def hours(self) -> dict[str, Any]: ...
    @property
    def timezone(self) -> str: ...
    @property
    def calendar(self) -> str: ...


class PolicyLike(Protocol):
    """What choosing a policy and counting its targets read: ``SlaPolicy`` or
    ``PolicyFacts``."""

    @property
    def id(self) -> int: ...
    @property
    def priority(self) -> str | None: ...
    @property
    def category(self) -> str | None: ...
    @property
    def tier(self) -> int | None: ...
    @property
    def active(self) -> bool: ...
    @property
    def accept_min(self) -> int: ...
    @property
    def arrive_min(self) -> int | None: ...
    @property
    def resolve_min(self) -> int: ...
    @property
    def warn_pct(self) -> int: ...


P = TypeVar("P", bound=PolicyLike)


def matches(policy: PolicyLike, priority: str | None, category: str | None, tier: int) -> bool:
    return (policy.active
            and (policy.priority is None or policy.priority == priority)
            and (policy.category is None or policy.category == category)
            and (policy.tier is None or tier >= policy.tier))


def pick_policy(policies: Sequence[P], priority: str | None, category: str | None,
                tier: int) -> P | None:
    """The most specific active policy that matches, None when none does."""
    found = [p for p in policies if matches(p, priority, category, tier)]
    if not found:
        return None
    return min(found, key=lambda p: (
        -sum(v is not None for v in (p.priority, p.category, p.tier)), -(p.tier or 0), p.id))


async def seed_policies(session: AsyncSession) -> int:
    """The default policies, when the table is empty; returns how many were added."""
    if await session.scalar(select(func.count()).select_from(SlaPolicy)):
        return 0
    session.add_all(SlaPolicy(name=name, priority=priority, category=category, tier=tier,
                              accept_min=accept, arrive_min=arrive, resolve_min=resolve)
                    for name, priority, category, tier, accept, arrive, resolve
                    in DEFAULT_POLICIES)
    await session.flush()
    return len(DEFAULT_POLICIES)


def calendar_for(station: StationHours | None, days: dict[date, str]) -> BusinessCalendar:
    """A station's business calendar; the default one if it has no usable hours."""
    if station is not None:
        try:
            return BusinessCalendar.build(station.hours or DEFAULT_HOURS,
                                          station.timezone or DEFAULT_TZ, days)
        except ValueError as exc:
            log.warning("station %s: %s; counting in the default hours", station.code, exc)
    return BusinessCalendar.build(DEFAULT_HOURS, DEFAULT_TZ, days)


@dataclass(frozen=True)
class _Calendars:
    """Every holiday calendar's days, and the business calendars built from them (kept in
    memory by ``network_cache``: emptied when a holiday changes)."""

    days: dict[str, dict[date, str]]
    built: dict[str, BusinessCalendar] = field(default_factory=dict)


async def _load_calendars(conn: AsyncConnection) -> _Calendars:
    out: dict[str, dict[date, str]] = {}
    for name, day, kind in await conn.execute(
            select(Holiday.calendar, Holiday.day, Holiday.kind)):
        out.setdefault(name, {})[day] = kind
    return _Calendars(out)


async def station_calendar(session: AsyncSession, station: StationHours | None
                           ) -> BusinessCalendar:
    name = station.calendar if station is not None else DEFAULT_CALENDAR
    calendars = await network_cache.cached(session, "holidays", _load_calendars)
    key = json.dumps([station.hours, station.timezone, name]
                     if station else [name], sort_keys=True)
    found = calendars.built.get(key)
    if found is None:  # stations with the same hours share one (and its day cache)
        found = calendars.built[key] = calendar_for(station, calendars.days.get(name, {}))
    return found


@dataclass(frozen=True, kw_only=True)
class PolicyFacts:
    """An SLA policy as kept in memory (``network_cache``): ``SlaPolicy``'s fields."""

    id: int
    name: str
    priority: str | None
    category: str | None
    tier: int | None
    accept_min: int
    arrive_min: int | None
    resolve_min: int
    warn_pct: int
    active: bool


async def _load_policies(conn: AsyncConnection) -> tuple[PolicyFacts, ...]:
    rows = await conn.execute(select(
        SlaPolicy.id, SlaPolicy.name, SlaPolicy.priority, SlaPolicy.category, SlaPolicy.tier,
        SlaPolicy.accept_min, SlaPolicy.arrive_min, SlaPolicy.resolve_min,
        SlaPolicy.warn_pct, SlaPolicy.active).where(SlaPolicy.active))
    return tuple(PolicyFacts(**row._mapping) for row in rows)


def _history(ticket: Ticket, kind: str, now: datetime, note: str | None,
             data: dict[str, Any]) -> TicketStatusChange:
    return TicketStatusChange(ticket_id=ticket.id, from_status=ticket.status,
                              to_status=ticket.status, at=now, note=note, kind=kind, data=data)


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def _targets(ticket: Ticket, policy: PolicyLike | None) -> dict[str, Any]:
    return {"accept": (ticket.accept_due, ticket.accepted_at, policy and policy.accept_min),
            "arrive": (ticket.arrive_due, ticket.arrived_at, policy and policy.arrive_min),
            "resolve": (ticket.resolve_due, ticket.resolved_at,
                        policy and policy.resolve_min)}


def _next_at(cal: BusinessCalendar, ticket: Ticket, policy: PolicyLike | None
             ) -> datetime | None:
    if ticket.status in DONE or ticket.sla_paused_at is not None or policy is None:
        return None
    target = current_target(**_targets(ticket, policy))
    if target is None:
        return None
    instants = thresholds(cal, target, policy.warn_pct)
    return next_instant(instants, progress(ticket.sla_state, ticket.escalation_level))


async def start_clock(session: AsyncSession, ticket: Ticket, station: StationHours | None,
                      now: datetime) -> PolicyFacts | None:
    """Start (or, after a re-route, restart) a ticket's SLA clock; None: no policy. The
    policies and calendars are kept in memory (``network_cache``); the customer is
    usually loaded already (routing read it)."""
    customer = await session.get(Customer, ticket.customer_id)
    tier = (customer.vip_tier if customer is not None else 0) or 0
    policies = await network_cache.cached(session, "policies", _load_policies)
    policy = pick_policy(policies, ticket.priority, ticket.category, tier)
    if policy is None:
        return None
    cal = await station_calendar(session, station)
    ticket.sla_policy_id = policy.id
    ticket.accept_due = add_business(cal, now, timedelta(minutes=policy.accept_min))
    ticket.arrive_due = (add_business(cal, now, timedelta(minutes=policy.arrive_min))
                         if policy.arrive_min else None)
    ticket.resolve_due = add_business(cal, now, timedelta(minutes=policy.resolve_min))
    ticket.sla_state, ticket.escalation_level = "ok", 0
    ticket.sla_paused_at, ticket.sla_paused_s = None, 0
    ticket.sla_next_at = _next_at(cal, ticket, policy)
    session.add(_history(ticket, "sla-start", now, policy.name, {
        "policy": policy.id, "station": station.id if station else None,
        "accept_due": _iso(ticket.accept_due), "arrive_due": _iso(ticket.arrive_due),
        "resolve_due": _iso(ticket.resolve_due)}))
    return policy


async def pause(session: AsyncSession, ticket: Ticket, now: datetime) -> bool:
    """Stop the clock (waiting for the customer); False if it was not running."""
    if (ticket.sla_policy_id is None or ticket.sla_paused_at is not None
            or ticket.resolved_at is not None or ticket.status in DONE):
        return False
    ticket.sla_paused_at, ticket.sla_next_at = now, None
    session.add(_history(ticket, "sla-pause", now, None, {}))
    return True


async def resume(session: AsyncSession, ticket: Ticket, now: datetime) -> timedelta:
    """Restart a paused clock: every due not met moves by the paused business time
    (returned; zero if the clock was not paused)."""
    if ticket.sla_paused_at is None:
        return timedelta(0)
    station = (await session.get(ServiceStation, ticket.station_id)
               if ticket.station_id else None)
    cal = await station_calendar(session, station)
    paused = business_time(cal, ticket.sla_paused_at, now)
    ticket.sla_paused_s += int(paused.total_seconds())
    if ticket.accept_due and ticket.accepted_at is None:
        ticket.accept_due = add_business(cal, ticket.accept_due, paused)
    if ticket.arrive_due and ticket.arrived_at is None:
        ticket.arrive_due = add_business(cal, ticket.arrive_due, paused)
    if ticket.resolve_due and ticket.resolved_at is None:
        ticket.resolve_due = add_business(cal, ticket.resolve_due, paused)
    ticket.sla_paused_at = None
    policy = (await session.get(SlaPolicy, ticket.sla_policy_id)
              if ticket.sla_policy_id else None)
    ticket.sla_next_at = _next_at(cal, ticket, policy)
    session.add(_history(ticket, "sla-resume", now, None, {
        "paused_s": int(paused.total_seconds()), "accept_due": _iso(ticket.accept_due),
        "arrive_due": _iso(ticket.arrive_due), "resolve_due": _iso(ticket.resolve_due)}))
    return paused


def mark(ticket: Ticket, event: str, now: datetime) -> None:
    """Record that the station accepted, arrived or resolved (once; a repeat keeps the
    first time). The next target starts from ok / level 0; the sweep picks it up."""
    if event not in EVENTS:
        raise ValueError(f"sla event {event!r} is not one of {', '.join(EVENTS)}")
    column = f"{event}_at"
    if getattr(ticket, column) is not None:
        return
    setattr(ticket, column, now)
    if event == "resolved":
        late = ticket.resolve_due is not None and now > ticket.resolve_due
        ticket.sla_state = "breached" if late else "ok"
        ticket.sla_next_at = None
        return
    ticket.sla_state, ticket.escalation_level = "ok", 0
    ticket.sla_next_at = now if ticket.sla_paused_at is None else None


@dataclass
class SweepResult:
    """What one sweep did."""

    examined: int = 0
    warnings: int = 0
    escalations: int = 0
    messages: int = 0
    by_level: dict[int, int] = field(default_factory=dict)
    unanswered: list[int] = field(default_factory=list)  # tickets their station let pass
    rerouted: int = 0  # of those, sent to another station


_SWEEP_COLUMNS = (
    Ticket.id, Ticket.number, Ticket.status, Ticket.station_id, Ticket.accept_due,
    Ticket.accepted_at, Ticket.arrive_due, Ticket.arrived_at, Ticket.resolve_due,
    Ticket.resolved_at, Ticket.sla_state, Ticket.escalation_level, Ticket.sla_paused_at,
    SlaPolicy.accept_min, SlaPolicy.arrive_min, SlaPolicy.resolve_min, SlaPolicy.warn_pct,
)


class _Context:
    """What a sweep looks up once: stations, their calendars, the chain's people."""

    def __init__(self, stations: dict[int, ServiceStation], days: dict[str, dict[date, str]],
                 users: dict[int, User], director: User | None) -> None:
        self.stations, self.days, self.users, self.director = stations, days, users, director
        self._calendars: dict[str, BusinessCalendar] = {}

    def calendar(self, station: ServiceStation | None) -> BusinessCalendar:
        name = station.calendar if station is not None else DEFAULT_CALENDAR
        key = json.dumps([station.hours, station.timezone, name] if station else [name],
                         sort_keys=True)
        found = self._calendars.get(key)
        if found is None:  # stations with the same hours share one (and its day cache)
            found = self._calendars[key] = calendar_for(station, self.days.get(name, {}))
        return found

    def chain(self, station: ServiceStation | None, level: int) -> User | None:
        people = [self.users.get(station.manager_id) if station and station.manager_id else None,
                  self.users.get(station.regional_manager_id)
                  if station and station.regional_manager_id else None,
                  self.director]
        return next((p for p in people[level - 1:] if p is not None), None)


async def _context(session: AsyncSession, station_ids: set[int], director: str | None
                   ) -> _Context:
    stations = {s.id: s for s in (await session.execute(
        select(ServiceStation).where(ServiceStation.id.in_(station_ids)))).scalars()
    } if station_ids else {}
    user_ids = {i for s in stations.values() for i in (s.manager_id, s.regional_manager_id)
                if i is not None}
    users = {u.id: u for u in (await session.execute(
        select(User).where(User.id.in_(user_ids)))).scalars()} if user_ids else {}
    boss = (await session.scalar(select(User).where(User.username == director))
            if director else None)
    return _Context(stations, await all_calendars(session), users, boss)


def _step_note(step: Step, user: User | None) -> str:
    if step.index == 0:
        return f"SLA warning: {step.target} due soon"
    who = f" -> {user.username}" if user else " (nobody to tell)"
    return f"SLA breach: {step.target}, escalation level {step.level}{who}"


async def sweep(session: AsyncSession, now: datetime, *, director: str | None = None,
                reroute: bool = True) -> SweepResult:
    """Fire the due SLA steps of every open ticket, then route again the tickets whose
    station did not accept in time (see the module's rules)."""
    query = (select(*_SWEEP_COLUMNS).outerjoin(SlaPolicy, SlaPolicy.id == Ticket.sla_policy_id)
             .where(Ticket.sla_next_at <= now)
             .with_for_update(of=Ticket, skip_locked=True))
    rows = (await session.execute(query)).all()
    result = SweepResult(examined=len(rows))
    if not rows:
        return result
    ctx = await _context(session, {r.station_id for r in rows if r.station_id}, director)
    updates: list[dict[str, Any]] = []
    history: list[dict[str, Any]] = []
    messages: list[Message] = []
    for row in rows:
        station = ctx.stations.get(row.station_id) if row.station_id else None
        change = _evaluate(row, station, ctx, now, history, messages, result)
        # the same keys in every row: one executemany
        updates.append({"id": row.id, "sla_state": row.sla_state,
                        "escalation_level": row.escalation_level, **change})
    await session.execute(update(Ticket), updates)
    if history:
        await session.execute(insert(TicketStatusChange), history)
    await enqueue_many(session, messages)
    result.messages = len(messages)
    if reroute and result.unanswered:
        from crm_core.unanswered import reroute_unanswered  # it routes: dispatch uses sla

        result.rerouted = await reroute_unanswered(session, result.unanswered, now)
    return result


def _evaluate(row: Any, station: ServiceStation | None, ctx: _Context, now: datetime,
              history: list[dict[str, Any]], messages: list[Message], result: SweepResult
              ) -> dict[str, Any]:
    """One ticket's steps: appends its history rows and messages, returns its changes."""
    if row.status in DONE or row.resolved_at is not None or row.sla_paused_at is not None:
        return {"sla_next_at": None}
    target = current_target(accept=(row.accept_due, row.accepted_at, row.accept_min),
                            arrive=(row.arrive_due, row.arrived_at, row.arrive_min),
                            resolve=(row.resolve_due, row.resolved_at, row.resolve_min))
    if target is None or row.warn_pct is None:
        return {"sla_next_at": None}
    cal = ctx.calendar(station)
    instants = thresholds(cal, target, row.warn_pct)
    done = progress(row.sla_state, row.escalation_level)
    steps = due_steps(target.name, instants, done, now)
    zone = station.timezone if station else DEFAULT_TZ
    for step in steps:
        user = ctx.chain(station, step.level) if step.index else None
        history.append({
            "ticket_id": row.id, "from_status": row.status, "to_status": row.status,
            "at": now, "by_id": None, "kind": step.kind, "note": _step_note(step, user),
            "data": {"target": step.target, "level": step.level, "step_at": step.at.isoformat(),
                     "due": target.due.isoformat(), "user": user.username if user else None,
                     "user_id": user.id if user else None}})
        if step.index == 0:
            result.warnings += 1
            if step is steps[-1]:  # a warning overtaken by its breach is not sent
                messages.extend(warning_messages(
                    ticket_id=row.id, number=row.number, target=target.name, due=target.due,
                    station_email=station.email if station else None, zone=zone))
            continue
        result.escalations += 1
        result.by_level[step.level] = result.by_level.get(step.level, 0) + 1
        if user is not None:
            messages.extend(escalation_messages(
                ticket_id=row.id, number=row.number, target=target.name, level=step.level,
                due=target.due, email=user.email, phone=user.phone,
                station_name=station.name if station else None, zone=zone))
    if not steps:
        return {"sla_next_at": next_instant(instants, done)}
    if row.station_id is not None and station_unanswered(steps, row.status):
        result.unanswered.append(row.id)
    last = steps[-1]
    return {"sla_state": last.state, "escalation_level": min(last.level, LEVELS),
            "sla_next_at": next_instant(instants, last.index + 1)}
