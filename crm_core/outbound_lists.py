"""Outbound call lists (issue 17 items 1-2): lists built from a rule, refreshed daily,
worked by agents one entry at a time (preview dialling).

Not to be confused with ``crm_core.call_lists`` (a customer's CALL RECORDS).

Rules:
- a list has a rule: ``repair_followup`` (N days after a repair ticket was resolved),
  ``delivery_followup`` (N days after an asset's delivery/purchase date),
  ``renewal_due`` (an active subscription or contract ends within N days) or
  ``customer_filter`` (a saved ``crm_core.reports.CustomerFilter``); the rule fixes the
  list's kind, and the kind fixes the outcomes an entry takes (``OUTCOMES``);
- an entry is unique per (list, customer, reason key): a rebuild inserts what is new,
  refreshes the number of an open, unclaimed entry without outcome, and never touches an
  entry with an outcome or a claim (every write of a rebuild is guarded by those
  conditions in its WHERE, so an outcome recorded meanwhile wins);
- the number is the ticket's contact's first phone, else the customer's first phone; an
  entry whose number is not a valid phone number (``numbering.normalize``) is
  ``invalid-number`` and never handed out;
- ``next_entry`` is two statements (200 agents share a pool of connections: each one
  held less long): the list with the entry the agent already holds on it, then (none
  held) one compare-and-set UPDATE that returns the entry and its customer's name. On
  PostgreSQL the UPDATE's subquery
  locks the row ``FOR UPDATE SKIP LOCKED`` (agents on other nodes skip it instead of
  waiting), on SQLite the statement runs under the one write lock; either way the UPDATE
  re-checks that the entry is unclaimed, so two agents never hold the same entry;
- a customer with ``do_not_call`` is never handed out, whatever the list, and whenever
  the flag was set; the outcome ``do-not-call`` sets the flag;
- no-answer and busy come back after the list's delay until ``max_attempts`` calls were
  made; a claim lapses after ``CLAIM_TTL`` (an agent who left), so no entry is stuck;
- lists are handed out only within business hours (``CallHours``, Asia/Shanghai);
- a ``scored`` outcome is also kept as a satisfaction answer against the ticket, its
  station and technician, the agent who took the original call, the product line
  (``crm_core.satisfaction.record_score``, one per entry);
- a list is worked by its team and its named agents (``agent_ids``), by any agent with
  the grant when it names neither, and by whoever may make lists; another agent does not
  see it (404). Only active users who may take entries (``call_lists:update``) are named;
- an ``automated`` list (a satisfaction list only) is worked by the IVR's survey dialler
  (``ivr.survey_dialler``: ``claim_automated``, then ``close_entry`` with the call's
  outcome, the same transition and recycling as an agent's): no agent takes its entries,
  only who may make lists sees it; on an agents' satisfaction list, a customer flagged
  ``prefers_automated_calls`` is the dialler's too, never handed to an agent;
- ``survey_followup`` selects the customers who gave a low answer (at most
  ``params.max_score``) in an automated survey within ``params.days``: the agent's
  follow-up of a complaint the survey opened (``crm_core.survey_answers``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    and_,
    bindparam,
    func,
    literal_column,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from crm_core import interactions, satisfaction
from crm_core.audit import audit, changes, snapshot
from crm_core.errors import Conflict, NotFound, ValidationFailed
from crm_core.models import (
    Asset,
    CallList,
    CallListEntry,
    Customer,
    Interaction,
    PhoneNumber,
    RolePermission,
    SatisfactionScore,
    Subscription,
    Ticket,
    User,
    utcnow,
)
from crm_core.permissions import Actor, require, scope_for
from crm_core.reports import CustomerFilter, filter_conditions
from numbering.normalize import valid_number

SHANGHAI = ZoneInfo("Asia/Shanghai")
MODULE = "call_lists"
CLAIM_TTL = timedelta(minutes=30)
RULE_KIND = {
    "repair_followup": "satisfaction",
    "delivery_followup": "satisfaction",
    "renewal_due": "renewal",
    "customer_filter": "contact",
    "survey_followup": "contact",
}
# what every list takes (the call did not reach the right person, or must never happen again)
COMMON_OUTCOMES = ("no-answer", "busy", "wrong-number", "do-not-call")
RETRIED = ("no-answer", "busy")
OUTCOMES = {
    "satisfaction": ("scored", *COMMON_OUTCOMES),  # score 1-5 and a comment
    "renewal": ("renewed", "will-renew", "declined", *COMMON_OUTCOMES),  # declined: a reason
    "contact": ("reached", *COMMON_OUTCOMES),
}
DEFAULT_DAYS = {"repair_followup": 1, "delivery_followup": 7, "renewal_due": 30,
                "survey_followup": 30}
LOW_SCORE = 2  # survey_followup: an answer at most this low wants an agent's call
LOOKBACK_DAYS = 30  # a follow-up not made within this many days after it fell due is dropped
MAX_DAYS = 3660
_CHUNK = 5000  # ids per IN list (both drivers take 32k parameters)


# --- business hours (pure) --------------------------------------------------------------


@dataclass(frozen=True)
class CallHours:
    """When customers may be called: ``start``-``end`` on ``days`` (ISO weekdays 1-7),
    Asia/Shanghai."""

    start: time = time(9, 0)
    end: time = time(18, 0)
    days: frozenset[int] = frozenset(range(1, 7))

    @classmethod
    def parse(cls, hours: str, days: str) -> CallHours:
        """``"09:00-18:00"`` and ``"1-6"`` (or ``"1,2,3"``); ValueError naming the fault."""
        try:
            a, b = (part.strip() for part in hours.split("-"))
            start = time.fromisoformat(a)
            end = time.max if b == "24:00" else time.fromisoformat(b)
        except ValueError as exc:
            raise ValueError(f"call hours {hours!r}: expected HH:MM-HH:MM") from exc
        if end <= start:
            raise ValueError(f"call hours {hours!r}: the end must come after the start")
        chosen: set[int] = set()
        for part in filter(None, (p.strip() for p in days.split(","))):
            lo, _, hi = part.partition("-")
            try:
                chosen.update(range(int(lo), int(hi or lo) + 1))
            except ValueError as exc:
                raise ValueError(f"call days {days!r}: expected ISO weekdays like 1-6") from exc
        if not chosen <= set(range(1, 8)):
            raise ValueError(f"call days {days!r}: weekdays are 1 (Monday) to 7")
        return cls(start, end, frozenset(chosen))

    @classmethod
    def always(cls) -> CallHours:
        return cls(time.min, time.max, frozenset(range(1, 8)))

    def open_at(self, now: datetime) -> bool:
        local = now.astimezone(SHANGHAI)
        return local.isoweekday() in self.days and self.start <= local.time() < self.end


# --- outcomes (pure) --------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What an agent reports about one call."""

    outcome: str
    score: int | None = None
    comment: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class Transition:
    """What an outcome does to its entry."""

    state: str  # open (comes back at due_at) | done
    due_at: datetime | None
    data: dict[str, Any]


def transition(kind: str, o: Outcome, *, attempts: int, max_attempts: int,
               retry_delay: timedelta, now: datetime) -> Transition:
    """The entry's next state after call number ``attempts`` (counted already) ended with
    ``o``; ValidationFailed when the outcome does not fit the list."""
    if o.outcome not in OUTCOMES[kind]:
        raise ValidationFailed("outcome", f"one of {', '.join(OUTCOMES[kind])} for this list")
    data: dict[str, Any] = {}
    if o.outcome == "scored":
        if o.score is None or not 1 <= o.score <= 5:
            raise ValidationFailed("score", "a satisfaction score from 1 to 5")
        data["score"] = o.score
    elif o.score is not None:
        raise ValidationFailed("score", "only a satisfaction call takes a score")
    if o.outcome == "declined":
        if not (o.reason or "").strip():
            raise ValidationFailed("reason", "say why the customer declines")
    if o.reason and o.reason.strip():
        data["reason"] = o.reason.strip()
    if o.comment and o.comment.strip():
        data["comment"] = o.comment.strip()
    if o.outcome in RETRIED and attempts < max_attempts:
        return Transition("open", now + retry_delay, data)
    return Transition("done", None, data)


# --- building a list --------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """One entry a rule selects."""

    customer_id: int
    reason_key: str
    reason: str
    due_at: datetime
    ticket_id: int | None = None
    asset_id: int | None = None
    subscription_id: int | None = None
    contact_id: int | None = None


def _day_at(day: date) -> datetime:
    # due from the start of its business day: the call window (CallHours) alone keeps
    # calls out of the night, so a list built after midnight is workable that day
    return datetime.combine(day, time.min, SHANGHAI).astimezone(UTC)


def business_day(now: datetime) -> date:
    return now.astimezone(SHANGHAI).date()


def check_params(rule: str, params: dict[str, Any]) -> dict[str, Any]:
    """The rule's parameters, checked and completed with defaults."""
    if rule not in RULE_KIND:
        raise ValidationFailed("rule", f"one of {', '.join(RULE_KIND)}")
    if rule == "customer_filter":
        raw = params.get("filter") or {}
        if not isinstance(raw, dict):
            raise ValidationFailed("params.filter", "an object of customer filter fields")
        known = {f.name for f in fields(CustomerFilter)}
        unknown = set(raw) - known
        if unknown:
            raise ValidationFailed("params.filter",
                                   f"unknown field(s): {', '.join(sorted(unknown))}")
        _customer_filter(raw)
        return {"filter": raw}
    days = params.get("days", DEFAULT_DAYS[rule])
    if not isinstance(days, int) or isinstance(days, bool) or not 0 <= days <= MAX_DAYS:
        raise ValidationFailed("params.days", f"a whole number of days from 0 to {MAX_DAYS}")
    if rule == "survey_followup":
        low = params.get("max_score", LOW_SCORE)
        if not isinstance(low, int) or isinstance(low, bool) or not 1 <= low <= 4:
            raise ValidationFailed("params.max_score", "a score from 1 to 4")
        return {"days": days, "max_score": low}
    return {"days": days}


def _customer_filter(raw: dict[str, Any]) -> CustomerFilter:
    values = dict(raw)
    for name in ("created_from", "created_to"):
        if values.get(name) is not None:
            try:
                values[name] = date.fromisoformat(str(values[name]))
            except ValueError as exc:
                raise ValidationFailed(f"params.filter.{name}", "a date YYYY-MM-DD") from exc
    try:
        return CustomerFilter(**values)
    except TypeError as exc:
        raise ValidationFailed("params.filter", str(exc)) from exc


async def _candidates(session: AsyncSession, lst: CallList, now: datetime) -> list[Candidate]:
    today = business_day(now)
    if lst.rule == "repair_followup":
        days = int(lst.params["days"])
        # resolved on a business day at least ``days`` before today, within the lookback
        newest = datetime.combine(today - timedelta(days=days - 1), time.min, SHANGHAI)
        oldest = newest - timedelta(days=LOOKBACK_DAYS + 1)
        rows = await session.execute(
            select(Ticket.id, Ticket.customer_id, Ticket.contact_id, Ticket.number,
                   Ticket.problem, Ticket.resolved_at)
            .where(Ticket.resolved_at.is_not(None), Ticket.resolved_at < newest,
                   Ticket.resolved_at >= oldest, Ticket.status.in_(("resolved", "closed"))))
        return [Candidate(customer_id=r.customer_id, reason_key=f"ticket:{r.id}",
                          reason=f"{r.number} · {r.problem[:80]}",
                          due_at=_day_at(business_day(r.resolved_at) + timedelta(days=days)),
                          ticket_id=r.id, contact_id=r.contact_id) for r in rows]
    if lst.rule == "delivery_followup":
        days = int(lst.params["days"])
        last = today - timedelta(days=days)
        rows = await session.execute(
            select(Asset.id, Asset.customer_id, Asset.model, Asset.serial_number,
                   Asset.purchase_date)
            .where(Asset.purchase_date.is_not(None), Asset.purchase_date <= last,
                   Asset.purchase_date >= last - timedelta(days=LOOKBACK_DAYS)))
        return [Candidate(customer_id=r.customer_id, reason_key=f"asset:{r.id}",
                          reason=f"{r.model or ''} {r.serial_number} · {r.purchase_date}".strip(),
                          due_at=_day_at(r.purchase_date + timedelta(days=days)),
                          asset_id=r.id) for r in rows]
    if lst.rule == "renewal_due":
        days = int(lst.params["days"])
        rows = await session.execute(
            select(Subscription.id, Subscription.customer_id, Subscription.title,
                   Subscription.kind, Subscription.end_date)
            .where(Subscription.status == "active", Subscription.end_date >= today,
                   Subscription.end_date <= today + timedelta(days=days)))
        return [Candidate(customer_id=r.customer_id, reason_key=f"subscription:{r.id}",
                          reason=f"{r.title} · {r.end_date}", due_at=_day_at(today),
                          subscription_id=r.id) for r in rows]
    if lst.rule == "survey_followup":
        return await _low_survey_answers(session, lst, now)
    f = _customer_filter(lst.params.get("filter") or {})
    ids = await session.scalars(select(Customer.id).where(*filter_conditions(f)))
    return [Candidate(customer_id=i, reason_key="customer", reason=lst.name,
                      due_at=_day_at(today)) for i in ids]


async def _low_survey_answers(session: AsyncSession, lst: CallList, now: datetime
                              ) -> list[Candidate]:
    """One candidate per automated survey call with an answer at most ``max_score``."""
    since = now - timedelta(days=int(lst.params["days"]))
    rows = await session.execute(
        select(SatisfactionScore.entry_id, SatisfactionScore.customer_id,
               func.min(SatisfactionScore.ticket_id), func.min(SatisfactionScore.score),
               func.min(SatisfactionScore.scored_at))
        .where(SatisfactionScore.channel == "ivr", SatisfactionScore.entry_id.is_not(None),
               SatisfactionScore.score <= int(lst.params["max_score"]),
               SatisfactionScore.scored_at >= since)
        .group_by(SatisfactionScore.entry_id, SatisfactionScore.customer_id))
    return [Candidate(customer_id=customer_id, reason_key=f"survey:{entry_id}",
                      reason=f"自动回访低分 / low survey score: {low}",
                      due_at=scored_at, ticket_id=ticket_id)
            for entry_id, customer_id, ticket_id, low, scored_at in rows]


def _chunks(ids: Sequence[int]) -> Iterable[Sequence[int]]:
    for i in range(0, len(ids), _CHUNK):
        yield ids[i:i + _CHUNK]


async def _numbers(session: AsyncSession, customer_ids: Sequence[int]
                   ) -> tuple[dict[int, str], dict[int, str]]:
    """Each customer's first number, and each contact's first number."""
    by_customer: dict[int, str] = {}
    by_contact: dict[int, str] = {}
    for chunk in _chunks(sorted(set(customer_ids))):
        rows = await session.execute(
            select(PhoneNumber.customer_id, PhoneNumber.contact_id, PhoneNumber.number_e164)
            .where(PhoneNumber.customer_id.in_(chunk)).order_by(PhoneNumber.id))
        for customer_id, contact_id, number in rows:
            by_customer.setdefault(customer_id, number)
            if contact_id is not None:
                by_contact.setdefault(contact_id, number)
    return by_customer, by_contact


def _insert(session: AsyncSession) -> Any:
    dialect = session.get_bind().dialect.name
    return pg_insert if dialect == "postgresql" else sqlite_insert


def _unclaimed_without_outcome() -> ColumnElement[bool]:
    return and_(CallListEntry.state.in_(("open", "invalid-number", "gone")),
                CallListEntry.outcome.is_(None), CallListEntry.attempts == 0,
                CallListEntry.claim.is_(None))


async def refresh_list(session: AsyncSession, list_id: int, *, now: datetime | None = None
                       ) -> dict[str, int]:
    """Rebuild one list from its rule (module rules): ``{"added", "updated", "gone"}``."""
    at = utcnow() if now is None else now
    lst = await session.get(CallList, list_id)
    if lst is None:
        raise NotFound("call_list", list_id)
    found = await _candidates(session, lst, at)
    by_customer, by_contact = await _numbers(session, [c.customer_id for c in found])
    dnc: set[int] = set()
    for chunk in _chunks(sorted({c.customer_id for c in found})):
        dnc.update(await session.scalars(select(Customer.id).where(
            Customer.id.in_(chunk), Customer.do_not_call.is_(True))))
    existing = {(r.customer_id, r.reason_key): r for r in (await session.execute(
        select(CallListEntry.id, CallListEntry.customer_id, CallListEntry.reason_key,
               CallListEntry.number, CallListEntry.state, CallListEntry.reason)
        .where(CallListEntry.list_id == list_id))).all()}
    new_rows: list[dict[str, Any]] = []
    updated = 0
    for c in found:
        number = (by_contact.get(c.contact_id) if c.contact_id is not None else None) \
            or by_customer.get(c.customer_id)
        state = ("do-not-call" if c.customer_id in dnc else
                 "open" if number and valid_number(number) else "invalid-number")
        old = existing.pop((c.customer_id, c.reason_key), None)
        if old is None:
            new_rows.append({"list_id": list_id, "customer_id": c.customer_id,
                             "reason_key": c.reason_key, "reason": c.reason,
                             "ticket_id": c.ticket_id, "asset_id": c.asset_id,
                             "subscription_id": c.subscription_id,
                             "contact_id": c.contact_id, "number": number, "state": state,
                             "due_at": c.due_at, "attempts": 0, "history": [],
                             "created_at": at, "updated_at": at})
        elif (old.number, old.state, old.reason) != (number, state, c.reason):
            result = await session.execute(
                update(CallListEntry)
                .where(CallListEntry.id == old.id, _unclaimed_without_outcome())
                .values(number=number, state=state, reason=c.reason, updated_at=at))
            updated += result.rowcount or 0  # type: ignore[attr-defined]
    insert = _insert(session)
    for i in range(0, len(new_rows), _CHUNK):  # executemany: no statement per row count
        await session.execute(insert(CallListEntry.__table__).on_conflict_do_nothing(),
                              new_rows[i:i + _CHUNK])
    gone = 0
    stale = [r.id for r in existing.values() if r.state == "open"]
    for chunk in _chunks(stale):
        result = await session.execute(
            update(CallListEntry)
            .where(CallListEntry.id.in_(chunk), _unclaimed_without_outcome())
            .values(state="gone", updated_at=at))
        gone += result.rowcount or 0  # type: ignore[attr-defined]
    lst.refreshed_at = at
    return {"added": len(new_rows), "updated": updated, "gone": gone}


async def refresh_all(session: AsyncSession, *, now: datetime | None = None) -> int:
    """The daily rebuild of every active list; how many entries it added."""
    added = 0
    for list_id in (await session.scalars(select(CallList.id).where(
            CallList.active.is_(True)).order_by(CallList.id))).all():
        added += (await refresh_list(session, list_id, now=now))["added"]
    return added


# --- lists ------------------------------------------------------------------------------


def _list_out(lst: CallList, counts: dict[str, int] | None = None,
              outcome_counts: dict[str, int] | None = None) -> dict[str, Any]:
    return {"id": lst.id, "name": lst.name, "rule": lst.rule, "kind": lst.kind,
            "params": lst.params, "active": lst.active, "max_attempts": lst.max_attempts,
            "retry_delay_min": lst.retry_delay_min, "team": lst.team,
            "agent_ids": list(lst.agent_ids or []), "automated": bool(lst.automated),
            "refreshed_at": lst.refreshed_at, "outcomes": list(OUTCOMES[lst.kind]),
            "counts": counts or {}, "outcome_counts": outcome_counts or {}}


async def _agents_checked(session: AsyncSession, agent_ids: Sequence[int]) -> list[int]:
    """The ids, each an active user who may take entries (``call_lists:update``);
    ValidationFailed naming the first that is not."""
    wanted = sorted(set(agent_ids))
    if len(wanted) > 200:
        raise ValidationFailed("agent_ids", "at most 200 agents; assign a team instead")
    if not wanted:
        return []
    fit = set((await session.scalars(
        select(User.id).outerjoin(RolePermission, and_(
            RolePermission.role_id == User.role_id, RolePermission.module == MODULE,
            RolePermission.operation == "update"))
        .where(User.id.in_(wanted), User.active.is_(True),
               or_(User.is_admin.is_(True), RolePermission.id.is_not(None))))).all())
    for user_id in wanted:
        if user_id not in fit:
            raise ValidationFailed("agent_ids", f"user {user_id} is no active agent who may "
                                   "work call lists")
    return wanted


def _team(team: str | None) -> str | None:
    return (team or "").strip() or None


async def create_list(session: AsyncSession, actor: Actor, *, name: str, rule: str,
                      params: dict[str, Any] | None = None, max_attempts: int = 3,
                      retry_delay_min: int = 120, team: str | None = None,
                      agent_ids: Sequence[int] = (), automated: bool = False,
                      now: datetime | None = None) -> dict[str, Any]:
    """A new list, built at once (``refresh_list``), for ``team`` and/or ``agent_ids``;
    ``automated``: called by the IVR's survey (a satisfaction list only)."""
    require(actor, MODULE, "create")
    if not name.strip():
        raise ValidationFailed("name", "a list needs a name")
    checked = check_params(rule, params or {})
    if automated and RULE_KIND[rule] != "satisfaction":
        raise ValidationFailed("automated", "only a satisfaction list is called by the IVR")
    if not 1 <= max_attempts <= 20:
        raise ValidationFailed("max_attempts", "from 1 to 20 calls")
    if not 1 <= retry_delay_min <= 7 * 24 * 60:
        raise ValidationFailed("retry_delay_min", "from 1 minute to 7 days")
    agents = await _agents_checked(session, agent_ids)
    lst = CallList(name=name.strip(), rule=rule, kind=RULE_KIND[rule], params=checked,
                   max_attempts=max_attempts, retry_delay_min=retry_delay_min,
                   team=_team(team), agent_ids=agents or None, automated=automated,
                   created_by_id=actor.user_id)
    session.add(lst)
    await session.flush()
    built = await refresh_list(session, lst.id, now=now)
    return {**_list_out(lst, *await _progress(session, lst.id, now)), "built": built}


async def assign_list(session: AsyncSession, actor: Actor, list_id: int, *,
                      team: str | None, agent_ids: Sequence[int],
                      now: datetime | None = None) -> dict[str, Any]:
    """Give the list to ``team`` and/or ``agent_ids`` (both empty: to every agent). An
    entry someone holds stays theirs until its outcome (``record_outcome`` checks the
    claim, not the assignment)."""
    require(actor, MODULE, "create")
    lst = await session.get(CallList, list_id)
    if lst is None:
        raise NotFound("call_list", list_id)
    agents = await _agents_checked(session, agent_ids)
    lst.team = _team(team)
    lst.agent_ids = agents or None
    await session.flush()
    return _list_out(lst, *await _progress(session, lst.id, now))


async def assignable(session: AsyncSession, actor: Actor) -> dict[str, Any]:
    """Whom a list may be given to: the active users who may take entries, and the teams
    they are in."""
    require(actor, MODULE, "create")
    rows = (await session.execute(
        select(User.id, User.username, User.display_name, User.team)
        .outerjoin(RolePermission, and_(
            RolePermission.role_id == User.role_id, RolePermission.module == MODULE,
            RolePermission.operation == "update"))
        .where(User.active.is_(True), or_(User.is_admin.is_(True),
                                          RolePermission.id.is_not(None)))
        .order_by(User.display_name, User.id))).all()
    agents = [{"id": r.id, "username": r.username, "display_name": r.display_name,
               "team": r.team} for r in rows]
    return {"agents": agents, "teams": sorted({r.team for r in rows if r.team})}


async def _counts(session: AsyncSession, list_id: int, now: datetime | None = None
                  ) -> dict[str, int]:
    at = utcnow() if now is None else now
    rows = await session.execute(
        select(CallListEntry.state,
               func.count().filter(CallListEntry.due_at <= at),
               func.count())
        .join(Customer, Customer.id == CallListEntry.customer_id)
        .where(CallListEntry.list_id == list_id, Customer.do_not_call.is_(False))
        .group_by(CallListEntry.state))
    counts = {"due": 0}
    for state, due, total in rows:
        counts[state] = int(total)
        if state == "open":
            counts["due"] = int(due)
    return counts


async def _outcome_counts(session: AsyncSession, list_id: int) -> dict[str, int]:
    """The entries by their last outcome (a recycled no-answer counts until called again)."""
    rows = await session.execute(
        select(CallListEntry.outcome, func.count())
        .where(CallListEntry.list_id == list_id, CallListEntry.outcome.is_not(None))
        .group_by(CallListEntry.outcome))
    return {str(outcome): int(n) for outcome, n in rows}


async def _progress(session: AsyncSession, list_id: int, now: datetime | None
                    ) -> tuple[dict[str, int], dict[str, int]]:
    return await _counts(session, list_id, now), await _outcome_counts(session, list_id)


def _may_work(actor: Actor, lst: CallList) -> bool:
    if lst.automated:  # the IVR calls it: only who makes lists looks at its progress
        return scope_for(actor, MODULE, "create") is not None
    named = lst.agent_ids or []
    return ((lst.team is None and not named) or (lst.team is not None and lst.team == actor.team)
            or actor.user_id in named or scope_for(actor, MODULE, "create") is not None)


async def list_lists(session: AsyncSession, actor: Actor, *, now: datetime | None = None
                     ) -> list[dict[str, Any]]:
    """The lists the actor may work, with their counts by state."""
    require(actor, MODULE, "read")
    lists = (await session.scalars(select(CallList).where(CallList.active.is_(True))
                                   .order_by(CallList.id))).all()
    return [_list_out(lst, *await _progress(session, lst.id, now))
            for lst in lists if _may_work(actor, lst)]


ENTRY_STATES = ("open", "done", "invalid-number", "do-not-call", "gone")


async def list_entries(session: AsyncSession, actor: Actor, list_id: int, *,
                       state: str | None = None, limit: int = 50, offset: int = 0
                       ) -> dict[str, Any]:
    """A list's entries (``state``: only those), due first: the customer, the number,
    attempts and last outcome, and who holds it now."""
    require(actor, MODULE, "read")
    lst = await session.get(CallList, list_id)
    if lst is None or not _may_work(actor, lst):
        raise NotFound("call_list", list_id)
    if state is not None and state not in ENTRY_STATES:
        raise ValidationFailed("state", f"one of {', '.join(ENTRY_STATES)}")
    where = [CallListEntry.list_id == list_id]
    if state is not None:
        where.append(CallListEntry.state == state)
    total = int(await session.scalar(select(func.count()).select_from(CallListEntry)
                                     .where(*where)) or 0)
    rows = (await session.execute(
        select(CallListEntry.id, CallListEntry.customer_id, Customer.name,
               Customer.do_not_call, CallListEntry.reason, CallListEntry.number,
               CallListEntry.state, CallListEntry.due_at, CallListEntry.attempts,
               CallListEntry.outcome, CallListEntry.outcome_data, CallListEntry.updated_at,
               User.display_name.label("held_by"))
        .join(Customer, Customer.id == CallListEntry.customer_id)
        .outerjoin(User, User.id == CallListEntry.claimed_by_id)
        .where(*where).order_by(CallListEntry.due_at, CallListEntry.id)
        .limit(limit).offset(offset))).all()
    items = [{"id": r.id, "customer_id": r.customer_id, "customer_name": r.name,
              "do_not_call": r.do_not_call, "reason": r.reason, "number": r.number,
              "state": r.state, "due_at": r.due_at, "attempts": r.attempts,
              "outcome": r.outcome, "outcome_data": r.outcome_data,
              "updated_at": r.updated_at, "held_by": r.held_by} for r in rows]
    return {"items": items, "total": total}


# --- preview dialling -------------------------------------------------------------------


async def _entry_out(session: AsyncSession, entry_id: int) -> dict[str, Any]:
    row = (await session.execute(
        select(CallListEntry, Customer.name, CallList.name, CallList.kind, CallList.rule)
        .join(Customer, Customer.id == CallListEntry.customer_id)
        .join(CallList, CallList.id == CallListEntry.list_id)
        .where(CallListEntry.id == entry_id))).one()
    e, customer_name, list_name, kind, rule = row
    return await _entry_view(session, e, customer_name, list_name, kind, rule)


async def _entry_view(session: AsyncSession, e: Any, customer_name: str, list_name: str,
                      kind: str, rule: str) -> dict[str, Any]:
    """An entry as the console shows it; ``e``: the row (``CallListEntry`` or a row of its
    columns, as the claim returns it). The names of who called before: one more read,
    only when it has a history."""
    by = {step.get("by") for step in e.history if isinstance(step, dict)} - {None}
    names: dict[Any, str] = dict((await session.execute(
        select(User.id, User.display_name).where(User.id.in_(by)))).all()) if by else {}
    history = [{**step, "by_name": names.get(step.get("by"))} if isinstance(step, dict)
               else step for step in e.history]
    return {"id": e.id, "list_id": e.list_id, "list_name": list_name, "kind": kind,
            "rule": rule, "customer_id": e.customer_id, "customer_name": customer_name,
            "reason_key": e.reason_key, "reason": e.reason, "ticket_id": e.ticket_id,
            "asset_id": e.asset_id, "subscription_id": e.subscription_id,
            "contact_id": e.contact_id, "number": e.number, "state": e.state,
            "due_at": e.due_at, "attempts": e.attempts, "outcome": e.outcome,
            "outcome_data": e.outcome_data, "claimed_by_id": e.claimed_by_id,
            "claimed_at": e.claimed_at, "assigned_user_id": e.assigned_user_id,
            "outcomes": list(OUTCOMES[kind]), "history": history}


def _handable(list_id: int, user_id: int | None, now: datetime) -> list[ColumnElement[bool]]:
    return [CallListEntry.list_id == list_id, CallListEntry.state == "open",
            CallListEntry.due_at <= now,
            or_(CallListEntry.claim.is_(None), CallListEntry.claimed_at < now - CLAIM_TTL),
            or_(CallListEntry.assigned_user_id.is_(None),
                CallListEntry.assigned_user_id == user_id)]


# next_entry's two statements, built once (200 agents ask at once: building them per call
# cost more CPU than running them); their values are bound: b_list_id, b_user_id, now, lapse
# (now - CLAIM_TTL), token
def _bound(name: str, column: Any) -> Any:
    return bindparam(name, type_=column.type)


_NOW = _bound("now", CallListEntry.__table__.c.claimed_at)
_LAPSE = _bound("lapse", CallListEntry.__table__.c.claimed_at)
_LIST = _bound("b_list_id", CallListEntry.__table__.c.list_id)  # not a column's name: the
_USER = _bound("b_user_id", CallListEntry.__table__.c.claimed_by_id)  # UPDATE binds those


@lru_cache(maxsize=1)
def _list_and_held() -> Any:
    """The list, and the id of its entry the user holds (claim not lapsed, customer not
    flagged "do not call"; none for no user: ``= NULL`` is never true). The list is
    compared as an expression: the planner then reads the user's own claims (their
    index), not the list's index."""
    held = (select(CallListEntry.id)
            .join(Customer, Customer.id == CallListEntry.customer_id)
            .where(CallListEntry.claimed_by_id == _USER,
                   CallListEntry.list_id + literal_column("0") == _LIST,
                   CallListEntry.state == "open", CallListEntry.claimed_at >= _LAPSE,
                   Customer.do_not_call.is_not(True))
            .order_by(CallListEntry.id).limit(1).scalar_subquery())
    return select(CallList, held.label("held")).where(CallList.id == _LIST)


@lru_cache(maxsize=6)
def _claim_statement(postgres: bool, ivr: bool | None) -> Any:
    """The compare-and-set UPDATE of the next handable entry (``_handable``, customer not
    flagged), returning the entry's columns and its customer's name. ``ivr``: only the
    customers who prefer automated calls (True), none of them (False: an agent's
    satisfaction call), or anyone (None)."""
    entry = CallListEntry.metadata.tables["call_list_entry"]
    who = [Customer.do_not_call.is_(False)]
    if ivr is not None:
        who.append(Customer.prefers_automated_calls.is_(ivr))
    pick = (select(entry.c.id)
            .join(Customer, Customer.id == entry.c.customer_id)
            .where(entry.c.list_id == _LIST, entry.c.state == "open", entry.c.due_at <= _NOW,
                   or_(entry.c.claim.is_(None), entry.c.claimed_at < _LAPSE),
                   or_(entry.c.assigned_user_id.is_(None), entry.c.assigned_user_id == _USER),
                   *who)
            .order_by(entry.c.due_at, entry.c.id).limit(1))
    if postgres:
        pick = pick.with_for_update(skip_locked=True, of=entry)
    named = aliased(Customer)  # its own name in RETURNING, where columns are unqualified
    customer_name = (select(named.name).where(named.id == entry.c.customer_id)
                     .correlate(entry).scalar_subquery())
    return (update(entry)
            .where(entry.c.id == pick.scalar_subquery(),
                   or_(entry.c.claim.is_(None), entry.c.claimed_at < _LAPSE))
            .values(claim=bindparam("token", type_=entry.c.claim.type), claimed_by_id=_USER,
                    claimed_at=_NOW)
            .returning(*entry.c, customer_name.label("customer_name")))


async def _claim(session: AsyncSession, list_id: int, user_id: int | None, now: datetime,
                 token: str | None = None, ivr: bool | None = None) -> Any:
    """Claim the next handable entry of list ``list_id`` for ``user_id`` (None: the survey
    dialler) with ``token``: ONE compare-and-set UPDATE that returns the entry's columns
    and its customer's name (``customer_name``); None when there is none (or, on
    PostgreSQL, a lost race). ``ivr``: as ``_claim_statement``'s."""
    postgres = session.get_bind().dialect.name == "postgresql"
    return (await session.execute(_claim_statement(postgres, ivr), {
        "b_list_id": list_id, "b_user_id": user_id, "now": now, "lapse": now - CLAIM_TTL,
        "token": token or uuid.uuid4().hex})).first()


async def next_entry(session: AsyncSession, actor: Actor, list_id: int, *, hours: CallHours,
                     now: datetime | None = None) -> dict[str, Any]:
    """``{"entry": the entry now claimed by the actor | None, "why": None | "closed" |
    "empty"}``. An entry the actor already holds on the list is handed back first (a
    reloaded console does not strand it)."""
    at = utcnow() if now is None else now
    require(actor, MODULE, "update")
    # one read: the list (may she work it?) and the entry she holds on it, if any
    found = (await session.execute(_list_and_held(), {
        "b_list_id": list_id, "b_user_id": actor.user_id, "lapse": at - CLAIM_TTL})).first()
    lst = None if found is None else found[0]
    # an automated list is the survey dialler's (ivr.survey_dialler), never an agent's
    if lst is None or not lst.active or lst.automated or not _may_work(actor, lst):
        raise NotFound("call_list", list_id)
    # who prefers automated calls answers a satisfaction list to the IVR's survey
    ivr = False if lst.kind == "satisfaction" else None
    if not hours.open_at(at):
        return {"entry": None, "why": "closed"}
    if found is not None and found.held is not None:
        return {"entry": await _entry_out(session, found.held), "why": None}
    for _ in range(3):  # a lost race on PostgreSQL's snapshot: take the next one
        row = await _claim(session, list_id, actor.user_id, at, ivr=ivr)
        if row is not None:
            return {"entry": await _entry_view(session, row, row.customer_name, lst.name,
                                               lst.kind, lst.rule), "why": None}
        if not await session.scalar(
                select(CallListEntry.id).where(*_handable(list_id, actor.user_id, at)).limit(1)):
            break
    return {"entry": None, "why": "empty"}


async def held_entry(session: AsyncSession, actor: Actor, *, now: datetime | None = None
                     ) -> dict[str, Any] | None:
    """The entry the actor holds now (any list she may still work), or None: a console
    reloaded mid-call shows it again without taking another."""
    at = utcnow() if now is None else now
    require(actor, MODULE, "read")
    rows = (await session.execute(
        select(CallListEntry.id, CallList)
        .join(CallList, CallList.id == CallListEntry.list_id)
        .where(CallListEntry.claimed_by_id == actor.user_id, CallListEntry.state == "open",
               CallListEntry.claimed_at >= at - CLAIM_TTL)
        .order_by(CallListEntry.claimed_at.desc()))).all()
    entry_id = next((r[0] for r in rows if r[1].active and _may_work(actor, r[1])), None)
    return None if entry_id is None else await _entry_out(session, entry_id)


async def get_entry(session: AsyncSession, actor: Actor, entry_id: int) -> dict[str, Any]:
    require(actor, MODULE, "read")
    lst_id = await session.scalar(select(CallListEntry.list_id)
                                  .where(CallListEntry.id == entry_id))
    lst = None if lst_id is None else await session.get(CallList, lst_id)
    if lst is None or not _may_work(actor, lst):
        raise NotFound("call_list_entry", entry_id)
    return await _entry_out(session, entry_id)


async def record_outcome(session: AsyncSession, actor: Actor, entry_id: int, o: Outcome, *,
                         now: datetime | None = None, call_linkedid: str | None = None
                         ) -> dict[str, Any]:
    """Close (or recycle) the entry the actor holds with the outcome of its call, and log
    the call (an interaction). ``call_linkedid``: the call dialled for it; when the pop's
    log form logged that call already, the outcome completes that record instead of a
    second one (``crm_core.interactions``: one call, one record)."""
    at = utcnow() if now is None else now
    require(actor, MODULE, "update")
    found = (await session.execute(  # the entry and its list in one read
        select(CallListEntry, CallList).join(CallList, CallList.id == CallListEntry.list_id)
        .where(CallListEntry.id == entry_id))).first()
    entry, lst = (None, None) if found is None else (found[0], found[1])
    if entry is None or lst is None or not _may_work(actor, lst):
        raise NotFound("call_list_entry", entry_id)
    if entry.state != "open" or entry.claim is None or entry.claimed_by_id != actor.user_id:
        raise Conflict("this entry is not yours to close: take it with Next first")
    await close_entry(session, entry, lst, o, by_id=actor.user_id, channel="agent", now=at,
                      call_linkedid=call_linkedid)
    session.expunge(entry)
    return await _entry_out(session, entry_id)


async def close_entry(session: AsyncSession, entry: CallListEntry, lst: CallList, o: Outcome,
                      *, by_id: int | None, channel: str, now: datetime,
                      answers: Sequence[tuple[str, int]] = (),
                      call_linkedid: str | None = None) -> Transition:
    """The outcome of call number ``entry.attempts + 1`` (its current claim's): the entry
    closed or recycled (``transition``), the history step, the do-not-call flag, the
    satisfaction answer(s) and the customer's interaction. Conflict when the claim was
    taken over meanwhile. ``answers``: an automated survey's (question, score) pairs, each
    kept (``channel`` ``ivr``); else a ``scored`` outcome keeps its one score."""
    attempts = entry.attempts + 1
    t = transition(lst.kind, o, attempts=attempts, max_attempts=lst.max_attempts,
                   retry_delay=timedelta(minutes=lst.retry_delay_min), now=now)
    step = {"at": now.isoformat(), "by": by_id, "outcome": o.outcome, **t.data}
    if channel != "agent":
        step["channel"] = channel
    result = await session.execute(
        update(CallListEntry)
        .where(CallListEntry.id == entry.id, CallListEntry.claim == entry.claim)
        .values(state=t.state, due_at=t.due_at or entry.due_at, attempts=attempts,
                outcome=o.outcome, outcome_data=t.data or None,
                history=[*entry.history, step], claim=None, claimed_by_id=None,
                claimed_at=None, updated_at=now)
        .execution_options(synchronize_session=False))
    if not result.rowcount:  # type: ignore[attr-defined]
        raise Conflict("this entry was taken over meanwhile")
    if o.outcome == "do-not-call":
        await mark_do_not_call(session, entry.customer_id, now=now)
    if o.outcome == "scored":  # the answer lands on who earned it (crm_core.satisfaction)
        for question, score in answers or (("overall", int(t.data["score"])),):
            await satisfaction.record_score(
                session, customer_id=entry.customer_id, score=score,
                comment=t.data.get("comment"), channel=channel, ticket_id=entry.ticket_id,
                asset_id=entry.asset_id, list_id=lst.id, entry_id=entry.id,
                asked_by_id=by_id, at=now, question=question)
    logged = await _log_call(session, by_id, entry, lst, _summary(o, t), now, call_linkedid)
    await session.flush()
    if logged is not None:
        audit(session, user_id=by_id, action="update", entity="interaction",
              entity_id=logged[0].id, before=logged[1],
              after=changes(logged[1], snapshot(logged[0])))
    return t


async def claim_automated(session: AsyncSession, list_id: int, *, token: str,
                          preferring_only: bool = False, now: datetime | None = None
                          ) -> CallListEntry | None:
    """The next due entry of an automated list (``preferring_only``: of an agents'
    satisfaction list, for a customer who prefers automated calls), claimed with
    ``token`` by the survey dialler (no user: ``claimed_by_id`` stays NULL), the same
    compare-and-set as an agent's ``next_entry``, so two nodes never dial one entry.
    None: nothing due."""
    at = utcnow() if now is None else now
    for _ in range(3):  # a lost race on PostgreSQL's snapshot: take the next one
        row = await _claim(session, list_id, None, at, token,
                           ivr=True if preferring_only else None)
        if row is not None:
            return await session.get(CallListEntry, row.id, populate_existing=True)
        if not await session.scalar(
                select(CallListEntry.id).where(*_handable(list_id, None, at)).limit(1)):
            break
    return None


async def release_claim(session: AsyncSession, entry_id: int, token: str) -> bool:
    """Give back a claim whose call was certainly never placed (the dialler's Originate
    refused before it left): the entry is due again at once, no attempt counted."""
    result = await session.execute(
        update(CallListEntry).where(CallListEntry.id == entry_id, CallListEntry.claim == token)
        .values(claim=None, claimed_by_id=None, claimed_at=None)
        .execution_options(synchronize_session=False))
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def _log_call(session: AsyncSession, by_id: int | None, entry: CallListEntry,
                    lst: CallList, summary: str, at: datetime, call_linkedid: str | None
                    ) -> tuple[Interaction, dict[str, Any]] | None:
    """The call's record: a new interaction, or (the pop's form logged the call already,
    today) that one completed; then the row and its columns before (to audit)."""
    mine = {"content": entry.reason, "result": summary, "disposition": f"outbound:{lst.kind}",
            "contact_id": entry.contact_id}
    logged = None if not call_linkedid else await interactions.call_log_of(
        session, entry.customer_id, call_linkedid, by_id)
    if logged is None or interactions.is_closed(logged.occurred_at, at):
        session.add(Interaction(customer_id=entry.customer_id, kind="call", occurred_at=at,
                                author_id=by_id, call_linkedid=call_linkedid or None,
                                **mine))
        return None
    before = snapshot(logged)
    for key, value in interactions.merged_call_log(mine, before).items():
        setattr(logged, key, value)
    return logged, before


def _summary(o: Outcome, t: Transition) -> str:
    parts = [o.outcome]
    parts += [f"{k}={v}" for k, v in t.data.items()]
    return " · ".join(str(p) for p in parts)


async def mark_do_not_call(session: AsyncSession, customer_id: int, *,
                           now: datetime | None = None) -> int:
    """Flag the customer and drop their open, unclaimed entries from every list (the
    claim of an entry on screen right now ends with its outcome; ``next_entry`` never
    hands out a flagged customer either way). How many entries dropped."""
    at = utcnow() if now is None else now
    await session.execute(update(Customer).where(Customer.id == customer_id)
                          .values(do_not_call=True)
                          .execution_options(synchronize_session=False))
    result = await session.execute(
        update(CallListEntry)
        .where(CallListEntry.customer_id == customer_id, CallListEntry.state == "open",
               CallListEntry.claim.is_(None))
        .values(state="do-not-call", updated_at=at))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
