"""Logging a call against another customer than the one the call log filed it under, in
a real browser (issue 13 item 3): the console says so and offers to move the call (an
explicit correction the server audits) instead of the call changing hands silently."""

from __future__ import annotations

import asyncio
from typing import Any

from telephony.simulator import CallScript, PbxSimulator
from tests.browser.conftest import Browser, Console
from tests.browser.test_pop import api_get, only_alice, open_console, queue_in
from tests.integration.console_support import audit_entries


async def calls_of(page: Any, console: Console, customer_id: int) -> list[str]:
    view = await api_get(page, console, f"/customers/{customer_id}/360")
    return [c["linkedid"] for c in view.get("calls") or []]


async def test_the_console_offers_to_move_a_call_filed_under_another_customer(
    console: Console, browser: Browser, sim: PbxSimulator
) -> None:
    only_alice(sim, ring_s=1.0)
    page = await browser.page()
    await open_console(page, console)
    await queue_in(page)
    call = sim.place_call(caller="13800138000", name="Zhang Wei",
                          script=CallScript(skip_agi=True, talk=1))
    await page.wait_for_selector("#call-status[data-status='talking']")
    filed = int(await page.get_attribute("#log-customer", "data-customer-id") or 0)
    await asyncio.wait_for(call.done, 15)
    await page.wait_for_selector("#call-status[data-status='ended']")
    for _ in range(200):  # the call log files the ended call under the caller's number
        if call.linkedid in await calls_of(page, console, filed):
            break
        await asyncio.sleep(0.05)
    assert call.linkedid in await calls_of(page, console, filed)

    # it was somebody else on that company's phone: the agent takes the right record
    await page.fill("#search", "北京首汽旅游客运")
    await page.press("#search", "Enter")
    await page.click("#search-results .hit button")
    await page.wait_for_function(
        "() => document.querySelector('#log-customer')?.textContent === '北京首汽旅游客运有限公司'")
    other = int(await page.get_attribute("#log-customer", "data-customer-id") or 0)
    assert other and other != filed
    await page.check("#log-dispositions input[value='inquiry']")
    await page.click("#log-form button[type=submit]")
    await page.wait_for_selector("#log-result[data-kind='error'] #log-correct")
    assert "another customer" in (await page.text_content("#log-result") or "")
    assert call.linkedid in await calls_of(page, console, filed)  # nothing moved yet

    await page.click("#log-correct")
    await page.wait_for_selector("#log-result[data-kind='ok']")
    assert call.linkedid in await calls_of(page, console, other)
    assert call.linkedid not in await calls_of(page, console, filed)
    [entry] = await audit_entries(console.db_url, entity="call", action="correct-customer")
    assert (entry.entity_id, entry.before, entry.after) == (
        call.linkedid, {"customer_id": filed}, {"customer_id": other})
    await browser.assert_clean()
