"""Scores that belong to people and the complaint caller check in a real browser (issue
17 items 4-5), in English and in Chinese: the station page shows the station's and its
technicians' satisfaction, the agent's console her own (a hostile comment shown as
text); a complaint raised from the pop is refused while the caller's answer is wrong
and opens once the call's own number is found on record, the check kept on the
ticket."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from crm_core.db import make_engine
from crm_core.models import (
    Customer,
    SatisfactionScore,
    ServiceStation,
    Technician,
    Ticket,
    User,
)
from telephony.simulator import CallScript, PbxSimulator
from tests.browser.conftest import Browser, Console, sign_in
from tests.browser.test_pop import only_alice, open_console

HOSTILE = '<img src=x onerror="alert(1)">服务很好'


async def seed_scores(console: Console) -> str:
    """Two answers for BUS-ZHENGZHOU's first technician, one for Alice's calls; the
    technician's name."""
    engine = make_engine(console.db_url)
    try:
        async with async_sessionmaker(engine, expire_on_commit=False).begin() as db:
            station = await db.scalar(select(ServiceStation.id).where(
                ServiceStation.code == "BUS-ZHENGZHOU"))
            tech = await db.scalar(select(Technician).where(Technician.station_id == station)
                                   .order_by(Technician.name, Technician.id).limit(1))
            alice = await db.scalar(select(User.id).where(User.username == "alice"))
            customer = await db.scalar(select(Customer.id).limit(1))
            assert tech is not None and customer is not None
            at = datetime.now(UTC) - timedelta(minutes=5)
            db.add_all([
                SatisfactionScore(customer_id=customer, station_id=station,
                                  technician_id=tech.id, score=5, comment=HOSTILE,
                                  scored_at=at),
                SatisfactionScore(customer_id=customer, station_id=station,
                                  technician_id=tech.id, score=4, scored_at=at),
                SatisfactionScore(customer_id=customer, agent_id=alice, score=3,
                                  comment=HOSTILE, scored_at=at),
            ])
            return tech.name
    finally:
        await engine.dispose()


async def complaints(console: Console) -> list[Ticket]:
    engine = make_engine(console.db_url)
    try:
        async with async_sessionmaker(engine)() as db:
            return list(await db.scalars(select(Ticket).where(Ticket.category == "complaint")))
    finally:
        await engine.dispose()


async def switch_language(page: Any, lang: str) -> None:
    await page.click("#lang-switch")
    await page.wait_for_function(f"() => document.documentElement.lang === '{lang}'")


async def test_the_station_page_shows_its_scores(console: Console, browser: Browser) -> None:
    tech = await seed_scores(console)
    page = await browser.page(locale="zh-CN", phone=True)
    await sign_in(page, console, "zz.station", expect="/station")
    box = page.locator("#st-scores[data-loaded='1']")
    await box.wait_for()
    assert await box.locator("h2").text_content() == "本月满意度"
    assert await box.locator(".sc-summary .sc-mean").first.text_content() == "4.5"
    assert "满意率 100%" in (await box.locator(".sc-satisfied").first.text_content() or "")
    row = box.locator(f".sc-techs tr:has-text('{tech}')")
    assert await row.locator("td").all_text_contents() == [tech, "2", "4.5", "100 %"]
    assert await box.locator(".sc-recent q").first.text_content() == HOSTILE
    assert await box.locator("img").count() == 0
    await switch_language(page, "en")
    await page.locator("#st-scores h2", has_text="Satisfaction this month").wait_for()
    assert await box.locator(".sc-count").first.text_content() == "2 answers"
    assert await box.locator(".sc-techs th").all_text_contents() == [
        "Technician", "Answers", "Mean", "Satisfied (4-5)"]
    await browser.assert_clean()


async def test_own_scores_and_a_verified_complaint(
    console: Console, browser: Browser, sim: PbxSimulator
) -> None:
    await seed_scores(console)
    page = await browser.page()
    await open_console(page, console)  # Alice reads English
    mine = page.locator("#my-scores[data-loaded='1']")
    await mine.wait_for()
    assert await mine.locator("h4").text_content() == "My satisfaction scores this month"
    assert await mine.locator(".sc-mean").text_content() == "3.0"
    assert await mine.locator(".sc-recent q").text_content() == HOSTILE
    assert await mine.locator("img").count() == 0

    only_alice(sim, ring_s=1.0)
    sim.place_call(caller="13800138000", name="Zhang Wei",
                   script=CallScript(skip_agi=True, talk=120))
    await page.wait_for_selector("#call-status[data-status='talking']")
    await page.wait_for_function(
        "() => document.querySelector('#customer-name')?.textContent === '华东医药包装有限公司'")
    await page.click("#open-ticket")
    assert await page.locator("#ticket-verify").is_hidden()  # a repair needs no check
    await page.select_option("#ticket-kind", "complaint")
    await page.locator("#ticket-verify").wait_for()
    await page.fill("#ticket-problem", "送货员态度恶劣 / rude delivery")
    await page.select_option("#verify-method", "question")
    await page.fill("#verify-answer", "ZZZZ")
    await page.click("#ticket-form button[type=submit]")
    refused = page.locator("#ticket-result[data-kind='error']")
    await refused.wait_for()
    assert "does not match" in (await refused.text_content() or "")
    assert await page.input_value("#verify-answer") == ""  # not kept on screen
    assert await complaints(console) == []

    # in Chinese: the number on record (the call's own, checked by the server)
    await switch_language(page, "zh-CN")
    assert await page.locator("#ticket-kind option:checked").text_content() == "投诉"
    await page.select_option("#verify-method", "number")
    assert await page.input_value("#verify-number") == "+8613800138000"  # the call's
    await page.fill("#verify-number", "")  # the server does not need the agent's word
    await page.click("#ticket-form button[type=submit]")
    await page.locator("#ticket-result[data-kind='ok']").wait_for()
    [ticket] = await complaints(console)
    assert ticket.caller_check is not None
    assert (ticket.caller_check["method"], ticket.caller_check["passed"],
            ticket.caller_check["source"]) == ("number", True, "call")
    assert not ticket.caller_flagged
    assert await page.locator("#ticket-verify").is_hidden()  # the form is a repair again
    await browser.assert_clean()
