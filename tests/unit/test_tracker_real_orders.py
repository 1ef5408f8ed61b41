"""Orders of events that Asterisk 22 sends either way, from real captures (Asterisk
22.10.1 running deploy/asterisk; found by the same-rows comparison and the acceptance
suite): the tracker's record must not depend on them.

Who ended a call that never left the IVR: the two halves of a Local pair hang up in
either order (the caller hung up mid-menu and the line (;2) went before his handset
(;1); the IVR hung up after booking a callback and the handset went first). The IVR
says who: ``HOTLINE_ACTION=hangup`` is the IVR ending the call (system), an IVR cut off
before it handed the call on is the caller hanging up. A trunk channel (one channel,
both handset and line) needs the same rule.
"""

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


def test_a_transferred_callers_second_agent_talks_until_her_leg_ends() -> None:
    """Asterisk 22 sent Bob's AgentComplete (TalkTime 5) after the caller's last Hangup:
    his talk is counted to the end of the call, not to when Alice's leg ended (before he
    answered: 0 s, seen in the acceptance suite's blind transfer to an agent)."""
    lines, _tracker = replay_lines(FIXTURES / "transfer-blind-agent-late-complete.ami")
    [row] = [json.loads(line) for line in lines]
    talks = {a["agent"]: a["talk_s"] for a in row["agents_tried"] if a["result"] == "answered"}
    assert talks["Alice"] == 1
    assert talks["Bob"] >= 4, row["agents_tried"]
