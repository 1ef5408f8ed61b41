"""Any SQLite statement cut short twice leaves nothing waiting (not only the lookups').

aiosqlite 0.22.1 queues one "stop" per ``stop()`` call and its worker thread exits at the
first. A statement cancelled mid-run makes SQLAlchemy close the connection (a shielded
close that ends with a stop); a second cancel in that window makes it force-stop too,
so the shielded close's own stop went to a thread that had already exited and waited
forever: the event loop's close then hung (seen in CI with the screen-pop lookups, which
``LookupReader`` guards). ``crm_core.db`` gives every SQLite engine a connection that
stops its thread once, so an ORM session or a plain connection cancelled twice is safe.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import async_sessionmaker

from crm_core.db import make_engine

# long enough to be cut short while aiosqlite's thread runs it
SLOW = text("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
            "WHERE x < 3000000) SELECT count(*) FROM c")


async def _left_running(limit_s: float = 10.0) -> list[asyncio.Task[object]]:
    """Tasks other than this one still pending after they were given ``limit_s``."""
    others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    if not others:
        return []
    _, pending = await asyncio.wait(others, timeout=limit_s)
    return list(pending)


@pytest.mark.parametrize("via", ["connection", "session"])
@pytest.mark.parametrize("cancels", [1, 2, 3])
async def test_a_statement_cancelled_mid_run_leaves_nothing_waiting(
        tmp_path: Path, cancels: int, via: str) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'cancel.db'}")
    sessions = async_sessionmaker(engine)

    async def slow() -> int:
        if via == "session":
            async with sessions() as session:
                return int((await session.execute(SLOW)).scalar_one())
        async with engine.connect() as conn:
            return int((await conn.execute(SLOW)).scalar_one())

    try:
        async with engine.connect() as conn:  # the pool holds a connection
            assert (await conn.execute(text("SELECT 1"))).scalar_one() == 1
        task = asyncio.create_task(slow())
        await asyncio.sleep(0.05)  # the statement runs on aiosqlite's thread
        for _ in range(cancels):  # later cancels hit SQLAlchemy's shielded close
            task.cancel()
            await asyncio.sleep(0)
        with pytest.raises(asyncio.CancelledError):
            await task
        async with engine.connect() as conn:  # the engine still works
            assert (await conn.execute(text("SELECT 2"))).scalar_one() == 2
    finally:
        await engine.dispose()
    assert await _left_running() == []
