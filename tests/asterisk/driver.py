"""The test's own AMI connection to the rig: it places callers, sets the phones'
behaviour, and keeps every byte Asterisk sends it, so each scenario leaves a capture
that ``hotline replay`` can read (the AMI user of deploy/asterisk/manager.conf sees
what Hotline sees)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Callable
from pathlib import Path

from telephony.ami_codec import AmiDecoder, Message, encode_action

from .rig import AMI_PORT, AMI_SECRET, AMI_USER


class AmiDriver:
    """A plain AMI client: actions with replies, events in order, the raw bytes kept."""

    def __init__(self) -> None:
        self.raw = bytearray()
        self.events: list[Message] = []
        self._decoder = AmiDecoder()
        self._ids = itertools.count(1)
        self._waiting: dict[str, asyncio.Future[Message]] = {}
        self._changed = asyncio.Event()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._task: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        self._reader, self._writer = await asyncio.open_connection("127.0.0.1", AMI_PORT)
        self._task = asyncio.create_task(self._read())
        reply = await self.action("Login", Username=AMI_USER, Secret=AMI_SECRET)
        assert reply.get("Response") == "Success", reply

    async def _read(self) -> None:
        assert self._reader is not None
        while data := await self._reader.read(65536):
            self.raw += data
            for msg in self._decoder.feed(data):
                action_id = msg.get("ActionID", "")
                if "Response" in msg and action_id in self._waiting:
                    self._waiting.pop(action_id).set_result(msg)
                elif "Event" in msg:
                    self.events.append(msg)
                    self._changed.set()

    async def action(self, name: str, **fields: str | list[str]) -> Message:
        assert self._writer is not None
        action_id = f"rig-{next(self._ids)}"
        future: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._waiting[action_id] = future
        self._writer.write(encode_action(name, fields, action_id=action_id))
        await self._writer.drain()
        return await asyncio.wait_for(future, 10)

    async def setvar(self, name: str, value: str) -> None:
        """A global variable of the dialplan (the rig phones read them)."""
        reply = await self.action("Setvar", Variable=name, Value=value)
        assert reply.get("Response") == "Success", reply

    async def call_in(self, did: str, number: str, name: str = "", *, keys: str = "",
                      pre: float = 2.0, hold: float = 600.0) -> None:
        """A PSTN caller dials ``did``: the ;2 half of the Local pair is the trunk
        channel running [from-pstn], the ;1 half the caller's handset (rig-caller)."""
        caller_id = f'"{name}" <{number}>' if name else number
        reply = await self.action(
            "Originate", Channel=f"Local/{did}@from-pstn/n", Context="rig-caller", Exten="s",
            Priority="1", CallerID=caller_id, Async="true",
            Variable=[f"KEYS={keys}", f"PRE={pre}", f"HOLD={hold}"])
        assert reply.get("Response") == "Success", reply

    async def handset(self, did: str, *, start: int = 0, within: float = 10.0) -> str:
        """The name of the handset channel (the ;1 half) of the first call to ``did``
        placed after event index ``start``."""
        prefix = f"Local/{did}@from-pstn-"
        found = await self.wait_event(
            lambda m: m.get("Event") == "Newchannel" and m.get("Channel", "").startswith(prefix)
            and m["Channel"].endswith(";1"), within=within, start=start)
        return found["Channel"]

    async def press(self, channel: str, keys: str) -> None:
        """The handset ``channel`` keys ``keys``, one DTMF tone after another (sent out of
        the handset, as SendDTMF does: the hotline's side receives them)."""
        for key in keys:
            reply = await self.action("PlayDTMF", Channel=channel, Digit=key, Duration="150")
            assert reply.get("Response") == "Success", reply
            await asyncio.sleep(0.2)

    async def hangup(self, channel: str) -> None:
        reply = await self.action("Hangup", Channel=channel)
        assert reply.get("Response") == "Success", reply

    async def wait_event(self, test: Callable[[Message], bool], *, within: float = 30.0,
                         start: int = 0) -> Message:
        """The first event (from index ``start``) that passes ``test``."""
        deadline = asyncio.get_running_loop().time() + within
        seen = start
        while True:
            for msg in self.events[seen:]:
                if test(msg):
                    return msg
            seen = len(self.events)
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise AssertionError("no such AMI event arrived")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(bytes(self.raw))

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(Exception):
                await self._writer.wait_closed()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
