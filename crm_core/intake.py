"""A new customer as a hotline takes one in: the company, the person on the phone, and
what the agent noted, in one transaction (the console's quick-create, issue 14 item 7).

Rules:
- the customer is ``crm_core.customers.create_customer`` (its grants, duplicate guard,
  audit and the account-manager rule of ``crm_core.account_managers``);
- with a contact person, the numbers are that person's (``crm_core.contacts``): the
  next call from one pops the company AND who is calling; without one, the company's;
- the note is a ``note`` interaction on the customer (``crm_core.interactions``), so it
  shows in the record's history with its author;
- each part checks its own grant; any refusal (a duplicate, a bad field, a missing
  grant) raises, and the caller's transaction writes nothing at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from crm_core import contacts, customers, interactions
from crm_core.models import Customer
from crm_core.ownership import OwnershipRules
from crm_core.permissions import Actor


async def take_in_customer(
    session: AsyncSession,
    actor: Actor,
    *,
    name: str,
    numbers: Sequence[str] = (),
    contact_name: str | None = None,
    contact_role: str | None = None,
    note: str | None = None,
    rules: OwnershipRules | None = None,
    now: datetime | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """The new customer's view, plus ``contact`` (the contact made, or None) and
    ``note_id`` (the note interaction's id, or None)."""
    person = (contact_name or "").strip()
    created = await customers.create_customer(
        session, actor, name=name, numbers=() if person else numbers, rules=rules, now=now,
        **fields)
    contact = None
    if person:
        contact = await contacts.create_contact(
            session, actor, created["id"], name=person, role=contact_role, numbers=numbers,
            now=now)
    note_id = None
    if note and note.strip():
        written = await interactions.create_interaction(
            session, actor, created["id"], kind="note", content=note.strip(), now=now)
        note_id = written["id"]
    customer = await session.get(Customer, created["id"])
    assert customer is not None  # written above, in this transaction
    view = await customers.customer_dict(session, customer)
    return {**view, "contact": contact, "note_id": note_id}
