"""Subscriptions and contracts of a customer, with their dates.

Rules:
- module ``subscriptions``; the scope is the customer's;
- ``kind`` is ``subscription`` or ``contract``; ``status`` one of
  ``active | renewed | not_renewed | cancelled`` (the daily reminder job turns an
  expired ``active`` one into ``not_renewed``; that job is not here);
- ``end_date >= start_date``, checked on create and on every update;
- every write is audited and touches the customer when its owner does it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.audit import snapshot
from crm_core.errors import ValidationFailed
from crm_core.models import Subscription
from crm_core.permissions import Actor
from crm_core.records import (
    DEFAULT_PAGE,
    a_date,
    check_fields,
    choice,
    current,
    delete_row,
    list_records,
    load_customer,
    load_record,
    required_text,
    save_changes,
    save_new,
    to_dict,
)

SUBSCRIPTION_KINDS = ("subscription", "contract")
SUBSCRIPTION_STATUSES = ("active", "renewed", "not_renewed", "cancelled")
SUBSCRIPTION_UPDATE_FIELDS = ("title", "kind", "start_date", "end_date", "status")


def _check_period(start: date, end: date) -> None:
    if end < start:
        raise ValidationFailed("end_date", "before the start date")


async def create_subscription(
    session: AsyncSession,
    actor: Actor,
    customer_id: int,
    *,
    title: str,
    start_date: date | str,
    end_date: date | str,
    kind: str = "subscription",
    status: str = "active",
    now: datetime | None = None,
) -> dict[str, Any]:
    """A new subscription or contract of ``customer_id``."""
    start = a_date(start_date, "start_date", required=True)
    end = a_date(end_date, "end_date", required=True)
    assert start is not None and end is not None
    _check_period(start, end)
    row = Subscription(
        title=required_text(title, "title", max_len=200),
        kind=choice(kind, "kind", SUBSCRIPTION_KINDS),
        status=choice(status, "status", SUBSCRIPTION_STATUSES),
        start_date=start, end_date=end,
    )
    customer = await load_customer(session, actor, customer_id, "subscriptions", "create")
    row.customer_id = customer.id
    return await save_new(session, actor, row, customer, entity="subscription", at=current(now))


async def get_subscription(
    session: AsyncSession, actor: Actor, subscription_id: int
) -> dict[str, Any]:
    """One subscription in the read scope."""
    row, _ = await load_record(session, actor, Subscription, subscription_id,
                               "subscriptions", "read")
    return to_dict(row)


async def list_subscriptions(
    session: AsyncSession,
    actor: Actor,
    customer_id: int,
    *,
    limit: int = DEFAULT_PAGE,
    offset: int = 0,
) -> dict[str, Any]:
    """The subscriptions of one customer, by end date."""
    await load_customer(session, actor, customer_id, "subscriptions", "read")
    return await list_records(
        session, actor, Subscription, "subscriptions", customer_id=customer_id,
        order_by=(Subscription.end_date,), limit=limit, offset=offset,
    )


async def update_subscription(
    session: AsyncSession,
    actor: Actor,
    subscription_id: int,
    changes_: Mapping[str, Any],
    *,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Partial update of ``SUBSCRIPTION_UPDATE_FIELDS``; audited with before/after."""
    check_fields(changes_, SUBSCRIPTION_UPDATE_FIELDS)
    row, customer = await load_record(session, actor, Subscription, subscription_id,
                                      "subscriptions", "update")
    before = snapshot(row)
    for key, value in changes_.items():
        if key == "title":
            row.title = required_text(value, key, max_len=200)
        elif key == "kind":
            row.kind = choice(value, key, SUBSCRIPTION_KINDS)
        elif key == "status":
            row.status = choice(value, key, SUBSCRIPTION_STATUSES)
        else:
            clean = a_date(value, key, required=True)
            setattr(row, key, clean)
    _check_period(row.start_date, row.end_date)
    await save_changes(session, actor, row, customer, before, entity="subscription",
                       at=current(now))
    return to_dict(row)


async def delete_subscription(
    session: AsyncSession, actor: Actor, subscription_id: int
) -> None:
    """Delete a subscription (``subscriptions`` delete grant)."""
    row, _ = await load_record(session, actor, Subscription, subscription_id,
                               "subscriptions", "delete")
    await delete_row(session, actor, row, entity="subscription")
