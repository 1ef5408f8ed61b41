"""Users, roles and the default role matrix.

Rules:
- ``DEFAULT_ROLES`` is the permission matrix a NEW site starts with: for each role,
  module x operation -> data scope (``own`` / ``team`` / ``region`` / ``all``; ``-`` =
  no grant). The database holds the grants that apply (``role_permission``, edited by
  admins through ``crm_core.roles``); migration 0015 put these defaults there once.
  ``ensure_roles`` only creates a default role that is missing, with its defaults: it
  never adds a grant to a role that exists, so a grant an admin removed stays removed
  (a change of the defaults reaches existing sites through a migration, never here);
- the ``admin`` role carries no grants: its users get ``User.is_admin`` (every
  operation, scope ``all``); only an admin may create or promote an admin;
- an agent interface is the PBX's queue member name (``PJSIP/1001``,
  ``Local/1001@agents/n``): technology, ``/``, then no space or control character, as
  it goes into AMI actions (a line break there would be a header of its own);
- user services check the ``users`` module; its scope applies to users: ``own``
  = oneself, ``team`` = the same team, ``region`` = the same region, ``all``;
  everybody may read themselves and change their own display name, language and
  password without a grant;
- every write adds an audit entry (module ``users``); a password hash is never
  returned and never copied into the audit log (it shows as ``"***"``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, func, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.audit import audit, changes, snapshot
from crm_core.errors import Conflict, NotFound, ValidationFailed
from crm_core.models import Role, RolePermission, User
from crm_core.permissions import OPERATIONS, Actor, PermissionDenied, require, scope_for
from crm_core.records import (
    check_fields,
    check_page,
    choice,
    is_id,
    page,
    paginate,
    required_text,
    text,
)

LANGUAGES = ("zh-CN", "en")
_USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
_INTERFACE = re.compile(r"^[A-Za-z][A-Za-z0-9]{0,15}/[A-Za-z0-9._@/+:#*-]{1,80}$")
_RECORDS = ("contacts", "assets", "interactions", "tickets", "opportunities", "subscriptions")
_COLUMNS = ("read", "create", "update", "delete", "export", "reassign")
assert _COLUMNS == OPERATIONS


@dataclass(frozen=True)
class RoleSpec:
    """One default role: its grants ``{(module, operation): scope}``."""

    description: str
    grants: Mapping[tuple[str, str], str] = field(default_factory=dict)
    is_admin: bool = False


def _matrix(*rows: tuple[str, str, str, str, str, str, str]) -> dict[tuple[str, str], str]:
    """Grants from table rows ``(module, read, create, update, delete, export, reassign)``."""
    grants: dict[tuple[str, str], str] = {}
    for module, *scopes in rows:
        for operation, scope in zip(_COLUMNS, scopes, strict=True):
            if scope != "-":
                grants[(module, operation)] = scope
    return grants


# fmt: off
# module            read    create  update  delete  export  reassign
_AGENT = _matrix(
    # a hotline agent must see any caller, and log what they hear about anyone
    # an unknown caller is created from the pop; scope "all" leaves it in the shared pool
    ("customers",     "all",  "all",  "-",    "-",    "-",    "-"),
    ("contacts",      "all",  "all",  "own",  "-",    "-",    "-"),
    ("assets",        "all",  "-",    "-",    "-",    "-",    "-"),
    ("interactions",  "all",  "all",  "own",  "-",    "-",    "-"),
    ("tickets",       "all",  "all",  "own",  "-",    "-",    "-"),
    ("opportunities", "all",  "all",  "own",  "-",    "-",    "-"),
    ("subscriptions", "all",  "-",    "-",    "-",    "-",    "-"),
    ("calls",         "all",  "-",    "-",    "-",    "-",    "-"),
    # the IVR's flows and number plan: what callers hear (changing them is for admins)
    ("ivr",           "all",  "-",    "-",    "-",    "-",    "-"),
    # outbound lists: take the next call of a list, record its outcome
    ("call_lists",    "all",  "-",    "all",  "-",    "-",    "-"),
    # "where is my order?" answered on the phone, whoever the caller's salesman is
    ("orders",        "all",  "-",    "-",    "-",    "-",    "-"),
)
_MANAGER = _matrix(
    # an account manager works on the customers they own, and nothing else
    ("customers",     "own",  "own",  "own",  "-",    "own",  "-"),
    *((m,             "own",  "own",  "own",  "-",    "own",  "-") for m in _RECORDS),
    ("calls",         "own",  "-",    "-",    "-",    "-",    "-"),
    ("reports",       "own",  "-",    "-",    "-",    "-",    "-"),
    # outbound lists: make them from a rule or a filter, steer them (and work them)
    ("call_lists",    "all",  "all",  "all",  "-",    "-",    "-"),
    ("orders",        "own",  "own",  "own",  "-",    "-",    "-"),
    # mail or text a group of their own customers (issue 18 item 4)
    ("mailings",      "own",  "own",  "own",  "-",    "-",    "-"),
)
_SUPERVISOR = _matrix(
    # a supervisor sees and steers their team's customers
    ("customers",     "team", "team", "team", "-",    "team", "team"),
    *((m,             "team", "team", "team", "-",    "team", "-") for m in _RECORDS),
    # calls:update = log (or correct) a call the team's agents took (crm_core.call_access)
    ("calls",         "team", "-",    "team", "-",    "-",    "-"),
    ("reports",       "team", "-",    "-",    "-",    "team", "-"),
    ("users",         "team", "-",    "-",    "-",    "-",    "-"),
    ("ivr",           "all",  "-",    "-",    "-",    "-",    "-"),
    # listen (read); whisper, barge, pause or sign out (update) the team's agents
    ("supervise",     "team", "-",    "team", "-",    "-",    "-"),
    ("call_lists",    "all",  "all",  "all",  "-",    "-",    "-"),
    ("orders",        "team", "team", "team", "-",    "-",    "-"),
    ("mailings",      "team", "team", "team", "-",    "-",    "-"),
)
_HOTLINE_SUPERVISOR = _matrix(
    # watches the whole hotline (every call, agent and caller; the live page, the
    # reports), steps in on any call: logs or corrects it for an agent (calls:update,
    # which needs interactions create/update) and follows up its tickets; sells nothing
    ("customers",     "all",  "-",    "-",    "-",    "-",    "-"),
    ("contacts",      "all",  "-",    "-",    "-",    "-",    "-"),
    ("assets",        "all",  "-",    "-",    "-",    "-",    "-"),
    ("interactions",  "all",  "all",  "all",  "-",    "-",    "-"),
    ("tickets",       "all",  "all",  "all",  "-",    "-",    "-"),
    ("opportunities", "all",  "-",    "-",    "-",    "-",    "-"),
    ("subscriptions", "all",  "-",    "-",    "-",    "-",    "-"),
    ("calls",         "all",  "-",    "all",  "-",    "-",    "-"),
    ("reports",       "all",  "-",    "-",    "-",    "all",  "-"),
    ("users",         "all",  "-",    "-",    "-",    "-",    "-"),
    ("ivr",           "all",  "-",    "-",    "-",    "-",    "-"),
    # listens to, whispers to, barges into any agent's call; pauses or signs out any agent
    ("supervise",     "all",  "-",    "all",  "-",    "-",    "-"),
    ("call_lists",    "all",  "all",  "all",  "-",    "-",    "-"),
    ("orders",        "all",  "-",    "-",    "-",    "-",    "-"),
)
_STATION = _matrix(
    # a service station's staff (StationUser): the tickets routed to their station,
    # which they accept, refuse, work on and resolve (issue 15)
    ("tickets",       "station", "-",  "station", "-", "-",    "-"),
)
_TECHNICIAN = _matrix(
    # a technician (Technician.user_id): the tickets assigned to him
    ("tickets",       "technician", "-", "technician", "-", "-", "-"),
)
# fmt: on

DEFAULT_ROLES: dict[str, RoleSpec] = {
    "agent": RoleSpec("hotline agent: any caller readable, logs calls and tickets", _AGENT),
    "manager": RoleSpec("account manager: own customers", _MANAGER),
    "supervisor": RoleSpec("supervisor: the team's customers, reassigns in the team", _SUPERVISOR),
    "hotline_supervisor": RoleSpec(
        "hotline supervisor: every call and agent of the hotline, live page, reports",
        _HOTLINE_SUPERVISOR),
    "station": RoleSpec("service station: its station's tickets (accept, refuse, resolve)",
                        _STATION),
    "technician": RoleSpec("technician: the tickets assigned to him", _TECHNICIAN),
    "admin": RoleSpec("administrator: everything", {}, is_admin=True),
}
NETWORK_ROLES = ("station", "technician")  # users of the service network (``/station``)

_SELF_EDITABLE = ("display_name", "language", "password_hash")
USER_UPDATE_FIELDS = (
    "display_name", "role", "team", "region", "language", "password_hash",
    "agent_interface", "agent_name", "active",
)


# --- roles -----------------------------------------------------------------------------


async def ensure_roles(session: AsyncSession) -> dict[str, int]:
    """Create each default role that is missing, with its default grants; ``{role name:
    role id}`` of the default roles. A role that exists is left as its admins made it."""
    ids: dict[str, int] = {}
    for name, spec in DEFAULT_ROLES.items():
        role_id = await session.scalar(select(Role.id).where(Role.name == name))
        if role_id is None:
            role = Role(name=name, description=spec.description)
            session.add(role)
            await session.flush()
            role_id = role.id
            session.add_all(
                RolePermission(role_id=role_id, module=module, operation=operation, scope=scope)
                for (module, operation), scope in spec.grants.items()
            )
        ids[name] = role_id
    await session.flush()
    return ids


# --- users -----------------------------------------------------------------------------


@dataclass(frozen=True)
class LoginInfo:
    """What signing in needs (the only place a password hash leaves this module)."""

    user_id: int
    password_hash: str | None
    active: bool


async def find_login(session: AsyncSession, username: str) -> LoginInfo | None:
    """The login data of ``username`` (None: no such user)."""
    user = await session.scalar(select(User).where(User.username == username))
    if user is None:
        return None
    return LoginInfo(user_id=user.id, password_hash=user.password_hash, active=user.active)


def _audit_view(user: User) -> dict[str, Any]:
    data = snapshot(user)
    if data.get("password_hash") is not None:
        data["password_hash"] = "***"
    return data


def _user_dict(user: User, role_name: str | None) -> dict[str, Any]:
    data = snapshot(user)
    data["has_password"] = data.pop("password_hash") is not None
    data["role"] = role_name
    return data


def _user_filter(actor: Actor, scope: str) -> ColumnElement[bool]:
    if scope == "all":
        return true()
    if scope == "team" and actor.team is not None:
        return User.team == actor.team
    if scope == "region" and actor.region is not None:
        return User.region == actor.region
    return User.id == actor.user_id


async def _role_by_name(session: AsyncSession, role: object) -> Role:
    name = required_text(role, "role", max_len=64)
    found = await session.scalar(select(Role).where(Role.name == name))
    if found is None:
        raise ValidationFailed("role", f"unknown role {name!r}")
    return found


def interface_name(value: object) -> str | None:
    """A queue member interface (``PJSIP/1001``), None for none, or ``ValidationFailed``."""
    interface = text(value, "agent_interface", max_len=100)
    if interface is not None and not _INTERFACE.match(interface):
        raise ValidationFailed("agent_interface",
                               "a PBX interface such as PJSIP/1001 or Local/1001@agents/n")
    return interface


def is_admin_role(role: Role) -> bool:
    """Whether ``role`` makes its users admins (the built-in ``admin`` role)."""
    spec = DEFAULT_ROLES.get(role.name)
    return spec is not None and spec.is_admin


async def _check_unique(
    session: AsyncSession, column: Any, value: str | None, field_name: str, user_id: int | None
) -> None:
    if value is None:
        return
    other = await session.scalar(select(User.id).where(column == value))
    if other is not None and other != user_id:
        raise ValidationFailed(field_name, f"{value!r} is already taken")


async def create_user(
    session: AsyncSession,
    actor: Actor,
    *,
    username: str,
    display_name: str,
    role: str,
    team: str | None = None,
    region: str | None = None,
    language: str = "zh-CN",
    password_hash: str | None = None,
    agent_interface: str | None = None,
    agent_name: str | None = None,
) -> dict[str, Any]:
    """A new active user with ``role`` (an admin role makes an admin)."""
    require(actor, "users", "create")
    name = required_text(username, "username", max_len=64)
    if not _USERNAME.match(name):
        raise ValidationFailed("username", "letters, digits and . _ @ - only")
    role_row = await _role_by_name(session, role)
    admin = is_admin_role(role_row)
    if admin and not actor.is_admin:
        raise PermissionDenied("users", "create")
    user = User(
        username=name,
        display_name=required_text(display_name, "display_name", max_len=100),
        role_id=role_row.id,
        team=text(team, "team", max_len=64),
        region=text(region, "region", max_len=64),
        language=choice(language, "language", LANGUAGES),
        password_hash=text(password_hash, "password_hash", max_len=500),
        agent_interface=interface_name(agent_interface),
        agent_name=text(agent_name, "agent_name", max_len=100),
        is_admin=admin,
        active=True,
    )
    await _check_unique(session, User.username, user.username, "username", None)
    await _check_unique(
        session, User.agent_interface, user.agent_interface, "agent_interface", None
    )
    session.add(user)
    await session.flush()
    audit(session, user_id=actor.user_id, action="create", entity="app_user",
          entity_id=user.id, after=_audit_view(user))
    return _user_dict(user, role_row.name)


async def _load_user(
    session: AsyncSession, actor: Actor, user_id: object, operation: str
) -> tuple[User, str | None]:
    if not is_id(user_id):
        raise NotFound("user", user_id)
    if user_id == actor.user_id and operation == "read":
        condition: ColumnElement[bool] = true()
    else:
        condition = _user_filter(actor, require(actor, "users", operation))
    row = (await session.execute(
        select(User, Role.name).outerjoin(Role, Role.id == User.role_id)
        .where(User.id == user_id, condition)
    )).first()
    if row is None:
        raise NotFound("user", user_id)
    return row[0], row[1]


async def get_user(session: AsyncSession, actor: Actor, user_id: int) -> dict[str, Any]:
    """One user (oneself always; others within the ``users`` read scope)."""
    user, role_name = await _load_user(session, actor, user_id, "read")
    return _user_dict(user, role_name)


async def list_users(
    session: AsyncSession,
    actor: Actor,
    *,
    active: bool | None = None,
    team: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> dict[str, Any]:
    """Users in the ``users`` read scope, by username: ``{items, total, limit, offset}``."""
    scope = require(actor, "users", "read")
    lim, off = check_page(limit, offset)
    stmt = (
        select(User, Role.name).outerjoin(Role, Role.id == User.role_id)
        .where(_user_filter(actor, scope)).order_by(User.username, User.id)
    )
    if active is not None:
        if not isinstance(active, bool):
            raise ValidationFailed("active", "must be true or false")
        stmt = stmt.where(User.active == active)
    if (team_name := text(team, "team", max_len=64)) is not None:
        stmt = stmt.where(User.team == team_name)
    rows, total = await paginate(session, stmt, lim, off)
    return page([_user_dict(u, r) for u, r in rows], total, lim, off)


async def update_user(
    session: AsyncSession, actor: Actor, user_id: int, changes_: Mapping[str, Any]
) -> dict[str, Any]:
    """Change some fields of a user (see ``USER_UPDATE_FIELDS``); audited before/after."""
    check_fields(changes_, USER_UPDATE_FIELDS)
    self_only = user_id == actor.user_id and all(k in _SELF_EDITABLE for k in changes_)
    if self_only:
        user, role_name = await _load_user(session, actor, user_id, "read")
    else:
        user, role_name = await _load_user(session, actor, user_id, "update")
    if user.is_admin and not actor.is_admin and not self_only:
        raise PermissionDenied("users", "update")
    before = _audit_view(user)
    for key, value in changes_.items():
        role_name = await _apply_user_change(session, actor, user, key, value, role_name)
    await session.flush()
    if before.get("is_admin") and before.get("active"):
        await _keep_an_admin(session)
    after = _audit_view(user)
    audit(session, user_id=actor.user_id, action="update", entity="app_user",
          entity_id=user.id, before=before, after=changes(before, after))
    return _user_dict(user, role_name)


async def _keep_an_admin(session: AsyncSession) -> None:
    """Refuse a change that leaves no active admin: nobody could administer any more."""
    left = await session.scalar(
        select(func.count()).select_from(User).where(User.is_admin, User.active)
    )
    if not left:
        raise Conflict("the last active admin cannot be deactivated or demoted")


async def _apply_user_change(
    session: AsyncSession, actor: Actor, user: User, key: str, value: Any,
    role_name: str | None,
) -> str | None:
    if key == "display_name":
        user.display_name = required_text(value, key, max_len=100)
    elif key == "language":
        user.language = choice(value, key, LANGUAGES)
    elif key == "password_hash":
        user.password_hash = text(value, key, max_len=500)
    elif key in ("team", "region", "agent_name"):
        setattr(user, key, text(value, key, max_len=100))
    elif key == "agent_interface":
        interface = interface_name(value)
        await _check_unique(session, User.agent_interface, interface, key, user.id)
        user.agent_interface = interface
    elif key == "active":
        if not isinstance(value, bool):
            raise ValidationFailed(key, "must be true or false")
        user.active = value
    elif key == "role":
        role_row = await _role_by_name(session, value)
        admin = is_admin_role(role_row)
        if admin and not actor.is_admin:
            raise PermissionDenied("users", "update")
        user.role_id, user.is_admin = role_row.id, admin
        return role_row.name
    return role_name


async def deactivate_user(session: AsyncSession, actor: Actor, user_id: int) -> dict[str, Any]:
    """Mark a user inactive (they can no longer sign in; their records stay)."""
    return await update_user(session, actor, user_id, {"active": False})


def can(actor: Actor, module: str, operation: str) -> bool:
    """Whether ``actor`` has any grant for ``operation`` on ``module`` (for UIs)."""
    return scope_for(actor, module, operation) is not None
