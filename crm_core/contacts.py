"""Contacts: the people at a customer, each with a role and phone numbers.

Rules:
- module ``contacts``; the scope is the customer's (``records.load_customer``);
- a contact needs a name; ``email`` must look like an address; numbers are
  validated and stored like the customer's (``customers.normalize_numbers``),
  with ``contact_id`` set; a number already on the customer is refused, one on
  another customer is ``DuplicateCustomer`` (``duplicates.check_new_customer``);
- deleting a contact keeps its numbers on the customer (they still identify
  the caller), only the link to the contact goes;
- every write is audited and touches the customer when its owner does it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.audit import audit, snapshot
from crm_core.customers import add_numbers, normalize_numbers
from crm_core.duplicates import check_new_customer
from crm_core.errors import ValidationFailed
from crm_core.models import Contact, PhoneNumber
from crm_core.permissions import Actor
from crm_core.records import (
    DEFAULT_PAGE,
    check_fields,
    current,
    delete_row,
    list_records,
    load_customer,
    load_record,
    required_text,
    save_changes,
    text,
    to_dict,
    touch,
)

CONTACT_UPDATE_FIELDS = ("name", "role", "email", "notes")


def _clean(data: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key == "name":
            out[key] = required_text(value, key, max_len=100)
        elif key == "role":
            out[key] = text(value, key, max_len=100)
        elif key == "email":
            email = text(value, key, max_len=200)
            if email is not None and ("@" not in email or " " in email):
                raise ValidationFailed(key, "not an email address")
            out[key] = email
        elif key == "notes":
            out[key] = text(value, key, max_len=4000)
        else:
            raise ValidationFailed(key, "unknown or read-only field")
    return out


async def _contact_dict(session: AsyncSession, contact: Contact) -> dict[str, Any]:
    numbers = await session.scalars(
        select(PhoneNumber).where(PhoneNumber.contact_id == contact.id).order_by(PhoneNumber.id)
    )
    return to_dict(contact, phone_numbers=[to_dict(n) for n in numbers])


async def create_contact(
    session: AsyncSession,
    actor: Actor,
    customer_id: int,
    *,
    name: str,
    role: str | None = None,
    email: str | None = None,
    notes: str | None = None,
    numbers: Sequence[str] = (),
    now: datetime | None = None,
) -> dict[str, Any]:
    """A new contact of ``customer_id``, with its numbers."""
    fields = _clean({"name": name, "role": role, "email": email, "notes": notes})
    clean_numbers = normalize_numbers(numbers)
    customer = await load_customer(session, actor, customer_id, "contacts", "create")
    if clean_numbers:
        taken = await session.scalar(
            select(PhoneNumber.number_e164).where(
                PhoneNumber.customer_id == customer.id,
                PhoneNumber.number_e164.in_([n for n, _ in clean_numbers]),
            ).limit(1)
        )
        if taken is not None:
            raise ValidationFailed("numbers", f"{taken} is already recorded for this customer")
        await check_new_customer(session, name=None, numbers=[n for n, _ in clean_numbers],
                                 exclude_id=customer.id)
    contact = Contact(customer_id=customer.id, **fields)
    session.add(contact)
    await session.flush()
    add_numbers(session, customer.id, clean_numbers, contact.id)
    touch(customer, actor, current(now))
    await session.flush()
    view = await _contact_dict(session, contact)
    audit(session, user_id=actor.user_id, action="create", entity="contact",
          entity_id=contact.id, after=view)
    return view


async def get_contact(session: AsyncSession, actor: Actor, contact_id: int) -> dict[str, Any]:
    """One contact whose customer is in the read scope."""
    contact, _ = await load_record(session, actor, Contact, contact_id, "contacts", "read")
    return await _contact_dict(session, contact)


async def list_contacts(
    session: AsyncSession,
    actor: Actor,
    customer_id: int,
    *,
    limit: int = DEFAULT_PAGE,
    offset: int = 0,
) -> dict[str, Any]:
    """The contacts of one customer, oldest first (``NotFound`` out of scope)."""
    await load_customer(session, actor, customer_id, "contacts", "read")
    return await list_records(
        session, actor, Contact, "contacts", customer_id=customer_id, limit=limit, offset=offset
    )


async def update_contact(
    session: AsyncSession,
    actor: Actor,
    contact_id: int,
    changes_: Mapping[str, Any],
    *,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Partial update of ``CONTACT_UPDATE_FIELDS``; audited with before/after."""
    check_fields(changes_, CONTACT_UPDATE_FIELDS)
    fields = _clean(changes_)
    contact, customer = await load_record(
        session, actor, Contact, contact_id, "contacts", "update"
    )
    before = snapshot(contact)
    for key, value in fields.items():
        setattr(contact, key, value)
    await save_changes(session, actor, contact, customer, before, entity="contact",
                       at=current(now))
    return await _contact_dict(session, contact)


async def delete_contact(session: AsyncSession, actor: Actor, contact_id: int) -> None:
    """Delete a contact (``contacts`` delete grant); its numbers stay on the customer."""
    contact, _ = await load_record(session, actor, Contact, contact_id, "contacts", "delete")
    before = await _contact_dict(session, contact)
    await session.execute(
        update(PhoneNumber).where(PhoneNumber.contact_id == contact.id).values(contact_id=None)
    )
    await delete_row(session, actor, contact, entity="contact", before=before)
