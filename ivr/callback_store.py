"""Callback requests in the database (``crm_core.models.CallbackRequest``).

Rules:
- ``request_callback`` is how a callback is asked for (the IVR, the API): the number
  must be written as a phone number (``numbering.normalize.typed_number``, the rule
  ``/calls/dial`` follows: ``13800138000,1,Hangup()`` is refused, never dialled as
  ``138001380001``) and is stored canonical, the queue checked, and a number that
  already has a pending (waiting or dialing) callback in that queue keeps that one:
  its id comes back, so asking twice never means two calls (a partial unique index,
  migration 0008, holds this even when two requests race);
- every change of state is a compare-and-set UPDATE: ``claim`` turns waiting into
  dialing only if the row is still waiting with the claim the worker saw, so of two
  workers racing on one row exactly one dials it; an attempt's outcome is written
  only by the claim that dialled it (``finish``), so a late or duplicate outcome
  changes nothing;
- ``claim`` keeps the token of the last dial after the row goes back to waiting: the
  pair (state, claim) changes with every step, which is what the compare-and-set
  compares (cancel included), and the token is the ChannelId of that dial's channel;
- ``history`` gets one entry per step (requested, dialing, each outcome, cancelled);
- permissions (API): asking needs ``interactions:create`` (and the customer, if
  given, in that scope); listing needs ``calls:read``: scope ``all`` sees every
  callback, narrower scopes the callbacks of customers in scope plus those the actor
  asked for; cancelling needs ``interactions:update`` with the same rule; a callback
  outside the scope is "not found";
- nothing here commits except the worker's functions taking a sessionmaker (each is
  one short transaction of its own).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_core.errors import Conflict, NotFound, ValidationFailed
from crm_core.interactions import create_interaction
from crm_core.models import CallbackRequest, Customer, as_utc, utcnow
from crm_core.permissions import SYSTEM, Actor, customer_filter, require
from crm_core.records import a_datetime, check_page, load_customer, page, text, to_dict
from ivr.callback_notes import agent_label, user_name
from ivr.callbacks import (
    CUSTOMER_OUTCOMES,
    PENDING_STATES,
    STATES,
    HistoryEntry,
    Pending,
    Policy,
    Transition,
    agent_misses,
    avoid_after,
    transition,
)
from numbering.normalize import typed_number

log = logging.getLogger("ivr.callback_store")

DEFAULT_MAX_ATTEMPTS = 3
MAX_ATTEMPTS_LIMIT = 20
QUEUE_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
MAX_AHEAD = timedelta(days=90)  # an agent's "call back at": at most this far ahead
MAX_BEHIND = timedelta(minutes=5)  # ... and not in the past (clock skew allowed)
OUTCOME_TEXT = {  # interaction text: (zh-CN, en)
    "answered": ("已接通", "answered"),
    "busy": ("占线", "busy"),
    "no-answer": ("无人接听", "no answer"),
    "failed": ("呼叫失败", "call failed"),
}


# ------------------------------------------------------------------------ validation


def _queue(value: object) -> str:
    if not isinstance(value, str) or not QUEUE_NAME.match(value):
        raise ValidationFailed("queue", "must be a queue name (letters, digits, _ . -)")
    return value


def _int(value: object, field: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValidationFailed(field, f"must be an integer in {low}..{high}")
    return value


def _moment(value: object, field: str) -> datetime:
    if not isinstance(value, datetime):
        raise ValidationFailed(field, "must be a date and time")
    return as_utc(value)


# --------------------------------------------------------------------------- asking


async def _pending_id(db: AsyncSession, phone: str, queue: str) -> int | None:
    found = await db.scalar(
        select(CallbackRequest.id).where(CallbackRequest.phone == phone,
                                         CallbackRequest.queue == queue,
                                         CallbackRequest.state.in_(PENDING_STATES))
    )
    return None if found is None else int(found)


async def add_callback(
    db: AsyncSession, *, phone: str, customer_id: int | None, queue: str, priority: int,
    origin_linkedid: str | None, place_at: datetime, not_before: datetime | None = None,
    created_by_id: int | None = None, max_attempts: int | None = None,
    note: str | None = None, preferred_agent: str | None = None, region: str = "CN",
) -> tuple[int, bool]:
    """Ask for a callback; ``(id, True)`` when created, ``(id of the pending one,
    False)`` when this number already waits in this queue."""
    number = typed_number(phone, region)
    if number is None:
        raise ValidationFailed("phone", "not a phone number (digits, spaces, - ( ) . and a "
                                        "leading + only)")
    if len(number) > 32:
        raise ValidationFailed("phone", "too long")
    queue = _queue(queue)
    priority = _int(priority, "priority", -1000, 1000)
    attempts = _int(max_attempts if max_attempts is not None else DEFAULT_MAX_ATTEMPTS,
                    "max_attempts", 1, MAX_ATTEMPTS_LIMIT)
    place = _moment(place_at, "place_at")
    later = None if not_before is None else _moment(not_before, "not_before")
    origin = text(origin_linkedid, "origin_linkedid", max_len=100)
    note = text(note, "note", max_len=2000)
    agent = text(preferred_agent, "preferred_agent", max_len=200)
    existing = await _pending_id(db, number, queue)
    if existing is not None:
        return existing, False
    now = utcnow()
    row = CallbackRequest(
        phone=number, customer_id=customer_id, queue=queue, priority=priority,
        preferred_agent=agent, origin_linkedid=origin, place_at=place, not_before=later,
        state="waiting", attempts=0, max_attempts=attempts, note=note,
        created_by_id=created_by_id, created_at=now, updated_at=now,
        history=[HistoryEntry(now, "requested", detail={
            "by": created_by_id, "origin": origin}).to_json()],
    )
    try:
        async with db.begin_nested():  # a lost race must not spoil the caller's transaction
            db.add(row)
            await db.flush()
    except IntegrityError:
        existing = await _pending_id(db, number, queue)
        if existing is None:
            raise
        return existing, False
    return int(row.id), True


async def request_callback(
    db: AsyncSession, *, phone: str, customer_id: int | None, queue: str, priority: int,
    origin_linkedid: str | None, place_at: datetime, not_before: datetime | None = None,
    created_by_id: int | None = None, max_attempts: int | None = None, region: str = "CN",
) -> int:
    """A caller asks to be called back, keeping ``place_at`` (their place in line).
    The id of the callback (the pending one when this number already has one)."""
    callback_id, _ = await add_callback(
        db, phone=phone, customer_id=customer_id, queue=queue, priority=priority,
        origin_linkedid=origin_linkedid, place_at=place_at, not_before=not_before,
        created_by_id=created_by_id, max_attempts=max_attempts, region=region)
    return callback_id


# ------------------------------------------------------------------ the API's side


def _visible(actor: Actor, scope: str) -> ColumnElement[bool] | None:
    """Which callbacks ``actor`` reaches with ``scope`` (None: all of them)."""
    if scope == "all":
        return None
    in_scope = CallbackRequest.customer_id.in_(
        select(Customer.id).where(customer_filter(actor, scope)).scalar_subquery())
    if actor.user_id is None:
        return in_scope
    return or_(in_scope, CallbackRequest.created_by_id == actor.user_id)


async def create_for(
    db: AsyncSession, actor: Actor, *, phone: str, customer_id: int | None,
    at: datetime | str | None, note: str | None, queue: str,
    max_attempts: int | None = None, region: str = "CN", now: datetime | None = None,
) -> tuple[dict[str, Any], bool]:
    """An agent schedules a callback (now, or ``at``); (the callback, created?)."""
    require(actor, "interactions", "create")
    moment = as_utc(now) if now is not None else utcnow()
    when = a_datetime(at, "at")
    if when is not None and not moment - MAX_BEHIND <= when <= moment + MAX_AHEAD:
        raise ValidationFailed("at", "must be between now and 90 days ahead")
    if customer_id is not None:
        customer = await load_customer(db, actor, customer_id, "interactions", "create")
        customer_id = customer.id
    callback_id, created = await add_callback(
        db, phone=phone, customer_id=customer_id, queue=queue, priority=0,
        origin_linkedid=None, place_at=when or moment, not_before=when,
        created_by_id=actor.user_id, max_attempts=max_attempts, note=note, region=region)
    row = await db.get(CallbackRequest, callback_id)
    assert row is not None
    return to_dict(row), created


async def list_for(
    db: AsyncSession, actor: Actor, *, state: str | None = None, queue: str | None = None,
    limit: object = 50, offset: object = 0,
) -> dict[str, Any]:
    """A page of the callbacks ``actor`` may see, first in line first."""
    scope = require(actor, "calls", "read")
    lim, off = check_page(limit, offset)
    stmt = select(CallbackRequest)
    seen = _visible(actor, scope)
    if seen is not None:
        stmt = stmt.where(seen)
    if state is not None:
        if state not in STATES:
            raise ValidationFailed("state", f"must be one of {', '.join(STATES)}")
        stmt = stmt.where(CallbackRequest.state == state)
    if queue is not None:
        stmt = stmt.where(CallbackRequest.queue == _queue(queue))
    total = await db.scalar(select(func.count()).select_from(stmt.subquery()))
    rows = await db.scalars(stmt.order_by(CallbackRequest.place_at, CallbackRequest.id)
                            .limit(lim).offset(off))
    return page([to_dict(r) for r in rows], int(total or 0), lim, off)


async def cancel_for(db: AsyncSession, actor: Actor, callback_id: int,
                     now: datetime | None = None) -> dict[str, Any]:
    """Cancel a waiting callback (``Conflict`` once it is being dialled or over)."""
    scope = require(actor, "interactions", "update")
    stmt = select(CallbackRequest).where(CallbackRequest.id == callback_id)
    seen = _visible(actor, scope)
    if seen is not None:
        stmt = stmt.where(seen)
    row = await db.scalar(stmt)
    if row is None:
        raise NotFound("callback", callback_id)
    if row.state != "waiting":
        raise Conflict(f"callback {callback_id} is {row.state}: only a waiting one can be "
                       "cancelled")
    moment = as_utc(now) if now is not None else utcnow()
    entry = HistoryEntry(moment, "cancelled", detail={"by": actor.user_id}).to_json()
    done = await db.execute(
        update(CallbackRequest)
        .where(CallbackRequest.id == callback_id, CallbackRequest.state == "waiting",
               CallbackRequest.claim.is_not_distinct_from(row.claim))
        .values(state="cancelled", updated_at=moment, history=[*row.history, entry])
        .execution_options(synchronize_session=False)
    )
    if _rowcount(done) != 1:
        raise Conflict(f"callback {callback_id} is being dialled: it can no longer be "
                       "cancelled")
    await db.refresh(row)
    return to_dict(row)


async def pending_by_queue(sm: async_sessionmaker[AsyncSession]) -> dict[str, int]:
    """Callbacks not yet connected (waiting or dialing), per queue."""
    async with sm() as db:
        rows = await db.execute(
            select(CallbackRequest.queue, func.count())
            .where(CallbackRequest.state.in_(PENDING_STATES))
            .group_by(CallbackRequest.queue))
        return {str(q): int(n) for q, n in rows}


# ---------------------------------------------------------------- the worker's side


@dataclass(frozen=True, kw_only=True)
class Dialing:
    """A row in state dialing, as the worker needs it."""

    id: int
    claim: str
    agent_interface: str | None
    updated_at: datetime


@dataclass(frozen=True, kw_only=True)
class Waiting:
    """A waiting row: what the decision needs, and the claim it was read with."""

    pending: Pending
    claim: str | None
    phone: str


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


async def waiting_rows(sm: async_sessionmaker[AsyncSession]) -> list[Waiting]:
    """Every waiting callback (due or not), first in line first."""
    async with sm() as db:
        rows = await db.scalars(
            select(CallbackRequest).where(CallbackRequest.state == "waiting")
            .order_by(CallbackRequest.place_at, CallbackRequest.id))
        return [Waiting(
            pending=Pending(id=r.id, queue=r.queue, place_at=r.place_at, priority=r.priority,
                            not_before=r.not_before, next_attempt_at=r.next_attempt_at,
                            preferred_agent=r.preferred_agent, avoid=avoid_after(r.history)),
            claim=r.claim, phone=r.phone) for r in rows]


async def dialing_rows(sm: async_sessionmaker[AsyncSession]) -> list[Dialing]:
    async with sm() as db:
        rows = await db.scalars(select(CallbackRequest)
                                .where(CallbackRequest.state == "dialing"))
        return [Dialing(id=r.id, claim=r.claim or "", agent_interface=r.agent_interface,
                        updated_at=r.updated_at) for r in rows]


async def claim(sm: async_sessionmaker[AsyncSession], callback_id: int, *, seen: str | None,
                token: str, agent: str, now: datetime) -> bool:
    """Waiting -> dialing with ``token``, only if still waiting with claim ``seen``."""
    async with sm.begin() as db:
        done = await db.execute(
            update(CallbackRequest)
            .where(CallbackRequest.id == callback_id, CallbackRequest.state == "waiting",
                   CallbackRequest.claim.is_not_distinct_from(seen))
            .values(state="dialing", claim=token, agent_interface=agent, updated_at=now)
            .execution_options(synchronize_session=False))
        if _rowcount(done) != 1:
            return False
        row = await db.get(CallbackRequest, callback_id, populate_existing=True)
        assert row is not None
        row.history = [*row.history, HistoryEntry(now, "dialing", agent, {
            "claim": token, "attempt": row.attempts + 1}).to_json()]
        return True


async def release(sm: async_sessionmaker[AsyncSession], callback_id: int, *, token: str,
                  now: datetime, why: str) -> bool:
    """Dialing -> waiting again when the Originate certainly never left (no attempt)."""
    async with sm.begin() as db:
        row = await db.get(CallbackRequest, callback_id)
        if row is None:
            return False
        done = await db.execute(
            update(CallbackRequest)
            .where(CallbackRequest.id == callback_id, CallbackRequest.state == "dialing",
                   CallbackRequest.claim == token)
            .values(state="waiting", updated_at=now, history=[
                *row.history, HistoryEntry(now, "not-dialled", detail={"why": why}).to_json()])
            .execution_options(synchronize_session=False))
        return _rowcount(done) == 1


async def _agent_label(db: AsyncSession, interface: str | None) -> str | None:
    """The agent as the note names them: their name, never the phone's channel."""
    return agent_label(await user_name(db, interface), interface)


def _interaction_text(result: str, agent: str | None, attempt: int) -> str:
    zh, en = OUTCOME_TEXT.get(result, (result, result))
    who = f" ({agent})" if agent else ""
    return f"回拨第{attempt}次：{zh} / Callback attempt {attempt}: {en}{who}"


async def finish(sm: async_sessionmaker[AsyncSession], callback_id: int, *, token: str,
                 result: str, now: datetime, policy: Policy, agent: str | None = None,
                 started_at: datetime | None = None, detail: dict[str, Any] | None = None,
                 ) -> Transition | None:
    """Record an attempt's outcome, if ``token`` still holds the row (else None). A
    customer outcome is also logged as a call interaction on the customer, if known."""
    async with sm.begin() as db:
        row = await db.get(CallbackRequest, callback_id)
        if row is None or row.state != "dialing" or row.claim != token:
            return None
        step = transition(result, attempts=row.attempts, max_attempts=row.max_attempts,
                          misses=agent_misses(row.history), now=now, policy=policy)
        entry = HistoryEntry(now, result, agent or row.agent_interface,
                             {"claim": token, **(detail or {})}).to_json()
        done = await db.execute(
            update(CallbackRequest)
            .where(CallbackRequest.id == callback_id, CallbackRequest.state == "dialing",
                   CallbackRequest.claim == token)
            .values(state=step.state, attempts=step.attempts,
                    next_attempt_at=step.next_attempt_at, last_result=step.last_result,
                    result_linkedid=token, updated_at=now, history=[*row.history, entry])
            .execution_options(synchronize_session=False))
        if _rowcount(done) != 1:
            return None
        if result in CUSTOMER_OUTCOMES and row.customer_id is not None:
            try:
                async with db.begin_nested():  # the outcome stands even if this cannot be
                    await create_interaction(
                        db, SYSTEM, row.customer_id, kind="call", call_linkedid=token,
                        occurred_at=started_at or now, result=result, now=now,
                        content=_interaction_text(result, await _agent_label(
                            db, agent or row.agent_interface), step.attempts))
            except (Conflict, NotFound, ValidationFailed) as exc:  # e.g. a merged customer
                log.warning("callback %s: no interaction logged on customer %s: %s",
                            callback_id, row.customer_id, exc)
        return step


async def states(sm: async_sessionmaker[AsyncSession], ids: Sequence[int]
                 ) -> dict[int, str]:
    """The state of each callback (for tests and operators)."""
    async with sm() as db:
        rows = await db.execute(select(CallbackRequest.id, CallbackRequest.state)
                                .where(CallbackRequest.id.in_(list(ids))))
        return {int(i): str(s) for i, s in rows}


async def phones(sm: async_sessionmaker[AsyncSession], ids: Sequence[int]) -> dict[int, str]:
    """The number each callback calls (the PBX's journal of an attempt whose agent never
    answered names none: hotline.journal)."""
    if not ids:
        return {}
    async with sm() as db:
        rows = await db.execute(select(CallbackRequest.id, CallbackRequest.phone)
                                .where(CallbackRequest.id.in_(list(ids))))
        return {int(i): str(p) for i, p in rows}
