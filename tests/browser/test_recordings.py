"""Call recordings on the 360 page in a real browser: with ``recording_base_url`` a
recorded call links to its file (base + quoted name); an unrecorded call, or one whose
stored name is hostile, shows nothing, and nothing of that name becomes markup."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from crm_core.db import make_engine
from crm_core.models import CallRecord, PhoneNumber
from telephony.simulator import PbxSimulator
from tests.browser.conftest import Browser, Console, running_console, sign_in

BASE = "/recordings/"
HOSTILE = '"><img src=x onerror=alert(1)>.wav'
CALLS = {  # linkedid -> what call_record.recording holds
    "1795478331.10": "2026/11/25/1795478331.10.wav",
    "1795478331.11": None,
    "1795478331.12": HOSTILE,
    "1795478331.13": "javascript:alert(1)",
}


@pytest.fixture
async def recorded(tmp_path: Path, sim: PbxSimulator) -> AsyncIterator[tuple[Console, int]]:
    """The demo console serving recordings' links under /recordings/, and a customer
    (the one of 13800138000) with four logged calls."""
    async with running_console(f"sqlite+aiosqlite:///{tmp_path / 'rec.db'}", sim,
                               recording_base_url=BASE) as console:
        engine = make_engine(console.db_url)
        try:
            async with async_sessionmaker(engine).begin() as db:
                customer_id = await db.scalar(select(PhoneNumber.customer_id).where(
                    PhoneNumber.number_e164 == "+8613800138000"))
                assert customer_id is not None
                now = datetime.now(UTC)
                for i, (linkedid, recording) in enumerate(CALLS.items()):
                    db.add(CallRecord(linkedid=linkedid, caller="+8613800138000",
                                      outcome="answered", agent="Alice", talk_s=42,
                                      customer_id=customer_id, recording=recording,
                                      ended_at=now - timedelta(minutes=i)))
        finally:
            await engine.dispose()
        yield console, int(customer_id)


async def test_recorded_call_links_to_its_file_and_nothing_else_does(
    recorded: tuple[Console, int], browser: Browser
) -> None:
    console, customer_id = recorded
    page = await browser.page(locale="en-US")
    await sign_in(page, console, "alice")
    await page.goto(f"{console.base}/records/{customer_id}")
    await page.wait_for_selector("body[data-loaded='1']")
    await page.wait_for_function("() => document.documentElement.lang === 'en'")
    calls = page.locator("#record-calls")
    assert await calls.locator("a").count() == 1
    link = calls.locator("tr[data-linkedid='1795478331.10'] a.recording")
    assert await link.get_attribute("href") == BASE + CALLS["1795478331.10"]
    assert await link.get_attribute("rel") == "noopener noreferrer"
    assert await link.text_content() == "Listen"
    for linkedid in ("1795478331.11", "1795478331.12", "1795478331.13"):
        row = calls.locator(f"tr[data-linkedid='{linkedid}']")
        assert await row.count() == 1
        assert await row.locator("a, img, audio").count() == 0
    # the hostile name is nowhere: not as an element, not even as text
    assert await page.locator("img[src=x]").count() == 0
    assert "onerror" not in await calls.inner_html()
    assert "javascript:" not in await calls.inner_html()
    # the label in the other language, the same link
    await page.click("#lang-switch")
    await page.wait_for_function("() => document.documentElement.lang === 'zh-CN'")
    link = page.locator("#record-calls tr[data-linkedid='1795478331.10'] a.recording")
    await link.filter(has_text="收听").wait_for()
    assert await link.get_attribute("href") == BASE + CALLS["1795478331.10"]
    await browser.assert_clean()  # no alert, no error, no CSP violation
