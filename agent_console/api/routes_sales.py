"""``/reports/sales/...``: the sales pipeline (issue 18 item 3): the funnel per salesman,
team or month, won amounts and margins per salesman, sales by product line, customer
source or region, the customers who bought a product, what a customer bought
(``/customers/{id}/products``) and the big contracts of the last days (the managers'
home page); JSON or a CSV/XLSX file.

Rules: the gates and the figures are ``crm_core.sales_report``'s (``reports``/``read``,
its scope on the salesman; ``reports``/``export`` for a file, checked by the service);
the big contracts' amount and days default to the settings (``ApiConfig``); months are
``YYYY-MM`` (Asia/Shanghai), both ends inclusive, the current month by default.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import ConfigDict, Field

from agent_console.api.auth import AUTH
from agent_console.api.downloads import file_response
from agent_console.api.routing import Call, Download, Routes
from agent_console.api.schemas import Id, IdPath, Out, Query, Text
from crm_core import sales_report as sales
from crm_core.sales_report import SalesFilter

Format = Literal["json", "csv", "xlsx"]
Lang = Literal["zh-CN", "en"]
MONTH = r"^\d{4}-(0[1-9]|1[0-2])$"


class MonthsQuery(Query):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    start: str | None = Field(default=None, alias="from", pattern=MONTH,
                              description="first month YYYY-MM (Asia/Shanghai); default "
                                          "this month")
    end: str | None = Field(default=None, alias="to", pattern=MONTH,
                            description="last month YYYY-MM, inclusive; default the first")
    owner_id: Id | None = Field(default=None, description="one salesman")
    team: Text | None = Field(default=None, max_length=100, description="one team")
    format: Format = "json"
    lang: Lang | None = None


class FunnelQuery(MonthsQuery):
    by: Literal["salesman", "team", "month", "all"] = "salesman"


class ByQuery(MonthsQuery):
    dimension: Literal["product_line", "source", "region"] = "product_line"


class BoughtQuery(Query):
    product: Text = Field(min_length=1, max_length=200,
                          description="a ref (ISBN, model) exactly, or words of a title")
    format: Format = "json"
    lang: Lang | None = None


class ProductsQuery(Query):
    format: Format = "json"
    lang: Lang | None = None


class BigQuery(Query):
    min_amount: int | None = Field(default=None, ge=0, le=10**12,
                                   description="default: the big_contract_amount setting")
    days: int | None = Field(default=None, ge=1, le=366,
                             description="default: the big_contract_days setting")


class StageOut(Out):
    stage: str
    count: int = Field(description="deals standing in the stage now")
    amount: float
    reached: int = Field(description="deals that got this far (each once)")
    reached_amount: float
    conversion: float | None = Field(description="reached(next stage) / reached(this); "
                                                 "None when nobody reached it")
    mean_days: float | None = Field(description="mean days a deal spent in the stage")


class FunnelGroup(Out):
    key: str | None
    label: str
    deals: int
    won: int
    won_amount: float
    lost: int
    win_rate: float | None
    stages: list[StageOut]


class MonthsOut(Out):
    model_config = ConfigDict(extra="ignore", from_attributes=True, populate_by_name=True,
                              serialize_by_alias=True)

    start: str = Field(alias="from")
    end: str = Field(alias="to")


class FunnelReport(MonthsOut):
    by: str
    items: list[FunnelGroup]


class SalesmanRow(Out):
    key: str | None
    owner_id: int | None
    label: str
    team: str | None
    won: int
    won_amount: float
    orders: int
    sales: float
    costed_share: float | None = Field(description="share of the sales whose cost is known")
    cost: float | None
    margin: float | None = Field(description="over the lines whose cost is known")
    margin_rate: float | None


class SalesmenReport(MonthsOut):
    items: list[SalesmanRow]


class ByRow(Out):
    key: str | None
    label: str
    orders: int
    customers: int
    quantity: int
    sales: float


class ByReport(MonthsOut):
    dimension: str
    items: list[ByRow]


class BuyerRow(Out):
    customer_id: int
    customer_name: str
    quantity: int
    sales: float
    orders: int
    last_on: str


class Buyers(Out):
    product: str
    items: list[BuyerRow]


class ProductRow(Out):
    ref: str | None
    title: str
    quantity: int
    sales: float
    orders: int
    last_on: str


class Products(Out):
    customer_id: int
    items: list[ProductRow]


class BigContract(Out):
    kind: Literal["order", "opportunity"]
    id: int
    title: str = Field(description="the order's number or the opportunity's title")
    customer_id: int
    customer_name: str
    owner_id: int | None
    owner_name: str | None
    signed_at: str
    amount: float


class BigContracts(Out):
    min_amount: int
    days: int
    items: list[BigContract]


def _lang(call: Call, lang: str | None) -> str:
    chosen = lang or call.me.language
    return chosen if chosen in ("zh-CN", "en") else "zh-CN"


def _filter(q: MonthsQuery) -> SalesFilter:
    this = datetime.now(UTC).astimezone(sales.SHANGHAI).strftime("%Y-%m")
    first = q.start or this
    return SalesFilter(first=first, last=q.end or first, owner_id=q.owner_id, team=q.team)


def _months(f: SalesFilter) -> dict[str, str]:
    return {"from": f.first, "to": f.last}


async def sales_funnel(call: Call) -> Any:
    q: FunnelQuery = call.query
    f, lang = _filter(q), _lang(call, q.lang)
    groups = await sales.funnel_report(call.db, call.me, f, by=q.by, now=datetime.now(UTC),
                                       lang=lang, export=q.format != "json")
    if q.format != "json":
        return await file_response(sales.funnel_file_rows(groups), sales.FUNNEL_COLUMNS,
                                   q.format, name=f"funnel-{q.by}", lang=lang)
    return {**_months(f), "by": q.by, "items": groups}


async def sales_salesmen(call: Call) -> Any:
    q: MonthsQuery = call.query
    f, lang = _filter(q), _lang(call, q.lang)
    rows = await sales.salesmen_report(call.db, call.me, f, lang=lang,
                                       export=q.format != "json")
    if q.format != "json":
        return await file_response(rows, sales.SALESMAN_COLUMNS, q.format,
                                   name="sales-salesmen", lang=lang)
    return {**_months(f), "items": rows}


async def sales_by(call: Call) -> Any:
    q: ByQuery = call.query
    f, lang = _filter(q), _lang(call, q.lang)
    rows = await sales.sales_by(call.db, call.me, f, dimension=q.dimension, lang=lang,
                                export=q.format != "json")
    if q.format != "json":
        return await file_response(rows, sales.BY_COLUMNS, q.format,
                                   name=f"sales-by-{q.dimension}", lang=lang)
    return {**_months(f), "dimension": q.dimension, "items": rows}


async def sales_buyers(call: Call) -> Any:
    q: BoughtQuery = call.query
    rows = await sales.customers_who_bought(call.db, call.me, q.product,
                                            export=q.format != "json")
    if q.format != "json":
        return await file_response(rows, sales.BOUGHT_COLUMNS, q.format, name="buyers",
                                   lang=_lang(call, q.lang))
    return {"product": q.product, "items": rows}


async def customer_products(call: Call) -> Any:
    q: ProductsQuery = call.query
    rows = await sales.products_of(call.db, call.me, call.path.id, export=q.format != "json")
    if q.format != "json":
        return await file_response(rows, sales.PRODUCT_COLUMNS, q.format,
                                   name=f"customer-{call.path.id}-products",
                                   lang=_lang(call, q.lang))
    return {"customer_id": call.path.id, "items": rows}


async def big_contracts(call: Call) -> Any:
    q: BigQuery = call.query
    config = call.request.config_dict[AUTH].config
    amount = config.big_contract_amount if q.min_amount is None else q.min_amount
    days = config.big_contract_days if q.days is None else q.days
    rows = await sales.big_contracts(call.db, call.me, now=datetime.now(UTC),
                                     min_amount=Decimal(amount), days=days)
    return {"min_amount": amount, "days": days, "items": rows}


def add_routes(routes: Routes) -> None:
    tail = " (JSON, CSV or XLSX; a file needs reports:export)"
    errs = (401, 403, 422)
    routes.add("GET", "/reports/sales/funnel", sales_funnel, tag="reports",
               summary="The sales funnel per salesman, team or month of the opportunities "
                       "created in the months: per stage the count and amount, how many got "
                       "that far, the conversion to the next stage, the mean days spent"
                       + tail,
               query_model=FunnelQuery, response_model=FunnelReport, download=Download(),
               errors=errs)
    routes.add("GET", "/reports/sales/salesmen", sales_salesmen, tag="reports",
               summary="Per salesman: deals won and their amount, orders, sales and the "
                       "margin where costs are known" + tail,
               query_model=MonthsQuery, response_model=SalesmenReport, download=Download(),
               errors=errs)
    routes.add("GET", "/reports/sales/by", sales_by, tag="reports",
               summary="Sales by product line, customer source or region" + tail,
               query_model=ByQuery, response_model=ByReport, download=Download(),
               errors=errs)
    routes.add("GET", "/reports/sales/buyers", sales_buyers, tag="reports",
               summary="The customers who bought a product (a ref exactly, or a title's "
                       "words)" + tail,
               query_model=BoughtQuery, response_model=Buyers, download=Download(),
               errors=errs)
    routes.add("GET", "/customers/{id}/products", customer_products, tag="reports",
               path_model=IdPath, query_model=ProductsQuery, response_model=Products,
               download=Download(), errors=errs,
               summary="The products a customer bought: quantity, amount, orders" + tail)
    routes.add("GET", "/reports/sales/big-contracts", big_contracts, tag="reports",
               summary="Big contracts: orders and won opportunities worth at least the "
                       "amount signed in the last days (the managers' home page)",
               query_model=BigQuery, response_model=BigContracts, errors=errs)
