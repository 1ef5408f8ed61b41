"""``/lookup?phone=`` (the 360 view of a caller) and ``/customers/{id}/360``.

Rules: ``crm_core.lookup`` decides what the actor sees (a caller outside the
actor's scope is ``restricted``: who looks after them, never the record); an
unknown number is ``found: false`` (200), but an unknown or out-of-scope customer
id is a 404. A call in the view carries ``recording_url`` (``recording_base_url`` + its
recording's file name) or null.
"""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field

from agent_console.api.auth import AUTH
from agent_console.api.routing import Call, Routes
from agent_console.api.schemas import IdPath, Out, Query, Text
from agent_console.recordings import with_recording_urls
from crm_core.errors import NotFound
from crm_core.lookup import lookup_360, view_360


class LookupQuery(Query):
    phone: Text = Field(min_length=1, max_length=64,
                        description="any format: 13800138000, +86 138 0013 8000, (010)51297073")
    interactions: int = Field(default=10, ge=0, le=50, description="last interactions to list")


class ViewQuery(Query):
    interactions: int = Field(default=10, ge=0, le=50)


class View360(Out):
    """The 360 view (see crm_core.lookup); lists appear when ``found`` and not
    ``restricted``."""

    model_config = ConfigDict(extra="allow")

    found: bool
    phone: str | None = None
    restricted: bool | None = None
    customer: dict[str, Any] | None = None
    contact: dict[str, Any] | None = None
    owner: dict[str, Any] | None = None


async def lookup(call: Call) -> Any:
    q: LookupQuery = call.query
    config = call.request.config_dict[AUTH].config
    view = await lookup_360(call.db, q.phone, region=config.region,
                            interactions=q.interactions, actor=call.me)
    return with_recording_urls(view, config.recording_base_url)


async def customer_360(call: Call) -> Any:
    customer_id = call.path.id
    view = await view_360(call.db, customer_id, interactions=call.query.interactions,
                          actor=call.me)
    if not view.get("found") or view.get("restricted"):
        raise NotFound("customer", customer_id)
    return with_recording_urls(view, call.request.config_dict[AUTH].config.recording_base_url)


def add_routes(routes: Routes) -> None:
    routes.add("GET", "/lookup", lookup, tag="lookup",
               summary="The 360 view of whoever has this phone number (screen pop)",
               query_model=LookupQuery, response_model=View360, errors=(401, 422))
    routes.add("GET", "/customers/{id}/360", customer_360, tag="lookup",
               summary="The 360 view of a customer", path_model=IdPath, query_model=ViewQuery,
               response_model=View360, errors=(401, 404, 422))
