"""The simulator drives the IVR like Asterisk: a real FastAGI session over TCP per call.

Each test runs a FastAGI server (our ``ivr.agi.AgiServer`` with a small scripted handler,
or a raw socket server where the exact bytes matter), a simulator pointed at it
(``PbxSimulator(agi=...)``) and an AMI client over TCP whose messages go through the real
``CallTracker``. Time is simulated (time_scale 0.01); tests assert what was said and done,
never how long it took.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ivr.agi import AgiHangup, AgiServer, AgiSession
from ivr.agi_limits import AgiLimits
from telephony.ami_codec import AmiDecoder, encode_action
from telephony.events import AgentRinging, CallEnded, CallSummary
from telephony.personal_queues import personal_queue
from telephony.simulator import CallScript, PbxSimulator
from telephony.simulator.agi_caller import AgiTarget, IvrInput, parse_ivr_inputs
from telephony.simulator.dialplan_conf import QueueDefaults
from telephony.tracker import CallTracker
from tests.shared import AGI_DIR

SCALE = 0.01
SIGNED_IN = ("Alice", "Bob", "Carol")  # the agents a rig signs in, as Hotline would
Handler = Callable[[AgiSession], Awaitable[None]]


@dataclass
class Ami:
    """An AMI client over TCP: every message kept, each fed to the real tracker."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    messages: list[dict[str, str]] = field(default_factory=list)
    ended: dict[str, CallSummary] = field(default_factory=dict)
    ringing: list[AgentRinging] = field(default_factory=list)
    tracker: CallTracker = field(default_factory=CallTracker)
    task: asyncio.Task[None] | None = None

    async def run(self) -> None:
        decoder = AmiDecoder()
        while data := await self.reader.read(65536):
            for msg in decoder.feed(data):
                self.messages.append(msg)
                for event in self.tracker.feed(msg):
                    if isinstance(event, CallEnded):
                        self.ended[event.summary.linkedid] = event.summary
                    elif isinstance(event, AgentRinging):
                        self.ringing.append(event)

    def of(self, linkedid: str, name: str | None = None) -> list[dict[str, str]]:
        return [m for m in self.messages if m.get("Linkedid") == linkedid
                and (name is None or m.get("Event") == name)]

    def varsets(self, linkedid: str) -> dict[str, str]:
        return {m["Variable"]: m["Value"] for m in self.of(linkedid, "VarSet")}

    async def summary(self, linkedid: str) -> CallSummary:
        for _ in range(2000):
            if linkedid in self.ended:
                return self.ended[linkedid]
            await asyncio.sleep(0.01)
        raise AssertionError(f"no CallEnded for {linkedid}")


@dataclass
class Rig:
    sim: PbxSimulator
    ami: Ami
    sessions: list[dict[str, str]]
    replies: list[tuple[str, str]]

    async def call(self, caller: str = "13800138000", *, name: str | None = "Wang Fang",
                   did: str = "4008001234", **script: Any) -> tuple[CallSummary, str]:
        call = self.sim.place_call(caller=caller, name=name, did=did,
                                   script=CallScript(**script))
        await asyncio.wait_for(call.done, 60)
        return await self.ami.summary(call.linkedid), call.linkedid


@asynccontextmanager
async def rig(handler: Handler | None, *, agi: AgiTarget | None = None,
              agents_signed_in: tuple[str, ...] = SIGNED_IN,
              **sim_options: Any) -> AsyncIterator[Rig]:
    """An AgiServer running ``handler`` (None: no server at all), the simulator pointed at
    it, ``agents_signed_in`` signed in (deploy's queues.conf has no static member), and a
    logged-in AMI client."""
    sessions: list[dict[str, str]] = []
    replies: list[tuple[str, str]] = []

    async def recorded(session: AgiSession) -> None:
        sessions.append(dict(session.env))
        assert handler is not None
        await handler(session)

    server = AgiServer(recorded, port=0, command_timeout=30) if handler is not None else None
    async with contextlib.AsyncExitStack() as stack:
        if server is not None:
            await stack.enter_async_context(server)
        # a generous IVR deadline (60 wall seconds): a loaded machine never trips it
        target = agi or AgiTarget("127.0.0.1", server.port if server else _closed_port(),
                                  ivr_timeout_s=6000)
        defaults = sim_options.pop("queue_defaults", None)
        sim = PbxSimulator(time_scale=SCALE, agi=target, **sim_options)
        if defaults is not None:
            sim.pbx.queue_defaults = defaults
        signed_in(sim, *agents_signed_in)
        await sim.start()
        stack.push_async_callback(sim.close)
        reader, writer = await asyncio.open_connection("127.0.0.1", sim.port)
        ami = Ami(reader, writer)
        ami.task = asyncio.create_task(ami.run())
        writer.write(encode_action("Login", {"Username": "hotline", "Secret": "hotline-secret"}))
        for _ in range(500):
            if any(m.get("Response") == "Success" for m in ami.messages):
                break
            await asyncio.sleep(0.01)
        try:
            yield Rig(sim, ami, sessions, replies)
        finally:
            writer.close()
            ami.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await ami.task


def _closed_port() -> int:
    """A local port nobody listens on (bound, then released)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --------------------------------------------------------------------- the session itself
async def test_environment_block_is_asterisks(tmp_path: Path) -> None:
    """The same agi_* variables, in the same order, as the recorded Asterisk 22 session,
    plus agi_arg_1; the DID is the extension, the request names our server."""
    async def handler(session: AgiSession) -> None:
        pass

    recorded = [line.split(":", 1)[0] for line in
                (AGI_DIR / "01-answered-call-1.agi.in").read_text().splitlines()
                if line.startswith("agi_")]
    async with rig(handler) as r:
        summary, _ = await r.call(caller="13800138000", name="Wang Fang", did="8008001234")
    env = r.sessions[0]
    assert list(env) == recorded + ["agi_arg_1"]
    port = r.sim.pbx.agi.port if r.sim.pbx.agi else 0
    assert env["agi_request"] == f"agi://127.0.0.1:{port}/hotline?did=8008001234"
    assert env["agi_network_script"] == "hotline?did=8008001234"
    assert env["agi_extension"] == env["agi_arg_1"] == "8008001234"
    assert env["agi_context"] == "from-pstn"
    assert env["agi_callerid"] == "13800138000" and env["agi_calleridname"] == "Wang Fang"
    assert env["agi_channel"].startswith("Local/8008001234@from-pstn-")
    assert env["agi_channel"].endswith(";2")
    assert summary.outcome == "answered"  # an IVR that says nothing: queued on defaults
    assert summary.queues == ("support",)  # the 800 number's, from hotline-numbers.conf


async def test_replays_the_recorded_session_byte_for_byte() -> None:
    """The commands of the recorded session get the replies Asterisk gave, byte for byte
    (the caller presses 1 after the menu prompt, during WAIT FOR DIGIT: 2.2 s after the
    welcome began, which is 1 s long, and the menu too)."""
    commands = (AGI_DIR / "01-answered-call-1.agi.out").read_bytes().splitlines(keepends=True)
    header = (AGI_DIR / "01-answered-call-1.agi.in").read_bytes().split(b"\n\n", 1)
    expected = header[1].splitlines(keepends=True)
    got: list[bytes] = []
    done = asyncio.Event()

    async def raw(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while (await reader.readline()).strip():
            pass  # the environment block
        for command in commands:
            writer.write(command)
            got.append(await reader.readline())
        writer.close()
        done.set()

    server = await asyncio.start_server(raw, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with rig(None, agi=AgiTarget("127.0.0.1", port, ivr_timeout_s=6000)) as r:
            summary, linkedid = await r.call(caller="13800138000",
                                             ivr_inputs=parse_ivr_inputs("1@2.2"))
            await asyncio.wait_for(done.wait(), 10)
    finally:
        server.close()
        await server.wait_closed()
    assert got == expected
    assert [m["Command"] for m in r.ami.of(linkedid, "AGIExecStart")] == \
        [c.decode().rstrip("\n") for c in commands]
    assert [m["ResultCode"] for m in r.ami.of(linkedid, "AGIExecEnd")] == ["200"] * len(commands)
    assert [m["Digit"] for m in r.ami.of(linkedid, "DTMFEnd")] == ["1"]
    assert summary.ivr["QUEUE"] == "support"
    assert summary.ivr["CRM_CONTACT_ID"] == "CRM-138000"
    assert summary.outcome == "answered"


async def test_prompts_keys_and_digits_answer_like_asterisk() -> None:
    replies: list[str] = []

    async def handler(s: AgiSession) -> None:
        for command in (("ANSWER",), ("STREAM FILE", "welcome", ""),
                        ("STREAM FILE", "main_menu", "0123"),      # 1 pressed mid-prompt
                        ("STREAM FILE", "main_menu", "0123"),      # 9: not an escape digit
                        ("WAIT FOR DIGIT", "3000"),                 # silent: times out
                        ("GET DATA", "enter_ticket", "3000", "12"),  # 2026001#
                        ("GET DATA", "enter_ticket", "3000", "12"),  # 55 then silence
                        ("GET DATA", "enter_ticket", "3000", "4"),   # 1234: 4 is the max
                        ("GET DATA", "enter_ticket", "3000"),        # nothing at all
                        ("STREAM FILE", "enter_ticket", "0123456789#"),  # 778899# over it
                        ("GET DATA", "", "3000", "12"),              # ...the rest: 78899#
                        ("SAY DATETIME", "1790000000", "", "BdY", "Asia/Shanghai"),
                        ("SAY DIGITS", "2026001", "#"),              # # stops the read-back
                        ("SAY NUMBER", "42", ""),
                        ("GET OPTION", "more", "09", "2000"),        # 0 after the prompt
                        ("GET VARIABLE", "HOTLINE_DID"), ("GET VARIABLE", "NOPE"),
                        ("GET FULL VARIABLE", "${CALLERID(name)}/${EXTEN}/${NOPE}"),
                        ("SET VARIABLE", "CHANNEL(language)", "zh"),
                        ("GET FULL VARIABLE", "${CHANNEL(language)}"),
                        ("EXEC", "NoOp", "hello"), ("EXEC", "Frobnicate", ""),
                        ("VERBOSE", "Hotline IVR: test", "1"), ("NOOP",),
                        ("CHANNEL STATUS",),
                        ("TAKE OVER THE WORLD",), ("WAIT FOR DIGIT",), ("SET VARIABLE", "X")):
            reply = await s.command(*command)
            replies.append(reply.text if reply.code == 200 else f"{reply.code} {reply.text}")

    inputs = (IvrInput("1", after_s=1.4), IvrInput("9", after_s=0.2), IvrInput(""),
              IvrInput("2026001#"), IvrInput("55"), IvrInput("1234"), IvrInput(""),
              IvrInput("778899#", after_s=0.5),
              # from the start of SAY DATETIME (3 s, no escape digits: a key then is lost)
              IvrInput("#", after_s=3.6),
              IvrInput("0", after_s=2.5))  # from SAY NUMBER (1 s): after GET OPTION's prompt
    async with rig(handler) as r:
        summary, linkedid = await r.call(caller="13900000001", name="Li Na",
                                         ivr_inputs=inputs)
    assert replies == [
        "result=0", "result=0 endpos=8000", "result=49 endpos=3200", "result=0 endpos=8000",
        "result=0", "result=2026001", "result=55 (timeout)", "result=1234", "result= (timeout)",
        "result=55 endpos=4000", "result=78899", "result=0",
        "result=35", "result=0", "result=48 endpos=8000",
        "result=1 (4008001234)", "result=0", "result=1 (Li Na/4008001234/)", "result=1",
        "result=1 (zh)", "result=0", "result=-2", "result=1", "result=0", "result=6",
        "510 Invalid or unknown command", "520 End of proper usage.",
        "520 End of proper usage.",
    ]
    digits = "".join(m["Digit"] for m in r.ami.of(linkedid, "DTMFEnd"))
    assert digits == "192026001#551234778899##0"  # what the caller pressed, as DTMF
    ends = r.ami.of(linkedid, "AGIExecEnd")
    assert [e["ResultCode"] for e in ends][-3:] == ["510", "520", "520"]
    assert summary.outcome == "answered"


async def test_a_key_pressed_during_a_prompt_without_escape_digits_is_lost() -> None:
    """Asterisk's waitstream reads DTMF and drops a key that is not an escape digit
    (main/file.c): a "0" pressed during the welcome streamed with "" is not heard by the
    next command; a key pressed after the prompt is. Playback() drops keys alike."""
    replies: list[str] = []

    async def handler(s: AgiSession) -> None:
        for command in (("STREAM FILE", "welcome", ""),       # 0 at 0.5 s: lost
                        ("WAIT FOR DIGIT", "2000"),            # so nothing here
                        ("STREAM FILE", "welcome", ""),        # 7 at 1.5 s: after it
                        ("WAIT FOR DIGIT", "2000"),            # ...so heard here
                        ("EXEC", "Playback", "welcome&main_menu"),  # 3 at 1.2 s: lost
                        ("WAIT FOR DIGIT", "2000"),
                        ("SAY DIGITS", "123", ""),             # 5 at 0.2 s: lost
                        ("WAIT FOR DIGIT", "2000"),
                        ("STREAM FILE", "welcome", "0"),       # 9: not an escape digit
                        ("WAIT FOR DIGIT", "2000")):
            replies.append((await s.command(*command)).text)

    inputs = parse_ivr_inputs("0@0.5,T,7@1.5,3@1.2,T,5@0.2,T,9@0.5")
    async with rig(handler) as r:
        summary, linkedid = await r.call(ivr_inputs=inputs)
    assert replies == ["result=0 endpos=8000", "result=0", "result=0 endpos=8000",
                       "result=55", "result=0", "result=0", "result=0", "result=0",
                       "result=0 endpos=8000", "result=0"]
    assert [m["Digit"] for m in r.ami.of(linkedid, "DTMFEnd")] == ["0", "7", "3", "5", "9"]
    assert summary.outcome == "answered"


async def test_a_hang_up_during_a_prompt_without_escape_digits_cuts_it() -> None:
    seen: list[str] = []

    async def handler(s: AgiSession) -> None:
        seen.append((await s.stream_file("welcome", "")).text)
        with contextlib.suppress(AgiHangup):
            await s.command("WAIT FOR DIGIT", "2000")

    async with rig(handler) as r:
        summary, _ = await r.call(ivr_inputs=parse_ivr_inputs("H@0.3"))
    assert seen == ["result=-1 endpos=2400"]
    assert summary.outcome != "answered"


async def test_variables_set_by_the_ivr_reach_the_call_and_choose_its_queue() -> None:
    async def handler(s: AgiSession) -> None:
        await s.set_variable("QUEUE", "vip")
        await s.set_variable("HOTLINE_PRIORITY", "10")
        await s.set_variable("CRM_CUSTOMER_ID", "42")
        await s.set_variable("IVR_PATH", "welcome>main_menu>to_agent")
        reply = await s.command("GET VARIABLE", "QUEUE")
        assert reply.data == "vip"

    async with rig(handler) as r:
        summary, linkedid = await r.call(did="4008001234")
    assert summary.queues == ("vip",)
    assert summary.outcome == "answered"
    assert summary.ivr["QUEUE"] == "vip"
    assert summary.ivr["QUEUE_PRIO"] == "10"
    assert summary.ivr["HOTLINE_PRIORITY"] == "10"
    assert summary.ivr["CRM_CUSTOMER_ID"] == "42"
    assert summary.ivr["IVR_PATH"] == "welcome>main_menu>to_agent"
    assert summary.ivr["HOTLINE_AGI"] == "SUCCESS"
    ringing = next(e for e in r.ami.ringing if e.linkedid == linkedid)
    assert ringing.ivr["CRM_CUSTOMER_ID"] == "42"  # travels with the pop
    sets = [m["Command"] for m in r.ami.of(linkedid, "AGIExecStart")]
    assert sets[:2] == ["SET VARIABLE QUEUE vip", "SET VARIABLE HOTLINE_PRIORITY 10"]
    assert r.ami.varsets(linkedid)["AGISTATUS"] == "SUCCESS"


async def test_a_queue_name_from_the_ivr_cannot_inject_queue_options() -> None:
    async def handler(s: AgiSession) -> None:
        await s.set_variable("QUEUE", "nosuchqueue,r")

    async with rig(handler) as r:
        summary, _ = await r.call(did="8008001234")
    # unknown queue: the number's default, deploy/asterisk's HOTLINE_QUEUE_8008001234
    assert summary.queues == ("support",)
    assert summary.outcome == "answered"


# -------------------------------------------------------------------------------- hang-ups
async def test_caller_hangs_up_mid_menu_the_server_hears_hangup() -> None:
    seen: list[str] = []

    async def handler(s: AgiSession) -> None:
        reply = await s.stream_file("main_menu", "0123")
        seen.append(reply.text)
        try:
            await s.set_variable("IVR_PATH", "main_menu")
        except AgiHangup as exc:
            seen.append(f"hangup: {exc}")

    async with rig(handler) as r:
        summary, linkedid = await r.call(ivr_inputs=parse_ivr_inputs("H@0.3"))
    assert seen[0] == "result=-1 endpos=2400"  # hung up 0.3 s into the prompt
    assert seen[1].startswith("hangup:")
    assert summary.outcome == "ivr-only"
    assert summary.queues == ()
    assert summary.hangup_by == "caller"
    assert not r.ami.of(linkedid, "QueueCallerJoin")
    assert r.ami.varsets(linkedid)["AGISTATUS"] == "HANGUP"
    hangups = [m["Channel"] for m in r.ami.of(linkedid, "Hangup")]
    assert hangups[0].endswith(";1")  # the caller's side first


async def test_dead_channel_commands_get_511_when_agi_does_not_exit_on_hangup() -> None:
    seen: list[str] = []

    async def raw_handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while (await reader.readline()).strip():
            pass
        for command in (b"WAIT FOR DIGIT 5000\n", b"SET VARIABLE IVR_PATH x\n",
                        b"STREAM FILE goodbye \"\"\n", b"VERBOSE bye 1\n"):
            writer.write(command)
            line = await reader.readline()
            if line == b"HANGUP\n":
                seen.append("HANGUP")
                line = await reader.readline()
            seen.append(line.decode().strip())
        writer.close()

    server = await asyncio.start_server(raw_handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        target = AgiTarget("127.0.0.1", port, exit_on_hangup=False, ivr_timeout_s=6000,
                           dead_grace_s=1000)
        async with rig(None, agi=target) as r:
            summary, _ = await r.call(ivr_inputs=parse_ivr_inputs("H@1"))
    finally:
        server.close()
        await server.wait_closed()
    assert seen == ["200 result=-1", "HANGUP", "200 result=1",
                    "511 Command Not Permitted on a dead channel or intercepted channel",
                    "200 result=1"]
    assert summary.outcome == "ivr-only"


async def test_ivr_hangup_command_ends_the_call_without_queueing() -> None:
    async def handler(s: AgiSession) -> None:
        await s.stream_file("callback_confirmed", "")
        await s.hangup()

    async with rig(handler) as r:
        summary, linkedid = await r.call()
    assert summary.outcome == "ivr-only"
    assert not r.ami.of(linkedid, "QueueCallerJoin")
    assert r.ami.varsets(linkedid)["AGISTATUS"] == "HANGUP"
    hangups = [m["Channel"] for m in r.ami.of(linkedid, "Hangup")]
    assert hangups[0].endswith(";2")  # the dialplan side ends the call


async def test_ami_hangup_while_the_server_thinks() -> None:
    """The caller's channel is hung up (AMI Hangup) while the server has not answered:
    the server gets HANGUP at once, the call is not queued."""
    gate = asyncio.Event()
    seen: list[str] = []

    async def handler(s: AgiSession) -> None:
        await s.answer()
        await gate.wait()  # a slow lookup
        try:
            await s.command("NOOP")
        except AgiHangup as exc:
            seen.append(str(exc))

    async with rig(handler) as r:
        call = r.sim.place_call(caller="13800138000", script=CallScript())
        for _ in range(1000):
            if r.sessions:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        assert call.c2 is not None
        assert r.sim.pbx.hangup_channel(call.c2.name)
        await asyncio.wait_for(call.done, 10)
        gate.set()
        summary = await r.ami.summary(call.linkedid)
        for _ in range(500):
            if seen:
                break
            await asyncio.sleep(0.01)
    assert seen  # the server's next command found the channel gone
    assert call.agi is not None and call.agi.ended_by == "caller"
    assert summary.outcome == "ivr-only"


# ------------------------------------------------------------------------------- fail open
async def test_agi_server_down_still_queues_the_call() -> None:
    async with rig(None) as r:
        summary, linkedid = await r.call(did="8008001234")
    assert r.ami.varsets(linkedid)["AGISTATUS"] == "FAILURE"
    assert summary.ivr["HOTLINE_AGI"] == "FAILURE"
    assert summary.queues == ("support",)  # the same queue as with the IVR up
    assert summary.outcome == "answered"


async def test_the_default_queue_of_a_number_is_the_dialplans_globals() -> None:
    """DEFAULT_QUEUE is HOTLINE_QUEUE_<DID>, else HOTLINE_DEFAULT_QUEUE: whatever the
    plan says, not a rule of the simulator's (it sent every 800 caller to vip)."""
    plan = QueueDefaults({"8008001234": "vip"}, default="support")
    async with rig(None, queue_defaults=plan) as r:
        vip, vip_id = await r.call(did="8008001234")
        other, _ = await r.call(did="4008001234")
    assert r.ami.varsets(vip_id)["DEFAULT_QUEUE"] == "vip"
    assert (vip.queues, other.queues) == (("vip",), ("support",))


async def test_agi_server_too_slow_still_queues_the_call() -> None:
    """The server accepts and answers one command, then hangs: after the dialplan's
    TIMEOUT(absolute) the AGI gets HANGUP and the T extension queues the caller."""
    seen: list[str] = []

    async def handler(s: AgiSession) -> None:
        await s.set_variable("QUEUE", "vip")
        try:
            await asyncio.sleep(30)  # stuck in a lookup that never returns
        finally:
            seen.append("cancelled or woken")

    sessions: list[str] = []

    async def recorded(s: AgiSession) -> None:
        sessions.append(s.env["agi_uniqueid"])
        await handler(s)

    async with AgiServer(recorded, port=0) as server:
        target = AgiTarget("127.0.0.1", server.port, ivr_timeout_s=100)
        async with rig(None, agi=target) as r:
            summary, linkedid = await r.call(did="4008001234")
    assert sessions
    varsets = r.ami.varsets(linkedid)
    assert varsets["AGISTATUS"] == "HANGUP"
    assert summary.ivr["HOTLINE_AGI"] == "TIMEOUT"
    assert summary.queues == ("vip",)  # what the IVR had set before it got stuck
    assert summary.outcome == "answered"


async def test_agi_server_that_fails_at_once_still_queues_the_call() -> None:
    async def handler(s: AgiSession) -> None:
        raise RuntimeError("flow crashed")

    async with rig(handler) as r:
        summary, _ = await r.call(did="4008001234")
    assert summary.ivr["HOTLINE_AGI"] == "SUCCESS"  # Asterisk only sees a closed socket
    assert summary.queues == ("support",)
    assert summary.outcome == "answered"


async def test_a_call_refused_by_the_agi_session_cap_still_reaches_an_agent() -> None:
    """Every place taken (here by one silent connection): the AGI server closes the
    call's connection at once; the dialplan goes on to the queue and an agent answers."""
    sessions: list[str] = []

    async def handler(s: AgiSession) -> None:
        sessions.append(s.env["agi_uniqueid"])

    limits = AgiLimits(max_sessions=1, header_timeout=60)
    async with AgiServer(handler, port=0, limits=limits) as server:
        _, squatter = await asyncio.open_connection("127.0.0.1", server.port)
        for _ in range(500):
            if server.active_sessions:
                break
            await asyncio.sleep(0.01)
        target = AgiTarget("127.0.0.1", server.port, ivr_timeout_s=6000)
        async with rig(None, agi=target) as r:
            summary, linkedid = await r.call(did="4008001234")
        squatter.close()
        await squatter.wait_closed()
    assert server.refused == {"sessions": 1}
    assert sessions == []  # the IVR never ran for it
    assert summary.ivr["HOTLINE_AGI"] == "SUCCESS"  # Asterisk only sees a closed socket
    assert summary.queues == ("support",)
    assert summary.outcome == "answered" and summary.agent


async def test_missing_prompt_file_fails_the_command_and_the_status(tmp_path: Path) -> None:
    """With a sounds folder, STREAM FILE looks the prompt up as Asterisk does (an absolute
    name gets the channel language before its last part): a missing one is result=-1 and
    AGISTATUS=FAILURE, and the call is still queued."""
    sounds = tmp_path / "hotline"
    (sounds / "zh").mkdir(parents=True)
    (sounds / "zh" / "welcome.wav").write_bytes(b"RIFF")
    replies: list[str] = []

    async def handler(s: AgiSession) -> None:
        await s.set_variable("CHANNEL(language)", "zh")
        for name in (f"{sounds}/welcome", f"{sounds}/nosuchprompt"):
            replies.append((await s.stream_file(name, "")).text)

    async with AgiServer(handler, port=0) as server:
        target = AgiTarget("127.0.0.1", server.port, sounds_dir=str(sounds),
                           ivr_timeout_s=6000)
        async with rig(None, agi=target) as r:
            summary, linkedid = await r.call()
    assert replies == ["result=0 endpos=8000", "result=-1 endpos=0"]
    ends = r.ami.of(linkedid, "AGIExecEnd")
    assert [e["ResultCode"] for e in ends] == ["200", "200", "-1"]
    assert r.ami.varsets(linkedid)["AGISTATUS"] == "FAILURE"
    assert summary.outcome == "answered"  # a failed AGI still queues


# --------------------------------------------------------------------- queue after the IVR
async def test_higher_priority_callers_are_answered_first() -> None:
    """Three callers wait while every agent is paused; the IVR gives them priorities 0,
    10 and 5. When one agent comes back, app_queue's order is 10, 5, 0."""
    priorities = {"13900000001": "0", "13900000002": "10", "13900000003": "5"}

    async def handler(s: AgiSession) -> None:
        await s.set_variable("HOTLINE_PRIORITY", priorities[s.env["agi_callerid"]])

    async with rig(handler) as r:
        for agent in ("Alice", "Bob", "Carol"):
            r.sim.set_agent(agent, paused=True)
        calls = []
        for caller in priorities:
            call = r.sim.place_call(caller=caller, script=CallScript(talk=1.0, patience=900))
            calls.append(call)
            for _ in range(2000):
                # queued, and its QueueCallerJoin read by the AMI client (the next caller
                # must not join first, and the joins below are read from the client)
                if call in r.sim.pbx.queues["support"].entries and r.ami.of(
                        call.linkedid, "QueueCallerJoin"):
                    break
                await asyncio.sleep(0.005)
            else:
                raise AssertionError("caller never queued")
        joins = [(m["CallerIDNum"], m["Position"]) for m in r.ami.messages
                 if m.get("Event") == "QueueCallerJoin"]
        r.sim.set_agent("Alice", paused=False)
        await asyncio.wait_for(asyncio.gather(*(c.done for c in calls)), 60)
        connects = [m["CallerIDNum"] for m in r.ami.messages
                    if m.get("Event") == "AgentConnect"]
    assert joins == [("13900000001", "1"), ("13900000002", "1"), ("13900000003", "2")]
    assert connects == ["13900000002", "13900000003", "13900000001"]


def signed_in(sim: PbxSimulator, *names: str) -> None:
    """What Hotline's sign-in does at the PBX for each agent: QueueAdd to her queues,
    then to her personal queue ``agent-<ext>`` (queues.conf lists nobody anywhere)."""
    for name in names:
        agent = sim.pbx.find_agent(name)
        assert agent is not None
        sim.pbx.sign_in(name)
        queue = personal_queue(agent.interface)
        assert queue is not None and agent.interface in sim.pbx.queues[queue].members


def _preferring(agent: str) -> Handler:
    async def handler(s: AgiSession) -> None:
        await s.set_variable("HOTLINE_PREFERRED_AGENT", agent)
    return handler


async def test_preferred_agent_rings_first_when_free() -> None:
    async with rig(_preferring("Local/1002@agents/n")) as r:
        signed_in(r.sim, "Bob")
        summary, linkedid = await r.call(talk=1.0)
    assert summary.agent == "Bob"  # support is linear: Alice would have been first
    assert summary.queues == ("agent-1002",)
    assert [a.agent for a in summary.agents_tried] == ["Bob"]
    assert summary.ivr["HOTLINE_PREFERRED_AGENT"] == "Local/1002@agents/n"


async def test_preferred_agent_hotline_never_signed_in_is_not_rung() -> None:
    """Hotline never signed Bob in: his personal queue is empty, so the caller is refused
    there at once (JOINEMPTY) and goes on to the IVR's queue; his desk never rings."""
    async with rig(_preferring("Local/1002@agents/n"), agents_signed_in=("Alice", "Carol")) as r:
        summary, linkedid = await r.call(talk=1.0)
    assert summary.queues == ("support",)
    assert [a.agent for a in summary.agents_tried] == ["Alice"]
    assert r.ami.varsets(linkedid)["QUEUESTATUS"] == "JOINEMPTY"


async def test_busy_preferred_agent_sends_the_caller_to_the_queue() -> None:
    async with rig(_preferring("1002")) as r:
        signed_in(r.sim, "Bob")
        r.sim.set_agent("Bob", paused=True)
        summary, linkedid = await r.call(talk=1.0)
    assert summary.agent == "Alice"
    assert summary.queues == ("support",)  # JOINEMPTY: never joined Bob's queue
    assert r.ami.varsets(linkedid)["QUEUESTATUS"] == "JOINEMPTY"


async def test_preferred_agent_who_does_not_answer_then_the_queue() -> None:
    async with rig(_preferring("Local/1002@agents/n")) as r:
        signed_in(r.sim, "Bob")
        r.sim.set_agent("Bob", mode="noanswer")
        summary, linkedid = await r.call(talk=1.0)
    assert summary.queues == ("agent-1002", "support")
    assert [a.agent for a in summary.agents_tried] == ["Bob", "Alice"]
    assert summary.agents_tried[0].result == "no-answer"
    assert summary.agent == "Alice"
    assert summary.outcome == "answered"


async def test_without_an_agi_address_the_capture_dialplan_is_kept() -> None:
    """No AGI address: the fake AGIExec events of the capture rig, no TCP session."""
    sim = PbxSimulator(time_scale=SCALE)
    await sim.start()
    try:
        assert sim.pbx.agi is None
        call = sim.place_call(caller="13800138000", script=CallScript(talk=1.0))
        await asyncio.wait_for(call.done, 30)
        assert call.agi is None and call.outcome == "answered"
    finally:
        await sim.close()


@pytest.mark.parametrize("text, expected", [
    ("1,T,123456#,H", (IvrInput("1"), IvrInput(""), IvrInput("123456#"), IvrInput(hangup=True))),
    ("12", (IvrInput("1"), IvrInput("2"))),
    ("1@4", (IvrInput("1", after_s=4.0),)),
    ("", ()),
])
def test_parse_ivr_inputs(text: str, expected: tuple[IvrInput, ...]) -> None:
    assert parse_ivr_inputs(text) == expected


def test_parse_ivr_inputs_refuses_what_a_phone_cannot_send() -> None:
    with pytest.raises(ValueError):
        parse_ivr_inputs("1,x")


# ------------------------------------------------------- end to end: IVR -> queue -> pop -> log
@asynccontextmanager
async def logging_app(db_url: str, sim: PbxSimulator) -> AsyncIterator[Any]:
    """The app (tracker, bus, call log) connected to the simulator over AMI; its own AGI
    service off: the test runs the IVR runtime itself."""
    from aiohttp import web

    from hotline.app import AMI, create_app
    from hotline.settings import Settings

    settings = Settings(database_url=db_url, ami_port=sim.port, ami_reconnect_min_s=0.05,
                        http_port=0, agi_enabled=False)
    app = create_app(settings)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    try:
        await app[AMI].wait_connected(10)
        yield app
    finally:
        await runner.cleanup()


async def call_record(app: Any, linkedid: str) -> dict[str, Any]:
    from hotline.app import CALL_LOG

    for _ in range(3000):
        row = await app[CALL_LOG].get(linkedid)
        if row:
            return dict(row)
        await asyncio.sleep(0.01)
    raise AssertionError(f"no call record for {linkedid}")


async def test_ivr_runtime_to_queue_pop_and_call_log(db_url: str) -> None:
    """Our IVR runtime behind our FastAGI server, the simulator calling it, the app logging:
    a VIP caller is recognised, offered to their free account manager first (Bob, not
    the queue's first member), and the pop and the call record carry what the IVR found."""
    from datetime import UTC, datetime

    from sqlalchemy.ext.asyncio import async_sessionmaker

    from crm_core.db import make_engine, upgrade_async
    from crm_core.models import Customer, PhoneNumber, User
    from ivr.runtime import IvrRuntime
    from ivr.store import seed_defaults

    await upgrade_async(db_url)
    engine = make_engine(db_url)
    try:
        async with async_sessionmaker(engine, expire_on_commit=False).begin() as s:
            bob = User(username="bob.manager", display_name="Bob",
                       agent_interface="Local/1002@agents/n")
            s.add(bob)
            await s.flush()
            vip = Customer(name="华东医药包装有限公司", vip_tier=2, owner_id=bob.id,
                           status="active")
            s.add(vip)
            await s.flush()
            s.add(PhoneNumber(customer_id=vip.id, number_e164="+8613800138000",
                              raw="13800138000", kind="mobile"))
            await seed_defaults(s, ["4008001234", "8008001234"])
        open_hours = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)  # a Wednesday, 10:00 Shanghai
        runtime = IvrRuntime(engine, agent_free=lambda i: i == "Local/1002@agents/n",
                             clock=lambda: open_hours)
        async with AgiServer(runtime.handle, port=0) as server:
            sim = PbxSimulator(time_scale=SCALE, agi=AgiTarget("127.0.0.1", server.port,
                                                              ivr_timeout_s=6000))
            await sim.start()
            signed_in(sim, "Bob")
            try:
                async with logging_app(db_url, sim) as app:
                    call = sim.place_call(caller="13800138000", name="Zhang Wei",
                                          script=CallScript(ivr_digits="0", talk=2.0))
                    await asyncio.wait_for(call.done, 60)
                    row = await call_record(app, call.linkedid)
            finally:
                await sim.close()
    finally:
        await engine.dispose()
    assert call.agi is not None and call.agi.status == "SUCCESS"
    assert row["outcome"] == "answered"
    assert row["agent"] == "Bob"
    assert row["queues"] == ["agent-1002"]
    assert row["customer_id"] == vip.id
    ivr = row["ivr"]
    assert ivr["HOTLINE_CUSTOMER_ID"] == str(vip.id)
    assert ivr["HOTLINE_PREFERRED_AGENT"] == "Local/1002@agents/n"
    assert ivr["QUEUE_PRIO"] != "0" and call.priority == int(ivr["QUEUE_PRIO"])  # VIP
    assert "main_menu" in ivr["HOTLINE_IVR_PATH"]
    assert ivr["HOTLINE_DIGITS"] == "0"
    assert ivr["HOTLINE_AGI"] == "SUCCESS"
    assert row["recording"] is None  # the simulator announces recordings only when asked
    assert "HOTLINE_RECORDING" not in ivr


@asynccontextmanager
async def runtime_server(db_url: str) -> AsyncIterator[Any]:
    """Our IVR runtime (default flow, open hours) behind our FastAGI server."""
    from datetime import UTC, datetime

    from sqlalchemy.ext.asyncio import async_sessionmaker

    from crm_core.db import make_engine, upgrade_async
    from ivr.runtime import IvrRuntime
    from ivr.store import seed_defaults

    await upgrade_async(db_url)
    engine = make_engine(db_url)
    try:
        async with async_sessionmaker(engine).begin() as s:
            await seed_defaults(s, ["4008001234", "8008001234"])
        open_hours = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)  # a Wednesday, 10:00 Shanghai
        runtime = IvrRuntime(engine, clock=lambda: open_hours)
        async with AgiServer(runtime.handle, port=0) as server:
            yield server
    finally:
        await engine.dispose()


async def test_a_prompt_missing_on_the_pbx_does_not_fail_the_ivr(db_url: str,
                                                                  tmp_path: Path) -> None:
    """The sounds folder lacks the main menu: the runtime looks it up (STAT), skips it, and
    the AGI ends in SUCCESS; streaming it would have made res_agi end it in FAILURE,
    which the call log keeps as HOTLINE_AGI."""
    from ivr.prompts_build import CATALOGUE

    sounds = tmp_path / "sounds"
    (sounds / "hotline" / "zh").mkdir(parents=True)
    for prompt_id, texts in CATALOGUE.items():
        if texts.get("zh") and prompt_id != "main_menu":
            (sounds / "hotline" / "zh" / f"{prompt_id}.wav").write_bytes(b"RIFF")
    async with runtime_server(db_url) as server:
        target = AgiTarget("127.0.0.1", server.port, sounds_dir=str(sounds),
                           ivr_timeout_s=6000)
        async with rig(None, agi=target) as r:
            summary, linkedid = await r.call(caller="13700137000",
                                             ivr_inputs=parse_ivr_inputs("0@1.5"))
    streamed = [m["Command"] for m in r.ami.of(linkedid, "AGIExecStart")
                if m["Command"].startswith("STREAM FILE")]
    assert [c.split()[2] for c in streamed] == ["hotline/zh/welcome", "hotline/zh/transfer"]
    assert "-1" not in [m["ResultCode"] for m in r.ami.of(linkedid, "AGIExecEnd")]
    assert summary.ivr["HOTLINE_AGI"] == "SUCCESS"
    assert summary.ivr["HOTLINE_ACTION"] == "queue"
    assert "main_menu:0" in summary.ivr["HOTLINE_IVR_PATH"]
    assert summary.outcome == "answered"


async def test_a_key_pressed_during_the_welcome_answers_the_menu(db_url: str) -> None:
    """On Asterisk (and so the simulator) a key pressed during a prompt streamed without
    escape digits is lost: the runtime plays the welcome with the menu's keys."""
    async with runtime_server(db_url) as server:
        async with rig(None, agi=AgiTarget("127.0.0.1", server.port,
                                           ivr_timeout_s=6000)) as r:
            summary, linkedid = await r.call(caller="13700137000",
                                             ivr_inputs=parse_ivr_inputs("0@0.5"))
    path = summary.ivr["HOTLINE_IVR_PATH"].split(",")
    assert "main_menu:0" in path and "main_menu:timeout" not in path
    streamed = [m["Command"] for m in r.ami.of(linkedid, "AGIExecStart")
                if m["Command"].startswith("STREAM FILE")]
    assert streamed[0] == "STREAM FILE hotline/zh/welcome 0123456789"
    assert not any("hotline/zh/main_menu" in c for c in streamed)  # answered already
    assert summary.ivr["HOTLINE_AGI"] == "SUCCESS"


async def test_recorded_call_keeps_its_recording_in_the_call_record(db_url: str) -> None:
    """HOTLINE_RECORD=yes in the deploy dialplan (``record_calls``): the caller channel's
    HOTLINE_RECORDING VarSet crosses real AMI, the tracker and the call log, and the
    record keeps the file's name relative to the recordings folder."""
    import re

    from crm_core.db import upgrade_async

    async def handler(s: AgiSession) -> None:
        await s.set_variable("QUEUE", "support")

    await upgrade_async(db_url)
    async with rig(handler, record_calls=True) as r, logging_app(db_url, r.sim) as app:
        call = r.sim.place_call(caller="13800138000", script=CallScript(talk=1.0))
        await asyncio.wait_for(call.done, 60)
        row = await call_record(app, call.linkedid)
    assert call.c2 is not None
    [announced] = [m["Value"] for m in r.ami.of(call.linkedid, "VarSet")
                   if m["Variable"] == "HOTLINE_RECORDING"]
    assert re.fullmatch(rf"\d{{4}}/\d{{2}}/\d{{2}}/{re.escape(call.c2.uniqueid)}\.wav", announced)
    assert row["outcome"] == "answered"
    assert row["recording"] == announced
    assert "HOTLINE_RECORDING" not in row["ivr"]
    assert assert_runs_deploy_dialplan(r.ami, call.linkedid, "4008001234") >= 14


async def test_hotline_simulate_with_agi_runs_every_calls_ivr() -> None:
    """``hotline simulate --agi HOST:PORT``: the standalone simulator calls our FastAGI
    server for every call (demo keys), then stops after --total-calls as before."""
    import sys

    from tests.shared import ROOT

    dids: list[str] = []

    async def handler(s: AgiSession) -> None:
        dids.append(s.env["agi_extension"])
        await s.stream_file("hotline/en/main_menu", "0123456789*#")

    async with AgiServer(handler, port=0) as server:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "hotline.cli", "simulate", "--port", "0", "--agents", "3",
            "--total-calls", "3", "--calls-per-second", "20", "--time-scale", "0.01",
            "--agi", f"127.0.0.1:{server.port}", cwd=ROOT,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        try:
            assert proc.stdout is not None
            first = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
            assert f"IVR on agi://127.0.0.1:{server.port}/hotline" in first
            port = int(first.split("listening on 127.0.0.1:")[1].split()[0])
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(encode_action("Login", {"Username": "hotline",
                                                 "Secret": "hotline-secret"}))
            received = b""
            while chunk := await asyncio.wait_for(reader.read(65536), 60):
                received += chunk
            writer.close()
            assert await asyncio.wait_for(proc.wait(), 30) == 0
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    assert len(dids) == 3 and set(dids) <= {"4008001234", "8008001234"}
    assert received.count(b"Event: AGIExecStart") == 0  # noise=1: no AGIExec events...
    assert received.count(b"Variable: HOTLINE_AGI\r\nValue: SUCCESS") == 3  # ...but VarSets
    assert b"Event: Shutdown" in received
    # its load agents are signed in (deploy's queues.conf has no member): calls are taken
    assert b"Event: AgentConnect" in received


async def test_demo_pbx_calls_the_ivr_it_is_pointed_at() -> None:
    """What ``hotline demo`` does: the simulator starts without calls, is pointed at the
    app's FastAGI port once it listens, then its callers run the IVR there."""
    from telephony.simulator.demo_load import DemoCaller, start_demo_pbx

    seen: list[dict[str, str]] = []

    async def handler(s: AgiSession) -> None:
        seen.append(dict(s.env))

    async with AgiServer(handler, port=0) as server:
        pbx = await start_demo_pbx(username="hotline", secret="hotline-secret",
                                   calls_per_second=20, callers=[DemoCaller("13800138000", "王芳")],
                                   dids=["4008001234"], agi=AgiTarget("127.0.0.1", 0),
                                   start_calls=False)
        try:
            await asyncio.sleep(0.1)
            assert pbx.load.placed == 0  # nothing before the IVR listens
            pbx.point_ivr_at(server.port)
            pbx.start_calls()
            for _ in range(1000):
                if len(seen) >= 2:
                    break
                await asyncio.sleep(0.01)
        finally:
            await pbx.close()
    assert len(seen) >= 2
    assert seen[0]["agi_callerid"] == "13800138000"
    assert seen[0]["agi_extension"] == "4008001234"


# ------------------------------------------------- the simulator runs deploy/asterisk's dialplan
def _dialplan(context: str) -> dict[tuple[str, int], str]:
    """(extension, priority) -> application, from deploy/asterisk/extensions.conf."""
    import re

    from tests.shared import ROOT

    steps: dict[tuple[str, int], str] = {}
    current, exten, prio = "", "", 0
    for raw in (ROOT / "deploy" / "asterisk" / "extensions.conf").read_text().splitlines():
        line = raw.strip()
        if line.startswith("["):
            current = line[1:line.index("]")]
            continue
        if current != context:
            continue
        m = re.match(r"exten\s*=>\s*([^,]+),1,(\w+)", line)
        if m:
            exten, prio = m.group(1), 1
            steps[(exten, prio)] = m.group(2)
            continue
        m = re.match(r"same\s*=>\s*n(?:\([^)]*\))?,(\w+)", line)
        if m and exten:
            prio += 1
            steps[(exten, prio)] = m.group(1)
    return steps


def assert_runs_deploy_dialplan(ami: Ami, linkedid: str, did: str) -> int:
    """Every dialplan step the simulator reports for the caller's channel (Newexten) is the
    application deploy/asterisk/extensions.conf has at that priority."""
    plan = _dialplan("from-pstn")
    seen = 0
    for m in ami.of(linkedid, "Newexten"):
        if m["Channel"].endswith(";2") and m["Context"] == "from-pstn":
            exten = "T" if m["Exten"] == "T" else "_X."
            assert m["Exten"] in (did, "T")
            assert plan.get((exten, int(m["Priority"]))) == m["Application"], m
            seen += 1
    return seen


async def test_simulated_steps_are_the_deploy_dialplans() -> None:
    async with rig(_preferring("Local/1002@agents/n")) as r:
        signed_in(r.sim, "Bob")
        r.sim.set_agent("Bob", mode="noanswer")
        summary, linkedid = await r.call(talk=1.0)
    assert summary.queues == ("agent-1002", "support")
    apps = [m["Application"] for m in r.ami.of(linkedid, "Newexten")
            if m["Channel"].endswith(";2") and m["Context"] == "from-pstn"]
    assert apps.count("Queue") == 2 and "AGI" in apps
    assert assert_runs_deploy_dialplan(r.ami, linkedid, "4008001234") >= 14


async def test_queue_timeout_path_is_the_deploy_dialplans() -> None:
    async def handler(s: AgiSession) -> None:
        await s.set_variable("QUEUE", "vip")

    async with rig(handler) as r:
        for agent in ("Alice", "Carol"):
            r.sim.set_agent(agent, paused=True)
        summary, linkedid = await r.call(patience=900)
    assert summary.outcome == "no-answer" and summary.queues == ("vip",)
    assert [m["Application"] for m in r.ami.of(linkedid, "Newexten")][-2:] == ["NoOp", "Hangup"]
    assert assert_runs_deploy_dialplan(r.ami, linkedid, "4008001234") >= 14


async def test_timeout_path_is_the_deploy_dialplans_t_extension() -> None:
    async def handler(s: AgiSession) -> None:
        await asyncio.sleep(30)

    async with AgiServer(handler, port=0) as server:
        target = AgiTarget("127.0.0.1", server.port, ivr_timeout_s=10)
        async with rig(None, agi=target) as r:
            summary, linkedid = await r.call(talk=1.0)
    assert summary.ivr["HOTLINE_AGI"] == "TIMEOUT"
    assert [m["Exten"] for m in r.ami.of(linkedid, "Newexten")].count("T") == 3
    assert assert_runs_deploy_dialplan(r.ami, linkedid, "4008001234") >= 12
