"""A customer's calls in a real browser say which were outbound (an agent's
click-to-dial or a callback): a marker next to the number, in the page's language;
an inbound call has none. (The screen pop shows the same calls table.)"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from telephony.simulator import PbxSimulator
from tests.browser.call_rows import log_calls, open_record
from tests.browser.conftest import Browser, Console, running_console

OUT, IN = "1795478428.20", "1795478428.21"


@pytest.fixture
async def two_calls(tmp_path: Path, sim: PbxSimulator) -> AsyncIterator[tuple[Console, int]]:
    async with running_console(f"sqlite+aiosqlite:///{tmp_path / 'dir.db'}", sim) as console:
        customer_id = await log_calls(console.db_url, [
            {"linkedid": OUT, "direction": "outbound"}, {"linkedid": IN, "direction": "inbound"}])
        yield console, customer_id


async def test_outbound_calls_are_marked_in_both_languages(
    two_calls: tuple[Console, int], browser: Browser
) -> None:
    console, customer_id = two_calls
    page = await open_record(browser, console, customer_id)
    calls = page.locator("#record-timeline")
    marker = calls.locator(f"li.tl-call[data-linkedid='{OUT}'] .direction-outbound")
    assert await marker.text_content() == "Outbound call"
    assert "click-to-dial" in (await marker.get_attribute("title") or "")
    assert await calls.locator(f"li.tl-call[data-linkedid='{IN}'] .direction-outbound").count() == 0
    await page.click("#lang-switch")
    await page.wait_for_function("() => document.documentElement.lang === 'zh-CN'")
    marker = page.locator(f"#record-timeline li.tl-call[data-linkedid='{OUT}'] .direction-outbound")
    await marker.filter(has_text="外呼").wait_for()
    await browser.assert_clean()
