"""``hotline serve`` loses the PBX mid-traffic, killed (SIGKILL) and started again, or
its AMI link cut for a while: no call lost, none doubled, outcomes right (issue 13 items
1 and 2), on SQLite and PostgreSQL, on the in-process bus and on Redis.

AMI cannot tell what happened while nobody listened; the PBX's journal can. The
simulator keeps its CEL journal as deploy/asterisk's cel_custom.conf has Asterisk keep
it, ``hotline serve`` reads it (HOTLINE_PBX_JOURNAL) when it starts and after an
outage: the calls that ended while it was blind are logged from it, those still up are
adopted by the resync. The records are read from the database afterwards and compared
with what the simulator knows of each call: the whole way, tracker, bus (its Redis
stream and consumer group too) and call log writer, and the reconciliation's question
"which of these calls are logged already?" asked of the real database.

On Redis the node holds the AMI lease: restarted after a SIGKILL (same consumer name,
as a restart on the same host), it waits for the dead process's lease to expire."""

from __future__ import annotations

import asyncio
import os
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from crm_core.db import make_engine, upgrade_async
from crm_core.models import CallRecord
from telephony.simulator import PbxSimulator, SimCall

from .test_ami_outage import _script, _truth
from .test_serve import _free_port

SCALE = 0.02


async def _records(db_url: str) -> list[CallRecord]:
    engine = make_engine(db_url)
    try:
        async with async_sessionmaker(engine, expire_on_commit=False)() as db:
            return list((await db.execute(select(CallRecord))).scalars())
    finally:
        await engine.dispose()


async def _serve(db_url: str, bus_env: dict[str, str], sim: PbxSimulator, journal: Path,
                 folder: Path) -> Any:
    env = dict(os.environ)
    env.pop("HOTLINE_CONFIG", None)
    env.update({
        "HOTLINE_DATABASE_URL": db_url, "HOTLINE_AMI_PORT": str(sim.port),
        "HOTLINE_HTTP_PORT": str(_free_port()), "HOTLINE_AGI_ENABLED": "false",
        "HOTLINE_LOG_LEVEL": "INFO", "HOTLINE_PBX_JOURNAL": str(journal),
        "HOTLINE_AMI_RECONNECT_MIN_S": "0.05", "HOTLINE_AMI_RECONNECT_MAX_S": "0.3",
        **bus_env,
    })
    with (folder / "serve.log").open("ab") as log:  # the child keeps its own copy
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "hotline.cli", "serve", cwd=folder, env=env, stdout=log,
            stderr=log)
    for _ in range(600):
        if sim.connections:
            return proc
        await asyncio.sleep(0.05)
    proc.kill()
    raise AssertionError("hotline serve never logged in: "
                         + (folder / "serve.log").read_text("utf-8", "replace")[-3000:])


async def _stop(procs: list[Any], sim: PbxSimulator,
                tasks: list[asyncio.Task[Any]] | None = None) -> None:
    """The test's ``hotline serve`` processes terminated, its tasks cancelled, the PBX
    closed (whatever the test got to)."""
    for proc in procs:
        if proc.returncode is None:
            proc.terminate()
            await proc.wait()
    for task in tasks or ():
        task.cancel()
    await asyncio.gather(*(tasks or ()), return_exceptions=True)
    await sim.close()


async def _lose_the_pbx(fault: str, db_url: str, bus_env: dict[str, str],
                       tmp_path: Path) -> None:
    """30 calls, one a simulated second; after the 15th Hotline loses the PBX for 25 s
    of the PBX's time (``fault``: "kill", SIGKILL then a new process; "outage", the
    PBX drops the AMI link and refuses it meanwhile). Then every call must be in the
    database once, with the outcome, queue and agent the simulator knows it had."""
    await upgrade_async(db_url)
    journal = tmp_path / "cel.csv"
    sim = PbxSimulator(time_scale=SCALE, timestampevents=True, journal=str(journal))
    await sim.start()
    procs: list[Any] = []
    try:
        for agent in ("Alice", "Bob", "Carol"):
            sim.pbx.sign_in(agent)
        procs.append(await _serve(db_url, bus_env, sim, journal, tmp_path))
        calls: list[SimCall] = []
        for i in range(30):
            calls.append(sim.place_call(caller=f"1391234{i:04d}", name=f"Caller {i}",
                                        script=_script(i)))
            await asyncio.sleep(0.02)
            if i == 14 and fault == "kill":
                procs[-1].kill()  # SIGKILL: nothing flushed, nothing said goodbye
                await procs[-1].wait()
                for _ in range(500):  # until the PBX notices the socket is gone
                    if not sim.connections:
                        break
                    await asyncio.sleep(0.01)
                await asyncio.sleep(0.5)  # 25 s of the PBX's time without Hotline
                procs.append(await _serve(db_url, bus_env, sim, journal, tmp_path))
            elif i == 14:
                sim.refuse_connections(True)
                await sim.drop_connections()
                await asyncio.sleep(0.5)  # 25 s of the PBX's time with Hotline blind
                sim.refuse_connections(False)
        await asyncio.wait_for(asyncio.gather(*(c.done for c in calls)), 60)
        by_call: dict[str, CallRecord] = {}
        rows: list[CallRecord] = []
        for _ in range(300):
            rows = await _records(db_url)
            by_call = {r.linkedid: r for r in rows}
            if {c.linkedid for c in calls} <= set(by_call):
                break
            await asyncio.sleep(0.1)
    finally:
        await _stop(procs, sim)
    log = (tmp_path / "serve.log").read_text("utf-8", "replace")[-4000:]
    lost = [c.linkedid for c in calls if c.linkedid not in by_call]
    assert lost == [], (lost, log)
    assert [lid for lid, n in Counter(r.linkedid for r in rows).items() if n > 1] == []
    wrong = {c.linkedid: (_truth(c), (by_call[c.linkedid].outcome,
                                      (by_call[c.linkedid].queues or [None])[-1],
                                      by_call[c.linkedid].agent))
             for c in calls
             if (by_call[c.linkedid].outcome, (by_call[c.linkedid].queues or [None])[-1],
                 by_call[c.linkedid].agent) != _truth(c)}
    assert wrong == {}, f"{len(wrong)}/{len(calls)} wrong (truth, logged): {wrong}\n{log}"


async def test_calls_that_end_while_hotline_is_killed_are_logged_after_its_restart(
        db_url: str, bus_env: dict[str, str], tmp_path: Path) -> None:
    """Issue 13 item 2: ``kill -9`` and a restart lost 10-13 calls of 80."""
    await _lose_the_pbx("kill", db_url, bus_env, tmp_path)


async def test_calls_across_an_ami_outage_are_logged_once_with_their_outcome(
        db_url: str, bus_env: dict[str, str], tmp_path: Path) -> None:
    """Issue 13 items 1-2 the whole way to the database: calls up at the cut keep their
    true outcome (the resync), those that ended during it are logged from the journal;
    none twice, although the resync's blind records and the journal's both name them."""
    await _lose_the_pbx("outage", db_url, bus_env, tmp_path)
