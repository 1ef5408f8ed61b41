"""Who works for a service station: a user of role ``station`` is linked to it
(``StationUser``), a user of role ``technician`` is one of its technicians
(``Technician.user_id``) (issue 15).

Rules:
- the link is what the network data scopes read (``permissions.load_actor``): a station
  user linked to no station, or a technician user who is no technician, sees nothing;
- ``link_to_station`` by the station's code: a station user gets (or moves to) that
  station; a technician user becomes a technician of it (an existing one of that
  station with the user's name and no login yet is taken over, else one is created);
  an unknown code, or another role, is a ``ValidationFailed``;
- needs ``users:update`` (scope checked like any user change: an admin, in practice);
  audited (entity ``app_user``, action ``link-station``); nothing here commits.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.audit import audit
from crm_core.errors import NotFound, ValidationFailed
from crm_core.models import Role, ServiceStation, StationUser, Technician, User
from crm_core.permissions import Actor, require
from crm_core.records import is_id, required_text
from crm_core.users import NETWORK_ROLES


async def station_by_code(session: AsyncSession, code: object) -> ServiceStation:
    """The station with this code (``ValidationFailed`` on ``station`` otherwise)."""
    clean = required_text(code, "station", max_len=64)
    station = await session.scalar(select(ServiceStation).where(ServiceStation.code == clean))
    if station is None:
        raise ValidationFailed("station", f"no service station has the code {clean!r}")
    return station


async def link_to_station(
    session: AsyncSession, actor: Actor, user_id: int, station_code: str
) -> dict[str, Any]:
    """Link the user (role station or technician) to the station ``station_code``."""
    require(actor, "users", "update")
    if not is_id(user_id):
        raise NotFound("user", user_id)
    row = (await session.execute(select(User, Role.name).outerjoin(Role, Role.id == User.role_id)
                                 .where(User.id == user_id))).first()
    if row is None:
        raise NotFound("user", user_id)
    user, role = row
    if role not in NETWORK_ROLES:
        raise ValidationFailed("station", f"only a user of role {' or '.join(NETWORK_ROLES)} "
                                          "works for a station")
    station = await station_by_code(session, station_code)
    out: dict[str, Any] = {"user_id": user.id, "station_id": station.id, "station": station.code}
    if role == "station":
        link = await session.get(StationUser, user.id)
        before = None if link is None else link.station_id
        if link is None:
            session.add(StationUser(user_id=user.id, station_id=station.id))
        else:
            link.station_id = station.id
    else:
        tech = await session.scalar(select(Technician).where(Technician.user_id == user.id))
        if tech is None:
            tech = await session.scalar(select(Technician).where(
                Technician.station_id == station.id, Technician.name == user.display_name,
                Technician.user_id.is_(None)).limit(1))
        before = None if tech is None else tech.station_id
        if tech is None:
            tech = Technician(station_id=station.id, name=user.display_name, skills=[])
            session.add(tech)
        tech.station_id, tech.user_id = station.id, user.id
        await session.flush()
        out["technician_id"] = tech.id
    await session.flush()
    audit(session, user_id=actor.user_id, action="link-station", entity="app_user",
          entity_id=user.id, before={"station_id": before}, after=out)
    return out
