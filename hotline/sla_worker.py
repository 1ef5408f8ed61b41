"""The SLA sweep in ``hotline serve``: ``crm_core.sla.sweep`` every ``sla_sweep_s``.

With several nodes (Redis bus) only one sweeps: the holder of a lease of its own in
Redis (``<stream>:sla-lease``, ``hotline.lease.RedisLease``), renewed each round and
lasting three rounds, so a node that dies hands the sweep to another within three
rounds. Should two ever sweep at once (a paused holder), the sweep's row locks (``FOR
UPDATE SKIP LOCKED``) and the outbox's unique event keys still fire each step once.
A failing round is logged and the next one runs as usual.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_core.models import utcnow
from crm_core.sla import SweepResult, sweep
from hotline.cancelling import stop_if_cancelled
from hotline.lease import RedisLease

log = logging.getLogger("hotline.sla")


class SlaSweeper:
    """Runs the sweep every ``interval_s`` while this node leads."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], *, interval_s: float,
                 director: str | None = None, lease: RedisLease | None = None,
                 clock: Callable[[], datetime] = utcnow,
                 on_swept: Callable[[SweepResult], None] | None = None) -> None:
        self.sessionmaker, self.interval_s = sessionmaker, interval_s
        self.director, self.lease, self.clock = director or None, lease, clock
        self.on_swept = on_swept
        self.token: int | None = None
        self._task: asyncio.Task[None] | None = None

    async def leads(self) -> bool:
        """Is this node the one that sweeps (always, without a lease)?"""
        if self.lease is None:
            return True
        if self.token is not None and await self.lease.renew(self.token):
            return True
        self.token = await self.lease.acquire()
        return self.token is not None

    async def run_once(self) -> SweepResult | None:
        """One round: the sweep if this node leads, else None."""
        if not await self.leads():
            return None
        async with self.sessionmaker.begin() as session:
            result = await sweep(session, self.clock(), director=self.director)
        if result.warnings or result.escalations:
            log.info("SLA sweep: %s warnings, %s escalations, %s messages",
                     result.warnings, result.escalations, result.messages)
        if self.on_swept is not None:
            self.on_swept(result)
        return result

    async def _run(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:
                stop_if_cancelled()
                log.exception("SLA sweep failed; next round in %ss", self.interval_s)
            await asyncio.sleep(self.interval_s)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="sla-sweeper")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self.lease is not None and self.token is not None:
            with contextlib.suppress(Exception):
                await self.lease.release(self.token)
            self.token = None
