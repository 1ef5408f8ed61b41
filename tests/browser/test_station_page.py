"""The service station's page on a phone (issue 15 item 4), in headless Chromium against
the demo company, on SQLite and PostgreSQL: the station's login (zz.station) lands on
/station, sees its open tickets most urgent first with the facts a technician needs
(a hostile customer name shown as text), accepts, sets off, arrives, resolves with the
repair record and refuses with a reason, in Chinese and in English; the page fits the
phone's width."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from crm_core.db import make_engine
from crm_core.demo_data import DEMO_PASSWORD
from crm_core.models import (
    Asset,
    Customer,
    RepairRecord,
    ServiceStation,
    Ticket,
    TicketStatusChange,
)
from crm_core.permissions import SYSTEM
from crm_core.station_staff import link_to_station
from crm_core.ticket_moves import act, assign
from crm_core.tickets import create_ticket, move
from crm_core.users import create_user
from tests.browser.conftest import Browser, Console, screenshot_dir, sign_in

HOSTILE = '<img src=x onerror="alert(1)">郑州公交'


async def hostile_ticket(console: Console, serial: str) -> str:
    """A repair ticket of a customer with a hostile name, routed to BUS-ZHENGZHOU and due to be
    accepted first of all; its number."""
    engine = make_engine(console.db_url)
    try:
        async with async_sessionmaker(engine, expire_on_commit=False).begin() as db:
            customer = Customer(name=HOSTILE, province="河南", city="郑州",
                                address='大学路 <b>1</b> 号')
            db.add(customer)
            await db.flush()
            asset = Asset(customer_id=customer.id, model="ZK6122H", serial_number=serial)
            db.add(asset)
            await db.flush()
            made = await create_ticket(db, SYSTEM, customer.id, problem="刹车异响 <script>",
                                       asset_id=asset.id, category="repair", priority="urgent")
            ticket = await db.get(Ticket, made["id"])
            assert ticket is not None
            ticket.station_id = await db.scalar(
                select(ServiceStation.id).where(ServiceStation.code == "BUS-ZHENGZHOU"))
            ticket.technician_id = None  # the station assigns (routing's pick was elsewhere's)
            # before any demo ticket's (those have run since their routing): first of all
            ticket.accept_due = datetime.now(UTC) - timedelta(days=60)
            await move(db, SYSTEM, ticket, "routed", at=datetime.now(UTC), kind="route")
            return str(made["number"])
    finally:
        await engine.dispose()


async def station_code(console: Console, station_id: int) -> str | None:
    engine = make_engine(console.db_url)
    try:
        async with async_sessionmaker(engine)() as db:
            return await db.scalar(select(ServiceStation.code).where(
                ServiceStation.id == station_id))
    finally:
        await engine.dispose()


async def cancel(console: Console, number: str) -> None:
    engine = make_engine(console.db_url)
    try:
        async with async_sessionmaker(engine).begin() as db:
            tid = await db.scalar(select(Ticket.id).where(Ticket.number == number))
            assert tid is not None
            await act(db, SYSTEM, tid, "cancel")
    finally:
        await engine.dispose()


async def open_station(page: Any, console: Console, username: str = "zz.station") -> None:
    await sign_in(page, console, username, expect="/station")
    await page.wait_for_selector("body[data-loaded='1']")


def card(page: Any, number: str) -> Any:
    return page.locator(f"#st-list li.st-card[data-number='{number}']")


async def fits_the_screen(page: Any) -> bool:
    return bool(await page.evaluate(
        "() => document.documentElement.scrollWidth <= window.innerWidth"))


async def db_ticket(console: Console, number: str) -> tuple[Ticket, RepairRecord | None,
                                                              list[str]]:
    engine = make_engine(console.db_url)
    try:
        async with async_sessionmaker(engine)() as db:
            ticket = await db.scalar(select(Ticket).where(Ticket.number == number))
            assert ticket is not None
            record = await db.scalar(select(RepairRecord)
                                     .where(RepairRecord.ticket_id == ticket.id))
            kinds = list(await db.scalars(
                select(TicketStatusChange.kind).where(TicketStatusChange.ticket_id == ticket.id)
                .order_by(TicketStatusChange.id)))
            return ticket, record, kinds
    finally:
        await engine.dispose()


async def test_the_station_works_a_repair_on_a_phone_in_chinese(
    console_db: Console, browser: Browser
) -> None:
    console = console_db
    number = await hostile_ticket(console, "LZYT-H-0001")
    page = await browser.page(locale="zh-CN", phone=True)
    await open_station(page, console)
    assert await page.text_content("h1") == "待处理工单"  # zz.station reads Chinese
    assert "BUS-ZHENGZHOU" in (await page.text_content("#st-who") or "")
    first = page.locator("#st-list li.st-card").first
    assert await first.get_attribute("data-number") == number  # the most urgent first
    mine = card(page, number)
    assert await mine.locator(".st-customer").text_content() == HOSTILE
    assert await mine.locator(".st-address").text_content() == "河南 郑州 大学路 <b>1</b> 号"
    assert await mine.locator(".st-serial").text_content() == "LZYT-H-0001"
    assert await page.locator("#st-list img, #st-list b, #st-list script").count() == 0
    assert await mine.locator(".tag").first.text_content() == "已派站"
    assert await fits_the_screen(page)

    await mine.locator("button[data-action='accept']").click()
    await page.locator("#notices .notice-ok", has_text=f"{number}：已接单").wait_for()
    await mine.locator("button[data-action='on_the_way']").click()
    await page.locator("#notices .notice-ok", has_text="出发中").wait_for()
    await mine.locator("button[data-action='on_site']").click()
    await page.locator("#notices .notice-ok", has_text="已到场").wait_for()
    await mine.locator("button[data-action='resolve']").click()
    form = mine.locator("form.st-resolve")
    await form.wait_for()
    assert await fits_the_screen(page)
    # the record is required: an empty fault is refused with a clear error, nothing moves
    await form.locator("textarea[name='action']").fill("更换刹车片")
    await form.locator("button[type='submit']").click()
    await mine.locator(".result[data-kind='error']").wait_for()
    await form.locator("textarea[name='fault']").fill("前轮刹车片磨损异响")
    await form.locator("textarea[name='cause']").fill("刹车片到期")
    await form.locator(".part-name").fill("刹车片 ZK-BP12")
    await form.locator(".part-qty").fill("4")
    await form.locator("input[type='number'][step='0.01']").fill("1.5")
    await form.locator("input[id^='repair-serial_checked']").check()
    if (shots := screenshot_dir()) is not None:
        await page.screenshot(path=str(shots / "station-phone-zh.png"), full_page=False)
    await form.locator("button[type='submit']").click()
    await page.locator("#notices .notice-ok", has_text="已解决").wait_for()
    await mine.wait_for(state="detached")  # resolved: no longer open
    ticket, record, kinds = await db_ticket(console, number)
    assert ticket.status == "resolved" and ticket.arrived_at is not None
    assert record is not None and record.parts == [{"part": "刹车片 ZK-BP12", "qty": 4}]
    assert str(record.labour_hours) == "1.50" and record.serial_checked
    # routed at its birth (the rules and their technician, then the station named), the
    # moves, the record; the SLA clock's own rows apart
    assert [k for k in kinds if not k.startswith("sla-")] == [
        "status", "route", "assign", "route", "status", "status", "status", "repair",
        "status"]
    await browser.assert_clean()


async def test_the_station_refuses_and_assigns_in_english(
    console_db: Console, browser: Browser
) -> None:
    console = console_db
    number = await hostile_ticket(console, "LZYT-H-0002")
    stale = await hostile_ticket(console, "LZYT-H-0003")
    page = await browser.page(locale="en-US", phone=True)
    await open_station(page, console)
    await page.click("#lang-switch")
    await page.wait_for_function("() => document.documentElement.lang === 'en'")
    assert await page.text_content("h1") == "Open tickets"
    # cancelled by the desk while the page shows it: the move is refused, clearly
    await cancel(console, stale)
    await card(page, stale).locator("button[data-action='accept']").click()
    await page.locator("#notices .notice-error",
                       has_text="This step is not possible now.").wait_for()
    assert "cancelled" in (await card(page, stale).locator(".result").text_content() or "")
    mine = card(page, number)
    assert await mine.locator(".tag").first.text_content() == "Sent to station"
    assert await mine.locator("button[data-action='accept']").text_content() == "Accept"
    # a technician of the station takes it
    tech = mine.locator("select.st-tech")
    names = await tech.locator("option").all_text_contents()
    assert len(names) >= 2 and names[0] == "— nobody —"
    await tech.select_option(index=1)
    await mine.locator(".st-assign button").click()
    await page.locator("#notices .notice-ok", has_text=f"{number} assigned to").wait_for()
    # the history shows it, as text
    await mine.locator("details.st-history summary").click()
    # (the routing's own pick at the ticket's birth, then the station's)
    await mine.locator("details.st-history li", has_text="Technician").last.wait_for()
    # refusing needs a reason, then the ticket goes back to dispatch
    await mine.locator("button[data-action='refuse']").click()
    refuse = mine.locator("form.st-refuse")
    await refuse.locator("textarea").fill("No spare brake pads for this model")
    await refuse.locator("button[type='submit']").click()
    await page.locator("#notices .notice-ok", has_text="goes back to dispatch").wait_for()
    await mine.wait_for(state="detached")
    ticket, _, kinds = await db_ticket(console, number)
    # routed again at once, to a station that has not refused it
    assert ticket.status == "routed" and ticket.station_id is not None
    assert await station_code(console, ticket.station_id) != "BUS-ZHENGZHOU"
    # (and given to its technician when one on duty has the skills)
    after = [k for k in kinds if not k.startswith("sla-")]
    after = after[:-1] if after[-1] == "assign" else after
    assert after[-2:] == ["refusal", "route"]
    assert await fits_the_screen(page)
    if (shots := screenshot_dir()) is not None:
        await page.screenshot(path=str(shots / "station-phone-en.png"), full_page=False)
    await browser.assert_clean()


async def technician_of_zz(console: Console, ticket_number: str) -> None:
    """zz.tech, a technician of BUS-ZHENGZHOU who signs in, assigned ``ticket_number``."""
    engine = make_engine(console.db_url)
    try:
        async with async_sessionmaker(engine).begin() as db:
            made = await create_user(db, SYSTEM, username="zz.tech", display_name="赵师傅",
                                     role="technician", language="zh-CN",
                                     password_hash=PasswordHasher().hash(DEMO_PASSWORD))
            linked = await link_to_station(db, SYSTEM, made["id"], "BUS-ZHENGZHOU")
            tid = await db.scalar(select(Ticket.id).where(Ticket.number == ticket_number))
            assert tid is not None
            await act(db, SYSTEM, tid, "accept")
            await assign(db, SYSTEM, tid, linked["technician_id"])
    finally:
        await engine.dispose()


async def test_a_technician_sees_only_his_own_tickets(
    console_db: Console, browser: Browser
) -> None:
    console = console_db
    number = await hostile_ticket(console, "LZYT-H-0004")
    await technician_of_zz(console, number)
    page = await browser.page(locale="zh-CN", phone=True)
    await open_station(page, console, "zz.tech")
    assert [await c.get_attribute("data-number")
            for c in await page.locator("#st-list li.st-card").all()] == [number]
    assert (await page.text_content("#st-who") or "").startswith("派给您的工单")
    mine = card(page, number)
    assert await mine.locator("select.st-tech").count() == 0  # he assigns nobody
    await mine.locator("button[data-action='on_the_way']").click()
    await page.locator("#notices .notice-ok", has_text="出发中").wait_for()
    assert await fits_the_screen(page)
    await browser.assert_clean()
