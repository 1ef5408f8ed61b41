"""The technician of a routed ticket (crm_core.technician_rules): plain data."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from crm_core.dispatch_rules import Choice, Decision, with_technician
from crm_core.technician_rules import (
    TRADE_CODES,
    TechnicianFacts,
    needed_skills,
    pick_technician,
    qualifies,
    trade_of,
)

COACH = "BUS-COACH"


def tech(id_: int, name: str, *skills: str, station: int = 1, open_: int = 0,
         on_duty: bool = True, active: bool = True) -> TechnicianFacts:
    return TechnicianFacts(id=id_, name=name, station_id=station, skills=skills,
                           on_duty=on_duty, active=active, open=open_)


def test_needed_skills_are_the_line_and_the_trade_the_category_names() -> None:
    assert needed_skills(COACH, "repair") == (COACH,)
    assert needed_skills(COACH, "电气") == (COACH, "electrical")
    assert needed_skills(None, " Electrical ") == ("electrical",)
    assert needed_skills(None, "air conditioning") == ("aircon",)
    assert needed_skills(None, None) == ()
    assert trade_of("inquiry") is None


def test_the_least_loaded_qualified_technician_of_the_station_is_chosen() -> None:
    crew = [tech(1, "李师傅", COACH, "electrical", open_=5),
            tech(2, "王师傅", COACH, "electrical", open_=2),
            tech(3, "赵师傅", COACH, open_=0),  # lacks the trade
            tech(4, "钱师傅", COACH, "electrical", open_=0, on_duty=False),
            tech(5, "孙师傅", COACH, "electrical", open_=0, station=2),  # another station
            tech(6, "周师傅", COACH, "electrical", open_=0, active=False)]
    got = pick_technician(1, crew, (COACH, "electrical"), line_zh="旅游客车",
                          line_en="coaches")
    assert got.technician_id == 2 and got.name == "王师傅" and got.open == 2
    assert got.reason == "技师 王师傅：旅游客车、电气，在办 2 单"
    assert got.reason_en == "technician 王师傅: coaches, electrical, 2 open"


def test_none_qualifies_the_station_assigns_by_hand() -> None:
    crew = [tech(1, "赵师傅", "PRN-LASER"), tech(2, "钱师傅", COACH, on_duty=False)]
    got = pick_technician(1, crew, (COACH,), line_zh="旅游客车", line_en="coaches")
    assert got.technician_id is None and got.name is None
    assert got.reason == "无具备旅游客车技能的技师在岗：由服务站人工指派"
    assert got.reason_en == "no technician on duty with coaches: the station assigns by hand"
    empty = pick_technician(1, [], ())
    assert empty.technician_id is None and "assigns by hand" in empty.reason_en


def test_a_ticket_needing_nothing_goes_to_any_technician_on_duty() -> None:
    got = pick_technician(1, [tech(1, "赵师傅", "PRN-LASER", open_=3), tech(2, "钱师傅", open_=1)],
                          ())
    assert got.technician_id == 2 and got.reason == "技师 钱师傅：在办 1 单"
    assert got.reason_en == "technician 钱师傅: 1 open"


def test_the_decision_says_the_station_then_the_technician() -> None:
    chosen = Choice(station_id=1, code="ZZ01", name="郑州服务站", km=3.0, open=3, capacity=20,
                    reason="郑州服务站：覆盖河南郑州", reason_en="ZZ01: covers Zhengzhou")
    decision = Decision(chosen=chosen, reason=chosen.reason, reason_en=chosen.reason_en)
    assert decision.technician_id is None
    both = with_technician(decision, pick_technician(1, [tech(7, "王师傅", COACH, open_=2)],
                                                     (COACH,), line_zh="旅游客车",
                                                     line_en="coaches"))
    assert both.technician_id == 7 and both.station_id == 1
    assert both.reason == "郑州服务站：覆盖河南郑州；技师 王师傅：旅游客车，在办 2 单"
    assert both.reason_en == "ZZ01: covers Zhengzhou; technician 王师傅: coaches, 2 open"


SKILLS = st.sampled_from((COACH, "PRN-LASER", *TRADE_CODES[:3]))
TECHS = st.lists(st.builds(
    TechnicianFacts, id=st.integers(1, 50), name=st.sampled_from(("王", "李", "张", "赵")),
    station_id=st.integers(1, 3), skills=st.lists(SKILLS, max_size=4).map(tuple),
    on_duty=st.booleans(), active=st.booleans(), open=st.integers(0, 30)),
    max_size=15, unique_by=lambda t: t.id)
NEEDED = st.lists(SKILLS, max_size=2, unique=True).map(tuple)


@given(TECHS, NEEDED, st.integers(1, 3), st.randoms())
def test_the_pick_qualifies_is_least_loaded_and_ignores_the_order(
    crew: list[TechnicianFacts], needed: tuple[str, ...], station: int, rnd: object
) -> None:
    got = pick_technician(station, crew, needed)
    fit = [t for t in crew if qualifies(t, station, needed)]
    if not fit:
        assert got.technician_id is None and got.reason.endswith("由服务站人工指派")
        return
    picked = next(t for t in crew if t.id == got.technician_id)
    assert qualifies(picked, station, needed)
    assert picked.active and picked.on_duty and picked.station_id == station
    assert set(needed) <= set(picked.skills)
    assert picked.open == min(t.open for t in fit) == got.open
    shuffled = list(crew)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    assert pick_technician(station, shuffled, needed) == got
    assert f"在办 {picked.open} 单" in got.reason and f"{picked.open} open" in got.reason_en
