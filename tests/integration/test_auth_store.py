"""The sign-in state's stores against the real thing: the ``auth_record`` table on SQLite
and PostgreSQL, Redis, and the in-process one. Each is atomic per key across two
clients (two nodes), keeps what it holds across a reconnect (a restart), and reads
a record it cannot decode as absent."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update

from agent_console.api import auth_store as auth_store_module
from agent_console.api.auth_store import AuthStore, MemoryAuthStore, SqlAuthStore
from agent_console.api.auth_store_redis import RedisAuthStore
from crm_core.db import make_engine, upgrade_async
from crm_core.models import AuthRecord
from tests.conftest import PG_URL, _require, _reset_postgres

Factory = Callable[[], AuthStore]


@pytest.fixture(params=["sqlite", "postgres", "redis"])
async def stores(request: pytest.FixtureRequest, tmp_path: Path
                 ) -> AsyncIterator[tuple[str, Factory]]:
    """A factory of stores that share their state (as two nodes, or one restarted)."""
    made: list[AuthStore] = []
    if request.param == "redis":
        url, prefix = request.getfixturevalue("redis_url"), f"hotline:test:{uuid.uuid4().hex}:"

        def factory() -> AuthStore:
            made.append(RedisAuthStore(url, prefix))
            return made[-1]

        yield "redis", factory
        for store in made:
            await store.close()
        cleaner = RedisAuthStore(url, prefix)
        keys = [k async for k in cleaner._redis.scan_iter(match=prefix + "*")]
        if keys:
            await cleaner._redis.delete(*keys)
        await cleaner.close()
        return
    if request.param == "sqlite":
        db_url = f"sqlite+aiosqlite:///{tmp_path}/auth.db"
    else:  # what the postgres_url fixture does (an async fixture cannot ask for it here)
        _require("PostgreSQL", "127.0.0.1", 5432)
        await _reset_postgres()
        db_url = PG_URL
    await upgrade_async(db_url)
    engines = []

    def sql_factory() -> AuthStore:
        engines.append(make_engine(db_url))
        made.append(SqlAuthStore(engines[-1]))
        return made[-1]

    yield request.param, sql_factory
    for engine in engines:
        await engine.dispose()


def add_one(record: Any) -> tuple[Any, int]:
    n = (record or {}).get("n", 0) + 1
    return {"n": n}, n


async def test_records_are_written_read_changed_and_deleted(
    stores: tuple[str, Factory]
) -> None:
    _, make = stores
    store = make()
    assert await store.get("k") is None
    assert await store.modify("k", lambda r: (None, "nothing"), 60) == "nothing"
    assert await store.get("k") is None
    assert await store.modify("k", lambda r: ({"a": "中文", "n": 1.5}, r), 60) is None
    assert await store.get("k") == {"a": "中文", "n": 1.5}
    assert await store.modify("k", lambda r: ({"a": 2}, r), 60) == {"a": "中文", "n": 1.5}
    assert await store.modify("k", lambda r: (None, r), 60) == {"a": 2}
    assert await store.get("k") is None
    assert await store.get("other") is None


async def test_another_node_and_a_restart_see_the_same_records(
    stores: tuple[str, Factory]
) -> None:
    _, make = stores
    first = make()
    await first.modify("revoked:abc", lambda r: ({"until": 1e12}, None), 600)
    await first.close()
    assert await make().get("revoked:abc") == {"until": 1e12}


async def test_concurrent_changes_from_two_nodes_are_never_lost(
    stores: tuple[str, Factory]
) -> None:
    _, make = stores
    a, b = make(), make()
    results = await asyncio.gather(*(
        (a if i % 2 else b).modify("counter", add_one, 60) for i in range(40)))
    assert sorted(results) == list(range(1, 41))  # each change saw the one before it
    assert await a.get("counter") == {"n": 40}


async def test_a_record_it_cannot_decode_counts_as_absent(stores: tuple[str, Factory]) -> None:
    kind, make = stores
    store = make()
    await store.modify("k", lambda r: ({"n": 1}, None), 60)
    if kind == "redis":
        assert isinstance(store, RedisAuthStore)
        await store._redis.set(store.prefix + "k", b"\xff not json")
        await store._redis.set(store.prefix + "list", json.dumps([1, 2]))
        assert await store.get("list") is None
    else:
        assert isinstance(store, SqlAuthStore)
        async with store.engine.begin() as conn:
            await conn.execute(update(AuthRecord).values(value=[1, 2]))
    assert await store.get("k") is None
    assert await store.modify("k", add_one, 60) == 1  # and is replaced


async def test_expired_sql_rows_are_swept(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    await upgrade_async(db_url)
    engine = make_engine(db_url)
    try:
        store = SqlAuthStore(engine)
        await store.modify("old", lambda r: ({"n": 1}, None), 1)
        clock = [time.time() + 120]
        monkeypatch.setattr(auth_store_module.time, "time", lambda: clock[0])
        assert await store.get("old") is None  # past its ttl: gone for readers at once
        store._swept = 0.0
        await store.modify("new", lambda r: ({"n": 1}, None), 600)  # a write sweeps
        async with engine.connect() as conn:
            keys = (await conn.execute(select(AuthRecord.key))).scalars().all()
            assert keys == ["new"]
            assert await conn.scalar(select(func.count()).select_from(AuthRecord)) == 1
    finally:
        await engine.dispose()


async def test_the_memory_store_is_bounded() -> None:
    store = MemoryAuthStore(limit=3)
    for i in range(5):
        await store.modify(f"k{i}", lambda r: ({"n": 1}, None), 60)
    assert [await store.get(f"k{i}") for i in range(5)] == [None, None] + [{"n": 1}] * 3


async def test_a_sqlite_write_lock_held_past_the_busy_timeout_is_waited_out(
    tmp_path: Path
) -> None:
    """Another writer holds SQLite's lock longer than the busy timeout (a loaded node, a
    shift signing in): the change is tried again, not answered as an error."""
    db_url = f"sqlite+aiosqlite:///{tmp_path}/auth.db"
    await upgrade_async(db_url)
    engine = make_engine(db_url, sqlite_busy_timeout_s=0.05)
    holder = sqlite3.connect(tmp_path / "auth.db", isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        loop = asyncio.get_running_loop()
        loop.call_later(0.2, holder.execute, "COMMIT")
        store = SqlAuthStore(engine)
        assert await store.modify("k", lambda r: ({"n": 1}, "done"), 60) == "done"
        assert await store.get("k") == {"n": 1}
    finally:
        holder.close()
        await engine.dispose()
