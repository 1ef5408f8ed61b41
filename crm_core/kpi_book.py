"""A period's book of KPIs (a day for the wallboard, any period for a report): calls
and agent state spans in, figures per queue, per number dialled, per agent and per
team out, all with ``crm_core.kpi``. The wallboard feeds it from the bus, the reports
from the call log and the state log: the same object, so the same figures.

Rules:
- pure; each call counts once (by linkedid), and only if it ended inside the period;
- spans count for their part inside the period; a span still open is passed to the
  readings (``open_spans``) and counted up to ``now``;
- the wrap-up of an answered call counts toward its queue's, number's and agent's AHT
  when its span is added (the call was added before: a wrap-up follows its call).
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from crm_core import kpi
from crm_core.kpi import AgentTally, CallRow, CallTally, QueueRules, SpanRow

Canonical = Callable[[str | None], str | None]


def _same(d: str | None) -> str | None:
    return d


@dataclass
class Book:
    """Tallies of one period [start, end)."""

    rules: Mapping[str, QueueRules]
    start: datetime
    end: datetime
    canonical: Canonical = _same
    seen: set[str] = field(default_factory=set)
    answered: dict[str, CallRow] = field(default_factory=dict)  # for their wrap-up
    by_queue: dict[str | None, CallTally] = field(default_factory=dict)
    by_did: dict[str | None, CallTally] = field(default_factory=dict)
    by_agent_calls: dict[str | None, CallTally] = field(default_factory=dict)
    by_agent: dict[str, AgentTally] = field(default_factory=dict)

    @classmethod
    def for_day(cls, at: datetime, rules: Mapping[str, QueueRules],
                canonical: Canonical = _same) -> Book:
        start, end = kpi.day_bounds(at)
        return cls(rules=rules, start=start, end=end, canonical=canonical)

    def add_call(self, row: CallRow) -> bool:
        """Count one ended call; True when it counted (new, inbound, inside the period)."""
        if row.linkedid in self.seen or row.ended_at is None or not (
                self.start <= row.ended_at < self.end):
            return False
        self.seen.add(row.linkedid)
        row = replace(row, did=self.canonical(row.did))
        rules = kpi.rules_for(self.rules, row.queue)
        for book, key in self._books(row):
            book.setdefault(key, CallTally()).add(row, rules)
        if row.direction == "inbound" and row.queued and row.outcome in kpi.ANSWERED_OUTCOMES:
            self.answered[row.linkedid] = row
        return row.direction == "inbound"

    def _books(self, row: CallRow) -> list[tuple[dict[str | None, CallTally], str | None]]:
        return [(self.by_queue, row.queue), (self.by_did, row.did),
                (self.by_agent_calls, row.agent)]

    def add_span(self, span: SpanRow) -> None:
        """Count one closed span (its part inside the period)."""
        us = kpi.clipped_us(span, self.start, self.end)
        if us <= 0:
            return
        self.by_agent.setdefault(span.agent, AgentTally()).add(span, self.start, self.end)
        row = self.answered.get(span.linkedid or "") if span.state == "wrap-up" else None
        if row is not None:
            for book, key in self._books(row):
                book[key].wrapup_us += us

    # --- readings ------------------------------------------------------------------------

    def queues(self, extra: Iterable[str] = ()) -> dict[str, dict[str, Any]]:
        names = {q for q in self.by_queue if q} | set(extra)
        return {q: kpi.call_figures(self.by_queue.get(q, CallTally())) for q in sorted(names)}

    def numbers(self, extra: Iterable[str] = ()) -> dict[str, dict[str, Any]]:
        names = {d for d in self.by_did if d} | set(extra)
        return {d: kpi.call_figures(self.by_did.get(d, CallTally())) for d in sorted(names)}

    def agent_tallies(self, open_spans: Mapping[str, SpanRow], now: datetime,
                      only: Container[str] | None = None) -> dict[str, AgentTally]:
        out = {a: AgentTally(dict(t.seconds), dict(t.pauses)) for a, t in self.by_agent.items()
               if only is None or a in only}
        for agent, span in open_spans.items():
            if only is None or agent in only:
                out.setdefault(agent, AgentTally()).add(span, self.start, min(now, self.end))
        return out

    def agents(self, open_spans: Mapping[str, SpanRow], now: datetime,
               only: Container[str] | None = None) -> dict[str, dict[str, Any]]:
        """Per agent (``only``: just those), time per state, occupancy, calls, AHT."""
        tallies = self.agent_tallies(open_spans, now, only)
        names = set(tallies) | {a for a in self.by_agent_calls
                                if a and (only is None or a in only)}
        return {a: kpi.agent_figures(tallies.get(a, AgentTally()),
                                     self.by_agent_calls.get(a, CallTally()))
                for a in sorted(names)}

    def teams(self, team_of: Mapping[str, str | None], open_spans: Mapping[str, SpanRow],
              now: datetime) -> dict[str, dict[str, Any]]:
        """Per team (agents without one under ""): the agents' tallies summed."""
        tallies = self.agent_tallies(open_spans, now)
        agent_t: dict[str, AgentTally] = {}
        call_t: dict[str, CallTally] = {}
        for agent in set(tallies) | {a for a in self.by_agent_calls if a}:
            team = team_of.get(agent) or ""
            agent_t[team] = agent_t.get(team, AgentTally()) + tallies.get(agent, AgentTally())
            call_t[team] = call_t.get(team, CallTally()) + self.by_agent_calls.get(
                agent, CallTally())
        return {team: kpi.agent_figures(agent_t[team], call_t[team]) for team in sorted(agent_t)}
