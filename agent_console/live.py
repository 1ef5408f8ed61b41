"""The live calls page: calls in progress and the latest logged calls, pushed
over a websocket.

Rules:
- one hub task reads a lossy bus subscription and fans each event out to every
  connected browser's own bounded send queue; a slow or stalled browser loses
  its oldest frames (and is told to reload), it never delays anyone else;
- only a websocket's handler task reads that socket; its sender task writes;
- a (re)connecting page first gets a snapshot of the current state;
- frames are typed, versioned JSON: ``{"v": 1, "type": ..., ...}``;
- caller names come from the phone network: the page renders them as text;
- callers' numbers and names are for staff only: the page, its socket and
  ``/api/calls`` need a signed-in user (the console's session).
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from agent_console.pages import page_for_signed_in, require_signed_in
from agent_console.socket_client import SocketClient, serve, websocket
from telephony.events import DomainEvent

log = logging.getLogger("agent_console.live")

STATIC = Path(__file__).parent / "static"
FRAME_VERSION = 1

Snapshot = Callable[[], Awaitable[dict[str, Any]]]


class LiveHub:
    """Fans domain events out to the connected live pages."""

    def __init__(self, snapshot: Snapshot, *, client_queue: int = 256) -> None:
        self._snapshot = snapshot
        self._client_queue = client_queue
        self.clients: set[SocketClient] = set()

    def broadcast(self, event: DomainEvent) -> None:
        if not self.clients:
            return  # nobody watches: no frame to build (every AMI-driven event comes here)
        frame = json.dumps(
            {"v": FRAME_VERSION, "type": "event", "event": event.to_dict()}, ensure_ascii=False
        )
        for client in self.clients:
            client.offer(frame)

    async def pump(self, events: AsyncIterator[DomainEvent]) -> None:
        async for event in events:
            self.broadcast(event)

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = websocket()  # uncompressed, as the console's sockets (socket_client)
        await ws.prepare(request)
        # a slow page loses its oldest frames (each event sets an absolute state)
        client = SocketClient(self._client_queue)
        # listen BEFORE the snapshot: an event during its database reads would otherwise be
        # lost (a call queued meanwhile shown in the IVR forever); events from before the
        # snapshot replay harmlessly on top of it (each sets an absolute state)
        self.clients.add(client)
        try:
            snap = await self._snapshot()
            client.offer_first(json.dumps({"v": FRAME_VERSION, "type": "snapshot", **snap},
                                          default=str))
            await serve(ws, client, "live-ws-sender")
        finally:
            self.clients.discard(client)
        return ws


async def index(request: web.Request) -> web.FileResponse:
    await page_for_signed_in(request)
    return web.FileResponse(STATIC / "live.html")


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def add_routes(
    app: web.Application, ws_handler: Handler, calls_json: Callable[[], Awaitable[Any]]
) -> None:
    async def api_calls(request: web.Request) -> web.Response:
        await require_signed_in(request)
        return web.json_response(await calls_json(), dumps=lambda o: json.dumps(o, default=str))

    async def socket(request: web.Request) -> web.StreamResponse:
        await require_signed_in(request)  # before the upgrade: a plain 401
        return await ws_handler(request)

    app.router.add_get("/live", index)  # "/" leads to sign-in and the console
    app.router.add_get("/ws", socket)
    app.router.add_get("/api/calls", api_calls)
    app.router.add_static("/static/", STATIC)
