"""A call's record from Asterisk's CEL journal (``telephony.cel``, ``telephony.cel_calls``)
equals the record the tracker made of the same call over AMI.

The journals are real: Asterisk 22.10.1 running deploy/asterisk (cel.conf,
cel_custom.conf) for the same-rows scenarios (tests/same/scenarios.py); the AMI rows they
are compared with are kept in tests/fixtures/asterisk/same-rows.json. What the journal
cannot know is left out: the IVR's variables, the recording (Hotline keeps what the
tracker had of those: ``merged`` puts them in, and who ended an IVR-only call comes from
them), and outbound calls (the journal leaves them to the tracker)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hotline.journal import merged
from telephony.cel import CelEvent, format_line, parse_line
from telephony.cel_calls import by_linkedid, ended_calls, summarize
from telephony.events import CallSummary
from telephony.tracker.model import device_of

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "asterisk"
JOURNALS = FIXTURES / "cel"
MEMBERS = {f"Local/{ext}@agents": (name, f"Local/{ext}@agents/n")
           for ext, name in (("1001", "Alice"), ("1002", "Bob"), ("1003", "Carol"))}
COMPARED = ("caller", "caller_name", "did", "queues", "agent", "agent_interface", "outcome",
            "hangup_by", "transfers", "agents_tried")


def member_of(channel: str) -> tuple[str, str] | None:
    return MEMBERS.get(device_of(channel))


def journal(name: str) -> list[CelEvent]:
    lines = (JOURNALS / f"{name}.csv").read_bytes().splitlines()
    return [e for e in map(parse_line, lines) if e is not None]


def inbound_scenarios() -> list[str]:
    kept = json.loads((FIXTURES / "same-rows.json").read_text(encoding="utf-8"))
    return sorted(name for name, result in kept.items()
                  if (JOURNALS / f"{name}.csv").exists()
                  and all(r["direction"] == "inbound" for r in result["rows"]))


def fields(row: dict[str, Any]) -> dict[str, Any]:
    out = {k: row[k] for k in COMPARED if k in row}
    out["agents_tried"] = [tuple(a) for a in row["agents_tried"]]
    return out


def test_the_real_journals_are_kept() -> None:
    assert len(inbound_scenarios()) >= 15


@pytest.mark.parametrize("name", inbound_scenarios())
def test_the_journal_gives_the_record_the_tracker_gave(name: str) -> None:
    kept = json.loads((FIXTURES / "same-rows.json").read_text(encoding="utf-8"))[name]
    events = journal(name)
    groups = by_linkedid(events)
    # what the tracker knew before the journal was read: the IVR's variables
    guesses = [CallSummary(linkedid="", caller=None, caller_name=None, did=None,
                           ivr={k: v for k, v in row["ivr"].items() if v is not None})
               for row in kept["rows"]]
    records = [merged(guess, record) if record is not None else None
               for guess, record in zip(guesses, (
                   summarize(groups[lid], inbound={"from-pstn"}, member_of=member_of)
                   for lid in ended_calls(events)), strict=False)]
    mine = [{"caller": r.caller, "caller_name": r.caller_name, "did": r.did,
             "queues": list(r.queues), "agent": r.agent, "agent_interface": r.agent_interface,
             "outcome": r.outcome, "hangup_by": r.hangup_by,
             "transfers": [t.kind for t in r.transfers],
             "agents_tried": [(a.agent, a.queue, a.result) for a in r.agents_tried]}
            for r in records if r is not None]
    assert mine == [fields(row) for row in kept["rows"]]


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
