"""The SLA sweeper of ``hotline serve``: with several nodes only the holder of the SLA
lease sweeps; when it stops, another takes over."""

from __future__ import annotations

import uuid
from pathlib import Path

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import async_sessionmaker

from crm_core.db import make_engine, upgrade_async
from hotline.lease import RedisLease
from hotline.sla_worker import SlaSweeper


async def test_one_node_sweeps_and_another_takes_over(tmp_path: Path, redis_url: str) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/hotline.db"
    await upgrade_async(url)
    engine = make_engine(url)
    redis = Redis.from_url(redis_url)
    key = f"hotline:test:{uuid.uuid4().hex}:sla-lease"
    maker = async_sessionmaker(engine, expire_on_commit=False)
    a = SlaSweeper(maker, interval_s=1, lease=RedisLease(redis, key, 3))
    b = SlaSweeper(maker, interval_s=1, lease=RedisLease(redis, key, 3))
    try:
        assert await a.run_once() is not None
        assert await b.run_once() is None
        assert await a.run_once() is not None  # renewed, still the one
        await a.close()  # gives the lease back
        assert await b.run_once() is not None
        assert await a.run_once() is None
    finally:
        await a.close()
        await b.close()
        await redis.delete(key, f"{key}:token")
        await redis.aclose()
        await engine.dispose()
