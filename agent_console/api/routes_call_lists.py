"""Call records for people: ``/customers/{id}/calls`` (the 360 page's timeline) and
``/recent-callers`` (the records page before any search).

Rules: ``crm_core.call_lists`` decides what the actor sees (``calls``/``read`` scope; a
customer outside it is a 404, no grant a 403); a call carries ``recording_url`` as in
the 360 view (``recording_base_url`` + its file name) or null. ``mine=true`` lists the
calls the signed-in agent's phone answered: a user without a phone gets 403
``not-an-agent``.
"""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field

from agent_console.api.auth import AUTH
from agent_console.api.console import me_as_agent
from agent_console.api.routing import Call, Routes
from agent_console.api.schemas import IdPath, Out, Page, PageQuery, Query
from agent_console.recordings import recording_url
from crm_core import call_lists


class CallOut(Out):
    """A call record (see crm_core.call_lists)."""

    model_config = ConfigDict(extra="allow")
    linkedid: str
    outcome: str
    direction: str
    agent_name: str | None = None
    recording_url: str | None = None


class RecentQuery(Query):
    limit: int = Field(default=20, ge=1, le=call_lists.MAX_RECENT, description="numbers to list")
    mine: bool = Field(default=False, description="only calls your phone answered")


class RecentCustomer(Out):
    id: int
    name: str
    vip_tier: int | None = None
    owner_name: str | None = None


class RecentCaller(Out):
    caller: str
    caller_name: str | None = None
    at: str | None = None
    linkedid: str
    outcome: str
    direction: str
    hangup_by: str | None = None
    agent_name: str | None = None
    customer: RecentCustomer | None = None
    restricted: bool = Field(description="the call has a customer you may not read")


class RecentCallers(Out):
    items: list[RecentCaller]


async def list_customer_calls(call: Call) -> Any:
    q: PageQuery = call.query
    found = await call_lists.list_customer_calls(call.db, call.me, call.path.id,
                                                 limit=q.limit, offset=q.offset)
    base = call.request.config_dict[AUTH].config.recording_base_url
    found["items"] = [{**c, "recording_url": recording_url(base, c.get("recording"))}
                      for c in found["items"]]
    return found


async def list_recent_callers(call: Call) -> Any:
    q: RecentQuery = call.query
    mine = (await me_as_agent(call)).interface if q.mine else None
    return await call_lists.recent_callers(call.db, call.me, limit=q.limit, mine=mine)


def add_routes(routes: Routes) -> None:
    routes.add("GET", "/customers/{id}/calls", list_customer_calls, tag="calls",
               summary="The customer's calls, newest first (calls:read scope)",
               path_model=IdPath, query_model=PageQuery, response_model=Page[CallOut],
               errors=(401, 403, 404, 422))
    routes.add("GET", "/recent-callers", list_recent_callers, tag="calls",
               summary="The numbers that called lately: one row per number with its latest "
                       "call and customer (calls:read scope)",
               query_model=RecentQuery, response_model=RecentCallers, errors=(401, 403, 422))
