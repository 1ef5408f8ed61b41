"""The KPI reports from the call log and the agent state log, with the definitions of
``crm_core.kpi`` (and the very ``kpi_book.Book`` the wallboard keeps).

Rules:
- the gate is ``reports``/``read``; with a scope narrower than ``all`` the agents and
  teams shown are the actor's team's (``team``) or the actor's own (``own``); queue
  and number figures are the hotline's, for everyone allowed a report;
- ``period_book``: every call and span of a period through a ``Book`` (a day: what the
  wallboard showed at its end);
- ``interval_report``: the figures per interval (15/30/60 min, day, month) and per
  queue, number dialled or agent over any period, for a month of a million calls: the
  database groups the calls by (interval, key, outcome, wait class) and sums their
  waits and talk, and ``kpi.CallTally.add`` counts each group as that many calls, so
  what "within T" or "a short abandon" means is still only said in ``kpi``. Waits
  above every threshold are one class (``kpi.wait_cap``); intervals are Shanghai time,
  a fixed UTC+8 (no daylight saving), months are made of days;
- the wrap-up of answered calls (AHT) is summed per group from the spans of the
  period joined to their calls, in whole microseconds (exact in both databases, as in
  ``kpi``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, Integer, case, cast, func, literal, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core import kpi
from crm_core.kpi import CallRow, CallTally, QueueRules, SpanRow
from crm_core.kpi_book import Book, Canonical
from crm_core.models import AgentStateSpan, CallRecord, User
from crm_core.permissions import Actor, require

SHANGHAI_OFFSET_S = 8 * 3600
REPORT_WORK_MEM = "128MB"  # PostgreSQL, for the interval report's transaction only
_SIZE = {"15m": 900, "30m": 1800, "60m": 3600, "day": 86400, "month": 86400}
KEY_NAMES = ("queue", "did", "agent", "all")


async def load_calls(db: AsyncSession, start: datetime, end: datetime) -> list[CallRow]:
    """The calls that ended in [start, end), as KPI rows."""
    rows = await db.execute(
        select(CallRecord.linkedid, CallRecord.direction, CallRecord.did, CallRecord.queues,
               CallRecord.queued_at, CallRecord.agent_interface, CallRecord.outcome,
               CallRecord.wait_s, CallRecord.talk_s, CallRecord.ended_at)
        .where(CallRecord.ended_at >= start, CallRecord.ended_at < end)
        .order_by(CallRecord.ended_at, CallRecord.id))
    return [kpi.call_row(r) for r in rows]


async def load_spans(db: AsyncSession, start: datetime, end: datetime) -> list[SpanRow]:
    """The spans overlapping [start, end), oldest first."""
    rows = await db.scalars(
        select(AgentStateSpan)
        .where(AgentStateSpan.started_at < end,
               or_(AgentStateSpan.ended_at.is_(None), AgentStateSpan.ended_at > start))
        .order_by(AgentStateSpan.started_at, AgentStateSpan.id))
    return [kpi.span_row(r) for r in rows]


async def teams_of_agents(db: AsyncSession) -> dict[str, str | None]:
    """Agent interface -> team, from the users."""
    rows = await db.execute(select(User.agent_interface, User.team)
                            .where(User.agent_interface.is_not(None)))
    return {str(i): t for i, t in rows}


async def period_book(db: AsyncSession, start: datetime, end: datetime,
                      rules: Mapping[str, QueueRules], canonical: Canonical | None = None
                      ) -> Book:
    """A ``Book`` of [start, end) from the call log and the state log."""
    book = Book(rules=rules, start=start, end=end, canonical=canonical or (lambda d: d))
    for call in await load_calls(db, start, end):
        book.add_call(call)
    for span in await load_spans(db, start, end):
        if span.ended_at is not None:
            book.add_span(span)
    return book


def visible_agents(actor: Actor, team_of: Mapping[str, str | None]
                   ) -> Callable[[str], bool]:
    """Which agents ``actor`` may see in a report or on the wallboard (module rules)."""
    scope = require(actor, "reports", "read")
    if scope == "all":
        return lambda agent: True
    if scope == "team":
        return lambda agent: actor.team is not None and team_of.get(agent) == actor.team
    if scope == "region":
        return lambda agent: True  # agents have no region of their customers' kind
    return lambda agent: False


def _epoch(column: Any, dialect: str) -> Any:
    """Whole seconds since 1970 (the fraction dropped, never rounded up)."""
    if dialect == "sqlite":
        # strftime('%s') ROUNDS a fraction (07.9999 -> 08): only the whole seconds' text
        return cast(func.strftime("%s", func.substr(column, 1, 19)), Integer)
    # floor of date_part's double: a microsecond timestamp's epoch is N.dddddd, and a double
    # near 2e9 is within 2.4e-7 of it, so N.999999 never reaches N+1. date_trunc, which
    # this replaced, goes through the session's time zone for every row: 20% of the
    # interval report's grouping on a month of a million calls (benchmarks/wallboard.py)
    return cast(func.floor(func.date_part("epoch", column)), BigInteger)


def _key_column(by: str) -> Any:
    if by == "queue":
        return CallRecord.queues[0].as_string()
    if by == "did":
        return CallRecord.did
    if by == "agent":
        return CallRecord.agent_interface
    if by == "all":
        return literal("*")
    raise ValueError(f"unknown grouping {by!r} (one of {', '.join(KEY_NAMES)})")


def _slot(index: int, interval: str) -> datetime:
    """The interval (``kpi.bucket``) of the database's slot number ``index``."""
    at = datetime.fromtimestamp(int(index) * _SIZE[interval] - SHANGHAI_OFFSET_S, UTC)
    return kpi.bucket(at, interval)


async def interval_report(
    db: AsyncSession, actor: Actor, *, start: datetime, end: datetime, interval: str,
    by: str, rules: Mapping[str, QueueRules], canonical: Canonical | None = None,
) -> list[dict[str, Any]]:
    """One row per (interval, key) with calls in [start, end): ``interval`` (ISO start,
    Shanghai), ``key`` and every ``kpi.call_figures`` figure."""
    require(actor, "reports", "read")
    if interval not in kpi.INTERVALS:
        raise ValueError(f"unknown interval {interval!r} (one of {', '.join(kpi.INTERVALS)})")
    dialect = db.get_bind().dialect.name
    size = _SIZE[interval]
    slot = (_epoch(CallRecord.ended_at, dialect) + SHANGHAI_OFFSET_S) // size
    key = _key_column(by)
    queue = CallRecord.queues[0].as_string()
    queued = or_(CallRecord.queued_at.is_not(None), queue.is_not(None))
    cap = kpi.wait_cap(rules)
    wait = func.coalesce(CallRecord.wait_s, 0)
    wait_class = case((wait > cap, cap + 1), else_=wait)
    queued_flag = case((queued, 1), else_=0)
    conds = [CallRecord.direction == "inbound", CallRecord.ended_at >= start,
             CallRecord.ended_at < end]
    groups = [slot, key, queue, queued_flag, CallRecord.outcome, wait_class]
    stmt = (select(*groups, func.count(), func.sum(wait),
                   func.sum(func.coalesce(CallRecord.talk_s, 0)))
            .where(*conds).group_by(*groups))
    canon = canonical or (lambda d: d)
    tallies: dict[tuple[datetime, str | None], CallTally] = {}
    if dialect == "postgresql":
        # a month is a million rows: with PostgreSQL's default 4 MB the groups spill to
        # disk, several times slower
        await db.execute(text(f"SET LOCAL work_mem = '{REPORT_WORK_MEM}'"))
    for result in await db.execute(stmt):
        s, k, q, is_queued, outcome, w, n, wait_total, talk_total = tuple(result)
        k = canon(k) if by == "did" else k
        row = CallRow(linkedid="", queue=q, outcome=outcome, queued=bool(is_queued),
                      wait_s=int(w))
        tally = tallies.setdefault((_slot(s, interval), k), CallTally())
        tally.add(row, kpi.rules_for(rules, q), int(n), wait_total=int(wait_total or 0),
                  talk_total=int(talk_total or 0))
    for (s, k), micros in (await _wrapup(db, slot, key, conds, start, end, dialect)).items():
        k = canon(k) if by == "did" else k
        slot_start = _slot(s, interval)
        if (slot_start, k) in tallies:
            tallies[(slot_start, k)].wrapup_us += micros
    return [{"interval": slot_start.isoformat(), "key": k, **kpi.call_figures(t)}
            for (slot_start, k), t in sorted(tallies.items(), key=lambda i: (
                i[0][0], str(i[0][1])))]


async def _wrapup(db: AsyncSession, slot: Any, key: Any, conds: list[Any], start: datetime,
                  end: datetime, dialect: str) -> dict[tuple[int, Any], int]:
    """Wrap-up microseconds per (slot, key) of the answered queued calls: their spans
    that started in [start, end), joined to them."""
    micros = _micros(AgentStateSpan.started_at, AgentStateSpan.ended_at, dialect)
    queued = or_(CallRecord.queued_at.is_not(None),
                 CallRecord.queues[0].as_string().is_not(None))
    stmt = (select(slot, key, func.sum(micros))
            .select_from(AgentStateSpan)
            .join(CallRecord, CallRecord.linkedid == AgentStateSpan.linkedid)
            .where(*conds, queued, AgentStateSpan.state == "wrap-up",
                   AgentStateSpan.ended_at.is_not(None),
                   AgentStateSpan.started_at >= start, AgentStateSpan.started_at < end,
                   CallRecord.outcome.in_(sorted(kpi.ANSWERED_OUTCOMES)))
            .group_by(slot, key))
    return {(int(s), k): int(v or 0) for s, k, v in await db.execute(stmt)}


def _micros(start: Any, end: Any, dialect: str) -> Any:
    """Whole microseconds from ``start`` to ``end``, exactly (``kpi.clipped_us``)."""
    if dialect == "sqlite":
        # SQLite keeps 'YYYY-MM-DD HH:MM:SS.ffffff' (SQLAlchemy's format): whole seconds
        # apart, plus the microseconds' digits (julianday's float would round them)
        def us(column: Any) -> Any:
            return cast(func.substr(column, 21, 6), Integer)

        whole = _epoch(end, dialect) - _epoch(start, dialect)
        return whole * kpi.US + us(end) - us(start)
    # the interval's seconds as a double: exact to the microsecond for any span's length
    return cast(func.round(func.date_part("epoch", end - start) * kpi.US), BigInteger)
