"""Provinces (numbering.regions): the written forms of one region compare equal, and the
unknown caller's region is guessed from the number, never raising on what the phone
network sends."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from numbering.regions import PROVINCES, english_name, province_key, province_of_number


@pytest.mark.parametrize(("text", "key"), [
    ("江苏", "江苏"), ("江苏省", "江苏"), ("江苏省常州市", "江苏"), ("上海市", "上海"),
    (" 广西壮族自治区 ", "广西"), ("内蒙古自治区", "内蒙古"), ("Jiangsu", "江苏"),
    ("inner  mongolia", "内蒙古"), ("Hong Kong", "香港"), ("山西", "山西"), ("陕西", "陕西"),
    ("郑州", None), ("", None), ("   ", None), (None, None), (42, None), ("Atlantis", None),
])
def test_a_province_written_any_way_is_one_key(text: object, key: str | None) -> None:
    assert province_key(text) == key


def test_the_list_is_the_34_province_level_divisions_once_each() -> None:
    assert len(PROVINCES) == 34
    assert len({zh for zh, _ in PROVINCES}) == len({en for _, en in PROVINCES}) == 34
    for zh, en in PROVINCES:
        assert province_key(zh) == zh and province_key(en) == zh
    assert english_name("上海") == "Shanghai" and english_name("x") is None


@pytest.mark.parametrize(("number", "province"), [
    ("+862161234567", "上海"),  # a Shanghai landline (021)
    ("+8657487654321", "浙江"),  # Ningbo (0574)
    ("+8613912345678", "江苏"),  # a mobile registered in Changzhou
    ("13800138000", "北京"),  # written without +86
    ("+85221234567", "香港"),
    ("+14155550123", None),  # abroad
    ("+864008001234", None),  # a 400 number is nowhere
    ("garbage", None), ("", None), (None, None), ("+86" + "1" * 60, None),
])
def test_the_region_is_guessed_from_the_number(number: str | None,
                                              province: str | None) -> None:
    assert province_of_number(number) == province


@given(st.text(max_size=60))
def test_nothing_from_the_phone_network_raises(text: str) -> None:
    assert province_of_number(text) in {None, *(zh for zh, _ in PROVINCES)}
    assert province_key(text) in {None, *(zh for zh, _ in PROVINCES)}
