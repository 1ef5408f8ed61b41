"""Web imports run in the background (agent_console.api.import_runner) with their
record where every node reads it: the database's auth_record table (SQLite,
PostgreSQL) or Redis with the Redis bus. A job started on one node is followed to its
end from another; a job stopped by a shutdown says so, and its upload is deleted."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from agent_console.api import import_runner
from agent_console.api.auth_store import AuthStore, SqlAuthStore
from agent_console.api.auth_store_redis import RedisAuthStore
from agent_console.api.import_runner import ImportRunner
from crm_core.db import make_engine, upgrade_async
from crm_core.models import Customer
from crm_core.permissions import SYSTEM

CSV = "客户名称,电话\n苏州新华书店有限公司,0512-6522 1234\n坏号码公司,abc\n"


@pytest.fixture(params=["database", "redis"])
async def nodes(request: pytest.FixtureRequest, db_url: str
                ) -> AsyncIterator[tuple[Any, Callable[[], AuthStore]]]:
    """The CRM's sessionmaker, and a factory of stores sharing one state (two nodes)."""
    await upgrade_async(db_url)
    engine = make_engine(db_url)
    made: list[AuthStore] = []
    prefix = f"hotline:test:{uuid.uuid4().hex}:"

    def store() -> AuthStore:
        if request.param == "redis":
            made.append(RedisAuthStore(request.getfixturevalue("redis_url"), prefix))
        else:
            made.append(SqlAuthStore(engine))
        return made[-1]

    if request.param == "redis":
        request.getfixturevalue("redis_url")  # skipped (loudly) or failed in CI without it
    yield async_sessionmaker(engine, expire_on_commit=False), store
    for one in made:
        await one.close()
    await engine.dispose()


def node(shared: AuthStore) -> ImportRunner:
    """One node's runner on the shared store."""
    return ImportRunner(store_of=lambda: shared, clock=time.time)


async def upload(runner: ImportRunner, text: str, name: str = "名单.csv") -> Path:
    folder = await runner.folder()

    async def chunks() -> AsyncIterator[bytes]:
        yield text.encode("utf-8")

    return await import_runner.receive(chunks(), folder, name, 1 << 20)


async def until_finished(runner: ImportRunner, job_id: str) -> dict[str, Any]:
    for _ in range(400):
        record = await runner.record(job_id)
        assert record is not None
        if record["state"] != "running":
            return record
        await asyncio.sleep(0.05)
    raise AssertionError("never finished")


async def test_a_job_started_on_one_node_is_followed_from_another(nodes: Any) -> None:
    sessionmaker, store = nodes
    first, other = node(store()), node(store())
    path = await upload(first, CSV)
    started = await first.start(actor=SYSTEM, sessionmaker=sessionmaker, path=path,
                                dry_run=False, default_owner=None, region="CN")
    record = await until_finished(other, started["id"])
    assert record["state"] == "done" and record["done"] == record["total"] == 2
    assert [i["row"] for i in record["issues"]] == [3]
    assert not path.parent.exists()  # the upload is gone once imported
    async with sessionmaker() as db:
        assert await db.scalar(select(func.count()).select_from(Customer)) == 1
    await first.close()
    await other.close()


async def test_a_job_stopped_at_shutdown_reads_interrupted(nodes: Any, monkeypatch: Any
                                                           ) -> None:
    sessionmaker, store = nodes
    entered = asyncio.Event()

    async def endless(*_args: Any, **_kw: Any) -> Any:
        entered.set()
        await asyncio.Event().wait()  # an import that would run past the shutdown

    monkeypatch.setattr(import_runner.importer, "import_file", endless)
    runner = node(store())
    path = await upload(runner, CSV)
    started = await runner.start(actor=SYSTEM, sessionmaker=sessionmaker, path=path,
                                 dry_run=False, default_owner=None, region="CN")
    await entered.wait()
    assert runner.running_for(SYSTEM.user_id)
    await runner.close()
    record = await runner.record(started["id"])
    assert record is not None and record["state"] == "interrupted"
    assert "shut down" in record["error"]
    assert not path.parent.exists() and not runner.running_for(SYSTEM.user_id)


async def test_an_upload_past_the_limit_is_refused_and_removed(tmp_path: Path) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(5):
            yield b"x" * 100

    with pytest.raises(import_runner.TooLarge):
        await import_runner.receive(chunks(), tmp_path, "big.csv", 250)
    assert not (tmp_path / "big.csv").exists()
