"""One browser's websocket, as the console's sockets (``agent_console.hub``) and the live
page's (``agent_console.live``) both serve it.

Rules:
- every socket has its own bounded queue of frames, written by its own sender task:
  a slow or stalled browser never delays anyone else;
- what a full queue does is the one thing the two differ in (``Overflow``): the live
  page drops its oldest frame (each event sets an absolute state, the page catches up);
  the console drops its whole backlog for a ``resync`` and the agent's current state;
- only the socket's handler task reads the socket (to see it close); the sender writes;
- ``close()`` drops the backlog and makes the sender close the socket (signed out).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable

from aiohttp import WSMsgType, web

CLOSE = "\x00close"  # queued to a client's sender: close the socket (signed out)
WS_SIGNED_OUT = 4401  # websocket close code: the session was signed out
# No permessage-deflate on our sockets: each compressed socket keeps its own zlib state
# (about 150 KB resident per socket once a frame was sent: 2,000 agents, 300 MB), and
# aiohttp compresses a frame over 16 KB in its thread pool (a hop in the pop's path). A
# frame is a few KB on the call centre's own network; its bytes are not what is short.
WS_COMPRESS = False
HEARTBEAT_S = 30.0

Overflow = Callable[["SocketClient"], Iterable[str]]
"""Called when a frame finds the queue full: makes room (counting what it drops in
``dropped``) and returns the frames to queue ahead of the new one."""


def drop_oldest(client: SocketClient) -> Iterable[str]:
    """The live page's policy: the oldest frame goes."""
    with contextlib.suppress(asyncio.QueueEmpty):
        client.queue.get_nowait()
        client.dropped += 1
    return ()


class SocketClient:
    """One browser socket: its bounded queue of frames waiting to be sent."""

    def __init__(self, maxsize: int, overflow: Overflow = drop_oldest) -> None:
        if maxsize < 1:
            raise ValueError("a client queue holds at least one frame")
        self.queue: asyncio.Queue[str] = asyncio.Queue(maxsize)
        self.overflow = overflow
        self.dropped = 0
        self.closing = False

    def offer(self, frame: str) -> None:
        """Queue ``frame``; a full queue is made room in first (``overflow``)."""
        if self.closing:
            return
        if self.queue.full():
            extras = list(self.overflow(self))
            room = self.queue.maxsize - self.queue.qsize() - 1  # the new frame's place kept
            for extra in extras[:max(0, room)]:
                self.queue.put_nowait(extra)
            if self.queue.full():  # a policy that made no room: the oldest goes
                drop_oldest(self)
        self.queue.put_nowait(frame)

    def offer_first(self, frame: str) -> None:
        """``frame`` ahead of everything queued (a snapshot taken after events began to
        queue up for this client); the newest frames that still fit stay behind it."""
        backlog = [self.queue.get_nowait() for _ in range(self.queue.qsize())]
        kept = backlog[len(backlog) - (self.queue.maxsize - 1):] if backlog else []
        self.dropped += len(backlog) - len(kept)
        self.queue.put_nowait(frame)
        for queued in kept:
            self.queue.put_nowait(queued)

    def drop_backlog(self) -> None:
        """Everything queued goes (counted in ``dropped``)."""
        while not self.queue.empty():
            self.queue.get_nowait()
            self.dropped += 1

    def close(self) -> None:
        """Ask the sender to close the socket, after nothing else (the backlog is dropped)."""
        if self.closing:
            return
        self.closing = True
        self.drop_backlog()
        self.queue.put_nowait(CLOSE)


def websocket() -> web.WebSocketResponse:
    """The response every browser socket of ours is served with."""
    return web.WebSocketResponse(heartbeat=HEARTBEAT_S, compress=WS_COMPRESS)


async def serve(ws: web.WebSocketResponse, client: SocketClient, name: str) -> None:
    """Run ``client``'s sender until the browser closes ``ws`` (the caller registers the
    client before and forgets it after). Nothing the page sends is needed: the socket is
    read only to see it close."""
    sender = asyncio.create_task(_send_loop(ws, client), name=name)
    try:
        async for msg in ws:
            if msg.type == WSMsgType.ERROR:
                break
    finally:
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sender


async def _send_loop(ws: web.WebSocketResponse, client: SocketClient) -> None:
    while True:
        frame = await client.queue.get()
        try:
            if frame == CLOSE:
                await ws.close(code=WS_SIGNED_OUT, message=b"signed out")
                return
            await ws.send_str(frame)
        except (ConnectionError, RuntimeError):
            return
