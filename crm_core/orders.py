"""Customers' orders, their lines and the supplier batches they travel in (issue 18).

An order's lines are grouped by supplier into batches (``group_lines``); a batch moves
through ``order_eta.STAGES``; where an order stands is its least advanced live line's
stage (``to_be_batched`` while a line has no batch), and it is expected when its last
batch is. One answer everywhere: the IVR, the pop (``crm_core.lookup``'s
``open_orders``) and the API read the same ``open_orders`` / ``order_view``.

Rules:
- a stage update names the BATCH (its code or id), never each order: ONE update of the
  ``supplier_batch`` row (stage, day, the stage's day in ``stage_dates``, and the new
  expected arrival from ``order_eta`` on the supplier's recent batches); an unknown
  batch is ``NotFound``, a stage before the current one ``ValidationFailed`` (the same
  stage again changes nothing: re-importing a file is harmless);
- a line without a supplier, or whose supplier has no batch yet, is "to be batched"
  (``batch_id`` NULL): it is listed there, never dropped;
- permissions: module ``orders``; an order is visible when its customer is in the
  actor's scope (``own`` also covers the orders the actor sells: ``owner_id``). A
  stage update moves lines of many customers: it needs ``orders``/``update`` scope
  ``all`` (logistics staff, admins);
- a stage update that dispatches the batch, or moves its expected day later, queues
  the customers' notices in the same transaction (``crm_core.order_notices``);
- every write is audited (module ``orders``); nothing here commits.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Dialect,
    Integer,
    Select,
    and_,
    bindparam,
    case,
    func,
    literal_column,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from crm_core import order_eta, order_notices
from crm_core.audit import audit
from crm_core.errors import NotFound, ValidationFailed
from crm_core.models import (
    Contact,
    Customer,
    OrderLine,
    ProductLine,
    SalesOrder,
    Supplier,
    SupplierBatch,
    User,
)
from crm_core.permissions import Actor, PermissionDenied, require
from crm_core.records import (
    a_date,
    business_day,
    check_page,
    current,
    integer,
    is_id,
    load_customer,
    money,
    optional_id,
    page,
    paginate,
    required_text,
    scope_condition,
    text,
    to_dict,
)

LINE_STATES = ("active", "back_ordered", "partly_delivered", "cancelled")
LIVE_LINE_STATES = ("active", "back_ordered", "partly_delivered")
ORDER_STATUSES = ("open", "closed", "cancelled")
HISTORY_BATCHES = 30  # the supplier's recent batches its forecasts are made from
MAX_LINES = 5000
ORDER_NUMBER_PREFIX = "SO"


@dataclass(frozen=True)
class OrderStatus:
    """Where one open order stands: the stage of its least advanced live line, and the
    day its last batch is expected (None while a line waits to be batched)."""

    order_id: int
    number: str
    due_date: date | None
    stage: str
    expected_on: date | None
    back_ordered: bool
    late: bool


# --- SQL pieces shared with the pop -----------------------------------------------------

def stage_rank(batch_stage: Any, batch_id: Any) -> Any:
    """SQL: the rank (``order_eta.RANK``) of a line's stage; 0 when it has no batch."""
    whens: list[tuple[Any, Any]] = [
        (batch_stage == literal_column(f"'{s}'"), literal_column(str(r)))
        for s, r in order_eta.RANK.items() if s != order_eta.TO_BE_BATCHED]
    return case((batch_id.is_(None), literal_column("0")), *whens, else_=literal_column("0"))


def live_states() -> list[Any]:
    return [literal_column(f"'{s}'") for s in LIVE_LINE_STATES]


def stage_of_rank(value: object) -> str:
    """The stage word of a rank from SQL (an unexpected value reads as to be batched)."""
    r = int(value) if isinstance(value, int | float) else 0
    names = {v: k for k, v in order_eta.RANK.items()}
    return names.get(r, order_eta.TO_BE_BATCHED)


def _stand_columns() -> list[Any]:
    rank = stage_rank(SupplierBatch.stage, OrderLine.batch_id)
    return [SalesOrder.id, SalesOrder.number, SalesOrder.due_date,
            func.min(rank).label("rank"),
            func.max(SupplierBatch.expected_on).label("expected_on"),
            func.max(case((OrderLine.state == literal_column("'back_ordered'"),
                           literal_column("1")), else_=literal_column("0")))
            .label("back_ordered")]


def open_orders_query(customer_id: Any, limit: int) -> Select[Any]:
    """One statement: the customer's ``limit`` newest open orders, each with the rank of
    its least advanced live line, its last expected day and whether a line is
    back-ordered. Orders come from (customer_id, status, id), their lines from
    (order_id, state, batch_id), batches by primary key."""
    newest = (select(SalesOrder.id).where(SalesOrder.customer_id == customer_id,
                                          SalesOrder.status == literal_column("'open'"))
              .order_by(SalesOrder.id.desc()).limit(limit).subquery("keep"))
    return (
        select(*_stand_columns())
        .select_from(newest.join(SalesOrder, SalesOrder.id == newest.c.id)
                     .join(OrderLine, OrderLine.order_id == SalesOrder.id)
                     .outerjoin(SupplierBatch, SupplierBatch.id == OrderLine.batch_id))
        .where(OrderLine.state.in_(live_states()))
        .group_by(SalesOrder.id, SalesOrder.number, SalesOrder.due_date)
        .order_by(SalesOrder.id.desc())
    )


def stands_query(condition: Any) -> Select[Any]:
    """Where the orders matching ``condition`` stand (one row per order with a live line)."""
    return (select(*_stand_columns())
            .join(OrderLine, OrderLine.order_id == SalesOrder.id)
            .outerjoin(SupplierBatch, SupplierBatch.id == OrderLine.batch_id)
            .where(condition, OrderLine.state.in_(live_states()))
            .group_by(SalesOrder.id, SalesOrder.number, SalesOrder.due_date))


def order_status(row: Mapping[str, Any] | Any, today: date) -> OrderStatus:
    """An ``open_orders_query`` row as an ``OrderStatus`` (pure)."""
    stage = stage_of_rank(row["rank"])
    expected = row["expected_on"]
    if isinstance(expected, str):
        expected = date.fromisoformat(expected)
    if stage == order_eta.TO_BE_BATCHED:
        expected = None
    due = row["due_date"]
    if isinstance(due, str):
        due = date.fromisoformat(due)
    return OrderStatus(
        order_id=int(row["id"]), number=str(row["number"]), due_date=due, stage=stage,
        expected_on=expected, back_ordered=bool(row["back_ordered"]),
        late=order_eta.is_late(stage, expected, due, today))


@dataclass(frozen=True)
class _Compiled:
    sql: str
    names: tuple[str, ...]  # positional parameters
    constants: dict[str, Any]  # their values, but the customer id's
    columns: tuple[str, ...]

    def args(self, customer_id: int) -> list[Any]:
        return [customer_id if n == "customer_id" else self.constants[n] for n in self.names]


_OPEN_SQL: dict[tuple[str, str, int], _Compiled] = {}


def _open_sql(dialect: Dialect, limit: int) -> _Compiled:
    """``open_orders_query`` compiled once per dialect, driver and limit."""
    key = (dialect.name, dialect.driver, limit)
    found = _OPEN_SQL.get(key)
    if found is None:
        stmt = open_orders_query(bindparam("customer_id", type_=Integer), limit)
        comp = stmt.compile(dialect=dialect)
        found = _OPEN_SQL[key] = _Compiled(
            str(comp), tuple(comp.positiontup or ()),
            dict(comp.construct_params({"customer_id": 0}, _check=False)),
            tuple(stmt.selected_columns.keys()))
    return found


async def open_orders(session: AsyncSession, customer_id: int, today: date, *,
                      limit: int = 3) -> list[OrderStatus]:
    """The customer's newest open orders and where each stands (no permission check:
    for the IVR, which acts for the caller the number identified). On aiosqlite and
    asyncpg the SQL compiled once goes straight to the driver connection (in the
    session's transaction), as the pop's lookup does: the IVR's budget is a few ms."""
    conn = await session.connection()
    if conn.dialect.driver not in ("aiosqlite", "asyncpg"):
        rows = (await conn.execute(open_orders_query(customer_id, limit))).mappings().all()
        return [order_status(r, today) for r in rows]
    stmt = _open_sql(conn.dialect, limit)
    driver: Any = (await conn.get_raw_connection()).driver_connection
    if conn.dialect.driver == "aiosqlite":
        raw = await driver.execute_fetchall(stmt.sql, stmt.args(customer_id))
    else:
        raw = await driver.fetch(stmt.sql, *stmt.args(customer_id))
    return [order_status(dict(zip(stmt.columns, r, strict=True)), today) for r in raw]


async def order_by_number(session: AsyncSession, keyed: str,
                          today: date) -> OrderStatus | None:
    """The order whose number is ``keyed`` (its digits, with or without the ``SO``
    prefix), with where it stands; None when there is none (or no live line)."""
    if not keyed.isascii() or not keyed.isdigit() or len(keyed) > 20:
        return None
    numbers = [keyed, f"{ORDER_NUMBER_PREFIX}{keyed}"]
    row = (await session.execute(stands_query(SalesOrder.number.in_(numbers))
                                 .limit(1))).mappings().first()
    return None if row is None else order_status(row, today)


# --- suppliers and batches --------------------------------------------------------------

async def supplier_by_code(session: AsyncSession, code: str) -> Supplier | None:
    return await session.scalar(select(Supplier).where(Supplier.code == code))


async def add_supplier(session: AsyncSession, actor: Actor, *, code: object, name: object,
                       name_en: object = None, country: object = None) -> Supplier:
    require_batch_writer(actor, "create")
    row = Supplier(code=required_text(code, "code", max_len=40),
                   name=required_text(name, "name"), name_en=text(name_en, "name_en"),
                   country=text(country, "country", max_len=40))
    if await supplier_by_code(session, row.code) is not None:
        raise ValidationFailed("code", f"supplier {row.code!r} exists")
    session.add(row)
    await session.flush()
    return row


def require_batch_writer(actor: Actor, operation: str) -> None:
    """Batches and suppliers span customers: only scope ``all`` may write them
    (``PermissionDenied`` otherwise)."""
    if require(actor, "orders", operation) != "all":
        raise PermissionDenied("orders", f"{operation} (all customers)")


async def _history(session: AsyncSession, supplier_id: int,
                   exclude: int | None) -> list[Mapping[str, Any]]:
    stmt = (select(SupplierBatch.stage_dates).where(SupplierBatch.supplier_id == supplier_id)
            .order_by(SupplierBatch.id.desc()).limit(HISTORY_BATCHES))
    if exclude is not None:
        stmt = stmt.where(SupplierBatch.id != exclude)
    return [d for d in (await session.scalars(stmt)).all() if isinstance(d, Mapping)]


async def group_lines(session: AsyncSession, actor: Actor, supplier_id: int, *,
                      code: object, on: object = None,
                      now: datetime | None = None) -> dict[str, Any]:
    """A new batch (stage ``ordered`` on ``on``) of every line of ``supplier_id`` still
    to be batched; ``ValidationFailed`` when there is none."""
    require_batch_writer(actor, "update")
    batch_code = required_text(code, "code", max_len=60)
    day = a_date(on, "on") or business_day(current(now))
    if await session.get(Supplier, supplier_id) is None:
        raise NotFound("supplier", supplier_id)
    if await session.scalar(select(SupplierBatch.id).where(
            SupplierBatch.code == batch_code)) is not None:
        raise ValidationFailed("code", f"batch {batch_code!r} exists")
    waiting = (await session.scalars(select(OrderLine).where(
        OrderLine.supplier_id == supplier_id, OrderLine.batch_id.is_(None),
        OrderLine.state.in_(LIVE_LINE_STATES)))).all()
    if not waiting:
        raise ValidationFailed("supplier_id", "no line of this supplier is waiting")
    usual = order_eta.usual_days(await _history(session, supplier_id, None))
    batch = SupplierBatch(code=batch_code, supplier_id=supplier_id, stage="ordered",
                          stage_on=day, stage_dates={"ordered": day.isoformat()},
                          expected_on=order_eta.expected_arrival("ordered", day, usual, day))
    session.add(batch)
    await session.flush()
    for line in waiting:
        line.batch_id = batch.id
    audit(session, user_id=actor.user_id, action="create", entity="supplier_batch",
          entity_id=batch.id, after={"code": batch.code, "lines": len(waiting)})
    await session.flush()
    return batch_view(batch)


def batch_view(batch: SupplierBatch) -> dict[str, Any]:
    return to_dict(batch)


async def find_batch(session: AsyncSession, ref: object) -> SupplierBatch | None:
    """A batch by its code, or by its id (an int, or digits that are no batch code)."""
    if isinstance(ref, int) and not isinstance(ref, bool):
        return await session.get(SupplierBatch, ref) if is_id(ref) else None
    if not isinstance(ref, str) or not ref.strip():
        return None
    found = await session.scalar(select(SupplierBatch).where(
        SupplierBatch.code == ref.strip()))
    if found is None and ref.strip().isdigit() and is_id(int(ref.strip())):
        found = await session.get(SupplierBatch, int(ref.strip()))
    return found


async def update_stage(session: AsyncSession, actor: Actor, ref: object, stage: object,
                       on: object = None, *, now: datetime | None = None) -> dict[str, Any]:
    """Move the batch ``ref`` (code or id) to ``stage`` on day ``on`` (today by default);
    one UPDATE of the batch row. ``changed`` is False for the stage it is already at."""
    require_batch_writer(actor, "update")
    word = stage.strip().lower() if isinstance(stage, str) else stage
    if word not in order_eta.STAGES:
        raise ValidationFailed("stage", f"must be one of {', '.join(order_eta.STAGES)}")
    assert isinstance(word, str)
    today = business_day(current(now))
    day = a_date(on, "on") or today
    batch = await find_batch(session, ref)
    if batch is None:
        raise NotFound("batch", ref)
    if not order_eta.can_move(batch.stage, word):
        raise ValidationFailed(
            "stage", f"batch {batch.code} is at {batch.stage}: it cannot go back to {word}")
    if word == batch.stage:
        return {**batch_view(batch), "changed": False}
    if day < batch.stage_on:
        raise ValidationFailed(
            "on", f"{day.isoformat()} is before batch {batch.code} reached "
                  f"{batch.stage} ({batch.stage_on.isoformat()})")
    usual = order_eta.usual_days(await _history(session, batch.supplier_id, batch.id))
    before = {"stage": batch.stage, "stage_on": batch.stage_on.isoformat()}
    was_stage, was_expected = batch.stage, batch.expected_on
    batch.stage, batch.stage_on = word, day
    batch.stage_dates = {**(batch.stage_dates or {}), word: day.isoformat()}
    batch.expected_on = order_eta.expected_arrival(word, day, usual, max(today, day))
    audit(session, user_id=actor.user_id, action="update", entity="supplier_batch",
          entity_id=batch.id, before=before,
          after={"stage": word, "stage_on": day.isoformat()})
    await session.flush()
    # dispatched, or expected later than before: the customers are told (the outbox)
    await order_notices.tell(session, batch,
                             order_notices.events_of_move(was_stage, was_expected, batch))
    return {**batch_view(batch), "changed": True}


# --- orders -----------------------------------------------------------------------------

def _line(data: Mapping[str, Any], n: int, suppliers: Mapping[str, int],
          product_lines: Mapping[str, int]) -> OrderLine:
    f = f"lines[{n}]"
    if not isinstance(data, Mapping):
        raise ValidationFailed(f, "must be an object")
    supplier = text(data.get("supplier"), f"{f}.supplier", max_len=40)
    if supplier is not None and supplier not in suppliers:
        raise ValidationFailed(f"{f}.supplier", f"no supplier {supplier!r}")
    product_line = text(data.get("product_line"), f"{f}.product_line", max_len=40)
    if product_line is not None and product_line not in product_lines:
        raise ValidationFailed(f"{f}.product_line", f"no product line {product_line!r}")
    state = data.get("state", "active")
    if state not in LINE_STATES:
        raise ValidationFailed(f"{f}.state", f"must be one of {', '.join(LINE_STATES)}")
    return OrderLine(
        title=required_text(data.get("title"), f"{f}.title", max_len=300),
        ref=text(data.get("ref"), f"{f}.ref", max_len=60),
        quantity=integer(data.get("quantity", 1), f"{f}.quantity", low=1, high=10**6),
        price=money(data.get("price"), f"{f}.price"),
        unit_cost=money(data.get("unit_cost"), f"{f}.unit_cost"),
        product_line_id=None if product_line is None else product_lines[product_line],
        supplier_id=None if supplier is None else suppliers[supplier], state=state)


async def create_order(session: AsyncSession, actor: Actor, customer_id: object, *,
                       lines: Sequence[Mapping[str, Any]], number: object = None,
                       due_date: object = None, contact_id: object = None,
                       owner_id: object = None, note: object = None,
                       now: datetime | None = None) -> dict[str, Any]:
    """A new open order with its lines (each ``{title, ref, quantity, price, supplier
    (code), unit_cost, product_line (code)}``); every line starts to be batched.
    ``owner_id`` (the salesman) defaults to the actor."""
    customer = await load_customer(session, actor, customer_id, "orders", "create")
    if not isinstance(lines, Sequence) or isinstance(lines, str) or not lines:
        raise ValidationFailed("lines", "an order needs at least one line")
    if len(lines) > MAX_LINES:
        raise ValidationFailed("lines", f"more than {MAX_LINES} lines")
    codes = {c for ln in lines if isinstance(ln, Mapping)
             and isinstance(c := ln.get("supplier"), str)}
    suppliers = {s.code: s.id for s in (await session.scalars(
        select(Supplier).where(Supplier.code.in_(codes)))).all()} if codes else {}
    line_codes = {c for ln in lines if isinstance(ln, Mapping)
                  and isinstance(c := ln.get("product_line"), str)}
    product_lines = {p.code: p.id for p in (await session.scalars(
        select(ProductLine).where(ProductLine.code.in_(line_codes)))).all()} \
        if line_codes else {}
    rows = [_line(ln, i, suppliers, product_lines) for i, ln in enumerate(lines)]
    wanted = text(number, "number", max_len=40)
    if wanted is not None and await session.scalar(
            select(SalesOrder.id).where(SalesOrder.number == wanted)) is not None:
        raise ValidationFailed("number", f"order {wanted!r} exists")
    order = SalesOrder(
        number=wanted or f"tmp-{uuid.uuid4().hex}", customer_id=customer.id,
        contact_id=optional_id(contact_id, "contact_id"),
        owner_id=optional_id(owner_id, "owner_id") or actor.user_id,
        due_date=a_date(due_date, "due_date"), note=text(note, "note", max_len=2000),
        created_at=current(now))
    session.add(order)
    await session.flush()
    if wanted is None:
        order.number = f"{ORDER_NUMBER_PREFIX}{order.id:06d}"
    for row in rows:
        row.order_id = order.id
    session.add_all(rows)
    audit(session, user_id=actor.user_id, action="create", entity="sales_order",
          entity_id=order.id, after={"number": order.number, "lines": len(rows)})
    await session.flush()
    return await order_view(session, actor, order.id, now=now)


def _visible(actor: Actor, operation: str) -> Any:
    scope = require(actor, "orders", operation)
    return scope_condition(actor, scope, SalesOrder.owner_id)


async def order_view(session: AsyncSession, actor: Actor, order_id: object, *,
                     now: datetime | None = None) -> dict[str, Any]:
    """One order: its lines, each with its batch's stage and expected day, and the
    timeline of every batch (the stages' days), plus where the order stands."""
    condition = _visible(actor, "read")
    if not is_id(order_id):
        raise NotFound("order", order_id)
    found_order = (await session.execute(
        select(SalesOrder, Customer.name, Contact.name, Contact.role, User.display_name)
        .join(Customer, Customer.id == SalesOrder.customer_id)
        .outerjoin(Contact, Contact.id == SalesOrder.contact_id)
        .outerjoin(User, User.id == SalesOrder.owner_id)
        .where(SalesOrder.id == order_id, condition))).first()
    if found_order is None:
        raise NotFound("order", order_id)
    order, customer_name, contact_name, contact_role, owner_name = found_order
    who = {"customer_name": customer_name, "contact_name": contact_name,
           "contact_role": contact_role, "owner_name": owner_name}
    today = business_day(current(now))
    found = (await session.execute(
        select(OrderLine, SupplierBatch, Supplier)
        .outerjoin(SupplierBatch, SupplierBatch.id == OrderLine.batch_id)
        .outerjoin(Supplier, Supplier.id == func.coalesce(SupplierBatch.supplier_id,
                                                          OrderLine.supplier_id))
        .where(OrderLine.order_id == order.id).order_by(OrderLine.id))).all()
    lines, batches = [], {}
    for line, batch, supplier in found:
        stage = batch.stage if batch is not None else order_eta.TO_BE_BATCHED
        lines.append({**to_dict(line), "stage": stage,
                      "expected_on": None if batch is None or batch.expected_on is None
                      else batch.expected_on.isoformat(),
                      "batch_code": None if batch is None else batch.code,
                      "supplier": None if supplier is None else supplier.name})
        if batch is not None and batch.id not in batches:
            batches[batch.id] = {
                **batch_view(batch), "supplier": None if supplier is None else supplier.name,
                "supplier_en": None if supplier is None else supplier.name_en,
                "late": order_eta.is_late(batch.stage, batch.expected_on, order.due_date,
                                          today),
                "timeline": [{"stage": s, "on": batch.stage_dates[s]}
                             for s in order_eta.STAGES if s in (batch.stage_dates or {})]}
    status = order_status(_summary(order, lines), today)
    return {**to_dict(order), **who, "stage": status.stage,
            "expected_on": None if status.expected_on is None
            else status.expected_on.isoformat(),
            "late": status.late, "lines": lines, "batches": list(batches.values())}


def _summary(order: SalesOrder, lines: list[dict[str, Any]]) -> dict[str, Any]:
    live = [ln for ln in lines if ln["state"] in LIVE_LINE_STATES]
    expected = [ln["expected_on"] for ln in live if ln["expected_on"] is not None]
    return {"id": order.id, "number": order.number, "due_date": order.due_date,
            "rank": min((order_eta.RANK[ln["stage"]] for ln in live),
                        default=order_eta.RANK["delivered"]),
            "expected_on": max(expected, default=None),
            "back_ordered": any(ln["state"] == "back_ordered" for ln in live)}


def late_orders_query(today: date) -> Select[Any]:
    """SQL: the ids of the orders ``order_status`` calls late, by the same rule
    (``order_eta.is_late`` on the order's least advanced live line and its last expected
    day): every live line batched, not all delivered, and the last expected day past,
    or after the due date."""
    rank = stage_rank(SupplierBatch.stage, OrderLine.batch_id)
    last = func.max(SupplierBatch.expected_on)
    return (select(SalesOrder.id)
            .join(OrderLine, OrderLine.order_id == SalesOrder.id)
            .outerjoin(SupplierBatch, SupplierBatch.id == OrderLine.batch_id)
            .where(OrderLine.state.in_(live_states()))
            .group_by(SalesOrder.id, SalesOrder.due_date)
            .having(func.min(rank) > 0,
                    func.min(rank) < order_eta.RANK["delivered"],
                    or_(last < today, and_(SalesOrder.due_date.is_not(None),
                                           last > SalesOrder.due_date))))


async def list_orders(session: AsyncSession, actor: Actor, *, customer_id: object = None,
                      status: object = None, owner_id: object = None,
                      customer: object = None, due_before: object = None,
                      late: bool = False,
                      limit: object = 50, offset: object = 0,
                      now: datetime | None = None) -> dict[str, Any]:
    """Orders the actor may see, newest first, each with where it stands; filtered by
    customer (its id, or ``customer``: part of its name), status, salesman
    (``owner_id``), due date (on or before ``due_before``) and ``late`` (only the orders
    flagged late)."""
    lim, off = check_page(limit, offset)
    today = business_day(current(now))
    owner = aliased(User)
    stmt = (select(SalesOrder.id, SalesOrder.number, SalesOrder.customer_id,
                   Customer.name.label("customer_name"), SalesOrder.owner_id,
                   owner.display_name.label("owner_name"),
                   SalesOrder.due_date, SalesOrder.status, SalesOrder.created_at)
            .join(Customer, Customer.id == SalesOrder.customer_id)
            .outerjoin(owner, owner.id == SalesOrder.owner_id)
            .where(_visible(actor, "read")).order_by(SalesOrder.id.desc()))
    if owner_id is not None:
        stmt = stmt.where(SalesOrder.owner_id == optional_id(owner_id, "owner_id"))
    named = text(customer, "customer", max_len=100)
    if named is not None:
        stmt = stmt.where(Customer.name.contains(named, autoescape=True))
    due = a_date(due_before, "due_before")
    if due is not None:
        stmt = stmt.where(SalesOrder.due_date <= due)
    if late:
        stmt = stmt.where(SalesOrder.id.in_(late_orders_query(today)))
    if customer_id is not None:
        await load_customer(session, actor, customer_id, "orders", "read")
        stmt = stmt.where(SalesOrder.customer_id == customer_id)
    if status is not None:
        if status not in ORDER_STATUSES:
            raise ValidationFailed("status", f"must be one of {', '.join(ORDER_STATUSES)}")
        stmt = stmt.where(SalesOrder.status == status)
    rows, total = await paginate(session, stmt, lim, off)
    stands = await _stands(session, [r.id for r in rows], today)
    items = [{**dict(r._mapping), "due_date": None if r.due_date is None
              else r.due_date.isoformat(), "created_at": r.created_at.isoformat(),
              **stands.get(r.id, {"stage": "delivered", "expected_on": None, "late": False})}
             for r in rows]
    return page(items, total, lim, off)


async def _stands(session: AsyncSession, ids: list[int],
                  today: date) -> dict[int, dict[str, Any]]:
    if not ids:
        return {}
    rows = (await session.execute(stands_query(SalesOrder.id.in_(ids)))).mappings().all()
    out = {}
    for r in rows:
        s = order_status(r, today)
        out[s.order_id] = {"stage": s.stage, "late": s.late, "expected_on":
                           None if s.expected_on is None else s.expected_on.isoformat()}
    return out


async def to_be_batched(session: AsyncSession, actor: Actor, *,
                        limit: object = 50, offset: object = 0) -> dict[str, Any]:
    """Live lines with no batch yet (no supplier named, or not grouped), oldest first."""
    lim, off = check_page(limit, offset)
    stmt = (select(OrderLine.id, OrderLine.order_id, SalesOrder.number, OrderLine.title,
                   OrderLine.ref, OrderLine.quantity, OrderLine.supplier_id)
            .join(SalesOrder, SalesOrder.id == OrderLine.order_id)
            .join(Customer, Customer.id == SalesOrder.customer_id)
            .where(OrderLine.batch_id.is_(None), OrderLine.state.in_(LIVE_LINE_STATES),
                   _visible(actor, "read")).order_by(OrderLine.id))
    rows, total = await paginate(session, stmt, lim, off)
    return page([dict(r._mapping) for r in rows], total, lim, off)
