"""Interactions: calls, visits, notes and emails with a customer, and their addenda.

Rules:
- module ``interactions``; the scope is the customer's, and "own" update scope
  also covers what the actor wrote (``author_id``);
- the author is the acting user; ``occurred_at`` defaults to now and may not lie
  more than ``FUTURE_SLACK`` ahead, nor before ``earliest_occurrence`` (today's start
  in Shanghai, or ``LATE_GRACE`` ago when that is earlier). An interaction written
  into an earlier day would be born closed: a week-old "visit" added today lands in a
  day that was already reported and reviewed, which is what closing the day prevents
  (issue 14 item 16). Whatever happened earlier today is logged as usual; the grace
  covers a call that ended just before midnight and is logged just after it;
- older is a CORRECTION (``correction=True``): only by someone who may correct the
  customer's interactions beyond their own (``interactions``/``update`` at scope
  ``team``, ``region`` or ``all``, with the customer inside it: a supervisor, an
  admin), audited as ``create-correction`` with how late it came; anyone else gets
  ``PermissionDenied``, and without the flag it is refused (``ValidationFailed``);
- an interaction is CLOSED at the end of the Asia/Shanghai day of its
  ``occurred_at`` (``is_closed``, pure): from then on ``update_interaction``
  raises ``Conflict("closed: add an addendum")``; a correction is an addendum
  (``add_addendum``): a ``note`` on the same customer with ``parent_id`` set to the
  original (the root, when adding to an addendum), occurring now;
- ``occurred_at`` and the customer of an interaction never change;
- ONE call, ONE record (issue 17): a call dialled from a call list's preview is logged by
  the list's outcome (``crm_core.outbound_lists.record_outcome``) and may be logged in
  the pop's form too (``POST /calls/{linkedid}/log``); both name the call
  (``call_linkedid``) and its author, and whichever comes second completes the first's
  row (an audited update; the outcome's: ``merged_call_log``) instead of writing another;
- every write is audited and touches the customer when its owner does it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.audit import snapshot
from crm_core.errors import Conflict, ValidationFailed
from crm_core.models import Contact, Interaction, User, as_utc
from crm_core.permissions import Actor, PermissionDenied, scope_for
from crm_core.records import (
    BUSINESS_TZ,
    DEFAULT_PAGE,
    a_datetime,
    business_day,
    check_fields,
    choice,
    current,
    list_records,
    load_customer,
    load_record,
    optional_id,
    save_changes,
    save_new,
    text,
    to_dict,
)

INTERACTION_KINDS = ("call", "visit", "note", "email")
INTERACTION_UPDATE_FIELDS = (
    "kind", "place", "content", "result", "next_step", "disposition", "contact_id",
)
FUTURE_SLACK = timedelta(hours=1)
# a call that ended at 23:50 is still logged at 00:10 without being a correction; two
# hours covers a long wrap-up or a busy evening queue, not yesterday's afternoon
LATE_GRACE = timedelta(hours=2)
CORRECTORS = ("team", "region", "all")  # interactions:update scopes that may backdate
CLOSED_MESSAGE = "closed: add an addendum"


MERGED_FIELDS = ("content", "place", "result", "next_step", "disposition", "contact_id")


def merged_call_log(outcome: Mapping[str, Any], form: Mapping[str, Any]) -> dict[str, Any]:
    """One call's record from a call-list outcome's fields and the log form's (pure): the
    form's words where it has them, else the outcome's; both results kept (the outcome's
    first: "reached · 客户满意")."""
    merged = {k: form.get(k) if form.get(k) not in (None, "") else outcome.get(k)
              for k in MERGED_FIELDS}
    results = [r for r in (outcome.get("result"), form.get("result")) if r]
    merged["result"] = " · ".join(dict.fromkeys(results)) or None
    return merged


async def call_log_of(session: AsyncSession, customer_id: int, call_linkedid: str,
                      author_id: int | None) -> Interaction | None:
    """The record of a call with this customer written by ``author_id`` (kind call, not
    an addendum), the first (as ``POST /calls/{linkedid}/log`` finds it)."""
    return (await session.scalars(select(Interaction).where(
        Interaction.customer_id == customer_id, Interaction.call_linkedid == call_linkedid,
        Interaction.kind == "call", Interaction.parent_id.is_(None),
        Interaction.author_id == author_id).order_by(Interaction.id).limit(1))).first()


def earliest_occurrence(now: datetime) -> datetime:
    """The earliest ``occurred_at`` of an interaction logged at ``now`` that is not a
    correction: the start of ``now``'s Shanghai day, or ``LATE_GRACE`` ago if earlier."""
    day_start = datetime.combine(business_day(now), time.min, BUSINESS_TZ).astimezone(UTC)
    return min(day_start, as_utc(now) - LATE_GRACE)


def correction_scope(actor: Actor) -> str | None:
    """The ``interactions``/``update`` scope with which ``actor`` may log a backdated
    interaction (a correction), or None: not theirs to do ("own" is not enough)."""
    scope = scope_for(actor, "interactions", "update")
    return scope if scope in CORRECTORS else None


def is_closed(occurred_at: datetime, now: datetime) -> bool:
    """Whether an interaction of ``occurred_at`` is closed at ``now`` (its Shanghai day
    has ended)."""
    return business_day(now) > business_day(as_utc(occurred_at))


def _clean(data: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key == "kind":
            out[key] = choice(value, key, INTERACTION_KINDS)
        elif key == "content":
            out[key] = text(value, key, max_len=20_000) or ""
        elif key in ("result", "next_step"):
            out[key] = text(value, key, max_len=4000)
        elif key in ("place", "disposition"):
            out[key] = text(value, key, max_len=200)
        elif key == "call_linkedid":
            out[key] = text(value, key, max_len=100)
        elif key == "contact_id":
            out[key] = optional_id(value, key)
        else:
            raise ValidationFailed(key, "unknown or read-only field")
    return out


async def _check_contact(session: AsyncSession, customer_id: int, contact_id: int | None) -> None:
    if contact_id is None:
        return
    found = await session.scalar(
        select(Contact.id).where(Contact.id == contact_id, Contact.customer_id == customer_id)
    )
    if found is None:
        raise ValidationFailed("contact_id", "no such contact of this customer")


async def create_interaction(
    session: AsyncSession,
    actor: Actor,
    customer_id: int,
    *,
    kind: str,
    content: str = "",
    occurred_at: datetime | str | None = None,
    place: str | None = None,
    result: str | None = None,
    next_step: str | None = None,
    disposition: str | None = None,
    contact_id: int | None = None,
    call_linkedid: str | None = None,
    correction: bool = False,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Log a call, visit, note or email with ``customer_id``, written by the actor; an
    ``occurred_at`` before ``earliest_occurrence`` only as a ``correction`` (see the
    rules)."""
    at = current(now)
    fields = _clean({
        "kind": kind, "content": content, "place": place, "result": result,
        "next_step": next_step, "disposition": disposition, "contact_id": contact_id,
        "call_linkedid": call_linkedid,
    })
    when = a_datetime(occurred_at, "occurred_at") or at
    if when > at + FUTURE_SLACK:
        raise ValidationFailed("occurred_at", "in the future")
    late = when < earliest_occurrence(at)
    if late and not correction:
        raise ValidationFailed(
            "occurred_at", "before today (Asia/Shanghai): an earlier day is closed; log it "
                           "as a correction (correction: true, for a supervisor) or as an "
                           "addendum to that day's interaction")
    customer = await load_customer(session, actor, customer_id, "interactions", "create")
    if late:
        await _check_corrector(session, actor, customer.id)
    await _check_contact(session, customer.id, fields["contact_id"])
    row = Interaction(customer_id=customer.id, occurred_at=when, author_id=actor.user_id,
                      **fields)
    if not late:
        return await save_new(session, actor, row, customer, entity="interaction", at=at)
    # the audit entry says when it was logged and how late, for whoever reviews corrections
    return await save_new(session, actor, row, customer, entity="interaction", at=at,
                          action="create-correction", audit_extra={
                              "logged_at": at.isoformat(),
                              "late_by_s": int((at - when).total_seconds())})


async def _check_corrector(session: AsyncSession, actor: Actor, customer_id: int) -> None:
    """``PermissionDenied`` unless ``actor`` may correct this customer's interactions."""
    if correction_scope(actor) is None:
        raise PermissionDenied("interactions", "correct (backdate)")
    # the customer must lie inside that wider scope too
    await load_customer(session, actor, customer_id, "interactions", "update")


async def get_interaction(
    session: AsyncSession, actor: Actor, interaction_id: int, *, now: datetime | None = None
) -> dict[str, Any]:
    """One interaction in the read scope, with ``closed`` (may it still be edited?)."""
    row, _ = await load_record(session, actor, Interaction, interaction_id, "interactions", "read",
                               own_column=Interaction.author_id)
    return to_dict(row, closed=is_closed(row.occurred_at, current(now)))


async def list_interactions(
    session: AsyncSession,
    actor: Actor,
    customer_id: int,
    *,
    limit: int = DEFAULT_PAGE,
    offset: int = 0,
) -> dict[str, Any]:
    """The interactions (addenda included) of one customer, newest first, each with
    ``author``: the display name of who wrote it (None: written by Hotline itself, e.g.
    a callback's outcome, or by a user since removed)."""
    await load_customer(session, actor, customer_id, "interactions", "read")
    found = await list_records(
        session, actor, Interaction, "interactions", customer_id=customer_id,
        order_by=(Interaction.occurred_at.desc(),), limit=limit, offset=offset,
    )
    ids = {i["author_id"] for i in found["items"] if i.get("author_id") is not None}
    names: dict[int, str] = {}
    if ids:
        rows = await session.execute(
            select(User.id, User.display_name).where(User.id.in_(sorted(ids))))
        names = {int(uid): str(name) for uid, name in rows}
    for item in found["items"]:
        item["author"] = names.get(item.get("author_id") or 0)
    return found


async def update_interaction(
    session: AsyncSession,
    actor: Actor,
    interaction_id: int,
    changes_: Mapping[str, Any],
    *,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Edit an interaction on its own day; afterwards ``Conflict`` (add an addendum)."""
    at = current(now)
    check_fields(changes_, INTERACTION_UPDATE_FIELDS)
    fields = _clean(changes_)
    row, customer = await load_record(
        session, actor, Interaction, interaction_id, "interactions", "update",
        own_column=Interaction.author_id,
    )
    if is_closed(row.occurred_at, at):
        raise Conflict(CLOSED_MESSAGE)
    if "contact_id" in fields:
        await _check_contact(session, customer.id, fields["contact_id"])
    before = snapshot(row)
    for key, value in fields.items():
        setattr(row, key, value)
    await save_changes(session, actor, row, customer, before, entity="interaction", at=at)
    return to_dict(row, closed=False)


async def add_addendum(
    session: AsyncSession,
    actor: Actor,
    parent_id: int,
    content: str,
    *,
    now: datetime | None = None,
) -> dict[str, Any]:
    """A correction to an interaction (open or closed): a note pointing at it."""
    at = current(now)
    clean = text(content, "content", required=True, max_len=20_000)
    parent, customer = await load_record(
        session, actor, Interaction, parent_id, "interactions", "read",
        own_column=Interaction.author_id,
    )
    # the create grant on the customer is what writing an addendum needs
    await load_customer(session, actor, customer.id, "interactions", "create")
    row = Interaction(
        customer_id=customer.id, contact_id=parent.contact_id, kind="note",
        occurred_at=at, content=clean, author_id=actor.user_id,
        parent_id=parent.parent_id or parent.id, call_linkedid=parent.call_linkedid,
    )
    return await save_new(session, actor, row, customer, entity="interaction", at=at,
                          action="addendum")
