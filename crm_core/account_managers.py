"""Who becomes a new customer's account manager (issue 14 item 7): the stated rule.

The rule, as the console's quick-create and the README state it:

1. an explicit ``owner_id`` (needs the customers reassign grant; ``crm_core.customers``);
2. else a creator whose customers create scope is narrower than ``all`` (an account
   manager, a supervisor) keeps what they create (``creator_keeps``): otherwise they
   could not even see it;
3. else (hotline agents, admins, the system) the account manager of the customer's
   region: an active user with the account-manager role (``MANAGER_ROLE``) whose
   ``region`` is the customer's province (compared by ``numbering.regions.province_key``,
   so "江苏省" and "江苏" are one region); with several there, the one who looks after the
   fewest customers now (ties: the lowest id), so a region's newcomers are shared out;
4. else (no province, or nobody in that region) the shared pool, where any account
   manager may claim it.

A hotline agent takes calls for the whole company and is nobody's account manager:
giving the customer to the agent who typed it in would leave it with someone who never
sells to it. Step 3 is a decision of the rule, not a claim: the ownership cap does not
refuse it (``crm_core.ownership``: only claims are capped); its history row says
``region``.

Rules: ``pick_manager`` and ``creator_keeps`` are pure; the queries read users and
counts only, and nothing here writes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.models import Customer, Role, User
from crm_core.permissions import Actor, require
from numbering.regions import PROVINCES, province_key

MANAGER_ROLE = "manager"  # crm_core.users.DEFAULT_ROLES: "account manager: own customers"


def creator_keeps(actor: Actor, create_scope: str) -> bool:
    """Whether a customer ``actor`` creates (with that customers create scope) is theirs."""
    return actor.user_id is not None and not actor.is_admin and create_scope != "all"


def pick_manager(candidates: Iterable[tuple[int, int]]) -> int | None:
    """From ``(user id, customers they look after)``: the least loaded, ties the lowest id."""
    best = min(candidates, key=lambda c: (c[1], c[0]), default=None)
    return None if best is None else best[0]


async def _managers(session: AsyncSession) -> dict[str, list[tuple[int, str, int]]]:
    """Active account managers by region key: ``[(id, display name, customers owned)]``."""
    owned = (
        select(Customer.owner_id, func.count().label("n"))
        .where(Customer.merged_into_id.is_(None), Customer.owner_id.is_not(None))
        .group_by(Customer.owner_id)
        .subquery()
    )
    rows = await session.execute(
        select(User.id, User.display_name, User.region, func.coalesce(owned.c.n, 0))
        .join(Role, Role.id == User.role_id)
        .outerjoin(owned, owned.c.owner_id == User.id)
        .where(Role.name == MANAGER_ROLE, User.active.is_(True), User.region.is_not(None))
    )
    found: dict[str, list[tuple[int, str, int]]] = {}
    for user_id, name, region, count in rows:
        key = province_key(region)
        if key is not None:
            found.setdefault(key, []).append((int(user_id), str(name), int(count)))
    return found


async def region_manager(session: AsyncSession, province: str | None) -> int | None:
    """The account manager the rule gives a new customer of ``province`` (None: the pool)."""
    key = province_key(province)
    if key is None:
        return None
    managers = (await _managers(session)).get(key, [])
    return pick_manager((user_id, count) for user_id, _, count in managers)


async def region_table(session: AsyncSession, actor: Actor) -> dict[str, Any]:
    """What the quick-create shows: for each province, who a customer created there now
    goes to; ``creator_keeps``: the actor keeps what they create (step 2)."""
    scope = require(actor, "customers", "create")
    managers = await _managers(session)
    items = []
    for zh, en in PROVINCES:
        here = managers.get(zh, [])
        chosen = pick_manager((user_id, count) for user_id, _, count in here)
        name = next((n for user_id, n, _ in here if user_id == chosen), None)
        items.append({"region": zh, "name_en": en,
                      "manager": None if chosen is None else {"id": chosen,
                                                               "display_name": name}})
    return {"creator_keeps": creator_keeps(actor, scope), "items": items}
