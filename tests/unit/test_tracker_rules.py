"""The tracker's summary rules found wrong on a real Asterisk 22 (issue 12): the wait
of a caller who went through two queues, the agent's phone of an outbound call, who
hung up when the console hung up, the ring of answered attempts and every agent's leg.

The AMI sequences are shaped like Asterisk 22's: a single trunk channel per caller, or
Local ``;1``/``;2`` pairs named ``Local/1001@agents-00000001;1``, every channel event with
its Uniqueid and Linkedid, a ``Timestamp`` on each message."""

from __future__ import annotations

from telephony.events import CallSummary, DomainEvent
from telephony.tracker import CallTracker

from .test_tracker import agent_leg, caller, feed_all, queue_event
from .test_tracker_captures import ended

T0 = 1_795_480_000.0


def at(msg: dict[str, str], seconds: float) -> dict[str, str]:
    return {**msg, "Timestamp": f"{T0 + seconds:.6f}"}


def summary_of(msgs: list[dict[str, str]], tracker: CallTracker | None = None,
               ) -> tuple[CallSummary, list[DomainEvent]]:
    tracker = tracker or CallTracker(inbound_contexts=["from-trunk"])
    events = feed_all(tracker, msgs)
    [summary] = ended(events)
    assert tracker.unexpected["tracker-error"] == 0
    assert tracker.live_calls() == []
    return summary, events


# ------------------------------------------------- item 6: wait from the first queue

def personal_queue_then_support(*, answered: bool) -> list[dict[str, str]]:
    """A VIP caller rings his account manager (Mei, personal queue agent-1001) 15 s,
    then waits in support: answered by Bob 2 s later, or hangs up after 5 s there."""
    personal = {"Queue": "agent-1001", "Interface": "PJSIP/1001", "MemberName": "Mei",
                "DestChannel": "PJSIP/1001-00000002", "DestUniqueid": "100.2"}
    support = {"Queue": "support", "Interface": "PJSIP/1002", "MemberName": "Bob",
               "DestChannel": "PJSIP/1002-00000003", "DestUniqueid": "100.3"}
    msgs = [
        at(caller("Newchannel"), 0),
        at(queue_event("QueueCallerJoin", Position="1", Count="1", **personal), 1),
        at(agent_leg("Newchannel"), 1),
        at(queue_event("AgentCalled", **personal), 1),
        at(queue_event("AgentRingNoAnswer", RingTime="15000", **personal), 16),
        at(agent_leg("Hangup", Cause="0"), 16),
        at(queue_event("QueueCallerLeave", Position="1", Count="0", **personal), 16),
        at(queue_event("QueueCallerJoin", Position="1", Count="1", **support), 16),
        at(agent_leg("Newchannel", Uniqueid="100.3", Channel="PJSIP/1002-00000003"), 16),
        at(queue_event("AgentCalled", **support), 16),
    ]
    bob = agent_leg("Hangup", Uniqueid="100.3", Channel="PJSIP/1002-00000003", Cause="16")
    if answered:
        msgs += [
            at(queue_event("QueueCallerLeave", Position="1", Count="0", **support), 18),
            at(queue_event("AgentConnect", HoldTime="2", RingTime="2", **support), 18),
            at(queue_event("AgentComplete", HoldTime="2", TalkTime="30", Reason="caller",
                           **support), 48),
            at(caller("Hangup", Cause="16"), 48),
            at(bob, 48),
        ]
    else:
        msgs += [
            at(queue_event("QueueCallerAbandon", HoldTime="5", Position="1", **support), 21),
            at(queue_event("QueueCallerLeave", Position="1", Count="0", **support), 21),
            at(caller("Hangup", Cause="16"), 21),
            at(bob, 21),
        ]
    return msgs


def test_wait_runs_from_the_first_queue_to_the_answer() -> None:
    s, _ = summary_of(personal_queue_then_support(answered=True))
    assert (s.outcome, s.queues, s.agent) == ("answered", ("agent-1001", "support"), "Bob")
    assert s.wait_s == 17  # 15 s ringing Mei in agent-1001, then HoldTime 2 in support
    assert s.queued_at is not None and s.queued_at.timestamp() == T0 + 1


def test_wait_of_an_abandoned_caller_counts_every_queue() -> None:
    s, _ = summary_of(personal_queue_then_support(answered=False))
    assert (s.outcome, s.hangup_by) == ("abandoned", "caller")
    assert s.wait_s == 20  # 15 s in agent-1001, then HoldTime 5 in support


def test_wait_measured_from_the_first_queue_when_asterisk_gives_no_hold_time() -> None:
    msgs = [m for m in personal_queue_then_support(answered=True)
            if m["Event"] not in ("AgentConnect", "AgentComplete")]
    msgs.insert(-2, at(queue_event(
        "AgentConnect", Queue="support", Interface="PJSIP/1002", MemberName="Bob",
        DestChannel="PJSIP/1002-00000003", DestUniqueid="100.3"), 18))
    s, _ = summary_of(msgs)
    assert s.wait_s == 17
