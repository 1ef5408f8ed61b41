"""Satisfaction figures (issue 17 item 4), pure: the database counts answers per group
and score (``crm_core.satisfaction``); every mean and share is made here from those
counts.

Rules:
- a score is a whole number 1-5 (``SCORES``); anything else is refused where a score is
  written (``check_score``), so the counts never hold one;
- a group's figures: answers (``count``), ``mean`` (one decimal), the ``distribution``
  (answers per score 1..5, always five numbers) and ``satisfied_pct``: the share of
  answers scoring 4 or 5, in per cent with one decimal; no answers: no mean and no share
  (None, never a misleading 0);
- ``Tally`` objects add up (``add``): a total row is made from the groups' counts, never
  by averaging their means.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

SCORES = (1, 2, 3, 4, 5)
SATISFIED = (4, 5)
CHANNELS = ("agent", "ivr")


def check_score(score: object) -> int:
    """``score`` as an int 1-5; ValueError otherwise (a bool is not a score)."""
    if isinstance(score, bool) or not isinstance(score, int) or score not in SCORES:
        raise ValueError("a satisfaction score is a whole number from 1 to 5")
    return score


@dataclass(frozen=True)
class Tally:
    """How many answers gave each score, for one group."""

    by_score: Mapping[int, int] = field(default_factory=dict)

    @classmethod
    def of(cls, scores: Iterable[int]) -> Tally:
        counts: dict[int, int] = {}
        for s in scores:
            counts[check_score(s)] = counts.get(s, 0) + 1
        return cls(counts)

    @property
    def count(self) -> int:
        return sum(self.by_score.values())

    def add(self, other: Tally) -> Tally:
        keys = {*self.by_score, *other.by_score}
        return Tally({k: self.by_score.get(k, 0) + other.by_score.get(k, 0)
                      for k in sorted(keys)})


def figures(t: Tally) -> dict[str, Any]:
    """``{"count", "mean", "distribution": [n1..n5], "satisfied_pct"}`` of one group."""
    n = t.count
    total = sum(score * k for score, k in t.by_score.items())
    satisfied = sum(t.by_score.get(s, 0) for s in SATISFIED)
    return {"count": n,
            "mean": None if n == 0 else round(total / n, 1),
            "distribution": [t.by_score.get(s, 0) for s in SCORES],
            "satisfied_pct": None if n == 0 else round(100.0 * satisfied / n, 1)}


def tallies(rows: Iterable[tuple[Any, int, int]]) -> dict[Any, Tally]:
    """``(group key, score, answers)`` rows (a GROUP BY key, score) into one tally per
    key, in first-seen order."""
    out: dict[Any, dict[int, int]] = {}
    for key, score, n in rows:
        per = out.setdefault(key, {})
        per[check_score(score)] = per.get(score, 0) + int(n)
    return {k: Tally(v) for k, v in out.items()}


def total(groups: Iterable[Tally]) -> Tally:
    """Every group's answers together."""
    out = Tally()
    for t in groups:
        out = out.add(t)
    return out
