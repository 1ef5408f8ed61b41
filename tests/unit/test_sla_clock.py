"""The SLA clock's business-time arithmetic: properties (hypothesis) and calendar edges,
in daylight-free Asia/Shanghai with China's 2026 holidays, and in a zone with DST."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crm_core.holidays import parse_days, read_file
from crm_core.sla_clock import (
    BusinessCalendar,
    add_business,
    add_business_minutes,
    business_seconds,
    business_time,
)

SH = ZoneInfo("Asia/Shanghai")
NY = ZoneInfo("America/New_York")
_, CN_DAYS = read_file()
CN = BusinessCalendar.build(days={d: kind for d, (kind, _) in CN_DAYS.items()})
# a zone with daylight saving, hours across the night and the 02:00 jump
NIGHT = BusinessCalendar.build(
    {"mon": [["00:00", "03:00"], ["08:00", "24:00"]], "sun": [["01:00", "04:00"]],
     "wed": [["09:00", "17:00"]], "sat": [["01:30", "02:30"]]}, tz="America/New_York")
CALENDARS = st.sampled_from([CN, NIGHT, BusinessCalendar.build(
    {d: [["00:00", "24:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")},
    tz="America/New_York")])

instants = st.datetimes(min_value=datetime(2025, 12, 20), max_value=datetime(2027, 12, 20),
                        timezones=st.just(UTC))
minutes = st.integers(min_value=0, max_value=20_000)
ZERO = timedelta(0)


def sh(*args: int) -> datetime:
    return datetime(*args, tzinfo=SH)


@settings(max_examples=200, deadline=None)
@given(CALENDARS, instants, instants,
       st.lists(st.tuples(instants, st.one_of(st.none(), instants)), max_size=4), instants)
def test_never_negative(cal: BusinessCalendar, a: datetime, b: datetime,
                        pauses: list[tuple[datetime, datetime | None]], now: datetime) -> None:
    assert business_time(cal, a, b, pauses, now) >= ZERO
    assert business_time(cal, b, a) >= ZERO


@settings(max_examples=200, deadline=None)
@given(CALENDARS, instants, instants, instants)
def test_monotone_in_end(cal: BusinessCalendar, a: datetime, e1: datetime, e2: datetime
                         ) -> None:
    e1, e2 = min(e1, e2), max(e1, e2)
    assert business_time(cal, a, e1) <= business_time(cal, a, e2)


@settings(max_examples=200, deadline=None)
@given(CALENDARS, instants, minutes)
def test_add_then_elapsed_round_trips(cal: BusinessCalendar, start: datetime, m: int) -> None:
    due = add_business_minutes(cal, start, m)
    assert due >= start
    assert business_time(cal, start, due) == timedelta(minutes=m)
    # and back: the instant m business minutes before the due is as far from it
    back = add_business(cal, due, -timedelta(minutes=m))
    assert business_time(cal, back, due) == timedelta(minutes=m)


@settings(max_examples=200, deadline=None)
@given(CALENDARS, instants, minutes, minutes)
def test_adding_in_two_steps_is_adding_once(cal: BusinessCalendar, start: datetime,
                                            m1: int, m2: int) -> None:
    once = add_business_minutes(cal, start, m1 + m2)
    twice = add_business_minutes(cal, add_business_minutes(cal, start, m1), m2)
    # the same business instant (12:00 and 13:00 are one when lunch is off the clock)
    assert business_time(cal, min(once, twice), max(once, twice)) == ZERO


@settings(max_examples=200, deadline=None)
@given(CALENDARS, st.lists(instants, min_size=4, max_size=4))
def test_a_pause_subtracts_exactly_the_business_time_inside_it(
        cal: BusinessCalendar, points: list[datetime]) -> None:
    a, p, q, b = sorted(points)
    whole, inside = business_time(cal, a, b), business_time(cal, p, q)
    assert business_time(cal, a, b, [(p, q)]) == whole - inside
    # an open pause runs until now; overlapping pauses count once
    assert business_time(cal, a, b, [(p, None)], now=q) == whole - inside
    assert business_time(cal, a, b, [(p, q), (p, q)]) == whole - inside


@settings(max_examples=100, deadline=None)
@given(CALENDARS, instants, minutes, st.integers(min_value=1, max_value=5000))
def test_resume_pushes_the_due_by_the_paused_business_time(
        cal: BusinessCalendar, start: datetime, m: int, paused_min: int) -> None:
    """What ``crm_core.sla.resume`` does: the target counted without the pause is met at
    the pushed due."""
    due = add_business_minutes(cal, start, m)
    p = add_business_minutes(cal, start, m // 2)
    q = add_business_minutes(cal, p, paused_min)
    pushed = add_business(cal, due, business_time(cal, p, q))
    assert business_time(cal, start, pushed, [(p, q)]) == timedelta(minutes=m)


def test_a_start_outside_hours_counts_from_the_next_opening() -> None:
    saturday = sh(2026, 3, 7, 10, 0)
    assert add_business_minutes(CN, saturday, 0) == sh(2026, 3, 9, 8, 30)
    assert add_business_minutes(CN, sh(2026, 3, 9, 12, 15), 30) == sh(2026, 3, 9, 13, 30)
    assert add_business_minutes(CN, sh(2026, 3, 9, 7, 0), 60) == sh(2026, 3, 9, 9, 30)
    assert business_seconds(CN, saturday, sh(2026, 3, 9, 9, 0)) == 30 * 60


def test_spring_festival_2026_with_its_worked_saturday() -> None:
    # Friday 13 Feb 16:00 + 4 h: 1.5 h that day, the rest on Saturday 14th (worked)
    assert add_business_minutes(CN, sh(2026, 2, 13, 16, 0), 240) == sh(2026, 2, 14, 11, 0)
    # from Saturday's close, the nine days off (15-23) pass: Tuesday 24th
    assert add_business_minutes(CN, sh(2026, 2, 14, 17, 30), 30) == sh(2026, 2, 24, 9, 0)
    assert business_seconds(CN, sh(2026, 2, 14, 17, 30), sh(2026, 2, 24, 8, 30)) == 0
    # Saturday 28th is worked, Sunday 1 March is not
    assert business_seconds(CN, sh(2026, 2, 28, 0, 0), sh(2026, 3, 2, 0, 0)) == 8 * 3600


def test_national_day_2026() -> None:
    assert business_seconds(CN, sh(2026, 9, 30, 17, 0), sh(2026, 10, 8, 0, 0)) == 30 * 60
    assert add_business_minutes(CN, sh(2026, 9, 30, 17, 0), 60) == sh(2026, 10, 8, 9, 0)
    assert add_business_minutes(CN, sh(2026, 9, 20, 8, 0), 0) == sh(2026, 9, 20, 8, 30)


def test_a_daylight_saving_day() -> None:
    always = BusinessCalendar.build(
        {d: [["00:00", "24:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")},
        tz="America/New_York")
    spring, autumn = date(2026, 3, 8), date(2026, 11, 1)
    day = timedelta(days=1)

    def midnight(d: date) -> datetime:
        return datetime.combine(d, datetime.min.time(), tzinfo=NY)

    assert business_time(always, midnight(spring), midnight(spring + day)) == timedelta(hours=23)
    assert business_time(always, midnight(autumn), midnight(autumn + day)) == timedelta(hours=25)
    # wall times in the spring gap (02:00-03:00) read as after the jump, as the clock
    # on the wall does: 02:00-02:59 is 03:00-03:59 EDT that day, still 59 minutes
    gap = BusinessCalendar.build({"sun": [["02:00", "02:59"]], "mon": [["09:00", "10:00"]]},
                                 tz="America/New_York")
    ((lo, hi),) = gap.intervals(spring)
    assert lo.astimezone(NY).hour == 3 and hi - lo == timedelta(minutes=59)


def test_bad_calendars_are_refused_with_a_reason() -> None:
    with pytest.raises(ValueError, match="no working hours"):
        BusinessCalendar.build({"mon": []})
    with pytest.raises(ValueError, match="not a HH:MM"):
        BusinessCalendar.build({"mon": [["8", "12:00"]]})
    with pytest.raises(ValueError, match="does not run forward"):
        BusinessCalendar.build({"mon": [["12:00", "08:00"]]})
    with pytest.raises(ValueError, match="overlaps"):
        BusinessCalendar.build({"mon": [["08:00", "12:00"], ["11:00", "13:00"]]})
    with pytest.raises(ValueError, match="unknown day"):
        BusinessCalendar.build({"monday": [["08:00", "12:00"]]})
    with pytest.raises(ValueError, match="IANA"):
        BusinessCalendar.build(tz="Mars/Olympus")
    with pytest.raises(ValueError, match="aware"):
        add_business_minutes(CN, datetime(2026, 1, 5, 9), 10)
    all_off = BusinessCalendar.build(days={date(2026, 1, 1) + timedelta(days=n): "off"
                                           for n in range(1200)})
    with pytest.raises(ValueError, match="no business hours"):
        add_business_minutes(all_off, sh(2026, 1, 1, 9, 0), 10)


def test_the_2026_holiday_data_matches_the_state_council_notice() -> None:
    off = sorted(d for d, (kind, _) in CN_DAYS.items() if kind == "off" and d.year == 2026)
    work = sorted(d for d, (kind, _) in CN_DAYS.items() if kind == "work" and d.year == 2026)
    assert len(off) == 3 + 9 + 3 + 5 + 3 + 3 + 7
    assert work == [date(2026, 1, 4), date(2026, 2, 14), date(2026, 2, 28), date(2026, 5, 9),
                    date(2026, 9, 20), date(2026, 10, 10)]
    assert all(d.weekday() >= 5 for d in work)  # adjusted working days are weekend days
    assert CN_DAYS[date(2026, 2, 17)] == ("off", "春节")


def test_bad_holiday_data_is_refused_naming_the_entry() -> None:
    with pytest.raises(ValueError, match="2026.holidays.0.*YYYY-MM-DD"):
        parse_days({"years": {"2026": {"holidays": [{"off": ["2026-13-01", "2026-13-02"]}]}}})
    with pytest.raises(ValueError, match="both a holiday and a working day"):
        parse_days({"years": {"2026": {"holidays": [
            {"off": ["2026-01-01", "2026-01-03"], "work": ["2026-01-02"]}]}}})
