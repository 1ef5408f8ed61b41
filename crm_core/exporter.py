"""Export any list to CSV or XLSX, streaming: customers, contacts, assets, tickets,
interactions, report rows.

Rules:
- CSV is UTF-8 with a BOM (Excel then opens Chinese text correctly), XLSX is
  written by openpyxl in write-only mode: memory stays flat whatever the size;
- headers are bilingual: a column's header is plain text or a ``(zh, en)`` pair
  / ``{"zh-CN": ..., "en": ...}`` chosen by ``lang``;
- a cell is never a formula: text starting with ``=`` (or, in CSV, ``@``, ``+``,
  ``-`` when it is not a number) is written as text, so an exported name cannot
  run anything in the spreadsheet of whoever opens it;
- times are written in Asia/Shanghai (spreadsheets have no time zones); dates
  stay dates; lists and dicts become JSON text;
- file writing and zipping run in a worker thread, batch by batch, so the event
  loop never blocks on them;
- the list queries (``customer_rows`` ...) check the ``export`` grant of their
  module and apply its data scope: nobody exports a record they may not read.
"""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import io
import json
import re
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from crm_core.models import (
    Asset,
    Contact,
    Customer,
    Interaction,
    PhoneNumber,
    ProductLine,
    Ticket,
    User,
)
from crm_core.permissions import Actor
from crm_core.reports import CustomerFilter, scoped_conditions

SHANGHAI = ZoneInfo("Asia/Shanghai")
FORMATS = ("csv", "xlsx")
CHUNK = 1000
Header = str | tuple[str, str] | Mapping[str, str]
Columns = Sequence[tuple[str, Header]]


def header_text(header: Header, lang: str = "zh-CN") -> str:
    """The header of a column in ``lang`` (zh-CN or en)."""
    if isinstance(header, str):
        return header
    if isinstance(header, tuple):
        return header[0] if lang == "zh-CN" else header[1]
    return header.get(lang) or next(iter(header.values()), "")


def format_of(path_or_stream: object, fmt: str | None) -> str:
    """``csv`` or ``xlsx``: ``fmt`` if given, else the file's extension."""
    if fmt is None and isinstance(path_or_stream, str | Path):
        fmt = Path(path_or_stream).suffix.lstrip(".").casefold()
    if fmt not in FORMATS:
        raise ValueError(f"export format must be csv or xlsx (got {fmt!r})")
    return fmt


# digits and separators only (phone lists such as "+86 21 5888 0101; 139..."): no formula
_NUMBER_LIKE = re.compile(r"^[+-]?[\d\s().,;/\-]+$")
_ILLEGAL_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def plain_value(value: Any) -> Any:
    """A cell value: times in Asia/Shanghai without zone, containers as JSON text."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(SHANGHAI)
        return value.replace(tzinfo=None, microsecond=0)
    if isinstance(value, list | dict | tuple):
        return json.dumps(value, ensure_ascii=False, default=str)
    return value


def csv_cell(value: Any) -> str:
    """A value as CSV text, defused: no spreadsheet formula can start it."""
    value = plain_value(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    text = str(value)
    if text[:1] in ("=", "@", "\t", "\r") or (
        text[:1] in ("+", "-") and not _NUMBER_LIKE.match(text)
    ):
        return "'" + text
    return text


class _Writer(Protocol):
    def write(self, rows: list[list[Any]]) -> None: ...
    def close(self) -> None: ...


class _CsvWriter:
    def __init__(self, target: str | Path | IO[bytes], headers: list[str]) -> None:
        if isinstance(target, str | Path):
            self._text: IO[str] = open(target, "w", encoding="utf-8-sig", newline="")  # noqa: SIM115
            self._owned = True
        else:
            self._text = io.TextIOWrapper(target, encoding="utf-8-sig", newline="")
            self._owned = False
        self._csv = csv.writer(self._text)
        self._csv.writerow(headers)

    def write(self, rows: list[list[Any]]) -> None:
        self._csv.writerows([csv_cell(v) for v in row] for row in rows)

    def close(self) -> None:
        self._text.flush()
        if self._owned:
            self._text.close()
        else:
            # give the caller's stream back open
            assert isinstance(self._text, io.TextIOWrapper)
            self._text.detach()


class _XlsxWriter:
    def __init__(self, target: str | Path | IO[bytes], headers: list[str], title: str) -> None:
        from openpyxl import Workbook
        from openpyxl.styles import Font

        self._target = target
        self._wb = Workbook(write_only=True)
        self._ws = self._wb.create_sheet(title=(title or "export")[:31])
        bold = Font(bold=True)
        self._ws.append([self._cell(h, font=bold) for h in headers])

    def _cell(self, value: Any, font: Any = None) -> Any:
        from openpyxl.cell import WriteOnlyCell

        value = plain_value(value)
        if isinstance(value, str):
            value = _ILLEGAL_XML.sub("", value)
        cell = WriteOnlyCell(self._ws, value=value)
        if isinstance(value, str) and value.startswith("="):
            cell.data_type = "s"  # text, never a formula
        if font is not None:
            cell.font = font
        return cell

    def write(self, rows: list[list[Any]]) -> None:
        for row in rows:
            self._ws.append([self._cell(v) for v in row])

    def close(self) -> None:
        self._wb.save(self._target)


async def _iterate(rows: AsyncIterable[dict[str, Any]] | Iterable[dict[str, Any]]
                   ) -> AsyncIterator[dict[str, Any]]:
    if isinstance(rows, AsyncIterable):
        async for row in rows:
            yield row
    else:
        for row in rows:
            yield row


async def export_rows(
    rows: AsyncIterable[dict[str, Any]] | Iterable[dict[str, Any]],
    columns: Columns,
    path_or_stream: str | Path | IO[bytes],
    fmt: str | None = None,
    *,
    lang: str = "zh-CN",
    title: str = "export",
) -> int:
    """Write ``rows`` (dicts; the ``columns`` keys are taken, missing ones empty) to a
    file path or a binary stream as CSV or XLSX; returns the number of data rows."""
    kind = format_of(path_or_stream, fmt)
    headers = [header_text(h, lang) for _, h in columns]
    keys = [k for k, _ in columns]
    writer: _Writer = await asyncio.to_thread(
        (lambda: _CsvWriter(path_or_stream, headers)) if kind == "csv"
        else (lambda: _XlsxWriter(path_or_stream, headers, title))
    )
    count = 0
    chunk: list[list[Any]] = []
    try:
        async for row in _iterate(rows):
            chunk.append([row.get(k) for k in keys])
            if len(chunk) >= CHUNK:
                await asyncio.to_thread(writer.write, chunk)
                count += len(chunk)
                chunk = []
        if chunk:
            await asyncio.to_thread(writer.write, chunk)
            count += len(chunk)
    finally:
        await asyncio.to_thread(writer.close)
    return count


# --- the lists -------------------------------------------------------------------------

CUSTOMER_COLUMNS: list[tuple[str, Header]] = [
    ("id", ("编号", "id")), ("name", ("客户名称", "name")), ("kind", ("客户性质", "kind")),
    ("category", ("类别", "category")), ("industry", ("行业", "industry")),
    ("source", ("来源", "source")), ("province", ("省份", "province")),
    ("city", ("城市", "city")), ("address", ("地址", "address")),
    ("phones", ("电话", "phones")), ("vip_tier", ("VIP等级", "VIP tier")),
    ("vip_value", ("客户价值", "value")), ("status", ("状态", "status")),
    ("owner", ("负责人", "owner")), ("created_at", ("创建时间", "created")),
]
CONTACT_COLUMNS: list[tuple[str, Header]] = [
    ("id", ("编号", "id")), ("customer_id", ("客户编号", "customer id")),
    ("customer", ("客户名称", "customer")), ("name", ("联系人", "contact")),
    ("role", ("职务", "role")), ("phones", ("电话", "phones")), ("email", ("邮箱", "email")),
]
ASSET_COLUMNS: list[tuple[str, Header]] = [
    ("id", ("编号", "id")), ("customer_id", ("客户编号", "customer id")),
    ("customer", ("客户名称", "customer")), ("product_line", ("产品线", "product line")),
    ("model", ("型号", "model")), ("serial_number", ("序列号", "serial number")),
    ("purchase_date", ("购买日期", "purchase date")),
    ("warranty_end", ("保修截止", "warranty end")), ("site", ("安装地点", "site")),
]
TICKET_COLUMNS: list[tuple[str, Header]] = [
    ("number", ("工单号", "ticket")), ("customer", ("客户名称", "customer")),
    ("serial_number", ("序列号", "serial number")), ("problem", ("问题描述", "problem")),
    ("status", ("状态", "status")), ("priority", ("优先级", "priority")),
    ("created_at", ("创建时间", "created")), ("updated_at", ("更新时间", "updated")),
]
INTERACTION_COLUMNS: list[tuple[str, Header]] = [
    ("occurred_at", ("时间", "time")), ("customer", ("客户名称", "customer")),
    ("kind", ("类型", "kind")), ("place", ("地点", "place")), ("content", ("内容", "content")),
    ("result", ("结果", "result")), ("next_step", ("下一步", "next step")),
    ("author", ("记录人", "author")),
]


async def _stream(session: AsyncSession, stmt: Any) -> AsyncIterator[list[Any]]:
    """The statement's rows, CHUNK at a time (a server-side cursor where there is one)."""
    result = await session.stream(stmt.execution_options(yield_per=CHUNK))
    async for part in result.partitions(CHUNK):
        yield list(part)


async def _phones(
    session: AsyncSession, column: Any, ids: list[int]
) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    if not ids:
        return out
    rows = await session.execute(
        select(column, PhoneNumber.raw).where(column.in_(ids)).order_by(PhoneNumber.id)
    )
    for owner_id, raw in rows:
        out.setdefault(owner_id, []).append(raw)
    return out


def _conds(actor: Actor, module: str, filters: CustomerFilter | None
           ) -> list[ColumnElement[bool]]:
    return scoped_conditions(actor, filters, "export", module)


async def customer_rows(
    session: AsyncSession, actor: Actor, filters: CustomerFilter | None = None,
    *, criteria: Sequence[ColumnElement[bool]] = (),
) -> AsyncIterator[dict[str, Any]]:
    """Customers in the actor's ``customers:export`` scope, by id, with phones and owner;
    ``criteria``: further conditions on ``Customer`` (a search, ``search.criteria``)."""
    owner = aliased(User)
    stmt = (
        select(Customer, owner.display_name).outerjoin(owner, owner.id == Customer.owner_id)
        .where(*_conds(actor, "customers", filters), *criteria).order_by(Customer.id)
    )
    async for part in _stream(session, stmt):
        phones = await _phones(session, PhoneNumber.customer_id, [c.id for c, _ in part])
        for c, owner_name in part:
            yield {
                "id": c.id, "name": c.name, "kind": c.kind, "category": c.category,
                "industry": c.industry, "source": c.source, "province": c.province,
                "city": c.city, "address": c.address, "phones": "; ".join(phones.get(c.id, [])),
                "vip_tier": c.vip_tier, "vip_value": c.vip_value, "status": c.status,
                "owner": owner_name, "created_at": c.created_at,
            }


async def contact_rows(
    session: AsyncSession, actor: Actor, filters: CustomerFilter | None = None
) -> AsyncIterator[dict[str, Any]]:
    """Contacts of the customers in the ``contacts:export`` scope."""
    stmt = (
        select(Contact, Customer.name).join(Customer, Contact.customer_id == Customer.id)
        .where(*_conds(actor, "contacts", filters)).order_by(Contact.id)
    )
    async for part in _stream(session, stmt):
        phones = await _phones(session, PhoneNumber.contact_id, [c.id for c, _ in part])
        for c, customer in part:
            yield {"id": c.id, "customer_id": c.customer_id, "customer": customer,
                   "name": c.name, "role": c.role, "email": c.email,
                   "phones": "; ".join(phones.get(c.id, []))}


async def asset_rows(
    session: AsyncSession, actor: Actor, filters: CustomerFilter | None = None
) -> AsyncIterator[dict[str, Any]]:
    """Assets of the customers in the ``assets:export`` scope, with their product line."""
    stmt = (
        select(Asset, Customer.name, ProductLine.name, ProductLine.name_en)
        .join(Customer, Asset.customer_id == Customer.id)
        .outerjoin(ProductLine, Asset.product_line_id == ProductLine.id)
        .where(*_conds(actor, "assets", filters)).order_by(Asset.id)
    )
    lang = actor.language
    async for part in _stream(session, stmt):
        for a, customer, line, line_en in part:
            yield {"id": a.id, "customer_id": a.customer_id, "customer": customer,
                   "product_line": (line_en or line) if lang == "en" else line,
                   "model": a.model, "serial_number": a.serial_number,
                   "purchase_date": a.purchase_date, "warranty_end": a.warranty_end,
                   "site": a.site}


async def ticket_rows(
    session: AsyncSession, actor: Actor, filters: CustomerFilter | None = None
) -> AsyncIterator[dict[str, Any]]:
    """Tickets of the customers in the ``tickets:export`` scope, newest first."""
    stmt = (
        select(Ticket, Customer.name, Asset.serial_number)
        .join(Customer, Ticket.customer_id == Customer.id)
        .outerjoin(Asset, Ticket.asset_id == Asset.id)
        .where(*_conds(actor, "tickets", filters))
        .order_by(Ticket.created_at.desc(), Ticket.id.desc())
    )
    async for part in _stream(session, stmt):
        for t, customer, serial in part:
            yield {"number": t.number, "customer": customer, "serial_number": serial,
                   "problem": t.problem, "status": t.status, "priority": t.priority,
                   "created_at": t.created_at, "updated_at": t.updated_at}


async def interaction_rows(
    session: AsyncSession, actor: Actor, filters: CustomerFilter | None = None
) -> AsyncIterator[dict[str, Any]]:
    """Interactions of the customers in the ``interactions:export`` scope, newest first."""
    author = aliased(User)
    stmt = (
        select(Interaction, Customer.name, author.display_name)
        .join(Customer, Interaction.customer_id == Customer.id)
        .outerjoin(author, Interaction.author_id == author.id)
        .where(*_conds(actor, "interactions", filters))
        .order_by(Interaction.occurred_at.desc(), Interaction.id.desc())
    )
    async for part in _stream(session, stmt):
        for i, customer, author_name in part:
            yield {"occurred_at": i.occurred_at, "customer": customer, "kind": i.kind,
                   "place": i.place, "content": i.content, "result": i.result,
                   "next_step": i.next_step, "author": author_name}


LISTS: dict[str, tuple[Any, list[tuple[str, Header]]]] = {
    "customers": (customer_rows, CUSTOMER_COLUMNS),
    "contacts": (contact_rows, CONTACT_COLUMNS),
    "assets": (asset_rows, ASSET_COLUMNS),
    "tickets": (ticket_rows, TICKET_COLUMNS),
    "interactions": (interaction_rows, INTERACTION_COLUMNS),
}


async def export_list(
    sessionmaker: async_sessionmaker[AsyncSession],
    actor: Actor,
    entity: str,
    path_or_stream: str | Path | IO[bytes],
    fmt: str | None = None,
    *,
    filters: CustomerFilter | None = None,
    lang: str | None = None,
) -> int:
    """Export one of ``LISTS`` (customers, contacts, assets, tickets, interactions) in
    the actor's export scope; returns the number of rows written."""
    if entity not in LISTS:
        raise ValueError(f"nothing to export called {entity!r} (one of {', '.join(LISTS)})")
    rows_of, columns = LISTS[entity]
    language = lang or actor.language
    actor = dataclasses.replace(actor, language=language)  # labels inside rows too
    async with sessionmaker() as session:
        return await export_rows(
            rows_of(session, actor, filters), columns, path_or_stream, fmt,
            lang=language, title=entity,
        )
