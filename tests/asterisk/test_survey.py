"""Automated survey calls on the real PBX (issue 17 item 3): the survey dialler
Originates ``Local/<number>@outbound`` with ``Application=AGI`` into
``agi://127.0.0.1:4573/survey?entry=..&claim=..``; [outbound] dials the customer through
the trunk (the overlay's ``rig-customers``: the customer's phone answers after
CUST_<number>_RING seconds); the customer hears the survey's prompts and keys his
answers from his phone (AMI PlayDTMF out of the rig-customers ``;2`` half, so the AGI's
channel receives them through both Local pairs and the trunk's bridge).

Assumed of the PBX: deploy/asterisk's [outbound] (``_X.`` -> Dial(trunk+number,30)) as
shipped, the overlay's trunk and rig-customers, res_agi with the FastAGI on
127.0.0.1:4573, func_env (the IVR's sound check), the hotline AMI user may Originate;
the prompts built by ``hotline prompts build`` (the rig links them in)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from crm_core import outbound_lists as ol
from crm_core.db import make_engine
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
from crm_core.permissions import SYSTEM

from .conftest import IvrCaller, Site

CUSTOMER = "13700137000"
ALWAYS = {"HOTLINE_OUTBOUND_HOURS": "00:00-24:00", "HOTLINE_OUTBOUND_DAYS": "1-7",
          "HOTLINE_SURVEY_POLL_S": "0.5", "HOTLINE_SURVEY_RING_S": "40"}


async def _automated_list(db_url: str, *, retry_delay_min: int = 120) -> dict[str, int]:
    """A customer whose repair was resolved yesterday, on an automated satisfaction list."""
    engine = make_engine(db_url)
    try:
        async with async_sessionmaker(engine, expire_on_commit=False).begin() as db:
            station = ServiceStation(code="RIG-ST", name="测试维修站")
            db.add(station)
            await db.flush()
            tech = Technician(station_id=station.id, name="王师傅")
            customer = Customer(name="回访客户", name_key="回访客户", status="active")
            db.add_all([tech, customer])
            await db.flush()
            db.add(PhoneNumber(customer_id=customer.id, number_e164="+86" + CUSTOMER,
                               raw=CUSTOMER))
            ticket = Ticket(number="T-RIG-SURVEY", customer_id=customer.id, problem="卡纸",
                            status="resolved", category="repair", station_id=station.id,
                            technician_id=tech.id,
                            resolved_at=utcnow() - timedelta(days=1))
            db.add(ticket)
            await db.flush()
            made = await ol.create_list(db, SYSTEM, name="自动回访", rule="repair_followup",
                                        params={"days": 1}, automated=True,
                                        retry_delay_min=retry_delay_min)
            return {"list": int(made["id"]), "customer": customer.id, "ticket": ticket.id,
                    "station": station.id, "technician": tech.id}
    finally:
        await engine.dispose()


async def _rows(db_url: str, query: Any) -> list[Any]:
    engine = make_engine(db_url)
    try:
        async with async_sessionmaker(engine, expire_on_commit=False)() as db:
            return list((await db.execute(query)).scalars())
    finally:
        await engine.dispose()


async def _until(probe: Callable[[], Any], what: str, within: float = 120.0) -> Any:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        value = await probe()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.25)


@dataclass
class SurveyedCustomer(IvrCaller):
    """The customer the survey called: he hears the prompts played on the AGI's channel
    (the Originate's ``;1``) and keys from his phone (the rig-customers ``;2``)."""

    agi_channel: str = ""

    @property
    def line(self) -> str:
        return self.agi_channel


async def _answered_call(site: Site, start: int, mark: int) -> SurveyedCustomer:
    def new(prefix: str, half: str) -> Callable[[dict[str, str]], bool]:
        return lambda m: (m.get("Event") == "Newchannel"
                          and m.get("Channel", "").startswith(prefix)
                          and m["Channel"].endswith(half))
    agi = await site.ami.wait_event(new(f"Local/{CUSTOMER}@outbound-", ";1"), within=60,
                                    start=start)
    phone = await site.ami.wait_event(new(f"Local/{CUSTOMER}@rig-customers-", ";2"),
                                      within=60, start=start)
    return SurveyedCustomer(site, phone["Channel"], mark, agi_channel=agi["Channel"])


async def test_a_low_answer_opens_a_verified_complaint_and_a_follow_up(site: Site) -> None:
    seeded = await _automated_list(site.hotline.db_url)
    await site.ami.setvar(f"CUST_{CUSTOMER}_RING", "2")
    mark, start = site.rig.log_size(), len(site.ami.events)
    await site.restart_hotline(**ALWAYS)
    customer = await _answered_call(site, start, mark)
    assert await customer.hears("survey_overall") == ["survey_greeting"]
    await customer.press("4")
    assert await customer.hears("survey_repair") == []
    await customer.press("1")
    assert await customer.hears("survey_staff") == []
    await customer.press("9")  # no such score: asked again
    assert await customer.hears("survey_staff") == ["survey_invalid"]
    await customer.press("5")
    await customer.hears("survey_thanks")
    db = site.hotline.db_url

    async def closed() -> list[CallListEntry]:
        rows = await _rows(db, select(CallListEntry).where(
            CallListEntry.list_id == seeded["list"], CallListEntry.state == "done"))
        return rows

    [entry] = await _until(closed, "the survey's entry closed")
    site.save_capture("survey-low-score")
    assert (entry.outcome, entry.attempts) == ("scored", 1)
    scores = await _rows(db, select(SatisfactionScore).order_by(SatisfactionScore.id))
    assert [(s.question, s.score, s.channel) for s in scores] == [
        ("overall", 4, "ivr"), ("repair", 1, "ivr"), ("staff", 5, "ivr")]
    assert {(s.ticket_id, s.station_id, s.technician_id) for s in scores} == {
        (seeded["ticket"], seeded["station"], seeded["technician"])}
    [complaint] = await _rows(db, select(Ticket).where(Ticket.category == "complaint"))
    assert complaint.customer_id == seeded["customer"]
    assert complaint.caller_check is not None and complaint.caller_check["passed"] is True
    assert complaint.caller_check["source"] == "survey"
    follow = await _rows(db, select(CallListEntry).join(
        CallList, CallList.id == CallListEntry.list_id).where(
        CallList.rule == "survey_followup"))
    assert [(e.customer_id, e.state) for e in follow] == [(seeded["customer"], "open")]


async def test_a_busy_customer_is_called_again_later(site: Site) -> None:
    seeded = await _automated_list(site.hotline.db_url, retry_delay_min=60)
    await site.ami.setvar(f"CUST_{CUSTOMER}_MODE", "busy")
    await site.restart_hotline(**ALWAYS)

    async def tried() -> list[CallListEntry]:
        return await _rows(site.hotline.db_url, select(CallListEntry).where(
            CallListEntry.list_id == seeded["list"], CallListEntry.attempts == 1,
            CallListEntry.claim.is_(None)))

    [entry] = await _until(tried, "the busy call's outcome")
    site.save_capture("survey-customer-busy")
    assert (entry.state, entry.outcome) == ("open", "busy")
    assert entry.due_at > utcnow() + timedelta(minutes=55)
    assert await _rows(site.hotline.db_url, select(SatisfactionScore)) == []
