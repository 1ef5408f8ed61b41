"""The call log page in a real browser (issue 16 item 5), in both languages: the hotline's
supervisor lists a day's calls (newest first, a page at a time), filters them, downloads
the same filter as Excel (read back); a hostile caller name shows as text; a manager
without reports:export sees only the calls of his customers and is offered no download
(the API refuses him the file too)."""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from openpyxl import load_workbook
from sqlalchemy import select

from crm_core.models import CallRecord, Customer, User
from tests.browser.conftest import Browser, Console, sign_in
from tests.browser.test_backoffice import HOSTILE, Db, assert_translated, loaded, switch_to
from tests.browser.test_backoffice import db as db  # noqa: F401  (the fixture)

NINE = datetime(2025, 3, 10, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
DAY = "from=2025-03-10&to=2025-03-10"
ALICE = "Local/1001@agents/n"
CALLS = 55  # a page is 50


async def arrange(db: Db) -> int:
    """55 calls of the day (every fifth abandoned, the 7th from a hostile caller name, the
    last of wang.lei's customer) and one the day after; wang.lei's customer's id."""
    wang = await db.scalar(select(User.id).where(User.username == "wang.lei"))
    customer = await db.scalar(select(Customer.id).where(Customer.owner_id == wang)
                               .order_by(Customer.id).limit(1))
    assert customer is not None

    def call(n: int, minute: float) -> CallRecord:
        abandoned = n % 5 == 0
        return CallRecord(
            linkedid=f"LOG{n}", direction="inbound", did="4008001234", queues=["support"],
            caller=f"13800{n:06d}", caller_name=HOSTILE if n == 7 else f"来电{n}",
            queued_at=NINE + timedelta(minutes=minute), ended_at=NINE + timedelta(minutes=minute),
            outcome="abandoned" if abandoned else "answered", wait_s=30 if abandoned else 5,
            talk_s=None if abandoned else 60, agent_interface=None if abandoned else ALICE,
            customer_id=customer if n == CALLS else None)

    async with db.sessionmaker.begin() as s:
        s.add_all([call(n, n) for n in range(1, CALLS + 1)])
        s.add(call(CALLS + 1, 24 * 60 + 5))  # the next day
    return customer


async def open_log(page: Any, console: Console) -> None:
    await page.goto(f"{console.base}/backoffice/kpi?view=calls&{DAY}")
    await loaded(page)
    await page.wait_for_selector("body[data-view='calls'] #calls-table")


async def linkedids(page: Any) -> list[str]:
    return [await r.get_attribute("data-linkedid") or ""
            for r in await page.locator("#calls-table tbody tr").all()]


async def test_the_call_log_filtered_paged_and_downloaded_in_both_languages(
    console: Console, browser: Browser, db: Db
) -> None:
    await arrange(db)
    page = await browser.page()
    await sign_in(page, console, "zhao.min", expect="/live")  # Chinese; reports read+export
    await open_log(page, console)
    first = await linkedids(page)
    assert len(first) == 50 and first[0] == f"LOG{CALLS}" and first[-1] == "LOG6"
    assert "共 55 通" in (await page.text_content("#kpi-summary") or "")
    assert "第 1–50 条，共 55 条" in (await page.text_content("#calls-shown") or "")
    hostile = page.locator("#calls-table tr[data-linkedid='LOG7']")
    assert HOSTILE in (await hostile.text_content() or "")  # as text, no element made
    assert await page.locator("#calls-table img").count() == 0
    cells = await page.locator("#calls-table tr[data-linkedid='LOG10'] td").all_text_contents()
    assert cells[0] == "2025-03-10 09:10:00" and "来电方等待中挂断" in cells
    await assert_translated(page, "zh-CN")
    await page.click("#calls-next")
    await page.wait_for_selector("#calls-table tr[data-linkedid='LOG1']")
    assert await linkedids(page) == ["LOG5", "LOG4", "LOG3", "LOG2", "LOG1"]
    assert await page.is_disabled("#calls-next")
    await page.click("#calls-prev")
    await page.wait_for_selector(f"#calls-table tr[data-linkedid='LOG{CALLS}']")

    # the abandoned calls, oldest first
    await page.select_option("#calls-result", "abandoned")
    await page.select_option("#calls-order", "asc")
    await page.fill("#calls-min_wait", "10")
    await page.click("#calls-form button[type=submit]")
    await page.wait_for_function("() => document.querySelectorAll('#calls-table tbody tr')"
                                 ".length === 11")
    assert await linkedids(page) == [f"LOG{n}" for n in range(5, CALLS + 1, 5)]
    async with page.expect_download() as info:
        await page.click("#calls-dl-xlsx")
    data = await asyncio.to_thread(Path(await (await info.value).path()).read_bytes)
    book = await asyncio.to_thread(load_workbook, io.BytesIO(data), read_only=True)
    rows = list(book.active.iter_rows(values_only=True))
    assert rows[0][:4] == ("结束时间", "开始时间", "方向", "客户号码")
    ids = rows[0].index("通话编号")
    assert [r[ids] for r in rows[1:]] == [f"LOG{n}" for n in range(5, CALLS + 1, 5)]

    await switch_to(page, "en")
    await page.wait_for_selector("#kpi-summary:has-text('Call log')")
    assert "11 calls" in (await page.text_content("#kpi-summary") or "")
    assert "Caller hung up while waiting" in (await page.text_content("#calls-table tbody") or "")
    assert "Ended (China time)" in (await page.text_content("#calls-table thead") or "")
    await assert_translated(page, "en")
    # back to another report and to the log again
    await page.select_option("#kpi-view", "intervals")
    await page.wait_for_selector("body[data-view='intervals']")
    await page.select_option("#kpi-view", "calls")
    await page.wait_for_selector("body[data-view='calls'] #calls-table")
    await browser.assert_clean()


async def test_a_manager_sees_his_customers_calls_and_no_download(
    console: Console, browser: Browser, db: Db
) -> None:
    customer = await arrange(db)
    page = await browser.page()
    await sign_in(page, console, "wang.lei", expect="/records")  # reports own, no export
    await open_log(page, console)
    assert await linkedids(page) == [f"LOG{CALLS}"]
    link = page.locator(f"#calls-table tr[data-linkedid='LOG{CALLS}'] a")
    assert await link.get_attribute("href") == f"/records/{customer}"
    assert await page.locator("#calls-dl").count() == 0
    assert await page.locator("a[href*='format=xlsx']").count() == 0
    for fmt in ("csv", "xlsx"):
        resp = await page.request.get(f"{console.base}/api/v1/reports/calls?format={fmt}&{DAY}")
        assert resp.status == 403
    await assert_translated(page, "zh-CN")
    await browser.assert_clean()
