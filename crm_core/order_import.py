"""Import of customers' orders (issue 18 item 1): the sheet another department's system
exports, one row per order LINE, the order's own columns repeated on each of its rows
(or written on its first row only: a row with no order number continues the order
above it).

Columns, found by their headers (Chinese or English): the order number (订单号); the
customer by our code (客户编号: the CRM's customer id), by phone (客户电话) or by name
(客户名称); the contact (联系人); the salesman's username or name (业务员); the due
date (交货日期); and the line: title or product (书名/品名), ISBN or model, quantity,
price, supplier (供应商/出版社: its code or name).

Rules:
- the file is read as the other imports read it (CSV in any of its encodings and
  separators, or XLSX); every problem is reported with the row number the spreadsheet
  shows (``RowIssue``), in the same error report, through the same import jobs;
- an order is judged as a whole for its customer and salesman: an unknown or ambiguous
  customer, or an unknown salesman, is reported on the row that names it and the order
  is skipped (each of its other rows says so: no row disappears silently); a bad LINE
  (no title, a quantity that is no positive number, a bad price) is reported and only
  that line is skipped;
- a line without a supplier is kept "to be batched" (``batch_id`` NULL, no supplier),
  never dropped; a supplier the database does not know is created (code from its name:
  the exporting department's system is where the publishers are kept) AND reported: a
  ``notice`` (not an error: the row is imported) on the first row naming it, with the
  new code, so a misspelt publisher is seen and fixed rather than silently doubled;
- re-importing an order number UPDATES that order (due date, salesman, contact when
  given; a line is the same line when its ISBN/model, else its title, matches: its
  quantity and price are updated, its supplier too while it waits to be batched; new
  lines are added; lines missing from the file are left as they are): never a second
  order. An order number that belongs to another customer is refused;
- each order is written in a savepoint of one transaction (a failing order writes
  nothing and never stops the others); ``dry_run`` checks everything and writes nothing;
- who may: ``orders``/``create`` and ``orders``/``update`` at scope ``all``
  (``crm_core.import_rights``): the file names many salesmen's customers.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_core.audit import audit
from crm_core.errors import NotFound, ValidationFailed
from crm_core.import_messages import CodedError, Msg
from crm_core.import_rights import require_import
from crm_core.importer import (
    ImportContext,
    ImportResult,
    KnownCustomer,
    RowIssue,
    Table,
    cell_text,
    load_context,
    name_key_function,
    norm_header,
    parse_date,
    parse_money,
    raw_sheets,
)
from crm_core.models import Contact, Customer, OrderLine, SalesOrder, Supplier
from crm_core.permissions import Actor
from numbering.normalize import normalize

ProgressFn = Callable[[int, int], None]

HEADERS: dict[str, tuple[str, ...]] = {
    "number": ("订单号", "订单编号", "订单", "销售订单号", "合同号", "order", "order no",
               "order number", "order id", "so", "so no", "sales order"),
    "customer_code": ("客户编号", "客户编码", "客户代码", "客户id", "customer code",
                      "customer id", "customer no", "cust no", "account no"),
    "customer": ("客户名称", "客户", "单位名称", "单位", "订货单位", "customer",
                 "customer name", "account", "company"),
    "phone": ("客户电话", "电话", "联系电话", "手机", "phone", "tel", "telephone", "mobile"),
    "contact": ("联系人", "联系人姓名", "contact", "contact name", "contact person"),
    "salesman": ("业务员", "销售", "销售员", "销售人员", "客户经理", "负责人", "salesman",
                 "sales", "sales rep", "salesperson", "owner", "account manager"),
    "due": ("交货日期", "要求到货日期", "到货期限", "截止日期", "交期", "需求日期", "due",
            "due date", "deliver by", "required by", "need by"),
    "title": ("书名", "品名", "产品", "产品名称", "商品", "商品名称", "名称", "配件名称",
              "title", "product", "item", "description", "part"),
    "ref": ("isbn", "型号", "规格型号", "物料号", "货号", "零件号", "ref", "model",
            "part no", "part number", "sku"),
    "quantity": ("数量", "订数", "册数", "qty", "quantity", "copies"),
    "price": ("单价", "价格", "price", "unit price"),
    "supplier": ("供应商", "出版社", "出版商", "厂商", "厂家", "supplier", "publisher",
                 "vendor", "maker"),
}
_HEADER = {norm_header(w): f for f, words in HEADERS.items() for w in words}
ORDER_FIELDS = ("customer_code", "customer", "phone", "contact", "salesman", "due")
MAX_QUANTITY = 10**6
_DIGITS = re.compile(r"^[Cc]?(\d{1,10})$")  # our customer code: the id, C123 or 123


# --- reading (blocking: run in a thread) ------------------------------------------------

def columns_of(headers: Sequence[str]) -> dict[str, int]:
    """``{field: column index}`` of the first column naming each field."""
    found: dict[str, int] = {}
    for i, header in enumerate(headers):
        name = _HEADER.get(norm_header(header))
        if name is not None and name not in found:
            found[name] = i
    return found


def _table(name: str, raw: list[list[object]]) -> Table | None:
    # the header row: the first of the first ten naming two fields (a title line such as
    # 2026年秋季订单 above it is skipped)
    header_at = next((i for i, cells in enumerate(raw[:10])
                      if len(columns_of([cell_text(c) for c in cells])) >= 2), None)
    if header_at is None:
        return None
    headers = [cell_text(c) for c in raw[header_at]]
    rows = [(header_at + 2 + i, cells) for i, cells in enumerate(raw[header_at + 1:])
            if any(cell_text(c) for c in cells)]
    return Table(name, "orders", headers, rows)


def read_tables(path: str | Path) -> list[Table]:
    """The order tables of a CSV/TXT file or of every XLSX sheet with order columns."""
    tables: list[Table] = []
    for sheet in raw_sheets(path):
        table = _table(sheet.name, sheet.rows)
        if table is None:
            continue
        if sheet.encoding is not None:
            table.notes.append(Msg("note_encoding", {"file": sheet.name,
                                                     "encoding": sheet.encoding}))
        tables.append(table)
    return tables


# --- one row (pure) -----------------------------------------------------------------------

@dataclass(frozen=True)
class LineRow:
    """One usable row: its order's number and own columns (as written on this row:
    empty on a continuation row) and its line."""

    row: int
    number: str
    order: dict[str, str]  # ORDER_FIELDS -> text ("" when the row leaves it empty)
    due: date | None
    title: str
    ref: str | None
    quantity: int
    price: Decimal | None
    supplier: str | None


def _issue(table: Table, cols: dict[str, int], row: int, name: str, value: str,
           msg: Msg, kind: str = "error") -> RowIssue:
    column = table.headers[cols[name]] if name in cols else name
    return RowIssue(table.name, row, column, value, msg.text, kind=kind, code=msg.code,
                    params=dict(msg.params))


def parse_row(table: Table, cols: dict[str, int], row: int, cells: Sequence[object],
              number: str) -> LineRow | RowIssue:
    """One row as a ``LineRow`` of order ``number`` (the row's own, or the order above
    it), or the issue that makes its line unusable."""
    def cell(name: str) -> str:
        i = cols.get(name)
        return cell_text(cells[i]) if i is not None and i < len(cells) else ""

    def raw(name: str) -> object:
        i = cols.get(name)
        return cells[i] if i is not None and i < len(cells) else None

    if not number:
        return _issue(table, cols, row, "number", "", Msg("order_number_missing"))
    title, ref = cell("title"), cell("ref") or None
    if not title:
        if ref is None:
            return _issue(table, cols, row, "title", "", Msg("order_title_missing"))
        title = ref  # a spare part known by its model only
    quantity_text = cell("quantity")
    quantity = 1
    if quantity_text:
        try:
            quantity = int(Decimal(quantity_text.replace(",", "")))
            if Decimal(quantity_text.replace(",", "")) != quantity:
                raise ValueError(quantity_text)
        except (ArithmeticError, ValueError):
            quantity = 0
        if not 1 <= quantity <= MAX_QUANTITY:
            return _issue(table, cols, row, "quantity", quantity_text,
                          Msg("order_quantity_invalid", {"max": MAX_QUANTITY}))
    try:
        price = parse_money(raw("price"))
    except CodedError as exc:
        return _issue(table, cols, row, "price", cell("price"), exc.msg)
    due: date | None = None
    try:
        due = parse_date(raw("due"))
    except CodedError as exc:
        return _issue(table, cols, row, "due", cell("due"), exc.msg)
    except ValueError:
        return _issue(table, cols, row, "due", cell("due"), Msg("date_invalid"))
    return LineRow(row=row, number=number, order={f: cell(f) for f in ORDER_FIELDS},
                   due=due, title=title[:300], ref=None if ref is None else ref[:60],
                   quantity=quantity, price=price, supplier=cell("supplier") or None)


def order_numbers(table: Table, cols: dict[str, int]) -> list[str]:
    """Each row's order number: its own, else the one of the row above (a continuation
    row); "" for rows before any number."""
    out, last = [], ""
    i = cols.get("number")
    for _, cells in table.rows:
        own = cell_text(cells[i]) if i is not None and i < len(cells) else ""
        last = own[:40] or last
        out.append(last)
    return out


@dataclass
class OrderDraft:
    """One order of the file: its rows (in file order) and its own columns, each taken
    from the first of its rows that fills it (with that row, to report it)."""

    number: str
    lines: list[LineRow] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)  # every row of it, bad lines too
    order: dict[str, tuple[str, int]] = field(default_factory=dict)
    due: tuple[date, int] | None = None

    def add(self, line: LineRow) -> None:
        self.lines.append(line)
        for name, value in line.order.items():
            if value and name not in self.order:
                self.order[name] = (value, line.row)
        if line.due is not None and self.due is None:
            self.due = (line.due, line.row)


def resolve_customer(ctx: ImportContext, draft: OrderDraft, name_key: Callable[[str], str]
                     ) -> tuple[KnownCustomer | None, str, Msg | None]:
    """The customer an order names: by our code, else its phone, else its name (pure,
    on the context); (customer, the field that named it, the problem)."""
    code = draft.order.get("customer_code")
    if code is not None:
        m = _DIGITS.match(code[0])
        found = ctx.by_id.get(int(m[1])) if m else None
        if found is None:
            return None, "customer_code", Msg("order_customer_unknown", {"customer": code[0]})
        return found, "customer_code", None
    phone = draft.order.get("phone")
    if phone is not None:
        e164 = normalize(phone[0])
        found = ctx.by_phone.get(e164) if e164 else None
        if found is not None:
            return found, "phone", None
    name = draft.order.get("customer")
    if name is not None:
        named = ctx.named(name_key(name[0]), name[0])
        if len(named) == 1:
            return named[0], "customer", None
        if len(named) > 1:
            return None, "customer", Msg("customer_name_ambiguous")
        return None, "customer", Msg("order_customer_unknown", {"customer": name[0]})
    if phone is not None:
        return None, "phone", Msg("order_customer_unknown", {"customer": phone[0]})
    return None, "customer", Msg("customer_missing")


def supplier_code(name: str, taken: set[str]) -> str:
    """A new supplier's code from its name (``Oxford University Press`` ->
    ``OXFORD-UNIVERSITY-PRESS``), made unique against ``taken`` (casefolded codes)."""
    base = re.sub(r"[^0-9A-Za-z\u4e00-\u9fff]+", "-", name.strip()).strip("-").upper()[:36]
    base = base or "SUPPLIER"
    code, n = base, 1
    while code.casefold() in taken:
        n += 1
        code = f"{base}-{n}"
    return code


# --- the run ------------------------------------------------------------------------------

@dataclass
class _Run:
    actor: Actor
    result: ImportResult
    ctx: ImportContext
    name_key: Callable[[str], str]
    suppliers: dict[str, Supplier]  # casefolded code, name, English name -> supplier
    progress: ProgressFn | None
    total: int
    done: int = 0
    # the table being written, and the suppliers its current order created, each with
    # its notice (reported once the order is written)
    table: Table | None = None
    cols: dict[str, int] = field(default_factory=dict)
    fresh: list[tuple[Supplier, RowIssue]] = field(default_factory=list)

    def tick(self, n: int) -> None:
        self.done += n
        if self.progress is not None:
            self.progress(self.done, self.total)


async def import_orders(
    sessionmaker: async_sessionmaker[AsyncSession], path: str | Path, *, actor: Actor,
    dry_run: bool = False, progress: ProgressFn | None = None,
    now: datetime | None = None,
) -> ImportResult:
    """Import the orders of ``path`` (see the module rules). ValueError for a file that
    cannot be used at all (unreadable, no order number or title column)."""
    require_import(actor, "orders")
    tables = await asyncio.to_thread(read_tables, path)
    if not tables:
        raise CodedError("order_columns_missing", sheet=Path(path).name, headers="")
    result = ImportResult(dry_run=dry_run, duplicate_guard="", created={
        "orders": 0, "orders_updated": 0, "lines": 0, "lines_updated": 0,
        "to_be_batched": 0, "suppliers": 0})
    for table in tables:
        for note in table.notes:
            result.note(note)
        missing = [f for f in ("number",) if f not in columns_of(table.headers)]
        if missing or not {"title", "ref"} & set(columns_of(table.headers)):
            raise CodedError("order_columns_missing", sheet=table.name,
                             headers=", ".join(h for h in table.headers if h))
    async with sessionmaker() as session, session.begin():
        name_key = name_key_function()
        run = _Run(actor, result, await load_context(session, name_key), name_key,
                   await _suppliers(session), progress, sum(len(t.rows) for t in tables))
        for table in tables:
            await _import_table(session, run, table, now)
        if dry_run:
            await session.rollback()
    return result


async def _suppliers(session: AsyncSession) -> dict[str, Supplier]:
    out: dict[str, Supplier] = {}
    for s in (await session.scalars(select(Supplier).order_by(Supplier.id))).all():
        for label in (s.code, s.name, s.name_en):
            if label:
                out.setdefault(label.casefold(), s)
    return out


async def _import_table(session: AsyncSession, run: _Run, table: Table,
                        now: datetime | None) -> None:
    cols = columns_of(table.headers)
    drafts: dict[str, OrderDraft] = {}
    first_issue = len(run.result.issues)
    for (row, cells), number in zip(table.rows, order_numbers(table, cols), strict=True):
        run.result.rows += 1
        parsed = parse_row(table, cols, row, cells, number)
        if number:
            drafts.setdefault(number, OrderDraft(number)).rows.append(row)
        if isinstance(parsed, RowIssue):
            _reject(run.result, parsed)
            if not number:
                run.tick(1)
            continue
        drafts[number].add(parsed)
    for draft in drafts.values():
        await _import_order(session, run, table, cols, draft, now)
        run.tick(len(draft.rows))
    # the report reads down the sheet, whichever check found the problem
    run.result.issues[first_issue:] = sorted(run.result.issues[first_issue:],
                                             key=lambda i: i.row)


def _reject(result: ImportResult, issue: RowIssue) -> None:
    result.errors += 1
    result.issues.append(issue)


async def _import_order(session: AsyncSession, run: _Run, table: Table,
                        cols: dict[str, int], draft: OrderDraft,
                        now: datetime | None) -> None:
    if not draft.lines:
        return  # every row of it was a bad line: each is reported already
    first = draft.lines[0].row
    customer, named_by, problem = resolve_customer(run.ctx, draft, run.name_key)
    owner_id: int | None = None
    salesman = draft.order.get("salesman")
    if problem is None and salesman is not None:
        try:
            owner_id = run.ctx.owner_id(salesman[0])
        except KeyError:
            problem, named_by = Msg("order_salesman_unknown", {"salesman": salesman[0]}), \
                "salesman"
    if problem is not None or customer is None:
        value, row = draft.order.get(named_by, ("", first))
        _skip(run.result, table, cols, draft, row, named_by, value,
              problem or Msg("customer_missing"))
        return
    savepoint = await session.begin_nested()
    run.table, run.cols = table, cols
    try:
        await _write(session, run, draft, customer.id, owner_id, now)
    except (ValidationFailed, NotFound) as exc:
        await savepoint.rollback()
        _forget_fresh(run)
        _skip(run.result, table, cols, draft, first, "number", draft.number,
              Msg("order_refused", {"error": str(getattr(exc, "message", exc))}))
        return
    await savepoint.commit()
    _keep_fresh(run)


def _skip(result: ImportResult, table: Table, cols: dict[str, int], draft: OrderDraft,
          row: int, name: str, value: str, msg: Msg) -> None:
    """The order is not imported: the problem on ``row``, and each of its other good
    rows says why it was not imported."""
    _reject(result, _issue(table, cols, row, name, value, msg))
    for line in draft.lines:
        if line.row != row:
            _reject(result, _issue(table, cols, line.row, "number", draft.number,
                                   Msg("order_skipped", {"number": draft.number,
                                                         "row": row})))


async def _supplier_id(session: AsyncSession, run: _Run, line: LineRow) -> int | None:
    named = line.supplier
    if named is None:
        return None
    found = run.suppliers.get(named.casefold())
    if found is None:
        taken = {s.code.casefold() for s in run.suppliers.values()}
        found = Supplier(code=supplier_code(named, taken), name=named[:200])
        session.add(found)
        await session.flush()
        audit(session, user_id=run.actor.user_id, action="import", entity="supplier",
              entity_id=found.id, after={"code": found.code, "name": found.name})
        run.suppliers[named.casefold()] = run.suppliers[found.code.casefold()] = found
        run.result.created["suppliers"] += 1
        assert run.table is not None
        run.fresh.append((found, _issue(
            run.table, run.cols, line.row, "supplier", named,
            Msg("order_supplier_created", {"supplier": named, "code": found.code}),
            kind="notice")))
    return found.id


def _forget_fresh(run: _Run) -> None:
    """The order's savepoint was rolled back: the suppliers it created are gone, so they
    leave the run's cache (a later order creates them again) and the report."""
    for supplier, _ in run.fresh:
        for label, known in list(run.suppliers.items()):
            if known is supplier:
                del run.suppliers[label]
        run.result.created["suppliers"] -= 1
    run.fresh.clear()


def _keep_fresh(run: _Run) -> None:
    run.result.issues.extend(notice for _, notice in run.fresh)
    run.fresh.clear()


async def _contact_id(session: AsyncSession, customer_id: int,
                      draft: OrderDraft) -> int | None:
    named = draft.order.get("contact")
    if named is None:
        return None
    return await session.scalar(select(Contact.id).where(
        Contact.customer_id == customer_id, Contact.name == named[0]).limit(1))


async def _write(session: AsyncSession, run: _Run, draft: OrderDraft, customer_id: int,
                 owner_id: int | None, now: datetime | None) -> None:
    contact_id = await _contact_id(session, customer_id, draft)
    due = None if draft.due is None else draft.due[0]
    existing = await session.scalar(select(SalesOrder).where(
        SalesOrder.number == draft.number))
    if existing is None:
        if owner_id is None:  # no salesman named: the customer's account manager
            owner_id = await session.scalar(select(Customer.owner_id).where(
                Customer.id == customer_id))
        lines = []
        for line in draft.lines:
            sid = await _supplier_id(session, run, line)
            lines.append(OrderLine(title=line.title, ref=line.ref, quantity=line.quantity,
                                   price=line.price, supplier_id=sid, state="active"))
        order = SalesOrder(number=draft.number, customer_id=customer_id,
                           contact_id=contact_id, owner_id=owner_id or run.actor.user_id,
                           due_date=due, **({} if now is None else {"created_at": now}))
        session.add(order)
        await session.flush()
        for row in lines:
            row.order_id = order.id
        session.add_all(lines)
        audit(session, user_id=run.actor.user_id, action="import", entity="sales_order",
              entity_id=order.id, after={"number": order.number, "lines": len(lines)})
        await session.flush()
        run.result.created["orders"] += 1
        run.result.created["lines"] += len(lines)
        run.result.created["to_be_batched"] += sum(1 for ln in lines if ln.supplier_id is None)
        return
    await _update(session, run, draft, existing, customer_id, owner_id, contact_id, due)


def line_key(title: str, ref: str | None) -> str:
    """What makes two lines of one order the same line: the ISBN/model, else the title."""
    return (ref or title).strip().casefold()


async def _update(session: AsyncSession, run: _Run, draft: OrderDraft, order: SalesOrder,
                  customer_id: int, owner_id: int | None, contact_id: int | None,
                  due: date | None) -> None:
    if order.customer_id != customer_id:
        raise ValidationFailed("number", f"order {order.number} is another customer's")
    before = {"due_date": None if order.due_date is None else order.due_date.isoformat(),
              "owner_id": order.owner_id, "contact_id": order.contact_id}
    if due is not None:
        order.due_date = due
    if owner_id is not None:
        order.owner_id = owner_id
    if contact_id is not None:
        order.contact_id = contact_id
    held = {line_key(ln.title, ln.ref): ln for ln in (await session.scalars(
        select(OrderLine).where(OrderLine.order_id == order.id)
        .order_by(OrderLine.id))).all()}
    added = updated = 0
    for line in draft.lines:
        sid = await _supplier_id(session, run, line)
        same = held.get(line_key(line.title, line.ref))
        if same is None:
            new = OrderLine(order_id=order.id, title=line.title, ref=line.ref,
                            quantity=line.quantity, price=line.price, supplier_id=sid,
                            state="active")
            session.add(new)
            held[line_key(line.title, line.ref)] = new
            added += 1
            run.result.created["to_be_batched"] += int(sid is None)
            continue
        same.title, same.quantity = line.title, line.quantity
        if line.price is not None:
            same.price = line.price
        if same.batch_id is None and sid is not None:
            same.supplier_id = sid  # a batched line's supplier is its batch's
        updated += 1
    audit(session, user_id=run.actor.user_id, action="import", entity="sales_order",
          entity_id=order.id, before=before,
          after={"due_date": None if order.due_date is None else order.due_date.isoformat(),
                 "owner_id": order.owner_id, "contact_id": order.contact_id,
                 "lines_added": added, "lines_updated": updated})
    await session.flush()
    run.result.created["orders_updated"] += 1
    run.result.created["lines"] += added
    run.result.created["lines_updated"] += updated

