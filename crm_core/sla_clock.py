"""Business-time arithmetic for SLA clocks: pure, no I/O, no clock reads.

A :class:`BusinessCalendar` is a station's working hours (``{"mon": [["08:30", "12:00"],
["13:00", "17:30"]], ...}``, wall-clock times in its IANA zone, default Asia/Shanghai)
and a holiday calendar (day -> ``"off"``: a public holiday, no hours; ``"work"``: an
adjusted working day, e.g. the Saturday worked to bridge the Spring Festival, which
works the hours of a normal weekday, ``work_weekday``, Monday by default).

Rules:
- every instant in and out is an aware datetime; results are UTC;
- ``add_business(cal, start, delta)``: the instant where ``delta`` of business time has
  passed since ``start``; a start outside the hours counts from the next opening, so
  ``add_business(cal, start, 0)`` is the next business instant (``start`` itself within
  hours). A negative ``delta`` walks back (the instant ``-delta`` of business time
  before ``start``): the SLA's warning instant is its due minus (100 - warn_pct) % of
  the target, and the due is all the clock stores;
- ``business_time(cal, start, end, pauses)``: business time within ``[start, end]``
  minus what lies inside the pauses (intervals, merged; an open pause ``(t, None)``
  runs until ``now``, by default ``end``); never negative, zero when ``end <= start``;
- ``"24:00"`` ends a day; a day's intervals must be ordered and not overlap;
- daylight saving (zones that have it): a wall time that does not exist that day (the
  spring gap) reads as after the jump, an ambiguous one as its first occurrence; an
  interval the jump leaves empty counts nothing;
- a calendar without any working hour would never reach a due: it is refused when
  built, and a search longer than ``MAX_DAYS`` days (a calendar all holidays) raises.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "DAY_KEYS", "DEFAULT_HOURS", "MAX_DAYS", "BusinessCalendar", "add_business",
    "add_business_minutes", "business_seconds", "business_time",
]

DAY_KEYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DEFAULT_HOURS: dict[str, list[list[str]]] = {
    day: [["08:30", "12:00"], ["13:00", "17:30"]] for day in DAY_KEYS[:5]
}
MAX_DAYS = 3 * 366  # the longest search for business time before giving up
ZERO = timedelta(0)

Interval = tuple[datetime, datetime]


def _clock(text: str, where: str) -> tuple[time, bool]:
    """``"HH:MM"`` -> (time, is end of day)."""
    try:
        hours, minutes = (int(part) for part in str(text).split(":"))
    except ValueError:
        raise ValueError(f"{where}: {text!r} is not a HH:MM time") from None
    if (hours, minutes) == (24, 0):
        return time(0), True
    if not (0 <= hours < 24 and 0 <= minutes < 60):
        raise ValueError(f"{where}: {text!r} is not a time of day")
    return time(hours, minutes), False


def _parse_day(key: str, spans: object) -> tuple[tuple[time, time, bool], ...]:
    if not isinstance(spans, (list, tuple)):
        raise ValueError(f"hours.{key}: a list of [from, to] pairs expected")
    out: list[tuple[time, time, bool]] = []
    previous_end: tuple[time, bool] | None = None
    for i, span in enumerate(spans):
        where = f"hours.{key}[{i}]"
        if not isinstance(span, (list, tuple)) or len(span) != 2:
            raise ValueError(f"{where}: a [from, to] pair expected")
        begin, begin_eod = _clock(span[0], where)
        end, end_eod = _clock(span[1], where)
        if begin_eod or (not end_eod and end <= begin):
            raise ValueError(f"{where}: {span[0]}-{span[1]} does not run forward")
        if previous_end is not None and (previous_end[1] or begin < previous_end[0]):
            raise ValueError(f"{where}: overlaps or comes before the previous interval")
        out.append((begin, end, end_eod))
        previous_end = (end, end_eod)
    return tuple(out)


@dataclass(frozen=True, eq=False)
class BusinessCalendar:
    """Working hours in a zone plus a holiday calendar; build it with :meth:`build`."""

    zone: ZoneInfo
    week: tuple[tuple[tuple[time, time, bool], ...], ...]  # Monday..Sunday
    days: Mapping[date, str]
    work_weekday: int = 0
    _cache: dict[date, tuple[Interval, ...]] = field(default_factory=dict, repr=False)

    @classmethod
    def build(cls, hours: Mapping[str, object] | None = None, tz: str = "Asia/Shanghai",
              days: Mapping[date, str] | None = None, work_weekday: str = "mon"
              ) -> BusinessCalendar:
        """Validate and build; a bad value raises ``ValueError`` naming it."""
        hours = DEFAULT_HOURS if hours is None else hours
        unknown = sorted(set(hours) - set(DAY_KEYS))
        if unknown:
            raise ValueError(f"hours: unknown day {unknown[0]!r} (mon..sun)")
        week = tuple(_parse_day(key, hours.get(key, [])) for key in DAY_KEYS)
        if not any(week):
            raise ValueError("hours: no working hours on any day")
        try:
            zone = ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"timezone: {tz!r} is not an IANA time zone") from None
        if work_weekday not in DAY_KEYS[:5] or not week[DAY_KEYS.index(work_weekday)]:
            raise ValueError(f"work_weekday: {work_weekday!r} is not a weekday with hours")
        for day, kind in (days or {}).items():
            if kind not in ("off", "work"):
                raise ValueError(f"holiday {day}: kind {kind!r} is neither 'off' nor 'work'")
        return cls(zone, week, dict(days or {}), DAY_KEYS.index(work_weekday))

    def intervals(self, day: date) -> tuple[Interval, ...]:
        """The business intervals of a local day, as UTC instants, in order."""
        found = self._cache.get(day)
        if found is None:
            found = self._cache[day] = self._intervals(day)
        return found

    def _intervals(self, day: date) -> tuple[Interval, ...]:
        kind = self.days.get(day)
        if kind == "off":
            return ()
        spans = self.week[self.work_weekday if kind == "work" else day.weekday()]
        out: list[Interval] = []
        for begin, end, end_of_day in spans:
            lo = self._instant(day, begin)
            hi = self._instant(day + timedelta(days=1) if end_of_day else day, end)
            if hi > lo:  # a daylight-saving jump may leave nothing
                out.append((lo, hi))
        return tuple(out)

    def _instant(self, day: date, clock: time) -> datetime:
        # fold=0 (PEP 495): a wall time in the spring gap is read with the offset before
        # the jump, i.e. as the instant after it; an ambiguous one is its first occurrence
        return datetime.combine(day, clock, tzinfo=self.zone).astimezone(UTC)

    def local_day(self, instant: datetime) -> date:
        return _aware(instant).astimezone(self.zone).date()

    def days_from(self, instant: datetime, step: int) -> Iterator[date]:
        day = self.local_day(instant) - timedelta(days=step)  # the day before covers a
        for _ in range(MAX_DAYS + 2):                          # zone jump at midnight
            yield day
            day += timedelta(days=step)
        raise ValueError(f"no business hours within {MAX_DAYS} days of {instant.isoformat()}")


def _aware(instant: datetime) -> datetime:
    if instant.tzinfo is None:
        raise ValueError(f"{instant.isoformat()}: an aware datetime expected (with its zone)")
    return instant


def add_business(cal: BusinessCalendar, start: datetime, delta: timedelta) -> datetime:
    """The instant ``delta`` of business time after ``start`` (before it if negative)."""
    cursor = _aware(start).astimezone(UTC)
    if delta >= ZERO:
        left = delta
        for day in cal.days_from(cursor, 1):
            for lo, hi in cal.intervals(day):
                if hi <= cursor:
                    continue
                lo = max(lo, cursor)
                if left <= hi - lo:
                    return lo + left
                left -= hi - lo
                cursor = hi
    left = -delta
    for day in cal.days_from(cursor, -1):
        for lo, hi in reversed(cal.intervals(day)):
            if lo >= cursor:
                continue
            hi = min(hi, cursor)
            if left <= hi - lo:
                return hi - left
            left -= hi - lo
            cursor = lo
    raise AssertionError("unreachable: days_from raises first")  # pragma: no cover


def add_business_minutes(cal: BusinessCalendar, start: datetime, minutes: float) -> datetime:
    """``add_business`` in minutes (the unit of SLA targets)."""
    return add_business(cal, start, timedelta(minutes=minutes))


def _span_time(cal: BusinessCalendar, start: datetime, end: datetime) -> timedelta:
    if end <= start:
        return ZERO
    total = ZERO
    day, last = cal.local_day(start) - timedelta(days=1), cal.local_day(end)
    while day <= last:
        for lo, hi in cal.intervals(day):
            lo, hi = max(lo, start), min(hi, end)
            if hi > lo:
                total += hi - lo
        day += timedelta(days=1)
    return total


def _merged(pauses: Iterable[tuple[datetime, datetime | None]], until: datetime
            ) -> list[Interval]:
    spans = sorted((_aware(a).astimezone(UTC), _aware(b if b is not None else until)
                    .astimezone(UTC)) for a, b in pauses)
    out: list[Interval] = []
    for lo, hi in spans:
        if hi <= lo:
            continue
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def business_time(cal: BusinessCalendar, start: datetime, end: datetime,
                  pauses: Sequence[tuple[datetime, datetime | None]] = (),
                  now: datetime | None = None) -> timedelta:
    """Business time within ``[start, end]``, less what lies inside the pauses."""
    start, end = _aware(start).astimezone(UTC), _aware(end).astimezone(UTC)
    total = _span_time(cal, start, end)
    for lo, hi in _merged(pauses, now if now is not None else end):
        total -= _span_time(cal, max(lo, start), min(hi, end))
    return max(total, ZERO)


def business_seconds(cal: BusinessCalendar, start: datetime, end: datetime,
                     pauses: Sequence[tuple[datetime, datetime | None]] = (),
                     now: datetime | None = None) -> float:
    """``business_time`` in seconds."""
    return business_time(cal, start, end, pauses, now).total_seconds()
