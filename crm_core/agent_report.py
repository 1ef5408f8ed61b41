"""Agent performance aggregated by the database (issue 16 item 5): what
``kpi_book.Book.agents`` makes of a period's calls and closed spans, without loading them
(a month is a million calls and several million spans).

Rules:
- the definitions stay ``crm_core.kpi``'s: the database groups the calls per (answering
  agent, queue, queued, outcome, wait class) and ``kpi.CallTally.add`` counts each group
  as that many calls (as ``kpi_report.interval_report`` does); the spans are summed per
  (agent, state, pause reason) in whole microseconds of their part inside the period
  (``kpi.clipped_us``) and ``kpi.agent_figures`` makes the figures;
- exactly the Book's reading: calls that ENDED in [start, end), spans that are closed and
  overlap it, clipped to it; the wrap-up of an answered queued inbound call of the
  period counts to the call's answering agent's AHT (clipped, every wrap-up span of that
  linkedid); an agent is listed when any call of the period names them (inbound or not)
  or a span of theirs lasted inside it;
- seconds are exact sums of microseconds here, a running float sum in the Book: the two
  agree to the 0.1 s the figures are rounded to, but for a sum landing on .x5 exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core import kpi
from crm_core.kpi import AgentTally, CallRow, CallTally, QueueRules
from crm_core.kpi_report import _micros
from crm_core.models import AgentStateSpan, CallRecord, UtcDateTime


@dataclass(frozen=True, kw_only=True)
class AgentTallies:
    """One agent's tallies of a period: time per state and their calls."""

    states: AgentTally
    calls: CallTally


def _clip(column: Any, bound: datetime, *, low: bool) -> Any:
    """``column`` clipped to ``bound`` (``low``: no earlier than it, else no later)."""
    at = literal(bound, UtcDateTime())
    return case((column < at, at), else_=column) if low else case((column > at, at),
                                                                      else_=column)


def _queued() -> Any:
    return or_(CallRecord.queued_at.is_not(None), CallRecord.queues[0].as_string().is_not(None))


async def call_tallies(db: AsyncSession, start: datetime, end: datetime,
                       rules: Mapping[str, QueueRules]) -> dict[str, CallTally]:
    """Per agent a call of the period names (any direction: an outbound-only agent has an
    empty tally), the tally of the calls they answered, wrap-up included."""
    queue = CallRecord.queues[0].as_string()
    cap = kpi.wait_cap(rules)
    wait = func.coalesce(CallRecord.wait_s, 0)
    wait_class = case((wait > cap, cap + 1), else_=wait)
    queued_flag = case((_queued(), 1), else_=0)
    groups = [CallRecord.agent_interface, CallRecord.direction, queue, queued_flag,
              CallRecord.outcome, wait_class]
    stmt = (select(*groups, func.count(), func.sum(wait),
                   func.sum(func.coalesce(CallRecord.talk_s, 0)))
            .where(CallRecord.ended_at >= start, CallRecord.ended_at < end,
                   CallRecord.agent_interface.is_not(None))
            .group_by(*groups))
    out: dict[str, CallTally] = {}
    for result in await db.execute(stmt):
        agent, direction, q, is_queued, outcome, w, n, wait_total, talk_total = tuple(result)
        row = CallRow(linkedid="", direction=direction, queue=q, outcome=outcome,
                      queued=bool(is_queued), wait_s=int(w))
        out.setdefault(agent, CallTally()).add(row, kpi.rules_for(rules, q), int(n),
                                               wait_total=int(wait_total or 0),
                                               talk_total=int(talk_total or 0))
    dialect = db.get_bind().dialect.name
    micros = _micros(_clip(AgentStateSpan.started_at, start, low=True),
                     _clip(AgentStateSpan.ended_at, end, low=False), dialect)
    wrapup = (select(CallRecord.agent_interface, func.sum(micros))
              .select_from(AgentStateSpan)
              .join(CallRecord, CallRecord.linkedid == AgentStateSpan.linkedid)
              .where(CallRecord.ended_at >= start, CallRecord.ended_at < end,
                     CallRecord.direction == "inbound", _queued(),
                     CallRecord.outcome.in_(sorted(kpi.ANSWERED_OUTCOMES)),
                     CallRecord.agent_interface.is_not(None),
                     AgentStateSpan.state == "wrap-up", AgentStateSpan.ended_at.is_not(None),
                     AgentStateSpan.started_at < end, AgentStateSpan.ended_at > start)
              .group_by(CallRecord.agent_interface))
    for agent, us in await db.execute(wrapup):
        if agent in out:
            out[agent].wrapup_us += int(us or 0)
    return out


async def state_tallies(db: AsyncSession, start: datetime, end: datetime
                        ) -> dict[str, AgentTally]:
    """Per agent, seconds per state and per pause reason of the closed spans' parts inside
    [start, end)."""
    dialect = db.get_bind().dialect.name
    micros = _micros(_clip(AgentStateSpan.started_at, start, low=True),
                     _clip(AgentStateSpan.ended_at, end, low=False), dialect)
    # a pause's reason ("" for none, as kpi.AgentTally); other states' reasons do not count
    reason = case((AgentStateSpan.state == "paused",
                   func.coalesce(AgentStateSpan.reason, "")), else_=None)
    # only the spans with time inside: one of a zero length counts nowhere (kpi)
    stmt = (select(AgentStateSpan.agent_interface, AgentStateSpan.state, reason,
                   func.sum(micros))
            .where(AgentStateSpan.ended_at.is_not(None), AgentStateSpan.started_at < end,
                   AgentStateSpan.ended_at > start,
                   AgentStateSpan.ended_at > AgentStateSpan.started_at)
            .group_by(AgentStateSpan.agent_interface, AgentStateSpan.state, reason))
    out: dict[str, AgentTally] = {}
    for agent, state, why, us in await db.execute(stmt):
        seconds = int(us or 0) / kpi.US
        if seconds <= 0:
            continue
        tally = out.setdefault(agent, AgentTally())
        tally.seconds[state] = tally.seconds.get(state, 0.0) + seconds
        if state == "paused":
            tally.pauses[why or ""] = tally.pauses.get(why or "", 0.0) + seconds
    return out


async def agent_tallies(db: AsyncSession, start: datetime, end: datetime,
                        rules: Mapping[str, QueueRules]) -> dict[str, AgentTallies]:
    """Per agent of the period (module rules), their state and call tallies."""
    calls = await call_tallies(db, start, end, rules)
    states = await state_tallies(db, start, end)
    names = set(states) | set(calls)  # calls: every agent a call names, any direction
    return {a: AgentTallies(states=states.get(a, AgentTally()),
                            calls=calls.get(a, CallTally())) for a in sorted(names)}


def agent_figures(tallies: Mapping[str, AgentTallies]) -> dict[str, dict[str, Any]]:
    """``kpi.agent_figures`` per agent (``Book.agents``' shape)."""
    return {a: kpi.agent_figures(t.states, t.calls) for a, t in tallies.items()}
