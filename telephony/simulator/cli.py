"""``hotline simulate``: the PBX simulator as a standalone AMI server.

Rules: prints ONE line with the bound port as soon as it listens; waits for the
first client login (+ ``start_delay`` seconds) before placing calls; with
``total_calls`` it stops when that many calls were placed and have ended,
sends ``Event: Shutdown`` to every client, closes their sockets and exits 0
(benchmarks/ingest.py relies on that); ``duration`` > 0 stops after that many
wall seconds; otherwise it runs until Ctrl-C / SIGTERM. With ``--agi HOST:PORT``
every call runs its IVR on that FastAGI server (the hotline dialplan of
deploy/asterisk) with the demo's mix of caller keys; an unreachable server only
means the calls are queued without IVR (fail open), which the log says once.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import random
import signal
from collections.abc import Coroutine
from dataclasses import replace
from typing import Any

from telephony.simulator.agi_caller import parse_agi_address
from telephony.simulator.demo_load import caller_keys
from telephony.simulator.load import CallPlan, LoadGenerator, quick_call
from telephony.simulator.model import AgentSpec, QueueSpec
from telephony.simulator.server import PbxSimulator

log = logging.getLogger("telephony.simulator.cli")

SHUTDOWN = (b"Event: Shutdown\r\nPrivilege: system,all\r\nShutdown: Cleanly\r\n"
            b"Restart: False\r\n\r\n")


def load_agents(n: int, seed: int = 0) -> list[AgentSpec]:
    """``n`` agents 1001.. in queue support (every third also in vip), 1-2 s ring."""
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


def ivr_call(rng: random.Random, n: int) -> CallPlan:
    """The load mix of ``quick_call``, every caller through the IVR with demo keys."""
    caller, name, did, script = quick_call(rng, n)
    return caller, name, did, replace(script, skip_agi=False, queue=None,
                                      ivr_inputs=caller_keys(rng))


async def _main(args: argparse.Namespace) -> int:
    agi = parse_agi_address(args.agi) if getattr(args, "agi", None) else None
    sim = PbxSimulator(host=args.host, port=args.port, username=args.username,
                       secret=args.secret, time_scale=args.time_scale,
                       agents=load_agents(args.agents), queues=load_queues(), noise=1, agi=agi)
    if agi is not None:
        # Hotline's dialplan comes with deploy's queues.conf (no member): the load agents
        # are a simulated floor nobody signs in from a console, so sign them in here
        for agent in list(sim.pbx.agents.values()):
            sim.pbx.sign_in(agent.interface)
    await sim.start()
    print(f"PBX simulator listening on {sim.host}:{sim.port} (AMI user {args.username})"
          + (f", IVR on agi://{agi.host}:{agi.port}/{agi.script}" if agi else ""), flush=True)
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
        load = LoadGenerator(sim, calls_per_second=args.calls_per_second,
                             total_calls=args.total_calls,
                             make_call=ivr_call if agi is not None else quick_call)
        load.start()
        waits: list[Coroutine[Any, Any, object]] = [stop.wait()]
        if args.total_calls > 0:
            waits.append(load.wait_done())
        if args.duration > 0:
            waits.append(asyncio.sleep(args.duration))
        await _first_of(*waits)
        await load.stop()
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
