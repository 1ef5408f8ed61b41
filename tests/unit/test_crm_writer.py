"""CallLogWriter against a fake call log (no database): batching, holding and retrying
on database faults, giving up only records that fail alone, back-pressure, and a
close() that drains, is bounded and is cancel-safe."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import exc as sa_exc

from crm_core.call_log import CallLogWriter
from telephony.events import CallEnded, CallQueued, CallSummary, DomainEvent

T0 = datetime(2024, 5, 1, 8, 30, tzinfo=UTC)
_END = object()


def ended(linkedid: str) -> CallEnded:
    return CallEnded(at=T0, summary=CallSummary(linkedid=linkedid, caller="+8613800138000",
                                                caller_name=None, did=None, ended_at=T0))


class Sub:
    """asyncio.Queue-backed subscription; close() ends it after what is queued."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        self.closed = False

    def publish(self, event: Any) -> None:
        self.queue.put_nowait(event)

    def close(self) -> None:
        self.closed = True
        self.queue.put_nowait(_END)

    def __aiter__(self) -> Sub:
        return self

    async def __anext__(self) -> DomainEvent:
        item = await self.queue.get()
        if item is _END:
            raise StopAsyncIteration
        if isinstance(item, BaseException):
            raise item
        return item  # type: ignore[no-any-return]


class FakeLog:
    """Stands in for CallLog.record_many; ``behaviour`` may block or raise per call."""

    def __init__(self, behaviour: Callable[[int, list[str]], Any] | None = None) -> None:
        self.rows: list[str] = []
        self.calls: list[list[str]] = []
        self.behaviour = behaviour

    async def record_many(self, summaries: Sequence[CallSummary]) -> int:
        ids = [s.linkedid for s in summaries]
        self.calls.append(ids)
        if self.behaviour is not None:
            outcome = self.behaviour(len(self.calls), ids)
            if asyncio.iscoroutine(outcome):
                outcome = await outcome
            if isinstance(outcome, BaseException):
                raise outcome
        new = [i for i in dict.fromkeys(ids) if i not in self.rows]
        self.rows.extend(new)
        return len(new)


def writer_for(log: FakeLog, sub: Any, **kw: Any) -> CallLogWriter:
    opts: dict[str, Any] = {"retry_min": 0.001, "retry_max": 0.005, "stall_timeout": 5.0}
    opts.update(kw)
    return CallLogWriter(log, sub, **opts)  # type: ignore[arg-type]


async def until(predicate: Callable[[], bool]) -> None:
    async with asyncio.timeout(10):  # a hang fails the test instead of blocking it
        while True:
            if predicate():
                return
            await asyncio.sleep(0.001)


def locked() -> OSError:
    return sa_exc.OperationalError("INSERT", {}, Exception("database is locked"))  # type: ignore[return-value]


async def test_batches_take_what_queued_up_to_batch_max() -> None:
    gate = asyncio.Event()

    async def first_waits(n: int, ids: list[str]) -> None:
        if n == 1:
            await gate.wait()

    log, sub = FakeLog(first_waits), Sub()
    writer = writer_for(log, sub, batch_max=10)
    await writer.start()
    sub.publish(ended("0"))
    await until(lambda: len(log.calls) == 1)
    for i in range(1, 26):
        sub.publish(ended(str(i)))
        sub.publish(CallQueued(at=T0, linkedid=str(i), queue="q", position=1, caller=None,
                               caller_name=None, did=None))
    await until(lambda: writer.pending == 26)
    gate.set()
    await until(lambda: writer.written == 26)
    assert [len(c) for c in log.calls] == [1, 10, 10, 5]
    assert log.rows == [str(i) for i in range(26)]  # in order, each once
    assert writer.ignored == 25 and writer.received == 26
    await writer.close()


async def test_database_fault_holds_the_batch_and_retries() -> None:
    log = FakeLog(lambda n, ids: locked() if n <= 3 else None)
    sub = Sub()
    for i in range(5):
        sub.publish(ended(str(i)))
    writer = writer_for(log, sub)
    await writer.start()
    await until(lambda: writer.written == 5)
    assert log.calls == [[str(i) for i in range(5)]] * 4  # the same batch, held
    assert writer.retries == 3 and writer.failures == 0
    await writer.close()


async def test_a_stall_counts_as_a_fault() -> None:
    async def hang_twice(n: int, ids: list[str]) -> None:
        if n <= 2:
            await asyncio.Event().wait()

    log, sub = FakeLog(hang_twice), Sub()
    writer = writer_for(log, sub, stall_timeout=0.01)
    await writer.start()
    sub.publish(ended("a"))
    await until(lambda: writer.written == 1)
    assert writer.retries == 2 and log.rows == ["a"]
    await writer.close()


async def test_a_bad_record_is_given_up_alone(caplog: pytest.LogCaptureFixture) -> None:
    def refuse_bad(n: int, ids: list[str]) -> Exception | None:
        if "bad" in ids:
            return sa_exc.IntegrityError("INSERT", {}, Exception("CHECK constraint failed"))
        return None

    log, sub = FakeLog(refuse_bad), Sub()
    for name in ("a", "bad", "b"):
        sub.publish(ended(name))
    writer = writer_for(log, sub)
    caplog.set_level(logging.ERROR, logger="crm_core.call_log")
    await writer.start()
    await until(lambda: writer.written == 2 and writer.failures == 1)
    assert log.rows == ["a", "b"]
    assert [m for m in caplog.messages if "NOT written" in m and '"linkedid": "bad"' in m]
    sub.publish(ended("c"))
    await until(lambda: writer.written == 3)
    await writer.close()


async def test_a_bug_is_not_held_forever() -> None:
    log = FakeLog(lambda n, ids: KeyError("bug"))
    sub = Sub()
    writer = writer_for(log, sub)
    await writer.start()
    sub.publish(ended("a"))
    sub.publish(ended("b"))
    await until(lambda: writer.failures == 2)
    assert writer._writer is not None and not writer._writer.done()
    await writer.close()


async def test_duplicates_are_counted() -> None:
    log, sub = FakeLog(), Sub()
    for name in ("a", "a", "b", "a"):
        sub.publish(ended(name))
    writer = writer_for(log, sub)
    await writer.start()
    await writer.close()
    assert (writer.written, writer.duplicates, writer.failures) == (2, 2, 0)
    assert sub.closed


async def test_back_pressure_leaves_the_rest_in_the_subscription() -> None:
    gate = asyncio.Event()

    async def wait_gate(n: int, ids: list[str]) -> None:
        await gate.wait()

    log, sub = FakeLog(wait_gate), Sub()
    writer = writer_for(log, sub, batch_max=5, max_pending=5)
    await writer.start()
    for i in range(50):
        sub.publish(ended(str(i)))
    await until(lambda: writer.pending == 10)  # 5 in flight + 5 queued
    await asyncio.sleep(0.01)
    assert writer.pending == 10 and sub.queue.qsize() == 40
    gate.set()
    await until(lambda: writer.written == 50)
    await writer.close()


async def test_close_takes_what_back_pressure_left_in_the_subscription() -> None:
    gate = asyncio.Event()

    async def wait_gate(n: int, ids: list[str]) -> None:
        await gate.wait()

    log, sub = FakeLog(wait_gate), Sub()
    writer = writer_for(log, sub, batch_max=5, max_pending=5)
    await writer.start()
    for i in range(50):
        sub.publish(ended(str(i)))
    await until(lambda: writer.pending == 10)
    closing = asyncio.create_task(writer.close())
    await until(lambda: writer.received == 50)  # closing lifts the back-pressure
    gate.set()
    await closing
    assert writer.written == 50 and writer.failures == 0 and sub.queue.qsize() == 0


async def test_subscription_errors_do_not_stop_the_reader() -> None:
    log, sub = FakeLog(), Sub()
    sub.publish(ended("a"))
    sub.publish(RuntimeError("redis hiccup"))
    sub.publish(ended("b"))
    writer = writer_for(log, sub)
    await writer.start()
    await until(lambda: writer.written == 2)
    assert writer.read_errors == 1
    await writer.close()


async def test_close_with_a_subscription_that_never_ends() -> None:
    log = FakeLog()

    async def forever() -> AsyncIterator[DomainEvent]:
        for name in ("a", "b"):
            yield ended(name)
        await asyncio.Event().wait()
        yield ended("never")  # pragma: no cover

    writer = writer_for(log, forever(), drain_grace=0.01)
    await writer.start()
    await until(lambda: writer.written == 2)
    await writer.close()
    assert writer._reader is not None and writer._reader.done()
    assert log.rows == ["a", "b"]


async def test_close_is_bounded_and_logs_what_it_could_not_write(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log, sub = FakeLog(lambda n, ids: locked()), Sub()  # the database never comes back
    writer = writer_for(log, sub, close_timeout=0.05)
    caplog.set_level(logging.ERROR, logger="crm_core.call_log")
    await writer.start()
    for name in ("a", "b", "c"):
        sub.publish(ended(name))
    await until(lambda: writer.retries >= 1)
    await writer.close()
    assert writer.failures == 3 and writer.pending == 0
    lost = [m for m in caplog.messages if "NOT written" in m]
    assert len(lost) == 3 and all('"linkedid"' in m for m in lost)
    assert writer._writer is not None and writer._writer.done()


async def test_close_is_cancel_safe() -> None:
    log, sub = FakeLog(lambda n, ids: locked()), Sub()
    writer = writer_for(log, sub, close_timeout=60)
    await writer.start()
    sub.publish(ended("a"))
    await until(lambda: writer.retries >= 1)
    closing = asyncio.create_task(writer.close())
    await asyncio.sleep(0.01)
    closing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await closing
    assert writer._reader is not None and writer._reader.done()
    assert writer._writer is not None and writer._writer.done()
    assert writer.failures == 1  # logged in full, not silently dropped


async def test_close_before_start_closes_the_subscription() -> None:
    sub = Sub()
    writer = writer_for(FakeLog(), sub)
    await writer.close()
    assert sub.closed
