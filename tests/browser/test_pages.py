"""The console's pages in a real browser: sign-in, what protects the pages
(Content-Security-Policy, no secret in the source), the records search and the
360 page, editing within the user's permissions, the language of the user."""

from __future__ import annotations

import re
from typing import Any

import aiohttp

from tests.browser.conftest import Browser, Console, sign_in


async def _api(page: Any, console: Console, path: str) -> Any:
    """GET an API path with the page's own session cookie."""
    resp = await page.request.get(f"{console.base}/api/v1{path}")
    assert resp.ok, await resp.text()
    return await resp.json()


async def test_sign_in_guards_the_pages_and_keeps_secrets_out_of_them(
    console: Console, browser: Browser
) -> None:
    page = await browser.page()
    # a page of the console without a session: the sign-in page, which comes back after
    await page.goto(f"{console.base}/records?q=abc")
    await page.wait_for_url(re.compile(r"/login\?next="))
    await page.wait_for_selector("body[data-ready='1']")

    await page.fill("#username", "alice")
    await page.fill("#password", "not-the-password")
    await page.click("#login-submit")
    result = page.locator("#login-result[data-kind='error']")
    await result.wait_for()
    assert (await result.text_content() or "").strip()
    assert "/login" in page.url

    await page.fill("#password", "demo")
    await page.click("#login-submit")
    await page.wait_for_url(re.compile(r"/records\?q=abc$"))  # back where it was sent from
    await page.wait_for_selector("body[data-ready='1']")

    # the CSRF token lives in the page's memory only: not in its source, nor in storage
    session = await _api(page, console, "/session")
    token = session["csrf_token"]
    for path in ("/console", "/records", "/records/1", "/login"):
        resp = await page.request.get(f"{console.base}{path}", max_redirects=0)
        body = await resp.text()
        assert token not in body and "browser-test-secret" not in body
    for url in ("/console", "/records"):
        await page.goto(console.base + url)
        await page.wait_for_selector("body[data-ready='1']")
        assert token not in await page.content()
        stored = await page.evaluate(
            "JSON.stringify([localStorage, sessionStorage, document.cookie])")
        assert token not in stored
        assert "hotline_session" not in stored  # the session cookie is HTTP-only

    # strict CSP on every page; no inline script anywhere
    async with aiohttp.ClientSession() as http:
        for path in ("/login", "/static/console/js/console.js"):
            async with http.get(console.base + path) as resp:
                csp = resp.headers["Content-Security-Policy"]
                assert "script-src 'self'" in csp and "unsafe-inline" not in csp
                assert "require-trusted-types-for 'script'" in csp
                assert "frame-ancestors 'none'" in csp
                assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert await page.evaluate(
        "[...document.scripts].every((s) => s.src && s.type === 'module')")
    await browser.assert_clean()


async def test_signed_out_session_cannot_come_back(console: Console, browser: Browser) -> None:
    page = await browser.page()
    await sign_in(page, console, "alice")
    await page.click("#sign-out")
    await page.wait_for_url("**/login")
    await page.go_back()
    await page.wait_for_url(re.compile(r"/login"))  # no page from cache, no session
    await browser.assert_clean()


async def test_manager_goes_to_records_not_to_the_console(
    console: Console, browser: Browser
) -> None:
    page = await browser.page()
    await sign_in(page, console, "wang.lei", expect="/records")
    await page.goto(f"{console.base}/console")
    await page.wait_for_url("**/records")
    await browser.assert_clean()


async def test_records_search_any_format_and_the_360_page(
    console: Console, browser: Browser
) -> None:
    page = await browser.page()
    await sign_in(page, console, "alice")
    await page.goto(f"{console.base}/records")
    await page.wait_for_selector("body[data-ready='1']")
    # a phone written another way, a serial number, a ticket number: the same customer
    tickets = await _api(page, console, "/tickets?limit=200")
    ticket = next(t for t in tickets["items"] if t["number"].startswith("T"))
    for query in ("+86 138-0013-8000", "BPM-2023-0102"):
        await page.press("#search", "Control+A")
        await page.fill("#search", query)
        await page.press("#search", "Enter")
        row = page.locator("#records-table tbody tr").first
        await row.wait_for()
        assert "华东医药包装有限公司" in (await row.text_content() or "")
    await page.fill("#search", ticket["number"])
    await page.press("#search", "Enter")
    await page.wait_for_selector(
        f"#records-table tbody tr[data-customer-id='{ticket['customer_id']}']")

    # the 360 page: assets with serials, every ticket, opportunities, interactions, calls
    await page.fill("#search", "华东医药")
    await page.press("#search", "Enter")
    # the new results, not the previous search's rows still on screen
    first = page.locator("#records-table tbody tr").first
    await first.filter(has_text="华东医药包装有限公司").wait_for()
    await first.locator("a").click()
    await page.wait_for_url(re.compile(r"/records/\d+$"))
    await page.wait_for_selector("body[data-loaded='1']")
    assert await page.text_content("#customer-name") == "华东医药包装有限公司"
    assert "BPM-2023-0102" in (await page.text_content("#record-assets") or "")
    assert await page.locator("#record-tickets tbody tr").count() >= 2  # closed ones too
    assert await page.locator("#record-opportunities tbody tr").count() >= 1
    # calls and interactions on one timeline, each interaction with who wrote it
    assert await page.locator("#record-timeline li.interaction").count() >= 1
    authors = await page.locator("#record-timeline li.interaction .author").all_inner_texts()
    assert authors and all(a.strip() for a in authors)
    # an agent may not edit the customer: no edit button (the API would refuse anyway)
    assert await page.locator("#edit-open").count() == 0
    # a note is an interaction the agent may add
    await page.fill("#note-text", "客户来电询问保修 — checked by browser test")
    await page.click("#note-form button[type=submit]")
    note = page.locator("#record-timeline li.interaction", has_text="checked by browser test")
    await note.wait_for()
    assert await note.locator(".author").text_content() == "Alice"  # who wrote it
    assert await page.input_value("#note-text") == ""
    assert "Note added" in (await page.text_content("#notices .notice-ok") or "")
    await browser.assert_clean()


async def test_account_manager_edits_own_customer_and_it_is_audited(
    console: Console, browser: Browser
) -> None:
    page = await browser.page()
    await sign_in(page, console, "wang.lei", expect="/records")
    found = await _api(page, console, "/customers?q=13800138000")
    customer_id = found["items"][0]["id"]
    await page.goto(f"{console.base}/records/{customer_id}")
    await page.wait_for_selector("body[data-loaded='1']")
    await page.click("#edit-open")
    await page.fill("#edit-city", "上海市闵行区")
    await page.click("#edit-form button[type=submit]")
    await page.wait_for_selector("#edit-form", state="hidden")
    assert "上海市闵行区" in (await page.text_content("#record-head") or "")
    customer = await _api(page, console, f"/customers/{customer_id}")
    assert customer["city"] == "上海市闵行区"
    # a refused edit shows why: a name cannot be emptied
    await page.click("#edit-open")
    await page.fill("#edit-name", "")
    await page.click("#edit-form button[type=submit]")
    await page.wait_for_selector("#edit-result[data-kind='error']")
    await browser.assert_clean()


async def test_login_page_language_switch(console: Console, browser: Browser) -> None:
    page = await browser.page(locale="en-US")
    await page.goto(f"{console.base}/login")
    await page.wait_for_selector("body[data-ready='1']")
    assert await page.text_content("#login-submit") == "Sign in"
    await page.click("#lang-switch")
    await page.wait_for_function("() => document.documentElement.lang === 'zh-CN'")
    assert await page.text_content("#login-submit") == "登录"
    assert await page.text_content("#lang-switch") == "English"
    await page.reload()  # this browser remembers the choice
    await page.wait_for_selector("body[data-ready='1']")
    assert await page.text_content("#login-submit") == "登录"
    await browser.assert_clean()


async def test_console_signed_out_elsewhere_goes_back_to_sign_in(
    console: Console, browser: Browser
) -> None:
    page = await browser.page()
    await sign_in(page, console, "alice")
    await page.wait_for_selector("#ws-status[data-state='open']")
    # the same session signed out from another tab: its socket is closed by the server
    token = (await _api(page, console, "/session"))["csrf_token"]
    resp = await page.request.delete(f"{console.base}/api/v1/session",
                                     headers={"X-CSRF-Token": token})
    assert resp.status == 204
    await page.wait_for_url(re.compile(r"/login\?next=%2Fconsole"))
    await browser.assert_clean()
