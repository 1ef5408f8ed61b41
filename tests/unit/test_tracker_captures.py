"""The call tracker against the real Asterisk captures in ``shared/asterisk``.

Each ``NN-name.md`` says, under "What a call tracker should conclude", what every
call was. ``EXPECTED`` below restates those lines as a table, and
``test_table_covers_every_md_line`` parses the .md files and checks the table
says the same, so a new or edited capture cannot be silently ignored.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from typing import NamedTuple

import pytest

from telephony.ami_codec import BANNER_KEY, AmiDecoder
from telephony.capture import load_capture
from telephony.events import (
    AgentRinging,
    AgentStateChanged,
    CallAnswered,
    CallEnded,
    CallStarted,
    CallSummary,
    CallTransferred,
    DomainEvent,
    QueueMemberChanged,
)
from telephony.tracker import CallTracker
from tests.shared import CAPTURES  # noqa: E402


class Expect(NamedTuple):
    linkedid: str
    name: str
    number: str  # as written in the .md; the tracker gives E.164 (+86...)
    did: str
    queue: str
    outcome: str  # answered | abandoned | transferred
    agent: str | None = None
    interface: str | None = None
    wait_s: int | None = None
    ring_s: int | None = None
    talk_s: int | None = None  # None: "?" in the .md (any sensible value)
    ended: str | None = None  # caller | agent | transfer; None: "?" (caller or agent)
    no_answer: tuple[tuple[str, int], ...] = ()  # ring-no-answer attempts: (agent, ring_ms)


def ans(lid: str, name: str, number: str, did: str, queue: str, agent: str, interface: str,
        wait: int, ring: int, talk: int | None, ended: str | None,
        no_answer: tuple[tuple[str, int], ...] = ()) -> Expect:
    outcome = "transferred" if ended == "transfer" else "answered"
    return Expect(lid, name, number, did, queue, outcome, agent, interface, wait, ring, talk,
                  ended, no_answer)


def abd(lid: str, name: str, number: str, did: str, queue: str, wait: int,
        no_answer: tuple[tuple[str, int], ...] = ()) -> Expect:
    return Expect(lid, name, number, did, queue, "abandoned", wait_s=wait, ended="caller",
                  no_answer=no_answer)


A1001, A1002 = "Local/1001@agents/n", "Local/1002@agents/n"
B1, B2, B3 = "Local/2001@agents/n", "Local/2002@agents/n", "Local/2003@agents/n"
D4, D8 = "4008001234", "8008001234"

EXPECTED: dict[str, list[Expect]] = {
    "01-answered-call": [
        ans("1795478331.182", "Wang Fang", "13800138000", D4, "support", "Alice", A1001,
            2, 2, 4, "caller"),
    ],
    "02-abandoned-call": [
        abd("1795478344.186", "Li Na", "13700137000", D4, "support", 3),
    ],
    "03-ring-no-answer-then-answered": [
        ans("1795478353.190", "Zhao Lei", "13600136000", D4, "support", "Bob", A1002,
            8, 2, 4, "agent", (("Alice", 5000),)),
    ],
    "05-blind-transfer": [
        ans("1795478378.196", "Chen Jie", "13500135000", D4, "support", "Alice", A1001,
            1, 1, 2, "transfer"),
    ],
    "05b-redirect-transfer": [
        ans("1795478393.202", "Chen Jie", "13500135001", D4, "support", "Alice", A1001,
            1, 1, 7, "caller"),
    ],
    "06-attended-transfer": [
        ans("1795478407.208", "Sun Li", "13400134000", D4, "support", "Alice", A1001,
            1, 1, 7, "transfer"),
    ],
    "08-supervisor-chanspy": [
        ans("1795478447.224", "Zhou Min", "13300133000", D4, "support", "Alice", A1001,
            1, 1, 5, "caller"),
        ans("1795478455.230", "Zhou Min", "13300133001", D4, "support", "Alice", A1001,
            1, 1, 6, "caller"),
        ans("1795478464.236", "Zhou Min", "13300133002", D4, "support", "Alice", A1001,
            1, 1, 6, "caller"),
    ],
    "09-resync-snapshot": [
        ans("1795478474.242", "Caller One", "13100131001", D4, "support", "Alice", A1001,
            1, 1, 14, "caller"),
        ans("1795478476.246", "Caller Two", "13100131002", D4, "support", "Bob", A1002,
            1, 1, 14, "caller"),
        abd("1795478477.250", "Caller Three", "13100131003", D4, "support", 12,
            (("Carol", 5000),)),
        abd("1795478477.252", "VIP Caller", "13911112222", D8, "vip", 12),
    ],
    "11-burst-20-callers": [
        ans("1795478502.258", "Burst Caller 01", "13900000001", D4, "burst", "Agent2001", B1,
            1, 1, 3, "agent"),
        ans("1795478502.260", "Burst Caller 02", "13900000002", D4, "burst", "Agent2002", B2,
            1, 1, 3, "agent"),
        ans("1795478502.262", "Burst Caller 03", "13900000003", D4, "burst", "Agent2003", B3,
            1, 1, 4, "agent"),
        ans("1795478503.264", "Burst Caller 04", "13900000004", D4, "burst", "Agent2001", B1,
            5, 1, 4, "agent"),
        ans("1795478503.266", "Burst Caller 05", "13900000005", D4, "burst", "Agent2002", B2,
            5, 1, 3, "agent"),
        ans("1795478503.268", "Burst Caller 06", "13900000006", D4, "burst", "Agent2003", B3,
            5, 1, 3, "agent"),
        # no AgentComplete at all for this one: talk and who hung up are "?"
        ans("1795478503.270", "Burst Caller 07", "13900000007", D4, "burst", "Agent2001", B1,
            9, 1, None, None),
        ans("1795478504.272", "Burst Caller 08", "13900000008", D4, "burst", "Agent2002", B2,
            9, 1, 4, "caller"),
        ans("1795478504.274", "Burst Caller 09", "13900000009", D4, "burst", "Agent2003", B3,
            9, 1, 3, "agent"),
        ans("1795478504.276", "Burst Caller 10", "13900000010", D4, "burst", "Agent2001", B1,
            13, 1, 3, "agent"),
        ans("1795478504.278", "Burst Caller 11", "13900000011", D4, "burst", "Agent2002", B2,
            13, 1, 4, "agent"),
        ans("1795478505.282", "Burst Caller 12", "13900000012", D4, "burst", "Agent2003", B3,
            13, 1, 4, "agent"),
        abd("1795478505.286", "Burst Caller 13", "13900000013", D4, "burst", 12),
        abd("1795478505.290", "Burst Caller 14", "13900000014", D4, "burst", 8),
        ans("1795478506.292", "Burst Caller 15", "13900000015", D4, "burst", "Agent2001", B1,
            17, 1, 3, "caller"),
        abd("1795478506.294", "Burst Caller 16", "13900000016", D4, "burst", 17),
        abd("1795478506.296", "Burst Caller 17", "13900000017", D4, "burst", 12),
        abd("1795478506.298", "Burst Caller 18", "13900000018", D4, "burst", 8),
        ans("1795478507.300", "Burst Caller 19", "13900000019", D4, "burst", "Agent2002", B2,
            16, 1, 4, "agent"),
        ans("1795478507.302", "Burst Caller 20", "13900000020", D4, "burst", "Agent2003", B3,
            17, 1, 4, "agent"),
    ],
}
# captures with no call: they must produce no CallEnded at all
NO_CALLS = ["04-agent-state", "10-login", "10b-login-failed", "10c-login-md5-challenge"]


class Outbound(NamedTuple):
    """An originated (click-to-dial) call, as its capture's .md and messages show it."""

    linkedid: str
    number: str  # the customer's number, E.164
    agent: str
    interface: str
    outcome: str  # answered | no-answer | failed
    hangup_by: str
    talk_s: int | None
    started: float  # seconds after the Login response (.md timeline minus its time)
    answered: float | None  # when the CUSTOMER answered, not the agent leg


# 07: Alice's leg (first channel ...216, context agents) is up at 2.046, the customer's
# leg answers and is bridged at 4.049, the customer hangs up at 7.553 (3.504 s bridged:
# talk 4 s, rounded as every talk time the tracker measures itself).
# 07b: (1) Bob's leg rings 4 s and is torn down (cause 19): failed, ended by the system;
# its number comes from the OriginateResponse Failure (Exten), the only place it is.
# (2) Local/1999@nowhere: its first channel is in no origin context and carries no
# Originate variable, so it is no call of ours: nothing to log. (3) the synchronous
# Originate to PJSIP/1001 fails with Response: Error and creates no channel at all, so
# there is no Linkedid to log against: the agent sees the error on the console instead.
OUTBOUND: dict[str, list[Outbound]] = {
    "07-click-to-dial": [
        Outbound("1795478428.216", "+8613800138000", "Alice", A1001, "answered", "customer",
                 4, 1.041 - 0.037, 4.049 - 0.037),
    ],
    "07b-click-to-dial-failures": [
        Outbound("1795478439.220", "+8613800138000", "Bob", A1002, "failed", "system",
                 None, 1.016 - 0.012, None),
    ],
}


# ---------------------------------------------------------------- helpers

class StepClock:
    """A clock the test sets before each message (the message's receipt time)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def feed_timed(timed: list[tuple[float, dict[str, str]]],
               tracker: CallTracker | None = None) -> tuple[list[DomainEvent], CallTracker]:
    clock = StepClock()
    if tracker is None:
        tracker = CallTracker(clock=clock)
    else:
        tracker._clock = clock
    events: list[DomainEvent] = []
    for at, msg in timed:
        clock.now = at
        events.extend(tracker.feed(msg))
    return events, tracker


def replay(name: str) -> tuple[list[DomainEvent], CallTracker]:
    return feed_timed(load_capture(CAPTURES / f"{name}.ami"))


def ended(events: list[DomainEvent]) -> list[CallSummary]:
    return [e.summary for e in events if isinstance(e, CallEnded)]


def by_linkedid(events: list[DomainEvent]) -> dict[str, CallSummary]:
    summaries = ended(events)
    counts = Counter(s.linkedid for s in summaries)
    twice = [lid for lid, n in counts.items() if n > 1]
    assert not twice, f"CallEnded more than once for {twice}"
    return {s.linkedid: s for s in summaries}


def check_summary(s: CallSummary, exp: Expect) -> None:
    where = f"call {exp.linkedid}"
    assert s.caller == "+86" + exp.number, where
    assert s.caller_name == exp.name, where
    assert s.did == exp.did, where
    assert s.queues == (exp.queue,), where
    assert s.outcome == exp.outcome, where
    assert s.agent == exp.agent, where
    assert s.agent_interface == exp.interface, where
    assert s.wait_s == exp.wait_s, where
    assert s.ring_s == exp.ring_s, where
    if exp.outcome == "abandoned":
        assert s.talk_s is None and s.answered_at is None, where
    elif exp.talk_s is None:  # "?" in the .md: any sensible value
        assert s.talk_s is not None and 0 <= s.talk_s <= 10, where
    else:
        assert s.talk_s == exp.talk_s, where
    if exp.ended is None:
        assert s.hangup_by in ("caller", "agent"), where
    else:
        assert s.hangup_by == exp.ended, where
    no_answer = tuple((a.agent, a.ring_ms) for a in s.agents_tried if a.result == "no-answer")
    assert no_answer == exp.no_answer, where
    if exp.agent is not None:
        answered = [a for a in s.agents_tried if a.result == "answered"]
        assert [(a.agent, a.interface, a.queue) for a in answered] == [
            (exp.agent, exp.interface, exp.queue)], where
    assert s.started_at is not None and s.ended_at is not None, where
    assert s.started_at.year == 2026 and s.started_at <= s.ended_at, where
    assert s.ivr.get("HOTLINE_DID") == exp.did, where
    assert s.ivr.get("QUEUE") in (exp.queue, "support"), where  # 11: FORCE_QUEUE=burst


def capture_names() -> list[str]:
    return sorted(p.name.removesuffix(".ami") for p in CAPTURES.glob("*.ami")
                  if not p.name.endswith(".sent.ami"))


# ------------------------------------------------------ the .md and the table

MD_LINE = re.compile(
    r"^- Linkedid `(?P<lid>[^`]+)`: (?P<name>.*?) <(?P<number>[^>]*)> -> DID (?P<did>\S+), "
    r"queue `(?P<queue>[^`]+)`: "
    r"(?:answered by (?P<agent>.+?) \[(?P<iface>[^\]]+)\] after (?P<wait>\d+) s in queue "
    r"\(ring (?P<ring>\d+) s\), talk (?P<talk>\d+|\?) s, ended: (?P<ended>\w+|\?)"
    r"|ABANDONED after (?P<abandon_wait>\d+) s in queue)"
    r"(?:; ring-no-answer: (?P<rna>.*))?$")


def md_conclusions(name: str) -> list[Expect]:
    text = (CAPTURES / f"{name}.md").read_text(encoding="utf-8")
    section = text.split("## What a call tracker should conclude", 1)
    if len(section) < 2:
        return []
    body = section[1].split("\n## ", 1)[0]
    out: list[Expect] = []
    for line in body.splitlines():
        if not line.startswith("- "):
            continue
        m = MD_LINE.match(line.strip())
        assert m is not None, f"{name}.md: a conclusion line this test cannot read: {line!r}"
        rna = tuple((a, int(ms)) for a, ms in re.findall(r"(\S+) \((\d+) ms\)", m["rna"] or ""))
        if m["agent"] is None:
            out.append(abd(m["lid"], m["name"], m["number"], m["did"], m["queue"],
                           int(m["abandon_wait"]), rna))
            continue
        talk = None if m["talk"] == "?" else int(m["talk"])
        ended_by = None if m["ended"] == "?" else m["ended"]
        out.append(ans(m["lid"], m["name"], m["number"], m["did"], m["queue"], m["agent"],
                       m["iface"], int(m["wait"]), int(m["ring"]), talk, ended_by, rna))
    return out


def test_every_capture_is_classified() -> None:
    names = capture_names()
    assert len(names) >= 15
    unknown = set(names) - set(EXPECTED) - set(NO_CALLS) - set(OUTBOUND)
    assert not unknown, f"captures the tests do not know: {sorted(unknown)}"


@pytest.mark.parametrize("name", capture_names())
def test_table_covers_every_md_line(name: str) -> None:
    from_md = md_conclusions(name)
    assert from_md == EXPECTED.get(name, []), f"{name}: the table differs from {name}.md"
    if name in NO_CALLS:
        assert from_md == []


def test_md_parser_reads_the_odd_lines() -> None:
    rows = {e.linkedid: e for e in md_conclusions("11-burst-20-callers")}
    assert rows["1795478503.270"].talk_s is None and rows["1795478503.270"].ended is None
    assert md_conclusions("09-resync-snapshot")[2].no_answer == (("Carol", 5000),)


# ---------------------------------------------------------- one per capture

@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_capture_calls(name: str) -> None:
    events, tracker = replay(name)
    summaries = by_linkedid(events)
    assert sorted(summaries) == sorted(e.linkedid for e in EXPECTED[name])
    for exp in EXPECTED[name]:
        check_summary(summaries[exp.linkedid], exp)
    assert tracker.live_calls() == []
    assert tracker.unexpected["tracker-error"] == 0


@pytest.mark.parametrize("name", sorted(OUTBOUND))
def test_capture_outbound_calls(name: str) -> None:
    timed = load_capture(CAPTURES / f"{name}.ami")
    connected = timed[0][0]  # the Login response
    events, tracker = feed_timed(timed)
    summaries = by_linkedid(events)
    assert sorted(summaries) == sorted(o.linkedid for o in OUTBOUND[name])
    for exp in OUTBOUND[name]:
        s = summaries[exp.linkedid]
        assert s.direction == "outbound"
        assert (s.caller, s.caller_name, s.did) == (exp.number, None, None)
        assert (s.agent, s.agent_interface) == (exp.agent, exp.interface)
        assert (s.outcome, s.hangup_by, s.talk_s) == (exp.outcome, exp.hangup_by, exp.talk_s)
        # never a queue call: nothing a queue KPI could count
        assert (s.queues, s.agents_tried, s.queued_at, s.wait_s) == ((), (), None, None)
        assert s.started_at is not None and s.ended_at is not None
        assert s.started_at.timestamp() - connected == pytest.approx(exp.started, abs=0.002)
        if exp.answered is None:
            assert s.answered_at is None
        else:
            assert s.answered_at is not None
            assert s.answered_at.timestamp() - connected == pytest.approx(exp.answered,
                                                                           abs=0.002)
        started = [e for e in events if isinstance(e, CallStarted)
                   and e.linkedid == exp.linkedid]
        assert [(e.direction, e.caller) for e in started] == [("outbound", exp.number)]
    assert tracker.live_calls() == []
    assert tracker.unexpected["tracker-error"] == 0


def test_07_the_agent_pops_then_talks_when_the_customer_answers() -> None:
    """Capture 07 (ground truth): Alice's pop once the call is placed and its number
    known (the OriginateResponse at 2.046, the customer leg at once), her call
    answered when the CUSTOMER answers (4.049), both outbound and in no queue; 07b's
    failed Originate (its number only in the failure) pops nobody."""
    timed = load_capture(CAPTURES / "07-click-to-dial.ami")
    connected = timed[0][0]
    events, _ = feed_timed(timed)
    mine = [e for e in events if getattr(e, "linkedid", None) == "1795478428.216"]
    assert [e.type for e in mine] == ["CallStarted", "AgentRinging", "CallAnswered",
                                      "CallEnded"]
    ringing, answered = mine[1], mine[2]
    assert isinstance(ringing, AgentRinging) and isinstance(answered, CallAnswered)
    assert (ringing.agent, ringing.interface, ringing.queue, ringing.direction) == (
        "Alice", A1001, "", "outbound")
    assert (ringing.caller, ringing.caller_name, ringing.did) == ("+8613800138000", None, None)
    assert ringing.agent_channel == "Local/1001@agents-0000006c;1"
    assert ringing.ivr == {"CRM_CONTACT_ID": "CRM-138000"}
    assert ringing.at is not None
    assert ringing.at.timestamp() - connected == pytest.approx(2.046 - 0.037, abs=0.002)
    assert (answered.agent, answered.interface, answered.queue, answered.direction) == (
        "Alice", A1001, "", "outbound")
    assert answered.agent_channel == ringing.agent_channel
    assert answered.at is not None
    assert answered.at.timestamp() - connected == pytest.approx(4.049 - 0.037, abs=0.002)
    failures, _ = feed_timed(load_capture(CAPTURES / "07b-click-to-dial-failures.ami"))
    assert not [e for e in failures if e.type in ("AgentRinging", "CallAnswered")]


def test_07_originate_variables_reach_the_summary() -> None:
    s = by_linkedid(replay("07-click-to-dial")[0])["1795478428.216"]
    assert s.ivr == {"CRM_CONTACT_ID": "CRM-138000"}


@pytest.mark.parametrize("name", NO_CALLS)
def test_capture_without_calls(name: str) -> None:
    events, tracker = replay(name)
    assert ended(events) == []
    assert tracker.live_calls() == []
    assert tracker.unexpected["tracker-error"] == 0


def test_event_sequence_of_an_answered_call() -> None:
    events, _ = replay("03-ring-no-answer-then-answered")
    call_events = [e for e in events if getattr(e, "linkedid", None) == "1795478353.190"]
    assert [e.type for e in call_events] == [
        "CallStarted", "CallQueued", "AgentRinging", "AgentRingNoAnswer", "AgentRinging",
        "CallAnswered", "CallEnded"]
    ringing = [e for e in call_events if e.type == "AgentRinging"]
    assert [(e.agent, e.interface) for e in ringing] == [  # type: ignore[attr-defined]
        ("Alice", "Local/1001@agents/n"), ("Bob", "Local/1002@agents/n")]
    # the screen pop carries what the IVR learnt
    assert ringing[0].ivr["CRM_CONTACT_ID"] == "CRM-136000"  # type: ignore[attr-defined]
    assert ringing[0].caller == "+8613600136000"  # type: ignore[attr-defined]


def test_ivr_variables_are_the_callers_not_asterisk_bookkeeping() -> None:
    s = by_linkedid(replay("01-answered-call")[0])["1795478331.182"]
    assert s.ivr == {"HOTLINE_DID": "4008001234", "QUEUE": "support", "PRIORITY": "0",
                     "CRM_CONTACT_ID": "CRM-138000", "QUEUE_PRIO": "11"}


def test_vip_flag_from_the_agi_is_kept() -> None:
    s = by_linkedid(replay("11-burst-20-callers")[0])
    assert s["1795478503.270"].ivr["PRIORITY"] == "10"
    assert s["1795478502.258"].ivr["PRIORITY"] == "0"


def test_caller_who_abandons_while_a_member_rings() -> None:
    s = by_linkedid(replay("09-resync-snapshot")[0])["1795478477.252"]
    assert [(a.agent, a.queue, a.result) for a in s.agents_tried] == [
        ("Carol", "vip", "abandoned")]


# ------------------------------------------------------------- agent state

def test_04_agent_state() -> None:
    events, _ = replay("04-agent-state")
    members = [(e.queue, e.agent, e.change, e.paused, e.reason, e.penalty)
               for e in events if isinstance(e, QueueMemberChanged)]
    assert members == [
        ("support", "Dave", "added", False, "", 1),
        ("support", "Dave", "paused", True, "Lunch break", 1),
        ("support", "Dave", "unpaused", False, "", 1),
        ("support", "Dave", "penalty", False, "", 3),
        ("support", "Alice", "paused", True, "Meeting", 0),
        ("vip", "Alice", "paused", True, "Meeting", 1),
        ("support", "Alice", "unpaused", False, "", 0),
        ("vip", "Alice", "unpaused", False, "", 1),
        ("support", "Dave", "removed", False, "", 3),
    ]
    agents = [(e.agent, e.interface, e.state, e.paused, e.reason)
              for e in events if isinstance(e, AgentStateChanged)]
    assert agents == [  # one per real change per interface, not one per queue
        ("Dave", "Local/1004@agents/n", "available", False, ""),
        ("Dave", "Local/1004@agents/n", "available", True, "Lunch break"),
        ("Dave", "Local/1004@agents/n", "available", False, ""),
        ("Alice", "Local/1001@agents/n", "available", True, "Meeting"),
        ("Alice", "Local/1001@agents/n", "available", False, ""),
        ("Dave", "Local/1004@agents/n", "unavailable", False, ""),
    ]


def test_agent_busy_while_on_a_call_then_available() -> None:
    events, _ = replay("01-answered-call")
    alice = [(e.state, e.paused) for e in events
             if isinstance(e, AgentStateChanged) and e.agent == "Alice"]
    assert alice == [("busy", False), ("available", False)]


# ---------------------------------------------------------------- transfers

@pytest.mark.parametrize(("name", "kind", "target", "by"), [
    ("05-blind-transfer", "blind", "2100", "Alice"),
    ("05b-redirect-transfer", "redirect", "2100", None),
    ("06-attended-transfer", "attended", "1005", "Alice"),
])
def test_transfer_recorded(name: str, kind: str, target: str, by: str | None) -> None:
    events, _ = replay(name)
    [summary] = ended(events)
    assert [(t.kind, t.target, t.result, t.by) for t in summary.transfers] == [
        (kind, target, "Success", by)]
    assert summary.transfers[0].at is not None
    [moved] = [e for e in events if isinstance(e, CallTransferred)]
    assert (moved.linkedid, moved.kind, moved.target, moved.result) == (
        summary.linkedid, kind, target, "Success")
    # the agent stays the one who answered, whatever happened after
    assert summary.agent == "Alice"


# -------------------------------------------------- robustness on the captures

def decode_in_chunks(data: bytes, rng: random.Random, biggest: int) -> list[dict[str, str]]:
    decoder = AmiDecoder()
    out: list[dict[str, str]] = []
    pos = 0
    while pos < len(data):
        size = rng.randint(1, biggest)
        out.extend(decoder.feed(data[pos:pos + size]))
        pos += size
    return [m for m in out if BANNER_KEY not in m]


def feed_in_order(msgs: list[dict[str, str]]) -> list[dict[str, object]]:
    """Summaries when message i arrives at a time that depends only on i."""
    timed = [(1_795_478_000.0 + i * 0.01, m) for i, m in enumerate(msgs)]
    return [s.to_dict() for s in ended(feed_timed(timed)[0])]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_random_chunkings_give_identical_summaries(name: str) -> None:
    data = (CAPTURES / f"{name}.ami").read_bytes()
    reference = feed_in_order(decode_in_chunks(data, random.Random(0), len(data)))
    assert len(reference) == len(EXPECTED[name])
    for seed in (1, 2, 3):
        rng = random.Random(seed)
        biggest = rng.choice([7, 300, 4000]) if len(data) < 400_000 else 3000
        assert feed_in_order(decode_in_chunks(data, rng, biggest)) == reference


@pytest.mark.parametrize("name", capture_names())
def test_every_message_twice_never_ends_a_call_twice(name: str) -> None:
    timed = load_capture(CAPTURES / f"{name}.ami")
    doubled = [tm for tm in timed for _ in range(2)]
    summaries = by_linkedid(feed_timed(doubled)[0])  # asserts at most once each
    assert sorted(summaries) == sorted(
        [e.linkedid for e in EXPECTED.get(name, [])]
        + [o.linkedid for o in OUTBOUND.get(name, [])])
    for exp in EXPECTED.get(name, []):
        check_summary(summaries[exp.linkedid], exp)


def test_whole_capture_replayed_into_the_same_tracker() -> None:
    timed = load_capture(CAPTURES / "09-resync-snapshot.ami")
    first, tracker = feed_timed(timed)
    again, _ = feed_timed(timed, tracker)
    assert len(ended(first)) == 4
    assert ended(again) == []
    assert tracker.live_calls() == []


def test_live_calls_in_the_middle_of_09() -> None:
    timed = load_capture(CAPTURES / "09-resync-snapshot.ami")
    cut = next(i for i, (_, m) in enumerate(timed) if m.get("Event") == "CoreShowChannel")
    _, tracker = feed_timed(timed[:cut])
    live = {c["linkedid"]: c for c in tracker.live_calls()}
    assert {lid: (c["state"], c["queue"], c["agent"]) for lid, c in live.items()} == {
        "1795478474.242": ("talking", "support", "Alice"),
        "1795478476.246": ("talking", "support", "Bob"),
        "1795478477.250": ("ringing", "support", None),
        "1795478477.252": ("queued", "vip", None),
    }
    one = live["1795478474.242"]
    assert (one["caller"], one["caller_name"], one["did"]) == (
        "+8613100131001", "Caller One", "4008001234")
    assert one["started_at"].startswith("2026-11-24T00:01:1")
