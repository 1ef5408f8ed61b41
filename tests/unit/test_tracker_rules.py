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
