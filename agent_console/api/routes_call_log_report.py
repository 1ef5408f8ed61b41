"""``/reports/calls``: the call log itself (issue 16 item 5): the calls of a period with
filters, a page at a time, or the same filter as a CSV/XLSX file.

Rules: the gate, the data scope and the filters are ``crm_core.call_log_report``'s
(``reports``/``read``; ``reports``/``export`` for a file, checked on every download); the
period is the other reports' (``routes_kpi_reports``: Asia/Shanghai days, both ends
inclusive); a file holds at most ``call_log_report.EXPORT_MAX`` rows (422 beyond: narrow
the filter) so that one click cannot hold a year of calls in memory.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from agent_console.api.downloads import file_response
from agent_console.api.errors import ApiError
from agent_console.api.routes_kpi_reports import PeriodOut, PeriodQuery, _lang, _period
from agent_console.api.routing import Call, Download, Routes
from agent_console.api.schemas import MAX_ID, Out, Text
from crm_core import call_log_report
from crm_core.call_log_report import CallFilter, Cursor

MAX_S = 10_000_000


class CallLogQuery(PeriodQuery):
    direction: Literal["inbound", "outbound"] | None = None
    queue: Text | None = Field(default=None, min_length=1, max_length=64)
    did: Text | None = Field(default=None, min_length=1, max_length=64,
                            description="the number dialled, any written form")
    agent: Text | None = Field(default=None, min_length=1, max_length=64,
                              description="the agent's phone (interface) or agent name")
    customer_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    caller: Text | None = Field(default=None, min_length=1, max_length=64,
                               description="part of the customer's number")
    outcome: Text | None = Field(default=None, min_length=1, max_length=64)
    result: Literal["answered", "abandoned", "other"] | None = None
    disposition: Text | None = Field(default=None, min_length=1, max_length=64)
    min_wait: int | None = Field(default=None, ge=0, le=MAX_S)
    max_wait: int | None = Field(default=None, ge=0, le=MAX_S)
    min_talk: int | None = Field(default=None, ge=0, le=MAX_S)
    max_talk: int | None = Field(default=None, ge=0, le=MAX_S)
    order: Literal["desc", "asc"] = Field(default="desc", description="by end time")
    limit: int = Field(default=50, ge=1, le=call_log_report.PAGE_MAX)
    after: Text | None = Field(default=None, max_length=100,
                              description="the previous page's `next`")


class CallLogRow(Out):
    id: int
    linkedid: str
    ended_at: datetime | None
    started_at: datetime | None
    direction: str
    caller: str | None
    caller_name: str | None
    did: str | None
    queue: str | None
    agent_interface: str | None
    agent_name: str | None
    outcome: str
    wait_s: int | None
    talk_s: int | None
    customer_id: int | None
    customer_name: str | None
    disposition: str | None


class CallLogPage(PeriodOut):
    total: int = Field(description="calls matching the filter")
    next: str | None = Field(description="pass as `after` for the next page; null: last")
    items: list[CallLogRow]


_FILTERS = ("direction", "queue", "did", "agent", "customer_id", "caller", "outcome",
            "result", "disposition", "min_wait", "max_wait", "min_talk", "max_talk")


async def call_log(call: Call) -> Any:
    q: CallLogQuery = call.query
    p, first, last = _period(call, q)
    f = CallFilter(start=p.start, end=p.end, **{k: getattr(q, k) for k in _FILTERS})
    canonical = p.canonical or (lambda d: d)
    if q.format != "json":
        total = await call_log_report.count_for_export(call.db, call.me, f, canonical)
        if total > call_log_report.EXPORT_MAX:
            raise ApiError(422, "too-many-rows", f"{total} calls match: a file holds at most "
                           f"{call_log_report.EXPORT_MAX}; narrow the period or the filter")
        rows = call_log_report.export_calls(call.db, call.me, f, order=q.order,
                                            canonical=canonical)
        return await file_response(rows, call_log_report.CALL_COLUMNS, q.format,
                                   name="calls", lang=_lang(call, q))
    try:
        after = Cursor.parse(q.after) if q.after else None
    except ValueError as exc:
        raise ApiError(422, "validation", "not a cursor of this list", field="after") from exc
    page = await call_log_report.call_page(call.db, call.me, f, limit=q.limit, order=q.order,
                                           after=after, canonical=canonical)
    return {"from": first, "to": last, **page}


def add_routes(routes: Routes) -> None:
    routes.add("GET", "/reports/calls", call_log, tag="reports",
               summary="The call log: the calls of a period by direction, queue, number "
                       "dialled, agent, customer, outcome, disposition, wait and talk, newest "
                       "(or oldest) first, a page at a time with the total (JSON, CSV or "
                       "XLSX; a file needs reports:export)",
               query_model=CallLogQuery, response_model=CallLogPage, download=Download(),
               errors=(401, 403, 422))
