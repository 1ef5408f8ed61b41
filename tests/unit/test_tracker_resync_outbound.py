"""Outbound calls still up at a resync are adopted, or brought up to date, and logged once
when they end, as the tracker logs a call it watched whole (issue 13 items 1-2; before,
the resync adopted inbound calls only and such a call was never logged).

The real PBX first: tests/fixtures/asterisk/restart-outbound-*.ami are the acceptance
suite's captures (tests/asterisk/test_restarts.py) on deploy/asterisk: ``hotline serve``
killed while the customer of Alice's click-to-dial talks (or his phone rings), and while
a callback rings Alice's phone;
the capture's own AMI session then asked what the restarted Hotline's resync asks
(CoreShowChannels, Status with AllVariables). A tracker fed the capture from that
snapshot on logs the call as one fed the whole capture. Then hand-made snapshots in the
same shape (Asterisk 22 manager.c), for the other cases: the agent's phone ringing (a
callback), a phone that is no Local channel and a trunk in an inbound context, an AMI
outage over a call the tracker knew, no Status list, a call gone during the resync."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import pytest

from telephony.ami_codec import decode_all
from telephony.events import (
    AgentRinging,
    CallAnswered,
    CallEnded,
    CallStarted,
    CallSummary,
    DomainEvent,
)
from telephony.tracker import CallTracker
from telephony.tracker.model import HANDSET, OTHER, PHONE
from telephony.tracker.outbound_resync import context_of, dial_targets, sides

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "asterisk"
LISTS = ("CoreShowChannel", "CoreShowChannelsComplete", "Status", "StatusComplete")


class Clock:
    """The PBX's time: the newest Timestamp fed (list events carry none)."""

    def __init__(self, t: float = 0.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def see(self, msg: dict[str, str]) -> None:
        if msg.get("Timestamp"):
            self.t = max(self.t, float(msg["Timestamp"]))


def feed(tracker: CallTracker, clock: Clock, msgs: Iterable[dict[str, str]],
         *, resync_at: int | None = None) -> list[DomainEvent]:
    """Feed ``msgs``; with ``resync_at``, a fresh Hotline's view: nothing before that
    index, a resync from there until the last list is complete."""
    events: list[DomainEvent] = []
    for i, msg in enumerate(msgs):
        if resync_at is not None and i < resync_at:
            clock.see(msg)
            continue
        if i == resync_at:
            tracker.begin_resync()
        clock.see(msg)
        events += tracker.feed(msg)
        if resync_at is not None and msg.get("Event") == "StatusComplete":
            events += tracker.end_resync()
    return events


def capture(name: str) -> list[dict[str, str]]:
    return [dict(m) for m in decode_all((FIXTURES / f"{name}.ami").read_bytes())]


def the_summary(events: Sequence[DomainEvent]) -> CallSummary:
    [summary] = [e.summary for e in events if isinstance(e, CallEnded)]
    return summary


# ------------------------------------------------------------- the real PBX

@pytest.mark.parametrize("name", ["restart-outbound-answered", "restart-outbound-ringing",
                                  "restart-outbound-callback-ringing"])
def test_real_snapshot_adopts_the_click_to_dial_and_logs_it_as_watched_whole(
        name: str) -> None:
    msgs = capture(name)
    whole_clock = Clock()
    watched = the_summary(feed(CallTracker(clock=whole_clock), whole_clock, msgs))
    clock = Clock()
    tracker = CallTracker(clock=clock)
    start = next(i for i, m in enumerate(msgs) if m.get("Event") == "CoreShowChannel")
    events = feed(tracker, clock, msgs, resync_at=start)
    adopted = the_summary(events)
    assert tracker.unexpected["tracker-error"] == 0
    assert tracker.live_calls() == []
    same = ("linkedid", "direction", "caller", "did", "agent", "agent_interface", "outcome",
            "hangup_by", "ivr", "queues", "agents_tried", "wait_s", "recording")
    assert {k: getattr(adopted, k) for k in same} == {k: getattr(watched, k) for k in same}
    assert (watched.direction, watched.outcome, watched.agent, watched.hangup_by) == (
        "outbound", "answered", "Alice", "customer")
    assert watched.ivr.get("HOTLINE_ORIGINATED_BY", "alice") == "alice"
    assert adopted.ended_at == watched.ended_at
    assert adopted.started_at is not None and watched.started_at is not None
    assert abs((adopted.started_at - watched.started_at).total_seconds()) <= 1.0
    assert watched.talk_s is not None and adopted.talk_s is not None
    assert watched.ring_s is not None
    if name.endswith("ringing"):  # the answer came after the resync: measured as live
        assert adopted.answered_at == watched.answered_at
        assert (adopted.ring_s, adopted.talk_s) == (watched.ring_s, watched.talk_s)
    else:  # answered unseen: put at the customer's dialling, his ring (2 s) early at most
        assert adopted.ring_s is None
        assert watched.talk_s <= adopted.talk_s <= watched.talk_s + watched.ring_s + 1
    # the agent's side as for a queue call: her pop, and the answer
    assert [type(e).__name__ for e in events if getattr(e, "linkedid", "") == watched.linkedid
            and not isinstance(e, CallEnded)] == ["CallStarted", "AgentRinging",
                                                  "CallAnswered"]
    assert tracker.is_open(watched.linkedid) is False


# ------------------------------------------------------------ hand-made snapshots

NOW = 1_796_700_000.0
TOKEN = "hlcb-7-0a1b2c3d4e"  # a callback attempt: the claim token is its Linkedid
ORIGIN, PARTNER = "Local/2001@agents-00000010;1", "Local/2001@agents-00000010;2"
PHONE1, PHONE2 = "Local/2001@phones-00000011;1", "Local/2001@phones-00000011;2"
CUST1, CUST2 = "Local/13600136000@pstn-out-00000012;1", "Local/13600136000@pstn-out-00000012;2"
CB_VARS = {"HOTLINE_CALLBACK_ID": "7", "HOTLINE_CALLBACK": TOKEN,
           "HOTLINE_DIALLED": "13600136000"}


def hms(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


class Chan:
    def __init__(self, name: str, uid: str, context: str, exten: str, *, state: str = "6",
                 app: str = "", data: str = "", bridge: str = "", age: int = 10,
                 variables: dict[str, str] | None = None, linkedid: str = TOKEN) -> None:
        self.name, self.uid, self.context, self.exten = name, uid, context, exten
        self.state, self.app, self.data, self.bridge, self.age = state, app, data, bridge, age
        self.variables = variables or {}
        self.linkedid = linkedid

    def base(self, event: str) -> dict[str, str]:
        return {"Event": event, "Channel": self.name, "ChannelState": self.state,
                "CallerIDNum": "4008001234", "CallerIDName": "Hotline",
                "Context": self.context, "Exten": self.exten, "Priority": "1",
                "Uniqueid": self.uid, "Linkedid": self.linkedid, "ActionID": "r"}

    def core_show(self) -> dict[str, str]:
        return {**self.base("CoreShowChannel"), "Application": self.app,
                "ApplicationData": self.data, "Duration": hms(self.age),
                "BridgeId": self.bridge}

    def status(self) -> dict[str, str]:
        msg = {**self.base("Status"), "Type": "Local", "BridgeID": self.bridge,
               "Application": self.app, "Data": self.data, "Seconds": str(self.age)}
        if self.variables:
            msg["Variable"] = "\n".join(f"{k}={v}" for k, v in self.variables.items())
        return msg


def snapshot(chans: Sequence[Chan], *, with_status: bool = True,
             members: Sequence[tuple[str, str]] = ()) -> list[dict[str, str]]:
    """The lists of a resync, as Hotline asks them (``telephony.ami``)."""
    msgs = [c.core_show() for c in chans] + [{"Event": "CoreShowChannelsComplete"}]
    msgs += [{"Event": "QueueParams", "Queue": "support"}]
    msgs += [{"Event": "QueueMember", "Queue": "support", "Name": name, "Location": where,
              "Status": "2", "Paused": "0"} for name, where in members]
    msgs += [{"Event": "QueueStatusComplete"}]
    if with_status:
        msgs += [c.status() for c in chans] + [{"Event": "StatusComplete"}]
    return msgs


def resync(tracker: CallTracker, msgs: Iterable[dict[str, str]]) -> list[DomainEvent]:
    tracker.begin_resync()
    events: list[DomainEvent] = []
    for msg in msgs:
        events += tracker.feed(msg)
    return events + tracker.end_resync()


def live(event: str, chan: Chan, at: float, **extra: str) -> dict[str, str]:
    return {**chan.base(event), "Timestamp": f"{NOW + at:.6f}", **extra}


def agent_phone_ringing() -> list[Chan]:
    """The callback worker's Originate: Local/2001@agents/n rings her phone (8 s so far)."""
    return [
        Chan(ORIGIN, TOKEN, "agents", "2001", state="5", age=8, variables=CB_VARS),
        Chan(PARTNER, TOKEN + ";2", "agents", "2001", state="4", app="Dial",
             data="Local/2001@phones/n,,tT", age=8, variables=CB_VARS),
        Chan(PHONE1, "1.3", "phones", "2001", state="5", app="AppDial",
             data="(Outgoing Line)", age=8),
        Chan(PHONE2, "1.4", "phones", "2001", state="4", app="Wait", data="600", age=8),
    ]


def talking(*, origin: str = ORIGIN, variables: dict[str, str] | None = None,
            customer_context: str = "pstn-out") -> list[Chan]:
    """She answered 8 s in; the customer answered his leg (dialled 12 s ago) since."""
    v = CB_VARS if variables is None else variables
    c1 = CUST1.replace("pstn-out", customer_context)
    return [
        Chan(origin, TOKEN, "outbound", "13600136000", app="Dial",
             data=f"Local/13600136000@{customer_context}/n,30", bridge="b-cust", age=20,
             variables=v),
        Chan(PARTNER, TOKEN + ";2", "agents", "2001", app="Dial",
             data="Local/2001@phones/n,,tT", bridge="b-phone", age=20, variables=v),
        Chan(PHONE1, "1.3", "phones", "", app="AppDial", data="(Outgoing Line)",
             bridge="b-phone", age=20),
        Chan(PHONE2, "1.4", "phones", "2001", app="Wait", data="600", age=20),
        Chan(c1, "1.5", customer_context, "", app="AppDial", data="(Outgoing Line)",
             bridge="b-cust", age=12),
        Chan(c1[:-1] + "2", "1.6", customer_context, "13600136000", app="Wait", data="600",
             age=12),
    ]


def test_callback_adopted_while_the_agents_phone_rings_then_answered() -> None:
    """A callback rings Alice's phone when Hotline comes back: adopted (the pop), then she
    answers, the customer is dialled and answers, and hangs up: logged once, answered,
    the callback's variables and number, the customer's ring and talk measured."""
    chans = agent_phone_ringing()
    tracker = CallTracker(clock=lambda: NOW)
    events = resync(tracker, snapshot(chans, members=[("Agent2001", "Local/2001@agents/n")]))
    [pop] = [e for e in events if isinstance(e, AgentRinging)]
    assert (pop.linkedid, pop.agent, pop.caller, pop.direction) == (
        TOKEN, "Agent2001", "+8613600136000", "outbound")
    [started] = [e for e in events if isinstance(e, CallStarted)]
    assert started.at is not None and started.at.timestamp() == NOW - 8
    origin, partner, phone1, phone2 = chans
    cust1 = Chan(CUST1, "1.5", "pstn-out", "13600136000")
    cust2 = Chan(CUST2, "1.6", "pstn-out", "13600136000")
    later = [
        live("Newstate", phone2, 2, ChannelState="6"),
        live("Newstate", phone1, 2, ChannelState="6"),
        live("DialEnd", partner, 2, DestUniqueid="1.3", DestChannel=PHONE1,
             DialStatus="ANSWER"),
        live("Newstate", partner, 2, ChannelState="6"),
        live("Newstate", origin, 2, ChannelState="6"),
        live("Newchannel", cust1, 2.1, ChannelState="0"),
        live("Newchannel", cust2, 2.1, ChannelState="4"),
        live("DialBegin", origin, 2.1, DestUniqueid="1.5", DestChannel=CUST1),
        live("DialEnd", origin, 6, DestUniqueid="1.5", DestChannel=CUST1,
             DialStatus="ANSWER"),
        live("BridgeEnter", cust1, 6, BridgeUniqueid="b-9"),
        live("BridgeEnter", origin, 6, BridgeUniqueid="b-9"),
        live("Hangup", cust2, 16, Cause="16"),
        live("BridgeLeave", cust1, 16, BridgeUniqueid="b-9"),
        live("Hangup", cust1, 16, Cause="16"),
        live("BridgeLeave", origin, 16, BridgeUniqueid="b-9"),
        live("Hangup", origin, 16.1, Cause="16"),
        live("Hangup", partner, 16.1, Cause="16"),
        live("Hangup", phone1, 16.2, Cause="16"),
        live("Hangup", phone2, 16.2, Cause="16"),
    ]
    events = [e for m in later for e in tracker.feed(m)]
    s = the_summary(events)
    assert (s.direction, s.outcome, s.caller, s.agent, s.agent_interface, s.hangup_by) == (
        "outbound", "answered", "+8613600136000", "Agent2001", "Local/2001@agents/n",
        "customer")
    assert s.ivr == CB_VARS
    assert (s.ring_s, s.talk_s) == (4, 10)  # dialled at 2.1, answered at 6, left at 16
    assert s.started_at is not None and s.started_at.timestamp() == NOW - 8
    assert [type(e).__name__ for e in events if not isinstance(e, CallEnded)] == [
        "CallAnswered"]
    assert tracker.live_calls() == []


def test_callback_adopted_while_her_phone_rings_and_she_never_answers_failed() -> None:
    chans = agent_phone_ringing()
    tracker = CallTracker(clock=lambda: NOW)
    resync(tracker, snapshot(chans))
    events = [e for c in chans for e in tracker.feed(live("Hangup", c, 12, Cause="19",
                                                          ChannelState="5"))]
    s = the_summary(events)
    assert (s.outcome, s.hangup_by, s.answered_at, s.caller) == (
        "failed", "system", None, "+8613600136000")
    # in no queue: the device's interface, as the live tracker names her
    assert (s.agent, s.agent_interface) == ("Local/2001@agents", "Local/2001@agents/n")


def test_adopted_talking_with_a_sip_phone_and_a_trunk_in_an_inbound_context() -> None:
    """A site whose agent's interface is ``PJSIP/1001`` and whose carrier's endpoint
    context is ``from-pstn`` (the trunk channel dialled out sits there): the call is
    still the agent's Originate, by its variables, and no inbound call."""
    click = {"HOTLINE_ORIGINATED_BY": "alice", "HOTLINE_AGENT_NAME": "Alice",
             "HOTLINE_DIALLED": "13600136000"}
    chans = [
        Chan("PJSIP/1001-0000000a", TOKEN, "outbound", "13600136000", app="Dial",
             data="PJSIP/13600136000@carrier,30", bridge="b-1", age=30, variables=click),
        Chan("PJSIP/carrier-0000000b", "1.2", "from-pstn", "s", app="AppDial",
             data="(Outgoing Line)", bridge="b-1", age=25),
    ]
    tracker = CallTracker(clock=lambda: NOW)
    events = resync(tracker, snapshot(chans))
    assert [type(e).__name__ for e in events] == ["CallStarted", "AgentRinging",
                                                  "CallAnswered"]
    [answered] = [e for e in events if isinstance(e, CallAnswered)]
    assert (answered.agent, answered.interface, answered.direction) == (
        "Alice", "PJSIP/1001", "outbound")
    phone, trunk = chans
    s = the_summary(tracker.feed(live("Hangup", phone, 40, Cause="16"))
                    + tracker.feed(live("Hangup", trunk, 40.1, Cause="16")))
    assert (s.direction, s.outcome, s.caller, s.agent, s.hangup_by, s.did) == (
        "outbound", "answered", "+8613600136000", "Alice", "agent", None)
    assert s.answered_at is not None and s.answered_at.timestamp() == NOW - 25
    assert (s.talk_s, s.ring_s, s.queues) == (65, None, ())


def test_without_the_status_list_the_call_is_adopted_by_its_channels_alone() -> None:
    """Status refused: no variables; the origin's name says where it began, its Exten in
    the Originate's context is the number, the agent its queue membership."""
    tracker = CallTracker(clock=lambda: NOW)
    events = resync(tracker, snapshot(talking(), with_status=False,
                                      members=[("Agent2001", "Local/2001@agents/n")]))
    [answered] = [e for e in events if isinstance(e, CallAnswered)]
    assert answered.agent == "Agent2001"
    chans = talking()
    out = [e for c in (chans[4], chans[5], chans[0], chans[1], chans[2], chans[3])
           for e in tracker.feed(live("Hangup", c, 30, Cause="16"))]
    s = the_summary(out)
    assert (s.outcome, s.caller, s.agent, s.hangup_by, s.ivr) == (
        "answered", "+8613600136000", "Agent2001", "customer", {})


def test_agent_side_hanging_up_first_after_adoption_is_the_agent() -> None:
    chans = talking()
    tracker = CallTracker(clock=lambda: NOW)
    resync(tracker, snapshot(chans))
    order = [chans[3], chans[2], chans[1], chans[0], chans[4], chans[5]]  # her phone first
    s = the_summary([e for c in order for e in tracker.feed(live("Hangup", c, 30,
                                                                  Cause="16"))])
    assert (s.outcome, s.hangup_by) == ("answered", "agent")


def test_customer_still_ringing_at_adoption_then_agent_gives_up() -> None:
    chans = talking()
    for c in chans[4:]:
        c.bridge, c.state = "", "5"
    chans[0].bridge = ""
    tracker = CallTracker(clock=lambda: NOW)
    events = resync(tracker, snapshot(chans))
    assert not [e for e in events if isinstance(e, CallAnswered)]
    order = [chans[3], chans[2], chans[1], chans[0], chans[4], chans[5]]
    s = the_summary([e for c in order for e in tracker.feed(live("Hangup", c, 30,
                                                                  Cause="16"))])
    assert (s.outcome, s.hangup_by, s.answered_at, s.talk_s) == (
        "no-answer", "agent", None, None)


def test_a_call_gone_during_the_resync_ends_once_for_the_journal() -> None:
    """Listed, then hung up before the lists were complete: adopted and ended at once
    (the pipeline hands that record to the journal's reconciliation)."""
    chans = talking()
    tracker = CallTracker(clock=lambda: NOW)
    tracker.begin_resync()
    events: list[DomainEvent] = []
    for msg in snapshot(chans)[:len(chans) + 1]:  # the channel list
        events += tracker.feed(msg)
    for c in chans:  # hung up while the other lists come (not deferred: listed first)
        events += tracker.feed(live("Hangup", c, 1, Cause="16"))
    for msg in snapshot(chans)[len(chans) + 1:]:
        events += tracker.feed(msg)
    events += tracker.end_resync()
    s = the_summary(events)
    assert (s.linkedid, s.direction, s.outcome) == (TOKEN, "outbound", "answered")
    assert not tracker.is_open(TOKEN)
    assert tracker.feed(live("Hangup", chans[0], 2, Cause="16")) == []


def test_an_inbound_call_is_not_taken_for_an_outbound_one() -> None:
    """An inbound call's agent leg is a Local channel of the agents' context too: only a
    call's FIRST channel says it is an Originate."""
    lid = "300.1"
    chans = [
        Chan("Local/4008001234@from-pstn-00000001;2", lid, "from-pstn", "4008001234",
             app="Queue", data="support,tT,,,300", bridge="b-1", linkedid=lid),
        Chan("Local/1001@agents-00000002;1", "300.3", "agents", "4008001234",
             app="AppQueue", data="(Outgoing Line)", bridge="b-1", linkedid=lid),
    ]
    tracker = CallTracker(clock=lambda: NOW)
    events = resync(tracker, snapshot(chans))
    [started] = [e for e in events if isinstance(e, CallStarted)]
    assert started.direction == "inbound"


# ------------------------------------------------------ an outage over a known call

def test_known_click_to_dial_answered_during_an_ami_outage() -> None:
    """Hotline watched the customer's phone ring; the link dropped; he answered meanwhile.
    The resync says so (answered, at the outage's start at the earliest), the call goes
    on, and its end is logged once (before: no-answer, system, or never)."""
    clock = Clock(NOW)
    tracker = CallTracker(clock=clock)
    chans = talking(variables={"HOTLINE_ORIGINATED_BY": "alice",
                               "HOTLINE_DIALLED": "13600136000"})
    origin, partner, phone1, phone2, cust1, cust2 = chans
    before = [
        live("Newchannel", origin, -20, Context="agents", Exten="2001", ChannelState="0"),
        live("Newchannel", partner, -20, Context="agents", Exten="2001", ChannelState="4"),
        live("VarSet", origin, -20, Variable="HOTLINE_ORIGINATED_BY", Value="alice"),
        live("VarSet", origin, -20, Variable="HOTLINE_DIALLED", Value="13600136000"),
        live("Newchannel", phone1, -20, ChannelState="0"),
        live("Newchannel", phone2, -20, ChannelState="4"),
        live("DialBegin", partner, -20, DestUniqueid="1.3", DestChannel=PHONE1),
        live("Newstate", origin, -19.9, ChannelState="5"),
        live("Newstate", partner, -12, ChannelState="6"),
        live("Newstate", origin, -12, ChannelState="6"),
        live("BridgeEnter", phone1, -12, BridgeUniqueid="b-phone"),
        live("BridgeEnter", partner, -12, BridgeUniqueid="b-phone"),
        live("Newchannel", cust1, -12, ChannelState="0"),
        live("Newchannel", cust2, -12, ChannelState="4"),
        live("DialBegin", origin, -12, DestUniqueid="1.5", DestChannel=CUST1),
    ]
    events = feed(tracker, clock, before)
    assert [type(e).__name__ for e in events] == ["CallStarted", "AgentRinging"]
    clock.t = NOW  # the link was down 8 s
    events = resync(tracker, snapshot(chans))
    [answered] = [e for e in events if isinstance(e, CallAnswered)]
    assert answered.linkedid == TOKEN
    assert not [e for e in events if isinstance(e, (AgentRinging, CallEnded))]
    s = the_summary(feed(tracker, clock, [
        live("BridgeLeave", cust1, 10, BridgeUniqueid="b-cust"),
        live("Hangup", cust2, 10, Cause="16"), live("Hangup", cust1, 10, Cause="16"),
        live("Hangup", origin, 10.1, Cause="16"), live("Hangup", partner, 10.1, Cause="16"),
        live("Hangup", phone1, 10.1, Cause="16"), live("Hangup", phone2, 10.1, Cause="16"),
    ]))
    assert (s.outcome, s.hangup_by, s.caller, s.agent) == (
        "answered", "customer", "+8613600136000", "alice")
    # answered during the outage: from its last event (the customer dialled) at the earliest
    assert s.answered_at is not None and s.answered_at.timestamp() == NOW - 12
    assert s.talk_s == 22


def test_known_callback_whose_phone_was_ringing_gains_its_channels_in_the_outage() -> None:
    """The tracker saw the callback ring her phone; during the outage she answered and the
    customer's leg was dialled: the new channels are the customer's side (not the phone's),
    so his hanging up later is the customer's."""
    clock = Clock(NOW - 20)
    tracker = CallTracker(clock=clock)
    ringing = agent_phone_ringing()
    origin, partner, phone1, phone2 = ringing
    feed(tracker, clock, [
        live("Newchannel", origin, -20, ChannelState="0"),
        live("VarSet", origin, -20, Variable="HOTLINE_CALLBACK", Value=TOKEN),
        live("VarSet", origin, -20, Variable="HOTLINE_DIALLED", Value="13600136000"),
        live("Newchannel", partner, -20, ChannelState="4"),
        live("Newchannel", phone1, -20, ChannelState="0"),
        live("Newchannel", phone2, -20, ChannelState="4"),
        live("Newstate", origin, -19.9, ChannelState="5"),
    ])
    clock.t = NOW
    chans = talking()
    for c in chans[4:]:  # dialled during the outage, still ringing
        c.bridge, c.state, c.age = "", "5", 3
    chans[0].bridge = ""
    events = resync(tracker, snapshot(chans))
    assert not [e for e in events if isinstance(e, (CallAnswered, CallEnded))]
    cust1, cust2 = chans[4], chans[5]
    s = the_summary(feed(tracker, clock, [
        live("DialEnd", chans[0], 4, DestUniqueid="1.5", DestChannel=CUST1,
             DialStatus="ANSWER"),
        live("BridgeEnter", cust1, 4, BridgeUniqueid="b-9"),
        live("BridgeEnter", chans[0], 4, BridgeUniqueid="b-9"),
        live("Hangup", cust2, 9, Cause="16"), live("Hangup", cust1, 9, Cause="16"),
        live("Hangup", chans[0], 9.1, Cause="16"), live("Hangup", chans[1], 9.1, Cause="16"),
        live("Hangup", chans[2], 9.1, Cause="16"), live("Hangup", chans[3], 9.1, Cause="16"),
    ]))
    assert (s.outcome, s.hangup_by, s.ring_s, s.talk_s) == ("answered", "customer", 7, 5)


# ----------------------------------------------------------------- pure helpers

def test_where_a_local_channel_began_and_what_a_dial_names() -> None:
    assert context_of("Local/1001@agents-0000005c;1") == "agents"
    assert context_of("PJSIP/1001-0000000a") == ""
    assert dial_targets("Local/1001@phones/n,,tT") >= {"Local/1001@phones"}
    assert dial_targets("PJSIP/137@carrier&PJSIP/1002,30") >= {
        "PJSIP/137@carrier", "PJSIP/carrier", "PJSIP/1002"}
    assert dial_targets("") == set()


def test_sides_by_bridge_partner_and_dial_data_else_the_live_guess() -> None:
    rows = [c.core_show() for c in talking()]
    roles = sides(TOKEN, rows, {}, origin_up=True)
    assert [roles[r["Uniqueid"]] for r in rows] == [
        HANDSET, "caller", PHONE, PHONE, OTHER, OTHER]
    # nothing bridged yet (she just answered): her phone by the partner's Dial() data
    for r in rows:
        r["BridgeId"] = ""
    roles = sides(TOKEN, rows, {}, origin_up=True)
    assert [roles[r["Uniqueid"]] for r in rows] == [
        HANDSET, "caller", PHONE, PHONE, OTHER, OTHER]
    # no Dial() data either: the live guess, by whether her leg is up
    bare = [{**r, "Application": "", "ApplicationData": ""} for r in rows]
    assert sides(TOKEN, bare, {}, origin_up=False)["1.5"] == PHONE
    assert sides(TOKEN, bare, {}, origin_up=True)["1.3"] == OTHER
