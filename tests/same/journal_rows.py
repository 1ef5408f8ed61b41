"""The rows a PBX's CEL journal gives for a same-rows scenario (tests/same/scenarios.py), as
Hotline's journal reconciliation reads it (``telephony.cel_calls.summarize``, then
``hotline.journal.merged`` with what the tracker knew), beside the rows the tracker gave
(tests/fixtures/asterisk/same-rows.json), restricted to what a journal can know.

What it cannot know: the IVR's variables and the recording (``merged`` keeps the
tracker's), durations and times to the second (the PBX's own clock: compared set or not),
and the number of an outbound call whose agent never answered (outcome ``failed``: the
outbound context that dials it never ran, so no event names it; the reconciler takes a
callback's from its request, hotline/journal_lookups.py): expected None here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hotline.journal import merged
from telephony.cel import CelEvent, parse_line
from telephony.cel_calls import by_linkedid, ended_calls, summarize
from telephony.events import CallSummary
from telephony.tracker.model import device_of

from .scenarios import IVR_SAME

# the site's agents (tests/asterisk/site.py) by device: the queue members, and the users'
# phones the reconciler names an agent in no queue by (hotline/journal_lookups.py)
MEMBERS = {f"Local/{ext}@agents": (name, f"Local/{ext}@agents/n")
           for ext, name in (("1001", "Alice"), ("1002", "Bob"), ("1003", "Carol"))}
CONTEXTS = {"inbound": {"from-pstn"}, "origin": {"agents"}, "outbound": {"outbound"}}
COMPARED = ("caller", "caller_name", "did", "queues", "agent", "agent_interface", "outcome",
            "hangup_by", "direction")
SET_OR_NOT = ("queued_at", "answered_at", "wait_s", "ring_s", "talk_s")


def member_of(channel: str) -> tuple[str, str] | None:
    return MEMBERS.get(device_of(channel))


def read(path: Path) -> list[CelEvent]:
    """A journal file's events (lines that are no record skipped, as Hotline does)."""
    return [e for e in map(parse_line, path.read_bytes().splitlines()) if e is not None]


def expected(row: dict[str, Any]) -> dict[str, Any]:
    """A kept row (same-rows.json) as the journal can give it."""
    out = {k: row[k] for k in COMPARED}
    out["agents_tried"] = [tuple(a) for a in row["agents_tried"]]
    out["transfers"] = list(row["transfers"])
    out.update({f"{k} set": row[f"{k} set"] for k in SET_OR_NOT})
    out["ivr"] = {k: row["ivr"].get(k) for k in IVR_SAME}
    if row["direction"] == "outbound" and row["outcome"] == "failed":
        out["caller"] = None  # see the module docstring
    return out


def comparable(record: CallSummary) -> dict[str, Any]:
    out = {k: getattr(record, k) for k in COMPARED}
    out["queues"] = list(record.queues)
    out["agents_tried"] = [(a.agent, a.queue, a.result) for a in record.agents_tried]
    out["transfers"] = [t.kind for t in record.transfers]
    out.update({f"{k} set": getattr(record, k) is not None for k in SET_OR_NOT})
    out["ivr"] = {k: record.ivr.get(k) for k in IVR_SAME}
    return out


def journal_rows(events: list[CelEvent], kept: list[dict[str, Any]]
                 ) -> list[dict[str, Any] | None]:
    """The record of each call the journal saw end, in the order they ended, merged with
    what the tracker knew of the kept row in the same place (its IVR variables); None for
    a call the journal cannot make a record of."""
    groups = by_linkedid(events)
    out: list[dict[str, Any] | None] = []
    for i, lid in enumerate(ended_calls(events)):
        record = summarize(groups[lid], member_of=member_of, **CONTEXTS)
        row = kept[i] if i < len(kept) else None
        guess = None if row is None else CallSummary(
            linkedid=lid, caller=None, caller_name=None, did=None,
            ivr={k: v for k, v in row["ivr"].items() if v is not None},
            direction=row["direction"])
        out.append(None if record is None else comparable(merged(guess, record)))
    return out
