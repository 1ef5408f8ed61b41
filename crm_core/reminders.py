"""Reminders (what ends soon) and the daily job (what has ended).

Rules:
- ``upcoming`` lists active subscriptions and contracts (``Subscription.kind``)
  whose ``end_date``, and warranties whose ``Asset.warranty_end``, falls within
  ``today .. today + within_days`` (both included), soonest first;
- whose: by default the customers the actor OWNS; supervisors (a
  ("customers", "reassign") grant) and admins see every customer in their read
  scope instead; ``team_view`` forces one or the other. Subscriptions need
  ("subscriptions", "read"), warranties ("assets", "read"): without the grant that
  kind is simply not listed; without either, ``PermissionDenied``;
- ``expire_subscriptions``: every ACTIVE subscription/contract whose ``end_date``
  is before ``today`` becomes ``not_renewed``, audited as the system (user None);
  it takes everything past, not just yesterday's, so it catches up after any
  downtime, and running it twice changes nothing the second time; renewed and
  cancelled ones are left alone;
- ``daily_job`` runs the expiry, the pool return (``crm_core.ownership``) and the
  name-key backfill, each in its own transaction: one failing is logged and
  counted, the others still run;
- business days are Asia/Shanghai days (``business_today``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, String, cast, insert, literal, null, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_core.duplicates import backfill_name_keys
from crm_core.errors import ValidationFailed
from crm_core.models import Asset, AuditEntry, Customer, Subscription, User, UtcDateTime, utcnow
from crm_core.order_notices import tell_overdue
from crm_core.outbound_lists import refresh_all
from crm_core.ownership import OwnershipRules, json_object, return_untouched_to_pool
from crm_core.permissions import Actor, PermissionDenied, customer_filter, scope_for
from crm_core.records import integer

log = logging.getLogger(__name__)

BUSINESS_TZ = ZoneInfo("Asia/Shanghai")
MAX_WITHIN_DAYS = 3660
DEFAULT_LIMIT = 1000


def business_today(now: datetime | None = None) -> date:
    """The current business day (Asia/Shanghai)."""
    return (now or utcnow()).astimezone(BUSINESS_TZ).date()


# --- upcoming -----------------------------------------------------------------------------


def _is_supervisor(actor: Actor) -> bool:
    return actor.is_admin or scope_for(actor, "customers", "reassign") is not None


def _whose(actor: Actor, module: str, team_view: bool) -> ColumnElement[bool] | None:
    """The customer condition for ``module`` (None: the actor may not read it)."""
    scope = scope_for(actor, module, "read")
    if scope is None:
        return None
    if team_view:
        return customer_filter(actor, scope)
    return Customer.owner_id == actor.user_id


async def _subscriptions(
    session: AsyncSession, whose: ColumnElement[bool], first: date, last: date, limit: int
) -> list[dict[str, Any]]:
    rows = await session.execute(
        select(Subscription.id, Subscription.kind, Subscription.title, Subscription.end_date,
               Customer.id, Customer.name, Customer.owner_id)
        .join(Customer, Customer.id == Subscription.customer_id)
        .where(Subscription.status == "active", Subscription.end_date >= first,
               Subscription.end_date <= last, Customer.merged_into_id.is_(None), whose)
        .order_by(Subscription.end_date, Subscription.id)
        .limit(limit)
    )
    return [
        {"kind": kind, "id": sid, "title": title, "date": end, "serial_number": None,
         "customer": {"id": cid, "name": cname}, "owner_id": owner_id}
        for sid, kind, title, end, cid, cname, owner_id in rows
    ]


async def _warranties(
    session: AsyncSession, whose: ColumnElement[bool], first: date, last: date, limit: int
) -> list[dict[str, Any]]:
    rows = await session.execute(
        select(Asset.id, Asset.model, Asset.serial_number, Asset.warranty_end,
               Customer.id, Customer.name, Customer.owner_id)
        .join(Customer, Customer.id == Asset.customer_id)
        .where(Asset.warranty_end >= first, Asset.warranty_end <= last,
               Customer.merged_into_id.is_(None), whose)
        .order_by(Asset.warranty_end, Asset.id)
        .limit(limit)
    )
    return [
        {"kind": "warranty", "id": aid, "title": model or serial, "date": end,
         "serial_number": serial, "customer": {"id": cid, "name": cname}, "owner_id": owner_id}
        for aid, model, serial, end, cid, cname, owner_id in rows
    ]


async def upcoming(
    session: AsyncSession,
    actor: Actor,
    *,
    within_days: int = 30,
    today: date,
    team_view: bool | None = None,
    limit: int = DEFAULT_LIMIT,
) -> list[dict[str, Any]]:
    """What ends within ``within_days`` of ``today``, soonest first (module rules).

    Each: ``{"kind": "subscription" | "contract" | "warranty", "id", "title", "date"
    (ISO), "days_left", "serial_number" (warranties), "customer": {"id", "name"},
    "owner": {"id", "display_name"} | None}``.
    """
    integer(within_days, "within_days", low=0, high=MAX_WITHIN_DAYS)
    integer(limit, "limit", low=1, high=10 * DEFAULT_LIMIT)
    if not isinstance(today, date):
        raise ValidationFailed("today", "must be a date")
    wide = _is_supervisor(actor) if team_view is None else team_view
    subs, assets = _whose(actor, "subscriptions", wide), _whose(actor, "assets", wide)
    if subs is None and assets is None:
        raise PermissionDenied("subscriptions", "read")
    last = today + timedelta(days=within_days)
    items: list[dict[str, Any]] = []
    if subs is not None:
        items += await _subscriptions(session, subs, today, last, limit)
    if assets is not None:
        items += await _warranties(session, assets, today, last, limit)
    items.sort(key=lambda item: (item["date"], item["kind"], item["id"]))
    items = items[:limit]
    names = await _user_names(session, {i["owner_id"] for i in items if i["owner_id"]})
    for item in items:
        owner_id = item.pop("owner_id")
        item["owner"] = (
            None if owner_id is None else {"id": owner_id, "display_name": names.get(owner_id)}
        )
        item["days_left"] = (item["date"] - today).days
        item["date"] = item["date"].isoformat()
    return items


async def _user_names(session: AsyncSession, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = await session.execute(select(User.id, User.display_name).where(User.id.in_(ids)))
    return {int(uid): str(name) for uid, name in rows}


# --- the daily job ------------------------------------------------------------------------


async def expire_subscriptions(
    session: AsyncSession, *, today: date, now: datetime | None = None
) -> int:
    """Active subscriptions/contracts that ended before ``today`` become
    ``not_renewed`` (one audit entry each, by the system); returns how many."""
    ended = (Subscription.status == "active") & (Subscription.end_date < today)
    at = utcnow() if now is None else now
    dialect = session.get_bind().dialect.name
    await session.execute(select(Subscription.id).where(ended).with_for_update())
    await session.execute(
        insert(AuditEntry).from_select(
            ["at", "user_id", "action", "entity", "entity_id", "before", "after"],
            select(
                literal(at, UtcDateTime()), null(), literal("expire", String),
                literal("subscription", String), cast(Subscription.id, String),
                json_object(dialect, {"status": Subscription.status}),
                json_object(dialect, {"status": "not_renewed"}),
            ).where(ended),
        )
    )
    result: Any = await session.execute(
        update(Subscription)
        .where(ended)
        .values(status="not_renewed")
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)


async def daily_job(
    sessionmaker: async_sessionmaker[AsyncSession],
    rules: OwnershipRules,
    *,
    today: date,
    now: datetime | None = None,
) -> dict[str, int]:
    """Expiry, pool return, name-key backfill, the call lists' rebuild and the notices
    of overdue supplier batches, each in its own transaction.

    ``now`` (default: the current time) drives the pool rule. Returns ``{"expired",
    "returned_to_pool", "name_keys", "call_lists", "late_batches_told", "errors"}``
    (call_lists: entries added; late_batches_told: the overdue supplier batches); a
    failed step counts 0 and one error.
    """
    at = utcnow() if now is None else now
    steps: list[tuple[str, Callable[[AsyncSession], Awaitable[int]]]] = [
        ("expired", lambda s: expire_subscriptions(s, today=today, now=at)),
        ("returned_to_pool", lambda s: return_untouched_to_pool(s, rules, now=at)),
        ("name_keys", backfill_name_keys),
        # the outbound call lists rebuilt from their rules (entries with an outcome stay)
        ("call_lists", lambda s: refresh_all(s, now=at)),
        # customers of supplier batches past their expected day are told (issue 18)
        ("late_batches_told", lambda s: tell_overdue(s, today)),
    ]
    counts = {"errors": 0}
    for name, step in steps:
        try:
            async with sessionmaker.begin() as session:
                counts[name] = await step(session)
        except Exception:
            log.exception("daily job: %s failed (the other steps still run)", name)
            counts[name] = 0
            counts["errors"] += 1
    log.info("daily job for %s: %s", today.isoformat(), counts)
    return counts
