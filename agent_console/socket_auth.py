"""Who a console socket belongs to, decided before the upgrade.

Rules:
- a foreign ``Origin`` -> 403; no valid session -> 401; a session signed out (on any
  node: ``revoked``) -> 401; an inactive user -> 401; a user who does not answer calls
  (no agent interface) -> 403;
- the agent's permissions are read fresh at every handshake: a changed role applies
  from the next connect.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web
from aiohttp_session import AbstractStorage
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from crm_core.models import User
from crm_core.permissions import Actor, load_actor

SessionCheck = Callable[[str], Awaitable[bool]]  # is this session id signed out?


@dataclass(frozen=True)
class Agent:
    """Who a socket belongs to."""

    user_id: int
    interface: str
    name: str | None
    sid: str = ""


class SocketAuth:
    """Authenticates console socket handshakes from the session cookie and the users
    table."""

    def __init__(self, storage: AbstractStorage, users: AsyncEngine,
                 sessions: async_sessionmaker[AsyncSession], *,
                 revoked: SessionCheck | None = None) -> None:
        self.storage = storage
        self.users = users
        self.sessions = sessions
        self.revoked = revoked

    async def authenticate(self, request: web.Request) -> tuple[Agent, Actor | None]:
        """The agent this handshake belongs to and her permissions, or an HTTP error
        before the upgrade."""
        origin = request.headers.get("Origin")
        if origin is not None and origin.split("://", 1)[-1] != request.host:
            raise web.HTTPForbidden(text="foreign origin")
        session = await self.storage.load_session(request)
        user_id, sid = session.get("uid"), session.get("sid")
        if session.new or not isinstance(user_id, int) or not isinstance(sid, str):
            raise web.HTTPUnauthorized(text="sign in first")
        if self.revoked is not None and await self.revoked(sid):
            raise web.HTTPUnauthorized(text="this session was signed out")
        async with self.users.connect() as conn:
            row = (await conn.execute(
                select(User.agent_interface, User.agent_name, User.active)
                .where(User.id == user_id)
            )).one_or_none()
        if row is None or not row.active:
            raise web.HTTPUnauthorized(text="sign in first")
        if not row.agent_interface:
            raise web.HTTPForbidden(text="this user does not answer calls")
        async with self.sessions() as db:
            actor = await load_actor(db, user_id)
        return Agent(user_id, row.agent_interface, row.agent_name, sid), actor
