"""Satisfaction figures (crm_core.satisfaction_figures): mean, count, distribution and
the share of 4-5 from per-score counts; totals add counts, never average means."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm_core.satisfaction_figures import Tally, check_score, figures, tallies, total


def test_figures_of_a_group() -> None:
    row = figures(Tally.of([5, 4, 4, 2, 1]))
    assert row == {"count": 5, "mean": 3.2, "distribution": [1, 1, 0, 2, 1],
                   "satisfied_pct": 60.0}


def test_no_answers_no_mean_and_no_share() -> None:
    assert figures(Tally()) == {"count": 0, "mean": None, "distribution": [0, 0, 0, 0, 0],
                                "satisfied_pct": None}


@pytest.mark.parametrize("bad", [0, 6, -1, 3.5, "4", True, None])
def test_only_whole_scores_one_to_five(bad: object) -> None:
    with pytest.raises(ValueError):
        check_score(bad)
    with pytest.raises(ValueError):
        tallies([("x", bad, 1)])  # type: ignore[list-item]


def test_grouped_rows_become_tallies_and_a_total_of_counts() -> None:
    groups = tallies([("alice", 5, 3), ("bob", 1, 1), ("alice", 2, 1), ("bob", 4, 1)])
    assert list(groups) == ["alice", "bob"]
    assert figures(groups["alice"])["mean"] == 4.2  # (15 + 2) / 4 = 4.25 -> one decimal
    assert figures(groups["bob"])["satisfied_pct"] == 50.0
    # the total weighs every answer once: 6 answers, not the mean of two means
    both = figures(total(groups.values()))
    assert both["count"] == 6 and both["mean"] == 3.7  # 22 / 6; the means' mean: 3.4
    assert both["distribution"] == [1, 1, 0, 1, 3]


@given(st.lists(st.lists(st.integers(1, 5), max_size=20), max_size=6))
def test_total_equals_the_tally_of_all_answers(groups: list[list[int]]) -> None:
    assert figures(total(Tally.of(g) for g in groups)) == \
        figures(Tally.of([s for g in groups for s in g]))
