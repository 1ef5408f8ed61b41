"""The agent console's websocket hub: the screen pop, pushed to the right agent.

Rules:
- one socket (or a few: tabs) per signed-in agent, keyed by the agent interface of the
  user the session cookie names; the handshake is authenticated BEFORE the upgrade
  (``agent_console.socket_auth``); an agent only ever receives frames for her own
  interface;
- every socket has its own bounded send queue and sender task
  (``agent_console.socket_client``): a slow or stalled browser never delays anyone
  else's pop. On overflow the client's backlog is dropped, it gets a ``resync`` frame
  followed by its agent's current state, then the new frame;
- one pump task reads a bus subscription (AgentRinging, CallAnswered,
  AgentRingNoAnswer, CallEnded). On AgentRinging it resolves the 360 view
  (``agent_console.pop_lookup``: the agent's own permissions, duplicate candidates for
  an unknown caller) and sends the pop to that agent's sockets only. Lookups run
  concurrently; each agent's frames still go out in event order
  (``agent_console.pop_lanes``), so the pop always precedes the same call's
  ``answered``/``missed``/``ended`` frames. An agent's own outbound call
  (click-to-dial, callback) comes as the same AgentRinging / CallAnswered with
  ``direction`` outbound (``telephony.tracker``): no special case here;
- the agent's state and wrap-up frames come from ``agent_console.wrapup`` through
  ``send_state`` / ``send_wrapup`` (the hub only routes and keeps them);
- the current state per agent (the ringing/answered call's pop, the last state, a
  running wrap-up) is kept, so a (re)connecting page gets it at once: a call that
  started ringing while the socket was down still pops; an agent nothing was sent
  about yet gets its state from ``state_of`` (signed out, if the PBX said nothing);
- sign-out: ``close_session(sid)`` closes every socket opened with that session
  (the API calls it when the session is signed out, on this node or, with Redis, on
  another); a signed-out session's handshake is refused on every node;
- several nodes: each node's hub reads the whole bus and serves the sockets it
  holds, so the pop reaches whichever node holds the agent's socket;
- bad input (an odd event, a failing lookup) is logged and counted, never raised
  out of the pump.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp_session import AbstractStorage
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from agent_console import pop
from agent_console.pop_lanes import Lanes, Step
from agent_console.pop_lookup import PopLookup
from agent_console.socket_auth import Agent, SessionCheck, SocketAuth
from agent_console.socket_client import SocketClient, serve, websocket
from crm_core.lookup import Db
from telephony.events import (
    AgentRinging,
    AgentRingNoAnswer,
    CallAnswered,
    CallEnded,
    DomainEvent,
)

log = logging.getLogger("agent_console.hub")

HUB_EVENT_TYPES = frozenset({"AgentRinging", "CallAnswered", "AgentRingNoAnswer", "CallEnded"})
RESYNC_FRAME = pop.dumps(pop.RESYNC)

__all__ = ["HUB_EVENT_TYPES", "Agent", "AgentClient", "PopHub"]


class AgentClient(SocketClient):
    """One agent's browser socket. A full queue drops its backlog for a ``resync`` frame
    and the agent's current state (``state``: her kept frames)."""

    def __init__(self, agent: Agent, maxsize: int,
                 state: Callable[[], list[str]] = list) -> None:
        if maxsize < 4:
            raise ValueError("client queue must hold at least 4 frames")
        super().__init__(maxsize, overflow=self._resync)
        self.agent = agent
        self.state = state
        self.resyncs = 0

    def _resync(self, _client: SocketClient) -> list[str]:
        self.drop_backlog()
        self.resyncs += 1
        return [RESYNC_FRAME, *self.state()]


@dataclass
class _AgentState:
    pop_frame: str | None = None
    linkedid: str | None = None
    state_frame: str | None = None
    wrapup_frame: str | None = None

    def frames(self) -> list[str]:
        return [f for f in (self.state_frame, self.pop_frame, self.wrapup_frame)
                if f is not None]


class PopHub:
    """Routes screen pops and call steps to the sockets of the agent concerned."""

    def __init__(
        self, reader: Db, users: AsyncEngine, storage: AbstractStorage, *,
        region: str = "CN", client_queue: int = 64,
        revoked: SessionCheck | None = None,
        state_of: Callable[[str], dict[str, Any]] | None = None,
        recording_base_url: str = "",
    ) -> None:
        self.client_queue = client_queue
        # the agent's state frame for a socket that connects before any state was sent
        self.state_of = state_of
        self.clients: dict[str, set[AgentClient]] = {}
        self.states: dict[str, _AgentState] = {}
        self.counts: dict[str, int] = {"events": 0, "pops": 0, "errors": 0, "lookup_failed": 0}
        sessions = async_sessionmaker(users, expire_on_commit=False)
        self.lookups = PopLookup(reader, sessions, region=region,
                                 recording_base_url=recording_base_url, counts=self.counts)
        self.auth = SocketAuth(storage, users, sessions, revoked=revoked)
        self._lanes = Lanes()
        self._running: set[asyncio.Task[dict[str, Any]]] = set()  # lookups under way
        # per call: the interfaces whose kept pop is that call's (``_AgentState.linkedid``),
        # so a call's end finds its agents without reading every agent's state
        self._popped: dict[str, set[str]] = {}

    # --- events -> frames -------------------------------------------------

    async def pump(self, events: AsyncIterator[DomainEvent]) -> None:
        """Read events until cancelled; one bad event never stops the pump."""
        await self.lookups.warm_up()
        try:
            async for event in events:
                self.counts["events"] += 1
                try:
                    self.feed(event)
                except Exception:
                    self.counts["errors"] += 1
                    log.exception("pop hub: could not handle %r", event)
        finally:
            # shutdown: lookups still running are cut short (LookupReader discards their
            # connections) and awaited, so none outlives the hub's reader
            pending = [task for task in self._running if not task.done()]
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    def feed(self, event: DomainEvent) -> None:
        """Route one event without waiting for its lookup (``pop_lanes``)."""
        if isinstance(event, AgentRinging):
            step = Step(event, waits=True)
            lookup = asyncio.create_task(self.lookups.resolve(event), name="pop-lookup")
            self._running.add(lookup)
            lookup.add_done_callback(functools.partial(self._looked_up, event.interface, step))
            self._apply_all(event.interface, self._lanes.add(event.interface, step))
        elif isinstance(event, (CallAnswered, AgentRingNoAnswer)):
            self._queue(event.interface, event)
        elif isinstance(event, CallEnded):
            targets = set(self._popped.get(event.linkedid, ()))
            if event.summary.agent_interface:
                targets.add(event.summary.agent_interface)
            # an agent whose pop for this call is still being looked up (its state does
            # not name the call yet): the ended frame goes behind that pop
            targets |= self._lanes.ringing(event.linkedid)
            for interface in sorted(targets):
                self._queue(interface, event)

    def _queue(self, interface: str, event: DomainEvent) -> None:
        self._apply_all(interface, self._lanes.add(interface, Step(event)))

    def _looked_up(self, interface: str, step: Step,
                   task: asyncio.Task[dict[str, Any]]) -> None:
        self._running.discard(task)
        view = None if task.cancelled() else task.result()  # resolve() never raises
        self._apply_all(interface, self._lanes.done(interface, step, view))

    def _apply_all(self, interface: str, steps: list[Step]) -> None:
        for step in steps:
            try:
                self._apply(interface, step)
            except Exception:
                self.counts["errors"] += 1
                log.exception("pop hub: could not handle %r", step.event)

    def _apply(self, interface: str, step: Step) -> None:
        event = step.event
        if isinstance(event, AgentRinging):
            if step.view is not None:  # None: cancelled, shutting down
                self._ringing(event, step.view)
        elif isinstance(event, (CallAnswered, AgentRingNoAnswer)):
            state = self.states.get(interface)
            if isinstance(event, AgentRingNoAnswer) and state and (
                state.linkedid == event.linkedid
            ):
                self._keep_pop(interface, None, None)
            self._send(interface, event)
        elif isinstance(event, CallEnded):
            state = self.states.get(interface)
            if state is not None and state.linkedid == event.linkedid:
                self._keep_pop(interface, None, None)
            self._send(interface, event)

    def _ringing(self, event: AgentRinging, view: dict[str, Any]) -> None:
        frame = pop.dumps(pop.pop_message(event, view))
        self._keep_pop(event.interface, frame, event.linkedid)
        self.counts["pops"] += 1
        self._deliver(event.interface, frame)

    def _send(self, interface: str, event: DomainEvent) -> None:
        frame = pop.call_frame(event)
        if frame is not None:
            self._deliver(interface, pop.dumps(frame))

    def send_state(self, interface: str, frame: dict[str, Any]) -> None:
        """The agent's new state: kept for (re)connecting pages and sent."""
        text = pop.dumps(frame)
        self._state(interface).state_frame = text
        self._deliver(interface, text)

    def send_wrapup(self, interface: str, frame: dict[str, Any], *, running: bool) -> None:
        """A wrap-up frame (``running``: kept for reconnects until its end frame)."""
        text = pop.dumps(frame)
        self._state(interface).wrapup_frame = text if running else None
        self._deliver(interface, text)

    async def close_session(self, sid: str) -> None:
        """Close every socket opened with the session ``sid`` (it was signed out)."""
        for clients in list(self.clients.values()):
            for client in list(clients):
                if client.agent.sid == sid:
                    client.close()

    def _keep_pop(self, interface: str, frame: str | None, linkedid: str | None) -> None:
        """The pop kept for ``interface``'s (re)connecting pages (None: none now)."""
        state = self._state(interface)
        if state.linkedid is not None and state.linkedid != linkedid:
            popped = self._popped.get(state.linkedid)
            if popped is not None:
                popped.discard(interface)
                if not popped:
                    del self._popped[state.linkedid]
        state.pop_frame, state.linkedid = frame, linkedid
        if linkedid is not None:
            self._popped.setdefault(linkedid, set()).add(interface)

    def _state(self, interface: str) -> _AgentState:
        return self.states.setdefault(interface, _AgentState())

    def _deliver(self, interface: str, frame: str) -> None:
        for client in self.clients.get(interface, ()):
            client.offer(frame)

    # --- sockets ----------------------------------------------------------

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        """``GET /ws/agent``: the agent console's socket."""
        agent, actor = await self.auth.authenticate(request)
        self.lookups.remember(agent.interface, actor)
        ws = websocket()
        await ws.prepare(request)
        state = self._state(agent.interface)
        client = AgentClient(agent, self.client_queue, state.frames)
        # no await between the snapshot and registering: no event can slip between
        client.offer(pop.dumps(pop.hello_frame(agent.interface, agent.name)))
        if state.state_frame is None and self.state_of is not None:
            state.state_frame = pop.dumps(self.state_of(agent.interface))
        for frame in state.frames():
            client.offer(frame)
        self.clients.setdefault(agent.interface, set()).add(client)
        try:
            await serve(ws, client, "pop-ws-sender")
        finally:
            peers = self.clients.get(agent.interface)
            if peers is not None:
                peers.discard(client)
                if not peers:
                    del self.clients[agent.interface]
        return ws
