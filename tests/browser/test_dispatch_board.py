"""The dispatch board in a real browser (issue 15 item 6), in both languages: the
hotline's supervisor sees open tickets most at risk first with their station and next
target, filters them, and a caller-supplied name shows as text. An agent is not
offered the board (dispatching is the desk's work)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from crm_core.models import Customer, ServiceStation, Technician, Ticket
from tests.browser.conftest import Browser, Console, sign_in
from tests.browser.test_backoffice import (
    HOSTILE,
    Db,
    assert_translated,
    loaded,
    open_section,
    switch_to,
)
from tests.browser.test_backoffice import db as db  # noqa: F401  (the fixture)

T0 = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)


async def arrange(db: Db) -> None:
    """A station with a technician; a hostile-named customer's overdue ticket, an at-risk
    one and an on-time one routed there; one that no station covers."""
    async with db.sessionmaker.begin() as s:
        station = ServiceStation(code="ZZ-001", name="郑州服务站", name_en="Zhengzhou station",
                                 province="河南", city="郑州", region="华中")
        customer = Customer(name=HOSTILE, province="河南", city="郑州")
        s.add_all([station, customer])
        await s.flush()
        tech = Technician(station_id=station.id, name="李师傅")
        s.add(tech)
        await s.flush()
        for n, state, hours, routed in (("9001", "ok", 30, True), ("9002", "breached", -2, True),
                                        ("9003", "warning", 1, True), ("9004", "ok", 5, False)):
            s.add(Ticket(number=f"T20261207-{n}", customer_id=customer.id, problem=f"故障 {n}",
                         status="new", sla_state=state,
                         station_id=station.id if routed else None,
                         technician_id=tech.id if routed else None,
                         route_flagged=not routed,
                         accept_due=T0 + timedelta(hours=hours)))


async def numbers(page: Any) -> list[str]:
    return list(await page.eval_on_selector_all(
        "#dispatch-table tbody tr td.mono", "els => els.map(e => e.textContent)"))


async def test_the_board_shows_the_most_at_risk_first_and_filters(
    console: Console, browser: Browser, db: Db
) -> None:
    await arrange(db)
    page = await browser.page()
    await sign_in(page, console, "zhao.min", expect="/live")  # works in Chinese
    await open_section(page, console, "dispatch")
    await loaded(page)
    ours = [n for n in await numbers(page) if n.startswith("T20261207-9")]
    assert ours == ["T20261207-9002", "T20261207-9003", "T20261207-9004", "T20261207-9001"]
    first = page.locator("#dispatch-table tbody tr").first
    assert await first.get_attribute("data-sla") == "breached"
    assert "已超时" in (await first.text_content() or "")
    row = page.locator("#dispatch-table tr:has-text('T20261207-9003')")
    assert HOSTILE in (await row.text_content() or "")  # the name as text
    assert "郑州服务站 · 李师傅" in (await row.text_content() or "")
    assert "区域中心" in (await page.locator(
        "#dispatch-table tr:has-text('T20261207-9004')").text_content() or "")
    await assert_translated(page, "zh-CN")

    await page.select_option("#dispatch-sla", "warning")
    await page.click("#dispatch-filters button[type='submit']")
    await page.wait_for_function(
        "() => [...document.querySelectorAll('#dispatch-table tbody tr')]"
        ".every(r => r.dataset.sla === 'warning')")
    assert "T20261207-9003" in await numbers(page)

    await switch_to(page, "en")
    await assert_translated(page, "en")
    assert "At risk" in (await page.text_content("#dispatch-table") or "")
    summary = await page.text_content("#dispatch-summary") or ""
    assert "open ticket(s)" in summary
    await browser.assert_clean()


async def test_an_agent_is_not_offered_the_board(console: Console, browser: Browser) -> None:
    page = await browser.page()
    await sign_in(page, console, "alice")
    await open_section(page, console, "dispatch")
    await page.wait_for_selector("#bo-result[data-kind='error']")
    assert await page.is_hidden("#bo-content")
    await browser.assert_clean()
