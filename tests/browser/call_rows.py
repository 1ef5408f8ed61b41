"""Logged calls for the browser tests of a customer's calls table (recordings, direction)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from crm_core.db import make_engine
from crm_core.models import CallRecord, PhoneNumber
from tests.browser.conftest import Console, sign_in

NUMBER = "+8613800138000"  # a demo customer's number


async def log_calls(db_url: str, calls: Sequence[dict[str, Any]]) -> int:
    """Log ``calls`` (CallRecord fields beyond an answered call of Alice's, newest
    first, a minute apart) for the demo customer of ``NUMBER``; that customer's id."""
    engine = make_engine(db_url)
    try:
        async with async_sessionmaker(engine).begin() as db:
            customer_id = await db.scalar(select(PhoneNumber.customer_id).where(
                PhoneNumber.number_e164 == NUMBER))
            assert customer_id is not None
            now = datetime.now(UTC)
            for i, fields in enumerate(calls):
                db.add(CallRecord(**{"caller": NUMBER, "outcome": "answered",
                                     "agent": "Alice", "talk_s": 30,
                                     "customer_id": customer_id,
                                     "ended_at": now - timedelta(minutes=i), **fields}))
    finally:
        await engine.dispose()
    return int(customer_id)


async def open_record(browser: Any, console: Console, customer_id: int) -> Any:
    """Alice's page on that customer's record, loaded, in English."""
    page = await browser.page(locale="en-US")
    await sign_in(page, console, "alice")
    await page.goto(f"{console.base}/records/{customer_id}")
    await page.wait_for_selector("body[data-loaded='1']")
    await page.wait_for_function("() => document.documentElement.lang === 'en'")
    return page
