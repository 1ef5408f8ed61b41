"""Reports on a small known data set (exact numbers, scope applied, export), and the
demo seed (idempotent, includes every number the demo simulator dials), on SQLite
and PostgreSQL."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_core.db import make_engine, upgrade_async
from crm_core.demo_data import CUSTOMERS, STATION_USERS, USERS, seed_demo
from crm_core.exporter import export_rows
from crm_core.models import (
    Asset,
    Contact,
    Customer,
    Interaction,
    Opportunity,
    PhoneNumber,
    ProductLine,
    RepairRecord,
    Subscription,
    Ticket,
    TicketStatusChange,
    User,
)
from crm_core.permissions import SYSTEM, Actor, PermissionDenied, load_actor
from crm_core.reports import (
    CUSTOMER_REPORT_COLUMNS,
    PRODUCT_REPORT_COLUMNS,
    CustomerFilter,
    customers_by,
    products_report,
)
from crm_core.tickets import create_ticket, list_tickets
from numbering.normalize import normalize

TODAY = date(2025, 6, 1)


@pytest.fixture
async def maker(db_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    await upgrade_async(db_url)
    engine = make_engine(db_url)
    yield async_sessionmaker(engine, expire_on_commit=False)
    await engine.dispose()


async def _known_set(maker: async_sessionmaker[AsyncSession]) -> dict[str, int]:
    """3 customers of wang (2 in 上海), 1 of li (北京), 1 in the pool; 2 product lines."""
    async with maker.begin() as s:
        wang = User(username="wang.lei", display_name="王磊")
        li = User(username="li.na", display_name="李娜")
        prn = ProductLine(code="PRN", name="打印机", name_en="Printers")
        bus = ProductLine(code="BUS", name="客车", name_en="Buses")
        s.add_all([wang, li, prn, bus, ProductLine(code="ZZZ", name="空", name_en="Empty")])
        await s.flush()

        def cust(name: str, owner: User | None, **kw: Any) -> Customer:
            return Customer(name=name, name_key=name, owner_id=owner.id if owner else None, **kw)

        a = cust("A", wang, category="药品包装", province="上海", city="上海", status="active",
                 vip_tier=2, vip_value=Decimal("100.50"))
        b = cust("B", wang, category="药品包装", province="上海", city="上海", status="prospect")
        c = cust("C", wang, category="客运", province="江苏", city="南京", status="active",
                 vip_value=Decimal("50"))
        d = cust("D", li, category="客运", province="北京", city="北京", status="lost",
                 vip_tier=1, vip_value=Decimal("1000"))
        e = cust("E", None, province="北京", city="北京")
        merged = cust("A2", wang, category="药品包装", province="上海", city="上海")
        s.add_all([a, b, c, d, e, merged])
        await s.flush()
        merged.merged_into_id = a.id
        assets = [
            Asset(customer_id=a.id, product_line_id=prn.id, serial_number="P1",
                  warranty_end=date(2025, 6, 1)),  # last day of warranty: still under it
            Asset(customer_id=a.id, product_line_id=prn.id, serial_number="P2",
                  warranty_end=date(2025, 5, 31)),
            Asset(customer_id=c.id, product_line_id=bus.id, serial_number="B1",
                  warranty_end=date(2026, 1, 1)),
            Asset(customer_id=d.id, product_line_id=bus.id, serial_number="B2"),
            Asset(customer_id=d.id, product_line_id=None, serial_number="X1"),
        ]
        s.add_all(assets)
        await s.flush()
        s.add_all([
            Ticket(number="T1", customer_id=a.id, asset_id=assets[0].id, problem="p",
                   status="new"),
            Ticket(number="T2", customer_id=a.id, asset_id=assets[0].id, problem="p",
                   status="closed"),
            Ticket(number="T3", customer_id=a.id, asset_id=assets[1].id, problem="p",
                   status="accepted"),
            Ticket(number="T4", customer_id=d.id, asset_id=assets[3].id, problem="p",
                   status="resolved"),
            Ticket(number="T5", customer_id=c.id, asset_id=None, problem="no asset",
                   status="new"),
        ])
        return {"wang": wang.id, "li": li.id}


def _by_label(rows: list[dict[str, Any]], *fields: str) -> dict[str, tuple[Any, ...]]:
    return {r["label"]: tuple(r[f] for f in fields) for r in rows}


async def test_customers_by_dimension(maker: async_sessionmaker[AsyncSession]) -> None:
    await _known_set(maker)
    fields = ("customers", "active", "prospect", "lost", "vip", "value", "assets",
              "open_tickets")
    async with maker() as s:
        by_category = await customers_by(s, SYSTEM, "category")
        assert _by_label(by_category, *fields) == {
            "药品包装": (2, 1, 1, 0, 1, 100.5, 2, 2),
            "客运": (2, 1, 0, 1, 1, 1050.0, 3, 1),
            "(未填写)": (1, 0, 1, 0, 0, 0.0, 0, 0),
        }
        assert [r["label"] for r in by_category][0] == "客运"  # most customers, then value
        by_owner = await customers_by(s, SYSTEM, "owner", lang="en")
        assert _by_label(by_owner, "customers", "value") == {
            "王磊": (3, 150.5), "李娜": (1, 1000.0), "shared pool": (1, 0.0),
        }
        by_region = await customers_by(s, SYSTEM, "region")
        assert _by_label(by_region, "customers") == {
            "上海/上海": (2,), "北京/北京": (2,), "江苏/南京": (1,),
        }
        by_status = await customers_by(s, SYSTEM, "status", lang="en")
        assert _by_label(by_status, "customers") == {
            "active": (2,), "prospect": (2,), "lost": (1,),
        }
        by_tier = await customers_by(s, SYSTEM, "vip_tier")
        assert _by_label(by_tier, "customers") == {"普通": (3,), "VIP 2": (1,), "VIP 1": (1,)}
        filtered = await customers_by(
            s, SYSTEM, "province", CustomerFilter(category="药品包装", status="active"))
        assert _by_label(filtered, "customers", "value") == {"上海": (1, 100.5)}
        with pytest.raises(ValueError, match="unknown dimension"):
            await customers_by(s, SYSTEM, "colour")


async def test_reports_respect_the_scope(maker: async_sessionmaker[AsyncSession]) -> None:
    ids = await _known_set(maker)
    li = Actor(user_id=ids["li"], username="li.na", grants={("reports", "read"): "own"})
    async with maker() as s:
        rows = await customers_by(s, li, "province")
        assert _by_label(rows, "customers", "assets") == {"北京": (1, 2)}
        products = await products_report(s, li, today=TODAY)
        assert {r["code"]: r["assets"] for r in products} == {
            "BUS": 1, None: 1, "PRN": 0, "ZZZ": 0,
        }
        agent = Actor(user_id=None, username="x", grants={("customers", "read"): "all"})
        with pytest.raises(PermissionDenied):
            await customers_by(s, agent, "province")
        with pytest.raises(PermissionDenied):
            await products_report(s, agent)


async def test_products_report(
    maker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    await _known_set(maker)
    async with maker() as s:
        rows = await products_report(s, SYSTEM, today=TODAY, lang="en")
    table = {r["code"]: (r["label"], r["assets"], r["under_warranty"], r["tickets"],
                         r["open_tickets"], r["tickets_per_100_assets"]) for r in rows}
    assert table == {
        "PRN": ("Printers", 2, 1, 3, 2, 150.0),
        "BUS": ("Buses", 2, 1, 1, 0, 50.0),
        None: ("(no product line)", 1, 0, 0, 0, 0.0),
        "ZZZ": ("Empty", 0, 0, 0, 0, None),
    }
    out = tmp_path / "products.csv"
    assert await export_rows(rows, PRODUCT_REPORT_COLUMNS, out, lang="zh-CN") == 4
    lines = list(csv.reader(io.StringIO(out.read_text(encoding="utf-8-sig"))))
    assert lines[0][:3] == ["产品线代码", "产品线", "在用设备"]
    assert lines[1] == ["PRN", "Printers", "2", "1", "3", "2", "150.0"]

    async with maker() as s:
        by_source = await customers_by(s, SYSTEM, "source", lang="en")
    xlsx = tmp_path / "customers.xlsx"
    assert await export_rows(by_source, CUSTOMER_REPORT_COLUMNS, xlsx, lang="en") == 1
    from openpyxl import load_workbook

    sheet = load_workbook(xlsx).active
    assert [c.value for c in sheet[1]][:2] == ["group", "customers"]
    assert [c.value for c in sheet[2]][:2] == ["(not set)", 5]


async def _counts(maker: async_sessionmaker[AsyncSession]) -> dict[str, int]:
    models = (User, ProductLine, Customer, Contact, PhoneNumber, Asset, Interaction, Ticket,
              TicketStatusChange, Opportunity, Subscription)
    out = {}
    async with maker() as s:
        for model in models:
            out[model.__name__] = int(await s.scalar(select(func.count()).select_from(model))
                                      or 0)
    return out


SIMULATOR = {  # hotline.demo.DEMO_CUSTOMERS: the numbers the demo simulator dials
    "华东医药包装有限公司": ["13800138000", "021-6432 1000"],
    "宇通客车服务站(郑州)": ["+86 137 0013 7000"],
    "北京博文进口图书有限公司": ["010-5129 7073", "13600136000"],
    "Lanxi Printers Co., Ltd.": ["0086-135-0013-5000"],
    "读者杂志社订阅部": ["13400134000"],
    "深圳速印打印机维修中心": ["(0755)83210000", "13300133000"],
    "王芳": ["13100131001"],
    "Chen Jie Trading": ["13100131002"],
    "VIP 客户 — 国药集团": ["13911112222"],
}


async def test_a_ticket_after_the_demo_seed_takes_the_days_next_number(
    maker: async_sessionmaker[AsyncSession],
) -> None:
    now = datetime(2025, 6, 1, 4, 0, tzinfo=UTC)
    await seed_demo(maker, now=now)
    day = datetime(2025, 5, 30, 4, 0, tzinfo=UTC)  # demo tickets were opened that day
    async with maker.begin() as s:
        cid = (await s.execute(
            select(Customer.id).where(Customer.name == "华东医药包装有限公司"))).scalar_one()
        made = await create_ticket(s, SYSTEM, cid, problem="after the demo", now=day)
    async with maker() as s:
        numbers = sorted((await s.scalars(
            select(Ticket.number).where(Ticket.number.like("T20250530-%")))).all())
    assert len(numbers) >= 2
    assert numbers == [f"T20250530-{i:04d}" for i in range(1, len(numbers) + 1)]
    assert made["number"] == numbers[-1]


async def test_demo_seed_is_idempotent_and_complete(
    maker: async_sessionmaker[AsyncSession],
) -> None:
    now = datetime(2025, 6, 1, 4, 0, tzinfo=UTC)
    first = await seed_demo(maker, now=now)
    assert first["customers"] == len(CUSTOMERS) and 40 <= len(CUSTOMERS) <= 60
    assert first["users"] == len(USERS) + len(STATION_USERS)
    counts = await _counts(maker)
    assert await seed_demo(maker, now=now) == {k: 0 for k in first}
    assert await _counts(maker) == counts  # a second run creates nothing

    async with maker() as s:
        for company, numbers in SIMULATOR.items():
            for raw in numbers:
                owner = await s.scalar(
                    select(Customer.name).join(PhoneNumber)
                    .where(PhoneNumber.number_e164 == normalize(raw))
                )
                assert owner == company, raw
        stored = (await s.scalars(select(PhoneNumber.number_e164))).all()
        assert all(n.startswith("+86") for n in stored)  # every demo number is valid
        agents = dict((await s.execute(
            select(User.username, User.agent_interface).where(User.agent_interface.is_not(None))
        )).all())
        # the three agents, and the supervisor's desk phone (the one she listens with)
        assert agents == {"alice": "Local/1001@agents/n", "bob": "Local/1002@agents/n",
                          "carol": "Local/1003@agents/n", "zhao.min": "Local/1099@agents/n"}
        soon = await s.scalar(select(func.count()).select_from(Asset).where(
            Asset.warranty_end.between(date(2025, 6, 1), date(2025, 7, 1))))
        assert soon and soon >= 3
        open_tickets = await s.scalar(select(func.count()).select_from(Ticket).where(
            Ticket.status.not_in(("resolved", "closed", "cancelled"))))
        assert open_tickets and 3 <= open_tickets < counts["Ticket"]
        expired = await s.scalar(select(func.count()).select_from(Subscription).where(
            Subscription.end_date < date(2025, 6, 1)))
        assert expired and expired >= 3
        english = await s.scalar(select(func.count()).select_from(Contact).where(
            Contact.name.in_(("Michael Brown", "Sarah Johnson"))))
        assert english == 2
        # the demo station's login sees the station's tickets (issue 15)
        station_user = await s.scalar(select(User).where(User.username == "zz.station"))
        assert station_user is not None and station_user.password_hash
        actor = await load_actor(s, station_user.id)
        assert actor is not None and actor.station_id is not None
        at_station = await list_tickets(s, actor, open_only=True)
        assert at_station["total"] >= 3
        assert {t["station_id"] for t in at_station["items"]} == {actor.station_id}
        resolved = await s.scalar(select(func.count()).select_from(Ticket).where(
            Ticket.status.in_(("resolved", "closed")), Ticket.asset_id.is_not(None)))
        records = await s.scalar(select(func.count()).select_from(RepairRecord))
        assert resolved and records == resolved  # a resolved repair has its repair record


async def test_demo_seed_completes_the_old_seed(
    maker: async_sessionmaker[AsyncSession], db_url: str
) -> None:
    from crm_core.call_log import add_customer

    engine = make_engine(db_url)
    try:
        for company, numbers in SIMULATOR.items():
            await add_customer(engine, company, numbers)
    finally:
        await engine.dispose()
    created = await seed_demo(maker)
    assert created["customers"] == len(CUSTOMERS) - len(SIMULATOR)
    async with maker() as s:
        total = await s.scalar(select(func.count()).select_from(Customer))
        assert total == len(CUSTOMERS)
        hd = await s.scalar(select(Customer).where(Customer.name == "华东医药包装有限公司"))
        assert hd is not None and hd.owner_id is not None and hd.category == "药品包装"
        contact = await s.scalar(
            select(Contact.name).join(PhoneNumber, PhoneNumber.contact_id == Contact.id)
            .where(PhoneNumber.number_e164 == "+8613800138000"))
        assert contact == "张伟"
