"""``/dispatch/tickets``: the service desk's dispatch board (``crm_core.dispatch_board``):
open tickets most at risk first, by region, station, status, product line and SLA state."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from agent_console.api.routing import Call, Routes
from agent_console.api.schemas import Out, Page, PageQuery, Text
from crm_core import dispatch_board


class BoardQuery(PageQuery):
    region: Text | None = Field(default=None, max_length=40,
                                description="the station's region (华东...) or the "
                                            "customer's province")
    station_id: int | None = Field(default=None, ge=1, le=2**31 - 1)
    status: Text | None = Field(default=None, max_length=40)
    product_line: Text | None = Field(default=None, max_length=40,
                                      description="product line code")
    sla_state: Literal["breached", "warning", "ok"] | None = None
    flagged: bool | None = Field(default=None, description="only tickets no station covers")


class BoardTicket(Out):
    id: int
    number: str
    status: str
    priority: str
    category: str | None = None
    problem: str
    customer_id: int
    customer_name: str
    province: str | None = None
    city: str | None = None
    vip_tier: int
    serial_number: str | None = None
    product_line_code: str | None = None
    product_line_name: str | None = None
    product_line_name_en: str | None = None
    station_id: int | None = None
    station_code: str | None = None
    station_name: str | None = None
    station_name_en: str | None = None
    station_region: str | None = None
    technician_name: str | None = None
    route_reason: str | None = None
    route_override: str | None = None
    route_flagged: bool
    sla_state: str
    escalation_level: int
    created_at: datetime | None = None
    routed_at: datetime | None = None
    accept_due: datetime | None = None
    arrive_due: datetime | None = None
    resolve_due: datetime | None = None
    accepted_at: datetime | None = None
    arrived_at: datetime | None = None
    next_due: datetime | None = Field(default=None, description="the ticket's next target: "
                                      "acceptance, then arrival, then resolution")


class BoardCounts(Out):
    breached: int
    warning: int
    ok: int


class Board(Page[BoardTicket]):
    by_state: BoardCounts


async def dispatch_tickets(call: Call) -> Any:
    q: BoardQuery = call.query
    f = dispatch_board.BoardFilter(region=q.region, station_id=q.station_id, status=q.status,
                                   product_line=q.product_line, sla_state=q.sla_state,
                                   flagged=q.flagged)
    return await dispatch_board.board(call.db, call.me, f, limit=q.limit, offset=q.offset)


def add_routes(routes: Routes) -> None:
    routes.add("GET", "/dispatch/tickets", dispatch_tickets, tag="tickets",
               query_model=BoardQuery, response_model=Board, errors=(401, 403, 422),
               summary="The dispatch board: open tickets most at risk first (breached, at "
                       "risk, on time; then the next target that falls first)")
