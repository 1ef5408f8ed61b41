"""When a supplier batch is expected to arrive (issue 18): pure, no I/O.

A batch moves through ``STAGES`` in order (ordered from the supplier, shipped, customs,
inspection, warehouse, dispatched to the customer, delivered). Its expected arrival is
the day it entered its current stage plus, for that stage and each one after it, the
supplier's own usual time there: the MEDIAN of the days its past batches spent in that
stage (a median: one container held a month at customs must not move every forecast),
or ``DEFAULT_DAYS`` for a stage with fewer than ``MIN_HISTORY`` past batches.

A batch that has already spent longer in its stage than usual is not forecast in the
past: its current stage is taken to end today at the earliest (and it is "late":
``is_late``). A delivered batch's arrival is its delivery day.

Rules:
- ``stage_days(stage_dates)`` turns one batch's ``{stage: day}`` into the days spent in
  each stage it has left (a stage skipped in the records adds its time to the one before);
- a stage may only move forward (``can_move``): the same stage again is no change,
  an earlier one is refused by the caller (``crm_core.orders.update_stage``);
- a batch is late (``batch_lateness``) when it is past its expected day, or expected
  after the due date of an order it carries; its forecast ``slipped`` when a stage
  update moved the expected day later (the customer is told: ``order_notices``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from statistics import median

STAGES = ("ordered", "shipped", "customs", "inspection", "warehouse", "dispatched",
          "delivered")
TO_BE_BATCHED = "to_be_batched"  # a line with no batch yet: before every stage
RANK = {TO_BE_BATCHED: 0, **{s: i + 1 for i, s in enumerate(STAGES)}}
"""A stage's place: an order stands at its least advanced line's."""

# days usually spent in each stage of an imported book or part, before any history:
# the publisher ships in two weeks, five weeks at sea, a week in customs...
DEFAULT_DAYS: dict[str, int] = {
    "ordered": 14, "shipped": 35, "customs": 7, "inspection": 5, "warehouse": 3,
    "dispatched": 3,
}
MIN_HISTORY = 3  # fewer past batches through a stage than this: the default is used


def rank(stage: str) -> int:
    """The stage's place in ``STAGES`` (1...7, 0 for ``TO_BE_BATCHED``); ValueError for
    a word that is no stage."""
    try:
        return RANK[stage]
    except KeyError:
        raise ValueError(f"unknown stage {stage!r}") from None


def can_move(current: str, new: str) -> bool:
    """Whether a batch at ``current`` may be recorded at ``new`` (forward or the same)."""
    return rank(new) >= rank(current)


def _day(value: object) -> date | None:
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            return None
    return None


def stage_days(stage_dates: Mapping[str, object]) -> dict[str, int]:
    """Days spent in each stage the batch has LEFT: from its day to the next stage
    reached. Unknown words and unreadable days are ignored; negative spans (records
    keyed out of order) are dropped."""
    reached = sorted(((RANK[s], s, d) for s, v in stage_dates.items()
                      if s in STAGES and (d := _day(v)) is not None))
    out: dict[str, int] = {}
    for (_, stage, start), (_, _, end) in zip(reached, reached[1:], strict=False):
        span = (end - start).days
        if span >= 0:
            out[stage] = span
    return out


def usual_days(history: Iterable[Mapping[str, object]]) -> dict[str, float]:
    """For each stage but the last, the median days the supplier's past batches
    (their ``stage_dates``) spent there, or ``DEFAULT_DAYS`` with too little history."""
    spans: dict[str, list[int]] = {s: [] for s in STAGES[:-1]}
    for dates in history:
        for stage, days in stage_days(dates).items():
            spans[stage].append(days)
    return {s: (median(v) if len(v) >= MIN_HISTORY else float(DEFAULT_DAYS[s]))
            for s, v in spans.items()}


def expected_arrival(stage: str, since: date, usual: Mapping[str, float],
                     today: date) -> date:
    """The day a batch at ``stage`` (entered on ``since``) is expected to be delivered,
    with ``usual`` days per stage (``usual_days``)."""
    if stage == "delivered":
        return since
    start = rank(stage) - 1
    end_of_stage = since + timedelta(days=round(usual.get(stage, DEFAULT_DAYS[stage])))
    day = max(end_of_stage, today)
    for later in STAGES[start + 1:-1]:
        day += timedelta(days=round(usual.get(later, DEFAULT_DAYS[later])))
    return day


def is_late(stage: str, expected: date | None, due: date | None, today: date) -> bool:
    """A batch (or order) not delivered that is past its expected day, or whose expected
    day falls after the order's due date."""
    if stage == "delivered" or expected is None:
        return False
    return expected < today or (due is not None and expected > due)


@dataclass(frozen=True)
class BatchLateness:
    """Why a batch is late: ``overdue_days`` past its expected day (0: not overdue), and
    the orders (their numbers) whose due date falls before its expected day."""

    overdue_days: int
    threatened: tuple[str, ...]

    @property
    def late(self) -> bool:
        return self.overdue_days > 0 or bool(self.threatened)


def batch_lateness(stage: str, expected: date | None, today: date,
                   dues: Iterable[tuple[str, date | None]]) -> BatchLateness:
    """Whether a batch is late (issue 18 item 2): past its expected day, or expected
    after the due date of an order it carries lines of (``dues``: (order number, due
    date)). A delivered batch, or one with no expected day, is never late."""
    if stage == "delivered" or expected is None:
        return BatchLateness(0, ())
    threatened = tuple(sorted({n for n, due in dues if due is not None and expected > due}))
    return BatchLateness(max(0, (today - expected).days), threatened)


def slipped(before: date | None, after: date | None) -> bool:
    """Whether a batch's expected day moved later (a forecast made worse: the customer
    is told). No forecast before, or none now, is no slip."""
    return before is not None and after is not None and after > before
