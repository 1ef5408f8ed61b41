"""The event bus, the same tests on the in-process bus and on Redis (``bus_kind``),
plus what only Redis can do: several nodes, restarts, an unreachable server.

Every wait is bounded by ``asyncio.timeout`` so a lost event fails the test instead
of hanging it; nothing asserts wall-clock time.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from redis.asyncio import Redis

from hotline.bus import (
    Bus,
    MemoryBus,
    RedisBus,
    Subscription,
    SubscriptionClosed,
    decode_entry,
)
from telephony.events import (
    AgentAttempt,
    AgentRinging,
    AgentRingNoAnswer,
    AgentStateChanged,
    CallAnswered,
    CallEnded,
    CallQueued,
    CallStarted,
    CallSummary,
    CallTransferred,
    DomainEvent,
    QueueMemberChanged,
    Transfer,
)

WAIT = 10.0  # seconds: only a guard against hanging, never a timing assertion

T0 = datetime(2024, 5, 20, 9, 30, 15, 250000, tzinfo=UTC)


def started(i: int) -> CallStarted:
    return CallStarted(at=T0, linkedid=f"call-{i}", caller=f"+86138{i:08d}",
                       caller_name="张三", did="4008001234")


def every_event_type() -> list[DomainEvent]:
    """One of each domain event, the call summary as full as it gets."""
    summary = CallSummary(
        linkedid="1716190215.42", caller="+8613800138000", caller_name="王小明 (VIP)",
        did="4008001234", queues=("售后", "sales"),
        agents_tried=(
            AgentAttempt(agent="李四", interface="PJSIP/1001", queue="售后",
                         result="no-answer", ring_ms=15000),
            AgentAttempt(agent="Bob", interface="PJSIP/1002", queue="sales", result="answered"),
        ),
        agent="Bob", agent_interface="PJSIP/1002", started_at=T0, queued_at=T0,
        answered_at=T0, ended_at=datetime(2024, 5, 20, 9, 35, tzinfo=UTC),
        wait_s=12, ring_s=3, talk_s=270, hangup_by="caller", outcome="transferred",
        transfers=(Transfer(kind="blind", by="Bob", target="2000", result="Success", at=T0),),
        ivr={"menu": "2", "客户": "已识别"},
    )
    return [
        started(1),
        CallQueued(at=T0, linkedid="l1", queue="售后", position=1, caller=None,
                   caller_name=None, did=None),
        AgentRinging(at=T0, linkedid="l1", queue="q", agent="李四", interface="PJSIP/1001",
                     agent_channel="PJSIP/1001-0000002a", caller="+8613800138000",
                     caller_name="王", did="4008001234", ivr={"lang": "zh"}),
        AgentRingNoAnswer(at=T0, linkedid="l1", queue="q", agent="a", interface="i",
                          ring_ms=None),
        CallAnswered(at=T0, linkedid="l1", queue="q", agent="a", interface="i",
                     agent_channel="c", wait_s=5, ring_s=None),
        CallTransferred(at=T0, linkedid="l1", kind="attended", by=None, target="2000",
                        result="Fail"),
        CallEnded(at=T0, summary=summary),
        AgentStateChanged(at=None, interface="PJSIP/1001", agent="李四", state="on-hold",
                          paused=True, reason="午饭"),
        QueueMemberChanged(at=T0, queue="q", interface="i", agent="a", change="penalty",
                           status=1, paused=False, reason="", penalty=3),
    ]


async def take(sub: Subscription, n: int) -> list[DomainEvent]:
    out: list[DomainEvent] = []
    async with asyncio.timeout(WAIT):
        while len(out) < n:
            out.append(await sub.get())
    return out


async def drain(sub: Subscription) -> list[DomainEvent]:
    """Everything a closed subscription still holds, then its end."""
    async with asyncio.timeout(WAIT):
        return [event async for event in sub]


def bus_tasks() -> list[asyncio.Task[Any]]:
    return [t for t in asyncio.all_tasks() if t.get_name().startswith("bus:")]


async def delete_stream(url: str, stream: str) -> None:
    client = Redis.from_url(url)
    try:
        await client.delete(stream)
    finally:
        await client.aclose()


async def stored(url: str, stream: str) -> list[DomainEvent]:
    client = Redis.from_url(url)
    try:
        entries: Any = await client.xrange(stream)
    finally:
        await client.aclose()
    return [decode_entry(fields) for _, fields in entries]


# ------------------------------------------------------------------ fixtures

BusFactory = Callable[..., Bus]


@pytest.fixture
async def make_bus(
    bus_kind: str, redis_stream: str, request: pytest.FixtureRequest
) -> AsyncIterator[BusFactory]:
    """Builds started-later buses of the kind under test; closes them and deletes
    the test's stream at the end."""
    url = str(request.getfixturevalue("redis_url")) if bus_kind == "redis" else ""
    made: list[Bus] = []

    def build(**kwargs: Any) -> Bus:
        bus: Bus = MemoryBus() if bus_kind == "memory" else RedisBus(
            url, redis_stream, block_ms=200, **kwargs)
        made.append(bus)
        return bus

    yield build
    for bus in made:
        await bus.close()
    if url:
        await delete_stream(url, redis_stream)


@pytest.fixture
async def make_redis_bus(redis_url: str, redis_stream: str) -> AsyncIterator[BusFactory]:
    made: list[Bus] = []

    def build(**kwargs: Any) -> Bus:
        kwargs.setdefault("block_ms", 200)
        bus = RedisBus(kwargs.pop("url", redis_url), redis_stream, **kwargs)
        made.append(bus)
        return bus

    yield build
    for bus in made:
        await bus.close()
    await delete_stream(redis_url, redis_stream)


# ------------------------------------------------------------------ both buses


async def test_every_subscriber_gets_every_event_in_order(make_bus: BusFactory) -> None:
    bus = make_bus()
    await bus.start()
    live = bus.subscribe("live")
    wall = bus.subscribe("wall", maxsize=500)
    log = bus.subscribe("log", lossless=True)
    events = [started(i) for i in range(300)]
    for event in events:
        bus.publish_nowait(event)
    for sub in (live, wall, log):
        assert await take(sub, 300) == events
    assert (live.dropped, wall.dropped, log.dropped) == (0, 0, 0)
    assert (live.lossless, log.lossless) == (False, True)
    assert (live.name, log.name) == ("live", "log")


async def test_types_filter(make_bus: BusFactory) -> None:
    bus = make_bus()
    await bus.start()
    ended_live = bus.subscribe("ended-live", types={"CallEnded"})
    ended_log = bus.subscribe("ended-log", lossless=True, types=["CallEnded"])
    mixed = bus.subscribe("mixed", types={"CallStarted", "CallQueued"})
    events = every_event_type() * 3
    for event in events:
        bus.publish_nowait(event)
    # The last CallEnded closes the expected run: anything unwanted would come first.
    last = CallEnded(at=T0, summary=CallSummary(linkedid="last", caller=None,
                                                caller_name=None, did=None))
    await bus.publish(last)
    want = [e for e in events if isinstance(e, CallEnded)] + [last]
    assert await take(ended_live, len(want)) == want
    assert await take(ended_log, len(want)) == want
    want_mixed = [e for e in events if e.type in {"CallStarted", "CallQueued"}]
    assert await take(mixed, len(want_mixed)) == want_mixed


async def test_lossy_slow_consumer_drops_oldest_others_keep_up(make_bus: BusFactory) -> None:
    bus = make_bus()
    await bus.start()
    slow = bus.subscribe("stuck-wallboard", maxsize=5)  # never read while publishing
    fast = bus.subscribe("live", maxsize=100)
    log = bus.subscribe("log", lossless=True, maxsize=50)
    events = [started(i) for i in range(400)]

    async def consume(sub: Subscription) -> list[DomainEvent]:
        return await take(sub, len(events))

    readers = [asyncio.create_task(consume(fast)), asyncio.create_task(consume(log))]
    for i, event in enumerate(events):
        bus.publish_nowait(event)
        if i % 40 == 0:
            await asyncio.sleep(0)  # let the fast readers run, as a real loop would
    got_fast, got_log = await asyncio.gather(*readers)
    assert got_fast == events and got_log == events
    assert fast.dropped == 0
    assert slow.dropped == len(events) - 5
    # the slow one kept the newest five, in order
    assert await take(slow, 5) == events[-5:]


async def test_lossless_loses_nothing_under_a_stalled_consumer(
    make_bus: BusFactory,
) -> None:
    # 10 s stall at 100 calls/s with a handful of events per call: a few thousand.
    bus = make_bus()
    await bus.start()
    log = bus.subscribe("call-log", lossless=True, maxsize=100)
    events = [started(i) for i in range(3000)]
    for event in events[:-1]:
        bus.publish_nowait(event)
    await bus.publish(events[-1])
    await asyncio.sleep(0.05)  # the consumer is stalled while readers do their worst
    assert await take(log, len(events)) == events
    assert log.dropped == 0


async def test_close_flushes_and_stops(
    make_bus: BusFactory, bus_kind: str, redis_stream: str, request: pytest.FixtureRequest
) -> None:
    bus = make_bus()
    await bus.start()
    live = bus.subscribe("live", maxsize=1000)
    log = bus.subscribe("log", lossless=True, maxsize=1000)
    waiting = bus.subscribe("idle", types={"NoSuchEvent"})
    waiter = asyncio.create_task(waiting.get())
    events = [started(i) for i in range(200)]
    for event in events:
        bus.publish_nowait(event)
    await bus.close()

    assert bus_tasks() == []
    with pytest.raises(SubscriptionClosed):
        async with asyncio.timeout(WAIT):
            await waiter  # a consumer waiting for more is woken by the end
    bus.publish_nowait(started(999))  # after close: ignored, never raises
    if bus_kind == "memory":
        assert await drain(live) == events
        assert await drain(log) == events
    else:
        # written through to Redis; the subscriptions end (with whatever they held)
        assert await stored(request.getfixturevalue("redis_url"), redis_stream) == events
        assert set(await drain(live)) <= set(events)
        assert set(await drain(log)) <= set(events)
    with pytest.raises(SubscriptionClosed):
        await live.get()
    await bus.close()  # twice is fine


async def test_round_trip_of_every_event_type(make_bus: BusFactory) -> None:
    events = every_event_type()
    produced = {n for n, c in DomainEvent.registry.items() if c.__module__ == "telephony.events"}
    assert {e.type for e in events} == produced, "add the new event type to this test"
    bus = make_bus()
    await bus.start()
    live = bus.subscribe("live")
    log = bus.subscribe("log", lossless=True)
    for event in events:
        await bus.publish(event)
    for sub in (live, log):
        got = await take(sub, len(events))
        assert got == events
        assert [type(e) for e in got] == [type(e) for e in events]
        ended = next(e for e in got if isinstance(e, CallEnded))
        assert ended.summary.ended_at == datetime(2024, 5, 20, 9, 35, tzinfo=UTC)
        assert ended.summary.ivr["客户"] == "已识别"


async def test_closing_a_subscription_leaves_the_others(make_bus: BusFactory) -> None:
    bus = make_bus()
    await bus.start()
    gone = bus.subscribe("gone")
    stays = bus.subscribe("stays")
    gone_log = bus.subscribe("gone-log", lossless=True)
    bus.publish_nowait(started(0))
    assert await take(stays, 1) == [started(0)]
    gone.close()
    gone_log.close()
    for i in range(1, 20):
        bus.publish_nowait(started(i))
    assert await take(stays, 19) == [started(i) for i in range(1, 20)]
    assert set(await drain(gone)) <= {started(0)}


# ------------------------------------------------------------------ Redis only


async def test_two_nodes_share_a_lossless_group_and_both_see_everything(
    make_redis_bus: BusFactory,
) -> None:
    a, b = make_redis_bus(consumer="node-a"), make_redis_bus(consumer="node-b")
    await a.start()
    await b.start()
    log_a = a.subscribe("call-log", lossless=True, maxsize=20)
    log_b = b.subscribe("call-log", lossless=True, maxsize=20)
    wall_a, wall_b = a.subscribe("wall", maxsize=1000), b.subscribe("wall", maxsize=1000)
    events = [started(i) for i in range(400)]
    for i, event in enumerate(events):
        (a if i % 2 else b).publish_nowait(event)  # both nodes publish

    processed: list[DomainEvent] = []
    seen: set[str] = set()
    all_seen = asyncio.Event()

    async def writer(sub: Subscription) -> None:
        async for event in sub:
            processed.append(event)
            assert isinstance(event, CallStarted)
            seen.add(event.linkedid)
            if len(seen) == len(events):
                all_seen.set()
            await asyncio.sleep(0)

    writers = [asyncio.create_task(writer(log_a)), asyncio.create_task(writer(log_b))]
    try:
        async with asyncio.timeout(WAIT):
            await all_seen.wait()
    finally:
        for task in writers:
            task.cancel()
        await asyncio.gather(*writers, return_exceptions=True)
    assert len(processed) == 400, "an event was processed twice across the nodes"
    assert {e.linkedid for e in processed if isinstance(e, CallStarted)} == {
        e.linkedid for e in events}
    # every node's lossy subscribers see every event, whoever published it
    for wall in (wall_a, wall_b):
        assert sorted(e.linkedid for e in await take(wall, 400) if isinstance(e, CallStarted)) \
            == sorted(e.linkedid for e in events)


async def test_restart_redelivers_what_was_not_acked(make_redis_bus: BusFactory) -> None:
    first = make_redis_bus(consumer="node-1")
    await first.start()
    log = first.subscribe("call-log", lossless=True)
    for i in range(3):
        await first.publish(started(i))
    assert await take(log, 2) == [started(0), started(1)]  # taking #1 acked #0
    await first.close()  # crashed while processing #1

    second = make_redis_bus(consumer="node-1")
    await second.start()
    log = second.subscribe("call-log", lossless=True)
    assert await take(log, 2) == [started(1), started(2)]
    log.ack()  # explicitly: #2 is processed, #1 acked by taking #2
    await second.publish(started(3))
    assert await take(log, 1) == [started(3)]
    log.ack()
    await second.close()

    third = make_redis_bus(consumer="node-1")
    await third.start()
    log = third.subscribe("call-log", lossless=True)
    await third.publish(started(4))
    assert await take(log, 1) == [started(4)]  # nothing acked came back


async def test_batch_consumer_acks_what_it_wrote(make_redis_bus: BusFactory) -> None:
    first = make_redis_bus(consumer="node-1")
    await first.start()
    log = first.subscribe("call-log", lossless=True)
    log.auto_ack = False  # a batching writer: takes many, acks after writing
    for i in range(6):
        first.publish_nowait(started(i))
    assert await take(log, 5) == [started(i) for i in range(5)]
    log.ack(3)  # the first three are written
    assert log.unacked == 2  # type: ignore[attr-defined]
    await first.close()  # crashed before writing #3 and #4

    second = make_redis_bus(consumer="node-1")
    await second.start()
    log = second.subscribe("call-log", lossless=True)
    assert await take(log, 3) == [started(3), started(4), started(5)]


async def test_entries_of_a_vanished_consumer_are_claimed(make_redis_bus: BusFactory) -> None:
    gone = make_redis_bus(consumer="node-gone")
    await gone.start()
    log = gone.subscribe("call-log", lossless=True)
    await gone.publish(started(0))
    await gone.publish(started(1))
    assert await take(log, 1) == [started(0)]
    await gone.close()  # never comes back

    other = make_redis_bus(consumer="node-other", claim_idle_ms=0)
    await other.start()
    log = other.subscribe("call-log", lossless=True)
    got = await take(log, 2)
    assert sorted(e.linkedid for e in got if isinstance(e, CallStarted)) == ["call-0", "call-1"]


async def test_bad_entries_on_the_stream_are_skipped(
    make_redis_bus: BusFactory, redis_url: str, redis_stream: str
) -> None:
    bus = make_redis_bus()
    await bus.start()
    live = bus.subscribe("live")
    log = bus.subscribe("log", lossless=True)
    await bus.publish(started(0))
    client = Redis.from_url(redis_url)
    try:
        await client.xadd(redis_stream, {b"e": b"not json"})
        await client.xadd(redis_stream, {b"e": b'{"type": "NoSuchEvent"}'})
        await client.xadd(redis_stream, {b"other": b"x"})
    finally:
        await client.aclose()
    await bus.publish(started(1))
    for sub in (live, log):
        assert await take(sub, 2) == [started(0), started(1)]
    assert isinstance(bus, RedisBus) and bus.decode_errors >= 3


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_unreachable_redis_never_breaks_publish(make_redis_bus: BusFactory) -> None:
    bus = make_redis_bus(url=f"redis://127.0.0.1:{_free_port()}/0", close_timeout=0.3,
                         buffer_limit=500)
    await bus.start()
    live = bus.subscribe("live")
    for i in range(1000):
        bus.publish_nowait(started(i))  # never raises, never blocks
    await asyncio.sleep(0.05)
    assert isinstance(bus, RedisBus)
    assert bus.published == 1000 and bus.dropped == 500  # oldest dropped past the limit
    await bus.close()
    assert bus.dropped == 1000  # the other 500 could not be flushed: counted, not hidden
    assert bus_tasks() == []
    assert await drain(live) == []


class _Proxy:
    """A TCP relay to Redis that can be started late: Redis "comes back"."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.server: asyncio.Server | None = None
        self.tasks: set[asyncio.Task[None]] = set()
        self.writers: list[asyncio.StreamWriter] = []

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", 6379)
        self.writers += [writer, up_writer]

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        for task in (asyncio.create_task(pipe(reader, up_writer)),
                     asyncio.create_task(pipe(up_reader, writer))):
            self.tasks.add(task)

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
        for writer in self.writers:
            writer.close()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        for writer in self.writers:
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


async def test_publishes_while_redis_is_down_arrive_once_it_is_back(
    make_redis_bus: BusFactory, redis_url: str
) -> None:
    proxy = _Proxy(_free_port())
    bus = make_redis_bus(url=f"redis://127.0.0.1:{proxy.port}/0")
    try:
        await bus.start()
        live = bus.subscribe("live", maxsize=1000)
        log = bus.subscribe("log", lossless=True)
        events = [started(i) for i in range(300)]
        for event in events:
            bus.publish_nowait(event)
        await asyncio.sleep(0.1)  # a few failed attempts
        await proxy.start()
        assert await take(log, 300) == events
        assert await take(live, 300) == events
        await bus.close()
    finally:
        await bus.close()
        await proxy.close()
