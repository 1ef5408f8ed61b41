"""The service desk's ticket page in a real browser (issue 15 item 6), in both languages,
against the demo company: a hostile-named customer's repair ticket opened when routed
(its acceptance clock running), again once refused and routed anew (the refusal and its
reason in the timeline, in order), and once resolved (the repair record, the clocks met);
the hotline's supervisor re-routes it with a reason and adds a note from the page; the
dispatch board and the customer's 360 page link to it; a role without ``tickets:read``
is told plainly that the page is not for it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select

from crm_core import ticket_moves
from crm_core.models import Asset, Customer, ServiceStation, Ticket, User
from crm_core.permissions import SYSTEM
from crm_core.tickets import create_ticket
from tests.browser.conftest import Browser, Console, screenshot_dir, sign_in
from tests.browser.test_backoffice import Db, loaded, switch_to
from tests.browser.test_backoffice import assert_translated as translated_page
from tests.browser.test_backoffice import db as db  # noqa: F401  (the fixture)
from tests.integration.test_api_support import role_with_grants

HOSTILE = '<img src=x onerror=alert(1)>郑州公交'
FAULT = "前轮刹车片磨损 <b>x</b>"


@pytest.fixture
async def both_db(console_db: Console) -> AsyncIterator[Db]:
    """The database of ``console_db`` (the app on SQLite and on PostgreSQL)."""
    handle = Db(console_db.db_url)
    yield handle
    await handle.engine.dispose()


async def routed_ticket(db: Db, serial: str) -> tuple[int, str, int]:
    """A repair ticket of a hostile-named customer in 郑州, routed by the rules where it is
    born; (id, number, customer id)."""
    async with db.sessionmaker.begin() as s:
        customer = Customer(name=HOSTILE, province="河南", city="郑州", address="大学路 1 号")
        s.add(customer)
        await s.flush()
        asset = Asset(customer_id=customer.id, model="ZK6122H", serial_number=serial)
        s.add(asset)
        await s.flush()
        made = await create_ticket(s, SYSTEM, customer.id, problem="刹车异响 <script>x</script>",
                                   asset_id=asset.id, category="repair", priority="high")
        return int(made["id"]), str(made["number"]), customer.id


async def refuse(db: Db, tid: int) -> None:
    async with db.sessionmaker.begin() as s:
        await ticket_moves.refuse(s, SYSTEM, tid, "缺少专用工装 <i>x</i>")


async def resolve(db: Db, tid: int) -> None:
    async with db.sessionmaker.begin() as s:
        await ticket_moves.act(s, SYSTEM, tid, "accept")
        await ticket_moves.act(s, SYSTEM, tid, "on_site")
        await ticket_moves.resolve(s, SYSTEM, tid, {
            "fault": FAULT, "cause": "到期", "action": "更换刹车片",
            "parts": [{"part": "刹车片 ZK-BP12", "qty": 4}, {"part": "螺栓", "qty": 8}],
            "labour_hours": "1.5", "serial_checked": True})


async def open_ticket(page: Any, console: Console, tid: int) -> None:
    await page.goto(f"{console.base}/backoffice/ticket?id={tid}")
    await loaded(page)


async def kinds(page: Any) -> list[str]:
    return list(await page.eval_on_selector_all(
        "#tp-entries li", "els => els.map(e => e.dataset.kind)"))


async def clock(page: Any, target: str) -> str | None:
    return await page.get_attribute(f"#tp-clocks tr[data-target='{target}']", "data-state")


def moves(found: list[str]) -> list[str]:
    """The timeline's kinds without the SLA clock's own rows, the messages and the
    technicians routing assigns (whether one qualifies is the demo network's affair)."""
    return [k for k in found if not k.startswith("sla-") and k not in ("message", "assign")]


async def assert_translated(page: Any, lang: str) -> None:
    """The page in ``lang`` with no label key showing, the notifications' recipients aside:
    they are data (an address like ``x@service.example.cn`` reads like a label key). An
    observer hides them as they come: a redraw (the reload after a move) makes new ones.
    (The page's CSP allows no inline style, so no style rule.)"""
    await page.evaluate("""() => {
        const hide = () => document.querySelectorAll('.tp-recipient')
            .forEach(e => { e.hidden = true; });
        hide();
        window.__hideRecipients = new MutationObserver(hide);
        window.__hideRecipients.observe(document.body, { childList: true, subtree: true });
    }""")
    try:
        await translated_page(page, lang)
    finally:
        await page.evaluate("""() => {
            window.__hideRecipients?.disconnect();
            document.querySelectorAll('.tp-recipient').forEach(e => { e.hidden = false; });
        }""")


async def assert_text_only(page: Any) -> None:
    assert await page.locator("#bo-content img, #bo-content script, #bo-content b, "
                              "#bo-content i").count() == 0


async def test_a_ticket_from_routing_to_repair_in_chinese(
    console_db: Console, browser: Browser, both_db: Db
) -> None:
    console, db = console_db, both_db
    tid, number, customer_id = await routed_ticket(db, "LZYT-TP-0001")
    page = await browser.page(locale="zh-CN")
    await sign_in(page, console, "zhao.min", expect="/live")  # reads Chinese
    await open_ticket(page, console, tid)
    assert await page.text_content("#tp-heading") is not None
    assert number in (await page.text_content("#tp-heading") or "")
    assert await page.text_content("#tp-customer a") == HOSTILE
    assert await page.get_attribute("#tp-customer a", "href") == f"/records/{customer_id}"
    assert await page.text_content("#tp-serial") == "LZYT-TP-0001"
    assert await page.text_content("#tp-problem") == "刹车异响 <script>x</script>"
    assert (await page.text_content("#tp-route-reason") or "").strip() != "—"
    assert await clock(page, "accept") == "running"
    assert "剩余" in (await page.text_content("#tp-clocks tr[data-target='accept']") or "")
    assert moves(await kinds(page)) == ["status", "route"]
    assert (await kinds(page))[:3] == ["status", "route", "assign"]  # a technician of it
    await assert_text_only(page)
    await assert_translated(page, "zh-CN")

    # refused by the station: routed again at once, the reason in the timeline, in order
    first_station = await page.text_content("#tp-station")
    await refuse(db, tid)
    await open_ticket(page, console, tid)
    assert moves(await kinds(page)) == ["status", "route", "refusal", "route"]
    refusal = page.locator("#tp-entries li[data-kind='refusal']")
    assert await refusal.locator(".tp-note").text_content() == "缺少专用工装 <i>x</i>"
    assert "拒单" in (await refusal.text_content() or "")
    assert await page.text_content("#tp-station") != first_station or await page.is_visible(
        "#tp-route .tag.warn")
    await assert_text_only(page)

    # resolved: the repair record, every clock met
    await resolve(db, tid)
    await open_ticket(page, console, tid)
    assert moves(await kinds(page)) == [
        "status", "route", "refusal", "route", "status", "status", "repair", "status"]
    assert await page.text_content("#tp-fault") == FAULT
    assert await page.eval_on_selector_all("#tp-parts li", "els => els.map(e => e.textContent)"
                                           ) == ["刹车片 ZK-BP12 × 4", "螺栓 × 8"]
    assert await page.text_content("#tp-hours") == "1.50"
    assert await page.text_content("#tp-serial-checked") == "是"
    assert await page.text_content("#tp-first-fix") == "是"
    assert await clock(page, "accept") == "met" and await clock(page, "resolve") == "met"
    assert "已达成" in (await page.text_content("#tp-clocks") or "")
    assert "提前" in (await page.text_content("#tp-clocks tr[data-target='resolve']") or "")
    if (shots := screenshot_dir()) is not None:
        await page.screenshot(path=str(shots / "ticket-page-zh.png"), full_page=True)
    assert await page.is_hidden("#tp-reroute") or await page.locator("#tp-reroute").count() == 0
    await assert_text_only(page)
    await assert_translated(page, "zh-CN")
    await browser.assert_clean()


async def test_reroute_and_note_from_the_page_in_english(
    console: Console, browser: Browser, db: Db
) -> None:
    tid, number, customer_id = await routed_ticket(db, "LZYT-TP-0002")
    page = await browser.page(locale="en-US")
    await sign_in(page, console, "zhao.min", expect="/live")
    # from the dispatch board's row to the ticket's page
    await page.goto(f"{console.base}/backoffice/dispatch")
    await loaded(page)
    await switch_to(page, "en")
    await page.click(f"#dispatch-table a.ticket-link:text-is('{number}')")
    await page.wait_for_url(f"**/backoffice/ticket?id={tid}")
    await loaded(page)
    await assert_translated(page, "en")
    assert (await page.text_content("#tp-heading") or "").startswith(f"Ticket {number}")
    assert await clock(page, "accept") == "running"
    assert "left" in (await page.text_content("#tp-clocks tr[data-target='accept']") or "")
    # re-routed by hand: a reason is required, then the timeline says who and why
    other = await db.scalar(select(ServiceStation).where(ServiceStation.code == "BUS-ZHENGZHOU"))
    assert other is not None
    current = await db.scalar(select(Ticket.station_id).where(Ticket.id == tid))
    if current == other.id:
        other = await db.scalar(select(ServiceStation).where(
            ServiceStation.id != current, ServiceStation.active).limit(1))
    await page.select_option("#tp-station-pick", str(other.id))
    await page.click("#tp-reroute button[type='submit']")
    await page.locator("#tp-reroute .result[data-kind='error']").wait_for()
    await page.fill("#tp-reroute-reason", "Customer asks for <b>this</b> station")
    await page.click("#tp-reroute button[type='submit']")
    await page.locator("#notices .notice-ok", has_text=f"Ticket {number} re-routed.").wait_for()
    await page.locator("#tp-entries li[data-kind='override']").wait_for()
    override = page.locator("#tp-entries li[data-kind='override']")
    assert "赵敏" in (await override.text_content() or "")
    assert await page.text_content("#tp-route-override") is not None
    assert "Customer asks for <b>this</b> station" in (
        await page.text_content("#tp-route-override") or "")
    assert await db.scalar(select(Ticket.station_id).where(Ticket.id == tid)) == other.id
    # a note, last in the timeline
    await page.fill("#tp-note", "Called back <img src=x onerror=alert(2)>")
    await page.click("#tp-note-form button[type='submit']")
    await page.locator("#tp-entries li[data-kind='note']").wait_for()
    assert (await kinds(page))[-1] in ("note", "message")
    assert await page.locator("#tp-entries li[data-kind='note'] .tp-note").text_content() == (
        "Called back <img src=x onerror=alert(2)>")
    assert moves(await kinds(page)) == ["status", "route", "override", "note"]
    await assert_text_only(page)
    # the customer's 360 page links the ticket here too
    await page.goto(f"{console.base}/records/{customer_id}")
    await loaded(page)
    await page.click(f"#record-tickets a.ticket-link:text-is('{number}')")
    await page.wait_for_url(f"**/backoffice/ticket?id={tid}")
    await loaded(page)
    await browser.assert_clean()


async def test_a_role_without_the_grant_is_refused_plainly(
    console: Console, browser: Browser, db: Db
) -> None:
    tid, _, _ = await routed_ticket(db, "LZYT-TP-0003")
    async with db.sessionmaker.begin() as s:
        role = await role_with_grants(s, "reporter", {("reports", "read"): "all"})
        agent = await s.scalar(select(User).where(User.username == "alice"))
        assert agent is not None
        s.add(User(username="reporter", display_name="报表员", role_id=role, language="en",
                   password_hash=agent.password_hash, active=True))
    page = await browser.page(locale="en-US")
    await sign_in(page, console, "reporter", expect="/records")
    await page.goto(f"{console.base}/backoffice/ticket?id={tid}")
    await page.wait_for_selector("#bo-result[data-kind='error']")
    assert "does not allow this page" in (await page.text_content("#bo-result") or "")
    assert await page.is_hidden("#bo-content")
    await switch_to(page, "zh-CN")
    await page.goto(f"{console.base}/backoffice/ticket?id={tid}")
    await page.wait_for_selector("#bo-result[data-kind='error']")
    assert "角色" in (await page.text_content("#bo-result") or "")
    await assert_translated(page, "zh-CN")
    await browser.assert_clean()
