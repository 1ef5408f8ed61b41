"""The supplier batches as the batches board lists them (issue 18 item 5): each batch
with its supplier, stage, expected arrival, how many lines it carries and whether it is
late, filtered by stage, supplier and lateness, most urgent first.

Rules:
- permissions as every order read (module ``orders``, read): a batch is listed when it
  carries a line of an order the actor may see, and its line count and lateness are
  those of the lines and orders the actor may see (a salesman's board shows his orders'
  share of a batch, never another customer's);
- late is ``order_eta.is_late`` for the batch: not delivered, and past its expected
  day or expected after the due date of an open order it carries (the earliest due
  date decides); the SQL filter and the flag use that one rule;
- one statement per page: batches joined to their visible lines and orders, grouped.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, and_, case, func, literal_column, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core import order_eta
from crm_core.errors import ValidationFailed
from crm_core.models import Customer, OrderLine, SalesOrder, Supplier, SupplierBatch
from crm_core.permissions import Actor, require
from crm_core.records import (
    business_day,
    check_page,
    current,
    optional_id,
    page,
    paginate,
    scope_condition,
    text,
)


def _earliest_due() -> Any:
    """SQL: the earliest due date of the open orders among a batch's lines."""
    return func.min(case((SalesOrder.status == literal_column("'open'"),
                          SalesOrder.due_date), else_=None))


def batches_query(actor: Actor, today: date, *, stage: str | None = None,
                  supplier_id: int | None = None, supplier: str | None = None,
                  late: bool = False) -> Select[Any]:
    """The batches the actor may see with their visible lines counted, most urgent
    first (the earliest expected day; none expected last), then the oldest."""
    scope = require(actor, "orders", "read")
    due = _earliest_due()
    columns: list[Any] = [
        SupplierBatch.id, SupplierBatch.code, SupplierBatch.supplier_id,
        Supplier.code.label("supplier_code"), Supplier.name.label("supplier"),
        Supplier.name_en.label("supplier_en"), SupplierBatch.stage, SupplierBatch.stage_on,
        SupplierBatch.expected_on, func.count(OrderLine.id).label("lines"),
        func.count(func.distinct(SalesOrder.id)).label("orders"), due.label("earliest_due")]
    stmt = (
        select(*columns)
        .select_from(SupplierBatch)
        .join(Supplier, Supplier.id == SupplierBatch.supplier_id)
        .join(OrderLine, OrderLine.batch_id == SupplierBatch.id)
        .join(SalesOrder, SalesOrder.id == OrderLine.order_id)
        .join(Customer, Customer.id == SalesOrder.customer_id)
        .where(scope_condition(actor, scope, SalesOrder.owner_id))
        .group_by(SupplierBatch.id, SupplierBatch.code, SupplierBatch.supplier_id,
                  Supplier.code, Supplier.name, Supplier.name_en, SupplierBatch.stage,
                  SupplierBatch.stage_on, SupplierBatch.expected_on)
        .order_by(SupplierBatch.expected_on.is_(None), SupplierBatch.expected_on,
                  SupplierBatch.id))
    if stage is not None:
        stmt = stmt.where(SupplierBatch.stage == stage)
    if supplier_id is not None:
        stmt = stmt.where(SupplierBatch.supplier_id == supplier_id)
    if supplier is not None:
        stmt = stmt.where(or_(Supplier.code.contains(supplier, autoescape=True),
                              Supplier.name.contains(supplier, autoescape=True),
                              Supplier.name_en.contains(supplier, autoescape=True)))
    if late:
        stmt = stmt.where(SupplierBatch.stage != "delivered",
                          SupplierBatch.expected_on.is_not(None)).having(
            or_(SupplierBatch.expected_on < today,
                and_(due.is_not(None), SupplierBatch.expected_on > due)))
    return stmt


def _iso(value: object) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else value.isoformat()  # type: ignore[attr-defined]


def _day(value: object) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


async def list_batches(session: AsyncSession, actor: Actor, *, stage: object = None,
                       supplier_id: object = None, supplier: object = None,
                       late: bool = False, limit: object = 50, offset: object = 0,
                       now: datetime | None = None) -> dict[str, Any]:
    """A page of the batches the actor may see (see the module rules), each with its
    supplier, stage, expected day, line and order counts and late flag."""
    lim, off = check_page(limit, offset)
    if stage is not None and stage not in order_eta.STAGES:
        raise ValidationFailed("stage", f"must be one of {', '.join(order_eta.STAGES)}")
    today = business_day(current(now))
    stmt = batches_query(actor, today, stage=stage if isinstance(stage, str) else None,
                         supplier_id=optional_id(supplier_id, "supplier_id"),
                         supplier=text(supplier, "supplier", max_len=100), late=late)
    rows, total = await paginate(session, stmt, lim, off)
    items = []
    for r in rows:
        expected, due = _day(r.expected_on), _day(r.earliest_due)
        items.append({
            "id": r.id, "code": r.code, "supplier_id": r.supplier_id,
            "supplier_code": r.supplier_code, "supplier": r.supplier,
            "supplier_en": r.supplier_en, "stage": r.stage, "stage_on": _iso(r.stage_on),
            "expected_on": _iso(expected), "lines": int(r.lines), "orders": int(r.orders),
            "earliest_due": _iso(due),
            "late": order_eta.is_late(r.stage, expected, due, today)})
    return {**page(items, total, lim, off), "today": today.isoformat()}
