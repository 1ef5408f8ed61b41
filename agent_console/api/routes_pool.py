"""``/pool``: the customers of the shared pool, for whoever may claim or hand one out
(``crm_core.pool``); taking one is ``POST /customers/{id}/owner`` (routes_ownership)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from agent_console.api.routing import Call, Routes
from agent_console.api.schemas import Out, Page, PageQuery, Text
from crm_core import pool


class PoolQuery(PageQuery):
    q: Text | None = Field(default=None, max_length=200, description="part of the name")
    province: Text | None = Field(default=None, max_length=100)


class PreviousOwner(Out):
    id: int
    display_name: str | None = None


class PoolCustomer(Out):
    id: int
    name: str
    kind: str
    category: str | None = None
    industry: str | None = None
    province: str | None = None
    city: str | None = None
    vip_tier: int
    status: str
    created_at: datetime | None = None
    last_touched_at: datetime | None = None
    pooled_at: datetime | None = Field(default=None, description="when it last came into "
                                       "the pool (null: it never had an owner)")
    previous_owner: PreviousOwner | None = None


async def list_pool(call: Call) -> Any:
    q: PoolQuery = call.query
    return await pool.pool_customers(call.db, call.me, q=q.q, province=q.province,
                                     limit=q.limit, offset=q.offset)


def add_routes(routes: Routes) -> None:
    routes.add("GET", "/pool", list_pool, tag="ownership", query_model=PoolQuery,
               response_model=Page[PoolCustomer], errors=(401, 403, 422),
               summary="The shared pool: customers without an account manager (for who may "
                       "claim or assign them)")
