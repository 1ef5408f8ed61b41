"""The call-event pipeline: AMI messages -> call tracker -> bus.

``TrackerFeed`` is the consumer the AMI client calls synchronously from its
socket reader. It must stay cheap: it feeds the pure tracker and hands the
resulting domain events to the bus without awaiting (``publish_nowait``), so the
reader never stops draining Asterisk's socket. Slow consumers (the database,
browsers) sit behind the bus, each with its own queue.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Protocol

from telephony.events import CallEnded, DomainEvent
from telephony.tracker import CallTracker

log = logging.getLogger("hotline.pipeline")


class Publisher(Protocol):
    def publish_nowait(self, event: DomainEvent) -> None: ...


class Reconciler(Protocol):
    def after_resync(self, since: float | None, held: list[CallEnded]) -> None: ...


class TrackerFeed:
    """Adapts the AMI client's consumer callbacks to the tracker and the bus.

    With a ``journal`` (``hotline.journal.JournalReconciler``), the records a resync makes
    of calls that vanished while the link was down are handed to it instead of the bus:
    it publishes them corrected from the PBX's journal, with the calls that started and
    ended unseen. ``since`` is when the PBX was last heard (None at the first connect).
    So are the records of calls that END while the resync runs: until the snapshot is
    reconciled the tracker still has its view from before the cut (a caller in the IVR
    then, who queued and timed out during the outage, would be logged ``ivr-only``; seen
    under load, where the resync's lists take long). A resync cut short (the link lost
    again) keeps the first cut as ``lost_at``: nothing since was reconciled."""

    def __init__(self, tracker: CallTracker, bus: Publisher,
                 journal: Reconciler | None = None) -> None:
        self.tracker = tracker
        self.bus = bus
        self.journal = journal
        self.messages = 0
        self.published = 0
        self.errors = 0
        self.connected = False
        self.lost_at: float | None = None  # the PBX's time when the link last went down
        self.resyncing = False
        self._held: list[CallEnded] = []  # calls that ended during the resync (journal)

    def _publish(self, events: list[DomainEvent]) -> None:
        publish = self.bus.publish_nowait
        for event in events:
            publish(event)
        self.published += len(events)

    def on_event(self, msg: Mapping[str, str]) -> None:
        self.messages += 1
        try:
            events = self.tracker.feed(msg)
        except Exception:  # a tracker bug must never stop the AMI reader
            self.errors += 1
            log.exception("tracker failed on %s", msg.get("Event") or msg.get("Response"))
            return
        if events and self.resyncing and self.journal is not None:
            self._held.extend(e for e in events if isinstance(e, CallEnded))
            events = [e for e in events if not isinstance(e, CallEnded)]
        if events:
            self._publish(events)

    def on_connected(self) -> None:
        self.connected = True

    def on_disconnected(self) -> None:
        self.connected = False
        if not self.resyncing:  # else the outage still dates from the first cut
            self.lost_at = self.tracker.last_event_time

    def on_resync_begin(self) -> None:
        self.resyncing = True
        self.tracker.begin_resync()

    def on_resync_end(self) -> None:
        self.resyncing = False
        held, self._held = self._held, []
        try:
            events = self.tracker.end_resync()
        except Exception:
            self.errors += 1
            log.exception("tracker failed to end a resync")
            events = []
        if self.journal is None:
            self._publish(events)
            return
        held += [e for e in events if isinstance(e, CallEnded)]
        self._publish([e for e in events if not isinstance(e, CallEnded)])
        self.journal.after_resync(self.lost_at, held)
