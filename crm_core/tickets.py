"""Service tickets: readable unique numbers and a validated status history.

Rules:
- module ``tickets``; the scope is the customer's, and "own" update scope also
  covers the tickets the actor created (``created_by_id``);
- numbers read ``T<Shanghai day>-<sequence>``, e.g. ``T20261125-0001``: a per-day
  sequence, 4 digits (more when a day passes 9999). The sequence comes from ONE
  upsert of the day's ``ticket_counter`` row (``INSERT ... ON CONFLICT (day) DO
  UPDATE SET last = last + 1 RETURNING last``, PostgreSQL and SQLite >= 3.35) inside
  the ticket's transaction: the row lock (PostgreSQL) or the write lock (SQLite)
  makes concurrent tickets take turns until commit, a rolled-back ticket gives its
  number back, and the unique ``ticket.number`` stays the last guard;
- status moves only along ``TICKET_TRANSITIONS`` (a data table; ``can_move`` is
  pure; issue 15): new -> routed (by ``crm_core.dispatch``, with a station) ->
  accepted -> on_the_way -> on_site -> resolved -> closed; a station refuses a routed or
  accepted ticket with a reason (routed -> routed, a history row of kind ``refusal``;
  ``crm_core.ticket_moves.refuse``) and dispatch routes it again; waiting (for the
  customer) from accepted / on_the_way / on_site and back to any of them; cancelled
  from any open state; resolved or closed -> accepted is a reopen, within
  ``REOPEN_DAYS`` of the resolution (``can_reopen``, pure), counted in ``reopen_count``.
  The statuses before issue 15 (assigned, in_progress) became routed and accepted in
  migration 0017;
- every move (creation included) goes through ``move``: it appends a
  ``TicketStatusChange`` (kind ``status``), sets the move's time stamp
  (``accepted_at``, ``arrived_at``, ``resolved_at``, ``closed_at``; a reopen clears the
  last two) and is audited (action ``status``). A repair ticket resolves only with its
  repair record (``crm_core.repair_records``); a ``MoveNotAllowed`` (409) says where
  the ticket may go instead;
- a closed (or cancelled) ticket is done: its fields and its repair record can no
  longer change (``Conflict``); what comes after is a note (``add_note``), a reopen;
- open = not in ``resolved``/``closed``/``cancelled``;
- ONE open repair per asset (issue 14 item 3: the IVR opened three identical tickets for
  one asset in ten minutes): a repair ticket is one of category ``repair``, or of no
  category (tickets written before categories, the demo's, were all service calls:
  ``is_repair``). A new repair of an asset that has an open one is refused
  (``DuplicateTicket``, with its number) unless ``force`` (a second fault on the same
  machine happens; the audit entry then names the ticket it duplicates); the IVR
  instead adds the caller's repeat request to the open ticket (``add_note``). The
  check comes after a write that changes nothing on the asset's row (``lock_asset``):
  on PostgreSQL that is the row's lock, on SQLite the write lock (a read before a
  transaction's first write runs in autocommit there, ``crm_core.db``, and would not
  see a ticket committed meanwhile), so two requests racing cannot both miss the other;
- ``add_note``: an event on a ticket without a move, kept in its history as a row of kind
  ``note`` whose ``from_status`` equals its ``to_status`` (the status it had), with the
  note: the addendum of a closed ticket;
- every new ticket is routed to a service station in its own transaction
  (``crm_core.dispatch``: the rules' ``decide_new``, or ``override_decision`` when the
  creator chose the station with a reason; ``set_route`` before its INSERT, then
  ``record_route`` once it has its id): the one place tickets are born, so the console,
  the IVR and the API all route. A ticket given a station moves ``new`` -> ``routed`` and
  its SLA clock starts (``crm_core.sla``); one no station covers stays ``new``, flagged;
- a complaint (category ``complaint``) opens only with its caller verified
  (``crm_core.caller_checks``, issue 17 item 5): the check (method, passed, who, when;
  never the answer) is kept on the ticket (``caller_check``) and as a history row of
  kind ``verification``; a failed or missing check is refused (``CallerNotVerified``,
  422); ``not_verified`` with a reason opens it flagged (``caller_flagged``). A check
  stated on another ticket is kept the same way, without refusing it;
- every write is audited and touches the customer when its owner does it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core import caller_checks, dispatch, sla
from crm_core.audit import audit, snapshot
from crm_core.caller_check import is_complaint
from crm_core.errors import Conflict, DuplicateTicket, MoveNotAllowed, NotFound, ValidationFailed
from crm_core.models import (
    Asset,
    Contact,
    ServiceStation,
    Ticket,
    TicketCounter,
    TicketStatusChange,
    as_utc,
)
from crm_core.permissions import Actor
from crm_core.records import (
    DEFAULT_PAGE,
    business_day,
    check_fields,
    choice,
    current,
    list_records,
    load_customer,
    load_record,
    optional_id,
    required_text,
    save_changes,
    text,
    to_dict,
    touch,
)
from crm_core.repair_records import mark_not_first_time, record_of

TICKET_TRANSITIONS: dict[str, tuple[str, ...]] = {
    "new":        ("routed", "cancelled"),
    # routed -> routed: refused by the station (or re-routed) and routed again
    "routed":     ("routed", "accepted", "cancelled"),
    # accepted -> resolved: fixed on the phone; -> routed: refused after all
    "accepted":   ("on_the_way", "on_site", "waiting", "resolved", "routed", "cancelled"),
    "on_the_way": ("on_site", "waiting", "cancelled"),
    "on_site":    ("waiting", "resolved", "cancelled"),
    "waiting":    ("accepted", "on_the_way", "on_site", "resolved", "cancelled"),
    "resolved":   ("closed", "accepted"),  # -> accepted: reopened
    "closed":     ("accepted",),           # reopened, within REOPEN_DAYS
    "cancelled":  (),
}  # fmt: skip
TICKET_STATUSES = tuple(TICKET_TRANSITIONS)
DONE_STATUSES = ("resolved", "closed", "cancelled")
OPEN_STATUSES = tuple(s for s in TICKET_STATUSES if s not in DONE_STATUSES)
FROZEN_STATUSES = ("closed", "cancelled")  # no field of the ticket changes any more
REOPENABLE = ("resolved", "closed")
# the time stamp a move into the status sets (the first time, for accepted_at/arrived_at)
STAMPS = {"accepted": "accepted_at", "on_site": "arrived_at", "resolved": "resolved_at",
          "closed": "closed_at"}
# the moves that meet an SLA target (crm_core.sla.mark)
SLA_EVENTS = {"accepted": "accepted", "on_site": "arrived", "resolved": "resolved"}
REOPEN_DAYS = 7  # the default of the setting ``ticket_reopen_days``
# what a history row (``TicketStatusChange.kind``) records: a move; a note; dispatch's
# routing, a person's override, a station's refusal or its silence (``timeout``: not
# accepted in time, crm_core.unanswered); a technician assigned; the repair record
# written; the SLA's warning, escalation and notification; the complaint caller's
# verification (issue 17 item 5)
HISTORY_KINDS = ("status", "note", "route", "override", "refusal", "timeout", "assign",
                 "repair", "sla-warning", "escalation", "notify", "verification")
PRIORITIES = ("low", "normal", "high", "urgent")
TICKET_UPDATE_FIELDS = ("problem", "priority", "asset_id", "contact_id", "status", "note")
REPAIR = "repair"


# --- pure --------------------------------------------------------------------------------


def can_move(from_status: str, to_status: str) -> bool:
    """Whether a ticket may go from ``from_status`` to ``to_status``."""
    return to_status in TICKET_TRANSITIONS.get(from_status, ())


def is_reopen(from_status: str, to_status: str) -> bool:
    """Whether the move reopens a finished ticket."""
    return from_status in REOPENABLE and to_status == "accepted"


def can_reopen(resolved_at: datetime | None, now: datetime, days: int = REOPEN_DAYS) -> bool:
    """Whether a ticket resolved at ``resolved_at`` may still be reopened at ``now``
    (within ``days``; a ticket with no resolution time, from before issue 15, may)."""
    return resolved_at is None or as_utc(now) - as_utc(resolved_at) <= timedelta(days=days)


def next_moves(status: str) -> tuple[str, ...]:
    """Where a ticket in ``status`` may go (the station page's buttons), the refusal and
    re-routing (routed -> routed) left out: they have their own actions."""
    return tuple(t for t in TICKET_TRANSITIONS.get(status, ()) if t != "routed")


def is_repair(category: str | None) -> bool:
    """Whether a ticket of ``category`` is a repair (see the rules: no category is)."""
    return category is None or category.strip().lower() == REPAIR


def number_prefix(day: date) -> str:
    """``T20261125-`` for 2026-11-25."""
    return f"T{day:%Y%m%d}-"


# --- numbering ---------------------------------------------------------------------------


def format_number(day: date, seq: int) -> str:
    """``T20261125-0007`` for the 7th ticket of 2026-11-25."""
    return f"{number_prefix(day)}{seq:04d}"


async def allocate_number(session: AsyncSession, day: date) -> str:
    """The next ticket number of ``day``, counted in ``ticket_counter`` within this
    transaction: whatever writes a ticket takes its number here (see the rules)."""
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    counter = TicketCounter.__table__.c
    stmt = (
        insert(TicketCounter).values(day=day, last=1)
        .on_conflict_do_update(index_elements=[counter.day], set_={"last": counter.last + 1})
        .returning(counter.last)
    )
    return format_number(day, int((await session.execute(stmt)).scalar_one()))


# --- services ----------------------------------------------------------------------------


async def _check_links(
    session: AsyncSession, customer_id: int, asset_id: object, contact_id: object
) -> None:
    for field, model, value in (("asset_id", Asset, asset_id), ("contact_id", Contact, contact_id)):
        if optional_id(value, field) is None:
            continue
        found = await session.scalar(
            select(model.id).where(model.id == value, model.customer_id == customer_id)
        )
        if found is None:
            raise ValidationFailed(field, "not a record of this customer")


async def lock_asset(session: AsyncSession, asset_id: int) -> None:
    """Hold ``asset_id``'s row until the transaction ends (see the rules): an UPDATE
    setting a plain column to itself, the one statement that locks on both databases."""
    await session.execute(
        update(Asset).where(Asset.id == asset_id).values(model=Asset.model)
        .execution_options(synchronize_session=False))


async def open_repair(
    session: AsyncSession, customer_id: int, asset_id: int
) -> Ticket | None:
    """The customer's open repair ticket of ``asset_id`` (the oldest, when a forced
    duplicate made two), the asset locked first (``lock_asset``)."""
    await lock_asset(session, asset_id)
    return await session.scalar(
        select(Ticket).where(
            Ticket.customer_id == customer_id, Ticket.asset_id == asset_id,
            Ticket.status.in_(OPEN_STATUSES),
            or_(Ticket.category.is_(None), func.lower(func.trim(Ticket.category)) == REPAIR))
        .order_by(Ticket.id).limit(1))


async def _history(session: AsyncSession, ticket_id: int) -> list[dict[str, Any]]:
    rows = await session.scalars(
        select(TicketStatusChange).where(TicketStatusChange.ticket_id == ticket_id)
        .order_by(TicketStatusChange.id)
    )
    return [to_dict(r) for r in rows]


async def ticket_view(session: AsyncSession, ticket: Ticket) -> dict[str, Any]:
    """A loaded ticket as the services answer it: its columns, ``open``, its history,
    its repair record and the moves open to it."""
    record = await record_of(session, ticket.id)
    return to_dict(ticket, open=ticket.status in OPEN_STATUSES,
                   history=await _history(session, ticket.id),
                   repair_record=None if record is None else to_dict(record),
                   next_moves=list(next_moves(ticket.status)))


async def create_ticket(
    session: AsyncSession,
    actor: Actor,
    customer_id: int,
    *,
    problem: str,
    priority: str = "normal",
    asset_id: int | None = None,
    contact_id: int | None = None,
    category: str | None = None,
    call_linkedid: str | None = None,
    force: bool = False,
    station_id: int | None = None,
    override_reason: str | None = None,
    caller: caller_checks.CallerClaim | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """A new ticket (status ``new``) with the day's next number; ``call_linkedid`` names
    the call it was raised from. A repair of an asset with an open repair ticket is a
    ``DuplicateTicket`` unless ``force`` (see the rules). It is routed to a service
    station at once (``crm_core.dispatch``): by the rules, or to ``station_id`` when a
    person chose it (``override_reason`` then required). ``caller``: how the caller was
    verified, required for a complaint (see the rules)."""
    at = current(now)
    clean_problem = required_text(problem, "problem", max_len=20_000)
    clean_priority = choice(priority, "priority", PRIORITIES)
    clean_category = text(category, "category", max_len=40)
    clean_call = text(call_linkedid, "call_linkedid", max_len=100)
    if station_id is not None:  # a person's choice needs their reason
        required_text(override_reason, "override_reason", max_len=1000)
    customer = await load_customer(session, actor, customer_id, "tickets", "create")
    await _check_links(session, customer.id, asset_id, contact_id)
    checked = None if caller is None else await caller_checks.check(
        session, customer.id, caller, clean_call)
    if is_complaint(clean_category):
        caller_checks.admit(checked)
    kept = None if checked is None else checked.record(by_id=actor.user_id, at=at)
    duplicate = None
    if asset_id is not None and is_repair(clean_category):
        duplicate = await open_repair(session, customer.id, asset_id)
        if duplicate is not None and not force:
            raise DuplicateTicket(duplicate.id, duplicate.number, duplicate.status)
    ticket = Ticket(
        number=await allocate_number(session, business_day(at)), customer_id=customer.id,
        asset_id=asset_id, contact_id=contact_id, problem=clean_problem, status="new",
        priority=clean_priority, category=clean_category, call_linkedid=clean_call,
        created_by_id=actor.user_id, created_at=at, updated_at=at,
        caller_check=kept, caller_flagged=checked is not None and checked.flagged,
    )
    # routed before its INSERT: the decision goes in with the row, no UPDATE after
    why = None if station_id is None else text(override_reason, "override_reason",
                                                 max_len=1000)
    if why is not None:
        decision = await dispatch.person_decision(
            session, ticket, customer, await dispatch.station_row(session, station_id), why)
    else:
        decision = await dispatch.decide_new(session, ticket, customer)
    dispatch.set_route(ticket, decision, at, why)
    session.add(ticket)
    await session.flush()  # the ticket's id, for its history and audit entry
    change = TicketStatusChange(ticket_id=ticket.id, from_status=None, to_status="new",
                                at=at, by_id=actor.user_id, note=None)
    session.add(change)
    steps = [change]
    if kept is not None:
        steps.append(TicketStatusChange(
            ticket_id=ticket.id, from_status="new", to_status="new", at=at,
            by_id=actor.user_id, kind="verification", data=kept,
            note=None if checked is None else checked.reason))
        session.add(steps[-1])
    touch(customer, actor, at)
    after = to_dict(ticket)
    if duplicate is not None:  # forced: say which open repair it duplicates
        after["duplicate_of"] = {"id": duplicate.id, "number": duplicate.number}
    audit(session, user_id=actor.user_id, action="create", entity="ticket",
          entity_id=ticket.id, after=after)
    routed = await dispatch.record_decision(session, actor, ticket, decision,
                                            "route" if why is None else "override", at,
                                            override=why)
    await session.flush()
    # the history is the changes just written: no need to read it back
    return to_dict(ticket, open=True, history=[*map(to_dict, steps), *map(to_dict, routed)],
                   repair_record=None, next_moves=list(next_moves(ticket.status)))


async def add_note(
    session: AsyncSession,
    actor: Actor,
    ticket_id: int,
    note: str,
    *,
    now: datetime | None = None,
) -> dict[str, Any]:
    """An event on an open or closed ticket that does not move it (a repeat request from
    the caller...): a history row keeping its status, with ``note``; audited."""
    at = current(now)
    clean = required_text(note, "note", max_len=4000)
    ticket, customer = await load_record(session, actor, Ticket, ticket_id, "tickets",
                                         "update", own_column=Ticket.created_by_id)
    change = TicketStatusChange(ticket_id=ticket.id, from_status=ticket.status,
                                to_status=ticket.status, at=at, by_id=actor.user_id,
                                note=clean, kind="note")
    session.add(change)
    ticket.updated_at = at
    touch(customer, actor, at)
    await session.flush()
    audit(session, user_id=actor.user_id, action="note", entity="ticket",
          entity_id=ticket.id, after={"note": clean, "status": ticket.status,
                                      "history_id": change.id})
    return await ticket_view(session, ticket)


async def get_ticket(session: AsyncSession, actor: Actor, ticket_id: int) -> dict[str, Any]:
    """One ticket in the read scope, with ``open`` and its status ``history``."""
    ticket, _ = await load_record(session, actor, Ticket, ticket_id, "tickets", "read",
                                  own_column=Ticket.created_by_id)
    return await ticket_view(session, ticket)


async def get_ticket_by_number(
    session: AsyncSession, actor: Actor, number: str
) -> dict[str, Any]:
    """The ticket with this number (case-insensitive), if in the read scope."""
    clean = text(number, "number", max_len=40)
    ticket_id = None
    if clean is not None:
        ticket_id = await session.scalar(select(Ticket.id).where(Ticket.number == clean.upper()))
    if ticket_id is None:
        raise NotFound("ticket", number)
    return await get_ticket(session, actor, ticket_id)


async def list_tickets(
    session: AsyncSession,
    actor: Actor,
    *,
    customer_id: int | None = None,
    status: str | None = None,
    open_only: bool = False,
    limit: int = DEFAULT_PAGE,
    offset: int = 0,
) -> dict[str, Any]:
    """Tickets in the read scope, newest first, optionally of one customer / status."""
    if customer_id is not None:
        await load_customer(session, actor, customer_id, "tickets", "read")
    conditions = []
    if status is not None:
        conditions.append(Ticket.status == choice(status, "status", TICKET_STATUSES))
    if open_only:
        conditions.append(Ticket.status.in_(OPEN_STATUSES))
    return await list_records(
        session, actor, Ticket, "tickets", customer_id=customer_id,
        conditions=tuple(conditions), order_by=(Ticket.created_at.desc(),),
        limit=limit, offset=offset,
    )


async def update_ticket(
    session: AsyncSession,
    actor: Actor,
    ticket_id: int,
    changes_: Mapping[str, Any],
    *,
    now: datetime | None = None,
    reopen_days: int = REOPEN_DAYS,
) -> dict[str, Any]:
    """Partial update; ``status`` moves along ``TICKET_TRANSITIONS`` (``move``) with an
    optional ``note`` for the history. A closed or cancelled ticket's fields are frozen
    (``Conflict``)."""
    at = current(now)
    check_fields(changes_, TICKET_UPDATE_FIELDS)
    ticket, customer = await load_record(session, actor, Ticket, ticket_id, "tickets", "update",
                                         own_column=Ticket.created_by_id)
    fields = [k for k in changes_ if k not in ("status", "note")]
    if fields:
        check_editable(ticket)
        before = snapshot(ticket)
        if "problem" in changes_:
            ticket.problem = required_text(changes_["problem"], "problem", max_len=20_000)
        if "priority" in changes_:
            ticket.priority = choice(changes_["priority"], "priority", PRIORITIES)
        await _check_links(session, customer.id, changes_.get("asset_id"),
                           changes_.get("contact_id"))
        for key in ("asset_id", "contact_id"):
            if key in changes_:
                setattr(ticket, key, changes_[key])
        ticket.updated_at = at
        await save_changes(session, actor, ticket, customer, before, entity="ticket", at=at)
    note = text(changes_.get("note"), "note", max_len=4000)
    if "status" in changes_:
        target = choice(changes_["status"], "status", TICKET_STATUSES)
        if target == "routed":  # only dispatch routes (it names the station)
            raise MoveNotAllowed(ticket.number, ticket.status, target,
                                 next_moves(ticket.status),
                                 why="a ticket is routed by dispatch, which names the station")
        await move(session, actor, ticket, target, note=note, at=at, reopen_days=reopen_days)
        touch(customer, actor, at)
    return await ticket_view(session, ticket)


def check_editable(ticket: Ticket) -> None:
    """``Conflict`` when ``ticket`` is closed or cancelled: done, frozen (see the rules)."""
    if ticket.status in FROZEN_STATUSES:
        raise Conflict(f"ticket {ticket.number} is {ticket.status}: it can no longer be "
                       "changed; add a note instead")


async def move(
    session: AsyncSession,
    actor: Actor,
    ticket: Ticket,
    to_status: object,
    *,
    at: datetime,
    note: str | None = None,
    kind: str = "status",
    data: dict[str, Any] | None = None,
    reopen_days: int = REOPEN_DAYS,
) -> TicketStatusChange:
    """THE transition of a loaded ticket (every service moving one comes here, dispatch's
    routing included): checks the move (``MoveNotAllowed``), stamps its time, appends
    the history row (``kind``, ``data``) and the audit entry; the history row flushed."""
    change = await stage_move(session, actor, ticket, to_status, at=at, note=note, kind=kind,
                              data=data, reopen_days=reopen_days)
    await session.flush()
    audit(session, **move_audit(actor, ticket, change))
    return change


async def stage_move(
    session: AsyncSession,
    actor: Actor,
    ticket: Ticket,
    to_status: object,
    *,
    at: datetime,
    note: str | None = None,
    kind: str = "status",
    data: dict[str, Any] | None = None,
    reopen_days: int = REOPEN_DAYS,
) -> TicketStatusChange:
    """``move`` up to its history row, added but not flushed and not audited: routing
    (``crm_core.dispatch.record_decision``) writes its rows in one flush, then the audit
    entries (``move_audit``) in one statement."""
    target = choice(to_status, "status", TICKET_STATUSES)
    source = ticket.status
    if not can_move(source, target):
        raise MoveNotAllowed(ticket.number, source, target, next_moves(source))
    if is_reopen(source, target):
        if not can_reopen(ticket.resolved_at, at, reopen_days):
            raise MoveNotAllowed(ticket.number, source, target, next_moves(source),
                                 why=f"resolved more than {reopen_days} days ago: open a "
                                     "new ticket")
        ticket.reopen_count += 1
        ticket.resolved_at = ticket.closed_at = None
        await mark_not_first_time(session, actor, ticket)
    elif (target == "resolved" and is_repair(ticket.category)
          and await record_of(session, ticket.id) is None):
        raise MoveNotAllowed(ticket.number, source, target, next_moves(source),
                             why="a repair ticket is resolved with its repair record "
                                 "(POST /tickets/{id}/resolve)")
    stamp = STAMPS.get(target)
    if stamp is not None and getattr(ticket, stamp) is None and target in SLA_EVENTS:
        sla.mark(ticket, SLA_EVENTS[target], at)  # stamps it; the clock moves to its next target
    elif stamp is not None and (getattr(ticket, stamp) is None or target in REOPENABLE):
        setattr(ticket, stamp, at)
    if target == "waiting" and source != "waiting":
        await sla.pause(session, ticket, at)  # waiting for the customer: the clock stops
    elif source == "waiting" and target != "waiting":
        await sla.resume(session, ticket, at)  # its targets move by the time it stood
    change = TicketStatusChange(ticket_id=ticket.id, from_status=source, to_status=target,
                                at=at, by_id=actor.user_id, note=note, kind=kind, data=data)
    session.add(change)
    ticket.status = target
    ticket.updated_at = at
    if is_reopen(source, target) and ticket.station_id is not None:
        # the repair starts again, and so do its targets (from the reopening)
        await sla.start_clock(session, ticket,
                              await session.get(ServiceStation, ticket.station_id), at)
    return change


def move_audit(actor: Actor, ticket: Ticket, change: TicketStatusChange) -> dict[str, Any]:
    """The audit entry's fields of a move whose history row ``change`` is flushed."""
    data = change.data
    return {"user_id": actor.user_id, "action": "status", "entity": "ticket",
            "entity_id": ticket.id, "before": {"status": change.from_status},
            "after": {"status": change.to_status, "kind": change.kind, "note": change.note,
                      "history_id": change.id, **({"data": data} if data else {})}}


async def change_ticket_status(
    session: AsyncSession,
    actor: Actor,
    ticket_id: int,
    status: str,
    *,
    note: str | None = None,
    now: datetime | None = None,
    reopen_days: int = REOPEN_DAYS,
) -> dict[str, Any]:
    """Move a ticket to ``status`` (see ``TICKET_TRANSITIONS``)."""
    return await update_ticket(session, actor, ticket_id, {"status": status, "note": note},
                               now=now, reopen_days=reopen_days)
