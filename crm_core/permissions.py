"""Permissions on three levels: module, operation, data scope.

Rules:
- a role grants, per (module, operation), a data scope: ``own`` (customers the
  user owns), ``team`` (owned by anyone in the user's team), ``region`` (customers
  in the user's province), ``all``; no grant means no access at all;
- two scopes belong to the service network (issue 15) rather than to customers:
  ``station`` (the tickets routed to the user's station: ``StationUser``) and
  ``technician`` (the tickets assigned to the user as a ``Technician``). On tickets
  they limit the ticket rows (``ticket_filter``); on a customer they mean the customers
  with such a ticket. A user of such a role who is linked to no station (no
  technician) sees nothing. They rank below ``own`` (``widest``) and only the actors
  granted one of them pay the look-up of their station (``load_actor``);
- admins (``User.is_admin``) have every operation with scope ``all``;
- module ``supervise`` is a supervisor's hand on the agents (``crm_core.supervision``):
  ``read`` = listen to an agent's call unheard, ``update`` = whisper, barge, pause or
  sign out an agent; its scope applies to the AGENT (a user): ``own`` = oneself,
  ``team`` = the same team, ``region`` = the same region, ``all``;
- module ``call_lists`` (``crm_core.outbound_lists``): ``read``/``update`` = work a list
  (take the next entry, record its outcome), ``create``/``update`` = make and steer
  lists; a list is shown to everyone holding the grant (scope ``all``);
- module ``mailings`` (``crm_core.mailings``): ``read`` = see mailings and their
  recipients, ``create`` = send one to a group of customers (within the scope, which
  also limits the group), ``update`` = record bounces and opt-outs;
- ``require()`` is the gate of every service: it returns the scope or raises
  ``PermissionDenied``; ``customer_filter()`` turns a scope into the SQL condition
  that limits a query to the customers the user may see, so a record outside the
  scope is never loaded (the API answers 404 for it, never the record);
- records hanging off a customer (contacts, assets, tickets, interactions...) are
  visible exactly when their customer is;
- pure decisions (``scope_for``/``require``/``allows``) are separated from the
  SQL (``customer_filter``) and from loading the actor (``load_actor``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, false, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.models import Customer, RolePermission, StationUser, Technician, Ticket, User

MODULES = (
    "customers", "contacts", "assets", "interactions", "tickets", "opportunities",
    "subscriptions", "users", "reports", "calls", "ivr", "supervise", "call_lists",
    "stations", "orders", "mailings",
)
OPERATIONS = ("read", "create", "update", "delete", "export", "reassign")
SCOPES = ("own", "team", "region", "all", "station", "technician")
NETWORK_SCOPES = ("station", "technician")
_RANK = {"technician": -2, "station": -1, "own": 0, "team": 1, "region": 2, "all": 3}


class PermissionDenied(Exception):
    """The actor may not do this (module, operation) at all."""

    def __init__(self, module: str, operation: str) -> None:
        super().__init__(f"not allowed: {operation} on {module}")
        self.module = module
        self.operation = operation


@dataclass(frozen=True, kw_only=True)
class Actor:
    """Who is acting, with everything a permission decision needs."""

    user_id: int | None
    username: str = "system"
    team: str | None = None
    region: str | None = None
    is_admin: bool = False
    grants: Mapping[tuple[str, str], str] = field(default_factory=dict)
    language: str = "zh-CN"
    # the service station the user works for / the technician they are (network scopes)
    station_id: int | None = None
    technician_id: int | None = None


SYSTEM = Actor(user_id=None, username="system", is_admin=True)


def scope_for(actor: Actor, module: str, operation: str) -> str | None:
    """The data scope ``actor`` has for ``operation`` on ``module`` (None: none)."""
    if actor.is_admin:
        return "all"
    return actor.grants.get((module, operation))


def require(actor: Actor, module: str, operation: str) -> str:
    """The scope, or ``PermissionDenied``."""
    scope = scope_for(actor, module, operation)
    if scope is None:
        raise PermissionDenied(module, operation)
    return scope


def allows(
    actor: Actor, scope: str, *, owner_id: int | None, owner_team: str | None,
    province: str | None,
) -> bool:
    """Whether a customer with these attributes is inside ``scope`` for ``actor``."""
    if scope == "all":
        return True
    if scope == "own":
        return owner_id is not None and owner_id == actor.user_id
    if scope == "team":
        return actor.team is not None and owner_team == actor.team
    if scope == "region":
        return actor.region is not None and province == actor.region
    return False  # network scopes depend on the customer's tickets: see customer_filter


def ticket_filter(actor: Actor, scope: str) -> ColumnElement[bool] | None:
    """The SQL condition on ``Ticket`` of a network scope (None: a customer scope, which
    limits tickets through their customer)."""
    if scope == "station":
        if actor.station_id is None:
            return false()
        return Ticket.station_id == actor.station_id
    if scope == "technician":
        if actor.technician_id is None:
            return false()
        return Ticket.technician_id == actor.technician_id
    return None


def customer_filter(actor: Actor, scope: str) -> ColumnElement[bool]:
    """SQL condition on ``Customer`` limiting a query to ``scope``."""
    if scope == "all":
        return true()
    if scope == "own":
        return Customer.owner_id == actor.user_id
    if scope == "team":
        if actor.team is None:
            return Customer.owner_id == actor.user_id
        team_members = select(User.id).where(User.team == actor.team).scalar_subquery()
        return Customer.owner_id.in_(team_members)
    if scope == "region":
        if actor.region is None:
            return Customer.owner_id == actor.user_id
        return Customer.province == actor.region
    tickets = ticket_filter(actor, scope)
    if tickets is not None:  # the customers with a ticket at the station / of the technician
        return Customer.id.in_(select(Ticket.customer_id).where(tickets).scalar_subquery())
    raise ValueError(f"unknown scope {scope!r}")


def widest(a: str | None, b: str | None) -> str | None:
    """The wider of two scopes (a user's grants merge to the widest)."""
    if a is None:
        return b
    if b is None:
        return a
    return a if _RANK[a] >= _RANK[b] else b


async def load_actor(session: AsyncSession, user_id: int) -> Actor | None:
    """The actor for an active user, with their role's grants (None: no such user)."""
    user = await session.get(User, user_id)
    if user is None or not user.active:
        return None
    grants: dict[tuple[str, str], str] = {}
    if user.role_id is not None:
        rows = await session.execute(
            select(RolePermission.module, RolePermission.operation, RolePermission.scope)
            .where(RolePermission.role_id == user.role_id)
        )
        for module, operation, scope in rows:
            key = (module, operation)
            merged = widest(grants.get(key), scope)
            if merged is not None:
                grants[key] = merged
    station_id = technician_id = None
    if any(scope in NETWORK_SCOPES for scope in grants.values()):
        technician = (await session.execute(
            select(Technician.id, Technician.station_id).where(
                Technician.user_id == user.id, Technician.active))).first()
        if technician is not None:
            technician_id, station_id = technician
        linked = await session.scalar(
            select(StationUser.station_id).where(StationUser.user_id == user.id))
        if linked is not None:
            station_id = linked
    return Actor(
        user_id=user.id, username=user.username, team=user.team, region=user.region,
        is_admin=user.is_admin, grants=grants, language=user.language,
        station_id=station_id, technician_id=technician_id,
    )
