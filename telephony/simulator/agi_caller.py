"""The simulated Asterisk's side of FastAGI: a call dials our AGI server the way res_agi does.

``AgiCaller(target, channel, inputs).run(environment)`` connects over TCP, sends the
environment block, then answers every command line as Asterisk 22 would, until the server
closes the connection (the IVR is done), the caller hangs up, the IVR deadline passes or the
connection fails. The PBX (``dialplan.py``) hands in an :class:`AgiChannel`: the call's simulated
clock, its variables and the AMI events; this module keeps no PBX state.

What Asterisk does, and so what this does (res_agi.c, the recordings in ``agi/``):
- connect: refused, unreachable or slower than ``connect_timeout_s`` -> AGISTATUS=FAILURE and
  the dialplan goes on (fail open);
- every command: ``AGIExecStart``, the reply, ``AGIExecEnd`` (ResultCode 200/510/511/520, or
  -1 "Failure" when the command failed, e.g. a sound file that does not exist);
- replies: ``ANSWER`` ``200 result=0``; ``STREAM FILE f "<escape>"`` ``200 result=<ascii of the
  key that stopped it, or 0> endpos=<samples at 8 kHz>``, ``200 result=-1 endpos=0`` for a
  file it cannot open (and the command counts as failed: AGISTATUS=FAILURE at the end);
  ``GET DATA`` ``200 result=<digits>`` (``#`` ends it and is not returned), or ``200
  result=<digits so far> (timeout)``, ``200 result=-1`` at once when its prompt file cannot
  be opened (ast_app_getdata_full; not a failed command); ``WAIT FOR DIGIT`` ``200
  result=<ascii or 0>``; ``SAY DIGITS/NUMBER/ALPHA/DATE/TIME/DATETIME`` like STREAM FILE
  without endpos; ``GET OPTION``; ``SET VARIABLE`` ``200 result=1`` (a VarSet); ``GET
  VARIABLE`` ``200 result=1 (value)`` or ``200 result=0``; ``GET FULL VARIABLE`` (``${...}``
  substituted, innermost first, with ``ASTDATADIR`` and ``STAT(e,<path>)``: is the file
  there); ``VERBOSE``; ``NOOP``; ``EXEC`` (``200 result=-2`` for an unknown application);
  ``CHANNEL STATUS``; ``SET MUSIC``; ``HANGUP``; a command it does not know: ``510 Invalid
  or unknown command``; wrong arguments: the ``520-``...``520 End of proper usage.`` block;
- the caller hangs up (scripted ``H`` input or an AMI Hangup): the command under way returns
  ``200 result=-1``, then ``HANGUP`` is sent; with ``exit_on_hangup`` (the dialplan's
  ``AGIEXITONHANGUP=yes``) the connection is closed at once, otherwise the session goes on in
  dead mode: commands allowed on a dead channel still work, the others get ``511``;
- the IVR deadline (``ivr_timeout_s``, the dialplan's ``TIMEOUT(absolute)``) is a soft hang-up
  of the same kind: ``HANGUP`` is sent, AGISTATUS=HANGUP, and the dialplan's ``T`` extension
  sends the caller on to the queue (fail open on a slow server);
- the ``HANGUP`` command hangs the channel up (``200 result=1``, then ``HANGUP``).

Simulated time: prompts, key presses and timeouts pass on the call's simulated clock
(``channel.sleep``); waiting for the server is real time (``channel.io``) and counts against
the deadline, as it does on a real PBX.

The caller's keys: one :class:`IvrInput` per prompt that listens (STREAM FILE/SAY with escape
digits, GET OPTION, GET DATA, WAIT FOR DIGIT), taken in order. ``after_s`` counts from the
start of the first command that meets the input: one that listens, or a prompt played
without escape digits; a key pressed after a prompt ended carries over to the next command
(the recorded sessions press the menu key during the WAIT FOR DIGIT after the menu prompt).
A key pressed DURING a prompt played without escape digits (``STREAM FILE f ""``, ``SAY``
without escape digits, ``EXEC Playback``) is lost: Asterisk's waitstream reads the DTMF
and drops it (main/file.c), it is not kept for the next command (the AMI still shows the
DTMF). A command that reads one key takes the first key of its input and the caller types
on: the other keys reach the next command, ``key_gap_s`` apart (a ticket number keyed over
its prompt); GET DATA takes them all (up to its maximum; the rest, again, reach the next
command). An input with no keys is a caller who stays silent: it is used up by the next
command that can time out. A hang-up is met like a key: during a prompt it cuts it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TypeVar

log = logging.getLogger("telephony.simulator.agi")

T = TypeVar("T")

AGI_VERSION = "22.10.1"
SAMPLE_RATE = 8000  # endpos is counted in samples of the 8 kHz telephone format
MAX_LINE = 8192
SOUND_EXTENSIONS = (".wav", ".sln16", ".sln", ".ulaw", ".alaw", ".gsm", ".g722", ".wav16")

DEAD_ALLOWED = frozenset({
    ("asyncagi", "break"), ("database", "del"), ("database", "deltree"), ("database", "get"),
    ("database", "put"), ("exec",), ("get", "full", "variable"), ("get", "variable"), ("noop",),
    ("set", "variable"), ("verbose",),
})
"""Commands res_agi runs on a dead (hung up) channel; every other one gets 511 there."""

R_510 = "510 Invalid or unknown command"
R_511 = "511 Command Not Permitted on a dead channel or intercepted channel"
DIALPLAN_APPS = frozenset({"answer", "noop", "playback", "set", "verbose", "wait", "log"})
"""Applications EXEC runs (others answer ``result=-2``, as if their module were not loaded)."""

_VAR_REF = re.compile(r"\$\{([^{}]*)\}")
_STAT = re.compile(r"STAT\(e,([^)]*)\)")
DATA_DIR = "/var/lib/asterisk"  # Asterisk's default astdatadir
_DOWN: set[tuple[str, int]] = set()  # AGI servers found unreachable (logged once)


# --------------------------------------------------------------------------------- inputs
@dataclass(frozen=True)
class AgiTarget:
    """Where the dialplan's ``AGI(agi://host:port/script?did=...)`` goes, and its limits.

    ``connect_timeout_s`` is wall time (res_agi polls its connect for 2 s); ``ivr_timeout_s``
    is simulated time (the dialplan's ``TIMEOUT(absolute)``); ``sounds_dir``, when given, is
    Asterisk's sounds folder (``${ASTDATADIR}/sounds``: ``ASTDATADIR`` is its parent) and
    makes STREAM FILE fail (``result=-1``) for a prompt that is not there, looked up the way
    Asterisk does (``<dir>/<language>/<name>.<ext>`` for an absolute ``<dir>/<name>``);
    without it every sound is there.
    ``dead_grace_s`` bounds a dead session whose server never closes (without
    ``exit_on_hangup`` a real Asterisk would wait for ever).
    """

    host: str
    port: int
    script: str = "hotline"
    connect_timeout_s: float = 2.0
    ivr_timeout_s: float = 120.0
    exit_on_hangup: bool = True
    sounds_dir: str | None = None
    dead_grace_s: float = 10.0

    def url(self, did: str) -> str:
        return f"agi://{self.host}:{self.port}/{self.script}?did={did}"


def parse_agi_address(text: str | tuple[str, int] | AgiTarget) -> AgiTarget:
    """``"127.0.0.1:4573"``, ``"agi://h:4573/hotline"``, ``("h", 4573)`` -> AgiTarget."""
    if isinstance(text, AgiTarget):
        return text
    if isinstance(text, tuple):
        return AgiTarget(str(text[0]), int(text[1]))
    body = text.strip()
    if body.startswith("agi://"):
        body = body[len("agi://"):]
    hostport, _, script = body.partition("/")
    host, sep, port = hostport.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"AGI address must be host:port, got {text!r}")
    return AgiTarget(host.strip("[]"), int(port), script=script.split("?", 1)[0] or "hotline")


@dataclass(frozen=True)
class IvrInput:
    """What the caller does at one prompt that listens.

    ``keys``: DTMF pressed (``0-9*#``), one key for a menu, all of them for GET DATA;
    empty: the caller stays silent. ``after_s``: simulated seconds into the listening
    prompt. ``hangup``: the caller hangs up at that moment instead.
    """

    keys: str = ""
    after_s: float = 1.2
    hangup: bool = False


_INPUT = re.compile(r"^(?P<body>[0-9*#]*|[TH])(?:@(?P<after>\d+(?:\.\d+)?))?$", re.IGNORECASE)


def parse_ivr_inputs(text: str) -> tuple[IvrInput, ...]:
    """``"1,T,123456#,H"``: press 1; stay silent; key 123456#; hang up.

    A token may end in ``@seconds`` (when in the prompt: ``"1@4"``). Without a comma every
    character is one prompt's key (``"12"`` = 1 at the first menu, 2 at the next). Anything
    else is not a key a phone can send: ``ValueError``.
    """
    text = text.strip()
    if not text:
        return ()
    tokens = text.split(",") if ("," in text or "@" in text) else list(text)
    out: list[IvrInput] = []
    for raw in tokens:
        token = raw.strip()
        match = _INPUT.match(token)
        if match is None:
            raise ValueError(f"not a caller input: {token!r} (keys 0-9*#, T, H, @seconds)")
        body = match.group("body")
        after = float(match.group("after")) if match.group("after") else IvrInput.after_s
        if body.upper() == "H":
            out.append(IvrInput(hangup=True, after_s=after))
        elif body.upper() == "T":
            out.append(IvrInput(after_s=after))
        else:
            out.append(IvrInput(keys=body, after_s=after))
    return tuple(out)


@dataclass(frozen=True)
class IvrTiming:
    """How long things take on the simulated line (simulated seconds)."""

    prompt_s: float = 1.0  # one sound file (the recordings' prompts last 1 s: endpos=8000)
    say_s: float = 0.5  # one spoken digit, letter or number word
    key_gap_s: float = 0.25  # between two keys of one entry
    response_timeout_ms: int = 10000  # GET DATA first digit when no timeout is given
    digit_timeout_ms: int = 5000  # GET DATA next digits / GET OPTION when none is given


# ------------------------------------------------------------------------ the PBX's side
class AgiChannel(Protocol):
    """What the PBX lends a session: its channel's clock, variables and events."""

    @property
    def name(self) -> str: ...

    @property
    def language(self) -> str: ...

    def now(self) -> float:
        """Simulated time of the call (epoch seconds)."""
        ...

    async def sleep(self, until: float) -> bool:
        """Let simulated time pass; False when the caller hung up (AMI Hangup) meanwhile."""
        ...

    async def io(self, aw: Awaitable[T], until: float) -> T:
        """Await network I/O, at most until simulated ``until``: raises ``CallerGone``
        when the caller hangs up meanwhile, ``TimeoutError`` at ``until``."""
        ...

    def exec_start(self, command: str) -> int: ...

    def exec_end(self, command_id: int, command: str, code: int, result: str) -> None: ...

    def dtmf(self, digit: str) -> None: ...

    def get_var(self, name: str) -> str | None: ...

    def set_var(self, name: str, value: str) -> None: ...

    def caller_hangup(self) -> None:
        """The caller's handset hangs up now (the AMI side of a scripted hang-up)."""
        ...


class CallerGone(Exception):
    """The caller hung up while the session waited on the network."""


class _Cut(Exception):
    """The channel was hung up under a running command (``reason``: caller|timeout)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class AgiOutcome:
    """How the AGI() application ended.

    ``status`` is AGISTATUS (SUCCESS | FAILURE | HANGUP). ``ended_by``: script (the server
    closed the session) | connect (no session) | caller (hung up) | timeout (the IVR
    deadline) | agi (the server sent HANGUP) | error (the connection broke).
    """

    status: str = "SUCCESS"
    ended_by: str = "script"
    transcript: list[tuple[str, str]] = field(default_factory=list)

    @property
    def caller_gone(self) -> bool:
        return self.ended_by == "caller"

    @property
    def channel_hung_up(self) -> bool:
        """The channel is gone: the dialplan does not queue the call."""
        return self.ended_by in ("caller", "agi")


def environment(fields: Sequence[tuple[str, str]], *, name_encoding: str = "utf-8") -> bytes:
    """The environment block: ``agi_key: value`` lines and an empty line (values cleaned of
    CR/LF; the caller name may go out in another encoding, like some carriers send it)."""
    out = bytearray()
    for key, value in fields:
        text = str(value).replace("\r", " ").replace("\n", " ")
        encoding = name_encoding if key == "agi_calleridname" else "utf-8"
        out += f"{key}: ".encode() + text.encode(encoding, errors="replace") + b"\n"
    return bytes(out + b"\n")


# ------------------------------------------------------------------------------ the caller
Reply = str  # one reply as sent, without its final newline (520 blocks hold newlines)
_NOTHING = "\0"  # no command was read: the channel went while waiting for the server


class AgiCaller:
    """One AGI() application run: see the module docstring."""

    def __init__(self, target: AgiTarget, channel: AgiChannel, inputs: Sequence[IvrInput] = (),
                 timing: IvrTiming | None = None) -> None:
        self.target = target
        self.ch = channel
        self.timing = timing or IvrTiming()
        self._inputs: deque[IvrInput] = deque(inputs)
        self._left: float | None = None  # delay before the head input, once a prompt met it
        self._dead = False
        self._cut: str | None = None  # why the channel went: caller | timeout | agi
        self._failed = False  # a command failed while the channel was up (AGISTATUS=FAILURE)
        self._deadline = 0.0
        self.outcome = AgiOutcome()
        self._commands: dict[tuple[str, ...], Callable[[list[str]], Awaitable[Reply]]] = {
            ("answer",): self._answer,
            ("noop",): self._noop,
            ("verbose",): self._verbose,
            ("stream", "file"): self._stream_file,
            ("get", "option"): self._get_option,
            ("get", "data"): self._get_data,
            ("wait", "for", "digit"): self._wait_for_digit,
            ("say", "digits"): self._say_digits,
            ("say", "number"): self._say_number,
            ("say", "alpha"): self._say_alpha,
            ("say", "datetime"): self._say_datetime,
            ("say", "date"): self._say_date,
            ("say", "time"): self._say_time,
            ("set", "variable"): self._set_variable,
            ("get", "variable"): self._get_variable,
            ("get", "full", "variable"): self._get_full_variable,
            ("exec",): self._exec,
            ("hangup",): self._hangup,
            ("channel", "status"): self._channel_status,
            ("set", "music"): self._set_music,
        }

    # ---------------------------------------------------------------- session
    async def run(self, env: bytes) -> AgiOutcome:
        ch, target = self.ch, self.target
        self._deadline = ch.now() + target.ivr_timeout_s
        try:
            reader, writer = await ch.io(asyncio.wait_for(
                asyncio.open_connection(target.host, target.port, limit=MAX_LINE),
                target.connect_timeout_s), self._deadline)
        except CallerGone:
            self._hang("caller")
            return self._end("HANGUP", "caller")
        except (OSError, TimeoutError) as exc:
            where = (target.host, target.port)
            # an outage fails every call: say it once, and again after a recovery
            level = logging.DEBUG if where in _DOWN else logging.WARNING
            _DOWN.add(where)
            log.log(level, "FastAGI to %s:%s failed (%s): calls are queued without IVR",
                    target.host, target.port, exc or "timeout")
            return self._end("FAILURE", "connect")
        _DOWN.discard((target.host, target.port))
        try:
            await self._session(reader, writer, env)
        except (ConnectionError, OSError, ValueError) as exc:  # ValueError: over-long line
            log.info("FastAGI session on %s broke: %s", ch.name, exc)
            if self._cut is None:
                self.outcome.ended_by = "error"
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
        if self._cut is not None:
            return self._end("HANGUP", self._cut)
        return self._end("FAILURE" if self._failed else "SUCCESS", self.outcome.ended_by)

    def _end(self, status: str, ended_by: str) -> AgiOutcome:
        self.outcome.status, self.outcome.ended_by = status, ended_by
        return self.outcome

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                       env: bytes) -> None:
        writer.write(env)
        await writer.drain()
        dead_until: float | None = None
        while True:
            if self._cut is not None and not self._dead:
                # res_agi: the channel hung up -> "HANGUP" to a FastAGI server, then either
                # leave at once (AGIEXITONHANGUP) or serve it as a dead channel
                self._dead = True
                writer.write(b"HANGUP\n")
                await writer.drain()
                if self.target.exit_on_hangup:
                    return
                dead_until = self.ch.now() + self.target.dead_grace_s
            line = await self._read_command(reader, dead_until)
            if line is None:
                return
            if line is _NOTHING:
                continue  # a hang-up or the deadline came while waiting for the server
            reply = await self._execute(line)
            writer.write(reply.encode("utf-8") + b"\n")
            await writer.drain()

    async def _read_command(self, reader: asyncio.StreamReader,
                            dead_until: float | None) -> str | None:
        """The next command line; None when the session is over; ``_NOTHING`` when the
        channel went (caller, deadline) while waiting."""
        until = dead_until if dead_until is not None else self._deadline
        while True:
            try:
                raw = await self.ch.io(reader.readline(), until)
            except CallerGone:
                if self._dead:
                    continue  # already gone: only the server can end a dead session
                self._hang("caller")
                return _NOTHING
            except TimeoutError:
                if self._dead:
                    return None
                self._cut = "timeout"
                return _NOTHING
            if not raw:
                return None  # the server closed: the AGI script is done
            return raw.decode("utf-8", errors="replace").rstrip("\r\n")

    def _hang(self, reason: str) -> None:
        if self._cut is None:
            self._cut = reason
            if reason == "caller":
                self.ch.caller_hangup()

    # --------------------------------------------------------------- dispatch
    async def _execute(self, line: str) -> Reply:
        ch = self.ch
        command_id = ch.exec_start(line)
        argv = parse_args(line)
        words = tuple(a.lower() for a in argv)
        handler = None
        key: tuple[str, ...] = ()
        for size in (3, 2, 1):
            key = words[:size]
            handler = self._commands.get(key)
            if handler is not None:
                break
        if handler is None:
            reply, code, result = R_510, 510, "Invalid or unknown command"
        elif self._dead and key not in DEAD_ALLOWED:
            reply, code, result = R_511, 511, "Command Not Permitted on a dead channel or " \
                                              "intercepted channel"
        else:
            try:
                reply = await handler(argv)
            except _Usage as usage:
                reply = ("520-Invalid command syntax.  Proper usage follows:\n"
                         f"Usage: {usage}\n520 End of proper usage.")
                code, result = 520, "Usage"
            else:
                failed = reply.startswith("200 result=-1") and key != ("hangup",)
                code, result = (-1, "Failure") if failed else (200, "Success")
                if failed and self._cut is None:
                    self._failed = True
        ch.exec_end(command_id, line, code, result)
        self.outcome.transcript.append((line, reply.split("\n", 1)[0]))
        return reply

    # ------------------------------------------------------------ caller side
    async def _sleep(self, until: float) -> None:
        """Simulated time passes; a hang-up or the deadline on the way cuts the command."""
        if self._cut is not None:
            raise _Cut(self._cut)
        capped = min(until, self._deadline)
        if not await self.ch.sleep(capped):
            self._hang("caller")
            raise _Cut("caller")
        if capped < until:
            self._cut = "timeout"
            raise _Cut("timeout")

    async def _listen(self, duration: float | None, *, uses_silence: bool,
                      all_keys: bool = False) -> str | None:
        """Wait up to ``duration`` (None: no limit but the deadline) for the caller.
        Returns the keys of the input that fired (the first one only, unless
        ``all_keys``: the caller goes on typing the others, ``key_gap_s`` apart, into the
        next command), or None when nothing happened."""
        start = self.ch.now()
        limit = self._deadline - start if duration is None else duration
        head = self._inputs[0] if self._inputs else None
        if head is None or (not head.keys and not head.hangup):
            await self._sleep(start + limit)
            if head is not None and uses_silence:
                self._inputs.popleft()
                self._left = None
            return None
        if self._left is None:
            self._left = max(0.0, head.after_s)
        if self._left > limit:
            await self._sleep(start + limit)
            self._left -= limit
            return None
        await self._sleep(start + self._left)
        self._inputs.popleft()
        self._left = None
        if head.hangup:
            self._hang("caller")
            raise _Cut("caller")
        if all_keys or len(head.keys) == 1:
            return head.keys
        self._inputs.appendleft(IvrInput(head.keys[1:], after_s=self.timing.key_gap_s))
        return head.keys[0]

    async def _play_through(self, end: float) -> None:
        """A prompt without escape digits, to ``end``: the keys the caller presses
        meanwhile are lost (a hang-up cuts it); what comes later carries over."""
        while True:
            head = self._inputs[0] if self._inputs else None
            if head is None or (not head.keys and not head.hangup):
                await self._sleep(end)
                return
            now = self.ch.now()
            if self._left is None:
                self._left = max(0.0, head.after_s)
            if now + self._left >= end:
                self._left -= end - now
                await self._sleep(end)
                return
            await self._sleep(now + self._left)
            self._inputs.popleft()
            self._left = None
            if head.hangup:
                self._hang("caller")
                raise _Cut("caller")
            self.ch.dtmf(head.keys[0])  # pressed, and dropped by the prompt
            if head.keys[1:]:
                self._inputs.appendleft(IvrInput(head.keys[1:], after_s=self.timing.key_gap_s))

    def _samples(self, seconds: float) -> int:
        return max(0, int(round(seconds * SAMPLE_RATE)))

    async def _play(self, seconds: float, escape: str) -> tuple[int, float]:
        """A prompt that may be stopped by a key in ``escape``: (result, seconds played)."""
        start = self.ch.now()
        if not escape:
            await self._play_through(start + seconds)
            return 0, seconds
        keys = await self._listen(seconds, uses_silence=False)
        if keys is None:
            return 0, seconds
        key = keys[0]
        self.ch.dtmf(key)
        if key in escape:
            return ord(key), self.ch.now() - start
        await self._sleep(start + seconds)  # not an escape digit: the prompt plays on
        return 0, seconds

    # --------------------------------------------------------------- commands
    async def _answer(self, argv: list[str]) -> Reply:
        return "200 result=0"

    async def _noop(self, argv: list[str]) -> Reply:
        return "200 result=0"

    async def _verbose(self, argv: list[str]) -> Reply:
        if len(argv) < 2:
            raise _Usage("VERBOSE <message> <level>")
        return "200 result=1"

    async def _set_music(self, argv: list[str]) -> Reply:
        if len(argv) < 3:
            raise _Usage("SET MUSIC <on|off> <class>")
        return "200 result=0"

    async def _channel_status(self, argv: list[str]) -> Reply:
        if len(argv) > 3:
            raise _Usage("CHANNEL STATUS [<channelname>]")
        if len(argv) == 3 and argv[2] != self.ch.name:
            return "200 result=-1"
        return "200 result=6"  # AST_STATE_UP

    async def _stream_file(self, argv: list[str]) -> Reply:
        if not 4 <= len(argv) <= 5 or (len(argv) == 5 and not _is_int(argv[4])):
            raise _Usage("STREAM FILE <filename> <escape_digits> [<sample offset>]")
        offset = int(argv[4]) if len(argv) == 5 else 0
        if not self._sound_exists(argv[2]):
            return f"200 result=-1 endpos={offset}"
        start = self.ch.now()
        try:
            result, played = await self._play(self._prompt_seconds(argv[2]), argv[3])
        except _Cut:  # hung up mid-prompt: where the stream had got to
            return f"200 result=-1 endpos={offset + self._samples(self.ch.now() - start)}"
        return f"200 result={result} endpos={offset + self._samples(played)}"

    async def _get_option(self, argv: list[str]) -> Reply:
        if not 4 <= len(argv) <= 5:
            raise _Usage("GET OPTION <filename> <escape_digits> [<timeout>]")
        timeout_ms = _int(argv[4], 0) if len(argv) == 5 else self.timing.digit_timeout_ms
        if not self._sound_exists(argv[2]):
            return "200 result=-1 endpos=0"
        escape = argv[3]
        seconds = self._prompt_seconds(argv[2])
        try:
            result, played = await self._play(seconds, escape)
            if result == 0:
                keys = await self._listen(_timeout_s(timeout_ms), uses_silence=True)
                if keys:
                    self.ch.dtmf(keys[0])
                    result = ord(keys[0]) if keys[0] in escape else 0
        except _Cut:
            return "200 result=-1 endpos=0"
        return f"200 result={result} endpos={self._samples(played)}"

    async def _get_data(self, argv: list[str]) -> Reply:
        if len(argv) < 3:
            raise _Usage("GET DATA <file to be streamed> [<timeout>] [<maxdigits>]")
        timeout_ms = _int(argv[3], 0) if len(argv) >= 4 else 0
        max_digits = _int(argv[4], 1024) if len(argv) >= 5 else 1024
        first, later = self._getdata_timeouts(timeout_ms)
        max_digits = max_digits if max_digits > 0 else 1024
        prompt = 0.0
        if argv[2]:
            if not self._sound_exists(argv[2]):  # ast_app_getdata_full: ast_streamfile failed
                return "200 result=-1"
            prompt = self._prompt_seconds(argv[2])
        try:
            keys = await self._listen(prompt + first, uses_silence=True, all_keys=True)
            if keys is None:
                return "200 result= (timeout)"
            digits = ""
            for i, key in enumerate(keys):
                if i:
                    await self._sleep(self.ch.now() + self.timing.key_gap_s)
                self.ch.dtmf(key)
                if key == "#":
                    return f"200 result={digits}"
                digits += key
                if len(digits) >= max_digits:
                    if keys[i + 1:]:  # typed on: the next command hears them
                        self._inputs.appendleft(IvrInput(keys[i + 1:],
                                                         after_s=self.timing.key_gap_s))
                    return f"200 result={digits}"
            await self._sleep(self.ch.now() + later)
        except _Cut:
            return "200 result=-1"
        return f"200 result={digits} (timeout)"

    def _getdata_timeouts(self, timeout_ms: int) -> tuple[float, float]:
        """ast_app_getdata: a given timeout is used for every digit; none: the PBX's
        response timeout for the first and its digit timeout for the next ones."""
        if timeout_ms > 0:
            return timeout_ms / 1000, timeout_ms / 1000
        if timeout_ms < 0:
            return 1e9, 1e9
        return self.timing.response_timeout_ms / 1000, self.timing.digit_timeout_ms / 1000

    async def _wait_for_digit(self, argv: list[str]) -> Reply:
        if len(argv) != 4 or not _is_int(argv[3]):
            raise _Usage("WAIT FOR DIGIT <timeout>")
        try:
            keys = await self._listen(_timeout_s(int(argv[3])), uses_silence=True)
        except _Cut:
            return "200 result=-1"
        if not keys:
            return "200 result=0"
        self.ch.dtmf(keys[0])
        return f"200 result={ord(keys[0])}"

    async def _say(self, words: int, escape: str) -> Reply:
        try:
            result, _ = await self._play(max(1, words) * self.timing.say_s, escape)
        except _Cut:
            return "200 result=-1"
        return f"200 result={result}"

    async def _say_digits(self, argv: list[str]) -> Reply:
        if len(argv) != 4 or not _is_int(argv[2]):
            raise _Usage("SAY DIGITS <number> <escape_digits>")
        return await self._say(len(argv[2].lstrip("+-")), argv[3])

    async def _say_number(self, argv: list[str]) -> Reply:
        if not 4 <= len(argv) <= 5 or not _is_int(argv[2]):
            raise _Usage("SAY NUMBER <number> <escape_digits> [<gender>]")
        return await self._say(len(str(abs(int(argv[2])))), argv[3])

    async def _say_alpha(self, argv: list[str]) -> Reply:
        if len(argv) != 4:
            raise _Usage("SAY ALPHA <number> <escape_digits>")
        return await self._say(len(argv[2]), argv[3])

    async def _say_datetime(self, argv: list[str]) -> Reply:
        if len(argv) < 4 or not _is_int(argv[2]):
            raise _Usage("SAY DATETIME <time> <escape_digits> [<format>] [<timezone>]")
        return await self._say(6, argv[3])  # weekday, month, day, year, hour, minute

    async def _say_date(self, argv: list[str]) -> Reply:
        if len(argv) != 4 or not _is_int(argv[2]):
            raise _Usage("SAY DATE <date> <escape_digits>")
        return await self._say(4, argv[3])

    async def _say_time(self, argv: list[str]) -> Reply:
        if len(argv) != 4 or not _is_int(argv[2]):
            raise _Usage("SAY TIME <time> <escape_digits>")
        return await self._say(3, argv[3])

    async def _set_variable(self, argv: list[str]) -> Reply:
        if len(argv) != 4:
            raise _Usage("SET VARIABLE <variablename> <value>")
        self.ch.set_var(argv[2], argv[3])
        return "200 result=1"

    async def _get_variable(self, argv: list[str]) -> Reply:
        if len(argv) != 3:
            raise _Usage("GET VARIABLE <variablename>")
        value = self.ch.get_var(argv[2])
        return "200 result=0" if value is None else f"200 result=1 ({value})"

    async def _get_full_variable(self, argv: list[str]) -> Reply:
        if len(argv) not in (4, 5):
            raise _Usage("GET FULL VARIABLE <expression> [<channelname>]")
        if len(argv) == 5 and argv[4] != self.ch.name:
            return "200 result=0"
        return f"200 result=1 ({self._substitute(argv[3])})"

    def _substitute(self, text: str) -> str:
        """``${...}`` replaced innermost first, as pbx_substitute_variables does."""
        for _ in range(32):
            done = _VAR_REF.sub(lambda m: self._value_of(m.group(1)), text)
            if done == text:
                break
            text = done
        return text

    def _value_of(self, name: str) -> str:
        """A variable or function: ``ASTDATADIR`` and ``STAT(e,<path>)`` here (the
        sounds), everything else from the channel."""
        root = self.target.sounds_dir
        data_dir = str(Path(root).parent) if root else DATA_DIR
        if name == "ASTDATADIR":
            return data_dir
        stat = _STAT.fullmatch(name)
        if stat is not None:
            path = Path(stat.group(1))
            if root is None:  # no sounds folder: every sound is there
                return "1" if path.is_relative_to(Path(data_dir) / "sounds") else "0"
            return "1" if path.exists() else "0"
        return self.ch.get_var(name) or ""

    async def _exec(self, argv: list[str]) -> Reply:
        if len(argv) < 2:
            raise _Usage("EXEC <application> <options>")
        app = argv[1].lower()
        data = argv[2] if len(argv) > 2 else ""
        if app not in DIALPLAN_APPS:
            return "200 result=-2"
        if self._dead and app in ("wait", "playback", "answer"):
            return "200 result=-1"
        try:
            if app == "set":
                name, sep, value = data.partition("=")
                if sep and name:
                    self.ch.set_var(name, value)
            elif app == "wait":
                await self._sleep(self.ch.now() + max(0.0, _float(data, 0.0)))
            elif app == "playback":  # no escape digits: keys pressed meanwhile are lost
                files = [f for f in data.split(",", 1)[0].split("&") if f]
                await self._play_through(self.ch.now() + len(files) * self.timing.prompt_s)
        except _Cut:
            return "200 result=-1"
        return "200 result=0"

    async def _hangup(self, argv: list[str]) -> Reply:
        if len(argv) > 2:
            raise _Usage("HANGUP [<channelname>]")
        if len(argv) == 2 and argv[1] != self.ch.name:
            return "200 result=-1"
        if self._cut is None:
            self._cut = "agi"
        return "200 result=1"

    # ------------------------------------------------------------------ sounds
    def _prompt_seconds(self, filename: str) -> float:
        return len([f for f in filename.split("&") if f]) * self.timing.prompt_s

    def _sound_exists(self, filename: str) -> bool:
        """Asterisk's lookup (file.c): an absolute name gets the language inserted before
        its last component (old layout), a relative one is looked up under
        ``<sounds>/<language>/`` and then ``<sounds>/`` (new layout)."""
        if not [f for f in filename.split("&") if f]:
            return False  # no file at all: nothing to open
        root = self.target.sounds_dir
        if root is None:
            return True
        for name in filename.split("&"):
            if not name:
                continue
            path = Path(name)
            if path.is_absolute():
                candidates = [path.parent / self.ch.language / path.name, path]
            else:
                candidates = [Path(root) / self.ch.language / name, Path(root) / name]
            if not any(c.with_name(c.name + ext).is_file() for c in candidates
                       for ext in SOUND_EXTENSIONS):
                return False
        return True


class _Usage(Exception):
    """RESULT_SHOWUSAGE: the 520 block with this usage line."""


def parse_args(line: str) -> list[str]:
    """Split a command line as res_agi's ``parse_args``: double quotes group words (a
    quoted empty string is an empty argument), a backslash makes the next character
    literal."""
    argv: list[str] = []
    current: list[str] = []
    in_word = quoted = escaped = False
    for char in line:
        if char == '"' and not escaped:
            quoted = not quoted
            if quoted and not in_word:
                in_word = True
            continue
        if char in " \t" and not quoted and not escaped:
            if in_word:
                argv.append("".join(current))
                current, in_word = [], False
            continue
        if char == "\\" and not escaped:
            escaped = True
            continue
        current.append(char)
        in_word, escaped = True, False
    if in_word:
        argv.append("".join(current))
    return argv


def _is_int(text: str) -> bool:
    return re.fullmatch(r"\s*[+-]?\d+.*", text) is not None  # sscanf("%d") semantics


def _int(text: str, default: int) -> int:
    match = re.match(r"\s*([+-]?\d+)", text)
    return int(match.group(1)) if match else default


def _float(text: str, default: float) -> float:
    try:
        return float(text)
    except ValueError:
        return default


def _timeout_s(timeout_ms: int) -> float | None:
    """A negative timeout waits for ever (bounded by the IVR deadline)."""
    return None if timeout_ms < 0 else timeout_ms / 1000
