"""The service report's formulas (crm_core.service_figures): attainment, means and rates
from sums and counts, totals that add counts (never average rates), the period's
Shanghai boundaries."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm_core.service_figures import (
    Counts,
    attainment,
    figures,
    mean,
    month_of,
    overall_attainment,
    period_bounds,
    rate,
    shanghai_month,
    total,
)


def test_rate_and_mean_have_no_figure_without_a_denominator() -> None:
    assert rate(0, 0) is None and mean(0, 0) is None
    assert rate(2, 3) == 66.7
    assert rate(3, 3) == 100.0
    assert mean(95.0, 2) == 47.5


def test_attainment_is_met_over_decided_per_target_and_overall() -> None:
    c = Counts(met={"accept": 3, "arrive": 1, "resolve": 0},
               decided={"accept": 4, "arrive": 1, "resolve": 0})
    assert attainment(c, "accept") == 75.0
    assert attainment(c, "arrive") == 100.0
    assert attainment(c, "resolve") is None  # nothing decided: no figure, not 0 %
    assert overall_attainment(c) == 80.0  # 4 met of 5 decided targets


def test_figures_row() -> None:
    c = Counts(tickets=5, resolved=2, met={"accept": 1}, decided={"accept": 2},
               minutes={"accept": 30.0, "resolve": 600.0}, done={"accept": 2, "resolve": 2},
               repairs=4, first_time_fixes=3, repeat_assets=1)
    row = figures(c)
    assert row["tickets"] == 5 and row["resolved"] == 2
    assert row["accept_pct"] == 50.0 and row["arrive_pct"] is None
    assert row["mean_accept_min"] == 15.0 and row["mean_resolve_min"] == 300.0
    assert row["mean_arrive_min"] is None
    assert row["ftf_pct"] == 75.0 and row["repeat_assets"] == 1
    assert row["sla_pct"] == 50.0


def test_a_total_adds_counts_it_does_not_average_rates() -> None:
    small = Counts(tickets=1, met={"accept": 0}, decided={"accept": 1})
    big = Counts(tickets=9, met={"accept": 9}, decided={"accept": 9})
    both = total([small, big])
    assert both.tickets == 10
    assert attainment(both, "accept") == 90.0  # not (0 % + 100 %) / 2
    assert total([]) == Counts()


counts = st.builds(
    lambda t, m, d: Counts(tickets=t, met={"accept": min(m, d)}, decided={"accept": d}),
    st.integers(0, 1000), st.integers(0, 1000), st.integers(0, 1000))


@given(st.lists(counts, max_size=6))
def test_attainment_always_between_0_and_100(groups: list[Counts]) -> None:
    value = attainment(total(groups), "accept")
    assert value is None or 0.0 <= value <= 100.0
    assert total(groups).tickets == sum(g.tickets for g in groups)


def test_the_period_is_shanghai_days() -> None:
    start, end = period_bounds(date(2026, 12, 1), date(2026, 12, 31))
    assert start == datetime(2026, 11, 30, 16, 0, tzinfo=UTC)
    assert end == datetime(2026, 12, 31, 16, 0, tzinfo=UTC)
    with pytest.raises(ValueError, match="before it starts"):
        period_bounds(date(2026, 12, 2), date(2026, 12, 1))
    with pytest.raises(ValueError, match="longer"):
        period_bounds(date(2020, 1, 1), date(2026, 1, 1))


def test_months() -> None:
    assert month_of(date(2024, 2, 10)) == (date(2024, 2, 1), date(2024, 2, 29))
    assert month_of(date(2026, 12, 31)) == (date(2026, 12, 1), date(2026, 12, 31))
    # 16:30 UTC on 30 November is already December in Shanghai
    assert shanghai_month(datetime(2026, 11, 30, 16, 30, tzinfo=UTC)) == "2026-12"
    assert shanghai_month(datetime(2026, 11, 30, 15, 59)) == "2026-11"
