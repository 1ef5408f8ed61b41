"""Customers and their phone numbers: create, read, update, delete, list.

Rules:
- every function checks the ``customers`` grant and the actor's data scope; a
  customer outside the scope is ``NotFound``; every write adds an audit entry
  (before/after) in the caller's transaction;
- a customer needs a name; ``vip_tier`` is 0..5; ``status`` is one of
  ``CUSTOMER_STATUSES``; ``kind`` is company or person; texts are trimmed;
- phone numbers must be written as phone numbers (``numbering.normalize.
  typed_number``, the rule of every number from outside: ``1000@internal`` is refused,
  not stored as ``1000``) and at least 3 digits; they are stored normalised (region
  CN) with the raw text kept; the kind is guessed when not given (``guess_kind``): mobile
  ``+861[3-9]...``, ``hotline`` for 400/800, other +86 numbers ``landline``,
  anything else ``phone``; the same number twice on one customer is refused;
- the duplicate guard belongs to ``crm_core.duplicates.check_new_customer``
  (called before anything is written; it raises ``DuplicateCustomer``): on
  create, on a rename (the customer itself excluded) and when a number is added
  (a number identifies ONE customer: that is what the screen pop relies on);
- ``name_key`` comes from ``crm_core.names.name_key``;
- a merged customer (``merged_into_id`` set) is read-only and left out of lists;
- the initial owner goes through ``crm_core.ownership.assign_owner`` (transfers,
  caps and the pool are that module's): an explicit ``owner_id`` needs the
  ``customers`` reassign grant with the new owner inside its scope (checked
  here; the transfer itself then runs with admin rights, because a brand-new
  pool customer is inside no team/own scope); otherwise a creator whose
  ``customers`` create scope is narrower than ``all`` (an account manager, a
  supervisor) claims what they create, so they can still see it, and that claim
  counts towards, and may be refused by, the ownership cap (``CapReached``);
  anyone else (hotline agents, admins, the system) gives it to the account manager
  of its province, or leaves it in the shared pool when there is none
  (``crm_core.account_managers`` states the whole rule; issue 14 item 7). The audit
  trail shows ``create`` (in the pool) then ``reassign``;
- all input is validated before the first row is written, and the caller's
  transaction makes the whole create atomic anyway.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.account_managers import creator_keeps, region_manager
from crm_core.audit import audit, changes, snapshot
from crm_core.duplicates import check_new_customer
from crm_core.errors import NotFound, ValidationFailed
from crm_core.models import Customer, PhoneNumber, User
from crm_core.names import name_key
from crm_core.ownership import OwnershipRules, assign_owner
from crm_core.permissions import Actor, allows, require
from crm_core.records import (
    check_fields,
    choice,
    current,
    integer,
    is_id,
    load_customer,
    money,
    optional_id,
    required_text,
    text,
    to_dict,
    touch,
)
from numbering.normalize import typed_number

CUSTOMER_STATUSES = ("prospect", "active", "dormant", "lost")
CUSTOMER_KINDS = ("company", "person")
PHONE_KINDS = ("mobile", "landline", "hotline", "phone", "fax")
CUSTOMER_UPDATE_FIELDS = (
    "name", "kind", "category", "industry", "source", "province", "city", "address",
    "vip_tier", "vip_value", "status",
)
MAX_NUMBERS = 20

_MOBILE = re.compile(r"^\+861[3-9]\d{9}$")
_HOTLINE = re.compile(r"^\+86(400|800)\d{7}$")


# --- pure helpers ------------------------------------------------------------------------


def guess_kind(e164: str) -> str:
    """mobile / hotline / landline / phone, from a normalised number."""
    if _MOBILE.match(e164):
        return "mobile"
    if _HOTLINE.match(e164):
        return "hotline"
    if e164.startswith("+86"):
        return "landline"
    return "phone"


def normalize_number(raw: object, field: str = "number") -> tuple[str, str]:
    """``(normalised, raw stripped)`` of a phone number, or ``ValidationFailed``."""
    if not isinstance(raw, str):
        raise ValidationFailed(field, "must be a string")
    cleaned = raw.strip()
    if len(cleaned) > 40:
        raise ValidationFailed(field, "too long for a phone number")
    number = typed_number(cleaned)  # the rule of every number from outside
    if number is None or len(number.lstrip("+")) < 3:
        raise ValidationFailed(field, f"{cleaned!r} is not a phone number")
    return number, cleaned


def normalize_numbers(raws: object, field: str = "numbers") -> list[tuple[str, str]]:
    """Validated numbers, duplicates (after normalisation) dropped, order kept."""
    if isinstance(raws, str) or not isinstance(raws, Sequence):
        raise ValidationFailed(field, "must be a list of phone numbers")
    if len(raws) > MAX_NUMBERS:
        raise ValidationFailed(field, f"at most {MAX_NUMBERS} numbers")
    seen: dict[str, str] = {}
    for i, raw in enumerate(raws):
        number, cleaned = normalize_number(raw, f"{field}[{i}]")
        seen.setdefault(number, cleaned)
    return list(seen.items())


def compute_name_key(name: str) -> str:
    """The duplicate-guard key of a name (``crm_core.names.name_key``)."""
    return name_key(name)


def _clean_fields(data: Mapping[str, Any]) -> dict[str, Any]:
    """The validated customer columns present in ``data``."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key == "name":
            out[key] = required_text(value, key, max_len=200)
        elif key == "kind":
            out[key] = choice(value, key, CUSTOMER_KINDS)
        elif key == "status":
            out[key] = choice(value, key, CUSTOMER_STATUSES)
        elif key == "vip_tier":
            out[key] = integer(value, key, low=0, high=5)
        elif key == "vip_value":
            out[key] = money(value, key)
        elif key == "address":
            out[key] = text(value, key, max_len=500)
        elif key in ("category", "industry", "source", "province", "city"):
            out[key] = text(value, key, max_len=100)
        else:
            raise ValidationFailed(key, "unknown or read-only field")
    return out


# --- I/O helpers -------------------------------------------------------------------------


async def _owner_name(session: AsyncSession, owner_id: int | None) -> str | None:
    if owner_id is None:
        return None
    return await session.scalar(select(User.display_name).where(User.id == owner_id))


async def _initial_owner(
    session: AsyncSession, actor: Actor, owner_id: object, create_scope: str,
    province: str | None,
) -> tuple[int | None, str]:
    """The new customer's account manager and the reason of that assignment, by the rule
    of ``crm_core.account_managers`` (None: the shared pool)."""
    if owner_id is None:
        if creator_keeps(actor, create_scope):
            return actor.user_id, "claim"
        return await region_manager(session, province), "region"
    scope = require(actor, "customers", "reassign")
    owner = await session.get(User, optional_id(owner_id, "owner_id"))
    if owner is None or not owner.active:
        raise ValidationFailed("owner_id", "no such active user")
    if not allows(actor, scope, owner_id=owner.id, owner_team=owner.team, province=owner.region):
        raise ValidationFailed("owner_id", "outside your reassign scope")
    return owner.id, "transfer"


def add_numbers(
    session: AsyncSession,
    customer_id: int,
    numbers: list[tuple[str, str]],
    contact_id: int | None = None,
) -> list[PhoneNumber]:
    """Stage PhoneNumber rows (kind guessed) for a customer (or one of its contacts)."""
    rows = [
        PhoneNumber(customer_id=customer_id, contact_id=contact_id, number_e164=number,
                    raw=raw, kind=guess_kind(number))
        for number, raw in numbers
    ]
    session.add_all(rows)
    return rows


async def phone_numbers(session: AsyncSession, customer_id: int) -> list[dict[str, Any]]:
    """The customer's numbers (its own and its contacts'), oldest first."""
    rows = await session.scalars(
        select(PhoneNumber).where(PhoneNumber.customer_id == customer_id)
        .order_by(PhoneNumber.id)
    )
    return [to_dict(r) for r in rows]


async def has_number(session: AsyncSession, customer_id: int, number: str) -> bool:
    """Whether ``number`` (normalised: ``typed_number``'s form) is one of customer
    ``customer_id``'s numbers, its own or its contacts' (or of a customer merged into
    it). No grant is checked: the caller has already read the customer."""
    found = await session.scalar(
        select(PhoneNumber.id)
        .join(Customer, Customer.id == PhoneNumber.customer_id)
        .where(PhoneNumber.number_e164 == number,
               (Customer.id == customer_id) | (Customer.merged_into_id == customer_id))
        .limit(1))
    return found is not None


async def customer_dict(session: AsyncSession, customer: Customer) -> dict[str, Any]:
    """The full view of one customer: columns, owner name, phone numbers."""
    return to_dict(
        customer,
        owner_name=await _owner_name(session, customer.owner_id),
        phone_numbers=await phone_numbers(session, customer.id),
    )


# --- services ----------------------------------------------------------------------------


async def create_customer(
    session: AsyncSession,
    actor: Actor,
    *,
    name: str,
    numbers: Sequence[str] = (),
    kind: str = "company",
    category: str | None = None,
    industry: str | None = None,
    source: str | None = None,
    province: str | None = None,
    city: str | None = None,
    address: str | None = None,
    vip_tier: int = 0,
    vip_value: object = None,
    status: str = "prospect",
    owner_id: int | None = None,
    now: datetime | None = None,
    rules: OwnershipRules | None = None,
) -> dict[str, Any]:
    """A new customer with its phone numbers; ``DuplicateCustomer`` if it exists,
    ``CapReached`` (a ``ValidationFailed`` on ``owner_id``) when a manager is at the
    ownership cap (``rules``, default ``OwnershipRules()``)."""
    create_scope = require(actor, "customers", "create")
    fields = _clean_fields({
        "name": name, "kind": kind, "category": category, "industry": industry,
        "source": source, "province": province, "city": city, "address": address,
        "vip_tier": vip_tier, "vip_value": vip_value, "status": status,
    })
    clean_numbers = normalize_numbers(numbers)
    owner, reason = await _initial_owner(session, actor, owner_id, create_scope,
                                         fields.get("province"))
    await check_new_customer(session, name=fields["name"], numbers=[n for n, _ in clean_numbers])
    at = current(now)
    customer = Customer(**fields, name_key=compute_name_key(fields["name"]), created_at=at,
                        updated_at=at)
    session.add(customer)
    await session.flush()
    add_numbers(session, customer.id, clean_numbers)
    await session.flush()
    audit(session, user_id=actor.user_id, action="create", entity="customer",
          entity_id=customer.id, after=await customer_dict(session, customer))
    if owner is not None:
        # an explicit owner was checked against the reassign scope above, and the region
        # rule is the company's decision; a new pool customer is in nobody's scope, so
        # those run with admin rights (a creator's own claim keeps the actor: capped)
        mover = actor if reason == "claim" else replace(actor, is_admin=True)
        await assign_owner(session, mover, customer.id, owner, reason=reason, now=at,
                           rules=rules)
        customer.last_touched_at = at
        await session.flush()
    return await customer_dict(session, customer)


async def get_customer(session: AsyncSession, actor: Actor, customer_id: int) -> dict[str, Any]:
    """One customer in the actor's read scope (else ``NotFound``)."""
    customer = await load_customer(session, actor, customer_id, "customers", "read")
    return await customer_dict(session, customer)


async def update_customer(
    session: AsyncSession,
    actor: Actor,
    customer_id: int,
    changes_: Mapping[str, Any],
    *,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Partial update (fields in ``CUSTOMER_UPDATE_FIELDS``); the owner changes through
    ``crm_core.ownership``; audited with before/after."""
    check_fields(changes_, CUSTOMER_UPDATE_FIELDS)
    fields = _clean_fields(changes_)
    customer = await load_customer(session, actor, customer_id, "customers", "update")
    if "name" in fields:
        await check_new_customer(session, name=fields["name"], numbers=[],
                                 exclude_id=customer.id)
    before = snapshot(customer)
    for key, value in fields.items():
        setattr(customer, key, value)
    if "name" in fields:
        customer.name_key = compute_name_key(fields["name"])
    touch(customer, actor, current(now))
    await session.flush()
    after = snapshot(customer)
    audit(session, user_id=actor.user_id, action="update", entity="customer",
          entity_id=customer.id, before=before, after=changes(before, after))
    return await customer_dict(session, customer)


async def delete_customer(session: AsyncSession, actor: Actor, customer_id: int) -> None:
    """Delete a customer and everything hanging off it (``customers`` delete grant)."""
    customer = await load_customer(session, actor, customer_id, "customers", "delete")
    before = await customer_dict(session, customer)
    await session.delete(customer)
    await session.flush()
    audit(session, user_id=actor.user_id, action="delete", entity="customer",
          entity_id=customer_id, before=before)


async def list_customers(
    session: AsyncSession,
    actor: Actor,
    *,
    status: str | None = None,
    owner_id: int | None = None,
    limit: int = 50,
    offset: int = 0,
) -> dict[str, Any]:
    """Customers in the read scope, by id (see ``crm_core.search`` for searching)."""
    from crm_core.search import search_customers

    return await search_customers(
        session, actor, status=status, owner_id=owner_id, limit=limit, offset=offset
    )


async def add_phone_number(
    session: AsyncSession,
    actor: Actor,
    customer_id: int,
    number: str,
    *,
    kind: str | None = None,
    contact_id: int | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Add a number to a customer (``customers`` update) or one of its contacts
    (``contacts`` update)."""
    module = "customers" if contact_id is None else "contacts"
    customer = await load_customer(session, actor, customer_id, module, "update")
    e164, raw = normalize_number(number)
    if kind is not None:
        kind = choice(kind, "kind", PHONE_KINDS)
    if contact_id is not None:
        await _check_contact(session, customer.id, contact_id)
    taken = await session.scalar(
        select(PhoneNumber.id).where(PhoneNumber.customer_id == customer.id,
                                     PhoneNumber.number_e164 == e164)
    )
    if taken is not None:
        raise ValidationFailed("number", "already recorded for this customer")
    await check_new_customer(session, name=None, numbers=[e164], exclude_id=customer.id)
    row = add_numbers(session, customer.id, [(e164, raw)], contact_id)[0]
    if kind is not None:
        row.kind = kind
    touch(customer, actor, current(now))
    await session.flush()
    audit(session, user_id=actor.user_id, action="create", entity="phone_number",
          entity_id=row.id, after=to_dict(row))
    return to_dict(row)


async def _check_contact(session: AsyncSession, customer_id: int, contact_id: object) -> None:
    from crm_core.models import Contact

    optional_id(contact_id, "contact_id")
    found = await session.scalar(
        select(Contact.id).where(Contact.id == contact_id, Contact.customer_id == customer_id)
    )
    if found is None:
        raise ValidationFailed("contact_id", "no such contact of this customer")


async def remove_phone_number(
    session: AsyncSession, actor: Actor, phone_id: int, *, now: datetime | None = None
) -> None:
    """Remove one number (same grants as adding it)."""
    if not is_id(phone_id):
        raise NotFound("phone_number", phone_id)
    row = await session.get(PhoneNumber, phone_id)
    if row is None:
        raise NotFound("phone_number", phone_id)
    module = "customers" if row.contact_id is None else "contacts"
    try:
        customer = await load_customer(session, actor, row.customer_id, module, "update")
    except NotFound:
        raise NotFound("phone_number", phone_id) from None
    before = to_dict(row)
    await session.delete(row)
    touch(customer, actor, current(now))
    await session.flush()
    audit(session, user_id=actor.user_id, action="delete", entity="phone_number",
          entity_id=phone_id, before=before)
