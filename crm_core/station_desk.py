"""What the station's page shows (issue 15): a station's (or a technician's) open
tickets, most urgent first, each with the facts a technician needs on the road.

Rules:
- read scope ``tickets:read``: a station user sees its station's tickets, a technician
  his own (``permissions.ticket_filter``), a desk user what his scope covers;
- most urgent first: the due time that matters now (``accept_due`` until the ticket is
  accepted, then ``resolve_due``), tickets without one after, then by priority, then
  the oldest first; at most ``MAX_TICKETS``;
- each ticket comes with its customer's name and address, the contact and a phone
  number to call (the contact's, else the customer's first), the asset (model, serial
  number, site), the station and technician, and the moves open to it
  (``tickets.next_moves``); the station's active technicians come along for the
  assign menu;
- plain data out; nothing here writes.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.models import (
    Asset,
    Contact,
    Customer,
    PhoneNumber,
    ServiceStation,
    Technician,
    Ticket,
)
from crm_core.permissions import Actor, require
from crm_core.records import scope_condition, to_dict
from crm_core.tickets import OPEN_STATUSES, PRIORITIES, get_ticket, next_moves

MAX_TICKETS = 200
NOT_ACCEPTED = ("new", "routed")


def _facts() -> Select[*tuple[Any, ...]]:
    contact_phone = (select(func.min(PhoneNumber.raw))
                     .where(PhoneNumber.contact_id == Ticket.contact_id).scalar_subquery())
    customer_phone = (select(func.min(PhoneNumber.raw))
                      .where(PhoneNumber.customer_id == Ticket.customer_id).scalar_subquery())
    return (
        select(Ticket, Customer.name.label("customer_name"),
               Customer.province, Customer.city, Customer.address,
               Contact.name.label("contact_name"),
               func.coalesce(contact_phone, customer_phone).label("phone"),
               Asset.model.label("asset_model"), Asset.serial_number, Asset.site,
               ServiceStation.code.label("station_code"),
               ServiceStation.name.label("station_name"),
               ServiceStation.name_en.label("station_name_en"),
               Technician.name.label("technician_name"))
        .join(Customer, Customer.id == Ticket.customer_id)
        .outerjoin(Contact, Contact.id == Ticket.contact_id)
        .outerjoin(Asset, Asset.id == Ticket.asset_id)
        .outerjoin(ServiceStation, ServiceStation.id == Ticket.station_id)
        .outerjoin(Technician, Technician.id == Ticket.technician_id)
    )


def _item(row: Any) -> dict[str, Any]:
    ticket: Ticket = row[0]
    data = to_dict(ticket)
    data.update({key: row._mapping[key] for key in (
        "customer_name", "province", "city", "address", "contact_name", "phone",
        "asset_model", "serial_number", "site", "station_code", "station_name",
        "station_name_en", "technician_name")})
    data["next_moves"] = list(next_moves(ticket.status))
    data["due"] = data["accept_due"] if ticket.status in NOT_ACCEPTED else data["resolve_due"]
    return data


async def _technicians(session: AsyncSession, station_ids: set[int]) -> dict[str, Any]:
    if not station_ids:
        return {}
    rows = await session.execute(
        select(Technician.station_id, Technician.id, Technician.name, Technician.on_duty)
        .where(Technician.station_id.in_(station_ids), Technician.active)
        .order_by(Technician.name, Technician.id))
    out: dict[str, list[dict[str, Any]]] = {}
    for station_id, tech_id, name, on_duty in rows:
        out.setdefault(str(station_id), []).append(
            {"id": tech_id, "name": name, "on_duty": on_duty})
    return out


async def _station(session: AsyncSession, station_id: int | None) -> dict[str, Any] | None:
    if station_id is None:
        return None
    station = await session.get(ServiceStation, station_id)
    if station is None:
        return None
    return {"id": station.id, "code": station.code, "name": station.name,
            "name_en": station.name_en}


async def station_tickets(session: AsyncSession, actor: Actor) -> dict[str, Any]:
    """The open tickets in ``actor``'s read scope, most urgent first (see the rules):
    ``{station, technician_id, items, technicians: {station id: [...]}}``."""
    scope = require(actor, "tickets", "read")
    due = case((Ticket.status.in_(NOT_ACCEPTED), Ticket.accept_due), else_=Ticket.resolve_due)
    rank = case({p: -i for i, p in enumerate(PRIORITIES)}, value=Ticket.priority, else_=0)
    rows = (await session.execute(
        _facts().where(scope_condition(actor, scope, Ticket.created_by_id, Ticket),
                       Ticket.status.in_(OPEN_STATUSES))
        .order_by(due.is_(None), due, rank, Ticket.created_at, Ticket.id)
        .limit(MAX_TICKETS))).all()
    items = [_item(row) for row in rows]
    stations = {i["station_id"] for i in items if i["station_id"] is not None}
    if actor.station_id is not None:
        stations.add(actor.station_id)
    return {"station": await _station(session, actor.station_id),
            "technician_id": actor.technician_id, "items": items,
            "technicians": await _technicians(session, stations)}


async def station_ticket(session: AsyncSession, actor: Actor, ticket_id: int) -> dict[str, Any]:
    """One ticket in the read scope with its history and repair record (``get_ticket``)
    and the facts of the list, plus its station's technicians."""
    view = await get_ticket(session, actor, ticket_id)  # the scope check: NotFound outside
    row = (await session.execute(_facts().where(Ticket.id == view["id"]))).one()
    view.update({k: v for k, v in _item(row).items() if k not in view or k == "next_moves"})
    techs = await _technicians(session, {view["station_id"]} if view["station_id"] else set())
    view["technicians"] = techs.get(str(view["station_id"]), [])
    return view
