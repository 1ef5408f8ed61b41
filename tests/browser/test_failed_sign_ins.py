"""What a person sees of the sign-in throttle (issue 13 item 5): the owner of an
account someone tried to guess is told so, in her language, at her next sign-in; a
client that guessed too often is told how long to wait."""

from __future__ import annotations

import aiohttp

from crm_core.demo_data import DEMO_PASSWORD
from hotline.app import API_AUTH
from tests.browser.conftest import Browser, Console, screenshot_dir, sign_in

GUESSER = "127.0.0.2"  # another client address than the browser's 127.0.0.1


async def _guess(console: Console, username: str, times: int) -> None:
    connector = aiohttp.TCPConnector(local_addr=(GUESSER, 0))
    async with aiohttp.ClientSession(connector=connector) as http:
        for i in range(times):
            async with http.post(f"{console.base}/api/v1/session",
                                 json={"username": username, "password": f"guess {i}"}) as r:
                assert r.status == 401
    await console.app[API_AUTH].settled()


async def test_the_owner_is_told_of_failed_sign_ins_in_her_language(
    console: Console, browser: Browser
) -> None:
    await _guess(console, "alice", 3)  # alice works in English
    await _guess(console, "bob", 2)  # Bob in Chinese

    page = await browser.page()
    await sign_in(page, console, "alice", password=DEMO_PASSWORD)
    notice = page.locator("#failed-sign-ins")
    text = await notice.text_content() or ""
    assert "3 failed sign-in attempt(s)" in text and GUESSER in text
    shots = screenshot_dir()
    if shots is not None:
        await page.screenshot(path=str(shots / "failed-sign-ins.png"))
    # on every page of the session until dismissed, then not again in this tab
    await page.goto(f"{console.base}/records")
    await page.wait_for_selector("body[data-ready='1']")
    await notice.get_by_role("button").click()
    assert await notice.count() == 0
    await page.reload()
    await page.wait_for_selector("body[data-ready='1']")
    assert await notice.count() == 0

    zh = await browser.page(locale="zh-CN")
    await sign_in(zh, console, "bob", password=DEMO_PASSWORD)
    text = await zh.locator("#failed-sign-ins").text_content() or ""
    assert "2 次登录失败" in text and GUESSER in text
    if shots is not None:
        await zh.screenshot(path=str(shots / "failed-sign-ins-zh.png"))

    again = await browser.page()  # the next sign-in has nothing new to tell
    await sign_in(again, console, "alice", password=DEMO_PASSWORD)
    assert await again.locator("#failed-sign-ins").count() == 0
    await browser.assert_clean()


async def test_the_login_page_says_how_long_to_wait(console: Console, browser: Browser
                                                    ) -> None:
    page = await browser.page()
    await page.goto(f"{console.base}/login")
    await page.wait_for_selector("body[data-ready='1']")
    result = page.locator("#login-result")
    for attempt in range(6):
        await page.fill("#username", "alice")
        await page.fill("#password", "wrong")
        await page.click("#login-submit")
        await page.wait_for_selector("#login-result[data-kind='error']")
        text = await result.text_content() or ""
        if attempt < 5:
            assert text == "Wrong username or password."
            await page.evaluate("document.querySelector('#login-result').dataset.kind = ''")
    assert text == "Too many failed attempts from here: try again in 1 s."
    await browser.assert_clean()
