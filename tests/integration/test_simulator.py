"""The PBX simulator over real TCP, compared with the real Asterisk 22 captures.

Every test runs the simulator at a small time_scale (simulated seconds are a
hundredth of a wall second), talks AMI to it with a raw asyncio socket +
AmiDecoder or with panoramisk, and asserts behaviour (fields, order, values),
never wall-clock timing.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
import sys
from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from telephony.ami_codec import AmiDecoder, decode_all, encode_action
from telephony.events import CallEnded
from telephony.simulator import CallScript, PbxSimulator, TransferPlan
from telephony.simulator.scenarios import CAPTURES as SCENARIO_CAPTURES
from telephony.tracker import CallTracker

ROOT = Path(__file__).resolve().parents[2]
from tests.shared import CAPTURES  # noqa: E402

SCALE = 0.01
Msg = dict[str, str]

# events a call tracker cares about, in the order they matter
TRACKING = {
    "Newchannel", "Hangup", "QueueCallerJoin", "QueueCallerLeave", "QueueCallerAbandon",
    "AgentCalled", "AgentRingNoAnswer", "AgentConnect", "AgentComplete", "BridgeEnter",
    "BridgeLeave", "BlindTransfer", "AttendedTransfer", "DialBegin", "DialEnd",
}
QUEUE_VALUES = ("Event", "Queue", "MemberName", "HoldTime", "RingTime", "TalkTime", "Reason",
                "Position")


class RawClient:
    """A plain AMI client: a socket, an AmiDecoder, every message kept in order."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.decoder = AmiDecoder()
        self.messages: list[Msg] = []
        self.raw = bytearray()
        self.closed = asyncio.Event()
        self._changed = asyncio.Event()
        self._task = asyncio.create_task(self._read())

    @classmethod
    async def connect(cls, port: int) -> RawClient:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def _read(self) -> None:
        try:
            while data := await self.reader.read(65536):
                self.raw += data
                self.messages.extend(self.decoder.feed(data))
                self._changed.set()
        except (ConnectionError, OSError):
            pass
        finally:
            self.closed.set()
            self._changed.set()

    def send(self, action: str, action_id: str | None = None, **fields: str) -> None:
        self.writer.write(encode_action(action, fields, action_id=action_id))

    async def wait_for(self, pred: Callable[[Msg], bool], limit: float = 5.0) -> Msg:
        async def scan() -> Msg:
            seen = 0
            while True:
                for m in self.messages[seen:]:
                    if pred(m):
                        return m
                seen = len(self.messages)
                if self.closed.is_set():
                    raise ConnectionError("closed before the expected message")
                self._changed.clear()
                await self._changed.wait()
        return await asyncio.wait_for(scan(), limit)

    async def response(self, action_id: str) -> Msg:
        return await self.wait_for(lambda m: m.get("ActionID") == action_id and "Event" not in m)

    async def login(self, **extra: str) -> Msg:
        self.send("Login", "login", Username="hotline", Secret="hotline-secret", **extra)
        return await self.response("login")

    async def action(self, action: str, action_id: str, **fields: str) -> Msg:
        self.send(action, action_id, **fields)
        return await self.response(action_id)

    async def list_action(self, action: str, action_id: str, complete: str,
                          **fields: str) -> list[Msg]:
        self.send(action, action_id, **fields)
        await self.wait_for(lambda m: m.get("Event") == complete
                            and m.get("ActionID") == action_id)
        return [m for m in self.messages if m.get("ActionID") == action_id]

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(Exception):
            await self.writer.wait_closed()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


@pytest.fixture
async def sim() -> AsyncIterator[PbxSimulator]:
    s = PbxSimulator(time_scale=SCALE)
    await s.start()
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
async def client(sim: PbxSimulator) -> AsyncIterator[RawClient]:
    c = await RawClient.connect(sim.port)
    assert (await c.login())["Response"] == "Success"
    try:
        yield c
    finally:
        await c.close()


def capture(name: str) -> list[Msg]:
    return [m for m in decode_all((CAPTURES / f"{name}.ami").read_bytes()) if "Banner" not in m]


def call_messages(messages: list[Msg], linkedid: str) -> list[Msg]:
    """Events of one call: those whose Linkedid (or Dest/Transferee Linkedid) is it."""
    keys = ("Linkedid", "DestLinkedid", "TransfereeLinkedid", "OrigTransfererLinkedid")
    return [m for m in messages if "Event" in m and any(m.get(k) == linkedid for k in keys)]


def shape(channel: str) -> str:
    """``Local/1001@agents-0000005c;1`` -> ``Local/1001@agents;1``."""
    return re.sub(r"-[0-9a-f]{8};", ";", channel)


def tracking_sequence(messages: list[Msg]) -> list[tuple[str, str]]:
    return [(m["Event"], shape(m.get("Channel") or m.get("DestChannel") or ""))
            for m in messages if m.get("Event") in TRACKING]


def queue_values(messages: list[Msg]) -> list[tuple[str, ...]]:
    return [tuple(m.get(k, "") for k in QUEUE_VALUES) for m in messages
            if m.get("Event", "").startswith(("Agent", "QueueCaller"))]


def layouts(messages: list[Msg]) -> dict[str, set[tuple[str, ...]]]:
    out: dict[str, set[tuple[str, ...]]] = {}
    for m in messages:
        if "Event" in m:
            out.setdefault(m["Event"], set()).add(tuple(m))
    return out


def uid_relations(messages: list[Msg]) -> set[tuple[str, bool]]:
    """(channel shape, is its Uniqueid the call's Linkedid) for every channel of the call."""
    return {(shape(m["Channel"]), m["Uniqueid"] == m["Linkedid"])
            for m in messages if m.get("Event") == "Newchannel"}


async def run_and_record(sim: PbxSimulator, client: RawClient, scenario: str) -> tuple[
        list, list[Msg]]:
    calls = await sim.run_scenario(scenario)
    # the last events of a call (QueueMemberStatus, Cdr) are flushed in the same tick
    await client.action("Ping", "after-scenario")
    return calls, list(client.messages)


# ---------------------------------------------------------------------------- login


async def test_banner_login_ping_logoff_raw_socket(sim: PbxSimulator) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", sim.port)
    assert await reader.readline() == b"Asterisk Call Manager/11.0.0\r\n"
    c = RawClient(reader, writer)
    c.decoder = AmiDecoder(expect_banner=False)
    resp = await c.login()
    assert resp == {"Response": "Success", "ActionID": "login",
                    "Message": "Authentication accepted"}
    booted = await c.wait_for(lambda m: m.get("Event") == "FullyBooted")
    assert list(booted) == ["Event", "Privilege", "Uptime", "LastReload", "Status"]
    await c.wait_for(lambda m: m.get("Event") == "SuccessfulAuth")
    assert sim.connections == 1
    pong = await c.action("Ping", "p-1")
    assert (pong["Response"], pong["Ping"]) == ("Success", "Pong")
    assert re.fullmatch(r"\d+\.\d{6}", pong["Timestamp"])
    bye = await c.action("Logoff", "bye")
    assert bye == {"Response": "Goodbye", "ActionID": "bye",
                   "Message": "Thanks for all the fish."}
    await asyncio.wait_for(c.closed.wait(), 5)
    assert [a["Action"] for a in sim.actions] == ["Login", "Ping", "Logoff"]
    await c.close()


async def test_panoramisk_manager_logs_in_and_gets_events(sim: PbxSimulator) -> None:
    from panoramisk import Manager

    events: list[str] = []
    manager = Manager(loop=asyncio.get_running_loop(), host="127.0.0.1", port=sim.port,
                      username="hotline", secret="hotline-secret", ping_delay=60,
                      reconnect_timeout=60)
    manager.register_event("*", lambda _m, event: events.append(event.event))
    await manager.connect()
    try:
        for _ in range(200):
            if manager.authenticated:
                break
            await asyncio.sleep(0.01)
        assert manager.authenticated
        pong = await manager.send_action({"Action": "Ping"})
        assert pong.ping == "Pong"
        status = await manager.send_action({"Action": "QueueSummary", "Queue": "support"})
        assert any(m.get("Event") == "QueueSummary" for m in status)
        call = sim.place_call(caller="13800138000", name="Wang Fang",
                              script=CallScript(skip_agi=True, talk=1.0))
        await call.done
        for _ in range(200):
            if "AgentComplete" in events:
                break
            await asyncio.sleep(0.01)
        assert {"Newchannel", "QueueCallerJoin", "AgentConnect", "AgentComplete"} <= set(events)
    finally:
        manager.close()


async def test_wrong_secret_is_refused_after_a_delay_and_closed(sim: PbxSimulator) -> None:
    c = await RawClient.connect(sim.port)
    denied = await c.action("CoreStatus", "10b-1")
    assert denied == {"Response": "Error", "ActionID": "10b-1", "Message": "Permission denied"}
    c.send("Login", "10b-2", Username="hotline", Secret="wrong-secret")
    failed = await c.response("10b-2")
    assert failed == {"Response": "Error", "ActionID": "10b-2",
                      "Message": "Authentication failed"}
    await asyncio.wait_for(c.closed.wait(), 5)
    assert sim.connections == 0
    assert not any("Event" in m for m in c.messages)
    await c.close()


async def test_md5_challenge_login_with_event_filter(sim: PbxSimulator) -> None:
    c = await RawClient.connect(sim.port)
    challenge = (await c.action("Challenge", "10c-1", AuthType="MD5"))["Challenge"]
    key = hashlib.md5((challenge + "hotline-secret").encode()).hexdigest()
    resp = await c.action("Login", "10c-2", AuthType="MD5", Username="hotline", Key=key,
                          Events="call,agent")
    assert resp["Message"] == "Authentication accepted"
    call = sim.place_call(caller="13800138000", script=CallScript(skip_agi=True, talk=1.0))
    await call.done
    await c.action("Ping", "sync")
    privileges = {m["Privilege"] for m in c.messages if "Event" in m}
    assert privileges <= {"call,all", "agent,all"}
    assert any(m.get("Event") == "AgentConnect" for m in c.messages)
    assert (await c.action("Events", "10c-3", EventMask="off"))["Events"] == "Off"
    n = len(c.messages)
    await sim.place_call(caller="13800138001", script=CallScript(skip_agi=True, talk=1.0)).done
    await c.action("Ping", "sync2")
    assert not any("Event" in m for m in c.messages[n:])
    await c.close()


async def test_md5_login_with_a_wrong_key_fails(sim: PbxSimulator) -> None:
    c = await RawClient.connect(sim.port)
    await c.action("Challenge", "ch", AuthType="MD5")
    resp = await c.action("Login", "l", AuthType="MD5", Username="hotline", Key="0" * 32)
    assert resp["Message"] == "Authentication failed"
    await c.close()


async def test_unknown_action_error_and_request_bad_format(client: RawClient) -> None:
    resp = await client.action("QueueUnpause", "04-7", Queue="support")
    assert resp == {"Response": "Error", "ActionID": "04-7", "Message":
                    "Invalid/unknown command: QueueUnpause. Use Action: ListCommands to show "
                    "available commands."}
    bad = await client.wait_for(lambda m: m.get("Event") == "RequestBadFormat")
    assert bad["RequestType"] == "Action: QueueUnpause"
    assert bad["Privilege"] == "security,all"


# ------------------------------------------------------------------ scenarios vs captures

SINGLE = ["answered", "abandoned", "ring-no-answer", "blind-transfer", "redirect-transfer",
          "attended-transfer"]


@pytest.mark.parametrize("scenario", SINGLE)
async def test_scenario_matches_its_capture(sim: PbxSimulator, client: RawClient,
                                            scenario: str) -> None:
    calls, messages = await run_and_record(sim, client, scenario)
    real = capture(SCENARIO_CAPTURES[scenario])
    real_lid = next(m["Linkedid"] for m in real if m.get("Event") == "Newchannel")
    real_call = call_messages(real, real_lid)
    ours = call_messages(messages, calls[0].linkedid)

    assert tracking_sequence(ours) == tracking_sequence(real_call)
    assert queue_values(ours) == queue_values(real_call)
    assert uid_relations(ours) == uid_relations(real_call)
    assert {m["Linkedid"] for m in ours if "Linkedid" in m} == {calls[0].linkedid}
    for m in ours:
        if "Uniqueid" in m:
            assert re.fullmatch(r"\d{10}\.\d+", m["Uniqueid"])
    real_layouts = layouts(real)
    for event, ours_layouts in layouts(messages).items():
        if event in real_layouts:
            assert ours_layouts <= real_layouts[event], event
    # the member states the tracker follows: same (queue, member, status) transitions
    def statuses(ms: list[Msg]) -> list[tuple[str, str, str]]:
        return [(m["Queue"], m["MemberName"], m["Status"]) for m in ms
                if m.get("Event") == "QueueMemberStatus"]
    assert statuses(messages) == statuses(real)


async def test_burst_matches_capture_11(sim: PbxSimulator, client: RawClient) -> None:
    calls, messages = await run_and_record(sim, client, "burst")
    real = capture("11-burst-20-callers")
    real_layouts = layouts(real)
    for event, ours_layouts in layouts(messages).items():
        if event in real_layouts:
            assert ours_layouts <= real_layouts[event], event

    def outcome(ms: list[Msg]) -> dict[str, str]:
        out: dict[str, str] = {}
        for m in ms:
            if m.get("Event") == "AgentConnect":
                out[m["CallerIDNum"]] = "answered"
            elif m.get("Event") == "QueueCallerAbandon":
                out[m["CallerIDNum"]] = "abandoned"
        return out

    assert outcome(messages) == outcome(real)
    assert len({c.linkedid for c in calls}) == 20
    first_served = [m["MemberName"] for m in messages if m.get("Event") == "AgentConnect"][:6]
    assert first_served == ["Agent2001", "Agent2002", "Agent2003"] * 2  # rrmemory


def _summary_view(summary: object) -> dict[str, object]:
    s = summary
    return {
        "caller": s.caller, "caller_name": s.caller_name, "did": s.did,  # type: ignore[attr-defined]
        "queues": s.queues, "agent": s.agent,  # type: ignore[attr-defined]
        "agent_interface": s.agent_interface, "wait_s": s.wait_s,  # type: ignore[attr-defined]
        "ring_s": s.ring_s, "talk_s": s.talk_s,  # type: ignore[attr-defined]
        "hangup_by": s.hangup_by, "outcome": s.outcome,  # type: ignore[attr-defined]
        "transfers": [(t.kind, t.target) for t in s.transfers],  # type: ignore[attr-defined]
        "no_answer": [(a.agent, a.ring_ms) for a in s.agents_tried  # type: ignore[attr-defined]
                      if a.result == "no-answer"],
    }


def _summaries(messages: list[Msg], clock: Callable[[], float] | None = None) -> list[dict]:
    from telephony.events import CallEnded
    from telephony.tracker import CallTracker

    tracker = CallTracker(clock=clock or (lambda: 0.0))
    out = []
    for m in messages:
        for ev in tracker.feed(m):
            if isinstance(ev, CallEnded):
                out.append(_summary_view(ev.summary))
    return out


@pytest.mark.parametrize("scenario", SINGLE)
async def test_tracker_gives_the_capture_summary(sim: PbxSimulator, client: RawClient,
                                                 scenario: str) -> None:
    """The issue's demand: the simulator's event stream for each scripted scenario
    gives the same call summary as the matching real capture."""
    from telephony.capture import load_capture

    _calls, messages = await run_and_record(sim, client, scenario)
    timed = load_capture(CAPTURES / f"{SCENARIO_CAPTURES[scenario]}.ami")
    real = _summaries([m for _t, m in timed])
    ours = _summaries(messages)
    assert len(real) == 1 and len(ours) == 1
    assert ours[0] == real[0]
    assert ours[0]["caller"] is not None


# ------------------------------------------------------------------------ live state


async def test_drop_connections_mid_call_then_resync_shows_the_call(sim: PbxSimulator,
                                                                    client: RawClient) -> None:
    call = sim.place_call(caller="13800138000", name="Wang Fang",
                          script=CallScript(skip_agi=True, talk=500.0))
    await client.wait_for(lambda m: m.get("Event") == "AgentConnect")
    await sim.drop_connections()
    await asyncio.wait_for(client.closed.wait(), 5)
    assert sim.connections == 0
    again = await RawClient.connect(sim.port)
    await again.login()
    channels = await again.list_action("CoreShowChannels", "snap", "CoreShowChannelsComplete")
    rows = [m for m in channels if m.get("Event") == "CoreShowChannel"]
    assert {m["Linkedid"] for m in rows} == {call.linkedid}
    assert len(rows) == 4 and all(m["ChannelStateDesc"] == "Up" for m in rows)
    assert any(m["BridgeId"] for m in rows)
    done = channels[-1]
    assert (done["EventList"], done["ListItems"]) == ("Complete", "4")
    status = await again.list_action("QueueStatus", "qs", "QueueStatusComplete", Queue="support")
    alice = next(m for m in status if m.get("Event") == "QueueMember" and m["Name"] == "Alice")
    assert (alice["Status"], alice["InCall"]) == ("2", "1")
    assert status[0] == {"Response": "Success", "ActionID": "qs", "EventList": "start",
                         "Message": "Queue status will follow"}
    sim.pbx.hangup_channel(call.c1.name if call.c1 else "")
    await call.done
    assert call.outcome == "answered" and call.hangup_by == "caller"
    await again.close()


async def test_queue_status_shows_waiting_callers(sim: PbxSimulator, client: RawClient) -> None:
    for name in ("Alice", "Bob", "Carol"):
        sim.set_agent(name, mode="noanswer")
    call = sim.place_call(caller="13100131003", name="Caller Three",
                          script=CallScript(skip_agi=True, patience=500.0))
    await client.wait_for(lambda m: m.get("Event") == "AgentCalled")
    status = await client.list_action("QueueStatus", "qs", "QueueStatusComplete")
    entry = next(m for m in status if m.get("Event") == "QueueEntry")
    assert (entry["Queue"], entry["Position"], entry["CallerIDNum"]) == ("support", "1",
                                                                          "13100131003")
    assert entry["Channel"] == call.c2.name if call.c2 else False
    summary = await client.list_action("QueueSummary", "sum", "QueueSummaryComplete",
                                       Queue="support")
    assert next(m for m in summary if m.get("Event") == "QueueSummary")["Callers"] == "1"
    assert sim.pbx.hangup_channel(call.c1.name if call.c1 else "")
    await call.done
    assert call.outcome == "abandoned"


async def test_queue_actions_change_queue_status(sim: PbxSimulator, client: RawClient) -> None:
    add = await client.action("QueueAdd", "04-2", Queue="support", Interface="Local/1004@agents/n",
                              MemberName="Dave", Penalty="1", StateInterface="Local/1004@agents",
                              Paused="false")
    assert add["Message"] == "Added interface to queue"
    added = await client.wait_for(lambda m: m.get("Event") == "QueueMemberAdded")
    assert (added["MemberName"], added["Membership"], added["Penalty"]) == ("Dave", "dynamic", "1")
    dup = await client.action("QueueAdd", "04-3", Queue="support",
                              Interface="Local/1004@agents/n", MemberName="Dave")
    assert dup["Message"] == "Unable to add interface: Already there"
    pause = await client.action("QueuePause", "04-5", Queue="support",
                                Interface="Local/1004@agents/n", Paused="true",
                                Reason="Lunch break")
    assert pause["Message"] == "Interface paused successfully"
    member = [m for m in await client.list_action("QueueStatus", "04-6", "QueueStatusComplete",
                                                   Queue="support",
                                                   Member="Local/1004@agents/n")]
    row = next(m for m in member if m.get("Event") == "QueueMember")
    assert (row["Paused"], row["PausedReason"]) == ("1", "Lunch break")
    assert member[-1]["ListItems"] == "2"
    unpause = await client.action("QueuePause", "04-8", Queue="support",
                                  Interface="Local/1004@agents/n", Paused="false")
    assert unpause["Message"] == "Interface unpaused successfully"
    penalty = await client.action("QueuePenalty", "04-9", Interface="Local/1004@agents/n",
                                  Penalty="3", Queue="support")
    assert penalty["Message"] == "Interface penalty set successfully"
    n = len(client.messages)
    both = await client.action("QueuePause", "04-10", Interface="Local/1001@agents/n",
                               Paused="true", Reason="Meeting")
    assert both["Message"] == "Interface paused successfully"
    await client.action("Ping", "sync")
    pauses = [(m["Queue"], m["Paused"], m["PausedReason"]) for m in client.messages[n:]
              if m.get("Event") == "QueueMemberPause"]
    assert pauses == [("support", "1", "Meeting"), ("vip", "1", "Meeting")]
    removed = await client.action("QueueRemove", "04-12", Queue="support",
                                  Interface="Local/1004@agents/n")
    assert removed["Message"] == "Removed interface from queue"
    again = await client.action("QueueRemove", "04-13", Queue="support",
                                Interface="Local/1004@agents/n")
    assert again["Message"] == "Unable to remove interface: Not there"
    unknown = await client.action("QueuePause", "04-14", Queue="support",
                                  Interface="Local/9999@agents/n", Paused="true")
    assert unknown == {"Response": "Error", "ActionID": "04-14", "Message": "Interface not found"}
    # a member of the configuration (queues.conf member =>) is static: app_queue refuses
    # to remove it (manager_remove_queue_member, RES_NOT_DYNAMIC) and it stays
    static = await client.action("QueueRemove", "04-15", Queue="support",
                                 Interface="Local/1001@agents/n")
    assert static == {"Response": "Error", "ActionID": "04-15", "Message": "Member not dynamic"}
    nosuch = await client.action("QueueRemove", "04-16", Queue="nosuchqueue",
                                 Interface="Local/1001@agents/n")
    assert nosuch["Message"] == "Unable to remove interface from queue: No such queue"
    final = await client.list_action("QueueStatus", "end", "QueueStatusComplete", Queue="support")
    names = [m["Name"] for m in final if m.get("Event") == "QueueMember"]
    assert names == ["Alice", "Bob", "Carol"]
    paused = {m["Name"]: m["Paused"] for m in final if m.get("Event") == "QueueMember"}
    assert paused == {"Alice": "1", "Bob": "0", "Carol": "0"}
    assert [a["Reason"] for a in sim.actions_named("QueuePause") if "Reason" in a] == [
        "Lunch break", "Meeting"]


async def test_paused_member_is_not_rung(sim: PbxSimulator, client: RawClient) -> None:
    await client.action("QueuePause", "p", Interface="Local/1001@agents/n", Paused="true")
    call = sim.place_call(caller="13800138000", script=CallScript(skip_agi=True, talk=1.0))
    await call.done
    assert call.agent == "Bob"


# --------------------------------------------------------------- robustness / control


async def test_garbage_both_ways_does_not_break_the_server(sim: PbxSimulator,
                                                           client: RawClient) -> None:
    client.writer.write(b"\x00\xff garbage line without colon\r\nAction\r\n\r\n"
                        b"Action: Ping\r\nActionID: half")
    client.writer.write(b"-way\r\n\r\n")
    pong = await client.response("half-way")
    assert pong["Ping"] == "Pong"
    sim.send_raw(b"Event: Weird\r\nCallerIDName: \xd5\xc5\xc8\xfd\r\n\r\nno colon here\r\n\r\n")
    sim.send_raw(b"Event: Trunc")
    weird = await client.wait_for(lambda m: m.get("Event") == "Weird")
    assert weird["CallerIDName"] == "张三"
    other = await RawClient.connect(sim.port)
    assert (await other.login())["Response"] == "Success"
    await other.close()


async def test_gbk_caller_name_goes_out_in_gbk(sim: PbxSimulator, client: RawClient) -> None:
    call = sim.place_call(caller="13800138000", name="王芳",
                          script=CallScript(skip_agi=True, talk=1.0, gbk_name=True))
    await call.done
    await client.action("Ping", "sync")
    assert "王芳".encode("gbk") in client.raw
    assert "王芳".encode() not in client.raw
    newcid = next(m for m in client.messages if m.get("Event") == "NewCallerid")
    assert newcid["CallerIDName"] == "王芳"


async def test_canned_response_actions_log_and_reset(sim: PbxSimulator, client: RawClient) -> None:
    sim.canned_response("QueuePause", {"Response": "Error", "Message": "Interface not found"})
    resp = await client.action("QueuePause", "c-1", Interface="Local/1001@agents/n",
                               Paused="true", Reason="Lunch")
    assert resp == {"Response": "Error", "ActionID": "c-1", "Message": "Interface not found"}
    assert sim.actions_named("queuepause")[0]["Reason"] == "Lunch"
    sim.canned_response("QueuePause", None)
    resp = await client.action("QueuePause", "c-2", Interface="Local/1001@agents/n",
                               Paused="false")
    assert resp["Response"] == "Success"
    sim.canned_response("Ping", {"Response": "Success", "Ping": "Pong", "Timestamp": "1.0"})
    sim.reset()
    assert sim.actions == []
    resp = await client.action("Ping", "c-3")
    assert resp["Timestamp"] != "1.0"


async def test_refuse_connections_and_pause_output(sim: PbxSimulator, client: RawClient) -> None:
    sim.refuse_connections(True)
    refused = await RawClient.connect(sim.port)
    await asyncio.wait_for(refused.closed.wait(), 5)
    assert bytes(refused.raw) == b""
    await refused.close()
    sim.refuse_connections(False)
    sim.pause_output(True)
    client.send("Ping", "silent")
    await asyncio.sleep(0.05)
    assert not any(m.get("ActionID") == "silent" for m in client.messages)
    sim.pause_output(False)
    assert (await client.action("Ping", "loud"))["Ping"] == "Pong"


async def test_a_client_that_stops_reading_is_disconnected() -> None:
    sim = PbxSimulator(time_scale=SCALE, noise=2, max_client_buffer=256 << 10)
    await sim.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", sim.port, limit=1024)
        transport = writer.transport
        writer.write(encode_action("Login", {"Username": "hotline", "Secret": "hotline-secret"}))
        await asyncio.sleep(0.05)
        transport.pause_reading()  # type: ignore[attr-defined]
        reader_ok = await RawClient.connect(sim.port)
        await reader_ok.login()
        sim.start_load(calls_per_second=400, total_calls=400)
        for _ in range(500):
            if sim.slow_clients_dropped:
                break
            await asyncio.sleep(0.02)
        assert sim.slow_clients_dropped == 1
        assert sim.connections == 1  # the reading client is still served
        assert (await reader_ok.action("Ping", "alive"))["Ping"] == "Pong"
        await reader_ok.close()
        writer.close()
    finally:
        await sim.close()


async def test_timestamp_header_only_with_timestampevents() -> None:
    for flag in (False, True):
        sim = PbxSimulator(time_scale=SCALE, timestampevents=flag)
        await sim.start()
        c = await RawClient.connect(sim.port)
        await c.login()
        await sim.place_call(caller="13800138000", script=CallScript(skip_agi=True,
                                                                     talk=1.0)).done
        await c.action("Ping", "sync")
        call_events = [m for m in c.messages if m.get("Event") == "Newchannel"]
        assert call_events
        assert all(("Timestamp" in m) is flag for m in call_events)
        if flag:
            assert list(call_events[0])[:3] == ["Event", "Privilege", "Timestamp"]
        await c.close()
        await sim.close()


# ----------------------------------------------------------------------- originate etc.


async def test_originate_like_the_capture_rig(client: RawClient) -> None:
    resp = await client.action(
        "Originate", "call-1", Channel="Local/4008001234@from-pstn/n", Context="caller-phone",
        Exten="s", Priority="1", CallerID='"Wang Fang" <13800138000>', Timeout="30000",
        Async="true", Variable=["DIGIT=1", "HOLD=5.5"])  # type: ignore[arg-type]
    assert resp["Message"] == "Originate successfully queued"
    orig = await client.wait_for(lambda m: m.get("Event") == "OriginateResponse")
    assert (orig["ActionID"], orig["Response"], orig["Reason"]) == ("call-1", "Success", "4")
    done = await client.wait_for(lambda m: m.get("Event") == "AgentComplete")
    assert (done["MemberName"], done["Reason"], done["CallerIDName"]) == ("Alice", "caller",
                                                                          "Wang Fang")
    varsets = {m["Variable"]: m["Value"] for m in client.messages if m.get("Event") == "VarSet"}
    assert (varsets["DIGIT"], varsets["HOLD"], varsets["QUEUE"]) == ("1", "5.5", "support")


async def test_click_to_dial_success_and_failures(sim: PbxSimulator, client: RawClient) -> None:
    ok = await client.action("Originate", "c2d-1", Channel="Local/1001@agents/n",
                             Context="outbound", Exten="13800138000", Priority="1",
                             CallerID='"Hotline" <4008001234>', Async="true")
    assert ok["Message"] == "Originate successfully queued"
    resp = await client.wait_for(lambda m: m.get("Event") == "OriginateResponse"
                                 and m.get("ActionID") == "c2d-1")
    assert (resp["Response"], resp["Reason"]) == ("Success", "4")
    sim.set_agent("Bob", mode="noanswer")
    await client.action("Originate", "c2d-2", Channel="Local/1002@agents/n", Context="outbound",
                        Exten="13800138000", Timeout="4000", Async="true")
    fail = await client.wait_for(lambda m: m.get("Event") == "OriginateResponse"
                                 and m.get("ActionID") == "c2d-2")
    assert (fail["Response"], fail["Reason"], fail["Channel"], fail["Uniqueid"]) == (
        "Failure", "3", "Local/1002@agents/n", "<unknown>")
    await client.action("Originate", "c2d-3", Channel="Local/1999@nowhere/n",
                        Context="outbound", Exten="13800138000", Async="true")
    bad = await client.wait_for(lambda m: m.get("Event") == "OriginateResponse"
                                and m.get("ActionID") == "c2d-3")
    assert (bad["Response"], bad["Reason"]) == ("Failure", "0")
    sync = await client.action("Originate", "c2d-4", Channel="PJSIP/1001", Context="outbound",
                               Exten="13800138000", Priority="1")
    assert sync == {"Response": "Error", "ActionID": "c2d-4", "Message": "Originate failed"}


async def test_chanspy_starts_and_stops_with_the_call(sim: PbxSimulator,
                                                      client: RawClient) -> None:
    call = sim.place_call(caller="13300133000", name="Zhou Min",
                          script=CallScript(skip_agi=True, talk=5.0))
    connect = await client.wait_for(lambda m: m.get("Event") == "AgentConnect")
    await client.action("Originate", "spy-listen", Channel="Local/9000@supervisor/n",
                        Context="spy", Exten="listen", Priority="1",
                        CallerID='"Supervisor" <9000>', Async="true",
                        Variable=f"SPYTARGET={connect['DestChannel']}")
    start = await client.wait_for(lambda m: m.get("Event") == "ChanSpyStart")
    assert start["SpyeeChannel"] == connect["DestChannel"]
    assert start["SpyerLinkedid"] != call.linkedid
    spyer = start["SpyerChannel"]
    hung = await client.action("Hangup", "h", Channel=spyer, Cause="16")
    assert hung["Message"] == "Channel Hungup"
    await call.done
    stop = await client.wait_for(lambda m: m.get("Event") == "ChanSpyStop")
    assert stop["SpyerChannel"] == spyer
    await client.wait_for(lambda m: m.get("Event") == "Hangup" and m["Channel"] == spyer)


async def test_transfer_actions_act_on_live_calls(sim: PbxSimulator, client: RawClient) -> None:
    call = sim.place_call(caller="13500135000", name="Chen Jie",
                          script=CallScript(skip_agi=True, talk=500.0))
    connect = await client.wait_for(lambda m: m.get("Event") == "AgentConnect")
    resp = await client.action("BlindTransfer", "05-3", Channel=connect["DestChannel"],
                               Context="internal", Exten="2100")
    assert resp["Message"] == "Transfer succeeded"
    await call.done
    blind = next(m for m in client.messages if m.get("Event") == "BlindTransfer")
    assert (blind["Extension"], blind["TransfereeLinkedid"]) == ("2100", call.linkedid)
    complete = next(m for m in client.messages if m.get("Event") == "AgentComplete")
    assert complete["Reason"] == "transfer"
    missing = await client.action("Redirect", "r", Channel="Local/nope;2", Context="internal",
                                  Exten="2100", Priority="1")
    assert missing["Response"] == "Error"
    bye = await client.action("Hangup", "h", Channel="Local/nope;2")
    assert bye == {"Response": "Error", "ActionID": "h", "Message": "No such channel"}


async def test_agent_hangup_via_action(sim: PbxSimulator, client: RawClient) -> None:
    """AMI Hangup of the agent leg in the bridge (the console's hang-up): as Asterisk 22,
    AgentComplete says Reason=caller (app_queue sees no HangupRequest for a channel hung
    up by AMI; the caller's end of Queue() comes first), but the agent's leg leaves the
    bridge first, and the call tracker reads who hung up from that."""
    call = sim.place_call(caller="13600136000", script=CallScript(skip_agi=True, talk=500.0))
    connect = await client.wait_for(lambda m: m.get("Event") == "AgentConnect")
    await client.action("Hangup", "h", Channel=connect["DestChannel"])
    await call.done
    assert call.hangup_by == "agent"
    complete = next(m for m in client.messages if m.get("Event") == "AgentComplete")
    assert complete["Reason"] == "caller"
    leaves = [m["Channel"] for m in client.messages if m.get("Event") == "BridgeLeave"]
    assert leaves[0] == connect["DestChannel"]
    assert not [m for m in client.messages if m.get("Event") in (
        "HangupRequest", "SoftHangupRequest") and m["Channel"] == connect["DestChannel"]]
    tracker = CallTracker()
    [summary] = [e.summary for m in client.messages for e in tracker.feed(m)
                 if isinstance(e, CallEnded)]
    assert (summary.outcome, summary.hangup_by) == ("answered", "agent")


async def test_agent_phone_hangup_via_action(sim: PbxSimulator, client: RawClient) -> None:
    """AMI Hangup of the agent leg's ;2 (the agent's phone side): its dialplan ends, the
    ;1 gets a HangupRequest first: Reason=agent."""
    call = sim.place_call(caller="13600136000", script=CallScript(skip_agi=True, talk=500.0))
    connect = await client.wait_for(lambda m: m.get("Event") == "AgentConnect")
    await client.action("Hangup", "h", Channel=connect["DestChannel"][:-1] + "2")
    await call.done
    assert call.hangup_by == "agent"
    complete = next(m for m in client.messages if m.get("Event") == "AgentComplete")
    assert complete["Reason"] == "agent"


async def test_status_command_corestatus(sim: PbxSimulator, client: RawClient) -> None:
    call = sim.place_call(caller="13800138000", script=CallScript(skip_agi=True, talk=500.0))
    await client.wait_for(lambda m: m.get("Event") == "AgentConnect")
    status = await client.list_action("Status", "st", "StatusComplete")
    assert [m["Event"] for m in status[1:]].count("Status") == 4
    assert status[-1]["Items"] == "4"
    cmd = await client.action("Command", "cmd", Command="core show channels concise")
    assert len(cmd["Output"].split("\n")) == 4
    core = await client.action("CoreStatus", "core")
    assert core["CoreCurrentCalls"] == "1"
    assert sim.pbx.hangup_channel(call.c1.name if call.c1 else "")
    await call.done


# ------------------------------------------------------------------------------- load


async def test_load_mode_runs_many_calls_to_the_end() -> None:
    from telephony.simulator.cli import load_agents, load_queues

    sim = PbxSimulator(time_scale=SCALE, agents=load_agents(30), queues=load_queues(), noise=1)
    await sim.start()
    client = await RawClient.connect(sim.port)
    await client.login()
    sim.start_load(calls_per_second=300, total_calls=150)
    await asyncio.wait_for(sim.load.wait_done(), 30)
    await client.action("Ping", "sync")
    await client.close()
    await sim.close()
    caller_ends = Counter(m["Linkedid"] for m in client.messages
                          if m.get("Event") == "Hangup" and m["Uniqueid"] == m["Linkedid"])
    assert len(caller_ends) == 150
    assert sim.pbx.stats.by_outcome.get("answered", 0) > 100
    assert not sim.pbx.channels and not sim.pbx.calls
    assert all(q.entries == [] for q in sim.pbx.queues.values())


async def test_demo_pbx_trickle_of_calls() -> None:
    from telephony.simulator.demo_load import DemoCaller, start_demo_pbx

    pbx = await start_demo_pbx(username="u", secret="s", calls_per_second=20,
                               callers=[DemoCaller("13800138000", "王芳")],
                               dids=["4008001234"])
    try:
        c = await RawClient.connect(pbx.port)
        c.send("Login", "l", Username="u", Secret="s")
        await c.response("l")
        new = await c.wait_for(lambda m: m.get("Event") == "NewCallerid")
        assert new["CallerIDNum"] == "13800138000"
        await c.close()
    finally:
        await pbx.close()


async def _members(port: int, username: str = "hotline",
                   secret: str = "hotline-secret") -> list[tuple[str, str, str]]:
    """(queue, member, membership) of every QueueMember a QueueStatus lists."""
    c = await RawClient.connect(port)
    try:
        c.send("Login", "l", Username=username, Secret=secret)
        await c.response("l")
        rows = await c.list_action("QueueStatus", "qs", "QueueStatusComplete")
    finally:
        await c.close()
    return [(m["Queue"], m["Name"], m["Membership"]) for m in rows
            if m.get("Event") == "QueueMember"]


async def test_with_hotlines_dialplan_no_agent_is_in_a_queue_until_signed_in() -> None:
    """deploy/asterisk/queues.conf lists no member: the default agents start in no queue
    (the capture rig's were static members), and a caller waits until Hotline signs one
    in; sign_in adds her as Hotline does, her queues then her personal queue."""
    async with PbxSimulator(time_scale=SCALE, agi="127.0.0.1:1") as sim:
        assert await _members(sim.port) == []
        call = sim.place_call(caller="13800138000", script=CallScript(
            skip_agi=True, talk=1.0, patience=3000.0))
        await asyncio.sleep(0.3)  # 30 simulated seconds: nobody to ring
        assert call.queue == "support" and not call.attempts and not call.done.done()
        assert sim.pbx.sign_in("Bob") == ["support", "agent-1002"]
        await asyncio.wait_for(call.done, 30)
        assert await _members(sim.port) == [("support", "Bob", "dynamic"),
                                            ("agent-1002", "Bob", "dynamic")]
    assert call.agent == "Bob" and call.outcome == "answered"
    async with PbxSimulator(time_scale=SCALE) as rig:  # the capture rig: static members
        assert ("support", "Alice", "static") in await _members(rig.port)


async def test_the_demo_signs_in_only_the_agents_nobody_logs_in_as() -> None:
    """``hotline demo``: the simulated colleagues take calls from the start; the demo's
    logins (alice, bob, carol) are signed out until they sign in from the console, so
    the console never shows an agent signed out whom the PBX rings anyway."""
    from hotline.demo import floor_agents
    from telephony.simulator.agi_caller import AgiTarget
    from telephony.simulator.demo_load import DemoCaller, start_demo_pbx

    floor = floor_agents()
    assert floor and not {"Alice", "Bob", "Carol"} & set(floor)
    pbx = await start_demo_pbx(username="u", secret="s", calls_per_second=0.01,
                               callers=[DemoCaller("13800138000", "王芳")],
                               dids=["4008001234"], agi=AgiTarget("127.0.0.1", 1),
                               start_calls=False, signed_in=floor)
    try:
        members = await _members(pbx.port, "u", "s")
    finally:
        await pbx.close()
    assert {name for _q, name, _m in members} == set(floor)
    assert {m for _q, _n, m in members} == {"dynamic"}
    assert ("agent-1004", "Dave", "dynamic") in members


async def test_cli_stops_after_total_calls_and_exits_zero() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hotline.cli", "simulate", "--port", str(port),
        "--calls-per-second", "200", "--agents", "10", "--total-calls", "30",
        "--time-scale", "0.01", cwd=ROOT, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT)
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 20)
    assert str(port).encode() in line
    c = await RawClient.connect(port)
    await c.login()
    await asyncio.wait_for(c.closed.wait(), 20)
    assert await asyncio.wait_for(proc.wait(), 20) == 0
    ends = {m["Linkedid"] for m in c.messages
            if m.get("Event") == "Hangup" and m["Uniqueid"] == m["Linkedid"]}
    assert len(ends) == 30
    assert c.messages[-1].get("Event") == "Shutdown"
    await c.close()


def _to_bob() -> CallScript:
    """Alice (first in support) answers and blind-transfers the caller to Bob's
    extension in [internal]."""
    return CallScript(skip_agi=True, talk=6.0, transfer=TransferPlan(
        kind="blind", target="1002", context="internal", after=1.0))


async def test_a_transfer_to_an_agent_goes_through_her_personal_queue(
        sim: PbxSimulator, client: RawClient) -> None:
    """deploy's [internal]: Queue(agent-1002), so AgentCalled/AgentConnect name Bob on the
    same call (his console pops, his member goes in use), never a bare Dial of his phone."""
    added = await client.action("QueueAdd", "in", Queue="agent-1002",
                                Interface="Local/1002@agents/n", MemberName="Bob")
    assert added["Message"] == "Added interface to queue"  # Hotline's sign-in
    call = sim.place_call(caller="13800138000", name="Wang", script=_to_bob())
    await asyncio.wait_for(call.done, 30)
    await client.action("Ping", "sync")
    mine = [m for m in client.messages if m.get("Linkedid") == call.linkedid]
    called = [(m["Queue"], m["MemberName"]) for m in mine if m.get("Event") == "AgentCalled"]
    assert called == [("support", "Alice"), ("agent-1002", "Bob")]
    connect = next(m for m in mine if m.get("Event") == "AgentConnect"
                   and m["Queue"] == "agent-1002")
    assert connect["Interface"] == "Local/1002@agents/n"
    assert connect["Channel"] == call.c2.name if call.c2 else False  # the caller's channel
    assert not any(m.get("Event") == "DialBegin" and "@desks" in m.get("DestChannel", "")
                   for m in mine)
    busy = [m for m in client.messages if m.get("Event") == "QueueMemberStatus"
            and m["Queue"] == "agent-1002" and m["Status"] == "2"]
    assert busy, "Bob's member never went in use"


async def test_a_transfer_to_an_agent_not_signed_in_goes_back_to_the_callers_queue(
        sim: PbxSimulator, client: RawClient) -> None:
    """Bob's personal queue is empty (Hotline never signed him in): refused at once
    (JOINEMPTY), and the caller is not dropped but queued again in support."""
    call = sim.place_call(caller="13800138000", name="Wang", script=_to_bob())
    await asyncio.wait_for(call.done, 30)
    await client.action("Ping", "sync")
    mine = [m for m in client.messages if m.get("Linkedid") == call.linkedid]
    assert [m["Queue"] for m in mine if m.get("Event") == "QueueCallerJoin"] == [
        "support", "support"]
    assert ("QUEUESTATUS", "JOINEMPTY") in [(m.get("Variable"), m.get("Value")) for m in mine]
    assert [m["MemberName"] for m in mine if m.get("Event") == "AgentConnect"] == [
        "Alice", "Alice"]  # the first free member of support, again
