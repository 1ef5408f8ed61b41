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

from telephony.events import DomainEvent
from telephony.tracker import CallTracker

log = logging.getLogger("hotline.pipeline")


class Publisher(Protocol):
    def publish_nowait(self, event: DomainEvent) -> None: ...


class TrackerFeed:
    """Adapts the AMI client's consumer callbacks to the tracker and the bus."""

    def __init__(self, tracker: CallTracker, bus: Publisher) -> None:
        self.tracker = tracker
        self.bus = bus
        self.messages = 0
        self.published = 0
        self.errors = 0
        self.connected = False

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
        if events:
            self._publish(events)

    def on_connected(self) -> None:
        self.connected = True

    def on_disconnected(self) -> None:
        self.connected = False

    def on_resync_begin(self) -> None:
        self.tracker.begin_resync()

    def on_resync_end(self) -> None:
        try:
            events = self.tracker.end_resync()
        except Exception:
            self.errors += 1
            log.exception("tracker failed to end a resync")
            return
        self._publish(events)
