"""The wallboard's live state, pure: agent state spans from the console's agent views,
and today's figures per queue, per number dialled, per agent and per team from the
domain events, computed with ``crm_core.kpi`` exactly as the reports compute them from
the call log and the state log.

Rules:
- ``SpanLog.feed(view, now)`` turns an agent's console view (``agent_state.AgentView``)
  into state spans: a span is (state, pause reason, call) and a new one opens whenever
  that changes; ``busy`` is logged as ``talking``; the closed spans are returned (for
  the state log and the board); ``cut(now)`` closes every open span at ``now`` and
  opens the same again (at midnight: no span crosses a day, so a day's report and the
  board at its end see the same time);
- ``Board`` holds today's ``crm_core.kpi_book.Book``: a call counts when it ENDS
  (``CallEnded``: the same record the call log writes, through ``kpi.call_row``), each
  linkedid once (a replayed event, or a call both loaded from the log at start and
  heard on the bus);
- callers waiting: from ``CallQueued`` until ``CallAnswered`` or ``CallEnded``;
- a new day (Asia/Shanghai) starts a new board (``roll``);
- no I/O, no clock but the ``now`` handed in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol

from crm_core import kpi
from crm_core.kpi import QueueRules, SpanRow
from crm_core.kpi_book import Book
from telephony.events import CallAnswered, CallEnded, CallQueued, DomainEvent

STATE_OF_VIEW = {"busy": "talking"}


class ViewLike(Protocol):
    """What a span needs of ``agent_state.AgentView``."""

    @property
    def interface(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def reason(self) -> str: ...
    @property
    def wrapup_linkedid(self) -> str | None: ...
    @property
    def call(self) -> Any: ...


def span_key(view: ViewLike) -> tuple[str, str | None, str | None]:
    """(state, pause reason, linkedid) of a view: a change of any opens a new span."""
    state = STATE_OF_VIEW.get(view.state, view.state)
    reason = view.reason or None if state == "paused" else None
    if state in ("ringing", "talking"):
        linkedid = view.call.linkedid if view.call is not None else None
    elif state == "wrap-up":
        linkedid = view.wrapup_linkedid
    else:
        linkedid = None
    return state, reason, linkedid


class SpanLog:
    """The open span of every agent; closed spans come out of ``feed`` and ``cut``."""

    def __init__(self) -> None:
        self.open: dict[str, SpanRow] = {}

    def feed(self, view: ViewLike, now: datetime) -> list[SpanRow]:
        state, reason, linkedid = span_key(view)
        current = self.open.get(view.interface)
        if current is not None and (current.state, current.reason, current.linkedid) == (
                state, reason, linkedid):
            return []
        self.open[view.interface] = SpanRow(agent=view.interface, state=state, reason=reason,
                                            linkedid=linkedid, started_at=now)
        if current is None:
            return []
        return [replace(current, ended_at=max(now, current.started_at))]

    def cut(self, now: datetime) -> list[SpanRow]:
        """Close every open span at ``now`` and open it again from ``now``."""
        closed = [replace(s, ended_at=max(now, s.started_at)) for s in self.open.values()]
        self.open = {a: replace(s, started_at=now) for a, s in self.open.items()}
        return closed


@dataclass
class Waiting:
    linkedid: str
    queue: str
    did: str | None
    caller: str | None
    since: datetime


@dataclass
class Board:
    """Today's book (``crm_core.kpi_book``) and the callers waiting now."""

    book: Book
    waiting: dict[str, Waiting] = field(default_factory=dict)

    @classmethod
    def for_day(cls, at: datetime, rules: Mapping[str, QueueRules],
                canonical: Callable[[str | None], str | None] | None = None) -> Board:
        return cls(book=Book.for_day(at, rules, canonical or (lambda d: d)))

    def feed(self, event: DomainEvent) -> bool:
        """Apply one domain event; True when the board changed."""
        if isinstance(event, CallQueued):
            if event.linkedid in self.waiting:
                return False
            self.waiting[event.linkedid] = Waiting(
                linkedid=event.linkedid, queue=event.queue,
                did=self.book.canonical(event.did), caller=event.caller,
                since=event.at or self.book.start)
            return True
        if isinstance(event, CallAnswered):
            return self.waiting.pop(event.linkedid, None) is not None
        if isinstance(event, CallEnded):
            gone = self.waiting.pop(event.linkedid, None) is not None
            return self.book.add_call(kpi.call_row(event.summary)) or gone
        return False

    def _waits(self, test: Callable[[Waiting], bool]) -> list[datetime]:
        return [w.since for w in self.waiting.values() if test(w)]

    def queue_tiles(self, now: datetime, extra: Iterable[str] = ()) -> list[dict[str, Any]]:
        figures = self.book.queues({*extra, *(w.queue for w in self.waiting.values())})
        out = []
        for q, f in figures.items():
            waits = self._waits(lambda w, q=q: w.queue == q)  # type: ignore[misc]
            out.append({"queue": q, **f, "waiting": len(waits),
                        "longest_wait_s": kpi.longest_wait_s(waits, now),
                        "rules": rules_dict(kpi.rules_for(self.book.rules, q))})
        return out

    def number_tiles(self, now: datetime, extra: Iterable[str] = ()) -> list[dict[str, Any]]:
        figures = self.book.numbers({*extra, *(w.did for w in self.waiting.values() if w.did)})
        out = []
        for d, f in figures.items():
            waits = self._waits(lambda w, d=d: w.did == d)  # type: ignore[misc]
            out.append({"number": d, **f, "waiting": len(waits),
                        "longest_wait_s": kpi.longest_wait_s(waits, now)})
        return out

    def waiting_list(self, now: datetime, limit: int = 20) -> list[dict[str, Any]]:
        rows = sorted(self.waiting.values(), key=lambda w: w.since)[:limit]
        return [{"linkedid": w.linkedid, "queue": w.queue, "did": w.did, "caller": w.caller,
                 "since": w.since.isoformat(), "wait_s": kpi.longest_wait_s([w.since], now)}
                for w in rows]


def rules_dict(rules: QueueRules) -> dict[str, Any]:
    return {"sl_s": rules.sl_s, "short_abandon_s": rules.short_abandon_s,
            "sl_target": rules.sl_target, "sl_warn": rules.sl_warn,
            "wait_warn_s": rules.wait_warn_s, "wait_alert_s": rules.wait_alert_s}
