"""Hotline's FastAGI server over real TCP, driven by a scripted fake Asterisk.

The fake replays the recorded Asterisk 22 conversations; one test per failure of
panoramisk's fast_agi that issue 6 lists (half header, endless header, junk,
cancellation, hang-up mid-flow) plus 200 concurrent sessions.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from ivr.agi import AgiCommandTimeout, AgiHangup, AgiServer, AgiSession
from ivr.agi_limits import AgiLimits
from ivr.agi_protocol import AgiEncodeError, split_command
from tests.integration.fake_ami import until
from tests.shared import AGI_DIR  # noqa: E402

RECORDINGS = sorted(AGI_DIR.glob("*.agi.in"))
HEADER = b"agi_network: yes\nagi_request: agi://127.0.0.1:4573/hotline?did=4008001234\n\n"

Handler = Callable[[AgiSession], Awaitable[None]]
Factory = Callable[..., Awaitable[AgiServer]]


@pytest.fixture
async def make_server() -> AsyncIterator[Factory]:
    servers: list[AgiServer] = []

    async def factory(handler: Handler, **kwargs: object) -> AgiServer:
        server = AgiServer(handler, port=0, **kwargs)  # type: ignore[arg-type]
        await server.start()
        servers.append(server)
        return server

    yield factory
    for server in servers:
        await server.close()
        assert server.active_sessions == 0


async def until_idle(server: AgiServer) -> None:
    """Wait for every session task to end (the bound only stops a hung test)."""
    async with asyncio.timeout(5):
        await server.wait_idle()
    assert server.active_sessions == 0


def recording(path: Path) -> tuple[bytes, list[bytes]]:
    """The bytes Asterisk sent, and the command lines we answered with."""
    recorded = (path.parent / path.name.replace(".in", ".out")).read_bytes().splitlines()
    return path.read_bytes(), recorded


async def replay(port: int, inbound: bytes) -> list[bytes]:
    """A fake Asterisk: send the header, answer each command with the next recorded reply."""
    header, _, replies = inbound.partition(b"\n\n")
    return await converse(port, header + b"\n\n", replies)


async def converse(port: int, header: bytes, replies: bytes) -> list[bytes]:
    """Send ``header`` as is, then one line of ``replies`` per command received."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(header)
    commands: list[bytes] = []
    for reply in replies.splitlines(keepends=True):
        line = await reader.readline()
        if not line:
            break
        commands.append(line)
        writer.write(reply)
        await writer.drain()
    assert await reader.read() == b""  # the server hangs up when the handler returns
    writer.close()
    await writer.wait_closed()
    return commands


async def hotline_ivr(session: AgiSession) -> None:
    """The recorded IVR conversation, re-issued through the session API."""
    await session.command("VERBOSE", "Hotline IVR: start", 1)
    await session.command("GET VARIABLE", "HOTLINE_DID")
    caller = (await session.command("GET FULL VARIABLE", "${CALLERID(num)}")).data or ""
    await session.stream_file("hotline-welcome", "")
    await session.stream_file("hotline-menu", "12")
    digit = await session.command("WAIT FOR DIGIT", 5000)
    choice = chr(digit.result or 0)
    await session.set_variable("QUEUE", "support")
    await session.set_variable("PRIORITY", "0")
    await session.set_variable("CRM_CONTACT_ID", f"CRM-{caller[-6:]}")
    await session.command("VERBOSE", f"Hotline IVR: choice={choice} queue=support prio=0", 1)


@pytest.mark.parametrize("path", RECORDINGS, ids=lambda p: p.name)
async def test_replayed_conversation_gets_the_recorded_commands(
    make_server: Factory, path: Path
) -> None:
    seen: list[AgiSession] = []

    async def handler(session: AgiSession) -> None:
        seen.append(session)
        await hotline_ivr(session)

    server = await make_server(handler)
    inbound, recorded = recording(path)
    commands = await replay(server.port, inbound)
    # same commands word for word; quoting is only allowed to differ where optional
    assert [split_command(c.decode()) for c in commands] == [
        split_command(r.decode()) for r in recorded
    ]
    assert all(c.endswith(b"\n") and not c.endswith(b"\r\n") for c in commands)
    (session,) = seen
    assert (session.path, session.params) == ("hotline", {"did": "4008001234"})
    assert session.env["agi_version"].startswith("22.")
    await until_idle(server)


async def test_half_header_then_disconnect_leaves_server_responsive(make_server: Factory) -> None:
    calls: list[str] = []

    async def handler(session: AgiSession) -> None:
        calls.append(session.path)
        await session.answer()

    server = await make_server(handler)
    _, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"agi_network: yes\nagi_chan")
    await writer.drain()
    writer.close()
    await writer.wait_closed()
    await until_idle(server)  # the session task ended: no loop spinning on EOF
    assert calls == []
    assert await replay(server.port, HEADER + b"200 result=0\n") == [b"ANSWER\n"]
    assert calls == ["hotline"]
    await until_idle(server)


async def test_half_header_client_still_connected_does_not_block_others(
    make_server: Factory,
) -> None:
    async def handler(session: AgiSession) -> None:
        await session.answer()

    server = await make_server(handler)
    _, stalled = await asyncio.open_connection("127.0.0.1", server.port)
    stalled.write(b"agi_network: yes\nagi_chan")
    await stalled.drain()
    assert await replay(server.port, HEADER + b"200 result=0\n") == [b"ANSWER\n"]
    stalled.close()
    await stalled.wait_closed()
    await until_idle(server)
    assert server.sessions_served == 1


async def test_empty_lines_and_junk_between_replies_are_skipped(make_server: Factory) -> None:
    replies: list[int | None] = []

    async def handler(session: AgiSession) -> None:
        replies.append((await session.answer()).result)
        replies.append((await session.command("WAIT FOR DIGIT", 100)).result)

    server = await make_server(handler)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(HEADER)
    assert await reader.readline() == b"ANSWER\n"
    writer.write(b"\r\n\njunk\n200 result=0\n")  # stray lines before the reply are skipped
    assert await reader.readline() == b"WAIT FOR DIGIT 100\n"
    writer.write(b"200 result=35\n")
    assert await reader.read() == b""
    writer.close()
    await writer.wait_closed()
    assert replies == [0, 35]


async def test_unfinished_header_is_closed_after_header_timeout(make_server: Factory) -> None:
    calls: list[str] = []

    async def handler(session: AgiSession) -> None:
        calls.append(session.path)

    server = await make_server(handler, limits=AgiLimits(header_timeout=0.1))
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"agi_network: yes\n")
    await writer.drain()
    async with asyncio.timeout(5):
        assert await reader.read() == b""  # closed by the server, not by us
    writer.close()
    await writer.wait_closed()
    await until_idle(server)
    assert server.headers_timed_out == 1
    assert calls == []


async def test_empty_lines_and_junk_in_the_header(make_server: Factory) -> None:
    seen: list[AgiSession] = []

    async def handler(session: AgiSession) -> None:
        seen.append(session)
        await session.answer()

    server = await make_server(handler)
    header = b"\r\n\njunk line\nagi_request: agi://h:4573/hotline?did=1\r\nagi_x:\r\n\r\n"
    assert await converse(server.port, header, b"200 result=0\n") == [b"ANSWER\n"]
    (session,) = seen
    assert session.header_junk == 3
    assert session.env == {"agi_request": "agi://h:4573/hotline?did=1", "agi_x": ""}
    assert (session.path, session.params) == ("hotline", {"did": "1"})


async def test_close_cancels_a_session_waiting_for_a_reply(make_server: Factory) -> None:
    outcome: list[str] = []

    async def handler(session: AgiSession) -> None:
        try:
            await session.answer()
        except BaseException as exc:
            outcome.append(type(exc).__name__)
            raise

    server = await make_server(handler, command_timeout=60)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(HEADER)
    assert await reader.readline() == b"ANSWER\n"
    assert server.active_sessions == 1
    await server.close()
    assert server.active_sessions == 0
    assert outcome == ["CancelledError"]  # delivered to the handler, not swallowed
    assert await reader.read() == b""
    writer.close()
    await writer.wait_closed()


async def test_hangup_mid_flow_raises_and_the_handler_keeps_its_path(
    make_server: Factory,
) -> None:
    paths: list[list[str]] = []

    async def handler(session: AgiSession) -> None:
        path: list[str] = []
        try:
            await session.answer()
            path.append("answered")
            await session.stream_file("hotline-welcome")
            path.append("welcomed")
        except AgiHangup:
            path.append("hangup")
            paths.append(path)
            raise  # letting it out ends the session cleanly

    server = await make_server(handler)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(HEADER)
    assert await reader.readline() == b"ANSWER\n"
    writer.write(b"200 result=0\n")
    assert await reader.readline() == b'STREAM FILE hotline-welcome ""\n'
    writer.close()
    await writer.wait_closed()
    await until_idle(server)
    assert paths == [["answered", "hangup"]]
    assert server.handler_errors == 0


@pytest.mark.parametrize(
    "reply", [b"HANGUP\n", b"511 Command Not Permitted on a dead channel or intercept routine\n"]
)
async def test_hangup_line_and_511_raise_agihangup(make_server: Factory, reply: bytes) -> None:
    outcome: list[str] = []

    async def handler(session: AgiSession) -> None:
        try:
            await session.answer()
        except AgiHangup:
            outcome.append("hangup")
        with pytest.raises(AgiHangup):  # the session stays dead
            await session.answer()
        outcome.append("dead")

    server = await make_server(handler)
    commands = await replay(server.port, HEADER + reply)
    assert commands == [b"ANSWER\n"]
    await until_idle(server)
    assert outcome == ["hangup", "dead"]


async def test_510_and_520_are_returned_not_raised(make_server: Factory) -> None:
    replies: list[tuple[int, int]] = []

    async def handler(session: AgiSession) -> None:
        for _ in range(2):
            reply = await session.command("NOPE")
            replies.append((reply.code, len(reply.usage)))

    server = await make_server(handler)
    conversation = (
        b"510 Invalid or unknown command\n"
        b"520-Invalid command syntax.  Proper usage follows:\nUsage: x\n520 End of proper usage.\n"
    )
    header, _, rest = (HEADER + conversation).partition(b"\n\n")
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(header + b"\n\n")
    assert await reader.readline() == b"NOPE\n"
    writer.write(rest.split(b"\n", 1)[0] + b"\n")
    assert await reader.readline() == b"NOPE\n"
    writer.write(rest.split(b"\n", 1)[1])
    assert await reader.read() == b""
    writer.close()
    await writer.wait_closed()
    assert replies == [(510, 0), (520, 2)]


async def test_command_timeout(make_server: Factory) -> None:
    outcome: list[str] = []

    async def handler(session: AgiSession) -> None:
        try:
            await session.answer()
        except AgiCommandTimeout:
            outcome.append("timeout")

    server = await make_server(handler, command_timeout=0.1)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(HEADER)
    assert await reader.readline() == b"ANSWER\n"
    async with asyncio.timeout(5):
        assert await reader.read() == b""
    writer.close()
    await writer.wait_closed()
    await until_idle(server)
    assert outcome == ["timeout"]


async def test_injection_is_refused_before_anything_is_sent(make_server: Factory) -> None:
    outcome: list[str] = []

    async def handler(session: AgiSession) -> None:
        try:
            await session.set_variable("NAME", "Wang\nHANGUP")
        except AgiEncodeError:
            outcome.append("refused")
        await session.answer()

    server = await make_server(handler)
    assert await replay(server.port, HEADER + b"200 result=0\n") == [b"ANSWER\n"]
    assert outcome == ["refused"]


async def test_handler_exception_is_logged_and_the_server_lives_on(
    make_server: Factory, caplog: pytest.LogCaptureFixture
) -> None:
    async def handler(session: AgiSession) -> None:
        await session.answer()
        if session.params.get("did") == "boom":
            raise RuntimeError("handler bug")

    server = await make_server(handler)
    boom = HEADER.replace(b"did=4008001234", b"did=boom")
    assert await replay(server.port, boom + b"200 result=0\n") == [b"ANSWER\n"]
    assert await replay(server.port, HEADER + b"200 result=0\n") == [b"ANSWER\n"]
    await until_idle(server)
    assert server.handler_errors == 1
    assert "handler bug" in caplog.text


async def test_200_concurrent_sessions(make_server: Factory) -> None:
    gate = asyncio.Event()
    started: list[str] = []

    async def handler(session: AgiSession) -> None:
        started.append(session.params["n"])
        if len(started) == 200:
            gate.set()
        await gate.wait()  # every session is live at the same time
        reply = await session.command("GET VARIABLE", "N")
        await session.set_variable("ECHO", reply.data or "")

    server = await make_server(handler)

    async def one(n: int) -> list[bytes]:
        header = HEADER.replace(b"did=4008001234", f"n={n}".encode())
        return await replay(server.port, header + f"200 result=1 ({n})\n200 result=1\n".encode())

    results = await asyncio.gather(*(one(n) for n in range(200)))
    assert sorted(started, key=int) == [str(n) for n in range(200)]
    for n, commands in enumerate(results):
        assert commands == [b"GET VARIABLE N\n", f"SET VARIABLE ECHO {n}\n".encode()]
    assert server.sessions_served == 200
    await until_idle(server)


# ------------------------------------------------------------------------ caps (issue 13)
async def served_by(server: AgiServer, *, local: str = "127.0.0.1") -> list[bytes]:
    """One whole session from ``local``: header, one ANSWER answered, closed by the server."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port,
                                                   local_addr=(local, 0))
    writer.write(HEADER)
    commands = []
    while line := await reader.readline():
        commands.append(line)
        writer.write(b"200 result=0\n")
    writer.close()
    await writer.wait_closed()
    return commands


async def answer(session: AgiSession) -> None:
    await session.answer()


async def silent(server: AgiServer, *, local: str = "127.0.0.1"
                 ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A connection that sends nothing, once the server holds its session."""
    before = server.active_sessions
    conn = await asyncio.open_connection("127.0.0.1", server.port, local_addr=(local, 0))
    await until(lambda: server.active_sessions > before, within=5)
    return conn


async def closed_by_server(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """The server closes this connection (EOF or reset): it never served it."""
    async with asyncio.timeout(5):
        with contextlib.suppress(ConnectionError):
            assert await reader.read() == b""
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()


async def test_endless_header_of_distinct_lines_is_closed_at_the_byte_cap(
    make_server: Factory, caplog: pytest.LogCaptureFixture
) -> None:
    # the fault run: distinct agi_* lines, never an empty one (103 MB grew the server 284 MB)
    calls: list[str] = []

    async def handler(session: AgiSession) -> None:
        calls.append(session.path)
        await session.answer()

    server = await make_server(handler, limits=AgiLimits(max_header_bytes=4096,
                                                         max_header_lines=10_000))
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    with contextlib.suppress(ConnectionError):
        for i in range(2000):  # ~70 KB unless the server closes first
            writer.write(f"agi_var_{i}: {'v' * 20}\n".encode())
            await writer.drain()
    await closed_by_server(reader, writer)
    await until_idle(server)
    assert server.refused == {"header_bytes": 1}
    assert calls == []
    assert "over 4096 bytes (agi_max_header_bytes): closing" in caplog.text
    assert await served_by(server) == [b"ANSWER\n"]  # the next caller is served
    assert calls == ["hotline"]


async def test_header_over_the_line_cap_is_closed(make_server: Factory) -> None:
    server = await make_server(answer, limits=AgiLimits(max_header_lines=20))
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"".join(b"agi_v%d: x\n" % i for i in range(21)))
    await closed_by_server(reader, writer)
    await until_idle(server)
    assert server.refused == {"header_lines": 1}
    # a header of exactly the cap (its empty line included) is a header
    header = b"".join(b"agi_v%d: x\n" % i for i in range(17)) + HEADER
    assert HEADER.count(b"\n") + 17 == 20
    assert await converse(server.port, header, b"200 result=0\n") == [b"ANSWER\n"]


async def test_over_long_line_is_dropped_and_counted(
    make_server: Factory, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[AgiSession] = []

    async def handler(session: AgiSession) -> None:
        seen.append(session)
        await session.answer()

    server = await make_server(handler, limits=AgiLimits(max_line=1024,
                                                         max_header_bytes=64 * 1024))
    header = b"agi_callerid: " + b"9" * 5000 + b"\n" + HEADER
    assert await converse(server.port, header, b"200 result=0\n") == [b"ANSWER\n"]
    await until_idle(server)
    (session,) = seen
    assert "agi_callerid" not in session.env and session.header_junk == 1
    assert server.long_lines == 1
    assert "1 line(s) over 1024 bytes dropped" in caplog.text


async def test_header_dripped_slowly_is_closed_at_the_header_time_cap(
    make_server: Factory,
) -> None:
    # a line every 20 ms keeps the connection busy, but the header as a whole is timed
    server = await make_server(answer, limits=AgiLimits(header_timeout=0.3))
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    with contextlib.suppress(ConnectionError):
        for i in range(200):  # 4 s of drip, unless the server closes first
            if reader.at_eof():
                break
            writer.write(b"agi_v%d: x\n" % i)
            await writer.drain()
            await asyncio.sleep(0.02)
    await closed_by_server(reader, writer)
    await until_idle(server)
    assert server.headers_timed_out == 1 and server.sessions_served == 0


async def test_sessions_over_the_total_cap_are_closed_at_once(
    make_server: Factory, caplog: pytest.LogCaptureFixture
) -> None:
    server = await make_server(answer, limits=AgiLimits(max_sessions=3, header_timeout=60))
    held = [await silent(server) for _ in range(3)]
    for _ in range(50):  # a flood: each closed at once, counted, one log line for all
        await closed_by_server(*await asyncio.open_connection("127.0.0.1", server.port))
    assert server.refused == {"sessions": 50}
    assert server.active_sessions == 3
    warnings = [r for r in caplog.records if "agi_max_sessions" in r.getMessage()]
    assert len(warnings) == 1
    assert "3 sessions open, the cap (agi_max_sessions)" in warnings[0].getMessage()
    # a freed place is given again
    _, writer = held.pop()
    writer.close()
    await writer.wait_closed()
    await until(lambda: server.active_sessions == 2, within=5)
    assert await served_by(server) == [b"ANSWER\n"]
    for _, writer in held:
        writer.close()
        await writer.wait_closed()
    await until_idle(server)


async def test_sessions_over_the_cap_per_peer_are_closed_others_are_served(
    make_server: Factory, caplog: pytest.LogCaptureFixture
) -> None:
    server = await make_server(answer, limits=AgiLimits(max_sessions_per_peer=2,
                                                        header_timeout=60))
    held = [await silent(server) for _ in range(2)]  # from 127.0.0.1
    await closed_by_server(*await asyncio.open_connection("127.0.0.1", server.port))
    assert server.refused == {"peer_sessions": 1}
    assert "2 sessions open from 127.0.0.1, the cap per peer" in caplog.text
    # another peer (another Asterisk) is still served
    assert await served_by(server, local="127.0.0.2") == [b"ANSWER\n"]
    assert server.sessions_served == 1
    for _, writer in held:
        writer.close()
        await writer.wait_closed()
    await until_idle(server)
    assert await served_by(server) == [b"ANSWER\n"]  # 127.0.0.1's places are free again
