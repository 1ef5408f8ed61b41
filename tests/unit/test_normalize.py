"""Phone-number normalisation: every way people and carriers write a number."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from numbering import normalize


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("13800138000", "+8613800138000"),
        ("+86 138 0013 8000", "+8613800138000"),
        ("0086-138-0013-8000", "+8613800138000"),
        ("010-5129 7073", "+861051297073"),
        ("(010)51297073", "+861051297073"),
        ("0755-83210000", "+8675583210000"),
        ("4008001234", "+864008001234"),
        ("1001", "1001"),
        ("95588", "95588"),
        ("<unknown>", None),
        ("", None),
        (None, None),
        ("abc", None),
    ],
)
def test_normalize(raw: str | None, expected: str | None) -> None:
    assert normalize(raw) == expected


@given(st.text(max_size=40))
def test_normalize_never_raises(raw: str) -> None:
    out = normalize(raw)
    assert out is None or out.lstrip("+").isdigit()


# -- typed_number: the one rule for a number given from outside (issue 13 item 7) ----------

@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("13800138000", "+8613800138000"),
        (" +86 138-0013 8000 ", "+8613800138000"),
        ("(010) 5129.7073", "+861051297073"),
        ("１３８００１３８０００", "+8613800138000"),  # full-width, from a Chinese keyboard
        ("+1 650 253 0000", "+16502530000"),
        ("1000", "1000"),  # an extension
        ("95588", "95588"),  # a short code
        # what normalize keeps the digits of, and nobody would dial on purpose
        ("13800138000,1,Hangup()", None),
        ("1000@internal", None),
        ("sip:1000@10.0.0.1", None),
        ("13800138000;ext=1", None),
        ("138 0013 8000 x12", None),
        ("13800138000\r\nAction: Originate", None),
        ("+999 1234", None),  # an international form that is no valid number
        ("1", None),
        ("1" * 21, None),
        ("", None),
        ("<unknown>", None),
        ("٣٨٠٠١٣٨٠٠٠", None),  # digits, but not ones a phone can dial
        (None, None),
    ],
)
def test_typed_number(raw: str | None, expected: str | None) -> None:
    from numbering.normalize import typed_number

    assert typed_number(raw) == expected


@given(st.text(max_size=40))
def test_typed_number_is_a_strict_normalize(raw: str) -> None:
    from numbering.normalize import typed_number

    out = typed_number(raw)
    assert out is None or (out.lstrip("+").isascii() and out.lstrip("+").isdigit())


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+86 138-0013 8000", "13800138000"),
        ("010-5129 7073", "01051297073"),
        ("+1 650 253 0000", "0016502530000"),
        ("1000", "1000"),
        ("13800138000,1,Hangup()", None),
        ("1000@internal", None),
        ("not a number", None),
    ],
)
def test_dial_digits_follow_the_same_rule(raw: str, expected: str | None) -> None:
    from agent_console.dialling import dial_digits

    assert dial_digits(raw) == expected
