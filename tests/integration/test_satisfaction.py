"""Scores that belong to people on SQLite and PostgreSQL (issue 17 item 4): a "scored"
call-list outcome becomes one satisfaction row against the ticket, its station, the
technician of the repair record, the agent who answered the original call, the product
line, the customer and the list; a delivery follow-up's against the agent of the
customer's last call; the report per agent, technician, station, product line and
month, the agent's own figures and the station's."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from crm_core import outbound_lists as ol
from crm_core import satisfaction
from crm_core.db import make_engine, upgrade_async
from crm_core.errors import NotFound, ValidationFailed
from crm_core.models import (
    Asset,
    CallRecord,
    Customer,
    PhoneNumber,
    ProductLine,
    RepairRecord,
    SatisfactionScore,
    ServiceStation,
    Technician,
    Ticket,
    User,
)
from crm_core.permissions import Actor, PermissionDenied
from crm_core.service_report import Period

NOW = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)  # Monday 10:00 in Shanghai
TODAY = date(2026, 12, 7)
Maker = async_sessionmaker[AsyncSession]
LISTS = {("call_lists", "read"): "all", ("call_lists", "update"): "all",
         ("call_lists", "create"): "all"}
ALWAYS = ol.CallHours.always()


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    await upgrade_async(db_url)
    engine = make_engine(db_url)
    yield engine
    await engine.dispose()


@pytest.fixture
def maker(engine: AsyncEngine) -> Maker:
    return async_sessionmaker(engine, expire_on_commit=False)


class World:
    alice: int  # answered the customers' calls
    bob: int  # makes the follow-up calls
    station: int
    other_station: int
    fixer: int  # the technician of the repair record
    assigned: int  # the ticket's technician (not the one who repaired)
    line: int
    ticket: int
    repair_customer: int
    delivery_customer: int


async def world(maker: Maker) -> World:
    w = World()
    async with maker.begin() as s:
        alice = User(username="alice", display_name="Alice 王", agent_interface="PJSIP/1001")
        bob = User(username="bob", display_name="Bob 李")
        station = ServiceStation(code="SH01", name="上海站", name_en="Shanghai")
        other = ServiceStation(code="BJ01", name="北京站", name_en="Beijing")
        line = ProductLine(code="PRN", name="打印机", name_en="Printers")
        s.add_all([alice, bob, station, other, line])
        await s.flush()
        fixer = Technician(station_id=station.id, name="赵师傅")
        assigned = Technician(station_id=station.id, name="钱师傅")
        s.add_all([fixer, assigned])
        c1 = Customer(name="甲公司", name_key="甲")
        c2 = Customer(name="乙公司", name_key="乙")
        s.add_all([c1, c2])
        await s.flush()
        s.add_all([PhoneNumber(customer_id=c1.id, number_e164="+8613800000001", raw="x"),
                   PhoneNumber(customer_id=c2.id, number_e164="+8613800000002", raw="x")])
        a1 = Asset(customer_id=c1.id, serial_number="PRN-0001", product_line_id=line.id)
        a2 = Asset(customer_id=c2.id, serial_number="PRN-0002", product_line_id=line.id,
                   purchase_date=TODAY - timedelta(days=7))
        s.add_all([a1, a2])
        await s.flush()
        t = Ticket(number="T0001", customer_id=c1.id, asset_id=a1.id, problem="卡纸",
                   status="resolved", resolved_at=NOW - timedelta(days=1), category="repair",
                   station_id=station.id, technician_id=assigned.id, call_linkedid="call-1",
                   created_by_id=bob.id)
        s.add(t)
        await s.flush()
        s.add(RepairRecord(ticket_id=t.id, fault="卡纸", action="换辊", technician_id=fixer.id))
        # the ticket's call was answered by Alice's phone; the delivery customer's last
        # inbound call too (an older one by nobody we know)
        s.add_all([
            CallRecord(linkedid="call-1", agent_interface="PJSIP/1001", outcome="answered",
                       customer_id=c1.id, answered_at=NOW - timedelta(days=3)),
            CallRecord(linkedid="call-2", agent_interface="PJSIP/1999", outcome="answered",
                       customer_id=c2.id, answered_at=NOW - timedelta(days=20)),
            CallRecord(linkedid="call-3", agent_interface="PJSIP/1001", outcome="answered",
                       customer_id=c2.id, answered_at=NOW - timedelta(days=2)),
        ])
        w.alice, w.bob, w.station, w.other_station = alice.id, bob.id, station.id, other.id
        w.fixer, w.assigned, w.line, w.ticket = fixer.id, assigned.id, line.id, t.id
        w.repair_customer, w.delivery_customer = c1.id, c2.id
    return w


async def call_and_score(maker: Maker, agent: Actor, rule: str, score: int,
                         comment: str | None = None) -> int:
    async with maker.begin() as s:
        made = await ol.create_list(s, agent, name=rule, rule=rule, now=NOW)
        e = (await ol.next_entry(s, agent, made["id"], hours=ALWAYS, now=NOW))["entry"]
        assert e is not None
        await ol.record_outcome(s, agent, e["id"], ol.Outcome("scored", score=score,
                                                              comment=comment), now=NOW)
        return int(made["id"])


async def test_a_scored_call_lands_on_everyone_who_earned_it(maker: Maker) -> None:
    w = await world(maker)
    bob = Actor(user_id=w.bob, username="bob", grants=LISTS)
    repair_list = await call_and_score(maker, bob, "repair_followup", 4, " 师傅很专业 ")
    delivery_list = await call_and_score(maker, bob, "delivery_followup", 2)
    async with maker() as s:
        rows = {r.customer_id: r for r in (await s.scalars(select(SatisfactionScore))).all()}
    repair, delivery = rows[w.repair_customer], rows[w.delivery_customer]
    assert (repair.ticket_id, repair.station_id, repair.technician_id) == \
        (w.ticket, w.station, w.fixer)  # the repair record's technician, not the assigned
    assert repair.agent_id == w.alice  # answered the ticket's call (not its creator Bob)
    assert (repair.product_line_id, repair.list_id, repair.score) == (w.line, repair_list, 4)
    assert repair.comment == "师傅很专业" and repair.channel == "agent"
    assert repair.asked_by_id == w.bob and repair.entry_id is not None
    assert repair.scored_at == NOW
    # no ticket: the agent of the customer's LAST inbound call, the asset's product line
    assert (delivery.ticket_id, delivery.station_id, delivery.technician_id) == \
        (None, None, None)
    assert (delivery.agent_id, delivery.product_line_id, delivery.list_id) == \
        (w.alice, w.line, delivery_list)


async def test_the_report_per_person_place_line_and_month(maker: Maker) -> None:
    w = await world(maker)
    bob = Actor(user_id=w.bob, username="bob", grants=LISTS)
    await call_and_score(maker, bob, "repair_followup", 5)
    await call_and_score(maker, bob, "delivery_followup", 2)
    async with maker.begin() as s:  # the automated survey writes the same row
        await satisfaction.record_score(s, customer_id=w.repair_customer, score=4,
                                        channel="ivr", ticket_id=w.ticket,
                                        at=NOW - timedelta(days=40))
    boss = Actor(user_id=w.bob, username="boss", grants={("reports", "read"): "all"},
                 language="en")
    period = Period(first=date(2026, 10, 1), last=date(2026, 12, 31))
    async with maker() as s:
        by_agent = await satisfaction.satisfaction_report(s, boss, "agent", period)
        by_tech = await satisfaction.satisfaction_report(s, boss, "technician", period)
        by_station = await satisfaction.satisfaction_report(s, boss, "station", period)
        by_line = await satisfaction.satisfaction_report(s, boss, "product_line", period)
        by_month = await satisfaction.satisfaction_report(s, boss, "month", period)
        this_month = await satisfaction.satisfaction_report(s, boss, "agent", today=TODAY)
    [alice] = by_agent["items"]
    assert (alice["key"], alice["label"], alice["count"], alice["mean"]) == \
        (w.alice, "Alice 王", 3, 3.7)
    assert alice["distribution"] == [0, 1, 0, 1, 1] and alice["satisfied_pct"] == 66.7
    assert [(r["label"], r["count"]) for r in by_tech["items"]] == \
        [("赵师傅 (SH01)", 2), ("(no technician)", 1)]
    assert [(r["label"], r["mean"]) for r in by_station["items"]] == \
        [("SH01 Shanghai", 4.5), ("(no station)", 2.0)]
    assert [(r["label"], r["count"]) for r in by_line["items"]] == [("Printers", 3)]
    assert [(r["key"], r["count"]) for r in by_month["items"]] == [("2026-10", 1),
                                                                    ("2026-12", 2)]
    assert by_month["total"]["count"] == 3 and by_month["total"]["mean"] == 3.7
    assert this_month["total"]["count"] == 2  # the October answer is outside this month
    rows = satisfaction.file_rows(by_agent)
    assert rows[0]["score_5"] == 1 and rows[-1]["label"] == "total"
    with pytest.raises(ValidationFailed):
        await satisfaction.satisfaction_report(s, boss, "weather", period)
    nobody = Actor(user_id=w.bob, username="nobody")
    with pytest.raises(PermissionDenied):
        await satisfaction.satisfaction_report(s, nobody, "agent", period)
    with pytest.raises(PermissionDenied):  # a file needs reports:export
        await satisfaction.satisfaction_report(s, boss, "agent", period, export=True)


async def test_the_agents_own_and_the_stations_figures(maker: Maker) -> None:
    w = await world(maker)
    bob = Actor(user_id=w.bob, username="bob", grants=LISTS)
    await call_and_score(maker, bob, "repair_followup", 3, "还行")
    alice = Actor(user_id=w.alice, username="alice")
    desk = Actor(user_id=w.bob, username="desk", grants={("tickets", "read"): "all"},
                 station_id=w.station)
    async with maker() as s:
        mine = await satisfaction.my_scores(s, alice, today=TODAY)
        bobs = await satisfaction.my_scores(s, bob, today=TODAY)
        here = await satisfaction.station_scores(s, desk, today=TODAY)
        with pytest.raises(NotFound):  # another station needs reports:read
            await satisfaction.station_scores(s, desk, w.other_station, today=TODAY)
    assert mine["count"] == 1 and mine["mean"] == 3.0
    assert mine["recent"][0]["comment"] == "还行"
    assert mine["recent"][0]["ticket_number"] == "T0001"
    assert bobs["count"] == 0 and bobs["mean"] is None and bobs["recent"] == []
    assert here["station"]["code"] == "SH01" and here["station"]["count"] == 1
    assert [(t["name"], t["count"]) for t in here["technicians"]] == [("赵师傅", 1),
                                                                      ("钱师傅", 0)]


async def test_a_bad_score_is_refused(maker: Maker) -> None:
    w = await world(maker)
    async with maker.begin() as s:
        for bad, field in ((6, "score"), (0, "score")):
            with pytest.raises(ValidationFailed) as err:
                await satisfaction.record_score(s, customer_id=w.repair_customer, score=bad)
            assert err.value.field == field
        with pytest.raises(ValidationFailed):
            await satisfaction.record_score(s, customer_id=w.repair_customer, score=3,
                                            channel="sms")
