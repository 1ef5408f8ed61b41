"""The service report's formulas (issue 15 item 7), pure: the database only sums and
counts (``crm_core.service_report``); every rate and mean is made here from those sums.

Rules:
- a target (acceptance, arrival on site, resolution) is MET when it was done at or
  before its due time; it is DECIDED when it was done, or when its due time has passed
  while the ticket is still open (a finished ticket that never needed the step, e.g.
  fixed over the phone without a visit, is not held against anyone);
- attainment = met / decided, in per cent with one decimal; None when nothing is
  decided (no figure rather than a misleading 0 % or 100 %);
- the overall attainment weighs each decided target once: sum of met over sum of
  decided across the three targets;
- mean time to accept / arrive / resolve = sum of minutes / tickets that did it, from
  the routing time (or the creation time of a ticket never routed); one decimal;
- first-time-fix rate = repair records marked first-time fix / repair records;
- ``Counts`` add up (``add``), so a total row is made from the groups' counts, never
  by averaging their rates.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")
TARGETS = ("accept", "arrive", "resolve")
MAX_PERIOD_DAYS = 3 * 366


@dataclass(frozen=True, kw_only=True)
class Counts:
    """What the database counted for one group of tickets."""

    tickets: int = 0
    resolved: int = 0
    met: dict[str, int] = field(default_factory=dict)  # target -> met
    decided: dict[str, int] = field(default_factory=dict)  # target -> decided
    minutes: dict[str, float] = field(default_factory=dict)  # target -> sum of minutes
    done: dict[str, int] = field(default_factory=dict)  # target -> tickets that did it
    repairs: int = 0  # repair records
    first_time_fixes: int = 0
    repeat_assets: int = 0  # assets with more than one repair ticket

    def add(self, other: Counts) -> Counts:
        """The counts of both groups together."""
        def merged(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
            return {k: a.get(k, 0) + b.get(k, 0) for k in sorted({*a, *b})}

        values: dict[str, Any] = {}
        for f in fields(self):
            mine, theirs = getattr(self, f.name), getattr(other, f.name)
            values[f.name] = merged(mine, theirs) if isinstance(mine, dict) else mine + theirs
        return Counts(**values)


def rate(part: float, whole: float) -> float | None:
    """``part`` of ``whole`` in per cent, one decimal; None when ``whole`` is 0."""
    if whole <= 0:
        return None
    return round(100.0 * part / whole, 1)


def mean(total: float, n: int) -> float | None:
    """``total / n`` with one decimal; None when ``n`` is 0."""
    if n <= 0:
        return None
    return round(total / n, 1)


def attainment(c: Counts, target: str) -> float | None:
    """Per cent of ``target``'s decided tickets that met it."""
    return rate(c.met.get(target, 0), c.decided.get(target, 0))


def overall_attainment(c: Counts) -> float | None:
    """Met over decided, across the three targets."""
    return rate(sum(c.met.get(t, 0) for t in TARGETS), sum(c.decided.get(t, 0) for t in TARGETS))


def figures(c: Counts) -> dict[str, Any]:
    """The row of the report for one group: counts, attainments, means and rates."""
    row: dict[str, Any] = {"tickets": c.tickets, "resolved": c.resolved}
    for target in TARGETS:
        row[f"{target}_met"] = c.met.get(target, 0)
        row[f"{target}_decided"] = c.decided.get(target, 0)
        row[f"{target}_pct"] = attainment(c, target)
        row[f"mean_{target}_min"] = mean(c.minutes.get(target, 0.0), c.done.get(target, 0))
    row["sla_pct"] = overall_attainment(c)
    row["repairs"] = c.repairs
    row["first_time_fixes"] = c.first_time_fixes
    row["ftf_pct"] = rate(c.first_time_fixes, c.repairs)
    row["repeat_assets"] = c.repeat_assets
    return row


def total(groups: list[Counts]) -> Counts:
    """The counts of every group together."""
    out = Counts()
    for c in groups:
        out = out.add(c)
    return out


# --- the period ------------------------------------------------------------------------------


def month_of(day: date) -> tuple[date, date]:
    """The first and last day of ``day``'s month."""
    first = day.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return first, following - timedelta(days=1)


def period_bounds(first: date, last: date) -> tuple[datetime, datetime]:
    """The UTC instants ``[start, end)`` of Shanghai days ``first`` to ``last`` inclusive.
    ValueError: ``last`` before ``first``, or longer than ``MAX_PERIOD_DAYS``."""
    if last < first:
        raise ValueError(f"the period ends ({last}) before it starts ({first})")
    if (last - first).days >= MAX_PERIOD_DAYS:
        raise ValueError(f"the period is longer than {MAX_PERIOD_DAYS} days")
    start = datetime.combine(first, time.min, SHANGHAI).astimezone(UTC)
    end = datetime.combine(last + timedelta(days=1), time.min, SHANGHAI).astimezone(UTC)
    return start, end


def shanghai_month(at: datetime) -> str:
    """``YYYY-MM`` of the Shanghai month ``at`` (aware, or naive UTC) falls in."""
    aware = at if at.tzinfo is not None else at.replace(tzinfo=UTC)
    return aware.astimezone(SHANGHAI).strftime("%Y-%m")
