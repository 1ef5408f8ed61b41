"""The simulated clock's scheduler: a call's waits and the one runner that wakes
calls in simulated-time order."""

from __future__ import annotations

import asyncio
import heapq
from typing import Any

from telephony.simulator.calls import SimCall
from telephony.simulator.helpers import _resolve_none
from telephony.simulator.state import _PbxState


class WaitingMixin(_PbxState):
    """A call's waits, woken one at a time in simulated-time order."""

    # --------------------------------------------------------------- waiting
    async def _sleep_until(self, t: float) -> None:
        assert self._loop is not None
        delay = self._wall(t) - self._loop.time()
        if delay > 0:
            await asyncio.sleep(delay)

    async def wait(self, call: SimCall, until: float,
                   wakeable: bool = False) -> tuple[str, ...] | None:
        """Sleep the call to simulated time ``until`` unless a command arrives first."""
        self.release(call)
        if call._pending:
            call.t = max(call.t, min(until, self.now()))
            return call._pending.pop(0)
        assert self._loop is not None
        fut: asyncio.Future[tuple[str, ...] | None] = self._loop.create_future()
        call._cmd = fut
        call._wakeable = wakeable
        self._push(until, fut, call)
        try:
            cmd = await fut
        finally:
            call._cmd = None
            call._wakeable = False
        if cmd is None:
            call.t = until
        elif cmd[0] == "wake":
            call.t = min(until, max(call.t, float(cmd[1])))
        else:
            call.t = max(call.t, min(until, self.now()))
        return cmd

    def _push(self, until: float, fut: asyncio.Future[Any], call: SimCall) -> None:
        self._heap_seq += 1
        item = (until, self._heap_seq, fut, call)
        heapq.heappush(self._heap, item)
        if self._runner is None or self._runner.done():
            assert self._loop is not None
            self._runner = self._loop.create_task(self._schedule(), name="sim-scheduler")
        elif self._heap[0] is item and self._runner_wake is not None:
            _resolve_none(self._runner_wake)

    def release(self, call: SimCall) -> None:
        """The call woken by the scheduler reached its next wait (or ended)."""
        if self._stepping is call and self._step_done is not None:
            _resolve_none(self._step_done)

    async def _schedule(self) -> None:
        """Wake waiting calls in simulated-time order, one at a time."""
        loop = self._loop
        assert loop is not None
        heap = self._heap
        while True:
            while heap and heap[0][2].done():
                heapq.heappop(heap)
            if not heap:
                self._runner_wake = loop.create_future()
                await self._runner_wake
                continue
            until, _seq, fut, call = heap[0]
            when = self._wall(until)
            if when > loop.time():
                self._runner_wake = wake = loop.create_future()
                handle = loop.call_at(when, _resolve_none, wake)
                try:
                    await wake
                finally:
                    handle.cancel()
                continue
            heapq.heappop(heap)
            done: asyncio.Future[Any] = loop.create_future()
            self._stepping, self._step_done = call, done
            # a step that never comes back to wait() must not stall the PBX forever
            guard = loop.call_later(1.0, _resolve_none, done)
            fut.set_result(None)
            try:
                await done
            finally:
                guard.cancel()
                self._stepping = self._step_done = None
