"""The live calls page in a real browser: sign-in first, the per-queue waiting count
(callers in the PBX queue plus callbacks keeping their place), a hostile caller name
shown as text, and an agent's outbound call following its events (dialling out, then
talking from the customer's answer)."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import async_sessionmaker

from crm_core.db import make_engine
from crm_core.demo_data import DEMO_PASSWORD
from ivr.callback_store import request_callback
from telephony.simulator import CallScript, PbxSimulator
from tests.browser.conftest import Browser, Console
from tests.browser.test_pop import open_console, queue_in

HOSTILE = "<img src=x onerror=alert(1)>"


async def test_waiting_count_counts_callers_and_callbacks(
    console: Console, browser: Browser, sim: PbxSimulator
) -> None:
    for agent in ("Alice", "Bob", "Carol"):  # nobody free: callers wait, callbacks keep place
        sim.set_agent(agent, paused=True, reason="meeting")
    engine = make_engine(console.db_url)
    try:
        async with async_sessionmaker(engine).begin() as db:
            await request_callback(db, phone="13900001111", customer_id=None, queue="support",
                                   priority=0, origin_linkedid=None, place_at=datetime.now(UTC))
    finally:
        await engine.dispose()
    page = await browser.page()
    await page.goto(f"{console.base}/live")  # callers' data: staff sign in first, then back
    await page.wait_for_url(re.compile(r"/login\?next=(%2F|/)live$"))
    await page.fill("#username", "zhao.min")
    await page.fill("#password", DEMO_PASSWORD)
    await page.click("#login-submit")
    await page.wait_for_url(f"{console.base}/live")
    sim.place_call(caller="13800009999", name=HOSTILE,
                   script=CallScript(skip_agi=True, ivr_vars={"QUEUE": "support"}, talk=60))
    row = page.locator("#waiting tbody tr[data-queue='support'] td")
    texts: list[str] = []
    for _ in range(200):  # until the queued caller's events have reached the page
        texts = await row.all_inner_texts()
        if texts == ["Support", "1", "1", "2"]:
            break
        await asyncio.sleep(0.1)
    assert texts == ["Support", "1", "1", "2"]  # the queue by its name
    # the caller name is text in the live table, never markup
    name_cell = page.locator("#live tbody td", has_text=HOSTILE)
    await name_cell.wait_for()
    assert await page.locator("#live img").count() == 0
    await page.click("#lang")
    assert await page.locator("#waiting th").all_inner_texts() == [
        "队列", "排队来电", "回拨(保留排队位置)", "合计"]
    await browser.assert_clean()


async def test_an_outbound_call_turns_from_dialling_out_to_talking_without_a_reload(
    console: Console, browser: Browser, sim: PbxSimulator
) -> None:
    """Alice's click-to-dial shows on the live page as dialling out while the customer's
    phone rings, and as talking from the customer's answer (an event, not a reload)."""
    sim.set_customer("13800138000", ring_s=4.0, talk_s=120.0)
    live = await browser.page()
    await live.goto(f"{console.base}/live")
    await live.wait_for_url(re.compile(r"/login\?next=(%2F|/)live$"))
    await live.fill("#username", "zhao.min")
    await live.fill("#password", DEMO_PASSWORD)
    await live.click("#login-submit")
    await live.wait_for_url(f"{console.base}/live")
    await live.wait_for_selector("#status.on")
    await live.evaluate("window.__sameDocument = true")

    agent = await browser.page()
    await open_console(agent, console)
    await queue_in(agent)
    await agent.fill("#dial-number", "13800138000")
    await agent.click("#dial-form button[type=submit]")

    row = live.locator("#live tbody tr", has_text="138 0013 8000")
    await row.locator("td.state-dialling").wait_for()
    assert await row.locator("td.state-dialling").text_content() == "dialling out"
    await row.locator("td.state-talking").wait_for()
    assert await row.locator("td.state-talking").text_content() == "talking"
    assert "Alice" in await row.locator("td").all_inner_texts()  # the agent's own call
    assert await live.evaluate("window.__sameDocument === true")  # no reload happened
    # nobody waits in any queue: an outbound call adds no row to the waiting figures
    assert await live.locator("#waiting tbody tr[data-queue]").count() == 0
    await live.click("#lang")
    assert await row.locator("td.state-talking").text_content() == "通话中"
    await browser.assert_clean()
