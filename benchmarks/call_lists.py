"""Call list benchmark (issue 17 item 7): a list over --customers customers, worked by
--agents agents at once, on SQLite (default) or PostgreSQL (``--db pg``).

Builds (deterministically, seed 17) --customers customers, each with a mobile number
(one in 200 invalid, one in 100 flagged "do not call"), then a ``customer_filter`` list
over all of them through ``crm_core.outbound_lists.create_list`` (timed: the build).
Then --agents agents work it concurrently, each --calls times: take the next entry
(``next_entry``, its own transaction, commit included: the figure), "talk" a random
0..--think-ms, record an outcome (a fifth no-answer, recycled after the list's delay).
Every entry handed out is counted: an entry given to two agents (or twice before its
outcome) is a duplicate.

PostgreSQL: --pg URL (default: the HOTLINE_TEST_PG_DB database, else ``test``): its
``public`` schema is DROPPED and recreated. SQLite: var/bench/call-lists.db, rebuilt.

Last line ``next_entry_p99_ms=X agents=N duplicates=D``.

Usage: python benchmarks/call_lists.py [--db sqlite|pg] [--customers 100000]
       [--agents 200] [--calls 10] [--think-ms 1000] [--pg URL]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, select  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker  # noqa: E402

from benchmarks.fresh_db import PG_URL, fresh  # noqa: E402
from crm_core import outbound_lists as ol  # noqa: E402
from crm_core.db import make_engine, upgrade_async  # noqa: E402
from crm_core.models import Customer, PhoneNumber, User  # noqa: E402
from crm_core.permissions import Actor  # noqa: E402

GRANTS = {("call_lists", "read"): "all", ("call_lists", "create"): "all",
          ("call_lists", "update"): "all"}
CHUNK = 5_000




async def build(maker: async_sessionmaker[AsyncSession], customers: int, agents: int
                ) -> list[Actor]:
    rnd = random.Random(17)
    async with maker.begin() as s:
        users = [User(username=f"agent{n}", display_name=f"坐席{n}", team="outbound")
                 for n in range(agents)]
        s.add_all(users)
        await s.flush()
        actors = [Actor(user_id=u.id, username=u.username, team="outbound", grants=GRANTS)
                  for u in users]
        for start in range(0, customers, CHUNK):
            count = min(CHUNK, customers - start)
            await s.execute(insert(Customer.__table__), [
                {"name": f"客户{n:06d}", "name_key": f"客户{n:06d}", "province": "河南",
                 "do_not_call": rnd.random() < 0.01} for n in range(start, start + count)])
        ids = (await s.scalars(select(Customer.id).order_by(Customer.id))).all()
        for start in range(0, len(ids), CHUNK):
            rows = []
            for cid in ids[start:start + CHUNK]:
                number = "+86123" if rnd.random() < 0.005 else f"+86139{cid:08d}"
                rows.append({"customer_id": cid, "number_e164": number, "raw": number,
                             "kind": "mobile"})
            await s.execute(insert(PhoneNumber.__table__), rows)
    return actors


async def run(args: argparse.Namespace) -> None:
    url = args.pg if args.db == "pg" else f"sqlite+aiosqlite:///{ROOT}/var/bench/call-lists.db"
    await fresh(url)
    await upgrade_async(url)
    engine = make_engine(url)
    try:
        maker = async_sessionmaker(engine, expire_on_commit=False)
        actors = await build(maker, args.customers, args.agents)
        if args.db == "pg":
            async with engine.connect() as conn:
                await conn.exec_driver_sql("ANALYZE")
        now = datetime.now(UTC)
        began = time.perf_counter()
        async with maker.begin() as s:
            made = await ol.create_list(s, actors[0], name="回访", rule="customer_filter",
                                        params={"filter": {"province": "河南"}},
                                        retry_delay_min=1, now=now)
        print(f"built a list of {made['built']['added']} entries over {args.customers} "
              f"customers in {time.perf_counter() - began:.1f} s ({args.db}); "
              f"{made['counts']}")
        if args.db == "pg":
            async with engine.connect() as conn:
                await conn.exec_driver_sql("ANALYZE call_list_entry")
        hours = ol.CallHours.always()
        times: list[float] = []
        handed: list[int] = []
        holding: set[int] = set()
        duplicates = 0

        async def agent(actor: Actor, seed: int) -> None:
            nonlocal duplicates
            rnd = random.Random(seed)
            await asyncio.sleep(rnd.random() * args.think_ms / 1000)  # not all at once
            for _ in range(args.calls):
                t = time.perf_counter()
                async with maker.begin() as s:
                    got = await ol.next_entry(s, actor, made["id"], hours=hours)
                times.append((time.perf_counter() - t) * 1000)
                entry = got["entry"]
                if entry is None:
                    return
                if entry["id"] in holding:
                    duplicates += 1
                holding.add(entry["id"])
                handed.append(entry["id"])
                await asyncio.sleep(rnd.random() * args.think_ms / 1000)
                outcome = "no-answer" if rnd.random() < 0.2 else "reached"
                async with maker.begin() as s:
                    await ol.record_outcome(s, actor, entry["id"], ol.Outcome(outcome))
                holding.discard(entry["id"])  # free for another agent once committed

        began = time.perf_counter()
        await asyncio.gather(*(agent(a, n) for n, a in enumerate(actors)))
        wall = time.perf_counter() - began
        times.sort()
        p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
        print(f"{len(times)} next-entry calls by {len(actors)} agents in {wall:.1f} s: "
              f"median {statistics.median(times):.1f} ms, p99 {p99:.1f} ms, "
              f"max {times[-1]:.1f} ms; {len(set(handed))} distinct entries handed out")
        print(f"next_entry_p99_ms={p99:.1f} agents={len(actors)} duplicates={duplicates}")
    finally:
        await engine.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--db", choices=("sqlite", "pg"), default="sqlite")
    ap.add_argument("--customers", type=int, default=100_000)
    ap.add_argument("--agents", type=int, default=200)
    ap.add_argument("--calls", type=int, default=10, help="entries each agent takes")
    ap.add_argument("--think-ms", type=int, default=1000,
                    help="an agent's call lasts a random 0..this many ms")
    ap.add_argument("--pg", default=PG_URL, help="PostgreSQL URL (its schema is DROPPED)")
    asyncio.run(run(ap.parse_args()))


if __name__ == "__main__":
    main()
