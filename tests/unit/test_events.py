"""Domain events cross the bus unchanged: to_dict() -> JSON -> event_from_dict()."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from telephony.events import (
    AgentAttempt,
    AgentRinging,
    AgentRingNoAnswer,
    AgentStateChanged,
    CallAnswered,
    CallEnded,
    CallQueued,
    CallStarted,
    CallSummary,
    CallTransferred,
    DomainEvent,
    QueueMemberChanged,
    Transfer,
    event_from_dict,
)

AT = datetime(2026, 11, 23, 23, 58, 51, 500_000, tzinfo=UTC)

SUMMARY = CallSummary(
    linkedid="1795478331.182", caller="+8613800138000", caller_name="王芳 <b>", did="4008001234",
    queues=("support",),
    agents_tried=(
        AgentAttempt(agent="Alice", interface="Local/1001@agents/n", queue="support",
                     result="no-answer", ring_ms=5000),
        AgentAttempt(agent="Bob", interface="Local/1002@agents/n", queue="support",
                     result="answered"),
    ),
    agent="Bob", agent_interface="Local/1002@agents/n", started_at=AT, queued_at=AT,
    answered_at=AT, ended_at=AT, wait_s=8, ring_s=2, talk_s=4, hangup_by="transfer",
    outcome="transferred",
    transfers=(Transfer(kind="blind", by="Bob", target="2100", result="Success", at=AT),),
    ivr={"QUEUE": "support", "CRM_CONTACT_ID": "42"}, recording="2026/11/23/1795478331.182.wav",
)

EVENTS: list[DomainEvent] = [
    CallStarted(at=AT, linkedid="1.1", caller="+8613800138000", caller_name=None, did="4008001234"),
    CallQueued(at=AT, linkedid="1.1", queue="support", position=1, caller=None, caller_name="x",
               did=None),
    AgentRinging(at=AT, linkedid="1.1", queue="support", agent="Alice",
                 interface="Local/1001@agents/n", agent_channel="Local/1001@agents-01;1",
                 caller="+8613800138000", caller_name="</script>", did="4008001234",
                 ivr={"QUEUE": "support"}),
    AgentRingNoAnswer(at=AT, linkedid="1.1", queue="support", agent="Alice",
                      interface="Local/1001@agents/n", ring_ms=5000),
    CallAnswered(at=AT, linkedid="1.1", queue="support", agent="Bob",
                 interface="Local/1002@agents/n", agent_channel="c", wait_s=8, ring_s=2),
    CallTransferred(at=AT, linkedid="1.1", kind="attended", by="Alice", target="1005",
                    result="Success"),
    CallEnded(at=AT, summary=SUMMARY),
    AgentStateChanged(at=AT, interface="Local/1001@agents/n", agent="Alice", state="available",
                      paused=True, reason="Lunch break"),
    QueueMemberChanged(at=AT, queue="support", interface="Local/1004@agents/n", agent="Dave",
                       change="penalty", status=1, paused=False, reason="", penalty=3),
]


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: e.type)
def test_round_trip_through_json(event: DomainEvent) -> None:
    wire = json.dumps(event.to_dict(), ensure_ascii=False)
    back = event_from_dict(json.loads(wire))
    assert back == event
    assert back.to_dict()["type"] == type(event).__name__


def test_every_event_type_is_covered() -> None:
    assert {type(e).__name__ for e in EVENTS} >= {
        "CallStarted", "CallQueued", "AgentRinging", "AgentRingNoAnswer", "CallAnswered",
        "CallTransferred", "CallEnded", "AgentStateChanged", "QueueMemberChanged",
    }


def test_unknown_keys_are_ignored_and_unknown_types_refused() -> None:
    d = EVENTS[0].to_dict() | {"from_a_newer_producer": 1}
    assert event_from_dict(d) == EVENTS[0]
    with pytest.raises(ValueError, match="unknown domain event"):
        event_from_dict({"type": "NoSuchEvent"})


def test_events_are_frozen() -> None:
    with pytest.raises(AttributeError):
        EVENTS[0].linkedid = "x"  # type: ignore[misc]
