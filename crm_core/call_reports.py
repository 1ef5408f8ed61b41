"""The call centre's reports pages (issue 16 item 5): the interval report per queue and per
number dialled, agent performance, abandon analysis, callbacks and IVR containment, as
rows for a table, a chart and a CSV/XLSX file.

Rules:
- every figure comes from ``crm_core.kpi`` through ``crm_core.kpi_report`` (the
  interval report's grouping, the ``Book`` the wallboard keeps): what a report says of a
  day is what the wallboard said at its end; this module only adds the groupings the
  wallboard has no tile for (abandons by hour and by wait, callbacks by queue and day),
  as pure functions over plain rows;
- the gate is ``reports``/``read``, ``reports``/``export`` for a file (``export=True``);
  agents are filtered by ``kpi_report.visible_agents`` (a team lead sees their team's);
  queue, number and hour figures are the hotline's, as on the wallboard;
- a period is [start, end) in UTC; days and hours are Asia/Shanghai's;
- ``*_COLUMNS`` give the files' bilingual headers (``crm_core.exporter``).
- agent performance is aggregated by the database (``crm_core.agent_report``: the
  ``Book``'s figures without loading the period's rows), with each agent's satisfaction
  (``crm_core.satisfaction``: the answers given in the period to the agent who took the
  call, ``SatisfactionScore.agent_id``): how many and their mean.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core import agent_report, kpi
from crm_core.kpi import QueueRules
from crm_core.kpi_book import Canonical
from crm_core.kpi_report import interval_report, teams_of_agents, visible_agents
from crm_core.models import CallbackRequest, CallRecord, User, as_utc
from crm_core.permissions import Actor, require
from crm_core.reports import report_operation
from crm_core.satisfaction import grouped_tallies
from crm_core.satisfaction_figures import Tally
from crm_core.satisfaction_figures import figures as satisfaction_figures

# abandons by how long the caller waited: [lo, hi) seconds, the last open
WAIT_BANDS: tuple[tuple[int, int | None], ...] = (
    (0, 5), (5, 10), (10, 20), (20, 30), (30, 60), (60, 120), (120, 300), (300, None))

INTERVAL_COLUMNS: list[tuple[str, tuple[str, str]]] = [
    ("interval", ("时段", "interval")), ("key", ("分组", "group")),
    ("inbound", ("呼入", "inbound")), ("offered", ("进线", "offered")),
    ("answered", ("接听", "answered")), ("answered_in_sl", ("时限内接听", "answered within T")),
    ("abandoned", ("放弃", "abandoned")), ("short_abandoned", ("短时放弃", "short abandons")),
    ("abandoned_in_sl", ("时限内放弃", "abandoned within T")),
    ("timed_out", ("排队超时", "timed out")), ("ivr_only", ("IVR自助", "IVR only")),
    ("sl", ("服务水平%", "SL %")), ("sl2", ("服务水平2%", "SL2 %")),
    ("abandon_rate", ("放弃率%", "abandon rate %")), ("asa_s", ("平均应答秒", "ASA s")),
    ("aht_s", ("平均处理秒", "AHT s")),
]
AGENT_COLUMNS: list[tuple[str, tuple[str, str]]] = [
    ("agent", ("坐席", "agent")), ("name", ("姓名", "name")), ("team", ("班组", "team")),
    ("answered", ("接听", "calls answered")), ("talk_s", ("通话秒", "talk s")),
    ("aht_s", ("平均处理秒", "AHT s")), ("occupancy", ("占用率%", "occupancy %")),
    ("signed_in_s", ("签入秒", "signed in s")), ("ready_s", ("就绪秒", "ready s")),
    ("wrapup_s", ("话后整理秒", "wrap-up s")), ("paused_s", ("暂停秒", "paused s")),
    ("pauses", ("暂停原因（秒）", "pauses by reason (s)")),
    ("satisfaction_count", ("满意度评价数", "satisfaction answers")),
    ("satisfaction_mean", ("满意度均分", "satisfaction mean")),
]
ABANDON_COLUMNS: list[tuple[str, tuple[str, str]]] = [
    ("kind", ("维度", "by")), ("label", ("分组", "group")),
    ("abandoned", ("放弃", "abandoned")), ("short_abandoned", ("短时放弃", "short abandons")),
    ("offered", ("进线", "offered")), ("share", ("占放弃%", "share of abandons %")),
]
CALLBACK_COLUMNS: list[tuple[str, tuple[str, str]]] = [
    ("day", ("日期", "day")), ("queue", ("队列", "queue")), ("asked", ("申请", "asked")),
    ("kept", ("已回拨", "kept")), ("failed", ("失败", "failed")),
    ("cancelled", ("取消", "cancelled")), ("pending", ("待回拨", "pending")),
    ("kept_rate", ("兑现率%", "kept rate %")),
]
IVR_COLUMNS: list[tuple[str, tuple[str, str]]] = [
    ("interval", ("时段", "interval")), ("key", ("被叫号码", "number dialled")),
    ("inbound", ("呼入", "inbound")), ("ivr_only", ("IVR自助完成", "IVR self-service")),
    ("offered", ("转人工", "to an agent")),
    ("ivr_self_service", ("自助率%", "self-service %")),
]


@dataclass(frozen=True, kw_only=True)
class Period:
    """[start, end) in UTC and the rules and number plan the figures use."""

    start: datetime
    end: datetime
    rules: Mapping[str, QueueRules]
    canonical: Canonical | None = None


def _gate(actor: Actor, export: bool) -> None:
    require(actor, "reports", report_operation(export))


# --- pure groupings -------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Abandon:
    """One abandoned queued inbound call: when it ended, after how long, in which queue."""

    ended_at: datetime
    wait_s: int
    queue: str | None


def band_of(wait_s: int) -> int:
    """The index in ``WAIT_BANDS`` of a wait."""
    for i, (lo, hi) in enumerate(WAIT_BANDS):
        if wait_s >= lo and (hi is None or wait_s < hi):
            return i
    return 0  # a negative wait (a clock step): the first band


def band_label(index: int) -> str:
    lo, hi = WAIT_BANDS[index]
    return f"{lo}+ s" if hi is None else f"{lo}-{hi} s"


def abandon_analysis(abandons: Iterable[Abandon], offered_by_hour: Mapping[int, int],
                     rules: Mapping[str, QueueRules]) -> dict[str, list[dict[str, Any]]]:
    """Abandons by Shanghai hour of the day (``when``) and by wait band (``waits``); short
    ones (``kpi``'s rule, per queue) counted apart; ``share`` of all abandons in percent."""
    hours: list[dict[str, Any]] = [{"hour": h, "abandoned": 0, "short_abandoned": 0,
              "offered": offered_by_hour.get(h, 0)} for h in range(24)]
    bands: list[dict[str, Any]] = [{"band": band_label(i), "abandoned": 0, "short_abandoned": 0}
             for i in range(len(WAIT_BANDS))]
    total = 0
    for a in abandons:
        total += 1
        short = a.wait_s < kpi.rules_for(rules, a.queue).short_abandon_s
        for row in (hours[a.ended_at.astimezone(kpi.SHANGHAI).hour], bands[band_of(a.wait_s)]):
            row["abandoned"] += 1
            row["short_abandoned"] += 1 if short else 0
    for row in (*hours, *bands):
        row["share"] = round(100.0 * row["abandoned"] / total, 1) if total else None
    return {"when": hours, "waits": bands}


def abandon_file_rows(analysis: Mapping[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """The two groupings as one table for a file."""
    return [*({"kind": "hour", "label": f"{r['hour']:02d}:00", **r} for r in analysis["when"]),
            *({"kind": "wait", "label": r["band"], "offered": None, **r}
              for r in analysis["waits"])]


@dataclass(frozen=True, kw_only=True)
class CallbackRow:
    """One callback asked: when, for which queue, and how it stands."""

    created_at: datetime
    queue: str
    state: str
    last_result: str | None


def callbacks_by_day(rows: Iterable[CallbackRow]) -> list[dict[str, Any]]:
    """``kpi.callbacks_kept`` per (Shanghai day, queue), oldest first, then per queue."""
    groups: dict[tuple[str, str], list[tuple[str, str | None]]] = {}
    for r in rows:
        day = r.created_at.astimezone(kpi.SHANGHAI).date().isoformat()
        groups.setdefault((day, r.queue), []).append((r.state, r.last_result))
    return [{"day": day, "queue": queue, **kpi.callbacks_kept(states)}
            for (day, queue), states in sorted(groups.items())]


def callbacks_total(rows: Iterable[CallbackRow]) -> dict[str, Any]:
    return kpi.callbacks_kept((r.state, r.last_result) for r in rows)


def agent_row(agent: str, figures: Mapping[str, Any], name: str | None,
              team: str | None, scores: Tally | None = None) -> dict[str, Any]:
    """One agent's ``kpi.agent_figures`` (and satisfaction ``scores``) flattened for a
    table and a file."""
    sec = figures["seconds"]
    satisfaction = satisfaction_figures(scores or Tally())
    return {"agent": agent, "name": name, "team": team,
            "answered": figures.get("answered", 0), "talk_s": figures.get("talk_s", 0),
            "aht_s": figures.get("aht_s"), "occupancy": figures["occupancy"],
            "signed_in_s": figures["signed_in_s"], "ready_s": sec["ready"],
            "talking_s": sec["talking"], "wrapup_s": sec["wrap-up"], "paused_s": sec["paused"],
            "pauses": dict(figures["pauses"]),
            "satisfaction_count": satisfaction["count"],
            "satisfaction_mean": satisfaction["mean"]}


# --- the reports ------------------------------------------------------------------------


async def intervals(db: AsyncSession, actor: Actor, p: Period, *, interval: str, by: str,
                    export: bool = False) -> list[dict[str, Any]]:
    """``kpi_report.interval_report`` (``by``: queue, did or all)."""
    _gate(actor, export)
    return await interval_report(db, actor, start=p.start, end=p.end, interval=interval,
                                 by=by, rules=p.rules, canonical=p.canonical)


async def agents(db: AsyncSession, actor: Actor, p: Period, *, now: datetime,
                 export: bool = False) -> list[dict[str, Any]]:
    """Per agent the actor may see: calls, talk, AHT, occupancy, time per state, pauses
    by reason (the wallboard's ``Book``'s figures, aggregated by the database: closed
    spans only) and satisfaction; an agent scored in the period is listed even without a
    call or a span in it. ``now`` is kept for the callers (open spans do not count)."""
    _gate(actor, export)
    team_of = await teams_of_agents(db)
    visible = visible_agents(actor, team_of)
    tallies = await agent_report.agent_tallies(db, p.start, p.end, p.rules)
    users = {str(i): (uid, d or u) for uid, i, d, u in await db.execute(
        select(User.id, User.agent_interface, User.display_name, User.username)
        .where(User.agent_interface.is_not(None)))}
    scored = await grouped_tallies(db, "agent", [], p.start, p.end)
    scores = {a: scored[uid] for a, (uid, _) in users.items() if uid in scored}
    shown = sorted(a for a in {*tallies, *scores} if a and visible(a))
    empty = agent_report.AgentTallies(states=kpi.AgentTally(), calls=kpi.CallTally())
    return [agent_row(a, kpi.agent_figures(tallies.get(a, empty).states,
                                           tallies.get(a, empty).calls),
                      users.get(a, (None, None))[1], team_of.get(a), scores.get(a))
            for a in shown]


async def abandons(db: AsyncSession, actor: Actor, p: Period, *,
                   export: bool = False) -> dict[str, list[dict[str, Any]]]:
    """``abandon_analysis`` of the period's queued inbound calls."""
    _gate(actor, export)
    queue = CallRecord.queues[0].as_string()
    base = (CallRecord.direction == "inbound", CallRecord.ended_at >= p.start,
            CallRecord.ended_at < p.end, CallRecord.queued_at.is_not(None) | queue.is_not(None))
    rows = await db.execute(select(CallRecord.ended_at, CallRecord.wait_s, queue,
                                   CallRecord.outcome).where(*base))
    found: list[Abandon] = []
    offered: dict[int, int] = {}
    for ended, wait, q, outcome in rows:
        ended = as_utc(ended)
        hour = ended.astimezone(kpi.SHANGHAI).hour
        offered[hour] = offered.get(hour, 0) + 1
        if outcome in kpi.ABANDONED_OUTCOMES:
            found.append(Abandon(ended_at=ended, wait_s=int(wait or 0), queue=q))
    return abandon_analysis(found, offered, p.rules)


async def callbacks(db: AsyncSession, actor: Actor, p: Period, *,
                    export: bool = False) -> dict[str, Any]:
    """Callbacks asked in the period, per day and queue, with the period's total."""
    _gate(actor, export)
    found = [CallbackRow(created_at=as_utc(c), queue=q, state=s, last_result=r)
             for c, q, s, r in await db.execute(
                 select(CallbackRequest.created_at, CallbackRequest.queue, CallbackRequest.state,
                        CallbackRequest.last_result)
                 .where(CallbackRequest.created_at >= p.start,
                        CallbackRequest.created_at < p.end))]
    return {"items": callbacks_by_day(found), "total": callbacks_total(found)}


async def containment(db: AsyncSession, actor: Actor, p: Period, *, interval: str,
                      export: bool = False) -> list[dict[str, Any]]:
    """IVR self-service per number dialled and interval (the interval report by number)."""
    _gate(actor, export)
    rows = await interval_report(db, actor, start=p.start, end=p.end, interval=interval,
                                 by="did", rules=p.rules, canonical=p.canonical)
    return [{k: r[k] for k in ("interval", "key", "inbound", "ivr_only", "offered",
                               "ivr_self_service")} for r in rows]
