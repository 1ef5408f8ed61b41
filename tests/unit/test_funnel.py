"""The funnel's arithmetic (crm_core.funnel), pure: counts and amounts per stage, how
far deals got, conversion between stages, time spent in each; the edge cases: nothing at
all, an empty stage (no division by zero), reopened deals counted once, steps out of
order or dated backwards."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from crm_core import funnel, opportunities
from crm_core.funnel import Deal, Step

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


def deal(i: int, amount: str | None, *path: tuple[str, float]) -> Deal:
    return Deal(id=i, amount=None if amount is None else Decimal(amount),
                stage=path[-1][0], steps=tuple(Step(stage=s, at=day(d)) for s, d in path))


def by_stage(f: funnel.Funnel) -> dict[str, funnel.StageFigures]:
    return {s.stage: s for s in f.stages}


def test_the_stages_are_the_opportunities() -> None:
    assert funnel.STAGES == opportunities.STAGES
    assert set(funnel.CLOSED) == set(opportunities.CLOSED_STAGES)


def test_nothing_at_all() -> None:
    f = funnel.funnel([], day(0))
    assert f.deals == 0 and f.won == 0 and f.win_rate is None and f.won_amount == 0.0
    for s in f.stages:
        assert (s.count, s.reached, s.amount, s.conversion, s.mean_days) == \
            (0, 0, 0.0, None, None)


def test_counts_amounts_reach_and_conversion() -> None:
    deals = [
        deal(1, "1000", ("lead", 0)),
        deal(2, "2000", ("lead", 0), ("qualified", 2)),
        deal(3, "3000", ("lead", 0), ("qualified", 1), ("proposal", 5), ("won", 15)),
        deal(4, "4000", ("lead", 0), ("qualified", 3), ("lost", 4)),
    ]
    f = funnel.funnel(deals, day(20))
    s = by_stage(f)
    assert [s[x].count for x in funnel.STAGES] == [1, 1, 0, 1, 1]
    assert s["lead"].amount == 1000.0 and s["won"].amount == 3000.0
    assert [s[x].reached for x in funnel.CHAIN] == [4, 3, 1, 1]
    assert s["lead"].reached_amount == 10000.0 and s["qualified"].reached_amount == 9000.0
    assert s["lead"].conversion == 0.75
    assert s["qualified"].conversion == round(1 / 3, 4)
    assert s["proposal"].conversion == 1.0
    assert s["won"].conversion is None and s["lost"].conversion is None
    assert f.won == 1 and f.lost == 1 and f.win_rate == 0.5 and f.won_amount == 3000.0
    assert f.deals == 4


def test_an_empty_stage_between_full_ones_divides_by_nothing() -> None:
    # nobody at proposal: its conversion is None, and qualified's is 0
    f = funnel.funnel([deal(1, "10", ("lead", 0), ("qualified", 1))], day(3))
    s = by_stage(f)
    assert s["qualified"].conversion == 0.0
    assert s["proposal"].reached == 0 and s["proposal"].conversion is None
    assert s["proposal"].mean_days is None


def test_a_deal_created_late_in_the_chain_passed_the_stages_before() -> None:
    f = funnel.funnel([deal(1, "500", ("proposal", 0))], day(1))
    s = by_stage(f)
    assert [s[x].reached for x in funnel.CHAIN] == [1, 1, 1, 0]
    # but it spent no time at lead or qualified
    assert s["lead"].mean_days is None and s["proposal"].mean_days == 1.0


def test_mean_time_in_each_stage() -> None:
    deals = [
        deal(1, "1", ("lead", 0), ("qualified", 2), ("proposal", 5), ("won", 15)),
        deal(2, "1", ("lead", 0), ("qualified", 4), ("lost", 5)),
    ]
    s = by_stage(funnel.funnel(deals, day(30)))
    assert s["lead"].mean_days == 3.0  # (2 + 4) / 2
    assert s["qualified"].mean_days == 2.0  # (3 + 1) / 2
    assert s["proposal"].mean_days == 10.0
    # closed stages are ends: no time is counted in them
    assert s["won"].mean_days is None and s["lost"].mean_days is None


def test_the_stage_a_deal_is_in_now_counts_until_now() -> None:
    s = by_stage(funnel.funnel([deal(1, "1", ("lead", 0), ("qualified", 1))], day(8.5)))
    assert s["qualified"].mean_days == 7.5


def test_a_reopened_deal_counts_once_and_its_stays_add_up() -> None:
    # won, reopened to proposal, won again: one deal reached won once; two stays at proposal
    d = deal(1, "900", ("lead", 0), ("proposal", 1), ("won", 3), ("proposal", 4),
             ("won", 10))
    f = funnel.funnel([d], day(20))
    s = by_stage(f)
    assert s["won"].reached == 1 and s["won"].count == 1 and s["proposal"].reached == 1
    assert s["proposal"].mean_days == 8.0  # 2 + 6 days, one deal
    assert s["won"].mean_days is None  # the day it sat at won, reopened after, is no stay
    assert f.won == 1 and f.won_amount == 900.0


def test_a_deal_reopened_from_won_stands_where_it_is_now() -> None:
    d = deal(1, "900", ("lead", 0), ("won", 2), ("proposal", 5))
    f = funnel.funnel([d], day(7))
    s = by_stage(f)
    assert s["won"].count == 0 and s["proposal"].count == 1
    assert s["won"].reached == 1  # it did get there once
    assert f.won == 0 and f.win_rate is None
    assert s["proposal"].mean_days == 2.0


def test_a_lost_deal_reopened_as_a_lead() -> None:
    d = deal(1, "100", ("lead", 0), ("lost", 1), ("lead", 11))
    s = by_stage(funnel.funnel([d], day(12)))
    assert s["lost"].reached == 1 and s["lost"].count == 0 and s["lead"].count == 1
    assert s["lead"].mean_days == 2.0  # 1 day, then 1 day since it came back


def test_steps_in_any_order_and_a_clock_set_back() -> None:
    d = Deal(id=1, amount=Decimal("5"), stage="qualified",
             steps=(Step(stage="qualified", at=day(2)), Step(stage="lead", at=day(0))))
    assert funnel.stays(d, day(3)) == {"lead": 2 * 86400.0, "qualified": 86400.0}
    back = Deal(id=2, amount=None, stage="qualified", steps=(
        Step(stage="lead", at=day(5)), Step(stage="qualified", at=day(5))))
    assert funnel.stays(back, day(4)) == {"lead": 0.0, "qualified": 0.0}


def test_a_deal_without_history_or_amount() -> None:
    f = funnel.funnel([Deal(id=1, amount=None, stage="qualified")], day(1))
    s = by_stage(f)
    assert s["qualified"].count == 1 and s["qualified"].amount == 0.0
    assert s["lead"].reached == 1 and s["qualified"].mean_days is None


def test_funnels_by_key_and_margins() -> None:
    keyed = [("a", deal(1, "1", ("lead", 0))), ("b", deal(2, "2", ("won", 0))),
             ("a", deal(3, "3", ("won", 0)))]
    got = funnel.funnels_by(keyed, day(1))
    assert list(got) == ["a", "b"] and got["a"].deals == 2 and got["b"].won_amount == 2.0
    assert funnel.margin(Decimal("1000"), Decimal("750")) == (250.0, 0.25)
    assert funnel.margin(Decimal("1000"), None) == (None, None)
    assert funnel.margin(Decimal("0"), Decimal("0")) == (0.0, None)
