"""The import page takes the other kinds of file (issues 15 and 18): an admin picks
"technicians", the GBK file is imported in the background, and the row whose station
does not exist is in the error report with its row number; the choice is in both
languages and is offered only for what the user may import."""

from __future__ import annotations

from pathlib import Path

from tests.browser.conftest import Browser, Console, sign_in
from tests.browser.test_backoffice import assert_translated, loaded, open_section, switch_to


async def test_technicians_are_imported_from_the_import_page(
    console: Console, browser: Browser, tmp_path: Path
) -> None:
    upload = tmp_path / "技术员.csv"
    upload.write_bytes("服务站编号,姓名,技能\nBUS-ZHENGZHOU,赵师傅,电气\nXX99,钱师傅,电气\n"
                       .encode("gbk"))
    page = await browser.page()
    await sign_in(page, console, "admin", expect="/records")  # works in Chinese
    await open_section(page, console, "imports")
    await loaded(page)
    offered = await page.eval_on_selector_all("#import-kind option",
                                              "els => els.map(e => e.value)")
    assert offered == ["customers", "stations", "technicians", "stage_updates", "orders"]
    assert "技术员" in (await page.text_content("#import-kind") or "")
    await assert_translated(page, "zh-CN")
    await page.select_option("#import-kind", "technicians")
    await page.set_input_files("#import-file", str(upload))
    await page.click("#import-go")
    await page.wait_for_selector("#import-state[data-state='done']")
    rows = await page.eval_on_selector_all("#import-issues tbody tr",
                                           "els => els.map(e => e.dataset.row)")
    assert rows == ["3"]  # XX99: no such station; row 2 went in
    assert "XX99" in (await page.text_content("#import-issues") or "")
    await switch_to(page, "en")
    await assert_translated(page, "en")
    await browser.assert_clean()


async def test_who_may_import_nothing_gets_no_form(
    console: Console, browser: Browser
) -> None:
    """zhao.min may import nothing: the section says so (and shows no form)."""
    page = await browser.page()
    await sign_in(page, console, "zhao.min", expect="/live")
    await open_section(page, console, "imports")
    await page.wait_for_selector("#bo-result[data-kind='error']")
    assert await page.locator("#import-kind").count() == 0
    await browser.assert_clean()
