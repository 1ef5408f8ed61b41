"""A callback's automatic notes told as facts (ivr.callback_notes) and the recent callers'
one row per number (crm_core.call_lists): the pure parts."""

from __future__ import annotations

from crm_core.call_lists import latest_per_number
from ivr.callback_notes import agent_label, attempt_of, callback_id_of


def test_callback_id_of_a_token() -> None:
    assert callback_id_of("hlcb-42-0a1b2c3d4e") == 42
    for other in ("1701.42", "hlcb-x-1", "hlcb--1", "hlcb-" + "9" * 40 + "-a", None, 42,
                  "HLCB-42-a", "hlcb-٤٢-a"):
        assert callback_id_of(other) is None, other


def test_attempt_number_counts_customer_outcomes_only() -> None:
    history = [
        {"event": "requested"},
        {"event": "dialing", "agent": "Local/1001@agents/n", "claim": "t1"},
        {"event": "agent-missed", "agent": "Local/1001@agents/n", "claim": "t1"},
        {"event": "dialing", "agent": "Local/1002@agents/n", "claim": "t2"},
        {"event": "busy", "agent": "Local/1002@agents/n", "claim": "t2"},
        {"event": "dialing", "agent": "Local/1003@agents/n", "claim": "t3"},
        {"event": "answered", "agent": "Local/1003@agents/n", "claim": "t3"},
        "not a mapping",
    ]
    busy = attempt_of(history, "t2")
    answered = attempt_of(history, "t3")
    assert busy is not None and (busy.attempt, busy.result, busy.interface) == (
        1, "busy", "Local/1002@agents/n")
    assert answered is not None and (answered.attempt, answered.result) == (2, "answered")
    assert attempt_of(history, "t1") is None  # the agent missed it: no customer attempt
    assert attempt_of(history, "t9") is None
    assert attempt_of([], "t2") is None


def test_a_note_names_the_agent_never_the_channel() -> None:
    assert agent_label("王小明", "Local/1001@agents/n") == "王小明"
    assert agent_label(None, "Local/1007@agents/n") == "1007"
    assert agent_label(None, "PJSIP/1008") == "1008"
    assert agent_label(None, None) is None


def test_latest_call_per_number() -> None:
    calls = [{"caller": "+1", "id": 5}, {"caller": "+2", "id": 4}, {"caller": "+1", "id": 3},
             {"caller": None, "id": 2}, {"caller": "+3", "id": 1}]
    assert [c["id"] for c in latest_per_number(calls, 10)] == [5, 4, 1]
    assert [c["id"] for c in latest_per_number(calls, 2)] == [5, 4]
