"""``/reports``: customers by a dimension, and products; JSON or a CSV/XLSX file.

Rules: the gate and the data scope are ``crm_core.reports``' (``reports``/``read``, and
``reports``/``export`` for a CSV/XLSX file); this module only parses the query, says
whether the answer is a file and picks its format.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import Field

from agent_console.api.downloads import file_response
from agent_console.api.routing import Call, Download, Routes
from agent_console.api.schemas import MAX_ID, Out, Query, Text
from crm_core import reports
from crm_core.reports import CustomerFilter

Dimension = Literal["category", "source", "industry", "province", "city", "region", "owner",
                    "status", "vip_tier", "kind"]
Format = Literal["json", "csv", "xlsx"]
Lang = Literal["zh-CN", "en"]


class FilterQuery(Query):
    """The customers a report covers (every parameter optional)."""

    status: Literal["prospect", "active", "dormant", "lost"] | None = None
    category: Text | None = Field(default=None, max_length=200)
    source: Text | None = Field(default=None, max_length=200)
    industry: Text | None = Field(default=None, max_length=200)
    province: Text | None = Field(default=None, max_length=200)
    city: Text | None = Field(default=None, max_length=200)
    owner_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    pool: bool | None = Field(default=None, description="true: only the shared pool")
    vip_tier_min: int | None = Field(default=None, ge=0, le=1000)
    created_from: date | None = None
    created_to: date | None = None
    format: Format = "json"
    lang: Lang | None = None

    def filters(self) -> CustomerFilter:
        return CustomerFilter(
            status=self.status, category=self.category, source=self.source,
            industry=self.industry, province=self.province, city=self.city,
            owner_id=self.owner_id, pool=self.pool, vip_tier_min=self.vip_tier_min,
            created_from=self.created_from, created_to=self.created_to,
        )


class CustomersReportQuery(FilterQuery):
    by: Dimension = Field(description="the dimension to group by")


class CustomerGroup(Out):
    dimension: str
    key: str | int | None
    label: str
    customers: int
    active: int
    prospect: int
    dormant: int
    lost: int
    vip: int
    value: float
    assets: int
    open_tickets: int


class ProductRow(Out):
    product_line_id: int | None
    code: str | None
    label: str
    name: str | None
    name_en: str | None
    assets: int
    under_warranty: int
    tickets: int
    open_tickets: int
    tickets_per_100_assets: float | None


class CustomersReport(Out):
    by: str
    items: list[CustomerGroup]


class ProductsReport(Out):
    items: list[ProductRow]


def _lang(call: Call, q: FilterQuery) -> str:
    return q.lang or (call.me.language if call.me.language in ("zh-CN", "en") else "zh-CN")


async def customers_report(call: Call) -> Any:
    q: CustomersReportQuery = call.query
    rows = await reports.customers_by(call.db, call.me, q.by, q.filters(), lang=q.lang,
                                      export=q.format != "json")
    if q.format == "json":
        return {"by": q.by, "items": rows}
    return await file_response(rows, reports.CUSTOMER_REPORT_COLUMNS, q.format,
                               name=f"customers-by-{q.by}", lang=_lang(call, q))


async def products_report(call: Call) -> Any:
    q: FilterQuery = call.query
    rows = await reports.products_report(call.db, call.me, q.filters(), lang=q.lang,
                                         export=q.format != "json")
    if q.format == "json":
        return {"items": rows}
    return await file_response(rows, reports.PRODUCT_REPORT_COLUMNS, q.format,
                               name="products", lang=_lang(call, q))


def add_routes(routes: Routes) -> None:
    routes.add("GET", "/reports/customers", customers_report, tag="reports",
               summary="Customers grouped by a dimension (JSON, CSV or XLSX; a file needs "
                       "reports:export)",
               query_model=CustomersReportQuery, response_model=CustomersReport,
               download=Download(), errors=(401, 403, 422))
    routes.add("GET", "/reports/products", products_report, tag="reports",
               summary="Per product line: assets, warranty, tickets (JSON, CSV or XLSX; a "
                       "file needs reports:export)",
               query_model=FilterQuery, response_model=ProductsReport,
               download=Download(), errors=(401, 403, 422))
