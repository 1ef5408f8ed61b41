"""FastAGI wire protocol, sans-I/O: bytes in, events out; commands in, bytes out.

What Asterisk sends on a FastAGI connection: an environment block of
``agi_xxx: value`` lines ended by an empty line, then one reply per command we
send (``200 result=1 (data) endpos=8000``, ``510 ...``, a ``520-`` usage block
ended by ``520 End of proper usage.``, ``511 ...`` on a dead channel) and
possibly a bare ``HANGUP`` line when the caller hangs up.

Rules:
- pure: no sockets, no clocks, no logging; the asyncio adapter is ``ivr/agi.py``;
- the decoder never raises on any input: junk lines are counted, over-long lines
  are dropped (and counted), a header over its byte or line cap is refused
  (``AgiHeaderRefused``, then nothing more is decoded), so a hostile peer cannot
  grow memory without bound; each byte is searched for a newline once;
- CRLF and LF both end a line; bytes are decoded as UTF-8, else GBK (a carrier's caller
  name), else UTF-8 with replacement (``telephony.ami_codec.decode_line``);
- the encoder refuses CR, LF and NUL anywhere in a command: caller-controlled
  text (a CRM name, a DID) must never be able to inject a second command;
- arguments are quoted the way Asterisk's ``parse_args`` un-quotes them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

from telephony.ami_codec import decode_line

MAX_LINE = 8 * 1024
"""A line longer than this (without its newline) is dropped and counted as junk."""
MAX_HEADER_BYTES = 16 * 1024
"""A header longer than this is refused (Asterisk's is about 1.5 KB)."""
MAX_HEADER_LINES = 256
"""A header of more lines is refused (Asterisk's has about 30 with a few arguments)."""

_REPLY_RE = re.compile(r"^(\d{3})([ -])(.*)$", re.DOTALL)
_RESULT_RE = re.compile(
    r"^result=(?P<result>-?\d+)(?:\s+\((?P<data>.*)\))?(?P<extra>(?:\s+[\w-]+=\S*)*)\s*$",
    re.DOTALL,
)
_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z ]*[A-Za-z]$|^[A-Za-z]$")
_NEEDS_QUOTES = re.compile(r'[\s"\\]')


class AgiEncodeError(ValueError):
    """A command that must not be sent (CR/LF/NUL inside, or a malformed name)."""


@dataclass(frozen=True, slots=True)
class AgiEnvironment:
    """The environment block: ``agi_`` variables, and how many junk lines it held."""

    env: dict[str, str]
    junk: int = 0


@dataclass(frozen=True, slots=True)
class AgiReply:
    """One reply to one command.

    ``code`` is the three-digit status (200, 510, 511, 520); ``result`` and ``data``
    come from ``result=N (data)``; ``extra`` holds trailing ``key=value`` pairs such
    as ``endpos``; ``usage`` holds the lines of a multi-line 520 block.
    """

    code: int
    text: str
    result: int | None = None
    data: str | None = None
    extra: dict[str, str] = field(default_factory=dict)
    usage: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.code == 200

    @property
    def dead_channel(self) -> bool:
        return self.code == 511


@dataclass(frozen=True, slots=True)
class AgiHangupSignal:
    """Asterisk's bare ``HANGUP`` line: the caller is gone."""


HEADER_BYTES = "header_bytes"
HEADER_LINES = "header_lines"


@dataclass(frozen=True, slots=True)
class AgiHeaderRefused:
    """The header outgrew a cap (``HEADER_BYTES`` or ``HEADER_LINES``): the decoder
    stops there; the connection is to be closed."""

    cap: str
    limit: int


AgiEvent = AgiEnvironment | AgiReply | AgiHangupSignal | AgiHeaderRefused


def parse_reply_line(code: int, text: str, usage: tuple[str, ...] = ()) -> AgiReply:
    """Build a reply from its code and the text after ``NNN ``; never raises."""
    if code != 200:
        return AgiReply(code=code, text=text, usage=usage)
    match = _RESULT_RE.match(text)
    if match is None:
        return AgiReply(code=code, text=text, usage=usage)
    extra: dict[str, str] = {}
    for token in match.group("extra").split():
        key, _, value = token.partition("=")
        extra[key] = value
    return AgiReply(
        code=code,
        text=text,
        result=int(match.group("result")),
        data=match.group("data"),
        extra=extra,
        usage=usage,
    )


class AgiDecoder:
    """Incremental decoder: ``feed(bytes)`` -> events; the header first, then replies."""

    def __init__(
        self,
        *,
        max_line: int = MAX_LINE,
        max_header_bytes: int = MAX_HEADER_BYTES,
        max_header_lines: int = MAX_HEADER_LINES,
    ) -> None:
        self.max_line = max_line
        self.max_header_bytes = max_header_bytes
        self.max_header_lines = max_header_lines
        self._buffer = bytearray()
        self._scan = 0  # bytes of the buffer already searched for a newline
        self._dropping = False  # inside an over-long line: skip until its newline
        self._env: dict[str, str] | None = {}
        self._header_junk = 0
        self._header_bytes = 0  # consumed so far in the header (dropped bytes included)
        self._header_lines = 0
        self._refused: AgiHeaderRefused | None = None
        self._usage: list[str] | None = None  # inside a ``520-`` block
        self.junk = 0
        """Junk lines seen so far (header and replies), for logs and metrics."""
        self.long_lines = 0
        """Lines over ``max_line`` dropped so far (they count as junk too)."""

    @property
    def in_header(self) -> bool:
        return self._env is not None

    @property
    def refused(self) -> AgiHeaderRefused | None:
        return self._refused

    def feed(self, data: bytes) -> list[AgiEvent]:
        events: list[AgiEvent] = []
        if self._refused is not None:
            return events
        buffer = self._buffer
        buffer += data
        while True:
            newline = buffer.find(b"\n", self._scan)
            if newline < 0:
                self._scan = len(buffer)
                if len(buffer) > self.max_line:
                    self._consume(len(buffer), lines=0)
                    buffer.clear()
                    self._scan = 0
                    if not self._dropping:
                        self._count_long()
                    self._dropping = True
                if self._env is not None and not self._header_fits(len(buffer)):
                    events.append(self._refuse(len(buffer)))
                return events
            raw = bytes(buffer[:newline])
            del buffer[: newline + 1]
            self._scan = 0
            self._consume(newline + 1, lines=1)
            if self._env is not None and not self._header_fits(0):
                events.append(self._refuse(0))
                return events
            if self._dropping or len(raw) > self.max_line:
                if not self._dropping:
                    self._count_long()
                self._dropping = False
                continue
            line = decode_line(raw.removesuffix(b"\r"))
            event = self._line(line)
            if event is not None:
                events.append(event)

    def feed_eof(self) -> list[AgiEvent]:
        """The peer closed: a final unterminated line still counts as a line."""
        if not self._buffer or self._dropping or self._refused is not None:
            self._buffer.clear()
            return []
        return self.feed(b"\n")

    def _consume(self, size: int, *, lines: int) -> None:
        if self._env is not None:
            self._header_bytes += size
            self._header_lines += lines

    def _header_fits(self, pending: int) -> bool:
        return (self._header_bytes + pending <= self.max_header_bytes
                and self._header_lines <= self.max_header_lines)

    def _refuse(self, pending: int) -> AgiHeaderRefused:
        # the cap crossed first in the stream, so the refusal is the same however it was
        # cut: the byte cap is crossed inside the line at whose end the line cap would be
        if self._header_bytes + pending > self.max_header_bytes:
            refused = AgiHeaderRefused(HEADER_BYTES, self.max_header_bytes)
        else:
            refused = AgiHeaderRefused(HEADER_LINES, self.max_header_lines)
        self._refused = refused
        self._buffer.clear()
        return refused

    def _count_long(self) -> None:
        self.long_lines += 1
        self._count_junk()

    def _count_junk(self) -> None:
        self.junk += 1
        if self._env is not None:
            self._header_junk += 1

    def _line(self, line: str) -> AgiEvent | None:
        if self._env is not None:
            return self._header_line(self._env, line)
        return self._reply_line(line)

    def _header_line(self, env: dict[str, str], line: str) -> AgiEvent | None:
        if line.strip() == "":
            if not env:
                # an empty line before any variable cannot end a real header
                self._count_junk()
                return None
            self._env = None
            return AgiEnvironment(env=env, junk=self._header_junk)
        key, sep, value = line.partition(":")
        key = key.strip()
        if not sep or not key.startswith("agi_"):
            self._count_junk()
            return None
        env[key] = value.strip()
        return None

    def _reply_line(self, line: str) -> AgiEvent | None:
        if self._usage is not None:
            if line.startswith("520 "):
                usage = tuple(self._usage)
                self._usage = None
                return parse_reply_line(520, line[4:], usage)
            self._usage.append(line)
            return None
        if line.strip() == "HANGUP":
            return AgiHangupSignal()
        match = _REPLY_RE.match(line)
        if match is None:
            if line.strip():
                self._count_junk()
            return None
        code, sep, text = int(match.group(1)), match.group(2), match.group(3)
        if sep == "-":
            if code == 520:
                self._usage = [text]
            else:
                self._count_junk()
            return None
        return parse_reply_line(code, text)


def parse_environment(data: bytes) -> AgiEnvironment | None:
    """One-shot: the environment block at the start of ``data``, or None if unfinished."""
    for event in AgiDecoder().feed(data):
        if isinstance(event, AgiEnvironment):
            return event
    return None


def quote_arg(arg: str) -> str:
    """Quote an argument only when Asterisk would otherwise split or mangle it."""
    if arg and not _NEEDS_QUOTES.search(arg):
        return arg
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'


def encode_command(name: str, *args: str | int) -> bytes:
    """``encode_command("STREAM FILE", "welcome", "")`` -> ``b'STREAM FILE welcome ""\\n'``."""
    if not _NAME_RE.match(name):
        raise AgiEncodeError(f"bad AGI command name {name!r}")
    parts = [name]
    for arg in args:
        text = str(arg)
        if any(c in text for c in "\r\n\0"):
            raise AgiEncodeError(f"CR/LF/NUL inside an argument of {name}: {text!r}")
        parts.append(quote_arg(text))
    try:
        return (" ".join(parts) + "\n").encode("utf-8")
    except UnicodeEncodeError as exc:  # lone surrogates: not text Asterisk can receive
        raise AgiEncodeError(f"argument of {name} is not valid UTF-8 text") from exc


def split_command(line: str) -> list[str]:
    """Split a command line the way Asterisk's ``parse_args`` does (quotes, backslashes)."""
    words: list[str] = []
    current: list[str] = []
    in_word = quoted = escaped = False
    for char in line.rstrip("\r\n"):
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            escaped = in_word = True
        elif char == '"':
            quoted = not quoted
            in_word = True
        elif char.isspace() and not quoted:
            if in_word:
                words.append("".join(current))
                current, in_word = [], False
        else:
            current.append(char)
            in_word = True
    if in_word:
        words.append("".join(current))
    return words


def script_of(env: dict[str, str]) -> tuple[str, dict[str, str]]:
    """The script path and query parameters: ``agi://h:4573/hotline?did=1`` -> hotline, {did}."""
    request = env.get("agi_request", "")
    try:
        parts = urlsplit(request) if "://" in request else None
    except ValueError:  # e.g. a broken IPv6 host: fall back to the script line
        parts = None
    if parts is not None:
        path, query = parts.path.lstrip("/"), parts.query
    else:
        path, _, query = env.get("agi_network_script", "").partition("?")
    return path, dict(parse_qsl(query, keep_blank_values=True))
