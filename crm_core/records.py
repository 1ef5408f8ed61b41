"""What every CRM record service shares: scope-checked loading, validation of plain
input, JSON-ready output, pagination, the clock.

Rules:
- a record hanging off a customer is loaded together with its customer, in ONE
  query limited by ``permissions.customer_filter``: a record outside the actor's
  scope is never loaded and reads as ``NotFound`` (never "forbidden", never the
  record);
- "own" scope on a record module (interactions, tickets, opportunities) also
  covers the records the actor wrote or owns (``author_id``, ``created_by_id``,
  ``owner_id``): an agent may update what they wrote, whoever owns the customer;
- a network scope (``station``, ``technician``) on tickets limits the ticket rows
  themselves (``permissions.ticket_filter``), not only their customers;
- input comes from JSON: every value is type-checked here (``True`` is not an
  int, ``"3"`` is not an int) and a bad one raises ``ValidationFailed`` naming
  the field; unknown fields of an update raise too;
- everything returned is a plain dict of JSON-ready values (ISO dates, decimals
  as strings), never an ORM object;
- a merged customer (a tombstone) can be read but not written: ``Conflict``;
- writes end the same way everywhere (``save_new``, ``save_changes``,
  ``delete_row``): the customer is touched, the session flushed, the change audited;
- nothing here commits: the caller owns the transaction, so a failure anywhere
  leaves nothing half-written;
- time comes from a ``now`` argument (tests control the day); business days are
  Asia/Shanghai days.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import BigInteger, ColumnElement, Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from crm_core.audit import audit, changes, snapshot
from crm_core.errors import Conflict, NotFound, ValidationFailed
from crm_core.models import Base, Customer, Ticket, as_utc, utcnow
from crm_core.permissions import Actor, customer_filter, require, ticket_filter

BUSINESS_TZ = ZoneInfo("Asia/Shanghai")
MAX_PAGE = 500
DEFAULT_PAGE = 50
MAX_ID = 2**31 - 1  # INTEGER ids on PostgreSQL: a larger value would be a 500, not a 404
MAX_BIG_ID = 2**63 - 1

RowT = TypeVar("RowT", bound=Base)


# --- time ----------------------------------------------------------------------------


def current(now: datetime | None) -> datetime:
    """``now`` as aware UTC, or the wall clock when not given."""
    return utcnow() if now is None else as_utc(now)


def business_day(moment: datetime) -> date:
    """The Asia/Shanghai calendar day of ``moment``."""
    return as_utc(moment).astimezone(BUSINESS_TZ).date()


# --- output --------------------------------------------------------------------------


def to_dict(row: Base, **extra: Any) -> dict[str, Any]:
    """The JSON-ready columns of ``row``, plus ``extra`` keys."""
    data = snapshot(row)
    data.update(extra)
    return data


def page(items: list[dict[str, Any]], total: int, limit: int, offset: int) -> dict[str, Any]:
    """The shape of every list answer."""
    return {"items": items, "total": total, "limit": limit, "offset": offset}


def check_page(limit: object, offset: object) -> tuple[int, int]:
    """Validated ``(limit, offset)``: 1 <= limit <= MAX_PAGE, offset >= 0."""
    lim = integer(limit, "limit", low=1, high=MAX_PAGE)
    off = integer(offset, "offset", low=0)
    return lim, off


async def paginate(
    session: AsyncSession, stmt: Select[*tuple[Any, ...]], limit: int, offset: int
) -> tuple[list[Any], int]:
    """The rows of ``stmt`` for one page, and the total count without paging."""
    total = await session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    rows = (await session.execute(stmt.limit(limit).offset(offset))).all()
    return list(rows), int(total or 0)


# --- validation ----------------------------------------------------------------------


def check_fields(data: Mapping[str, Any], allowed: Collection[str]) -> None:
    """``ValidationFailed`` on the first key of ``data`` not in ``allowed``."""
    for key in data:
        if key not in allowed:
            raise ValidationFailed(str(key), "unknown or read-only field")


def text(
    value: object, field: str, *, required: bool = False, max_len: int = 200
) -> str | None:
    """A stripped string (None/empty allowed unless ``required``)."""
    if value is None:
        if required:
            raise ValidationFailed(field, "is required")
        return None
    if not isinstance(value, str):
        raise ValidationFailed(field, "must be a string")
    cleaned = value.strip()
    if not cleaned:
        if required:
            raise ValidationFailed(field, "must not be empty")
        return None
    if len(cleaned) > max_len:
        raise ValidationFailed(field, f"longer than {max_len} characters")
    if "\x00" in cleaned:
        raise ValidationFailed(field, "contains a NUL character")
    return cleaned


def required_text(value: object, field: str, *, max_len: int = 200) -> str:
    """A non-empty stripped string."""
    result = text(value, field, required=True, max_len=max_len)
    assert result is not None
    return result


def choice(value: object, field: str, allowed: Collection[str]) -> str:
    """One of ``allowed``."""
    if not isinstance(value, str) or value not in allowed:
        raise ValidationFailed(field, f"must be one of {', '.join(sorted(allowed))}")
    return value


def integer(
    value: object, field: str, *, low: int | None = None, high: int | None = None
) -> int:
    """An int (not a bool) within ``[low, high]``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationFailed(field, "must be an integer")
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = f"{'' if low is None else low}..{'' if high is None else high}"
        raise ValidationFailed(field, f"must be in {bounds}")
    return value


def optional_id(value: object, field: str) -> int | None:
    """An optional reference to a record (``ValidationFailed`` when it cannot be one)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_ID:
        raise ValidationFailed(field, "must be an id")
    return value


def is_id(value: object, *, big: bool = False) -> bool:
    """Whether ``value`` can be the id of a row (INTEGER, or BIGINT when ``big``)."""
    high = MAX_BIG_ID if big else MAX_ID
    return not isinstance(value, bool) and isinstance(value, int) and 0 < value <= high


def money(value: object, field: str) -> Decimal | None:
    """An amount >= 0 with at most 2 decimals and 12 integer digits (Numeric(14, 2))."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise ValidationFailed(field, "must be a number")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValidationFailed(field, "must be a number") from None
    if not amount.is_finite() or amount < 0:
        raise ValidationFailed(field, "must be a finite number >= 0")
    amount = amount.quantize(Decimal("0.01"))
    if amount >= Decimal(10) ** 12:
        raise ValidationFailed(field, "too large")
    return amount


def a_date(value: object, field: str, *, required: bool = False) -> date | None:
    """A date, or an ISO ``YYYY-MM-DD`` string."""
    if value is None:
        if required:
            raise ValidationFailed(field, "is required")
        return None
    if isinstance(value, datetime):
        raise ValidationFailed(field, "must be a date, not a date and time")
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValidationFailed(field, "must be a date YYYY-MM-DD")


def a_datetime(value: object, field: str) -> datetime | None:
    """An aware datetime (or ISO string with an offset), as UTC."""
    if value is None:
        return None
    parsed: datetime | None = None
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            parsed = None
    if parsed is None:
        raise ValidationFailed(field, "must be an ISO date and time")
    if parsed.tzinfo is None:
        raise ValidationFailed(field, "needs a time zone offset")
    if not 1900 <= parsed.year <= 9998:
        raise ValidationFailed(field, "out of range")
    return as_utc(parsed)


# --- scope-checked loading -----------------------------------------------------------


def scope_condition(
    actor: Actor, scope: str, own_column: InstrumentedAttribute[Any] | None = None,
    model: type[Base] | None = None,
) -> ColumnElement[bool]:
    """The SQL condition of ``scope`` on rows of ``model``; "own" also covers rows whose
    ``own_column`` (author, creator, owner) is the actor; a network scope limits tickets
    themselves."""
    tickets = ticket_filter(actor, scope) if model is Ticket else None
    if tickets is not None:
        return tickets
    condition = customer_filter(actor, scope)
    if scope == "own" and own_column is not None and actor.user_id is not None:
        return or_(condition, own_column == actor.user_id)
    return condition


async def load_customer(
    session: AsyncSession, actor: Actor, customer_id: object, module: str, operation: str
) -> Customer:
    """The customer if ``actor`` may do ``operation`` on ``module`` for it.

    ``PermissionDenied`` without the grant; ``NotFound`` when it does not exist or
    is outside the scope; ``Conflict`` for a write to a merged customer.
    """
    scope = require(actor, module, operation)
    cid = _id(customer_id, "customer")
    row = await session.scalar(
        select(Customer).where(Customer.id == cid, customer_filter(actor, scope))
    )
    if row is None:
        raise NotFound("customer", customer_id)
    if operation != "read" and row.merged_into_id is not None:
        raise Conflict(f"customer {cid} was merged into {row.merged_into_id}: change that one")
    return row


async def load_record(
    session: AsyncSession,
    actor: Actor,
    model: type[RowT],
    record_id: object,
    module: str,
    operation: str,
    *,
    own_column: InstrumentedAttribute[Any] | None = None,
    entity: str | None = None,
) -> tuple[RowT, Customer]:
    """A record hanging off a customer, with that customer, if in ``actor``'s scope."""
    name = entity or model.__tablename__
    scope = require(actor, module, operation)
    big = isinstance(model.__table__.c.id.type, BigInteger)
    rid = _id(record_id, name, big=big)
    pk: Any = model.id  # type: ignore[attr-defined]
    fk: Any = model.customer_id  # type: ignore[attr-defined]
    result = await session.execute(
        select(model, Customer)
        .join(Customer, Customer.id == fk)
        .where(pk == rid, scope_condition(actor, scope, own_column, model))
    )
    found = result.first()
    if found is None:
        raise NotFound(name, record_id)
    return found[0], found[1]


def _id(value: object, entity: str, *, big: bool = False) -> int:
    # an id that cannot exist (wrong type, out of range) is simply not found
    if not is_id(value, big=big):
        raise NotFound(entity, value)
    assert isinstance(value, int)
    return value


def touch(customer: Customer, actor: Actor, now: datetime) -> None:
    """Record that the owner worked on ``customer`` (the pool-return rule reads it)."""
    if actor.user_id is not None and customer.owner_id == actor.user_id:
        customer.last_touched_at = now


# --- writing ---------------------------------------------------------------------------


async def save_new(
    session: AsyncSession, actor: Actor, row: Any, customer: Customer, *, entity: str,
    at: datetime, action: str = "create", audit_extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Add ``row`` (a record of ``customer``), touch the customer, flush, audit (the row,
    plus ``audit_extra``); the row as a dict."""
    session.add(row)
    touch(customer, actor, at)
    await session.flush()
    audit(session, user_id=actor.user_id, action=action, entity=entity,
          entity_id=row.id, after={**to_dict(row), **(audit_extra or {})})
    return to_dict(row)


async def save_changes(
    session: AsyncSession, actor: Actor, row: Any, customer: Customer,
    before: dict[str, Any], *, entity: str, at: datetime,
) -> None:
    """After ``row`` was changed from ``before``: touch its customer, flush, audit
    the update (the changed columns only)."""
    touch(customer, actor, at)
    await session.flush()
    audit(session, user_id=actor.user_id, action="update", entity=entity,
          entity_id=row.id, before=before, after=changes(before, snapshot(row)))


async def delete_row(
    session: AsyncSession, actor: Actor, row: Any, *, entity: str,
    before: dict[str, Any] | None = None,
) -> None:
    """Delete ``row`` and audit it with ``before`` (default: its columns)."""
    row_id = row.id
    audited = snapshot(row) if before is None else before
    await session.delete(row)
    await session.flush()
    audit(session, user_id=actor.user_id, action="delete", entity=entity,
          entity_id=row_id, before=audited)


async def list_records(
    session: AsyncSession,
    actor: Actor,
    model: type[RowT],
    module: str,
    *,
    customer_id: int | None = None,
    conditions: tuple[ColumnElement[bool], ...] = (),
    order_by: tuple[Any, ...] = (),
    limit: object = DEFAULT_PAGE,
    offset: object = 0,
) -> dict[str, Any]:
    """A page of ``model`` rows whose customer is in the ``module`` read scope."""
    scope = require(actor, module, "read")
    lim, off = check_page(limit, offset)
    fk: Any = model.customer_id  # type: ignore[attr-defined]
    pk: Any = model.id  # type: ignore[attr-defined]
    rows_in_scope = ticket_filter(actor, scope) if model is Ticket else None
    stmt = (
        select(model).join(Customer, Customer.id == fk)
        .where(customer_filter(actor, scope) if rows_in_scope is None else rows_in_scope,
               *conditions)
        .order_by(*order_by, pk)
    )
    if customer_id is not None:
        stmt = stmt.where(fk == customer_id)
    rows, total = await paginate(session, stmt, lim, off)
    return page([to_dict(row[0]) for row in rows], total, lim, off)
