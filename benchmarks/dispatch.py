"""Dispatch benchmark (issue 15 item 8): routing a new ticket to a service station with a
national network and a heavy open load, on SQLite and PostgreSQL.

Builds (deterministically, seed 15) a fresh database: the demo's service network
(``crm_core.demo_network``: --stations stations, 400 by default, across China's
provinces, with a regional hub per region), --technicians technicians (5,000), 20,000
customers spread over the network's cities with one asset each (coach, printer or
packaging line), and --open open tickets (200,000) already routed to the stations in
proportion to their capacity; loaded in bulk, then ANALYZEd (PostgreSQL: VACUUM ANALYZE,
so the open-load count is an index-only scan, as on a server that autovacuums).

Then routes --routes new tickets (after --warmup): each one is inserted and flushed in
its own transaction, and the time of ``crm_core.dispatch.route_ticket`` (read the facts,
the candidate stations, their open load; decide; write the decision and its history
row) plus the flush that writes it is measured, wall clock. The time of a whole
``crm_core.tickets.create_ticket`` (numbering, duplicate check, audit, routing) is
printed too, for the record.

SLA sweep: when ``crm_core.sla`` has a ``sweep`` function (another part of issue 15),
one ``await crm_core.sla.sweep(session, now)`` over every open ticket is timed;
otherwise it prints ``NA``.

PostgreSQL (``--db pg`` or ``both``): the URL of the test settings
(postgresql+asyncpg://postgres@127.0.0.1:5432/<HOTLINE_TEST_PG_DB or test>) or --pg.
Its ``public`` schema is DROPPED and recreated. SQLite: var/bench/dispatch.db (rebuilt).

Last line: ``route_p99_ms=X sla_sweep_ms=Y stations=N open_tickets=M`` (the worse of the
databases run).

Usage: python benchmarks/dispatch.py [--db sqlite|pg|both] [--stations 400]
       [--technicians 5000] [--open 200000] [--routes 2000] [--warmup 200] [--pg URL]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib
import os
import random
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, insert, select, text  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker  # noqa: E402
from sqlalchemy.pool import NullPool  # noqa: E402

from crm_core import dispatch, tickets  # noqa: E402
from crm_core.db import make_engine, upgrade_async  # noqa: E402
from crm_core.demo_network import network_rows, technician_rows  # noqa: E402
from crm_core.models import (  # noqa: E402
    Asset,
    Customer,
    ProductLine,
    ServiceStation,
    Technician,
    Ticket,
)
from crm_core.permissions import SYSTEM  # noqa: E402
from crm_core.places import CITIES  # noqa: E402

PG_URL = ("postgresql+asyncpg://postgres@127.0.0.1:5432/"
          f"{os.environ.get('HOTLINE_TEST_PG_DB', 'test')}")
SQLITE_PATH = ROOT / "var" / "bench" / "dispatch.db"
LINES = [("BUS-COACH", "旅游客车", "Touring coaches"), ("BUS-CITY", "城市公交车", "City buses"),
         ("PRN-LASER", "激光打印机", "Laser printers"), ("OFF-MFP", "多功能复印机", "Copiers"),
         ("PKG-BLISTER", "泡罩包装机", "Blister machines"), ("PKG-FOIL", "药用铝箔", "Foil")]
CUSTOMERS = 20_000
CHUNK = 10_000
NOW = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)


@dataclass
class Figures:
    db: str
    route_ms: list[float]
    create_ms: list[float]
    sweep_ms: float | None
    stations: int
    open_tickets: int

    def pct(self, values: list[float], p: float) -> float:
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))]

    def line(self) -> str:
        r, c = self.route_ms, self.create_ms
        sweep = "NA" if self.sweep_ms is None else f"{self.sweep_ms:.1f}"
        return (f"{self.db}: route n={len(r)} p50={statistics.median(r):.3f} "
                f"p95={self.pct(r, 95):.3f} p99={self.pct(r, 99):.3f} max={max(r):.3f} ms; "
                f"create_ticket p50={statistics.median(c):.3f} p99={self.pct(c, 99):.3f} ms; "
                f"sla_sweep={sweep} ms")


# --- building the data set -------------------------------------------------------------


def stations(n: int) -> list[dict[str, Any]]:
    rows = network_rows()
    out = [dict(r) for r in rows[:n]]
    i = 0
    while len(out) < n:  # more than the demo's: copies in the same cities, new codes
        extra = dict(rows[i % len(rows)])
        extra["code"] = f"{extra['code']}-X{i // len(rows) + 1}"
        extra["is_hub"] = False
        out.append(extra)
        i += 1
    return out


async def insert_chunks(session: AsyncSession, model: Any, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), CHUNK):
        await session.execute(insert(model.__table__), rows[start:start + CHUNK])


async def build(sm: async_sessionmaker[AsyncSession], args: argparse.Namespace) -> list[int]:
    """Load the data set; the ids of the customers (each has one asset)."""
    rng = random.Random(15)
    async with sm.begin() as s:
        await insert_chunks(s, ProductLine, [{"code": c, "name": n, "name_en": e}
                                             for c, n, e in LINES])
        lines = {c: i for i, c in (await s.execute(select(ProductLine.id, ProductLine.code)))}
        station_rows = stations(args.stations)
        await insert_chunks(s, ServiceStation, station_rows)
        ids = {c: i for i, c in await s.execute(select(ServiceStation.id, ServiceStation.code))}
        techs: list[dict[str, Any]] = []
        for row in station_rows:
            techs += technician_rows(ids[row["code"]], row)
        while len(techs) < args.technicians:
            row = station_rows[len(techs) % len(station_rows)]
            extra = technician_rows(ids[row["code"]], row)[0]
            extra["name"] += str(len(techs))
            techs.append(extra)
        await insert_chunks(s, Technician, techs[:args.technicians])
        customers = []
        for i in range(CUSTOMERS):
            province, city, *_ = CITIES[rng.randrange(len(CITIES))]
            customers.append({"name": f"客户{i:05d}", "name_key": f"客户{i:05d}",
                              "province": province, "city": city,
                              "vip_tier": 2 if rng.random() < 0.05 else 0,
                              "status": "active", "kind": "company"})
        await insert_chunks(s, Customer, customers)
        cids = list(await s.scalars(select(Customer.id).order_by(Customer.id)))
        await insert_chunks(s, Asset, [
            {"customer_id": cid, "product_line_id": lines[LINES[rng.randrange(6)][0]],
             "serial_number": f"SN{cid:07d}", "site": None} for cid in cids])
        assets = dict((await s.execute(select(Asset.customer_id, Asset.id))).all())
        weights = [r["capacity"] for r in station_rows]
        station_ids = [ids[r["code"]] for r in station_rows]
        open_statuses = tickets.OPEN_STATUSES
        batch: list[dict[str, Any]] = []
        for i in range(args.open):
            cid = cids[rng.randrange(len(cids))]
            at = NOW - timedelta(minutes=rng.randrange(60 * 24 * 30))
            batch.append({"number": f"B{i:07d}", "customer_id": cid, "asset_id": assets[cid],
                          "problem": "故障", "status": open_statuses[i % len(open_statuses)],
                          "priority": "normal", "category": "repair",
                          "station_id": rng.choices(station_ids, weights)[0],
                          "routed_at": at, "created_at": at, "updated_at": at})
            if len(batch) >= CHUNK:
                await s.execute(insert(Ticket.__table__), batch)
                batch = []
        if batch:
            await s.execute(insert(Ticket.__table__), batch)
    return cids


async def fresh(url: str) -> None:
    if url.startswith("sqlite"):
        SQLITE_PATH.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            await asyncio.to_thread(Path(f"{SQLITE_PATH}{suffix}").unlink, missing_ok=True)
    else:
        engine = make_engine(url, poolclass=NullPool)
        async with engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
        await engine.dispose()
    await upgrade_async(url)


async def analyze(url: str) -> None:
    engine = make_engine(url, poolclass=NullPool)
    if url.startswith("sqlite"):
        async with engine.begin() as conn:
            await conn.execute(text("ANALYZE"))
    else:
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text("VACUUM ANALYZE"))
    await engine.dispose()


# --- measuring ------------------------------------------------------------------------------


async def route_one(sm: async_sessionmaker[AsyncSession], cid: int, n: int) -> float:
    async with sm.begin() as s:
        customer = await s.get(Customer, cid)
        asset_id = await s.scalar(select(Asset.id).where(Asset.customer_id == cid))
        assert customer is not None
        ticket = Ticket(number=f"R{n:07d}", customer_id=cid, asset_id=asset_id,
                        problem="抛锚", status="new", priority="urgent" if n % 10 == 0 else
                        "normal", category="repair", created_at=NOW, updated_at=NOW)
        s.add(ticket)
        await s.flush()
        started = time.perf_counter()
        await dispatch.route_ticket(s, SYSTEM, ticket, customer, NOW)
        await s.flush()
        elapsed = time.perf_counter() - started
        assert ticket.station_id is not None or ticket.route_flagged
    return elapsed * 1000


async def create_one(sm: async_sessionmaker[AsyncSession], cid: int) -> float:
    started = time.perf_counter()
    async with sm.begin() as s:
        await tickets.create_ticket(s, SYSTEM, cid, problem="咨询", category="inquiry",
                                    now=NOW)
    return (time.perf_counter() - started) * 1000


async def sweep_ms(sm: async_sessionmaker[AsyncSession]) -> float | None:
    try:
        sla = importlib.import_module("crm_core.sla")
    except ImportError:
        return None
    sweep = getattr(sla, "sweep", None)
    # an editable install can hand over another checkout's module: only this tree's
    if sweep is None or not str(sla.__file__ or "").startswith(f"{ROOT}{os.sep}"):
        return None
    async with sm.begin() as s:
        started = time.perf_counter()
        await sweep(s, NOW)
        return (time.perf_counter() - started) * 1000


async def measure(url: str, name: str, args: argparse.Namespace) -> Figures:
    started = time.perf_counter()
    await fresh(url)
    engine = make_engine(url)
    sm = async_sessionmaker(engine, expire_on_commit=False)
    try:
        cids = await build(sm, args)
        await analyze(url)
        print(f"{name}: built {args.stations} stations, {args.technicians} technicians, "
              f"{args.open:,} open tickets in {time.perf_counter() - started:.1f} s",
              flush=True)
        rng = random.Random(7)
        for n in range(args.warmup):
            await route_one(sm, cids[rng.randrange(len(cids))], n)
        gc.collect()
        gc.freeze()
        routes = [await route_one(sm, cids[rng.randrange(len(cids))], args.warmup + n)
                  for n in range(args.routes)]
        creates = [await create_one(sm, cids[rng.randrange(len(cids))])
                   for _ in range(max(50, args.routes // 10))]
        sweep = await sweep_ms(sm)
        gc.unfreeze()
        async with sm() as s:
            open_now = int(await s.scalar(select(func.count()).select_from(Ticket)
                                          .where(Ticket.status.in_(tickets.OPEN_STATUSES)))
                           or 0)
        return Figures(name, routes, creates, sweep, args.stations, open_now)
    finally:
        await engine.dispose()


async def run(args: argparse.Namespace) -> list[Figures]:
    targets = {"sqlite": [("sqlite", f"sqlite+aiosqlite:///{SQLITE_PATH}")],
               "pg": [("postgresql", args.pg)],
               "both": [("sqlite", f"sqlite+aiosqlite:///{SQLITE_PATH}"),
                        ("postgresql", args.pg)]}[args.db]
    results = []
    for name, url in targets:
        figures = await measure(url, name, args)
        print(figures.line(), flush=True)
        results.append(figures)
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--db", choices=("sqlite", "pg", "both"), default="sqlite")
    ap.add_argument("--stations", type=int, default=400)
    ap.add_argument("--technicians", type=int, default=5_000)
    ap.add_argument("--open", type=int, default=200_000)
    ap.add_argument("--routes", type=int, default=2_000)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--pg", default=PG_URL, help="PostgreSQL URL (its schema is DROPPED)")
    args = ap.parse_args()
    results = asyncio.run(run(args))
    worst = max(results, key=lambda f: f.pct(f.route_ms, 99))
    sweeps = [f.sweep_ms for f in results if f.sweep_ms is not None]
    sweep = f"{max(sweeps):.1f}" if len(sweeps) == len(results) else "NA"
    print(f"route_p99_ms={worst.pct(worst.route_ms, 99):.3f} sla_sweep_ms={sweep} "
          f"stations={worst.stations} open_tickets={worst.open_tickets}")


if __name__ == "__main__":
    main()
