"""``/duplicates``: pairs of customers that look like one twice, which the actor could
merge (``crm_core.duplicate_pairs``); merging is ``POST /customers/{id}/merge``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from agent_console.api.routing import Call, Routes
from agent_console.api.schemas import Out, Page, PageQuery
from crm_core import duplicate_pairs


class OwnerRef(Out):
    id: int
    display_name: str | None = None


class Counts(Out):
    contacts: int
    phone_numbers: int
    assets: int
    tickets: int
    interactions: int
    opportunities: int


class PairSide(Out):
    id: int
    name: str
    kind: str
    province: str | None = None
    city: str | None = None
    status: str
    vip_tier: int
    created_at: datetime | None = None
    owner: OwnerRef | None = None
    records: Counts


class Pair(Out):
    a: PairSide
    b: PairSide
    reasons: list[str]
    numbers: list[str]


async def list_duplicates(call: Call) -> Any:
    return await duplicate_pairs.suspected_pairs(call.db, call.me, limit=call.query.limit,
                                                 offset=call.query.offset)


def add_routes(routes: Routes) -> None:
    routes.add("GET", "/duplicates", list_duplicates, tag="customers", query_model=PageQuery,
               response_model=Page[Pair], errors=(401, 403, 422),
               summary="Pairs of customers sharing a phone number or a name (as the "
                       "duplicate guard compares them) that you could merge")

