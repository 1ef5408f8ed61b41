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
- nothing here raises on bad input: a message that never ends is dropped
  once it outgrows ``max_message`` bytes.
The encoder refuses CR/LF inside keys and values: a caller name typed into a
web form must never be able to inject an extra AMI header or action.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

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


class AmiDecoder:
    """Turns the AMI byte stream of one connection into messages."""

    def __init__(self, *, expect_banner: bool = True, max_message: int = 1 << 20) -> None:
        self._buf = bytearray()
        self._expect_banner = expect_banner
        self._max_message = max_message
        self.malformed_lines = 0
        self.dropped_bytes = 0

    def feed(self, data: bytes) -> list[Message]:
        """Add bytes as read from the socket; return every message now complete."""
        buf = self._buf
        buf += data
        out: list[Message] = []
        start = 0
        if self._expect_banner:
            nl = buf.find(b"\r\n")
            if nl < 0:
                return out
            self._expect_banner = False
            first = bytes(buf[:nl])
            if b":" not in first:  # else the stream starts straight with a message
                out.append({BANNER_KEY: decode_line(first)})
                start = nl + 2
        find = buf.find
        while True:
            end = find(_SEP, start)
            if end < 0:
                break
            msg = self._parse(bytes(buf[start:end]))
            start = end + 4
            if msg:
                out.append(msg)
        if start:
            del buf[:start]
        if len(buf) > self._max_message:
            self.dropped_bytes += len(buf)
            buf.clear()
        return out

    def _parse(self, block: bytes) -> Message:
        msg: Message = {}
        for line in _decode(block).split("\r\n"):
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
            if key in msg:
                msg[key] = msg[key] + "\n" + value
            else:
                msg[key] = value
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
