"""Hotline's own FastAGI server: asyncio streams around the sans-I/O ``agi_protocol``.

Replaces panoramisk's ``fast_agi`` (issue 6): that one spins the event loop when
a client sends half a header and leaves, swallows task cancellation, has no
header timeout and crashes on some empty lines.

Rules:
- every connection is its own task, tracked by the server; ``close()`` cancels
  and awaits every one of them, so nothing is left running;
- caps (``ivr.agi_limits.AgiLimits``): sessions open at once, in all and per peer
  address (over a cap the connection is closed at once); the header's time, bytes
  and lines (over a cap it is closed); the length of a line (a longer one is
  dropped). Each refusal is counted in ``refused`` and logged, at most one line per
  kind per 10 s. Closing is the right refusal: Asterisk's AGI() returns and the
  dialplan queues the caller without the IVR (fail open);
- each command waits at most ``command_timeout`` for its reply;
- EOF, a ``511`` reply or a bare ``HANGUP`` raise ``AgiHangup``: the handler may
  catch it to record what it knows, or let it out, which ends the session cleanly;
- a handler exception is logged and its connection closed; it never reaches the
  server; ``CancelledError`` is never swallowed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from typing import Any

from ivr.agi_limits import (
    DEFAULT_LIMITS,
    REFUSED_SESSIONS,
    AgiLimits,
    LogThrottle,
    SessionLimiter,
)
from ivr.agi_protocol import (
    HEADER_BYTES,
    AgiDecoder,
    AgiEnvironment,
    AgiEvent,
    AgiHangupSignal,
    AgiHeaderRefused,
    AgiReply,
    encode_command,
    script_of,
)

log = logging.getLogger(__name__)

_READ_SIZE = 65536


class AgiError(Exception):
    """Base class for FastAGI session errors."""


class AgiHangup(AgiError):
    """The channel is gone (EOF, ``HANGUP`` or a 511 reply); the session is over."""


class AgiCommandTimeout(AgiError):
    """No reply within ``command_timeout``; the connection is closed (out of sync)."""


class AgiSession:
    """One FastAGI conversation: the environment and a ``command`` call per AGI command."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        decoder: AgiDecoder,
        environment: AgiEnvironment,
        *,
        command_timeout: float,
        pending: list[AgiEvent] | None = None,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._decoder = decoder
        self._events: deque[AgiEvent] = deque(pending or [])
        self._lock = asyncio.Lock()
        self._dead = False
        self.command_timeout = command_timeout
        self.env: dict[str, str] = environment.env
        self.header_junk = environment.junk
        self.path, self.params = script_of(self.env)

    @property
    def dead(self) -> bool:
        return self._dead

    @property
    def long_lines(self) -> int:
        """Over-long lines dropped on this connection so far (header included)."""
        return self._decoder.long_lines

    async def command(self, name: str, *args: str | int) -> AgiReply:
        """Send one command and return its reply (510/520 are returned, not raised)."""
        data = encode_command(name, *args)  # refuses CR/LF before anything is sent
        async with self._lock:
            if self._dead:
                raise AgiHangup("channel already hung up")
            try:
                self._writer.write(data)
                await self._writer.drain()
            except (ConnectionError, OSError) as exc:
                self._dead = True
                raise AgiHangup(f"write failed: {exc}") from exc
            try:
                async with asyncio.timeout(self.command_timeout):
                    reply = await self._next_reply()
            except TimeoutError:
                self._dead = True
                self._writer.close()
                raise AgiCommandTimeout(f"no reply to {name} in {self.command_timeout}s") from None
            if reply.dead_channel:
                self._dead = True
                raise AgiHangup(f"511 on {name}: {reply.text}")
            return reply

    async def _next_reply(self) -> AgiReply:
        while True:
            while self._events:
                event = self._events.popleft()
                if isinstance(event, AgiReply):
                    return event
                if isinstance(event, AgiHangupSignal):
                    self._dead = True
                    raise AgiHangup("HANGUP from Asterisk")
            try:
                data = await self._reader.read(_READ_SIZE)
            except (ConnectionError, OSError) as exc:
                self._dead = True
                raise AgiHangup(f"read failed: {exc}") from exc
            if not data:
                self._events.extend(self._decoder.feed_eof())
                if not any(isinstance(e, AgiReply) for e in self._events):
                    self._dead = True
                    raise AgiHangup("EOF from Asterisk")
                continue
            self._events.extend(self._decoder.feed(data))

    async def answer(self) -> AgiReply:
        return await self.command("ANSWER")

    async def stream_file(self, name: str, escape_digits: str = "") -> AgiReply:
        return await self.command("STREAM FILE", name, escape_digits)

    async def get_data(self, prompt: str, timeout_ms: int = 5000, max_digits: int = 1) -> AgiReply:
        return await self.command("GET DATA", prompt, timeout_ms, max_digits)

    async def set_variable(self, name: str, value: str) -> AgiReply:
        return await self.command("SET VARIABLE", name, value)

    async def hangup(self) -> AgiReply:
        return await self.command("HANGUP")


Handler = Callable[[AgiSession], Awaitable[None]]


class AgiServer:
    """A FastAGI listener; ``port=0`` picks a free port (read it back from ``.port``)."""

    def __init__(
        self,
        handler: Handler,
        *,
        host: str = "127.0.0.1",
        port: int = 4573,
        command_timeout: float = 10.0,
        limits: AgiLimits = DEFAULT_LIMITS,
    ) -> None:
        self._handler = handler
        self._host = host
        self._port = port
        self.limits = limits
        self.command_timeout = command_timeout
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._limiter = SessionLimiter(limits.max_sessions, limits.max_sessions_per_peer)
        self._throttle = LogThrottle()
        self.sessions_served = 0
        self.headers_timed_out = 0
        self.handler_errors = 0
        #: connections closed by a cap, by cap: sessions, peer_sessions, header_bytes,
        #: header_lines (a header too slow is ``headers_timed_out``)
        self.refused: Counter[str] = Counter()
        #: lines over ``limits.max_line`` dropped (header or replies)
        self.long_lines = 0

    @property
    def port(self) -> int:
        if self._server is None or not self._server.sockets:
            return self._port
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def active_sessions(self) -> int:
        return len(self._tasks)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, self._host, self._port)
        log.info("FastAGI listening on %s:%s", self._host, self.port)

    async def wait_idle(self) -> None:
        """Wait (without cancelling) until every session task has ended."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    async def close(self) -> None:
        """Stop listening, cancel every session task and wait for all of them."""
        if self._server is not None:
            self._server.close()
        # loop: a connection accepted while we were cancelling gets its task too
        while self._tasks:
            tasks = list(self._tasks)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> AgiServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = _peer_of(writer)
        refusal = self._limiter.admit(peer)
        if refusal is not None:
            self.refused[refusal] += 1
            if refusal == REFUSED_SESSIONS:
                self._warn(refusal, "FastAGI: %d sessions open, the cap (agi_max_sessions): "
                           "closing a connection from %s; its call is queued without the IVR",
                           self._limiter.total, peer)
            else:
                self._warn(refusal, "FastAGI: %d sessions open from %s, the cap per peer "
                           "(agi_max_sessions_per_peer): closing its new connection; the call "
                           "is queued without the IVR", self._limiter.open_from(peer), peer)
            writer.close()  # nothing was read or written: no task, nothing to wait for
            return
        task = asyncio.get_running_loop().create_task(self._serve(reader, writer))
        self._tasks.add(task)

        def done(task: asyncio.Task[None]) -> None:
            self._tasks.discard(task)
            self._limiter.release(peer)

        task.add_done_callback(done)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session: AgiSession | None = None
        try:
            session = await self._read_header(reader, writer)
            if session is not None:
                await self._run_handler(session)
        finally:
            if session is not None and session.long_lines:
                self.long_lines += session.long_lines
                self._warn("long_lines", "FastAGI session %s: %d line(s) over %d bytes dropped",
                           session.path, session.long_lines, self.limits.max_line)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    def _warn(self, kind: str, message: str, *args: object) -> None:
        """A warning, at most one per kind per 10 s (a flood must not flood the log)."""
        held = self._throttle.allow(kind, asyncio.get_running_loop().time())
        if held is None:
            return
        if held:
            message += " (and %d more like it since the last such line)"
            args = (*args, held)
        log.warning(message, *args)

    async def _read_header(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> AgiSession | None:
        limits = self.limits
        decoder = AgiDecoder(max_line=limits.max_line, max_header_bytes=limits.max_header_bytes,
                             max_header_lines=limits.max_header_lines)
        events: list[AgiEvent] = []
        try:
            async with asyncio.timeout(limits.header_timeout):
                while not any(isinstance(e, AgiEnvironment) for e in events):
                    data = await reader.read(_READ_SIZE)
                    if not data:
                        log.info("FastAGI client left before the end of its header")
                        return None
                    events.extend(decoder.feed(data))
                    if decoder.refused is not None:
                        self._refuse_header(decoder.refused, writer)
                        return None
        except TimeoutError:
            self.headers_timed_out += 1
            self._warn("header_timeout", "FastAGI header from %s not finished in %ss "
                       "(agi_header_timeout_s): closing", _peer_of(writer), limits.header_timeout)
            return None
        except (ConnectionError, OSError) as exc:
            log.info("FastAGI client failed during its header: %s", exc)
            return None
        index = next(i for i, e in enumerate(events) if isinstance(e, AgiEnvironment))
        environment = events[index]
        assert isinstance(environment, AgiEnvironment)
        if environment.junk:
            log.warning("FastAGI header had %d junk line(s)", environment.junk)
        return AgiSession(
            reader,
            writer,
            decoder,
            environment,
            command_timeout=self.command_timeout,
            pending=events[index + 1 :],
        )

    def _refuse_header(self, refused: AgiHeaderRefused, writer: asyncio.StreamWriter) -> None:
        self.refused[refused.cap] += 1
        setting = "agi_max_header_bytes" if refused.cap == HEADER_BYTES else "agi_max_header_lines"
        self._warn(refused.cap, "FastAGI header from %s over %d %s (%s): closing",
                   _peer_of(writer), refused.limit,
                   "bytes" if refused.cap == HEADER_BYTES else "lines", setting)

    async def _run_handler(self, session: AgiSession) -> None:
        self.sessions_served += 1
        try:
            await self._handler(session)
        except AgiHangup as exc:
            log.debug("FastAGI session %s ended by hang-up: %s", session.path, exc)
        except Exception:
            # CancelledError is a BaseException: it is not caught here, it propagates
            self.handler_errors += 1
            log.exception("FastAGI handler failed for %s", session.path)


def _peer_of(writer: asyncio.StreamWriter) -> str:
    """The peer's address without its port: the unit of the per-peer cap."""
    peer = writer.get_extra_info("peername")
    if isinstance(peer, tuple) and peer:
        return str(peer[0])
    return str(peer)
