"""The live page's hub over a real websocket: an event published while a new page's
snapshot is being read (database awaits) is not lost, and comes after the snapshot."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import websockets
from aiohttp import web

from agent_console.live import LiveHub
from telephony.events import CallQueued


async def test_an_event_during_the_snapshot_reaches_the_new_page_after_it() -> None:
    reading = asyncio.Event()
    release = asyncio.Event()

    async def snapshot() -> dict[str, Any]:
        reading.set()
        await release.wait()  # the database reads of the real snapshot
        return {"live": [], "latest": []}

    hub = LiveHub(snapshot)
    app = web.Application()
    app.router.add_get("/ws", hub.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with websockets.connect(f"ws://127.0.0.1:{port}/ws") as ws:
            await asyncio.wait_for(reading.wait(), 10)
            hub.broadcast(CallQueued(at=datetime.now(UTC), linkedid="1.1", queue="support",
                                     position=1, caller="13800138000", caller_name=None,
                                     did="4008001234"))
            release.set()
            first = json.loads(await asyncio.wait_for(ws.recv(), 10))
            second = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert first["type"] == "snapshot"
        assert second["type"] == "event" and second["event"]["type"] == "CallQueued"
        assert second["event"]["linkedid"] == "1.1"
    finally:
        await runner.cleanup()


async def test_the_live_page_socket_declines_compression() -> None:
    """As the console's sockets (``socket_client.WS_COMPRESS``): no zlib state per page."""
    async def snapshot() -> dict[str, Any]:
        return {"live": [], "latest": []}

    hub = LiveHub(snapshot)
    app = web.Application()
    app.router.add_get("/ws", hub.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with websockets.connect(f"ws://127.0.0.1:{port}/ws", compression="deflate") as ws:
            assert ws.response.headers.get("Sec-WebSocket-Extensions") is None
            assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "snapshot"
    finally:
        await runner.cleanup()
