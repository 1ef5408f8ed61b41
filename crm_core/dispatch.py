"""Routing tickets to service stations, on the database: the facts are read, the pure
rules (``crm_core.dispatch_rules``) decide, the decision is written on the ticket.

Rules:
- every ticket is routed where it is born: ``crm_core.tickets.create_ticket`` (the
  console's pop, the IVR's repair request, the API) calls ``route_ticket`` in the same
  transaction; the ticket's status is not changed here (the lifecycle owns it), only
  its dispatch columns: ``station_id``, ``routed_at``, ``route_reason`` (the zh-CN
  sentence), ``route_alternatives`` (``Choice.as_dict``: each with its zh and en
  sentence), ``route_override`` (None: the rules chose), ``route_flagged``;
- each decision is a step of the ticket's history (``TicketStatusChange`` of kind
  ``route``, ``override`` or ``refusal``, ``from_status == to_status``) whose ``data``
  holds ``{station_id, code, reason, reason_en, flagged}``, and an audit entry;
- what routing reads is cheap (the budget is p99 <= 5 ms with 400 stations and 200,000
  open tickets): the asset's site and product line in one query; the candidate stations
  (those of the place's province, those whose ``covers`` names it, the hubs of its
  region) and the technicians on duty from memory (``crm_core.network_cache``: emptied
  when a station or technician changes); the open load of the eligible stations in one
  query of LIMITed ranges of ``ix_ticket_station_id_status``, counted up to twice a
  station's capacity (beyond, the rules see no difference, and the sentence says "40+
  open"); the chosen station's qualified technicians' open load in one more;
- the technician: ``crm_core.technician_rules`` at the chosen station (skills, on duty,
  least open load), written by ``set_route`` and ``record_decision`` (an ``assign``
  row, no move); nobody qualifies: none, the station assigns by hand;
- a person may override the rules with a reason (``override``); a station's refusal
  (``refuse``) re-routes to the best station that has not refused this ticket yet;
- a fault in the rules never loses the ticket: it is kept unrouted and flagged.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from crm_core import network_cache, notifications, sla
from crm_core.audit import audit, write_entries
from crm_core.dispatch_rules import (
    Choice,
    Decision,
    StationFacts,
    TicketFacts,
    covers,
    decide,
    serves,
    with_technician,
)
from crm_core.errors import ValidationFailed
from crm_core.models import (
    Asset,
    Customer,
    ProductLine,
    ServiceStation,
    Technician,
    Ticket,
    TicketStatusChange,
)
from crm_core.permissions import Actor
from crm_core.places import Place, place_of, region_of
from crm_core.records import current, load_record, optional_id, required_text
from crm_core.service_network import open_counts_upto
from crm_core.technician_rules import (
    TechnicianFacts,
    needed_skills,
    pick_technician,
    qualifies,
)

log = logging.getLogger("crm_core.dispatch")

_STATION_COLUMNS = (
    ServiceStation.id, ServiceStation.code, ServiceStation.name, ServiceStation.name_en,
    ServiceStation.province, ServiceStation.city, ServiceStation.latitude,
    ServiceStation.longitude, ServiceStation.product_lines, ServiceStation.covers,
    ServiceStation.capacity, ServiceStation.active, ServiceStation.is_hub,
    ServiceStation.region,
)


# --- reading the facts ------------------------------------------------------------------


# the statements of the hot path, built once (their bind values change, not their shape)
_ASSET_FACTS = (
    select(Asset.site, ProductLine.code, ProductLine.name, ProductLine.name_en)
    .outerjoin(ProductLine, ProductLine.id == Asset.product_line_id)
    .where(Asset.id == bindparam("asset_id")))
_ACTIVE_STATIONS = select(
    *_STATION_COLUMNS, ServiceStation.hours, ServiceStation.timezone, ServiceStation.calendar,
    ServiceStation.email, ServiceStation.phones).where(ServiceStation.active)
_TECHNICIANS = select(Technician.id, Technician.station_id, Technician.name,
                      Technician.skills).where(Technician.active, Technician.on_duty)


@dataclass(frozen=True)
class StationDetails:
    """What writing a decision reads of an active station (its SLA hours, whom to tell),
    kept in memory with the index: no row read per ticket. Read-only (shared)."""

    id: int
    code: str
    name: str
    hours: dict[str, Any]
    timezone: str
    calendar: str
    email: str | None
    phones: tuple[Any, ...]


@dataclass(frozen=True)
class StationIndex:
    """The active stations as routing looks them up (``crm_core.network_cache``: kept in
    memory, emptied when a station changes): by the provinces they sit in or cover, and
    the hubs by region; and their details by id."""

    by_province: dict[str, tuple[StationFacts, ...]]
    hubs_by_region: dict[str, tuple[StationFacts, ...]]
    hubs: tuple[StationFacts, ...]
    details: dict[int, StationDetails]


async def _load_stations(conn: AsyncConnection) -> StationIndex:
    by_province: dict[str, list[StationFacts]] = {}
    hubs: list[StationFacts] = []
    details: dict[int, StationDetails] = {}
    for row in await conn.execute(_ACTIVE_STATIONS):
        station = _facts(row)
        details[row.id] = StationDetails(
            id=row.id, code=row.code, name=row.name, hours=row.hours,
            timezone=row.timezone, calendar=row.calendar, email=row.email,
            phones=tuple(row.phones or ()))
        provinces = {station.province} | {c.get("province") for c in station.covers}
        for province in provinces:
            if isinstance(province, str) and province:
                by_province.setdefault(province, []).append(station)
        if station.is_hub:
            hubs.append(station)
    by_region: dict[str, list[StationFacts]] = {}
    for hub in hubs:
        by_region.setdefault(hub.region or "", []).append(hub)
    return StationIndex({k: tuple(v) for k, v in by_province.items()},
                        {k: tuple(v) for k, v in by_region.items()}, tuple(hubs), details)


async def station_details(session: AsyncSession, station_id: int
                          ) -> StationDetails | ServiceStation | None:
    """An active station's details from memory; else (inactive: a person's choice, or a
    change not seen yet) its row."""
    index = await network_cache.cached(session, "stations", _load_stations)
    found = index.details.get(station_id)
    return found if found is not None else await session.get(ServiceStation, station_id)


async def _load_technicians(conn: AsyncConnection
                            ) -> dict[int, tuple[TechnicianFacts, ...]]:
    out: dict[int, list[TechnicianFacts]] = {}
    for row in await conn.execute(_TECHNICIANS):
        out.setdefault(row.station_id, []).append(TechnicianFacts(
            id=row.id, name=row.name, station_id=row.station_id,
            skills=tuple(s for s in (row.skills or ()) if isinstance(s, str))))
    return {k: tuple(v) for k, v in out.items()}


async def ticket_facts(session: AsyncSession, ticket: Ticket, customer: Customer) -> TicketFacts:
    """Where the repair is and what for: the asset's site and product line (one query),
    else the customer's province and city."""
    site = code = line_zh = line_en = None
    if ticket.asset_id is not None:
        conn = await session.connection()  # plain Core reads: no ORM bookkeeping per row
        found = (await conn.execute(_ASSET_FACTS, {"asset_id": ticket.asset_id})).first()
        if found is not None:
            site, code, line_zh, line_en = found
    return TicketFacts(place=place_of(site, customer.province, customer.city),
                       product_line=code, line_zh=line_zh, line_en=line_en,
                       priority=ticket.priority, category=ticket.category,
                       vip_tier=customer.vip_tier or 0)


def _facts(row: Any, open_: int = 0) -> StationFacts:
    return StationFacts(
        id=row.id, code=row.code, name=row.name, name_en=row.name_en, province=row.province,
        city=row.city, lat=row.latitude, lon=row.longitude,
        product_lines=tuple(row.product_lines or ()),
        covers=tuple(c for c in (row.covers or ()) if isinstance(c, dict)),
        capacity=row.capacity, open=open_, active=row.active, is_hub=row.is_hub,
        region=row.region)


async def candidates(
    session: AsyncSession, place: Place, product_line: str | None = None
) -> list[StationFacts]:
    """The active stations that may cover ``place`` (those of its province, those whose
    covers name the province) and serve ``product_line``, and the hubs of its region;
    every active hub when the region has none. No query: the stations are kept in memory
    (``network_cache``; the rules check coverage exactly)."""
    index = await network_cache.cached(session, "stations", _load_stations)
    region = region_of(place.province)
    near = index.by_province.get(place.province, ()) if place.province else ()
    found = {s.id: s for s in near if serves(s, product_line)}
    hubs = index.hubs_by_region.get(region, ()) if region else ()
    for hub in hubs or index.hubs:
        found.setdefault(hub.id, hub)
    return list(found.values())


async def with_load(
    session: AsyncSession, stations: list[StationFacts], facts: TicketFacts,
    exclude: set[int] | None = None,
) -> list[StationFacts]:
    """The stations the decision can fall on, with their open load: the eligible ones
    not excluded, or the hubs when there is none (the others' load changes nothing)."""
    skip = exclude or set()
    live = [s for s in stations if s.id not in skip]
    wanted = [s for s in live if covers(s, facts.place) and serves(s, facts.product_line)]
    if not wanted:
        wanted = [s for s in live if s.is_hub]
    limits = {s.id: count_limit(s.capacity) for s in wanted}
    counts = await open_counts_upto(session, limits)
    return [replace(s, open=counts.get(s.id, 0),
                    open_at_least=counts.get(s.id, 0) >= limits[s.id]) for s in wanted]


def count_limit(capacity: int) -> int:
    """How far a station's open tickets are counted when routing: past twice its
    capacity the rules see no difference (``dispatch_rules``: the load counts up to 2x)."""
    return max(2 * capacity, 20)


async def decide_for(
    session: AsyncSession, ticket: Ticket, customer: Customer, *, exclude: set[int] | None = None
) -> Decision:
    """The rules' decision for ``ticket`` now (nothing written)."""
    facts = await ticket_facts(session, ticket, customer)
    found = await candidates(session, facts.place, facts.product_line)
    stations = await with_load(session, found, facts, exclude)
    return await technician_for(session, decide(facts, stations, exclude=exclude or ()),
                                facts)


@lru_cache(maxsize=1)
def _technician_load_statement() -> Any:
    """Open tickets per technician of a list (``ix_ticket_technician_id``), built once."""
    from crm_core.tickets import OPEN_STATUSES

    return (select(Ticket.technician_id, func.count())
            .where(Ticket.technician_id.in_(bindparam("ids", expanding=True)),
                   Ticket.status.in_(OPEN_STATUSES))
            .group_by(Ticket.technician_id))


async def technicians_of(session: AsyncSession, station_id: int, needed: tuple[str, ...] = ()
                         ) -> list[TechnicianFacts]:
    """The active technicians on duty of ``station_id`` who have the skills ``needed``
    (kept in memory, ``network_cache``), with their open load (one query, none when no
    one qualifies)."""
    crew = (await network_cache.cached(session, "technicians", _load_technicians)
            ).get(station_id, ())
    fit = [t for t in crew if qualifies(t, station_id, needed)]
    if not fit:
        return []
    conn = await session.connection()
    load = dict((await conn.execute(_technician_load_statement(),
                                    {"ids": [t.id for t in fit]})).all())
    return [replace(t, open=int(load.get(t.id, 0))) for t in fit]


async def technician_for(session: AsyncSession, decision: Decision, facts: TicketFacts
                         ) -> Decision:
    """``decision`` with the technician of its station (``crm_core.technician_rules``):
    unchanged when it has no station."""
    if decision.chosen is None:
        return decision
    sid = decision.chosen.station_id
    needed = needed_skills(facts.product_line, facts.category)
    choice = pick_technician(sid, await technicians_of(session, sid, needed), needed,
                             line_zh=facts.line_zh, line_en=facts.line_en)
    return with_technician(decision, choice)


# --- writing the decision ------------------------------------------------------------------


def set_route(ticket: Ticket, decision: Decision, at: datetime,
              override: str | None = None) -> None:
    """Put ``decision`` in the ticket's dispatch columns (before or after its INSERT)."""
    chosen = decision.chosen
    ticket.station_id = chosen.station_id if chosen else None
    ticket.technician_id = decision.technician_id  # the station's pick, or by hand
    ticket.routed_at = at
    ticket.route_reason = decision.reason
    ticket.route_alternatives = [a.as_dict() for a in decision.alternatives]
    ticket.route_override = override
    ticket.route_flagged = decision.flagged
    ticket.updated_at = at


async def record_route(
    session: AsyncSession, actor: Actor, ticket: Ticket, decision: Decision, kind: str,
    at: datetime, *, override: str | None = None,
) -> TicketStatusChange:
    """``record_decision``'s routing row."""
    rows = await record_decision(session, actor, ticket, decision, kind, at,
                                 override=override)
    return rows[0]


async def record_decision(
    session: AsyncSession, actor: Actor, ticket: Ticket, decision: Decision, kind: str,
    at: datetime, *, override: str | None = None,
) -> list[TicketStatusChange]:
    """The decision's history row and audit entry (the ticket has its id). A ticket given
    a station moves to ``routed`` (``crm_core.tickets.move``: a re-route too), unless
    its status allows no such move (on site...: the row then keeps its status); its SLA
    clock starts in that station's hours, and the station and the customer are told
    (``crm_core.notifications``, through the outbox). The technician the rules picked
    (``set_route`` gave him the ticket) gets his own row (``record_assignment``: kind
    ``assign``, ``data.auto``): assigning is no move, the ticket stays ``routed`` until
    the station accepts. Returns the routing row, then the assignment's if any."""
    from crm_core import tickets  # tickets creates through dispatch: imported when used

    chosen = decision.chosen
    data: dict[str, Any] = {
        "station_id": chosen.station_id if chosen else None,
        "code": chosen.code if chosen else None, "reason": decision.reason,
        "reason_en": decision.reason_en, "flagged": decision.flagged,
        "technician": decision.technician.as_dict() if decision.technician else None}
    note = override or decision.reason
    # the rows are staged, then written in ONE flush, then the audit entries in one
    # statement (the move's names its history row's id): reads below never autoflush
    with session.no_autoflush:
        moved = chosen is not None and tickets.can_move(ticket.status, "routed")
        if moved:
            change = await tickets.stage_move(session, actor, ticket, "routed", at=at,
                                              note=note, kind=kind, data=data)
        else:
            change = TicketStatusChange(ticket_id=ticket.id, from_status=ticket.status,
                                        to_status=ticket.status, at=at, by_id=actor.user_id,
                                        note=note, kind=kind, data=data)
            session.add(change)
        entries = [dict(user_id=actor.user_id, action=kind, entity="ticket",
                        entity_id=ticket.id,
                        after={**data, "alternatives": ticket.route_alternatives})]
        rows = [change]
        tech = decision.technician
        if tech is not None and tech.technician_id is not None:
            rows.append(stage_assignment(
                session, actor, ticket, at, entries, technician_id=tech.technician_id,
                name=tech.name, note=tech.reason,
                data={"reason": tech.reason, "reason_en": tech.reason_en,
                      "skills": list(tech.skills), "open": tech.open, "auto": True}))
        station = mobile = None
        if chosen is not None:
            station = await station_details(session, chosen.station_id)
            await sla.start_clock(session, ticket, station, at)
            mobile = await notifications.customer_mobile(session, ticket)
    await session.flush()
    if moved:
        entries.insert(0, tickets.move_audit(actor, ticket, change))
    await write_entries(session, entries)
    if chosen is not None:
        await notifications.routed_notices(session, ticket, station, mobile)
    return rows


def record_assignment(
    session: AsyncSession, actor: Actor, ticket: Ticket, at: datetime, *,
    technician_id: int | None, name: str | None, note: str | None,
    previous: int | None = None, data: dict[str, Any] | None = None,
) -> TicketStatusChange:
    """The history row (kind ``assign``; no move: the status stays) and audit entry of
    ``ticket`` given to ``technician_id`` (None: to nobody), by a person
    (``crm_core.ticket_moves.assign``) or by routing (``data.auto``). The caller has set
    ``ticket.technician_id``."""
    entries: list[dict[str, Any]] = []
    change = stage_assignment(session, actor, ticket, at, entries, technician_id=technician_id,
                              name=name, note=note, previous=previous, data=data)
    for entry in entries:
        audit(session, **entry)
    return change


def stage_assignment(
    session: AsyncSession, actor: Actor, ticket: Ticket, at: datetime,
    entries: list[dict[str, Any]], *, technician_id: int | None, name: str | None,
    note: str | None, previous: int | None = None, data: dict[str, Any] | None = None,
) -> TicketStatusChange:
    """``record_assignment``'s history row, added; its audit entry's fields appended to
    ``entries`` (written by the caller)."""
    change = TicketStatusChange(
        ticket_id=ticket.id, from_status=ticket.status, to_status=ticket.status, at=at,
        by_id=actor.user_id, note=note, kind="assign",
        data={"technician_id": technician_id, "name": name, "previous": previous,
              **(data or {})})
    session.add(change)
    entries.append(dict(user_id=actor.user_id, action="assign", entity="ticket",
                        entity_id=ticket.id, before={"technician_id": previous},
                        after={"technician_id": technician_id, "note": note,
                               **(data or {})}))
    return change


async def apply_decision(
    session: AsyncSession, actor: Actor, ticket: Ticket, decision: Decision, kind: str,
    at: datetime, *, override: str | None = None,
) -> TicketStatusChange:
    set_route(ticket, decision, at, override)
    return await record_route(session, actor, ticket, decision, kind, at, override=override)


async def decide_new(session: AsyncSession, ticket: Ticket, customer: Customer) -> Decision:
    """The rules' decision for a new ticket (flushed or not); a fault in the rules gives
    a flagged decision with no station, never an error (the ticket is kept)."""
    try:
        return await decide_for(session, ticket, customer)
    except SQLAlchemyError:
        raise
    except Exception:  # a fault in the rules: keep the ticket, flag it for a person
        log.exception("routing ticket %s failed", ticket.number)
        return Decision(chosen=None, reason="自动派单出错：待人工指派",
                        reason_en="routing failed: a person must choose", flagged=True)


async def route_ticket(
    session: AsyncSession, actor: Actor, ticket: Ticket, customer: Customer, at: datetime
) -> TicketStatusChange:
    """Route a ticket by the rules and write the decision (see the rules); the ticket
    must be flushed (it has its id). A new ticket is better routed before its INSERT
    (``decide_new``, ``set_route``, then ``record_route``: one UPDATE less), as
    ``crm_core.tickets.create_ticket`` does."""
    return await apply_decision(session, actor, ticket,
                                await decide_new(session, ticket, customer),
                        "route", at)


async def station_row(session: AsyncSession, station_id: object) -> ServiceStation:
    """An active station for a person's choice (``ValidationFailed`` otherwise)."""
    sid = optional_id(station_id, "station_id")
    row = await session.get(ServiceStation, sid) if sid is not None else None
    if row is None:
        raise ValidationFailed("station_id", "no such station")
    if not row.active:
        raise ValidationFailed("station_id", "this station is not active")
    return row


def override_decision(station: ServiceStation, reason: str) -> Decision:
    """A person's choice of ``station`` as a decision, in words."""
    zh = f"{station.name}：人工指派（{reason}）"
    en = f"{station.name_en or station.code}: chosen by a person ({reason})"
    chosen = Choice(station_id=station.id, code=station.code, name=station.name, km=None,
                    open=0, capacity=station.capacity, reason=zh, reason_en=en)
    return Decision(chosen=chosen, reason=zh, reason_en=en)


async def person_decision(
    session: AsyncSession, ticket: Ticket, customer: Customer, station: ServiceStation,
    reason: str,
) -> Decision:
    """A person's choice of ``station`` (``override_decision``) with the technician
    the rules pick at that station."""
    return await technician_for(session, override_decision(station, reason),
                                await ticket_facts(session, ticket, customer))


async def route_by_person(
    session: AsyncSession, actor: Actor, ticket: Ticket, station_id: object, reason: object,
    at: datetime,
) -> TicketStatusChange:
    """Send ``ticket`` to ``station_id`` instead of the rules' choice (a reason is
    required): history kind ``override``, ``route_override`` set; the rules'
    alternatives are kept for the record."""
    why = required_text(reason, "reason", max_len=1000)
    station = await station_row(session, station_id)
    customer = await session.get(Customer, ticket.customer_id)
    decision = (override_decision(station, why) if customer is None
                else await person_decision(session, ticket, customer, station, why))
    keep = ticket.route_alternatives
    change = await apply_decision(session, actor, ticket, decision, "override", at,
                                  override=why)
    ticket.route_alternatives = keep
    return change


async def override(
    session: AsyncSession, actor: Actor, ticket_id: int, station_id: int, reason: str,
    *, now: datetime | None = None,
) -> dict[str, Any]:
    """``POST /tickets/{id}/route``: a person routes the ticket (needs tickets update in
    scope)."""
    at = current(now)
    ticket, _ = await load_record(session, actor, Ticket, ticket_id, "tickets", "update",
                                  own_column=Ticket.created_by_id)
    await route_by_person(session, actor, ticket, station_id, reason, at)
    await session.flush()
    return await _view(session, ticket)


async def passed_stations(session: AsyncSession, ticket_id: int) -> set[int]:
    """The stations that refused ``ticket_id`` or let it time out (``crm_core.unanswered``):
    routing it again leaves them out."""
    rows = await session.scalars(
        select(TicketStatusChange.data).where(
            TicketStatusChange.ticket_id == ticket_id,
            TicketStatusChange.kind.in_(("refusal", "timeout"))))
    return {int(d["station_id"]) for d in rows
            if isinstance(d, dict) and isinstance(d.get("station_id"), int)
            and not d.get("kept")}


async def reroute(
    session: AsyncSession, actor: Actor, ticket: Ticket, customer: Customer, at: datetime
) -> TicketStatusChange:
    """Route a refused ticket again, among the stations that have not refused it nor let
    it time out (kind ``route``; the regional hub, flagged, when none is left)."""
    await session.flush()
    excluded = await passed_stations(session, ticket.id)
    decision = await decide_for(session, ticket, customer, exclude=excluded)
    return await apply_decision(session, actor, ticket, decision, "route", at)


async def refuse(
    session: AsyncSession, actor: Actor, ticket_id: int, reason: str,
    *, now: datetime | None = None,
) -> dict[str, Any]:
    """The ticket's station refuses it (a reason is required): the station's own move
    (``crm_core.ticket_moves.refuse``: history kind ``refusal``, back to routed), then
    ``reroute``."""
    from crm_core import ticket_moves

    return await ticket_moves.refuse(session, actor, ticket_id, reason, now=now)


async def _view(session: AsyncSession, ticket: Ticket) -> dict[str, Any]:
    from crm_core.tickets import ticket_view

    return await ticket_view(session, ticket)
