"""The agent console's websocket (GET /ws/agent): the screen pop end to end.

Everything real: the simulator is an AMI server on a TCP port, the app connects to
it like to Asterisk; agents sign in through the REST API and open the socket with
the session cookie, using the ``websockets`` client over TCP.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal

import pytest
import websockets
from aiohttp import web
from sqlalchemy.ext.asyncio import async_sessionmaker

from agent_console.api.auth import COOKIE_NAME
from crm_core.call_log import add_customer
from crm_core.db import make_engine
from crm_core.models import CallRecord
from hotline.app import BUS, POP_HUB
from telephony.events import (
    AgentRinging,
    AgentStateChanged,
    CallAnswered,
    CallEnded,
    CallSummary,
)
from telephony.simulator import PbxSimulator
from tests.integration.console_support import (
    ALICE,
    BOB,
    TIME_SCALE,
    Frame,
    app_settings,
    connect,
    cookie_for,
    eventually,
    recv,
    seed_agents,
    serving,
    started,
)

HOSTILE = "<img src=x onerror=alert(1)>"


@asynccontextmanager
async def running(db_url: str, sim: PbxSimulator, *, bus: Literal["memory", "redis"] = "memory",
                  redis_stream: str = "hotline:events"
                  ) -> AsyncIterator[tuple[web.Application, int]]:
    async with serving(app_settings(db_url, sim.port, "pop-hub-test-secret", bus=bus,
                                    redis_stream=redis_stream)) as served:
        yield served


@pytest.fixture
async def sim() -> AsyncIterator[PbxSimulator]:
    async with started(PbxSimulator(time_scale=TIME_SCALE)) as pbx:
        yield pbx


@pytest.fixture
async def hotline(tmp_path: Path, sim: PbxSimulator
                  ) -> AsyncIterator[tuple[web.Application, int, str]]:
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'pop.db'}"
    await seed_agents(db_url)
    async with running(db_url, sim) as (app, port):
        yield app, port, db_url


async def until(ws: Any, kind: str, *, linkedid: str | None = None) -> list[Frame]:
    """Frames received up to and including the first ``kind`` frame (of ``linkedid``)."""
    seen: list[Frame] = []
    while True:
        frame = await recv(ws)
        seen.append(frame)
        if frame["type"] == kind and (linkedid is None or frame.get(
                "linkedid", frame.get("call", {}).get("linkedid")) == linkedid):
            return seen


async def test_pop_reaches_the_ringing_agent_with_the_customer_before_answer(
    hotline: tuple[web.Application, int, str], sim: PbxSimulator
) -> None:
    app, port, db_url = hotline
    engine = make_engine(db_url)
    customer_id = await add_customer(engine, "华东医药包装有限公司", ["+86 138 0013 8000"])
    await engine.dispose()
    async with connect(port, await cookie_for(port, "alice")) as alice, \
            connect(port, await cookie_for(port, "bob")) as bob:
        assert (await recv(alice))["interface"] == ALICE
        assert (await recv(bob))["interface"] == BOB
        call = sim.place_call(caller="13800138000", name="Wang")
        frames = await until(alice, "answered", linkedid=call.linkedid)
        pops = [f for f in frames if f["type"] == "pop"]
        assert len(pops) == 1 and pops[0]["call"]["linkedid"] == call.linkedid
        assert pops[0]["record"]["known"] is True
        assert pops[0]["record"]["customer"]["id"] == customer_id
        assert frames.index(pops[0]) < len(frames) - 1  # before the answered frame
        await until(alice, "ended", linkedid=call.linkedid)
        # Bob heard only about himself: never Alice's pop, never another interface
        await bob.ping()
        while True:
            try:
                frame = await recv(bob, within=0.2)
            except TimeoutError:
                break
            assert frame["type"] != "pop" and frame.get("interface") == BOB


async def test_pop_travels_through_the_redis_bus(
    tmp_path: Path, sim: PbxSimulator, redis_url: str, redis_stream: str
) -> None:
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'pop.db'}"
    await seed_agents(db_url)
    async with running(db_url, sim, bus="redis", redis_stream=redis_stream) as (_, port):
        async with connect(port, await cookie_for(port, "alice")) as alice:
            await recv(alice)
            call = sim.place_call(caller="13500135000", name="Sun")
            frames = await until(alice, "answered", linkedid=call.linkedid)
            assert [f["type"] for f in frames].count("pop") == 1


async def test_handshake_without_a_valid_session_is_refused(
    hotline: tuple[web.Application, int, str]
) -> None:
    _, port, _ = hotline
    for cookie in (None, f"{COOKIE_NAME}=forged", "other=1"):
        with pytest.raises(websockets.InvalidStatus) as info:
            async with connect(port, cookie):
                pass
        assert info.value.response.status_code == 401
    with pytest.raises(websockets.InvalidStatus) as info:  # signed in, but answers no phone
        async with connect(port, await cookie_for(port, "nobody")):
            pass
    assert info.value.response.status_code == 403
    cookie = await cookie_for(port, "alice")
    with pytest.raises(websockets.InvalidStatus) as info:  # cross-site page
        async with connect(port, cookie, origin="http://evil.example"):
            pass
    assert info.value.response.status_code == 403


async def test_the_console_socket_declines_compression_a_browser_offers(
    hotline: tuple[web.Application, int, str], sim: PbxSimulator
) -> None:
    """Frames go uncompressed (``socket_client.WS_COMPRESS``: zlib state per socket is most of a
    socket's memory with 2,000 agents), and still arrive whole."""
    _, port, _ = hotline
    # offered as browsers do (the websockets client offers permessage-deflate by default)
    async with connect(port, await cookie_for(port, "alice"), compression="deflate") as alice:
        assert alice.response.headers.get("Sec-WebSocket-Extensions") is None
        assert (await recv(alice))["interface"] == ALICE
        call = sim.place_call(caller="13800138000", name="Wang")
        frames = await until(alice, "answered", linkedid=call.linkedid)
        assert [f["type"] for f in frames].count("pop") == 1


async def test_a_stalled_socket_does_not_hold_back_another_agents_pop(
    hotline: tuple[web.Application, int, str], sim: PbxSimulator
) -> None:
    app, port, _ = hotline
    async with connect(port, await cookie_for(port, "bob"), max_queue=1,
                       close_timeout=0.2) as stalled, \
            connect(port, await cookie_for(port, "alice")) as alice:
        await recv(stalled)
        await recv(alice)
        bus = app[BUS]
        padding = "x" * 4096
        for _ in range(3000):  # far more than the client queue and the socket buffers hold
            await bus.publish(AgentStateChanged(interface=BOB, agent="Bob", state="busy",
                                                paused=True, reason=padding))
        call = sim.place_call(caller="13900139000", name="Li")
        frames = await until(alice, "pop", linkedid=call.linkedid)
        assert frames[-1]["record"]["known"] is False
        bob_client = next(iter(app[POP_HUB].clients[BOB]))
        assert bob_client.resyncs > 0  # Bob's backlog overflowed; Alice never waited on it


async def test_a_socket_opened_while_the_phone_rings_gets_the_pop_at_once(
    hotline: tuple[web.Application, int, str]
) -> None:
    app, port, _ = hotline
    await app[BUS].publish(AgentRinging(
        linkedid="99.1", queue="support", agent="Alice", interface=ALICE,
        agent_channel="Local/1001@agents-00000099;1", caller="+8613700137000",
        caller_name="Zhao", did="4008001234"))
    await eventually(lambda: _has_pop(app, ALICE), what="the hub to see the ringing")
    async with connect(port, await cookie_for(port, "alice")) as alice:
        assert (await recv(alice))["type"] == "hello"
        frame = await recv(alice)
        if frame["type"] == "state":  # the agent's PBX state, then the ringing call
            frame = await recv(alice)
        assert frame["type"] == "pop" and frame["call"]["linkedid"] == "99.1"
    async with connect(port, await cookie_for(port, "bob")) as bob:
        assert (await recv(bob))["type"] == "hello"
        with pytest.raises(TimeoutError):
            while True:
                assert (await recv(bob, within=0.2))["type"] == "state"


async def _has_pop(app: web.Application, interface: str) -> bool:
    state = app[POP_HUB].states.get(interface)
    return state is not None and state.pop_frame is not None


async def test_a_hostile_caller_name_arrives_as_the_exact_string(
    hotline: tuple[web.Application, int, str], sim: PbxSimulator
) -> None:
    _, port, _ = hotline
    async with connect(port, await cookie_for(port, "alice")) as alice:
        await recv(alice)
        call = sim.place_call(caller="13600136000", name=HOSTILE)
        pop = (await until(alice, "pop", linkedid=call.linkedid))[-1]
        assert pop["call"]["caller_name"] == HOSTILE
        assert HOSTILE not in json.dumps(pop["record"], ensure_ascii=False)  # no prefill


async def test_a_slow_lookup_for_one_agent_does_not_hold_back_another_agents_pop(
    db_url: str, sim: PbxSimulator
) -> None:
    await seed_agents(db_url)
    async with running(db_url, sim) as (app, port):
        hub = app[POP_HUB]
        gate, blocked = asyncio.Event(), asyncio.Event()
        real_lookup = hub.lookups.lookup

        async def lookup(event: AgentRinging) -> dict[str, Any]:
            if event.interface == ALICE:  # Alice's 360 lookup hangs until the gate opens
                blocked.set()
                await gate.wait()
            return await real_lookup(event)

        hub.lookups.lookup = lookup  # type: ignore[method-assign]
        async with connect(port, await cookie_for(port, "alice")) as alice, \
                connect(port, await cookie_for(port, "bob")) as bob:
            assert (await recv(alice))["type"] == "hello"
            assert (await recv(bob))["type"] == "hello"
            bus = app[BUS]
            await bus.publish(AgentRinging(
                linkedid="70.1", queue="support", agent="Alice", interface=ALICE,
                agent_channel="Local/1001@agents-00000070;1", caller="+8613700137001",
                caller_name="Qian", did="4008001234"))
            await bus.publish(AgentRinging(
                linkedid="70.2", queue="support", agent="Bob", interface=BOB,
                agent_channel="Local/1002@agents-00000071;1", caller="+8613700137002",
                caller_name="Zhou", did="4008001234"))
            await bus.publish(CallAnswered(
                linkedid="70.1", queue="support", agent="Alice", interface=ALICE,
                agent_channel="Local/1001@agents-00000070;1", wait_s=1, ring_s=1))
            # the ended call names no agent: it reaches Alice because her pop is pending
            await bus.publish(CallEnded(summary=CallSummary(
                linkedid="70.1", caller="+8613700137001", caller_name="Qian",
                did="4008001234")))
            bob_pop = (await until(bob, "pop", linkedid="70.2"))[-1]
            assert bob_pop["call"]["caller_name"] == "Zhou"
            # Bob's pop came while Alice's lookup was still held (not timed out, not sent)
            assert blocked.is_set() and not gate.is_set()
            assert hub.counts["lookup_failed"] == 0
            assert not await _has_pop(app, ALICE)
            gate.set()
            frames = await until(alice, "ended", linkedid="70.1")
            steps = [f["type"] for f in frames if f["type"] in ("pop", "answered", "ended")]
            assert steps == ["pop", "answered", "ended"]  # Alice's own frames in order
            alice_pop = next(f for f in frames if f["type"] == "pop")
            assert alice_pop["call"]["linkedid"] == "70.1"
            assert alice_pop["call"]["caller_name"] == "Qian"


async def test_the_pops_calls_link_their_recordings(tmp_path: Path, sim: PbxSimulator) -> None:
    """With recording_base_url the pop's call history carries each call's recording_url,
    as the 360 page's does (a hostile stored name: none)."""
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'pop.db'}"
    await seed_agents(db_url)
    engine = make_engine(db_url)
    customer_id = await add_customer(engine, "华东医药包装有限公司", ["+86 138 0013 8000"])
    async with async_sessionmaker(engine).begin() as db:
        db.add(CallRecord(linkedid="1.1", caller="+8613800138000", customer_id=customer_id,
                          outcome="answered", recording="2026/11/25/1.1.wav"))
        db.add(CallRecord(linkedid="1.2", caller="+8613800138000", customer_id=customer_id,
                          outcome="answered", recording=HOSTILE))
    await engine.dispose()
    settings = app_settings(db_url, sim.port, "pop-hub-test-secret",
                            recording_base_url="/recordings/")
    async with serving(settings) as (_, port), \
            connect(port, await cookie_for(port, "alice")) as alice:
        assert (await recv(alice))["interface"] == ALICE
        call = sim.place_call(caller="13800138000", name="Wang")
        frames = await until(alice, "pop", linkedid=call.linkedid)
    urls = {c["linkedid"]: c["recording_url"] for c in frames[-1]["record"]["calls"]}
    assert urls == {"1.1": "/recordings/2026/11/25/1.1.wav", "1.2": None}
