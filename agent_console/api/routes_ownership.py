"""Ownership: transfer one customer, reassign all of a leaver's customers, history.

Rules: the rules (who may transfer, claim, the cap) are ``crm_core.ownership``'s;
``user_id: null`` means the shared pool.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from agent_console.api.auth import AUTH
from agent_console.api.routing import Call, Routes
from agent_console.api.schemas import MAX_ID, Body, IdPath, Out
from crm_core import ownership


class OwnerBody(Body):
    user_id: int | None = Field(ge=1, le=MAX_ID, description="the new owner; null: the pool")


class ReassignBody(Body):
    to_user_id: int | None = Field(ge=1, le=MAX_ID, description="who takes them; null: pool")


class OwnerChanged(Out):
    customer_id: int
    from_user_id: int | None
    to_user_id: int | None
    reason: str
    at: str
    changed: bool


class Reassigned(Out):
    from_user_id: int
    to_user_id: int | None
    moved: int = Field(description="customers moved")
    opportunities_moved: int = Field(
        description="open opportunities the user held on them, moved with them")


class UserRef(Out):
    id: int
    display_name: str | None


class OwnershipStep(Out):
    at: str
    from_user: UserRef | None
    to_user: UserRef | None
    by: UserRef | None
    reason: str | None


class OwnershipHistory(Out):
    items: list[OwnershipStep]


async def set_owner(call: Call) -> Any:
    body: OwnerBody = call.body
    rules = call.request.config_dict[AUTH].config.ownership
    return await ownership.assign_owner(call.db, call.me, call.path.id, body.user_id,
                                        rules=rules)


async def reassign_customers(call: Call) -> Any:
    body: ReassignBody = call.body
    moved = await ownership.reassign_all(call.db, call.me, from_user_id=call.path.id,
                                         to_user_id=body.to_user_id)
    return {"from_user_id": call.path.id, "to_user_id": body.to_user_id,
            "moved": moved.customers, "opportunities_moved": moved.opportunities}


async def ownership_history(call: Call) -> Any:
    return {"items": await ownership.ownership_history(call.db, call.me, call.path.id)}


def add_routes(routes: Routes) -> None:
    routes.add("POST", "/customers/{id}/owner", set_owner, tag="ownership",
               summary="Give a customer to a user (or the pool); claims are capped",
               path_model=IdPath, body_model=OwnerBody, response_model=OwnerChanged)
    routes.add("POST", "/users/{id}/reassign-customers", reassign_customers, tag="ownership",
               summary="Move every customer of a user (someone leaves), with the open "
                       "opportunities they held on them, in one operation",
               path_model=IdPath, body_model=ReassignBody, response_model=Reassigned)
    routes.add("GET", "/customers/{id}/ownership-history", ownership_history, tag="ownership",
               summary="Who owned the customer when", path_model=IdPath,
               response_model=OwnershipHistory, errors=(401, 403, 404, 422))
