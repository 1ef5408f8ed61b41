"""The shared pool (公海): customers without an account manager, listed for whoever may
take one (claim it) or hand one out.

Rules:
- who may list it: a user who may claim (``customers``/``update`` at any scope, see
  ``crm_core.ownership``) or assign (``customers``/``reassign``); anyone else gets
  ``PermissionDenied``. The pool is the one place where a salesman sees customers
  that are not his, so it shows what deciding to take one needs and no more: the
  name, kind, where, sector, VIP tier, status, when it came into the pool and from
  whom; never phone numbers, contacts or notes (those come with the claim);
- live customers only (tombstones of merges never), the key customers first (VIP
  tier), then the longest in the pool; ``q`` filters on the name (a substring,
  ``%``/``_`` literal), ``province`` on the province;
- answers are pages ``{items, total, limit, offset}``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from crm_core.models import Customer, OwnershipChange, User
from crm_core.permissions import Actor, PermissionDenied, scope_for
from crm_core.records import check_page, page, paginate, text

_SHOWN = ("id", "name", "kind", "category", "industry", "province", "city", "vip_tier",
          "status", "created_at", "last_touched_at")


def may_list_pool(actor: Actor) -> bool:
    """Whether ``actor`` may see the pool (claim or assign from it)."""
    return any(scope_for(actor, "customers", op) is not None for op in ("update", "reassign"))


def _filters(q: str | None, province: str | None) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [
        Customer.owner_id.is_(None), Customer.merged_into_id.is_(None)]
    if q is not None:
        conditions.append(func.lower(Customer.name).contains(q.lower(), autoescape=True))
    if province is not None:
        conditions.append(Customer.province == province)
    return conditions


async def pool_customers(
    session: AsyncSession, actor: Actor, *, q: object = None, province: object = None,
    limit: int = 50, offset: int = 0,
) -> dict[str, Any]:
    """The pool's customers (module rules): each with ``pooled_at`` (when it last came
    into the pool, None when it never had an owner) and ``previous_owner``
    (``{"id", "display_name"}`` of who held it then, or None)."""
    if not may_list_pool(actor):
        raise PermissionDenied("customers", "update")
    lim, off = check_page(limit, offset)
    name_part = text(q, "q", max_len=200)
    where = text(province, "province", max_len=100)
    # the last change that left it without an owner: when, and from whom
    last = (select(OwnershipChange.customer_id, func.max(OwnershipChange.id).label("id"))
            .where(OwnershipChange.to_user_id.is_(None))
            .group_by(OwnershipChange.customer_id).subquery())
    change = aliased(OwnershipChange)
    previous = aliased(User)
    stmt = (
        select(Customer, change.at, previous.id, previous.display_name)
        .outerjoin(last, last.c.customer_id == Customer.id)
        .outerjoin(change, change.id == last.c.id)
        .outerjoin(previous, previous.id == change.from_user_id)
        .where(*_filters(name_part, where))
        .order_by(Customer.vip_tier.desc(), change.at.asc().nulls_first(), Customer.id)
    )
    rows, total = await paginate(session, stmt, lim, off)
    items = []
    for customer, pooled_at, prev_id, prev_name in rows:
        item = {name: getattr(customer, name) for name in _SHOWN}
        item["pooled_at"] = pooled_at
        item["previous_owner"] = (None if prev_id is None
                                  else {"id": prev_id, "display_name": prev_name})
        items.append(item)
    return page(items, total, lim, off)
