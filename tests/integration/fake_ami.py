"""A small scripted AMI server over real TCP, for the AMI client tests.

Rules:
- speaks like the captured Asterisk 22 (banner line, CRLF framing, Login
  accepted/refused then socket closed, Ping/Pong, Logoff/Goodbye, empty
  CoreShowChannels/QueueStatus lists); everything else answers Success;
- ``handlers[action_name]`` overrides one action: ``handler(session, msg)``,
  sync or async; async handlers run as tasks so the server keeps reading;
- ``actions`` logs every action received on every connection, in order, so a
  test can assert "exactly one Originate was sent";
- ``reject`` closes that many next connections at once; ``answer_pings=False``
  leaves the socket open but silent to Ping (a half-open link);
- ``booted=False`` plays an Asterisk still loading its modules (just restarted): no
  FullyBooted after Login, QueueStatus refused as an unknown command, until ``boot()``
  broadcasts FullyBooted as Asterisk does;
- ``stop()`` closes every connection and cancels every handler task.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import inspect
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from telephony.ami_codec import AmiDecoder, Message, encode_message

Handler = Callable[["FakeSession", Message], Awaitable[None] | None]
BANNER = b"Asterisk Call Manager/11.0.0\r\n"
FULLY_BOOTED = {"Event": "FullyBooted", "Privilege": "system,all", "Status": "Fully Booted"}


class FakeSession:
    """One client connection to the fake server."""

    def __init__(self, server: FakeAmi, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter) -> None:
        self.server = server
        self.reader = reader
        self.writer = writer
        self.logged_in = False
        self.tasks: set[asyncio.Task[None]] = set()

    def send(self, msg: Mapping[str, str] | bytes) -> None:
        """Write one message (a dict is encoded) or raw bytes."""
        if self.writer.is_closing():
            return
        self.writer.write(msg if isinstance(msg, bytes) else encode_message(msg))

    async def drain(self) -> None:
        with contextlib.suppress(ConnectionError):
            await self.writer.drain()

    def reply(self, action: Message, **fields: str) -> None:
        """A Response to ``action`` (Response defaults to Success)."""
        msg = {"Response": fields.pop("Response", "Success")}
        if "ActionID" in action:
            msg["ActionID"] = action["ActionID"]
        msg.update(fields)
        self.send(msg)

    def send_list(self, action: Message, name: str, items: list[dict[str, str]]) -> None:
        """A whole EventList answer: start, items, ``<name>Complete``."""
        aid = action.get("ActionID", "")
        self.reply(action, EventList="start", Message="Events will follow")
        for item in items:
            self.send({**item, "ActionID": aid})
        self.send({"Event": f"{name}Complete", "ActionID": aid, "EventList": "Complete",
                   "ListItems": str(len(items))})

    def close(self) -> None:
        if not self.writer.is_closing():
            self.writer.close()

    def abort(self) -> None:
        self.writer.transport.abort()

    async def serve(self) -> None:
        decoder = AmiDecoder(expect_banner=False)
        try:
            while data := await self.reader.read(65536):
                for msg in decoder.feed(data):
                    self.server.actions.append(msg)
                    self._handle(msg)
        except ConnectionError:
            pass
        finally:
            self.close()

    def _handle(self, msg: Message) -> None:
        name = msg.get("Action", "")
        result: Awaitable[None] | None
        scripted = self.server.handlers.get(name)
        default = getattr(self, f"_do_{name.lower()}", None)
        if scripted is not None:
            result = scripted(self, msg)
        elif default is not None:
            result = default(msg)
        else:
            result = None
            self.reply(msg)
        if inspect.isawaitable(result):
            task = asyncio.ensure_future(result)
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    # default behaviour, as the captures show it
    def _do_login(self, msg: Message) -> None:
        srv = self.server
        if msg.get("AuthType", "").lower() == "md5":
            expected = hashlib.md5((srv.challenge + srv.secret).encode()).hexdigest()
            ok = msg.get("Key") == expected
        else:
            ok = msg.get("Secret") == srv.secret
        if ok and msg.get("Username") == srv.username:
            self.logged_in = True
            self.reply(msg, Message="Authentication accepted")
            if srv.booted:
                self.send(FULLY_BOOTED)
        else:
            self.reply(msg, Response="Error", Message="Authentication failed")
            self.close()

    def _do_challenge(self, msg: Message) -> None:
        self.reply(msg, Challenge=self.server.challenge)

    def _do_ping(self, msg: Message) -> None:
        if self.server.answer_pings:
            self.reply(msg, Ping="Pong", Timestamp="1795478495.250058")

    def _do_logoff(self, msg: Message) -> None:
        self.reply(msg, Response="Goodbye", Message="Thanks for all the fish.")
        self.close()

    def _do_coreshowchannels(self, msg: Message) -> None:
        self.send_list(msg, "CoreShowChannels", [])

    def _do_status(self, msg: Message) -> None:
        self.send_list(msg, "Status", [])

    def _do_queuestatus(self, msg: Message) -> None:
        if not self.server.booted:  # app_queue not loaded yet
            self.reply(msg, Response="Error", Message="Invalid/unknown command")
            return
        self.send_list(msg, "QueueStatus", [])


class FakeAmi:
    """The server: start it, script it, read its action log, stop it."""

    def __init__(self, *, username: str = "hotline", secret: str = "hotline-secret") -> None:
        self.username = username
        self.secret = secret
        self.challenge = "836067126"
        self.handlers: dict[str, Handler] = {}
        self.actions: list[Message] = []
        self.sessions: list[FakeSession] = []
        self.connections = 0
        self.reject = 0
        self.answer_pings = True
        self.booted = True
        self._server: asyncio.Server | None = None
        self._conn_tasks: set[asyncio.Task[Any]] = set()
        self.port = 0

    async def start(self, port: int = 0) -> FakeAmi:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for session in self.sessions:
            session.abort()
            for task in list(session.tasks):
                task.cancel()
        tasks = [*self._conn_tasks, *(t for s in self.sessions for t in s.tasks)]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    def boot(self) -> None:
        """The PBX finishes loading: FullyBooted to every logged-in session."""
        self.booted = True
        for session in self.sessions:
            if session.logged_in:
                session.send(FULLY_BOOTED)

    async def __aenter__(self) -> FakeAmi:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._conn_tasks.add(task)
        try:
            self.connections += 1
            if self.reject > 0:
                self.reject -= 1
                writer.close()
                return
            session = FakeSession(self, reader, writer)
            self.sessions.append(session)
            writer.write(BANNER)
            await session.serve()
        finally:
            self._conn_tasks.discard(task)

    @property
    def session(self) -> FakeSession:
        """The newest connection."""
        return self.sessions[-1]

    def count(self, action: str) -> int:
        return sum(1 for m in self.actions if m.get("Action") == action)

    async def wait_for(self, predicate: Callable[[], bool], within: float = 3.0) -> None:
        await until(predicate, within)


async def until(predicate: Callable[[], bool], within: float = 3.0) -> None:
    """Poll until ``predicate()``; fails the test (TimeoutError) if it never holds
    within ``within`` seconds (a hang guard, not a speed assertion)."""
    async with asyncio.timeout(within):
        while not predicate():  # noqa: ASYNC110 (polling plain state is the point)
            await asyncio.sleep(0.005)
