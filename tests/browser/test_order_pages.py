"""The orders pages in a real browser (issue 18 item 5), each in both languages: a
salesman finds his late order in the orders list and opens its page (the customer and
contact, the lines with their own state, the batch's stage timeline and expected
arrival, the late flag); logistics move a batch on the batches board after confirming,
and a step back is refused with the API's words on the card. Customer names, titles and
supplier names are hostile: shown as text, never run (Browser.assert_clean)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from crm_core import orders
from crm_core.models import Contact, Customer, OrderLine, SupplierBatch, User
from crm_core.permissions import SYSTEM
from tests.browser.conftest import Browser, Console, sign_in
from tests.browser.test_backoffice import (
    HOSTILE,
    Db,
    assert_translated,
    loaded,
    open_section,
    switch_to,
)
from tests.browser.test_backoffice import db as db  # noqa: F401  (the fixture)

CUSTOMER = f"{HOSTILE}测试外语学院图书馆"
SUPPLIER = f"{HOSTILE}Test Verlag"


async def arrange(db: Db) -> dict[str, Any]:
    """Li Na's hostile-named customer with an order due in January 2026, two lines (one
    back-ordered) in a batch ordered in December 2025: long late."""
    async with db.sessionmaker.begin() as s:
        li = await s.scalar(select(User.id).where(User.username == "li.na"))
        customer = Customer(name=CUSTOMER, owner_id=li)
        s.add(customer)
        await s.flush()
        contact = Contact(customer_id=customer.id, name="<b>周老师</b>", role="采购")
        s.add(contact)
        await s.flush()
        await orders.add_supplier(s, SYSTEM, code="T-HOST", name=SUPPLIER,
                                  name_en=SUPPLIER)
        order = await orders.create_order(
            s, SYSTEM, customer.id, number="SO-T-9001", due_date="2026-01-10",
            owner_id=li, contact_id=contact.id, lines=[
                {"title": f"{HOSTILE}Deutsche Grammatik", "ref": "9783190000001",
                 "quantity": 20, "price": "88.00", "supplier": "T-HOST"},
                {"title": "Wörterbuch", "ref": "9783190000002", "quantity": 5,
                 "supplier": "T-HOST"}])
        batch = await orders.group_lines(s, SYSTEM, (await orders.supplier_by_code(
            s, "T-HOST")).id, code="T-HOST-1", on="2025-12-01")  # type: ignore[union-attr]
        await s.execute(update(OrderLine).where(OrderLine.ref == "9783190000002")
                        .values(state="back_ordered"))
    return {"order": order["id"], "batch": batch["id"], "customer": customer.id}


async def test_a_salesman_finds_his_late_order_and_reads_its_page(
        console: Console, browser: Browser, db: Db) -> None:  # noqa: F811
    ids = await arrange(db)
    page = await browser.page()
    await sign_in(page, console, "li.na", expect="/records")  # a salesman, Chinese
    await open_section(page, console, "orders")
    await loaded(page)
    await page.check("#orders-late")
    await page.fill("#orders-customer", "测试外语")
    await page.click("#orders-filters button[type='submit']")
    await page.wait_for_function(  # the filtered list replaced the first one
        "() => [...document.querySelectorAll('#orders-table tbody tr')]"
        f".map(r => r.dataset.orderId).join() === '{ids['order']}'")
    row = page.locator(f"#orders-table tr[data-order-id='{ids['order']}']")
    text = await row.text_content() or ""
    assert CUSTOMER in text and "SO-T-9001" in text  # the name as text
    assert "延误" in text and "李娜" in text and await row.get_attribute("data-late") == "1"
    await assert_translated(page, "zh-CN")
    await switch_to(page, "en")
    await assert_translated(page, "en")
    text = await row.text_content() or ""
    assert "Late" in text and "Ordered" in text

    await row.locator("a.order-link").click()
    await page.wait_for_url(f"**/backoffice/order?id={ids['order']}")
    await loaded(page)
    assert await page.text_content("#op-heading") == "Order SO-T-9001"
    assert CUSTOMER in (await page.text_content("#op-customer") or "")
    assert "<b>周老师</b> · 采购" == await page.text_content("#op-contact")
    assert await page.text_content("#op-salesman") == "李娜"
    assert "Late" in (await page.text_content("#op-expected") or "")
    states = await page.eval_on_selector_all(
        "#op-lines tbody tr", "els => els.map(e => [e.dataset.state, e.dataset.stage])")
    assert states == [["active", "ordered"], ["back_ordered", "ordered"]]
    assert "Back-ordered" in (await page.text_content("#op-lines") or "")
    assert f"{HOSTILE}Deutsche Grammatik" in (await page.text_content("#op-lines") or "")
    card = page.locator(f"#op-batches li[data-batch-id='{ids['batch']}']")
    assert await card.get_attribute("data-late") == "1"
    assert SUPPLIER in (await card.text_content() or "")
    steps = await card.locator(".op-timeline li").evaluate_all(
        "els => els.map(e => [e.dataset.stage, e.className])")
    assert steps[:2] == [["ordered", "current"], ["shipped", "ahead"]] and len(steps) == 7
    await assert_translated(page, "en")
    await switch_to(page, "zh-CN")
    await assert_translated(page, "zh-CN")
    assert await page.text_content("#op-heading") == "订单 SO-T-9001"
    assert "缺货待补" in (await page.text_content("#op-lines") or "")

    # the customer's 360 page opens the order's timeline, and links its page
    await page.goto(f"{console.base}/records/{ids['customer']}")
    block = page.locator(f"#record-orders details[data-order-id='{ids['order']}']")
    await block.locator("summary").click()
    link = block.locator("a.order-page-link")
    await link.wait_for()
    assert await link.get_attribute("href") == f"/backoffice/order?id={ids['order']}"
    await browser.assert_clean()


async def test_logistics_move_a_batch_on_the_board_and_never_back(
        console: Console, browser: Browser, db: Db) -> None:  # noqa: F811
    ids = await arrange(db)
    page = await browser.page()
    await sign_in(page, console, "admin", expect="/records")  # Chinese
    await open_section(page, console, "batches")
    await loaded(page)
    await page.fill("#batches-supplier", "T-HOST")
    await page.click("#batches-filters button[type='submit']")
    await page.wait_for_function(  # the filtered board replaced the first one
        "() => document.querySelectorAll('#batches-board li.batch-card').length === 1")
    card = page.locator(f"#batches-ordered li[data-batch-id='{ids['batch']}']")
    text = await card.text_content() or ""
    assert SUPPLIER in text and "2 行 · 1 个订单" in text and "延误" in text
    assert await page.locator("#batches-board .batch-column").count() == 7
    await assert_translated(page, "zh-CN")

    # the next stage is offered; nothing moves before the confirmation
    assert await card.locator("select.batch-to").input_value() == "shipped"
    await card.locator("button[data-role='move']").click()
    await card.locator(".bo-confirm").wait_for()
    assert await db.scalar(select(SupplierBatch.stage).where(
        SupplierBatch.id == ids["batch"])) == "ordered"
    await card.locator(".bo-confirm button[data-role='confirm']").click()
    moved = page.locator(f"#batches-shipped li[data-batch-id='{ids['batch']}']")
    await moved.wait_for()
    assert await page.locator(f"#batches-ordered li[data-batch-id='{ids['batch']}']").count() == 0
    assert await db.scalar(select(SupplierBatch.stage).where(
        SupplierBatch.id == ids["batch"])) == "shipped"

    await switch_to(page, "en")
    await assert_translated(page, "en")
    # a step back: the API refuses, the card says why, the batch stays
    await moved.locator("select.batch-to").select_option("ordered")
    await moved.locator("button[data-role='move']").click()
    await moved.locator(".bo-confirm button[data-role='confirm']").click()
    said = moved.locator(".batch-result[data-kind='error']")
    await said.wait_for()
    assert "cannot go back" in (await said.text_content() or "")
    assert await db.scalar(select(SupplierBatch.stage).where(
        SupplierBatch.id == ids["batch"])) == "shipped"
    await browser.assert_clean()


async def test_a_salesman_reads_the_board_without_moving(
        console: Console, browser: Browser, db: Db) -> None:  # noqa: F811
    ids = await arrange(db)
    page = await browser.page()
    await sign_in(page, console, "li.na", expect="/records")
    await switch_to(page, "en")
    await open_section(page, console, "batches")
    await loaded(page)
    await page.check("#batches-late")
    await page.click("#batches-filters button[type='submit']")
    card = page.locator(f"#batches-ordered li[data-batch-id='{ids['batch']}']")
    await card.wait_for()
    assert "2 line(s) · 1 order(s)" in (await card.text_content() or "")
    assert await card.locator("button[data-role='move']").count() == 0
    assert "logistics" in (await page.text_content("#bo-content") or "")
    await assert_translated(page, "en")
    await browser.assert_clean()
