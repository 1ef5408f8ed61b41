"""The I/O around ``agent_state.AgentBoard``: bus events in, frames and PBX actions out,
and the wrap-up timer.

Rules:
- three owned tasks (``start``/``close``): the pump (one bus subscription: member,
  state and call events), the timer (sleeps until the board's next wrap-up deadline,
  woken early when a wrap-up starts) and the PBX worker; the board is only touched
  from the event loop, synchronously, so there is nothing to lock;
- effects are applied in order: frames go to the hub at once (``send_state``,
  ``send_wrapup``), PBX actions (wrap-up pause / unpause) go to ONE worker queue and
  run one after another, so an unpause never overtakes its pause and a slow PBX never
  holds up the frames; a failed action is logged and counted, never raised;
- no PBX link on this node (``pbx`` None, or its client None): the frames still go
  out (every node keeps the board from the bus), the actions are the AMI owner's;
- the API calls ``log_saved`` / ``agent_ready`` (the board's other inputs).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from agent_console import pop
from agent_console.agent_state import (
    WRAPUP_REASON,
    AgentBoard,
    AgentView,
    Effect,
    StateChanged,
    Unpause,
    WrapupEnded,
    WrapupStarted,
    signed_out_view,
)
from agent_console.pbx_actions import PbxControls, PbxError
from telephony.events import DomainEvent

log = logging.getLogger("agent_console.wrapup")

AGENT_EVENT_TYPES = frozenset({
    "QueueMemberChanged", "AgentStateChanged", "AgentRinging", "AgentRingNoAnswer",
    "CallAnswered", "CallTransferred", "CallEnded",
})


class FrameSink(Protocol):
    """Where the frames go (``agent_console.hub.PopHub``)."""

    def send_state(self, interface: str, frame: dict[str, Any]) -> None: ...

    def send_wrapup(self, interface: str, frame: dict[str, Any], *, running: bool) -> None: ...


def utcnow() -> datetime:
    return datetime.now(UTC)


class AgentStates:
    """The board of every agent, kept from the bus, with its wrap-up timers."""

    def __init__(self, board: AgentBoard, frames: FrameSink, pbx: PbxControls | None = None,
                 *, clock: Callable[[], datetime] = utcnow) -> None:
        self.board = board
        self.frames = frames
        self.pbx = pbx
        self.clock = clock
        self.counts: dict[str, int] = {"events": 0, "errors": 0, "actions": 0,
                                       "actions_failed": 0}
        self._wake = asyncio.Event()
        self._actions: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        # told every agent view that changes (the wallboard and its state log); one that
        # fails is logged, never stops the console's frames
        self.listeners: list[Callable[[AgentView], None]] = []

    # --- reading (the API) ----------------------------------------------------------

    def view(self, interface: str) -> AgentView | None:
        return self.board.view(interface)

    def views(self) -> list[AgentView]:
        return self.board.views()

    def state_frame(self, interface: str) -> dict[str, Any]:
        """The ``state`` frame of ``interface`` now (signed out if the PBX said nothing)."""
        view = self.board.view(interface) or signed_out_view(interface)
        return pop.state_frame(view.to_dict(), self.clock())

    # --- the board's other inputs (the API) ------------------------------------------

    def log_saved(self, interface: str, linkedid: str) -> None:
        self.apply(self.board.log_saved(interface, linkedid, self.clock()))

    def agent_ready(self, interface: str) -> None:
        self.apply(self.board.agent_ready(interface, self.clock()))

    # --- lifecycle --------------------------------------------------------------------

    def start(self, events: AsyncIterator[DomainEvent]) -> None:
        self._tasks = [
            asyncio.create_task(self.pump(events), name="agent-states-pump"),
            asyncio.create_task(self._timer(), name="agent-states-timer"),
            asyncio.create_task(self._worker(), name="agent-states-pbx"),
        ]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    async def pump(self, events: AsyncIterator[DomainEvent]) -> None:
        """Feed the board until cancelled; one bad event never stops it."""
        async for event in events:
            self.counts["events"] += 1
            try:
                self.apply(self.board.feed(event, self.clock()))
            except Exception:
                self.counts["errors"] += 1
                log.exception("agent states: could not handle %r", event)

    # --- effects ----------------------------------------------------------------------

    def apply(self, effects: list[Effect]) -> None:
        now = self.clock()
        for effect in effects:
            if isinstance(effect, StateChanged):
                view = effect.view
                self.frames.send_state(view.interface, pop.state_frame(view.to_dict(), now))
                self._tell(view)
            elif isinstance(effect, WrapupStarted):
                self.frames.send_wrapup(effect.interface, pop.wrapup_frame(
                    effect.interface, effect.linkedid, effect.until), running=True)
                if effect.pause:
                    self._act("pause", effect.interface)
            elif isinstance(effect, WrapupEnded):
                self.frames.send_wrapup(effect.interface, pop.wrapup_end_frame(
                    effect.interface, effect.linkedid, effect.why), running=False)
                if effect.unpause:
                    self._act("unpause", effect.interface)
            elif isinstance(effect, Unpause):
                log.info("lifting a left-over wrap-up pause of %s", effect.interface)
                self._act("unpause", effect.interface)
        if effects:
            self._wake.set()  # the next deadline may have moved

    def _tell(self, view: AgentView) -> None:
        for listener in self.listeners:
            try:
                listener(view)
            except Exception:
                self.counts["errors"] += 1
                log.exception("agent states: a listener failed on %s", view.interface)

    def _act(self, action: str, interface: str) -> None:
        if self.pbx is not None and self.pbx.acts_here:
            self._actions.put_nowait((action, interface))

    async def _worker(self) -> None:
        while True:
            action, interface = await self._actions.get()
            assert self.pbx is not None
            self.counts["actions"] += 1
            try:
                if action == "pause":
                    await self.pbx.pause(interface, WRAPUP_REASON)
                else:
                    await self.pbx.unpause(interface)
            except PbxError as exc:
                self.counts["actions_failed"] += 1
                log.warning("wrap-up %s of %s failed: %s", action, interface, exc.message)
            except Exception:
                self.counts["actions_failed"] += 1
                log.exception("wrap-up %s of %s failed", action, interface)

    async def _timer(self) -> None:
        while True:
            self._wake.clear()  # before reading the deadline: a wrap-up started later wakes us
            deadline = self.board.next_deadline()
            if deadline is None:
                await self._wake.wait()
            else:
                delay = (deadline - self.clock()).total_seconds()
                if delay > 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), delay)
            try:
                self.apply(self.board.tick(self.clock()))
            except Exception:
                self.counts["errors"] += 1
                log.exception("agent states: wrap-up timer failed")
