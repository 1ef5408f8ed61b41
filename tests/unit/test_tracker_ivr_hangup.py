"""Who ended a call that never left the IVR (issue 12, the same-rows comparison).

On Asterisk 22 the two halves of a Local pair hang up in either order: when the caller
hung up mid-menu, the line (;2) sometimes went before his handset (;1), and when the IVR
hung up after booking a callback, the handset sometimes went first. The order of the
channels then says nothing; the IVR does: ``HOTLINE_ACTION=hangup`` is the IVR ending the
call (system), an IVR cut off before it handed the call on is the caller hanging up. A
trunk channel (one channel, both handset and line) needs the same rule: its hang-up is
first whoever caused it. Both captures are real (Asterisk 22.10.1, deploy/asterisk)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from telephony.replay import replay_lines

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "asterisk"


@pytest.mark.parametrize(("capture", "action", "hangup_by"), [
    # the caller hangs up while "more" plays; the line (;2) hung up before his handset
    ("ivr-caller-hangs-up-line-first.ami", None, "caller"),
    # the IVR books a callback and hangs up; the handset (;1) hung up before the line
    ("ivr-hangs-up-handset-first.ami", "hangup", "system"),
])
def test_an_ivr_only_call_is_ended_by_whoever_the_ivr_says(capture: str, action: str | None,
                                                           hangup_by: str) -> None:
    lines, _tracker = replay_lines(FIXTURES / capture)
    [row] = [json.loads(line) for line in lines]
    assert row["outcome"] == "ivr-only"
    assert row["ivr"].get("HOTLINE_ACTION") == action
    assert row["hangup_by"] == hangup_by
