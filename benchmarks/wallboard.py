"""Wallboard benchmark: AMI event -> wallboard frame at 50 open wallboards, and the
interval report of a month of a million calls.

Part 1, live (all on this machine, over real sockets, as ``benchmarks/pop_latency.py``):
the app as its own process (``hotline serve``, in-process bus) against the PBX
simulator (a real AMI server) with --agents queue members, --wallboards real websocket
clients signed in as a hotline supervisor, and --cps calls per second for --duration
seconds (callers answered, some giving up). Measured per call and per wallboard: from
the moment the simulator hands the call's ``QueueCallerJoin`` to its AMI sockets
(``PbxSimulator.event_hook``, ``time.perf_counter``) to the first wallboard frame that
shows it (its linkedid in the frame's ``changed``), on that wallboard's client: AMI
parse + tracker + bus + board + frame + websocket + client read. The agents are queue
members of the PBX, not signed in through Hotline (the agents' grid shows them signed
out; their state spans do not move): the frames carry all 200 all the same.

Part 2, report: --month-calls call records (default 1,000,000) spread over the 30
days of a month, with the wrap-up spans of the answered ones, COPYed into the database
(PostgreSQL: ``--db pg``, default), then ``crm_core.kpi_report.interval_report`` of
that month per day and per queue, and per hour and per queue, each timed (best of 3).

Databases: PostgreSQL ``wallboard_bench`` (its ``public`` schema is DROPPED), or
SQLite var/bench/wallboard.db with ``--db sqlite``.

Last line: ``wallboard_p99_ms=X wallboards=N report_month_ms=Y`` (Y: the per-day
report of the month).

Usage: python benchmarks/wallboard.py [--agents 200] [--cps 20] [--duration 30]
       [--wallboards 50] [--month-calls 1000000] [--db pg|sqlite] [--pg URL]
       [--no-live] [--no-report]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
import asyncpg  # noqa: E402
import websockets  # noqa: E402
from sqlalchemy import insert  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.ext.asyncio import async_sessionmaker  # noqa: E402

from benchmarks.lookup import BENCH_DIR, pg_dsn, remove_sqlite  # noqa: E402
from benchmarks.pop_latency import (  # noqa: E402
    HASHER,
    PASSWORD,
    LagMonitor,
    ensure_pg_database,
    free_port,
    interface_of,
    sign_in,
    start_app,
    stop_app,
    wait_ready,
)
from crm_core.db import make_engine, upgrade_async  # noqa: E402
from crm_core.kpi import QueueRules  # noqa: E402
from crm_core.kpi_report import interval_report  # noqa: E402
from crm_core.models import AgentStateSpan, CallRecord, Role, RolePermission, User  # noqa: E402
from crm_core.permissions import SYSTEM  # noqa: E402
from telephony.simulator import CallScript, PbxSimulator  # noqa: E402
from telephony.simulator.cli import load_agents, load_queues  # noqa: E402
from telephony.simulator.load import CallPlan, LoadGenerator  # noqa: E402

PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/wallboard_bench"
SQLITE_URL = f"sqlite+aiosqlite:///{BENCH_DIR / 'wallboard.db'}"
JOIN = b"Event: QueueCallerJoin\r\n"
MONTH = datetime(2026, 2, 28, 16, 0, tzinfo=UTC)  # 1 March 2026, 00:00 in Shanghai
RULES = {"*": QueueRules(sl_s=20), "vip": QueueRules(sl_s=10)}


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


# --- part 1: live ---------------------------------------------------------------------------


async def seed_people(url: str, agents: int) -> None:
    """An empty database with one user per agent and a hotline supervisor."""
    if url.startswith("sqlite"):
        path = Path(make_url(url).database or "")
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_sqlite(path)
    else:
        await ensure_pg_database(url)
        conn = await asyncpg.connect(pg_dsn(url))
        try:
            await conn.execute("DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public;")
        finally:
            await conn.close()
    await upgrade_async(url)
    engine = make_engine(url)
    try:
        pw = HASHER.hash(PASSWORD)
        async with async_sessionmaker(engine).begin() as db:
            role = Role(name="wallboard-bench-supervisor")
            db.add(role)
            await db.flush()
            db.add(RolePermission(role_id=role.id, module="reports", operation="read",
                                  scope="all"))
            db.add(User(username="supervisor", display_name="Supervisor", password_hash=pw,
                        role_id=role.id))
            db.add_all(User(username=f"agent{1001 + n}", display_name=f"Agent {1001 + n}",
                            password_hash=pw, agent_interface=interface_of(n),
                            team=f"team{n % 5}") for n in range(agents))
    finally:
        await engine.dispose()


class Probe:
    """Both ends: each call's QueueCallerJoin leaving the PBX, its first frame per board."""

    def __init__(self, boards: int) -> None:
        self.sent: dict[str, float] = {}
        self.arrived: list[dict[str, float]] = [{} for _ in range(boards)]
        self.frames = [0] * boards
        self.bytes = 0

    def on_event(self, data: bytes, _cls: str) -> None:
        if data.startswith(JOIN):
            start = data.find(b"\r\nLinkedid: ") + 12
            linkedid = data[start:data.find(b"\r\n", start)].decode()
            self.sent.setdefault(linkedid, time.perf_counter())

    def latencies_ms(self) -> list[float]:
        out = []
        for seen in self.arrived:
            for linkedid, t1 in seen.items():
                t0 = self.sent.get(linkedid)
                if t0 is not None:
                    out.append((t1 - t0) * 1000)
        return out


async def wallboard(port: int, cookie: str, probe: Probe, n: int, ready: asyncio.Event) -> None:
    async with websockets.connect(f"ws://127.0.0.1:{port}/ws/wallboard", open_timeout=60,
                                  additional_headers={"Cookie": cookie}, ping_interval=None,
                                  max_size=None) as ws:
        seen = probe.arrived[n]
        async for message in ws:
            at = time.perf_counter()
            probe.bytes += len(message)
            probe.frames[n] += 1
            ready.set()
            # the frame opens with "changed" (agent_console.wallboard): read only that, so
            # 50 clients in this one process do not parse every whole frame (the page does)
            text = message if isinstance(message, str) else message.decode()
            changed = json.loads(text[text.index("["):text.index("]") + 1]) \
                if text.startswith('{"changed": [') else json.loads(text).get("changed")
            for linkedid in changed or ():
                if linkedid in probe.sent and linkedid not in seen:
                    seen[linkedid] = at


def call_plan(rng: random.Random, n: int) -> CallPlan:
    gives_up = rng.random() < 0.1
    script = CallScript(skip_agi=True, queue="vip" if rng.random() < 0.2 else "support",
                        patience=rng.uniform(1.0, 8.0) if gives_up else 120.0,
                        talk=rng.uniform(2.0, 5.0))
    return f"1380013{n % 10000:04d}", None, "4008001234", script


async def live(args: argparse.Namespace, url: str) -> tuple[list[float], dict[str, Any]]:
    await seed_people(url, args.agents)
    probe = Probe(args.wallboards)
    sim = PbxSimulator(time_scale=1.0, agents=load_agents(args.agents, 7),
                       queues=load_queues(), noise=2, seed=7)
    sim.event_hook = probe.on_event
    await sim.start()
    port = free_port()
    proc = start_app(url, sim.port, port, BENCH_DIR / "wallboard-app.log")
    boards: list[asyncio.Task[None]] = []
    try:
        await wait_ready(f"http://127.0.0.1:{port}", proc, sim)
        async with aiohttp.ClientSession() as http:
            cookie = await sign_in(http, f"http://127.0.0.1:{port}", "supervisor")
        for n in range(args.wallboards):
            ready = asyncio.Event()
            boards.append(asyncio.create_task(wallboard(port, cookie, probe, n, ready)))
            await asyncio.wait_for(ready.wait(), 60)
        print(f"live: app up (pid {proc.pid}), {len(boards)} wallboards open", flush=True)
        await asyncio.sleep(1.0)
        calls = max(1, round(args.cps * args.duration))
        load = LoadGenerator(sim, calls_per_second=args.cps, total_calls=calls,
                             make_call=call_plan, seed=7)
        t0 = time.perf_counter()
        with LagMonitor() as lag:
            load.start()
            await load.wait_done()
            await asyncio.sleep(3.0)  # the last frames
        wall = time.perf_counter() - t0
        lat = probe.latencies_ms()
        expected = len(probe.sent) * args.wallboards
        info = {"calls": len(probe.sent), "seen": len(lat), "expected": expected,
                "frames": sum(probe.frames), "mb": probe.bytes / 1e6, "wall_s": wall,
                "lag_ms": lag.worst * 1000}
        return lat, info
    finally:
        for task in boards:
            task.cancel()
        await asyncio.gather(*boards, return_exceptions=True)
        await stop_app(proc)
        await sim.close()


# --- part 2: the month's report ---------------------------------------------------------------


def month_rows(n: int, seed: int = 3) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    rng = random.Random(seed)
    seconds = 30 * 86400
    calls, spans = [], []
    dids = ["4008001234", "8008001234", "02154881234", "01065881234"]
    for i in range(n):
        ended = MONTH + timedelta(seconds=rng.randrange(seconds),
                                  microseconds=rng.randrange(1_000_000))
        r = rng.random()
        outcome = ("answered" if r < 0.78 else "abandoned" if r < 0.88 else
                   "no-answer" if r < 0.91 else "ivr-only")
        queued = outcome != "ivr-only"
        queue = ("vip" if rng.random() < 0.2 else "support") if queued else None
        wait = rng.randint(0, 120) if queued else None
        agent = f"Local/{1001 + rng.randrange(200)}@agents/n" if outcome == "answered" else None
        talk = rng.randint(20, 600) if agent else None
        calls.append((f"m{i}", "inbound", rng.choice(dids), json.dumps([queue] if queue else []),
                      agent, ended if queued else None, outcome, wait, talk, ended, ended))
        if agent:
            spans.append((agent, "wrap-up", f"m{i}", ended,
                          ended + timedelta(seconds=rng.randint(5, 60))))
    return calls, spans


async def load_month(url: str, n: int) -> None:
    calls, spans = month_rows(n)
    if url.startswith("sqlite"):
        engine = make_engine(url)
        try:
            async with engine.begin() as conn:
                for i in range(0, len(calls), 50_000):
                    await conn.execute(insert(CallRecord), [dict(zip(
                        ("linkedid", "direction", "did", "queues", "agent_interface",
                         "queued_at", "outcome", "wait_s", "talk_s", "ended_at",
                         "recorded_at"), (*c[:3], json.loads(c[3]), *c[4:]), strict=True))
                        for c in calls[i:i + 50_000]])
                for i in range(0, len(spans), 50_000):
                    await conn.execute(insert(AgentStateSpan), [dict(zip(
                        ("agent_interface", "state", "linkedid", "started_at", "ended_at"), s,
                        strict=True)) for s in spans[i:i + 50_000]])
        finally:
            await engine.dispose()
        return
    conn = await asyncpg.connect(pg_dsn(url))
    try:
        await conn.execute("TRUNCATE call_record, agent_state_span")
        await conn.copy_records_to_table(
            "call_record", records=[(*c[:3], c[3], *c[4:], "[]", "[]", "{}") for c in calls],
            columns=["linkedid", "direction", "did", "queues", "agent_interface", "queued_at",
                     "outcome", "wait_s", "talk_s", "ended_at", "recorded_at",
                     "agents_tried", "transfers", "ivr"])
        await conn.copy_records_to_table(
            "agent_state_span", records=spans,
            columns=["agent_interface", "state", "linkedid", "started_at", "ended_at"])
        await conn.execute("ANALYZE call_record; ANALYZE agent_state_span")
    finally:
        await conn.close()


async def report(url: str, interval: str) -> tuple[float, int]:
    engine = make_engine(url)
    try:
        best, rows = float("inf"), 0
        for _ in range(3):
            async with async_sessionmaker(engine)() as db:
                t0 = time.perf_counter()
                out = await interval_report(db, SYSTEM, start=MONTH,
                                            end=MONTH + timedelta(days=30), interval=interval,
                                            by="queue", rules=RULES)
                best = min(best, (time.perf_counter() - t0) * 1000)
                rows = len(out)
        return best, rows
    finally:
        await engine.dispose()


async def run(args: argparse.Namespace) -> int:
    url = args.pg if args.db == "pg" else SQLITE_URL
    p99 = float("nan")
    status = 0
    if not args.no_live:
        lat, info = await live(args, url)
        p50, p99 = pct(lat, 50), pct(lat, 99)
        print(f"live ({args.db}): {info['calls']} calls at {args.cps:g}/s, {args.agents} agents, "
              f"{args.wallboards} wallboards: {info['seen']}/{info['expected']} call frames "
              f"seen, {info['frames']} frames ({info['mb']:.1f} MB) in {info['wall_s']:.1f} s; "
              f"QueueCallerJoin -> frame p50 {p50:.1f} ms, p99 {p99:.1f} ms, max "
              f"{max(lat, default=float('nan')):.1f} ms (this process's worst loop lag "
              f"{info['lag_ms']:.1f} ms)", flush=True)
        if info["seen"] < info["expected"]:
            print("ERROR: some wallboards never showed some calls", file=sys.stderr)
            status = 1
    month_ms = float("nan")
    if not args.no_report:
        if args.no_live:
            await seed_people(url, args.agents)
        t0 = time.perf_counter()
        await load_month(url, args.month_calls)
        print(f"report ({args.db}): {args.month_calls:,} calls loaded in "
              f"{time.perf_counter() - t0:.1f} s", flush=True)
        month_ms, rows = await report(url, "day")
        hour_ms, hour_rows = await report(url, "60m")
        print(f"report ({args.db}): the month per day and queue {month_ms:.0f} ms ({rows} rows), "
              f"per hour and queue {hour_ms:.0f} ms ({hour_rows} rows), best of 3", flush=True)
    print(f"wallboard_p99_ms={p99:.1f} wallboards={args.wallboards} "
          f"report_month_ms={month_ms:.0f}")
    return status


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--agents", type=int, default=200)
    ap.add_argument("--cps", type=float, default=20.0)
    ap.add_argument("--duration", type=float, default=30.0)
    ap.add_argument("--wallboards", type=int, default=50)
    ap.add_argument("--month-calls", type=int, default=1_000_000)
    ap.add_argument("--db", choices=("pg", "sqlite"), default="pg")
    ap.add_argument("--pg", default=PG_URL, help="PostgreSQL URL (its schema is DROPPED)")
    ap.add_argument("--no-live", action="store_true")
    ap.add_argument("--no-report", action="store_true")
    args = ap.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
