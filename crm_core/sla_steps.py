"""The steps of an SLA target: warning, breach and escalation (pure, no I/O).

A ticket's targets come in order: accept (the station takes it), arrive on site (when
the policy has one), resolve. The CURRENT target is the first one not yet met; its
steps, counted in the station's business time from its due ``D`` and its size ``T``:

===========  ==================================  ==========  =====  =====================
step         instant                             sla_state   level  told
===========  ==================================  ==========  =====  =====================
warn         D - (100 - warn_pct) % of T         warning     0      the station
breach       D                                   breached    1      station manager
escalate 2   D + 50 % of T                       breached    2      regional manager
escalate 3   D + 100 % of T                      breached    3      service director
===========  ==================================  ==========  =====  =====================

So a breach climbs the chain one level per further half target: an urgent repair
(accept 30 min) reaches the director 30 business minutes after its acceptance was due,
a normal one (accept 2 h) 2 business hours after. A station that has not accepted by
``accept_due`` thus escalates like any breach, AND loses the ticket: its breach of the
accept target (``station_unanswered``) has the sweep's caller route it again to the next
best station (``crm_core.unanswered``), whose clock starts afresh. When a target is
met, the next one starts from ``ok`` / level 0 (``crm_core.sla.mark``); every step
fired is kept in the ticket's history, so the earlier target's escalation is not lost.

``progress(state, level)`` is how many steps of the current target have fired; the
sweep fires every step whose instant has come (all of them after a downtime: catch-up),
and stores the instant of the next one (``ticket.sla_next_at``), or None when none is
left.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from crm_core.sla_clock import BusinessCalendar, add_business

ESCALATE_EVERY_PCT = 50  # a further level each half target past the due
LEVELS = 3  # station manager, regional service manager, service director
STEP_STATES = ("warning", "breached", "breached", "breached")


@dataclass(frozen=True, kw_only=True)
class Target:
    """The current target: its name, due instant and size in business minutes."""

    name: str  # accept | arrive | resolve
    due: datetime
    minutes: int


@dataclass(frozen=True, kw_only=True)
class Step:
    """One step to fire: which (0 = warn, 1..3 = escalation level), when, the result."""

    target: str
    index: int
    at: datetime
    state: str
    level: int

    @property
    def kind(self) -> str:
        """Its history row's kind."""
        return "sla-warning" if self.index == 0 else "escalation"


def current_target(
    *, accept: tuple[datetime | None, datetime | None, int | None],
    arrive: tuple[datetime | None, datetime | None, int | None],
    resolve: tuple[datetime | None, datetime | None, int | None],
) -> Target | None:
    """The first target (due, met at, minutes) with a due and not met yet."""
    for name, (due, met, minutes) in (("accept", accept), ("arrive", arrive),
                                      ("resolve", resolve)):
        if due is not None and met is None and minutes:
            return Target(name=name, due=due, minutes=minutes)
    return None


def thresholds(cal: BusinessCalendar, target: Target, warn_pct: int) -> tuple[datetime, ...]:
    """The four step instants of a target (warn, breach, level 2, level 3)."""
    size = timedelta(minutes=target.minutes)
    warn_pct = min(max(warn_pct, 0), 100)
    out = [add_business(cal, target.due, -size * (100 - warn_pct) / 100), target.due]
    for n in range(1, LEVELS):
        out.append(add_business(cal, target.due, size * ESCALATE_EVERY_PCT * n / 100))
    return tuple(out)


def progress(state: str, level: int) -> int:
    """How many steps of the current target have fired."""
    if state == "breached":
        return 1 + min(max(level, 1), LEVELS)
    return 1 if state == "warning" else 0


def due_steps(target: str, instants: tuple[datetime, ...], done: int, now: datetime
              ) -> list[Step]:
    """The steps not fired yet whose instant has come, in order."""
    return [Step(target=target, index=i, at=at, state=STEP_STATES[i], level=i)
            for i, at in enumerate(instants) if i >= done and at <= now]


def station_unanswered(steps: list[Step], status: str) -> bool:
    """Whether ``steps`` (fired now) breach the accept target of a ticket still
    ``routed``: its station did not answer in time (see the rules)."""
    return status == "routed" and any(s.target == "accept" and s.index == 1 for s in steps)


def next_instant(instants: tuple[datetime, ...], done: int) -> datetime | None:
    """The instant of the first step not fired yet, None when all have."""
    return instants[done] if done < len(instants) else None
