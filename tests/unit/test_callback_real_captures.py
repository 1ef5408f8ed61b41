"""The callback worker reads attempts recorded on a real Asterisk 22 (the acceptance
suite's captures, tests/fixtures/asterisk/callback-*.ami): deploy/asterisk's [agents]
dials the agent's PHONE, so each attempt has two Dial legs; only the origin channel's
DialEnd is the customer's (issue 12 item 3)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import pytest

from ivr.callback_worker import PREFIX, CallbackWorker, WorkerConfig, _Attempt
from ivr.callbacks import outcome
from telephony.ami_codec import decode_all

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "asterisk"


def _concluded(capture: str) -> str | None:
    """The outcome the worker settles on: the first one the events allow (it acts on it
    at once: closes the row or schedules the retry)."""
    events = decode_all((FIXTURES / capture).read_bytes())
    token = next(m["Linkedid"] for m in events if m.get("Linkedid", "").startswith(PREFIX))
    worker = CallbackWorker(cast(Any, None), cast(Any, None), WorkerConfig())
    attempt = _Attempt(token, 1, "Local/1001@agents/n", datetime.now(UTC))
    worker._inflight[token] = attempt
    for msg in events:
        if "Event" in msg:
            worker.on_event(msg)
            if (result := outcome(attempt.facts())) is not None:
                return result
    return None


@pytest.mark.parametrize(("capture", "expected"), [
    ("callback-customer-no-answer.ami", "no-answer"),  # the agent answered, not the customer
    ("callback-answered.ami", "answered"),
    ("callback-agent-missed.ami", "agent-missed"),
])
def test_outcome_of_a_real_attempt(capture: str, expected: str) -> None:
    assert _concluded(capture) == expected
