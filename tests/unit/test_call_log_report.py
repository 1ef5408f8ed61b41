"""The call log report's pure parts: its cursor (URL-safe, exact to the microsecond,
strict), the result groups and the LIKE pattern that takes wildcards literally."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from crm_core import kpi
from crm_core.call_log_report import Cursor, like_pattern, outcomes_of


def test_a_cursor_round_trips_url_safe() -> None:
    at = datetime(2026, 5, 4, 9, 1, 2, 999_999, tzinfo=timezone(timedelta(hours=8)))
    token = Cursor(ended_at=at, id=42).token()
    assert token == "20260504T010102999999~42"
    assert all(c.isalnum() or c == "~" for c in token)
    back = Cursor.parse(token)
    assert back == Cursor(ended_at=at.astimezone(UTC), id=42) and back.ended_at == at
    for bad in ("", "~1", "20260504T010102999999", "20260504T010102999999~x",
                "2026-05-04T01:01:02+00:00~1", "20260504T010102999999~-1"):
        with pytest.raises(ValueError):
            Cursor.parse(bad)


def test_results_and_patterns() -> None:
    assert outcomes_of("answered") == kpi.ANSWERED_OUTCOMES
    assert outcomes_of("abandoned") == kpi.ABANDONED_OUTCOMES
    assert outcomes_of("other") is None
    with pytest.raises(ValueError):
        outcomes_of("maybe")
    assert like_pattern("138") == "%138%"
    assert like_pattern("1_0%\\") == "%1\\_0\\%\\\\%"
