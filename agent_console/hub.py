"""The agent console's websocket hub: the screen pop, pushed to the right agent.

Rules:
- one socket (or a few: tabs) per signed-in agent, keyed by the agent interface
  of the user the session cookie names (``User.agent_interface``); the handshake
  is authenticated BEFORE the upgrade: no valid session -> 401, a user who is not
  an agent -> 403, a foreign ``Origin`` -> 403; an agent only ever receives frames
  for its own interface;
- every client has its own bounded send queue written by its own sender task: a
  slow or stalled browser never delays anyone else's pop. On overflow the client's
  backlog is dropped, it gets a ``resync`` frame followed by its agent's current
  state, then the new frame;
- one pump task reads a bus subscription (AgentRinging, CallAnswered,
  AgentRingNoAnswer, CallEnded). On AgentRinging it resolves the 360 view (the
  IVR-named customer first, else the caller's number) and sends the pop to that
  agent's sockets only. Lookups run concurrently (as many as the reader has
  connections), so a slow lookup never delays another agent's pop; each agent's
  frames still go out in event order (a per-interface lane), so the pop always
  precedes the same call's ``answered``/``missed``/``ended`` frames. The reader is
  warmed up (one lookup) before the first event, so the first pop is not cold. An
  agent's own outbound call (click-to-dial, callback) comes as the same AgentRinging /
  CallAnswered with ``direction`` outbound (``telephony.tracker``): no special case here;
- the pop applies the agent's own permissions (the CRM core's ``customers``/``read``
  scope): a customer outside it pops as ``restricted`` with only who owns them; the
  agent's actor is loaded at the handshake (and for an agent without a socket, at
  its first pop). An unknown caller's pop lists the duplicate candidates (existing
  customers with the caller name's key, the rule of ``crm_core.duplicates``), found
  within the same time limit as the lookup;
- the agent's state and wrap-up frames come from ``agent_console.wrapup`` through
  ``send_state`` / ``send_wrapup`` (the hub only routes and keeps them);
- the current state per agent (the ringing/answered call's pop, the last state, a
  running wrap-up) is kept, so a (re)connecting page gets it at once: a call that
  started ringing while the socket was down still pops; an agent nothing was sent
  about yet gets its state from ``state_of`` (signed out, if the PBX said nothing);
- sign-out: ``close_session(sid)`` closes every socket opened with that session
  (the API calls it when the session is signed out, on this node or, with Redis, on
  another); ``revoked(sid)`` refuses a signed-out session's handshake on every node;
- several nodes: each node's hub reads the whole bus and serves the sockets it
  holds, so the pop reaches whichever node holds the agent's socket;
- bad input (an odd event, a failing lookup) is logged and counted, never raised
  out of the pump.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import WSMsgType, web
from aiohttp_session import AbstractStorage
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from agent_console import pop
from agent_console.recordings import with_recording_urls
from crm_core.lookup import Db, lookup_360, name_candidates, view_360
from crm_core.models import User
from crm_core.names import name_parts
from crm_core.permissions import Actor, load_actor
from telephony.events import (
    AgentRinging,
    AgentRingNoAnswer,
    CallAnswered,
    CallEnded,
    DomainEvent,
)

log = logging.getLogger("agent_console.hub")

HUB_EVENT_TYPES = frozenset({"AgentRinging", "CallAnswered", "AgentRingNoAnswer", "CallEnded"})
LOOKUP_TIMEOUT_S = 2.0
MAX_CANDIDATES = 5
CLOSE = "\x00close"  # queued to a client's sender: close the socket (signed out)
WS_SIGNED_OUT = 4401  # websocket close code: the session was signed out
# No permessage-deflate on the console's sockets: each compressed socket keeps its own zlib
# state (about 150 KB resident per socket once a pop was sent: 2,000 agents, 300 MB), and
# aiohttp compresses a frame over 16 KB in its thread pool (a hop in the pop's path). A pop
# is a few KB on the call centre's own network; its bytes are not what is short.
WS_COMPRESS = False


@dataclass(frozen=True)
class Agent:
    """Who a socket belongs to."""

    user_id: int
    interface: str
    name: str | None
    sid: str = ""


class AgentClient:
    """One browser socket: its bounded queue of frames waiting to be sent."""

    def __init__(self, agent: Agent, maxsize: int) -> None:
        if maxsize < 4:
            raise ValueError("client queue must hold at least 4 frames")
        self.agent = agent
        self.queue: asyncio.Queue[str] = asyncio.Queue(maxsize)
        self.dropped = 0
        self.resyncs = 0
        self.closing = False

    def close(self) -> None:
        """Ask the sender to close the socket, after nothing else (the backlog is dropped)."""
        if self.closing:
            return
        self.closing = True
        while not self.queue.empty():
            self.queue.get_nowait()
            self.dropped += 1
        self.queue.put_nowait(CLOSE)

    def offer(self, frame: str, state: list[str]) -> None:
        """Queue ``frame``; when full, drop the backlog for resync + ``state``."""
        if self.closing:
            return
        if self.queue.full():
            while not self.queue.empty():
                self.queue.get_nowait()
                self.dropped += 1
            self.resyncs += 1
            self.queue.put_nowait(pop.dumps(pop.RESYNC))
            for item in state[: self.queue.maxsize - 2]:
                self.queue.put_nowait(item)
        self.queue.put_nowait(frame)


@dataclass
class _AgentState:
    pop_frame: str | None = None
    linkedid: str | None = None
    state_frame: str | None = None
    wrapup_frame: str | None = None

    def frames(self) -> list[str]:
        return [f for f in (self.state_frame, self.pop_frame, self.wrapup_frame)
                if f is not None]


@dataclass
class _Step:
    """One event waiting in an agent's lane (``lookup``: a ringing's 360 view)."""

    event: DomainEvent
    lookup: asyncio.Task[dict[str, Any]] | None = None


SessionCheck = Callable[[str], Awaitable[bool]]  # is this session id signed out?


class PopHub:
    """Routes screen pops and call steps to the sockets of the agent concerned."""

    def __init__(
        self, reader: Db, users: AsyncEngine, storage: AbstractStorage, *,
        region: str = "CN", client_queue: int = 64,
        revoked: SessionCheck | None = None,
        state_of: Callable[[str], dict[str, Any]] | None = None,
        recording_base_url: str = "",
    ) -> None:
        self.reader = reader
        self.recording_base_url = recording_base_url  # the pop's calls link their recordings
        self.users = users
        self.storage = storage
        self.region = region
        self.client_queue = client_queue
        self.revoked = revoked
        # the agent's state frame for a socket that connects before any state was sent
        self.state_of = state_of
        self.clients: dict[str, set[AgentClient]] = {}
        self.states: dict[str, _AgentState] = {}
        self.actors: dict[str, Actor | None] = {}  # by interface: whose permissions a pop follows
        self.sessions = async_sessionmaker(users, expire_on_commit=False)
        self.counts: dict[str, int] = {"events": 0, "pops": 0, "errors": 0, "lookup_failed": 0}
        # per interface: steps waiting for an earlier step's lookup (``feed``)
        self._lanes: dict[str, collections.deque[_Step]] = {}
        # per call: the interfaces whose kept pop is that call's (``_AgentState.linkedid``),
        # so a call's end finds its agents without reading every agent's state
        self._popped: dict[str, set[str]] = {}

    # --- events -> frames -------------------------------------------------

    async def pump(self, events: AsyncIterator[DomainEvent]) -> None:
        """Read events until cancelled; one bad event never stops the pump.

        Lookups run concurrently (bounded by the reader's connections), each agent's
        frames go out in event order: see ``feed``."""
        await self.warm_up()
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
            pending = [s.lookup for lane in self._lanes.values() for s in lane
                       if s.lookup is not None and not s.lookup.done()]
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    async def warm_up(self) -> None:
        """One lookup and one candidates query before the first pop: the reader's
        connection open, the statements compiled (and prepared on PostgreSQL)."""
        async def one() -> None:
            await lookup_360(self.reader, "13800000000", region="CN")
            await name_candidates(self.reader, "warm-up", limit=MAX_CANDIDATES)

        try:
            async with asyncio.timeout(LOOKUP_TIMEOUT_S):
                # two at once: both of a default reader's connections are opened
                await asyncio.gather(one(), one())
        except Exception:
            log.warning("pop hub: warm-up lookup failed", exc_info=True)

    def feed(self, event: DomainEvent) -> None:
        """Route one event without waiting for its lookup.

        Each interface has a lane: its steps applied strictly in event order, a step
        with a lookup only once that lookup is done. So one agent's pop always precedes
        the same call's answered/missed/ended frames, while another agent's pop never
        waits for that lookup (its own lane is not behind it)."""
        if isinstance(event, AgentRinging):
            lookup = asyncio.create_task(self._resolve(event), name="pop-lookup")
            self._queue(event.interface, _Step(event, lookup))
            lookup.add_done_callback(functools.partial(self._drained, event.interface))
        elif isinstance(event, (CallAnswered, AgentRingNoAnswer)):
            self._queue(event.interface, _Step(event))
        elif isinstance(event, CallEnded):
            targets = set(self._popped.get(event.linkedid, ()))
            if event.summary.agent_interface:
                targets.add(event.summary.agent_interface)
            # an agent whose pop for this call is still being looked up (its state does
            # not name the call yet): the ended frame goes behind that pop
            targets.update(i for i, lane in self._lanes.items()
                           if any(isinstance(s.event, AgentRinging)
                                  and s.event.linkedid == event.linkedid for s in lane))
            for interface in sorted(targets):
                self._queue(interface, _Step(event))

    def _queue(self, interface: str, step: _Step) -> None:
        self._lanes.setdefault(interface, collections.deque()).append(step)
        self._drain(interface)

    def _drained(self, interface: str, _: object) -> None:
        self._drain(interface)  # a lookup finished: its lane may move on

    def _drain(self, interface: str) -> None:
        """Apply the lane's steps from the front while their lookups are done."""
        lane = self._lanes.get(interface)
        while lane and (lane[0].lookup is None or lane[0].lookup.done()):
            step = lane.popleft()
            try:
                self._apply(interface, step)
            except Exception:
                self.counts["errors"] += 1
                log.exception("pop hub: could not handle %r", step.event)
        if lane is not None and not lane:
            del self._lanes[interface]

    def _apply(self, interface: str, step: _Step) -> None:
        event = step.event
        if isinstance(event, AgentRinging):
            assert step.lookup is not None
            if step.lookup.cancelled():
                return  # shutting down
            self._ringing(event, step.lookup.result())
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

    async def _lookup(self, event: AgentRinging) -> dict[str, Any]:
        actor = await self._actor_of(event.interface)
        customer_id = pop.ivr_customer_id(event.ivr)
        if customer_id is not None:
            view = await view_360(self.reader, customer_id, actor=actor)
            if view.get("found"):
                return with_recording_urls(view, self.recording_base_url)
        view = await lookup_360(self.reader, event.caller, region=self.region, actor=actor)
        if not view.get("found") and event.caller_name:
            view["candidates"] = await self._candidates(event)
        return with_recording_urls(view, self.recording_base_url)

    async def _candidates(self, event: AgentRinging) -> list[dict[str, Any]]:
        """Existing customers an unknown caller may be: the duplicate guard's name rule
        (``crm_core.duplicates``: same ``name_key``, places that agree, tombstones left
        out), as ONE indexed statement on the lookup's held connection (the pop's hot
        path)."""
        parts = name_parts(event.caller_name or "")
        rows = await name_candidates(self.reader, parts.key, limit=MAX_CANDIDATES,
                                     places=parts.places)
        return [{"id": r["id"], "name": r["name"], "reason": "name",
                 "owner": None if r["owner_id"] is None else {
                     "id": r["owner_id"], "display_name": r["owner_name"]}}
                for r in rows]

    async def _actor_of(self, interface: str) -> Actor | None:
        """The permissions of the agent answering as ``interface`` (None: no such user,
        and then nobody can open a socket for that interface anyway)."""
        if interface in self.actors:
            return self.actors[interface]
        async with self.sessions() as db:
            user_id = await db.scalar(select(User.id).where(
                User.agent_interface == interface, User.active.is_(True)))
            actor = await load_actor(db, user_id) if user_id is not None else None
        self.actors[interface] = actor
        return actor

    async def _resolve(self, event: AgentRinging) -> dict[str, Any]:
        # A lookup cut short (time limit, shutdown) is safe: LookupReader discards a
        # connection cancelled mid-statement, so no task or shield is needed here.
        try:
            async with asyncio.timeout(LOOKUP_TIMEOUT_S):
                return await self._lookup(event)
        except Exception:
            # the pop still goes out (as an unknown caller): the agent must see the call
            self.counts["lookup_failed"] += 1
            log.exception("pop hub: 360 lookup failed for %s", event.linkedid)
            return {"found": False, "phone": event.caller, "lookup_failed": True}

    def _frame(self, event: DomainEvent) -> str | None:
        frame = pop.call_frame(event)
        return pop.dumps(frame) if frame is not None else None

    def _send(self, interface: str, event: DomainEvent) -> None:
        frame = self._frame(event)
        if frame is not None:
            self._deliver(interface, frame)

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
        clients = self.clients.get(interface)
        if not clients:
            return
        state = self._state(interface).frames()
        for client in clients:
            client.offer(frame, state)

    # --- sockets ----------------------------------------------------------

    async def authenticate(self, request: web.Request) -> Agent:
        """The agent this handshake belongs to, or an HTTP error before the upgrade."""
        origin = request.headers.get("Origin")
        if origin is not None and origin.split("://", 1)[-1] != request.host:
            raise web.HTTPForbidden(text="foreign origin")
        session = await self.storage.load_session(request)
        user_id, sid = session.get("uid"), session.get("sid")
        if session.new or not isinstance(user_id, int) or not isinstance(sid, str):
            raise web.HTTPUnauthorized(text="sign in first")
        if self.revoked is not None and await self.revoked(sid):
            raise web.HTTPUnauthorized(text="this session was signed out")
        async with self.users.connect() as conn:
            row = (await conn.execute(
                select(User.agent_interface, User.agent_name, User.active)
                .where(User.id == user_id)
            )).one_or_none()
        if row is None or not row.active:
            raise web.HTTPUnauthorized(text="sign in first")
        if not row.agent_interface:
            raise web.HTTPForbidden(text="this user does not answer calls")
        async with self.sessions() as db:
            # fresh at every handshake: a changed role applies from the next connect
            self.actors[row.agent_interface] = await load_actor(db, user_id)
        return Agent(user_id, row.agent_interface, row.agent_name, sid)

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        """``GET /ws/agent``: the agent console's socket."""
        agent = await self.authenticate(request)
        ws = web.WebSocketResponse(heartbeat=30, compress=WS_COMPRESS)
        await ws.prepare(request)
        client = AgentClient(agent, self.client_queue)
        # no await between the snapshot and registering: no event can slip between
        client.offer(pop.dumps(pop.hello_frame(agent.interface, agent.name)), [])
        state = self._state(agent.interface)
        if state.state_frame is None and self.state_of is not None:
            state.state_frame = pop.dumps(self.state_of(agent.interface))
        for frame in state.frames():
            client.offer(frame, [])
        self.clients.setdefault(agent.interface, set()).add(client)
        sender = asyncio.create_task(_send_loop(ws, client), name="pop-ws-sender")
        try:
            async for msg in ws:  # nothing from the page is needed; read to see it close
                if msg.type == WSMsgType.ERROR:
                    break
        finally:
            peers = self.clients.get(agent.interface)
            if peers is not None:
                peers.discard(client)
                if not peers:
                    del self.clients[agent.interface]
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender
        return ws


async def _send_loop(ws: web.WebSocketResponse, client: AgentClient) -> None:
    while True:
        frame = await client.queue.get()
        try:
            if frame == CLOSE:
                await ws.close(code=WS_SIGNED_OUT, message=b"signed out")
                return
            await ws.send_str(frame)
        except (ConnectionError, RuntimeError):
            return

