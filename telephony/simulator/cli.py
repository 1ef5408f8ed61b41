"""``hotline simulate``: the PBX simulator as a standalone AMI server.

Rules: prints ONE line with the bound port as soon as it listens; waits for the
first client login (+ ``start_delay`` seconds) before placing calls; with
``total_calls`` it stops when that many calls were placed and have ended,
sends ``Event: Shutdown`` to every client, closes their sockets and exits 0
(benchmarks/ingest.py relies on that); ``duration`` > 0 stops after that many
wall seconds; otherwise it runs until Ctrl-C / SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
from collections.abc import Coroutine
from typing import Any

from telephony.simulator.model import AgentSpec, QueueSpec
from telephony.simulator.server import PbxSimulator

log = logging.getLogger("telephony.simulator.cli")

SHUTDOWN = (b"Event: Shutdown\r\nPrivilege: system,all\r\nShutdown: Cleanly\r\n"
            b"Restart: False\r\n\r\n")


def load_agents(n: int, seed: int = 0) -> list[AgentSpec]:
    """``n`` agents 1001.. in queue support (every third also in vip), 1-2 s ring."""
    import random

    rng = random.Random(seed)
    out = []
    for i in range(max(1, n)):
        ext = 1001 + i
        queues = ("support", "vip") if i % 3 == 0 else ("support",)
        out.append(AgentSpec(f"Local/{ext}@agents/n", f"Agent{ext}", queues,
                             ring_s=round(rng.uniform(0.5, 2.0), 2)))
    return out


def load_queues() -> list[QueueSpec]:
    return [QueueSpec("support", "rrmemory", timeout=5, retry=1),
            QueueSpec("vip", "rrmemory", timeout=10, retry=1, weight=10, servicelevel=10)]


async def _main(args: argparse.Namespace) -> int:
    sim = PbxSimulator(host=args.host, port=args.port, username=args.username,
                       secret=args.secret, time_scale=args.time_scale,
                       agents=load_agents(args.agents), queues=load_queues(), noise=1)
    await sim.start()
    print(f"PBX simulator listening on {sim.host}:{sim.port} (AMI user {args.username})",
          flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    logged_in = asyncio.Event()
    sim.server.on_login = logged_in.set
    try:
        await _first_of(logged_in.wait(), stop.wait())
        if stop.is_set():
            return 0
        await _first_of(asyncio.sleep(max(0.0, args.start_delay)), stop.wait())
        sim.start_load(calls_per_second=args.calls_per_second, total_calls=args.total_calls)
        waits: list[Coroutine[Any, Any, object]] = [stop.wait()]
        if args.total_calls > 0:
            waits.append(sim.load.wait_done())
        if args.duration > 0:
            waits.append(asyncio.sleep(args.duration))
        await _first_of(*waits)
        await sim.stop_load()
        stats = sim.pbx.stats
        log.info("simulated %d calls, %d events, outcomes %s", stats.calls_finished,
                 stats.events, stats.by_outcome)
        sim.send_raw(SHUTDOWN)
        for session in list(sim.server.sessions):
            session.close()
        await asyncio.sleep(0.05)
        return 0
    finally:
        await sim.close()


async def _first_of(*aws: object) -> None:
    tasks = [asyncio.ensure_future(a) for a in aws]  # type: ignore[call-overload]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t


def run(args: argparse.Namespace) -> int:
    """Entry point of ``hotline simulate`` (arguments: see hotline/cli.py)."""
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return asyncio.run(_main(args))
    except KeyboardInterrupt:
        return 0
