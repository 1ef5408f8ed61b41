"""A station that stops answering loses the ticket: routed again when it has not
accepted in time (issue 15: "a station that stops answering escalates").

The SLA sweep (``crm_core.sla.sweep``) fires the breach of a ticket's accept target
(the station manager is told, as for any breach) and hands the tickets still ``routed``
(``crm_core.sla_steps.station_unanswered``) to ``reroute_unanswered``, in the sweep's
transaction.

Rules:
- the ticket goes, as after a refusal, to the best station that has neither refused it
  nor let it time out (``dispatch.passed_stations``), with its technician; the move is a
  history row of kind ``timeout`` (routed -> routed; ``data``: the station, its code, the
  accept due, ``reason`` "服务站未按时接单" and ``reason_en`` "station did not answer in
  time") then the routing's ``route`` row, so the station is left out next time;
- the station that did not answer is told (``notifications.station_unanswered``); the
  SLA clock starts afresh at the new station (``sla.start_clock``, as a refusal's
  re-route), which is told as on any routing;
- no other station left (every one refused or timed out, no hub): the ticket stays where
  it is, flagged for a person (``route_flagged``), with a ``timeout`` row saying so
  (``data.kept``); its escalation goes on up the chain;
- a ticket accepted (or moved on) meanwhile is left alone.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from crm_core import dispatch, notifications, tickets
from crm_core.audit import audit
from crm_core.models import Customer, ServiceStation, Ticket, TicketStatusChange
from crm_core.permissions import SYSTEM, Actor

log = logging.getLogger("crm_core.unanswered")

REASON = "服务站未按时接单"
REASON_EN = "station did not answer in time"


async def reroute_unanswered(session: AsyncSession, ticket_ids: Iterable[int], now: datetime,
                             *, actor: Actor = SYSTEM) -> int:
    """Route again each ticket of ``ticket_ids`` its station has not accepted (see the
    rules); how many went to another station."""
    moved = 0
    for ticket_id in ticket_ids:
        # the sweep wrote the row with Core statements: read it afresh
        ticket = await session.get(Ticket, ticket_id, populate_existing=True)
        if (ticket is None or ticket.status != "routed" or ticket.accepted_at is not None
                or ticket.station_id is None):
            continue
        customer = await session.get(Customer, ticket.customer_id)
        if customer is None:
            continue
        moved += await _reroute(session, actor, ticket, customer, now)
    return moved


async def _reroute(session: AsyncSession, actor: Actor, ticket: Ticket, customer: Customer,
                   now: datetime) -> int:
    first = await session.get(ServiceStation, ticket.station_id)
    assert first is not None
    excluded = await dispatch.passed_stations(session, ticket.id) | {first.id}
    decision = await dispatch.decide_for(session, ticket, customer, exclude=excluded)
    data = {"station_id": first.id, "code": first.code, "reason": REASON,
            "reason_en": REASON_EN,
            "accept_due": ticket.accept_due.isoformat() if ticket.accept_due else None}
    if decision.chosen is None:  # nowhere else to go: kept here, for a person to see
        ticket.route_flagged = True
        ticket.updated_at = now
        kept = {**data, "kept": True}
        session.add(TicketStatusChange(
            ticket_id=ticket.id, from_status=ticket.status, to_status=ticket.status, at=now,
            by_id=actor.user_id, kind="timeout", data=kept,
            note=f"{REASON}；没有其他服务站可派：仍由{first.name}处理（已标记待核）"))
        audit(session, user_id=actor.user_id, action="timeout", entity="ticket",
              entity_id=ticket.id, after=kept)
        log.warning("ticket %s: %s did not accept in time and no other station is left",
                    ticket.number, first.code)
        return 0
    due = ticket.accept_due
    ticket.station_id = ticket.technician_id = None
    await tickets.move(session, actor, ticket, "routed", at=now, note=REASON, kind="timeout",
                       data=data)
    await notifications.station_unanswered(session, ticket, first, due)
    await dispatch.apply_decision(session, actor, ticket, decision, "route", now)
    return 1
