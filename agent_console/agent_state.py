"""The agent console's state per agent: a pure state machine fed by domain events.

``AgentBoard.feed(event, now)`` takes one domain event (``telephony.events``) and
returns the effects it implies; no I/O, no clock but the ``now`` handed in. The I/O
around it (``agent_console.wrapup``) sends the frames and the PBX actions.

Rules:
- signed in = a member of her personal queue ``agent-<ext>``
  (``telephony.personal_queues``), which only Hotline's own sign-in fills (QueueAdd;
  queues.conf lists nobody there): being listed in ``support`` or ``vip`` -- a static
  member, a left-over -- never makes an agent signed in, ready or offered a call;
- what the board shows is what the PBX believes: queue membership comes from
  ``QueueMemberChanged`` (added / status snapshot -> member, removed -> not), the
  device state and the pause (with its reason) from ``AgentStateChanged``, the call
  from ``AgentRinging`` / ``CallAnswered`` / ``AgentRingNoAnswer`` /
  ``CallTransferred`` / ``CallEnded`` (an agent's own outbound call too: the tracker
  emits the same events for it, answered = the customer answered, so it rings, talks and
  wraps up like a queue call); a click in the console changes nothing here
  until the PBX reports it (the one exception: the wrap-up, which is ours);
- the console state is DERIVED, first match of ``DERIVATION`` (a data table):
  signed-out (not in her personal queue) > ringing > busy > paused for a reason of the
  agent's own
  > wrap-up > paused (reason "wrap-up" left over) > ready;
- wrap-up: when an agent's ANSWERED call ends (or the agent transfers it away), the
  agent is in wrap-up until ``wrapup_s`` seconds pass (``tick``), the call's log is
  saved (``log_saved``), the agent goes ready (``agent_ready``), is rung by a new call,
  or signs out. At its start the board asks the PBX to pause the agent with
  reason ``WRAPUP_REASON`` (so the queue does not ring them), unless they are already
  paused for a reason of their own; at its end it asks to unpause ONLY if the PBX
  still has them paused with reason ``WRAPUP_REASON``: an agent who paused for
  lunch meanwhile stays paused. A call logged before it ended gets no wrap-up;
- a left-over wrap-up pause (the PBX reports reason ``WRAPUP_REASON`` while no
  wrap-up runs: the app restarted mid-wrap-up) is lifted (``Unpause``) once
  ``wrapup_s`` has passed and it is still there, so nobody stays paused forever;
- ``AgentStateChanged`` always gives a ``StateChanged`` (the PBX said something about
  the agent: the console hears it); other events only when the view changed;
- the board remembers, per agent, the last ``_TAKEN_MEMORY`` calls she took (answered,
  or placed herself: an outbound call rings her own phone first): with her current
  call, that is ``took``, which says whose call a Linkedid is until its call record
  (written when it ends) says so (``crm_core.call_access``); and the last calls that
  RANG her (``rang``): a call nobody took is logged by an agent it rang;
- unknown or odd events are ignored (counted in ``ignored``), never raised.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from telephony.events import (
    AgentRinging,
    AgentRingNoAnswer,
    AgentStateChanged,
    CallAnswered,
    CallEnded,
    CallTransferred,
    DomainEvent,
    QueueMemberChanged,
)
from telephony.personal_queues import personal_queue

WRAPUP_REASON = "wrap-up"
STATES = ("signed-out", "ready", "paused", "wrap-up", "ringing", "busy")
# PBX device states (telephony.tracker DEVICE_STATES values) that mean "on the phone"
BUSY_DEVICES = frozenset({"busy", "on-hold"})
RINGING_DEVICES = frozenset({"ringing"})
_LOGGED_MEMORY = 16  # linkedids logged recently, per agent
# linkedids taken recently, per agent: enough to bridge the moment between a call's end
# and its record being written, whatever the agent took meanwhile
_TAKEN_MEMORY = 16


@dataclass(frozen=True, kw_only=True)
class CallInfo:
    """The agent's current call, as the PBX reported it."""

    linkedid: str
    queue: str
    caller: str | None
    caller_name: str | None
    agent_channel: str
    state: str  # ringing | talking
    since: datetime

    def to_dict(self) -> dict[str, Any]:
        return {"linkedid": self.linkedid, "queue": self.queue, "caller": self.caller,
                "caller_name": self.caller_name, "state": self.state,
                "since": self.since.isoformat()}


@dataclass
class _Agent:
    interface: str
    agent: str
    queues: set[str] = field(default_factory=set)
    device: str = "unknown"
    paused: bool = False
    reason: str = ""
    call: CallInfo | None = None
    wrapup_linkedid: str | None = None
    wrapup_until: datetime | None = None
    wrapup_paused: bool = False  # we asked the PBX to pause them for this wrap-up
    stale_until: datetime | None = None  # a left-over wrap-up pause is lifted then
    logged: deque[str] = field(default_factory=lambda: deque(maxlen=_LOGGED_MEMORY))
    taken: deque[str] = field(default_factory=lambda: deque(maxlen=_TAKEN_MEMORY))
    rung: deque[str] = field(default_factory=lambda: deque(maxlen=_TAKEN_MEMORY))
    personal: str | None = None  # her personal queue (from the interface)

    def __post_init__(self) -> None:
        self.personal = personal_queue(self.interface)

    @property
    def signed_in(self) -> bool:
        """In her personal queue: Hotline signed her in (module rules)."""
        return self.personal is not None and self.personal in self.queues

    @property
    def hotline_queues(self) -> list[str]:
        """The queues she takes callers from (her personal queue is her presence)."""
        return sorted(q for q in self.queues if q != self.personal)


@dataclass(frozen=True, kw_only=True)
class AgentView:
    """One agent as the console shows it (``GET /agent/state``, the ``state`` frame)."""

    interface: str
    agent: str
    queues: tuple[str, ...]
    state: str
    device: str
    paused: bool
    reason: str
    wrapup_until: datetime | None
    wrapup_linkedid: str | None
    call: CallInfo | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "interface": self.interface, "agent": self.agent, "queues": list(self.queues),
            "state": self.state, "device": self.device, "paused": self.paused,
            "reason": self.reason,
            "wrapup_until": self.wrapup_until.isoformat() if self.wrapup_until else None,
            "wrapup_linkedid": self.wrapup_linkedid,
            "call": self.call.to_dict() if self.call else None,
        }


def signed_out_view(interface: str, agent: str = "") -> AgentView:
    """The view of an agent the PBX has said nothing about."""
    return AgentView(interface=interface, agent=agent, queues=(), state="signed-out",
                     device="unknown", paused=False, reason="", wrapup_until=None,
                     wrapup_linkedid=None, call=None)


# --- effects ------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class StateChanged:
    view: AgentView


@dataclass(frozen=True, kw_only=True)
class WrapupStarted:
    interface: str
    linkedid: str
    until: datetime
    pause: bool  # ask the PBX: QueuePause Reason=wrap-up


@dataclass(frozen=True, kw_only=True)
class WrapupEnded:
    interface: str
    linkedid: str
    why: str  # saved | timer | ready | new-call | signed-out
    unpause: bool  # ask the PBX: QueuePause Paused=false


@dataclass(frozen=True, kw_only=True)
class Unpause:
    """Lift a left-over wrap-up pause (no wrap-up of ours runs)."""

    interface: str


Effect = StateChanged | WrapupStarted | WrapupEnded | Unpause


# --- the derivation table -------------------------------------------------------------


def _own_pause(a: _Agent) -> bool:
    return a.paused and a.reason != WRAPUP_REASON


DERIVATION: tuple[tuple[str, Callable[[_Agent], bool]], ...] = (
    ("signed-out", lambda a: not a.signed_in),
    ("ringing", lambda a: a.device in RINGING_DEVICES or (
        a.call is not None and a.call.state == "ringing")),
    ("busy", lambda a: a.device in BUSY_DEVICES or (
        a.call is not None and a.call.state == "talking")),
    ("paused", _own_pause),
    ("wrap-up", lambda a: a.wrapup_until is not None),
    ("paused", lambda a: a.paused),
    ("ready", lambda a: True),
)


def derive(a: _Agent) -> str:
    """The console state of ``a`` (first matching row of ``DERIVATION``)."""
    for state, test in DERIVATION:
        if test(a):
            return state
    return "ready"  # pragma: no cover - the last row always matches


def _view(a: _Agent) -> AgentView:
    return AgentView(interface=a.interface, agent=a.agent, queues=tuple(a.hotline_queues),
                     state=derive(a), device=a.device, paused=a.paused, reason=a.reason,
                     wrapup_until=a.wrapup_until, wrapup_linkedid=a.wrapup_linkedid,
                     call=a.call)


class AgentBoard:
    """Every agent the PBX has told us about, and their wrap-up timers."""

    def __init__(self, *, wrapup_s: float = 30.0) -> None:
        self.wrapup = timedelta(seconds=max(0.0, wrapup_s))
        self._agents: dict[str, _Agent] = {}
        self.ignored = 0
        # Indexes kept by ``_change`` (every change of an agent's call or timers goes
        # through it), so an event costs the same with 2,000 agents as with 20: the
        # agents on each call, and the agents with a wrap-up or stale-pause deadline.
        self._by_call: dict[str, set[str]] = {}
        self._timed: set[str] = set()
        self._order: dict[str, int] = {}  # interface -> when first seen (board order)

    # --- reading ------------------------------------------------------------------

    def view(self, interface: str) -> AgentView | None:
        a = self._agents.get(interface)
        return _view(a) if a is not None else None

    def views(self) -> list[AgentView]:
        return [_view(a) for a in self._agents.values()]

    def queues(self) -> set[str]:
        """Every queue some agent takes callers from (no personal queue)."""
        return {q for a in self._agents.values() for q in a.hotline_queues}

    def took(self, linkedid: str) -> tuple[bool, frozenset[str]]:
        """(whether any agent has or had call ``linkedid``, the interfaces of the agents
        who took it: talking on it now, or answered or placed it lately)."""
        seen, takers = False, set()
        for a in self._agents.values():
            current = a.call is not None and a.call.linkedid == linkedid
            if current or linkedid in a.taken or a.wrapup_linkedid == linkedid:
                seen = True
            if linkedid in a.taken or (current and a.call is not None
                                       and a.call.state == "talking"):
                takers.add(a.interface)
        return seen, frozenset(takers)

    def rang(self, linkedid: str) -> frozenset[str]:
        """The interfaces of the agents call ``linkedid`` rang lately (answered or not)."""
        return frozenset(a.interface for a in self._agents.values() if linkedid in a.rung)

    def next_deadline(self) -> datetime | None:
        """When the earliest running wrap-up runs out (None: none runs)."""
        ends = [t for a in self._agents_in(self._timed)
                for t in (a.wrapup_until, a.stale_until) if t is not None]
        return min(ends) if ends else None

    # --- inputs ---------------------------------------------------------------------

    def feed(self, event: DomainEvent, now: datetime) -> list[Effect]:
        """The effects of one domain event."""
        if isinstance(event, QueueMemberChanged):
            return self._change(event.interface, event.agent, now,
                                lambda a: self._membership(a, event))
        if isinstance(event, AgentStateChanged):
            out = self._change(event.interface, event.agent, now,
                               lambda a: self._device(a, event, now))
            if not any(isinstance(e, StateChanged) for e in out):
                out.append(StateChanged(view=_view(self._agents[event.interface])))
            return out
        if isinstance(event, AgentRinging):
            return self._change(event.interface, event.agent, now,
                                lambda a: self._ringing(a, event, now))
        if isinstance(event, AgentRingNoAnswer):
            return self._on_call(event.interface, event.linkedid, now, self._no_answer)
        if isinstance(event, CallAnswered):
            return self._change(event.interface, event.agent, now,
                                lambda a: self._answered(a, event, now))
        if isinstance(event, CallTransferred):
            return self._transferred(event, now)
        if isinstance(event, CallEnded):
            return self._ended(event, now)
        self.ignored += 1
        return []

    def log_saved(self, interface: str, linkedid: str, now: datetime) -> list[Effect]:
        """The agent saved the log of ``linkedid``: its wrap-up (if any) ends."""
        a = self._agents.get(interface)
        if a is None:
            return []

        def saved(a: _Agent) -> list[Effect]:
            a.logged.append(linkedid)
            if a.wrapup_linkedid == linkedid:
                return self._end_wrapup(a, "saved")
            return []

        return self._change(interface, a.agent, now, saved)

    def agent_ready(self, interface: str, now: datetime) -> list[Effect]:
        """The agent asked to go ready: a running wrap-up ends (the caller unpauses)."""
        a = self._agents.get(interface)
        if a is None or a.wrapup_until is None:
            return []
        return self._change(interface, a.agent, now,
                            lambda a: self._end_wrapup(a, "ready", unpause=False))

    def tick(self, now: datetime) -> list[Effect]:
        """End every wrap-up whose time has run out (and lift left-over pauses)."""
        out: list[Effect] = []
        for a in self._agents_in(self._timed):
            if a.stale_until is not None and a.stale_until <= now:
                a.stale_until = None
                if self._stale_pause(a):
                    out.append(Unpause(interface=a.interface))
            if a.wrapup_until is not None and a.wrapup_until <= now:
                out.extend(self._change(a.interface, a.agent, now,
                                        lambda a: self._end_wrapup(a, "timer")))
            self._index(a, a.call.linkedid if a.call is not None else None)
        return out

    def _agents_in(self, interfaces: set[str]) -> list[_Agent]:
        """The agents of ``interfaces``, in board order (a copy: safe to change them)."""
        return [self._agents[i] for i in sorted(interfaces, key=self._order.__getitem__)]

    def _index(self, a: _Agent, old_call: str | None) -> None:
        """Bring ``_by_call`` and ``_timed`` up to date with ``a`` (its call was
        ``old_call`` before the change)."""
        new_call = a.call.linkedid if a.call is not None else None
        if old_call != new_call:
            if old_call is not None:
                on_call = self._by_call.get(old_call)
                if on_call is not None:
                    on_call.discard(a.interface)
                    if not on_call:
                        del self._by_call[old_call]
            if new_call is not None:
                self._by_call.setdefault(new_call, set()).add(a.interface)
        if a.wrapup_until is not None or a.stale_until is not None:
            self._timed.add(a.interface)
        else:
            self._timed.discard(a.interface)

    # --- transitions ------------------------------------------------------------------

    def _change(self, interface: str, agent: str, now: datetime,
                apply: Callable[[_Agent], list[Effect]]) -> list[Effect]:
        a = self._agents.get(interface)
        if a is None:
            a = self._agents[interface] = _Agent(interface=interface, agent=agent or interface)
            self._order[interface] = len(self._order)
        elif agent:
            a.agent = agent
        before = _view(a)
        old_call = a.call.linkedid if a.call is not None else None
        out = apply(a)
        self._index(a, old_call)
        after = _view(a)
        if after != before:
            out.append(StateChanged(view=after))
        return out

    def _membership(self, a: _Agent, event: QueueMemberChanged) -> list[Effect]:
        if event.change == "removed":
            a.queues.discard(event.queue)
        elif event.queue:
            a.queues.add(event.queue)
        if not a.signed_in and a.wrapup_until is not None:
            return self._end_wrapup(a, "signed-out", unpause=False)
        return []

    def _device(self, a: _Agent, event: AgentStateChanged, now: datetime) -> list[Effect]:
        a.device, a.paused, a.reason = event.state, event.paused, event.reason
        if not self._stale_pause(a):
            a.stale_until = None
        elif a.stale_until is None:
            a.stale_until = now + (self.wrapup or timedelta(0))
        return []

    @staticmethod
    def _stale_pause(a: _Agent) -> bool:
        return (a.paused and a.reason == WRAPUP_REASON and a.wrapup_until is None
                and not a.wrapup_paused and a.signed_in)

    def _ringing(self, a: _Agent, event: AgentRinging, now: datetime) -> list[Effect]:
        out: list[Effect] = []
        if a.wrapup_until is not None:
            out.extend(self._end_wrapup(a, "new-call"))
        a.call = CallInfo(linkedid=event.linkedid, queue=event.queue, caller=event.caller,
                          caller_name=event.caller_name, agent_channel=event.agent_channel,
                          state="ringing", since=now)
        if event.linkedid not in a.rung:
            a.rung.append(event.linkedid)
        if event.direction == "outbound" and not event.consult:
            self._took(a, event.linkedid)  # her own call: hers whether or not it is answered
        return out

    @staticmethod
    def _took(a: _Agent, linkedid: str) -> None:
        if linkedid not in a.taken:
            a.taken.append(linkedid)

    def _answered(self, a: _Agent, event: CallAnswered, now: datetime) -> list[Effect]:
        out: list[Effect] = []
        if a.wrapup_until is not None:
            out.extend(self._end_wrapup(a, "new-call"))
        previous = a.call if a.call is not None and a.call.linkedid == event.linkedid else None
        a.call = CallInfo(
            linkedid=event.linkedid, queue=event.queue,
            caller=previous.caller if previous else None,
            caller_name=previous.caller_name if previous else None,
            agent_channel=event.agent_channel or (previous.agent_channel if previous else ""),
            state="talking", since=now)
        self._took(a, event.linkedid)
        return out

    @staticmethod
    def _no_answer(a: _Agent, now: datetime) -> list[Effect]:
        if a.call is not None and a.call.state == "ringing":
            a.call = None
        return []

    def _on_call(self, interface: str, linkedid: str, now: datetime,
                 apply: Callable[[_Agent, datetime], list[Effect]]) -> list[Effect]:
        a = self._agents.get(interface)
        if a is None or a.call is None or a.call.linkedid != linkedid:
            return []
        return self._change(interface, a.agent, now, lambda a: apply(a, now))

    def _transferred(self, event: CallTransferred, now: datetime) -> list[Effect]:
        if event.result != "Success":
            return []
        out: list[Effect] = []
        for a in self._agents_in(self._by_call.get(event.linkedid, set())):
            call = a.call
            if call is None or call.linkedid != event.linkedid or call.state != "talking":
                continue
            if event.by not in (None, a.agent, a.interface, call.agent_channel):
                continue  # another agent of the same call transferred it
            out.extend(self._change(a.interface, a.agent, now,
                                    lambda a: self._call_over(a, now)))
        return out

    def _ended(self, event: CallEnded, now: datetime) -> list[Effect]:
        out: list[Effect] = []
        for a in self._agents_in(self._by_call.get(event.linkedid, set())):
            if a.call is not None and a.call.linkedid == event.linkedid:
                out.extend(self._change(a.interface, a.agent, now,
                                        lambda a: self._call_over(a, now)))
        return out

    def _call_over(self, a: _Agent, now: datetime) -> list[Effect]:
        call, a.call = a.call, None
        if call is None or call.state != "talking" or not self.wrapup:
            return []
        if call.linkedid in a.logged or not a.signed_in:
            return []  # logged already, or signed out meanwhile: nothing to wait for
        pause = not a.paused
        a.wrapup_linkedid, a.wrapup_until = call.linkedid, now + self.wrapup
        a.wrapup_paused = pause
        return [WrapupStarted(interface=a.interface, linkedid=call.linkedid,
                              until=a.wrapup_until, pause=pause)]

    def _end_wrapup(self, a: _Agent, why: str, *, unpause: bool | None = None) -> list[Effect]:
        linkedid = a.wrapup_linkedid
        if linkedid is None:
            return []
        requested, a.wrapup_paused = a.wrapup_paused, False
        a.wrapup_linkedid = a.wrapup_until = None
        if unpause is None:
            # our pause may not be confirmed yet (the actions run in order, so the
            # unpause follows it); a pause of the agent's own is never lifted
            ours = (a.paused and a.reason == WRAPUP_REASON) or (requested and not _own_pause(a))
            unpause = ours and a.signed_in
        return [WrapupEnded(interface=a.interface, linkedid=linkedid, why=why, unpause=unpause)]
