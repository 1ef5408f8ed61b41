"""Sans-I/O codec for the Asterisk Manager Interface (AMI): bytes in, messages out.

Rules, learnt from real captures and from panoramisk 1.4's defects:
- split messages on ``\\r\\n\\r\\n`` in BYTES first and only then decode, so a
  UTF-8 character cut in two by TCP (``Zo`` + ``ë``) is never lost;
- decode UTF-8, and fall back to GBK line by line: Chinese carriers send
  caller names in GBK; what is neither is decoded with replacement chars;
- split each line on the FIRST ``": "``; ``Key:`` alone is an empty value; a
  line with no colon is malformed: counted, logged by the caller, skipped;
- a key that repeats (``Output``, ``ChanVariable``, ``Variable``) keeps every
  value, joined with ``\\n``, so a message stays a flat ``dict[str, str]``;
- the first line of a connection is the banner (``Asterisk Call Manager/x``),
  reported as ``{"Banner": ...}``;
- nothing here raises on bad input, and no input costs more than linear time
  or more memory than the limits of :class:`AmiDecoder` (message, lines, line
  length): a message that never ends is dropped once it outgrows them.
The encoder refuses CR/LF inside keys and values: a caller name typed into a
web form must never be able to inject an extra AMI header or action.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

Message = dict[str, str]

_SEP = b"\r\n\r\n"
BANNER_KEY = "Banner"


def _decode(block: bytes) -> str:
    try:
        return block.decode("utf-8")
    except UnicodeDecodeError:
        return "\r\n".join(decode_line(line) for line in block.split(b"\r\n"))


def decode_line(line: bytes) -> str:
    """One line of PBX text: UTF-8, else GBK (a Chinese carrier's caller name), else
    UTF-8 with replacement. Never raises."""
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return line.decode("gbk")
    except UnicodeDecodeError:
        return line.decode("utf-8", errors="replace")


@dataclass(frozen=True, slots=True)
class AmiLimits:
    """What one AMI message may hold (see :class:`AmiDecoder`). The defaults are far
    above anything Asterisk sends (the real captures: 62 lines, 387 characters at most)."""

    max_message: int = 1 << 20
    """bytes in one message; a longer one is dropped whole"""
    max_lines: int = 1000
    """lines in one message; the lines after them are dropped"""
    max_line: int = 4096
    """characters in one line (key and value): a caller name is cut to about this"""


DEFAULT_LIMITS = AmiLimits()


class AmiDecoder:
    """Turns the AMI byte stream of one connection into messages, in time linear in
    the bytes fed and in memory bounded by the limits below.

    Limits (:class:`AmiLimits`; the excess is counted, never silently lost: the AMI
    client logs the counts):
    - ``max_message`` bytes in one message: a longer one is dropped whole
      (``dropped_messages``, ``dropped_bytes``) and decoding resumes after its end;
    - ``max_lines`` lines in one message: the lines after them are dropped
      (``dropped_lines``), the message is kept;
    - ``max_line`` characters in one line (its key and value): the rest of the line is
      cut (``truncated_lines``), so a caller name of any size is kept to this.
    ``scanned_bytes`` counts the bytes searched for the end of a message: each byte is
    searched about once, however the stream is cut.
    """

    def __init__(self, *, expect_banner: bool = True, limits: AmiLimits = DEFAULT_LIMITS) -> None:
        self._buf = bytearray()
        self._expect_banner = expect_banner
        self._max_message = limits.max_message
        self._max_lines = limits.max_lines
        self._max_line = limits.max_line
        self._scan = 0  # where the search for the terminator resumes (no byte searched twice)
        self._skipping = False  # inside a message too big to keep: drop up to its end
        self.malformed_lines = 0
        self.dropped_bytes = 0
        self.dropped_messages = 0
        self.dropped_lines = 0
        self.truncated_lines = 0
        self.scanned_bytes = 0

    def feed(self, data: bytes) -> list[Message]:
        """Add bytes as read from the socket; return every message now complete."""
        buf = self._buf
        buf += data
        out: list[Message] = []
        if self._expect_banner and not self._banner(out):
            return out
        start, scan = 0, self._scan
        # each search starts where the last one ended, and the feed ends on a failed
        # search to the end of the buffer: what was searched is one span
        self.scanned_bytes -= scan
        find = buf.find
        if self._skipping:  # the rest of a message too big to keep
            end = find(_SEP, scan)
            if end < 0:
                self.scanned_bytes += len(buf)
                return self._skip_all_but_3(out)
            self._skipping = False
            self.dropped_bytes += end + 4
            start = scan = end + 4
        parse, max_message = self._parse, self._max_message
        while True:
            end = find(_SEP, scan)
            if end < 0:
                break
            if end - start > max_message:
                self.dropped_messages += 1
                self.dropped_bytes += end + 4 - start
            else:
                msg = parse(bytes(buf[start:end]))
                if msg:
                    out.append(msg)
            start = scan = end + 4
        if start:
            del buf[:start]
        # the terminator may be cut between two reads: its first 3 bytes are searched again
        self.scanned_bytes += len(buf) + start
        self._scan = max(0, len(buf) - 3)
        if self._scan > max_message:  # already too big, whatever its last 3 bytes are
            self.dropped_messages += 1
            self._skipping = True
            return self._skip_all_but_3(out)
        return out

    def _skip_all_but_3(self, out: list[Message]) -> list[Message]:
        """Inside a message too big to keep: drop what came, but the bytes that may
        begin its terminator."""
        buf = self._buf
        keep = min(len(buf), 3)
        self.dropped_bytes += len(buf) - keep
        del buf[: len(buf) - keep]
        self._scan = 0
        return out

    def _banner(self, out: list[Message]) -> bool:
        """The banner line, if complete; False while it is not (nothing else to do)."""
        buf = self._buf
        nl = buf.find(b"\r\n", self._scan)
        if nl < 0:
            self.scanned_bytes += len(buf) - self._scan
            if len(buf) <= self._max_line:
                self._scan = max(0, len(buf) - 1)
                return False
            nl = -1  # no banner is that long: it is the stream itself, with its bounds
        else:
            self.scanned_bytes += nl + 2 - self._scan
        self._expect_banner = False
        self._scan = 0
        first = bytes(buf[:nl]) if nl >= 0 else b""
        if first and b":" not in first:  # else the stream starts straight with a message
            out.append({BANNER_KEY: decode_line(first)})
            del buf[: nl + 2]
        return True

    def _parse(self, block: bytes) -> Message:
        msg: Message = {}
        repeated: dict[str, list[str]] | None = None
        max_line = self._max_line
        # split off, in one C call, the lines past the cap: they are only counted
        lines = _decode(block).split("\r\n", self._max_lines)
        if len(lines) > self._max_lines:
            self.dropped_lines += lines.pop().count("\r\n") + 1
        # no line can be too long in a short block: most messages skip the length test
        check = len(block) > max_line
        for line in lines:
            if check and len(line) > max_line:
                line = line[:max_line]
                self.truncated_lines += 1
            key, sep, value = line.partition(": ")
            if not sep:
                stripped = line.rstrip()
                if not stripped:
                    continue
                if stripped.endswith(":") and " " not in stripped:
                    key, value = stripped[:-1], ""
                else:
                    self.malformed_lines += 1
                    continue
            if key not in msg:
                msg[key] = value
            elif repeated is None:
                # joined once at the end: joining at each repeat was quadratic
                repeated = {key: [msg[key], value]}
            elif key in repeated:
                repeated[key].append(value)
            else:
                repeated[key] = [msg[key], value]
        if repeated:
            for key, values in repeated.items():
                msg[key] = "\n".join(values)
        return msg

    @property
    def pending(self) -> int:
        """Bytes received but not yet part of a complete message."""
        return len(self._buf)


def decode_all(data: bytes) -> list[Message]:
    """Decode a whole capture (e.g. a ``.ami`` file) at once."""
    return AmiDecoder().feed(data)


def _check(text: str) -> str:
    if "\r" in text or "\n" in text:
        raise ValueError(f"CR/LF not allowed in an AMI header: {text!r}")
    return text


def encode_action(
    action: str,
    fields: Mapping[str, str | int | Iterable[str]] | None = None,
    *,
    action_id: str | None = None,
) -> bytes:
    """Encode one action. A field whose value is a list/tuple repeats its key
    (``Variable: A=1``, ``Variable: B=2``)."""
    lines = [f"Action: {_check(action)}"]
    if action_id is not None:
        lines.append(f"ActionID: {_check(action_id)}")
    for key, value in (fields or {}).items():
        _check(key)
        if isinstance(value, list | tuple):
            lines.extend(f"{key}: {_check(str(v))}" for v in value)
        else:
            lines.append(f"{key}: {_check(str(value))}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


def encode_message(msg: Mapping[str, str]) -> bytes:
    """Encode a response or event (the simulator's side). Multi-line values
    (repeated keys, see the decoder) are written as repeated headers."""
    lines: list[str] = []
    for key, value in msg.items():
        _check(key)
        lines.extend(f"{key}: {part.replace(chr(13), '')}" for part in str(value).split("\n"))
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


def is_event(msg: Mapping[str, str]) -> bool:
    return "Event" in msg


def is_response(msg: Mapping[str, str]) -> bool:
    # OriginateResponse is an EVENT that carries a Response header.
    return "Response" in msg and "Event" not in msg
