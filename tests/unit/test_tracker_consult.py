"""Attended transfer to an agent through her personal queue (issue 12): the consult
channel's queue call is an attempt of the caller's call, the target gets the caller's pop,
and the caller's own call is not disturbed (``telephony.tracker``, "Consult calls").

The synthetic sequences follow the real capture (tests/fixtures/asterisk/
transfer-attended-agent.ami, Asterisk 22.10.1 running deploy/asterisk): the consult Local
pair ``Local/1002@internal-...;1/;2`` is created in the caller's Linkedid, its ``;2``
runs ``Queue(agent-1002)``; Bob's agent leg is ``Local/1002@agents-...;1``; after the
transfer the caller is bridged with the consult ``;1``; Bob's AgentComplete comes last,
without any channel (both snapshots gone)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from agent_console.agent_state import AgentBoard
from telephony.capture import load_capture
from telephony.events import (
    AgentRinging,
    AgentRingNoAnswer,
    CallAnswered,
    CallEnded,
    DomainEvent,
)
from telephony.tracker import CallTracker

from .test_tracker import feed_all
from .test_tracker_captures import ended, feed_timed
from .test_tracker_rules import (
    IN_UIDS,
    M1,
    SUPPORT,
    T0,
    TRUNK,
    alices_phone_leg_ends,
    at,
    ich,
    talking_to_alice,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "asterisk"
X1, X2 = "Local/1002@internal-00000006;1", "Local/1002@internal-00000006;2"
B1, B2 = "Local/1002@agents-00000007;1", "Local/1002@agents-00000007;2"
UIDS = {X1: "400.7", X2: "400.8", B1: "400.9", B2: "400.10"}
CONTEXTS = {X1: ("internal", "1002"), X2: ("internal", "1002"), B1: ("agents", "1002"),
            B2: ("agents", "1002")}
BOB_Q = {"Queue": "agent-1002", "Interface": "Local/1002@agents/n", "MemberName": "Bob",
         "DestChannel": B1, "DestUniqueid": UIDS[B1], "DestLinkedid": "400.1"}


def xch(event: str, t: float, channel: str, state: str = "6", **extra: str) -> dict[str, str]:
    """A channel event of the consult pair or Bob's leg (same Linkedid as the caller)."""
    context, exten = CONTEXTS[channel]
    msg = ich(event, t, TRUNK, state, **extra)
    msg.update(Channel=channel, Context=context, Exten=exten, Uniqueid=UIDS[channel])
    msg.update(extra)
    return msg


def consult(event: str, t: float, **extra: str) -> dict[str, str]:
    """A queue event of the consult channel's Queue(agent-1002)."""
    return xch(event, t, X2, "4", **BOB_Q, **extra)


def alice_consults_bob() -> list[dict[str, str]]:
    """Alice (talking since 5 s) starts an attended transfer at 10 s: the consult pair
    runs Queue(agent-1002), Bob rings; her leg moves to the consult bridge b-x."""
    return talking_to_alice() + [
        xch("Newchannel", 10, X1, "0"), xch("Newchannel", 10, X2, "4"),
        consult("QueueCallerJoin", 10, Position="1", Count="1"),
        xch("Newchannel", 10, B1, "0"), xch("Newchannel", 10, B2, "4"),
        consult("AgentCalled", 10),
        xch("BridgeEnter", 10, X1, "0", BridgeUniqueid="b-x"),
        ich("BridgeLeave", 10, M1, BridgeUniqueid="b-q"),
        ich("BridgeEnter", 10, M1, BridgeUniqueid="b-x"),
    ]


def bob_answers(t: float) -> list[dict[str, str]]:
    return [
        consult("QueueCallerLeave", t, Position="1", Count="0"),
        consult("AgentConnect", t, HoldTime="3", RingTime="3"),
        xch("BridgeEnter", t, B1, BridgeUniqueid="b-c"),
        xch("BridgeEnter", t, X2, BridgeUniqueid="b-c"),
    ]


def transfer_completes(t: float) -> list[dict[str, str]]:
    """Alice hangs up: the caller is bridged with the consult ;1 (talks to Bob)."""
    return [
        at({"Event": "AttendedTransfer", "Result": "Success",
            "OrigTransfererChannel": M1, "OrigTransfererUniqueid": IN_UIDS[M1],
            "OrigTransfererLinkedid": "400.1", "OrigBridgeUniqueid": "b-q",
            "SecondTransfererChannel": M1, "SecondTransfererUniqueid": IN_UIDS[M1],
            "SecondTransfererLinkedid": "400.1", "SecondBridgeUniqueid": "b-x",
            "TransfereeChannel": TRUNK, "TransfereeUniqueid": IN_UIDS[TRUNK],
            "TransfereeLinkedid": "400.1", "TransferTargetChannel": X1,
            "TransferTargetUniqueid": UIDS[X1], "TransferTargetLinkedid": "400.1",
            "DestType": "Bridge", "DestBridgeUniqueid": "b-q"}, t),
        ich("AgentComplete", t, TRUNK, **SUPPORT, HoldTime="4", TalkTime=f"{t - 5:.0f}",
            Reason="transfer"),
        ich("BridgeLeave", t, M1, BridgeUniqueid="b-x"), ich("Hangup", t, M1, Cause="16"),
        xch("BridgeLeave", t, X1, BridgeUniqueid="b-x"),
        xch("BridgeEnter", t, X1, BridgeUniqueid="b-q"),
    ] + alices_phone_leg_ends(t)


def bob_hangs_up(t: float, talk: str) -> list[dict[str, str]]:
    return [
        xch("BridgeLeave", t, B1, BridgeUniqueid="b-c"), xch("Hangup", t, B2, Cause="16"),
        xch("Hangup", t, B1, Cause="16"),
        xch("BridgeLeave", t, X2, BridgeUniqueid="b-c"), xch("Hangup", t, X2, Cause="16"),
        # app_queue: both channels gone, no snapshot to name (as in the capture)
        at({"Event": "AgentComplete", "Queue": "agent-1002",
            "Interface": "Local/1002@agents/n", "MemberName": "Bob", "HoldTime": "3",
            "TalkTime": talk, "Reason": "agent"}, t),
        xch("BridgeLeave", t, X1, BridgeUniqueid="b-q"), xch("Hangup", t, X1, Cause="16"),
        ich("BridgeLeave", t, TRUNK, BridgeUniqueid="b-q"),
        ich("Hangup", t, TRUNK, Cause="16"),
    ]


def of(events: list[DomainEvent], kind: type[Any]) -> list[Any]:
    return [e for e in events if isinstance(e, kind)]


def test_consult_rings_the_target_with_the_callers_pop_and_leaves_the_call_alone() -> None:
    tracker = CallTracker()
    events = feed_all(tracker, alice_consults_bob())
    [alice, bob] = of(events, AgentRinging)
    assert (bob.agent, bob.queue, bob.interface, bob.agent_channel, bob.consult) == (
        "Bob", "agent-1002", "Local/1002@agents/n", B1, True)
    # the caller's own number, name and DID: the consult ;2's caller id is not looked at
    assert (bob.caller, bob.caller_name, bob.did) == (
        alice.caller, alice.caller_name, alice.did)
    assert bob.linkedid == "400.1" and not alice.consult
    assert not tracker.unexpected, tracker.unexpected
    [live] = tracker.live_calls()
    assert (live["state"], live["agent"], live["queue"]) == ("talking", "Alice", "support")
    assert not of(events, CallEnded)


def test_attended_transfer_to_an_agent_keeps_both_legs() -> None:
    tracker = CallTracker()
    msgs = (alice_consults_bob() + bob_answers(13) + transfer_completes(16)
            + bob_hangs_up(50, talk="37"))
    events = feed_all(tracker, msgs)
    answered = of(events, CallAnswered)
    assert [(a.agent, a.queue, a.consult) for a in answered] == [
        ("Alice", "support", False), ("Bob", "agent-1002", True)]
    assert not tracker.unexpected, tracker.unexpected
    [s] = ended(events)
    assert (s.outcome, s.hangup_by, s.agent, s.queues) == (
        "transferred", "transfer", "Alice", ("support", "agent-1002"))
    # the call's figures stay the first answer's: the consult never queued the caller
    assert (s.wait_s, s.talk_s) == (4, 11)
    assert s.queued_at is not None and s.queued_at.timestamp() == T0 + 1
    assert [(a.agent, a.queue, a.result, a.ring_ms, a.talk_s) for a in s.agents_tried] == [
        ("Alice", "support", "answered", 4000, 11), ("Bob", "agent-1002", "answered", 3000, 37)]
    assert [t.kind for t in s.transfers] == ["attended"] and s.transfers[0].target == "1002"


def test_live_state_names_the_agent_on_the_call_after_the_consult_answered() -> None:
    tracker = CallTracker()
    feed_all(tracker, alice_consults_bob() + bob_answers(13) + transfer_completes(16))
    [live] = tracker.live_calls()
    assert (live["state"], live["agent"]) == ("talking", "Bob")


def test_talk_of_the_consult_leg_without_its_agent_complete() -> None:
    msgs = [m for m in alice_consults_bob() + bob_answers(13) + transfer_completes(16)
            + bob_hangs_up(50, talk="37") if m.get("Queue") != "agent-1002"
            or m["Event"] != "AgentComplete"]
    [s] = ended(feed_all(CallTracker(), msgs))
    assert s.agents_tried[1].talk_s == 37  # from his answer (13 s) to his leg's hang-up


def test_consult_given_up_while_the_target_rings() -> None:
    """Alice goes back to the caller at 15 s (the consult ;2 abandons agent-1002): Bob
    missed it; the caller talks on with Alice and hangs up at 40 s."""
    tracker = CallTracker()
    msgs = alice_consults_bob() + [
        consult("QueueCallerAbandon", 15, HoldTime="5", Position="1"),
        consult("QueueCallerLeave", 15, Position="1", Count="0"),
        xch("Hangup", 15, B2, Cause="0"), xch("Hangup", 15, B1, Cause="0"),
        xch("Hangup", 15, X2, Cause="16"),
        xch("BridgeLeave", 15, X1, BridgeUniqueid="b-x"), xch("Hangup", 15, X1, Cause="16"),
        ich("BridgeLeave", 15, M1, BridgeUniqueid="b-x"),
        ich("BridgeEnter", 15, M1, BridgeUniqueid="b-q"),
        ich("HangupRequest", 40, TRUNK, Cause="16"),
        ich("BridgeLeave", 40, TRUNK, BridgeUniqueid="b-q"),
        ich("AgentComplete", 40, TRUNK, **SUPPORT, HoldTime="4", TalkTime="35",
            Reason="caller"),
        ich("BridgeLeave", 40, M1, BridgeUniqueid="b-q"), ich("Hangup", 40, M1, Cause="16"),
        ich("Hangup", 40, TRUNK, Cause="16"),
    ] + alices_phone_leg_ends(40)
    events = feed_all(tracker, msgs)
    [missed] = of(events, AgentRingNoAnswer)
    assert (missed.agent, missed.consult, missed.ring_ms) == ("Bob", True, 5000)
    assert not tracker.unexpected, tracker.unexpected
    [s] = ended(events)
    assert (s.outcome, s.hangup_by, s.agent, s.talk_s) == ("answered", "caller", "Alice", 35)
    assert [(a.agent, a.result, a.ring_ms) for a in s.agents_tried] == [
        ("Alice", "answered", 4000), ("Bob", "abandoned", 5000)]


def test_consult_target_does_not_answer() -> None:
    tracker = CallTracker()
    events = feed_all(tracker, alice_consults_bob() + [
        consult("AgentRingNoAnswer", 30, RingTime="20000")])
    [missed] = of(events, AgentRingNoAnswer)
    assert (missed.agent, missed.ring_ms, missed.consult) == ("Bob", 20000, True)
    [live] = tracker.live_calls()
    assert (live["state"], live["agent"]) == ("talking", "Alice")
    assert not tracker.unexpected


def test_a_blind_transfer_queues_the_callers_own_channel_not_a_consult() -> None:
    """The caller's channel (the trunk) joining a queue is never a consult call."""
    tracker = CallTracker()
    msgs = talking_to_alice() + [
        at({"Event": "BlindTransfer", "Result": "Success", "TransfererChannel": M1,
            "TransfererUniqueid": IN_UIDS[M1], "TransfererLinkedid": "400.1",
            "TransfereeChannel": TRUNK, "TransfereeUniqueid": IN_UIDS[TRUNK],
            "TransfereeLinkedid": "400.1", "Extension": "1002", "Context": "internal",
            "IsExternal": "No"}, 15),
        ich("QueueCallerJoin", 15, TRUNK, Position="1", Count="1", **BOB_Q),
    ]
    events = feed_all(tracker, msgs)
    assert tracker._calls["400.1"].consults == set()
    assert events[-1].type == "CallQueued"
    [live] = tracker.live_calls()
    assert (live["state"], live["queue"]) == ("queued", "agent-1002")


# --------------------------------------------- the real capture (Asterisk 22.10.1)

REAL = FIXTURES / "transfer-attended-agent.ami"


def real_events() -> tuple[list[DomainEvent], CallTracker]:
    return feed_timed(load_capture(REAL))


def test_real_capture_pops_bob_with_the_callers_data() -> None:
    events, tracker = real_events()
    rings = of(events, AgentRinging)
    assert [(r.agent, r.queue, r.consult) for r in rings] == [
        ("Alice", "support", False), ("Bob", "agent-1002", True)]
    alice, bob = rings
    assert (bob.caller, bob.caller_name, bob.did) == ("+8613912345678", "Zhou Min",
                                                      "4008001234")
    assert bob.ivr == alice.ivr and bob.ivr["HOTLINE_IVR_PATH"].endswith("to_agent,queue")
    assert bob.interface == "Local/1002@agents/n"
    assert not tracker.unexpected, tracker.unexpected


def test_real_capture_summary() -> None:
    events, _ = real_events()
    [s] = ended(events)
    assert (s.outcome, s.hangup_by, s.agent, s.queues) == (
        "transferred", "transfer", "Alice", ("support", "agent-1002"))
    assert (s.wait_s, s.ring_s, s.talk_s) == (1, 1, 7)
    assert [(a.agent, a.queue, a.result, a.talk_s) for a in s.agents_tried] == [
        ("Alice", "support", "answered", 7), ("Bob", "agent-1002", "answered", 12)]
    assert all(a.ring_ms is not None and 900 <= a.ring_ms <= 1100 for a in s.agents_tried)
    assert [(t.kind, t.by, t.target) for t in s.transfers] == [("attended", "Alice", "1002")]
    assert s.recording == "2026/12/07/1796617827.1.wav"


def test_real_capture_boards_bob_rings_talks_and_wraps_up() -> None:
    """The tracker's events keep Bob's console board right: ringing at the consult,
    on the call once he answered, in wrap-up after the call; Alice's wrap-up starts at
    her transfer, not touched by Bob's answer."""
    events, _ = real_events()
    board = AgentBoard(wrapup_s=30)
    now = datetime(2026, 12, 7, tzinfo=UTC)
    seen: dict[str, list[str]] = {"Alice": [], "Bob": []}
    for i, event in enumerate(events):
        board.feed(event, now + timedelta(seconds=i / 100))
        for name, interface in (("Alice", "Local/1001@agents/n"),
                                ("Bob", "Local/1002@agents/n")):
            view = board.view(interface)
            state = view.state if view is not None else "signed-out"
            if not seen[name] or seen[name][-1] != state:
                seen[name].append(state)
    assert seen["Bob"][-3:] == ["ringing", "busy", "wrap-up"], seen
    assert seen["Alice"][-2:] == ["busy", "wrap-up"], seen
    bob = board.view("Local/1002@agents/n")
    assert bob is not None and bob.wrapup_linkedid == "1796617827.0"
