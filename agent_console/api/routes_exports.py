"""``/exports/{list}``: one of the CRM's lists as a CSV or XLSX file (customers,
contacts, assets, tickets, interactions), as ``hotline export`` writes them.

Rules: ``crm_core.exporter`` checks the list's ``export`` grant and applies its data
scope (nobody exports a record they may not read); the filters are the reports'
(``crm_core.reports.CustomerFilter``: on the customers the rows belong to); headers are
in ``lang``, else the user's language.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from agent_console.api.downloads import file_response
from agent_console.api.routes_reports import FilterQuery
from agent_console.api.routing import Call, Download, Routes
from agent_console.api.schemas import Query
from crm_core.exporter import LISTS

ListName = Literal["customers", "contacts", "assets", "tickets", "interactions"]


class ListPath(Query):
    list: ListName


class ExportQuery(FilterQuery):
    format: Literal["csv", "xlsx"] = "csv"


async def export_list(call: Call) -> Any:
    q: ExportQuery = call.query
    lang = q.lang or (call.me.language if call.me.language in ("zh-CN", "en") else "zh-CN")
    rows_of, columns = LISTS[call.path.list]
    actor = dataclasses.replace(call.me, language=lang)  # labels inside the rows too
    return await file_response(rows_of(call.db, actor, q.filters()), columns, q.format,
                               name=call.path.list, lang=lang)


def add_routes(routes: Routes) -> None:
    routes.add("GET", "/exports/{list}", export_list, tag="reports", path_model=ListPath,
               query_model=ExportQuery, download=Download(), errors=(401, 403, 422),
               summary="A list (customers, contacts, assets, tickets, interactions) as a "
                       "CSV or XLSX file, in your export scope (needs <list>:export)")
