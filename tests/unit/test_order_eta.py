"""The expected arrival of a supplier batch (crm_core.order_eta): pure."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from crm_core.order_eta import (
    DEFAULT_DAYS,
    STAGES,
    can_move,
    expected_arrival,
    is_late,
    rank,
    stage_days,
    usual_days,
)

D = date(2026, 6, 1)


def history(*spans: dict[str, int]) -> list[dict[str, str]]:
    """Past batches' stage_dates from their days per stage."""
    out = []
    for days in spans:
        day, dates = D, {}
        for stage in STAGES:
            dates[stage] = day.isoformat()
            day += timedelta(days=days.get(stage, 0))
        out.append(dates)
    return out


def test_no_history_uses_the_defaults() -> None:
    usual = usual_days([])
    assert usual == {s: float(d) for s, d in DEFAULT_DAYS.items()}
    # ordered on June 1: 14 + 35 + 7 + 5 + 3 + 3 days later
    assert expected_arrival("ordered", D, usual, D) == D + timedelta(days=67)
    assert expected_arrival("dispatched", D, usual, D) == D + timedelta(days=3)


def test_median_of_the_suppliers_own_history() -> None:
    # customs took 2, 3 and 40 days: the median (3), not the mean, is the forecast
    past = history({"customs": 2}, {"customs": 3}, {"customs": 40})
    usual = usual_days(past)
    assert usual["customs"] == 3
    assert usual["ordered"] == 0  # every past batch shipped the day it was ordered
    arrival = expected_arrival("customs", D, usual, D)
    assert arrival == D + timedelta(days=3)  # every later stage took 0 days in the past


def test_too_little_history_keeps_the_default() -> None:
    usual = usual_days(history({"customs": 1}, {"customs": 1}))
    assert usual["customs"] == DEFAULT_DAYS["customs"]


def test_overdue_stage_ends_today_at_the_earliest() -> None:
    usual = usual_days([])
    today = D + timedelta(days=20)  # 7 days usual at customs, 20 spent
    arrival = expected_arrival("customs", D, usual, today)
    assert arrival == today + timedelta(days=5 + 3 + 3)
    assert arrival > expected_arrival("customs", D, usual, D)


def test_delivered_arrives_on_its_day() -> None:
    assert expected_arrival("delivered", D, usual_days([]), D + timedelta(days=9)) == D


def test_stage_days_skips_bad_records() -> None:
    dates = {"ordered": "2026-06-01", "customs": "2026-06-20", "bogus": "2026-06-02",
             "inspection": "not a day", "warehouse": "2026-06-25"}
    # shipped not recorded: its time counts to ordered; inspection unreadable: ignored
    assert stage_days(dates) == {"ordered": 19, "customs": 5}
    assert stage_days({"shipped": "2026-06-10", "customs": "2026-06-01"}) == {}


def test_stages_only_move_forward() -> None:
    assert can_move("ordered", "customs") and can_move("customs", "customs")
    assert not can_move("warehouse", "shipped")
    with pytest.raises(ValueError):
        rank("lost at sea")


def test_late() -> None:
    today = date(2026, 8, 20)
    assert is_late("customs", date(2026, 8, 19), None, today)  # past its day
    assert is_late("customs", date(2026, 9, 5), date(2026, 9, 1), today)  # after the due date
    assert not is_late("customs", date(2026, 8, 25), date(2026, 9, 1), today)
    assert not is_late("delivered", date(2026, 8, 1), date(2026, 7, 1), today)
    assert not is_late("to_be_batched", None, date(2026, 9, 1), today)


def test_a_batch_is_late_past_its_day_or_past_an_orders_due_date() -> None:
    from crm_core.order_eta import batch_lateness

    dues = [("SO1", date(2026, 9, 1)), ("SO2", date(2026, 8, 20)), ("SO3", None)]
    on_time = batch_lateness("customs", date(2026, 8, 10), date(2026, 8, 1), dues)
    assert not on_time.late and on_time == type(on_time)(0, ())
    overdue = batch_lateness("customs", date(2026, 8, 10), date(2026, 8, 13), dues)
    assert overdue.late and overdue.overdue_days == 3 and overdue.threatened == ()
    threat = batch_lateness("shipped", date(2026, 8, 25), date(2026, 8, 1), dues)
    assert threat.late and threat.overdue_days == 0 and threat.threatened == ("SO2",)
    both = batch_lateness("shipped", date(2026, 9, 5), date(2026, 9, 6), dues)
    assert both.overdue_days == 1 and both.threatened == ("SO1", "SO2")
    # delivered, or no forecast: never late
    assert not batch_lateness("delivered", date(2026, 8, 1), date(2026, 9, 1), dues).late
    assert not batch_lateness("ordered", None, date(2026, 9, 1), dues).late


def test_a_forecast_slips_when_it_moves_later() -> None:
    from crm_core.order_eta import slipped

    assert slipped(date(2026, 8, 1), date(2026, 8, 2))
    assert not slipped(date(2026, 8, 2), date(2026, 8, 2))
    assert not slipped(date(2026, 8, 5), date(2026, 8, 2))
    assert not slipped(None, date(2026, 8, 2)) and not slipped(date(2026, 8, 2), None)
