"""``/reports/satisfaction``, ``/agent/scores`` and ``/station/scores`` (issue 17 item 4):
the satisfaction answers per agent, technician, station, product line and month (JSON,
or a CSV/XLSX file), the signed-in agent's own figures, and the station's with its
technicians'.

Rules: the gates are ``crm_core.satisfaction``'s (``reports``/``read``, ``export`` for
a file; one's own figures need no grant; the station's follow the station page's
``tickets``/``read``); this module only parses the query and picks the answer's form.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import ConfigDict, Field

from agent_console.api.downloads import file_response
from agent_console.api.routes_service_report import PeriodQuery, PeriodReport, _lang
from agent_console.api.routing import Call, Download, Routes
from agent_console.api.schemas import MAX_ID, Out, Query
from crm_core import satisfaction
from crm_core.service_report import Period


class SatisfactionQuery(PeriodQuery):
    by: Literal["agent", "technician", "station", "product_line", "month"] = Field(
        default="agent", description="the grouping")


class OwnQuery(Query):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    start: date | None = Field(default=None, alias="from",
                               description="first day of the answers (Asia/Shanghai); "
                                           "default: this month's")
    end: date | None = Field(default=None, alias="to", description="last day, inclusive")


class StationScoresQuery(OwnQuery):
    station_id: int | None = Field(default=None, ge=1, le=MAX_ID,
                                   description="another station than one's own (needs "
                                               "reports:read)")


class Scores(Out):
    count: int
    mean: float | None
    distribution: list[int] = Field(description="answers scoring 1, 2, 3, 4 and 5")
    satisfied_pct: float | None = Field(description="share of answers scoring 4 or 5 (%)")


class ScoreRow(Scores):
    key: str | int | None
    label: str


class SatisfactionReport(PeriodReport):
    items: list[ScoreRow]
    total: ScoreRow


class Answer(Out):
    score: int
    comment: str | None
    scored_at: datetime
    channel: str
    ticket_number: str | None


class OwnScores(Scores):
    start: date = Field(alias="from")
    end: date = Field(alias="to")
    recent: list[Answer] = Field(description="the latest answers, newest first")

    model_config = ConfigDict(extra="ignore", from_attributes=True, populate_by_name=True,
                              serialize_by_alias=True)


class StationScoreRow(Scores):
    id: int
    code: str
    name: str
    name_en: str | None


class TechnicianScoreRow(Scores):
    id: int
    name: str


class StationScores(Out):
    start: date = Field(alias="from")
    end: date = Field(alias="to")
    station: StationScoreRow
    technicians: list[TechnicianScoreRow]
    recent: list[Answer]

    model_config = ConfigDict(extra="ignore", from_attributes=True, populate_by_name=True,
                              serialize_by_alias=True)


async def satisfaction_report(call: Call) -> Any:
    q: SatisfactionQuery = call.query
    report = await satisfaction.satisfaction_report(call.db, call.me, q.by, q.period(),
                                                    lang=q.lang, export=q.format != "json")
    if q.format == "json":
        return report
    return await file_response(satisfaction.file_rows(report), satisfaction.COLUMNS,
                               q.format, name=f"satisfaction-by-{q.by}",
                               lang=_lang(call, q.lang))


async def my_scores(call: Call) -> Any:
    q: OwnQuery = call.query
    return await satisfaction.my_scores(call.db, call.me, Period(first=q.start, last=q.end))


async def station_scores(call: Call) -> Any:
    q: StationScoresQuery = call.query
    return await satisfaction.station_scores(call.db, call.me, q.station_id,
                                             Period(first=q.start, last=q.end))


def add_routes(routes: Routes) -> None:
    routes.add("GET", "/reports/satisfaction", satisfaction_report, tag="reports",
               summary="Satisfaction per agent (who took the original call), technician, "
                       "station, product line or month: answers, mean, distribution, "
                       "share of 4-5 (JSON, CSV or XLSX; a file needs reports:export)",
               query_model=SatisfactionQuery, response_model=SatisfactionReport,
               download=Download(), errors=(401, 403, 422))
    routes.add("GET", "/agent/scores", my_scores, tag="agent",
               summary="The signed-in agent's own satisfaction figures (the calls she took) "
                       "and the latest answers",
               query_model=OwnQuery, response_model=OwnScores, errors=(401, 404, 422))
    routes.add("GET", "/station/scores", station_scores, tag="station",
               summary="The station's satisfaction figures and each technician's (one's "
                       "own station; another with reports:read)",
               query_model=StationScoresQuery, response_model=StationScores,
               errors=(401, 403, 404, 422))
