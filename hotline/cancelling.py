"""Background loops that log a failed round and go on must still stop when cancelled.

A cancellation that lands inside a database call can surface as another exception (the
session's rollback on the way out raises ``PendingRollbackError``), which such a loop's
``except Exception`` would log and swallow; its ``close()`` then waited for ever (seen:
the SLA sweeper held a test's shutdown for its whole 300 s timeout)."""

from __future__ import annotations

import asyncio


def stop_if_cancelled() -> None:
    """Raise ``CancelledError`` if the running task was asked to stop (call it in an
    ``except Exception`` of a loop that goes on after a failed round)."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
