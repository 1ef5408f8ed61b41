"""Roles and their grants (module x operation -> data scope), edited by admins.

Rules:
- a role's grants are its ``role_permission`` rows; a user's rights are read from them
  at each request (``crm_core.permissions.load_actor``), so a changed grant applies
  from the user's next request, without signing in again;
- reading the roles needs a ``users`` read grant (any scope: the role names show in
  the user list); every change needs an admin, since a grant is a right to hand out
  rights: a ``users`` grant is not enough (``PermissionDenied`` on module ``roles``);
- grants are checked against ``MODULES``, ``OPERATIONS`` and ``SCOPES``
  (``parse_grants``, pure): an unknown one is a ``ValidationFailed`` naming it
  (``grants.<module>:<operation>``), and nothing is stored;
- ``set_grants`` replaces a role's whole set (what the admin page shows is what it
  sends), audited with the set before and after (entity ``role``);
- the admin role holds every right through ``User.is_admin`` and carries no grants:
  its grants cannot be set and it cannot be deleted (``Conflict``), so no change here
  takes an admin's rights away; demoting or deactivating the last admin is refused by
  ``crm_core.users``;
- a default role (``DEFAULT_ROLES``: the CLI and the demo name them) cannot be
  deleted, nor can a role someone still holds (their rights would vanish unnoticed);
- role names: lower-case letters, digits, ``_`` and ``-``, 2 to 40 characters;
- nothing here commits.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.audit import audit
from crm_core.errors import Conflict, NotFound, ValidationFailed
from crm_core.models import Role, RolePermission, User
from crm_core.permissions import MODULES, OPERATIONS, SCOPES, Actor, PermissionDenied, require
from crm_core.records import check_fields, is_id, required_text, text
from crm_core.users import DEFAULT_ROLES, is_admin_role

ROLE_NAME = re.compile(r"^[a-z][a-z0-9_-]{1,39}$")
ROLE_UPDATE_FIELDS = ("description",)
Grants = dict[tuple[str, str], str]


# --- pure ---------------------------------------------------------------------------------


def grant_key(module: str, operation: str) -> str:
    """``module:operation``, the key of a grant in the API and the audit trail."""
    return f"{module}:{operation}"


def parse_grants(data: object) -> Grants:
    """``{"module:operation": scope}`` checked against the known modules, operations and
    scopes, as ``{(module, operation): scope}``; ``ValidationFailed`` names the first
    bad entry."""
    if not isinstance(data, Mapping):
        raise ValidationFailed("grants", 'an object {"module:operation": scope}')
    out: Grants = {}
    for key, scope in data.items():
        where = f"grants.{key}"
        module, sep, operation = str(key).partition(":")
        if not sep or module not in MODULES:
            raise ValidationFailed(where, f"unknown module; one of {', '.join(MODULES)}")
        if operation not in OPERATIONS:
            raise ValidationFailed(where, f"unknown operation; one of {', '.join(OPERATIONS)}")
        if scope not in SCOPES:
            raise ValidationFailed(where, f"unknown scope; one of {', '.join(SCOPES)}")
        out[(module, operation)] = scope
    return out


def grants_out(grants: Mapping[tuple[str, str], str]) -> dict[str, str]:
    """``{"module:operation": scope}``, in the order of the matrix."""
    order = {(m, o): i for i, (m, o) in enumerate(
        (m, o) for m in MODULES for o in OPERATIONS)}
    return {grant_key(m, o): grants[(m, o)]
            for m, o in sorted(grants, key=lambda k: order.get(k, len(order)))}


def vocabulary() -> dict[str, list[str]]:
    """What a grant may name: the modules, operations and scopes."""
    return {"modules": list(MODULES), "operations": list(OPERATIONS), "scopes": list(SCOPES)}


def _admin_only(actor: Actor, operation: str) -> None:
    if not actor.is_admin:
        raise PermissionDenied("roles", operation)


def _role_name(value: object) -> str:
    name = required_text(value, "name", max_len=40)
    if not ROLE_NAME.match(name):
        raise ValidationFailed("name", "2-40 characters: a-z first, then a-z, 0-9, _ or -")
    return name


# --- queries ------------------------------------------------------------------------------


async def _grants_of(session: AsyncSession, role_ids: list[int]) -> dict[int, Grants]:
    out: dict[int, Grants] = {rid: {} for rid in role_ids}
    rows = await session.execute(
        select(RolePermission.role_id, RolePermission.module, RolePermission.operation,
               RolePermission.scope).where(RolePermission.role_id.in_(role_ids)))
    for role_id, module, operation, scope in rows:
        out[role_id][(module, operation)] = scope
    return out


async def _holders(session: AsyncSession, role_ids: list[int]) -> dict[int, int]:
    rows = await session.execute(
        select(User.role_id, func.count()).where(User.role_id.in_(role_ids), User.active)
        .group_by(User.role_id))
    return {role_id: count for role_id, count in rows if role_id is not None}


def _role_dict(role: Role, grants: Grants, users: int) -> dict[str, Any]:
    return {
        "id": role.id, "name": role.name, "description": role.description,
        "is_admin": is_admin_role(role), "builtin": role.name in DEFAULT_ROLES,
        "users": users, "grants": grants_out(grants),
    }


async def _describe(session: AsyncSession, roles: list[Role]) -> list[dict[str, Any]]:
    ids = [r.id for r in roles]
    grants, holders = await _grants_of(session, ids), await _holders(session, ids)
    return [_role_dict(r, grants[r.id], holders.get(r.id, 0)) for r in roles]


async def _load(session: AsyncSession, role_id: object) -> Role:
    if not is_id(role_id):
        raise NotFound("role", role_id)
    role = await session.get(Role, role_id)
    if role is None:
        raise NotFound("role", role_id)
    return role


async def list_roles(session: AsyncSession, actor: Actor) -> dict[str, Any]:
    """Every role (by name) with its grants and how many active users hold it, plus
    the vocabulary of grants: ``{items, modules, operations, scopes}``."""
    require(actor, "users", "read")
    roles = list((await session.scalars(select(Role).order_by(Role.name, Role.id))).all())
    return {"items": await _describe(session, roles), **vocabulary()}


async def get_role(session: AsyncSession, actor: Actor, role_id: int) -> dict[str, Any]:
    """One role with its grants."""
    require(actor, "users", "read")
    return (await _describe(session, [await _load(session, role_id)]))[0]


# --- changes ------------------------------------------------------------------------------


async def create_role(
    session: AsyncSession, actor: Actor, *, name: str, description: str | None = None,
    grants: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A new role (admins only), with ``grants`` (default none)."""
    _admin_only(actor, "create")
    clean_name = _role_name(name)
    parsed = parse_grants(grants or {})
    if await session.scalar(select(Role.id).where(Role.name == clean_name)) is not None:
        raise ValidationFailed("name", f"{clean_name!r} is already taken")
    role = Role(name=clean_name, description=text(description, "description", max_len=200))
    session.add(role)
    await session.flush()
    session.add_all(RolePermission(role_id=role.id, module=m, operation=o, scope=s)
                    for (m, o), s in parsed.items())
    await session.flush()
    audit(session, user_id=actor.user_id, action="create", entity="role", entity_id=role.id,
          after={"name": role.name, "description": role.description,
                 "grants": grants_out(parsed)})
    return _role_dict(role, parsed, 0)


async def update_role(
    session: AsyncSession, actor: Actor, role_id: int, changes: Mapping[str, Any]
) -> dict[str, Any]:
    """Change a role's description (admins only); audited."""
    _admin_only(actor, "update")
    check_fields(changes, ROLE_UPDATE_FIELDS)
    role = await _load(session, role_id)
    before = {"description": role.description}
    if "description" in changes:
        role.description = text(changes["description"], "description", max_len=200)
    await session.flush()
    audit(session, user_id=actor.user_id, action="update", entity="role", entity_id=role.id,
          before=before, after={"description": role.description})
    return (await _describe(session, [role]))[0]


async def set_grants(
    session: AsyncSession, actor: Actor, role_id: int, grants: Mapping[str, str]
) -> dict[str, Any]:
    """Replace the grants of a role (admins only); audited before/after."""
    _admin_only(actor, "update")
    role = await _load(session, role_id)
    if is_admin_role(role):
        raise Conflict("the admin role has every right (users' is_admin): it has no "
                       "grants to edit")
    wanted = parse_grants(grants)
    rows = {(p.module, p.operation): p for p in await session.scalars(
        select(RolePermission).where(RolePermission.role_id == role.id))}
    current = {key: row.scope for key, row in rows.items()}
    for key, row in rows.items():
        if key in wanted:
            row.scope = wanted[key]
        else:
            await session.delete(row)
    session.add_all(RolePermission(role_id=role.id, module=m, operation=o, scope=s)
                    for (m, o), s in wanted.items() if (m, o) not in rows)
    await session.flush()
    if current != wanted:
        audit(session, user_id=actor.user_id, action="update-grants", entity="role",
              entity_id=role.id, before={"grants": grants_out(current)},
              after={"grants": grants_out(wanted)})
    return (await _describe(session, [role]))[0]


async def delete_role(session: AsyncSession, actor: Actor, role_id: int) -> None:
    """Delete a role nobody holds that is not a default one (admins only); audited."""
    _admin_only(actor, "delete")
    role = await _load(session, role_id)
    if role.name in DEFAULT_ROLES:
        raise Conflict(f"{role.name!r} is a default role: it can be changed, not deleted")
    held = await session.scalar(select(func.count()).select_from(User)
                                .where(User.role_id == role.id))
    if held:
        raise Conflict(f"{held} user(s) hold the role {role.name!r}: give them another "
                       "role first")
    before = (await _describe(session, [role]))[0]
    await session.delete(role)
    await session.flush()
    audit(session, user_id=actor.user_id, action="delete", entity="role", entity_id=role_id,
          before={"name": before["name"], "description": before["description"],
                  "grants": before["grants"]})
