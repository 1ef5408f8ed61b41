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


# ------------------------------------- item 4: the agent's phone is not the customer
# Hotline's shipped [agents] context DIALS the agent's phone: an Originate of
# Local/1001@agents/n gives the origin ;1 (to context outbound once up, where it dials
# the customer), its ;2 (runs Dial(PJSIP/1001) in [agents]) and the PHONE channel.

A1, A2 = "Local/1001@agents-00000001;1", "Local/1001@agents-00000001;2"
PHONE = "PJSIP/1001-00000002"
CUSTOMER = "PJSIP/carrier-00000003"
OUT = "300.1"
UIDS = {A1: "300.1", A2: "300.2", PHONE: "300.3", CUSTOMER: "300.4"}
CONTEXTS = {A1: ("agents", "1001"), A2: ("agents", "1001"), PHONE: ("internal", "s"),
            CUSTOMER: ("from-pstn", "s")}
STATES = {"0": "Down", "4": "Ring", "5": "Ringing", "6": "Up"}


def ch(event: str, t: float, channel: str, state: str = "6", **extra: str) -> dict[str, str]:
    """One channel event of the outbound call, as Asterisk 22 writes it."""
    context, exten = CONTEXTS[channel]
    if channel == A1 and event not in ("Newchannel",) and t >= 3.2:
        context, exten = "outbound", "13800138000"  # the Originate's ;1 runs [outbound]
    msg = {"Event": event, "Channel": channel, "ChannelState": state,
           "ChannelStateDesc": STATES[state], "CallerIDNum": "4008001234",
           "CallerIDName": "Hotline", "ConnectedLineNum": "<unknown>",
           "ConnectedLineName": "<unknown>", "Language": "en", "AccountCode": "",
           "Context": context, "Exten": exten, "Priority": "1",
           "Uniqueid": UIDS[channel], "Linkedid": OUT}
    msg.update(extra)
    return at(msg, t)


def dial(event: str, t: float, src: str | None, dest: str, **extra: str) -> dict[str, str]:
    """DialBegin/DialEnd: the dialler's snapshot (none for the Originate's own) and Dest*."""
    msg = ch(event, t, src) if src is not None else at({"Event": event}, t)
    for key, value in ch(event, t, dest, state="0").items():
        if key not in ("Event", "Timestamp"):
            msg["Dest" + key] = value
    msg.update(extra)
    return msg


def originate_to_phone() -> list[dict[str, str]]:
    """The Originate rings Alice's phone; she picks up at 3 s; the customer is dialled."""
    return [
        ch("Newchannel", 0, A1, "0"),
        ch("VarSet", 0, A1, "0", Variable="HOTLINE_ORIGINATED_BY", Value="alice"),
        ch("VarSet", 0, A1, "0", Variable="HOTLINE_DIALLED", Value="13800138000"),
        ch("Newchannel", 0, A2, "4"),
        dial("DialBegin", 0, None, A1, DialString="1001@agents/n"),
        ch("Newchannel", 0.01, PHONE, "0"),
        dial("DialBegin", 0.01, A2, PHONE, DialString="1001"),
        ch("Newstate", 0.1, PHONE, "5"),
        ch("Newstate", 0.1, A2, "5"),
        ch("Newstate", 0.1, A1, "5"),
        # Alice picks up: her phone's DialEnd ANSWER is NOT the customer answering
        ch("Newstate", 3, PHONE, "6"),
        dial("DialEnd", 3, A2, PHONE, DialStatus="ANSWER"),
        ch("Newstate", 3, A2, "6"),
        ch("Newstate", 3, A1, "6"),
        ch("BridgeEnter", 3, PHONE, BridgeUniqueid="b-agent"),
        ch("BridgeEnter", 3, A2, BridgeUniqueid="b-agent"),
        at({"Event": "OriginateResponse", "Response": "Success", "Channel": A1,
            "Context": "outbound", "Exten": "13800138000", "Reason": "4",
            "Uniqueid": UIDS[A1], "CallerIDNum": "4008001234", "CallerIDName": "Hotline"}, 3),
        dial("DialEnd", 3, None, A1, DialStatus="ANSWER"),
        ch("Newchannel", 3.4, CUSTOMER, "0"),
        dial("DialBegin", 3.4, A1, CUSTOMER, DialString="13800138000@carrier"),
        ch("Newstate", 3.6, CUSTOMER, "5"),
    ]


def phone_leg_ends(t: float) -> list[dict[str, str]]:
    """A2's Dial to the phone is over: both leave their bridge and hang up."""
    return [ch("BridgeLeave", t, A2, BridgeUniqueid="b-agent"),
            ch("BridgeLeave", t, PHONE, BridgeUniqueid="b-agent"),
            ch("Hangup", t, PHONE, Cause="16"), ch("Hangup", t + 0.01, A2, Cause="16")]


def customer_answers_at(t: float) -> list[dict[str, str]]:
    return [ch("Newstate", t, CUSTOMER, "6"),
            dial("DialEnd", t, A1, CUSTOMER, DialStatus="ANSWER"),
            ch("BridgeEnter", t, CUSTOMER, BridgeUniqueid="b-talk"),
            ch("BridgeEnter", t, A1, BridgeUniqueid="b-talk")]


def test_outbound_customer_answers_after_the_agents_phone() -> None:
    msgs = originate_to_phone() + customer_answers_at(8) + [
        # the customer hangs up at 20 s
        ch("HangupRequest", 20, CUSTOMER, Cause="16"),
        ch("BridgeLeave", 20, CUSTOMER, BridgeUniqueid="b-talk"),
        ch("Hangup", 20, CUSTOMER, Cause="16"),
        ch("BridgeLeave", 20, A1, BridgeUniqueid="b-talk"),
        ch("SoftHangupRequest", 20, A1, Cause="16"),
        ch("HangupRequest", 20, A2, Cause="16"),
        ch("Hangup", 20, A1, Cause="16"),
    ] + phone_leg_ends(20)
    s, events = summary_of(msgs, CallTracker())
    assert (s.direction, s.caller, s.outcome, s.hangup_by) == (
        "outbound", "+8613800138000", "answered", "customer")
    assert s.answered_at is not None and s.answered_at.timestamp() == T0 + 8  # not 3
    assert s.talk_s == 12
    assert (s.agent, s.agent_interface) == ("alice", "Local/1001@agents/n")
    [answered] = [e for e in events if e.type == "CallAnswered"]
    assert answered.at is not None and answered.at.timestamp() == T0 + 8


def test_outbound_customer_never_answers_agent_up_30s_then_hangs_up() -> None:
    msgs = originate_to_phone() + [
        # 30 s after picking up, Alice hangs up her phone: the customer never answered
        ch("HangupRequest", 33, PHONE, Cause="16"),
    ] + phone_leg_ends(33) + [
        ch("HangupRequest", 33, A1, Cause="16"),
        ch("Hangup", 33, CUSTOMER, "5", Cause="16"),
        dial("DialEnd", 33, A1, CUSTOMER, DialStatus="CANCEL"),
        ch("Hangup", 33, A1, Cause="16"),
    ]
    s, events = summary_of(msgs, CallTracker())
    assert (s.outcome, s.hangup_by) == ("no-answer", "agent")
    assert (s.answered_at, s.talk_s) == (None, None)
    assert s.caller == "+8613800138000"
    assert not [e for e in events if e.type == "CallAnswered"]
    assert [e.type for e in events if e.type in ("AgentRinging", "CallEnded")] == [
        "AgentRinging", "CallEnded"]


def test_callback_number_is_never_the_agents_phone() -> None:
    """A callback sets no HOTLINE_DIALLED: its number comes with the OriginateResponse,
    after the phone's channel (Exten 1001 on an overlay's Local phone) was created."""
    msgs = [dict(m, Variable="HOTLINE_CALLBACK", Value="hlcb-1")
            if m.get("Variable") == "HOTLINE_ORIGINATED_BY" else m
            for m in originate_to_phone() if m.get("Variable") != "HOTLINE_DIALLED"]
    msgs = [dict(m, Exten="1001") if m.get("Channel") == PHONE else m for m in msgs]
    msgs += customer_answers_at(8) + [ch("Hangup", 20, CUSTOMER, Cause="16"),
                                      ch("Hangup", 20, A1, Cause="16")] + phone_leg_ends(20)
    s, _ = summary_of(msgs, CallTracker())
    assert (s.caller, s.outcome) == ("+8613800138000", "answered")


# ------------------------------------------- item 5: who hung up, from the channels
# app_queue's AgentComplete Reason is the first HangupRequest of the caller or member
# channel (apps/app_queue.c handle_hangup). An AMI Hangup (the console's hang-up)
# publishes none for the channel it hangs up (main/manager.c -> softhangup_nolock), so
# when the console hangs up the agent's leg, the caller's APPUNLOAD soft hangup at the
# end of Queue() comes first: Reason "caller". The side that left the talk first does
# not lie: the hung-up channel leaves the bridge before the other is kicked out.

TRUNK = "PJSIP/carrier-00000001"
M1, M2 = "Local/1001@agents-00000002;1", "Local/1001@agents-00000002;2"
DESK = "PJSIP/1001-00000003"
BOB = "PJSIP/1002-00000005"  # a SIP queue member, for the transfer to billing
IN_UIDS = {TRUNK: "400.1", M1: "400.2", M2: "400.3", DESK: "400.4", BOB: "400.6"}
IN_CONTEXTS = {TRUNK: ("from-pstn", "4008001234"), M1: ("agents", "1001"),
               M2: ("agents", "1001"), DESK: ("internal", "s"), BOB: ("from-queue", "1002")}
SUPPORT = {"Queue": "support", "Interface": "Local/1001@agents/n", "MemberName": "Alice",
           "DestChannel": M1, "DestUniqueid": IN_UIDS[M1], "DestLinkedid": "400.1"}


def ich(event: str, t: float, channel: str, state: str = "6", **extra: str) -> dict[str, str]:
    context, exten = IN_CONTEXTS[channel]
    msg = {"Event": event, "Channel": channel, "ChannelState": state,
           "ChannelStateDesc": STATES[state], "CallerIDNum": "13800138000",
           "CallerIDName": "Wang Fang", "ConnectedLineNum": "<unknown>",
           "ConnectedLineName": "<unknown>", "Context": context, "Exten": exten,
           "Priority": "1", "Uniqueid": IN_UIDS[channel], "Linkedid": "400.1"}
    msg.update(extra)
    return at(msg, t)


def queued(event: str, t: float, **extra: str) -> dict[str, str]:
    return ich(event, t, TRUNK, **SUPPORT, **extra)


def talking_to_alice() -> list[dict[str, str]]:
    """A trunk caller queued in support, Alice's Local agent leg dials her phone,
    she answers at 5 s; they talk in bridge b-q (trunk + M1), M2 + phone in b-a."""
    return [
        ich("Newchannel", 0, TRUNK, "4"),
        ich("Newstate", 0, TRUNK, "6"),
        queued("QueueCallerJoin", 1, Position="1", Count="1"),
        ich("Newchannel", 1, M1, "0"), ich("Newchannel", 1, M2, "4"),
        queued("AgentCalled", 1),
        ich("Newchannel", 1, DESK, "0"),
        ich("DialBegin", 1, M2, **{"Dest" + k: v for k, v in ich("x", 1, DESK, "0").items()
                                   if k not in ("Event", "Timestamp")}),
        ich("Newstate", 5, DESK, "6"), ich("Newstate", 5, M2, "6"),
        ich("BridgeEnter", 5, DESK, BridgeUniqueid="b-a"),
        ich("BridgeEnter", 5, M2, BridgeUniqueid="b-a"),
        queued("QueueCallerLeave", 5, Position="1", Count="0"),
        queued("AgentConnect", 5, HoldTime="4", RingTime="4"),
        ich("BridgeEnter", 5, M1, BridgeUniqueid="b-q"),
        ich("BridgeEnter", 5, TRUNK, BridgeUniqueid="b-q"),
    ]


def alices_phone_leg_ends(t: float) -> list[dict[str, str]]:
    return [ich("BridgeLeave", t, M2, BridgeUniqueid="b-a"),
            ich("BridgeLeave", t, DESK, BridgeUniqueid="b-a"),
            ich("Hangup", t, DESK, Cause="16"), ich("Hangup", t, M2, Cause="16")]


def test_console_hangs_up_the_agent_leg_queue_says_caller_agent_hung_up() -> None:
    msgs = talking_to_alice() + [
        # AMI Hangup of M1 (no HangupRequest for it): it leaves the bridge, the caller
        # is kicked out, Queue() returns and its APPUNLOAD soft hangup makes the reason
        ich("BridgeLeave", 35, M1, BridgeUniqueid="b-q"),
        ich("HangupRequest", 35, M2, Cause="16"),
        ich("BridgeLeave", 35, TRUNK, BridgeUniqueid="b-q"),
        ich("Hangup", 35, M1, Cause="16"),
        ich("SoftHangupRequest", 35, TRUNK, Cause="16"),
        queued("AgentComplete", 35, HoldTime="4", TalkTime="30", Reason="caller"),
        ich("Hangup", 35, TRUNK, Cause="16"),
    ] + alices_phone_leg_ends(35)
    s, _ = summary_of(msgs, CallTracker())
    assert (s.outcome, s.agent, s.hangup_by, s.talk_s) == ("answered", "Alice", "agent", 30)


def test_caller_hangs_up_even_when_the_kicked_agent_leg_hangs_up_first() -> None:
    msgs = talking_to_alice() + [
        ich("HangupRequest", 35, TRUNK, Cause="16"),  # the carrier's BYE
        ich("BridgeLeave", 35, TRUNK, BridgeUniqueid="b-q"),
        ich("BridgeLeave", 35, M1, BridgeUniqueid="b-q"),
        ich("HangupRequest", 35, M2, Cause="16"),
        ich("Hangup", 35, M1, Cause="16"),  # the kicked leg's thread is quicker
        queued("AgentComplete", 35, HoldTime="4", TalkTime="30", Reason="caller"),
        ich("Hangup", 35, TRUNK, Cause="16"),
    ] + alices_phone_leg_ends(35)
    s, _ = summary_of(msgs, CallTracker())
    assert (s.hangup_by, s.talk_s) == ("caller", 30)


def test_agent_hangs_up_her_phone() -> None:
    msgs = talking_to_alice() + [
        ich("HangupRequest", 35, DESK, Cause="16"),
        ich("SoftHangupRequest", 35, M2, Cause="16"),
        ich("HangupRequest", 35, M1, Cause="16"),
        queued("AgentComplete", 35, HoldTime="4", TalkTime="30", Reason="agent"),
    ] + alices_phone_leg_ends(35) + [
        ich("BridgeLeave", 35, M1, BridgeUniqueid="b-q"),
        ich("BridgeLeave", 35, TRUNK, BridgeUniqueid="b-q"),
        ich("Hangup", 35, M1, Cause="16"),
        ich("Hangup", 35, TRUNK, Cause="16"),
    ]
    s, _ = summary_of(msgs, CallTracker())
    assert (s.hangup_by, s.talk_s) == ("agent", 30)


def test_console_hangs_up_an_outbound_call_whose_customer_leg_ends_first() -> None:
    msgs = originate_to_phone() + customer_answers_at(8) + [
        # AMI Hangup of the origin ;1: it leaves the bridge; the customer's leg, kicked,
        # hangs up before the ;1 (whose Dial() returns and dialplan ends)
        ch("BridgeLeave", 20, A1, BridgeUniqueid="b-talk"),
        ch("BridgeLeave", 20, CUSTOMER, BridgeUniqueid="b-talk"),
        ch("Hangup", 20, CUSTOMER, Cause="16"),
        ch("SoftHangupRequest", 20.01, A1, Cause="16"),
        ch("HangupRequest", 20.01, A2, Cause="16"),
        ch("Hangup", 20.01, A1, Cause="16"),
    ] + phone_leg_ends(20.02)
    s, _ = summary_of(msgs, CallTracker())
    assert (s.outcome, s.hangup_by, s.talk_s) == ("answered", "agent", 12)


# ------------------------------- item 16: ring of answered attempts, every agent's leg

def test_answered_attempt_has_its_ring_and_talk() -> None:
    msgs = talking_to_alice() + [
        ich("HangupRequest", 35, TRUNK, Cause="16"),
        ich("BridgeLeave", 35, TRUNK, BridgeUniqueid="b-q"),
        queued("AgentComplete", 35, HoldTime="4", TalkTime="30", Reason="caller"),
        ich("BridgeLeave", 35, M1, BridgeUniqueid="b-q"),
        ich("Hangup", 35, M1, Cause="16"), ich("Hangup", 35, TRUNK, Cause="16"),
    ] + alices_phone_leg_ends(35)
    s, _ = summary_of(msgs, CallTracker())
    [alice] = s.agents_tried
    assert (alice.agent, alice.result, alice.ring_ms, alice.talk_s) == (
        "Alice", "answered", 4000, 30)


def test_transferred_call_keeps_every_agents_leg() -> None:
    """Alice (support) blind-transfers the caller to the billing queue after 10 s of
    talk; Bob answers there 3 s later and talks 30 s until the caller hangs up."""
    bob_leg = BOB
    billing = {"Queue": "billing", "Interface": "PJSIP/1002", "MemberName": "Bob",
               "DestChannel": bob_leg, "DestUniqueid": "400.6", "DestLinkedid": "400.1"}
    msgs = talking_to_alice() + [
        at({"Event": "BlindTransfer", "Result": "Success", "TransfererChannel": M1,
            "TransfererUniqueid": IN_UIDS[M1], "TransfererLinkedid": "400.1",
            "TransfereeChannel": TRUNK, "TransfereeUniqueid": IN_UIDS[TRUNK],
            "TransfereeLinkedid": "400.1", "Extension": "billing",
            "Context": "hotline-queues", "IsExternal": "No"}, 15),
        ich("BridgeLeave", 15, TRUNK, BridgeUniqueid="b-q"),
        queued("AgentComplete", 15, HoldTime="4", TalkTime="10", Reason="transfer"),
        ich("BridgeLeave", 15, M1, BridgeUniqueid="b-q"),
        ich("Hangup", 15, M1, Cause="16"),
    ] + alices_phone_leg_ends(15) + [
        ich("QueueCallerJoin", 15, TRUNK, Position="1", Count="1", **billing),
        ich("Newchannel", 15, bob_leg, "0"),
        ich("AgentCalled", 15, TRUNK, **billing),
        ich("QueueCallerLeave", 18, TRUNK, Position="1", Count="0", **billing),
        ich("AgentConnect", 18, TRUNK, HoldTime="3", RingTime="3", **billing),
        ich("BridgeEnter", 18, bob_leg, BridgeUniqueid="b-q2"),
        ich("BridgeEnter", 18, TRUNK, BridgeUniqueid="b-q2"),
        ich("HangupRequest", 48, TRUNK, Cause="16"),
        ich("BridgeLeave", 48, TRUNK, BridgeUniqueid="b-q2"),
        ich("AgentComplete", 48, TRUNK, HoldTime="3", TalkTime="30", Reason="caller",
            **billing),
        ich("Hangup", 48, bob_leg, Cause="16"), ich("Hangup", 48, TRUNK, Cause="16"),
    ]
    s, _ = summary_of(msgs, CallTracker())
    assert (s.outcome, s.hangup_by, s.agent, s.queues) == (
        "transferred", "transfer", "Alice", ("support", "billing"))
    assert (s.wait_s, s.talk_s) == (4, 10)  # the call's: to the first answer, Alice's talk
    assert [(a.agent, a.queue, a.result, a.ring_ms, a.talk_s) for a in s.agents_tried] == [
        ("Alice", "support", "answered", 4000, 10), ("Bob", "billing", "answered", 3000, 30)]
    again = CallSummary.from_dict(s.to_dict())
    assert again == s and again.agents_tried[1].talk_s == 30


def test_outbound_ring_is_the_customers() -> None:
    msgs = originate_to_phone() + customer_answers_at(8) + [
        ch("Hangup", 20, CUSTOMER, Cause="16"), ch("Hangup", 20, A1, Cause="16"),
    ] + phone_leg_ends(20)
    s, events = summary_of(msgs, CallTracker())
    assert s.ring_s == 5  # dialled at 3.4, answered at 8: not the agent's pickup
    [answered] = [e for e in events if e.type == "CallAnswered"]
    assert answered.ring_s == 5  # type: ignore[attr-defined]
