"""Routing rules (crm_core.dispatch_rules) and places (crm_core.places): plain data."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from crm_core.dispatch_rules import (
    LOAD_KM,
    StationFacts,
    TicketFacts,
    covers,
    decide,
)
from crm_core.places import (
    Place,
    city_in_text,
    coordinates,
    haversine_km,
    place_of,
    region_of,
)

ZZ = place_of(None, "河南省", "郑州市")


def station(id_: int, code: str, province: str, city: str, **kw: object) -> StationFacts:
    point = coordinates(province, city)
    assert point is not None
    values: dict[str, object] = {"id": id_, "code": code, "name": f"{city}服务站",
                                 "name_en": f"{code} station", "province": province,
                                 "city": city, "lat": point[0], "lon": point[1],
                                 "product_lines": ("BUS-COACH",), "capacity": 20}
    values.update(kw)
    return StationFacts(**values)  # type: ignore[arg-type]


def coach(place: Place = ZZ, **kw: object) -> TicketFacts:
    values: dict[str, object] = {"place": place, "product_line": "BUS-COACH",
                                 "line_zh": "旅游客车", "line_en": "coaches"}
    values.update(kw)
    return TicketFacts(**values)  # type: ignore[arg-type]


def test_places_fold_names_and_know_regions() -> None:
    assert ZZ.province == "河南" and ZZ.city == "郑州" and ZZ.lat is not None
    assert region_of("河南") == "华中" and region_of("广西壮族自治区") == "华南"
    assert region_of("nowhere") is None
    assert city_in_text("郑州二七车场") == ("河南", "郑州")
    assert place_of("淄博二厂", "上海", "上海").city == "淄博"  # the machine's site wins
    assert place_of("一楼大厅", "上海", "上海").city == "上海"
    only_province = place_of(None, "河南", None)
    assert only_province.city is None and only_province.lat is not None  # the capital
    assert place_of(None, None, None) == Place(None)
    # Zhengzhou - Luoyang is about 115 km as the crow flies
    zz, ly = coordinates("河南", "郑州"), coordinates("河南", "洛阳")
    assert zz and ly and 100 < haversine_km(*zz, *ly) < 130


def test_nearest_covering_station_wins_and_says_why() -> None:
    near = station(1, "ZZ01", "河南", "郑州", open=3)
    far = station(2, "LY01", "河南", "洛阳", covers=({"province": "河南"},))
    other = station(3, "WH01", "湖北", "武汉")  # does not cover 郑州
    decision = decide(coach(), [far, other, near])
    assert decision.station_id == 1 and not decision.flagged
    assert decision.reason == "郑州服务站：覆盖河南郑州，服务旅游客车，0 公里，在办 3 单"
    assert decision.reason_en == "ZZ01 station: covers Zhengzhou, serves coaches, 0 km, 3 open"
    assert [a.station_id for a in decision.alternatives] == [2]
    assert "洛阳服务站" in decision.alternatives[0].reason


def test_covers_entries() -> None:
    s = station(1, "A", "河南", "洛阳", covers=({"province": "河南", "city": "开封"},
                                               {"province": "山西"}))
    assert covers(s, place_of(None, "河南", "开封"))
    assert covers(s, place_of(None, "山西", "大同"))
    assert not covers(s, ZZ)
    assert covers(s, place_of(None, "河南", None))  # a province-only place: its stations


def test_product_line_must_be_served() -> None:
    printer_only = station(1, "P", "河南", "郑州", product_lines=("PRN-LASER",))
    coach_far = station(2, "C", "河南", "洛阳", covers=({"province": "河南"},))
    assert decide(coach(), [printer_only, coach_far]).station_id == 2
    assert decide(coach(product_line=None), [printer_only, coach_far]).station_id == 1


def test_load_balances_within_a_city_and_a_full_station_drops_behind() -> None:
    busy = station(1, "ZZ01", "河南", "郑州", open=18)
    idle = station(2, "ZZ02", "河南", "郑州", open=2)
    assert decide(coach(), [busy, idle]).station_id == 2
    full = station(3, "ZZ03", "河南", "郑州", open=20)
    far = station(4, "XX01", "河南", "新乡", covers=({"province": "河南"},), open=19)
    decision = decide(coach(), [full, far])
    assert decision.station_id == 4
    assert "已满 20/20" in decision.alternatives[0].reason


def test_vip_and_breakdowns_take_the_nearest_even_at_capacity() -> None:
    full = station(1, "ZZ01", "河南", "郑州", open=25)
    far = station(2, "XX01", "河南", "新乡", covers=({"province": "河南"},))
    assert decide(coach(), [full, far]).station_id == 2
    urgent = decide(coach(priority="urgent"), [full, far])
    assert urgent.station_id == 1 and "breakdown first" in urgent.reason_en
    assert decide(coach(vip_tier=2), [full, far]).station_id == 1


def test_nothing_covers_goes_to_the_regional_hub_flagged() -> None:
    hub = station(9, "HUB-HZ", "湖北", "武汉", is_hub=True, region="华中",
                  product_lines=("PRN-LASER",))
    south_hub = station(8, "HUB-HN", "广东", "广州", is_hub=True, region="华南")
    decision = decide(coach(), [hub, south_hub, station(3, "X", "四川", "成都")])
    assert decision.station_id == 9 and decision.flagged
    assert "华中区域中心" in decision.reason and "Central China regional hub" in decision.reason_en
    none = decide(coach(), [])
    assert none.chosen is None and none.flagged and none.reason_en


def test_refused_stations_are_excluded() -> None:
    a, b = station(1, "ZZ01", "河南", "郑州"), station(2, "ZZ02", "河南", "郑州", open=5)
    assert decide(coach(), [a, b]).station_id == 1
    assert decide(coach(), [a, b], exclude={1}).station_id == 2


_cities = st.sampled_from([("河南", "郑州"), ("河南", "洛阳"), ("河南", "新乡"),
                           ("湖北", "武汉"), ("河北", "石家庄")])


@st.composite
def networks(draw: st.DrawFn) -> list[StationFacts]:
    n = draw(st.integers(0, 8))
    out = []
    for i in range(n):
        prov, city = draw(_cities)
        cover = draw(st.sampled_from([(), ({"province": "河南"},), ({"province": prov},)]))
        out.append(station(i + 1, f"S{i:02d}", prov, city, covers=cover,
                           open=draw(st.integers(0, 40)), capacity=draw(st.integers(1, 30)),
                           active=draw(st.booleans()), is_hub=draw(st.booleans()),
                           region=draw(st.sampled_from(["华中", "华北"])),
                           product_lines=draw(st.sampled_from([("BUS-COACH",),
                                                               ("PRN-LASER",)]))))
    return out


@given(networks(), st.sampled_from(["normal", "urgent"]), st.integers(0, 3))
def test_properties_of_any_decision(stations: list[StationFacts], priority: str,
                                    tier: int) -> None:
    facts = coach(priority=priority, vip_tier=tier)
    decision = decide(facts, stations)
    by_id = {s.id: s for s in stations}
    eligible = [s for s in stations if s.active and covers(s, facts.place)
                and "BUS-COACH" in s.product_lines]
    assert decision.reason and decision.reason_en
    if eligible:  # never flagged when someone covers it, and the choice is one of them
        assert not decision.flagged and decision.station_id in {s.id for s in eligible}
        if priority == "normal" and tier == 0 and any(s.open < s.capacity for s in eligible):
            chosen = by_id[decision.station_id]  # type: ignore[index]
            assert chosen.open < chosen.capacity  # a full station drops behind
    else:  # a hub or nobody, never dropped silently
        assert decision.flagged
        assert decision.chosen is None or by_id[decision.station_id].is_hub  # type: ignore[index]
    chosen_id = decision.station_id
    assert chosen_id not in {a.station_id for a in decision.alternatives}
    # deterministic
    assert decide(facts, list(reversed(stations))) == decision


@given(st.integers(0, 40), st.integers(0, 40))
def test_load_counts_as_distance(open_a: int, open_b: int) -> None:
    a = station(1, "A", "河南", "郑州", open=open_a, capacity=40)
    b = station(2, "B", "河南", "郑州", open=open_b, capacity=40)
    chosen = decide(coach(), [a, b]).station_id
    assert chosen == (1 if open_a <= open_b else 2)
    assert LOAD_KM > 0
    assert decide(replace(coach(), priority="urgent"), [a, b]).station_id == 1  # same place


def test_a_count_that_stopped_reads_as_at_least() -> None:
    busy = station(1, "ZZ01", "河南", "郑州", open=40, open_at_least=True)
    decision = decide(coach(priority="urgent"), [busy])
    assert "在办 40+ 单（已满 40+/20）" in decision.reason
    assert "40+ open (full: 40+/20)" in decision.reason_en
