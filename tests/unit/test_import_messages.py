"""The importer's messages as codes (issue 14 item 11): every code has English and
Chinese text in the catalogue and in the page's i18n files, the English text is what the
CLI always printed, and an unknown code falls back to the stored English text."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from crm_core import importer
from crm_core.import_messages import CATALOG, CodedError, Msg, localized, render

I18N = Path(__file__).resolve().parents[2] / "agent_console/static/console/i18n"
CJK = re.compile(r"[\u4e00-\u9fff]")


def test_every_code_has_both_languages_in_the_page_i18n() -> None:
    for lang in ("zh-CN", "en"):
        strings = json.loads((I18N / f"{lang}.json").read_text(encoding="utf-8"))
        keys = {k.removeprefix("imports.msg.") for k in strings if k.startswith("imports.msg.")}
        assert keys == set(CATALOG), lang
    zh = json.loads((I18N / "zh-CN.json").read_text(encoding="utf-8"))
    for code, (_, chinese) in CATALOG.items():
        assert CJK.search(chinese) and CJK.search(zh[f"imports.msg.{code}"]), code


def test_render_fills_params_and_the_pool_owner() -> None:
    msg = Msg("duplicate_name", {"id": 7, "name": "华东医药", "owner": None})
    assert msg.text == "duplicate: same name as customer 7 华东医药 (owner: shared pool / 公海)"
    assert render(msg.code, msg.params, "zh-CN") == (
        "重复：名称与客户 7 华东医药 相同（负责人：公海）")
    assert render("date_ambiguous", {"text": "5/1/2024", "year": 2024}) == (
        "ambiguous date '5/1/2024': write it as 2024-MM-DD")


def test_unknown_code_falls_back_to_the_english_text() -> None:
    assert localized({"code": "no_such_code", "message": "as stored"}, "zh-CN") == "as stored"
    assert localized({"message": "old job"}, "zh-CN") == "old job"
    assert localized({"code": "phone_invalid", "params": {}, "message": "x"}, "zh-CN") == (
        "不是有效的电话号码")


def test_parsers_raise_coded_value_errors() -> None:
    with pytest.raises(CodedError) as bad_date:
        importer.parse_date("soon")
    assert bad_date.value.msg.code == "date_invalid"
    assert isinstance(bad_date.value, ValueError)
    with pytest.raises(CodedError) as ambiguous:
        importer.parse_date("5/1/2024")
    assert ambiguous.value.msg == Msg("date_ambiguous", {"text": "5/1/2024", "year": 2024})
    with pytest.raises(CodedError) as tier:
        importer.parse_vip_tier("白金卡?")
    assert (tier.value.msg.code, str(tier.value)) == (
        "vip_tier_invalid", "VIP tier is 0-5 (or 普通/银卡/金卡/钻石)")
    with pytest.raises(CodedError, match="not an amount"):
        importer.parse_money("lots")


def test_row_issues_and_column_notes_carry_codes() -> None:
    cmap = importer.auto_mapping(["客户名称", "电话", "奇怪的列"])
    assert cmap.notes == (Msg("note_column_unused", {"column": "奇怪的列"}),)
    cells = importer.row_cells(["客户名称", "电话", "奇怪的列"], cmap,
                               ["", "not-a-number", "x"])
    draft, issues = importer.parse_customer_row(
        "s", 2, cells, importer.ImportContext(), region="CN", name_key=str.casefold,
        default_owner=None, seen_serials={})
    assert draft is None
    assert [(i.code, i.message) for i in issues] == [
        ("name_missing", "the customer name is missing"),
        ("phone_invalid", "not a valid phone number")]
    assert issues[0].as_dict()["code"] == "name_missing"
