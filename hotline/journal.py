"""Calls Hotline could not watch, logged from the PBX's journal (issue 13 item 2).

AMI tells what happens while Hotline listens; Asterisk's CEL journal (deploy/asterisk
cel.conf + cel_custom.conf, read by ``telephony.cel``) tells everything. After an AMI
outage, and when Hotline starts, the ``JournalReconciler`` reads the journal since
Hotline last saw the PBX and:

- corrects the calls the resync had to end blind (they vanished during the outage: the
  tracker's record is a guess, ``hangup_by`` system): the journal's record of the call
  (``telephony.cel_calls``) wins for what happened after the cut, the tracker's for what
  only it knew (the IVR's variables, the recording);
- logs the calls that started and ended unseen (none of Hotline's records has them);
- leaves alone the calls still up (the resync adopted them) and those already logged.

The journal's lines are read from the end of the file backwards (``CsvJournal``), as far
as the outage and the beginnings of the calls that ended in it, never more than
``max_scan`` bytes. A journal that cannot be read is logged: the tracker's guesses then
stand, and nothing waits on it.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Protocol

from telephony.cel import CelEvent, parse_line
from telephony.cel_calls import MemberOf, by_linkedid, ended_calls, summarize
from telephony.events import CallEnded, CallSummary, DomainEvent, ts
from telephony.tracker.inbound import ivr_hangup

log = logging.getLogger("hotline.journal")

SLACK_S = 5.0  # read this much before the outage: the clocks of PBX and Hotline differ
BLOCK = 64 * 1024
FIRST_START_S = 3600.0  # no call logged yet: read the journal's last hour


class Journal(Protocol):
    def read_since(self, since: float, wanted: Callable[[set[str]], bool]) -> list[CelEvent]:
        """The events from ``since`` on, and earlier ones while ``wanted`` (given the
        Linkedids whose first event is not read yet) says more are needed."""


class CsvJournal:
    """cel_custom's CSV file, read backwards from its end."""

    def __init__(self, path: str | Path, *, max_scan: int = 256 << 20) -> None:
        self.path = Path(path)
        self.max_scan = max_scan

    def read_since(self, since: float, wanted: Callable[[set[str]], bool]) -> list[CelEvent]:
        events: list[CelEvent] = []
        begun: set[str] = set()  # Linkedids whose first channel's CHAN_START was read
        ended: set[str] = set()
        try:
            f = self.path.open("rb")
        except FileNotFoundError:
            return []
        with f:
            end = f.seek(0, os.SEEK_END)
            pos, tail, scanned = end, b"", 0
            while pos > 0 and scanned < self.max_scan:
                step = min(BLOCK, pos)
                pos -= step
                f.seek(pos)
                data = f.read(step) + tail
                scanned += step
                lines = data.split(b"\n")
                tail = lines.pop(0) if pos > 0 else b""  # maybe cut: read with the next block
                older = False
                for line in reversed(lines):
                    event = parse_line(line)
                    if event is None:
                        continue
                    events.append(event)
                    if event.type == "LINKEDID_END" and event.time >= since:
                        ended.add(event.linkedid)  # its beginning must be read too
                    if event.type == "CHAN_START" and event.uniqueid == event.linkedid:
                        begun.add(event.linkedid)
                    older = older or event.time < since
                if older and not wanted(ended - begun):
                    break
            if scanned >= self.max_scan and pos > 0:
                log.warning("journal %s: read back %d bytes, the limit; older beginnings of "
                            "calls are not read", self.path, scanned)
        events.reverse()
        return events


def merged(guess: CallSummary | None, journal: CallSummary) -> CallSummary:
    """The journal's record, with what only the tracker knew of the call."""
    if guess is None:
        return journal
    hangup_by = journal.hangup_by
    if journal.outcome == "ivr-only":  # the IVR's word, which CEL cannot carry
        hangup_by = ivr_hangup(guess.ivr, hangup_by) or "system"
    return replace(
        journal, hangup_by=hangup_by,
        caller=journal.caller or guess.caller,
        caller_name=journal.caller_name or guess.caller_name,
        did=journal.did or guess.did,
        started_at=min(filter(None, (guess.started_at, journal.started_at)),
                       default=None),
        ivr=guess.ivr, recording=guess.recording, direction=guess.direction)


class JournalReconciler:
    """Reads the journal after an outage or a start and publishes the calls' records."""

    def __init__(self, journal: Journal, *, publish: Callable[[DomainEvent], None],
                 logged: Callable[[Iterable[str]], Awaitable[set[str]]],
                 last_logged: Callable[[], Awaitable[datetime | None]],
                 member_of: MemberOf, inbound: Callable[[], Iterable[str]],
                 is_open: Callable[[str], bool], clock: Callable[[], float],
                 region: str = "CN") -> None:
        self.journal = journal
        self.publish = publish
        self.logged = logged
        self.last_logged = last_logged
        self.member_of = member_of
        self.inbound = inbound
        self.is_open = is_open
        self.clock = clock
        self.region = region
        self.counts = {"corrected": 0, "recovered": 0, "kept": 0, "failed": 0}
        self._tasks: set[asyncio.Task[None]] = set()

    def after_resync(self, since: float | None, held: list[CallEnded]) -> None:
        """Called from the AMI reader (sync): reconcile in the background. ``since``: when
        Hotline last heard the PBX (None: it just started); ``held``: the records the
        resync made of calls that vanished, not yet published."""
        task = asyncio.get_running_loop().create_task(self.reconcile(since, held),
                                                      name="journal-reconcile")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def reconcile(self, since: float | None, held: list[CallEnded]) -> None:
        try:
            await self._reconcile(since, held)
        except Exception:  # the journal is a help: without it the tracker's guesses stand
            self.counts["failed"] += 1
            log.exception("journal: reconciliation failed; %d call(s) keep the tracker's "
                          "record", len(held))
            for event in held:
                self.publish(event)

    async def _reconcile(self, since: float | None, held: list[CallEnded]) -> None:
        if since is None:
            last = await self.last_logged()
            since = last.timestamp() if last is not None else self.clock() - FIRST_START_S
        start = since - SLACK_S
        events = await asyncio.to_thread(self.journal.read_since, start, lambda more: bool(more))
        groups = by_linkedid(events)
        guesses = {e.linkedid: e for e in held}
        inbound = set(self.inbound())
        done = [lid for lid in dict.fromkeys(ended_calls(events))
                if lid not in guesses and not self.is_open(lid)]
        already = await self.logged(done) if done else set()
        ended = set(ended_calls(events))
        for lid, event in guesses.items():
            record = self._record(groups.get(lid), inbound) if lid in ended else None
            if record is None:
                self.counts["kept"] += 1
                log.warning("journal: no end of call %s in it; its record stays the "
                            "tracker's guess (%s)", lid, event.summary.outcome)
                self.publish(event)
                continue
            self.counts["corrected"] += 1
            self.publish(CallEnded(at=event.at, summary=merged(event.summary, record)))
        for lid in done:
            if lid in already:
                continue
            record = self._record(groups.get(lid), inbound)
            if record is None:
                continue
            self.counts["recovered"] += 1
            self.publish(CallEnded(at=record.ended_at or ts(self.clock()), summary=record))
        log.info("journal read since %.0f (%d events): %s", start, len(events), self.counts)

    def _record(self, events: list[CelEvent] | None, inbound: set[str]) -> CallSummary | None:
        if not events:
            return None
        return summarize(events, inbound=inbound, member_of=self.member_of, region=self.region)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            try:
                await task
            except asyncio.CancelledError:
                pass
