"""The late supplier batches a salesman sees on his home page (issue 18 item 2).

A batch is late (``order_eta.batch_lateness``) when it is past its expected day, or
expected after the due date of an order it carries. The list is per order and batch
(one order may wait on several late batches; one batch may hold lines of several of
the salesman's orders), most overdue first.

Rules:
- only OPEN orders with a LIVE line in a batch not delivered; permissions as every
  order read (module ``orders``, read; ``own``: the orders the actor sells);
- SQL narrows to the candidates (expected day before today, or after the order's due
  date), the pure rule says why each one is late.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core import order_eta
from crm_core.models import Customer, OrderLine, SalesOrder, Supplier, SupplierBatch
from crm_core.orders import LIVE_LINE_STATES
from crm_core.permissions import Actor, require
from crm_core.records import business_day, check_page, current, scope_condition


async def late_batches(session: AsyncSession, actor: Actor, *, limit: object = 20,
                       now: datetime | None = None) -> dict[str, Any]:
    """``{"items": [...], "today"}``: each late (order, batch) the actor may see, with
    why it is late (``overdue_days``, ``threatens_due``)."""
    lim, _ = check_page(limit, 0)
    today = business_day(current(now))
    scope = require(actor, "orders", "read")
    stmt = (
        select(SalesOrder.id.label("order_id"), SalesOrder.number, SalesOrder.due_date,
               SalesOrder.owner_id, Customer.id.label("customer_id"),
               Customer.name.label("customer_name"), SupplierBatch.id.label("batch_id"),
               SupplierBatch.code.label("batch_code"), SupplierBatch.stage,
               SupplierBatch.expected_on, Supplier.name.label("supplier"),
               Supplier.name_en.label("supplier_en"))
        .select_from(OrderLine)
        .join(SalesOrder, SalesOrder.id == OrderLine.order_id)
        .join(Customer, Customer.id == SalesOrder.customer_id)
        .join(SupplierBatch, SupplierBatch.id == OrderLine.batch_id)
        .join(Supplier, Supplier.id == SupplierBatch.supplier_id)
        .where(SalesOrder.status == "open", OrderLine.state.in_(LIVE_LINE_STATES),
               SupplierBatch.stage != "delivered", SupplierBatch.expected_on.is_not(None),
               or_(SupplierBatch.expected_on < today,
                   and_(SalesOrder.due_date.is_not(None),
                        SupplierBatch.expected_on > SalesOrder.due_date)),
               scope_condition(actor, scope, SalesOrder.owner_id))
        .distinct()
        .order_by(SupplierBatch.expected_on, SalesOrder.id, SupplierBatch.id)
        .limit(lim))
    items = []
    for r in (await session.execute(stmt)).mappings().all():
        why = order_eta.batch_lateness(r["stage"], r["expected_on"], today,
                                       [(r["number"], r["due_date"])])
        if not why.late:
            continue
        items.append({
            **{k: r[k] for k in ("order_id", "number", "owner_id", "customer_id",
                                 "customer_name", "batch_id", "batch_code", "stage",
                                 "supplier", "supplier_en")},
            "due_date": None if r["due_date"] is None else r["due_date"].isoformat(),
            "expected_on": r["expected_on"].isoformat(),
            "overdue_days": why.overdue_days, "threatens_due": bool(why.threatened)})
    return {"items": items, "today": today.isoformat()}
