"""The service report and the desk's stations in a real browser (issue 15 items 7 and 6),
in both languages: the hotline's supervisor reads a month's figures per station and per
product line with their bar charts and downloads them (XLSX read back with openpyxl,
CSV); an account manager sees only his customers' tickets and no download; the
stations page lists the open load, technicians on duty, the month's attainment and the
overdue tickets, and one station's technicians and tickets. A hostile station name
shows as text, in the table and in the chart."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from openpyxl import load_workbook
from sqlalchemy import select

from crm_core import tickets
from crm_core.models import (
    Asset,
    Customer,
    ProductLine,
    RepairRecord,
    ServiceStation,
    Technician,
    Ticket,
    User,
)
from tests.browser.conftest import Browser, Console, screenshot_dir, sign_in
from tests.browser.test_backoffice import (
    HOSTILE,
    Db,
    assert_translated,
    downloaded,
    loaded,
    open_section,
    switch_to,
)
from tests.browser.test_backoffice import db as db  # noqa: F401  (the fixture)

T = datetime(2025, 3, 10, 2, 0, tzinfo=UTC)
OPEN = tickets.OPEN_STATUSES[0]


def m(minutes: float) -> timedelta:
    return timedelta(minutes=minutes)


async def arrange(db: Db) -> dict[str, int]:
    """March 2025: ZZ-901 (华中) took two tickets of wang.lei's customer (accepted once on
    time, once late; one first-time fix of two); the hostile-named SH-902 one ticket of
    li.na's, accepted on time. Now: ZZ-901 carries 3 open tickets, one overdue."""
    now = datetime.now(UTC)
    async with db.sessionmaker.begin() as s:
        users = dict((await s.execute(select(User.username, User.id).where(
            User.username.in_(("wang.lei", "li.na"))))).all())
        line = ProductLine(code="SVC-COACH", name="服务测试客车", name_en="Test coaches")
        zz = ServiceStation(code="ZZ-901", name="郑州测试站", name_en="Zhengzhou test station",
                            province="河南", city="郑州", region="华中", capacity=10)
        sh = ServiceStation(code="SH-902", name=HOSTILE, province="上海", city="上海",
                            region="华东", capacity=10)
        mine = Customer(name="郑州测试客运", name_key="郑州测试客运", province="河南",
                        owner_id=users["wang.lei"])
        theirs = Customer(name="上海测试印务", name_key="上海测试印务", province="上海",
                          owner_id=users["li.na"])
        s.add_all([line, zz, sh, mine, theirs])
        await s.flush()
        s.add_all([Technician(station_id=zz.id, name="李师傅", skills=["SVC-COACH", "电路"]),
                   Technician(station_id=zz.id, name="王师傅", skills=["液压"], on_duty=False)])
        bus = Asset(customer_id=mine.id, product_line_id=line.id, serial_number="SVC-BUS-1")
        other = Asset(customer_id=theirs.id, product_line_id=line.id, serial_number="SVC-BUS-2")
        s.add_all([bus, other])
        await s.flush()

        def ticket(n: str, customer: Customer, asset: Asset, created: datetime, **kw: Any
                   ) -> Ticket:
            return Ticket(number=f"T-SVC-{n}", customer_id=customer.id, asset_id=asset.id,
                          problem=f"测试故障 {n}", created_at=created, routed_at=created, **kw)

        d1 = T + timedelta(days=1)
        past = [
            ticket("1", mine, bus, T, status="closed", station_id=zz.id, accept_due=T + m(60),
                   accepted_at=T + m(30), resolved_at=T + m(300)),
            ticket("2", mine, bus, d1, status="closed", station_id=zz.id,
                   accept_due=d1 + m(60), accepted_at=d1 + m(90), resolved_at=d1 + m(500)),
            ticket("3", theirs, other, T, status="closed", station_id=sh.id,
                   accept_due=T + m(60), accepted_at=T + m(20), resolved_at=T + m(200)),
        ]
        s.add_all(past)
        await s.flush()
        s.add_all([RepairRecord(ticket_id=past[0].id, fault="油路堵塞", action="清洗",
                                first_time_fix=False),
                   RepairRecord(ticket_id=past[1].id, fault="油路堵塞", action="更换")])
        start = now - m(1)
        s.add_all([
            ticket("8", mine, bus, start, status=OPEN, station_id=zz.id, sla_state="breached",
                   accept_due=now - timedelta(seconds=30)),
            ticket("9", mine, bus, start, status=OPEN, station_id=zz.id,
                   accept_due=now + m(600)),
            ticket("10", theirs, other, start, status=OPEN, station_id=zz.id,
                   accept_due=now - timedelta(seconds=30),
                   accepted_at=now - timedelta(seconds=45)),
        ])
    return {"zz": zz.id, "sh": sh.id}


async def set_period(page: Any) -> None:
    await page.fill("#service-from", "2025-03-01")
    await page.fill("#service-to", "2025-03-31")
    await page.click("#service-form button[type=submit]")
    await page.wait_for_function("() => (document.querySelector('#service-summary') || {})"
                                 ".textContent?.includes('2025-03-01')")


async def xlsx_rows(download: Any) -> list[tuple[Any, ...]]:
    data = await asyncio.to_thread(Path(await download.path()).read_bytes)
    book = await asyncio.to_thread(load_workbook, io.BytesIO(data), read_only=True)
    return list(book.active.iter_rows(values_only=True))


async def test_the_service_report_per_station_and_line_with_files(
    console: Console, browser: Browser, db: Db
) -> None:
    ids = await arrange(db)
    page = await browser.page()
    await sign_in(page, console, "zhao.min", expect="/live")  # Chinese; reports read+export all
    await open_section(page, console, "service")
    await loaded(page)
    await set_period(page)
    zz = page.locator(f"#service-table tr[data-key='{ids['zz']}']")
    text = await zz.text_content() or ""
    assert "ZZ-901 郑州测试站" in text
    cells = await zz.locator("td").all_text_contents()
    # group, tickets, resolved, accept, arrive, resolve, SLA, means x3, first-time fix, repeats
    assert cells[1:4] == ["2", "2", "50%"] and cells[6] == "50%"
    assert cells[7] == "60 分钟" and cells[10:] == ["50%", "1"]
    sh = page.locator(f"#service-table tr[data-key='{ids['sh']}']")
    assert HOSTILE in (await sh.text_content() or "")  # the name as text
    assert await page.locator("#service-total").count() == 1
    chart = page.locator("#service-chart-sla")
    assert await chart.locator("g.bar").count() == 2
    assert HOSTILE in (await chart.text_content() or "")
    assert "油路堵塞" in (await page.text_content("#service-faults") or "")
    assert "SVC-BUS-1" in (await page.text_content("#service-repeats") or "")
    await assert_translated(page, "zh-CN")

    async with page.expect_download() as info:
        await page.click("#service-dl-xlsx")
    download = await info.value
    assert download.suggested_filename.endswith(".xlsx")
    rows = await xlsx_rows(download)
    assert rows[0][:3] == ("分组", "工单数", "已解决")
    by_label = {r[0]: r for r in rows[1:]}
    assert by_label["ZZ-901 郑州测试站"][1] == 2 and by_label["ZZ-901 郑州测试站"][6] == 50.0
    assert by_label["合计"][1] == 3
    if (shots := screenshot_dir()) is not None:
        await page.screenshot(path=str(shots / "service-report.png"), full_page=True)

    await page.select_option("#service-by", "product_line")
    await page.wait_for_selector("#service-table tr td:text-is('服务测试客车')")
    await switch_to(page, "en")
    await page.wait_for_selector("#service-table tr td:text-is('Test coaches')")
    await assert_translated(page, "en")
    assert "SLA attainment" in (await page.text_content("#service-table thead") or "")
    async with page.expect_download() as info:
        await page.click("#service-dl-csv")
    table = list(csv.reader(io.StringIO(await downloaded(await info.value))))
    assert table[0][:2] == ["group", "tickets"]
    assert ["Test coaches", "3"] == table[1][:2] and table[-1][0] == "total"
    await browser.assert_clean()


async def test_a_manager_sees_his_customers_tickets_and_no_download(
    console: Console, browser: Browser, db: Db
) -> None:
    ids = await arrange(db)
    page = await browser.page()
    await sign_in(page, console, "wang.lei", expect="/records")  # reports read own only
    await open_section(page, console, "service")
    await loaded(page)
    await set_period(page)
    keys = await page.eval_on_selector_all("#service-table tbody tr",
                                           "els => els.map(e => e.dataset.key)")
    assert str(ids["zz"]) in keys and str(ids["sh"]) not in keys  # li.na's customer's
    assert await page.locator("#service-dl").count() == 0
    assert await page.locator("a[href*='format=xlsx']").count() == 0
    await assert_translated(page, "zh-CN")
    await browser.assert_clean()


async def test_the_stations_and_one_station(console: Console, browser: Browser, db: Db
                                            ) -> None:
    ids = await arrange(db)
    page = await browser.page()
    await sign_in(page, console, "zhao.min", expect="/live")
    await open_section(page, console, "stations")
    await loaded(page)
    row = page.locator("#stations-table tr[data-code='ZZ-901']")
    cells = await row.locator("td").all_text_contents()
    assert "郑州测试站" in cells[0] and "华中" in cells[1]
    assert cells[2:] == ["3 / 10", "1 / 2", "50%", "1"]  # open/capacity, duty, SLA, overdue
    if (shots := screenshot_dir()) is not None:
        await page.screenshot(path=str(shots / "stations.png"), full_page=True)
    hostile = page.locator("#stations-table tr[data-code='SH-902']")
    assert HOSTILE in (await hostile.text_content() or "")
    await assert_translated(page, "zh-CN")

    await row.locator("a").first.click()
    await page.wait_for_selector(f"#station-head[data-station-id='{ids['zz']}']")
    crew = await page.eval_on_selector_all("#station-crew tbody tr",
                                           "els => els.map(e => e.textContent)")
    assert "李师傅" in crew[0] and "电路" in crew[0] and "在岗" in crew[0]
    assert "休息" in crew[1]
    numbers = await page.eval_on_selector_all("#station-tickets tbody tr td.mono",
                                              "els => els.map(e => e.textContent)")
    assert numbers[0] == "T-SVC-8" and set(numbers) == {"T-SVC-8", "T-SVC-9", "T-SVC-10"}
    assert await page.get_attribute("#station-tickets tbody tr", "data-sla") == "breached"
    await assert_translated(page, "zh-CN")
    await switch_to(page, "en")
    await page.wait_for_selector("#station-head h2:has-text('Zhengzhou test station')")
    await assert_translated(page, "en")
    assert "On duty" in (await page.text_content("#station-crew") or "")
    if (shots := screenshot_dir()) is not None:
        await page.screenshot(path=str(shots / "station.png"), full_page=True)
    await page.click("#stations-back")
    await page.wait_for_selector("#stations-table tr[data-code='ZZ-901']")
    await assert_translated(page, "en")
    await browser.assert_clean()


async def test_an_agent_is_not_offered_the_reports(console: Console, browser: Browser) -> None:
    page = await browser.page()
    await sign_in(page, console, "alice")
    for section in ("service", "stations"):
        await open_section(page, console, section)
        await page.wait_for_selector("#bo-result[data-kind='error']")
        assert await page.is_hidden("#bo-content")
    await browser.assert_clean()
