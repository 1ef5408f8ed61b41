"""Ingest benchmark: simulator (load mode, own process) --TCP/AMI--> AmiClient ->
CallTracker -> bus -> CallLogWriter -> database, on SQLite and PostgreSQL.

Prints AMI events/s and calls/s end to end, and the ratio of the pipeline's CPU
time per AMI message to a parse-only baseline: panoramisk 1.4's protocol
reading the very same byte stream and doing nothing with it.

Last line: ``ingest_events_per_s=<N> pipeline_over_parse=<R>`` (N and R are
those of the SQLite run, the embedded default; both runs are printed above).

Usage: python benchmarks/ingest.py [--calls 2000] [--cps 150] [--agents 40]
       [--pg postgresql+asyncpg://postgres@127.0.0.1:5432/test] [--no-pg]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from crm_core.call_log import CallLog, CallLogWriter  # noqa: E402
from crm_core.db import make_engine, upgrade_async  # noqa: E402
from hotline.bus import MemoryBus  # noqa: E402
from hotline.pipeline import TrackerFeed  # noqa: E402
from telephony.ami import AmiClient  # noqa: E402
from telephony.ami_codec import encode_action  # noqa: E402
from telephony.tracker import CallTracker  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_simulator(port: int, calls: int, cps: float, agents: int) -> subprocess.Popen[bytes]:
    cmd = [
        sys.executable, "-m", "hotline.cli", "simulate", "--port", str(port),
        "--calls-per-second", str(cps), "--agents", str(agents),
        "--total-calls", str(calls), "--time-scale", "0.05", "--start-delay", "1.0",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=ROOT)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return proc
        time.sleep(0.05)
    proc.kill()
    output = proc.stdout.read().decode() if proc.stdout else ""
    raise RuntimeError("simulator did not start: " + output)


async def record_stream(port: int) -> bytes:
    """Log in as a plain client and keep every byte until the simulator closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(encode_action("Login", {"Username": "hotline", "Secret": "hotline-secret"},
                               action_id="rec-1"))
    await writer.drain()
    chunks = []
    while data := await reader.read(65536):
        chunks.append(data)
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()
    return b"".join(chunks)


def panoramisk_parse_cpu(stream: bytes, chunk: int = 65536) -> tuple[float, int]:
    """CPU seconds panoramisk's protocol needs to read ``stream``; and its message count."""
    from panoramisk.ami_protocol import AMIProtocol

    count = 0

    class Factory:
        save_stream = None
        forgetable_actions: tuple[str, ...] = ()
        awaiting_actions: tuple[str, ...] = ()

        def dispatch(self, message: Any) -> None:
            nonlocal count
            count += 1

        def connection_lost(self, exc: Any) -> None:
            pass

    class Transport:
        def write(self, data: bytes) -> None:
            pass

        def close(self) -> None:
            pass

    proto = AMIProtocol()
    proto.connection_made(Transport())
    proto.factory = Factory()
    proto.encoding = "utf-8"
    t0 = time.process_time()
    for i in range(0, len(stream), chunk):
        proto.data_received(stream[i : i + chunk])
    return time.process_time() - t0, count


@dataclass
class Run:
    label: str
    messages: int
    calls: int
    wall_s: float
    cpu_s: float

    @property
    def events_per_s(self) -> float:
        return self.messages / self.wall_s if self.wall_s else 0.0


async def pipeline_run(label: str, url: str, port: int, calls: int) -> Run:
    await upgrade_async(url)
    engine = make_engine(url)
    call_log = CallLog(engine)
    before = await call_log.count()
    bus = MemoryBus()
    await bus.start()
    writer = CallLogWriter(call_log, bus.subscribe("call-log", lossless=True, types={"CallEnded"}))
    await writer.start()
    feed = TrackerFeed(CallTracker(), bus)
    client = AmiClient(host="127.0.0.1", port=port, username="hotline", secret="hotline-secret",
                       consumer=feed, ping_interval=30.0)
    cpu0 = time.process_time()
    await client.start()
    await client.wait_connected(20)
    t_first: float | None = None
    written = 0
    idle_since: float | None = None
    while True:
        await asyncio.sleep(0.25)  # counting rows costs the pipeline's CPU too: look rarely
        if t_first is None and feed.messages:
            t_first = time.perf_counter()
        now_written = await call_log.count() - before
        if now_written >= calls:
            written = now_written
            break
        # the simulator has finished and hung up: give the writer time to drain, then stop
        if not client.connected and feed.messages:
            if now_written != written or idle_since is None:
                idle_since = time.perf_counter()
            elif time.perf_counter() - idle_since > 3.0:
                written = now_written
                break
        written = now_written
        if t_first and time.perf_counter() - t_first > 600:
            break
    wall = time.perf_counter() - (t_first or time.perf_counter())
    cpu = time.process_time() - cpu0
    await client.close()
    await writer.close()
    await bus.close()
    await engine.dispose()
    return Run(label, feed.messages, written, wall, cpu)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--cps", type=float, default=150.0)
    ap.add_argument("--agents", type=int, default=60)
    ap.add_argument("--pg", default="postgresql+asyncpg://postgres@127.0.0.1:5432/test")
    ap.add_argument("--no-pg", action="store_true")
    args = ap.parse_args()

    port = free_port()
    sim = start_simulator(port, args.calls, args.cps, args.agents)
    stream = asyncio.run(record_stream(port))
    sim.wait(30)
    parse_cpu, parse_msgs = panoramisk_parse_cpu(stream)
    parse_per_msg = parse_cpu / max(parse_msgs, 1)
    print(f"recorded stream: {len(stream) / 1e6:.1f} MB, {parse_msgs} AMI messages")
    print(f"parse-only baseline (panoramisk 1.4): {parse_cpu:.3f} s CPU, "
          f"{parse_per_msg * 1e6:.1f} us/message")

    runs: list[Run] = []
    with tempfile.TemporaryDirectory() as tmp:
        targets = [("sqlite", f"sqlite+aiosqlite:///{tmp}/ingest.db")]
        if not args.no_pg:
            targets.append(("postgresql", args.pg))
        for label, url in targets:
            port = free_port()
            sim = start_simulator(port, args.calls, args.cps, args.agents)
            try:
                run = asyncio.run(pipeline_run(label, url, port, args.calls))
            finally:
                sim.terminate()
                sim.wait(30)
            runs.append(run)
            ratio = (run.cpu_s / max(run.messages, 1)) / parse_per_msg
            print(f"{label:10s}: {run.messages} AMI messages, {run.calls} calls logged in "
                  f"{run.wall_s:.2f} s wall -> {run.events_per_s:,.0f} events/s, "
                  f"{run.calls / run.wall_s:,.1f} calls/s; pipeline CPU {run.cpu_s:.2f} s "
                  f"({run.cpu_s / max(run.messages, 1) * 1e6:.1f} us/message) "
                  f"= {ratio:.2f} x parse-only; events per CPU-second "
                  f"{run.messages / run.cpu_s:,.0f}")
    main_run = runs[0]
    ratio = (main_run.cpu_s / max(main_run.messages, 1)) / parse_per_msg
    print(f"ingest_events_per_s={main_run.events_per_s:.0f} pipeline_over_parse={ratio:.2f}")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
