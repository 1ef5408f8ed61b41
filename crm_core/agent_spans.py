"""The agent state log's writer: closed state spans (``kpi.SpanRow``) into
``agent_state_span``, in batches, by one node.

Rules:
- ``offer`` is synchronous and never waits: it appends to a bounded buffer (the oldest
  spans are dropped and counted if the database stays away that long); a task writes
  the buffer every ``every_s`` seconds, or at once when ``batch`` spans wait, in ONE
  multi-row INSERT;
- only one node writes (``acts``: on several nodes, the holder of the AMI lease; every
  node keeps its own wallboard from the bus); spans offered while not acting are
  dropped (the acting node logs the same spans);
- each row gets the agent's user id and team from the users table, read again at most
  every ``teams_every_s`` seconds;
- a failed write keeps the batch for the next try (logged, counted), never raises.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from crm_core.kpi import SpanRow
from crm_core.models import AgentStateSpan, User

log = logging.getLogger("crm_core.agent_spans")


class SpanWriter:
    """Batches closed spans into the state log."""

    def __init__(self, engine: AsyncEngine, *, acts: Callable[[], bool] = lambda: True,
                 batch: int = 500, every_s: float = 1.0, limit: int = 200_000,
                 teams_every_s: float = 60.0) -> None:
        self.engine = engine
        self.acts = acts
        self.batch = batch
        self.every_s = every_s
        self.teams_every_s = teams_every_s
        self._buffer: deque[SpanRow] = deque(maxlen=limit)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._users: dict[str, tuple[int, str | None]] = {}
        self._users_at = float("-inf")
        self.counts = {"written": 0, "dropped": 0, "failed": 0, "not_acting": 0}

    def offer(self, spans: Iterable[SpanRow]) -> None:
        if not self.acts():
            self.counts["not_acting"] += sum(1 for _ in spans)
            return
        for span in spans:
            if len(self._buffer) == self._buffer.maxlen:
                self.counts["dropped"] += 1
            self._buffer.append(span)
        if len(self._buffer) >= self.batch:
            self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="agent-span-writer")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush()  # what the last second closed

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.every_s)
            self._wake.clear()
            await self.flush()

    async def flush(self) -> int:
        """Write every buffered span; the number written (0 on failure: kept for later)."""
        if not self._buffer:
            return 0
        spans = list(self._buffer)
        try:
            users = await self._users_now()
            rows = [_row(s, users.get(s.agent)) for s in spans]
            async with self.engine.begin() as conn:
                await conn.execute(insert(AgentStateSpan), rows)
        except Exception:
            self.counts["failed"] += 1
            log.exception("agent state log: %d spans not written yet", len(spans))
            return 0
        for _ in spans:
            self._buffer.popleft()
        self.counts["written"] += len(spans)
        return len(spans)

    async def _users_now(self) -> dict[str, tuple[int, str | None]]:
        if time.monotonic() - self._users_at >= self.teams_every_s:
            async with self.engine.connect() as conn:
                rows = await conn.execute(select(User.agent_interface, User.id, User.team)
                                          .where(User.agent_interface.is_not(None)))
                self._users = {str(i): (uid, team) for i, uid, team in rows}
            self._users_at = time.monotonic()
        return self._users


def _row(span: SpanRow, user: tuple[int, str | None] | None) -> dict[str, Any]:
    return {"agent_interface": span.agent, "user_id": user[0] if user else None,
            "team": span.team if span.team is not None else (user[1] if user else None),
            "state": span.state, "reason": span.reason, "linkedid": span.linkedid,
            "started_at": span.started_at, "ended_at": span.ended_at}
