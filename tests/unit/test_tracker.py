"""The call tracker on hand-made AMI messages: a real trunk (one channel per
caller), the transition table, ordering quirks, bounded memory, garbage input."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import telephony.tracker as tracker_module
from ivr.callbacks import waiting_counts
from telephony.capture import load_capture
from telephony.events import (
    AgentRinging,
    CallAnswered,
    CallEnded,
    CallStarted,
    CallSummary,
    DomainEvent,
    QueueMemberChanged,
    event_from_dict,
)
from telephony.tracker import TRANSITIONS, CallState, CallTracker

from .test_tracker_captures import CAPTURES, by_linkedid, ended, feed_timed

TRUNK = "PJSIP/carrier-00000001"
AGENT = "PJSIP/1001-00000002"


class Clock:
    def __init__(self, now: float = 1_795_478_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def snapshot(uid: str, lid: str, channel: str, context: str, exten: str,
             num: str = "01051297073", name: str = "<unknown>") -> dict[str, str]:
    return {"Channel": channel, "ChannelState": "6", "ChannelStateDesc": "Up",
            "CallerIDNum": num, "CallerIDName": name, "ConnectedLineNum": "<unknown>",
            "ConnectedLineName": "<unknown>", "Context": context, "Exten": exten,
            "Priority": "1", "Uniqueid": uid, "Linkedid": lid}


def caller(event: str, **extra: str) -> dict[str, str]:
    msg = {"Event": event, **snapshot("100.1", "100.1", TRUNK, "from-trunk", "8008001234")}
    msg.update(extra)
    return msg


def agent_leg(event: str, **extra: str) -> dict[str, str]:
    msg = {"Event": event, **snapshot("100.2", "100.1", AGENT, "from-queue", "1001")}
    msg.update(extra)
    return msg


def queue_event(event: str, **extra: str) -> dict[str, str]:
    msg = caller(event, Queue="sales", Interface="PJSIP/1001", MemberName="Mei",
                 DestChannel=AGENT, DestUniqueid="100.2", DestLinkedid="100.1")
    msg.update(extra)
    return msg


def trunk_call() -> list[dict[str, str]]:
    """One PSTN call on a real trunk: a single caller channel, a SIP agent."""
    return [
        caller("Newchannel", CallerIDName="李雷"),
        caller("VarSet", Variable="__HOTLINE_DID", Value="8008001234"),
        caller("VarSet", Variable="IVR_PATH", Value="1>2"),
        caller("VarSet", Variable="QUEUEPOSITION", Value="1"),
        caller("VarSet", Variable="DIALSTATUS", Value="ANSWER"),
        caller("VarSet", Variable="_CRM_CUSTOMER", Value="C-7"),
        queue_event("QueueCallerJoin", Position="1", Count="1"),
        agent_leg("Newchannel"),
        queue_event("AgentCalled"),
        queue_event("QueueCallerLeave", Position="1", Count="0"),
        queue_event("AgentConnect", HoldTime="3", RingTime="2"),
        agent_leg("BridgeEnter", BridgeUniqueid="b-1"),
        caller("BridgeEnter", BridgeUniqueid="b-1"),
        queue_event("AgentComplete", HoldTime="3", TalkTime="42", Reason="agent"),
        agent_leg("Hangup", Cause="16"),
        caller("BridgeLeave", BridgeUniqueid="b-1"),
        caller("Hangup", Cause="16"),
        {"Event": "Cdr", "UniqueID": "100.1"},
        queue_event("QueueMemberStatus", Status="1", Paused="0", PausedReason=""),
    ]


def feed_all(tracker: CallTracker, msgs: list[dict[str, str]]) -> list[DomainEvent]:
    out: list[DomainEvent] = []
    for msg in msgs:
        out.extend(tracker.feed(msg))
    return out


# ------------------------------------------------------------- a real trunk

def test_trunk_call_with_one_caller_channel() -> None:
    tracker = CallTracker(inbound_contexts=["from-trunk"])
    events = feed_all(tracker, trunk_call())
    assert [e.type for e in events if e.type != "QueueMemberChanged"] == [
        "CallStarted", "CallQueued", "AgentRinging", "CallAnswered", "CallEnded",
        "AgentStateChanged"]
    started = events[0]
    assert isinstance(started, CallStarted)  # at once: a trunk channel knows its caller id
    assert (started.caller, started.caller_name, started.did) == (
        "+861051297073", "李雷", "8008001234")
    [ringing] = [e for e in events if isinstance(e, AgentRinging)]
    assert ringing.ivr == {"HOTLINE_DID": "8008001234", "IVR_PATH": "1>2", "CRM_CUSTOMER": "C-7"}
    [summary] = ended(events)
    assert (summary.outcome, summary.agent, summary.agent_interface, summary.wait_s,
            summary.ring_s, summary.talk_s, summary.hangup_by) == (
        "answered", "Mei", "PJSIP/1001", 3, 2, 42, "agent")
    assert tracker.live_calls() == []


def test_call_from_a_context_that_is_not_inbound_is_not_tracked() -> None:
    tracker = CallTracker()  # from-trunk is inbound by default, from-internal is not
    msgs = [dict(m, Context="from-internal") if m.get("Uniqueid") == "100.1" else m
            for m in trunk_call()]
    events = feed_all(tracker, msgs)
    assert not [e for e in events if e.type.startswith(("Call", "Agent"))
                and e.type != "AgentStateChanged"]
    assert tracker.unexpected["QueueCallerJoin for untracked call"] == 1


def test_timestamp_header_wins_over_the_clock() -> None:
    clock = Clock(1_900_000_000.0)
    tracker = CallTracker(inbound_contexts=["from-trunk"], clock=clock)
    msgs = trunk_call()
    msgs[0]["Timestamp"] = "1795478331.250000"
    msgs[-3]["Timestamp"] = "1795478399.5"
    msgs[-4]["Timestamp"] = "not a number"  # garbage: falls back to the clock
    events = feed_all(tracker, msgs)
    [summary] = ended(events)
    assert summary.started_at is not None and summary.ended_at is not None
    assert summary.started_at.timestamp() == 1795478331.25
    assert summary.ended_at.timestamp() == 1795478399.5
    assert summary.answered_at is not None
    assert summary.answered_at.timestamp() == 1_900_000_000.0
    assert summary.started_at.tzinfo is not None


def test_call_started_waits_for_the_caller_id_of_a_local_channel() -> None:
    timed = load_capture(CAPTURES / "01-answered-call.ami")
    events, _ = feed_timed(timed)
    first = events[0]
    assert isinstance(first, CallStarted)
    assert (first.caller, first.caller_name) == ("+8613800138000", "Wang Fang")


# ---------------------------------------------------------- the state table

def test_transition_table_is_readable_and_complete() -> None:
    tracker = CallTracker()
    handled = set(tracker._handlers)
    events = {event for _, event in TRANSITIONS}
    assert events - handled == {"Redirect"}  # synthetic, recognised from BridgeLeave + Hangup
    assert {state for state, _ in TRANSITIONS} == set(CallState)
    assert TRANSITIONS[(CallState.LEFT, "AgentConnect")] is CallState.TALKING


def test_unexpected_event_is_counted_not_guessed() -> None:
    tracker = CallTracker(inbound_contexts=["from-trunk"])
    msgs = trunk_call()
    feed_all(tracker, msgs[:6])  # in the IVR, never queued
    assert tracker.feed(queue_event("AgentConnect", HoldTime="1", RingTime="1")) == []
    assert tracker.feed(queue_event("AgentComplete", Reason="caller")) == []
    assert tracker.unexpected["AgentConnect in ivr"] == 1
    assert tracker.unexpected["AgentComplete in ivr"] == 1
    events = tracker.feed(caller("Hangup", Cause="16"))
    [summary] = ended(events)
    assert (summary.outcome, summary.agent, summary.hangup_by) == ("ivr-only", None, "caller")


def test_no_answer_when_the_queue_times_out() -> None:
    tracker = CallTracker(inbound_contexts=["from-trunk"])
    msgs = trunk_call()
    events = feed_all(tracker, msgs[:9])  # queued, Mei rings
    events += feed_all(tracker, [
        queue_event("AgentRingNoAnswer", RingTime="15000"),
        queue_event("QueueCallerLeave", Position="1", Count="0"),  # the queue timed out
        agent_leg("Hangup", Cause="0"),
        caller("SoftHangupRequest", Cause="16"),
        caller("Hangup", Cause="16"),
    ])
    [summary] = ended(events)
    assert summary.outcome == "no-answer"
    assert [(a.agent, a.result, a.ring_ms) for a in summary.agents_tried] == [
        ("Mei", "no-answer", 15000)]
    assert summary.wait_s is not None and summary.talk_s is None


def test_failed_when_the_pbx_never_answered() -> None:
    tracker = CallTracker(inbound_contexts=["from-trunk"])
    down = dict(caller("Newchannel"), ChannelState="4", ChannelStateDesc="Ring")
    events = feed_all(tracker, [down, dict(down, Event="Hangup", Cause="34")])
    [summary] = ended(events)
    assert summary.outcome == "failed"


def test_live_call_states_follow_the_table() -> None:
    tracker = CallTracker(inbound_contexts=["from-trunk"])
    msgs = trunk_call()
    seen = []
    for msg in msgs[:14]:
        tracker.feed(msg)
        seen.extend(c["state"] for c in tracker.live_calls())
        if msg["Event"] == "BridgeEnter":
            live = tracker.live_calls()[0]
    states = [s for i, s in enumerate(seen) if i == 0 or seen[i - 1] != s]
    # LEFT shows as "queued"; after AgentComplete the caller is back in the dialplan
    assert states == ["ivr", "queued", "ringing", "queued", "talking", "ivr"]
    assert (live["queue"], live["agent"], live["did"]) == ("sales", "Mei", "8008001234")
    assert set(live) == {"linkedid", "caller", "caller_name", "did", "state", "queue", "agent",
                         "started_at", "direction"}
    assert live["direction"] == "inbound"


# ---------------------------------------------------------- ordering quirks

@pytest.fixture(scope="module")
def call01() -> list[tuple[float, dict[str, str]]]:
    return load_capture(CAPTURES / "01-answered-call.ami")


def index(timed: list[tuple[float, dict[str, str]]], event: str, nth: int = 0) -> int:
    return [i for i, (_, m) in enumerate(timed) if m.get("Event") == event][nth]


def test_agent_connect_before_queue_caller_leave(call01: list[tuple[float, dict[str, str]]]
                                                 ) -> None:
    timed = list(call01)
    leave, connect = index(timed, "QueueCallerLeave"), index(timed, "AgentConnect")
    timed[leave], timed[connect] = timed[connect], timed[leave]
    assert by_linkedid(feed_timed(timed)[0]) == by_linkedid(feed_timed(call01)[0])


def test_missing_agent_complete(call01: list[tuple[float, dict[str, str]]]) -> None:
    timed = [tm for tm in call01 if tm[1].get("Event") != "AgentComplete"]
    [summary] = ended(feed_timed(timed)[0])
    assert (summary.outcome, summary.agent, summary.hangup_by) == ("answered", "Alice", "caller")
    assert summary.talk_s in (3, 4)  # from answer to the first hangup: 3.7 s


def test_hangups_in_any_order_end_the_call_once_at_the_last(
        call01: list[tuple[float, dict[str, str]]]) -> None:
    hangups = [tm for tm in call01 if tm[1].get("Event") == "Hangup"]
    rest = [tm for tm in call01 if tm[1].get("Event") != "Hangup"]
    for seed in range(5):
        order = hangups[:]
        random.Random(seed).shuffle(order)
        events, tracker = feed_timed(rest)
        assert ended(events) == []
        for i, tm in enumerate(order):
            out, _ = feed_timed([tm], tracker)
            assert len(ended(out)) == (1 if i == len(order) - 1 else 0)


def test_late_events_never_resurrect_a_call(call01: list[tuple[float, dict[str, str]]]) -> None:
    events, tracker = feed_timed(call01)
    assert len(ended(events)) == 1
    late_kinds = ("AgentComplete", "Hangup", "Newchannel", "QueueCallerJoin", "AgentConnect",
                  "BridgeLeave", "Cdr", "CEL", "NewCallerid", "VarSet")
    late = [tm for tm in call01 if tm[1].get("Event") in late_kinds]
    out, _ = feed_timed(late, tracker)
    assert ended(out) == []
    assert tracker.live_calls() == []
    # a late QueueMemberStatus is agent state, not the call
    status = [tm for tm in call01 if tm[1].get("Event") == "QueueMemberStatus"][-2:]
    out, _ = feed_timed(status, tracker)
    assert all(isinstance(e, QueueMemberChanged) for e in out)


def test_redirect_with_agent_complete_missing() -> None:
    timed = load_capture(CAPTURES / "05b-redirect-transfer.ami")
    timed = [tm for tm in timed if tm[1].get("Event") != "AgentComplete"]
    [summary] = ended(feed_timed(timed)[0])
    assert [t.kind for t in summary.transfers] == ["redirect"]
    assert summary.outcome == "answered" and summary.hangup_by == "caller"


# ------------------------------------------------------------ bounded memory

def numbered_call(n: int) -> list[dict[str, str]]:
    lid = f"{n}.0"
    return [
        {"Event": "Newchannel", **snapshot(lid, lid, f"PJSIP/c-{n}", "from-pstn", "4008001234",
                                           num=f"138{n:08d}")},
        {"Event": "Hangup", **snapshot(lid, lid, f"PJSIP/c-{n}", "from-pstn", "4008001234"),
         "Cause": "16"},
    ]


def test_memory_of_ended_calls_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tracker_module, "ENDED_MEMORY", 50)
    tracker = CallTracker()
    for n in range(500):
        assert len(ended(feed_all(tracker, numbered_call(n)))) == 1
    assert len(tracker._ended) == 50
    assert tracker._channels == {} and tracker._calls == {} and tracker._bridges == {}
    # a replay of a recent call is still recognised
    assert ended(feed_all(tracker, numbered_call(499))) == []


def test_open_calls_are_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tracker_module, "MAX_OPEN_CALLS", 10)
    tracker = CallTracker()
    events = feed_all(tracker, [numbered_call(n)[0] for n in range(15)])
    closed = ended(events)
    assert [s.linkedid for s in closed] == [f"{n}.0" for n in range(5)]
    assert {s.hangup_by for s in closed} == {"system"}
    assert len(tracker.live_calls()) == 10


# --------------------------------------------------------------- garbage in

KEYS = ["Event", "Uniqueid", "Linkedid", "Channel", "Context", "Exten", "Queue", "Interface",
        "MemberName", "DestUniqueid", "DestChannel", "HoldTime", "RingTime", "TalkTime",
        "Reason", "Status", "Paused", "PausedReason", "Variable", "Value", "Timestamp",
        "BridgeUniqueid", "Result", "Extension", "CallerIDNum", "CallerIDName", "Position",
        "Penalty", "ChannelState", "Duration", "BridgeId", "Application", "Wait", "Location",
        "TransfererUniqueid", "TransfereeUniqueid", "OrigTransfererUniqueid",
        "DestBridgeUniqueid", "StateInterface", "Name"]
EVENTS = sorted(set(CallTracker()._handlers) | {"Cdr", "CEL", "Newexten", "Bogus", ""})
VALUES = st.one_of(
    st.sampled_from(["", "1", "0", "16", "nan", "inf", "-1", "1e400", "9" * 30, "<unknown>",
                     "100.1", "100.2", "from-pstn", "from-trunk", "caller", "transfer",
                     "Success", "Local/1001@agents-00000001;1", "AppQueue", "00:00:05", "::",
                     "__QUEUE", "CRM_X", "b-1"]),
    st.text(max_size=12))
MESSAGES = st.one_of(
    st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=12),
    st.builds(lambda e, d: {**d, "Event": e}, st.sampled_from(EVENTS),
              st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=12)),
    st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=5),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(MESSAGES, max_size=40), st.booleans())
def test_feed_never_raises_on_garbage(msgs: list[dict[str, str]], resync: bool) -> None:
    tracker = CallTracker(clock=Clock())
    if resync:
        tracker.begin_resync()
    for msg in msgs:
        assert isinstance(tracker.feed(msg), list)
    tracker.end_resync()
    tracker.live_calls()
    assert tracker.unexpected["tracker-error"] == 0


def mutations(timed: list[tuple[float, dict[str, str]]], seed: int) -> Iterator[dict[str, str]]:
    rng = random.Random(seed)
    for _, msg in timed:
        msg = dict(msg)
        roll = rng.random()
        if roll < 0.1 and msg:
            del msg[rng.choice(list(msg))]
        elif roll < 0.2 and msg:
            msg[rng.choice(list(msg))] = rng.choice(["", "x", "-5", "nan", "<unknown>", "1.2.3"])
        elif roll < 0.25:
            continue  # lost
        elif roll < 0.3:
            yield dict(msg)  # duplicated
        yield msg


@pytest.mark.parametrize("name", ["05-blind-transfer", "06-attended-transfer",
                                  "09-resync-snapshot", "03-ring-no-answer-then-answered"])
def test_mutated_captures_never_break_the_tracker(name: str) -> None:
    timed = load_capture(CAPTURES / f"{name}.ami")
    for seed in range(8):
        tracker = CallTracker(clock=Clock())
        if seed % 2:
            tracker.begin_resync()
        events: list[DomainEvent] = []
        for msg in mutations(timed, seed):
            events.extend(tracker.feed(msg))
        events.extend(tracker.end_resync())
        assert tracker.unexpected["tracker-error"] == 0
        by_linkedid(events)  # never more than one CallEnded per call
        for event in events:
            event.to_dict()
        assert all(isinstance(e, CallEnded) or e.at is not None for e in events)


def test_non_mapping_input_is_survived() -> None:
    tracker = CallTracker()
    assert tracker.feed(None) == []  # type: ignore[arg-type]
    assert tracker.feed({"Event": None}) == []  # type: ignore[dict-item]
    assert tracker.unexpected["tracker-error"] == 1


def test_answer_event_carries_agent_channel() -> None:
    tracker = CallTracker(inbound_contexts=["from-trunk"])
    [answered] = [e for e in feed_all(tracker, trunk_call()) if isinstance(e, CallAnswered)]
    assert (answered.agent_channel, answered.wait_s, answered.ring_s) == (AGENT, 3, 2)


# ------------------------------------------------------------- recordings

def recorded_call(*values: str) -> list[dict[str, str]]:
    """The trunk call with the dialplan's HOTLINE_RECORDING VarSet(s) before the queue."""
    msgs = trunk_call()
    join = next(i for i, m in enumerate(msgs) if m["Event"] == "QueueCallerJoin")
    sets = [caller("VarSet", Variable="HOTLINE_RECORDING", Value=v) for v in values]
    return msgs[:join] + sets + msgs[join:]


def test_recording_of_the_dialplan_reaches_the_summary() -> None:
    tracker = CallTracker(inbound_contexts=["from-trunk"])
    [summary] = ended(feed_all(tracker, recorded_call("2026/11/25/100.1.wav")))
    assert summary.recording == "2026/11/25/100.1.wav"
    assert "HOTLINE_RECORDING" not in summary.ivr  # a file name, not something the IVR found
    assert summary.to_dict()["recording"] == "2026/11/25/100.1.wav"


def test_call_without_a_recording_has_none() -> None:
    tracker = CallTracker(inbound_contexts=["from-trunk"])
    [summary] = ended(feed_all(tracker, trunk_call()))
    assert summary.recording is None
    assert summary.to_dict()["recording"] is None


@pytest.mark.parametrize("hostile", [
    "../../etc/passwd", "/var/spool/asterisk/monitor/x.wav", "2026/../../x.wav",
    "2026//x.wav", "./x.wav", "x.wav/", "a\x00.wav", "a\r\nEvent: Hangup.wav", "a b.wav",
    "a\\..\\b.wav", "录音.wav", "<img src=x onerror=alert(1)>", "x?y=1.wav", "%2e%2e/x.wav",
    "javascript:alert(1)", "x" * 201,
])
def test_hostile_recording_names_are_dropped(hostile: str) -> None:
    tracker = CallTracker(inbound_contexts=["from-trunk"])
    [summary] = ended(feed_all(tracker, recorded_call(hostile)))
    assert summary.recording is None
    assert "HOTLINE_RECORDING" not in summary.ivr
    assert tracker.unexpected["unsafe recording name"] == 1


def test_hostile_recording_name_does_not_replace_a_safe_one_and_empty_forgets() -> None:
    tracker = CallTracker(inbound_contexts=["from-trunk"])
    [kept] = ended(feed_all(tracker, recorded_call("a/b-1_2.wav", "../x.wav")))
    assert kept.recording == "a/b-1_2.wav"
    tracker = CallTracker(inbound_contexts=["from-trunk"])
    [forgot] = ended(feed_all(tracker, recorded_call("a/b.wav", "")))
    assert forgot.recording is None


def test_recording_on_an_agent_leg_is_not_the_callers() -> None:
    msgs = trunk_call()
    connect = next(i for i, m in enumerate(msgs) if m["Event"] == "AgentConnect")
    msgs.insert(connect, agent_leg("VarSet", Variable="HOTLINE_RECORDING", Value="agent.wav"))
    [summary] = ended(feed_all(CallTracker(inbound_contexts=["from-trunk"]), msgs))
    assert summary.recording is None


# ------------------------------------------------------------ outbound calls
# An agent's click-to-dial on a real SIP phone: the first channel is the agent's own
# PJSIP channel (in no origin context), recognised by our Originate's variables; the
# customer's leg is a trunk channel whose Exten says nothing of the number.

ORIGIN = "PJSIP/1001-00000010"
CUSTOMER = "PJSIP/carrier-00000011"
T0 = 1_795_479_000.0


def out_msg(event: str, at: float, uid: str = "200.1", **extra: str) -> dict[str, str]:
    channel, context = (ORIGIN, "from-internal") if uid == "200.1" else (CUSTOMER, "to-trunk")
    msg = {"Event": event, "Timestamp": str(T0 + at),
           **snapshot(uid, "200.1", channel, context, "s", num="4008001234"),
           "ChannelState": "0", "ChannelStateDesc": "Down"}  # each event says its own
    msg.update(extra)
    return msg


def originated(*, agent_answers: bool = True) -> list[dict[str, str]]:
    """The agent's phone rings 2 s (or never answers), then the customer is dialled."""
    msgs = [
        out_msg("Newchannel", 0, ChannelState="0", ChannelStateDesc="Down",
                CallerIDNum="<unknown>"),
        out_msg("VarSet", 0, Variable="HOTLINE_ORIGINATED_BY", Value="alice"),
        out_msg("VarSet", 0, Variable="HOTLINE_DIALLED", Value="13800138000"),
        out_msg("VarSet", 0, Variable="HOTLINE_CUSTOMER_ID", Value="42"),
        out_msg("NewCallerid", 0, CallerIDNum="4008001234"),
        out_msg("Newstate", 0.1, ChannelState="5", ChannelStateDesc="Ringing"),
    ]
    if agent_answers:
        msgs += [out_msg("Newstate", 2, ChannelState="6", ChannelStateDesc="Up"),
                 out_msg("Newchannel", 2, uid="200.2", ChannelState="0",
                         ChannelStateDesc="Down")]
    return msgs


def customer_answers(at: float = 5) -> list[dict[str, str]]:
    return [
        out_msg("Newstate", at, uid="200.2", ChannelState="6", ChannelStateDesc="Up"),
        out_msg("DialEnd", at, DestUniqueid="200.2", DestChannel=CUSTOMER,
                DialStatus="ANSWER"),
        out_msg("BridgeEnter", at, uid="200.2", BridgeUniqueid="b-9"),
        out_msg("BridgeEnter", at, BridgeUniqueid="b-9"),
    ]


def hangups(at: float, first: str, second: str, state: str = "6") -> list[dict[str, str]]:
    return [out_msg("Hangup", at, uid=first, Cause="16", ChannelState=state),
            out_msg("Hangup", at + 0.01, uid=second, Cause="16", ChannelState=state)]


def outbound_summary(msgs: list[dict[str, str]], tracker: CallTracker | None = None,
                     ) -> tuple[CallSummary, list[DomainEvent]]:
    tracker = tracker or CallTracker()
    events = feed_all(tracker, msgs)
    [summary] = [e.summary for e in events if isinstance(e, CallEnded)]
    assert tracker.live_calls() == []
    assert tracker.unexpected["tracker-error"] == 0
    return summary, events


def test_outbound_answered_customer_hangs_up() -> None:
    tracker = CallTracker()
    feed_all(tracker, originated() + customer_answers())
    [live] = tracker.live_calls()
    assert (live["direction"], live["state"], live["queue"], live["caller"]) == (
        "outbound", "talking", None, "+8613800138000")
    s, events = outbound_summary(hangups(12, "200.2", "200.1"), tracker)
    assert (s.direction, s.caller, s.did, s.outcome, s.hangup_by) == (
        "outbound", "+8613800138000", None, "answered", "customer")
    assert (s.agent, s.agent_interface) == ("alice", "PJSIP/1001")  # in no queue: the user
    assert s.answered_at is not None and s.answered_at.timestamp() == T0 + 5  # the customer's
    assert s.started_at is not None and s.started_at.timestamp() == T0
    assert s.talk_s == 7
    assert (s.queues, s.wait_s, s.agents_tried) == ((), None, ())
    assert s.ring_s == 3  # the customer's phone: dialled at 2, answered at 5
    assert s.ivr == {"HOTLINE_ORIGINATED_BY": "alice", "HOTLINE_DIALLED": "13800138000",
                     "HOTLINE_CUSTOMER_ID": "42"}


def test_outbound_call_started_once_with_the_number() -> None:
    events = feed_all(CallTracker(), originated() + customer_answers()
                      + hangups(12, "200.2", "200.1"))
    started = [e for e in events if isinstance(e, CallStarted)]
    assert [(e.linkedid, e.caller, e.direction) for e in started] == [
        ("200.1", "+8613800138000", "outbound")]
    assert not [e for e in events if e.type in ("CallQueued", "AgentRingNoAnswer")]


def test_outbound_call_pops_and_answers_for_the_agent() -> None:
    """The agent's side of an outbound call, as for a queue call: AgentRinging once the
    agent's phone rings (the number known), CallAnswered when the CUSTOMER answers."""
    tracker = CallTracker()
    events = feed_all(tracker, originated())
    [ringing] = [e for e in events if isinstance(e, AgentRinging)]
    assert (ringing.linkedid, ringing.queue, ringing.agent, ringing.interface) == (
        "200.1", "", "alice", "PJSIP/1001")
    assert (ringing.agent_channel, ringing.caller, ringing.caller_name, ringing.did) == (
        ORIGIN, "+8613800138000", None, None)
    assert ringing.direction == "outbound"
    assert ringing.ivr["HOTLINE_CUSTOMER_ID"] == "42"  # the pop opens that customer
    assert ringing.at is not None and ringing.at.timestamp() == T0 + 0.1
    [live] = tracker.live_calls()
    assert (live["state"], live["agent"], live["queue"]) == ("dialling", "alice", None)
    events = feed_all(tracker, customer_answers())
    [answered] = [e for e in events if isinstance(e, CallAnswered)]
    assert (answered.linkedid, answered.queue, answered.agent, answered.interface) == (
        "200.1", "", "alice", "PJSIP/1001")
    assert (answered.agent_channel, answered.wait_s, answered.ring_s) == (ORIGIN, None, 3)
    assert answered.direction == "outbound"
    assert answered.at is not None and answered.at.timestamp() == T0 + 5
    assert tracker.live_calls()[0]["state"] == "talking"
    events = feed_all(tracker, hangups(12, "200.2", "200.1"))
    assert [e.type for e in events] == ["CallEnded"]
    for event in (ringing, answered):  # the direction crosses the bus
        assert event_from_dict(event.to_dict()) == event


def test_outbound_agent_events_in_order_once() -> None:
    events = feed_all(CallTracker(), originated() + customer_answers()
                      + hangups(12, "200.2", "200.1"))
    assert [e.type for e in events if e.type != "AgentStateChanged"] == [
        "CallStarted", "AgentRinging", "CallAnswered", "CallEnded"]


def test_outbound_unanswered_pops_but_never_answers() -> None:
    for msgs in (originated() + hangups(6, "200.1", "200.2", state="5"),  # agent gives up
                 originated(agent_answers=False) + [  # the agent never picks up
                     out_msg("Hangup", 30, Cause="19", ChannelState="5")]):
        events = feed_all(CallTracker(), msgs)
        assert [e.type for e in events if e.type in ("AgentRinging", "CallAnswered",
                                                      "CallEnded")] == [
            "AgentRinging", "CallEnded"]


def test_outbound_no_pop_before_the_phone_rings_nor_without_the_number() -> None:
    tracker = CallTracker()
    events = feed_all(tracker, originated()[:5])  # variables set, the phone not ringing yet
    assert not [e for e in events if isinstance(e, AgentRinging)]
    msgs = [m for m in originated() if m.get("Variable") != "HOTLINE_DIALLED"]
    events = feed_all(CallTracker(), msgs[:-1])  # ringing, number unknown: a callback
    assert not [e for e in events if isinstance(e, AgentRinging)]


def test_outbound_agent_hangs_up_first_and_is_the_queue_member() -> None:
    member = {"Event": "QueueMemberStatus", "Queue": "sales", "Interface": "PJSIP/1001",
              "MemberName": "Mei", "Status": "1", "Paused": "0"}
    s, _ = outbound_summary([member] + originated() + customer_answers()
                            + hangups(9, "200.1", "200.2"))
    assert (s.outcome, s.hangup_by, s.talk_s) == ("answered", "agent", 4)
    assert (s.agent, s.agent_interface) == ("Mei", "PJSIP/1001")


def test_outbound_customer_does_not_answer() -> None:
    s, _ = outbound_summary(originated() + [
        out_msg("DialEnd", 32, DestUniqueid="200.2", DestChannel=CUSTOMER,
                DialStatus="NOANSWER"),
    ] + hangups(32, "200.2", "200.1", state="5"))
    assert (s.direction, s.outcome, s.hangup_by) == ("outbound", "no-answer", "system")
    assert (s.answered_at, s.talk_s, s.wait_s, s.queues) == (None, None, None, ())
    assert s.caller == "+8613800138000"


def test_outbound_agent_gives_up_while_the_customer_rings() -> None:
    s, _ = outbound_summary(originated() + hangups(6, "200.1", "200.2", state="5"))
    assert (s.outcome, s.hangup_by, s.answered_at) == ("no-answer", "agent", None)


def test_outbound_agent_does_not_answer() -> None:
    s, _ = outbound_summary(originated(agent_answers=False) + [
        out_msg("Hangup", 30, Cause="19", ChannelState="5"),
        {"Event": "OriginateResponse", "Response": "Failure", "Channel": "PJSIP/1001",
         "Uniqueid": "<unknown>", "Reason": "3", "Exten": "13800138000",
         "Timestamp": str(T0 + 30)},
    ])
    assert (s.direction, s.outcome, s.hangup_by) == ("outbound", "failed", "system")
    assert (s.answered_at, s.talk_s) == (None, None)
    assert s.caller == "+8613800138000"  # from HOTLINE_DIALLED


def test_outbound_number_from_the_customer_leg_without_our_variables() -> None:
    msgs = [m for m in originated() if m.get("Variable") != "HOTLINE_DIALLED"]
    msgs = [dict(m, Exten="13700137000") if m.get("Uniqueid") == "200.2" else m
            for m in msgs + customer_answers() + hangups(8, "200.2", "200.1")]
    s, _ = outbound_summary(msgs)
    assert (s.caller, s.outcome) == ("+8613700137000", "answered")


def test_a_channel_in_no_origin_context_without_our_variables_is_no_call() -> None:
    msgs = [m for m in originated() if m.get("Variable") != "HOTLINE_ORIGINATED_BY"]
    events = feed_all(CallTracker(), msgs + customer_answers() + hangups(8, "200.2", "200.1"))
    assert not [e for e in events if e.type.startswith("Call")]


def test_outbound_summary_crosses_the_bus_with_its_direction() -> None:
    s, events = outbound_summary(originated() + customer_answers()
                                 + hangups(12, "200.2", "200.1"))
    [ended_event] = [e for e in events if isinstance(e, CallEnded)]
    again = event_from_dict(ended_event.to_dict())
    assert isinstance(again, CallEnded) and again.summary == s
    assert again.summary.direction == "outbound"


def test_outbound_call_is_never_waiting_on_the_wallboard() -> None:
    """The live page's per-queue waiting figures come from the tracker's live calls: an
    outbound call ringing the agent or the customer is in no queue, so it adds nothing."""
    tracker = CallTracker()
    feed_all(tracker, trunk_call()[:7])  # an inbound caller waiting in "sales"
    feed_all(tracker, originated())  # the customer's phone rings
    live = {c["linkedid"]: c for c in tracker.live_calls()}
    assert (live["200.1"]["state"], live["200.1"]["queue"]) == ("dialling", None)
    assert waiting_counts(tracker.live_calls(), {}) == {
        "sales": {"callers": 1, "callbacks": 0, "total": 1}}
    feed_all(tracker, customer_answers())
    assert waiting_counts(tracker.live_calls(), {}) == {
        "sales": {"callers": 1, "callbacks": 0, "total": 1}}


def test_callback_attempt_is_outbound_by_its_variable() -> None:
    """A callback's Originate sets HOTLINE_CALLBACK (not a user) and no HOTLINE_DIALLED:
    the number comes from the OriginateResponse of the agent's leg."""
    msgs = [dict(m, Variable="HOTLINE_CALLBACK", Value="hlcb-7-ab12")
            if m.get("Variable") == "HOTLINE_ORIGINATED_BY" else m
            for m in originated() if m.get("Variable") != "HOTLINE_DIALLED"]
    response = {"Event": "OriginateResponse", "Response": "Success", "Channel": ORIGIN,
                "Uniqueid": "200.1", "Reason": "4", "Exten": "13600136000",
                "Timestamp": str(T0 + 2)}
    s, _ = outbound_summary(msgs + [response] + customer_answers()
                            + hangups(9, "200.2", "200.1"))
    assert (s.direction, s.caller, s.outcome) == ("outbound", "+8613600136000", "answered")
    assert (s.agent, s.agent_interface) == ("PJSIP/1001", "PJSIP/1001")  # not the token
    # the pop waits for the number (the OriginateResponse), the phone rang before
    _, events = outbound_summary(msgs + [response] + customer_answers()
                                 + hangups(9, "200.2", "200.1"))
    [ringing] = [e for e in events if isinstance(e, AgentRinging)]
    assert (ringing.caller, ringing.interface, ringing.direction) == (
        "+8613600136000", "PJSIP/1001", "outbound")
    assert ringing.at is not None and ringing.at.timestamp() == T0 + 2
    assert s.ivr["HOTLINE_CALLBACK"] == "hlcb-7-ab12"


def test_outbound_agent_named_as_the_call_log_names_her() -> None:
    """Not signed in (in no queue): the name our Originate set, not her username, so her
    outbound and inbound calls carry the same agent (found on a real Asterisk)."""
    msgs = originated()
    msgs.insert(2, out_msg("VarSet", 0, Variable="HOTLINE_AGENT_NAME", Value="Alice"))
    s, _ = outbound_summary(msgs + customer_answers() + hangups(12, "200.2", "200.1"))
    assert s.agent == "Alice"
