"""Daily jobs run once across nodes: a claim per job and business day in Redis.

``hotline crm daily`` is started by cron (or a systemd timer) on every node of a
cluster; with the Redis bus, the first to claim ``<stream>:daily:<job>:<day>`` runs the
job, the others see the claim and skip it. A run that fails gives its claim back, so the
next attempt (another node, or cron again) runs it. Without Redis (one node) there is
nothing to coordinate: the job simply runs (it is safe to run twice anyway).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any, TypeVar

from redis.asyncio import Redis

T = TypeVar("T")

CLAIM_S = 2 * 24 * 3600  # kept past the day, so a late cron on another node still skips


def claim_key(stream: str, job: str, day: date) -> str:
    return f"{stream}:daily:{job}:{day.isoformat()}"


async def run_once(redis: Redis, stream: str, job: str, day: date, who: str,
                   run: Callable[[], Awaitable[T]]) -> tuple[bool, T | str]:
    """``(True, result)`` if this node ran the job, ``(False, holder)`` if ``holder``
    had already claimed it for ``day``."""
    key = claim_key(stream, job, day)
    if not await redis.set(key, who, nx=True, ex=CLAIM_S):
        holder: Any = await redis.get(key)
        return False, holder.decode() if isinstance(holder, bytes) else str(holder)
    try:
        return True, await run()
    except BaseException:
        await redis.delete(key)  # not done: the next attempt runs it
        raise
