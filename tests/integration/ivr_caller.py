"""A scripted fake Asterisk for the IVR tests: one FastAGI session over real TCP.

It sends an AGI environment block like Asterisk 22 does, then answers every command the
way Asterisk would: ``STREAM FILE``/``SAY ...`` (played to the end, or interrupted by an
early key), ``WAIT FOR DIGIT`` (ASCII code of the key, 0 on timeout), ``GET DATA`` (the
keys, ``(timeout)`` when the caller stopped typing), ``SET VARIABLE`` (kept in ``vars``),
``HANGUP``. ``keys`` is what the caller does at each request for input:

- ``"1"``, ``"202611250001#"``: keys (``#`` ends a ``GET DATA`` entry);
- ``None``: says nothing (timeout);
- ``"hangup"``: closes the socket (EOF); ``"HANGUP"``: Asterisk's ``HANGUP`` line;
- when the script runs out, the caller keeps silent.

With ``early=True`` the next key is pressed during the prompt before an input (the
``STREAM FILE`` with escape digits), as a caller who knows the menu does. With
``press_during="hotline/zh/welcome"`` the next key is pressed during that prompt, whatever
its escape digits: a key that is not one of them is lost, as on Asterisk.

Keys typed on past what ``GET DATA`` reads (its maximum reached: a ``#`` after exactly
that many digits) reach the next command: they stop a prompt whose escape digits have
them (and are lost during one that does not), or are the next input's first keys.

Sounds: ``missing_sounds`` are files Asterisk cannot open: ``STREAM FILE`` answers
``200 result=-1 endpos=0`` for them, and ``GET FULL VARIABLE`` evaluates
``${STAT(e,${ASTDATADIR}/sounds/<file>)}`` (only ``.wav`` files exist) unless ``stat`` is
False (func_env not loaded: the function gives empty text).
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field

from ivr.agi_protocol import split_command

_STAT = re.compile(r"\$\{STAT\(e,\$\{ASTDATADIR\}/sounds/(?P<name>[^)]*)\.(?P<ext>\w+)\)\}")


@dataclass
class FakeCall:
    port: int
    did: str = "4008001234"
    caller: str = "13800138000"
    name: bytes = b"Wang Fang"
    keys: list[str | None] = field(default_factory=list)
    early: bool = False
    press_during: str | None = None
    missing_sounds: set[str] = field(default_factory=set)
    stat: bool = True
    extra_env: bytes = b""
    commands: list[list[str]] = field(default_factory=list)
    vars: dict[str, str] = field(default_factory=dict)
    set_order: list[tuple[str, str]] = field(default_factory=list)
    hung_up: str | None = None  # "us" (EOF / HANGUP line) or "server" (HANGUP command)
    _pending: str | None = None  # rest of a key string after an early key
    _typed: str = ""  # keys typed on past the end of a GET DATA

    def header(self) -> bytes:
        return (
            b"agi_network: yes\n"
            b"agi_network_script: hotline?did=" + self.did.encode() + b"\n"
            b"agi_request: agi://127.0.0.1:4573/hotline?did=" + self.did.encode() + b"\n"
            b"agi_channel: PJSIP/trunk-00000001\n"
            b"agi_language: en\n"
            b"agi_type: PJSIP\n"
            b"agi_uniqueid: 1795478331.183\n"
            b"agi_version: 22.10.1\n"
            b"agi_callerid: " + self.caller.encode() + b"\n"
            b"agi_calleridname: " + self.name + b"\n"
            b"agi_context: from-pstn\n"
            b"agi_extension: " + self.did.encode() + b"\n"
            b"agi_priority: 2\n"
            + self.extra_env + b"\n"
        )

    def played(self) -> list[str]:
        """The sound files streamed, in order."""
        return [c[2] for c in self.commands if c[:2] == ["STREAM", "FILE"]]

    def said(self) -> list[tuple[str, str]]:
        return [(c[1], c[2]) for c in self.commands if c[0] == "SAY"]

    def _next(self) -> str | None:
        if self._typed:
            typed, self._typed = self._typed, ""
            return typed
        if self._pending is not None:
            rest, self._pending = self._pending, None
            return rest
        return self.keys.pop(0) if self.keys else None

    def answer(self, words: list[str]) -> bytes | str:
        """The reply to one command; a str means: hang up that way."""
        name = " ".join(words[:2])
        if name == "STREAM FILE" or words[0] == "SAY":
            escape = words[3] if len(words) > 3 else ""  # STREAM FILE f e / SAY X v e
            if name == "STREAM FILE" and words[2] in self.missing_sounds:
                return b"200 result=-1 endpos=0\n"
            if self._typed:  # typed on: heard by this prompt, or lost
                key, self._typed = self._typed[0], self._typed[1:]
                if key in escape:
                    return f"200 result={ord(key)} endpos=4000\n".encode()
            if name == "STREAM FILE" and words[2] == self.press_during and self.keys:
                self.press_during = None
                key = self.keys.pop(0)
                if key and key[0] in escape:
                    self._pending = key[1:] or None
                    return f"200 result={ord(key[0])} endpos=4000\n".encode()
                return b"200 result=0 endpos=8000\n"  # not an escape digit: dropped
            if self.early and escape and self._pending is None and self.keys:
                key = self.keys[0]
                if key and key not in ("hangup", "HANGUP") and key[0] in escape:
                    self.keys.pop(0)
                    self._pending = key[1:] or None
                    return f"200 result={ord(key[0])} endpos=1200\n".encode()
            return b"200 result=0 endpos=8000\n"
        if name == "WAIT FOR":
            key = self._next()
            if key in ("hangup", "HANGUP"):
                return key
            return f"200 result={ord(key[0]) if key else 0}\n".encode()
        if name == "GET DATA":
            key = self._next()
            if key in ("hangup", "HANGUP"):
                return key
            if not key:
                return b"200 result= (timeout)\n"
            most = int(words[4]) if len(words) > 4 and words[4].isdigit() else 1024
            end = key.index("#") if "#" in key else len(key)
            if end >= most:  # full before the "#": Asterisk stops reading there
                self._typed = key[most:]
                return f"200 result={key[:most]}\n".encode()
            if end < len(key):
                self._typed = key[end + 1:]
                return f"200 result={key[:end]}\n".encode()
            return f"200 result={key} (timeout)\n".encode()
        if name == "SET VARIABLE":
            self.vars[words[2]] = words[3] if len(words) > 3 else ""
            self.set_order.append((words[2], self.vars[words[2]]))
            return b"200 result=1\n"
        if name == "GET FULL":
            expression = words[3] if len(words) > 3 else ""
            if "${STAT(" in expression:
                value = _STAT.sub(lambda m: "" if not self.stat else "1" if (
                    m["ext"] == "wav" and m["name"] not in self.missing_sounds) else "0",
                    expression)
                return f"200 result=1 ({value})\n".encode()
            return b"200 result=1 (1795478331.183)\n"
        if words[0] == "HANGUP":
            return "server"
        return b"510 Invalid or unknown command\n"

    async def run(self) -> FakeCall:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        try:
            writer.write(self.header())
            await writer.drain()
            while True:
                line = await reader.readline()
                if not line:
                    break
                words = split_command(line.decode("utf-8"))
                self.commands.append(words)
                reply = self.answer(words)
                if reply == "HANGUP":
                    writer.write(b"HANGUP\n")
                    await writer.drain()
                    self.hung_up = "us"
                    continue  # Asterisk sends 511 to anything after it
                if reply == "hangup":
                    self.hung_up = "us"
                    break
                if reply == "server":
                    writer.write(b"200 result=1\n")
                    await writer.drain()
                    self.hung_up = "server"
                    continue
                assert isinstance(reply, bytes)
                if self.hung_up == "us":
                    reply = b"511 Command Not Permitted on a dead channel or intercept routine\n"
                writer.write(reply)
                await writer.drain()
        finally:
            writer.close()
            try:
                await writer.wait_closed()
            except (ConnectionError, OSError):
                pass
        return self
