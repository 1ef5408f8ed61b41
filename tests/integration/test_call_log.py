"""The call log on real databases: every test runs on SQLite and on PostgreSQL.

Migrations (from empty, twice, via ``hotline db upgrade``), a full round trip of a
CallSummary, idempotency by Linkedid (also under concurrency), customer matching by
caller number, ``latest()``, and the background writer: noise filtered, duplicates
collapsed, a locked / stalled / failing database survived without losing a record,
an unwritable record given up alone, ``close()`` draining.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import aiosqlite
import asyncpg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import exc as sa_exc
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import NullPool

from crm_core.call_log import CallLog, CallLogWriter, add_customer
from crm_core.db import alembic_config, make_engine, upgrade, upgrade_async
from crm_core.models import Base
from telephony.events import (
    AgentAttempt,
    AgentStateChanged,
    CallEnded,
    CallStarted,
    CallSummary,
    DomainEvent,
    Transfer,
)
from tests.integration.migration_support import migrate_to

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2024, 5, 1, 8, 30, 0, 123456, tzinfo=UTC)
from tests.conftest import PG_DSN  # noqa: E402

_END = object()


class QueueSubscription:
    """What the bus hands a lossless subscriber: an async iterator with ``close()``
    that ends the iteration after what is already queued."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        self.closed = False

    def publish(self, event: DomainEvent) -> None:
        self.queue.put_nowait(event)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.queue.put_nowait(_END)

    def __aiter__(self) -> QueueSubscription:
        return self

    async def __anext__(self) -> DomainEvent:
        item = await self.queue.get()
        if item is _END:
            raise StopAsyncIteration
        return item  # type: ignore[no-any-return]


def summary(linkedid: str, **overrides: Any) -> CallSummary:
    base: dict[str, Any] = {
        "linkedid": linkedid,
        "caller": "+8613800138000",
        "caller_name": "张伟",
        "did": "4008001234",
        "queues": ("support",),
        "agent": "Alice",
        "agent_interface": "PJSIP/1001",
        "started_at": T0,
        "queued_at": T0 + timedelta(seconds=5),
        "answered_at": T0 + timedelta(seconds=17),
        "ended_at": T0 + timedelta(seconds=77),
        "wait_s": 12,
        "ring_s": 3,
        "talk_s": 60,
        "hangup_by": "caller",
        "outcome": "answered",
    }
    base.update(overrides)
    return CallSummary(**base)


def ended(s: CallSummary) -> CallEnded:
    return CallEnded(at=s.ended_at, summary=s)


async def wait_for(predicate: Callable[[], Awaitable[bool] | bool], what: str) -> None:
    """Poll until ``predicate`` holds (a hang fails the test instead of blocking it)."""
    async with asyncio.timeout(20):
        while True:
            result = predicate()
            if isinstance(result, Awaitable):
                result = await result
            if result:
                return
            await asyncio.sleep(0.01)
    raise AssertionError(what)  # pragma: no cover


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    await upgrade_async(db_url)
    eng = make_engine(db_url, sqlite_busy_timeout_s=0.2)
    yield eng
    await eng.dispose()


@pytest.fixture
def call_log(engine: AsyncEngine) -> CallLog:
    return CallLog(engine)


# --- migrations ----------------------------------------------------------------------


async def _schema_diff(engine: AsyncEngine) -> list[Any]:
    def diff(sync_conn: Any) -> list[Any]:
        ctx = MigrationContext.configure(sync_conn, opts={"compare_type": True})
        return list(compare_metadata(ctx, Base.metadata))

    async with engine.connect() as conn:
        return await conn.run_sync(diff)


async def _tables(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))


async def test_migrations_apply_from_empty_and_are_idempotent(db_url: str) -> None:
    await upgrade_async(db_url)
    await upgrade_async(db_url)  # a second run changes nothing and does not fail
    upgrade(db_url)  # the sync entry, even when called from inside a running loop
    eng = make_engine(db_url)
    try:
        assert {"customer", "phone_number", "call_record", "alembic_version"} <= await _tables(eng)
        assert await _schema_diff(eng) == []  # migrations == models
        async with eng.connect() as conn:
            version = (await conn.execute(text("SELECT version_num FROM alembic_version"))).all()
        head = ScriptDirectory.from_config(alembic_config(db_url)).get_current_head()
        assert [v for (v,) in version] == [head]
    finally:
        await eng.dispose()


async def _run_cli(cwd: Path, url: str) -> tuple[int, str]:
    env = {**os.environ, "HOTLINE_DATABASE_URL": url, "PYTHONPATH": str(ROOT)}
    env.pop("HOTLINE_CONFIG", None)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hotline.cli", "db", "upgrade",
        cwd=cwd, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    return proc.returncode or 0, out.decode()


async def test_hotline_db_upgrade_cli(db_url: str, tmp_path: Path) -> None:
    elsewhere = tmp_path / "some" / "other" / "dir"  # not the checkout: migrations come
    elsewhere.mkdir(parents=True)  # from the package
    for _ in range(2):
        code, out = await _run_cli(elsewhere, db_url)
        assert code == 0, out
        assert "database at head" in out
    eng = make_engine(db_url)
    try:
        assert {"customer", "phone_number", "call_record"} <= await _tables(eng)
    finally:
        await eng.dispose()


async def test_sqlite_engine_settings_and_relative_path(db_url: str, tmp_path: Path) -> None:
    if make_url(db_url).get_backend_name() != "sqlite":
        eng = make_engine(db_url)
        try:
            async with eng.connect() as conn:
                assert (await conn.execute(text("SELECT 1"))).scalar_one() == 1
        finally:
            await eng.dispose()
        return
    # the embedded default is relative (var/hotline.db): var/ is created in the CWD
    code, out = await _run_cli(tmp_path, "sqlite+aiosqlite:///var/hotline.db")
    assert code == 0, out
    assert (tmp_path / "var" / "hotline.db").is_file()
    eng = make_engine(f"sqlite+aiosqlite:///{tmp_path}/new/dir/h.db")
    try:
        async with eng.connect() as conn:
            pragmas = {
                p: (await conn.execute(text(f"PRAGMA {p}"))).scalar_one()
                for p in ("journal_mode", "foreign_keys", "busy_timeout")
            }
        assert pragmas == {"journal_mode": "wal", "foreign_keys": 1, "busy_timeout": 5000}
    finally:
        await eng.dispose()


# --- reading and writing -------------------------------------------------------------


async def test_full_summary_round_trip(call_log: CallLog) -> None:
    beijing = timezone(timedelta(hours=8))
    full = summary(
        "1714552200.42",
        caller_name="北京博文进口图书有限公司 — 王芳",
        queues=("sales", "support"),
        agents_tried=(
            AgentAttempt(agent="Bob", interface="PJSIP/1002", queue="sales",
                         result="no-answer", ring_ms=15000),
            AgentAttempt(agent="Alice", interface="PJSIP/1001", queue="support",
                         result="answered", ring_ms=3200, talk_s=65),
        ),
        started_at=datetime(2024, 5, 1, 16, 30, 0, 123456, tzinfo=beijing),  # = T0
        transfers=(
            Transfer(kind="blind", by="Alice", target="2002", result="Success",
                     at=T0 + timedelta(seconds=70)),
        ),
        ivr={"lang": "zh", "menu": "2", "ticket": "T-1001"},
        outcome="transferred",
        hangup_by="transfer",
        recording="2024/05/01/1714552200.42.wav",
    )
    assert await call_log.record(full) is True
    got = await call_log.get(full.linkedid)
    assert got is not None
    json.dumps(got)  # JSON-ready
    assert CallSummary.from_dict(got) == full  # every field, same instants
    assert got["started_at"] == T0.isoformat()  # stored and given back as UTC
    assert got["ended_at"] == (T0 + timedelta(seconds=77)).isoformat()
    assert got["caller_name"] == "北京博文进口图书有限公司 — 王芳"
    assert got["agents_tried"][0] == {"agent": "Bob", "interface": "PJSIP/1002",
                                      "queue": "sales", "result": "no-answer", "ring_ms": 15000,
                                      "talk_s": None}
    assert got["agents_tried"][1]["talk_s"] == 65  # the answering agent's own talk
    assert got["customer_id"] is None and got["customer_name"] is None
    assert got["recording"] == "2024/05/01/1714552200.42.wav"
    assert datetime.fromisoformat(got["recorded_at"]).tzinfo is not None
    assert await call_log.get("no-such-call") is None


async def test_minimal_and_hostile_summary(call_log: CallLog) -> None:
    bare = CallSummary(linkedid="1.1", caller=None, caller_name=None, did=None)
    nasty = summary("1.2", caller_name="evil\x00name \udcff", ivr={"k\x00": "v\x00"})
    assert await call_log.record_many([bare, nasty]) == 2
    got = await call_log.get("1.1")
    assert got is not None
    assert CallSummary.from_dict(got) == bare
    assert got["recording"] is None  # a call without a recording
    got = await call_log.get("1.2")
    assert got is not None
    assert got["caller_name"] == "evilname ?"  # NUL dropped, lone surrogate replaced
    assert got["ivr"] == {"k": "v"}


async def test_same_linkedid_is_one_row(call_log: CallLog) -> None:
    a, b = summary("A.1"), summary("B.1")
    assert await call_log.record(a) is True
    assert await call_log.record(a) is False
    assert await call_log.record_many([a, b, b]) == 1  # a known; b once despite the copy
    assert await call_log.record_many([a, b]) == 0
    assert await call_log.count() == 2

    racers = await asyncio.gather(*(call_log.record(summary("C.1")) for _ in range(8)))
    assert sorted(racers) == [False] * 7 + [True]
    batches = [[summary(f"D.{i}") for i in range(j, j + 5)] for j in range(0, 15, 3)]
    new = await asyncio.gather(*(call_log.record_many(batch) for batch in batches))
    assert sum(new) == 17  # D.0 .. D.16, however the racing batches overlapped
    assert await call_log.count() == 2 + 1 + 17


async def test_customer_matched_by_caller_in_any_format(
    engine: AsyncEngine, call_log: CallLog
) -> None:
    bowen = await add_customer(engine, "北京博文进口图书有限公司", ["010-5129 7073", "13600136000"],
                               vip_tier=2)
    other = await add_customer(engine, "Lanxi Printers", ["0086-135-0013-5000", "not a number"])
    assert bowen != other
    calls = [
        summary("M.1", caller="+861051297073"),
        summary("M.2", caller="01051297073"),  # a raw caller id still matches
        summary("M.3", caller="+8613500135000"),
        summary("M.4", caller="+8613912345678"),  # unknown
        summary("M.5", caller=None),
    ]
    assert await call_log.record_many(calls) == 5
    found = {lid: await call_log.get(lid) for lid in ("M.1", "M.2", "M.3", "M.4", "M.5")}
    assert {k: (v or {}).get("customer_id") for k, v in found.items()} == {
        "M.1": bowen, "M.2": bowen, "M.3": other, "M.4": None, "M.5": None,
    }
    assert (found["M.1"] or {})["customer_name"] == "北京博文进口图书有限公司"
    async with engine.connect() as conn:
        rows = (await conn.execute(text(
            "SELECT number_e164, raw, kind FROM phone_number ORDER BY id"))).all()
    assert [tuple(r) for r in rows] == [
        ("+861051297073", "010-5129 7073", "landline"),
        ("+8613600136000", "13600136000", "mobile"),
        ("+8613500135000", "0086-135-0013-5000", "mobile"),
    ]


async def test_latest_newest_first_with_customer_name(
    engine: AsyncEngine, call_log: CallLog
) -> None:
    cid = await add_customer(engine, "华东医药包装有限公司", ["13800138000"])
    for i in (3, 1, 4, 0, 2):  # recorded out of order
        await call_log.record(summary(f"L.{i}", ended_at=T0 + timedelta(minutes=i),
                                      caller="+8613800138000" if i % 2 else "+8613912345678"))
    latest = await call_log.latest(3)
    assert [c["linkedid"] for c in latest] == ["L.4", "L.3", "L.2"]
    assert [c["customer_id"] for c in latest] == [None, cid, None]
    assert latest[1]["customer_name"] == "华东医药包装有限公司"
    assert latest[0]["ended_at"] == (T0 + timedelta(minutes=4)).isoformat()
    json.dumps(latest)
    assert [c["linkedid"] for c in await call_log.latest()] == [f"L.{i}" for i in (4, 3, 2, 1, 0)]


# --- the writer ----------------------------------------------------------------------


def _writer(call_log: CallLog, sub: QueueSubscription, **kw: Any) -> CallLogWriter:
    opts: dict[str, Any] = {"retry_min": 0.01, "retry_max": 0.05, "stall_timeout": 0.5}
    opts.update(kw)
    return CallLogWriter(call_log, sub, **opts)


async def test_writer_logs_each_call_ended_once(call_log: CallLog) -> None:
    sub = QueueSubscription()
    writer = _writer(call_log, sub, batch_max=7)
    await writer.start()
    for i in range(40):
        s = summary(f"W.{i}")
        sub.publish(CallStarted(at=T0, linkedid=s.linkedid, caller=s.caller,
                                caller_name=s.caller_name, did=s.did))
        sub.publish(AgentStateChanged(at=T0, interface="PJSIP/1001", agent="Alice",
                                      state="busy", paused=False, reason=""))
        sub.publish(ended(s))
        if i % 4 == 0:
            sub.publish(ended(s))  # a replayed event
    await wait_for(lambda: writer.written == 40, "all 40 calls written")
    await wait_for(lambda: writer.duplicates == 10, "replays seen as duplicates")
    assert writer.failures == 0 and writer.pending == 0 and writer.ignored == 80
    assert await call_log.count() == 40
    for i in range(40):  # after a restart the bus may replay: still one row each
        sub.publish(ended(summary(f"W.{i}")))
    await writer.close()
    assert await call_log.count() == 40
    assert writer.written == 40 and writer.duplicates == 50 and writer.pending == 0


async def _hold_lock(db_url: str, engine: AsyncEngine) -> Callable[[], Awaitable[None]]:
    """Lock call_record from another connection; returns the release."""
    url = make_url(db_url)
    if url.get_backend_name() == "sqlite":
        conn = await aiosqlite.connect(str(url.database))
        await conn.execute("BEGIN EXCLUSIVE")

        async def release_sqlite() -> None:
            await conn.rollback()
            await conn.close()

        return release_sqlite
    pg = await asyncpg.connect(PG_DSN)
    tr = pg.transaction()
    await tr.start()
    await pg.execute("LOCK TABLE call_record IN ACCESS EXCLUSIVE MODE")

    async def release_pg() -> None:
        await tr.rollback()
        await pg.close()

    return release_pg


async def test_writer_survives_a_locked_database(
    db_url: str, engine: AsyncEngine, call_log: CallLog
) -> None:
    sub = QueueSubscription()
    writer = _writer(call_log, sub, batch_max=10, stall_timeout=0.3)
    await writer.start()
    release = await _hold_lock(db_url, engine)
    try:
        for i in range(25):
            sub.publish(ended(summary(f"X.{i}")))
        await wait_for(lambda: writer.retries >= 3, "writes fail while the table is locked")
        assert writer.written == 0 and writer.pending == 25
    finally:
        await release()
    await wait_for(lambda: writer.written == 25, "everything written once the lock is gone")
    assert writer._writer is not None and not writer._writer.done()  # never crashed
    sub.publish(ended(summary("X.after")))
    await wait_for(lambda: writer.written == 26, "and it carries on")
    await writer.close()
    assert await call_log.count() == 26
    assert writer.failures == 0 and writer.duplicates == 0


async def test_writer_survives_a_stalled_then_failing_database(
    call_log: CallLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = CallLog.record_many
    calls = 0
    seen: list[str] = []

    async def flaky(self: CallLog, summaries: Any) -> int:
        nonlocal calls
        calls += 1
        if calls <= 2:
            await asyncio.Event().wait()  # the database does not answer at all
        # the stalls are over: a real write may take its time on a busy machine, so the
        # short limit that made the stalls quick must not cut it short too
        writer.stall_timeout = 30.0
        if calls <= 4:
            raise sa_exc.OperationalError("INSERT", {}, Exception("server closed the connection"))
        seen.extend(s.linkedid for s in summaries)
        return await real(self, summaries)

    monkeypatch.setattr(CallLog, "record_many", flaky)
    sub = QueueSubscription()
    writer = _writer(call_log, sub, batch_max=50, stall_timeout=0.05)
    await writer.start()
    for i in range(30):
        sub.publish(ended(summary(f"S.{i}")))
    await wait_for(lambda: writer.written == 30, "all written after the stall")
    assert writer.retries == 4 and writer.failures == 0
    assert sorted(seen) == sorted(f"S.{i}" for i in range(30))  # each once
    await writer.close()
    assert await call_log.count() == 30


async def _reject_caller_trigger(db_url: str, engine: AsyncEngine) -> None:
    """A constraint the call log knows nothing about: callers '+000' are refused."""
    async with engine.begin() as conn:
        if make_url(db_url).get_backend_name() == "sqlite":
            await conn.execute(text(
                "CREATE TRIGGER reject_caller BEFORE INSERT ON call_record "
                "WHEN NEW.caller = '+000' BEGIN SELECT RAISE(ABORT, 'caller refused'); END"))
            return
        await conn.execute(text(
            "CREATE FUNCTION reject_caller() RETURNS trigger AS $$ BEGIN "
            "IF NEW.caller = '+000' THEN RAISE EXCEPTION 'caller refused' "
            "USING ERRCODE = 'check_violation'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql"))
        await conn.execute(text(
            "CREATE TRIGGER reject_caller BEFORE INSERT ON call_record "
            "FOR EACH ROW EXECUTE FUNCTION reject_caller()"))


async def test_writer_gives_up_an_unwritable_record_alone(
    db_url: str, engine: AsyncEngine, call_log: CallLog, caplog: pytest.LogCaptureFixture
) -> None:
    await _reject_caller_trigger(db_url, engine)
    sub = QueueSubscription()
    writer = _writer(call_log, sub, batch_max=100)
    caplog.set_level(logging.ERROR, logger="crm_core.call_log")
    for i in range(10):
        sub.publish(ended(summary(f"U.{i}", caller="+000" if i == 4 else "+8613800138000")))
    sub.publish(ended(CallSummary(linkedid="", caller="1", caller_name=None, did=None)))
    await writer.start()  # starting late: all 11 go in one batch
    await wait_for(lambda: writer.written == 9, "the good records are written")
    await wait_for(lambda: writer.failures == 2, "the two bad ones are given up")
    assert await call_log.get("U.4") is None
    assert await call_log.count() == 9
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert any('"linkedid": "U.4"' in m and "NOT written" in m for m in errors), errors
    sub.publish(ended(summary("U.after")))
    await wait_for(lambda: writer.written == 10, "nothing blocked behind them")
    await writer.close()


async def test_close_drains_what_is_queued(
    call_log: CallLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = CallLog.record_many

    async def slow(self: CallLog, summaries: Any) -> int:
        await asyncio.sleep(0.01)
        return await real(self, summaries)

    monkeypatch.setattr(CallLog, "record_many", slow)
    sub = QueueSubscription()
    writer = _writer(call_log, sub, batch_max=5)
    await writer.start()
    for i in range(60):
        sub.publish(ended(summary(f"C.{i}")))
    await writer.close()  # straight away: most of it is still queued
    assert writer.pending == 0 and writer.written == 60
    assert await call_log.count() == 60
    await writer.close()  # twice is harmless


# --- direction ----------------------------------------------------------------------------


async def test_outbound_call_linked_by_the_number_dialled(
    engine: AsyncEngine, call_log: CallLog
) -> None:
    cid = await add_customer(engine, "华东医药包装有限公司", ["138 0013 8000"])
    out = summary("O.1", caller="+8613800138000", caller_name=None, did=None, queues=(),
                  queued_at=None, wait_s=None, ring_s=None, hangup_by="customer",
                  direction="outbound", ivr={"HOTLINE_ORIGINATED_BY": "alice"})
    inbound = summary("O.2", caller="+8613800138000")
    assert await call_log.record_many([out, inbound]) == 2
    got = await call_log.get("O.1")
    assert got is not None
    assert (got["direction"], got["customer_id"], got["customer_name"]) == (
        "outbound", cid, "华东医药包装有限公司")
    assert CallSummary.from_dict(got) == out
    assert (await call_log.get("O.2") or {})["direction"] == "inbound"


async def test_direction_of_an_older_or_odd_summary_is_inbound(call_log: CallLog) -> None:
    class Older:  # a producer from before direction existed: no such attribute
        def __init__(self, s: CallSummary) -> None:
            self._s = s

        def __getattr__(self, name: str) -> Any:
            if name == "direction":
                raise AttributeError(name)
            return getattr(self._s, name)

        def to_dict(self) -> dict[str, Any]:
            d = self._s.to_dict()
            d.pop("direction")
            return d

    odd = summary("Q.2", direction="sideways")
    assert await call_log.record_many([Older(summary("Q.1")), odd]) == 2  # type: ignore[list-item]
    assert [(await call_log.get(lid) or {})["direction"] for lid in ("Q.1", "Q.2")] == [
        "inbound", "inbound"]


async def test_calls_logged_before_0012_are_inbound(db_url: str) -> None:
    engine = make_engine(db_url, poolclass=NullPool)
    try:
        async with engine.begin() as conn:
            await migrate_to(conn, db_url, "0011")
            await conn.execute(text(
                "INSERT INTO call_record (linkedid, queues, agents_tried, transfers, ivr, "
                "outcome, recorded_at) VALUES ('old.1', '[]', '[]', '[]', '{}', 'answered', "
                "CURRENT_TIMESTAMP)"))
        async with engine.begin() as conn:
            await migrate_to(conn, db_url, "head")
        got = await CallLog(engine).get("old.1")
    finally:
        await engine.dispose()
    assert got is not None and got["direction"] == "inbound"
