"""Which numbers get a text message (``crm_core.notifications.is_mobile``): a number
recorded as a mobile, or a mainland mobile (+86 1[3-9]X XXXX XXXX); never a landline,
Beijing's (+86 10 ...) included, nor a short or long look-alike."""

from __future__ import annotations

import pytest

from crm_core.notifications import is_mobile


@pytest.mark.parametrize("number", ["+8613800138000", "+8619912345678", "+8616612345678"])
def test_mainland_mobiles_take_texts(number: str) -> None:
    assert is_mobile(number)


@pytest.mark.parametrize("number", [
    "+861051297073",  # Beijing landline: +86 10 5129 7073
    "+862150001234",  # Shanghai landline
    "+8612800138000",  # 12X: no mobile range
    "+861380013800",  # a digit short
    "+86138001380001",  # a digit long
    "4008001234",
    "",
])
def test_landlines_and_look_alikes_do_not(number: str) -> None:
    assert not is_mobile(number)


def test_a_number_recorded_as_a_mobile_is_one_whatever_it_looks_like() -> None:
    assert is_mobile("+85291234567", "mobile")  # Hong Kong, recorded by a person
    assert not is_mobile("+85291234567", "office")
