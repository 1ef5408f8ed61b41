"""Finding customers: by name, any phone format, serial number, ticket number.

Rules:
- only customers inside the actor's ``customers`` read scope are ever returned
  or counted (``permissions.customer_filter`` is part of the query);
- ``name``: case-insensitive substring of the name (``%`` and ``_`` are literal);
- ``phone``: normalised like stored numbers (``numbering.normalize``), then exact
  on ``PhoneNumber.number_e164``, so ``13800138000``, ``+86 138 0013 8000`` and
  ``0086-138-0013-8000`` find the same customer;
- ``serial``: exact serial number of an asset (trimmed);
- ``ticket``: exact ticket number (trimmed, case-insensitive ``T...``);
- ``q``: one free text matched as any of the above (OR);
- merged customers (tombstones) are left out;
- several criteria combine with AND; none lists every customer in scope;
- answers are pages ``{items, total, limit, offset}`` ordered by id.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.customers import CUSTOMER_STATUSES
from crm_core.errors import ValidationFailed
from crm_core.models import Asset, Customer, PhoneNumber, Ticket, User
from crm_core.permissions import Actor, customer_filter, require
from crm_core.records import check_page, choice, optional_id, page, paginate, text, to_dict
from numbering.normalize import normalize


def _by_name(name: str) -> ColumnElement[bool]:
    return func.lower(Customer.name).contains(name.lower(), autoescape=True)


def _by_phone(e164: str) -> ColumnElement[bool]:
    return Customer.id.in_(
        select(PhoneNumber.customer_id).where(PhoneNumber.number_e164 == e164)
    )


def _by_serial(serial: str) -> ColumnElement[bool]:
    return Customer.id.in_(select(Asset.customer_id).where(Asset.serial_number == serial))


def _by_ticket(number: str) -> ColumnElement[bool]:
    return Customer.id.in_(select(Ticket.customer_id).where(Ticket.number == number.upper()))


def _free_text(q: str) -> ColumnElement[bool]:
    options = [_by_name(q), _by_serial(q), _by_ticket(q)]
    e164 = normalize(q)
    if e164 is not None and sum(c.isdigit() for c in q) >= 3:
        options.append(_by_phone(e164))
    return or_(*options)


def criteria(
    *,
    q: object = None,
    name: object = None,
    phone: object = None,
    serial: object = None,
    ticket: object = None,
) -> list[ColumnElement[bool]]:
    """The SQL conditions of the search arguments (validated)."""
    conditions: list[ColumnElement[bool]] = []
    if (free := text(q, "q", max_len=200)) is not None:
        conditions.append(_free_text(free))
    if (name_part := text(name, "name", max_len=200)) is not None:
        conditions.append(_by_name(name_part))
    if (raw_phone := text(phone, "phone", max_len=40)) is not None:
        e164 = normalize(raw_phone)
        if e164 is None:
            raise ValidationFailed("phone", f"{raw_phone!r} is not a phone number")
        conditions.append(_by_phone(e164))
    if (serial_no := text(serial, "serial", max_len=100)) is not None:
        conditions.append(_by_serial(serial_no))
    if (ticket_no := text(ticket, "ticket", max_len=40)) is not None:
        conditions.append(_by_ticket(ticket_no))
    return conditions


async def search_customers(
    session: AsyncSession,
    actor: Actor,
    *,
    q: str | None = None,
    name: str | None = None,
    phone: str | None = None,
    serial: str | None = None,
    ticket: str | None = None,
    status: str | None = None,
    owner_id: int | None = None,
    limit: int = 50,
    offset: int = 0,
) -> dict[str, Any]:
    """A page of customers in scope matching every given criterion; each item has the
    customer's columns plus ``owner_name``."""
    scope = require(actor, "customers", "read")
    lim, off = check_page(limit, offset)
    conditions = criteria(q=q, name=name, phone=phone, serial=serial, ticket=ticket)
    if status is not None:
        conditions.append(Customer.status == choice(status, "status", CUSTOMER_STATUSES))
    if owner_id is not None:
        conditions.append(Customer.owner_id == optional_id(owner_id, "owner_id"))
    stmt = (
        select(Customer, User.display_name)
        .outerjoin(User, User.id == Customer.owner_id)
        .where(customer_filter(actor, scope), Customer.merged_into_id.is_(None), *conditions)
        .order_by(Customer.id)
    )
    rows, total = await paginate(session, stmt, lim, off)
    return page([to_dict(c, owner_name=owner) for c, owner in rows], total, lim, off)
