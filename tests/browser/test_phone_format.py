"""One phone-number format on screen (issue 14 item 8): the console's ``js/phone.js``,
run in Chromium, groups every valid Chinese number exactly as the ``phonenumbers``
library's national format does (138 0013 8000, 010 5129 7073, 0755 2664 2222, 400 800
1234), gives the E.164 form for the hover, and leaves anything else as it came."""

from __future__ import annotations

from typing import Any

import phonenumbers

from tests.browser.conftest import Browser, Console

AREAS = ("10", "20", "21", "22", "23", "24", "25", "27", "28", "29", "311", "351", "371",
         "411", "431", "451", "471", "512", "531", "551", "571", "591", "731", "755", "757",
         "769", "851", "871", "898", "931", "951", "971", "991")
MOBILES = ("13800138000", "13912345678", "14712345678", "15012345678", "16612345678",
           "17012345678", "18612345678", "19912345678")
SERVICE = ("4008001234", "8008001234")


def valid_chinese_numbers() -> list[str]:
    """E.164 numbers phonenumbers finds valid: mobiles, 400/800, landlines of many areas
    with 7- and 8-digit local numbers."""
    out = [f"+86{m}" for m in MOBILES + SERVICE]
    for area in AREAS:
        for local in ("6552998", "65529988", "8123456", "81234567"):
            number = f"+86{area}{local}"
            if phonenumbers.is_valid_number(phonenumbers.parse(number)):
                out.append(number)
    return sorted(set(out))


async def formatted(page: Any, numbers: list[Any]) -> list[dict[str, str]]:
    result: list[dict[str, str]] = await page.evaluate(
        "async (ns) => { const m = await import('/static/console/js/phone.js');"
        " return ns.map((n) => m.formatPhone(n)); }", numbers)
    return result


async def test_numbers_read_as_the_national_format(console: Console, browser: Browser) -> None:
    page = await browser.page()
    await page.goto(f"{console.base}/login")
    await page.wait_for_selector("body[data-ready='1']")
    numbers = valid_chinese_numbers()
    assert len(numbers) > 40
    # every way a number reaches the screen: E.164, written with the trunk 0, with +86
    national = [phonenumbers.format_number(phonenumbers.parse(n),
                                           phonenumbers.PhoneNumberFormat.NATIONAL)
                for n in numbers]
    dashed = [n.replace(" ", "-") for n in national]
    plus = [f"+86 {n.lstrip('0')}" for n in national]
    for inputs in (numbers, dashed, plus):
        got = await formatted(page, list(inputs))
        assert [g["text"] for g in got] == national
        assert [g["title"] for g in got] == numbers  # E.164 on hover
    # the examples, and bare digits as a caller id brings them
    got = await formatted(page, ["13800138000", "01051297073", "(010)5129 7073"])
    assert [g["text"] for g in got] == ["138 0013 8000", "010 5129 7073", "010 5129 7073"]


async def test_other_numbers_are_shown_as_they_came(console: Console, browser: Browser) -> None:
    page = await browser.page()
    await page.goto(f"{console.base}/login")
    await page.wait_for_selector("body[data-ready='1']")
    odd = ["1001", "95588", "10086", "+14155550100", "+85221234567", "5712345678",
           "<img src=x onerror=alert(1)>", "13800138000,1,Hangup()", "  "]
    got = await formatted(page, odd)
    assert [g["text"] for g in got] == [o.strip() for o in odd]  # never guessed at
    assert await formatted(page, [None, ""]) == [{"text": "", "title": ""}] * 2
    await browser.assert_clean()
