"""The demo's sales pipeline (issue 18, "a manager sees the funnel and big contracts"):
``hotline demo`` seeds six months of deals with their stage history, so the funnel has a
realistic shape (fewer deals at each stage along the chain, time spent in each), margins
where costs are known, sales by product line, and big contracts signed in the last ten
days for wang.lei; a second run adds nothing. On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_core import demo_sales, sales_report
from crm_core.db import make_engine, upgrade_async
from crm_core.demo_data import seed_demo
from crm_core.models import User
from crm_core.permissions import SYSTEM, load_actor
from crm_core.sales_report import SalesFilter

NOW = datetime(2026, 5, 12, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai


@pytest.fixture
async def maker(db_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    await upgrade_async(db_url)
    engine = make_engine(db_url)
    yield async_sessionmaker(engine, expire_on_commit=False)
    await engine.dispose()


def test_a_deals_path_through_the_stages() -> None:
    assert demo_sales.stage_path("lead", 30, 30) == [("lead", 30)]
    assert demo_sales.stage_path("won", 30, 0) == [("lead", 30), ("qualified", 20),
                                                   ("proposal", 10), ("won", 0)]
    assert demo_sales.stage_path("lost", 10, 4) == [("lead", 10), ("qualified", 7),
                                                    ("lost", 4)]


async def test_the_demo_funnel_and_big_contracts(
        maker: async_sessionmaker[AsyncSession]) -> None:
    first = await seed_demo(maker, now=NOW)
    assert first["opportunities"] >= 50
    again = await seed_demo(maker, now=NOW)
    assert again["opportunities"] == 0
    async with maker() as db:
        months = SalesFilter(first="2025-10", last="2026-05")
        [whole] = await sales_report.funnel_report(db, SYSTEM, months, by="all", now=NOW)
        reached = {s["stage"]: s["reached"] for s in whole["stages"]}
        assert reached["lead"] > reached["qualified"] > reached["proposal"] > reached["won"] > 0
        assert all(s["mean_days"] for s in whole["stages"] if s["stage"] in
                   ("lead", "qualified", "proposal"))
        per_man = await sales_report.funnel_report(db, SYSTEM, months, by="salesman",
                                                   now=NOW)
        assert {g["label"] for g in per_man} == {"王磊", "李娜", "陈浩"}
        salesmen = await sales_report.salesmen_report(db, SYSTEM, SalesFilter(
            first="2025-12", last="2026-05"))
        assert all(r["margin"] is not None for r in salesmen if r["sales"] > 0)
        lines = await sales_report.sales_by(db, SYSTEM, SalesFilter(
            first="2025-12", last="2026-05"), dimension="product_line", lang="en")
        assert {"Imported books", "Touring coaches", "Laser printers"} <= \
            {r["label"] for r in lines}

        wang = await db.scalar(select(User.id).where(User.username == "wang.lei"))
        assert wang is not None
        actor = await load_actor(db, wang)
        assert actor is not None
        big = await sales_report.big_contracts(db, actor, now=NOW)
        assert {(c["kind"], c["title"][:8]) for c in big} == {
            ("order", "SO700113"), ("opportunity", "30台旅游客车三")}
