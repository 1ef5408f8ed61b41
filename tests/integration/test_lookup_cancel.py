"""A lookup cut short mid-statement (lookup time limit, app stopping) on SQLite.

The next lookup runs, the connection is given back, and nothing is left running on
the event loop. An earlier version let SQLAlchemy be interrupted mid-statement: it
invalidated the connection, and a second cancel in that window made aiosqlite stop
its thread twice and wait forever on the second stop; the event loop's close then
hung (seen in CI as a stalled run). The two-cancel case failed that way.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from crm_core.db import make_engine, upgrade_async
from crm_core.lookup import LookupReader

# long enough to be cut short while aiosqlite's thread runs it
SLOW = text("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
            "WHERE x < 2000000) SELECT count(*) FROM c")


async def _slow(conn: Any) -> int:
    return int((await conn.execute(SLOW)).scalar_one())


async def _one(conn: Any) -> int:
    return int((await conn.execute(text("SELECT 1"))).scalar_one())


@pytest.mark.parametrize("cancels", [1, 2])
async def test_a_sqlite_lookup_cancelled_mid_statement_leaves_nothing_running(
        tmp_path: Path, cancels: int) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cancel.db'}"
    await upgrade_async(url)
    engine = make_engine(url)
    reader = LookupReader(engine, size=1)
    try:
        assert await reader.run(_one) == 1  # the held connection exists
        task = asyncio.create_task(reader.run(_slow))
        await asyncio.sleep(0.05)  # the statement is running on aiosqlite's thread
        for _ in range(cancels):  # a second cancel hits the shielded give-back
            task.cancel()
            await asyncio.sleep(0)
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await reader.run(_one) == 1  # the slot is free, a lookup still runs
    finally:
        await reader.close()
        await engine.dispose()
    # nothing of the cut-short lookup still runs (it would stall the loop's close)
    await asyncio.sleep(0)
    assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []
    assert engine.sync_engine.pool.checkedout() == 0  # type: ignore[attr-defined]
