"""Two app nodes on one Redis bus: the pop reaches the node that holds the agent's socket.

Everything real: two ``create_app`` instances on two ports share one database and one
Redis stream; only node A is the PBX's AMI owner (connected to the simulator over TCP),
node B has no AMI link at all and learns of calls through the bus. Agents sign in over
HTTP and open their sockets with the ``websockets`` client.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import pytest
from aiohttp import web
from redis.asyncio import Redis

from crm_core.call_log import add_customer
from crm_core.db import make_engine
from hotline.app import AMI, BUS, CALL_LOG
from hotline.bus import RedisBus
from telephony.simulator import AgentSpec, CallScript, PbxSimulator, QueueSpec, SimCall
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

CALLS_EACH = 4  # several calls per agent: a work-shared pop feed would miss some of them


@asynccontextmanager
async def node(db_url: str, stream: str, consumer: str, *, ami_port: int | None
               ) -> AsyncIterator[tuple[web.Application, int]]:
    """One Hotline node; ``ami_port`` None = not the AMI owner (bus only)."""
    settings = app_settings(db_url, ami_port or 5038, "pop-two-nodes-secret", bus="redis",
                            redis_stream=stream, redis_consumer=consumer,
                            ami_enabled=ami_port is not None)
    async with serving(settings) as served:
        yield served


@pytest.fixture
async def sim() -> AsyncIterator[PbxSimulator]:
    # one queue per agent, so each call's agent is known in advance
    async with started(PbxSimulator(
        time_scale=TIME_SCALE,
        agents=[AgentSpec(ALICE, "Alice", ("alice-q",), ring_s=2.0),
                AgentSpec(BOB, "Bob", ("bob-q",), ring_s=2.0)],
        queues=[QueueSpec("alice-q", timeout=10), QueueSpec("bob-q", timeout=10)],
    )) as pbx:
        yield pbx


def _linkedid(frame: Frame) -> str | None:
    linkedid = frame.get("linkedid", frame.get("call", {}).get("linkedid"))
    return linkedid if isinstance(linkedid, str) else None


async def _calls_seen(ws: object, linkedids: set[str]) -> list[Frame]:
    """Every frame until each of ``linkedids`` has ended on this socket."""
    frames: list[Frame] = []
    ended: set[str] = set()
    while ended != linkedids:
        frame = await recv(ws)
        frames.append(frame)
        if frame["type"] == "ended" and _linkedid(frame) in linkedids:
            ended.add(str(_linkedid(frame)))
    return frames


def _assert_popped_before_answer(frames: list[Frame], linkedids: set[str],
                                 interface: str, customer_id: int | None) -> None:
    for linkedid in linkedids:
        mine = [f for f in frames if _linkedid(f) == linkedid]
        kinds = [f["type"] for f in mine]
        assert kinds.count("pop") == 1, (linkedid, kinds)
        assert "answered" in kinds and kinds.index("pop") < kinds.index("answered"), kinds
        pop = mine[kinds.index("pop")]
        assert pop["call"]["interface"] == interface
        if customer_id is None:
            assert pop["record"]["known"] is False
        else:
            assert pop["record"]["known"] is True
            assert pop["record"]["customer"]["id"] == customer_id
    # never a pop of someone else's call
    assert all(f["call"]["interface"] == interface for f in frames if f["type"] == "pop")
    assert {_linkedid(f) for f in frames if f["type"] == "pop"} == linkedids


async def test_pop_reaches_the_node_that_holds_the_agents_socket(
    db_url: str, redis_url: str, redis_stream: str, sim: PbxSimulator
) -> None:
    await seed_agents(db_url)
    engine = make_engine(db_url)
    customer_id = await add_customer(engine, "华东医药包装有限公司", ["+86 138 0013 8000"])
    await engine.dispose()

    async with AsyncExitStack() as stack:
        app_a, port_a = await stack.enter_async_context(
            node(db_url, redis_stream, "node-a", ami_port=sim.port))
        app_b, port_b = await stack.enter_async_context(
            node(db_url, redis_stream, "node-b", ami_port=None))
        # node B really has no PBX link: the pop can only reach it through Redis
        assert AMI not in app_b and sim.connections == 1
        assert isinstance(app_a[BUS], RedisBus) and isinstance(app_b[BUS], RedisBus)

        alice = await stack.enter_async_context(
            connect(port_b, await cookie_for(port_b, "alice")))
        bob = await stack.enter_async_context(
            connect(port_a, await cookie_for(port_a, "bob")))
        assert (await recv(alice))["interface"] == ALICE
        assert (await recv(bob))["interface"] == BOB

        quick = CallScript(skip_agi=True, talk=2.0)
        calls: list[SimCall] = []
        for _ in range(CALLS_EACH):  # interleaved, all under way at once
            calls.append(sim.place_call(caller="13800138000", name="Wang",
                                        script=CallScript(**{**vars(quick), "queue": "alice-q"})))
            calls.append(sim.place_call(caller="13900139000", name="Li",
                                        script=CallScript(**{**vars(quick), "queue": "bob-q"})))
        alice_calls = {c.linkedid for c in calls[0::2]}
        bob_calls = {c.linkedid for c in calls[1::2]}

        alice_frames, bob_frames = await asyncio.gather(
            _calls_seen(alice, alice_calls), _calls_seen(bob, bob_calls))
        _assert_popped_before_answer(alice_frames, alice_calls, ALICE, customer_id)
        _assert_popped_before_answer(bob_frames, bob_calls, BOB, None)
        for call in calls:
            await asyncio.wait_for(call.done, 15)
        assert [a.interface for c in calls[0::2] for a in c.attempts] == [ALICE] * CALLS_EACH

        # the call log is work shared: every call written once, whichever node took it
        call_log = app_a[CALL_LOG]

        async def all_logged() -> bool:
            rows = await call_log.latest(50)
            return {r["linkedid"] for r in rows} >= alice_calls | bob_calls

        await eventually(all_logged, what="the call log of both agents' calls")
        rows = await app_b[CALL_LOG].latest(50)
        assert len(rows) == len({r["linkedid"] for r in rows}) == 2 * CALLS_EACH

    # both nodes were consumers of the one call-log group, under their own names
    client = Redis.from_url(redis_url)
    try:
        consumers = await client.xinfo_consumers(redis_stream, "hotline:call-log")
        assert {c["name"] for c in consumers} == {b"node-a", b"node-b"}
    finally:
        await client.delete(redis_stream)
        await client.aclose()
