"""Resync after an AMI outage, on capture 09 (real CoreShowChannel/QueueStatus output).

The adapter calls ``begin_resync()``, feeds the list events (live events may
interleave), then ``end_resync()``. Calls that vanished during the outage end
exactly once; calls the tracker never saw are adopted and end exactly once.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from telephony.capture import load_capture
from telephony.events import (
    AgentRinging,
    CallAnswered,
    CallQueued,
    CallStarted,
    DomainEvent,
    QueueMemberChanged,
)
from telephony.tracker import CallTracker

from .test_tracker_captures import (
    CAPTURES,
    EXPECTED,
    by_linkedid,
    check_summary,
    ended,
    feed_timed,
)

Timed = list[tuple[float, dict[str, str]]]
CALLER_1, CALLER_2, CALLER_3, VIP = ("1795478474.242", "1795478476.246", "1795478477.250",
                                     "1795478477.252")


@pytest.fixture(scope="module")
def capture09() -> Timed:
    return load_capture(CAPTURES / "09-resync-snapshot.ami")


def split_09(timed: Timed) -> tuple[int, int]:
    """Indexes of the CoreShowChannels response and of QueueStatusComplete."""
    start = next(i for i, (_, m) in enumerate(timed)
                 if m.get("ActionID") == "snap-coreshowchannels" and "Response" in m)
    end = next(i for i, (_, m) in enumerate(timed) if m.get("Event") == "QueueStatusComplete")
    return start, end + 1


def resync(tracker: CallTracker, snapshot: Timed) -> list[DomainEvent]:
    tracker.begin_resync()
    events, _ = feed_timed(snapshot, tracker)
    tracker._clock = lambda: snapshot[-1][0]
    return events + tracker.end_resync()


def check_adopted(summary_events: list[DomainEvent]) -> None:
    """Each call once, the facts the adopter could not see (IVR vars, ring time) relaxed."""
    summaries = by_linkedid(summary_events)
    assert sorted(summaries) == sorted([CALLER_1, CALLER_2, CALLER_3, VIP])
    for exp in EXPECTED["09-resync-snapshot"]:
        s = summaries[exp.linkedid]
        assert (s.caller, s.caller_name, s.did, s.queues) == (
            "+86" + exp.number, exp.name, exp.did, (exp.queue,))
        assert (s.outcome, s.agent, s.agent_interface, s.wait_s, s.talk_s, s.hangup_by) == (
            exp.outcome, exp.agent, exp.interface, exp.wait_s, exp.talk_s, exp.ended)
        no_answer = tuple((a.agent, a.ring_ms) for a in s.agents_tried if a.result == "no-answer")
        assert no_answer == exp.no_answer


def test_outage_then_resync_adopts_the_calls_it_missed(capture09: Timed) -> None:
    start, end = split_09(capture09)
    # the outage: caller 3 and the VIP caller arrive while we are disconnected
    gap = next(i for i, (_, m) in enumerate(capture09) if m.get("Linkedid") == CALLER_3)
    events, tracker = feed_timed(capture09[:gap])
    assert {c["linkedid"] for c in tracker.live_calls()} == {CALLER_1, CALLER_2}
    adopted = resync(tracker, capture09[start:end])
    events += adopted
    assert sorted(e.linkedid for e in adopted if isinstance(e, CallStarted)) == [CALLER_3, VIP]
    assert {(e.linkedid, e.queue) for e in adopted if isinstance(e, CallQueued)} == {
        (CALLER_3, "support"), (VIP, "vip")}
    assert [(e.linkedid, e.agent) for e in adopted if isinstance(e, AgentRinging)] == [
        (CALLER_3, "Carol")]
    live = {c["linkedid"]: c["state"] for c in tracker.live_calls()}
    assert live == {CALLER_1: "talking", CALLER_2: "talking", CALLER_3: "ringing",
                    VIP: "queued"}
    events += feed_timed(capture09[end:], tracker)[0]
    assert tracker.live_calls() == []
    check_adopted(events)
    # the calls seen from the start keep everything, IVR variables included
    summaries = by_linkedid(events)
    for exp in EXPECTED["09-resync-snapshot"][:2]:
        check_summary(summaries[exp.linkedid], exp)


def test_a_new_tracker_adopts_every_call_from_the_snapshot(capture09: Timed) -> None:
    start, end = split_09(capture09)
    tracker = CallTracker()
    events = resync(tracker, capture09[start:end])
    answered = {e.linkedid: (e.agent, e.interface) for e in events if isinstance(e, CallAnswered)}
    assert answered == {CALLER_1: ("Alice", "Local/1001@agents/n"),
                        CALLER_2: ("Bob", "Local/1002@agents/n")}
    started = [e for e in events if isinstance(e, CallStarted)]
    assert sorted(e.linkedid for e in started) == sorted([CALLER_1, CALLER_2, CALLER_3, VIP])
    # started_at comes from the channels' Duration: seconds before the snapshot
    snap_time = capture09[start][0]
    for e in started:
        assert e.at is not None and 0 <= snap_time - e.at.timestamp() <= 10
    events += feed_timed(capture09[end:], tracker)[0]
    check_adopted(events)
    assert tracker.live_calls() == []


def test_calls_that_ended_during_the_outage_end_once(capture09: Timed) -> None:
    start, end = split_09(capture09)
    call01 = load_capture(CAPTURES / "01-answered-call.ami")
    talking = next(i for i, (_, m) in enumerate(call01) if m.get("Event") == "AgentConnect") + 3
    events, tracker = feed_timed(call01[:talking])
    last_seen = call01[talking - 1][0]
    assert [c["state"] for c in tracker.live_calls()] == ["talking"]
    # AMI link lost; the call ends unseen; after reconnect the snapshot no longer has it
    events += resync(tracker, capture09[start:end])
    [summary] = ended(events)
    assert summary.linkedid == "1795478331.182"
    assert (summary.outcome, summary.agent, summary.hangup_by, summary.wait_s) == (
        "answered", "Alice", "system", 2)
    assert summary.ended_at is not None
    assert summary.ended_at.timestamp() == pytest.approx(last_seen, abs=0.01)
    assert summary.caller == "+8613800138000" and summary.ivr["CRM_CONTACT_ID"] == "CRM-138000"
    # the rest of 01 arriving late (a replay) never ends it again
    late, _ = feed_timed(call01[talking:], tracker)
    assert ended(late) == []
    # the 09 calls in the snapshot were adopted meanwhile and are live
    assert len(tracker.live_calls()) == 4


def test_incomplete_snapshot_ends_nothing(capture09: Timed) -> None:
    start, end = split_09(capture09)
    gap = next(i for i, (_, m) in enumerate(capture09) if m.get("Linkedid") == CALLER_3)
    _, tracker = feed_timed(capture09[:gap])
    partial = [tm for tm in capture09[start:end]
               if tm[1].get("Event") not in ("CoreShowChannel", "CoreShowChannelsComplete")]
    assert ended(resync(tracker, partial)) == []
    assert len(tracker.live_calls()) == 2


def test_call_starting_during_the_resync_is_not_ended(capture09: Timed) -> None:
    start, end = split_09(capture09)
    gap = next(i for i, (_, m) in enumerate(capture09) if m.get("Linkedid") == CALLER_3)
    _, tracker = feed_timed(capture09[:gap])
    tracker.begin_resync()
    # caller 3 and the VIP caller start after CoreShowChannels was answered
    feed_timed(capture09[gap:start], tracker)
    snapshot = [tm for tm in capture09[start:end] if tm[1].get("Event") == "CoreShowChannel"
                and tm[1].get("Linkedid") in (CALLER_1, CALLER_2)]
    feed_timed(snapshot + [tm for tm in capture09[start:end]
                           if tm[1].get("Event") == "CoreShowChannelsComplete"], tracker)
    assert ended(tracker.end_resync()) == []
    assert len(tracker.live_calls()) == 4


def test_end_resync_without_begin_does_nothing() -> None:
    assert CallTracker().end_resync() == []


def test_members_missing_from_the_snapshot_are_removed(capture09: Timed) -> None:
    start, end = split_09(capture09)
    agents = load_capture(CAPTURES / "04-agent-state.ami")
    added = next(i for i, (_, m) in enumerate(agents) if m.get("Event") == "QueueMemberAdded")
    events, tracker = feed_timed(agents[:added + 1])
    assert [e.change for e in events if isinstance(e, QueueMemberChanged)] == ["added"]
    out = resync(tracker, capture09[start:end])
    removed = [(e.queue, e.agent) for e in out
               if isinstance(e, QueueMemberChanged) and e.change == "removed"]
    assert removed == [("support", "Dave")]
    assert all(isinstance(e.at, datetime) for e in out)


def test_call_hanging_up_while_the_lists_arrive_ends_once(capture09: Timed) -> None:
    start, end = split_09(capture09)
    tracker = CallTracker()
    tracker.begin_resync()
    feed_timed(capture09[start:end], tracker)
    # caller 1 hangs up before end_resync: its channels are in the lists but gone. The
    # Hangups wait for the adoption, then end the call as it happened (the caller hung
    # up, as the capture says; it used to be a blind "system")
    hangups = [tm for tm in capture09[end:]
               if tm[1].get("Linkedid") == CALLER_1 and tm[1].get("Event") == "Hangup"]
    assert len(hangups) == 4
    events, _ = feed_timed(hangups, tracker)
    assert ended(events) == []  # deferred
    tracker._clock = lambda: hangups[-1][0]
    events += tracker.end_resync()
    [summary] = ended(events)
    assert (summary.linkedid, summary.agent, summary.hangup_by) == (CALLER_1, "Alice", "caller")
    assert {c["linkedid"] for c in tracker.live_calls()} == {CALLER_2, CALLER_3, VIP}
    events += feed_timed(capture09[end:], tracker)[0]
    assert sorted(by_linkedid(events)) == sorted([CALLER_1, CALLER_2, CALLER_3, VIP])
    assert tracker.live_calls() == []


def test_known_call_losing_a_channel_during_the_lists_still_ends(capture09: Timed) -> None:
    start, end = split_09(capture09)
    events, tracker = feed_timed(capture09[:start])
    tracker.begin_resync()
    feed_timed(capture09[start:end], tracker)
    # the caller's handset hangs up while the lists are still coming in
    [first] = [tm for tm in capture09[end:] if tm[1].get("Linkedid") == CALLER_1
               and tm[1].get("Event") == "Hangup"][:1]
    feed_timed([first], tracker)
    events += tracker.end_resync()
    events += feed_timed([tm for tm in capture09[end:] if tm is not first], tracker)[0]
    assert sorted(by_linkedid(events)) == sorted([CALLER_1, CALLER_2, CALLER_3, VIP])
    assert tracker.live_calls() == []


@pytest.mark.parametrize("duration", ["99999999999:00:00", "-5:00:00", "x", "", "1e400"])
def test_garbage_in_the_snapshot_is_survived(capture09: Timed, duration: str) -> None:
    start, end = split_09(capture09)
    snapshot = [(t, dict(m, Duration=duration) if m.get("Event") == "CoreShowChannel" else m)
                for t, m in capture09[start:end]]
    tracker = CallTracker()
    events = resync(tracker, snapshot)
    assert tracker.unexpected["tracker-error"] == 0
    assert len([e for e in events if isinstance(e, CallStarted)]) == 4
    for e in events:
        e.to_dict()
