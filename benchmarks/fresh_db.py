"""An empty database for a benchmark: the SQLite file (and its WAL) deleted, or
PostgreSQL's public schema dropped and made again. ``PG_URL`` is the test settings'
PostgreSQL database (``HOTLINE_TEST_PG_DB``, default ``test``): its schema is dropped."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import asyncpg

PG_URL = ("postgresql+asyncpg://postgres@127.0.0.1:5432/"
          f"{os.environ.get('HOTLINE_TEST_PG_DB', 'test')}")


def fresh_sqlite(url: str) -> None:
    path = Path(url.split("///", 1)[1])
    path.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


async def fresh(url: str) -> None:
    """Make the database of ``url`` empty (nothing migrated yet)."""
    if url.startswith("sqlite"):
        await asyncio.to_thread(fresh_sqlite, url)
        return
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    try:
        await conn.execute("DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public;")
    finally:
        await conn.close()
