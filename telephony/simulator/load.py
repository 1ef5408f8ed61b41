"""Load mode: many simulated calls per second, for benchmarks and the demo.

Rules:
- ``calls_per_second`` is a WALL-clock rate (what a benchmark measures); the
  calls themselves last simulated seconds, so a small ``time_scale`` keeps many
  calls short in wall time;
- a call's script comes from ``make_call(rng)``; the default mix is mostly
  answered, some abandoned, short talk, a few agent hang-ups;
- the generator never falls behind silently: when the loop is late it places
  the overdue calls at once; every call it placed is awaited by ``wait_done``.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable
from typing import TYPE_CHECKING

from telephony.simulator.pbx import CallScript, SimCall

if TYPE_CHECKING:
    from telephony.simulator.server import PbxSimulator

CallPlan = tuple[str, str | None, str, CallScript]  # caller, name, did, script
MakeCall = Callable[[random.Random, int], CallPlan]


def quick_call(rng: random.Random, n: int) -> CallPlan:
    """The default load mix: short calls, ~85 % answered, ~15 % abandoned."""
    caller = f"139{rng.randrange(10**8):08d}"
    did = "4008001234" if rng.random() < 0.9 else "8008001234"
    abandon = rng.random() < 0.15
    script = CallScript(
        ivr_digits="" if rng.random() < 0.6 else "1",
        skip_agi=rng.random() < 0.6,
        ivr_s=rng.uniform(1.0, 3.0),
        queue="support",
        patience=rng.uniform(0.3, 2.5) if abandon else rng.uniform(20.0, 40.0),
        talk=rng.uniform(2.0, 6.0),
        hangup_by="agent" if rng.random() < 0.3 else "caller",
    )
    return caller, f"Load Caller {n}", did, script


class LoadGenerator:
    """Places calls at a steady rate until ``total_calls`` (0 = until stopped)."""

    def __init__(self, sim: PbxSimulator, *, calls_per_second: float, total_calls: int = 0,
                 make_call: MakeCall = quick_call, seed: int = 0) -> None:
        self.sim = sim
        self.rate = max(float(calls_per_second), 1e-6)
        self.total = int(total_calls)
        self.make_call = make_call
        self.rng = random.Random(seed)
        self.placed = 0
        self.active: set[SimCall] = set()
        self.finished = 0
        self._task: asyncio.Task[None] | None = None
        self._all_placed = asyncio.Event()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="sim-load")

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        interval = 1.0 / self.rate
        next_at = loop.time()
        try:
            while self.total == 0 or self.placed < self.total:
                now = loop.time()
                while next_at <= now and (self.total == 0 or self.placed < self.total):
                    self._place()
                    next_at += interval
                await asyncio.sleep(max(0.0, next_at - loop.time()))
        finally:
            self._all_placed.set()

    def _place(self) -> None:
        self.placed += 1
        caller, name, did, script = self.make_call(self.rng, self.placed)
        call = self.sim.place_call(caller=caller, name=name, did=did, script=script)
        self.active.add(call)
        call.done.add_done_callback(self._done)

    def _done(self, fut: asyncio.Future[SimCall]) -> None:
        if not fut.cancelled():
            self.active.discard(fut.result())
        else:
            self.active = {c for c in self.active if not c.done.done()}
        self.finished += 1

    async def wait_done(self) -> None:
        """Until every call is placed (total_calls reached) and has ended."""
        await self._all_placed.wait()
        while self.active:
            await asyncio.gather(*(c.done for c in list(self.active)), return_exceptions=True)

    def stop_nowait(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def stop(self) -> None:
        """Stop placing calls (calls under way go on)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
