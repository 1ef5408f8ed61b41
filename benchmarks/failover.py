"""Failover soak: three ``hotline serve`` nodes on Redis, the AMI owner killed (SIGKILL)
mid-traffic and started again (issue 13 item 13).

What runs, all on this machine, over real sockets: the PBX simulator (a real AMI server,
keeping its CEL journal as deploy/asterisk's cel_custom.conf has Asterisk keep it), three
``hotline serve`` processes sharing PostgreSQL (--pg, whose ``public`` schema is DROPPED
and rebuilt; default database ``failover_bench``, created if missing) and a Redis stream
of their own, each a candidate for the AMI lease (HOTLINE_AMI_LEASE_*), each reading the
journal (HOTLINE_PBX_JOURNAL). The simulator places --calls calls, --cps a second (PBX
time); when half of them are placed, the node holding the AMI link is killed with SIGKILL
and, --restart-after seconds later, started again.

Measured: ``failover_s``, from the kill until another node holds the AMI link (the
simulator sees its login); then, once every call has ended and the records settled, per
call what the database has against what the simulator knows: ``calls_lost`` (no record),
``calls_doubled`` (more than one), ``wrong_outcomes`` (outcome, last queue or agent not the
simulator's). Last line: ``failover_s=X calls_lost=N calls_doubled=M wrong_outcomes=W``.
Exit status 1 if a call was lost, doubled or wrong.

Usage: python benchmarks/failover.py [--calls 60] [--cps 1] [--scale 0.1]
       [--restart-after 3] [--pg URL]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import socket
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import create_async_engine

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from crm_core.db import make_engine, upgrade_async  # noqa: E402
from crm_core.models import CallRecord  # noqa: E402
from telephony.simulator import CallScript, PbxSimulator, SimCall  # noqa: E402

PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/failover_bench"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def script(i: int) -> CallScript:
    """Call ``i``: talks 20-80 s; every fifth caller gives up after 8 s in the queue."""
    return CallScript(talk=20.0 + (i % 4) * 20.0, patience=8.0 if i % 5 == 4 else 300.0,
                      ivr_s=2.0 + (i % 3))


def truth(call: SimCall) -> tuple[str, str | None, str | None]:
    return {"timeout": "no-answer"}.get(call.outcome, call.outcome), call.queue, call.agent


async def fresh_database(url: str) -> None:
    """The database empty and migrated (created if missing)."""
    base, _, name = url.rpartition("/")
    admin = create_async_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        found = await conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"),
                                  {"n": name})
        if not found:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
    await admin.dispose()
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.execute(text("DROP SCHEMA public CASCADE"))
        await conn.execute(text("CREATE SCHEMA public"))
    await engine.dispose()
    await upgrade_async(url)


class Node:
    """One ``hotline serve`` process."""

    def __init__(self, name: str, env: dict[str, str], folder: Path) -> None:
        self.name = name
        self.env = {**env, "HOTLINE_REDIS_CONSUMER": name,
                    "HOTLINE_HTTP_PORT": str(free_port())}
        self.log = folder / f"{name}.log"
        self.proc: Any = None

    async def start(self) -> None:
        with self.log.open("ab") as log:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "hotline.cli", "serve", env=self.env,
                cwd=self.log.parent, stdout=log, stderr=log)

    def kill(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), 20)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()


OWNER = re.compile(rb"now the PBX's AMI owner \(lease token (\d+)\)|no longer the PBX's AMI owner")


def owner(nodes: list[Node], sim: PbxSimulator) -> Node | None:
    """The live node that says it holds the AMI lease (its log: the newest token), once
    the simulator has an AMI session again."""
    if not sim.connections:
        return None
    best: tuple[int, Node] | None = None
    for node in nodes:
        if node.proc is None or node.proc.returncode is not None or not node.log.exists():
            continue
        said = OWNER.findall(node.log.read_bytes())
        if said and said[-1]:  # the last word: owner with this token (not "no longer")
            token = int(said[-1])
            if best is None or token > best[0]:
                best = (token, node)
    return best[1] if best else None


async def wait_for(probe: Any, within: float) -> Any:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        await asyncio.sleep(0.05)
    return None


async def run(args: argparse.Namespace) -> int:
    await fresh_database(args.pg)
    folder = Path(tempfile.mkdtemp(prefix="hotline-failover-"))
    journal = folder / "cel.csv"
    sim = PbxSimulator(time_scale=args.scale, timestampevents=True, journal=str(journal))
    await sim.start()
    for agent in ("Alice", "Bob", "Carol"):
        sim.pbx.sign_in(agent)
    env = {k: v for k, v in os.environ.items() if k != "HOTLINE_CONFIG"}
    env.update({
        "HOTLINE_DATABASE_URL": args.pg, "HOTLINE_BUS": "redis",
        "HOTLINE_REDIS_STREAM": f"hotline:failover:{uuid.uuid4().hex}",
        "HOTLINE_AMI_PORT": str(sim.port), "HOTLINE_AGI_ENABLED": "false",
        "HOTLINE_PBX_JOURNAL": str(journal), "HOTLINE_LOG_LEVEL": "INFO",
        "HOTLINE_AMI_RECONNECT_MIN_S": "0.05", "HOTLINE_AMI_RECONNECT_MAX_S": "0.5",
    })
    nodes = [Node(f"node{i}", env, folder) for i in range(3)]
    calls: list[SimCall] = []
    failover_s = float("nan")
    try:
        for node in nodes:
            await node.start()
        first = await wait_for(lambda: owner(nodes, sim), 60)
        if first is None:
            print("no node took the AMI link", file=sys.stderr)
            return 1
        gap = 1.0 / args.cps * args.scale  # real seconds between calls
        for i in range(args.calls):
            calls.append(sim.place_call(caller=f"1391234{i:04d}", name=f"Caller {i}",
                                        script=script(i)))
            await asyncio.sleep(gap)
            if i == args.calls // 2:
                victim = owner(nodes, sim) or first
                killed_at = time.monotonic()
                victim.kill()
                print(f"killed the owner {victim.name} (pid {victim.proc.pid}) after "
                      f"{i + 1} calls", flush=True)
                taken = await wait_for(
                    lambda v=victim: (o := owner(nodes, sim)) is not None and o is not v, 60)
                failover_s = time.monotonic() - killed_at if taken else float("inf")
                print(f"another node holds the AMI link after {failover_s:.2f} s", flush=True)
                await asyncio.sleep(args.restart_after)
                await victim.start()
        await asyncio.wait_for(asyncio.gather(*(c.done for c in calls)), 600)
        wanted = {c.linkedid for c in calls}
        rows: list[CallRecord] = []
        engine = make_engine(args.pg)
        for _ in range(300):
            async with engine.connect() as conn:
                rows = list((await conn.execute(select(CallRecord))).all())  # type: ignore[arg-type]
            if wanted <= {r.linkedid for r in rows}:
                break
            await asyncio.sleep(0.2)
        await engine.dispose()
    finally:
        for node in nodes:
            await node.stop()
        await sim.close()
    count = Counter(r.linkedid for r in rows)
    by_call = {r.linkedid: r for r in rows}
    lost = [c.linkedid for c in calls if c.linkedid not in by_call]
    doubled = [lid for lid, n in count.items() if n > 1]
    wrong = [c.linkedid for c in calls if c.linkedid in by_call
             and (by_call[c.linkedid].outcome, (by_call[c.linkedid].queues or [None])[-1],
                  by_call[c.linkedid].agent) != truth(c)]
    print(f"{len(calls)} calls, {len(rows)} records; logs in {folder}")
    for lid in wrong:
        call = next(c for c in calls if c.linkedid == lid)
        print(f"  wrong {lid}: truth {truth(call)}, logged {by_call[lid].outcome} "
              f"{by_call[lid].queues} {by_call[lid].agent}")
    print(f"failover_s={failover_s:.2f} calls_lost={len(lost)} calls_doubled={len(doubled)} "
          f"wrong_outcomes={len(wrong)}")
    return 1 if lost or doubled or wrong else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=60)
    parser.add_argument("--cps", type=float, default=1.0, help="calls a PBX second")
    parser.add_argument("--scale", type=float, default=0.1,
                        help="real seconds per PBX second")
    parser.add_argument("--restart-after", type=float, default=3.0,
                        help="real seconds before the killed node is started again")
    parser.add_argument("--pg", default=PG)
    return asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
