"""The wallboard in a real browser, in English and Chinese: sign-in first, a caller
waiting shows on the queue's tile and in the callers' list, the service level's formula
is on screen, agents appear with their state; the TV mode fits the screen (no
scrolling, no controls) at two sizes, its figures grow with the screen; an agent (no
reports right) is refused."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from telephony.simulator import CallScript, PbxSimulator
from tests.browser.conftest import Browser, Console, screenshot_dir, sign_in


async def until(probe: Any, what: str, tries: int = 200) -> Any:
    for _ in range(tries):
        value = await probe()
        if value:
            return value
        await asyncio.sleep(0.1)
    raise AssertionError(f"never: {what}")


async def open_board(browser: Browser, console: Console, *, locale: str, query: str = "",
                     viewport: dict[str, int] | None = None) -> Any:
    page = await browser.page(locale=locale)
    if viewport:
        await page.set_viewport_size(viewport)
    await sign_in(page, console, "zhao.min", expect="/live")
    await page.goto(f"{console.base}/wallboard{query}")
    await page.wait_for_selector("body[data-frames]")
    return page


async def test_a_waiting_caller_and_the_formula_on_the_wallboard_in_both_languages(
        console: Console, browser: Browser, sim: PbxSimulator) -> None:
    for agent in ("Alice", "Bob", "Carol"):  # nobody free: the caller waits
        sim.set_agent(agent, paused=True, reason="meeting")
    page = await browser.page(locale="en-US")
    await page.goto(f"{console.base}/wallboard")  # sign-in first, then back here
    await page.wait_for_url(re.compile(r"/login\?next=(%2F|/)wallboard$"))
    await page.fill("#username", "zhao.min")
    await page.fill("#password", "demo")
    await page.click("#login-submit")
    await page.wait_for_url(f"{console.base}/wallboard")
    await page.wait_for_selector(".status.on")
    sim.place_call(caller="13800009999", name="<b>x</b>",
                   script=CallScript(skip_agi=True, ivr_vars={"QUEUE": "support"}, talk=60))
    tile = page.locator(".tile[data-queue='support']")
    waiting = tile.locator("[data-fig=waiting]")
    await until(lambda: _text_is(waiting, "1"), "the caller counted as waiting")
    assert await tile.locator("h3").inner_text() == "Support"
    assert "ServicelevelPerf" in await tile.locator("[data-formula=sl]").inner_text()
    assert "answered within 20 s / answered" in await tile.locator(
        "[data-formula=sl]").inner_text()
    rows = page.locator("#waiting tbody tr[data-linkedid]")
    assert await rows.count() == 1
    assert "138 0000 9999" in await rows.first.inner_text()
    # the agents the PBX told about, with their state (none signed in through Hotline)
    agents = page.locator(".agent[data-state='signed-out']")
    await until(lambda: _count(agents, 3), "the agents shown")
    assert await agents.first.locator(".state").inner_text() == "signed out"
    # the demo's agents are the 热线 team: its figures summed
    assert (await page.locator(".team[data-team='热线']").inner_text()).startswith(
        "热线 · answered 0 · occupancy")
    await page.click("#lang")
    assert await page.locator("#queues-section h2").inner_text() == "今日各队列"
    assert await tile.locator("h3").inner_text() == "技术支持"
    assert "服务水平 = 20 秒内接听数 / 接听数" in await tile.locator(
        "[data-formula=sl]").inner_text()
    assert await agents.first.locator(".state").inner_text() == "未签入"
    await browser.assert_clean()


async def _text_is(locator: Any, text: str) -> bool:
    return await locator.count() > 0 and (await locator.first.inner_text()) == text


async def _count(locator: Any, n: int) -> bool:
    return await locator.count() >= n


async def tv_layout(page: Any) -> dict[str, Any]:
    return dict(await page.evaluate("""() => ({
        scrollH: document.documentElement.scrollHeight, innerH: window.innerHeight,
        scrollW: document.documentElement.scrollWidth, innerW: window.innerWidth,
        langShown: getComputedStyle(document.getElementById('lang')).display !== 'none',
        figure: parseFloat(getComputedStyle(
          document.querySelector('.tile[data-queue] .fig b')).fontSize),
        title: document.querySelector('#queues-section h2').textContent,
        // every tile and the agents' section start on screen, whole tiles inside it
        tilesInside: [...document.querySelectorAll('.tile')].every((e) => {
          const r = e.getBoundingClientRect();
          return r.bottom <= window.innerHeight && r.right <= window.innerWidth; }),
        agentsTop: document.getElementById('agents-section').getBoundingClientRect().top,
    })"""))


async def test_tv_mode_fits_two_screens_without_controls_in_both_languages(
        console: Console, browser: Browser, sim: PbxSimulator) -> None:
    layouts = {}
    for size, locale in (((1280, 720), "en-US"), ((1920, 1080), "zh-CN")):
        viewport = {"width": size[0], "height": size[1]}
        page = await open_board(browser, console, locale=locale, query="?tv=1",
                                viewport=viewport)
        await page.wait_for_selector(".tile[data-queue]")
        layouts[size] = await tv_layout(page)
        shots = screenshot_dir()
        if shots is not None:
            await page.screenshot(path=str(shots / f"wallboard-tv-{size[0]}x{size[1]}.png"))
    small, big = layouts[(1280, 720)], layouts[(1920, 1080)]
    for layout in (small, big):
        assert layout["scrollH"] <= layout["innerH"] and layout["scrollW"] <= layout["innerW"]
        assert layout["tilesInside"] and layout["agentsTop"] < layout["innerH"]
        assert not layout["langShown"]  # a TV has no one to click
    assert big["figure"] > small["figure"]  # the figures grow with the screen
    assert small["title"] == "Queues today" and big["title"] == "今日各队列"
    await browser.assert_clean()


async def test_an_agent_is_refused_the_wallboard(console: Console, browser: Browser) -> None:
    page = await browser.page()
    await sign_in(page, console, "alice")
    response = await page.goto(f"{console.base}/wallboard")
    assert response is not None and response.status == 403
