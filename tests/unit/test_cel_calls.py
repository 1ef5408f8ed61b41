"""A call's record from Asterisk's CEL journal (``telephony.cel``, ``telephony.cel_calls``)
equals the record the tracker made of the same call over AMI.

The journals are real: Asterisk 22.10.1 running deploy/asterisk (cel.conf,
cel_custom.conf) for the same-rows scenarios (tests/same/scenarios.py); the AMI rows they
are compared with are kept in tests/fixtures/asterisk/same-rows.json. What the journal
cannot know is left out: the IVR's variables, the recording (Hotline keeps what the
tracker had of those: ``merged`` puts them in, and who ended an IVR-only call comes from
them); and the number of an outbound call whose agent never answered (callback-agent-
misses: the dialplan that dials it never ran, so no event names it; the reconciler takes
a callback's from its request, ``hotline.journal``): tests/same/journal_rows.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from telephony.cel import CelEvent, format_line, parse_line
from telephony.cel_calls import by_linkedid, ended_calls, summarize
from tests.same.journal_rows import CONTEXTS, expected, journal_rows, member_of, read

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "asterisk"
JOURNALS = FIXTURES / "cel"


def journal(name: str) -> list[CelEvent]:
    return read(JOURNALS / f"{name}.csv")


def scenarios(direction: str | None = None) -> list[str]:
    """The same-rows scenarios whose journal is kept (with a row of ``direction``)."""
    kept = json.loads((FIXTURES / "same-rows.json").read_text(encoding="utf-8"))
    return sorted(name for name, result in kept.items()
                  if (JOURNALS / f"{name}.csv").exists()
                  and (direction is None
                       or any(r["direction"] == direction for r in result["rows"])))


def test_the_real_journals_are_kept() -> None:
    assert len(scenarios("inbound")) >= 15
    assert len(scenarios("outbound")) >= 8  # click-to-dial x3, callbacks x4, the IVR's


@pytest.mark.parametrize("name", scenarios())
def test_the_journal_gives_the_record_the_tracker_gave(name: str) -> None:
    rows = json.loads((FIXTURES / "same-rows.json").read_text(encoding="utf-8"))[name]["rows"]
    assert journal_rows(journal(name), rows) == [expected(row) for row in rows]


def test_a_line_round_trips_and_garbage_is_none() -> None:
    event = CelEvent(type="HANGUP", time=1796630326.528738, uniqueid="1.1", linkedid="1.0",
                     channel='Local/x@y-1;2', cid_name='王 "芳", 1', cid_num="138",
                     extra={"hangupcause": 16, "hangupsource": ""})
    assert parse_line(format_line(event)) == event
    for junk in (b"", b"\x00\x01", b'"HANGUP"', b'"A","not a time",' + b'"",' * 18 + b'""',
                 b"\xff\xfe" * 100, b'"HANGUP","-5"' + b',"x"' * 18, b"x" * 70_000):
        assert parse_line(junk) is None
    # some carriers' caller names arrive in GBK: read as such
    plain = CelEvent(type="CHAN_START", time=1796630312.5, uniqueid="1.0", linkedid="1.0",
                     cid_name="王芳")
    parsed = parse_line(format_line(plain).decode("utf-8").encode("gbk"))
    assert parsed is not None and parsed.cid_name == "王芳"


def test_the_journal_of_calls_that_ended_while_hotline_was_down() -> None:
    """tests/asterisk/test_restarts.py on Asterisk 22: Hotline killed while Alice talks;
    meanwhile Bob answers a second caller and a third gives up waiting (his phone's own
    dialplan hangs up: that is the caller, not the queue's timeout)."""
    events = journal("restart-hotline-journal")
    groups = by_linkedid(events)
    records = [summarize(groups[lid], inbound={"from-pstn"}, member_of=member_of)
               for lid in ended_calls(events)]
    assert sorted((r.caller, r.outcome, r.agent, r.queues, r.hangup_by) for r in records
                  if r is not None) == [
        ("+8613912345670", "answered", "Bob", ("support",), "agent"),
        ("+8613912345671", "abandoned", None, ("support",), "caller"),
        ("+8613912345678", "answered", "Alice", ("support",), "agent"),
    ]


def test_the_journal_of_an_outbound_call_that_ended_while_hotline_was_down() -> None:
    """tests/asterisk/test_restarts.py on Asterisk 22: Alice's click-to-dial, Hotline killed
    while the customer's phone rang; he answered after 4 s, talked 5 s and hung up. (Here
    the origin ;1 was answered before its ;2 half: the customer's side is what started
    after the first of them.)"""
    events = journal("restart-hotline-outbound-journal")
    [lid] = ended_calls(events)
    record = summarize(by_linkedid(events)[lid], member_of=member_of, **CONTEXTS)
    assert record is not None
    assert (record.direction, record.caller, record.agent, record.outcome, record.hangup_by,
            record.ring_s, record.talk_s) == (
        "outbound", "+8613700137000", "Alice", "answered", "customer", 4, 6)


def test_an_outbound_call_of_an_agent_in_no_queue_is_her_device() -> None:
    """Click-to-dial by an agent signed in to no queue: the tracker names her phone's
    device when it has no other name (hotline.journal looks her up among the users)."""
    events = journal("click-to-dial-answered")
    record = summarize(by_linkedid(events)[ended_calls(events)[0]], member_of=lambda _c: None,
                       **CONTEXTS)
    assert record is not None
    assert (record.agent, record.agent_interface, record.caller, record.ivr) == (
        "Local/1001@agents", "Local/1001@agents/n", "+8613700137000",
        {"HOTLINE_DIALLED": "13700137000"})
    assert (record.ring_s, record.talk_s) == (2, 5)  # the customer rang 2 s, talked 4.5 s


@pytest.mark.parametrize("name", scenarios("outbound"))
def test_part_of_an_outbound_journal_never_raises(name: str) -> None:
    """The journal is read backwards as far as needed, lines may be torn: any part of a
    call gives a record or None, never an exception."""
    events = journal(name)
    for cut in range(len(events)):
        for part in (events[:cut], events[cut:], events[:cut] + events[cut + 1:]):
            for group in by_linkedid(part).values():
                summarize(group, member_of=member_of, **CONTEXTS)


def test_without_outbound_contexts_the_number_is_where_the_origin_went() -> None:
    """A reconciler that names no outbound context still finds the number dialled: the
    Exten of the first other context the origin ran in."""
    events = journal("callback-both-answer")
    record = summarize(events, member_of=member_of, inbound={"from-pstn"}, origin={"agents"})
    assert record is not None
    assert (record.caller, record.outcome, record.hangup_by) == (
        "+8613600136000", "answered", "customer")
