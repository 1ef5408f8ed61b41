"""The console for people (issue 14 items 4-5), in both languages, in a real browser with
the PBX simulator over AMI: the state bar says one state in words (no raw pause reason,
no personal queue, never "Paused" and "Wrap-up" at once, no stale "not confirmed", only
the active button on), and a call's end says what happened (the caller hung up while it
rang, the queue timed out) without offering a log form for a call nobody answered."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import async_sessionmaker

from crm_core.db import make_engine
from crm_core.models import User
from telephony.simulator import CallScript, PbxSimulator
from tests.browser.conftest import Browser, Console
from tests.browser.test_pop import api_get, only_alice, open_console, queue_in

LANGS = ("en", "zh-CN")
WORDS = {
    "en": {"queues": ["Support", "VIP line"], "held": "Held for a callback", "wrapup": "Wrap-up",
           "lunch": "Paused: Lunch", "live": "live", "abandoned": "Caller hung up",
           "timeout": "Queue timed out", "timeout_outcome": "Queue timed out",
           "abandoned_outcome": "Caller hung up while waiting",
           "not_confirmed": "has not confirmed",
           "confirms": "The PBX confirms: Paused: Break."},
    "zh-CN": {"queues": ["技术支持", "VIP 专线"], "held": "为回拨保留", "wrapup": "话后整理",
              "lunch": "小休:午餐", "live": "在线", "abandoned": "来电方已挂断",
              "timeout": "排队超时", "timeout_outcome": "排队超时",
              "abandoned_outcome": "来电方等待中挂断", "not_confirmed": "尚未确认",
              "confirms": "交换机已确认:小休:休息。"},
}
RAW = ("hotline-callback", "agent-1001", "wrap-up")


async def speaks(console: Console, username: str, lang: str) -> None:
    """The user's language, as kept on their account."""
    engine = make_engine(console.db_url)
    try:
        async with async_sessionmaker(engine).begin() as db:
            await db.execute(update(User).where(User.username == username).values(language=lang))
    finally:
        await engine.dispose()


async def pill(page: Any) -> str:
    return (await page.text_content("#agent-state") or "").strip()


async def pill_is(page: Any, text: str) -> None:
    await page.wait_for_function(
        "(t) => document.querySelector('#agent-state')?.textContent === t", arg=text)


async def pressed(page: Any) -> tuple[str | None, str | None]:
    return (await page.get_attribute("#btn-ready", "aria-pressed"),
            await page.get_attribute("#btn-pause", "aria-pressed"))


async def bar_text(page: Any) -> str:
    return (await page.locator("#statebar").inner_text()).lower()


@pytest.mark.parametrize("lang", LANGS)
async def test_state_bar_says_one_state_in_words(
    console: Console, browser: Browser, sim: PbxSimulator, lang: str
) -> None:
    words = WORDS[lang]
    await speaks(console, "alice", lang)
    only_alice(sim)
    page = await browser.page()
    await open_console(page, console)
    assert await page.text_content("#ws-status") == words["live"]
    # signed out, she takes no queue's calls: none listed (the PBX lists her statically)
    await page.wait_for_selector("#agent-state[data-state='signed-out']")
    assert await page.locator("#agent-queues .tag").count() == 0
    await queue_in(page)
    # the queues by name; her personal queue (agent-1001) is her presence, never listed
    assert await page.locator("#agent-queues .tag").all_inner_texts() == words["queues"]
    assert await pressed(page) == ("true", "false")

    # the callback worker holds her for a callback (QueuePause Reason=hotline-callback)
    sim.set_agent("Alice", paused=True, reason="hotline-callback")
    await pill_is(page, words["held"])
    assert await pressed(page) == ("false", "false")  # neither of her buttons is on
    # a wrap-up pause left over (Hotline restarted mid-wrap-up): the wrap-up, no countdown
    sim.set_agent("Alice", paused=True, reason="wrap-up")
    await page.wait_for_selector("#agent-state[data-state='wrap-up']")
    assert await pill(page) == words["wrapup"]
    assert await page.is_hidden("#wrapup")
    text = await bar_text(page)
    assert not [raw for raw in RAW if raw in text.replace(words["wrapup"].lower(), "")], text

    # the other language: everything written from code follows, the socket's state too
    sim.set_agent("Alice", paused=False)
    await page.wait_for_selector("#agent-state[data-state='ready']")
    await page.click("#lang-switch")
    other = WORDS["zh-CN" if lang == "en" else "en"]
    await page.wait_for_function("(t) => document.querySelector('#ws-status')?.textContent === t",
                                 arg=other["live"])
    assert await page.locator("#agent-queues .tag").all_inner_texts() == other["queues"]
    await browser.assert_clean()


@pytest.mark.parametrize("lang", LANGS)
async def test_paused_during_wrap_up_shows_the_pause_only(
    console: Console, browser: Browser, sim: PbxSimulator, lang: str
) -> None:
    words = WORDS[lang]
    await speaks(console, "alice", lang)
    only_alice(sim, ring_s=1.0)
    page = await browser.page()
    await open_console(page, console)
    await queue_in(page)
    sim.place_call(caller="13800138000", name="Zhang Wei",
                   script=CallScript(skip_agi=True, talk=120))
    await page.wait_for_selector("#call-status[data-status='talking']")
    await page.keyboard.press("F8")  # she hangs up: the wrap-up counts down
    await page.wait_for_selector("#agent-state[data-state='wrap-up']")
    await page.wait_for_selector("#wrapup:not([hidden])")
    assert await pill(page) == words["wrapup"]
    # she goes to lunch before the wrap-up is over: the pause is what she is in
    await page.select_option("#pause-reason", "lunch")
    await page.keyboard.press("F3")
    await pill_is(page, words["lunch"])
    assert await page.get_attribute("#agent-state", "data-state") == "paused"
    assert await page.is_hidden("#wrapup")  # never "Paused" and "Wrap-up" at once
    assert await pressed(page) == ("false", "true")
    await browser.assert_clean()


@pytest.mark.parametrize("lang", LANGS)
async def test_a_late_confirmation_takes_back_not_confirmed(
    console: Console, browser: Browser, sim: PbxSimulator, lang: str
) -> None:
    words = WORDS[lang]
    await speaks(console, "alice", lang)
    only_alice(sim)
    page = await browser.page()
    await open_console(page, console)
    await queue_in(page)
    # the PBX accepts the pause but says nothing of it for longer than the console waits
    sim.canned_response("QueuePause", {"Response": "Success"})
    await page.select_option("#pause-reason", "break")
    await page.keyboard.press("F3")
    result = page.locator("#state-result[data-kind='error']")
    await result.wait_for(timeout=20_000)
    assert words["not_confirmed"] in (await result.text_content() or "")
    # then it does: the console says so instead of keeping the stale message
    sim.canned_response("QueuePause", None)
    sim.set_agent("Alice", paused=True, reason="break")
    await page.wait_for_selector("#state-result[data-kind='ok']")
    assert await page.text_content("#state-result") == words["confirms"]
    assert await pressed(page) == ("false", "true")
    await browser.assert_clean()


async def calls_of(page: Any, console: Console, customer_id: int, n: int) -> list[Any]:
    """The customer's calls once the call log has written ``n`` of them."""
    for _ in range(100):
        calls = (await api_get(page, console, f"/customers/{customer_id}/calls"))["items"]
        if len(calls) >= n:
            return list(calls)
        await asyncio.sleep(0.2)
    raise AssertionError(f"{n} calls were not logged")


@pytest.mark.parametrize("lang", LANGS)
async def test_an_unanswered_call_says_what_happened_and_needs_no_log(
    console: Console, browser: Browser, sim: PbxSimulator, lang: str
) -> None:
    words = WORDS[lang]
    await speaks(console, "alice", lang)
    only_alice(sim, mode="noanswer")  # her phone rings; she does not pick up
    page = await browser.page()
    await open_console(page, console)
    await queue_in(page)

    # the caller hangs up while her phone rings: an abandon, not her miss
    sim.place_call(caller="13800138000", name="Zhang Wei",
                   script=CallScript(skip_agi=True, patience=2.0))
    await page.wait_for_selector("#call-status[data-status='ringing']")
    assert await page.is_visible("#log-form")  # while it rings, the form is there
    await page.wait_for_selector("#call-status[data-status='abandoned']")
    assert await page.text_content("#call-status") == words["abandoned"]
    # nothing to log: the form gives way to a line saying so, and a button to log it anyway
    assert await page.is_hidden("#log-form")
    assert await page.is_visible("#log-offer")
    await page.click("#log-ask")
    assert await page.is_visible("#log-form") and await page.is_hidden("#log-offer")
    await page.check("#log-dispositions input[value='inquiry']")  # asked for: it logs
    await page.keyboard.press("Control+s")
    await page.wait_for_selector("#log-result[data-kind='ok']")

    # nobody takes the next one before the queue's time limit: a queue timeout
    sim.pbx.queues["support"].spec.maxwait = 3.0
    sim.place_call(caller="13800138000", name="Zhang Wei",
                   script=CallScript(skip_agi=True, patience=60.0))
    await page.wait_for_selector("#call-status[data-status='ringing']")
    await page.wait_for_selector("#call-status[data-status='queue-timeout']")
    assert await page.text_content("#call-status") == words["timeout"]
    assert await page.is_hidden("#log-form")

    # the 360 page and the live page say the same: never "no answer, ended by system"
    customer_id = int(await page.get_attribute("#log-customer", "data-customer-id") or 0)
    calls = await calls_of(page, console, customer_id, 2)
    assert sorted(c["outcome"] for c in calls[:2]) == ["abandoned", "no-answer"]
    await page.goto(f"{console.base}/records/{customer_id}")
    await page.wait_for_selector("body[data-loaded='1']")
    outcomes = await page.locator("#record-timeline li.tl-call .tag[class*='outcome-']"
                                  ).all_inner_texts()
    assert outcomes[:2] == [words["timeout_outcome"], words["abandoned_outcome"]]
    live = await browser.page()
    await live.context.add_cookies(await page.context.cookies())
    await live.goto(f"{console.base}/live")
    await live.evaluate("(l) => localStorage.setItem('hotline.lang', l)", lang)
    await live.reload()
    row = live.locator("#latest tbody tr", has=live.locator("td.outcome-no-answer")).first
    await row.wait_for()
    cells = await row.locator("td").all_inner_texts()
    assert words["timeout_outcome"].lower() in [c.lower() for c in cells]
    assert not {"system", "系统", "no answer", "无人接听"} & {c.lower() for c in cells}
    await browser.assert_clean()
