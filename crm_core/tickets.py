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
  pure): new -> assigned -> in_progress <-> waiting -> resolved -> closed,
  resolved can be reopened (in_progress), cancelled from any open state; every
  move (creation included) appends a ``TicketStatusChange``;
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
- ``add_note``: an event on a ticket without a move, kept in its history as a row whose
  ``from_status`` equals its ``to_status`` (the status it had), with the note;
- every new ticket is routed to a service station in its own transaction, before its
  INSERT (``crm_core.dispatch``: the rules' ``decide_new``, or ``override_decision`` when
  the creator chose the station with a reason; then ``set_route`` and, once it has its
  id, ``record_route``): the one place tickets are born, so the console, the IVR and the
  API all route; the status is left as it is;
- every write is audited and touches the customer when its owner does it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core import dispatch
from crm_core.audit import audit, snapshot
from crm_core.errors import Conflict, DuplicateTicket, NotFound, ValidationFailed
from crm_core.models import Asset, Contact, Ticket, TicketCounter, TicketStatusChange
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

TICKET_TRANSITIONS: dict[str, tuple[str, ...]] = {
    "new":         ("assigned", "cancelled"),
    "assigned":    ("in_progress", "cancelled"),
    "in_progress": ("waiting", "resolved", "cancelled"),
    "waiting":     ("in_progress", "resolved", "cancelled"),
    "resolved":    ("closed", "in_progress"),
    "closed":      (),
    "cancelled":   (),
}  # fmt: skip
TICKET_STATUSES = tuple(TICKET_TRANSITIONS)
DONE_STATUSES = ("resolved", "closed", "cancelled")
OPEN_STATUSES = tuple(s for s in TICKET_STATUSES if s not in DONE_STATUSES)
PRIORITIES = ("low", "normal", "high", "urgent")
TICKET_UPDATE_FIELDS = ("problem", "priority", "asset_id", "contact_id", "status", "note")
REPAIR = "repair"


# --- pure --------------------------------------------------------------------------------


def can_move(from_status: str, to_status: str) -> bool:
    """Whether a ticket may go from ``from_status`` to ``to_status``."""
    return to_status in TICKET_TRANSITIONS.get(from_status, ())


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


async def _ticket_dict(session: AsyncSession, ticket: Ticket) -> dict[str, Any]:
    return to_dict(ticket, open=ticket.status in OPEN_STATUSES,
                   history=await _history(session, ticket.id))


async def ticket_view(session: AsyncSession, ticket: Ticket) -> dict[str, Any]:
    """A ticket as the services answer it: its columns, ``open`` and its ``history``."""
    return await _ticket_dict(session, ticket)


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
    now: datetime | None = None,
) -> dict[str, Any]:
    """A new ticket (status ``new``) with the day's next number; ``call_linkedid`` names
    the call it was raised from. A repair of an asset with an open repair ticket is a
    ``DuplicateTicket`` unless ``force`` (see the rules). It is routed to a service
    station at once (``crm_core.dispatch``): by the rules, or to ``station_id`` when a
    person chose it (``override_reason`` then required)."""
    at = current(now)
    clean_problem = required_text(problem, "problem", max_len=20_000)
    clean_priority = choice(priority, "priority", PRIORITIES)
    clean_category = text(category, "category", max_len=40)
    clean_call = text(call_linkedid, "call_linkedid", max_len=100)
    if station_id is not None:  # a person's choice needs their reason
        required_text(override_reason, "override_reason", max_len=1000)
    customer = await load_customer(session, actor, customer_id, "tickets", "create")
    await _check_links(session, customer.id, asset_id, contact_id)
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
    )
    # routed before its INSERT: the decision goes in with the row, no UPDATE after
    why = None if station_id is None else text(override_reason, "override_reason",
                                                 max_len=1000)
    if why is not None:
        decision = dispatch.override_decision(await dispatch.station_row(session, station_id),
                                              why)
    else:
        decision = await dispatch.decide_new(session, ticket, customer)
    dispatch.set_route(ticket, decision, at, why)
    session.add(ticket)
    await session.flush()  # the ticket's id, for its history and audit entry
    change = TicketStatusChange(ticket_id=ticket.id, from_status=None, to_status="new",
                                at=at, by_id=actor.user_id, note=None)
    session.add(change)
    touch(customer, actor, at)
    after = to_dict(ticket)
    if duplicate is not None:  # forced: say which open repair it duplicates
        after["duplicate_of"] = {"id": duplicate.id, "number": duplicate.number}
    audit(session, user_id=actor.user_id, action="create", entity="ticket",
          entity_id=ticket.id, after=after)
    routed = dispatch.record_route(session, actor, ticket, decision,
                                   "route" if why is None else "override", at, override=why)
    await session.flush()
    # the history is the two changes just written: no need to read it back
    return to_dict(ticket, open=True, history=[to_dict(change), to_dict(routed)])


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
                                note=clean)
    session.add(change)
    ticket.updated_at = at
    touch(customer, actor, at)
    await session.flush()
    audit(session, user_id=actor.user_id, action="note", entity="ticket",
          entity_id=ticket.id, after={"note": clean, "status": ticket.status,
                                      "history_id": change.id})
    return await _ticket_dict(session, ticket)


async def get_ticket(session: AsyncSession, actor: Actor, ticket_id: int) -> dict[str, Any]:
    """One ticket in the read scope, with ``open`` and its status ``history``."""
    ticket, _ = await load_record(session, actor, Ticket, ticket_id, "tickets", "read",
                                  own_column=Ticket.created_by_id)
    return await _ticket_dict(session, ticket)


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
) -> dict[str, Any]:
    """Partial update; ``status`` moves along ``TICKET_TRANSITIONS`` (``Conflict``
    otherwise) with an optional ``note`` for the history."""
    at = current(now)
    check_fields(changes_, TICKET_UPDATE_FIELDS)
    ticket, customer = await load_record(session, actor, Ticket, ticket_id, "tickets", "update",
                                         own_column=Ticket.created_by_id)
    before = snapshot(ticket)
    if "problem" in changes_:
        ticket.problem = required_text(changes_["problem"], "problem", max_len=20_000)
    if "priority" in changes_:
        ticket.priority = choice(changes_["priority"], "priority", PRIORITIES)
    await _check_links(session, customer.id, changes_.get("asset_id"), changes_.get("contact_id"))
    for key in ("asset_id", "contact_id"):
        if key in changes_:
            setattr(ticket, key, changes_[key])
    note = text(changes_.get("note"), "note", max_len=4000)
    if "status" in changes_:
        _move(session, actor, ticket, changes_["status"], note, at)
    ticket.updated_at = at
    await save_changes(session, actor, ticket, customer, before, entity="ticket", at=at)
    return await _ticket_dict(session, ticket)


def _move(
    session: AsyncSession, actor: Actor, ticket: Ticket, to_status: object,
    note: str | None, at: datetime,
) -> None:
    target = choice(to_status, "status", TICKET_STATUSES)
    if not can_move(ticket.status, target):
        raise Conflict(f"ticket {ticket.number}: {ticket.status} -> {target} is not allowed")
    session.add(TicketStatusChange(ticket_id=ticket.id, from_status=ticket.status,
                                   to_status=target, at=at, by_id=actor.user_id, note=note))
    ticket.status = target


async def change_ticket_status(
    session: AsyncSession,
    actor: Actor,
    ticket_id: int,
    status: str,
    *,
    note: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Move a ticket to ``status`` (see ``TICKET_TRANSITIONS``)."""
    return await update_ticket(session, actor, ticket_id, {"status": status, "note": note},
                               now=now)
