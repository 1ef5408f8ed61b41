"""``GET /tickets/{id}/page``: what the service desk's ticket page shows (issue 15 item
6; ``crm_core.ticket_page``): the ticket's facts, routing decision, SLA clocks, timeline
and repair record, in one read. Its actions use the endpoints that exist: re-route
``POST /tickets/{id}/route``, a note ``POST /tickets/{id}/notes``."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict

from agent_console.api.routing import Call, Routes
from agent_console.api.schemas import IdPath, Out
from crm_core import ticket_page


class TicketPage(Out):
    """A ticket as ``GET /station/tickets/{id}`` answers it, plus ``product_line``,
    ``vip_tier``, ``sla_policy``, ``route_reason_en``, ``sla_clocks`` (one per target:
    state, due, seconds left or over, escalation level), ``messages`` (the notifications
    queued) and ``timeline`` (steps and messages in time order)."""

    model_config = ConfigDict(extra="allow")
    id: int
    number: str
    status: str
    sla_clocks: list[dict[str, Any]]
    timeline: list[dict[str, Any]]


async def get_ticket_page(call: Call) -> Any:
    return await ticket_page.ticket_page(call.db, call.me, call.path.id)


def add_routes(routes: Routes) -> None:
    routes.add("GET", "/tickets/{id}/page", get_ticket_page, tag="tickets", path_model=IdPath,
               response_model=TicketPage, errors=(401, 403, 404, 422),
               summary="One ticket as the service desk's ticket page shows it: facts, "
                       "routing decision, SLA clocks, timeline, repair record (tickets "
                       "read, in scope; 404 outside it)")
