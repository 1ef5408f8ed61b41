"""The administration page and the hotline supervisor's start, in headless Chromium
against the demo company (issue 14 item 10): an admin manages users (role, team,
region, phone, deactivation) and edits a role's grants, in English and in Chinese;
the last admin cannot take away their own rights; zhao.min, the hotline supervisor,
lands on the live calls page and sees the whole hotline."""

from __future__ import annotations

import re
from typing import Any

from crm_core.demo_data import DEMO_PASSWORD
from tests.browser.conftest import Browser, Console, screenshot_dir, sign_in

HOSTILE = '<img src=x onerror="alert(1)">夜班'


async def api_json(page: Any, console: Console, path: str) -> Any:
    """GET an API path with the page's own session cookie."""
    resp = await page.request.get(f"{console.base}/api/v1{path}")
    assert resp.ok, await resp.text()
    return await resp.json()


async def open_admin(page: Any, console: Console) -> None:
    await sign_in(page, console, "admin", expect="/records")
    await page.click(".topbar .nav a[href='/admin']")  # the bar offers it to admins
    await page.wait_for_url("**/admin")
    await page.wait_for_selector("body[data-loaded='1']")


def user_row(page: Any, username: str) -> Any:
    return page.locator(f"#users-table tbody tr[data-username='{username}']")


async def test_admin_manages_users_in_english(console_db: Console, browser: Browser) -> None:
    console = console_db
    page = await browser.page(locale="en-US")
    await open_admin(page, console)
    assert await page.text_content("h1") == "用户与角色"  # the demo's admin reads Chinese
    await page.click("#lang-switch")
    await page.wait_for_function("() => document.documentElement.lang === 'en'")
    assert await page.text_content("h1") == "Users and roles"
    assert await user_row(page, "zhao.min").locator("td.user-role").text_content() == \
        "Hotline supervisor"

    # a new agent, with a name as hostile as any caller's: text, never markup
    await page.click("#user-new")
    await page.fill("#user-username", "night.li")
    await page.fill("#user-display_name", HOSTILE)
    await page.select_option("#user-role", "agent")
    await page.fill("#user-team", "热线")
    await page.fill("#user-agent_interface", "PJSIP/1009")
    await page.fill("#user-password", "night shift 1")
    await page.click("#user-save")
    row = user_row(page, "night.li")
    await row.wait_for()
    assert await row.locator("td").nth(1).text_content() == HOSTILE
    assert await page.locator("#users-table img").count() == 0
    await page.locator("#notices .notice-ok", has_text="User").wait_for()

    # a refused change says why, next to the form, and changes nothing
    await row.locator(".user-edit").click()
    await page.fill("#user-agent_interface", "PJSIP/1009\nAction: Originate")
    await page.click("#user-save")
    refused = page.locator("#user-result[data-kind='error']")
    await refused.wait_for()
    assert "agent_interface" in (await refused.text_content() or "")
    # role, region and phone set from the same form
    await page.fill("#user-agent_interface", "PJSIP/1010")
    await page.select_option("#user-role", "hotline_supervisor")
    await page.fill("#user-region", "上海")
    await page.click("#user-save")
    await row.locator("td.user-role", has_text="Hotline supervisor").wait_for()
    users = await api_json(page, console, "/users?limit=200")
    night = next(u for u in users["items"] if u["username"] == "night.li")
    assert (night["role"], night["region"], night["agent_interface"], night["team"]) == (
        "hotline_supervisor", "上海", "PJSIP/1010", "热线")

    # deactivated: gone from the list of active users, back with "show deactivated"
    await row.locator(".user-deactivate").click()
    await row.wait_for(state="detached")
    await page.check("#users-inactive")
    await row.locator(".user-reactivate").wait_for()
    assert await row.locator(".tag").text_content() == "Deactivated"

    # the only admin cannot deactivate themselves: the server's refusal is shown
    await user_row(page, "admin").locator(".user-deactivate").click()
    notice = page.locator("#notices .notice-error")
    await notice.wait_for()
    assert "last active admin" in (await notice.text_content() or "")
    assert await user_row(page, "admin").locator(".tag").text_content() == "Active"
    if (shots := screenshot_dir()) is not None:
        await page.screenshot(path=str(shots / "admin-users.png"), full_page=True)
    await browser.assert_clean()


async def test_admin_edits_grants_in_chinese(console: Console, browser: Browser) -> None:
    page = await browser.page(locale="zh-CN")
    await open_admin(page, console)
    assert await page.text_content("h1") == "用户与角色"
    await page.click("#tab-roles")
    await page.wait_for_url("**/admin?tab=roles")
    assert await page.locator("#roles-panel").is_visible()
    await page.click(".role-item[data-role='agent']")
    assert await page.text_content("#role-title") == "坐席"
    # a default role's description in the page's language, not its stored English
    assert await page.input_value("#role-description") == (
        "热线坐席：可查看任何来电客户，记录通话和工单")
    headers = await page.locator("#grants-table thead th").all_inner_texts()
    assert headers == ["模块", "查看", "新建", "修改", "删除", "导出", "转移"]
    cell = "#grants-table select[data-module='calls'][data-operation='read']"
    assert await page.input_value(cell) == "all"
    await page.select_option(cell, "team")
    await page.select_option(
        "#grants-table select[data-module='reports'][data-operation='read']", "region")
    await page.click("#grants-save")
    saved = page.locator("#role-result[data-kind='ok']")
    await saved.wait_for()
    assert "坐席" in (await saved.text_content() or "")
    roles = await api_json(page, console, "/roles")
    agent = next(r for r in roles["items"] if r["name"] == "agent")
    assert agent["grants"]["calls:read"] == "team"
    assert agent["grants"]["reports:read"] == "region"
    assert agent["description"] == "hotline agent: any caller readable, logs calls and tickets"

    # the admin role has nothing to edit
    await page.click(".role-item[data-role='admin']")
    await page.wait_for_selector("#role-admin-note")
    assert await page.locator("#grants-table").count() == 0

    # a role of their own, starting from the agents' grants
    await page.fill("#role-new-name", "night-shift")
    await page.fill("#role-new-description", "夜班坐席")
    await page.select_option("#role-new-copy", label="坐席")
    await page.click("#role-new-form button[type=submit]")
    await page.wait_for_selector(".role-item[data-role='night-shift'][aria-pressed='true']")
    assert await page.input_value("#role-description") == "夜班坐席"  # a custom role's own text
    assert await page.input_value(cell) == "team"  # copied as just saved
    await page.fill("#role-new-name", "Bad Name")
    await page.click("#role-new-form button[type=submit]")
    refused = page.locator("#role-new-result[data-kind='error']")
    await refused.wait_for()
    assert "小写字母" in (await refused.text_content() or "")
    await page.click("#role-delete")
    await page.locator(".role-item[data-role='night-shift']").wait_for(state="detached")

    # the other language at the click of a button, labels of the grants included
    await page.click("#lang-switch")
    await page.wait_for_function("() => document.documentElement.lang === 'en'")
    assert await page.text_content("#tab-roles") == "Roles and grants"
    await page.click(".role-item[data-role='hotline_supervisor']")
    assert await page.text_content("#role-title") == "Hotline supervisor"
    assert await page.input_value("#role-description") == (
        "hotline supervisor: every call and agent of the hotline, live page, reports")
    assert (await page.locator("#grants-table thead th").all_inner_texts())[1] == "Read"
    if (shots := screenshot_dir()) is not None:
        await page.screenshot(path=str(shots / "admin-grants.png"), full_page=True)
    await browser.assert_clean()


async def test_hotline_supervisor_lands_on_the_live_calls(
    console_db: Console, browser: Browser
) -> None:
    console = console_db
    page = await browser.page(locale="zh-CN")
    await page.goto(f"{console.base}/login")
    await page.wait_for_selector("body[data-ready='1']")
    await page.fill("#username", "zhao.min")
    await page.fill("#password", DEMO_PASSWORD)
    await page.click("#login-submit")
    await page.wait_for_url(f"{console.base}/live")  # not the empty records page
    await page.wait_for_selector("#status.on")
    assert await page.text_content("h1") == "热线 — 实时通话"
    assert await page.text_content("#nav-records") == "客户档案"
    await page.click("#lang")
    assert await page.text_content("h1") == "Hotline — live calls"
    assert await page.text_content("#nav-records") == "Records"

    # the whole hotline: every agent, every customer, the reports
    users = await api_json(page, console, "/users?limit=200")
    assert {"alice", "bob", "carol"} <= {u["username"] for u in users["items"]}
    customers = await api_json(page, console, "/customers?limit=200")
    owners = {c["owner_id"] for c in customers["items"]}
    assert len(owners) > 2  # not only one sales team's customers
    report = await api_json(page, console, "/reports/customers?by=owner")
    assert len(report["items"]) > 2  # one group per account manager, not her team only

    # the records page leads back to the live calls; the admin page is not hers
    await page.click("#nav-records")
    await page.wait_for_url("**/records")
    await page.wait_for_selector("body[data-ready='1']")
    assert await page.locator(".topbar .nav a[href='/admin']").count() == 0
    await page.click(".topbar .nav a[href='/live']")
    await page.wait_for_url(re.compile(r"/live$"))
    await page.goto(f"{console.base}/admin")
    await page.wait_for_url(re.compile(r"/live$"))
    await browser.assert_clean()
