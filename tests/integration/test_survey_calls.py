"""Automated survey calls (issue 17 item 3) on SQLite and PostgreSQL: what a survey call
leaves behind (crm_core.survey_answers through the call lists' own close_entry), and the
whole call end to end over real sockets: an automated list -> the app's survey dialler
-> Originate over AMI to the PBX simulator -> the customer answers and presses keys ->
FastAGI into the survey flow -> the scores, a verified complaint, the follow-up entry."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from crm_core import outbound_lists as ol
from crm_core import survey_answers as sa
from crm_core.db import make_engine, upgrade_async
from crm_core.errors import Conflict, NotFound
from crm_core.models import (
    CallList,
    CallListEntry,
    Customer,
    PhoneNumber,
    SatisfactionScore,
    ServiceStation,
    Technician,
    Ticket,
    utcnow,
)
from crm_core.permissions import Actor
from hotline.app import AMI, SURVEYS, create_app
from hotline.settings import Settings
from telephony.simulator import PbxSimulator

NOW = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)  # Monday 10:00 in Shanghai
MANAGE = {("call_lists", "read"): "all", ("call_lists", "update"): "all",
          ("call_lists", "create"): "all"}
BOSS = Actor(user_id=None, username="boss", grants=MANAGE)
AGENT = Actor(user_id=None, username="agent", grants={("call_lists", "read"): "all",
                                                      ("call_lists", "update"): "all"})
ORDER = ["overall", "repair", "staff"]
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


async def repaired_customer(s: AsyncSession, name: str, number: str, resolved: datetime,
                            n: int, **kw: Any) -> tuple[int, int, int, int]:
    """A customer whose repair (by a station's technician) was resolved at ``resolved``:
    (customer, ticket, station, technician)."""
    station = ServiceStation(code=f"ST{n}", name=f"{name}维修站")
    s.add(station)
    await s.flush()
    tech = Technician(station_id=station.id, name=f"技师{n}")
    c = Customer(name=name, name_key=name, **kw)
    s.add_all([tech, c])
    await s.flush()
    s.add(PhoneNumber(customer_id=c.id, number_e164=number, raw=number))
    t = Ticket(number=f"T{n:04d}", customer_id=c.id, problem="卡纸", status="resolved",
               resolved_at=resolved, category="repair", station_id=station.id,
               technician_id=tech.id)
    s.add(t)
    await s.flush()
    return c.id, t.id, station.id, tech.id


async def automated_list(s: AsyncSession, now: datetime, **kw: Any) -> int:
    made = await ol.create_list(s, BOSS, name="自动回访", rule="repair_followup",
                                params={"days": 1}, automated=True, now=now, **kw)
    return int(made["id"])


async def test_answers_land_on_the_repair_and_a_low_one_opens_a_verified_complaint(
        maker: Maker) -> None:
    async with maker.begin() as s:
        happy, happy_ticket, station, tech = await repaired_customer(
            s, "甲公司", "+8613800000001", NOW - timedelta(days=1), 1)
        angry, _, _, _ = await repaired_customer(s, "乙公司", "+8613800000002",
                                                 NOW - timedelta(days=1), 2)
        list_id = await automated_list(s, NOW)
    claims: dict[int, tuple[int, str]] = {}
    async with maker.begin() as s:
        for token in ("hlsv-a", "hlsv-b"):
            e = await ol.claim_automated(s, list_id, token=token, now=NOW)
            assert e is not None and e.claimed_by_id is None
            claims[e.customer_id] = (e.id, token)
        assert await ol.claim_automated(s, list_id, token="hlsv-c", now=NOW) is None
    async with maker.begin() as s:
        kept = await sa.record_survey(s, *claims[happy], {"staff": 4, "overall": 5}, ORDER,
                                      low=2, now=NOW)
    assert kept["outcome"] == "scored" and kept["complaint"] is None
    assert kept["answers"] == {"overall": 5, "staff": 4}
    async with maker.begin() as s:
        low = await sa.record_survey(s, *claims[angry], {"overall": 3, "repair": 1}, ORDER,
                                     low=2, now=NOW)
    assert low["complaint"] is not None and low["followup_list_id"] is not None
    async with maker() as s:
        scores = (await s.scalars(select(SatisfactionScore).where(
            SatisfactionScore.customer_id == happy).order_by(SatisfactionScore.id))).all()
        assert [(r.question, r.score, r.channel) for r in scores] == [
            ("overall", 5, "ivr"), ("staff", 4, "ivr")]
        assert {(r.ticket_id, r.station_id, r.technician_id, r.asked_by_id)
                for r in scores} == {(happy_ticket, station, tech, None)}
        entry = await s.get(CallListEntry, claims[happy][0])
        assert entry is not None and (entry.state, entry.outcome, entry.attempts) == (
            "done", "scored", 1)
        assert entry.outcome_data == {"score": 5, "comment": "overall=5, staff=4"}
        assert entry.history[-1]["channel"] == "ivr" and entry.claim is None
        complaint = await s.scalar(select(Ticket).where(Ticket.number == low["complaint"]))
        assert complaint is not None and complaint.customer_id == angry
        assert complaint.category == "complaint" and not complaint.caller_flagged
        assert complaint.caller_check is not None
        assert {k: complaint.caller_check[k] for k in ("method", "passed", "source")} == {
            "method": "number", "passed": True, "source": "survey"}
        follow = (await s.scalars(select(CallListEntry).where(
            CallListEntry.list_id == low["followup_list_id"]))).all()
        assert [(e.customer_id, e.state, e.number) for e in follow] == [
            (angry, "open", "+8613800000002")]
        followup_list = await s.get(CallList, low["followup_list_id"])
        assert followup_list is not None and not followup_list.automated
    async with maker.begin() as s:  # an agent takes the follow-up from her console
        got = await ol.next_entry(s, AGENT, low["followup_list_id"], hours=ol.CallHours.always(),
                                  now=NOW + timedelta(minutes=1))
        assert got["entry"]["customer_id"] == angry
        # the daily rebuild keeps it (its rule selects the same low answer)
        await ol.refresh_all(s, now=NOW + timedelta(hours=2))
    async with maker() as s:
        again = (await s.scalars(select(CallListEntry).where(
            CallListEntry.list_id == low["followup_list_id"]))).all()
        assert [e.state for e in again] == ["open"]


async def test_a_replay_or_a_lost_claim_writes_nothing_and_agents_never_get_the_list(
        maker: Maker) -> None:
    async with maker.begin() as s:
        await repaired_customer(s, "甲公司", "+8613800000001", NOW - timedelta(days=1), 1)
        list_id = await automated_list(s, NOW)
        e = await ol.claim_automated(s, list_id, token="hlsv-a", now=NOW)
        assert e is not None
    async with maker.begin() as s:
        with pytest.raises(NotFound):  # the IVR works it: no agent is handed its entries
            await ol.next_entry(s, AGENT, list_id, hours=ol.CallHours.always(), now=NOW)
        assert [x["id"] for x in await ol.list_lists(s, AGENT, now=NOW)] == []
        assert [x["id"] for x in await ol.list_lists(s, BOSS, now=NOW)] == [list_id]
    async with maker.begin() as s:
        with pytest.raises(Conflict):
            await sa.record_survey(s, e.id, "hlsv-other", {"overall": 1}, ORDER, low=2,
                                   now=NOW)
    async with maker.begin() as s:
        await sa.record_survey(s, e.id, "hlsv-a", {"overall": 4}, ORDER, low=2, now=NOW)
    async with maker.begin() as s:
        with pytest.raises(Conflict):  # the same call's answers once more
            await sa.record_survey(s, e.id, "hlsv-a", {"overall": 4}, ORDER, low=2, now=NOW)
    async with maker() as s:
        assert len((await s.scalars(select(SatisfactionScore))).all()) == 1


async def test_busy_and_silent_calls_are_recycled_up_to_the_lists_attempts(
        maker: Maker) -> None:
    async with maker.begin() as s:
        await repaired_customer(s, "甲公司", "+8613800000001", NOW - timedelta(days=1), 1)
        list_id = await automated_list(s, NOW, max_attempts=2, retry_delay_min=30)
    async with maker.begin() as s:
        e = await ol.claim_automated(s, list_id, token="hlsv-1", now=NOW)
        assert e is not None
        assert await sa.unanswered(s, e.id, "hlsv-1", "busy", now=NOW) == "open"
    async with maker.begin() as s:  # not due again before the list's delay
        assert await ol.claim_automated(s, list_id, token="hlsv-2", now=NOW) is None
        later = NOW + timedelta(minutes=31)
        again = await ol.claim_automated(s, list_id, token="hlsv-2", now=later)
        assert again is not None and again.id == e.id
        # answered, not one key pressed: no-answer, and the last attempt closes it
        kept = await sa.record_survey(s, e.id, "hlsv-2", {}, ORDER, low=2, now=later)
        assert (kept["outcome"], kept["state"]) == ("no-answer", "done")
    async with maker() as s:
        entry = await s.get(CallListEntry, e.id)
        assert entry is not None and entry.attempts == 2
        assert [h["outcome"] for h in entry.history] == ["busy", "no-answer"]


async def test_do_not_call_is_never_dialled_and_two_diallers_never_share_an_entry(
        maker: Maker) -> None:
    async with maker.begin() as s:
        for n in range(6):
            await repaired_customer(s, f"客户{n}", f"+86138000000{n:02d}",
                                    NOW - timedelta(days=1), n, do_not_call=n == 0)
        list_id = await automated_list(s, NOW)

    async def dialler(name: str) -> list[int]:
        got: list[int] = []
        for i in range(6):
            async with maker.begin() as s:
                e = await ol.claim_automated(s, list_id, token=f"{name}-{i}", now=NOW)
                if e is None:
                    return got
                got.append(e.customer_id)
        return got

    a, b = await asyncio.gather(dialler("hlsv-a"), dialler("hlsv-b"))
    assert not set(a) & set(b) and len(a) + len(b) == 5
    async with maker() as s:
        dnc = await s.scalar(select(Customer.id).where(Customer.do_not_call.is_(True)))
    assert dnc not in a + b


async def test_who_prefers_automated_calls_is_the_surveys_on_an_agents_list(
        maker: Maker) -> None:
    async with maker.begin() as s:
        prefers, _, _, _ = await repaired_customer(s, "甲公司", "+8613800000001",
                                                   NOW - timedelta(days=1), 1,
                                                   prefers_automated_calls=True)
        agents, _, _, _ = await repaired_customer(s, "乙公司", "+8613800000002",
                                                  NOW - timedelta(days=1), 2)
        made = await ol.create_list(s, BOSS, name="维修回访", rule="repair_followup",
                                    params={"days": 1}, now=NOW)
    always = ol.CallHours.always()
    async with maker.begin() as s:
        first = (await ol.next_entry(s, AGENT, made["id"], hours=always, now=NOW))["entry"]
        assert first["customer_id"] == agents
        await ol.record_outcome(s, AGENT, first["id"], ol.Outcome("scored", score=5), now=NOW)
        assert (await ol.next_entry(s, AGENT, made["id"], hours=always, now=NOW))["entry"] \
            is None  # the other customer is the survey's
        e = await ol.claim_automated(s, made["id"], token="hlsv-p", preferring_only=True,
                                     now=NOW)
        assert e is not None and e.customer_id == prefers
        assert await ol.claim_automated(s, made["id"], token="hlsv-q", preferring_only=True,
                                        now=NOW) is None


# --- end to end over real sockets --------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def eventually(probe: Callable[[], Any], *, within: float = 30.0, what: str = "") -> Any:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        value = probe()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def test_a_survey_call_end_to_end_through_ami_and_fastagi(db_url: str) -> None:
    await upgrade_async(db_url)
    engine = make_engine(db_url)
    maker = async_sessionmaker(engine, expire_on_commit=False)
    now = utcnow()
    try:
        async with maker.begin() as s:
            angry, ticket, station, tech = await repaired_customer(
                s, "乙公司", "+8613800138002", now - timedelta(days=1), 2)
            pleased, _, _, _ = await repaired_customer(s, "甲公司", "+8613800138001",
                                                       now - timedelta(days=1), 1)
            busy, _, _, _ = await repaired_customer(s, "丙公司", "+8613800138003",
                                                    now - timedelta(days=1), 3)
            list_id = await automated_list(s, now, retry_delay_min=60)
        sim = PbxSimulator(time_scale=0.02)
        await sim.start()
        # overall 4, the repair 1 (low), then garbage twice and silence: staff skipped
        sim.set_customer("13800138002", mode="answer", ring_s=1, keys="4,1,9,0,T")
        sim.set_customer("13800138001", mode="answer", ring_s=1, keys="5,5,5")
        sim.set_customer("13800138003", mode="busy")
        app = create_app(Settings(
            database_url=db_url, ami_port=sim.port, ami_ping_interval_s=0.5,
            ami_ping_timeout_s=1.0, ami_reconnect_min_s=0.05, ami_reconnect_max_s=0.3,
            http_port=0, agi_enabled=True, agi_host="127.0.0.1", agi_port=free_port(),
            outbound_hours="00:00-24:00", outbound_days="1-7", survey_poll_s=0.05,
            survey_max_calls=2, callback_poll_s=0.5))
        runner = web.AppRunner(app, handle_signals=False)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        try:
            await app[AMI].wait_connected(10)

            async def settled() -> bool:
                async with maker() as s:
                    rows = (await s.scalars(select(CallListEntry).where(
                        CallListEntry.list_id == list_id))).all()
                return len(rows) == 3 and all(r.attempts == 1 and r.claim is None
                                              for r in rows)

            await eventually(settled, what="three survey calls made")
            assert app[SURVEYS].stats["dials"] == 3
        finally:
            await runner.cleanup()
            await sim.close()
        originates = sim.actions_named("Originate")
        assert len(originates) == 3
        assert {o["Channel"] for o in originates} == {
            "Local/13800138001@outbound", "Local/13800138002@outbound",
            "Local/13800138003@outbound"}
        assert all(o["Application"] == "AGI" and "/survey?entry=" in o["Data"]
                   for o in originates)
        async with maker() as s:
            rows = {r.customer_id: r for r in (await s.scalars(select(CallListEntry).where(
                CallListEntry.list_id == list_id))).all()}
            assert (rows[pleased].state, rows[pleased].outcome) == ("done", "scored")
            assert (rows[busy].state, rows[busy].outcome) == ("open", "busy")
            assert rows[busy].due_at > now + timedelta(minutes=59)
            assert (rows[angry].state, rows[angry].outcome_data) == (
                "done", {"score": 4, "comment": "overall=4, repair=1"})
            scores = (await s.scalars(select(SatisfactionScore).where(
                SatisfactionScore.customer_id == angry))).all()
            assert sorted((r.question, r.score) for r in scores) == [
                ("overall", 4), ("repair", 1)]
            assert {(r.channel, r.ticket_id, r.station_id, r.technician_id)
                    for r in scores} == {("ivr", ticket, station, tech)}
            complaints = (await s.scalars(select(Ticket).where(
                Ticket.category == "complaint"))).all()
            assert [c.customer_id for c in complaints] == [angry]
            assert complaints[0].caller_check is not None
            assert complaints[0].caller_check["passed"] is True
            follow = (await s.scalars(select(CallListEntry).join(
                CallList, CallList.id == CallListEntry.list_id).where(
                CallList.rule == "survey_followup"))).all()
            assert [(e.customer_id, e.state) for e in follow] == [(angry, "open")]
    finally:
        await engine.dispose()
