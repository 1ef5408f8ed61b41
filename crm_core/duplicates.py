"""The duplicate guard and the merge of two customer records into one.

Rules:
- a customer duplicates an existing one when they share a phone number (compared
  normalised: ``numbering.normalize``, so any written form matches) or a name
  (``crm_core.names``: the same ``name_key`` -- legal forms, spacing, punctuation,
  width, traditional/simplified characters and leading places ignored -- and places
  that agree, so ``上海华东医药包装有限责任公司`` is ``华东医药包装有限公司`` but
  ``郑州X`` is not ``洛阳X``); an empty name key never matches;
- the guard sees EVERY live customer, whatever the actor's scope: its whole point
  is to tell a salesman "this one is already Wang's"; it reveals only the id, the
  name and the owner of the existing record;
- merged customers (tombstones: ``merged_into_id`` set) are never duplicates;
- ``merge_customers`` moves everything that hangs off the merged customer
  (contacts, phone numbers, assets, interactions, tickets, opportunities,
  subscriptions, call records) to the kept one with set-based UPDATEs, drops the
  phone numbers the kept one already has, fills the kept one's empty fields, and
  leaves the merged one as a TOMBSTONE: ``merged_into_id = keep_id``, nothing
  attached, its status untouched; lists and searches leave tombstones out, the
  360 lookup follows ``merged_into_id``; the tombstone's own ownership history
  stays with it;
- the kept customer keeps its owner; if it had none (pool) it adopts the merged
  one's; when the owners differ the change is recorded (``OwnershipChange``,
  reason "merge") on the customer whose owner changed; all in the caller's
  transaction, with audit entries for both customers;
- ``backfill_name_keys`` computes ``name_key`` for rows written without one (rows
  from before migration 0002/0003, or written by code that bypasses the customer
  service such as ``call_log.add_customer``); the daily job runs it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, bindparam, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from crm_core.audit import audit, snapshot
from crm_core.errors import DuplicateCustomer, NotFound, ValidationFailed
from crm_core.models import (
    Asset,
    CallRecord,
    Contact,
    Customer,
    Interaction,
    Opportunity,
    OwnershipChange,
    PhoneNumber,
    Subscription,
    Ticket,
    User,
    as_utc,
    utcnow,
)
from crm_core.names import name_parts, name_places, places_agree
from crm_core.permissions import Actor, customer_filter, require
from crm_core.records import is_id
from numbering.normalize import normalize

# the records moved by a merge: (key in the result, model); phone numbers apart
_MOVED: tuple[tuple[str, Any], ...] = (
    ("contacts", Contact),
    ("assets", Asset),
    ("interactions", Interaction),
    ("tickets", Ticket),
    ("opportunities", Opportunity),
    ("subscriptions", Subscription),
    ("call_records", CallRecord),
)
# empty fields of the kept customer taken from the merged one
_FILLED = ("category", "industry", "source", "province", "city", "address", "vip_value")
_BACKFILL_BATCH = 5000


def phone_keys(numbers: Sequence[str], region: str = "CN") -> list[str]:
    """The normalised forms of ``numbers`` (unparseable ones dropped), sorted."""
    return sorted({
        key for raw in numbers
        if isinstance(raw, str) and (key := normalize(raw, region)) is not None
    })


async def _owner_names(session: AsyncSession, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = await session.execute(select(User.id, User.display_name).where(User.id.in_(ids)))
    return {int(uid): str(name) for uid, name in rows}


async def find_duplicates(
    session: AsyncSession,
    *,
    name: str | None,
    numbers: Sequence[str],
    exclude_id: int | None = None,
    region: str = "CN",
) -> list[dict[str, Any]]:
    """Live customers sharing a phone number or the name key, phone matches first.

    Each: ``{"id", "name", "owner": {"id", "display_name"} | None, "reason":
    "phone" | "name", "reasons": [...], "numbers": [matching E.164...]}``.
    """
    live: list[ColumnElement[bool]] = [Customer.merged_into_id.is_(None)]
    if exclude_id is not None and is_id(exclude_id):
        live.append(Customer.id != exclude_id)
    found: dict[int, dict[str, Any]] = {}
    keys = phone_keys(numbers, region)
    if keys:
        rows = await session.execute(
            select(Customer.id, Customer.name, Customer.owner_id, PhoneNumber.number_e164)
            .join(PhoneNumber, PhoneNumber.customer_id == Customer.id)
            .where(PhoneNumber.number_e164.in_(keys), *live)
            .order_by(Customer.id, PhoneNumber.number_e164)
        )
        for cid, cname, owner_id, number in rows:
            entry = found.setdefault(cid, _entry(cid, cname, owner_id, "phone"))
            if number not in entry["numbers"]:
                entry["numbers"].append(number)
    parts = name_parts(name) if isinstance(name, str) else None
    if parts is not None and parts.key:
        named = await session.execute(
            select(Customer.id, Customer.name, Customer.owner_id)
            .where(Customer.name_key == parts.key, *live)
            .order_by(Customer.id)
        )
        for cid, cname, owner_id in named:
            if not places_agree(parts.places, name_places(cname)):
                continue  # same firm name in two places named: two customers
            entry = found.setdefault(cid, _entry(cid, cname, owner_id, "name"))
            if "name" not in entry["reasons"]:
                entry["reasons"].append("name")
    names = await _owner_names(session, {e["owner_id"] for e in found.values() if e["owner_id"]})
    result = []
    for entry in sorted(found.values(), key=lambda e: (e["reason"] != "phone", e["id"])):
        owner_id = entry.pop("owner_id")
        entry["owner"] = (
            None if owner_id is None else {"id": owner_id, "display_name": names.get(owner_id)}
        )
        result.append(entry)
    return result


def _entry(cid: int, cname: str, owner_id: int | None, reason: str) -> dict[str, Any]:
    return {
        "id": cid, "name": cname, "owner_id": owner_id, "reason": reason, "reasons": [reason],
        "numbers": [],
    }


async def check_new_customer(
    session: AsyncSession, *, name: str | None, numbers: Sequence[str],
    exclude_id: int | None = None,
) -> None:
    """Raise ``DuplicateCustomer`` naming the existing record and its owner, if any."""
    found = await find_duplicates(session, name=name, numbers=numbers, exclude_id=exclude_id)
    if found:
        first = found[0]
        owner = first["owner"]
        raise DuplicateCustomer(
            first["id"], first["name"], None if owner is None else owner["display_name"],
            first["reason"],
        )


# --- merge --------------------------------------------------------------------------------


async def _load_for_merge(
    session: AsyncSession, actor: Actor, scope: str, customer_id: int
) -> Customer:
    customer = await session.scalar(
        select(Customer)
        .where(
            Customer.id == customer_id, Customer.merged_into_id.is_(None),
            customer_filter(actor, scope),
        )
        .with_for_update()
    )
    if customer is None:
        raise NotFound("customer", customer_id)
    return customer


async def _move_phone_numbers(session: AsyncSession, keep_id: int, merge_id: int) -> dict[str, int]:
    """Phone numbers to ``keep_id``; one the kept customer already has is dropped
    (its contact link carried over when the kept row had none)."""
    other = aliased(PhoneNumber)
    await session.execute(
        update(PhoneNumber)
        .where(PhoneNumber.customer_id == keep_id, PhoneNumber.contact_id.is_(None))
        .values(
            contact_id=select(other.contact_id)
            .where(
                other.customer_id == merge_id, other.number_e164 == PhoneNumber.number_e164,
                other.contact_id.is_not(None),
            )
            .limit(1)
            .scalar_subquery()
        )
        .execution_options(synchronize_session=False)
    )
    kept_numbers = select(PhoneNumber.number_e164).where(PhoneNumber.customer_id == keep_id)
    dropped: Any = await session.execute(
        delete(PhoneNumber)
        .where(PhoneNumber.customer_id == merge_id, PhoneNumber.number_e164.in_(kept_numbers))
        .execution_options(synchronize_session=False)
    )
    moved: Any = await session.execute(
        update(PhoneNumber)
        .where(PhoneNumber.customer_id == merge_id)
        .values(customer_id=keep_id)
        .execution_options(synchronize_session=False)
    )
    return {"phone_numbers": int(moved.rowcount or 0),
            "phone_numbers_dropped": int(dropped.rowcount or 0)}


async def _move_records(session: AsyncSession, keep_id: int, merge_id: int) -> dict[str, int]:
    counts = await _move_phone_numbers(session, keep_id, merge_id)
    for key, model in _MOVED:
        result: Any = await session.execute(
            update(model)
            .where(model.customer_id == merge_id)
            .values(customer_id=keep_id)
            .execution_options(synchronize_session=False)
        )
        counts[key] = int(result.rowcount or 0)
    # earlier tombstones of the merged customer now point straight at the kept one
    await session.execute(
        update(Customer)
        .where(Customer.merged_into_id == merge_id)
        .values(merged_into_id=keep_id)
        .execution_options(synchronize_session=False)
    )
    return counts


def _fill_blanks(keep: Customer, merge: Customer) -> None:
    for field in _FILLED:
        if getattr(keep, field) in (None, "") and getattr(merge, field) not in (None, ""):
            setattr(keep, field, getattr(merge, field))
    keep.vip_tier = max(keep.vip_tier or 0, merge.vip_tier or 0)
    touched = [t for t in (keep.last_touched_at, merge.last_touched_at) if t is not None]
    keep.last_touched_at = max(touched) if touched else None


def _owner_change(
    session: AsyncSession, customer: Customer, to_user_id: int | None, actor: Actor,
    at: datetime,
) -> None:
    session.add(
        OwnershipChange(
            customer_id=customer.id, from_user_id=customer.owner_id, to_user_id=to_user_id,
            at=at, by_id=actor.user_id, reason="merge",
        )
    )
    customer.owner_id = to_user_id
    customer.owner_since = at if to_user_id is not None else None


async def merge_customers(
    session: AsyncSession, actor: Actor, *, keep_id: int, merge_id: int,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Merge customer ``merge_id`` into ``keep_id`` (see the module rules).

    Needs ("customers", "update") with both customers in scope. Returns ``{"keep_id",
    "merge_id", "owner_id", "moved": {"contacts", "phone_numbers",
    "phone_numbers_dropped", "assets", "interactions", "tickets", "opportunities",
    "subscriptions", "call_records"}}``.
    """
    for cid in (keep_id, merge_id):
        if not is_id(cid):
            raise NotFound("customer", cid)
    if keep_id == merge_id:
        raise ValidationFailed("merge_id", "a customer cannot be merged into itself")
    at = utcnow() if now is None else as_utc(now)
    scope = require(actor, "customers", "update")
    # lock in id order: two merges of the same pair in opposite directions cannot deadlock
    first, second = sorted((keep_id, merge_id))
    loaded = {cid: await _load_for_merge(session, actor, scope, cid) for cid in (first, second)}
    keep, merge = loaded[keep_id], loaded[merge_id]
    keep_before, merge_before = snapshot(keep), snapshot(merge)
    moved = await _move_records(session, keep_id, merge_id)
    _fill_blanks(keep, merge)
    if keep.owner_id is None and merge.owner_id is not None:
        _owner_change(session, keep, merge.owner_id, actor, at)
    elif merge.owner_id != keep.owner_id:
        _owner_change(session, merge, keep.owner_id, actor, at)
    merge.merged_into_id = keep_id
    await session.flush()
    audit(
        session, user_id=actor.user_id, action="merge", entity="customer", entity_id=merge_id,
        before=merge_before, after=snapshot(merge),
    )
    audit(
        session, user_id=actor.user_id, action="merge", entity="customer", entity_id=keep_id,
        before=keep_before, after={**snapshot(keep), "merged_from": merge_id, "moved": moved},
    )
    return {"keep_id": keep_id, "merge_id": merge_id, "owner_id": keep.owner_id, "moved": moved}


# --- name keys of old rows ----------------------------------------------------------------


async def backfill_name_keys(session: AsyncSession) -> int:
    """Compute ``name_key`` where it is empty; returns how many rows got one."""
    rows = (
        await session.execute(select(Customer.id, Customer.name).where(Customer.name_key == ""))
    ).all()
    updates = [{"b_id": cid, "b_key": key} for cid, cname in rows
               if (key := name_parts(cname).key)]
    table = Customer.__table__
    stmt = (
        update(table)  # type: ignore[arg-type]
        .where(table.c.id == bindparam("b_id"))
        .values(name_key=bindparam("b_key"))
    )
    for i in range(0, len(updates), _BACKFILL_BATCH):
        await session.execute(stmt, updates[i : i + _BACKFILL_BATCH])
    return len(updates)
