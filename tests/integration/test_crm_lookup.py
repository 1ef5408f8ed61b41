"""The 360 view (``crm_core.lookup``) on real databases: SQLite and PostgreSQL.

A caller found by any way of writing their number, a contact's own number, unknown
numbers, only open tickets/opportunities and active subscriptions, the last N
interactions newest first, merged customers (one hop and a chain), the permission
scope (restricted view), and the number of statements a lookup costs (one), so that
a regression to one query per list (or per row) fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, async_sessionmaker
from sqlalchemy.pool import StaticPool

from crm_core.db import make_engine, upgrade_async
from crm_core.lookup import LookupReader, lookup_360, view_360
from crm_core.models import (
    Asset,
    CallRecord,
    Contact,
    Customer,
    Interaction,
    Opportunity,
    PhoneNumber,
    ProductLine,
    ServiceStation,
    Subscription,
    Technician,
    Ticket,
    User,
)
from crm_core.permissions import Actor
from numbering.normalize import normalize

T0 = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
FORMATS = ("13800138000", "+86 138 0013 8000", "0086-138-0013-8000", "+8613800138000",
           "8613800138000")
LANDLINES = ("010-5129 7073", "(010)51297073", "+86 10 5129 7073")


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    await upgrade_async(db_url)
    eng = make_engine(db_url)
    yield eng
    await eng.dispose()


def phone(customer_id: int, raw: str, contact_id: int | None = None) -> PhoneNumber:
    number = normalize(raw)
    assert number is not None
    return PhoneNumber(customer_id=customer_id, contact_id=contact_id, number_e164=number,
                       raw=raw, kind="mobile")


@pytest.fixture
async def data(engine: AsyncEngine) -> dict[str, int]:
    """One well-filled customer (ACME), a bare one, and a few users."""
    sm = async_sessionmaker(engine, expire_on_commit=False)
    async with sm.begin() as s:
        wang = User(username="wang", display_name="王经理", team="north", region="北京")
        li = User(username="li", display_name="李客服", team="south", region="广东")
        s.add_all([wang, li])
        await s.flush()
        acme = Customer(name="北京艾克美印刷有限公司", name_key="艾克美印刷", kind="company",
                        category="A", industry="printing", source="hotline", province="北京",
                        city="北京", vip_tier=2, vip_value=Decimal("12345.6"), status="active",
                        owner_id=wang.id)
        other = Customer(name="上海其他公司", province="上海", owner_id=li.id)
        s.add_all([acme, other])
        await s.flush()
        buyer = Contact(customer_id=acme.id, name="赵采购", role="purchasing")
        boss = Contact(customer_id=acme.id, name="钱总", role="boss")
        s.add_all([buyer, boss])
        await s.flush()
        s.add_all([
            phone(acme.id, "13800138000"), phone(acme.id, "010-51297073"),
            phone(acme.id, "4008001234"), phone(acme.id, "13911112222", buyer.id),
            phone(other.id, "13700001111"),
        ])
        line = ProductLine(code="PRN", name="打印机", name_en="Printers")
        s.add(line)
        await s.flush()
        s.add_all([
            Asset(customer_id=acme.id, product_line_id=line.id, model="P-900",
                  serial_number="SN-1", purchase_date=date(2020, 1, 1),
                  warranty_end=date(2021, 1, 1), site="HQ"),
            Asset(customer_id=acme.id, product_line_id=line.id, model="P-1000",
                  serial_number="SN-2", purchase_date=date(2024, 1, 1),
                  warranty_end=date(2099, 1, 1)),
            Asset(customer_id=acme.id, serial_number="SN-3"),
        ])
        for i, status in enumerate(["new", "accepted", "resolved", "closed", "cancelled",
                                    "waiting"]):
            s.add(Ticket(number=f"T-{i}", customer_id=acme.id, problem=f"问题 {status}",
                         status=status))
        for i, stage in enumerate(["lead", "won", "lost", "proposal"]):
            s.add(Opportunity(customer_id=acme.id, title=f"opp {stage}", stage=stage,
                              amount=Decimal("1000.5") * (i + 1), owner_id=wang.id))
        for i, status in enumerate(["active", "not_renewed", "cancelled", "renewed"]):
            s.add(Subscription(customer_id=acme.id, title=f"sub {status}", status=status,
                               start_date=date(2024, 1, 1), end_date=date(2025, 1, i + 1)))
        # 15 interactions inserted out of time order; the two newest share a time
        order = [7, 2, 14, 0, 11, 5, 9, 13, 1, 3, 12, 4, 8, 10, 6]
        for n in order:
            s.add(Interaction(customer_id=acme.id, kind="call", author_id=wang.id,
                              occurred_at=T0 + timedelta(hours=min(n, 13)),
                              content=f"interaction {n}" + "x" * 1000))
        s.add(Interaction(customer_id=other.id, kind="note", occurred_at=T0 + timedelta(days=9),
                          content="someone else's"))
        for i in range(7):  # the newest one an agent's click-to-dial
            s.add(CallRecord(linkedid=f"L{i}", caller="+8613800138000", customer_id=acme.id,
                             outcome="answered", started_at=T0 + timedelta(days=i),
                             ended_at=T0 + timedelta(days=i, minutes=3),
                             direction="outbound" if i == 6 else "inbound"))
    return {"acme": acme.id, "other": other.id, "buyer": buyer.id, "wang": wang.id,
            "li": li.id}


def iso(moment: datetime) -> str:
    """How the view writes a time (the same on both databases)."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+00:00"


@contextlib.asynccontextmanager
async def driver_statements(conn: AsyncConnection) -> AsyncIterator[list[str]]:
    """Every statement the DRIVER connection under ``conn`` runs (SQLite's trace
    callback, asyncpg's query logger): whatever path a lookup takes, it is counted."""
    driver: Any = (await conn.get_raw_connection()).driver_connection
    seen: list[str] = []
    if conn.dialect.name == "sqlite":
        await driver.set_trace_callback(seen.append)
        try:
            yield seen
        finally:
            await driver.set_trace_callback(None)
    else:
        def log(record: Any) -> None:
            seen.append(record.query)

        driver.add_query_logger(log)
        try:
            yield seen
            await asyncio.sleep(0)  # asyncpg calls loggers soon after, not at once
        finally:
            driver.remove_query_logger(log)


async def test_every_format_finds_the_same_customer(
    engine: AsyncEngine, data: dict[str, int]
) -> None:
    for raw in (*FORMATS, *LANDLINES, "4008001234", "400-800-1234"):
        view = await lookup_360(engine, raw)
        assert view["found"] is True, raw
        assert view["customer"]["id"] == data["acme"], raw
        assert view["contact"] is None, raw
    view = await lookup_360(engine, "010-5129 7073")
    assert view["phone"] == "+861051297073"


async def test_the_whole_view(engine: AsyncEngine, data: dict[str, int]) -> None:
    view = await lookup_360(engine, "13800138000")
    json.dumps(view)  # JSON-ready as it is
    customer = view["customer"]
    assert customer == {
        "id": data["acme"], "name": "北京艾克美印刷有限公司", "kind": "company",
        "category": "A", "industry": "printing", "source": "hotline", "province": "北京",
        "city": "北京", "vip_tier": 2, "vip_value": "12345.60", "status": "active",
    }
    assert view["owner"] == {"id": data["wang"], "display_name": "王经理"}
    assert len(view["phones"]) == 4
    assert {p["number"] for p in view["phones"]} >= {"+8613800138000", "+861051297073"}
    assert [c["name"] for c in view["contacts"]] == ["赵采购", "钱总"]
    assets = {a["serial_number"]: a for a in view["assets"]}
    assert assets["SN-1"]["product_line_name"] == "打印机"
    assert assets["SN-1"]["product_line_name_en"] == "Printers"
    assert assets["SN-1"]["warranty_end"] == "2021-01-01"
    assert assets["SN-1"]["purchase_date"] == "2020-01-01"
    assert assets["SN-1"]["in_warranty"] is False
    assert assets["SN-2"]["in_warranty"] is True
    assert assets["SN-3"]["in_warranty"] is None
    assert assets["SN-3"]["product_line_code"] is None
    assert sorted(o["stage"] for o in view["open_opportunities"]) == ["lead", "proposal"]
    amounts = sorted(o["amount"] for o in view["open_opportunities"])
    assert amounts == ["1000.50", "4002.00"]
    assert [s["title"] for s in view["subscriptions"]] == ["sub active"]
    assert view["subscriptions"][0]["end_date"] == "2025-01-01"
    calls = view["calls"]
    assert [c["linkedid"] for c in calls] == ["L6", "L5", "L4", "L3", "L2"]
    assert [c["direction"] for c in calls] == ["outbound"] + ["inbound"] * 4
    assert calls[0]["ended_at"] == iso(T0 + timedelta(days=6, minutes=3))
    assert view["more"] == []
    assert "merged_from" not in view


async def test_open_tickets_only(engine: AsyncEngine, data: dict[str, int]) -> None:
    view = await lookup_360(engine, "13800138000")
    tickets = view["open_tickets"]
    assert sorted(t["status"] for t in tickets) == ["accepted", "new", "waiting"]
    assert all(t["created_at"].endswith("+00:00") for t in tickets)


async def test_open_tickets_say_their_station_technician_and_due_times(
    engine: AsyncEngine, data: dict[str, int]
) -> None:
    """The pop answers "when will the technician come?" (issue 15 item 6): a routed
    ticket comes with its station (both names), technician, due times and SLA state;
    one not routed yet with none of them."""
    sm = async_sessionmaker(engine, expire_on_commit=False)
    due = T0 + timedelta(days=8, hours=2)
    async with sm.begin() as s:
        station = ServiceStation(code="ZZ-001", name="郑州服务站", name_en="Zhengzhou station",
                                 province="河南", city="郑州")
        s.add(station)
        await s.flush()
        tech = Technician(station_id=station.id, name="李师傅")
        s.add(tech)
        await s.flush()
        s.add(Ticket(number="T-routed", customer_id=data["acme"], problem="坏了",
                     station_id=station.id, technician_id=tech.id, arrive_due=due,
                     resolve_due=due + timedelta(hours=6), sla_state="warning"))
    tickets = {t["number"]: t for t in (await lookup_360(engine, "13800138000"))["open_tickets"]}
    routed = tickets["T-routed"]
    assert (routed["station_code"], routed["station_name"], routed["station_name_en"],
            routed["technician_name"]) == ("ZZ-001", "郑州服务站", "Zhengzhou station", "李师傅")
    assert datetime.fromisoformat(routed["arrive_due"]) == due
    assert datetime.fromisoformat(routed["resolve_due"]) == due + timedelta(hours=6)
    assert routed["arrived_at"] is None and routed["sla_state"] == "warning"
    assert tickets["T-0"]["station_name"] is None and tickets["T-0"]["arrive_due"] is None
    assert tickets["T-0"]["sla_state"] == "ok"


async def test_interactions_limited_newest_first(
    engine: AsyncEngine, data: dict[str, int]
) -> None:
    view = await lookup_360(engine, "13800138000")
    items = view["interactions"]
    assert len(items) == 10
    times = [i["occurred_at"] for i in items]
    assert times == sorted(times, reverse=True)
    assert times[0] == iso(T0 + timedelta(hours=13)) == "2024-05-01T21:00:00.000+00:00"
    # equal times: the later row first
    assert items[0]["id"] > items[1]["id"] and times[0] == times[1]
    assert all(i["author"] == "王经理" for i in items)
    assert all(len(i["content"]) == 500 for i in items)  # long texts are cut
    assert "someone else's" not in {i["content"] for i in items}
    three = await lookup_360(engine, "13800138000", interactions=3)
    assert [i["id"] for i in three["interactions"]] == [i["id"] for i in items[:3]]
    none = await lookup_360(engine, "13800138000", interactions=0)
    assert none["interactions"] == []


async def test_a_contacts_number_gives_the_contact(
    engine: AsyncEngine, data: dict[str, int]
) -> None:
    view = await lookup_360(engine, "+86 139-1111-2222")
    assert view["customer"]["id"] == data["acme"]
    assert view["contact"] == {"id": data["buyer"], "name": "赵采购", "role": "purchasing",
                               "email": None}


async def test_unknown_numbers_are_an_empty_result(
    engine: AsyncEngine, data: dict[str, int]
) -> None:
    assert await lookup_360(engine, "13900000000") == {"found": False,
                                                       "phone": "+8613900000000"}
    assert await lookup_360(engine, "1001") == {"found": False, "phone": "1001"}
    assert await lookup_360(engine, "") == {"found": False, "phone": None}
    assert await lookup_360(engine, "<unknown>") == {"found": False, "phone": None}
    assert await view_360(engine, 999_999) == {"found": False, "phone": None}


async def _merge(engine: AsyncEngine, source: int, target: int) -> None:
    sm = async_sessionmaker(engine, expire_on_commit=False)
    async with sm.begin() as s:
        customer = await s.get(Customer, source)
        assert customer is not None
        customer.merged_into_id = target


async def test_merged_customer_resolves_to_the_survivor(
    engine: AsyncEngine, data: dict[str, int]
) -> None:
    await _merge(engine, data["other"], data["acme"])
    view = await lookup_360(engine, "13700001111")
    assert view["customer"]["id"] == data["acme"]
    assert view["merged_from"] == data["other"]
    # a chain: other -> acme -> third
    sm = async_sessionmaker(engine, expire_on_commit=False)
    async with sm.begin() as s:
        third = Customer(name="第三公司", province="北京")
        s.add(third)
        await s.flush()
        third_id = third.id
    await _merge(engine, data["acme"], third_id)
    for raw in ("13700001111", "13800138000"):
        view = await lookup_360(engine, raw)
        assert view["customer"]["id"] == third_id, raw
    assert (await lookup_360(engine, "13911112222"))["contact"]["id"] == data["buyer"]
    by_id = await view_360(engine, data["other"])
    assert by_id["customer"]["id"] == third_id
    assert by_id["merged_from"] == data["other"]
    # a cycle (bad data) ends instead of looping
    await _merge(engine, third_id, data["other"])
    view = await lookup_360(engine, "13700001111")
    assert view["found"] is True


async def test_actor_scope(engine: AsyncEngine, data: dict[str, int]) -> None:
    owner = Actor(user_id=data["wang"], grants={("customers", "read"): "own"})
    stranger = Actor(user_id=data["li"], team="south", grants={("customers", "read"): "own"})
    regional = Actor(user_id=data["li"], region="北京", grants={("customers", "read"): "region"})
    agent = Actor(user_id=data["li"], grants={("customers", "read"): "all"})
    nobody = Actor(user_id=data["li"], grants={})
    admin = Actor(user_id=None, is_admin=True)
    for actor in (owner, regional, agent, admin):
        view = await lookup_360(engine, "13800138000", actor=actor)
        assert view["customer"]["id"] == data["acme"], actor
        assert "restricted" not in view
    for actor in (stranger, nobody):
        view = await lookup_360(engine, "13800138000", actor=actor)
        assert view == {"found": True, "restricted": True, "phone": "+8613800138000",
                        "owner": {"display_name": "王经理"}}, actor
        view = await view_360(engine, data["acme"], actor=actor)
        assert view["restricted"] is True
    # unknown stays unknown for everybody
    assert (await lookup_360(engine, "13900000000", actor=stranger))["found"] is False


async def test_one_statement_per_lookup(
    engine: AsyncEngine, data: dict[str, int], db_url: str
) -> None:
    async with engine.connect() as conn:
        await lookup_360(conn, "13800138000")  # warm: compiled, prepared
        for raw in ("13800138000", "13911112222", "13900000000", "(010)51297073"):
            async with driver_statements(conn) as seen:
                view = await lookup_360(conn, raw)
            assert len(seen) == 1, (raw, seen)
            assert seen[0].lstrip().upper().startswith("SELECT")
        assert view["found"] is True
    sm = async_sessionmaker(engine, expire_on_commit=False)
    async with sm() as session:
        async with driver_statements(await session.connection()) as seen:
            view = await lookup_360(session, "13800138000")
            await view_360(session, data["acme"])
        assert view["customer"]["id"] == data["acme"]
        assert len(seen) == 2, seen
    # through an engine (one pooled connection, so that it can be watched)
    single = make_engine(db_url, poolclass=StaticPool)
    try:
        async with single.connect() as conn:
            async with driver_statements(conn) as seen:
                await lookup_360(single, "13800138000")
                await lookup_360(single, "13800138001")
        assert len([s for s in seen if "SELECT" in s.upper()]) == 2, seen
    finally:
        await single.dispose()
    # one merge hop is resolved inside the statement; a chain costs a statement a hop
    await _merge(engine, data["other"], data["acme"])
    async with engine.connect() as conn:
        async with driver_statements(conn) as seen:
            assert (await lookup_360(conn, "13700001111"))["customer"]["id"] == data["acme"]
        assert len(seen) == 1, seen


async def test_lists_are_capped(engine: AsyncEngine, data: dict[str, int]) -> None:
    sm = async_sessionmaker(engine, expire_on_commit=False)
    async with sm.begin() as s:
        s.add_all(Asset(customer_id=data["other"], serial_number=f"X-{i}") for i in range(25))
    view = await lookup_360(engine, "13700001111")
    assert len(view["assets"]) == 20
    assert view["more"] == ["assets"]
    assert view["assets"][0]["serial_number"] == "X-24"  # newest first


async def test_reader_holds_connections_and_sees_new_writes(
    engine: AsyncEngine, data: dict[str, int], db_url: str
) -> None:
    async with LookupReader(engine, size=2) as reader:
        views = await asyncio.gather(*(lookup_360(reader, raw) for raw in FORMATS * 3))
        assert {v["customer"]["id"] for v in views} == {data["acme"]}
        assert (await view_360(reader, data["acme"]))["customer"]["id"] == data["acme"]
        assert (await lookup_360(reader, "13600000000"))["found"] is False
        # a write committed after a lookup is seen by the next one (no open snapshot)
        sm = async_sessionmaker(engine, expire_on_commit=False)
        async with sm.begin() as s:
            s.add(phone(data["acme"], "13600000000"))
            s.add(Ticket(number="T-new", customer_id=data["acme"], problem="新的"))
        view = await lookup_360(reader, "13600000000")
        assert view["customer"]["id"] == data["acme"]
        assert "T-new" in {t["number"] for t in view["open_tickets"]}
        # a held connection that died is replaced, the lookup still answers
        held = reader._idle[0]
        driver: Any = (await held.get_raw_connection()).driver_connection
        await driver.close()
        assert (await lookup_360(reader, "13800138000"))["found"] is True
    with pytest.raises(RuntimeError):
        await lookup_360(reader, "13800138000")
    # one statement per lookup through a reader as well
    single = make_engine(db_url, poolclass=StaticPool)
    try:
        async with single.connect() as conn, LookupReader(single, size=1) as reader:
            async with driver_statements(conn) as seen:
                await lookup_360(reader, "13800138000")
                await lookup_360(reader, "13800138001")
            assert len(seen) == 2, seen
    finally:
        await single.dispose()


async def test_reads_run_beside_a_writing_session(
    data: dict[str, int], db_url: str
) -> None:
    """A session that writes holds SQLite's write lock from its first write (``BEGIN
    IMMEDIATE``, crm_core.db): the screen pop's lookups, reads on plain connections and
    other sessions' reads still run beside it (seeing only what is committed), and
    another session's write waits for the lock (here: fails once the short busy
    timeout is over) instead of writing beside it."""
    fast = make_engine(db_url, sqlite_busy_timeout_s=0.1)  # waiting would fail quickly
    sm = async_sessionmaker(fast, expire_on_commit=False)
    new_number = select(func.count()).where(PhoneNumber.number_e164 == "+8613600000000")
    try:
        async with LookupReader(fast) as reader, sm.begin() as writer:
            writer.add(phone(data["acme"], "13600000000"))
            await writer.flush()
            assert (await lookup_360(reader, "13800138000"))["found"] is True
            assert (await lookup_360(reader, "13600000000"))["found"] is False  # uncommitted
            async with fast.connect() as conn:
                assert await conn.scalar(new_number) == 0
            async with sm() as other:
                assert await other.scalar(new_number) == 0  # a read: no lock needed
                if fast.dialect.name == "sqlite":
                    other.add(phone(data["acme"], "13500000000"))
                    with pytest.raises(OperationalError, match="locked"):
                        await other.flush()
        assert (await lookup_360(fast, "13600000000"))["found"] is True
    finally:
        await fast.dispose()


async def test_reader_never_leaks_a_connection_when_cancelled(tmp_path: Any) -> None:
    """A lookup cancelled mid-statement (the hub's time limit, a shutdown) frees its
    slot at once and gives its connection back to the engine once the statement ends
    (on SQLite it always runs to its end on aiosqlite's thread: see LookupReader._work)
    instead of losing it."""
    import asyncio

    from crm_core.db import make_engine, upgrade_async
    from crm_core.lookup import LookupReader

    url = f"sqlite+aiosqlite:///{tmp_path}/cancel.db"
    await upgrade_async(url)
    engine = make_engine(url)
    started, answer = asyncio.Event(), asyncio.Event()

    async def slow(conn: Any) -> None:
        started.set()
        await answer.wait()  # a statement that answers late

    try:
        reader = LookupReader(engine, size=1)
        task = asyncio.create_task(reader.run(slow))
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # the slot is free again: a normal lookup runs while the late one still does
        assert (await reader.run(lambda conn: _one(conn))) == 1
        answer.set()  # the late statement ends: closing waits for it, nothing leaks
        await reader.close()
        assert engine.sync_engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    finally:
        await engine.dispose()


async def _one(conn: Any) -> int:
    from sqlalchemy import text

    return int((await conn.execute(text("SELECT 1"))).scalar_one())
