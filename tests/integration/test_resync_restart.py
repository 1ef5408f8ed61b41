"""Hotline restarted mid-call, over real AMI against the simulator (issue 12 item 8).

The first Hotline (an ``AmiClient`` feeding a ``CallTracker`` through ``TrackerFeed``,
as ``hotline serve`` wires them) sees a caller go through the FastAGI IVR and be
answered; it is then thrown away with everything it knew. A fresh one connects, its
resync (CoreShowChannels, QueueStatus, Status with AllVariables) adopts the call, and
the record it writes when the call ends has the IVR's variables, the recording's name
and sane times. The simulator stamps its events (``timestampevents``) and the trackers
read its clock: every time is the PBX's, nothing depends on how fast this machine is.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TypeVar

from hotline.pipeline import TrackerFeed
from ivr.agi import AgiServer, AgiSession
from telephony.ami import AmiClient
from telephony.events import CallAnswered, CallEnded, DomainEvent
from telephony.simulator import CallScript, PbxSimulator
from telephony.simulator.agi_caller import AgiTarget
from telephony.tracker import CallTracker

SCALE = 0.01
E = TypeVar("E", bound=DomainEvent)
IVR = {"HOTLINE_IVR_PATH": "welcome,identify,known,main_menu,main_menu:0,to_agent,queue",
       "HOTLINE_CUSTOMER_ID": "42", "HOTLINE_DIGITS": "0", "QUEUE": "support"}


class Bus:
    """What a Hotline published, in order."""

    def __init__(self) -> None:
        self.events: list[DomainEvent] = []

    def publish_nowait(self, event: DomainEvent) -> None:
        self.events.append(event)

    async def first(self, kind: type[E], linkedid: str) -> E:
        for _ in range(3000):
            for event in self.events:
                if isinstance(event, kind) and getattr(event, "linkedid", None) == linkedid:
                    return event
            await asyncio.sleep(0.01)
        raise AssertionError(f"no {kind.__name__} for {linkedid}: {self.events}")


@asynccontextmanager
async def hotline(sim: PbxSimulator) -> AsyncIterator[tuple[AmiClient, Bus]]:
    """One Hotline's AMI side: its own tracker (nothing carried over) and bus."""
    bus = Bus()
    feed = TrackerFeed(CallTracker(clock=sim.pbx.now), bus)
    client = AmiClient(host="127.0.0.1", port=sim.port, username="hotline",
                       secret="hotline-secret", consumer=feed, action_timeout=5.0)
    await client.start()
    try:
        for _ in range(1000):
            if client.ready:
                break
            await asyncio.sleep(0.01)
        assert client.ready, "no resync"
        yield client, bus
    finally:
        await client.close()


async def test_call_adopted_after_a_restart_keeps_its_ivr_variables_and_recording() -> None:
    async def ivr(session: AgiSession) -> None:
        for name, value in IVR.items():
            await session.set_variable(name, value)

    async with contextlib.AsyncExitStack() as stack:
        server = await stack.enter_async_context(AgiServer(ivr, port=0, command_timeout=30))
        sim = PbxSimulator(time_scale=SCALE, timestampevents=True, record_calls=True,
                           agi=AgiTarget("127.0.0.1", server.port, ivr_timeout_s=6000))
        await sim.start()
        stack.push_async_callback(sim.close)
        for agent in ("Alice", "Bob", "Carol"):  # as Hotline's sign-in leaves them
            sim.pbx.sign_in(agent)
        async with hotline(sim) as (_, before):
            call = sim.place_call(caller="13912345678", name="Zhou Min",
                                  script=CallScript(talk=100_000.0))
            first = await before.first(CallAnswered, call.linkedid)
        # Hotline is gone; the caller talks on. A new one starts knowing nothing.
        async with hotline(sim) as (_, after):
            adopted = await after.first(CallAnswered, call.linkedid)
            assert (adopted.agent, adopted.queue) == (first.agent, first.queue)
            assert sim.pbx.hangup_channel(call.c1.name if call.c1 else "")
            ended = await after.first(CallEnded, call.linkedid)
    s = ended.summary
    assert (s.outcome, s.agent, s.queues) == ("answered", first.agent, ("support",))
    assert {k: s.ivr.get(k) for k in IVR} == IVR
    assert call.c2 is not None  # the ;2 that ran the dialplan names the recording
    assert s.recording is not None and s.recording.endswith(f"/{call.c2.uniqueid}.wav")
    assert None not in (s.started_at, s.queued_at, s.answered_at, s.ended_at)
    assert s.started_at and s.queued_at and s.answered_at and s.ended_at
    assert s.started_at <= s.queued_at <= s.answered_at <= s.ended_at
    assert s.wait_s is not None and s.wait_s >= 0


async def test_status_lists_channel_variables_as_asterisk_does() -> None:
    """AMI Status as Asterisk 22's manager.c writes it: the ``Variables`` asked for first
    (empty when unset), then with ``AllVariables`` every variable of the channel, names
    without the inheritance underscores; one ``Variable:`` header per variable."""
    async with contextlib.AsyncExitStack() as stack:
        sim = PbxSimulator(time_scale=SCALE)
        await sim.start()
        stack.push_async_callback(sim.close)
        async with hotline(sim) as (client, bus):
            call = sim.place_call(caller="13912345678", name="Zhou Min",
                                  script=CallScript(skip_agi=True, talk=100_000.0))
            await bus.first(CallAnswered, call.linkedid)
            assert call.c2 is not None
            rows = await client.send_list_action(
                "Status", {"Channel": call.c2.name, "Variables": "HOTLINE_DID,NOSUCH",
                           "AllVariables": "true"})
            plain = await client.send_list_action("Status", {"Channel": call.c2.name})
            sim.pbx.hangup_channel(call.c1.name if call.c1 else "")
    [row] = rows
    lines = row["Variable"].split("\n")
    assert lines[:2] == ["HOTLINE_DID=4008001234", "NOSUCH="]
    assert "HOTLINE_DID=4008001234" in lines[2:]  # set as __HOTLINE_DID
    assert not any(line.startswith("_") for line in lines)
    assert "QUEUE=support" in lines and any(x.startswith("QUEUEWAIT=") for x in lines)
    assert list(row)[-2:] == ["Variable", "ActionID"]  # after Seconds, before the ActionID
    assert "Variable" not in plain[0] and plain[0]["Uniqueid"] == call.c2.uniqueid
