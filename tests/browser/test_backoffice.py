"""The back office in a real browser (issue 14 item 11), each page in both languages:
one language does the page's whole job (what the database holds after is checked),
the other renders with every label translated. Names are hostile: they must show as
text, never run (a dialog or an uncaught error fails every test: Browser.assert_clean).

Pages: the hub, the IVR (number plan, what a call runs, flows with the dry run and a
new version), reminders, the shared pool, a leaver's customers, merging duplicates,
importing a file (progress to 100 %, the error report) and the exports."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import async_sessionmaker

from agent_console import pages
from crm_core.db import make_engine
from crm_core.models import (
    CallbackRequest,
    Customer,
    IvrFlow,
    IvrNumber,
    Opportunity,
    Subscription,
    User,
)
from crm_core.names import name_key
from crm_core.reminders import business_today
from tests.browser.conftest import Browser, Console, sign_in
from tests.browser.test_page_routes import signed_in, where

HOSTILE = '<img src=x onerror="alert(1)">'
DICTIONARIES = pages.CONSOLE_DIR / "i18n"
# the first part of every label key: a label missing from a dictionary shows as its key
GROUPS = sorted({key.split(".")[0] for key in json.loads(
    (DICTIONARIES / "en.json").read_text("utf-8"))})
RAW_KEY = re.compile(r"\b(?:" + "|".join(map(re.escape, GROUPS)) + r")\.[a-z_][a-z_.\-0-9]*")


class Db:
    """The app's database, for arranging data and checking what the pages did."""

    def __init__(self, url: str) -> None:
        self.engine = make_engine(url)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)

    async def scalar(self, stmt: Any) -> Any:
        async with self.sessionmaker() as db:
            return await db.scalar(stmt)

    async def run(self, *stmts: Any) -> None:
        async with self.sessionmaker.begin() as db:
            for stmt in stmts:
                await db.execute(stmt)

    async def user_id(self, username: str) -> int:
        return int(await self.scalar(select(User.id).where(User.username == username)))


@pytest.fixture
async def db(console: Console) -> Any:
    handle = Db(console.db_url)
    yield handle
    await handle.engine.dispose()


async def open_section(page: Any, console: Console, section: str) -> None:
    await page.goto(f"{console.base}/backoffice/{section}")
    await page.wait_for_selector("body[data-ready='1']")


async def loaded(page: Any) -> None:
    await page.wait_for_selector("body[data-loaded='1']")


async def switch_to(page: Any, lang: str) -> None:
    if await page.evaluate("document.documentElement.lang") != lang:
        await page.click("#lang-switch")
        await page.wait_for_function(f"() => document.documentElement.lang === '{lang}'")


async def downloaded(download: Any) -> str:
    """The text of a CSV file the page downloaded."""
    data = await asyncio.to_thread(Path(await download.path()).read_bytes)
    return data.decode("utf-8-sig")


async def assert_translated(page: Any, lang: str) -> None:
    """The page speaks ``lang`` and shows no label key nor an unfilled {placeholder}."""
    assert await page.evaluate("document.documentElement.lang") == lang
    text = await page.evaluate("document.body.innerText + '\\n' + document.title")
    assert not RAW_KEY.findall(text), RAW_KEY.findall(text)
    assert not re.findall(r"\{[a-z_]+\}", text)
    has_chinese = bool(re.search(r"[\u4e00-\u9fff]", await page.text_content("h1") or ""))
    assert has_chinese == (lang == "zh-CN"), await page.text_content("h1")


# --- the routes -------------------------------------------------------------------------------

async def test_back_office_pages_need_a_session_and_exist(console: Console) -> None:
    base = console.base
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        for path in ("/backoffice", "/backoffice/imports"):
            status, location = await where(http, base + path)
            assert status == 302 and location.startswith("/login?next=")
            assert parse_qs(urlsplit(location).query)["next"] == [path]
        await signed_in(http, base, "alice")
        # every section's page is served; what the role may not use, the page says
        for path in ("/backoffice", *(f"/backoffice/{name}" for name in pages.SECTIONS)):
            assert (await where(http, base + path))[0] == 200, path
        for path in ("/backoffice/nothing", "/backoffice/IVR", "/backoffice/ivr/1"):
            assert (await where(http, base + path))[0] == 404, path
        # back to the section after signing in
        assert await where(http, f"{base}/login?next=/backoffice/pool") == (
            302, "/backoffice/pool")
    assert pages._safe_next("/backoffice/imports?job=" + "0" * 32) is not None
    assert pages._safe_next("/backoffice/../api") is None


# --- the hub: only what the grants allow ------------------------------------------------------

async def test_hub_lists_only_the_sections_a_role_allows(console: Console, browser: Browser
                                                          ) -> None:
    page = await browser.page()
    await sign_in(page, console, "alice")  # an agent (English): reads the IVR, reminders
    await page.click("a[href='/backoffice']")
    await page.wait_for_selector("#bo-sections")
    shown = await page.eval_on_selector_all("#bo-sections li",
                                            "els => els.map(e => e.dataset.section)")
    # the call lists she works (issue 17); the orders and their batches she answers
    # callers about (issue 18: agents read orders)
    assert shown == ["ivr", "reminders", "calllists", "orders", "batches"]
    assert await page.eval_on_selector_all("#bo-menu a", "els => els.map(e => e.id)") == [
        "bo-menu-home", "bo-menu-ivr", "bo-menu-reminders", "bo-menu-calllists",
        "bo-menu-orders", "bo-menu-batches"]
    await assert_translated(page, "en")
    # a page the role does not allow says so, and shows nothing of it
    await open_section(page, console, "imports")
    await page.wait_for_selector("#bo-result[data-kind='error']")
    assert await page.is_hidden("#bo-content")
    assert "not allow" in (await page.text_content("#bo-result") or "")

    admin = await browser.page()
    await sign_in(admin, console, "admin", expect="/records")  # Chinese
    await admin.goto(f"{console.base}/backoffice")
    await admin.wait_for_selector("#bo-sections")
    assert await admin.locator("#bo-sections li").count() == len(pages.SECTIONS)
    await assert_translated(admin, "zh-CN")
    await browser.assert_clean()


# --- IVR ------------------------------------------------------------------------------------

async def test_ivr_plan_and_a_flow_checked_then_saved(console: Console, browser: Browser,
                                                      db: Db) -> None:
    page = await browser.page()
    await sign_in(page, console, "admin", expect="/records")
    await open_section(page, console, "ivr")
    await loaded(page)
    await switch_to(page, "en")
    await page.wait_for_selector("#ivr-plan tr[data-number='4008001234']")
    # the number as people read it, E.164 on hover (issue 14 item 8)
    number = page.locator("#ivr-plan tr[data-number='4008001234'] td.phone")
    assert await number.text_content() == "400 800 1234"
    assert await number.get_attribute("title") == "+864008001234"
    assert "400 number" in (await page.text_content("#ivr-plan tr[data-number='4008001234']")
                            or "")
    await assert_translated(page, "en")

    # a legacy number, its label hostile: shown as text
    await page.fill("#ivr-new-number", "021-5888 1234")
    await page.select_option("#ivr-new-kind", "legacy")
    await page.fill("#ivr-new-label", HOSTILE)
    await page.fill("#ivr-new-queue", "support")
    await page.click("#ivr-new-form button[type=submit]")
    row = page.locator("#ivr-plan tr[data-number='02158881234']")
    await row.wait_for()
    assert HOSTILE in (await row.text_content() or "")
    # switched off
    await row.locator("button[data-role=edit]").click()
    await page.uncheck("#ivr-edit-active")
    await page.click("#ivr-edit-form button[type=submit]")
    await page.wait_for_selector("#ivr-plan tr[data-number='02158881234'] .tag.warn")
    assert await db.scalar(select(IvrNumber.active).where(IvrNumber.number == "02158881234")
                           ) is False

    # what a call to the 400 number runs, written another way
    await page.fill("#ivr-resolve-number", "+86 400-800-1234")
    await page.click("#ivr-resolve-form button[type=submit]")
    await page.wait_for_selector("#ivr-resolve-result[data-kind='ok']")
    assert "flow default version 1" in (await page.text_content("#ivr-resolve-result") or "")

    # the default flow: its steps, then a broken edit caught by the dry run
    await page.click("#ivr-flow-list tr[data-flow='default'] button[data-role=open]")
    await page.wait_for_selector("#ivr-steps tr[data-step='main_menu']")
    assert "Menu" in (await page.text_content("#ivr-steps tr[data-step='main_menu']") or "")
    doc = json.loads(await page.input_value("#ivr-document"))
    doc["steps"]["main_menu"]["choices"]["5"] = "nowhere"
    await page.fill("#ivr-document", json.dumps(doc, ensure_ascii=False))
    await page.click("#ivr-check")
    await page.wait_for_selector("#ivr-editor-result[data-kind='error']")
    problem = page.locator("#ivr-problems li[data-step='main_menu']")
    assert "nowhere" in (await problem.first.text_content() or "")
    assert await page.locator("#ivr-steps tr.bo-faulty[data-step='main_menu']").count() == 1
    # saving it anyway is refused, with the same problem at its step
    await page.click("#ivr-save")
    await page.wait_for_selector("#ivr-editor-result:has-text('Not saved')")
    assert await page.locator("#ivr-problems li[data-step='main_menu']").count() >= 1
    assert await db.scalar(select(func.count()).select_from(IvrFlow)) == 1

    # fixed: the dry run passes and says which version a save would make; nothing saved
    doc["steps"]["main_menu"]["choices"]["5"] = "callback"
    await page.fill("#ivr-document", json.dumps(doc, ensure_ascii=False))
    await page.fill("#ivr-save-name", "printers")
    await page.click("#ivr-check")
    await page.wait_for_selector("#ivr-editor-result[data-kind='ok']")
    assert "version 1" in (await page.text_content("#ivr-editor-result") or "")
    assert await page.locator("#ivr-problems").count() == 0
    assert await db.scalar(select(func.count()).select_from(IvrFlow)) == 1
    # a call walked through the draft, not saved yet: key 5 books a callback, rolled back
    await page.fill("#ivr-try-caller", "13912345678")
    await page.fill("#ivr-try-keys", "5")
    await page.fill("#ivr-try-at", "2026-11-25T10:00")  # a Wednesday morning: open
    await page.select_option("#ivr-try-lang", "en")
    await page.click("#ivr-try-go")
    await page.wait_for_selector("#ivr-try-trace")
    trace = await page.text_content("#ivr-try-trace") or ""
    assert "For ticket status press 1" in trace and "self-service callback" in trace
    assert "rolled back" in trace
    assert "printers@1" in (await page.text_content("#ivr-try-result") or "")
    assert await db.scalar(select(func.count()).select_from(CallbackRequest)) == 0
    assert await db.scalar(select(func.count()).select_from(IvrFlow)) == 1
    # saved as a new flow, with its comment
    await page.fill("#ivr-comment", "key 5: callback")
    await page.click("#ivr-save")
    await page.wait_for_selector("#ivr-editor-title:has-text('printers')")
    saved = await db.scalar(select(IvrFlow).where(IvrFlow.name == "printers"))
    assert saved.version == 1 and saved.comment == "key 5: callback"
    assert saved.document["steps"]["main_menu"]["choices"]["5"] == "callback"
    await page.wait_for_selector("#ivr-flow-list tr[data-flow='printers']")

    # the legacy number taken out of the plan, after a confirmation
    row = page.locator("#ivr-plan tr[data-number='02158881234']")
    await row.locator("button[data-role=remove]").click()
    await page.click("#ivr-remove-confirm button[data-role=confirm]")
    await row.wait_for(state="detached")
    assert await db.scalar(select(IvrNumber.id).where(IvrNumber.number == "02158881234")
                           ) is None
    await browser.assert_clean()


async def test_ivr_read_only_for_an_agent_in_chinese(console: Console, browser: Browser
                                                     ) -> None:
    page = await browser.page(locale="zh-CN")
    await sign_in(page, console, "bob")  # an agent whose language is Chinese
    await open_section(page, console, "ivr")
    await loaded(page)
    await page.wait_for_selector("#ivr-plan tr[data-number='8008001234']")
    assert await page.locator("#ivr-new-form").count() == 0
    assert await page.locator("#ivr-plan button").count() == 0
    await page.click("#ivr-flow-list tr[data-flow='default'] button[data-role=open]")
    await page.wait_for_selector("#ivr-steps tr[data-step='welcome']")
    assert await page.locator("#ivr-save").count() == 0
    assert await page.locator("#ivr-try").count() == 0  # a trial call is for who edits
    assert await page.get_attribute("#ivr-document", "readonly") is not None
    await page.click("#ivr-check")  # a dry run is a read: an agent may run it
    await page.wait_for_selector("#ivr-editor-result[data-kind='ok']")
    await assert_translated(page, "zh-CN")
    await browser.assert_clean()


# --- reminders ----------------------------------------------------------------------------

async def test_reminders_due_today_and_soon(console: Console, browser: Browser, db: Db
                                            ) -> None:
    sub_id = await db.scalar(select(Subscription.id).join(
        Customer, Customer.id == Subscription.customer_id).where(
        Customer.name == "华东医药包装有限公司"))
    customer_id = await db.scalar(select(Customer.id).where(
        Customer.name == "华东医药包装有限公司"))
    await db.run(
        update(Subscription).where(Subscription.id == sub_id).values(
            end_date=business_today(), status="active"),
        update(Customer).where(Customer.id == customer_id).values(
            name=f"{HOSTILE}华东医药包装有限公司"))
    page = await browser.page()
    await sign_in(page, console, "admin", expect="/records")  # every customer's reminders
    await open_section(page, console, "reminders")
    await loaded(page)
    await switch_to(page, "zh-CN")
    today = page.locator(f"#reminders-today-table tr[data-id='{sub_id}']")
    await today.wait_for()
    assert HOSTILE in (await today.text_content() or "")
    assert "今天" in (await today.text_content() or "")
    soon_7 = await page.locator("#reminders-soon-table tbody tr").count()
    await page.select_option("#reminders-within", "30")
    await page.wait_for_function(
        f"() => document.querySelectorAll('#reminders-soon-table tbody tr').length > {soon_7}")
    # each opens the customer's record
    await today.locator("a").click()
    await page.wait_for_url(f"**/records/{customer_id}")
    await assert_translated_later(page, console, "reminders", "zh-CN")
    other = await browser.page()
    await sign_in(other, console, "alice")  # English; an agent owns no customer
    await open_section(other, console, "reminders")
    await loaded(other)
    await other.wait_for_selector("#reminders-today")
    await assert_translated(other, "en")
    await browser.assert_clean()


async def assert_translated_later(page: Any, console: Console, section: str, lang: str
                                  ) -> None:
    await open_section(page, console, section)
    await loaded(page)
    await assert_translated(page, lang)


# --- the shared pool ------------------------------------------------------------------------

async def test_pool_claim_in_chinese_and_assign_in_english(console: Console, browser: Browser,
                                                           db: Db) -> None:
    pooled = await db.scalar(select(Customer.id).where(
        Customer.owner_id.is_(None), Customer.merged_into_id.is_(None)).order_by(Customer.id))
    assert pooled is not None
    await db.run(update(Customer).where(Customer.id == pooled).values(name=HOSTILE))
    wang = await db.user_id("wang.lei")
    page = await browser.page()
    await sign_in(page, console, "wang.lei", expect="/records")  # a manager, Chinese
    await open_section(page, console, "pool")
    await loaded(page)
    row = page.locator(f"#pool-table tr[data-customer-id='{pooled}']")
    await row.wait_for()
    assert HOSTILE in (await row.text_content() or "")
    assert await row.locator("button[data-role=assign]").count() == 0  # may not hand out
    await assert_translated(page, "zh-CN")
    await row.locator("button[data-role=claim]").click()
    await row.wait_for(state="detached")
    assert await db.scalar(select(Customer.owner_id).where(Customer.id == pooled)) == wang

    # an admin hands one to a colleague (English)
    other = await db.scalar(select(Customer.id).where(
        Customer.owner_id.is_(None), Customer.merged_into_id.is_(None)).order_by(Customer.id))
    if other is None:
        await db.run(update(Customer).where(Customer.id == pooled).values(owner_id=None))
        other = pooled
    li = await db.user_id("li.na")
    admin = await browser.page()
    await sign_in(admin, console, "admin", expect="/records")
    await open_section(admin, console, "pool")
    await loaded(admin)
    await switch_to(admin, "en")
    row = admin.locator(f"#pool-table tr[data-customer-id='{other}']")
    await row.wait_for()
    await assert_translated(admin, "en")
    await row.locator("select").select_option(str(li))
    await row.locator("button[data-role=assign]").click()
    await row.wait_for(state="detached")
    assert await db.scalar(select(Customer.owner_id).where(Customer.id == other)) == li
    await browser.assert_clean()


# --- a leaver's customers --------------------------------------------------------------------

async def test_reassign_a_leavers_customers(console: Console, browser: Browser, db: Db
                                            ) -> None:
    li, wang = await db.user_id("li.na"), await db.user_id("wang.lei")
    owned = await db.scalar(select(func.count()).select_from(Customer).where(
        Customer.owner_id == li))
    assert owned > 0
    page = await browser.page()
    await sign_in(page, console, "admin", expect="/records")
    await open_section(page, console, "reassign")
    await loaded(page)
    await switch_to(page, "en")
    await page.select_option("#reassign-from", str(li))
    assert f"{owned} customer(s)" in (await page.text_content(
        f"#reassign-from option[value='{li}']") or "")
    await page.select_option("#reassign-to", str(wang))
    await assert_translated(page, "en")
    await page.click("#reassign-go")
    await page.click("#reassign-confirm button[data-role=confirm]")
    await page.wait_for_selector("#reassign-done")
    assert f"{owned} customer(s)" in (await page.text_content("#reassign-done") or "")
    assert await db.scalar(select(func.count()).select_from(Customer).where(
        Customer.owner_id == li)) == 0
    assert await db.scalar(select(func.count()).select_from(Opportunity).where(
        Opportunity.owner_id == li, Opportunity.stage.in_(("lead", "qualified", "proposal")))
    ) == 0

    other = await browser.page()
    await sign_in(other, console, "admin", expect="/records")
    await switch_to(other, "zh-CN")
    await open_section(other, console, "reassign")
    await loaded(other)
    assert await other.locator("#reassign-from option").count() > 1
    await assert_translated(other, "zh-CN")
    await browser.assert_clean()


# --- merging duplicates ------------------------------------------------------------------------

async def test_merge_a_duplicate_pair(console: Console, browser: Browser, db: Db) -> None:
    wang = await db.user_id("wang.lei")
    kept = await db.scalar(select(Customer.id).where(Customer.name == "华东医药包装有限公司"))
    async with db.sessionmaker.begin() as session:
        twin = Customer(name=f"華東醫藥包裝有限公司{HOSTILE}", owner_id=wang, province="上海",
                        name_key=name_key("华东医药包装有限公司"))
        session.add(twin)
        await session.flush()
        twin_id = twin.id
    page = await browser.page()
    await sign_in(page, console, "admin", expect="/records")  # Chinese
    await open_section(page, console, "merge")
    await loaded(page)
    card = page.locator(f"#merge-pairs li[data-a='{kept}'][data-b='{twin_id}']")
    await card.wait_for()
    assert HOSTILE in (await card.text_content() or "")
    await assert_translated(page, "zh-CN")
    await card.locator("[data-side=a] button[data-role=keep]").click()
    await card.locator("#merge-confirm button[data-role=confirm]").click()
    await card.wait_for(state="detached")
    assert await db.scalar(select(Customer.merged_into_id).where(Customer.id == twin_id)) == kept

    other = await browser.page()
    await sign_in(other, console, "wang.lei", expect="/records")
    await open_section(other, console, "merge")
    await loaded(other)
    await switch_to(other, "en")
    await other.wait_for_selector("#merge-summary")
    await assert_translated(other, "en")
    await browser.assert_clean()


# --- importing a file -------------------------------------------------------------------------

IMPORT_CSV = (
    "客户名称,电话,省份,VIP等级\n"
    "苏州新华书店有限公司,0512-6522 1234,江苏,2\n"
    "杭州客运,<img src=x onerror=alert(1)>,浙江,1\n"   # row 3: the phone, hostile
    "南京长江印务有限公司,025-8471 9000,江苏,白金卡?\n"  # row 4: the VIP tier
    "无锡太湖包装有限公司,0510-8271 6000,江苏,0\n"
)


async def test_import_a_file_with_bad_rows(console_db: Console, browser: Browser,
                                           tmp_path: Path) -> None:
    """On SQLite and PostgreSQL: the job's record lives in the database's shared store."""
    console = console_db
    db = Db(console.db_url)
    try:
        await import_with_bad_rows(console, browser, db, tmp_path)
    finally:
        await db.engine.dispose()


async def import_with_bad_rows(console: Console, browser: Browser, db: Db, tmp_path: Path
                               ) -> None:
    upload = tmp_path / "客户名单.csv"
    upload.write_bytes(IMPORT_CSV.encode("gb18030"))  # as Excel in China saves it
    page = await browser.page()
    await sign_in(page, console, "admin", expect="/records")
    await open_section(page, console, "imports")
    await loaded(page)
    await switch_to(page, "en")
    await assert_translated(page, "en")
    await page.set_input_files("#import-file", str(upload))
    await page.click("#import-go")
    await page.wait_for_selector("#import-state[data-state='done']")
    assert await page.get_attribute("#import-progress-text", "data-percent") == "100"
    assert await page.evaluate("document.querySelector('#import-progress').value") == 100
    assert "4 of 4 rows (100 %)" in (await page.text_content("#import-progress-text") or "")
    assert await page.text_content("#import-stats [data-stat=customers]") == "2"
    assert await page.text_content("#import-stats [data-stat=errors]") == "2"
    rows = await page.eval_on_selector_all("#import-issues tbody tr",
                                           "els => els.map(e => e.dataset.row)")
    assert rows == ["3", "4"]
    assert "<img src=x onerror=alert(1)>" in (await page.text_content("#import-issues") or "")
    assert "not a valid phone number" in (await page.text_content("#import-issues") or "")
    await assert_translated(page, "en")
    # the same job on the Chinese page: the problems and notes in Chinese, no English text
    await switch_to(page, "zh-CN")
    problems = await page.eval_on_selector_all(
        "#import-issues tbody tr td:last-child", "els => els.map(e => e.textContent)")
    assert problems == ["不是有效的电话号码", "VIP 等级应为 0-5（或 普通/银卡/金卡/钻石）"]
    notes = await page.eval_on_selector_all("#import-notes li",
                                            "els => els.map(e => e.textContent)")
    assert notes == ["客户名单.csv：编码 gb18030"]
    assert "VIP tier" not in (await page.text_content("#import-job") or "")
    async with page.expect_download() as info:
        await page.click("#import-report-csv")
    zh_report = list(csv.reader(io.StringIO(await downloaded(await info.value))))
    assert zh_report[0][:2] == ["工作表/文件", "行号"] and zh_report[1][4] == "不是有效的电话号码"
    await switch_to(page, "en")
    async with page.expect_download() as info:
        await page.click("#import-report-csv")
    download = await info.value
    report = list(csv.reader(io.StringIO(await downloaded(download))))
    assert report[0][:2] == ["sheet or file", "row"]
    assert [(r[0], r[1]) for r in report[1:]] == [("客户名单.csv", "3"), ("客户名单.csv", "4")]
    assert await db.scalar(select(func.count()).select_from(Customer).where(
        Customer.name.in_(("苏州新华书店有限公司", "无锡太湖包装有限公司")))) == 2
    # the job stays in the address: a reload shows it again
    assert re.search(r"\?job=[0-9a-f]{32}$", page.url)
    await page.reload()
    await page.wait_for_selector("#import-state[data-state='done']")
    await browser.assert_clean()


async def test_import_dry_run_in_chinese(console: Console, browser: Browser, db: Db,
                                         tmp_path: Path) -> None:
    upload = tmp_path / "新客户.csv"
    upload.write_text("客户名称,手机\n宁波港集团,13905741234\n", encoding="utf-8")
    page = await browser.page()
    await sign_in(page, console, "admin", expect="/records")
    await open_section(page, console, "imports")
    await loaded(page)
    await page.set_input_files("#import-file", str(upload))
    await page.check("#import-dry-run")
    await page.click("#import-go")
    await page.wait_for_selector("#import-state[data-state='done']")
    assert "试运行" in (await page.text_content("#import-job h2") or "")
    assert await page.text_content("#import-stats [data-stat=customers]") == "1"
    assert await page.locator("#import-report").count() == 0  # nothing rejected
    await assert_translated(page, "zh-CN")
    assert await db.scalar(select(Customer.id).where(Customer.name == "宁波港集团")) is None
    await browser.assert_clean()


# --- exports ----------------------------------------------------------------------------------

async def test_exports_offer_what_the_grants_allow(console: Console, browser: Browser, db: Db
                                                   ) -> None:
    page = await browser.page()
    await sign_in(page, console, "admin", expect="/records")
    await open_section(page, console, "exports")
    await loaded(page)
    await switch_to(page, "en")
    await assert_translated(page, "en")
    await page.fill("#export-province", "上海")
    await page.click("#export-filters button[type=submit]")
    async with page.expect_download() as info:
        await page.click("#export-customers-csv")
    download = await info.value
    rows = list(csv.reader(io.StringIO(await downloaded(download))))
    assert rows[0][:2] == ["id", "name"]
    shanghai = await db.scalar(select(func.count()).select_from(Customer).where(
        Customer.province == "上海", Customer.merged_into_id.is_(None)))
    assert len(rows) - 1 == shanghai > 0
    assert {r[6] for r in rows[1:]} == {"上海"}
    async with page.expect_download() as info:
        await page.click("#report-customers-xlsx")
    assert (await info.value).suggested_filename.endswith(".xlsx")

    manager = await browser.page()
    await sign_in(manager, console, "wang.lei", expect="/records")  # exports own customers
    await open_section(manager, console, "exports")
    await loaded(manager)
    lists = await manager.eval_on_selector_all("#export-lists li",
                                               "els => els.map(e => e.dataset.list)")
    assert lists == ["customers", "contacts", "assets", "tickets", "interactions"]
    assert await manager.locator("#export-reports").count() == 0  # no reports:export
    await assert_translated(manager, "zh-CN")
    await browser.assert_clean()


def test_each_back_office_section_has_its_labels() -> None:
    """Labels built from a section's name (menu, hub card) exist in both languages."""
    for lang in ("en", "zh-CN"):
        words = json.loads((DICTIONARIES / f"{lang}.json").read_text("utf-8"))
        for name in ("backoffice", *pages.SECTIONS):
            for key in (f"{name}.title", f"{name}.heading", f"{name}.intro"):
                assert key in words, (lang, key)
        for name in pages.SECTIONS:
            assert f"bo.section.{name}" in words and f"bo.about.{name}" in words, (lang, name)
        dynamic = [*(f"ivr.kind.{k}" for k in ("400", "800", "legacy", "unknown")),
                   *(f"ivr.goes.{k}" for k in ("next", "then", "else", "default", "on_error")),
                   *(f"ivr_step.{k}" for k in ("play", "menu", "digits", "lookup", "branch",
                                               "self_service", "route", "handoff")),
                   *(f"ivr_handoff.{k}" for k in ("queue", "hangup", "dialplan")),
                   *(f"reminder_kind.{k}" for k in ("subscription", "contract", "warranty")),
                   *(f"imports.state.{k}" for k in ("running", "done", "failed",
                                                    "interrupted")),
                   *(f"imports.created.{k}" for k in ("customers", "contacts", "phones",
                                                      "assets")),
                   *(f"merge.count.{k}" for k in ("contacts", "phone_numbers", "assets",
                                                  "tickets", "interactions",
                                                  "opportunities")),
                   *(f"exports.list.{k}" for k in ("customers", "contacts", "assets",
                                                   "tickets", "interactions")),
                   *(f"exports.dim.{k}" for k in ("category", "source", "industry",
                                                  "province", "city", "region", "owner",
                                                  "status", "vip_tier", "kind")),
                   "exports.as_csv", "exports.as_xlsx"]
        missing = [k for k in dynamic if k not in words]
        assert not missing, (lang, missing)

