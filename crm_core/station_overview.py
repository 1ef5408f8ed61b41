"""The service desk's view of the stations (issue 15 item 6, "the station page"): per
station its open load against its capacity, its technicians on duty, this month's SLA
attainment and the tickets breached now; one station in detail with its technicians,
its open tickets most urgent first and the month's figures.

Rules:
- the gate is ``reports``/``read`` (these are the network's figures); the tickets
  counted are those of the customers in that grant's scope, as every report. The
  stations and technicians themselves are the network's, shown to whoever may read
  the reports; the open tickets' list is the dispatch board's, so it needs
  ``tickets``/``read`` and keeps its scope (without it the detail has no list);
- open = ``crm_core.tickets.OPEN_STATUSES`` at run time; this month = the Shanghai
  month; attainment as ``crm_core.service_figures`` defines it;
- a station's list is read in four statements whatever the number of stations.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core import dispatch_board, tickets
from crm_core.errors import NotFound, ValidationFailed
from crm_core.models import Customer, ServiceStation, Technician, Ticket
from crm_core.permissions import Actor, PermissionDenied
from crm_core.reports import business_today, scoped_conditions
from crm_core.service_figures import Counts, figures, month_of, overall_attainment, rate
from crm_core.service_report import Period, bilingual, grouped_counts, language

MAX_TICKETS = 100


def _count_when(cond: Any) -> Any:
    return func.coalesce(func.sum(case((cond, 1), else_=0)), 0)


async def _open_by(session: AsyncSession, conds: list[Any], column: Any,
                   station_id: int | None = None) -> dict[Any, tuple[int, int]]:
    """Open tickets and breached ones, per ``column`` (station or technician)."""
    stmt = (select(column, func.count(Ticket.id), _count_when(Ticket.sla_state == "breached"))
            .select_from(Ticket).join(Customer, Customer.id == Ticket.customer_id)
            .where(*conds, Ticket.status.in_(tickets.OPEN_STATUSES), column.is_not(None))
            .group_by(column))
    if station_id is not None:
        stmt = stmt.where(Ticket.station_id == station_id)
    return {k: (int(n), int(b)) for k, n, b in await session.execute(stmt)}


async def _month_counts(session: AsyncSession, conds: list[Any], today: date,
                        now: datetime | None, station_id: int | None = None
                        ) -> dict[Any, Counts]:
    start, end = Period(first=month_of(today)[0], last=month_of(today)[1]).bounds(today)
    return await grouped_counts(session, conds, "station", start, end, station_id=station_id,
                                now=now)


async def station_list(
    session: AsyncSession, actor: Actor, *, region: str | None = None,
    include_inactive: bool = False, lang: str | None = None, today: date | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Every (active) station, those with tickets breached and the fullest first:
    ``{"month": "YYYY-MM", "items": [{id, code, label, name, name_en, province, city,
    region, is_hub, active, capacity, open_tickets, load_pct, breached_now, technicians,
    on_duty, month_tickets, sla_pct}...]}``."""
    conds = scoped_conditions(actor, None, "read")
    if region is not None and not (0 < len(region) <= 40):
        raise ValidationFailed("region", "1 to 40 characters")
    day = today or business_today()
    stmt = select(ServiceStation).order_by(ServiceStation.code)
    if not include_inactive:
        stmt = stmt.where(ServiceStation.active.is_(True))
    if region is not None:
        stmt = stmt.where((ServiceStation.region == region) | (ServiceStation.province == region))
    stations = list((await session.scalars(stmt)).all())
    crews = {sid: (int(n), int(on)) for sid, n, on in await session.execute(
        select(Technician.station_id, func.count(Technician.id),
               _count_when(Technician.on_duty.is_(True)))
        .where(Technician.active.is_(True)).group_by(Technician.station_id))}
    load = await _open_by(session, conds, Ticket.station_id)
    month = await _month_counts(session, conds, day, now)
    lang_ = language(actor, lang)
    items: list[dict[str, Any]] = []
    for s in stations:
        open_n, breached = load.get(s.id, (0, 0))
        crew, on_duty = crews.get(s.id, (0, 0))
        counts = month.get(s.id, Counts())
        items.append({
            "id": s.id, "code": s.code, "label": bilingual(s.name, s.name_en, lang_),
            "name": s.name, "name_en": s.name_en, "province": s.province, "city": s.city,
            "region": s.region, "is_hub": s.is_hub, "active": s.active,
            "capacity": s.capacity, "open_tickets": open_n,
            "load_pct": rate(open_n, s.capacity), "breached_now": breached,
            "technicians": crew, "on_duty": on_duty,
            "month_tickets": counts.tickets, "sla_pct": overall_attainment(counts),
        })
    items.sort(key=lambda r: (-r["breached_now"], -(r["load_pct"] or 0), r["code"]))
    return {"month": day.strftime("%Y-%m"), "items": items}


async def station_detail(
    session: AsyncSession, actor: Actor, station_id: int, *, lang: str | None = None,
    today: date | None = None, now: datetime | None = None,
) -> dict[str, Any]:
    """One station: its fields, ``technicians`` (with their open tickets), ``month``
    (this month's figures, ``service_figures.figures``), ``open_tickets`` (the
    dispatch board's page for the station, most urgent first; None without
    ``tickets``/``read``). NotFound: no such station."""
    conds = scoped_conditions(actor, None, "read")
    station = await session.get(ServiceStation, station_id)
    if station is None:
        raise NotFound("station", station_id)
    day = today or business_today()
    lang_ = language(actor, lang)
    per_tech = await _open_by(session, conds, Ticket.technician_id, station_id)
    crew = (await session.scalars(
        select(Technician).where(Technician.station_id == station_id)
        .order_by(Technician.active.desc(), Technician.name, Technician.id))).all()
    load = await _open_by(session, conds, Ticket.station_id, station_id)
    open_n, breached = load.get(station_id, (0, 0))
    month = (await _month_counts(session, conds, day, now, station_id)).get(station_id,
                                                                         Counts())
    try:
        board: dict[str, Any] | None = await dispatch_board.board(
            session, actor, dispatch_board.BoardFilter(station_id=station_id),
            limit=MAX_TICKETS)
    except PermissionDenied:
        board = None
    return {
        "id": station.id, "code": station.code,
        "label": bilingual(station.name, station.name_en, lang_), "name": station.name,
        "name_en": station.name_en, "province": station.province, "city": station.city,
        "district": station.district, "address": station.address, "region": station.region,
        "phones": list(station.phones or []), "product_lines": list(station.product_lines or []),
        "is_hub": station.is_hub, "active": station.active, "capacity": station.capacity,
        "open_tickets": open_n, "load_pct": rate(open_n, station.capacity),
        "breached_now": breached, "month": day.strftime("%Y-%m"),
        "month_figures": figures(month),
        "technicians": [{
            "id": t.id, "name": t.name, "skills": list(t.skills or []), "phone": t.phone,
            "on_duty": t.on_duty, "active": t.active,
            "open_tickets": per_tech.get(t.id, (0, 0))[0],
        } for t in crew],
        "tickets": board,
    }
