"""The supervisor's controls on the live page in a real browser (issue 16 item 4): a
talking call's row has Listen / Whisper / Barge; a supervisor without a phone is told
why listening failed; with one, her phone is rung and ChanSpy runs on the agent's leg;
pausing an agent with a reason shows on the agent's own console. Both languages."""

from __future__ import annotations

import asyncio

from sqlalchemy import update
from sqlalchemy.ext.asyncio import async_sessionmaker

from crm_core.db import make_engine
from crm_core.models import User
from telephony.simulator import CallScript, PbxSimulator
from tests.browser.conftest import Browser, Console, sign_in
from tests.browser.test_pop import open_console, queue_in


async def give_phone(console: Console, username: str, interface: str | None) -> None:
    engine = make_engine(console.db_url)
    try:
        async with async_sessionmaker(engine).begin() as db:
            await db.execute(update(User).where(User.username == username)
                             .values(agent_interface=interface))
    finally:
        await engine.dispose()


async def test_listen_fails_without_a_phone_then_rings_hers_and_pause_reaches_alice(
    console: Console, browser: Browser, sim: PbxSimulator
) -> None:
    agent = await browser.page()
    await open_console(agent, console)
    await queue_in(agent)

    await give_phone(console, "zhao.min", None)  # the demo gives her a desk phone
    live = await browser.page()
    await sign_in(live, console, "zhao.min", expect="/live")
    await live.wait_for_selector("#supervise:not([hidden])")
    assert "no phone" in (await live.locator("#supervise-phone").text_content() or "")

    sim.place_call(caller="13800009999", name="Li Lei",
                   script=CallScript(skip_agi=True, ivr_vars={"QUEUE": "support"}, talk=600))
    row = live.locator("#live tbody tr", has_text="Li Lei")
    listen = row.locator("button.spy-listen")
    await listen.wait_for()  # once the call is talking
    assert await row.locator("td.supervise button").all_inner_texts() == [
        "Listen", "Whisper", "Barge"]

    await listen.click()
    result = live.locator("#supervise-result[data-kind='error']")
    await result.wait_for()
    assert (await result.text_content() or "").startswith("You have no phone to listen with")
    assert sim.pbx.spies == []

    await give_phone(console, "zhao.min", "PJSIP/1009")
    await listen.click()
    ok = live.locator("#supervise-result[data-kind='ok']")
    await ok.wait_for()
    assert "PJSIP/1009" in (await ok.text_content() or "")
    assert [s.target.name.startswith("Local/1001@agents-") for s in sim.pbx.spies] == [True]

    alice = live.locator("#agents tbody tr", has_text="Alice")
    await alice.locator("select.pause-reason").select_option("coaching")
    await alice.locator("button.agent-pause").click()
    await live.locator("#supervise-result[data-kind='ok']", has_text="Alice").wait_for()
    # the page says "sent" once the PBX has the action; the simulator may log it a moment later
    def coached() -> list[tuple[str, str]]:
        return [(p["Interface"], p["Reason"]) for p in sim.actions_named("QueuePause")
                if p.get("Reason") == "coaching"]
    for _ in range(200):
        if coached():
            break
        await asyncio.sleep(0.05)
    assert coached() == [("Local/1001@agents/n", "coaching")], sim.actions_named("QueuePause")

    await live.click("#lang")
    assert await row.locator("td.supervise button").all_inner_texts() == ["监听", "耳语", "强插"]
    assert await live.locator("#supervise h2").text_content() == "坐席"
    await browser.assert_clean()
