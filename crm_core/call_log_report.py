"""The call log as a report (issue 16 item 5): the calls of a period with filters, a page
at a time, and the same filter as the rows of a CSV/XLSX file.

Rules:
- the gate is ``reports``/``read`` (``reports``/``export`` for a file, checked on every
  download); the rows are limited by that grant's data scope with the rule shape of
  ``call_recordings.hear_right``: ``all`` every call; ``own`` / ``team`` / ``region`` the
  calls an agent inside it (the actor / the actor's team / region, ``User``) answered
  (``agent_interface``) or placed (``call_access.ORIGINATED_BY``), and the calls of a
  customer inside it (``permissions.customer_filter``). KNOWN LIMIT: an earlier agent of
  a transferred call (``agents_tried``) does not widen the scope, only the record's
  answering agent does (a JSON array is not indexable alike in both databases);
- a call belongs to the period it ENDED in (the reports' rule), [start, end) UTC;
- the queue of a call is its first queue, as in the reports; the number dialled is
  compared in the number plan's canonical form (``canonical``), so ``+86 400 800 1234``
  finds the calls logged as ``4008001234``;
- ``result`` groups outcomes as ``crm_core.kpi`` does: answered (answered,
  transferred), abandoned, other (everything else);
- paging is by keyset along ``ix_call_record_ended_at`` (ended_at, id), newest first
  or oldest first, with the filter's total; the cursor is the last row's (ended_at, id);
- the disposition of a call is the one of its latest logged interaction
  (``Interaction.call_linkedid``);
- text fields (caller names, customer names) are returned as stored: the pages escape
  them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, false, func, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core import kpi
from crm_core.call_access import ORIGINATED_BY
from crm_core.models import CallRecord, Customer, Interaction, User, as_utc
from crm_core.permissions import Actor, customer_filter, require
from crm_core.reports import report_operation

RESULTS = ("answered", "abandoned", "other")
ORDERS = ("desc", "asc")
PAGE_MAX = 200
EXPORT_MAX = 200_000  # a file beyond this is refused: narrow the filter
_CHUNK = 1000

CALL_COLUMNS: list[tuple[str, tuple[str, str]]] = [
    ("ended_at", ("结束时间", "ended")), ("started_at", ("开始时间", "started")),
    ("direction", ("方向", "direction")), ("caller", ("客户号码", "caller")),
    ("caller_name", ("来电名称", "caller name")), ("did", ("被叫号码", "number dialled")),
    ("queue", ("队列", "queue")), ("agent_interface", ("坐席", "agent")),
    ("agent_name", ("坐席姓名", "agent name")), ("outcome", ("结果", "outcome")),
    ("wait_s", ("等待秒", "wait s")), ("talk_s", ("通话秒", "talk s")),
    ("customer_id", ("客户编号", "customer id")), ("customer_name", ("客户", "customer")),
    ("disposition", ("来电类型", "disposition")), ("linkedid", ("通话编号", "call id")),
]


@dataclass(frozen=True, kw_only=True)
class CallFilter:
    """What a call log shows: a period [start, end) in UTC and optional filters."""

    start: datetime
    end: datetime
    direction: str | None = None
    queue: str | None = None
    did: str | None = None
    agent: str | None = None
    customer_id: int | None = None
    caller: str | None = None
    outcome: str | None = None
    result: str | None = None
    disposition: str | None = None
    min_wait: int | None = None
    max_wait: int | None = None
    min_talk: int | None = None
    max_talk: int | None = None


@dataclass(frozen=True, kw_only=True)
class Cursor:
    """Where a page ends: the last row's ``ended_at`` and id."""

    ended_at: datetime
    id: int

    def token(self) -> str:
        """URL-safe text (no ``+`` to become a space in a query string): UTC to the
        microsecond, then the id."""
        return f"{as_utc(self.ended_at):%Y%m%dT%H%M%S%f}~{self.id}"

    @classmethod
    def parse(cls, token: str) -> Cursor:
        """A cursor from ``token()``; ValueError when it is not one."""
        at, _, ident = token.partition("~")
        if not ident.isascii() or not ident.isdigit():
            raise ValueError("a cursor ends with a row id")
        when = datetime.strptime(at, "%Y%m%dT%H%M%S%f").replace(tzinfo=UTC)
        return cls(ended_at=when, id=int(ident))


# --- pure -------------------------------------------------------------------------------


def outcomes_of(result: str) -> frozenset[str] | None:
    """The outcomes of a ``result`` group (None: "other", every outcome but those)."""
    if result == "answered":
        return kpi.ANSWERED_OUTCOMES
    if result == "abandoned":
        return kpi.ABANDONED_OUTCOMES
    if result == "other":
        return None
    raise ValueError(f"unknown result {result!r} (one of {', '.join(RESULTS)})")


def like_pattern(text: str) -> str:
    """``text`` as a LIKE pattern that finds it anywhere (its wildcards taken literally,
    escape character ``\\``)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


# --- SQL ----------------------------------------------------------------------------------


def _queue() -> Any:
    return CallRecord.queues[0].as_string()


def _members(actor: Actor, scope: str) -> ColumnElement[bool]:
    """The users whose calls a scope covers (the actor alone when it has no team/region)."""
    if scope == "team" and actor.team is not None:
        return User.team == actor.team
    if scope == "region" and actor.region is not None:
        return User.region == actor.region
    if scope in ("own", "team", "region"):
        return User.id == actor.user_id if actor.user_id is not None else false()
    return false()  # network scopes: no agent of theirs, only their customers


def scope_condition(actor: Actor, scope: str) -> ColumnElement[bool]:
    """The calls a ``reports`` scope shows (module rules)."""
    if scope == "all":
        return true()
    members = _members(actor, scope)
    phones = select(User.agent_interface).where(members, User.agent_interface.is_not(None))
    names = select(User.username).where(members)
    customers = select(Customer.id).where(customer_filter(actor, scope))
    return or_(CallRecord.agent_interface.in_(phones.scalar_subquery()),
               CallRecord.ivr[ORIGINATED_BY].as_string().in_(names.scalar_subquery()),
               CallRecord.customer_id.in_(customers.scalar_subquery()))


def filter_conditions(f: CallFilter, dids: list[str] | None) -> list[ColumnElement[bool]]:
    """The SQL conditions of a filter (``dids``: the stored numbers that are ``f.did``)."""
    conds: list[ColumnElement[bool]] = [CallRecord.ended_at >= f.start,
                                        CallRecord.ended_at < f.end]
    if f.direction:
        conds.append(CallRecord.direction == f.direction)
    if f.queue:
        conds.append(_queue() == f.queue)
    if dids is not None:
        conds.append(CallRecord.did.in_(dids) if dids else false())
    if f.agent:
        conds.append(or_(CallRecord.agent_interface == f.agent, CallRecord.agent == f.agent))
    if f.customer_id is not None:
        conds.append(CallRecord.customer_id == f.customer_id)
    if f.caller:
        conds.append(CallRecord.caller.like(like_pattern(f.caller), escape="\\"))
    if f.outcome:
        conds.append(CallRecord.outcome == f.outcome)
    if f.result:
        wanted = outcomes_of(f.result)
        conds.append(CallRecord.outcome.in_(sorted(wanted)) if wanted is not None else
                     CallRecord.outcome.not_in(sorted(kpi.ANSWERED_OUTCOMES
                                                      | kpi.ABANDONED_OUTCOMES)))
    if f.disposition:
        conds.append(select(Interaction.id).where(
            Interaction.call_linkedid == CallRecord.linkedid,
            Interaction.disposition == f.disposition).exists())
    wait, talk = func.coalesce(CallRecord.wait_s, 0), func.coalesce(CallRecord.talk_s, 0)
    for value, column, low in ((f.min_wait, wait, True), (f.max_wait, wait, False),
                               (f.min_talk, talk, True), (f.max_talk, talk, False)):
        if value is not None:
            conds.append(column >= value if low else column <= value)
    return conds


async def _dids(db: AsyncSession, f: CallFilter,
                canonical: Callable[[str | None], str | None]) -> list[str] | None:
    """The stored numbers dialled in the period that are ``f.did`` in canonical form."""
    if not f.did:
        return None
    wanted = canonical(f.did) or f.did
    stored = await db.scalars(select(CallRecord.did).distinct().where(
        CallRecord.ended_at >= f.start, CallRecord.ended_at < f.end,
        CallRecord.did.is_not(None)))
    return sorted(d for d in stored
                  if d is not None and (d == f.did or (canonical(d) or d) == wanted))


def _rows_stmt() -> Select[Any]:
    disposition = (select(Interaction.disposition)
                   .where(Interaction.call_linkedid == CallRecord.linkedid,
                          Interaction.disposition.is_not(None))
                   .order_by(Interaction.id.desc()).limit(1).scalar_subquery())
    agent_name = (select(func.coalesce(User.display_name, User.username))
                  .where(User.agent_interface == CallRecord.agent_interface)
                  .order_by(User.id).limit(1).scalar_subquery())
    return (select(CallRecord.id, CallRecord.linkedid, CallRecord.ended_at,
                   CallRecord.started_at, CallRecord.direction, CallRecord.caller,
                   CallRecord.caller_name, CallRecord.did, _queue().label("queue"),
                   CallRecord.agent_interface, agent_name.label("agent_name"),
                   CallRecord.outcome, CallRecord.wait_s, CallRecord.talk_s,
                   CallRecord.customer_id, Customer.name.label("customer_name"),
                   disposition.label("disposition"))
            .select_from(CallRecord)
            .outerjoin(Customer, Customer.id == CallRecord.customer_id))


def _row(r: Any) -> dict[str, Any]:
    out = dict(r._mapping)
    for k in ("ended_at", "started_at"):
        out[k] = as_utc(out[k]) if out[k] is not None else None
    return out


def _keyset(order: str, after: Cursor | None) -> tuple[list[Any], list[ColumnElement[bool]]]:
    if order not in ORDERS:
        raise ValueError(f"unknown order {order!r}")
    desc = order == "desc"
    by = [CallRecord.ended_at.desc(), CallRecord.id.desc()] if desc else [
        CallRecord.ended_at.asc(), CallRecord.id.asc()]
    if after is None:
        return by, []
    at, same = after.ended_at, CallRecord.ended_at == after.ended_at
    if desc:
        return by, [or_(CallRecord.ended_at < at, same & (CallRecord.id < after.id))]
    return by, [or_(CallRecord.ended_at > at, same & (CallRecord.id > after.id))]


async def _conditions(db: AsyncSession, actor: Actor, f: CallFilter, export: bool,
                      canonical: Callable[[str | None], str | None]
                      ) -> list[ColumnElement[bool]]:
    scope = require(actor, "reports", report_operation(export))
    return [scope_condition(actor, scope), *filter_conditions(f, await _dids(db, f, canonical))]


async def call_page(db: AsyncSession, actor: Actor, f: CallFilter, *, limit: int = 50,
                    order: str = "desc", after: Cursor | None = None,
                    canonical: Callable[[str | None], str | None] = lambda d: d
                    ) -> dict[str, Any]:
    """One page of the filter's calls: ``items``, ``total`` (the whole filter's) and
    ``next`` (a cursor token, None on the last page)."""
    conds = await _conditions(db, actor, f, False, canonical)
    total = int(await db.scalar(select(func.count()).select_from(CallRecord).where(*conds))
                or 0)
    by, more = _keyset(order, after)
    limit = max(1, min(limit, PAGE_MAX))
    rows = [_row(r) for r in await db.execute(
        _rows_stmt().where(*conds, *more).order_by(*by).limit(limit + 1))]
    last = rows[limit - 1] if len(rows) > limit else None
    token = Cursor(ended_at=last["ended_at"], id=last["id"]).token() if last else None
    return {"items": rows[:limit], "total": total, "next": token}


async def count_for_export(db: AsyncSession, actor: Actor, f: CallFilter,
                           canonical: Callable[[str | None], str | None] = lambda d: d
                           ) -> int:
    """How many rows the file of this filter would hold (gate: ``reports``/``export``)."""
    conds = await _conditions(db, actor, f, True, canonical)
    return int(await db.scalar(select(func.count()).select_from(CallRecord).where(*conds))
               or 0)


async def export_calls(db: AsyncSession, actor: Actor, f: CallFilter, *, order: str = "desc",
                       canonical: Callable[[str | None], str | None] = lambda d: d
                       ) -> AsyncIterator[dict[str, Any]]:
    """Every call of the filter as a file's rows, read a keyset chunk at a time (gate:
    ``reports``/``export``, checked before the first row)."""
    conds = await _conditions(db, actor, f, True, canonical)
    after: Cursor | None = None
    while True:
        by, more = _keyset(order, after)
        rows = [_row(r) for r in await db.execute(
            _rows_stmt().where(*conds, *more).order_by(*by).limit(_CHUNK))]
        for row in rows:
            yield row
        if len(rows) < _CHUNK:
            return
        after = Cursor(ended_at=rows[-1]["ended_at"], id=rows[-1]["id"])
