"""A call travels from the (simulated) PBX to a logged record, end to end.

Everything real: the simulator is an AMI server on a TCP port, the app connects
to it like to Asterisk, events go through the tracker and the bus (in-process or
Redis) to the call log (SQLite or PostgreSQL) and to the live page's websocket.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import unquote

import asyncpg
import pytest
import websockets
from aiohttp import ClientSession, web

from crm_core.call_log import add_customer
from crm_core.db import make_engine, upgrade_async
from hotline.app import AMI, CALL_LOG, FEED, TRACKER, WRITER, create_app
from hotline.settings import Settings
from telephony.simulator import CallScript, PbxSimulator
from tests.conftest import PG_DSN
from tests.integration.console_support import cookie_for, seed_agents

TIME_SCALE = 0.02  # wall seconds per simulated second


async def eventually(
    probe: Callable[[], Awaitable[Any]], *, within: float = 30.0, what: str = "condition"
) -> Any:
    """Poll ``probe`` until it returns something truthy (tests assert behaviour, not timing)."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        value = await probe()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


@asynccontextmanager
async def hotline_app(
    db_url: str, sim: PbxSimulator, *, bus: str = "memory", redis_stream: str = "hotline:events"
) -> AsyncIterator[tuple[web.Application, str]]:
    settings = Settings(
        database_url=db_url, bus=bus, redis_stream=redis_stream, ami_port=sim.port,
        ami_ping_interval_s=0.5, ami_ping_timeout_s=1.0, ami_reconnect_min_s=0.05,
        ami_reconnect_max_s=0.3, http_port=0,
    )
    app = create_app(settings)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        await app[AMI].wait_connected(10)
        yield app, f"127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@pytest.fixture
async def sim() -> AsyncIterator[PbxSimulator]:
    pbx = PbxSimulator(time_scale=TIME_SCALE)
    await pbx.start()
    yield pbx
    await pbx.close()


async def logged(app: web.Application, linkedid: str) -> dict[str, Any] | None:
    return await app[CALL_LOG].get(linkedid)


@pytest.mark.parametrize("bus", ["memory", "redis"])
async def test_answered_call_is_logged_against_the_customer(
    db_url: str, sim: PbxSimulator, bus: str, redis_stream: str, request: pytest.FixtureRequest
) -> None:
    if bus == "redis":
        request.getfixturevalue("redis_url")
    await upgrade_async(db_url)
    engine = make_engine(db_url)
    customer_id = await add_customer(
        engine, "华东医药包装有限公司", ["+86 138 0013 8000"], vip_tier=2
    )
    await engine.dispose()

    async with hotline_app(db_url, sim, bus=bus, redis_stream=redis_stream) as (app, _):
        call = sim.place_call(caller="13800138000", name="Wang Fang", did="4008001234")
        await asyncio.wait_for(call.done, 30)
        row = await eventually(lambda: logged(app, call.linkedid), what="the call record")

    assert row["caller"] == "+8613800138000"
    assert row["caller_name"] == "Wang Fang"
    assert row["did"] == "4008001234"
    assert row["outcome"] == "answered"
    assert row["agent"] == "Alice"
    assert row["customer_id"] == customer_id
    assert row["customer_name"] == "华东医药包装有限公司"
    assert row["queues"] == ["support"]
    assert row["talk_s"] is not None and row["wait_s"] is not None


async def test_live_page_pushes_calls_over_a_websocket(tmp_path: Any, sim: PbxSimulator) -> None:
    db_url = f"sqlite+aiosqlite:///{tmp_path}/live.db"
    await seed_agents(db_url)
    async with hotline_app(db_url, sim) as (app, host):
        # callers' numbers and names are for staff: nothing without signing in
        async with ClientSession() as http:
            async with http.get(f"http://{host}/live", allow_redirects=False) as resp:
                assert resp.status == 302
                assert unquote(resp.headers["Location"]) == "/login?next=/live"
            async with http.get(f"http://{host}/api/calls") as resp:
                assert resp.status == 401
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with websockets.connect(f"ws://{host}/ws"):
                pass
        assert refused.value.response.status_code == 401

        signed_in = {"Cookie": await cookie_for(int(host.rsplit(":", 1)[1]), "alice")}
        async with ClientSession(headers=signed_in) as http:
            async with http.get(f"http://{host}/live") as resp:
                assert resp.status == 200
                assert "live.js" in await resp.text()
        async with websockets.connect(f"ws://{host}/ws", additional_headers=signed_in) as ws:
            first = json.loads(await ws.recv())
            assert first["v"] == 1 and first["type"] == "snapshot"
            call = sim.place_call(caller="13700137000", name="<img src=x onerror=alert(1)>")
            seen: list[str] = []
            while "CallEnded" not in seen:
                frame = json.loads(await asyncio.wait_for(ws.recv(), 30))
                assert frame["v"] == 1
                event = frame["event"]
                if event.get("linkedid", event.get("summary", {}).get("linkedid")) == call.linkedid:
                    seen.append(event["type"])
            assert seen[0] == "CallStarted"
            assert {"CallQueued", "AgentRinging", "CallAnswered"} <= set(seen)
        await eventually(lambda: logged(app, call.linkedid), what="the call record")
        async with ClientSession(headers=signed_in) as http:
            async with http.get(f"http://{host}/api/calls") as resp:
                body = await resp.json()
        latest = [c for c in body["latest"] if c["linkedid"] == call.linkedid]
        assert latest and latest[0]["caller_name"] == "<img src=x onerror=alert(1)>"


async def test_pbx_link_dropped_mid_call_is_logged_exactly_once(
    db_url: str, sim: PbxSimulator
) -> None:
    async with hotline_app(db_url, sim) as (app, _):
        call = sim.place_call(caller="13600136000", name="Zhao Lei",
                              script=CallScript(talk=150.0))
        await eventually(
            lambda: _state(app, call.linkedid, "talking"), what="the call to be answered"
        )
        connects = app[AMI].stats["connects"]
        await sim.drop_connections()  # the PBX link dies in the middle of the conversation
        await eventually(lambda: _reconnected(app, connects), what="the AMI link to come back")
        await asyncio.wait_for(call.done, 30)
        row = await eventually(lambda: logged(app, call.linkedid), what="the call record")
        assert await app[CALL_LOG].count() == 1
        await asyncio.sleep(0.3)  # late duplicates, if any, would land now
        assert await app[CALL_LOG].count() == 1
    assert row["outcome"] == "answered"
    assert row["agent"] == "Alice"
    assert row["answered_at"] is not None and row["ended_at"] is not None
    assert row["talk_s"] == 150


async def test_call_that_ends_during_the_outage_is_logged_once(
    tmp_path: Any, sim: PbxSimulator
) -> None:
    db_url = f"sqlite+aiosqlite:///{tmp_path}/outage.db"
    async with hotline_app(db_url, sim) as (app, _):
        call = sim.place_call(caller="13500135000", name="Chen Jie", script=CallScript(talk=40.0))
        await eventually(lambda: _state(app, call.linkedid, "talking"), what="answer")
        sim.refuse_connections(True)
        await sim.drop_connections()
        await asyncio.wait_for(call.done, 30)  # the call ends while Hotline is blind
        connects = app[AMI].stats["connects"]
        sim.refuse_connections(False)
        await eventually(lambda: _reconnected(app, connects), what="the AMI link to come back")
        row = await eventually(lambda: logged(app, call.linkedid), what="the call record")
        await asyncio.sleep(0.3)
        assert await app[CALL_LOG].count() == 1
    assert row["agent"] == "Alice"
    assert row["answered_at"] is not None


async def test_garbage_and_gbk_bytes_never_crash_the_pipeline(
    tmp_path: Any, sim: PbxSimulator
) -> None:
    db_url = f"sqlite+aiosqlite:///{tmp_path}/garbage.db"
    async with hotline_app(db_url, sim) as (app, _):
        sim.send_raw(b"this line has no colon\r\nEvent: Hangup\r\n\r\n")
        sim.send_raw(b"Event: Newchannel\r\nCallerIDName: \xd5\xc5\xce\xb0\r\n\r\n")
        sim.send_raw(b"\xff\xfe\x00garbage\r\n\r\nEvent: QueueCallerJoin\r\nQueue: support\r\n\r\n")
        sim.send_raw(b"Event: AgentConnect\r\nHoldTime: not-a-number\r\nLinkedid: x\r\n\r\n")
        call = sim.place_call(caller="13300133000", name="张伟", script=CallScript(gbk_name=True))
        await asyncio.wait_for(call.done, 30)
        row = await eventually(lambda: logged(app, call.linkedid), what="the call record")
        assert app[AMI].connected
    assert row["caller_name"] == "张伟"
    assert row["outcome"] == "answered"


async def test_stalled_database_delays_records_but_loses_none(
    db_url: str, sim: PbxSimulator
) -> None:
    """The database is locked for 10 s while calls end: the AMI reader keeps
    draining the socket, and every call is logged once the database is back."""
    kind = "sqlite" if db_url.startswith("sqlite") else "postgres"
    async with hotline_app(db_url, sim) as (app, _):
        warmup = sim.place_call(caller="13100131000", name="Warm Up")
        await asyncio.wait_for(warmup.done, 30)
        await eventually(lambda: logged(app, warmup.linkedid), what="warm-up record")

        release = asyncio.Event()
        locked = asyncio.Event()
        locker = asyncio.create_task(_hold_lock(kind, db_url, locked, release))
        await locked.wait()
        written_before = app[WRITER].written
        messages_before = app[FEED].messages
        calls = [sim.place_call(caller=f"1390000{i:04d}", name=f"Stall {i}") for i in range(10)]
        await asyncio.wait_for(asyncio.gather(*(c.done for c in calls)), 30)
        await eventually(lambda: _all_ended(app), what="the tracker to see every call end")
        # the database is still stuck: nothing written, yet the reader kept reading the PBX
        assert not locker.done()
        assert app[WRITER].written == written_before
        assert app[FEED].messages > messages_before + 10 * 20
        await locker  # the lock goes away after 10 s
        for c in calls:
            await eventually(lambda c=c: logged(app, c.linkedid), what="record after the stall")
        assert await app[CALL_LOG].count() == 11


async def _hold_lock(
    kind: str, db_url: str, locked: asyncio.Event, release: asyncio.Event
) -> None:
    """Lock the call table from another connection for 10 s (or until released)."""
    if kind == "sqlite":
        conn = sqlite3.connect(db_url.split(":///", 1)[1], timeout=1, isolation_level=None)
        conn.execute("BEGIN EXCLUSIVE")
        locked.set()
        try:
            await asyncio.wait_for(release.wait(), 10)
        except TimeoutError:
            pass
        conn.execute("ROLLBACK")
        conn.close()
        return
    pg = await asyncpg.connect(PG_DSN)
    try:
        async with pg.transaction():
            await pg.execute("LOCK TABLE call_record IN ACCESS EXCLUSIVE MODE")
            locked.set()
            try:
                await asyncio.wait_for(release.wait(), 10)
            except TimeoutError:
                pass
    finally:
        await pg.close()


async def _state(app: web.Application, linkedid: str, state: str) -> bool:
    return any(
        c["linkedid"] == linkedid and c["state"] == state for c in app[TRACKER].live_calls()
    )


async def _all_ended(app: web.Application) -> bool:
    return not app[TRACKER].live_calls()


async def _reconnected(app: web.Application, connects_before: int) -> bool:
    client = app[AMI]
    return bool(client.connected and client.stats["connects"] > connects_before)
