"""The supervisors' wallboard (``/wallboard``): today's figures per queue and per number
dialled, the agents by state with their time in it, the callers waiting; pushed over a
websocket within moments of the event.

Rules:
- the figures are ``wallboard_state.Board`` (``crm_core.kpi_book``), fed by the bus
  (``CallQueued``/``CallAnswered``/``CallEnded``) and by the console's agent views
  (``on_view``: every ``StateChanged`` of ``AgentStates``), which also become state
  spans for the state log (``crm_core.agent_spans.SpanWriter``, on the one writing
  node); at start the board is loaded from the call log and the state log of today;
- at midnight (Asia/Shanghai) the open spans are cut, the day closes and a new board
  starts; the callers waiting stay;
- the gate is ``reports``/``read`` (the page and its socket); a viewer whose scope is
  ``team`` sees their team's agents only (``kpi_report.visible_agents``), queues and
  numbers are the hotline's;
- pushing: an event marks the board changed; one task builds a frame per kind of
  viewer (all, a team, nobody) at most every ``min_interval_s`` and offers it to each
  client's own bounded queue (a slow TV loses its oldest frames, never delays the
  others; a board that lost a frame is whole again at the next full one); each frame
  carries ``now``, so the page counts time in state and waits on between frames;
- frames: ``{"v": 1, "type": "board", ...}``; a socket's first frame and one every
  ``full_every_s`` carry every agent (``full``), the others only the agents that changed
  (``agents_changed``): 200 agents' rows to 50 boards at every event was most of the
  cost (``benchmarks/wallboard.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agent_console.agent_state import AgentView
from agent_console.api.routing import SESSIONMAKER
from agent_console.pages import _to_login, require_signed_in, signed_in_user
from agent_console.socket_client import SocketClient, serve, websocket
from agent_console.wallboard_state import Board, SpanLog, rules_dict
from crm_core import kpi
from crm_core.agent_spans import SpanWriter
from crm_core.kpi import FORMULAS, QueueRules, SpanRow
from crm_core.kpi_report import period_book, visible_agents
from crm_core.models import IvrNumber, User
from crm_core.permissions import Actor, PermissionDenied, load_actor
from telephony.events import DomainEvent

log = logging.getLogger("agent_console.wallboard")

STATIC = Path(__file__).parent / "static"
FRAME_VERSION = 1
WALLBOARD_EVENT_TYPES = frozenset({"CallQueued", "CallAnswered", "CallEnded"})
Canonical = Callable[[str | None], str | None]


def utcnow() -> datetime:
    return datetime.now(UTC)


class _Viewer:
    def __init__(self, client: SocketClient, key: str, visible: Callable[[str], bool]) -> None:
        self.client, self.key, self.visible = client, key, visible


class WallboardHub:
    """Today's board, its state spans, and the wallboards watching it."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], *,
                 rules: Mapping[str, QueueRules], canonical: Canonical,
                 writer: SpanWriter | None = None, clock: Callable[[], datetime] = utcnow,
                 min_interval_s: float = 0.05, client_queue: int = 8) -> None:
        self.sessionmaker = sessionmaker
        self.rules = rules
        self.canonical = canonical
        self.writer = writer
        self.clock = clock
        self.min_interval_s = min_interval_s
        self.client_queue = client_queue
        self.board = Board.for_day(clock(), rules, canonical)
        self.spans = SpanLog()
        self.viewers: set[_Viewer] = set()
        self.team_of: dict[str, str | None] = {}
        self.names: dict[str, str] = {}
        self.numbers: dict[str, dict[str, Any]] = {}  # the number plan: kind, label
        self.queues: set[str] = set()
        self.frames = 0
        self._changed: list[str] = []
        self._agents_changed: set[str] = set()
        self._last_full = float("-inf")
        self.full_every_s = 10.0  # the agents' figures (occupancy) drift with time
        self._dirty = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    # --- lifecycle -------------------------------------------------------------------

    async def load(self) -> None:
        """Today's board from the logs, and the agents' names and teams, the plan."""
        now = self.clock()
        async with self.sessionmaker() as db:
            book = await period_book(db, self.board.book.start, self.board.book.end,
                                     self.rules, self.canonical)
            await self._load_people(db)
            for number in await db.scalars(select(IvrNumber).where(IvrNumber.active)):
                self.numbers[self.canonical(number.number) or number.number] = {
                    "kind": number.kind, "label": number.label, "queue": number.queue}
                if number.queue:
                    self.queues.add(number.queue)
        self.board.book = book
        log.info("wallboard loaded: %d calls today (%s)", len(book.seen), now.isoformat())

    async def _load_people(self, db: AsyncSession) -> None:
        rows = await db.execute(select(User.agent_interface, User.team, User.display_name,
                                       User.username).where(User.agent_interface.is_not(None)))
        for interface, team, display, username in rows:
            self.team_of[str(interface)] = team
            self.names[str(interface)] = display or username

    def start(self, events: AsyncIterator[DomainEvent]) -> None:
        self._tasks = [asyncio.create_task(self.pump(events), name="wallboard-pump"),
                       asyncio.create_task(self._pusher(), name="wallboard-push"),
                       asyncio.create_task(self._ticker(), name="wallboard-day")]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    # --- inputs ---------------------------------------------------------------------

    async def pump(self, events: AsyncIterator[DomainEvent]) -> None:
        async for event in events:
            try:
                self.feed(event)
            except Exception:
                log.exception("wallboard: could not handle %r", event)

    def feed(self, event: DomainEvent) -> None:
        self.roll(self.clock())
        if self.board.feed(event):
            self._changed.append(str(getattr(event, "linkedid", "")))
            self._dirty.set()

    def on_view(self, view: AgentView) -> None:
        """An agent's console view changed (``AgentStates``): spans, and the board."""
        now = self.clock()
        self.roll(now)
        closed = self.spans.feed(view, now)
        self._closed(closed)
        self._changed.append(view.interface)
        self._agents_changed.add(view.interface)
        self._dirty.set()

    def _closed(self, spans: list[SpanRow]) -> None:
        for span in spans:
            self.board.book.add_span(span)
        if spans and self.writer is not None:
            self.writer.offer(spans)

    def checkpoint(self, now: datetime) -> None:
        """Close every open span at ``now`` (into the board and the state log) and open it
        again: what midnight does, and what a test or a report of "until now" needs."""
        self._closed(self.spans.cut(now))

    def roll(self, now: datetime) -> bool:
        """At the day's end: cut the open spans there, start the next day's board."""
        end = self.board.book.end
        if now < end:
            return False
        self._closed(self.spans.cut(end))
        waiting = self.board.waiting
        self.board = Board.for_day(now, self.rules, self.canonical)
        self.board.waiting = waiting
        self._dirty.set()
        return True

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            self.roll(self.clock())

    # --- frames ---------------------------------------------------------------------

    def frame(self, visible: Callable[[str], bool], *, full: bool = True) -> dict[str, Any]:
        """The board for a viewer; not ``full``: only the agents that changed since the
        last push (``agents_changed``, merged by the page), else all (``agents``)."""
        now = self.clock()
        board, book = self.board, self.board.book
        agents = book.agents(self.spans.open, now, None if full else self._agents_changed)
        rows = []
        for agent, figures in agents.items():
            if not visible(agent):
                continue
            span = self.spans.open.get(agent)
            # what the grid shows (the report has the rest): a frame goes to every board
            rows.append({"agent": agent, "name": self.names.get(agent, agent),
                         "team": self.team_of.get(agent),
                         "state": span.state if span else "signed-out",
                         "reason": span.reason if span else None,
                         "since": span.started_at.isoformat() if span else None,
                         "answered": figures.get("answered", 0),
                         "occupancy": figures["occupancy"], "aht_s": figures.get("aht_s")})
        teams = book.teams(self.team_of, {a: s for a, s in self.spans.open.items()
                                          if visible(a)}, now) if full else {}
        numbers = []
        for tile in board.number_tiles(now, self.numbers):
            numbers.append({**tile, **self.numbers.get(tile["number"], {"kind": "unknown"})})
        queues = board.queue_tiles(now, self.queues)
        for tile in queues:
            waits = [w.since for w in board.waiting.values() if w.queue == tile["queue"]]
            tile["oldest_since"] = min(waits).isoformat() if waits else None
        return {
            # first: a client after the calls it shows finds them without reading on
            "changed": self._changed[-500:],
            "v": FRAME_VERSION, "type": "board", "now": now.isoformat(),
            "day": kpi.bucket(book.start, "day").date().isoformat(),
            "queues": queues, "numbers": numbers,
            "full": full, "agents" if full else "agents_changed": rows,
            # per team, in full frames only (the agents' figures summed)
            "teams": [{"team": t, "occupancy": f["occupancy"], "answered": f.get("answered"),
                       "aht_s": f.get("aht_s")} for t, f in teams.items()
                      if any(visible(a) and (self.team_of.get(a) or "") == t for a in agents)],
            "waiting": board.waiting_list(now),
            "formulas": FORMULAS, "defaults": rules_dict(kpi.rules_for(self.rules, None)),
        }

    def push(self) -> None:
        loop_time = asyncio.get_running_loop().time()
        full = loop_time - self._last_full >= self.full_every_s
        by_key: dict[str, str] = {}
        for viewer in list(self.viewers):
            text = by_key.get(viewer.key)
            if text is None:
                text = by_key[viewer.key] = json.dumps(
                    self.frame(viewer.visible, full=full), ensure_ascii=False)
            viewer.client.offer(text)
        self._changed = []
        self._agents_changed = set()
        if full:
            self._last_full = loop_time
        self.frames += 1

    async def _pusher(self) -> None:
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            try:
                if self.viewers:
                    self.push()
                else:
                    self._changed, self._agents_changed = [], set()
            except Exception:
                log.exception("wallboard: frame failed")
            await asyncio.sleep(self.min_interval_s)

    # --- sockets ----------------------------------------------------------------------

    async def handle(self, request: web.Request, actor: Actor) -> web.WebSocketResponse:
        visible = visible_agents(actor, self.team_of)
        scope = actor.grants.get(("reports", "read"), "all") if not actor.is_admin else "all"
        key = {"all": "all", "region": "all", "team": f"team:{actor.team}"}.get(scope, "none")
        ws = websocket()
        await ws.prepare(request)
        viewer = _Viewer(SocketClient(self.client_queue), key, visible)
        self.viewers.add(viewer)
        try:
            viewer.client.offer(json.dumps(self.frame(visible), ensure_ascii=False))
            await serve(ws, viewer.client, "wallboard-ws-sender")
        finally:
            self.viewers.discard(viewer)
        return ws


async def wallboard_actor(request: web.Request, user_id: int) -> Actor:
    """The signed-in user as an actor allowed a wallboard, or 403."""
    async with request.config_dict[SESSIONMAKER]() as db:
        actor = await load_actor(db, user_id)
    if actor is None:
        raise web.HTTPUnauthorized(text="sign in first")
    try:
        visible_agents(actor, {})
    except PermissionDenied:
        raise web.HTTPForbidden(text="the wallboard needs reports:read") from None
    return actor


def add_routes(app: web.Application, hub: Callable[[], WallboardHub]) -> None:
    """``/wallboard`` (page, ``?tv=1`` for a TV) and ``/ws/wallboard`` (its socket)."""
    async def page(request: web.Request) -> web.StreamResponse:
        who = await signed_in_user(request)
        if who is None:
            raise _to_login(request)
        await wallboard_actor(request, who.user_id)
        return web.FileResponse(STATIC / "wallboard.html", headers={"Cache-Control": "no-cache"})

    async def socket(request: web.Request) -> web.StreamResponse:
        actor = await wallboard_actor(request, await require_signed_in(request))
        return await hub().handle(request, actor)

    app.router.add_get("/wallboard", page)
    app.router.add_get("/ws/wallboard", socket)
