"""Values spoken from Hotline's own prompts: a value and a language in, prompt ids out.

Asterisk's ``SAY DIGITS``/``SAY NUMBER``/``SAY DATETIME`` play its core sound files
(``digits/1``...) in the channel's language, and there are none in Chinese: a ticket
number came out in English and a Chinese date failed on a missing file. So the IVR
composes the words itself, from sounds ``hotline prompts build`` renders into the same
``hotline/<lang>/`` folder as the other prompts (``SAY_PROMPTS``), and plays them one by
one with ``STREAM FILE`` like any prompt.

``say(kind, value, lang)`` -> the prompt ids, in order; ``None`` when the value cannot be
spoken (the caller then hears nothing for it, never a wrong number). Kinds:

- ``digits``: one by one (a ticket or serial number): zh 二零二六..., en two zero two six;
- ``number``: an integer 0 to 999 999 999 999: zh 二十三, 一百零五, 一万零八十六 (a zero
  inside is said once, 10-19 at the head are 十, 十一...), en twenty three, one hundred five;
- ``date``: ISO ``YYYY-MM-DD``: zh 二零二六年十一月二十五日, en November twenty-fifth,
  twenty twenty-six;
- ``amount``: yuan with up to two decimals (``123.45``, rounded half up to the fen):
  zh 一百二十三元四角五分 (一元零五分, 三角, 零元), en one hundred twenty three yuan forty
  five cents.

Rules: pure (no I/O, no clock); never raises; every id returned for a language has a text
in that language in ``SAY_PROMPTS`` (a unit test walks many values to check it).
"""

from __future__ import annotations

import re
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

KINDS = ("digits", "number", "date", "amount")
MAX_NUMBER = 999_999_999_999
MAX_SPOKEN_DIGITS = 64

_ZH_DIGITS = "零一二三四五六七八九"
_EN_DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_EN_TEENS = ("ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen",
             "seventeen", "eighteen", "nineteen")
_EN_TENS = {20: "twenty", 30: "thirty", 40: "forty", 50: "fifty", 60: "sixty", 70: "seventy",
            80: "eighty", 90: "ninety"}
_EN_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
              "September", "October", "November", "December")
_EN_ORDINAL_UNITS = ("", "first", "second", "third", "fourth", "fifth", "sixth", "seventh",
                     "eighth", "ninth")
_EN_ORDINAL_TEENS = ("tenth", "eleventh", "twelfth", "thirteenth", "fourteenth", "fifteenth",
                     "sixteenth", "seventeenth", "eighteenth", "nineteenth")
_AMOUNT = re.compile(r"^[0-9]{1,12}(?:\.[0-9]+)?$")


def _en_ordinal(day: int) -> str:
    if day < 10:
        return _EN_ORDINAL_UNITS[day]
    if day < 20:
        return _EN_ORDINAL_TEENS[day - 10]
    tens, unit = divmod(day, 10)
    if unit == 0:
        return {2: "twentieth", 3: "thirtieth"}[tens]
    return f"{_EN_TENS[tens * 10]}-{_EN_ORDINAL_UNITS[unit]}"


def _catalogue() -> dict[str, dict[str, str]]:
    prompts: dict[str, dict[str, str]] = {}
    for d in range(10):
        prompts[f"digit_{d}"] = {"zh": _ZH_DIGITS[d], "en": _EN_DIGITS[d]}
    for n, word in enumerate(_EN_TEENS, 10):
        prompts[f"num_{n}"] = {"en": word}
    for n, word in _EN_TENS.items():
        prompts[f"num_{n}"] = {"en": word}
    prompts["num_10"]["zh"] = "十"
    prompts["num_100"] = {"zh": "百", "en": "hundred"}
    prompts["num_1000"] = {"zh": "千", "en": "thousand"}
    prompts["num_10000"] = {"zh": "万"}
    prompts["num_1000000"] = {"en": "million"}
    prompts["num_100000000"] = {"zh": "亿"}
    prompts["num_1000000000"] = {"en": "billion"}
    prompts["date_year"] = {"zh": "年"}
    prompts["date_month"] = {"zh": "月"}
    prompts["date_day"] = {"zh": "日"}
    for m, name in enumerate(_EN_MONTHS, 1):
        prompts[f"month_{m}"] = {"en": name}
    for day in range(1, 32):
        prompts[f"ordinal_{day}"] = {"en": _en_ordinal(day)}
    prompts["unit_yuan"] = {"zh": "元", "en": "yuan"}
    prompts["unit_jiao"] = {"zh": "角"}
    prompts["unit_fen"] = {"zh": "分", "en": "cents"}
    return prompts


SAY_PROMPTS: dict[str, dict[str, str]] = _catalogue()
"""The words values are made of, per language ({prompt id: {lang: text}}); a word one
language does not use has no text in it (English has no 万, Chinese no "million")."""


# --------------------------------------------------------------------------------- digits
def digits(value: str, lang: str) -> list[str] | None:
    """Each digit of ``value`` (separators and letters are not spoken: a ticket number
    ``T20261125-0001`` is its digits); None without any digit."""
    found = [c for c in str(value) if c.isascii() and c.isdigit()][:MAX_SPOKEN_DIGITS]
    return [f"digit_{c}" for c in found] or None


# -------------------------------------------------------------------------------- numbers
def _zh_below_10000(n: int, *, head: bool) -> list[str]:
    """1..9999 in Chinese; ``head``: the number's first group (十二, not 一十二)."""
    out: list[str] = []
    zero = False
    for unit in (1000, 100, 10, 1):
        d = n // unit % 10
        if d == 0:
            zero = bool(out)  # a zero after a spoken digit: said once, before the next one
            continue
        if zero:
            out.append("digit_0")
            zero = False
        if not (unit == 10 and d == 1 and head and not out):
            out.append(f"digit_{d}")
        if unit > 1:
            out.append(f"num_{unit}")
    return out


def _zh_number(n: int) -> list[str]:
    if n == 0:
        return ["digit_0"]
    groups: list[tuple[int, str | None]] = []
    for size, word in ((100_000_000, "num_100000000"), (10_000, "num_10000"), (1, None)):
        groups.append((n // size % 10_000 if size < 100_000_000 else n // size, word))
    out: list[str] = []
    pending_zero = False
    for value, word in groups:
        if value == 0:
            pending_zero = bool(out)
            continue
        if out and (pending_zero or value < 1000):
            out.append("digit_0")  # 一万零八十六, 一亿零五万
        out += _zh_below_10000(value, head=not out)
        if word is not None:
            out.append(word)
        pending_zero = False
    return out


def _en_below_1000(n: int) -> list[str]:
    out: list[str] = []
    hundreds, rest = divmod(n, 100)
    if hundreds:
        out += [f"digit_{hundreds}", "num_100"]
    if rest >= 20:
        tens, unit = divmod(rest, 10)
        out.append(f"num_{tens * 10}")
        if unit:
            out.append(f"digit_{unit}")
    elif rest >= 10:
        out.append(f"num_{rest}")
    elif rest:
        out.append(f"digit_{rest}")
    return out


def _en_number(n: int) -> list[str]:
    if n == 0:
        return ["digit_0"]
    out: list[str] = []
    for size, word in ((1_000_000_000, "num_1000000000"), (1_000_000, "num_1000000"),
                       (1000, "num_1000"), (1, None)):
        part = n // size % 1000
        if part:
            out += _en_below_1000(part)
            if word is not None:
                out.append(word)
    return out


def number(value: int | str, lang: str) -> list[str] | None:
    """A whole number 0..``MAX_NUMBER`` in words; None for anything else."""
    text = str(value).strip()
    if not (text.isascii() and text.isdigit()):
        return None
    n = int(text)
    if n > MAX_NUMBER:
        return None
    return _zh_number(n) if lang == "zh" else _en_number(n)


# ---------------------------------------------------------------------------------- dates
def _en_year(year: int) -> list[str]:
    """2026 -> twenty twenty-six; 2005 -> two thousand five; 1905 -> nineteen oh five;
    1900 -> nineteen hundred."""
    high, low = divmod(year, 100)
    if year % 1000 < 10 or high == 0:
        return _en_number(year)
    if low == 0:
        return _en_below_1000(high) + ["num_100"]
    if low < 10:
        return _en_below_1000(high) + ["digit_0", f"digit_{low}"]
    return _en_below_1000(high) + _en_below_1000(low)


def say_date(value: str, lang: str) -> list[str] | None:
    """An ISO date; None when it is not one."""
    try:
        day = date.fromisoformat(str(value).strip())
    except ValueError:
        return None
    if lang == "zh":
        return ([f"digit_{c}" for c in f"{day.year:04d}"] + ["date_year"]
                + _zh_number(day.month) + ["date_month"] + _zh_number(day.day) + ["date_day"])
    return [f"month_{day.month}", f"ordinal_{day.day}", *_en_year(day.year)]


# -------------------------------------------------------------------------------- amounts
def amount(value: str | int, lang: str) -> list[str] | None:
    """Yuan with up to two decimals (``12.5``, ``0.05``, ``100``); None otherwise."""
    text = str(value).strip()
    if not _AMOUNT.match(text):
        return None
    try:
        fen_total = int(Decimal(text).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP) * 100)
    except InvalidOperation:
        return None
    yuan, cents = divmod(fen_total, 100)
    if yuan > MAX_NUMBER:
        return None
    if lang == "zh":
        jiao, fen = divmod(cents, 10)
        out = _zh_number(yuan) + ["unit_yuan"] if yuan or not cents else []
        if jiao:
            out += [f"digit_{jiao}", "unit_jiao"]
        elif fen and yuan:
            out.append("digit_0")  # 一元零五分
        if fen:
            out += [f"digit_{fen}", "unit_fen"]
        return out
    out = _en_number(yuan) + ["unit_yuan"] if yuan or not cents else []
    if cents:
        out += _en_number(cents) + ["unit_fen"]
    return out


def speech_lang(lang: str) -> str:
    """The language values are spoken in: ``zh`` or ``en`` (the catalogue has no other;
    a flow in another language hears values in English rather than nothing)."""
    return "zh" if lang == "zh" else "en"


def say(kind: str, value: str, lang: str) -> list[str] | None:
    """The prompt ids that speak ``value`` as ``kind`` in ``speech_lang(lang)``, the
    folder they are played from (module docstring)."""
    lang = speech_lang(lang)
    if kind == "digits":
        return digits(value, lang)
    if kind == "number":
        return number(value, lang)
    if kind == "date":
        return say_date(value, lang)
    if kind == "amount":
        return amount(value, lang)
    return None
