"""A supervisor's listen / whisper / barge session (deploy/asterisk [supervisor-phone] and
[supervise]) is no call of the hotline's: the tracker makes no call, no transfer and no
second agent of it, and the spied call's record is the same as without it.

The session's events are those Asterisk 22 emits (capture 08, with Hotline's dialplan in
place of the rig's): Originate of Local/<ext>@supervisor-phone/n (its own Linkedid, the
variables on both halves), ;2 dialling the supervisor's PJSIP phone, the Originate's
DialEnd ANSWER, ;1 running ChanSpy in [supervise], ChanSpyStart naming the agent's leg
(and the spied call's Linkedid as SpyeeLinkedid), ChanSpyStop and the session's hang-ups
once the spied leg hangs up (option E)."""

from __future__ import annotations

import pytest

from telephony.events import CallSummary, DomainEvent
from telephony.tracker import CallTracker

from .test_tracker import AGENT, Clock, feed_all, snapshot, trunk_call

SPY1 = "Local/1009@supervisor-phone-0000000a;1"
SPY2 = "Local/1009@supervisor-phone-0000000a;2"
PHONE = "PJSIP/1009-0000000b"
SPY_LID = "200.1"


def spy(event: str, channel: str, uid: str, *, context: str = "supervisor-phone",
        exten: str = "1009", **extra: str) -> dict[str, str]:
    msg = {"Event": event, **snapshot(uid, SPY_LID, channel, context, exten,
                                      num="4008001234", name="Hotline")}
    msg.update(extra)
    return msg


def chanspy(event: str, mode: str) -> dict[str, str]:
    spyer = snapshot("200.1", SPY_LID, SPY1, "supervise", mode, num="4008001234",
                     name="Hotline")
    spyee = snapshot("100.2", "100.1", AGENT, "from-queue", "1001")
    return {"Event": event, **{f"Spyer{k}": v for k, v in spyer.items()},
            **{f"Spyee{k}": v for k, v in spyee.items()}}


def session_start(mode: str) -> list[dict[str, str]]:
    return [
        spy("Newchannel", SPY1, "200.1", ChannelState="0", ChannelStateDesc="Down"),
        spy("Newchannel", SPY2, "200.2", ChannelState="4", ChannelStateDesc="Ring"),
        spy("VarSet", SPY1, "200.1", Variable="HOTLINE_SPY_CHANNEL", Value=AGENT),
        spy("VarSet", SPY1, "200.1", Variable="HOTLINE_SPY_BY", Value="zhao.min"),
        spy("VarSet", SPY2, "200.2", Variable="HOTLINE_SPY_CHANNEL", Value=AGENT),
        spy("NewCallerid", SPY1, "200.1"),
        {"Event": "DialBegin", **{f"Dest{k}": v for k, v in snapshot(
            "200.1", SPY_LID, SPY1, "supervisor-phone", "1009").items()},
         "DialString": "1009@supervisor-phone/n"},
        spy("Newexten", SPY2, "200.2", Application="Dial", AppData="PJSIP/1009,30"),
        spy("Newchannel", PHONE, "200.3", context="from-internal"),
        {"Event": "DialBegin", **snapshot("200.2", SPY_LID, SPY2, "supervisor-phone", "1009"),
         **{f"Dest{k}": v for k, v in snapshot("200.3", SPY_LID, PHONE, "from-internal",
                                                "1009").items()},
         "DialString": "PJSIP/1009"},
        spy("Newstate", PHONE, "200.3", context="from-internal"),
        {"Event": "DialEnd", **snapshot("200.2", SPY_LID, SPY2, "supervisor-phone", "1009"),
         **{f"Dest{k}": v for k, v in snapshot("200.3", SPY_LID, PHONE, "from-internal",
                                                "1009").items()},
         "DialStatus": "ANSWER"},
        spy("BridgeEnter", PHONE, "200.3", context="from-internal", BridgeUniqueid="b-spy"),
        spy("BridgeEnter", SPY2, "200.2", BridgeUniqueid="b-spy"),
        spy("Newstate", SPY1, "200.1"),
        {"Event": "DialEnd", **{f"Dest{k}": v for k, v in snapshot(
            "200.1", SPY_LID, SPY1, "supervisor-phone", "1009").items()},
         "DialStatus": "ANSWER"},
        {"Event": "OriginateResponse", "Response": "Success", "Channel": SPY1,
         "Context": "supervise", "Exten": mode, "Reason": "4", "Uniqueid": "200.1",
         "CallerIDNum": "4008001234", "CallerIDName": "Hotline"},
        spy("Newexten", SPY1, "200.1", context="supervise", exten=mode,
            Application="ChanSpy", AppData=f"{AGENT},qudES"),
        chanspy("ChanSpyStart", mode),
    ]


def session_end(mode: str) -> list[dict[str, str]]:
    return [
        chanspy("ChanSpyStop", mode),
        spy("Hangup", SPY1, "200.1", context="supervise", exten=mode, Cause="16"),
        spy("BridgeLeave", SPY2, "200.2", BridgeUniqueid="b-spy"),
        spy("Hangup", SPY2, "200.2", Cause="16"),
        spy("BridgeLeave", PHONE, "200.3", context="from-internal", BridgeUniqueid="b-spy"),
        spy("Hangup", PHONE, "200.3", context="from-internal", Cause="16"),
    ]


def with_session(mode: str) -> list[dict[str, str]]:
    """The trunk call, the session starting once the agent talks and ending with the
    agent's leg (ChanSpy's E)."""
    call = trunk_call()
    talking = next(i for i, m in enumerate(call) if m["Event"] == "BridgeEnter"
                   and m["Channel"] == "PJSIP/carrier-00000001") + 1
    hung = next(i for i, m in enumerate(call) if m["Event"] == "Hangup"
                and m["Channel"] == AGENT) + 1
    return [*call[:talking], *session_start(mode), *call[talking:hung], *session_end(mode),
            *call[hung:]]


def summaries(events: list[DomainEvent]) -> list[CallSummary]:
    return [e.summary for e in events if e.type == "CallEnded"]  # type: ignore[attr-defined]


@pytest.mark.parametrize("mode", ["listen", "whisper", "barge"])
def test_a_spy_session_is_no_call_and_leaves_the_record_as_it_was(mode: str) -> None:
    plain = feed_all(CallTracker(inbound_contexts=["from-trunk"], clock=Clock()),
                     trunk_call())
    tracker = CallTracker(inbound_contexts=["from-trunk"], clock=Clock())
    events = feed_all(tracker, with_session(mode))
    assert [e.type for e in events] == [e.type for e in plain]
    assert not [e for e in events if getattr(e, "linkedid", "100.1") != "100.1"]
    [summary] = summaries(events)
    [before] = summaries(plain)
    assert summary == before
    assert (summary.agent, summary.hangup_by, summary.outcome) == ("Mei", "agent", "answered")
    assert len(summary.agents_tried) == 1
    assert not tracker.is_open(SPY_LID) and tracker.live_calls() == []
    assert not tracker.unexpected


def test_a_session_on_a_call_that_ended_meanwhile_is_no_call_either() -> None:
    """ChanSpy with S finds nothing and returns: the session hangs up at once."""
    tracker = CallTracker(inbound_contexts=["from-trunk"])
    start = [m for m in session_start("listen") if not m["Event"].startswith("ChanSpy")]
    ends = [m for m in session_end("listen") if not m["Event"].startswith("ChanSpy")]
    events = feed_all(tracker, [*trunk_call(), *start, *ends])
    assert len(summaries(events)) == 1
    assert tracker.live_calls() == [] and not tracker.unexpected
