"""Orders and supplier batches (issue 18): ``crm_core.orders``.

``GET /orders`` (by customer, status, salesman, due date, late only),
``GET /orders/{id}`` (lines, batches and each batch's timeline, the customer, contact
and salesman), ``GET /customers/{id}/orders``, ``POST /orders``, ``GET /batches`` (the
batches board: ``crm_core.order_batches``), ``GET /batches/late`` (the salesman's
home page: late batches of his orders) and ``POST /batches/{id}/stage`` (a
stage update names the batch, never each order; a step back is a 422, an unknown
batch a 404). Module ``orders``; the rules are the service's.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import Field

from agent_console.api.routing import Call, Routes
from agent_console.api.schemas import Body, Id, IdPath, Out, Page, PageQuery, Query, Text
from crm_core import late_batches as late
from crm_core import order_batches, orders
from crm_core.order_eta import STAGES

Stage = Literal["ordered", "shipped", "customs", "inspection", "warehouse", "dispatched",
                "delivered"]
assert tuple(Stage.__args__) == STAGES  # type: ignore[attr-defined]


class OrdersQuery(PageQuery):
    customer_id: Id | None = None
    status: Literal["open", "closed", "cancelled"] | None = None
    owner_id: Id | None = Field(default=None, description="the salesman's orders only")
    customer: Text | None = Field(default=None, max_length=100,
                                  description="part of the customer's name")
    due_before: date | None = Field(default=None, description="due on or before this day")
    late: bool = Field(default=False, description="only the orders flagged late")


class CustomerOrdersQuery(PageQuery):
    status: Literal["open", "closed", "cancelled"] | None = None


class OrderBrief(Out):
    id: int
    number: str
    customer_id: int
    customer_name: str
    owner_id: int | None = None
    owner_name: str | None = None
    due_date: date | None = None
    status: str
    stage: str = Field(description="the stage of its least advanced live line; "
                                   "to_be_batched while a line has no batch")
    expected_on: date | None = Field(default=None, description="when its last batch "
                                     "is expected (None while a line waits for a batch)")
    late: bool


class Step(Out):
    stage: str
    on: date


class BatchOut(Out):
    id: int
    code: str
    supplier_id: int
    supplier: str | None = None
    supplier_en: str | None = None
    stage: str
    stage_on: date
    expected_on: date | None = None
    late: bool
    timeline: list[Step]


class LineOut(Out):
    id: int
    title: str
    ref: str | None = None
    quantity: int
    delivered_qty: int
    price: str | None = None
    state: str
    batch_id: int | None = None
    batch_code: str | None = None
    supplier: str | None = None
    stage: str
    expected_on: date | None = None


class OrderOut(Out):
    id: int
    number: str
    customer_id: int
    customer_name: str
    contact_id: int | None = None
    contact_name: str | None = None
    contact_role: str | None = None
    owner_id: int | None = None
    owner_name: str | None = Field(default=None, description="the salesman's name")
    due_date: date | None = None
    status: str
    note: str | None = None
    stage: str
    expected_on: date | None = None
    late: bool
    lines: list[LineOut]
    batches: list[BatchOut]


class LineIn(Body):
    title: Text = Field(min_length=1, max_length=300)
    ref: Text | None = Field(default=None, max_length=60, description="ISBN or model")
    quantity: int = Field(default=1, ge=1, le=1_000_000)
    price: Text | None = Field(default=None, max_length=20)
    supplier: Text | None = Field(default=None, max_length=40,
                                  description="supplier code; none: to be batched")
    unit_cost: Text | None = Field(default=None, max_length=20,
                                   description="what one unit cost (margins); none: unknown")
    product_line: Text | None = Field(default=None, max_length=40,
                                      description="product line code (sales by line)")


class OrderIn(Body):
    customer_id: Id
    number: Text | None = Field(default=None, max_length=40)
    due_date: date | None = None
    contact_id: Id | None = None
    owner_id: Id | None = Field(default=None, description="the salesman; default: you")
    note: Text | None = Field(default=None, max_length=2000)
    lines: list[LineIn] = Field(min_length=1, max_length=orders.MAX_LINES)


class StageIn(Body):
    stage: Stage
    on: date | None = Field(default=None, description="the day it was reached; today "
                                                      "(Asia/Shanghai) by default")


class BatchMoved(Out):
    id: int
    code: str
    stage: str
    stage_on: date
    expected_on: date | None = None
    changed: bool = Field(description="false: the batch was already at that stage")


class BatchesQuery(PageQuery):
    stage: Stage | None = None
    supplier_id: Id | None = None
    supplier: Text | None = Field(default=None, max_length=100,
                                  description="part of the supplier's code or name")
    late: bool = Field(default=False, description="only the late batches")


class BatchBrief(Out):
    id: int
    code: str
    supplier_id: int
    supplier_code: str
    supplier: str
    supplier_en: str | None = None
    stage: str
    stage_on: date
    expected_on: date | None = None
    lines: int = Field(description="its lines in the orders you may see")
    orders: int = Field(description="the orders you may see it carries lines of")
    earliest_due: date | None = Field(default=None, description="the earliest due date "
                                      "of the open orders it carries")
    late: bool = Field(description="past its expected day, or expected after an order's "
                                   "due date")


class BatchPage(Page[BatchBrief]):
    today: date


class LateQuery(Query):
    limit: int = Field(default=20, ge=1, le=200)


class LateBatch(Out):
    order_id: int
    number: str
    owner_id: int | None = None
    customer_id: int
    customer_name: str
    due_date: date | None = None
    batch_id: int
    batch_code: str
    stage: str
    supplier: str
    supplier_en: str | None = None
    expected_on: date
    overdue_days: int = Field(description="days past its expected day (0: not overdue)")
    threatens_due: bool = Field(description="expected after the order's due date")


class LateBatches(Out):
    today: date
    items: list[LateBatch]


async def late_batches(call: Call) -> Any:
    q: LateQuery = call.query
    return await late.late_batches(call.db, call.me, limit=q.limit)


async def list_orders(call: Call) -> Any:
    q: OrdersQuery = call.query
    return await orders.list_orders(call.db, call.me, customer_id=q.customer_id,
                                    status=q.status, owner_id=q.owner_id,
                                    customer=q.customer,
                                    due_before=q.due_before, late=q.late, limit=q.limit,
                                    offset=q.offset)


async def list_batches(call: Call) -> Any:
    q: BatchesQuery = call.query
    return await order_batches.list_batches(
        call.db, call.me, stage=q.stage, supplier_id=q.supplier_id, supplier=q.supplier,
        late=q.late, limit=q.limit, offset=q.offset)


async def customer_orders(call: Call) -> Any:
    q: CustomerOrdersQuery = call.query
    return await orders.list_orders(call.db, call.me, customer_id=call.path.id,
                                    status=q.status, limit=q.limit, offset=q.offset)


async def get_order(call: Call) -> Any:
    return await orders.order_view(call.db, call.me, call.path.id)


async def create_order(call: Call) -> Any:
    body: OrderIn = call.body
    return await orders.create_order(
        call.db, call.me, body.customer_id, number=body.number,
        due_date=body.due_date, contact_id=body.contact_id, owner_id=body.owner_id,
        note=body.note, lines=[ln.model_dump() for ln in body.lines])


async def move_batch(call: Call) -> Any:
    body: StageIn = call.body
    return await orders.update_stage(call.db, call.me, call.path.id, body.stage, body.on)


def add_routes(routes: Routes) -> None:
    routes.add("GET", "/orders", list_orders, tag="orders", query_model=OrdersQuery,
               response_model=Page[OrderBrief], errors=(401, 403, 404, 409, 422),
               summary="Orders you may see, newest first, each with its stage and "
                       "expected arrival")
    routes.add("POST", "/orders", create_order, tag="orders", body_model=OrderIn,
               response_model=OrderOut, status=201,
               summary="A new order; its lines wait to be batched by supplier")
    routes.add("GET", "/orders/{id}", get_order, tag="orders", path_model=IdPath,
               response_model=OrderOut, errors=(401, 403, 404, 422),
               summary="One order: its lines, their batches and each batch's timeline")
    routes.add("GET", "/customers/{id}/orders", customer_orders, tag="orders",
               path_model=IdPath, query_model=CustomerOrdersQuery,
               response_model=Page[OrderBrief], errors=(401, 403, 404, 409, 422),
               summary="A customer's orders, newest first")
    routes.add("GET", "/batches", list_batches, tag="orders", query_model=BatchesQuery,
               response_model=BatchPage, errors=(401, 403, 422),
               summary="Supplier batches carrying lines of the orders you may see (the "
                       "batches board), by stage, supplier or lateness; the earliest "
                       "expected first")
    routes.add("GET", "/batches/late", late_batches, tag="orders", query_model=LateQuery,
               response_model=LateBatches, errors=(401, 403, 422),
               summary="Late supplier batches of the orders you may see (a salesman: his "
                       "own): past their expected day, or expected after an order's due "
                       "date; most overdue first")
    routes.add("POST", "/batches/{id}/stage", move_batch, tag="orders", path_model=IdPath,
               body_model=StageIn, response_model=BatchMoved,
               summary="Move a supplier batch (and so every line in it) to a later stage; "
                       "a step back is refused")
