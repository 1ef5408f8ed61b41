"""IVR load benchmark (issue 6, point 11): C concurrent FastAGI sessions over TCP running
the default flow against a seeded database.

Two processes, so the callers do not share the server's CPU: this one seeds the
database, starts the server (``ivr_load.py serve``: ``ivr.runtime.IvrRuntime`` behind
``ivr.agi.AgiServer``, as ``hotline.app`` wires it, with a held ``LookupReader``) and
then plays a fake Asterisk for --sessions calls, --concurrent at a time.

Callers: known customers (a fifth of them VIP, half with a free account manager),
the demo company's numbers, and unknown numbers (--unknown share). What they do is
drawn per call: an agent (0), ticket status (1, own tickets or a keyed number), order
status (2), a repair request (3: choose an asset; this WRITES a ticket), a callback
(4, when ``ivr.callback_store`` is installed; writes a request), garbage keys, or
silence; then 0 or 9 or silence at the "more" menu. The clock of the server is a
Wednesday 10:00 in Shanghai (business hours: the main menu).

Arrivals: the first C calls over the first second (--burst: all at once, as after a PBX
restart), then a new call as soon as one ends, so C calls are always in progress.

Timing: every AGI command's reply is delayed as a PBX and a caller would delay it:
prompts and spoken values "play" for --think-ms (uniform 0.5x-1.5x), input takes as
long; SET VARIABLE and GET FULL VARIABLE answer at once. A step's latency is the time
from our reply (or the end of the AGI header) to the server's next command: what the
IVR adds to a call, lookups and self-service included. Real prompts and real callers
take seconds (a real IVR call lasts 20-60 s); the default 1000 ms makes a call last
about 10 s, so 200 concurrent calls are still several times the commands per second of
200 real ones; --think-ms 100 is a stress test (calls of about one second, ~100 new
calls a second), --think-ms 0 measures throughput.

Database: SQLite file var/bench/ivr-<customers>.db (reused; --fresh rebuilds it) or
PostgreSQL (--pg URL: migrated, seeded once, never dropped).

Prints the sessions per second, the per-step latency p50/p99/max overall and by the
command that followed, the first step (number plan and flow), the server's CPU, and as
the last line ``ivr_p99_ms=<X> concurrent=<C>``.

Usage: python benchmarks/ivr_load.py [--concurrent 200] [--sessions 4000]
       [--think-ms 1000] [--customers 20000] [--unknown 0.2] [--pg URL] [--fresh]
       [--burst] [--no-gc-freeze] [--pin]
Diagnostics: IVR_LOAD_STALLS=1 has the server print, on stderr, the places its event
loop was found in when it had not run for 8 ms (sampled by a thread every 2 ms);
IVR_LOAD_PROFILE=<file> writes the server's cProfile there.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import gc
import json
import os
import random
import resource
import signal
import statistics
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, insert, select, text  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker  # noqa: E402

from crm_core.db import make_engine, upgrade_async  # noqa: E402
from crm_core.demo_data import seed_demo  # noqa: E402
from crm_core.models import (  # noqa: E402
    Asset,
    Customer,
    PhoneNumber,
    Subscription,
    Ticket,
    User,
)

BENCH_DIR = ROOT / "var" / "bench"
CLOCK = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)  # Wednesday 10:00 in Shanghai
MANAGERS = 40
SEED = 6
DID = "4008001234"


# --- the data set ----------------------------------------------------------------------------

async def seed(engine: AsyncEngine, customers: int) -> None:
    """The demo company plus ``customers`` synthetic ones (once: skipped when present)."""
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    await seed_demo(sessions)
    async with sessions.begin() as s:
        if await s.scalar(select(Customer.id).where(Customer.name == "bench-0000000")):
            return
        rng = random.Random(SEED)
        first_user = int(await s.scalar(select(func.coalesce(func.max(User.id), 0))) or 0) + 1
        await s.execute(insert(User), [
            {"id": first_user + i, "username": f"bench.mgr{i}", "display_name": f"经理{i}",
             "agent_interface": f"PJSIP/3{i:03d}", "active": True} for i in range(MANAGERS)])
        first = int(await s.scalar(select(func.coalesce(func.max(Customer.id), 0))) or 0) + 1
        rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for i in range(customers):
            cid = first + i
            rows["customer"].append({
                "id": cid, "name": f"bench-{i:07d}", "name_key": f"bench{i:07d}",
                "vip_tier": rng.choice((1, 2, 3)) if rng.random() < 0.2 else 0,
                "status": "active", "owner_id": first_user + rng.randrange(MANAGERS)})
            rows["phone"].append({"customer_id": cid, "number_e164": f"+86147{i:08d}",
                                  "raw": f"147{i:08d}", "kind": "mobile"})
            for a in range(rng.choice((0, 1, 2, 3))):
                rows["asset"].append({
                    "customer_id": cid, "serial_number": f"BN-{i:07d}-{a}", "model": "X1",
                    "warranty_end": date(2026, 1, 1) + timedelta(days=rng.randrange(730))})
            if rng.random() < 0.5:
                at = CLOCK - timedelta(days=rng.randrange(1, 60))
                rows["ticket"].append({
                    "number": f"T{at:%Y%m%d}-{50000 + i}",  # apart from the day's own
                    "customer_id": cid, "problem": "bench", "created_at": at,
                    "updated_at": at,
                    "status": rng.choice(("new", "routed", "accepted", "closed"))})
            if rng.random() < 0.4:
                end = date(2026, 11, 25) + timedelta(days=rng.randrange(-60, 400))
                rows["subscription"].append({
                    "customer_id": cid, "kind": rng.choice(("subscription", "contract")),
                    "title": "bench", "start_date": end - timedelta(days=365),
                    "end_date": end, "status": "active"})
        for model, name in ((Customer, "customer"), (PhoneNumber, "phone"), (Asset, "asset"),
                            (Ticket, "ticket"), (Subscription, "subscription")):
            for start in range(0, len(rows[name]), 5000):
                await s.execute(insert(model), rows[name][start:start + 5000])


async def callers(engine: AsyncEngine, limit: int) -> list[str]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(PhoneNumber.raw).order_by(PhoneNumber.id).limit(limit))
        return [r[0] for r in rows]


# --- the server (its own process) ------------------------------------------------------------

async def watch_lag(lags: list[float], every_s: float = 0.005) -> None:
    """How late the event loop wakes a 5 ms sleep: time every session waits for the loop."""
    loop = asyncio.get_running_loop()
    while True:
        due = loop.time() + every_s
        await asyncio.sleep(every_s)
        lags.append((loop.time() - due) * 1000)


def watch_gc() -> dict[str, float]:
    """Count the collector's runs and their longest pause (they stall every session)."""
    seen = {"runs": 0.0, "max_ms": 0.0, "total_ms": 0.0, "full_runs": 0.0}
    started = [0.0]

    def callback(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
            return
        pause = (time.perf_counter() - started[0]) * 1000
        seen["runs"] += 1
        seen["full_runs"] += info.get("generation") == 2
        seen["total_ms"] += pause
        seen["max_ms"] = max(seen["max_ms"], pause)

    gc.callbacks.append(callback)
    return seen


def watch_stalls(loop: asyncio.AbstractEventLoop,
                 limit_ms: float = 8.0) -> collections.Counter[str]:
    """IVR_LOAD_STALLS=1: a thread that samples the event loop's stack whenever the loop
    has not run for ``limit_ms`` (what blocks every session then); counts the places."""
    import threading
    import traceback

    seen: collections.Counter[str] = collections.Counter()
    beat = [time.perf_counter()]
    main = threading.main_thread().ident

    def tick() -> None:
        beat[0] = time.perf_counter()
        loop.call_later(0.001, tick)

    def sample() -> None:
        while True:
            time.sleep(0.002)
            if (time.perf_counter() - beat[0]) * 1000 > limit_ms:
                frame = sys._current_frames().get(main or 0)
                if frame is not None:
                    stack = traceback.extract_stack(frame)[-12:]
                    seen[" <- ".join(f"{Path(f.filename).name}:{f.lineno}:{f.name}"
                                     for f in reversed(stack))] += 1

    loop.call_soon(tick)
    threading.Thread(target=sample, daemon=True).start()
    return seen


def pin(cpu: int) -> str:
    """Keep this process on one CPU (the server on one, the callers on another), so that
    waking the other side never preempts this one; "" when the machine cannot."""
    if (os.cpu_count() or 1) < 2 or not hasattr(os, "sched_setaffinity"):
        return ""
    os.sched_setaffinity(0, {cpu})
    return f"cpu {cpu}"


async def serve(url: str, freeze: bool = True) -> None:
    from crm_core.lookup import LookupReader
    from hotline.app import agi_limits
    from hotline.settings import load_settings
    from ivr.agi import AgiServer
    from ivr.runtime import IvrRuntime

    engine = make_engine(url)
    reader = LookupReader(engine, size=4)

    def agent_free(interface: str) -> bool:  # every other manager is free
        return interface.startswith("PJSIP/3") and int(interface[-3:] or 1) % 2 == 0

    runtime = IvrRuntime(engine, reader=reader, agent_free=agent_free, clock=lambda: CLOCK)
    # the caps as hotline.app sets them (HOTLINE_AGI_MAX_SESSIONS_PER_PEER above 1000 for
    # a --concurrent above it: every fake call comes from 127.0.0.1)
    server = AgiServer(runtime.handle, port=0, command_timeout=60,
                       limits=agi_limits(load_settings()))
    await server.start()
    if freeze:
        # as hotline.serve does once started: the start-up objects are taken out of the
        # collector's passes, else each full collection walks them all (50-83 ms pauses)
        gc.collect()
        gc.freeze()
    pauses = watch_gc()
    stalls = watch_stalls(asyncio.get_running_loop()) if os.environ.get("IVR_LOAD_STALLS") \
        else None
    lags: list[float] = []
    lag_task = asyncio.create_task(watch_lag(lags))
    print(f"READY {server.port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_reader(sys.stdin.fileno(), stop.set)  # the parent closes our stdin to stop us
    await stop.wait()
    lag_task.cancel()
    await server.close()
    await runtime.close()
    await reader.close()
    await engine.dispose()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    if stalls is not None:
        for where, count in stalls.most_common(12):
            print(f"stalled {count}x: {where}", file=sys.stderr)
    print(json.dumps({"cpu_s": usage.ru_utime + usage.ru_stime, "gc": pauses,
                      "gc_objects": len(gc.get_objects()), "gc_frozen": gc.get_freeze_count(),
                      "lag_p99_ms": pct(lags, 0.99), "lag_max_ms": max(lags, default=0.0),
                      "sessions": server.sessions_served, "errors": server.handler_errors,
                      "counts": dict(runtime.counts)}), flush=True)


# --- the callers (this process) --------------------------------------------------------------

@dataclass
class Stats:
    steps: list[float] = field(default_factory=list)
    by_next: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    first: list[float] = field(default_factory=list)
    done: int = 0
    failed: int = 0
    commands: int = 0
    outcomes: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    lags: list[float] = field(default_factory=list)
    after_write: list[float] = field(default_factory=list)  # a ticket or callback written
    after_lookup: list[float] = field(default_factory=list)  # the caller's 360 view read
    plain: list[float] = field(default_factory=list)  # the rest


def script(rng: random.Random) -> list[str | None]:
    """What one caller keys at each request for input (None: silence)."""
    after = rng.choice(("0", "9", None, "0"))
    choice = rng.random()
    if choice < 0.35:
        return ["0"]
    if choice < 0.55:
        return ["1", "202611240007", after, "0"]  # own tickets, or a keyed number
    if choice < 0.70:
        return ["2", after, "0"]
    if choice < 0.80:
        return ["3", "1", after, "0"]
    if choice < 0.85:
        return ["4", "0"]
    if choice < 0.93:
        return ["7", "*", "x"]
    return []


async def one_call(port: int, caller: str, keys: list[str | None], think_s: float,
                   rng: random.Random, stats: Stats) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    header = (f"agi_network: yes\nagi_request: agi://127.0.0.1:4573/hotline?did={DID}\n"
              f"agi_channel: PJSIP/trunk-{rng.randrange(10**8):08x}\nagi_language: en\n"
              f"agi_uniqueid: {time.time():.3f}\nagi_callerid: {caller}\n"
              f"agi_calleridname: Bench\nagi_extension: {DID}\n\n").encode()
    first = True
    prev = ""
    plays = 0
    try:
        writer.write(header)
        await writer.drain()
        sent = time.perf_counter()
        while True:
            line = await reader.readline()
            got = time.perf_counter()
            if not line:
                break
            words = line.decode("utf-8").split()  # the command's name is all we need
            name = " ".join(words[:2])
            elapsed = (got - sent) * 1000
            (stats.first if first else stats.steps).append(elapsed)
            stats.by_next[name].append(elapsed)
            if prev == "GET FULL":  # the IVR asks the Linkedid just before it writes
                stats.after_write.append(elapsed)
            elif plays == 1 and prev == "STREAM FILE":  # after the welcome: the 360 lookup
                stats.after_lookup.append(elapsed)
            elif not first:
                stats.plain.append(elapsed)
            plays += name == "STREAM FILE"
            prev = name
            stats.commands += 1
            first = False
            reply, wait = answer(words, name, keys, think_s, rng)
            if reply is None:
                writer.write(b"200 result=1\n")
                await writer.drain()
                stats.outcomes["hangup-by-ivr"] += 1
                continue
            if wait:
                await asyncio.sleep(wait)
            writer.write(reply)
            await writer.drain()
            sent = time.perf_counter()
        stats.done += 1
    except (ConnectionError, OSError):
        stats.failed += 1
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except (ConnectionError, OSError):
            pass


def answer(words: list[str], name: str, keys: list[str | None], think_s: float,
           rng: random.Random) -> tuple[bytes | None, float]:
    """The reply to one command and how long the PBX/caller takes to give it."""
    playing = think_s * rng.uniform(0.5, 1.5)
    if name == "STREAM FILE" or words[0] == "SAY":
        return b"200 result=0 endpos=8000\n", playing
    if name == "WAIT FOR":
        key = keys.pop(0) if keys else None
        return f"200 result={ord(key[0]) if key else 0}\n".encode(), playing
    if name == "GET DATA":
        key = keys.pop(0) if keys else None
        return (f"200 result={key}\n" if key else "200 result= (timeout)\n").encode(), playing
    if name == "GET FULL":
        return b"200 result=1 (bench.1)\n", 0.0
    if words[0] == "HANGUP":
        return None, 0.0
    return b"200 result=1\n", 0.0  # SET VARIABLE and anything else


async def drive(port: int, numbers: list[str], args: argparse.Namespace) -> tuple[Stats, float]:
    rng = random.Random(SEED + 1)
    stats = Stats()
    gate = asyncio.Semaphore(args.concurrent)

    async def run(i: int) -> None:
        async with gate:
            # the first calls arrive over a second, not all at once: this waits inside
            # the gate (the first C tasks take it in order), else the calls after them
            # took the free places at once and C calls arrived in the same few ms
            if i < args.concurrent and not args.burst:
                await asyncio.sleep(rng.random())
            unknown = rng.random() < args.unknown
            caller = f"199{rng.randrange(10**8):08d}" if unknown else rng.choice(numbers)
            await one_call(port, caller, script(rng), args.think_ms / 1000, rng, stats)

    lag_task = asyncio.create_task(watch_lag(stats.lags))
    started = time.perf_counter()
    await asyncio.gather(*(run(i) for i in range(args.sessions)))
    wall = time.perf_counter() - started
    lag_task.cancel()
    return stats, wall


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def report(stats: Stats, wall: float, server: dict[str, Any], args: argparse.Namespace,
           url: str, load: tuple[float, float]) -> None:
    steps = stats.steps
    print(f"ivr_load: concurrent={args.concurrent} sessions={args.sessions} "
          f"think={args.think_ms:g} ms db={url.split(':', 1)[0]} customers={args.customers}"
          f" {'server on CPU 0, callers on CPU 1' if args.pin else 'not pinned'}, first "
          f"{args.concurrent} calls {'at once' if args.burst else 'over a second'}")
    print(f"sessions: {stats.done} completed, {stats.failed} failed in {wall:.1f} s -> "
          f"{stats.done / wall:.1f} sessions/s; {stats.commands} AGI commands "
          f"({stats.commands / wall:.0f}/s)")
    print(f"AGI step latency (n={len(steps)}): p50 {pct(steps, 0.5):.2f} ms, "
          f"p99 {pct(steps, 0.99):.2f} ms, max {max(steps, default=0):.1f} ms, "
          f"mean {statistics.fmean(steps) if steps else 0:.2f} ms")
    print(f"first step (number plan, flow, welcome): p50 {pct(stats.first, 0.5):.2f} ms, "
          f"p99 {pct(stats.first, 0.99):.2f} ms")
    for label, values in (("the step that looks the caller up (360 view)", stats.after_lookup),
                          ("steps that write a repair ticket or a callback", stats.after_write),
                          ("all other steps", stats.plain)):
        print(f"{label} (n={len(values)}): p50 {pct(values, 0.5):.2f} ms, p99 "
              f"{pct(values, 0.99):.2f} ms")
    for name, values in sorted(stats.by_next.items(), key=lambda kv: -len(kv[1])):
        print(f"  next command {name:<14} n={len(values):<7} p50 {pct(values, 0.5):6.2f} ms"
              f"  p99 {pct(values, 0.99):6.2f} ms")
    if server:
        cpu = server.get("cpu_s", 0.0)
        print(f"server: {server.get('sessions')} sessions, {server.get('errors')} handler "
              f"errors, CPU {cpu:.1f} s ({100 * cpu / wall:.0f}% of one core); "
              f"{json.dumps(server.get('counts', {}), sort_keys=True)}")
        print(f"server event loop lag (a 5 ms sleep woken late): p99 "
              f"{server.get('lag_p99_ms', 0):.2f} ms, max {server.get('lag_max_ms', 0):.1f} ms")
        gcs = server.get("gc", {})
        print(f"server garbage collector: {gcs.get('runs', 0):.0f} runs "
              f"({gcs.get('full_runs', 0):.0f} full), longest pause "
              f"{gcs.get('max_ms', 0):.1f} ms, {gcs.get('total_ms', 0):.0f} ms in all; "
              f"{server.get('gc_objects', 0)} objects tracked at the end, "
              f"{server.get('gc_frozen', 0)} frozen")
    client = resource.getrusage(resource.RUSAGE_SELF)
    print(f"callers (this process): CPU {client.ru_utime + client.ru_stime:.1f} s "
          f"(seeding included); event loop lag p99 {pct(stats.lags, 0.99):.2f} ms, max "
          f"{max(stats.lags, default=0.0):.1f} ms (it adds to the latencies measured)")
    print(f"machine load average (1 min) before/after: {load[0]:.2f} / {load[1]:.2f} "
          f"on {os.cpu_count()} cores (other processes included)")
    print(f"ivr_p99_ms={pct(steps, 0.99):.2f} concurrent={args.concurrent}")


async def create_database(url: str) -> None:
    """Create the PostgreSQL database of ``url`` when it does not exist yet."""
    import asyncpg
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    admin = await asyncpg.connect(host=parsed.host or "127.0.0.1", port=parsed.port or 5432,
                                  user=parsed.username or "postgres", database="postgres")
    try:
        if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1",
                                    parsed.database):
            await admin.execute(f'CREATE DATABASE "{parsed.database}"')
    finally:
        await admin.close()


async def bench(args: argparse.Namespace) -> None:
    if args.pg:
        url = args.pg
        await create_database(url)
    else:
        BENCH_DIR.mkdir(parents=True, exist_ok=True)
        path = BENCH_DIR / f"ivr-{args.customers}.db"
        if args.fresh and path.exists():
            path.unlink()
        url = f"sqlite+aiosqlite:///{path}"
    await upgrade_async(url)
    engine = make_engine(url)
    t0 = time.perf_counter()
    await seed(engine, args.customers)
    if engine.dialect.name == "postgresql":
        # statistics for the planner after the bulk seed, as autovacuum would gather them
        # (it is off on some machines: without them the 360 lookup took 7 ms, not 0.7)
        async with engine.begin() as conn:  # committed: a rolled-back ANALYZE keeps nothing
            await conn.execute(text("ANALYZE"))
    numbers = await callers(engine, args.customers + 100)
    await engine.dispose()
    print(f"database ready in {time.perf_counter() - t0:.1f} s ({len(numbers)} caller numbers)")
    proc = await asyncio.create_subprocess_exec(
        *(os.environ["IVR_LOAD_SERVER"].split() if os.environ.get("IVR_LOAD_SERVER") else
          [sys.executable, __file__, "serve"]), url,
        *(["--no-gc-freeze"] if args.no_gc_freeze else []), *(["--pin"] if args.pin else []),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, env={**os.environ, "PYTHONHASHSEED": "0"})
    assert proc.stdout is not None and proc.stdin is not None
    ready = (await proc.stdout.readline()).decode().split()
    if ready[:1] != ["READY"]:
        raise SystemExit(f"server did not start: {ready}")
    port = int(ready[1])
    load_before = os.getloadavg()[0]
    if args.pin:
        pin(1)
    try:
        # warm-up: caches, prepared statements, the flow, the number plan
        warm = argparse.Namespace(**{**vars(args), "sessions": 50, "concurrent": 10,
                                     "think_ms": 0.0})
        await drive(port, numbers, warm)
        # our own collector's pauses would count as the server's latency: what lives for
        # the whole run (the numbers, the seeding's leftovers) is kept out of its passes
        gc.collect()
        gc.freeze()
        stats, wall = await drive(port, numbers, args)
    finally:
        proc.stdin.close()
        out = await proc.stdout.read()
        await proc.wait()
    server = json.loads(out.decode().strip().splitlines()[-1]) if out.strip() else {}
    report(stats, wall, server, args, url, (load_before, os.getloadavg()[0]))


def main() -> None:
    if len(sys.argv) >= 3 and sys.argv[1] == "serve":
        freeze = "--no-gc-freeze" not in sys.argv[3:]
        if "--pin" in sys.argv[3:]:
            pin(0)
        profile = os.environ.get("IVR_LOAD_PROFILE")  # a file: where the server's profile goes
        if profile:
            import cProfile

            cProfile.run(f"asyncio.run(serve({sys.argv[2]!r}, {freeze}))", profile)
        else:
            asyncio.run(serve(sys.argv[2], freeze))
        return
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--concurrent", type=int, default=200)
    ap.add_argument("--sessions", type=int, default=4000)
    ap.add_argument("--think-ms", type=float, default=1000.0,
                    help="how long a prompt plays / a caller takes to answer (mean)")
    ap.add_argument("--customers", type=int, default=20_000)
    ap.add_argument("--unknown", type=float, default=0.2, help="share of unknown callers")
    ap.add_argument("--pg", default=None, help="PostgreSQL URL (migrated and seeded, kept)")
    ap.add_argument("--fresh", action="store_true", help="rebuild the SQLite file")
    ap.add_argument("--burst", action="store_true",
                    help="the first C calls arrive at once (a PBX restart, an outage), not "
                         "over a second: their first steps queue behind each other")
    ap.add_argument("--pin", action="store_true",
                    help="keep the server on CPU 0 and the callers on CPU 1 (on a shared "
                         "machine this can hurt: neither may move off a busy CPU)")
    ap.add_argument("--no-gc-freeze", action="store_true",
                    help="the server does not freeze its start-up objects (gc.freeze), "
                         "unlike hotline serve: to see what that costs")
    asyncio.run(bench(ap.parse_args()))


if __name__ == "__main__":
    main()
