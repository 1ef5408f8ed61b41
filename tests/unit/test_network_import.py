"""The network import's pure parts: cells, covers, hours, one row judged against a
context (crm_core.network_import)."""

from __future__ import annotations

import pytest

from crm_core.import_messages import CodedError
from crm_core.network_import import (
    NetworkContext,
    parse_covers,
    parse_hours,
    parse_station_row,
    parse_technician_row,
    parse_yes_no,
    sheet_kind,
)


def ctx() -> NetworkContext:
    c = NetworkContext(lines={"bus-coach": "BUS-COACH", "旅游客车": "BUS-COACH",
                              "prn-laser": "PRN-LASER"},
                       trades={"电气": "electrical", "electrical": "electrical"},
                       stations={"zz01": 7})
    return c


def cells(**values: object) -> dict[str, tuple[str, object]]:
    return {k: (k, v) for k, v in values.items()}


def test_cells() -> None:
    assert parse_covers("河南; 山西省太原市、湖北/武汉") == [
        {"province": "河南"}, {"province": "山西", "city": "太原"},
        {"province": "湖北", "city": "武汉"}]
    with pytest.raises(CodedError):
        parse_covers("火星")
    weekdays = parse_hours("08:30-12:00, 13:00-17:30")
    assert weekdays is not None and set(weekdays) == {"mon", "tue", "wed", "thu", "fri"}
    assert weekdays["mon"] == [["08:30", "12:00"], ["13:00", "17:30"]]
    daily = parse_hours("8:00-20:00 每天")
    assert daily is not None and daily["sun"] == [["08:00", "20:00"]]
    for bad in ("all day", "18:00-08:00", "{not json"):
        with pytest.raises(CodedError):
            parse_hours(bad)
    assert parse_yes_no("是", False) and not parse_yes_no("", False)
    with pytest.raises(CodedError):
        parse_yes_no("maybe", True)
    assert sheet_kind("技术员名单") == "technicians" and sheet_kind("服务站") == "stations"


def test_station_row() -> None:
    c = ctx()
    values, issues = parse_station_row("s", 2, cells(
        code="LY01", name="洛阳服务站", province="河南省", city="洛阳市",
        product_lines="旅游客车/PRN-LASER", capacity="15", covers="河南", is_hub="否"), c)
    assert issues == [] and values is not None
    assert values["product_lines"] == ["BUS-COACH", "PRN-LASER"]
    assert values["province"] == "河南" and values["region"] == "华中"
    assert values["latitude"] is not None and values["capacity"] == 15
    _, issues = parse_station_row("s", 3, cells(code="X1", name="x", province="河南",
                                                product_lines="挖掘机", capacity="-1"), c)
    assert [(i.row, i.code, i.value) for i in issues] == [
        (3, "product_unknown", "挖掘机"), (3, "capacity_invalid", "-1")]
    _, dup = parse_station_row("s", 4, cells(code="zz01", name="郑州", province="河南"), c)
    assert [(i.kind, i.code) for i in dup] == [("duplicate", "duplicate_station_code")]


def test_technician_row() -> None:
    c = ctx()
    values, issues = parse_technician_row("t", 2, cells(station="ZZ01", name="张师傅",
                                                        skills="旅游客车、电气"), c)
    assert issues == [] and values == {"station_id": 7, "name": "张师傅",
                                       "skills": ["BUS-COACH", "electrical"], "phone": None,
                                       "on_duty": True, "active": True, "user_id": None}
    _, issues = parse_technician_row("t", 9, cells(station="NOPE", name="李", skills="杂技"), c)
    assert [(i.row, i.column, i.code) for i in issues] == [
        (9, "station", "station_code_unknown"), (9, "skills", "skill_unknown")]
