"""SLA sweep benchmark: one ``crm_core.sla.sweep`` over --tickets open tickets of
--stations stations, on SQLite (default) or PostgreSQL (``--db pg``).

Builds (deterministically, seed 15) --stations stations (a tenth of them open round the
clock, the rest Mon-Fri 08:30-12:00, 13:00-17:30 in Asia/Shanghai; calendar CN with
China's holidays), their managers and regional managers, the default SLA policies,
1,000 customers (a tenth VIP) and --tickets open repair tickets started over the three
days before T0 (Tuesday 2026-03-03 10:00 Shanghai), of every priority, a third already
accepted. Each ticket's dues are computed in its station's hours and its SLA state is
what a sweep at T0 leaves (warnings and escalations reached, ``sla_next_at``), as on a
running system. After a sweep at T0 (the previous round of a running server), the
timed sweeps (--rounds, default 5) run at T0 + k x --window seconds (default 60: twice
the default sweep interval), each firing what came due since the previous one and
writing its history rows and outbox messages, commit included.

PostgreSQL: --pg URL (default: the HOTLINE_TEST_PG_DB database, else ``test``): its
``public`` schema is DROPPED and recreated. SQLite: var/bench/sla-sweep.db, rebuilt.

Prints the build, each sweep's counts and time; last line
``sla_sweep_ms=<Y> open_tickets=<M>``, Y the worst round.

Usage: python benchmarks/sla_sweep.py [--db sqlite|pg] [--tickets 200000]
       [--stations 400] [--window 60] [--pg URL]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, select  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker  # noqa: E402

from benchmarks.fresh_db import PG_URL, fresh  # noqa: E402
from crm_core.db import make_engine, upgrade_async  # noqa: E402
from crm_core.holidays import calendar_days, load_holidays  # noqa: E402
from crm_core.models import Customer, ServiceStation, SlaPolicy, Ticket, User  # noqa: E402
from crm_core.sla import calendar_for, pick_policy, seed_policies, sweep  # noqa: E402
from crm_core.sla_clock import DEFAULT_HOURS, add_business  # noqa: E402
from crm_core.sla_steps import (  # noqa: E402
    STEP_STATES,
    current_target,
    next_instant,
    thresholds,
)

SH = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 3, 3, 10, 0, tzinfo=SH)
ROUND_THE_CLOCK = {d: [["00:00", "24:00"]] for d in
                   ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
PRIORITIES = ("low", "normal", "normal", "normal", "high", "urgent")
CHUNK = 5_000




async def build(maker: async_sessionmaker[AsyncSession], stations: int, tickets: int) -> None:
    rnd = random.Random(15)
    async with maker.begin() as s:
        await seed_policies(s)
        await load_holidays(s)
        regional = [User(username=f"region{n}", display_name=f"区域经理{n}",
                         email=f"region{n}@example.com", phone=f"+86139{n:08d}")
                    for n in range(8)]
        managers = [User(username=f"mgr{n}", display_name=f"站长{n}",
                         email=f"mgr{n}@example.com", phone=f"+86138{n:08d}")
                    for n in range(stations)]
        s.add_all([*regional, *managers, User(username="director", display_name="服务总监",
                                              email="director@example.com")])
        await s.flush()
        rows = [ServiceStation(code=f"S{n:04d}", name=f"服务站{n}", email=f"s{n}@example.com",
                               phones=[f"+8637{n:09d}"],
                               hours=ROUND_THE_CLOCK if n % 10 == 0 else DEFAULT_HOURS,
                               manager_id=managers[n].id,
                               regional_manager_id=regional[n % 8].id)
                for n in range(stations)]
        s.add_all(rows)
        s.add_all(Customer(name=f"客户{n}", vip_tier=1 if n % 10 == 0 else 0)
                  for n in range(1000))
        await s.flush()
        policies = list((await s.execute(select(SlaPolicy))).scalars())
        days = await calendar_days(s, "CN")
        shared = {False: calendar_for(rows[1], days), True: calendar_for(rows[0], days)}
        station_rows = [(st.id, shared[st.hours is ROUND_THE_CLOCK]) for st in rows]
        customer_ids = list((await s.execute(select(Customer.id))).scalars())
    batch: list[dict[str, Any]] = []
    for n in range(tickets):
        station_id, cal = station_rows[rnd.randrange(len(station_rows))]
        customer_id = customer_ids[rnd.randrange(len(customer_ids))]
        priority = PRIORITIES[rnd.randrange(len(PRIORITIES))]
        start = T0 - timedelta(seconds=rnd.randrange(3 * 86400))
        policy = pick_policy(policies, priority, "repair", 1 if customer_id % 10 == 1 else 0)
        assert policy is not None
        due = {k: add_business(cal, start, timedelta(minutes=m)) if m else None
               for k, m in (("accept", policy.accept_min), ("arrive", policy.arrive_min),
                            ("resolve", policy.resolve_min))}
        accepted = None
        if n % 3 == 0 and due["accept"] is not None and due["accept"] - timedelta(minutes=5) <= T0:
            accepted = due["accept"] - timedelta(minutes=5)
        row = {"number": f"B{n:07d}", "customer_id": customer_id, "problem": "故障",
               "priority": priority, "category": "repair",
               "status": "in_progress" if accepted else "assigned", "station_id": station_id,
               "created_at": start, "routed_at": start, "sla_policy_id": policy.id,
               "accept_due": due["accept"], "arrive_due": due["arrive"],
               "resolve_due": due["resolve"], "accepted_at": accepted,
               "sla_state": "ok", "escalation_level": 0, "sla_next_at": None}
        target = current_target(
            accept=(due["accept"], accepted, policy.accept_min),
            arrive=(due["arrive"], None, policy.arrive_min),
            resolve=(due["resolve"], None, policy.resolve_min))
        if target is not None:  # the state a sweep at T0 leaves
            instants = thresholds(cal, target, policy.warn_pct)
            done = sum(1 for at in instants if at <= T0)
            if done:
                row["sla_state"], row["escalation_level"] = STEP_STATES[done - 1], done - 1
            row["sla_next_at"] = next_instant(instants, done)
        batch.append(row)
        if len(batch) == CHUNK or n == tickets - 1:
            async with maker.begin() as s:
                await s.execute(insert(Ticket.__table__), batch)  # core: no RETURNING
            batch = []


async def run(args: argparse.Namespace) -> None:
    url = args.pg if args.db == "pg" else f"sqlite+aiosqlite:///{ROOT}/var/bench/sla-sweep.db"
    await fresh(url)
    await upgrade_async(url)
    engine = make_engine(url)
    try:
        maker = async_sessionmaker(engine, expire_on_commit=False)
        began = time.perf_counter()
        await build(maker, args.stations, args.tickets)
        if args.db == "pg":
            async with engine.connect() as conn:
                await conn.exec_driver_sql("ANALYZE")
        print(f"built {args.stations} stations, {args.tickets} open tickets in "
              f"{time.perf_counter() - began:.1f} s ({args.db})")
        # the previous round, as on a running server (every sweep after the first finds
        # its statements compiled), then the timed one
        async with maker.begin() as s:
            await sweep(s, T0, director="director")
        gc.collect()
        times = []
        for n in range(1, args.rounds + 1):
            now = T0 + timedelta(seconds=args.window * n)
            began = time.perf_counter()
            async with maker.begin() as s:
                result = await sweep(s, now, director="director")
            times.append((time.perf_counter() - began) * 1000)
            print(f"sweep at T0+{args.window * n}s: {result.examined} tickets due, "
                  f"{result.warnings} warnings, {result.escalations} escalations, "
                  f"{result.messages} messages, {times[-1]:.1f} ms (commit included)")
        # the worst round: the first one with work also pays for preparing its statements
        print(f"sla_sweep_ms={max(times):.1f} open_tickets={args.tickets}")
    finally:
        await engine.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--db", choices=("sqlite", "pg"), default="sqlite")
    ap.add_argument("--tickets", type=int, default=200_000)
    ap.add_argument("--stations", type=int, default=400)
    ap.add_argument("--window", type=int, default=60, help="seconds after T0 to sweep at")
    ap.add_argument("--rounds", type=int, default=5, help="sweeps, --window apart; the worst "
                                                           "is reported")
    ap.add_argument("--pg", default=PG_URL, help="PostgreSQL URL (its schema is DROPPED)")
    asyncio.run(run(ap.parse_args()))


if __name__ == "__main__":
    main()
