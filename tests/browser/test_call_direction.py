"""A customer's calls in a real browser say which were outbound (an agent's
click-to-dial or a callback): a marker next to the number, in the page's language;
an inbound call has none. (The screen pop shows the same calls table.)"""

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

OUT, IN = "1795478428.20", "1795478428.21"


@pytest.fixture
async def two_calls(tmp_path: Path, sim: PbxSimulator) -> AsyncIterator[tuple[Console, int]]:
    async with running_console(f"sqlite+aiosqlite:///{tmp_path / 'dir.db'}", sim) as console:
        engine = make_engine(console.db_url)
        try:
            async with async_sessionmaker(engine).begin() as db:
                customer_id = await db.scalar(select(PhoneNumber.customer_id).where(
                    PhoneNumber.number_e164 == "+8613800138000"))
                assert customer_id is not None
                now = datetime.now(UTC)
                for i, (linkedid, direction) in enumerate([(OUT, "outbound"), (IN, "inbound")]):
                    db.add(CallRecord(linkedid=linkedid, caller="+8613800138000",
                                      outcome="answered", agent="Alice", talk_s=30,
                                      customer_id=customer_id, direction=direction,
                                      ended_at=now - timedelta(minutes=i)))
        finally:
            await engine.dispose()
        yield console, int(customer_id)


async def test_outbound_calls_are_marked_in_both_languages(
    two_calls: tuple[Console, int], browser: Browser
) -> None:
    console, customer_id = two_calls
    page = await browser.page(locale="en-US")
    await sign_in(page, console, "alice")
    await page.goto(f"{console.base}/records/{customer_id}")
    await page.wait_for_selector("body[data-loaded='1']")
    await page.wait_for_function("() => document.documentElement.lang === 'en'")
    calls = page.locator("#record-calls")
    marker = calls.locator(f"tr[data-linkedid='{OUT}'] .direction-outbound")
    assert await marker.text_content() == "Outbound"
    assert "click-to-dial" in (await marker.get_attribute("title") or "")
    assert await calls.locator(f"tr[data-linkedid='{IN}'] .direction-outbound").count() == 0
    await page.click("#lang-switch")
    await page.wait_for_function("() => document.documentElement.lang === 'zh-CN'")
    marker = page.locator(f"#record-calls tr[data-linkedid='{OUT}'] .direction-outbound")
    await marker.filter(has_text="外呼").wait_for()
    await browser.assert_clean()
