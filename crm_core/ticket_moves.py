"""What a station (or its technician) does with a ticket: accept, refuse, set off, arrive,
wait for the customer and resume, assign a technician, resolve with the repair record;
and what the service desk adds: close, reopen, cancel (issue 15).

Rules:
- each action is a row of ``ACTIONS`` (action -> the status it moves to), done through
  ``tickets.move`` (the one transition: checked, stamped, in the history, audited);
  ``resume`` goes back to the status the ticket had before ``waiting`` (its history);
- every action needs ``tickets:update`` in scope: a station user acts on its station's
  tickets, a technician on his own (``permissions.ticket_filter``); a ticket outside
  the scope is ``NotFound``;
- ``refuse`` needs a reason: the ticket goes back to ``routed`` without its station and
  technician (history kind ``refusal``, ``data.station_id`` the station that refused,
  so dispatch leaves it out next time); routing it again is ``crm_core.dispatch``'s;
- ``assign`` names one of the ticket's station's active technicians (history kind
  ``assign``); a ticket with no station takes none;
- ``resolve`` writes the repair record (``crm_core.repair_records``; required for a
  repair ticket) and moves the ticket to ``resolved`` in the same transaction;
  ``correct_record`` rewrites it while the ticket is resolved, not closed;
- nothing here commits.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core import dispatch
from crm_core.errors import Conflict, MoveNotAllowed, ValidationFailed
from crm_core.models import ServiceStation, Technician, Ticket, TicketStatusChange
from crm_core.permissions import Actor
from crm_core.records import current, load_record, optional_id, required_text, text, touch
from crm_core.repair_records import write_record
from crm_core.tickets import (
    DONE_STATUSES,
    REOPEN_DAYS,
    REOPENABLE,
    can_move,
    is_repair,
    move,
    next_moves,
    ticket_view,
)

ACTIONS: dict[str, str] = {
    "accept": "accepted",
    "on_the_way": "on_the_way",
    "on_site": "on_site",
    "wait": "waiting",
    "resume": "",  # the status before waiting (see the rules)
    "close": "closed",
    "reopen": "accepted",
    "cancel": "cancelled",
}
WAITING_FROM = ("accepted", "on_the_way", "on_site")


async def _load(session: AsyncSession, actor: Actor, ticket_id: object) -> tuple[Ticket, Any]:
    return await load_record(session, actor, Ticket, ticket_id, "tickets", "update",
                             own_column=Ticket.created_by_id)


async def _status_before_waiting(session: AsyncSession, ticket_id: int) -> str:
    came_from = await session.scalar(
        select(TicketStatusChange.from_status).where(
            TicketStatusChange.ticket_id == ticket_id, TicketStatusChange.kind == "status",
            TicketStatusChange.to_status == "waiting")
        .order_by(TicketStatusChange.id.desc()).limit(1))
    return came_from if came_from in WAITING_FROM else "accepted"


async def act(
    session: AsyncSession,
    actor: Actor,
    ticket_id: int,
    action: str,
    *,
    note: str | None = None,
    now: datetime | None = None,
    reopen_days: int = REOPEN_DAYS,
) -> dict[str, Any]:
    """Do ``action`` (a key of ``ACTIONS``) on a ticket, with an optional ``note``."""
    if action not in ACTIONS:
        raise ValidationFailed("action", f"one of {', '.join(ACTIONS)}")
    at = current(now)
    clean_note = text(note, "note", max_len=4000)
    ticket, customer = await _load(session, actor, ticket_id)
    target = ACTIONS[action]
    if action == "resume":
        if ticket.status != "waiting":
            raise MoveNotAllowed(ticket.number, ticket.status, "resume",
                                 next_moves(ticket.status), why="it is not waiting")
        target = await _status_before_waiting(session, ticket.id)
    elif action == "reopen" and ticket.status not in REOPENABLE:
        raise MoveNotAllowed(ticket.number, ticket.status, target, next_moves(ticket.status),
                             why="only a resolved or closed ticket is reopened")
    await move(session, actor, ticket, target, at=at, note=clean_note,
               reopen_days=reopen_days)
    touch(customer, actor, at)
    return await ticket_view(session, ticket)


async def record_refusal(
    session: AsyncSession, actor: Actor, ticket: Ticket, reason: str, *, at: datetime
) -> TicketStatusChange:
    """The refusal of a loaded ticket by its station: back to ``routed`` with neither
    station nor technician, the history row of kind ``refusal`` naming the station. For
    ``crm_core.dispatch``, which routes it again in the same transaction."""
    if ticket.status not in ("routed", "accepted") or not can_move(ticket.status, "routed"):
        raise MoveNotAllowed(ticket.number, ticket.status, "routed", next_moves(ticket.status),
                             why="only a routed or accepted ticket can be refused")
    refused_by = ticket.station_id
    code = (await session.scalar(select(ServiceStation.code).where(
        ServiceStation.id == refused_by)) if refused_by is not None else None)
    ticket.station_id = ticket.technician_id = None
    return await move(session, actor, ticket, "routed", at=at, note=reason, kind="refusal",
                      data={"station_id": refused_by, "code": code, "reason": reason})


async def refuse(
    session: AsyncSession,
    actor: Actor,
    ticket_id: int,
    reason: str,
    *,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The station refuses the ticket, saying why (see the rules)."""
    at = current(now)
    clean = required_text(reason, "reason", max_len=1000)
    ticket, customer = await _load(session, actor, ticket_id)
    await record_refusal(session, actor, ticket, clean, at=at)
    await dispatch.reroute(session, actor, ticket, customer, at)  # to a station not refused
    touch(customer, actor, at)
    return await ticket_view(session, ticket)


async def assign(
    session: AsyncSession,
    actor: Actor,
    ticket_id: int,
    technician_id: object,
    *,
    note: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Give the ticket to one of its station's technicians (None: to nobody)."""
    at = current(now)
    wanted = optional_id(technician_id, "technician_id")
    clean_note = text(note, "note", max_len=4000)
    ticket, customer = await _load(session, actor, ticket_id)
    if ticket.status in DONE_STATUSES:
        raise Conflict(f"ticket {ticket.number} is {ticket.status}: no technician to assign")
    name = None
    if wanted is not None:
        tech = await session.get(Technician, wanted)
        if tech is None or not tech.active or tech.station_id != ticket.station_id:
            raise ValidationFailed("technician_id", "not an active technician of the "
                                                    "ticket's station")
        name = tech.name
    before = ticket.technician_id
    ticket.technician_id = wanted
    ticket.updated_at = at
    dispatch.record_assignment(session, actor, ticket, at, technician_id=wanted, name=name,
                               note=clean_note, previous=before)
    touch(customer, actor, at)
    await session.flush()
    return await ticket_view(session, ticket)


async def resolve(
    session: AsyncSession,
    actor: Actor,
    ticket_id: int,
    record: object,
    *,
    note: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Write the repair record and resolve the ticket (a repair ticket needs the record;
    another may come without: ``record`` None)."""
    at = current(now)
    clean_note = text(note, "note", max_len=4000)
    ticket, customer = await _load(session, actor, ticket_id)
    if not can_move(ticket.status, "resolved"):
        raise MoveNotAllowed(ticket.number, ticket.status, "resolved", next_moves(ticket.status))
    if record is not None or is_repair(ticket.category):
        await write_record(session, actor, ticket, record, at=at)
    await move(session, actor, ticket, "resolved", at=at, note=clean_note)
    touch(customer, actor, at)
    return await ticket_view(session, ticket)


async def correct_record(
    session: AsyncSession,
    actor: Actor,
    ticket_id: int,
    record: object,
    *,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Rewrite the repair record of a resolved ticket (closed: ``Conflict``)."""
    at = current(now)
    ticket, customer = await _load(session, actor, ticket_id)
    if ticket.status != "resolved":
        raise Conflict(f"ticket {ticket.number} is {ticket.status}: a repair record is "
                       "corrected while the ticket is resolved, before it is closed")
    await write_record(session, actor, ticket, record, at=at)
    ticket.updated_at = at
    touch(customer, actor, at)
    return await ticket_view(session, ticket)
