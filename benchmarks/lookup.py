"""Screen-pop benchmark: ``crm_core.lookup.lookup_360`` on a realistic CRM, warm, on
SQLite and PostgreSQL.

Generates (deterministically, seed 4) a data set of --customers customers (default
100,000; 20 % persons, the rest companies in Chinese provinces), 3 phone numbers each
(mobiles, landlines with area code, a few 400 numbers; about a third on contacts),
1.2 contacts, 2 assets, 1 ticket (a third open), 0.5 opportunities, 0.5 subscriptions,
10 interactions and 2 call records per customer on average (skewed: a few customers
have hundreds), loads it in bulk (SQLite: one transaction of executemany on the raw
driver; PostgreSQL: COPY via asyncpg ``copy_records_to_table``; indexes dropped during
the load and built after it), then times --lookups lookups through the public API
(``lookup_360``, engine from ``crm_core.db.make_engine``) after --warmup lookups. The
numbers looked up are written the ways carriers and people write them
(``13800138000``, ``+86 138 0013 8000``, ``0086-138-0013-8000``, ``010-5129 7073``,
``(010)51297073``, ``4008001234``...), about 10 % of them unknown.

PostgreSQL: postgresql+asyncpg://postgres@127.0.0.1:5432/test (``--pg``). That is the
TEST database: its ``public`` schema is DROPPED and recreated by this benchmark.
SQLite: var/bench/lookup-<customers>.db; with --reuse an existing complete file is
kept (and reused) between runs, otherwise it is rebuilt.

Each database is measured twice with the same lookups: through the engine (a pool
checkout per lookup, with ``make_engine``'s ``pool_pre_ping``) and through a
``crm_core.lookup.LookupReader`` (connections held: the path the screen pop hub is
meant to use). Before measuring, the generated rows are dropped and the collector
run and frozen, as a long-running server would after start-up. Times are wall clock
per ``lookup_360`` call, normalisation of the raw number included; the machine's
other load shows in them.

Prints n, p50/p95/p99/max per database and path; ``lookup_engine_p99_ms=<Y>`` (the
engine path, worse database) and, last, ``lookup_p99_ms=<X>``: the worse p99 of the
databases run, through the reader.

Usage: python benchmarks/lookup.py [--customers 100000] [--db sqlite|postgresql|both]
       [--lookups 20000] [--warmup 2000] [--reuse] [--pg URL]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import statistics
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiosqlite  # noqa: E402
import asyncpg  # noqa: E402
import phonenumbers  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from crm_core.db import make_engine, upgrade_async  # noqa: E402
from crm_core.lookup import LookupReader, lookup_360  # noqa: E402
from numbering.normalize import normalize  # noqa: E402

PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
BENCH_DIR = ROOT / "var" / "bench"
SEED = 4
DATA_VERSION = 6  # bump when the generated data changes: --reuse then rebuilds
NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)

PROVINCES = {
    "北京": ("北京", "010"), "上海": ("上海", "021"), "天津": ("天津", "022"),
    "重庆": ("重庆", "023"), "广东": ("广州", "020"), "江苏": ("南京", "025"),
    "湖北": ("武汉", "027"), "四川": ("成都", "028"), "陕西": ("西安", "029"),
    "辽宁": ("沈阳", "024"), "浙江": ("杭州", "0571"), "山东": ("济南", "0531"),
    "福建": ("福州", "0591"), "河南": ("郑州", "0371"), "湖南": ("长沙", "0731"),
}
WORDS = "华 安 盛 泰 康 达 信 恒 瑞 丰 嘉 鑫 宏 昌 永 联 新 美 通 海 金 博 德 源 天 龙".split()
INDUSTRIES = [
    ("pharma-packaging", "药用包装"), ("bus", "客运"), ("travel", "旅行社"),
    ("printing", "办公设备"), ("library", "图书馆"), ("university", "大学"),
    ("manufacturing", "机械制造"), ("retail", "商贸"),
]
SUFFIXES = ["有限公司", "股份有限公司", "集团有限公司", "有限责任公司"]
SURNAMES = "王 李 张 刘 陈 杨 赵 黄 周 吴 徐 孙 胡 朱 高 林 何 郭 马 罗".split()
GIVEN = "伟 芳 娜 敏 静 丽 强 磊 军 洋 勇 艳 杰 娟 涛 明 超 秀 霞 平 刚 桂".split()
SOURCES = ["hotline", "trade-fair", "referral", "web", "import"]
STATUSES = ["prospect", "active", "active", "active", "dormant", "lost"]
TICKET_STATUSES = ["new", "routed", "accepted", "waiting", "resolved", "closed",
                   "closed", "closed", "resolved", "cancelled"]
STAGES = ["lead", "qualified", "proposal", "won", "lost", "lost"]
MOBILE_PREFIXES = ["130", "131", "132", "135", "136", "137", "138", "139", "150", "151",
                   "152", "158", "159", "176", "177", "180", "181", "186", "187", "188"]
UNKNOWN_PREFIX = "199"  # never generated for a stored number
CONTENTS = [
    "客户来电咨询打印机卡纸问题,已远程指导处理。", "回访:设备运行正常,客户满意。",
    "客户要求上门维修,已派单给服务站。", "询问续约价格,已发送报价单。",
    "投诉配件到货慢,已升级处理。", "拜访客户,介绍新款设备,客户有采购意向。",
]
USERS = 60
PRODUCT_LINES = 12


def sqlite_time(moment: datetime) -> str:
    """The text SQLAlchemy stores for a UTC timestamp on SQLite."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def skewed(rng: random.Random, n: int) -> int:
    """A customer id 1..n, a few customers far more often than most."""
    return 1 + min(n - 1, int(n * rng.random() ** 2.2))


# --- the data set (pure, deterministic) ---------------------------------------------------


@dataclass
class DataSet:
    """Rows per table as tuples in the column order of ``COLUMNS`` (times as datetimes)."""

    tables: dict[str, list[tuple[Any, ...]]] = field(default_factory=dict)
    numbers: list[tuple[str, str]] = field(default_factory=list)  # (e164, kind)


COLUMNS: dict[str, tuple[str, ...]] = {
    "app_user": ("id", "username", "display_name", "team", "region"),
    "product_line": ("id", "code", "name", "name_en"),
    "customer": ("id", "name", "name_key", "kind", "category", "industry", "source",
                 "province", "city", "vip_tier", "vip_value", "status", "owner_id"),
    "contact": ("id", "customer_id", "name", "role"),
    "phone_number": ("id", "customer_id", "contact_id", "number_e164", "raw", "kind"),
    "asset": ("id", "customer_id", "product_line_id", "model", "serial_number",
              "purchase_date", "warranty_end", "site"),
    "ticket": ("id", "number", "customer_id", "asset_id", "problem", "status", "priority"),
    "opportunity": ("id", "customer_id", "title", "stage", "amount", "owner_id"),
    "subscription": ("id", "customer_id", "kind", "title", "start_date", "end_date",
                     "status"),
    "interaction": ("id", "customer_id", "kind", "occurred_at", "content", "disposition",
                    "author_id"),
    "call_record": ("id", "linkedid", "caller", "did", "queues", "agents_tried", "agent",
                    "started_at", "ended_at", "talk_s", "outcome", "transfers", "ivr",
                    "customer_id"),
}


def person_name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choices(GIVEN, k=rng.randint(1, 2)))


class NumberMaker:
    """Unique mobile, landline and 400 numbers, E.164 as ``normalize`` makes them."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used: set[str] = set()

    def make(self, kind: str, area: str) -> tuple[str, str]:
        while True:
            if kind == "mobile":
                national = self.rng.choice(MOBILE_PREFIXES) + f"{self.rng.randrange(10**8):08d}"
            elif kind == "landline":
                national = area[1:] + str(self.rng.randint(2, 8)) + "".join(
                    str(self.rng.randrange(10)) for _ in range(7))
            else:
                national = "400" + f"{self.rng.randrange(10**7):07d}"
            e164 = "+86" + national
            written = national if kind == "mobile" else "0" + national if kind == "landline" \
                else national
            # a few ranges are not valid numbers (phonenumbers says so): draw again
            if e164 not in self.used and (kind == "mobile" or normalize(written) == e164):
                self.used.add(e164)
                return e164, national


def generate(customers: int) -> DataSet:
    rng = random.Random(SEED)
    data = DataSet()
    t = data.tables
    t["app_user"] = [(i, f"user{i}", person_name(rng), f"team{i % 6}",
                      rng.choice(list(PROVINCES))) for i in range(1, USERS + 1)]
    t["product_line"] = [(i, f"PL{i:02d}", f"产品线{i}", f"Product line {i}")
                         for i in range(1, PRODUCT_LINES + 1)]
    provinces = list(PROVINCES)
    t["customer"], province_of = [], []
    for cid in range(1, customers + 1):
        province = rng.choice(provinces)
        city = PROVINCES[province][0]
        province_of.append(province)
        industry, industry_zh = rng.choice(INDUSTRIES)
        if rng.random() < 0.2:
            name, key, kind = person_name(rng), "", "person"
        else:
            core = "".join(rng.choices(WORDS, k=2)) + industry_zh
            name, key, kind = f"{city}{core}{rng.choice(SUFFIXES)}", f"{city}{core}", "company"
        tier = rng.choices((0, 1, 2, 3), (70, 20, 8, 2))[0]
        t["customer"].append((
            cid, name, key or name, kind, rng.choice("ABC"), industry, rng.choice(SOURCES),
            province, city, tier, Decimal(rng.randrange(0, 10**7)) / 100 if tier else None,
            rng.choice(STATUSES), rng.randint(1, USERS) if rng.random() < 0.9 else None,
        ))
    contacts_of: dict[int, list[int]] = {}
    t["contact"] = []
    for cid in range(1, customers + 1):
        for _ in range(rng.choice((0, 1, 1, 1, 2, 2))):
            kid = len(t["contact"]) + 1
            t["contact"].append((kid, cid, person_name(rng), rng.choice(
                ("purchasing", "maintenance", "boss", "finance"))))
            contacts_of.setdefault(cid, []).append(kid)
    maker = NumberMaker(rng)
    t["phone_number"] = []
    for cid in range(1, customers + 1):
        area = PROVINCES[province_of[cid - 1]][1]
        kinds = ["mobile", "landline", rng.choice(("mobile", "mobile", "landline", "400"))]
        for kind in kinds:
            e164, national = maker.make(kind, area)
            kids = contacts_of.get(cid)
            contact = rng.choice(kids) if kids and kind == "mobile" and rng.random() < 0.6 \
                else None
            raw = national if kind != "landline" else area + "-" + national[len(area) - 1:]
            t["phone_number"].append((len(t["phone_number"]) + 1, cid, contact, e164, raw,
                                      kind))
            data.numbers.append((e164, kind))
    t["asset"] = []
    for i in range(1, 2 * customers + 1):
        bought = date(2015, 1, 1) + timedelta(days=rng.randrange(3650))
        t["asset"].append((i, skewed(rng, customers), rng.randint(1, PRODUCT_LINES),
                           f"M-{rng.randrange(100, 999)}", f"SN{i:09d}", bought,
                           bought + timedelta(days=365 * rng.choice((1, 2, 3, 5))),
                           rng.choice((None, "总部", "分厂", "仓库"))))
    t["ticket"] = [(i, f"T{i:08d}", skewed(rng, customers), None, rng.choice(CONTENTS),
                    rng.choice(TICKET_STATUSES), rng.choice(("normal", "normal", "high")))
                   for i in range(1, customers + 1)]
    t["opportunity"] = [(i, skewed(rng, customers), f"商机 {i}", rng.choice(STAGES),
                         Decimal(rng.randrange(10**4, 10**8)) / 100, rng.randint(1, USERS))
                        for i in range(1, customers // 2 + 1)]
    t["subscription"] = []
    for i in range(1, customers // 2 + 1):
        start = date(2022, 1, 1) + timedelta(days=rng.randrange(1200))
        t["subscription"].append((i, skewed(rng, customers), rng.choice(
            ("subscription", "contract")), f"服务合同 {i}", start, start + timedelta(days=365),
            rng.choice(("active", "active", "renewed", "not_renewed", "cancelled"))))
    span = 3 * 365 * 86400
    t["interaction"] = [
        (i, skewed(rng, customers), rng.choice(("call", "call", "visit", "note", "email")),
         NOW - timedelta(seconds=rng.randrange(span)), rng.choice(CONTENTS),
         rng.choice(("inquiry", "repair", "complaint", None)), rng.randint(1, USERS))
        for i in range(1, 10 * customers + 1)
    ]
    t["call_record"] = []
    for i in range(1, 2 * customers + 1):
        cid = skewed(rng, customers)
        start = NOW - timedelta(seconds=rng.randrange(span))
        talk = rng.randrange(10, 900)
        t["call_record"].append((
            i, f"bench.{i}", data.numbers[3 * (cid - 1)][0], "+864008001234", '["support"]',
            "[]", f"agent{rng.randint(1, 40)}", start,
            start + timedelta(seconds=talk + 20), talk, "answered", "[]", "{}", cid))
    return data


# --- the numbers looked up ------------------------------------------------------------


def written_ways(e164: str) -> list[str]:
    """``e164`` the ways carriers and people write it."""
    parsed = phonenumbers.parse(e164)
    national = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)
    international = phonenumbers.format_number(
        parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    digits = "".join(ch for ch in national if ch.isdigit())
    ways = [digits, international, e164, "00" + e164[1:].replace(" ", ""),
            national.replace(" ", "-")]
    if digits.startswith("0"):  # a landline: area code in brackets, spaced local part
        area, _, local = national.partition(" ")
        ways += [f"({area}){local.replace(' ', '')}", f"{area}-{local}"]
    else:
        ways += ["0086-" + national.replace(" ", "-"), "+86" + digits]
    return ways


def lookup_mix(numbers: list[tuple[str, str]], count: int) -> list[tuple[str, bool]]:
    """(raw, expected found) pairs: hits in many formats, about 10 % unknown."""
    rng = random.Random(SEED + 1)
    known = {n for n, _ in numbers}
    mix: list[tuple[str, bool]] = []
    while len(mix) < count:
        if rng.random() < 0.1:
            unknown = UNKNOWN_PREFIX + f"{rng.randrange(10**8):08d}"
            if "+86" + unknown not in known:
                mix.append((rng.choice((unknown, f"+86 {unknown}")), False))
            continue
        e164, _ = rng.choice(numbers)
        mix.append((rng.choice(written_ways(e164)), True))
    return mix


# --- loading --------------------------------------------------------------------------


def sqlite_rows(table: str, rows: list[tuple[Any, ...]]) -> Iterator[tuple[Any, ...]]:
    for row in rows:
        yield tuple(
            sqlite_time(v) if isinstance(v, datetime)
            else v.isoformat() if isinstance(v, date)
            else float(v) if isinstance(v, Decimal)
            else v
            for v in row
        )


async def load_sqlite(path: Path, data: DataSet) -> None:
    url = f"sqlite+aiosqlite:///{path}"
    await upgrade_async(url)
    async with aiosqlite.connect(path) as db:
        await db.execute("PRAGMA synchronous=OFF")
        # the migrations' indexes are dropped and built again after the load: far
        # faster than keeping them up to date row by row
        indexes = list(await db.execute_fetchall(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"))
        await db.execute("BEGIN")
        for name, _ in indexes:
            await db.execute(f"DROP INDEX {name}")
        for table, rows in data.tables.items():
            cols = COLUMNS[table]
            sql = (f"INSERT INTO {table} ({', '.join(cols)}) "
                   f"VALUES ({', '.join('?' for _ in cols)})")
            await db.executemany(sql, sqlite_rows(table, rows))
        for _, sql in indexes:
            await db.execute(sql)
        await db.execute(f"PRAGMA user_version={DATA_VERSION}")
        await db.commit()
        await db.execute("ANALYZE")
        await db.commit()


def remove_sqlite(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


async def sqlite_complete(path: Path, customers: int) -> bool:
    if not await asyncio.to_thread(path.exists):
        return False
    try:
        async with aiosqlite.connect(path) as db:
            version = (await (await db.execute("PRAGMA user_version")).fetchone() or [0])[0]
            count = (await (await db.execute("SELECT count(*) FROM customer")).fetchone()
                     or [0])[0]
    except aiosqlite.Error:
        return False
    return bool(version == DATA_VERSION and count == customers)


async def sqlite_numbers(path: Path) -> list[tuple[str, str]]:
    async with aiosqlite.connect(path) as db:
        cursor = await db.execute("SELECT number_e164, kind FROM phone_number")
        return [(str(n), str(k)) for n, k in await cursor.fetchall()]


def pg_dsn(url: str) -> str:
    parsed = make_url(url)
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


async def load_postgres(url: str, data: DataSet) -> None:
    conn = await asyncpg.connect(pg_dsn(url))
    try:
        await conn.execute("DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public;")
    finally:
        await conn.close()
    await upgrade_async(url)
    conn = await asyncpg.connect(pg_dsn(url))
    try:
        async with conn.transaction():
            # indexes (not those of constraints) are built again after the load, and
            # the generated rows are consistent: no foreign-key trigger per row
            indexes = await conn.fetch(
                "SELECT indexname, indexdef FROM pg_indexes i WHERE schemaname = 'public' "
                "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)")
            for index in indexes:
                await conn.execute(f'DROP INDEX "{index["indexname"]}"')
            await conn.execute("SET LOCAL session_replication_role = replica")
            for table, rows in data.tables.items():
                await conn.copy_records_to_table(table, records=rows, columns=COLUMNS[table])
            for index in indexes:
                await conn.execute(index["indexdef"])
            for table in data.tables:
                # explicit ids were loaded: move the sequences past them
                await conn.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT max(id) FROM {table}))")
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()


# --- measuring ------------------------------------------------------------------------


@dataclass
class Figures:
    name: str
    times_ms: list[float]
    found: int
    wrong: int

    def pct(self, p: float) -> float:
        ordered = sorted(self.times_ms)
        return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]

    def line(self) -> str:
        return (f"{self.name:<18} n={len(self.times_ms)} found={self.found} "
                f"wrong={self.wrong} p50={self.pct(50):.3f} ms p95={self.pct(95):.3f} ms "
                f"p99={self.pct(99):.3f} ms max={max(self.times_ms):.3f} ms "
                f"mean={statistics.fmean(self.times_ms):.3f} ms")


async def timed(name: str, db: Any, mix: list[tuple[str, bool]], warmup: int) -> Figures:
    for raw, _ in mix[:warmup]:
        await lookup_360(db, raw)
    times: list[float] = []
    found = wrong = 0
    clock = time.perf_counter_ns
    for raw, expected in mix:
        start = clock()
        view = await lookup_360(db, raw)
        times.append((clock() - start) / 1e6)
        found += view["found"]
        wrong += view["found"] != expected
    return Figures(name, times, found, wrong)


async def measure(name: str, url: str, mix: list[tuple[str, bool]], warmup: int
                  ) -> tuple[Figures, Figures]:
    """The same lookups through the engine (a pool checkout each) and through a
    LookupReader (held connections: the screen pop hub's path)."""
    engine = make_engine(url)
    try:
        via_engine = await timed(f"{name}/engine", engine, mix, warmup)
        print(via_engine.line(), flush=True)
        async with LookupReader(engine, size=2) as reader:
            via_reader = await timed(f"{name}/reader", reader, mix, warmup)
        print(via_reader.line(), flush=True)
        return via_engine, via_reader
    finally:
        await engine.dispose()


async def run(args: argparse.Namespace) -> list[Figures]:
    dbs = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    data: DataSet | None = None

    def dataset() -> DataSet:
        nonlocal data
        if data is None:
            started = time.perf_counter()
            data = generate(args.customers)
            rows = sum(len(r) for r in data.tables.values())
            print(f"generated {rows:,} rows in {time.perf_counter() - started:.1f} s: " + ", ".join(
                f"{t} {len(r):,}" for t, r in data.tables.items()))
        return data

    numbers: list[tuple[str, str]] | None = None
    urls: list[tuple[str, str]] = []
    for db in dbs:
        started = time.perf_counter()
        if db == "sqlite":
            path = BENCH_DIR / f"lookup-{args.customers}.db"
            url = f"sqlite+aiosqlite:///{path}"
            if args.reuse and await sqlite_complete(path, args.customers):
                print(f"sqlite: reusing {path}")
                numbers = numbers or await sqlite_numbers(path)
            else:
                remove_sqlite(path)
                await load_sqlite(path, dataset())
                print(f"sqlite: loaded in {time.perf_counter() - started:.1f} s ({path})")
        else:
            url = args.pg
            await load_postgres(url, dataset())
            print(f"postgresql: loaded in {time.perf_counter() - started:.1f} s "
                  "(COPY, VACUUM ANALYZE)")
        urls.append((db, url))
    if numbers is None:
        numbers = dataset().numbers
    data = None  # the generated rows are garbage now: collect them before measuring
    sample = random.Random(SEED + 2).sample(numbers, min(len(numbers), 2000))
    assert all(normalize(raw) == e164 for e164, _ in sample for raw in written_ways(e164))
    mix = lookup_mix(numbers, args.lookups)
    # a long-running server does the same after start-up: what lives for good is kept
    # out of the collector's full passes (a full pass over millions of objects would
    # be a pause that has nothing to do with the lookup)
    gc.collect()
    gc.freeze()
    results: list[Figures] = []
    for db, url in urls:
        results.extend(await measure(db, url, mix, warmup=min(len(mix), args.warmup)))
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--customers", type=int, default=100_000)
    ap.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    ap.add_argument("--lookups", type=int, default=20_000)
    ap.add_argument("--warmup", type=int, default=2_000)
    ap.add_argument("--reuse", action="store_true",
                    help="keep/reuse the SQLite file under var/bench/ between runs")
    ap.add_argument("--pg", default=PG_URL, help="PostgreSQL URL (its schema is DROPPED)")
    args = ap.parse_args()
    results = asyncio.run(run(args))
    print("lookup latency, ms (wall clock per lookup_360 call, normalisation included):")
    for figures in results:
        print(figures.line())
    if any(f.wrong for f in results):
        print("ERROR: some lookups found the wrong thing", file=sys.stderr)
    engine_p99 = max(f.pct(99) for f in results if f.name.endswith("/engine"))
    print(f"lookup_engine_p99_ms={engine_p99:.3f}")
    print(f"lookup_p99_ms={max(f.pct(99) for f in results if f.name.endswith('/reader')):.3f}")


if __name__ == "__main__":
    main()
