"""``/roles``: the roles and their grants (module x operation -> data scope).

Rules:
- every handler calls one ``crm_core.roles`` service with the request's actor; the
  service owns the rules (admins only for changes, the admin role's rights cannot be
  taken, known modules/operations/scopes only) and the audit;
- grants travel as ``{"module:operation": scope}``; a scope other than own, team,
  region, all, station or technician (``crm_core.permissions.SCOPES``) is a 422 here,
  an unknown module or operation a 422 from the service,
  both naming the entry (``grants.<module>:<operation>``);
- ``PUT /roles/{id}/grants`` replaces the whole set: what the page shows is what it
  sends, so a grant left out is a grant removed.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from agent_console.api.routing import Call, Routes
from agent_console.api.schemas import Body, IdPath, Out, Text
from crm_core import roles
from crm_core.permissions import MODULES, OPERATIONS

Scope = Literal["own", "team", "region", "all", "station", "technician"]
MAX_GRANTS = len(MODULES) * len(OPERATIONS)
GRANTS_DOC = ('{"module:operation": scope}, e.g. {"calls:read": "all"}; modules, '
              "operations and scopes as GET /roles lists them")


class RoleIn(Body):
    name: Text = Field(min_length=2, max_length=40, pattern=roles.ROLE_NAME.pattern,
                       description="a-z first, then a-z, 0-9, _ or -")
    description: Text | None = Field(default=None, max_length=200)
    grants: dict[Text, Scope] = Field(default_factory=dict, max_length=MAX_GRANTS,
                                      description=GRANTS_DOC)


class RolePatch(Body):
    description: Text | None = Field(default=None, max_length=200)


class GrantsIn(Body):
    grants: dict[Text, Scope] = Field(max_length=MAX_GRANTS, description=GRANTS_DOC)


class RoleOut(Out):
    id: int
    name: str
    description: str | None = None
    is_admin: bool = Field(description="the admin role: every right, no grants to edit")
    builtin: bool = Field(description="a default role: can be changed, not deleted")
    users: int = Field(description="active users holding it")
    grants: dict[str, Scope]


class RoleList(Out):
    items: list[RoleOut]
    modules: list[str]
    operations: list[str]
    scopes: list[str]


async def list_roles(call: Call) -> Any:
    return await roles.list_roles(call.db, call.me)


async def get_role(call: Call) -> Any:
    return await roles.get_role(call.db, call.me, call.path.id)


async def create_role(call: Call) -> Any:
    body: RoleIn = call.body
    return await roles.create_role(call.db, call.me, name=body.name,
                                   description=body.description, grants=body.grants)


async def update_role(call: Call) -> Any:
    return await roles.update_role(call.db, call.me, call.path.id,
                                   call.body.model_dump(exclude_unset=True))


async def set_role_grants(call: Call) -> Any:
    return await roles.set_grants(call.db, call.me, call.path.id, call.body.grants)


async def delete_role(call: Call) -> None:
    await roles.delete_role(call.db, call.me, call.path.id)


def add_routes(routes: Routes) -> None:
    routes.add("GET", "/roles", list_roles, tag="users",
               summary="Roles with their grants, and the modules, operations and scopes a "
                       "grant may name (needs users:read)",
               response_model=RoleList, errors=(401, 403))
    routes.add("POST", "/roles", create_role, tag="users", summary="Create a role (admins)",
               body_model=RoleIn, response_model=RoleOut, status=201,
               errors=(401, 403, 409, 422))
    routes.add("GET", "/roles/{id}", get_role, tag="users", summary="One role with its grants",
               path_model=IdPath, response_model=RoleOut, errors=(401, 403, 404, 422))
    routes.add("PATCH", "/roles/{id}", update_role, tag="users",
               summary="Change a role's description (admins)", path_model=IdPath,
               body_model=RolePatch, response_model=RoleOut, errors=(401, 403, 404, 422))
    routes.add("PUT", "/roles/{id}/grants", set_role_grants, tag="users",
               summary="Replace a role's grants (admins); applies from each holder's next "
                       "request",
               description="The admin role has every right and no grants: 409. A scope, "
                           "module or operation that does not exist: 422 naming it.",
               path_model=IdPath, body_model=GrantsIn, response_model=RoleOut,
               errors=(401, 403, 404, 409, 422))
    routes.add("DELETE", "/roles/{id}", delete_role, tag="users",
               summary="Delete a role nobody holds (admins; not a default role: 409)",
               path_model=IdPath, status=204, errors=(401, 403, 404, 409, 422))
