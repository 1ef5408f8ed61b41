"""The importer's pure parts: header mapping, dates, phones, tiers, amounts, encodings,
header-row detection; and the exporter's cell rules."""

from __future__ import annotations

import codecs
from datetime import date, datetime
from decimal import Decimal

import pytest

from crm_core.exporter import csv_cell, format_of, header_text
from crm_core.importer import (
    auto_mapping,
    detect_encoding,
    norm_header,
    parse_date,
    parse_money,
    parse_phones,
    parse_vip_tier,
    read_csv,
    sheet_kind,
)


def test_chinese_headers_map_automatically() -> None:
    headers = ["客户名称*", "联系人", "手机号码", "电话1", "电话2", "省份", "城市", "详细地址",
               "行业", "客户类别", "客户来源", "VIP等级", "负责人", "序列号", "型号",
               "购买日期", "保修截止日期", "备注(内部)", "奇怪的列"]
    cmap = auto_mapping(headers)
    assert cmap.fields == (
        "name", "contact_name", "contact_phone", "phone", "phone", "province", "city",
        "address", "industry", "category", "source", "vip_tier", "owner", "serial_number",
        "model", "purchase_date", "warranty_end", "notes", None,
    )
    assert "column '奇怪的列' not imported" in [n.text for n in cmap.notes]


def test_english_headers_and_overrides() -> None:
    cmap = auto_mapping(["Company Name", "Mobile", "Account Manager", "S/N", "Warranty End"])
    assert cmap.fields == ("name", "contact_phone", "owner", "serial_number", "warranty_end")
    override = auto_mapping(["Firma", "Company Name"], {"Firma": "name", "company name": ""})
    assert override.fields == ("name", None)
    with pytest.raises(ValueError, match="no such field"):
        auto_mapping(["x"], {"x": "nonsense"})
    twice = auto_mapping(["客户名称", "公司名称"])
    assert twice.fields == ("name", None) and "already comes from" in twice.notes[0].text


def test_norm_header() -> None:
    assert norm_header("客户名称(必填)*") == "客户名称"
    assert norm_header(" Phone 2 ") == "phone"
    assert norm_header("\ufeff电话：") == "电话"


@pytest.mark.parametrize(("value", "expected"), [
    ("2024/5/1", date(2024, 5, 1)),
    ("2024-05-01", date(2024, 5, 1)),
    ("2024年5月1日", date(2024, 5, 1)),
    ("2024.5.1", date(2024, 5, 1)),
    ("20240501", date(2024, 5, 1)),
    ("2024-05-01 13:45:00", date(2024, 5, 1)),
    (45413, date(2024, 5, 1)),  # Excel serial
    (45413.75, date(2024, 5, 1)),
    ("45413", date(2024, 5, 1)),
    (20240501, date(2024, 5, 1)),
    ("25/12/2024", date(2024, 12, 25)),
    ("12/25/2024", date(2024, 12, 25)),
    (datetime(2024, 5, 1, 8), date(2024, 5, 1)),
    (None, None),
    ("  ", None),
])
def test_dates(value: object, expected: date | None) -> None:
    assert parse_date(value) == expected


@pytest.mark.parametrize("value", ["2024-13-45", "soon", "5/1/2024", "2024/02/30", -3])
def test_bad_dates(value: object) -> None:
    with pytest.raises(ValueError):
        parse_date(value)


def test_phones() -> None:
    good, bad = parse_phones("010-5129 7073 / 13600136000，(0755)83210000、12345")
    assert good == [("+861051297073", "010-5129 7073"), ("+8613600136000", "13600136000"),
                    ("+8675583210000", "(0755)83210000")]
    assert bad == ["12345"]
    assert parse_phones(13800138000.0) == ([("+8613800138000", "13800138000")], [])
    assert parse_phones(None) == ([], [])


def test_tiers_and_money() -> None:
    assert [parse_vip_tier(v) for v in ("", "3", "VIP2", "3级", "金卡", "gold", 1.0)] == [
        0, 3, 2, 3, 2, 2, 1]
    with pytest.raises(ValueError):
        parse_vip_tier("VIP9")
    assert parse_money("￥3.5万") == Decimal("35000.00")
    assert parse_money("12,000元") == Decimal("12000.00")
    assert parse_money(99.5) == Decimal("99.50")
    assert parse_money("") is None
    for bad in ("abc", "-5", "NaN"):
        with pytest.raises(ValueError):
            parse_money(bad)


def test_encodings() -> None:
    text = "客户名称,电话\n华东医药,13800138000\n"
    assert detect_encoding(text.encode("utf-8")) == "utf-8"
    assert detect_encoding(codecs.BOM_UTF8 + text.encode("utf-8")) == "utf-8-sig"
    assert detect_encoding(text.encode("gbk")) == "gb18030"
    assert detect_encoding(text.encode("utf-16")) == "utf-16"


def test_read_csv_skips_title_line_and_sniffs_tabs(tmp_path: object) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "t.txt"
    path.write_bytes("客户清单\n\n名称\t电话\n甲公司\t13800138000\n\n乙公司\t\n".encode("gbk"))
    table = read_csv(path, "customers")
    assert table is not None
    assert table.headers == ["名称", "电话"]
    assert table.rows == [(4, ["甲公司", "13800138000"]), (6, ["乙公司", ""])]


def test_sheet_kinds() -> None:
    assert [sheet_kind(n) for n in ("客户名单", "联系人", "设备清单", "Assets", "Sheet1")] == [
        "customers", "contacts", "assets", "assets", None]


def test_export_cells() -> None:
    assert csv_cell("=1+1") == "'=1+1"
    assert csv_cell("@SUM(A1)") == "'@SUM(A1)"
    assert csv_cell("+86 138 0013 8000") == "+86 138 0013 8000"  # a number stays a number
    assert csv_cell("+86 21 5888 0101; 139") == "+86 21 5888 0101; 139"
    assert csv_cell("+SUM(1;2)") == "'+SUM(1;2)"
    assert csv_cell("-cmd|' /C calc'!A0") == "'-cmd|' /C calc'!A0"
    assert csv_cell(None) == "" and csv_cell(Decimal("1.50")) == "1.50"
    assert csv_cell(date(2024, 5, 1)) == "2024-05-01"
    assert header_text(("客户", "customer"), "en") == "customer"
    assert header_text({"zh-CN": "客户", "en": "customer"}) == "客户"
    assert format_of("a.XLSX", None) == "xlsx"
    with pytest.raises(ValueError):
        format_of("a.pdf", None)
