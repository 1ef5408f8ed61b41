"""Call recordings on the 360 page in a real browser: with ``recording_base_url`` a
recorded call links to its file (base + quoted name); an unrecorded call, or one whose
stored name is hostile, shows nothing, and nothing of that name becomes markup."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from telephony.simulator import PbxSimulator
from tests.browser.call_rows import log_calls, open_record
from tests.browser.conftest import Browser, Console, running_console

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
        customer_id = await log_calls(console.db_url, [
            {"linkedid": linkedid, "recording": recording, "talk_s": 42}
            for linkedid, recording in CALLS.items()])
        yield console, customer_id


async def test_recorded_call_links_to_its_file_and_nothing_else_does(
    recorded: tuple[Console, int], browser: Browser
) -> None:
    console, customer_id = recorded
    page = await open_record(browser, console, customer_id)
    calls = page.locator("#record-timeline")
    assert await calls.locator("a").count() == 1
    link = calls.locator("li.tl-call[data-linkedid='1795478331.10'] a.recording")
    assert await link.get_attribute("href") == BASE + CALLS["1795478331.10"]
    assert await link.get_attribute("rel") == "noopener noreferrer"
    assert await link.text_content() == "Listen"
    for linkedid in ("1795478331.11", "1795478331.12", "1795478331.13"):
        row = calls.locator(f"li.tl-call[data-linkedid='{linkedid}']")
        assert await row.count() == 1
        assert await row.locator("a, img, audio").count() == 0
    # the hostile name is nowhere: not as an element, not even as text
    assert await page.locator("img[src=x]").count() == 0
    assert "onerror" not in await calls.inner_html()
    assert "javascript:" not in await calls.inner_html()
    # the label in the other language, the same link
    await page.click("#lang-switch")
    await page.wait_for_function("() => document.documentElement.lang === 'zh-CN'")
    link = page.locator("#record-timeline li.tl-call[data-linkedid='1795478331.10'] a.recording")
    await link.filter(has_text="收听").wait_for()
    assert await link.get_attribute("href") == BASE + CALLS["1795478331.10"]
    await browser.assert_clean()  # no alert, no error, no CSP violation
