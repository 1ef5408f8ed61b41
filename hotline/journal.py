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
- leaves alone the calls still up (the resync adopted them, inbound and outbound: the
  tracker logs them when they end), those the tracker followed when the resync ended
  (``followed``: one that ends while the journal is read is the tracker's to log, even
  before its record reaches the database) and those already logged.

Outbound calls (click-to-dial, callbacks: ``telephony.cel_outbound``) as well, with what
Hotline's own records add to the journal: the agent's name when her phone is in no queue
(``agents``: the users by phone, as the console's Originate names her), and for a callback
attempt (its Linkedid is the claim token) HOTLINE_CALLBACK / HOTLINE_CALLBACK_ID, which
the worker's Originate sets, and the number from its request (``dialled``) when the
journal has none (the agent never answered: the dialplan never dialled it).

The journal's lines are read from the end of the file backwards (``CsvJournal``), as far
as the outage and the beginnings of the calls that ended in it, never more than
``max_scan`` bytes. A journal that cannot be read is logged: the tracker's guesses then
stand, and nothing waits on it.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Protocol, TypeVar

from ivr.callback_worker import claimed_callback
from numbering.normalize import normalize
from telephony.cel import CelEvent, parse_line
from telephony.cel_calls import by_linkedid, ended_calls, summarize
from telephony.cel_outbound import MemberOf
from telephony.events import CallEnded, CallSummary, DomainEvent, ts
from telephony.tracker.inbound import ivr_hangup
from telephony.tracker.model import OUTBOUND, device_of

log = logging.getLogger("hotline.journal")
T = TypeVar("T")

SLACK_S = 5.0  # read this much before the outage: the clocks of PBX and Hotline differ
BLOCK = 64 * 1024
FIRST_START_S = 3600.0  # no call logged yet: read the journal's last hour
# device -> (agent, interface) of the agents Hotline knows (the users with a phone)
Agents = Callable[[], Awaitable[Mapping[str, tuple[str, str]]]]
# Linkedids -> the number each dialled, as Hotline's own records have it (callbacks)
Dialled = Callable[[list[str]], Awaitable[Mapping[str, str]]]


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
    agent, interface = journal.agent, journal.agent_interface
    if journal.direction == OUTBOUND and _is_device(agent) and guess.agent:
        # the journal named her phone only; the tracker had her name (the Originate's)
        agent, interface = guess.agent, guess.agent_interface or interface
    return replace(
        journal, hangup_by=hangup_by,
        caller=journal.caller or guess.caller,
        caller_name=journal.caller_name or guess.caller_name,
        did=journal.did or guess.did, agent=agent, agent_interface=interface,
        started_at=min(filter(None, (guess.started_at, journal.started_at)),
                       default=None),
        ivr={**journal.ivr, **guess.ivr}, recording=guess.recording,
        direction=guess.direction)


def _is_device(agent: str | None) -> bool:
    """An agent named by her phone's device (``Local/1001@agents``), not by a name."""
    return agent is None or "/" in agent


def callback_variables(linkedid: str) -> dict[str, str]:
    """The variables the callback worker's Originate sets on a callback attempt's
    channels (the tracker keeps them in ``ivr``): its Linkedid is the claim token."""
    callback_id = claimed_callback(linkedid)
    if callback_id is None:
        return {}
    return {"HOTLINE_CALLBACK": linkedid, "HOTLINE_CALLBACK_ID": str(callback_id)}


class JournalReconciler:
    """Reads the journal after an outage or a start and publishes the calls' records."""

    def __init__(self, journal: Journal, *, publish: Callable[[DomainEvent], None],
                 logged: Callable[[Iterable[str]], Awaitable[set[str]]],
                 last_logged: Callable[[], Awaitable[datetime | None]],
                 member_of: MemberOf, inbound: Callable[[], Iterable[str]],
                 is_open: Callable[[str], bool], clock: Callable[[], float],
                 region: str = "CN", origin: Callable[[], Iterable[str]] = tuple,
                 outbound: Iterable[str] = (), agents: Agents | None = None,
                 dialled: Dialled | None = None,
                 followed: Callable[[], Iterable[str]] | None = None) -> None:
        """``inbound``, ``origin``: the tracker's contexts of those names (``origin``
        empty: no outbound call is recognised); ``outbound``: the contexts where Hotline's
        Originates dial the customer (settings ``outbound_context``, ``callback_context``);
        ``followed``: the Linkedids of the calls the tracker follows (its open calls)."""
        self.journal = journal
        self.publish = publish
        self.logged = logged
        self.last_logged = last_logged
        self.member_of = member_of
        self.inbound = inbound
        self.origin = origin
        self.outbound = frozenset(outbound)
        self.agents = agents
        self.dialled = dialled
        self.is_open = is_open
        self.followed = followed
        self.clock = clock
        self.region = region
        self.counts = {"corrected": 0, "recovered": 0, "kept": 0, "failed": 0}
        self._tasks: set[asyncio.Task[None]] = set()

    def after_resync(self, since: float | None, held: list[CallEnded]) -> None:
        """Called from the AMI reader (sync): reconcile in the background. ``since``: when
        Hotline last heard the PBX (None: it just started); ``held``: the records the
        resync made of calls that vanished, not yet published."""
        # now, as the resync ends: the calls the tracker follows from here to their end
        followed = frozenset(self.followed()) if self.followed is not None else frozenset()
        task = asyncio.get_running_loop().create_task(
            self.reconcile(since, held, followed), name="journal-reconcile")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def reconcile(self, since: float | None, held: list[CallEnded],
                        followed: frozenset[str] = frozenset()) -> None:
        try:
            await self._reconcile(since, held, followed)
        except Exception:  # the journal is a help: without it the tracker's guesses stand
            self.counts["failed"] += 1
            log.exception("journal: reconciliation failed; %d call(s) keep the tracker's "
                          "record", len(held))
            for event in held:
                self.publish(event)

    async def _reconcile(self, since: float | None, held: list[CallEnded],
                         followed: frozenset[str]) -> None:
        if since is None:
            last = await self.last_logged()
            since = last.timestamp() if last is not None else self.clock() - FIRST_START_S
        start = since - SLACK_S
        events = await asyncio.to_thread(self.journal.read_since, start, lambda more: bool(more))
        groups = by_linkedid(events)
        guesses = {e.linkedid: e for e in held}
        ended = list(dict.fromkeys(ended_calls(events)))
        done = [lid for lid in ended
                if lid not in guesses and lid not in followed and not self.is_open(lid)]
        already = await self.logged(done) if done else set()
        wanted = [lid for lid in ended if lid in guesses] + [
            lid for lid in done if lid not in already]
        records = await self._records({lid: groups.get(lid) for lid in wanted})
        for lid, event in guesses.items():
            record = records.get(lid)
            if record is None:
                self.counts["kept"] += 1
                log.warning("journal: no end of call %s in it; its record stays the "
                            "tracker's guess (%s)", lid, event.summary.outcome)
                self.publish(event)
                continue
            self.counts["corrected"] += 1
            self.publish(CallEnded(at=event.at, summary=merged(event.summary, record)))
        for lid in done:
            record = records.get(lid)
            if lid in already or record is None:
                continue
            self.counts["recovered"] += 1
            self.publish(CallEnded(at=record.ended_at or ts(self.clock()), summary=record))
        log.info("journal read since %.0f (%d events): %s", start, len(events), self.counts)

    async def _records(self, calls: Mapping[str, list[CelEvent] | None]
                       ) -> dict[str, CallSummary]:
        """The journal's record of each call it can tell, completed from Hotline's own
        records where the journal is silent (see the module docstring)."""
        inbound, origin = set(self.inbound()), set(self.origin())

        def record(lid: str, member_of: MemberOf) -> CallSummary | None:
            events = calls.get(lid)
            found = summarize(events, inbound=inbound, member_of=member_of,
                              region=self.region, origin=origin,
                              outbound=self.outbound) if events else None
            if found is not None and found.direction == OUTBOUND:
                found = replace(found, ivr={**found.ivr, **callback_variables(lid)})
            return found

        out = {lid: r for lid in calls if (r := record(lid, self.member_of)) is not None}
        unnamed = [lid for lid, r in out.items() if r.direction == OUTBOUND
                   and _is_device(r.agent)]
        if unnamed and self.agents is not None:  # her phone is in no queue: whose is it?
            known = await self._lookup("the agents' phones", self.agents(), {})

            def member_of(channel: str) -> tuple[str, str] | None:
                return self.member_of(channel) or known.get(device_of(channel))

            for lid in unnamed:
                out[lid] = record(lid, member_of) or out[lid]
        unknown = [lid for lid, r in out.items() if r.direction == OUTBOUND and r.caller is None]
        if unknown and self.dialled is not None:
            numbers = await self._lookup("the numbers dialled", self.dialled(unknown), {})
            for lid in unknown:
                number = normalize(numbers.get(lid), self.region)
                if number is not None:
                    out[lid] = replace(out[lid], caller=number)
        return out

    @staticmethod
    async def _lookup(what: str, lookup: Awaitable[Mapping[str, T]],
                      default: Mapping[str, T]) -> Mapping[str, T]:
        """One of Hotline's records the journal's records are completed from: a help,
        whose failure (the database unreachable) leaves them as the journal has them."""
        try:
            return await lookup
        except Exception:
            log.warning("journal: %s could not be read; the records keep what the journal "
                        "tells", what, exc_info=True)
            return default

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            try:
                await task
            except asyncio.CancelledError:
                pass
