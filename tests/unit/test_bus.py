"""The in-process bus and the bus's pure helpers: no sockets (RedisBus is only
built, never started, so it never connects)."""

from __future__ import annotations

import asyncio
import logging
from types import SimpleNamespace

import pytest

from hotline.bus import (
    FIELD,
    LocalSubscription,
    MemoryBus,
    RedisBus,
    SubscriptionClosed,
    decode_entry,
    encode_event,
    make_bus,
)
from telephony.events import CallEnded, CallStarted, CallSummary, DomainEvent


def started(i: int) -> CallStarted:
    return CallStarted(at=None, linkedid=f"call-{i}", caller=None, caller_name="李雷",
                       did=None)


def held(sub: object) -> list[DomainEvent]:
    """What a local subscription holds right now, without taking it."""
    assert isinstance(sub, LocalSubscription)
    return list(sub._items)


async def test_every_subscriber_gets_the_same_object() -> None:
    bus = MemoryBus()
    await bus.start()
    a, b = bus.subscribe("a"), bus.subscribe("b", lossless=True)
    event = started(1)
    bus.publish_nowait(event)
    assert await a.get() is event
    assert await b.get() is event
    await bus.close()


async def test_lossy_queue_drops_the_oldest_and_counts() -> None:
    bus = MemoryBus()
    slow = bus.subscribe("wallboard", maxsize=3)
    for i in range(10):
        bus.publish_nowait(started(i))
    assert slow.dropped == 7
    assert held(slow) == [started(7), started(8), started(9)]
    assert [await slow.get() for _ in range(3)] == [started(7), started(8), started(9)]
    bus.publish_nowait(started(10))
    assert slow.dropped == 7  # room again: nothing more dropped
    await bus.close()


async def test_lossless_keeps_everything_and_warns_once_per_burst(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bus = MemoryBus()
    log = bus.subscribe("call-log", lossless=True, maxsize=10)
    caplog.set_level(logging.WARNING, logger="hotline.bus")
    for i in range(50):
        bus.publish_nowait(started(i))
    assert len(caplog.records) == 1 and "high-water" in caplog.text
    assert [await log.get() for _ in range(46)] == [started(i) for i in range(46)]
    for i in range(50, 70):  # a second burst, after the consumer caught up
        bus.publish_nowait(started(i))
    assert len(caplog.records) == 2
    assert [await log.get() for _ in range(24)] == [started(i) for i in range(46, 70)]
    assert log.dropped == 0
    await bus.close()


async def test_types_filter() -> None:
    bus = MemoryBus()
    ended_only = bus.subscribe("ended", types={"CallEnded"})
    ended = CallEnded(summary=CallSummary(linkedid="1", caller=None, caller_name=None,
                                          did=None))
    for event in (started(1), ended, started(2)):
        bus.publish_nowait(event)
    assert held(ended_only) == [ended]
    await bus.close()


async def test_close_drains_then_ends_and_wakes_a_waiting_consumer() -> None:
    bus = MemoryBus()
    busy = bus.subscribe("busy", lossless=True)
    idle = bus.subscribe("idle", types={"Nothing"})
    waiting = asyncio.create_task(idle.get())
    await asyncio.sleep(0)
    for i in range(3):
        bus.publish_nowait(started(i))
    await bus.close()
    assert [event async for event in busy] == [started(0), started(1), started(2)]
    with pytest.raises(SubscriptionClosed):
        await waiting
    with pytest.raises(SubscriptionClosed):
        await busy.get()


async def test_a_closed_subscription_gets_nothing_more_and_others_go_on() -> None:
    bus = MemoryBus()
    gone, stays = bus.subscribe("gone"), bus.subscribe("stays")
    gone.close()
    gone.close()  # twice is fine
    bus.publish_nowait(started(1))
    assert held(gone) == [] and held(stays) == [started(1)]
    await bus.close()


async def test_publish_and_subscribe_after_close() -> None:
    bus = MemoryBus()
    await bus.close()
    bus.publish_nowait(started(1))
    await bus.publish(started(2))
    assert bus.rejected == 2
    late = bus.subscribe("late")
    with pytest.raises(SubscriptionClosed):
        await late.get()


def test_maxsize_must_be_positive() -> None:
    with pytest.raises(ValueError):
        MemoryBus().subscribe("x", maxsize=0)


def test_make_bus() -> None:
    assert isinstance(make_bus(SimpleNamespace(bus="memory")), MemoryBus)
    bus = make_bus(SimpleNamespace(bus="redis", redis_url="redis://h:1/2", redis_stream="s"))
    assert isinstance(bus, RedisBus)
    assert (bus.url, bus.stream) == ("redis://h:1/2", "s")
    with pytest.raises(ValueError):
        make_bus(SimpleNamespace(bus="kafka"))


def test_encoding_keeps_chinese_readable_and_round_trips() -> None:
    event = started(1)
    raw = encode_event(event)
    assert "李雷".encode() in raw
    assert decode_entry({FIELD: raw}) == event


@pytest.mark.parametrize("fields", [
    None,
    {},
    {b"other": b"1"},
    {FIELD: b"\xff\xfe"},
    {FIELD: b"not json"},
    {FIELD: b"[1, 2]"},
    {FIELD: b'{"type": "NoSuchEvent"}'},
    {FIELD: b'{"type": "CallStarted"}'},  # fields missing
    {FIELD: b'{"type": "CallEnded", "summary": 3}'},
    {FIELD: b'{"type": "CallEnded", "summary": {"linkedid": "1", "agents_tried": [1]}}'},
    {FIELD: b'{"type": "AgentRinging", "ivr": "not a mapping"}'},
    {FIELD: b'{"type": "CallStarted", "at": "yesterday", "linkedid": "1"}'},
])
def test_bad_entries_raise_value_error(fields: object) -> None:
    with pytest.raises(ValueError):
        decode_entry(fields)


async def test_redis_bus_buffers_before_start_and_counts_what_it_loses() -> None:
    # Never started, so it never connects: publish_nowait only fills the buffer.
    bus = RedisBus("redis://127.0.0.1:1/0", "s", buffer_limit=10)
    for i in range(25):
        bus.publish_nowait(started(i))
    assert (bus.published, bus.dropped) == (25, 15)
    assert [e for _, e, _ in bus._buffer] == [started(i) for i in range(15, 25)]
    live = bus.subscribe("live")
    await bus.close()
    assert bus.dropped == 25
    bus.publish_nowait(started(99))
    assert bus.rejected == 1
    with pytest.raises(SubscriptionClosed):
        await live.get()


def test_redis_lossless_names_are_unique_per_bus() -> None:
    bus = RedisBus("redis://127.0.0.1:1/0")
    bus.subscribe("call-log", lossless=True)
    with pytest.raises(ValueError):
        bus.subscribe("call-log", lossless=True)
    assert bus.subscribe("call-log").lossless is False  # a lossy one may share the name
