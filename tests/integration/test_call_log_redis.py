"""The call log behind the Redis bus survives a crash of the app: an event is
acknowledged in Redis only once its record is written, so what the writer had
taken but not yet written is delivered again to the restarted app."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from crm_core.call_log import CallLog, CallLogWriter
from crm_core.db import make_engine, upgrade_async
from hotline.bus import RedisBus
from telephony.events import CallEnded, CallStarted, CallSummary


def _ended(i: int) -> CallEnded:
    return CallEnded(summary=CallSummary(
        linkedid=f"1795478331.{i}", caller="+8613800138000", caller_name="王芳",
        did="4008001234", outcome="answered",
    ))


async def test_crash_before_the_write_loses_nothing(
    tmp_path: Path, redis_url: str, redis_stream: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/crash.db"
    await upgrade_async(url)
    engine = make_engine(url)
    call_log = CallLog(engine)

    # First life: the database hangs, so nothing the writer takes gets written.
    hang = asyncio.Event()

    async def stuck(summaries: object) -> int:
        await hang.wait()
        return 0

    monkeypatch.setattr(call_log, "record_many", stuck)
    bus = RedisBus(redis_url, redis_stream, consumer="node-a")
    await bus.start()
    writer = CallLogWriter(call_log, bus.subscribe("call-log", lossless=True), linger=0)
    await writer.start()
    for i in range(5):
        bus.publish_nowait(CallStarted(linkedid=f"x{i}", caller=None, caller_name=None, did=None))
        bus.publish_nowait(_ended(i))
    for _ in range(200):
        if writer.received == 5:
            break
        await asyncio.sleep(0.02)
    assert writer.received == 5 and writer.written == 0
    # The process dies: tasks gone, nothing acknowledged, no orderly drain.
    for task in (writer._reader, writer._writer):  # noqa: SLF001 - simulating a crash
        assert task is not None
        task.cancel()
    await asyncio.gather(writer._reader, writer._writer, return_exceptions=True)  # noqa: SLF001
    await bus.close()

    # Second life: same node, a healthy database.
    monkeypatch.undo()
    call_log = CallLog(engine)
    bus = RedisBus(redis_url, redis_stream, consumer="node-a")
    await bus.start()
    writer = CallLogWriter(call_log, bus.subscribe("call-log", lossless=True), linger=0)
    await writer.start()
    for _ in range(250):
        if await call_log.count() == 5:
            break
        await asyncio.sleep(0.02)
    await writer.close()
    await bus.close()
    assert await call_log.count() == 5
    for i in range(5):
        assert await call_log.get(f"1795478331.{i}") is not None
    await engine.dispose()
    import redis.asyncio as redis

    client = redis.from_url(redis_url)
    await client.delete(redis_stream)
    await client.aclose()
