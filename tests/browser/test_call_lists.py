"""Outbound call lists in a real browser (issue 17 items 2 and 6), in both languages: a
manager makes a satisfaction list from a rule and gives it to Alice; Alice asks for the
next call, sees the reason and the customer's record before she dials, dials with F9
through the click-to-dial (the PBX simulator is asked to Originate only then), finds
the entry again after a reload, and records a score; the list page shows the progress
and the entry's history. The customer's name is an attack: it shows as text."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select, update

from crm_core.models import (
    Asset,
    CallList,
    CallListEntry,
    Customer,
    PhoneNumber,
    Subscription,
    User,
)
from crm_core.outbound_lists import SHANGHAI, CallHours, refresh_list
from hotline.app import API_AUTH
from telephony.simulator import PbxSimulator
from tests.browser.conftest import Browser, Console, running_console, sign_in
from tests.browser.test_backoffice import Db, assert_translated
from tests.browser.test_pop import open_console, queue_in

HOSTILE = "<img src=x onerror=alert(1)>"
NUMBER = "13900139000"
SERIAL = "NC-2019-0001"
DAYS = 2000  # the demo's devices were all bought within 1500 days: only ours is due


@pytest.fixture
async def open_hours(tmp_path: Path, sim: PbxSimulator) -> AsyncIterator[Console]:
    """The app with call hours around the clock (the test may run at any hour)."""
    async with running_console(f"sqlite+aiosqlite:///{tmp_path / 'lists.db'}", sim,
                               outbound_hours="00:00-24:00", outbound_days="1-7") as c:
        yield c


async def arrange(db: Db, lang: str) -> int:
    """A customer with a hostile name, a phone and a device delivered DAYS + 10 days ago;
    Alice and the manager speak ``lang``."""
    bought = datetime.now(SHANGHAI).date() - timedelta(days=DAYS + 10)
    async with db.sessionmaker.begin() as s:
        customer = Customer(name=HOSTILE, name_key="nc-hostile", province="测试省")
        s.add(customer)
        await s.flush()
        s.add(PhoneNumber(customer_id=customer.id, number_e164=f"+86{NUMBER}", raw=NUMBER))
        s.add(Asset(customer_id=customer.id, model="<b>X9</b>", serial_number=SERIAL,
                    purchase_date=bought))
        await s.execute(update(User).where(User.username.in_(("alice", "wang.lei")))
                        .values(language=lang))
        return int(customer.id)


async def make_list(page: Any, console: Console) -> None:
    """The manager's page: a delivery follow-up list for Alice."""
    await sign_in(page, console, "wang.lei", expect="/records")
    await page.goto(f"{console.base}/backoffice/calllists")
    await page.wait_for_selector("body[data-loaded='1']")
    await page.fill("#cl-name", HOSTILE)
    await page.select_option("#cl-rule", "delivery_followup")
    await page.fill("#cl-days", str(DAYS))
    alice = await page.eval_on_selector(
        "#cl-agents", "s => [...s.options].find(o => o.text.startsWith('Alice')).value")
    await page.select_option("#cl-agents", [alice])
    await page.click("#cl-new button[type=submit]")
    await page.wait_for_selector("#cl-new-result[data-kind='ok']")
    await page.wait_for_selector("#cl-lists tbody tr")


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
async def test_a_list_made_by_a_manager_is_worked_from_the_preview(
    open_hours: Console, browser: Browser, sim: PbxSimulator, lang: str
) -> None:
    console = open_hours
    db = Db(console.db_url)
    try:
        customer_id = await arrange(db, lang)
        locale = "en-US" if lang == "en" else "zh-CN"
        manager = await browser.page(locale=locale)
        await make_list(manager, console)
        [name] = await manager.eval_on_selector_all("#cl-lists .cl-name",
                                                    "els => els.map(e => e.textContent)")
        assert name == HOSTILE
        list_id = int(await db.scalar(select(CallList.id)))
        assert await db.scalar(select(CallList.agent_ids)) == [await db.user_id("alice")]

        # Alice asks for the next call: the reason and the record before any dialling
        sim.set_customer(NUMBER, ring_s=1.0, talk_s=120.0)
        page = await browser.page(locale=locale)
        await open_console(page, console)
        await queue_in(page)
        await page.wait_for_selector("#next-call[data-ready='1']")
        assert await page.input_value("#nc-list") == str(list_id)
        await page.click("#nc-next")
        await page.wait_for_selector("#nc-entry:not([hidden])")
        assert await page.text_content("#nc-customer") == HOSTILE
        assert SERIAL in (await page.text_content("#nc-reason") or "")
        assert await page.text_content("#nc-number") == "139 0013 9000"
        await page.wait_for_function(
            f"() => document.querySelector('#customer-name')?.textContent === {HOSTILE!r}")
        assert SERIAL in (await page.text_content("#pop-assets") or "")
        assert sim.actions_named("Originate") == []  # nothing dialled before she says so
        chips = await page.eval_on_selector_all("#nc-outcomes label",
                                                "els => els.map(e => e.textContent)")
        assert chips[0] == ("已评满意度" if lang == "zh-CN" else "Satisfaction given")
        assert len(chips) == 5  # scored, and what every list takes

        # one key dials the entry's number through the click-to-dial
        await page.keyboard.press("F9")
        await page.wait_for_selector("#call-status[data-status='talking']")
        [originate] = sim.actions_named("Originate")
        assert NUMBER in str(originate)
        entry_id = await page.get_attribute("#next-call", "data-entry-id")

        # a reload (the browser crashed, she pressed F5) brings the entry back, not another
        await page.reload()
        await page.wait_for_selector("#next-call[data-ready='1']")
        await page.wait_for_selector("#nc-entry:not([hidden])")
        assert await page.get_attribute("#next-call", "data-entry-id") == entry_id
        assert await page.text_content("#nc-customer") == HOSTILE

        # the outcome form of a satisfaction list: a score is required, then saved
        await page.check("#nc-outcomes input[value='scored']")
        await page.click("#nc-save")
        await page.wait_for_selector("#nc-result[data-kind='error']")
        await page.check("#nc-scores input[value='4']")
        await page.fill("#nc-comment", "<b>满意</b> ok")
        await page.click("#nc-save")
        await page.wait_for_selector("#nc-status[data-kind='ok']")
        assert HOSTILE in (await page.text_content("#nc-status") or "")
        assert await page.is_hidden("#nc-entry")
        async with db.sessionmaker() as s:
            entry = await s.scalar(select(CallListEntry).where(
                CallListEntry.customer_id == customer_id))
            assert entry is not None
            assert (entry.state, entry.outcome, entry.outcome_data) == (
                "done", "scored", {"score": 4, "comment": "<b>满意</b> ok"})
        # nothing more on the list: said so
        await page.click("#nc-next")
        await page.wait_for_selector("#next-call[data-why='empty']")
        empty = {"zh-CN": "此名单当前没有要拨打的客户。",
                 "en": "Nothing to call on this list now."}[lang]
        assert await page.text_content("#nc-status") == empty

        # the manager's page: progress, outcomes, the entry's history
        await manager.reload()
        await manager.wait_for_selector("body[data-loaded='1']")
        done = manager.locator(f"#cl-lists tr[data-list-id='{list_id}'] .cl-done")
        assert await done.get_attribute("data-done") == "1"
        assert await done.get_attribute("data-todo") == "0"
        outcomes = manager.locator(f"#cl-lists tr[data-list-id='{list_id}'] [data-outcome]")
        assert await outcomes.evaluate_all("els => els.map(e => e.dataset.outcome)") == ["scored"]
        await manager.click(f"#cl-lists tr[data-list-id='{list_id}'] [data-role='entries']")
        await manager.wait_for_selector("#cl-entries tbody tr")
        assert await manager.text_content("#cl-detail-name") == HOSTILE
        await manager.click(f"#cl-entries tr[data-entry-id='{entry_id}'] [data-role='history']")
        step = manager.locator(f"tr[data-history-of='{entry_id}'] li")
        await step.wait_for()
        text = await step.text_content() or ""
        assert "Alice" in text and "4" in text and "<b>满意</b> ok" in text
        await assert_translated(manager, lang)
        assert await manager.locator("#cl-entries b, #cl-lists img").count() == 0
        assert await page.locator("#next-call img, #record-card img").count() == 0
        await browser.assert_clean()
    finally:
        await db.engine.dispose()


async def test_closed_hours_and_a_renewal_outcome_in_the_console(
    open_hours: Console, browser: Browser
) -> None:
    """Outside the call hours the card says so; within them a renewal entry takes the
    renewal answers, and "declined" asks why (zh-CN); the pure form logic in both."""
    console = open_hours
    db = Db(console.db_url)
    auth = console.app[API_AUTH]
    open_config = auth.config
    try:
        customer_id = await arrange(db, "zh-CN")
        ends = datetime.now(SHANGHAI).date() + timedelta(days=10)
        async with db.sessionmaker.begin() as s:
            s.add(Subscription(customer_id=customer_id, kind="subscription", title="《期刊》",
                               start_date=ends - timedelta(days=365), end_date=ends,
                               status="active"))
            s.add(CallList(name="续订", rule="renewal_due", kind="renewal",
                           params={"days": 30}, agent_ids=[await db.user_id("alice")]))
        async with db.sessionmaker.begin() as s:
            list_id = int(await s.scalar(select(CallList.id)))
            await refresh_list(s, list_id)
            # the demo's own renewals due this month leave the list: ours is the one
            await s.execute(delete(CallListEntry).where(
                CallListEntry.customer_id != customer_id))

        auth.config = replace(open_config, call_hours=CallHours.parse("09:00-18:00", ""))
        page = await browser.page(locale="zh-CN")
        await open_console(page, console)
        await page.wait_for_selector("#next-call[data-ready='1']")
        await page.keyboard.press("F7")
        await page.wait_for_selector("#next-call[data-why='closed']")
        assert await page.text_content("#nc-status") == "不在外呼时间内：现在不拨打客户。"
        assert await page.is_hidden("#nc-entry")

        auth.config = open_config
        await page.keyboard.press("F7")
        await page.wait_for_selector("#nc-entry:not([hidden])")
        assert await page.text_content("#nc-customer") == HOSTILE
        assert "《期刊》" in (await page.text_content("#nc-reason") or "")
        chips = await page.eval_on_selector_all("#nc-outcomes input",
                                                "els => els.map(e => e.value)")
        assert chips[:3] == ["renewed", "will-renew", "declined"]
        assert await page.is_hidden("#nc-decline-label")
        await page.check("#nc-outcomes input[value='declined']")
        await page.wait_for_selector("#nc-decline-label:not([hidden])")
        assert await page.is_hidden("#nc-score-box")
        await page.click("#nc-save")
        await page.wait_for_selector("#nc-result[data-kind='error']")
        assert await page.text_content("#nc-result") == "请填写客户拒绝的原因。"
        await page.fill("#nc-decline", "价格太高")
        await page.click("#nc-save")
        await page.wait_for_selector("#nc-status[data-kind='ok']")
        async with db.sessionmaker() as s:
            entry = await s.scalar(select(CallListEntry))
            assert entry is not None
            assert (entry.outcome, entry.outcome_data) == ("declined", {"reason": "价格太高"})

        # the form's pure rules, as the page runs them
        got = await page.evaluate("""async () => {
          const m = await import('/static/console/js/next_call.js');
          const k = await import('/static/console/js/hotkeys.js');
          return [m.outcomeBody({}), m.outcomeBody({outcome: 'scored', score: '6'}),
                  m.outcomeBody({outcome: 'scored', score: '5', comment: ' ok '}),
                  m.outcomeBody({outcome: 'declined', reason: ' '}),
                  m.outcomeBody({outcome: 'busy', reason: 'x', comment: ''}),
                  k.actionFor({key: 'F7'}), k.actionFor({key: 'F9'})];
        }""")
        assert got == [{"error": "nc.need_outcome"}, {"error": "nc.need_score"},
                       {"outcome": "scored", "score": 5, "comment": "ok"},
                       {"error": "nc.need_reason"}, {"outcome": "busy"},
                       "next_call", "dial_next"]
        await browser.assert_clean()
    finally:
        auth.config = open_config
        await db.engine.dispose()
