"""Opportunities: sales leads, often raised from a service contact.

Rules:
- module ``opportunities``; the scope is the customer's, and "own" update scope
  also covers the opportunities the actor owns (``owner_id``);
- stages: ``lead | qualified | proposal | won | lost`` (any move allowed: sales
  is not a straight line); entering ``won``/``lost`` sets ``closed_at``, leaving
  them clears it;
- the owner defaults to the customer's account manager (``raise_opportunity``
  from an interaction, or a plain create), else the actor; changing it later
  needs the ``opportunities`` reassign grant;
- ``amount`` is >= 0 with 2 decimals;
- every write is audited and touches the customer when its owner does it;
- every change of stage (and the first one, at creation) adds an
  ``OpportunityStageChange`` row, in the same transaction: the funnel's time spent in
  each stage is read from them (``crm_core.funnel``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.audit import snapshot
from crm_core.errors import ValidationFailed
from crm_core.models import Customer, Interaction, Opportunity, OpportunityStageChange, User
from crm_core.permissions import Actor, require
from crm_core.records import (
    DEFAULT_PAGE,
    check_fields,
    choice,
    current,
    delete_row,
    list_records,
    load_customer,
    load_record,
    money,
    optional_id,
    required_text,
    save_changes,
    save_new,
    to_dict,
)

STAGES = ("lead", "qualified", "proposal", "won", "lost")
CLOSED_STAGES = ("won", "lost")
OPEN_STAGES = tuple(s for s in STAGES if s not in CLOSED_STAGES)
OPPORTUNITY_UPDATE_FIELDS = ("title", "stage", "amount", "owner_id")


def _set_stage(row: Opportunity, stage: str, at: datetime) -> None:
    if stage in CLOSED_STAGES and row.stage not in CLOSED_STAGES:
        row.closed_at = at
    elif stage not in CLOSED_STAGES:
        row.closed_at = None
    row.stage = stage


async def _insert(
    session: AsyncSession, actor: Actor, customer: Customer, *, title: object, stage: object,
    amount: object, owner_id: int | None, source_interaction_id: int | None, at: datetime,
) -> dict[str, Any]:
    row = Opportunity(
        customer_id=customer.id, title=required_text(title, "title", max_len=200),
        amount=money(amount, "amount"), owner_id=owner_id,
        source_interaction_id=source_interaction_id, created_at=at, stage="lead",
    )
    _set_stage(row, choice(stage, "stage", STAGES), at)
    saved = await save_new(session, actor, row, customer, entity="opportunity", at=at)
    session.add(OpportunityStageChange(opportunity_id=row.id, from_stage=None,
                                       to_stage=row.stage, at=at, by_id=actor.user_id))
    return saved


async def create_opportunity(
    session: AsyncSession,
    actor: Actor,
    customer_id: int,
    *,
    title: str,
    stage: str = "lead",
    amount: object = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """A new opportunity, owned by the customer's account manager (else the actor)."""
    at = current(now)
    customer = await load_customer(session, actor, customer_id, "opportunities", "create")
    owner = customer.owner_id if customer.owner_id is not None else actor.user_id
    return await _insert(session, actor, customer, title=title, stage=stage, amount=amount,
                         owner_id=owner, source_interaction_id=None, at=at)


async def raise_opportunity(
    session: AsyncSession,
    actor: Actor,
    interaction_id: int,
    *,
    title: str,
    amount: object = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """A lead heard in an interaction (a service call...): owned by the customer's
    account manager, linked to the interaction."""
    at = current(now)
    interaction, customer = await load_record(
        session, actor, Interaction, interaction_id, "interactions", "read",
        own_column=Interaction.author_id,
    )
    await load_customer(session, actor, customer.id, "opportunities", "create")
    owner = customer.owner_id if customer.owner_id is not None else actor.user_id
    return await _insert(session, actor, customer, title=title, stage="lead", amount=amount,
                         owner_id=owner, source_interaction_id=interaction.id, at=at)


async def get_opportunity(
    session: AsyncSession, actor: Actor, opportunity_id: int
) -> dict[str, Any]:
    """One opportunity in the read scope."""
    row, _ = await load_record(session, actor, Opportunity, opportunity_id, "opportunities",
                               "read", own_column=Opportunity.owner_id)
    return to_dict(row)


async def list_opportunities(
    session: AsyncSession,
    actor: Actor,
    *,
    customer_id: int | None = None,
    open_only: bool = False,
    limit: int = DEFAULT_PAGE,
    offset: int = 0,
) -> dict[str, Any]:
    """Opportunities in the read scope, newest first."""
    if customer_id is not None:
        await load_customer(session, actor, customer_id, "opportunities", "read")
    conditions = (Opportunity.stage.in_(OPEN_STAGES),) if open_only else ()
    return await list_records(
        session, actor, Opportunity, "opportunities", customer_id=customer_id,
        conditions=conditions, order_by=(Opportunity.created_at.desc(),),
        limit=limit, offset=offset,
    )


async def update_opportunity(
    session: AsyncSession,
    actor: Actor,
    opportunity_id: int,
    changes_: Mapping[str, Any],
    *,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Partial update of ``OPPORTUNITY_UPDATE_FIELDS``; audited with before/after."""
    at = current(now)
    check_fields(changes_, OPPORTUNITY_UPDATE_FIELDS)
    row, customer = await load_record(session, actor, Opportunity, opportunity_id,
                                      "opportunities", "update", own_column=Opportunity.owner_id)
    before = snapshot(row)
    if "title" in changes_:
        row.title = required_text(changes_["title"], "title", max_len=200)
    if "amount" in changes_:
        row.amount = money(changes_["amount"], "amount")
    if "stage" in changes_:
        was = row.stage
        _set_stage(row, choice(changes_["stage"], "stage", STAGES), at)
        if row.stage != was:
            session.add(OpportunityStageChange(opportunity_id=row.id, from_stage=was,
                                               to_stage=row.stage, at=at,
                                               by_id=actor.user_id))
    if "owner_id" in changes_:
        require(actor, "opportunities", "reassign")
        row.owner_id = await _active_user(session, changes_["owner_id"])
    await save_changes(session, actor, row, customer, before, entity="opportunity", at=at)
    return to_dict(row)


async def _active_user(session: AsyncSession, user_id: object) -> int:
    user = await session.get(User, optional_id(user_id, "owner_id"))
    if user is None or not user.active:
        raise ValidationFailed("owner_id", "no such active user")
    return user.id


async def delete_opportunity(session: AsyncSession, actor: Actor, opportunity_id: int) -> None:
    """Delete an opportunity (``opportunities`` delete grant)."""
    row, _ = await load_record(session, actor, Opportunity, opportunity_id, "opportunities",
                               "delete")
    await delete_row(session, actor, row, entity="opportunity")
