"""``/reports/service...`` and ``/reports/stations...``: the service report (issue 15 item
7: SLA attainment, mean times, first-time fix, repeat repairs, faults) and the service
desk's station overview (item 6), JSON or, for the reports, a CSV/XLSX file.

Rules: the gates and scopes are ``crm_core.service_report``'s and
``crm_core.station_overview``'s (``reports``/``read``; ``reports``/``export`` for a
file); this module only parses the query and picks the answer's form.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import ConfigDict, Field

from agent_console.api.downloads import file_response
from agent_console.api.routes_dispatch import Board
from agent_console.api.routing import Call, Download, Routes
from agent_console.api.schemas import IdPath, Out, Query, Text
from crm_core import service_report, station_overview
from crm_core.service_report import Period

Format = Literal["json", "csv", "xlsx"]
Lang = Literal["zh-CN", "en"]


class PeriodQuery(Query):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    start: date | None = Field(default=None, alias="from",
                               description="first day of the tickets' creation "
                                           "(Asia/Shanghai), inclusive; default: this month's")
    end: date | None = Field(default=None, alias="to",
                             description="last day (Asia/Shanghai), inclusive; default: the "
                                         "month's last")
    format: Format = "json"
    lang: Lang | None = None

    def period(self) -> Period:
        return Period(first=self.start, last=self.end)


class ServiceQuery(PeriodQuery):
    by: Literal["station", "region", "month", "product_line"] = Field(
        default="station", description="the grouping")


class TopQuery(PeriodQuery):
    limit: int = Field(default=20, ge=1, le=service_report.MAX_TOP)


class Figures(Out):
    tickets: int
    resolved: int
    accept_met: int
    accept_decided: int
    accept_pct: float | None
    arrive_met: int
    arrive_decided: int
    arrive_pct: float | None
    resolve_met: int
    resolve_decided: int
    resolve_pct: float | None
    sla_pct: float | None = Field(description="met over decided across the three targets")
    mean_accept_min: float | None
    mean_arrive_min: float | None
    mean_resolve_min: float | None
    repairs: int
    first_time_fixes: int
    ftf_pct: float | None
    repeat_assets: int = Field(description="assets with more than one repair ticket in "
                                           "the group")


class ServiceRow(Figures):
    key: str | int | None
    label: str


class PeriodReport(Out):
    """A report over Shanghai days: its grouping and days (``from``/``to``); a subclass
    adds its ``items`` and ``total`` (the satisfaction report is one too)."""

    by: str
    start: date = Field(alias="from")
    end: date = Field(alias="to")

    model_config = ConfigDict(extra="ignore", from_attributes=True, populate_by_name=True,
                              serialize_by_alias=True)


class ServiceReport(PeriodReport):
    items: list[ServiceRow]
    total: ServiceRow


class FaultRow(Out):
    fault: str
    repairs: int
    share_pct: float | None
    first_time_fixes: int
    ftf_pct: float | None


class FaultReport(Out):
    start: date = Field(alias="from")
    end: date = Field(alias="to")
    repairs: int
    items: list[FaultRow]

    model_config = ConfigDict(extra="ignore", from_attributes=True, populate_by_name=True,
                              serialize_by_alias=True)


class RepeatRow(Out):
    asset_id: int
    serial_number: str
    customer_id: int
    customer: str
    product_line_code: str | None
    product_line: str
    repairs: int
    last_at: datetime | None


class RepeatReport(Out):
    start: date = Field(alias="from")
    end: date = Field(alias="to")
    items: list[RepeatRow]

    model_config = ConfigDict(extra="ignore", from_attributes=True, populate_by_name=True,
                              serialize_by_alias=True)


class StationsQuery(Query):
    region: Text | None = Field(default=None, max_length=40,
                                description="the stations' region (华东...) or province")
    inactive: bool = Field(default=False, description="also the stations switched off")
    lang: Lang | None = None


class StationRow(Out):
    id: int
    code: str
    label: str
    name: str
    name_en: str | None
    province: str | None
    city: str | None
    region: str | None
    is_hub: bool
    active: bool
    capacity: int
    open_tickets: int
    load_pct: float | None
    breached_now: int
    technicians: int
    on_duty: int
    month_tickets: int
    sla_pct: float | None


class StationList(Out):
    month: str
    items: list[StationRow]


class TechnicianRow(Out):
    id: int
    name: str
    skills: list[Any]
    phone: str | None
    on_duty: bool
    active: bool
    open_tickets: int


class StationDetail(Out):
    id: int
    code: str
    label: str
    name: str
    name_en: str | None
    province: str | None
    city: str | None
    district: str | None
    address: str | None
    region: str | None
    phones: list[Any]
    product_lines: list[Any]
    is_hub: bool
    active: bool
    capacity: int
    open_tickets: int
    load_pct: float | None
    breached_now: int
    month: str
    month_figures: Figures
    technicians: list[TechnicianRow]
    tickets: Board | None = Field(description="its open tickets most urgent first (the "
                                              "dispatch board's); null without tickets:read")


class DetailQuery(Query):
    lang: Lang | None = None


def _lang(call: Call, lang: str | None) -> str:
    return lang or (call.me.language if call.me.language in ("zh-CN", "en") else "zh-CN")


async def service(call: Call) -> Any:
    q: ServiceQuery = call.query
    report = await service_report.service_report(
        call.db, call.me, q.by, q.period(), lang=q.lang, export=q.format != "json")
    if q.format == "json":
        return report
    return await file_response(service_report.file_rows(report), service_report.SERVICE_COLUMNS,
                               q.format, name=f"service-by-{q.by}", lang=_lang(call, q.lang))


async def service_faults(call: Call) -> Any:
    q: TopQuery = call.query
    report = await service_report.top_faults(call.db, call.me, q.period(), limit=q.limit,
                                             export=q.format != "json")
    if q.format == "json":
        return report
    return await file_response(report["items"], service_report.FAULT_COLUMNS, q.format,
                               name="service-faults", lang=_lang(call, q.lang))


async def service_repeats(call: Call) -> Any:
    q: TopQuery = call.query
    report = await service_report.repeat_assets(call.db, call.me, q.period(), limit=q.limit,
                                                lang=q.lang, export=q.format != "json")
    if q.format == "json":
        return report
    return await file_response(report["items"], service_report.REPEAT_COLUMNS, q.format,
                               name="service-repeats", lang=_lang(call, q.lang))


async def stations(call: Call) -> Any:
    q: StationsQuery = call.query
    return await station_overview.station_list(call.db, call.me, region=q.region,
                                               include_inactive=q.inactive, lang=q.lang)


async def station(call: Call) -> Any:
    q: DetailQuery = call.query
    return await station_overview.station_detail(call.db, call.me, call.path.id, lang=q.lang)


def add_routes(routes: Routes) -> None:
    routes.add("GET", "/reports/service", service, tag="reports",
               summary="Service report: per station, region, month or product line, tickets, "
                       "SLA attainment, mean times, first-time fix, repeat repairs (JSON, CSV "
                       "or XLSX; a file needs reports:export)",
               query_model=ServiceQuery, response_model=ServiceReport, download=Download(),
               errors=(401, 403, 422))
    routes.add("GET", "/reports/service/faults", service_faults, tag="reports",
               summary="The faults found most often on the period's tickets (JSON, CSV or "
                       "XLSX; a file needs reports:export)",
               query_model=TopQuery, response_model=FaultReport, download=Download(),
               errors=(401, 403, 422))
    routes.add("GET", "/reports/service/repeats", service_repeats, tag="reports",
               summary="The assets repaired most often in the period (JSON, CSV or XLSX; a "
                       "file needs reports:export)",
               query_model=TopQuery, response_model=RepeatReport, download=Download(),
               errors=(401, 403, 422))
    routes.add("GET", "/reports/stations", stations, tag="reports",
               summary="The stations for the service desk: open load against capacity, "
                       "technicians on duty, this month's SLA attainment, breached now",
               query_model=StationsQuery, response_model=StationList, errors=(401, 403, 422))
    routes.add("GET", "/reports/stations/{id}", station, tag="reports",
               summary="One station: technicians, open tickets most urgent first, the "
                       "month's figures",
               path_model=IdPath, query_model=DetailQuery, response_model=StationDetail,
               errors=(401, 403, 404, 422))
