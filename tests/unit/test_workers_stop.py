"""The background sweepers stop when cancelled, even when the cancellation lands in a
database call that turns it into another exception (the SLA sweeper once swallowed it
and held a shutdown for five minutes)."""

from __future__ import annotations

import asyncio
from typing import Any

from hotline.outbox_worker import OutboxWorker
from hotline.sla_worker import SlaSweeper


class RollbackOnCancel:
    """A sweep that, cancelled mid-query, fails as a session's rollback would."""

    def __init__(self) -> None:
        self.started = asyncio.Event()

    async def __call__(self) -> Any:
        self.started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            raise RuntimeError("invalid transaction: roll back first") from None
        return None


async def closes_promptly(worker: Any) -> None:
    closing = asyncio.ensure_future(worker.close())
    done, _ = await asyncio.wait({closing}, timeout=5)
    if not done:  # a second cancel ends the sleep it went on to: then say so
        worker._task.cancel()
        await closing
    assert done, "close() did not return: the cancelled worker went on"


async def test_the_sla_sweeper_stops_when_its_round_is_cancelled() -> None:
    worker = SlaSweeper(None, interval_s=30.0)  # type: ignore[arg-type]
    stuck = RollbackOnCancel()
    worker.run_once = stuck  # type: ignore[method-assign]
    worker.start()
    await stuck.started.wait()
    # without stop_if_cancelled: logged as a failed round, then asleep for 30 s, for ever
    await closes_promptly(worker)


async def test_the_outbox_worker_stops_when_its_round_is_cancelled() -> None:
    worker = OutboxWorker(None, {})  # type: ignore[arg-type]
    stuck = RollbackOnCancel()
    worker.run_once = stuck  # type: ignore[method-assign]
    worker.start()
    await stuck.started.wait()
    await closes_promptly(worker)
