"""The demo's orders (issue 18, "done means"): ``hotline demo`` seeds books from foreign
publishers for libraries and universities due before September, spare parts for coaches
and printers, batches at many stages with one late; a demo caller hears his orders in
the IVR and the agent's pop shows them; the salesman's home page lists the late batch.
On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_core import late_batches, lookup
from crm_core.db import make_engine, upgrade_async
from crm_core.demo_data import seed_demo
from crm_core.demo_orders import september
from crm_core.models import Customer, OrderLine, SalesOrder, Supplier, SupplierBatch, User
from crm_core.permissions import load_actor
from hotline.demo import DEMO_CUSTOMERS
from ivr.services import ServiceContext, run_action

NOW = datetime(2026, 5, 12, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
TODAY = date(2026, 5, 12)


@pytest.fixture
async def maker(db_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    await upgrade_async(db_url)
    engine = make_engine(db_url)
    yield async_sessionmaker(engine, expire_on_commit=False)
    await engine.dispose()


def test_the_books_are_due_before_the_next_term() -> None:
    assert september(date(2026, 5, 12)) == date(2026, 9, 1)
    assert september(date(2026, 9, 1)) == date(2027, 9, 1)


async def test_the_demo_has_orders_a_caller_hears_and_a_late_batch(
        maker: async_sessionmaker[AsyncSession]) -> None:
    first = await seed_demo(maker, now=NOW)
    assert first["orders"] >= 10 and first["order_lines"] >= 15
    assert first["supplier_batches"] >= 8 and first["suppliers"] >= 8
    again = await seed_demo(maker, now=NOW)
    assert (again["orders"], again["order_lines"], again["supplier_batches"]) == (0, 0, 0)

    async with maker() as s:
        publishers = set((await s.scalars(select(Supplier.name_en))).all())
        assert {"Springer Nature", "Elsevier", "John Wiley & Sons", "Oxford University Press",
                "Cambridge University Press"} <= publishers
        stages = set((await s.scalars(select(SupplierBatch.stage))).all())
        assert len(stages) >= 6
        # libraries and universities: their books are due on September 1st
        library_dues = set((await s.scalars(
            select(SalesOrder.due_date).join(Customer)
            .where(Customer.category == "图书馆/进口图书", SalesOrder.status == "open"))).all())
        assert library_dues == {date(2026, 9, 1)}
        parts = (await s.scalars(select(OrderLine.title).where(
            OrderLine.ref.in_(("ZF-6S1600-SYN", "FK-1150"))))).all()
        assert any("Gearbox" in t for t in parts) and any("Fuser" in t for t in parts)
        waiting = await s.scalar(select(func.count()).select_from(OrderLine).where(
            OrderLine.batch_id.is_(None)))
        assert waiting and waiting >= 1  # a line still to be batched
        li_na = await s.scalar(select(User.id).where(User.username == "li.na"))
        wang = await s.scalar(select(User.id).where(User.username == "wang.lei"))
        assert li_na is not None and wang is not None
        li_actor, wang_actor = await load_actor(s, li_na), await load_actor(s, wang)
        assert li_actor is not None and wang_actor is not None
        # li.na's home page: the coach parts stuck at customs, overdue
        late = await late_batches.late_batches(s, li_actor, now=NOW)
        overdue = [i for i in late["items"] if i["overdue_days"] > 0]
        assert {i["batch_code"] for i in overdue} == {"PT-ZF-2606"}
        assert "SO700108" in {i["number"] for i in overdue}
        # wang.lei's: the sensors that will miss 上海巴士's promised day
        threat = (await late_batches.late_batches(s, wang_actor, now=NOW))["items"]
        assert [(i["number"], i["threatens_due"]) for i in threat] == [("SO700110", True)]

    # a demo caller (the banner's 北京博文进口图书, 13600136000) and the pop
    name, numbers, _ = next(c for c in DEMO_CUSTOMERS if c[0] == "北京博文进口图书有限公司")
    async with maker() as s:
        view = await lookup.lookup_360(s, numbers[1])
    assert view is not None and view["customer"]["name"] == name
    shown = {o["number"]: o for o in view["open_orders"]}
    assert set(shown) == {"SO700101", "SO700102"}
    assert shown["SO700101"]["stage"] == "shipped"  # its Oxford titles are at sea
    cid = view["customer"]["id"]
    context = ServiceContext(caller=numbers[1], customer=None, queue="support", priority=0,
                             linkedid=None, started_at=NOW + timedelta(minutes=1))
    got = await run_action(maker, "order_status", {"customer_id": str(cid)}, context)
    assert got.ok and got.data["found"]
    assert {o["number"] for o in got.data["orders"]} == {"SO700101", "SO700102"}
    assert all(o["expected_on"] for o in got.data["orders"])
    assert "stage_shipped" in got.data["prompts"]
