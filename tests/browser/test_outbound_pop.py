"""An agent's own outbound call (click-to-dial) in a real browser: the same pop as an
inbound call, for the customer dialled, with the call marked outbound in both languages;
the call logged from the pop's form is linked to the outbound call's Linkedid."""

from __future__ import annotations

from typing import Any

from telephony.simulator import PbxSimulator
from tests.browser.conftest import Browser, Console
from tests.browser.test_pop import api_get, open_console, queue_in

NUMBER = "13800138000"  # the demo's 华东医药包装有限公司


async def test_click_to_dial_pops_the_customer_marked_outbound_in_both_languages(
    console: Console, browser: Browser, sim: PbxSimulator
) -> None:
    sim.set_customer(NUMBER, ring_s=1.0, talk_s=120.0)
    page = await browser.page()
    frames = await open_console(page, console)
    await queue_in(page)
    await page.fill("#dial-number", NUMBER)
    await page.click("#dial-form button[type=submit]")

    # the pop of the customer dialled, then talking once the customer answers
    await page.wait_for_function(
        "() => document.querySelector('#customer-name')?.textContent === '华东医药包装有限公司'")
    await page.wait_for_selector("#call-status[data-status='talking']")
    assert await page.text_content("#call-number") == "138 0013 8000"
    assert await page.text_content("#call-did") == "Outbound"
    assert "click-to-dial" in (await page.get_attribute("#call-did", "title") or "")
    steps = await page.eval_on_selector_all("#call-timeline li",
                                            "els => els.map(e => e.dataset.step)")
    assert steps == ["ringing", "talking"]
    await page.click("#lang-switch")
    await page.wait_for_function("() => document.documentElement.lang === 'zh-CN'")
    await page.wait_for_function(
        "() => document.querySelector('#call-did')?.textContent === '外呼'")
    await page.click("#lang-switch")
    await page.wait_for_function("() => document.documentElement.lang === 'en'")

    # logged from the pop's form: against the call, like an inbound call
    [pop] = [f for f in frames if f["type"] == "pop"]
    linkedid = pop["call"]["linkedid"]
    assert pop["call"]["direction"] == "outbound"
    await page.check("#log-dispositions input[value='sales-lead']")
    await page.fill("#log-notes", "<b>回访</b> follow-up")
    await page.keyboard.press("Control+s")
    await page.wait_for_selector("#log-result[data-kind='ok']")
    customer_id = int(await page.get_attribute("#log-customer", "data-customer-id") or 0)
    listed: dict[str, Any] = await api_get(page, console, f"/customers/{customer_id}/interactions")
    mine = [i for i in listed["items"] if i["call_linkedid"] == linkedid]
    assert [(i["kind"], i["disposition"], i["content"]) for i in mine] == [
        ("call", "sales-lead", "<b>回访</b> follow-up")]
    assert await page.locator("#log-notes b, #call-card b").count() == 0
    await browser.assert_clean()
