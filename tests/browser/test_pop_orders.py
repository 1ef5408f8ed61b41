"""The pop shows the caller's open orders (issue 18): where each stands (its least
advanced line's stage), when it is expected and its due date, marked late when its
batch is expected after the due date; in the agent's language, on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from crm_core import orders
from crm_core.db import make_engine
from crm_core.models import PhoneNumber
from crm_core.permissions import SYSTEM
from telephony.simulator import CallScript, PbxSimulator
from tests.browser.conftest import Browser, Console
from tests.browser.test_pop import only_alice, open_console


async def test_the_pop_shows_open_orders_with_stage_and_arrival(
    console_db: Console, browser: Browser, sim: PbxSimulator
) -> None:
    console = console_db
    engine = make_engine(console.db_url)
    try:
        async with async_sessionmaker(engine, expire_on_commit=False).begin() as db:
            customer_id = (await db.execute(select(PhoneNumber.customer_id).where(
                PhoneNumber.number_e164 == "+8613800138000"))).scalars().first()
            await orders.add_supplier(db, SYSTEM, code="T-ELSEVIER", name="爱思唯尔",
                                      name_en="Elsevier")
            order = await orders.create_order(
                db, SYSTEM, customer_id, number="SO-T-4711", due_date="2026-01-05", lines=[
                    {"title": "<b>Gray's Anatomy</b>", "ref": "9780702077050",
                     "quantity": 3, "supplier": "T-ELSEVIER"}])
            sup = await orders.supplier_by_code(db, "T-ELSEVIER")
            assert sup is not None
            await orders.group_lines(db, SYSTEM, sup.id, code="T-ELS-1", on="2025-12-01")
            moved = await orders.update_stage(db, SYSTEM, "T-ELS-1", "customs", "2025-12-20")
    finally:
        await engine.dispose()
    page = await browser.page()
    await open_console(page, console)  # alice works in English
    only_alice(sim, ring_s=30.0)
    sim.place_call(caller="13800138000", name="Zhang Wei", script=CallScript(
        ivr_digits="2", talk=5, ivr_vars={"QUEUE": "support"}))
    row = page.locator(f"#pop-orders tr[data-order-id='{order['id']}']")
    await row.wait_for()
    text = await row.text_content() or ""
    assert "SO-T-4711" in text and "Customs" in text
    assert await row.locator(".order-late").count() == 1  # expected after Jan 5
    expected = moved["expected_on"]
    assert expected > "2026-01-05"
    await page.click("#lang-switch")
    await page.wait_for_function("() => document.documentElement.lang === 'zh-CN'")
    text = await row.text_content() or ""
    assert "清关中" in text and "延误" in text
    await browser.assert_clean()
