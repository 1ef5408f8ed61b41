"""Customers that look like the same one twice: the work list of the merge page.

Rules:
- a pair is two live customers (no tombstones) sharing a name key
  (``crm_core.names.name_key``, the duplicate guard's; an empty key never pairs) or a
  phone number (stored normalised, so any written form matched already);
- only pairs the actor could merge are listed: both customers inside the actor's
  ``customers``/``update`` scope (``duplicates.merge_customers`` needs exactly that);
  without the grant, ``PermissionDenied``;
- each pair says why (``reasons``: "phone" and/or "name"; ``numbers``: the shared
  E.164 numbers) and, per customer, what a merge would carry over (counts of contacts,
  phone numbers, assets, tickets, interactions, opportunities), so the person merging
  picks which record to keep;
- pairs sharing a phone come first, then by the lower id; at most ``MAX_PAIRS`` are
  looked at (a data set with more needs a clean-up job, not a page).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from crm_core.models import (
    Asset,
    Contact,
    Customer,
    Interaction,
    Opportunity,
    PhoneNumber,
    Ticket,
    User,
)
from crm_core.permissions import Actor, customer_filter, require
from crm_core.records import check_page, page

MAX_PAIRS = 1000
_COUNTED: tuple[tuple[str, Any], ...] = (
    ("contacts", Contact), ("phone_numbers", PhoneNumber), ("assets", Asset),
    ("tickets", Ticket), ("interactions", Interaction), ("opportunities", Opportunity),
)
_BRIEF = ("id", "name", "kind", "province", "city", "status", "vip_tier", "created_at")


def _mergeable(actor: Actor, scope: str, *ids: Any) -> list[ColumnElement[bool]]:
    """Both customers live and inside ``scope``."""
    inside = select(Customer.id).where(customer_filter(actor, scope))
    out: list[ColumnElement[bool]] = []
    for column, merged in ids:
        out.append(merged.is_(None))
        if scope != "all":
            out.append(column.in_(inside))
    return out


def _name_pairs(actor: Actor, scope: str) -> Select[int, int]:
    a, b = aliased(Customer), aliased(Customer)
    return (
        select(a.id, b.id)
        .join(b, and_(b.name_key == a.name_key, b.id > a.id))
        .where(a.name_key != "", *_mergeable(actor, scope, (a.id, a.merged_into_id),
                                                (b.id, b.merged_into_id)))
        .order_by(a.id, b.id).limit(MAX_PAIRS)
    )


def _phone_pairs(actor: Actor, scope: str) -> Select[int, int, str]:
    p, q = aliased(PhoneNumber), aliased(PhoneNumber)
    a, b = aliased(Customer), aliased(Customer)
    return (
        select(p.customer_id, q.customer_id, p.number_e164)
        .join(q, and_(q.number_e164 == p.number_e164, q.customer_id > p.customer_id))
        .join(a, a.id == p.customer_id).join(b, b.id == q.customer_id)
        .where(*_mergeable(actor, scope, (a.id, a.merged_into_id), (b.id, b.merged_into_id)))
        .order_by(p.customer_id, q.customer_id).limit(MAX_PAIRS)
    )


def combine(name_pairs: Iterable[tuple[int, int]],
            phone_pairs: Iterable[tuple[int, int, str]]) -> list[dict[str, Any]]:
    """The pairs found both ways as one list (pure): ``{"a", "b", "reasons", "numbers"}``
    (ids, a < b), phone pairs first, then by ids."""
    found: dict[tuple[int, int], dict[str, Any]] = {}
    for a, b, number in phone_pairs:
        entry = found.setdefault((a, b), {"a": a, "b": b, "reasons": ["phone"], "numbers": []})
        if number not in entry["numbers"]:
            entry["numbers"].append(number)
    for a, b in name_pairs:
        entry = found.setdefault((a, b), {"a": a, "b": b, "reasons": [], "numbers": []})
        if "name" not in entry["reasons"]:
            entry["reasons"].append("name")
    return sorted(found.values(), key=lambda e: ("phone" not in e["reasons"], e["a"], e["b"]))


async def _briefs(session: AsyncSession, ids: set[int]) -> dict[int, dict[str, Any]]:
    owner = aliased(User)
    rows = await session.execute(
        select(Customer, owner.id, owner.display_name)
        .outerjoin(owner, owner.id == Customer.owner_id).where(Customer.id.in_(ids)))
    out: dict[int, dict[str, Any]] = {}
    for customer, owner_id, owner_name in rows:
        brief = {name: getattr(customer, name) for name in _BRIEF}
        brief["owner"] = None if owner_id is None else {"id": owner_id,
                                                        "display_name": owner_name}
        brief["records"] = dict.fromkeys((key for key, _ in _COUNTED), 0)
        out[customer.id] = brief
    for key, model in _COUNTED:
        counts = await session.execute(
            select(model.customer_id, func.count()).where(model.customer_id.in_(ids))
            .group_by(model.customer_id))
        for customer_id, n in counts:
            out[customer_id]["records"][key] = int(n)
    return out


async def suspected_pairs(
    session: AsyncSession, actor: Actor, *, limit: int = 50, offset: int = 0
) -> dict[str, Any]:
    """One page of the pairs the actor could merge (module rules): each ``{"a": brief,
    "b": brief, "reasons", "numbers"}``, a brief being the customer's id, name, kind,
    province, city, status, VIP tier, creation time, owner and ``records`` counts."""
    scope = require(actor, "customers", "update")
    lim, off = check_page(limit, offset)
    names = [(int(a), int(b)) for a, b in await session.execute(_name_pairs(actor, scope))]
    phones = [(int(a), int(b), str(n))
              for a, b, n in await session.execute(_phone_pairs(actor, scope))]
    pairs = combine(names, phones)
    shown = pairs[off:off + lim]
    briefs = await _briefs(session, {i for p in shown for i in (p["a"], p["b"])})
    items = [{**p, "a": briefs[p["a"]], "b": briefs[p["b"]]} for p in shown]
    return page(items, len(pairs), lim, off)
