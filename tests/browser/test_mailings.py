"""Mail to customer groups in a real browser (issue 18 items 4-5), in both languages: a
manager counts the recipients of a filter, composes an email and sends it; the app's own
outbox worker delivers it over real SMTP (a local aiosmtpd server); the page lists the
mailing with its progress and its recipients with their statuses (sent, skipped for want
of an address). The customer's and the mailing's names are attacks: they show as text."""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import select, update

from crm_core.models import Contact, Customer, MailingOptOut, User
from telephony.simulator import PbxSimulator
from tests.browser.conftest import Browser, Console, running_console, sign_in
from tests.browser.test_backoffice import Db, assert_translated

HOSTILE = '<img src=x onerror="alert(1)">图书馆'
PROVINCE = "测试省"
WORDS = {"en": {"sent": "Sent", "skipped": "Skipped", "no_address": "No address",
                "done": "Unsubscribed"},
         "zh-CN": {"sent": "已发送", "skipped": "已跳过", "no_address": "无地址", "done": "已退订"}}


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[Envelope] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.messages.append(envelope)
        return "250 OK"


@pytest.fixture
async def mailbox() -> AsyncIterator[tuple[Mailbox, int]]:
    box = Mailbox()
    server = await asyncio.get_running_loop().create_server(
        lambda: SMTP(box, hostname="hotline.test"), "127.0.0.1", 0)
    yield box, server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()


@pytest.fixture
async def mailing_app(tmp_path: Path, sim: PbxSimulator, mailbox: tuple[Mailbox, int]
                      ) -> AsyncIterator[Console]:
    """The app, its outbox sending email to the local SMTP server, polling often."""
    async with running_console(f"sqlite+aiosqlite:///{tmp_path / 'mail.db'}", sim,
                               smtp_host="127.0.0.1", smtp_port=mailbox[1], smtp_tls="none",
                               outbox_poll_s=0.2) as c:
        yield c


async def arrange(db: Db, lang: str) -> None:
    """Two of wang.lei's customers in PROVINCE: one (hostile name) with an email contact,
    one without any email."""
    async with db.sessionmaker.begin() as s:
        owner = await s.scalar(select(User.id).where(User.username == "wang.lei"))
        first = Customer(name=HOSTILE, name_key="ml-hostile", province=PROVINCE, owner_id=owner)
        second = Customer(name="无邮箱书店", name_key="ml-none", province=PROVINCE,
                          owner_id=owner)
        s.add_all([first, second])
        await s.flush()
        s.add(Contact(customer_id=first.id, name="采购 " + HOSTILE, email="buyer@lib.example.cn"))
        s.add(Contact(customer_id=second.id, name="店长"))
        await s.execute(update(User).where(User.username == "wang.lei").values(language=lang))


def to_buyer(box: Mailbox) -> list[Envelope]:
    # the demo's own notifications (tickets' SLA...) go out through the same server
    return [e for e in box.messages if e.rcpt_tos == ["buyer@lib.example.cn"]]


async def texts(page: Any, selector: str) -> list[str]:
    return list(await page.eval_on_selector_all(selector, "els => els.map(e => e.textContent)"))


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
async def test_a_manager_mails_a_group_and_follows_each_recipient(
    mailing_app: Console, browser: Browser, mailbox: tuple[Mailbox, int], lang: str
) -> None:
    console, (box, _) = mailing_app, mailbox
    db = Db(console.db_url)
    try:
        await arrange(db, lang)
        page = await browser.page(locale="en-US" if lang == "en" else "zh-CN")
        await sign_in(page, console, "wang.lei", expect="/records")
        await page.goto(f"{console.base}/backoffice/mailings")
        await page.wait_for_selector("body[data-loaded='1']")
        assert await page.is_visible("#bo-menu-mailings")
        await page.fill("#ml-name", HOSTILE)
        await page.fill("#ml-filter-province", PROVINCE)
        await page.click("#ml-preview-button")
        await page.wait_for_selector("#ml-preview:not([hidden])")
        assert await page.get_attribute("#ml-preview", "data-reachable") == "1"
        assert "2" in (await page.text_content("#ml-preview") or "")
        # an email needs a subject: the page says so instead of sending
        await page.fill("#ml-body", "新书目录已附上。")
        await page.click("#ml-new button[type=submit]")
        await page.wait_for_selector("#ml-new-result[data-kind='error']")
        assert not to_buyer(box)
        await page.fill("#ml-subject", "2027 外文新书目录")
        await page.click("#ml-new button[type=submit]")
        await page.wait_for_selector("#ml-new-result[data-kind='ok']")
        await page.wait_for_selector("#ml-recipients tbody tr")
        # newest first: ours, then the demo's own SMS of wang.lei's
        assert await texts(page, "#ml-list .ml-name") == [HOSTILE, "维保合同续约提醒"]
        assert await page.query_selector("#bo-content img") is None  # text, never markup

        for _ in range(300):  # the app's outbox worker delivers it
            if to_buyer(box):
                break
            await asyncio.sleep(0.1)
        assert len(to_buyer(box)) == 1

        # the page follows the mailing by itself: no reload
        await page.wait_for_selector("#ml-recipients tbody tr[data-status='sent']")
        rows = await page.eval_on_selector_all(
            "#ml-recipients tbody tr",
            "rows => rows.map(r => [r.dataset.status, r.cells[0].textContent, r.innerText])")
        by_status = {status: (name, text) for status, name, text in rows}
        assert by_status["sent"][0] == HOSTILE and WORDS[lang]["sent"] in by_status["sent"][1]
        assert by_status["skipped"][0] == "无邮箱书店"
        assert WORDS[lang]["no_address"] in by_status["skipped"][1]
        await page.wait_for_selector("#ml-list .ml-counts [data-status='sent']")
        counts = await page.text_content("#ml-list .ml-counts") or ""
        assert WORDS[lang]["sent"] in counts and WORDS[lang]["skipped"] in counts
        await page.select_option("#ml-status", "skipped")
        await page.wait_for_selector("#ml-recipients tr[data-status='sent']", state="detached")
        assert len(await page.query_selector_all("#ml-recipients tbody tr")) == 1
        await assert_translated(page, lang)

        # the email's unsubscribe link: a public page (no sign-in) asks, then does it
        mail = email.message_from_bytes(to_buyer(box)[0].original_content or b"",
                                        policy=email.policy.default)
        text = mail.get_body().get_content()  # type: ignore[union-attr]
        token = re.search(r"/unsubscribe\?t=(\S+)", text)
        assert token, text
        reader = await browser.page(locale="en-US" if lang == "en" else "zh-CN")
        await reader.goto(f"{console.base}/unsubscribe?t={token.group(1)}")
        assert "buyer@lib.example.cn" in (await reader.text_content("#message") or "")
        await reader.click("#unsubscribe")
        await reader.wait_for_selector("#other-language")
        assert WORDS[lang]["done"] in (await reader.text_content("#message") or "")
        assert await db.scalar(select(MailingOptOut.address)) == "buyer@lib.example.cn"
        await browser.assert_clean()
    finally:
        await db.engine.dispose()
