"""Who looks after a customer: exactly one account manager, or the shared pool.

Rules:
- ``Customer.owner_id`` is the one account manager (None: the shared pool);
  ``owner_since`` is when they got it; every change adds an ``OwnershipChange``
  row (from, to, when, by whom, reason: transfer | claim | leaver | pool | merge |
  region) and an audit entry, in the caller's transaction;
- transfers (``assign_owner``) need ("customers", "reassign") with the customer in
  that scope; without it a user may still CLAIM a pool customer for themselves or
  give their own customer back to the pool, with ("customers", "update") at any
  scope;
- a claim is refused (``CapReached``) when the claimer already holds ``cap``
  customers taken in the last ``cap_period_days`` (customers with an
  ``OwnershipChange`` to them in the period that they still own); every kind of
  change counts towards it, but only claims are refused by it: a supervisor's
  transfer and a leaver's bulk reassignment are deliberate decisions;
- ``reassign_all`` (someone leaves) is ONE set-based operation: the rows are
  locked, history and per-customer audit entries are written by INSERT ... SELECT
  and the owners changed by one UPDATE, so thousands of customers cost a handful
  of statements, never a round trip per customer. The open opportunities (stage
  not won/lost) that the old owner holds on those customers go with them, the same
  set-based way, each audited (issue 14 item 13: a leaver's pipeline stayed with a
  deactivated user nobody reads); to the pool, they are left without an owner. It is
  part of the one reassignment decision, so it needs no opportunities grant of its
  own; opportunities someone else holds, and closed ones (history), do not move;
- ``return_untouched_to_pool``: a customer whose owner has neither taken it
  (``owner_since``) nor touched it (``last_touched_at``) in ``pool_after_days``
  goes back to the pool; a fresh owner therefore always gets the full grace
  period, and running the job twice changes nothing the second time. KEY customers
  (``is_key_customer``: a VIP tier above 0) never go back by this rule, however long
  since their last purchase or contact: a key account is a relationship the company
  chose to keep with its manager (issue 14 item 14), only a person takes it away
  (transfer, leaver);
- merged customers (``merged_into_id`` set: tombstones) are never assigned,
  claimed, counted or returned;
- nothing here commits; times are aware UTC (``now`` is injectable for tests).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    String,
    and_,
    cast,
    exists,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import QueryableAttribute

from crm_core.audit import audit
from crm_core.errors import NotFound, ValidationFailed
from crm_core.models import (
    AuditEntry,
    Customer,
    Opportunity,
    OwnershipChange,
    User,
    UtcDateTime,
    as_utc,
    utcnow,
)
from crm_core.opportunities import OPEN_STAGES
from crm_core.permissions import Actor, PermissionDenied, customer_filter, require, scope_for
from crm_core.records import is_id

# region: a new customer given to its region's account manager (crm_core.account_managers)
REASONS = ("transfer", "claim", "leaver", "pool", "merge", "region")


@dataclass(frozen=True)
class OwnershipRules:
    """The company's rules: at most ``cap`` customers taken per ``cap_period_days``;
    untouched customers back to the pool after ``pool_after_days``."""

    cap: int = 20
    cap_period_days: int = 90
    pool_after_days: int = 30


class CapReached(ValidationFailed):
    """A claim over the cap (a 4xx for the API: field ``owner_id``)."""

    def __init__(self, user_id: int, taken: int, rules: OwnershipRules) -> None:
        super().__init__(
            "owner_id",
            f"cap reached: {taken} customers taken in the last {rules.cap_period_days} days"
            f" (at most {rules.cap})",
        )
        self.user_id = user_id
        self.taken = taken
        self.rules = rules


# --- SQL helpers --------------------------------------------------------------------------


def _dialect(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


def json_object(dialect: str, pairs: dict[str, Any]) -> ColumnElement[Any]:
    """A JSON object built by the database from columns/values (for INSERT ... SELECT)."""
    args: list[Any] = []
    for key, value in pairs.items():
        args.append(literal(key, String))
        if isinstance(value, ColumnElement | QueryableAttribute):
            args.append(value)
        elif value is None:
            args.append(null())
        else:
            args.append(literal(value))
    if dialect == "postgresql":
        return func.jsonb_build_object(*args)
    return func.json_object(*args)


def _const_int(value: int | None) -> ColumnElement[Any]:
    return null() if value is None else literal(value, Integer)


def _at(now: datetime | None) -> datetime:
    return utcnow() if now is None else as_utc(now)


def _history_from(
    where: ColumnElement[bool], *, to_user_id: int | None, at: datetime, by_id: int | None,
    reason: str,
) -> Any:
    """INSERT INTO ownership_change SELECT ... one row per customer matching ``where``."""
    rows = select(
        Customer.id, Customer.owner_id, _const_int(to_user_id), literal(at, UtcDateTime()),
        _const_int(by_id), literal(reason, String),
    ).where(where)
    return insert(OwnershipChange).from_select(
        ["customer_id", "from_user_id", "to_user_id", "at", "by_id", "reason"], rows
    )


def _audit_from(
    dialect: str, where: ColumnElement[bool], *, to_user_id: int | None, at: datetime,
    by_id: int | None, reason: str,
) -> Any:
    """INSERT INTO audit_log SELECT ... one entry per customer matching ``where``."""
    rows = select(
        literal(at, UtcDateTime()), _const_int(by_id), literal("reassign", String),
        literal("customer", String), cast(Customer.id, String),
        json_object(dialect, {"owner_id": Customer.owner_id}),
        json_object(dialect, {"owner_id": to_user_id, "reason": reason}),
    ).where(where)
    return insert(AuditEntry).from_select(
        ["at", "user_id", "action", "entity", "entity_id", "before", "after"], rows
    )


async def _bulk_move(
    session: AsyncSession, where: ColumnElement[bool], *, to_user_id: int | None,
    at: datetime, by_id: int | None, reason: str,
) -> int:
    """History, audit and the owner change of every customer matching ``where``."""
    # lock the rows first (PostgreSQL; SQLite has one writer anyway) so the history,
    # the audit and the update all see the same customers
    await session.execute(select(Customer.id).where(where).with_for_update())
    await session.execute(
        _history_from(where, to_user_id=to_user_id, at=at, by_id=by_id, reason=reason)
    )
    await session.execute(
        _audit_from(
            _dialect(session), where, to_user_id=to_user_id, at=at, by_id=by_id, reason=reason
        )
    )
    result: Any = await session.execute(
        update(Customer)
        .where(where)
        .values(owner_id=to_user_id, owner_since=None if to_user_id is None else at, updated_at=at)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)


@dataclass(frozen=True)
class Reassignment:
    """What a bulk reassignment moved."""

    customers: int
    opportunities: int


async def _move_open_opportunities(
    session: AsyncSession, customers: ColumnElement[bool], *, from_user_id: int,
    to_user_id: int | None, at: datetime, by_id: int | None, reason: str,
) -> int:
    """The open opportunities ``from_user_id`` holds on the customers matching
    ``customers`` (read BEFORE their owner changes) go to ``to_user_id``, audited."""
    where = and_(
        Opportunity.owner_id == from_user_id,
        Opportunity.stage.in_(OPEN_STAGES),
        Opportunity.customer_id.in_(select(Customer.id).where(customers)),
    )
    await session.execute(select(Opportunity.id).where(where).with_for_update())
    dialect = _dialect(session)
    entries = select(
        literal(at, UtcDateTime()), _const_int(by_id), literal("reassign", String),
        literal("opportunity", String), cast(Opportunity.id, String),
        json_object(dialect, {"owner_id": Opportunity.owner_id}),
        json_object(dialect, {"owner_id": to_user_id, "reason": reason,
                              "customer_id": Opportunity.customer_id}),
    ).where(where)
    await session.execute(insert(AuditEntry).from_select(
        ["at", "user_id", "action", "entity", "entity_id", "before", "after"], entries))
    result: Any = await session.execute(
        update(Opportunity).where(where).values(owner_id=to_user_id)
        .execution_options(synchronize_session=False))
    return int(result.rowcount or 0)


# --- reads --------------------------------------------------------------------------------


async def _active_user(session: AsyncSession, user_id: int, field: str) -> User:
    user = await session.get(User, user_id)
    if user is None or not user.active:
        raise ValidationFailed(field, f"no active user {user_id}")
    return user


async def taken_in_period(
    session: AsyncSession, user_id: int, rules: OwnershipRules, now: datetime
) -> int:
    """Customers ``user_id`` took (any ownership change to them) in the last
    ``cap_period_days`` and still owns."""
    if not is_id(user_id):
        return 0
    since = as_utc(now) - timedelta(days=rules.cap_period_days)
    taken = exists().where(
        OwnershipChange.customer_id == Customer.id,
        OwnershipChange.to_user_id == user_id,
        OwnershipChange.at > since,
    )
    count = await session.scalar(
        select(func.count())
        .select_from(Customer)
        .where(Customer.owner_id == user_id, Customer.merged_into_id.is_(None), taken)
    )
    return int(count or 0)


async def can_take(
    session: AsyncSession, user_id: int, rules: OwnershipRules, now: datetime
) -> bool:
    """Whether ``user_id`` may claim one more customer now (below the cap)."""
    return await taken_in_period(session, user_id, rules, now) < rules.cap


def _user_json(user_id: int | None, names: dict[int, str]) -> dict[str, Any] | None:
    if user_id is None:
        return None
    return {"id": user_id, "display_name": names.get(user_id)}


async def ownership_history(
    session: AsyncSession, actor: Actor, customer_id: int
) -> list[dict[str, Any]]:
    """Every ownership change of a customer the actor may read, oldest first."""
    scope = require(actor, "customers", "read")
    if not is_id(customer_id):
        raise NotFound("customer", customer_id)
    visible = await session.scalar(
        select(Customer.id).where(Customer.id == customer_id, customer_filter(actor, scope))
    )
    if visible is None:
        raise NotFound("customer", customer_id)
    changes = (
        await session.scalars(
            select(OwnershipChange)
            .where(OwnershipChange.customer_id == customer_id)
            .order_by(OwnershipChange.at, OwnershipChange.id)
        )
    ).all()
    user_ids = {
        uid for c in changes for uid in (c.from_user_id, c.to_user_id, c.by_id) if uid is not None
    }
    names: dict[int, str] = {}
    if user_ids:
        rows = await session.execute(
            select(User.id, User.display_name).where(User.id.in_(user_ids))
        )
        names = {int(uid): str(name) for uid, name in rows}
    return [
        {
            "at": c.at.isoformat(),
            "from_user": _user_json(c.from_user_id, names),
            "to_user": _user_json(c.to_user_id, names),
            "by": _user_json(c.by_id, names),
            "reason": c.reason,
        }
        for c in changes
    ]


# --- writes -------------------------------------------------------------------------------


def _self_service(actor: Actor, owner_id: int | None, to_user_id: int | None) -> str | None:
    """"claim" / "pool" when the actor takes a pool customer or gives back their own."""
    if actor.user_id is None:
        return None
    if owner_id is None and to_user_id == actor.user_id:
        return "claim"
    if owner_id == actor.user_id and to_user_id is None:
        return "pool"
    return None


async def _check_transfer(session: AsyncSession, actor: Actor, customer_id: int) -> None:
    scope = scope_for(actor, "customers", "reassign")
    if scope is not None:
        inside = await session.scalar(
            select(Customer.id).where(Customer.id == customer_id, customer_filter(actor, scope))
        )
        if inside is not None:
            return
    read = scope_for(actor, "customers", "read")
    if read is not None:
        visible = await session.scalar(
            select(Customer.id).where(Customer.id == customer_id, customer_filter(actor, read))
        )
        if visible is not None:
            raise PermissionDenied("customers", "reassign")
    if scope is None and read is None:
        raise PermissionDenied("customers", "reassign")
    raise NotFound("customer", customer_id)


async def assign_owner(
    session: AsyncSession,
    actor: Actor,
    customer_id: int,
    to_user_id: int | None,
    *,
    reason: str = "transfer",
    now: datetime | None = None,
    rules: OwnershipRules | None = None,
) -> dict[str, Any]:
    """Give a customer to ``to_user_id`` (None: the pool), keeping the history.

    Returns ``{"customer_id", "from_user_id", "to_user_id", "reason", "at", "changed"}``;
    assigning the current owner again changes nothing (``changed`` False).
    """
    at = _at(now)
    if not is_id(customer_id):
        raise NotFound("customer", customer_id)
    if to_user_id is not None and not is_id(to_user_id):
        raise ValidationFailed("to_user_id", "must be a user id")
    customer = await session.scalar(
        select(Customer)
        .where(Customer.id == customer_id, Customer.merged_into_id.is_(None))
        .with_for_update()
    )
    if customer is None:
        raise NotFound("customer", customer_id)
    from_user_id = customer.owner_id
    self_service = _self_service(actor, from_user_id, to_user_id)
    if self_service is None or scope_for(actor, "customers", "update") is None:
        await _check_transfer(session, actor, customer_id)
    if self_service is not None:
        reason = self_service  # a claim is a claim (and capped) whoever makes it
    if reason not in REASONS:
        raise ValidationFailed("reason", f"unknown reason {reason!r}")
    result = {
        "customer_id": customer_id, "from_user_id": from_user_id, "to_user_id": to_user_id,
        "reason": reason, "at": at.isoformat(), "changed": False,
    }
    if to_user_id == from_user_id:
        return result
    if to_user_id is not None:
        await _active_user(session, to_user_id, "to_user_id")
    if reason == "claim" and to_user_id is not None:
        # one claim at a time per user (PostgreSQL row lock), so two cannot both pass the cap
        await session.execute(select(User.id).where(User.id == to_user_id).with_for_update())
        limits = rules or OwnershipRules()
        taken = await taken_in_period(session, to_user_id, limits, at)
        if taken >= limits.cap:
            raise CapReached(to_user_id, taken, limits)
    before = {"owner_id": from_user_id, "owner_since": _iso(customer.owner_since)}
    customer.owner_id = to_user_id
    customer.owner_since = None if to_user_id is None else at
    session.add(
        OwnershipChange(
            customer_id=customer_id, from_user_id=from_user_id, to_user_id=to_user_id, at=at,
            by_id=actor.user_id, reason=reason,
        )
    )
    audit(
        session, user_id=actor.user_id, action="reassign", entity="customer",
        entity_id=customer_id, before=before,
        after={"owner_id": to_user_id, "owner_since": _iso(customer.owner_since),
               "reason": reason},
    )
    await session.flush()
    result["changed"] = True
    return result


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


async def reassign_all(
    session: AsyncSession,
    actor: Actor,
    *,
    from_user_id: int,
    to_user_id: int | None,
    reason: str = "leaver",
    now: datetime | None = None,
) -> Reassignment:
    """Move every customer of ``from_user_id`` to ``to_user_id`` (None: the pool) in
    one set-based operation, with the open opportunities ``from_user_id`` holds on
    them; returns how many of each moved. All the customers must be inside the
    actor's reassign scope, else nothing moves (``PermissionDenied``)."""
    scope = require(actor, "customers", "reassign")
    if not is_id(from_user_id):
        raise ValidationFailed("from_user_id", "must be a user id")
    if to_user_id is not None and not is_id(to_user_id):
        raise ValidationFailed("to_user_id", "must be a user id")
    if reason not in REASONS:
        raise ValidationFailed("reason", f"unknown reason {reason!r}")
    if to_user_id == from_user_id:
        raise ValidationFailed("to_user_id", "the same user as from_user_id")
    if to_user_id is not None:
        await _active_user(session, to_user_id, "to_user_id")
    theirs = Customer.owner_id == from_user_id
    if scope != "all":
        # counted both ways rather than negated: NOT (province = x) misses NULL provinces
        counted = select(func.count()).select_from(Customer).where(theirs)
        total = await session.scalar(counted)
        inside = await session.scalar(counted.where(customer_filter(actor, scope)))
        if total != inside:
            raise PermissionDenied("customers", "reassign")
    at = _at(now)
    # the opportunities first: they are found through the customers' current owner
    opportunities = await _move_open_opportunities(
        session, theirs, from_user_id=from_user_id, to_user_id=to_user_id, at=at,
        by_id=actor.user_id, reason=reason)
    customers = await _bulk_move(
        session, theirs, to_user_id=to_user_id, at=at, by_id=actor.user_id, reason=reason
    )
    return Reassignment(customers=customers, opportunities=opportunities)


def is_key_customer() -> ColumnElement[bool]:
    """A key customer: VIP tier above 0 (the tier the pop, the IVR's VIP routing and the
    reports' "VIP customers" read; ``vip_value`` alone is only an estimate)."""
    return Customer.vip_tier > 0


def untouched_since(cutoff: datetime) -> ColumnElement[bool]:
    """Owned live customers, not key customers, neither taken nor touched after
    ``cutoff``."""
    return and_(
        Customer.owner_id.is_not(None),
        Customer.merged_into_id.is_(None),
        ~is_key_customer(),
        or_(Customer.owner_since.is_(None), Customer.owner_since < cutoff),
        or_(Customer.last_touched_at.is_(None), Customer.last_touched_at < cutoff),
        # an owner without any date (rows from before ownership existed): creation counts
        or_(
            Customer.owner_since.is_not(None),
            Customer.last_touched_at.is_not(None),
            Customer.created_at < cutoff,
        ),
    )


async def return_untouched_to_pool(
    session: AsyncSession, rules: OwnershipRules, *, now: datetime
) -> int:
    """Customers untouched for ``pool_after_days`` go back to the pool (history
    reason "pool", audited as the system); key customers stay. Returns how many.
    Idempotent."""
    at = as_utc(now)
    cutoff = at - timedelta(days=rules.pool_after_days)
    return await _bulk_move(
        session, untouched_since(cutoff), to_user_id=None, at=at, by_id=None, reason="pool"
    )
