"""Values -> Hotline's own prompt ids, in Chinese and English (``ivr.speech``)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ivr.speech import MAX_NUMBER, SAY_PROMPTS, say


def words(kind: str, value: str, lang: str) -> str:
    """What the caller hears: the texts of the prompt ids, joined."""
    ids = say(kind, value, lang)
    assert ids is not None
    return " ".join(SAY_PROMPTS[i][lang] for i in ids) if lang == "en" else "".join(
        SAY_PROMPTS[i][lang] for i in ids)


@pytest.mark.parametrize(("value", "zh"), [
    (0, "零"), (7, "七"), (10, "十"), (11, "十一"), (20, "二十"), (23, "二十三"),
    (100, "一百"), (105, "一百零五"), (110, "一百一十"), (999, "九百九十九"),
    (1000, "一千"), (1001, "一千零一"), (1010, "一千零一十"), (2026, "二千零二十六"),
    (10000, "一万"), (10086, "一万零八十六"), (100000, "十万"), (120000, "十二万"),
    (100010, "十万零一十"), (1002003, "一百万二千零三"), (1020000, "一百零二万"),
    (100000005, "一亿零五"), (100050000, "一亿零五万"),
    (123456789, "一亿二千三百四十五万六千七百八十九"),
])
def test_chinese_numbers(value: int, zh: str) -> None:
    assert words("number", str(value), "zh") == zh


@pytest.mark.parametrize(("value", "en"), [
    (0, "zero"), (7, "seven"), (13, "thirteen"), (20, "twenty"), (23, "twenty three"),
    (105, "one hundred five"), (999, "nine hundred ninety nine"), (1000, "one thousand"),
    (2026, "two thousand twenty six"), (1_000_000, "one million"),
    (12_345_678, "twelve million three hundred forty five thousand six hundred seventy eight"),
    (3_000_000_001, "three billion one"),
])
def test_english_numbers(value: int, en: str) -> None:
    assert words("number", str(value), "en") == en


def test_digits_one_by_one_whatever_surrounds_them() -> None:
    assert say("digits", "T20261125-0001", "zh") == [
        f"digit_{d}" for d in "202611250001"]
    assert words("digits", "2026", "zh") == "二零二六"
    assert words("digits", "0417", "en") == "zero four one seven"
    assert say("digits", "no digits", "en") is None


@pytest.mark.parametrize(("value", "zh", "en"), [
    ("2026-11-25", "二零二六年十一月二十五日", "November twenty-fifth twenty twenty six"),
    ("2027-01-01", "二零二七年一月一日", "January first twenty twenty seven"),
    ("2005-03-10", "二零零五年三月十日", "March tenth two thousand five"),
    ("1999-12-31", "一九九九年十二月三十一日", "December thirty-first nineteen ninety nine"),
    ("1905-06-20", "一九零五年六月二十日", "June twentieth nineteen zero five"),
])
def test_dates(value: str, zh: str, en: str) -> None:
    assert words("date", value, "zh") == zh
    assert words("date", value, "en") == en


@pytest.mark.parametrize(("value", "zh", "en"), [
    ("123.45", "一百二十三元四角五分", "one hundred twenty three yuan forty five cents"),
    ("1.05", "一元零五分", "one yuan five cents"),
    ("12.3", "十二元三角", "twelve yuan thirty cents"),
    ("0.35", "三角五分", "thirty five cents"),
    ("0.05", "五分", "five cents"),
    ("100", "一百元", "one hundred yuan"),
    ("0", "零元", "zero yuan"),
    ("2.999", "三元", "three yuan"),  # rounded half up to the fen
])
def test_amounts(value: str, zh: str, en: str) -> None:
    assert words("amount", value, "zh") == zh
    assert words("amount", value, "en") == en


@pytest.mark.parametrize(("kind", "value"), [
    ("number", "-3"), ("number", "1.5"), ("number", str(MAX_NUMBER + 1)), ("number", "１２"),
    ("date", "2026-13-01"), ("date", "tomorrow"), ("amount", "-1"), ("amount", "1e3"),
    ("amount", "１２"), ("amount", ""), ("time", "12:00"),
])
def test_what_cannot_be_spoken_is_none_never_a_wrong_value(kind: str, value: str) -> None:
    assert say(kind, value, "zh") is None
    assert say(kind, value, "en") is None


def test_another_flow_language_hears_english_words() -> None:
    assert say("number", "23", "fr") == say("number", "23", "en")


@given(st.integers(min_value=0, max_value=MAX_NUMBER), st.sampled_from(["zh", "en"]))
def test_every_number_is_made_of_words_the_catalogue_speaks(n: int, lang: str) -> None:
    ids = say("number", str(n), lang)
    assert ids and all(SAY_PROMPTS[i].get(lang) for i in ids)


@given(st.dates(), st.sampled_from(["zh", "en"]))
def test_every_date_is_made_of_words_the_catalogue_speaks(day: object, lang: str) -> None:
    ids = say("date", str(day), lang)
    assert ids and all(SAY_PROMPTS[i].get(lang) for i in ids)


@given(st.decimals(min_value=0, max_value=10**9, places=2), st.sampled_from(["zh", "en"]))
def test_every_amount_is_made_of_words_the_catalogue_speaks(value: object, lang: str) -> None:
    ids = say("amount", str(value), lang)
    assert ids and all(SAY_PROMPTS[i].get(lang) for i in ids)
