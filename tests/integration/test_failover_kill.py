"""Issue 13 item 13: three ``hotline serve`` nodes on Redis and PostgreSQL, the AMI owner
killed with SIGKILL mid-traffic and started again; another node takes the PBX over and
no call is lost, doubled or logged with a wrong outcome. ``benchmarks/failover.py`` does
the run (its own PostgreSQL database, its own Redis stream) and prints the figures; this
test runs it small and holds it to them."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from tests.conftest import PG_DB, _require

ROOT = Path(__file__).resolve().parents[2]
# the run drops and rebuilds this database's schema: one per suite (HOTLINE_TEST_PG_DB),
# so two suites on one machine never rebuild it under each other
PG = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{PG_DB}_failover"


async def test_the_owner_killed_mid_traffic_loses_no_call() -> None:
    _require("PostgreSQL", "127.0.0.1", 5432)
    _require("Redis", "127.0.0.1", 6379)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "benchmarks" / "failover.py"), "--calls", "24",
        "--pg", PG, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), 600)
    text = out.decode("utf-8", "replace")
    last = text.strip().splitlines()[-1]
    assert proc.returncode == 0, text[-4000:]
    figures = dict(item.split("=") for item in last.split())
    assert (figures["calls_lost"], figures["calls_doubled"], figures["wrong_outcomes"]) == (
        "0", "0", "0"), text[-4000:]
    assert float(figures["failover_s"]) < float("inf"), text[-4000:]  # someone took over
