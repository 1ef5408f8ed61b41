"""An agent's day in a real browser, with the keyboard: sign in to the queues, go
ready, take a call (the pop before answer), log it with a disposition (F4), blind
transfer (F6), pause with a reason (F3); hang up (F8) and the wrap-up countdown;
click-to-dial; errors shown as such (agent busy, PBX unreachable); the language
of the user kept across pages. The PBX is the simulator over real AMI: the page
shows what the PBX reports, and the tests check what the PBX was asked."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from telephony.simulator import CallScript, PbxSimulator
from tests.browser.conftest import Browser, Console, sign_in
from tests.browser.test_pop import api_get, only_alice, open_console, queue_in

ALICE = "Local/1001@agents/n"


def asked(sim: PbxSimulator, action: str, **fields: str) -> list[dict[str, str]]:
    """The actions of that name the PBX received with those header values."""
    return [a for a in sim.actions_named(action)
            if all(a.get(k) == v for k, v in fields.items())]


async def state_is(page: Any, state: str) -> None:
    await page.wait_for_selector(f"#agent-state[data-state='{state}']")


async def test_sign_in_ready_call_log_transfer_pause(
    console: Console, browser: Browser, sim: PbxSimulator
) -> None:
    # the PBX has Alice in no queue: she starts signed out
    for queue in ("support", "vip"):
        sim.pbx.queue_remove(queue, ALICE)
    only_alice(sim, ring_s=3.0)
    page = await browser.page()
    frames = await open_console(page, console)
    await state_is(page, "signed-out")

    await page.click("#btn-queue-in")
    await state_is(page, "ready")  # the PBX said so: QueueMemberAdded, not the click
    assert asked(sim, "QueueAdd", Queue="support", Interface=ALICE)
    assert "support" in (await page.text_content("#agent-queues") or "")

    # a customer calls the 400 number: the record pops while the phone rings
    call = sim.place_call(caller="13800138000", name="Zhang Wei",
                          script=CallScript(skip_agi=True, talk=120))
    await page.wait_for_function(
        "() => document.querySelector('#call-status')?.dataset.status === 'ringing'"
        " && document.querySelector('#customer-name')?.textContent === '华东医药包装有限公司'")
    await page.wait_for_selector("#call-status[data-status='talking']")  # she answers
    await state_is(page, "busy")
    kinds = [(f["type"], f.get("linkedid") or (f.get("call") or {}).get("linkedid"))
             for f in frames]
    assert kinds.index(("pop", call.linkedid)) < kinds.index(("answered", call.linkedid))

    # log the call with a disposition, from the keyboard
    await page.click("#log-notes")
    await page.fill("#log-notes", "热封温度不稳定,已报修 / heat seal unstable")
    await page.check("#log-dispositions input[value='repair']")
    await page.focus("#log-notes")
    await page.keyboard.press("F4")
    await page.wait_for_selector("#log-result[data-kind='ok']")
    customer_id = int(await page.get_attribute("#log-customer", "data-customer-id") or 0)
    logged = await api_get(page, console, f"/customers/{customer_id}/interactions?limit=5")
    mine = [i for i in logged["items"] if i.get("call_linkedid") == call.linkedid]
    assert len(mine) == 1
    assert mine[0]["kind"] == "call" and mine[0]["disposition"] == "repair"
    assert mine[0]["content"] == "热封温度不稳定,已报修 / heat seal unstable"

    # blind transfer to Bob (F6): the PBX is asked for a BlindTransfer to his extension;
    # Bob is signed in (his personal queue, as Hotline's sign-in leaves it), so the
    # transfer reaches him through it
    assert sim.pbx.queue_add("agent-1002", "Local/1002@agents/n", "Bob", 0, "", False) is None
    await page.keyboard.press("F6")
    await page.wait_for_selector("#transfer-dialog[open]")
    # a queue named with letters cannot be keyed into an attended transfer: blind only
    await page.check("#transfer-form input[name=mode][value=attended]")
    await page.select_option("#transfer-kind", "queue")
    assert await page.is_disabled("#transfer-form input[name=mode][value=attended]")
    assert await page.is_checked("#transfer-form input[name=mode][value=blind]")
    await page.select_option("#transfer-kind", "agent")
    assert await page.is_enabled("#transfer-form input[name=mode][value=attended]")
    await page.wait_for_function(
        "() => [...document.querySelectorAll('#transfer-pick option')].length > 0")
    await page.select_option("#transfer-pick", "Local/1002@agents/n")
    await page.click("#transfer-form button[type=submit]")
    await page.wait_for_selector("#call-result[data-kind='ok']")
    assert asked(sim, "BlindTransfer", Exten="1002")
    await page.wait_for_selector("#transfer-dialog", state="hidden")

    # go on pause with a reason (F3): the PBX pauses her with that reason
    await state_is(page, "ready")  # her part of the call is over, and it was logged
    await page.select_option("#pause-reason", "training")
    await page.keyboard.press("F3")
    await state_is(page, "paused")
    assert asked(sim, "QueuePause", Interface=ALICE, Paused="true", Reason="training")
    assert await page.text_content("#agent-reason") == "Training"
    await page.keyboard.press("F2")
    await state_is(page, "ready")
    await browser.assert_clean()


async def test_hang_up_wrap_up_and_click_to_dial(
    console: Console, browser: Browser, sim: PbxSimulator
) -> None:
    only_alice(sim, ring_s=2.0)
    page = await browser.page()
    await open_console(page, console)
    await queue_in(page)
    call = sim.place_call(caller="13800138000", name="Zhang Wei",
                          script=CallScript(skip_agi=True, talk=120))
    await page.wait_for_selector("#call-status[data-status='talking']")

    # busy on a call: click-to-dial is refused with a clear reason
    await page.fill("#dial-number", "021-6432 1000")
    await page.click("#dial-form button[type=submit]")
    error = page.locator("#dial-result[data-kind='error']")
    await error.wait_for()
    assert "busy" in (await error.text_content() or "").lower()

    # hang up (F8): the PBX hangs up her channel; the call ends; wrap-up counts down
    await page.keyboard.press("F8")
    await page.wait_for_selector("#call-status[data-status='ended']")
    assert sim.actions_named("Hangup")
    await asyncio.wait_for(call.done, 15)
    await state_is(page, "wrap-up")
    await page.wait_for_selector("#wrapup:not([hidden])")
    assert ":" in (await page.text_content("#wrapup-left") or "")
    # saving the log ends the wrap-up: she is ready again
    await page.check("#log-dispositions input[value='inquiry']")
    await page.keyboard.press("Control+s")
    await page.wait_for_selector("#log-result[data-kind='ok']")
    await state_is(page, "ready")
    await page.wait_for_selector("#wrapup", state="hidden")

    # schedule a callback from the pop, an hour from now, with a note
    await page.click("#open-callback")
    assert "13800138000" in await page.input_value("#callback-phone")
    later = (datetime.now() + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")  # browser's zone
    await page.fill("#callback-at", later)
    await page.fill("#callback-note", "回电确认工程师上门时间")
    await page.click("#callback-form button[type=submit]")
    await page.wait_for_selector("#callback-result[data-kind='ok']")
    waiting = await api_get(page, console, "/callbacks?state=waiting")
    mine = [c for c in waiting["items"] if c["phone"] == "+8613800138000"]
    assert len(mine) == 1 and mine[0]["note"] == "回电确认工程师上门时间"
    assert mine[0]["customer_id"] == int(
        await page.get_attribute("#log-customer", "data-customer-id") or 0)
    await page.click("#callback-form button[type=submit]")  # asked twice: one place in line
    await page.wait_for_selector("#callback-result[data-kind='info']")

    # click-to-dial a number of the record: the PBX originates from her own phone
    await page.click("#record-card .phones button[data-dial='+862164321000']")
    await page.wait_for_selector("#dial-result[data-kind='ok']")
    originate = asked(sim, "Originate", Channel=ALICE)
    assert originate and originate[-1]["Exten"].endswith("64321000")
    # a number of the record on screen dials as that customer's (the server checked it)
    customer = await page.get_attribute("#log-customer", "data-customer-id")
    assert f"HOTLINE_CUSTOMER_ID={customer}" in str(originate[-1].get("Variable"))
    await browser.assert_clean()


async def test_pbx_unreachable_is_said_plainly(
    console: Console, browser: Browser, sim: PbxSimulator
) -> None:
    page = await browser.page()
    await open_console(page, console)
    await queue_in(page)
    sim.refuse_connections(True)
    await sim.drop_connections()
    await page.keyboard.press("F3")
    error = page.locator("#state-result[data-kind='error']")
    await error.wait_for()
    assert "PBX" in (await error.text_content() or "")
    assert "PBX" in (await page.text_content("#notices .notice-error") or "")
    await browser.assert_clean()


async def test_language_is_the_users_and_switches_everywhere(
    console: Console, browser: Browser
) -> None:
    page = await browser.page(locale="zh-CN")  # the browser's language does not matter
    await sign_in(page, console, "alice")  # alice works in English
    assert await page.evaluate("document.documentElement.lang") == "en"
    assert "Ready" in (await page.text_content("#btn-ready") or "")
    await page.click("#lang-switch")
    await page.wait_for_function("() => document.documentElement.lang === 'zh-CN'")
    assert "就绪" in (await page.text_content("#btn-ready") or "")
    assert await page.text_content("#log-dispositions") is not None
    assert "报修" in (await page.text_content("#log-dispositions") or "")
    await page.wait_for_selector("#notices .notice-ok")  # saved for her account
    session = await api_get(page, console, "/session")
    assert session["user"]["language"] == "zh-CN"
    # another page, a new sign-in: still Chinese
    await page.goto(f"{console.base}/records")
    await page.wait_for_selector("body[data-ready='1']")
    assert await page.text_content("h1") == "客户档案"
    await page.click("#lang-switch")
    await page.wait_for_function("() => document.documentElement.lang === 'en'")
    assert await page.text_content("h1") == "Customer records"
    await browser.assert_clean()


async def test_slash_searches_and_a_call_taken_elsewhere_is_logged_by_hand(
    console: Console, browser: Browser
) -> None:
    page = await browser.page()
    await sign_in(page, console, "bob")  # Bob works in Chinese
    assert await page.evaluate("document.documentElement.lang") == "zh-CN"
    await page.click("#call-idle")
    await page.keyboard.press("/")
    assert await page.evaluate("document.activeElement.id") == "search"
    await page.keyboard.type("BPM-2023-0102")
    await page.keyboard.press("Enter")
    hit = page.locator("#search-results li.hit").first
    await hit.wait_for()
    assert "华东医药包装有限公司" in (await hit.text_content() or "")
    await hit.locator("button").click()  # use for this call
    await page.wait_for_function(
        "() => document.querySelector('#customer-name')?.textContent === '华东医药包装有限公司'")
    assert await page.text_content("#log-customer") == "华东医药包装有限公司"
    # no call from the PBX: saving records a call interaction by hand
    await page.check("#log-dispositions input[value='order-status']")
    await page.fill("#log-notes", "客户在微信上来电询问订单")
    await page.keyboard.press("F4")
    await page.wait_for_selector("#log-result[data-kind='ok']")
    customer_id = int(await page.get_attribute("#log-customer", "data-customer-id") or 0)
    items = (await api_get(page, console, f"/customers/{customer_id}/interactions"))["items"]
    assert any(i["content"] == "客户在微信上来电询问订单" and i["disposition"] == "order-status"
               and i["kind"] == "call" for i in items)
    # saving without a disposition is refused on the page, in the user's language
    await page.fill("#log-notes", "again")
    await page.keyboard.press("F4")
    await page.wait_for_selector("#log-result[data-kind='error']")
    assert await page.text_content("#log-result") == "请选择通话分类。"
    await browser.assert_clean()
