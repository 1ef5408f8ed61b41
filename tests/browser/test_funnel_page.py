"""The sales pipeline in a real browser (issue 18 items 3 and 5), in both languages, on
the demo company: an account manager's home page shows the big contracts he signed
lately (the big order and the big won deal of the demo), a hostile customer name as
text; the funnel page draws its charts with chart.js and shows his funnel per stage,
his margins, sales by product line and who bought a book; a file needs reports:export
(offered to the admin, not to the manager); an agent has neither panel nor page."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import update

from agent_console import pages
from crm_core.models import Customer
from crm_core.sales_report import SHANGHAI
from tests.browser.conftest import Browser, Console, screenshot_dir, sign_in
from tests.browser.test_backoffice import HOSTILE, Db, assert_translated, loaded, switch_to
from tests.browser.test_backoffice import db as db  # noqa: F401  (the fixture)
from tests.browser.test_kpi_pages import chart_drawn

CHART_JS = pages.NODE_MODULES / pages.VENDOR["chart.umd.min.js"]


def months_back(n: int) -> str:
    today = datetime.now(UTC).astimezone(SHANGHAI).date()
    k = today.year * 12 + today.month - 1 - n
    return f"{k // 12:04d}-{k % 12 + 1:02d}"


# the demo's pipeline goes six months back (and a little more: created before, won since)
SIX_MONTHS = f"from={months_back(7)}&to={months_back(0)}"


async def big_items(page: Any) -> list[str]:
    await page.wait_for_selector("#big-contracts:not([hidden])")
    await page.wait_for_function(
        "() => document.querySelector('#big-list').children.length > 0"
        " || !document.querySelector('#big-result').hidden")
    return await page.locator("#big-list li").all_inner_texts()


async def test_the_big_contracts_on_the_managers_home_page(console: Console,
                                                           browser: Browser, db: Db) -> None:
    await db.run(update(Customer).where(Customer.name == "上海巴士旅游集团有限公司")
                 .values(name=HOSTILE))
    page = await browser.page(locale="zh-CN")
    await sign_in(page, console, "wang.lei", expect="/records")  # a manager, Chinese
    await loaded(page)
    items = await big_items(page)
    text = "\n".join(items)
    assert len(items) == 2, items
    assert "订单" in text and "SO700113" in text and "复旦大学图书馆" in text
    assert "赢单" in text and "30台旅游客车三年维保合同" in text
    assert HOSTILE in text  # the name as text, not an image that runs a script
    assert "近 10 天签订" in (await page.text_content("#big-hint") or "")
    if (shots := screenshot_dir()) is not None:
        await page.screenshot(path=str(shots / "big-contracts.png"), full_page=True)
    await assert_translated(page, "zh-CN")
    await switch_to(page, "en")
    assert "Won deal" in "\n".join(await big_items(page))
    assert "last 10 days" in (await page.text_content("#big-hint") or "")
    await assert_translated(page, "en")
    await page.click("#big-contracts a[href='/backoffice/funnel']")
    await page.wait_for_url("**/backoffice/funnel")
    await loaded(page)

    other = await browser.page()
    await sign_in(other, console, "li.na", expect="/records")  # sells none of them
    await loaded(other)
    assert await big_items(other) == []
    assert await other.text_content("#big-result") == "近期没有大额合同。"

    agent = await browser.page()
    await sign_in(agent, console, "alice")  # an agent: no reports grant, no panel
    await agent.goto(f"{console.base}/records")
    await loaded(agent)
    assert await agent.is_hidden("#big-contracts")
    await browser.assert_clean()


@pytest.mark.skipif(not CHART_JS.is_file() and not os.environ.get("CI"),
                    reason="chart.js not installed (make, or npm ci)")
async def test_the_funnel_page_in_both_languages(console: Console, browser: Browser) -> None:
    page = await browser.page(locale="zh-CN")
    await sign_in(page, console, "wang.lei", expect="/records")
    await page.goto(f"{console.base}/backoffice/funnel?{SIX_MONTHS}")
    await loaded(page)
    await page.wait_for_selector("body[data-view='funnel']")
    assert await page.get_attribute("body", "data-charts") == "drawn"
    await page.wait_for_function(
        "() => window.Chart.getChart(document.querySelector('#funnel-chart'))")
    assert await chart_drawn(page, "#funnel-chart")
    groups = page.locator("#funnel-groups .funnel-group")
    assert await groups.count() == 1  # reports:read own: his deals only
    assert "王磊" in (await groups.first.locator("h3").inner_text())
    lead = await groups.first.locator("tr[data-stage='lead'] td").all_inner_texts()
    won = await groups.first.locator("tr[data-stage='won'] td").all_inner_texts()
    assert lead[0] == "线索" and int(lead[3]) >= int(won[3]) >= 2  # reached, never growing
    assert lead[4].endswith("%") and lead[5].endswith("天")  # conversion, mean days
    assert await page.locator("#funnel-dl").count() == 0  # no reports:export
    await assert_translated(page, "zh-CN")
    if (shots := screenshot_dir()) is not None:
        await page.screenshot(path=str(shots / "funnel.png"), full_page=True)

    await page.select_option("#funnel-view", "salesmen")
    await page.wait_for_selector("body[data-view='salesmen']")
    row = await page.locator("#funnel-table tbody tr").first.locator("td").all_inner_texts()
    assert row[0] == "王磊" and row[7] != "—" and row[8].endswith("%")  # a margin, a rate
    await page.select_option("#funnel-view", "by")
    await page.wait_for_selector("body[data-view='by']")
    labels = await page.locator("#funnel-table tbody tr td:first-child").all_inner_texts()
    assert "进口图书" in labels
    await switch_to(page, "en")
    await page.wait_for_function("() => [...document.querySelectorAll("
                                 "'#funnel-table tbody td')].some(td => "
                                 "td.textContent === 'Imported books')")
    await assert_translated(page, "en")
    await page.select_option("#funnel-view", "buyers")
    await page.fill("#funnel-product", "9781119778189")
    await page.click("#funnel-show")
    await page.wait_for_selector("body[data-view='buyers']")
    await page.wait_for_selector("#funnel-table a")
    assert await page.locator("#funnel-table a").all_inner_texts() == ["复旦大学图书馆"]
    await assert_translated(page, "en")

    admin = await browser.page()
    await sign_in(admin, console, "admin", expect="/records")
    await admin.goto(f"{console.base}/backoffice/funnel?{SIX_MONTHS}&by=salesman")
    await loaded(admin)
    await admin.wait_for_selector("#funnel-groups")
    assert await admin.locator("#funnel-groups .funnel-group").count() == 3
    assert await admin.locator("#funnel-dl-xlsx").count() == 1
    owners = await admin.locator("#funnel-owner option").all_inner_texts()
    assert {"王磊", "李娜", "陈浩"} <= set(owners)
    await admin.select_option("#funnel-by", "month")
    await admin.click("#funnel-show")
    await admin.wait_for_function("() => document.querySelectorAll("
                                  "'#funnel-groups .funnel-group').length >= 6")

    agent = await browser.page()
    await sign_in(agent, console, "alice")
    await agent.goto(f"{console.base}/backoffice/funnel")
    await agent.wait_for_selector("#bo-result.error, #bo-result[data-kind='error']",
                                  state="attached")
    assert await agent.is_hidden("#bo-content")
    await browser.assert_clean()
