"""The service desk's dispatch board (issue 15 item 6): open tickets most at risk first,
filtered by region, station, status and product line.

Rules:
- read scope: module ``tickets``, ``read``, through the ticket's customer (as every list
  of records); a station's own staff use their station page instead;
- "most at risk" (``risk_order``, pure): breached before at risk before on time; within
  one state, the target that falls first. The target that counts is the ticket's next
  one: acceptance until accepted, arrival until the technician is on site, then the
  resolution (``next_due``). A ticket no station covers (``route_flagged``) is shown
  before the others of its state: a person must place it;
- one page of rows, each with what the board shows (customer, place, product line,
  station, technician, due times, escalation step), in one statement.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from crm_core import tickets
from crm_core.models import (
    Asset,
    Customer,
    ProductLine,
    ServiceStation,
    Technician,
    Ticket,
    as_utc,
)
from crm_core.permissions import Actor, customer_filter, require
from crm_core.records import check_page, choice, optional_id, page, text

SLA_STATES = ("breached", "warning", "ok")
MAX_PAGE = 200


@dataclass(frozen=True)
class BoardFilter:
    """What the board is narrowed to (None: any)."""

    region: str | None = None  # the station's region (华东...) or the customer's province
    station_id: int | None = None
    status: str | None = None
    product_line: str | None = None  # product line code
    sla_state: str | None = None
    flagged: bool | None = None


# --- pure ----------------------------------------------------------------------------------


def next_due(row: dict[str, Any]) -> datetime | None:
    """The ticket's next target: acceptance, then arrival, then resolution."""
    if row.get("accepted_at") is None and row.get("accept_due") is not None:
        return as_utc(row["accept_due"])
    if row.get("arrived_at") is None and row.get("arrive_due") is not None:
        return as_utc(row["arrive_due"])
    due = row.get("resolve_due")
    return None if due is None else as_utc(due)


def risk_key(row: dict[str, Any]) -> tuple[int, int, float, int]:
    """Sort key of the board: SLA state, flagged first, the next target, then the id."""
    state = SLA_STATES.index(row["sla_state"]) if row.get("sla_state") in SLA_STATES else 2
    due = next_due(row)
    return (state, 0 if row.get("route_flagged") else 1,
            due.timestamp() if due is not None else float("inf"), int(row["id"]))


def risk_order(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``rows`` most at risk first (see the rules)."""
    return sorted(rows, key=risk_key)


# --- query ---------------------------------------------------------------------------------


def _next_due_sql() -> ColumnElement[Any]:
    """``next_due`` in SQL (the board is sorted by the database, one page read)."""
    return case(
        (Ticket.accepted_at.is_(None) & Ticket.accept_due.is_not(None), Ticket.accept_due),
        (Ticket.arrived_at.is_(None) & Ticket.arrive_due.is_not(None), Ticket.arrive_due),
        else_=Ticket.resolve_due,
    )


def _clean(f: BoardFilter) -> BoardFilter:
    return BoardFilter(
        region=text(f.region, "region", max_len=40),
        station_id=optional_id(f.station_id, "station_id"),
        status=None if f.status is None else choice(f.status, "status", tickets.OPEN_STATUSES),
        product_line=text(f.product_line, "product_line", max_len=40),
        sla_state=None if f.sla_state is None else choice(f.sla_state, "sla_state", SLA_STATES),
        flagged=f.flagged,
    )


def _board_query(actor: Actor, f: BoardFilter) -> Any:
    scope = require(actor, "tickets", "read")
    line_code = ProductLine.code
    state_rank = case(
        *((Ticket.sla_state == state, literal(rank)) for rank, state in enumerate(SLA_STATES)),
        else_=literal(len(SLA_STATES) - 1))
    due = _next_due_sql()
    stmt: Any = (
        select(
            Ticket.id, Ticket.number, Ticket.status, Ticket.priority, Ticket.category,
            Ticket.problem, Ticket.created_at, Ticket.routed_at, Ticket.route_reason,
            Ticket.route_flagged, Ticket.route_override, Ticket.sla_state,
            Ticket.escalation_level, Ticket.accept_due, Ticket.arrive_due,
            Ticket.resolve_due, Ticket.accepted_at, Ticket.arrived_at,
            Ticket.customer_id, Customer.name.label("customer_name"),
            Customer.province, Customer.city, Customer.vip_tier,
            Asset.serial_number, line_code.label("product_line_code"),
            ProductLine.name.label("product_line_name"),
            ProductLine.name_en.label("product_line_name_en"),
            Ticket.station_id, ServiceStation.code.label("station_code"),
            ServiceStation.name.label("station_name"),
            ServiceStation.name_en.label("station_name_en"),
            ServiceStation.region.label("station_region"),
            Technician.name.label("technician_name"),
        )
        .select_from(Ticket)
        .join(Customer, Customer.id == Ticket.customer_id)
        .outerjoin(Asset, Asset.id == Ticket.asset_id)
        .outerjoin(ProductLine, ProductLine.id == Asset.product_line_id)
        .outerjoin(ServiceStation, ServiceStation.id == Ticket.station_id)
        .outerjoin(Technician, Technician.id == Ticket.technician_id)
        .where(customer_filter(actor, scope), Ticket.status.in_(tickets.OPEN_STATUSES))
        .order_by(state_rank, case((Ticket.route_flagged, 0), else_=1),
                  due.is_(None), due, Ticket.id)
    )
    if f.region is not None:
        stmt = stmt.where((ServiceStation.region == f.region) | (Customer.province == f.region))
    if f.station_id is not None:
        stmt = stmt.where(Ticket.station_id == f.station_id)
    if f.status is not None:
        stmt = stmt.where(Ticket.status == f.status)
    if f.product_line is not None:
        stmt = stmt.where(line_code == f.product_line)
    if f.sla_state is not None:
        stmt = stmt.where(Ticket.sla_state == f.sla_state)
    if f.flagged is not None:
        stmt = stmt.where(Ticket.route_flagged.is_(f.flagged))
    return stmt


async def board(
    session: AsyncSession, actor: Actor, f: BoardFilter, *, limit: object = 50,
    offset: object = 0,
) -> dict[str, Any]:
    """A page of the board, most at risk first, with the count of every open ticket the
    filter keeps and the count per SLA state (the board's headline)."""
    lim, off = check_page(limit, offset)
    lim = min(lim, MAX_PAGE)
    stmt = _board_query(actor, _clean(f))
    counted = stmt.order_by(None).subquery()
    by_state: dict[str, int] = dict((await session.execute(
        select(counted.c.sla_state, func.count()).group_by(counted.c.sla_state))).all())
    rows = [dict(r._mapping) for r in await session.execute(stmt.limit(lim).offset(off))]
    for row in rows:
        due = next_due(row)
        row["next_due"] = None if due is None else due.isoformat()
        for key in ("created_at", "routed_at", "accept_due", "arrive_due", "resolve_due",
                    "accepted_at", "arrived_at"):
            if row[key] is not None:
                row[key] = as_utc(row[key]).isoformat()
    result = page(rows, sum(by_state.values()), lim, off)
    result["by_state"] = {state: int(by_state.get(state, 0)) for state in SLA_STATES}
    return result
