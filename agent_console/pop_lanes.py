"""Per-agent event ordering for the screen pop. Pure: no I/O, no event loop.

Rules:
- each agent interface has a lane: its steps are applied strictly in the order their
  events arrived;
- a ringing's step waits for its 360 lookup (``waits``); the steps behind it in the
  same lane wait with it, so an agent's pop always precedes the same call's
  answered/missed/ended frames;
- another agent's lane is never behind that lookup: lookups run concurrently, and a
  slow one delays only its own agent;
- ``add`` and ``done`` return the steps that may be applied now, in order.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass
from typing import Any

from telephony.events import AgentRinging, DomainEvent


@dataclass(eq=False)
class Step:
    """One event waiting in an agent's lane; a ringing's ``view`` once looked up (None:
    the lookup was cancelled, the hub is shutting down)."""

    event: DomainEvent
    waits: bool = False
    view: dict[str, Any] | None = None


class Lanes:
    """The lanes of every agent with a step not applied yet."""

    def __init__(self) -> None:
        self._lanes: dict[str, collections.deque[Step]] = {}

    def add(self, interface: str, step: Step) -> list[Step]:
        """Append ``step`` to ``interface``'s lane; the steps now ready."""
        self._lanes.setdefault(interface, collections.deque()).append(step)
        return self._ready(interface)

    def done(self, interface: str, step: Step, view: dict[str, Any] | None) -> list[Step]:
        """``step``'s lookup gave ``view``; the steps of its lane now ready."""
        step.view, step.waits = view, False
        return self._ready(interface)

    def ringing(self, linkedid: str) -> set[str]:
        """The interfaces whose pop for ``linkedid`` is still being looked up."""
        return {interface for interface, lane in self._lanes.items()
                if any(isinstance(s.event, AgentRinging) and s.event.linkedid == linkedid
                       for s in lane)}

    def __len__(self) -> int:
        return sum(len(lane) for lane in self._lanes.values())

    def _ready(self, interface: str) -> list[Step]:
        lane = self._lanes.get(interface)
        ready: list[Step] = []
        while lane and not lane[0].waits:
            ready.append(lane.popleft())
        if lane is not None and not lane:
            del self._lanes[interface]
        return ready
