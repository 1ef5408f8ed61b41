"""Calls adopted after a Hotline restart keep their data (issue 12 item 8): the resync's
``Status`` list (AllVariables) gives each channel's variables and age, so the adopted call
has its IVR variables and recording, and its times are sane (queued_at never before
started_at, the wait Asterisk's own QUEUEWAIT).

The snapshot is shaped as Asterisk 22 writes it (main/manager.c action_coreshowchannels,
generate_status; apps/app_queue.c QueueEntry): Local ``;1``/``;2`` caller pair, the
agent's outgoing leg running ``AppQueue``, ``Variable: NAME=value`` lines with the
inheritance underscores stripped (joined with newlines by the codec)."""

from __future__ import annotations

from telephony.events import CallAnswered, CallEnded, CallQueued, DomainEvent
from telephony.tracker import CallTracker
from telephony.tracker.variables import status_variables

NOW = 1_795_500_000.0
LID = "500.1"
C1, C2 = "Local/4008001234@from-pstn-00000001;1", "Local/4008001234@from-pstn-00000001;2"
A1, A2 = "Local/1001@agents-00000002;1", "Local/1001@agents-00000002;2"
ROWS = {  # channel: (uid, context, exten, application, data, bridge, age seconds)
    C1: ("500.1", "rig-caller", "s", "Wait", "300", "", 60),
    C2: ("500.2", "from-pstn", "4008001234", "Queue", "support,tT,,,300", "b-1", 60),
    A1: ("500.3", "agents", "4008001234", "AppQueue", "(Outgoing Line)", "b-1", 30),
    A2: ("500.4", "agents", "1001", "Dial", "PJSIP/1001,,tT", "b-2", 30),
}
IVR = {"HOTLINE_DID": "4008001234", "QUEUE": "support", "HOTLINE_IVR_PATH": "welcome,a=b",
       "HOTLINE_CUSTOMER_ID": "42", "CRM_CONTACT_ID": "7"}
C2_VARS = {**IVR, "HOTLINE_RECORDING": "2026/12/07/500.2.wav", "QUEUEWAIT": "12",
           "QUEUEWAIT_MS": "12345", "BRIDGEPEER": A1, "AGISTATUS": "SUCCESS"}


def hms(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def base(event: str, channel: str) -> dict[str, str]:
    uid, context, exten, *_ = ROWS[channel]
    return {"Event": event, "Channel": channel, "ChannelState": "6", "ChannelStateDesc": "Up",
            "CallerIDNum": "13912345678", "CallerIDName": "Zhou Min",
            "ConnectedLineNum": "<unknown>", "ConnectedLineName": "<unknown>",
            "Language": "en", "AccountCode": "", "Context": context, "Exten": exten,
            "Priority": "1", "Uniqueid": uid, "Linkedid": LID, "ActionID": "r"}


def core_show(channel: str) -> dict[str, str]:
    *_, app, data, bridge, age = ROWS[channel]
    return {**base("CoreShowChannel", channel), "Application": app, "ApplicationData": data,
            "Duration": hms(age), "BridgeId": bridge}


def status(channel: str, variables: dict[str, str]) -> dict[str, str]:
    *_, app, data, bridge, age = ROWS[channel]
    msg = {**base("Status", channel), "Type": "Local", "BridgeID": bridge,
           "Application": app, "Data": data, "Seconds": str(age)}
    if variables:
        msg["Variable"] = "\n".join(f"{k}={v}" for k, v in variables.items())
    return msg


def queue_status(entry_wait: int | None = None) -> list[dict[str, str]]:
    out = [{"Event": "QueueParams", "Queue": "support", "ActionID": "q"},
           {"Event": "QueueMember", "Queue": "support", "Name": "Alice",
            "Location": "Local/1001@agents/n", "StateInterface": "Local/1001@agents",
            "Membership": "dynamic", "Penalty": "0", "Status": "2", "Paused": "0",
            "PausedReason": "", "ActionID": "q"}]
    if entry_wait is not None:
        out.append({"Event": "QueueEntry", "Queue": "support", "Position": "1",
                    "Channel": C2, "Uniqueid": ROWS[C2][0], "Wait": str(entry_wait),
                    "ActionID": "q"})
    return out + [{"Event": "QueueStatusComplete", "ActionID": "q"}]


def snapshot(channels: list[str], *, entry_wait: int | None = None,
             with_status: bool = True) -> list[dict[str, str]]:
    msgs = [core_show(c) for c in channels] + [
        {"Event": "CoreShowChannelsComplete", "ActionID": "r"}]
    msgs += queue_status(entry_wait)
    if with_status:
        extra = {C1: {"HOTLINE_DID": "4008001234"}, C2: C2_VARS,
                 A1: {"HOTLINE_DID": "4008001234", "HOTLINE_AGENT_ONLY": "x"}, A2: {}}
        msgs += [status(c, extra[c]) for c in channels]
        msgs.append({"Event": "StatusComplete", "ActionID": "r", "Items": str(len(channels))})
    return msgs


def restart(msgs: list[dict[str, str]], tracker: CallTracker | None = None,
            ) -> tuple[CallTracker, list[DomainEvent]]:
    """A tracker (a freshly started Hotline, by default) resyncing at NOW."""
    tracker = tracker or CallTracker(clock=lambda: NOW)
    tracker.begin_resync()
    events: list[DomainEvent] = []
    for msg in msgs:
        events += tracker.feed(msg)
    return tracker, events + tracker.end_resync()


def hang_up(tracker: CallTracker, t: float) -> list[DomainEvent]:
    events: list[DomainEvent] = []
    for channel in (A2, A1, C2, C1):
        events += tracker.feed({**base("Hangup", channel), "Cause": "16",
                                "Timestamp": f"{t:.6f}"})
    return events


def test_status_variable_lines() -> None:
    msg = {"Variable": "__HOTLINE_DID=4008001234\nHOTLINE_IVR_PATH=a=b\nEMPTY=\nnoise"}
    assert status_variables(msg) == {"HOTLINE_DID": "4008001234",
                                     "HOTLINE_IVR_PATH": "a=b", "EMPTY": ""}
    assert status_variables({}) == {}


def test_adopted_talking_call_keeps_its_ivr_variables_recording_and_times() -> None:
    tracker, events = restart(snapshot([C1, C2, A1, A2]))
    [answered] = [e for e in events if isinstance(e, CallAnswered)]
    assert (answered.agent, answered.queue) == ("Alice", "support")
    events = hang_up(tracker, NOW + 30)
    [s] = [e.summary for e in events if isinstance(e, CallEnded)]
    assert (s.outcome, s.agent, s.queues) == ("answered", "Alice", ("support",))
    assert s.ivr == IVR  # the caller side's HOTLINE_/CRM_/QUEUE: no agent leg's, no noise
    assert s.recording == "2026/12/07/500.2.wav"
    assert s.started_at is not None and s.started_at.timestamp() == NOW - 60
    assert s.answered_at is not None and s.answered_at.timestamp() == NOW - 30
    assert s.wait_s == 12  # app_queue's QUEUEWAIT
    assert s.queued_at is not None and s.queued_at.timestamp() == NOW - 42
    assert s.talk_s == 60


def test_queued_at_is_never_before_the_call_started() -> None:
    """Duration and QueueEntry Wait are whole seconds counted apart (and a snapshot may
    be odd): the queue entry is clamped to the call's start."""
    tracker, events = restart(snapshot([C1, C2], entry_wait=75))
    assert [e.type for e in events if isinstance(e, CallQueued)] == ["CallQueued"]
    [s] = [e.summary for e in hang_up(tracker, NOW + 5) if isinstance(e, CallEnded)]
    assert s.started_at is not None and s.queued_at is not None
    assert s.queued_at >= s.started_at
    assert s.ivr == IVR and s.recording == "2026/12/07/500.2.wav"
    assert s.outcome == "abandoned"


def test_a_known_call_takes_the_variables_set_while_unlinked() -> None:
    """The AMI link dropped, Hotline kept running: the IVR set its variables meanwhile;
    the snapshot gives them to the call it already tracks."""
    tracker = CallTracker(clock=lambda: NOW)
    for channel in (C1, C2):
        tracker.feed({**base("Newchannel", channel), "Timestamp": f"{NOW - 60:.6f}",
                      "ChannelState": "4", "ChannelStateDesc": "Ring"})
    tracker, _ = restart(snapshot([C1, C2], entry_wait=20), tracker)
    [s] = [e.summary for e in hang_up(tracker, NOW + 5) if isinstance(e, CallEnded)]
    assert s.ivr == IVR and s.recording == "2026/12/07/500.2.wav"


def test_without_the_status_list_the_call_is_adopted_all_the_same() -> None:
    """An AMI user or a PBX refusing Status: adopted as before, its variables unknown."""
    tracker, events = restart(snapshot([C1, C2, A1, A2], with_status=False))
    assert [e.type for e in events if isinstance(e, CallAnswered)] == ["CallAnswered"]
    [s] = [e.summary for e in hang_up(tracker, NOW + 30) if isinstance(e, CallEnded)]
    assert (s.outcome, s.agent, s.ivr, s.recording) == ("answered", "Alice", {}, None)
    assert s.started_at is not None and s.started_at.timestamp() == NOW - 60


def test_status_outside_a_resync_is_ignored() -> None:
    tracker = CallTracker(clock=lambda: NOW)
    assert tracker.feed(status(C2, C2_VARS)) == []
    assert tracker.live_calls() == []


# --- live events of a call the snapshot will adopt (issue 13 items 1-2) ----------------

def in_the_ivr() -> list[dict[str, str]]:
    """The channel list of a Hotline restarted (or reconnected) while the caller pair is
    in the IVR: C2 runs the AGI, no queue yet."""
    rows = [core_show(C1), {**core_show(C2), "Application": "AGI",
                            "ApplicationData": "agi://127.0.0.1/hotline", "BridgeId": ""}]
    return rows + [{"Event": "CoreShowChannelsComplete", "ActionID": "r"}]


def queue_event(event: str, t: float, **fields: str) -> dict[str, str]:
    return {**base(event, C2), "Queue": "support", "Timestamp": f"{t:.6f}", **fields}


def caller_hangs_up(t: float) -> list[dict[str, str]]:
    return [queue_event("QueueCallerAbandon", t, Position="1", OriginalPosition="1",
                        HoldTime="8"),
            queue_event("QueueCallerLeave", t, Position="1", Count="0")] + [
        {**base("Hangup", c), "Cause": "16", "Timestamp": f"{t:.6f}"} for c in (C2, C1)]


def test_a_caller_who_queues_while_the_lists_come_in_is_queued_once_adopted() -> None:
    """The channel list saw him in the IVR; he joined the queue before the resync ended
    (the Status list of a busy PBX takes a while) and gave up after: abandoned in
    support, never ``ivr-only`` (seen in the outage tests under load)."""
    msgs = in_the_ivr() + queue_status() + [
        queue_event("QueueCallerJoin", NOW - 1, Position="1", Count="1")]
    msgs += [status(C1, {}), status(C2, IVR),
             {"Event": "StatusComplete", "ActionID": "r", "Items": "2"}]
    tracker, events = restart(msgs)
    assert [e.type for e in events if isinstance(e, CallQueued)] == ["CallQueued"]
    assert [c["state"] for c in tracker.live_calls()] == ["queued"]
    ended: list[DomainEvent] = []
    for msg in caller_hangs_up(NOW + 8):
        ended += tracker.feed(msg)
    [s] = [e.summary for e in ended if isinstance(e, CallEnded)]
    assert (s.outcome, s.queues, s.hangup_by) == ("abandoned", ("support",), "caller")
    assert s.ivr == IVR


def test_a_caller_who_queues_and_gives_up_while_the_lists_come_in_ends_as_he_did() -> None:
    """All of it before the resync ended: his Hangups wait for the adoption too, so the
    call ends abandoned, not as a blind guess (hangup ``system``, ``ivr-only``)."""
    msgs = in_the_ivr() + [queue_event("QueueCallerJoin", NOW - 9, Position="1",
                                       Count="1")] + caller_hangs_up(NOW - 1)
    msgs += queue_status() + [{"Event": "StatusComplete", "ActionID": "r", "Items": "0"}]
    tracker, events = restart(msgs)
    [s] = [e.summary for e in events if isinstance(e, CallEnded)]
    assert (s.outcome, s.queues, s.hangup_by) == ("abandoned", ("support",), "caller")
    assert tracker.live_calls() == []


def test_live_events_of_unknown_calls_before_the_channel_list_are_not_held() -> None:
    """Before the list is complete the list itself shows what they did: handled at once
    (a call the list never names is no call of the snapshot: not held either)."""
    tracker = CallTracker(clock=lambda: NOW)
    tracker.begin_resync()
    assert tracker.feed(queue_event("QueueCallerJoin", NOW, Position="1", Count="1")) == []
    assert tracker.unexpected["QueueCallerJoin for untracked call"] == 1
    for msg in in_the_ivr():
        tracker.feed(msg)
    other = {**queue_event("QueueCallerJoin", NOW, Position="1", Count="1"),
             "Linkedid": "999.1", "Uniqueid": "999.2"}
    tracker.feed(other)
    assert tracker.unexpected["QueueCallerJoin for untracked call"] == 2
