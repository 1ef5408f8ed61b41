"""Orders benchmark (issue 18 item 6): --lines order lines in --batches supplier batches,
on SQLite (default) or PostgreSQL (``--db pg``).

Builds (deterministically, seed 18) 200 suppliers, 20,000 customers, orders of 10 lines
on average (--lines / 10 of them, a third closed), and --batches batches at every stage
with the days of the stages they passed (the suppliers' history the forecasts are made
from); each line is in a batch of its own line's supplier, one in a hundred still to
be batched, one in fifty back-ordered. One of the batches holds exactly --big-batch
lines (2,000). Rows go in by chunks of Core inserts (SQLite) or COPY (PostgreSQL).

Measured:
- the IVR's order status for a caller with open orders: ``ivr.services.run_action(
  "order_status")`` as the AGI server runs it (its own session and transaction, one
  statement), for --calls random customers with an open order (after 200 not
  counted: the pool and statements warm, as on a running server); p99 of the calls;
- a stage update moving the --big-batch-line batch to its next stage
  (``crm_core.orders.update_stage``: the supplier's history read, one UPDATE of the
  batch row, the audit entry), commit included.

PostgreSQL: --pg URL (default: the HOTLINE_TEST_PG_DB database, else ``test``): its
``public`` schema is DROPPED and recreated. SQLite: var/bench/orders.db, rebuilt.

Last line: ``order_status_p99_ms=X batch_update_ms=Y lines=N``.

Usage: python benchmarks/orders.py [--db sqlite|pg] [--lines 1000000] [--batches 50000]
       [--calls 2000] [--pg URL]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import random
import sys
import time
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402
from sqlalchemy import Table, insert  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker  # noqa: E402

from benchmarks.fresh_db import PG_URL, fresh  # noqa: E402
from crm_core.db import make_engine, upgrade_async  # noqa: E402
from crm_core.models import (  # noqa: E402
    Customer,
    OrderLine,
    SalesOrder,
    Supplier,
    SupplierBatch,
)
from crm_core.order_eta import STAGES, expected_arrival, usual_days  # noqa: E402
from crm_core.orders import update_stage  # noqa: E402
from crm_core.permissions import SYSTEM  # noqa: E402
from ivr.services import ServiceContext, run_action  # noqa: E402

TODAY = date(2026, 8, 10)
NOW = datetime(2026, 8, 10, 2, 0, tzinfo=UTC)
SUPPLIERS = 200
CUSTOMERS = 20_000
CHUNK = 20_000
WARM = 200




async def put(engine: AsyncEngine, url: str, table: Table,
              rows: Sequence[dict[str, Any]]) -> None:
    """Bulk insert: COPY on PostgreSQL, chunks of executemany on SQLite."""
    if not rows:
        return
    if url.startswith("sqlite"):
        async with engine.begin() as conn:
            for i in range(0, len(rows), CHUNK):
                await conn.execute(insert(table), list(rows[i:i + CHUNK]))
        return
    columns = list(rows[0])
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    try:
        records = [tuple(json.dumps(v) if isinstance(v, dict) else v
                         for v in (r[c] for c in columns)) for r in rows]
        await conn.copy_records_to_table(table.name, records=records, columns=columns)
    finally:
        await conn.close()


def batch_rows(rnd: random.Random, n: int) -> list[dict[str, Any]]:
    """Batches at every stage, with the days of the stages passed (ordered up to
    150 days ago), the expected day computed as a stage update would have."""
    rows = []
    usual = usual_days([])
    for i in range(n):
        stage_no = rnd.randrange(len(STAGES))
        day = TODAY - timedelta(days=rnd.randrange(30, 150))
        dates = {}
        for stage in STAGES[:stage_no + 1]:
            dates[stage] = day.isoformat()
            day += timedelta(days=rnd.randrange(1, 20))
        stage = STAGES[stage_no]
        on = date.fromisoformat(dates[stage])
        rows.append({"id": i + 1, "code": f"B{i + 1:06d}", "supplier_id": i % SUPPLIERS + 1,
                     "stage": stage, "stage_on": on, "stage_dates": dates,
                     "expected_on": expected_arrival(stage, on, usual, max(on, TODAY)),
                     "created_at": NOW, "updated_at": NOW})
    return rows


async def build(engine: AsyncEngine, url: str, lines: int, batches: int,
                big: int) -> tuple[list[int], str]:
    rnd = random.Random(18)
    await put(engine, url, Supplier.__table__, [
        {"id": i + 1, "code": f"SUP{i + 1:03d}", "name": f"供应商{i + 1}",
         "name_en": f"Supplier {i + 1}", "country": "DE", "created_at": NOW}
        for i in range(SUPPLIERS)])
    await put(engine, url, Customer.__table__, [
        {"id": i + 1, "name": f"图书馆{i + 1}", "name_key": f"k{i + 1}", "kind": "company",
         "vip_tier": 0, "status": "active", "created_at": NOW, "updated_at": NOW}
        for i in range(CUSTOMERS)])
    batch = batch_rows(rnd, batches - 1)  # and the big one: --batches in all
    big_code = "BIG-BATCH"
    batch.append({**batch[0], "id": batches, "code": big_code, "stage": "shipped",
                  "stage_dates": {"ordered": "2026-06-01", "shipped": "2026-06-15"},
                  "stage_on": date(2026, 6, 15)})
    await put(engine, url, SupplierBatch.__table__, batch)
    # a supplier's batches: ids s, s + 200, s + 400...
    by_supplier = [list(range(s + 1, batches, SUPPLIERS)) for s in range(SUPPLIERS)]
    n_orders = max(1, (lines - big) // 10)
    orders = [{"id": i + 1, "number": f"SO{i + 1:07d}", "customer_id": rnd.randrange(
        CUSTOMERS) + 1, "status": "closed" if i % 3 == 0 else "open",
        "due_date": date(2026, 9, 1), "created_at": NOW, "updated_at": NOW}
        for i in range(n_orders)]
    await put(engine, url, SalesOrder.__table__, orders)
    open_customers = sorted({o["customer_id"] for o in orders if o["status"] == "open"})
    line_rows: list[dict[str, Any]] = []
    for i in range(lines):
        if i < big:
            order_id, supplier, batch_id = rnd.randrange(n_orders) + 1, 1, batches
        else:
            order_id = (i - big) % n_orders + 1
            supplier = rnd.randrange(SUPPLIERS)
            batch_id = rnd.choice(by_supplier[supplier]) if by_supplier[supplier] else None
            supplier += 1
            if rnd.random() < 0.01:
                batch_id = None
        state = "back_ordered" if rnd.random() < 0.02 else "active"
        line_rows.append({"id": i + 1, "order_id": order_id, "batch_id": batch_id,
                          "supplier_id": supplier, "title": f"Title {i}",
                          "ref": f"978{i:010d}", "quantity": 1 + i % 30, "delivered_qty": 0,
                          "price": None, "state": state})
        if len(line_rows) == 100_000:
            await put(engine, url, OrderLine.__table__, line_rows)
            line_rows = []
    await put(engine, url, OrderLine.__table__, line_rows)
    if not url.startswith("sqlite"):
        async with engine.begin() as conn:  # COPY with explicit ids: move the sequences on
            for table in ("supplier", "customer", "supplier_batch", "sales_order",
                          "order_line"):
                await conn.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT max(id) FROM {table}))")
        # what autovacuum does on a running system: statistics, and the visibility map
        # that lets the open-orders lookup read the indexes alone
        raw = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
        try:
            await raw.execute("VACUUM ANALYZE")
        finally:
            await raw.close()
    return open_customers, big_code


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


async def run(args: argparse.Namespace) -> None:
    url = args.pg if args.db == "pg" else f"sqlite+aiosqlite:///{ROOT}/var/bench/orders.db"
    await fresh(url)
    await upgrade_async(url)
    engine = make_engine(url)
    try:
        began = time.perf_counter()
        callers, big_code = await build(engine, url, args.lines, args.batches, args.big_batch)
        print(f"built {args.lines} lines, {args.batches} batches in "
              f"{time.perf_counter() - began:.1f} s ({args.db})")
        # measured as a server started on the built database: a fresh pool, the build's
        # garbage gone, 200 calls to warm the pool and the compiled statements
        await engine.dispose()
        engine = make_engine(url)
        sessions = async_sessionmaker(engine, expire_on_commit=False)
        rnd = random.Random(1)
        times, heard = [], 0
        gc.collect()
        gc.freeze()
        for n in range(args.calls + WARM):
            customer = rnd.choice(callers)
            ctx = ServiceContext(caller="+8613800000000", customer=None, queue="support",
                                 priority=0, linkedid=None, started_at=NOW)
            t = time.perf_counter()
            result = await run_action(sessions, "order_status",
                                      {"customer_id": str(customer)}, ctx)
            if n >= WARM:
                times.append((time.perf_counter() - t) * 1000)
                heard += bool(result.data.get("orders"))
        print(f"order status: {len(times)} calls, {heard} heard their open orders, "
              f"p50 {sorted(times)[len(times) // 2]:.2f} ms, p99 {p99(times):.2f} ms")
        t = time.perf_counter()
        async with sessions.begin() as s:
            moved = await update_stage(s, SYSTEM, big_code, "customs", TODAY, now=NOW)
        update_ms = (time.perf_counter() - t) * 1000
        print(f"stage update of {big_code} ({args.big_batch} lines) to {moved['stage']}, "
              f"expected {moved['expected_on']}: {update_ms:.1f} ms (commit included)")
        print(f"order_status_p99_ms={p99(times):.2f} batch_update_ms={update_ms:.1f} "
              f"lines={args.lines}")
    finally:
        await engine.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--db", choices=("sqlite", "pg"), default="sqlite")
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--batches", type=int, default=50_000)
    ap.add_argument("--big-batch", type=int, default=2_000, help="lines of the batch moved")
    ap.add_argument("--calls", type=int, default=2_000)
    ap.add_argument("--pg", default=PG_URL, help="PostgreSQL URL (its schema is DROPPED)")
    asyncio.run(run(ap.parse_args()))


if __name__ == "__main__":
    main()
