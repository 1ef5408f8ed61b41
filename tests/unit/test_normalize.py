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
