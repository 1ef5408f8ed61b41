"""SLA clocks on SQLite and PostgreSQL: policies, start in the station's hours, pause and
resume, marks, and the sweep's warnings and escalation chain with their history rows
and outbox messages."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from crm_core.db import make_engine, upgrade_async
from crm_core.holidays import load_holidays
from crm_core.models import (
    Customer,
    OutboxMessage,
    ServiceStation,
    SlaPolicy,
    Ticket,
    TicketStatusChange,
    User,
)
from crm_core.sla import mark, pause, pick_policy, resume, seed_policies, start_clock, sweep

SH = ZoneInfo("Asia/Shanghai")
Maker = async_sessionmaker[AsyncSession]
MONDAY_9 = datetime(2026, 3, 2, 9, 0, tzinfo=SH)


def sh(*args: int) -> datetime:
    return datetime(*args, tzinfo=SH)


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    await upgrade_async(db_url)
    engine = make_engine(db_url)
    yield engine
    await engine.dispose()


@pytest.fixture
async def maker(engine: AsyncEngine) -> Maker:
    maker = async_sessionmaker(engine, expire_on_commit=False)
    async with maker.begin() as s:
        await seed_policies(s)
        await load_holidays(s)
        users = [User(username=n, display_name=n, email=f"{n}@example.com",
                      phone=f"+8613800000{i:03d}")
                 for i, n in enumerate(("zhan", "qu", "zong"))]
        s.add_all(users)
        await s.flush()
        s.add(ServiceStation(code="ZZ01", name="郑州服务站", email="zz@example.com",
                             phones=["+8637100000001"], hours={
                                 d: [["08:30", "12:00"], ["13:00", "17:30"]]
                                 for d in ("mon", "tue", "wed", "thu", "fri")},
                             manager_id=users[0].id, regional_manager_id=users[1].id))
        s.add_all([Customer(name="宇通客运", vip_tier=0), Customer(name="大客户", vip_tier=2)])
    return maker


async def new_ticket(maker: Maker, *, priority: str = "urgent", category: str = "repair",
                     customer: str = "宇通客运", now: datetime = MONDAY_9) -> int:
    async with maker.begin() as s:
        customer_id = await s.scalar(select(Customer.id).where(Customer.name == customer))
        station = await s.scalar(select(ServiceStation))
        count = await s.scalar(select(func.count()).select_from(Ticket))
        ticket = Ticket(number=f"T20260302-{count + 1:04d}", customer_id=customer_id,
                        problem="发动机无法启动", priority=priority, category=category,
                        status="assigned", station_id=station.id)
        s.add(ticket)
        await s.flush()
        await start_clock(s, ticket, station, now)
        return ticket.id


async def run_sweep(maker: Maker, now: datetime) -> dict[str, int]:
    async with maker.begin() as s:
        result = await sweep(s, now, director="zong")
    return {"examined": result.examined, "warnings": result.warnings,
            "escalations": result.escalations}


async def state(maker: Maker, ticket_id: int) -> Ticket:
    async with maker() as s:
        ticket = await s.get(Ticket, ticket_id)
        assert ticket is not None
        return ticket


async def steps(maker: Maker, ticket_id: int) -> list[tuple[str, int | None, str | None]]:
    async with maker() as s:
        rows = await s.execute(select(TicketStatusChange.kind, TicketStatusChange.data)
                               .where(TicketStatusChange.ticket_id == ticket_id,
                                      TicketStatusChange.kind.in_(("sla-warning",
                                                                    "escalation")))
                               .order_by(TicketStatusChange.id))
        return [(kind, data["level"], data["user"]) for kind, data in rows.all()]


async def outbox(maker: Maker) -> list[tuple[str, str]]:
    async with maker() as s:
        rows = await s.execute(select(OutboxMessage.channel, OutboxMessage.recipient)
                               .order_by(OutboxMessage.id))
        return [tuple(r) for r in rows.all()]  # type: ignore[misc]


async def test_the_most_specific_policy_wins(maker: Maker) -> None:
    async with maker() as s:
        policies = list((await s.execute(select(SlaPolicy))).scalars())
    assert pick_policy(policies, "urgent", "repair", 0).name == "紧急故障 urgent breakdown"
    assert pick_policy(policies, "urgent", "repair", 2).name == "VIP 紧急故障 urgent breakdown"
    assert pick_policy(policies, "urgent", "complaint", 0).name == "紧急 urgent"
    assert pick_policy(policies, "normal", "repair", 0).name == "普通 normal"
    assert pick_policy(policies, "normal", None, 1).name == "VIP"


async def test_the_clock_counts_in_the_station_hours(maker: Maker) -> None:
    ticket_id = await new_ticket(maker)
    t = await state(maker, ticket_id)
    # urgent breakdown: accept 30 min, arrive 4 h, resolve 8 h business
    assert t.accept_due == sh(2026, 3, 2, 9, 30)
    assert t.arrive_due == sh(2026, 3, 2, 14, 0)
    assert t.resolve_due == sh(2026, 3, 3, 9, 0)
    assert t.sla_next_at == sh(2026, 3, 2, 9, 24)  # 80 % of the acceptance target
    # a normal ticket of a VIP customer, raised on a Friday evening before a holiday
    vip = await new_ticket(maker, priority="normal", customer="大客户",
                           now=sh(2026, 9, 30, 18, 0))
    t = await state(maker, vip)
    assert t.accept_due == sh(2026, 10, 8, 9, 30)  # National Day: 1-7 October off


async def test_the_sweep_warns_then_climbs_the_chain(maker: Maker) -> None:
    ticket_id = await new_ticket(maker)
    assert await run_sweep(maker, sh(2026, 3, 2, 9, 20)) == {
        "examined": 0, "warnings": 0, "escalations": 0}
    assert (await run_sweep(maker, sh(2026, 3, 2, 9, 25)))["warnings"] == 1
    t = await state(maker, ticket_id)
    assert (t.sla_state, t.escalation_level) == ("warning", 0)
    assert await outbox(maker) == [("email", "zz@example.com")]
    # the acceptance was due at 09:30: the station manager, then each half target more
    await run_sweep(maker, sh(2026, 3, 2, 9, 31))
    t = await state(maker, ticket_id)
    assert (t.sla_state, t.escalation_level) == ("breached", 1)
    assert t.sla_next_at == sh(2026, 3, 2, 9, 45)
    await run_sweep(maker, sh(2026, 3, 2, 9, 46))
    await run_sweep(maker, sh(2026, 3, 2, 10, 0))
    assert await steps(maker, ticket_id) == [
        ("sla-warning", 0, None), ("escalation", 1, "zhan"), ("escalation", 2, "qu"),
        ("escalation", 3, "zong")]
    assert (await state(maker, ticket_id)).sla_next_at is None
    assert await outbox(maker) == [
        ("email", "zz@example.com"),
        ("email", "zhan@example.com"), ("sms", "+8613800000000"),
        ("email", "qu@example.com"), ("sms", "+8613800000001"),
        ("email", "zong@example.com"), ("sms", "+8613800000002")]
    # a second sweep at the same moment changes nothing
    assert (await run_sweep(maker, sh(2026, 3, 2, 10, 0)))["examined"] == 0


async def test_a_late_sweep_catches_up_and_skips_the_stale_warning(maker: Maker) -> None:
    ticket_id = await new_ticket(maker)
    result = await run_sweep(maker, sh(2026, 3, 2, 9, 50))
    assert result == {"examined": 1, "warnings": 1, "escalations": 2}
    assert [s[1] for s in await steps(maker, ticket_id)] == [0, 1, 2]
    assert ("email", "zz@example.com") not in await outbox(maker)  # the warning came late


async def test_a_level_without_a_person_goes_one_up(maker: Maker) -> None:
    async with maker.begin() as s:
        await s.execute(update(ServiceStation).values(manager_id=None))
    ticket_id = await new_ticket(maker)
    await run_sweep(maker, sh(2026, 3, 2, 9, 31))
    assert await steps(maker, ticket_id) == [("sla-warning", 0, None), ("escalation", 1, "qu")]


async def test_pause_and_resume_push_the_dues(maker: Maker) -> None:
    ticket_id = await new_ticket(maker)
    async with maker.begin() as s:
        ticket = await s.get(Ticket, ticket_id)
        assert ticket is not None
        assert await pause(s, ticket, sh(2026, 3, 2, 9, 10))
        assert not await pause(s, ticket, sh(2026, 3, 2, 9, 11))
    assert (await run_sweep(maker, sh(2026, 3, 2, 16, 0)))["examined"] == 0  # paused
    async with maker.begin() as s:
        ticket = await s.get(Ticket, ticket_id)
        assert ticket is not None
        # paused 09:10 -> 14:00: 2 h 50 + 1 h of business time (lunch is not)
        assert await resume(s, ticket, sh(2026, 3, 2, 14, 0)) == timedelta(hours=3, minutes=50)
    t = await state(maker, ticket_id)
    assert t.sla_paused_s == 230 * 60
    assert t.accept_due == sh(2026, 3, 2, 14, 20)
    assert t.resolve_due == sh(2026, 3, 3, 13, 50)  # 09:00 + 3 h 50, lunch off
    assert t.sla_next_at == sh(2026, 3, 2, 14, 14)


async def test_accepting_moves_to_the_arrival_target(maker: Maker) -> None:
    ticket_id = await new_ticket(maker)
    async with maker.begin() as s:
        ticket = await s.get(Ticket, ticket_id)
        assert ticket is not None
        mark(ticket, "accepted", sh(2026, 3, 2, 9, 20))
        with pytest.raises(ValueError, match="not one of"):
            mark(ticket, "teleported", sh(2026, 3, 2, 9, 21))
    await run_sweep(maker, sh(2026, 3, 2, 9, 21))
    t = await state(maker, ticket_id)
    # arrival due 14:00 (4 h): warning at 80 %, i.e. 48 business minutes before it
    assert (t.sla_state, t.sla_next_at) == ("ok", sh(2026, 3, 2, 13, 12))
    await run_sweep(maker, sh(2026, 3, 2, 14, 1))
    assert [s[1] for s in await steps(maker, ticket_id)] == [0, 1]
    async with maker.begin() as s:
        ticket = await s.get(Ticket, ticket_id)
        assert ticket is not None
        mark(ticket, "arrived", sh(2026, 3, 2, 14, 30))
        mark(ticket, "resolved", sh(2026, 3, 2, 16, 0))
    t = await state(maker, ticket_id)
    assert (t.sla_state, t.sla_next_at) == ("ok", None)  # resolved within 8 h


async def test_a_closed_ticket_leaves_the_sweep(maker: Maker) -> None:
    ticket_id = await new_ticket(maker)
    async with maker.begin() as s:
        await s.execute(update(Ticket).values(status="cancelled"))
    assert (await run_sweep(maker, sh(2026, 3, 2, 10, 0)))["escalations"] == 0
    t = await state(maker, ticket_id)
    assert (t.sla_state, t.sla_next_at) == ("ok", None)
