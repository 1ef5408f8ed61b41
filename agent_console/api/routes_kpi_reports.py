"""``/reports/kpi/...``: the call centre's reports (issue 16 item 5): the interval report
per queue, number dialled or the whole hotline, agent performance, abandon analysis,
callbacks and IVR containment; JSON or a CSV/XLSX file.

Rules: the gates and the figures are ``crm_core.call_reports``' (``reports``/``read``;
``reports``/``export`` for a file: checked by the service on every download); the
queues' rules are the wallboard's (``ApiConfig.queue_rules``) and the numbers the plan's
(``ivr.number_plan.canonical_did``), so a report says what the wallboard said; this
module parses the period (Asia/Shanghai days, both ends inclusive, at most
``MAX_DAYS``) and picks the answer's form.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from pydantic import ConfigDict, Field

from agent_console.api.auth import AUTH
from agent_console.api.downloads import file_response
from agent_console.api.errors import ApiError
from agent_console.api.routing import Call, Download, Routes
from agent_console.api.schemas import Out, Query
from crm_core import call_reports, kpi
from crm_core.call_reports import Period
from ivr.number_plan import canonical_did

Format = Literal["json", "csv", "xlsx"]
Lang = Literal["zh-CN", "en"]
Interval = Literal["15m", "30m", "60m", "day", "month"]
MAX_DAYS = 366
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2099, 12, 31)  # what a call log can hold


class PeriodQuery(Query):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    start: date | None = Field(default=None, alias="from", ge=FIRST_DAY, le=LAST_DAY,
                               description="first day (Asia/Shanghai), inclusive; default "
                                           "today")
    end: date | None = Field(default=None, alias="to", ge=FIRST_DAY, le=LAST_DAY,
                             description="last day (Asia/Shanghai), inclusive; default the "
                                         "first")
    format: Format = "json"
    lang: Lang | None = None


class IntervalQuery(PeriodQuery):
    interval: Interval = Field(default="60m", description="15m, 30m, 60m, day or month")
    by: Literal["queue", "did", "all"] = Field(default="queue",
                                               description="per queue, number dialled, or "
                                                           "the whole hotline")


class ContainmentQuery(PeriodQuery):
    interval: Interval = Field(default="day")


class IntervalRow(Out):
    interval: str
    key: str | None
    inbound: int
    offered: int
    answered: int
    answered_in_sl: int
    abandoned: int
    short_abandoned: int
    abandoned_in_sl: int
    timed_out: int
    other: int
    ivr_only: int
    sl: float | None
    sl2: float | None
    abandon_rate: float | None
    asa_s: float | None
    aht_s: float | None
    ivr_self_service: float | None


class Formulas(Out):
    sl: str
    sl2: str
    abandon_rate: str
    asa: str
    aht: str
    occupancy: str


class PeriodOut(Out):
    model_config = ConfigDict(extra="ignore", from_attributes=True, populate_by_name=True,
                              serialize_by_alias=True)

    start: date = Field(alias="from")
    end: date = Field(alias="to")


class IntervalReport(PeriodOut):
    interval: str
    by: str
    formulas: Formulas = Field(description="the figures' definitions, in the asked language "
                                           "(T: the default queue's threshold)")
    sl_s: int = Field(description="the default queue's service-level threshold T, seconds")
    items: list[IntervalRow]


class AgentRow(Out):
    agent: str
    name: str | None
    team: str | None
    answered: int
    talk_s: int
    aht_s: float | None
    occupancy: float | None
    signed_in_s: float
    ready_s: float
    talking_s: float
    wrapup_s: float
    paused_s: float
    pauses: dict[str, float] = Field(description="seconds paused per reason")
    satisfaction_count: int = Field(description="satisfaction answers given in the period "
                                                "to calls this agent took")
    satisfaction_mean: float | None = Field(description="their mean score (1-5, one "
                                                        "decimal); null: no answer")


class AgentReport(PeriodOut):
    formulas: Formulas
    items: list[AgentRow]


class HourRow(Out):
    hour: int
    abandoned: int
    short_abandoned: int
    offered: int
    share: float | None


class BandRow(Out):
    band: str
    abandoned: int
    short_abandoned: int
    share: float | None


class AbandonReport(PeriodOut):
    short_abandon_s: int
    when: list[HourRow]
    waits: list[BandRow]


class CallbackFigures(Out):
    asked: int
    kept: int
    failed: int
    cancelled: int
    pending: int
    kept_rate: float | None


class CallbackDay(CallbackFigures):
    day: str
    queue: str


class CallbackReport(PeriodOut):
    items: list[CallbackDay]
    total: CallbackFigures


class ContainmentRow(Out):
    interval: str
    key: str | None
    inbound: int
    ivr_only: int
    offered: int
    ivr_self_service: float | None


class ContainmentReport(PeriodOut):
    interval: str
    items: list[ContainmentRow]


def _lang(call: Call, q: PeriodQuery) -> str:
    return q.lang or (call.me.language if call.me.language in ("zh-CN", "en") else "zh-CN")


def _period(call: Call, q: PeriodQuery) -> tuple[Period, date, date]:
    today = datetime.now(UTC).astimezone(kpi.SHANGHAI).date()
    first = q.start or today
    last = q.end or first
    if last < first:
        raise ApiError(422, "invalid-period", "'to' is before 'from'")
    if (last - first).days >= MAX_DAYS:
        raise ApiError(422, "invalid-period", f"a report covers at most {MAX_DAYS} days")
    start = datetime.combine(first, time(), kpi.SHANGHAI).astimezone(UTC)
    end = datetime.combine(last + timedelta(days=1), time(), kpi.SHANGHAI).astimezone(UTC)
    rules = call.request.config_dict[AUTH].config.queue_rules
    return Period(start=start, end=end, rules=rules, canonical=canonical_did), first, last


def _formulas(call: Call, q: PeriodQuery, p: Period) -> dict[str, str]:
    lang = _lang(call, q)
    rules = kpi.rules_for(p.rules, None)
    return {k: v[lang].format(t=rules.sl_s, s=rules.short_abandon_s)
            for k, v in kpi.FORMULAS.items()}


async def kpi_intervals(call: Call) -> Any:
    q: IntervalQuery = call.query
    p, first, last = _period(call, q)
    rows = await call_reports.intervals(call.db, call.me, p, interval=q.interval, by=q.by,
                                        export=q.format != "json")
    if q.format != "json":
        return await file_response(rows, call_reports.INTERVAL_COLUMNS, q.format,
                                   name=f"intervals-{q.by}-{q.interval}", lang=_lang(call, q))
    return {"from": first, "to": last, "interval": q.interval, "by": q.by,
            "formulas": _formulas(call, q, p), "sl_s": kpi.rules_for(p.rules, None).sl_s,
            "items": rows}


async def kpi_agents(call: Call) -> Any:
    q: PeriodQuery = call.query
    p, first, last = _period(call, q)
    rows = await call_reports.agents(call.db, call.me, p, now=datetime.now(UTC),
                                     export=q.format != "json")
    if q.format != "json":
        return await file_response(rows, call_reports.AGENT_COLUMNS, q.format,
                                   name="agents", lang=_lang(call, q))
    return {"from": first, "to": last, "formulas": _formulas(call, q, p), "items": rows}


async def kpi_abandons(call: Call) -> Any:
    q: PeriodQuery = call.query
    p, first, last = _period(call, q)
    found = await call_reports.abandons(call.db, call.me, p, export=q.format != "json")
    if q.format != "json":
        return await file_response(call_reports.abandon_file_rows(found),
                                   call_reports.ABANDON_COLUMNS, q.format, name="abandons",
                                   lang=_lang(call, q))
    return {"from": first, "to": last,
            "short_abandon_s": kpi.rules_for(p.rules, None).short_abandon_s, **found}


async def kpi_callbacks(call: Call) -> Any:
    q: PeriodQuery = call.query
    p, first, last = _period(call, q)
    found = await call_reports.callbacks(call.db, call.me, p, export=q.format != "json")
    if q.format != "json":
        return await file_response(found["items"], call_reports.CALLBACK_COLUMNS, q.format,
                                   name="callbacks", lang=_lang(call, q))
    return {"from": first, "to": last, **found}


async def kpi_ivr(call: Call) -> Any:
    q: ContainmentQuery = call.query
    p, first, last = _period(call, q)
    rows = await call_reports.containment(call.db, call.me, p, interval=q.interval,
                                          export=q.format != "json")
    if q.format != "json":
        return await file_response(rows, call_reports.IVR_COLUMNS, q.format,
                                   name=f"ivr-containment-{q.interval}", lang=_lang(call, q))
    return {"from": first, "to": last, "interval": q.interval, "items": rows}


def add_routes(routes: Routes) -> None:
    tail = " (JSON, CSV or XLSX; a file needs reports:export)"
    routes.add("GET", "/reports/kpi/intervals", kpi_intervals, tag="reports",
               summary="Interval report per queue, number dialled or the hotline: offered, "
                       "answered, abandoned, SL, SL2, ASA, AHT per 15/30/60 min, day or month"
                       + tail,
               query_model=IntervalQuery, response_model=IntervalReport, download=Download(),
               errors=(401, 403, 422))
    routes.add("GET", "/reports/kpi/agents", kpi_agents, tag="reports",
               summary="Agent performance: calls, talk, AHT, occupancy, pauses by reason, "
                       "satisfaction" + tail,
               query_model=PeriodQuery, response_model=AgentReport, download=Download(),
               errors=(401, 403, 422))
    routes.add("GET", "/reports/kpi/abandons", kpi_abandons, tag="reports",
               summary="Abandoned calls by hour of the day and by how long the caller waited"
                       + tail,
               query_model=PeriodQuery, response_model=AbandonReport, download=Download(),
               errors=(401, 403, 422))
    routes.add("GET", "/reports/kpi/callbacks", kpi_callbacks, tag="reports",
               summary="Callbacks asked, kept, failed, cancelled, pending per day and queue"
                       + tail,
               query_model=PeriodQuery, response_model=CallbackReport, download=Download(),
               errors=(401, 403, 422))
    routes.add("GET", "/reports/kpi/ivr", kpi_ivr, tag="reports",
               summary="IVR containment: callers who never needed an agent, per number "
                       "dialled and interval" + tail,
               query_model=ContainmentQuery, response_model=ContainmentReport,
               download=Download(), errors=(401, 403, 422))
