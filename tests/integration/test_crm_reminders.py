"""Reminders and the daily job, on SQLite and PostgreSQL, with a controlled date.

Owners see what ends soon for their customers, supervisors for their scope;
expiry is idempotent, leaves renewed/cancelled ones alone and catches up after a
10-day downtime; the daily job runs its steps in their own transactions.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from crm_core.db import make_engine, upgrade_async
from crm_core.errors import ValidationFailed
from crm_core.models import Asset, AuditEntry, Customer, Subscription, User
from crm_core.ownership import OwnershipRules
from crm_core.permissions import SYSTEM, Actor, PermissionDenied
from crm_core.reminders import business_today, daily_job, expire_subscriptions, upcoming

TODAY = date(2025, 6, 10)
NOW = datetime(2025, 6, 10, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
Maker = async_sessionmaker[AsyncSession]


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    await upgrade_async(db_url)
    engine = make_engine(db_url)
    yield engine
    await engine.dispose()


@pytest.fixture
def maker(engine: AsyncEngine) -> Maker:
    return async_sessionmaker(engine, expire_on_commit=False)


def day(offset: int) -> date:
    return TODAY + timedelta(days=offset)


async def add(maker: Maker, *rows: Any) -> list[int]:
    async with maker.begin() as s:
        s.add_all(rows)
        await s.flush()
        return [row.id for row in rows]


def sub(customer_id: int, title: str, end: int, *, kind: str = "subscription",
        status: str = "active") -> Subscription:
    return Subscription(customer_id=customer_id, title=title, kind=kind, status=status,
                        start_date=day(-365), end_date=day(end))


GRANTS = {("subscriptions", "read"): "own", ("assets", "read"): "own",
          ("customers", "read"): "own"}


@pytest.fixture
async def world(maker: Maker) -> dict[str, int]:
    wang, li, boss = await add(
        maker, User(username="wang", display_name="王经理", team="north"),
        User(username="li", display_name="李经理", team="north"),
        User(username="boss", display_name="主管", team="north"),
    )
    a, b, pool = await add(
        maker, Customer(name="甲印刷厂", owner_id=wang), Customer(name="乙客运", owner_id=li),
        Customer(name="丙图书馆"),
    )
    await add(
        maker,
        sub(a, "维保合同", 5), sub(a, "年度合同", 40, kind="contract"),
        sub(a, "已停", 3, status="not_renewed"), sub(b, "包车合同", 10, kind="contract"),
        sub(pool, "期刊订阅", 1),
        Asset(customer_id=a, serial_number="SN-A1", model="MP 2555", warranty_end=day(20)),
        Asset(customer_id=a, serial_number="SN-A0", warranty_end=day(-1)),
        Asset(customer_id=b, serial_number="SN-B1", model="ZK6122", warranty_end=day(0)),
    )
    return {"wang": wang, "li": li, "boss": boss, "a": a, "b": b, "pool": pool}


def listed(items: list[dict[str, Any]]) -> list[tuple[str, str, int]]:
    return [(i["kind"], i["title"], i["days_left"]) for i in items]


async def test_owner_sees_what_ends_soon_for_their_customers(
    maker: Maker, world: dict[str, int]
) -> None:
    wang = Actor(user_id=world["wang"], grants=GRANTS)
    async with maker() as s:
        items = await upcoming(s, wang, today=TODAY)
        longer = await upcoming(s, wang, today=TODAY, within_days=40)
    assert listed(items) == [("subscription", "维保合同", 5), ("warranty", "MP 2555", 20)]
    assert items[0]["date"] == "2025-06-15"
    assert items[0]["customer"] == {"id": world["a"], "name": "甲印刷厂"}
    assert items[0]["owner"] == {"id": world["wang"], "display_name": "王经理"}
    assert items[1]["serial_number"] == "SN-A1"
    assert listed(longer)[-1] == ("contract", "年度合同", 40)


async def test_supervisor_sees_the_whole_scope(maker: Maker, world: dict[str, int]) -> None:
    boss = Actor(user_id=world["boss"], team="north", grants={
        ("subscriptions", "read"): "all", ("assets", "read"): "all",
        ("customers", "reassign"): "team",
    })
    async with maker() as s:
        items = await upcoming(s, boss, today=TODAY)
        mine = await upcoming(s, boss, today=TODAY, team_view=False)
        everything = await upcoming(s, SYSTEM, today=TODAY, within_days=0)
    assert listed(items) == [
        ("warranty", "ZK6122", 0), ("subscription", "期刊订阅", 1),
        ("subscription", "维保合同", 5), ("contract", "包车合同", 10),
        ("warranty", "MP 2555", 20),
    ]
    assert items[1]["owner"] is None
    assert mine == []
    assert listed(everything) == [("warranty", "ZK6122", 0)]


async def test_only_the_kinds_the_actor_may_read(maker: Maker, world: dict[str, int]) -> None:
    only_assets = Actor(user_id=world["wang"], grants={("assets", "read"): "own"})
    async with maker() as s:
        assert listed(await upcoming(s, only_assets, today=TODAY)) == [
            ("warranty", "MP 2555", 20)
        ]
        with pytest.raises(PermissionDenied):
            await upcoming(s, Actor(user_id=world["wang"]), today=TODAY)
        with pytest.raises(ValidationFailed):
            await upcoming(s, SYSTEM, today=TODAY, within_days=-1)
        assert len(await upcoming(s, SYSTEM, today=TODAY, limit=2)) == 2


async def statuses(maker: Maker) -> dict[str, str]:
    async with maker() as s:
        return {t: st for t, st in await s.execute(select(Subscription.title, Subscription.status))}


async def test_expiry_is_idempotent_and_catches_up_after_downtime(maker: Maker) -> None:
    [cid] = await add(maker, Customer(name="丁旅行社"))
    await add(
        maker, sub(cid, "昨天到期", -1), sub(cid, "今天到期", 0), sub(cid, "五天后", 5),
        sub(cid, "九天后", 9), sub(cid, "早已取消", -5, status="cancelled"),
        sub(cid, "已续约", -3, status="renewed"), sub(cid, "合同", -2, kind="contract"),
    )
    async with maker.begin() as s:
        assert await expire_subscriptions(s, today=TODAY, now=NOW) == 2
    async with maker.begin() as s:
        assert await expire_subscriptions(s, today=TODAY, now=NOW) == 0
    assert await statuses(maker) == {
        "昨天到期": "not_renewed", "今天到期": "active", "五天后": "active", "九天后": "active",
        "早已取消": "cancelled", "已续约": "renewed", "合同": "not_renewed",
    }
    # the job was down for 10 days: everything that ended meanwhile goes in one run
    async with maker.begin() as s:
        assert await expire_subscriptions(s, today=day(10), now=NOW + timedelta(days=10)) == 3
    assert set((await statuses(maker)).values()) == {"not_renewed", "cancelled", "renewed"}
    async with maker() as s:
        entries = (
            await s.scalars(select(AuditEntry).where(AuditEntry.entity == "subscription"))
        ).all()
    assert len(entries) == 5
    assert {(e.user_id, e.action) for e in entries} == {(None, "expire")}
    assert {(e.before["status"], e.after["status"]) for e in entries} == {  # type: ignore[index]
        ("active", "not_renewed")
    }


async def test_daily_job_runs_every_step_and_is_safe_twice(maker: Maker) -> None:
    [wang] = await add(maker, User(username="wang", display_name="王"))
    [cold, warm] = await add(
        maker, Customer(name="冷客户", owner_id=wang, owner_since=NOW - timedelta(days=40)),
        Customer(name="热客户", owner_id=wang, owner_since=NOW - timedelta(days=5)),
    )
    await add(maker, sub(cold, "过期", -1), sub(warm, "有效", 30))
    async with maker.begin() as s:
        await s.execute(insert(Customer), [{"name": "郑州宇通集团有限公司"}])
    rules = OwnershipRules(pool_after_days=30)
    first = await daily_job(maker, rules, today=TODAY, now=NOW)
    again = await daily_job(maker, rules, today=TODAY, now=NOW)
    assert first == {"expired": 1, "returned_to_pool": 1, "name_keys": 3, "call_lists": 0,
                     "late_batches_told": 0, "errors": 0}
    assert again == {"expired": 0, "returned_to_pool": 0, "name_keys": 0, "call_lists": 0,
                     "late_batches_told": 0, "errors": 0}
    async with maker() as s:
        owners = dict(list(await s.execute(select(Customer.name, Customer.owner_id))))
        keys = await s.scalar(select(func.count()).where(Customer.name_key == "郑州宇通"))
    assert owners["冷客户"] is None and owners["热客户"] == wang
    assert keys == 1


async def test_daily_job_step_failure_is_counted_and_others_run(maker: Maker) -> None:
    [cid] = await add(maker, Customer(name="戊公司"))
    await add(maker, sub(cid, "过期", -1))
    broken = OwnershipRules(pool_after_days=10**9)  # timedelta overflow inside the step
    counts = await daily_job(maker, broken, today=TODAY, now=NOW)
    assert counts["errors"] == 1 and counts["returned_to_pool"] == 0
    assert counts["expired"] == 1


def test_business_day_is_shanghai() -> None:
    assert business_today(datetime(2025, 6, 9, 16, 30, tzinfo=UTC)) == date(2025, 6, 10)
    assert business_today(datetime(2025, 6, 9, 15, 59, tzinfo=UTC)) == date(2025, 6, 9)
