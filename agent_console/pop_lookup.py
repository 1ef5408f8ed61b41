"""The screen pop's CRM side: the 360 view of a ringing call, as the agent may see it.

Rules:
- the IVR-named customer first (``HOTLINE_CUSTOMER_ID``), else the caller's number;
- the agent's own permissions apply (the CRM core's ``customers``/``read`` scope): a
  customer outside them pops as ``restricted``; an agent's actor is loaded at her
  socket's handshake (``remember``), or at her first pop;
- an unknown caller's view lists the duplicate candidates (existing customers with the
  caller name's key, the rule of ``crm_core.duplicates``), within the same time limit;
- a lookup that fails or runs out of time still gives a view (an unknown caller,
  ``lookup_failed``): the agent must see the call;
- the reader is warmed up (one lookup) before the first event, so the first pop is not
  cold.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agent_console import pop
from agent_console.recordings import with_recording_urls
from crm_core.lookup import Db, lookup_360, name_candidates, view_360
from crm_core.models import User
from crm_core.names import name_parts
from crm_core.permissions import Actor, load_actor
from numbering.regions import province_of_number
from telephony.events import AgentRinging

log = logging.getLogger("agent_console.hub")

LOOKUP_TIMEOUT_S = 2.0
MAX_CANDIDATES = 5


class PopLookup:
    """Resolves a ringing call's 360 view for the agent it rings."""

    def __init__(self, reader: Db, sessions: async_sessionmaker[AsyncSession], *,
                 region: str = "CN", recording_base_url: str = "",
                 counts: dict[str, int] | None = None) -> None:
        self.reader = reader
        self.sessions = sessions
        self.region = region
        self.recording_base_url = recording_base_url  # the pop's calls link their recordings
        self.actors: dict[str, Actor | None] = {}  # by interface: whose permissions apply
        self.counts = counts if counts is not None else {}
        self.counts.setdefault("lookup_failed", 0)

    def remember(self, interface: str, actor: Actor | None) -> None:
        """The permissions of the agent answering as ``interface`` (fresh at each
        handshake: a changed role applies from the next connect)."""
        self.actors[interface] = actor

    async def warm_up(self) -> None:
        """One lookup and one candidates query before the first pop: the reader's
        connections open, the statements compiled (and prepared on PostgreSQL)."""
        # the pop's province guess (``pop.record_part``) loads phonenumbers' geocoding
        # data at its first use: here, not in the first unknown caller's pop
        province_of_number("+8613800138000")

        async def one() -> None:
            await lookup_360(self.reader, "13800000000", region="CN")
            await name_candidates(self.reader, "warm-up", limit=MAX_CANDIDATES)

        try:
            async with asyncio.timeout(LOOKUP_TIMEOUT_S):
                # two at once: both of a default reader's connections are opened
                await asyncio.gather(one(), one())
        except Exception:
            log.warning("pop hub: warm-up lookup failed", exc_info=True)

    async def resolve(self, event: AgentRinging) -> dict[str, Any]:
        """The view to pop, whatever happens (time limit, failure: an unknown caller)."""
        # A lookup cut short (time limit, shutdown) is safe: LookupReader discards a
        # connection cancelled mid-statement, so no task or shield is needed here.
        try:
            async with asyncio.timeout(LOOKUP_TIMEOUT_S):
                return await self.lookup(event)
        except Exception:
            self.counts["lookup_failed"] += 1
            log.exception("pop hub: 360 lookup failed for %s", event.linkedid)
            return {"found": False, "phone": event.caller, "lookup_failed": True}

    async def lookup(self, event: AgentRinging) -> dict[str, Any]:
        actor = await self.actor_of(event.interface)
        customer_id = pop.ivr_customer_id(event.ivr)
        if customer_id is not None:
            view = await view_360(self.reader, customer_id, actor=actor)
            if view.get("found"):
                return with_recording_urls(view, self.recording_base_url)
        view = await lookup_360(self.reader, event.caller, region=self.region, actor=actor)
        if not view.get("found") and event.caller_name:
            view["candidates"] = await self._candidates(event)
        return with_recording_urls(view, self.recording_base_url)

    async def _candidates(self, event: AgentRinging) -> list[dict[str, Any]]:
        """Existing customers an unknown caller may be: the duplicate guard's name rule
        (``crm_core.duplicates``: same ``name_key``, places that agree, tombstones left
        out), as ONE indexed statement on the lookup's held connection (the pop's hot
        path)."""
        parts = name_parts(event.caller_name or "")
        rows = await name_candidates(self.reader, parts.key, limit=MAX_CANDIDATES,
                                     places=parts.places)
        return [{"id": r["id"], "name": r["name"], "reason": "name",
                 "owner": None if r["owner_id"] is None else {
                     "id": r["owner_id"], "display_name": r["owner_name"]}}
                for r in rows]

    async def actor_of(self, interface: str) -> Actor | None:
        """The permissions of the agent answering as ``interface`` (None: no such user,
        and then nobody can open a socket for that interface anyway)."""
        if interface in self.actors:
            return self.actors[interface]
        async with self.sessions() as db:
            user_id = await db.scalar(select(User.id).where(
                User.agent_interface == interface, User.active.is_(True)))
            actor = await load_actor(db, user_id) if user_id is not None else None
        self.actors[interface] = actor
        return actor
