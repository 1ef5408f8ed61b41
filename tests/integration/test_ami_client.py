"""AmiClient over real TCP against the scripted fake AMI server.

Each of panoramisk 1.4's defects has a test here that a client behaving like
panoramisk would fail: a UTF-8 character split across reads, no action
timeout, unchecked pings, fixed-interval reconnects, re-sent Originates.
Timeouts are tiny so the file runs in a few seconds; nothing asserts speed.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import pytest

from telephony.ami import AmiAuthError, AmiClient, AmiError, AmiNotConnected, AmiTimeout
from telephony.ami_codec import AmiLimits
from tests.integration.fake_ami import FakeAmi, FakeSession, until

Message = dict[str, str]


class Recorder:
    """A consumer that records every callback in order."""

    def __init__(self) -> None:
        self.log: list[str] = []
        self.events: list[dict[str, str]] = []
        self.fail_on: str | None = None

    def on_event(self, msg: Mapping[str, str]) -> None:
        self.events.append(dict(msg))
        self.log.append(msg.get("Event", "?"))
        if msg.get("Event") == self.fail_on:
            raise RuntimeError("consumer bug")

    def on_connected(self) -> None:
        self.log.append("connected")

    def on_disconnected(self) -> None:
        self.log.append("disconnected")

    def on_resync_begin(self) -> None:
        self.log.append("resync_begin")

    def on_resync_end(self) -> None:
        self.log.append("resync_end")

    def named(self, event: str) -> list[dict[str, str]]:
        return [e for e in self.events if e.get("Event") == event]


@pytest.fixture
async def server() -> AsyncIterator[FakeAmi]:
    srv = await FakeAmi().start()
    yield srv
    await srv.stop()


@pytest.fixture
def consumer() -> Recorder:
    return Recorder()


ClientFactory = Callable[..., AmiClient]


@pytest.fixture
async def make_client(server: FakeAmi, consumer: Recorder) -> AsyncIterator[ClientFactory]:
    clients: list[AmiClient] = []

    def make(**kw: Any) -> AmiClient:
        args: dict[str, Any] = dict(
            host="127.0.0.1", port=server.port, username="hotline", secret="hotline-secret",
            consumer=consumer, action_timeout=0.5, ping_interval=30.0, ping_timeout=0.5,
            reconnect_min=0.01, reconnect_max=0.05,
        )
        args.update(kw)
        client = AmiClient(**args)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()
    assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("ami")]


async def connected(make_client: ClientFactory, server: FakeAmi, **kw: Any) -> AmiClient:
    """A started client, logged in and done with its resync."""
    client = make_client(**kw)
    await client.start()
    await client.wait_connected(2.0)
    if kw.get("resync", True):
        await server.wait_for(lambda: server.count("QueueStatus") >= 1)
        await client.send_action("Ping")  # the resync lists are answered before this Pong
    return client


# ------------------------------------------------------------------------- login


async def test_login_ok(make_client: ClientFactory, server: FakeAmi, consumer: Recorder) -> None:
    client = await connected(make_client, server)
    login = next(m for m in server.actions if m.get("Action") == "Login")
    assert login["Username"] == "hotline"
    assert login["Secret"] == "hotline-secret"
    assert login["Events"] == "on"
    assert client.connected
    assert client.stats["connects"] == 1 and client.stats["reconnects"] == 0
    # on_connected comes before any event of the link, even one in the same read
    assert consumer.log[0] == "connected"
    assert consumer.log.index("FullyBooted") > 0
    reply = await client.send_action("Ping")
    assert reply["Ping"] == "Pong"


async def test_login_md5_challenge(make_client: ClientFactory, server: FakeAmi) -> None:
    client = await connected(make_client, server, auth="md5")
    login = next(m for m in server.actions if m.get("Action") == "Login")
    assert "Secret" not in login
    assert login["AuthType"] == "MD5"
    assert client.connected


async def test_login_failed_is_retried_with_backoff(
    make_client: ClientFactory, server: FakeAmi, consumer: Recorder
) -> None:
    client = make_client(secret="wrong-secret", rng=lambda: 1.0,
                         reconnect_min=0.01, reconnect_max=0.04)
    await client.start()
    await until(lambda: client.stats["auth_failures"] >= 4)
    with pytest.raises(AmiTimeout):
        await client.wait_connected(0.05)
    assert isinstance(client.last_error, AmiAuthError)
    assert not client.connected
    # not a tight loop: every retry waited, and the waits grew up to the cap
    assert list(client.reconnect_delays)[:4] == pytest.approx([0.01, 0.02, 0.04, 0.04])
    assert server.count("Login") <= len(client.reconnect_delays) + 1
    assert "connected" not in consumer.log
    with pytest.raises(AmiNotConnected):
        await client.send_action("Ping")


# ------------------------------------------------------------------ actions


async def test_action_timeout_then_late_reply_is_discarded(
    make_client: ClientFactory, server: FakeAmi
) -> None:
    held: list[Message] = []
    server.handlers["Slow"] = lambda session, msg: held.append(msg)
    client = await connected(make_client, server)
    with pytest.raises(AmiTimeout):
        await client.send_action("Slow", {"Thing": 1}, timeout=0.05)
    assert client.stats["actions_timed_out"] == 1
    server.session.reply(held[0], Message="far too late")
    await server.session.drain()
    assert (await client.send_action("Ping"))["Ping"] == "Pong"
    assert client.stats["unmatched"] == 1  # the late reply, dropped
    assert client.connected


async def test_default_action_timeout_applies(make_client: ClientFactory, server: FakeAmi) -> None:
    server.handlers["Slow"] = lambda session, msg: None
    client = await connected(make_client, server, action_timeout=0.1)
    with pytest.raises(AmiTimeout):
        await client.send_action("Slow")


async def test_error_response_raises_with_the_response(
    make_client: ClientFactory, server: FakeAmi
) -> None:
    server.handlers["Bogus"] = lambda s, m: s.reply(
        m, Response="Error", Message="Invalid/unknown command: Bogus.")
    client = await connected(make_client, server)
    with pytest.raises(AmiError) as err:
        await client.send_action("Bogus")
    assert err.value.response is not None
    assert err.value.response["Message"].startswith("Invalid/unknown command")
    assert not isinstance(err.value, AmiTimeout | AmiNotConnected)


async def test_not_connected_fails_at_once(make_client: ClientFactory) -> None:
    client = make_client()
    with pytest.raises(AmiNotConnected):
        await client.send_action("Ping")
    with pytest.raises(AmiNotConnected):
        await client.originate(Channel="Local/1001@agents")


async def test_list_action_collects_until_complete(
    make_client: ClientFactory, server: FakeAmi, consumer: Recorder
) -> None:
    items = [{"Event": "QueueSummary", "Queue": q} for q in ("support", "vip")]
    server.handlers["QueueSummary"] = lambda s, m: s.send_list(m, "QueueSummary", items)
    client = await connected(make_client, server)
    got = await client.send_list_action("QueueSummary")
    assert [g["Queue"] for g in got] == ["support", "vip"]
    assert not consumer.named("QueueSummary")  # not a resync list: the caller's alone


async def test_list_action_timeout_drops_its_late_items(
    make_client: ClientFactory, server: FakeAmi, consumer: Recorder
) -> None:
    held: list[tuple[FakeSession, Message]] = []

    def start_only(session: FakeSession, msg: Message) -> None:
        session.reply(msg, EventList="start")
        session.send({"Event": "QueueSummary", "ActionID": msg["ActionID"], "Queue": "a"})
        held.append((session, msg))

    server.handlers["QueueSummary"] = start_only
    client = await connected(make_client, server)
    with pytest.raises(AmiTimeout):
        await client.send_list_action("QueueSummary", timeout=0.05)
    session, msg = held[0]
    session.send({"Event": "QueueSummary", "ActionID": msg["ActionID"], "Queue": "late"})
    session.send({"Event": "QueueSummaryComplete", "ActionID": msg["ActionID"],
                  "EventList": "Complete"})
    await session.drain()
    await client.send_action("Ping")
    assert not consumer.named("QueueSummary") and not consumer.named("QueueSummaryComplete")


async def test_list_action_error(make_client: ClientFactory, server: FakeAmi) -> None:
    server.handlers["Status"] = lambda s, m: s.reply(m, Response="Error", Message="No such")
    client = await connected(make_client, server)
    with pytest.raises(AmiError, match="No such"):
        await client.send_list_action("Status")


async def test_originate_response_is_an_event(
    make_client: ClientFactory, server: FakeAmi, consumer: Recorder
) -> None:
    def originate(session: FakeSession, msg: Message) -> None:
        session.reply(msg, Message="Originate successfully queued")
        session.send({"Event": "OriginateResponse", "ActionID": msg["ActionID"],
                      "Response": "Failure", "Reason": "0", "Uniqueid": "<unknown>"})

    server.handlers["Originate"] = originate
    client = await connected(make_client, server)
    reply = await client.originate(Channel="Local/1002@agents/n", Context="x", Exten="1",
                                   Priority=1, Async="true", Variable=["A=1", "B=2"])
    assert reply["Message"] == "Originate successfully queued"
    await until(lambda: bool(consumer.named("OriginateResponse")))
    assert consumer.named("OriginateResponse")[0]["Response"] == "Failure"
    sent = next(m for m in server.actions if m.get("Action") == "Originate")
    assert sent["Variable"] == "A=1\nB=2"


# ------------------------------------------------------- panoramisk defect 1: bytes


async def test_utf8_char_split_across_tcp_writes(
    make_client: ClientFactory, server: FakeAmi, consumer: Recorder
) -> None:
    """panoramisk decodes each read on its own: ``Zoë`` arrives as ``Zo``."""
    await connected(make_client, server)
    session = server.session
    sock = session.writer.get_extra_info("socket")
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    raw = "Event: Newchannel\r\nCallerIDName: Zoë\r\nUniqueid: 1.1\r\n\r\n".encode()
    cut = raw.index("ë".encode()) + 1  # inside the two bytes of ë
    session.send(raw[:cut])
    await session.drain()
    await asyncio.sleep(0.05)  # let the client read the first half on its own
    session.send(raw[cut:])
    await session.drain()
    await until(lambda: bool(consumer.named("Newchannel")))
    assert consumer.named("Newchannel")[0]["CallerIDName"] == "Zoë"


async def test_gbk_caller_name(
    make_client: ClientFactory, server: FakeAmi, consumer: Recorder
) -> None:
    await connected(make_client, server)
    server.session.send(b"Event: Newchannel\r\nCallerIDName: " + "王芳".encode("gbk")
                        + b"\r\nCallerIDNum: 13800138000\r\n\r\n")
    await until(lambda: bool(consumer.named("Newchannel")))
    assert consumer.named("Newchannel")[0]["CallerIDName"] == "王芳"


# ------------------------------------------------ panoramisk defect 3: half-open link


async def test_half_open_link_is_detected_and_replaced(
    make_client: ClientFactory, server: FakeAmi, consumer: Recorder
) -> None:
    """The server keeps the socket open but stops answering: panoramisk never notices."""
    client = await connected(make_client, server, ping_interval=0.05, ping_timeout=0.05)
    first = server.session
    server.answer_pings = False
    await until(lambda: client.stats["ping_timeouts"] >= 1)
    server.answer_pings = True
    await until(lambda: server.connections >= 2 and client.connected)
    await until(lambda: first.writer.is_closing() or first.reader.at_eof())
    assert consumer.log.count("connected") == 2
    assert "disconnected" in consumer.log
    assert client.stats["reconnects"] == 1


# ----------------------------------------------------- panoramisk defect 4: backoff


async def test_reconnect_backoff_grows_capped_then_logs_in(
    make_client: ClientFactory, server: FakeAmi
) -> None:
    server.reject = 4  # accept and close at once, four times
    client = make_client(rng=lambda: 1.0, reconnect_min=0.01, reconnect_max=0.04)
    await client.start()
    await client.wait_connected(3.0)
    assert list(client.reconnect_delays) == pytest.approx([0.01, 0.02, 0.04, 0.04])
    assert server.connections == 5
    assert server.count("Login") == 1


async def test_reconnect_while_port_refuses(make_client: ClientFactory) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = make_client(port=port, rng=lambda: 1.0, reconnect_min=0.01, reconnect_max=0.03)
    await client.start()
    await until(lambda: len(client.reconnect_delays) >= 3)
    assert isinstance(client.last_error, OSError)
    late = await FakeAmi().start(port)
    try:
        await client.wait_connected(3.0)
        delays = list(client.reconnect_delays)
        assert delays[:3] == pytest.approx([0.01, 0.02, 0.03])
        assert max(delays) == pytest.approx(0.03)
        await client.close()
    finally:
        await late.stop()


async def test_backoff_restarts_after_a_good_login(
    make_client: ClientFactory, server: FakeAmi
) -> None:
    client = await connected(make_client, server, rng=lambda: 1.0, reconnect_min=0.01,
                             reconnect_max=0.04)
    server.session.abort()
    await until(lambda: client.stats["reconnects"] == 1 and client.connected)
    assert list(client.reconnect_delays) == pytest.approx([0.01])


# -------------------------------------------- panoramisk defect 5: never re-send


async def test_originate_pending_when_link_drops_is_never_resent(
    make_client: ClientFactory, server: FakeAmi, consumer: Recorder
) -> None:
    server.handlers["Originate"] = lambda session, msg: session.abort()
    client = await connected(make_client, server)
    with pytest.raises(AmiNotConnected, match="result unknown"):
        await client.originate(Channel="Local/1001@agents/n", Exten="1001", Context="agents",
                               Priority=1, Async="true")
    await client.wait_connected(2.0)
    await until(lambda: server.count("QueueStatus") >= 2)
    await client.send_action("Ping")  # anything re-sent would have come before this
    assert server.count("Originate") == 1
    assert consumer.log.count("connected") == 2


async def test_pending_actions_fail_when_link_drops(
    make_client: ClientFactory, server: FakeAmi
) -> None:
    server.handlers["Slow"] = lambda session, msg: None
    client = await connected(make_client, server, action_timeout=5.0)
    pending = asyncio.ensure_future(client.send_action("Slow"))
    await server.wait_for(lambda: server.count("Slow") == 1)
    server.session.abort()
    with pytest.raises(AmiNotConnected):
        await pending
    await client.wait_connected(2.0)
    assert server.count("Slow") == 1


# ------------------------------------------------------------------------ resync


async def test_resync_order_with_live_events_interleaved(
    make_client: ClientFactory, server: FakeAmi, consumer: Recorder
) -> None:
    def channels(session: FakeSession, msg: Message) -> None:
        aid = msg["ActionID"]
        session.reply(msg, EventList="start")
        session.send({"Event": "CoreShowChannel", "ActionID": aid, "Channel": "A"})
        session.send({"Event": "Newchannel", "Channel": "live"})  # a live event, mid-list
        session.send({"Event": "CoreShowChannel", "ActionID": aid, "Channel": "B"})
        session.send({"Event": "CoreShowChannelsComplete", "ActionID": aid,
                      "EventList": "Complete", "ListItems": "2"})

    def queues(session: FakeSession, msg: Message) -> None:
        session.send_list(msg, "QueueStatus", [{"Event": "QueueParams", "Queue": "support"},
                                               {"Event": "QueueMember", "Queue": "support"}])

    server.handlers["CoreShowChannels"] = channels
    server.handlers["QueueStatus"] = queues
    await connected(make_client, server)
    await until(lambda: "resync_end" in consumer.log)
    log = [x for x in consumer.log if x != "FullyBooted"]
    assert log == [
        "connected", "resync_begin",
        "CoreShowChannel", "Newchannel", "CoreShowChannel", "CoreShowChannelsComplete",
        "QueueParams", "QueueMember", "QueueStatusComplete",
        "StatusComplete",
        "resync_end",
    ]
    assert [e["Channel"] for e in consumer.named("CoreShowChannel")] == ["A", "B"]
    order = [m["Action"] for m in server.actions]
    assert order.index("CoreShowChannels") < order.index("QueueStatus") < order.index("Status")
    # every channel's variables (the IVR's, the recording's name): issue 12 item 8
    [status] = [m for m in server.actions if m["Action"] == "Status"]
    assert status.get("AllVariables") == "true" and not status.get("Channel")


async def test_resync_refused_list_still_ends(
    make_client: ClientFactory, server: FakeAmi, consumer: Recorder
) -> None:
    server.handlers["QueueStatus"] = lambda s, m: s.reply(m, Response="Error",
                                                          Message="Permission denied")
    await connected(make_client, server)
    await until(lambda: "resync_end" in consumer.log)


async def test_resync_waits_for_the_pbx_to_finish_booting(
    make_client: ClientFactory, server: FakeAmi, consumer: Recorder
) -> None:
    """Issue 12 item 7: logged in to an Asterisk that just restarted, before app_queue
    loaded: no resync until FullyBooted, then QueueStatus is asked once and answered."""
    server.booted = False
    client = make_client()
    await client.start()
    await client.wait_connected(2.0)
    await client.send_action("Ping")  # the client has had its chance to send the lists
    assert server.count("CoreShowChannels") == 0 and server.count("QueueStatus") == 0
    assert client.connected and not client.ready
    server.boot()
    await until(lambda: "resync_end" in consumer.log)
    assert server.count("QueueStatus") == 1
    assert "QueueStatusComplete" in consumer.log
    assert client.ready


async def test_resync_asks_again_for_a_module_still_loading(
    make_client: ClientFactory, server: FakeAmi, consumer: Recorder
) -> None:
    refusals = [2]

    def queues(session: FakeSession, msg: Message) -> None:
        if refusals[0]:
            refusals[0] -= 1
            session.reply(msg, Response="Error", Message="Invalid/unknown command")
        else:
            session.send_list(msg, "QueueStatus", [{"Event": "QueueMember", "Queue": "vip"}])

    server.handlers["QueueStatus"] = queues
    waited: list[float] = []

    async def no_wait(delay: float) -> None:
        waited.append(delay)

    client = make_client(sleep=no_wait)
    await client.start()
    await until(lambda: "resync_end" in consumer.log)
    assert server.count("QueueStatus") == 3
    assert waited == [0.5, 1.0]  # backoff between the tries
    assert [e["Queue"] for e in consumer.named("QueueMember")] == ["vip"]


async def test_no_fully_booted_at_all_still_resyncs(
    make_client: ClientFactory, server: FakeAmi, consumer: Recorder
) -> None:
    server.booted = False  # e.g. an AMI user without the 'system' class
    server.handlers["QueueStatus"] = lambda s, m: s.send_list(m, "QueueStatus", [])
    client = make_client(boot_timeout=0.05)
    await client.start()
    await until(lambda: "resync_end" in consumer.log)
    assert server.count("CoreShowChannels") == 1 and client.ready


async def test_no_resync_when_disabled(
    make_client: ClientFactory, server: FakeAmi, consumer: Recorder
) -> None:
    client = await connected(make_client, server, resync=False)
    await client.send_action("Ping")
    assert server.count("CoreShowChannels") == 0
    assert "resync_begin" not in consumer.log


# ------------------------------------------------------------------ bad input


async def test_garbage_gbk_and_truncated_message_are_survived(
    make_client: ClientFactory, server: FakeAmi, consumer: Recorder
) -> None:
    client = await connected(make_client, server)
    session = server.session
    session.send(b"Event: Newchannel\r\nthis line is garbage\r\nCallerIDName: \xff\xfe\xfd\r\n"
                 b"Uniqueid: 1\r\n\r\n")
    session.send(b"Event: TotallyUnknownThing\r\nFoo: bar\r\n\r\n")
    session.send(b"no colon here\r\n\r\n")
    session.send(b"Event: Newchannel\r\nCallerIDName: " + "张伟".encode("gbk")
                 + b"\r\nUniqueid: 2\r\n\r\n")
    session.send(b"Response: Success\r\nActionID: not-ours-42\r\n\r\n")
    session.send(b"Event: After\r\n\r\n")
    session.send(b"Event: Truncated\r\nChannel: Lo")
    await session.drain()
    await until(lambda: bool(consumer.named("After")))
    assert client.stats["malformed_lines"] == 2
    first, second = consumer.named("Newchannel")
    assert first["Uniqueid"] == "1" and "\ufffd" in first["CallerIDName"]
    assert second["CallerIDName"] == "张伟"
    assert consumer.named("TotallyUnknownThing")
    session.abort()  # the truncated message is never completed
    await until(lambda: client.stats["reconnects"] == 1 and client.connected)
    assert client.stats["dropped_bytes"] > 0
    assert not consumer.named("Truncated")


async def test_oversized_input_is_bounded_counted_and_logged(
    make_client: ClientFactory, server: FakeAmi, consumer: Recorder,
    caplog: pytest.LogCaptureFixture,
) -> None:
    limits = AmiLimits(max_message=64 * 1024, max_lines=100, max_line=512)
    client = await connected(make_client, server, limits=limits)
    session = server.session
    name = "王" * 200_000  # 600 KB of caller name, in a message over the cap
    session.send(f"Event: Newchannel\r\nUniqueid: 1\r\nCallerIDName: {name}\r\n\r\n".encode())
    session.send(f"Event: Newchannel\r\nUniqueid: 2\r\nCallerIDName: {name[:5000]}\r\n"
                 "\r\n".encode())
    session.send(b"Event: VarSet\r\n" + b"Variable: a\r\n" * 75_000 + b"\r\n")
    session.send(b"Event: After\r\n\r\n")
    await session.drain()
    await until(lambda: bool(consumer.named("After")))
    [kept] = consumer.named("Newchannel")  # the first was dropped whole, the second cut
    assert kept["Uniqueid"] == "2"
    assert kept["CallerIDName"] == name[: 512 - len("CallerIDName: ")]
    assert not consumer.named("VarSet")  # 975 KB: over the message cap
    assert client.stats["dropped_messages"] == 2
    assert client.stats["truncated_lines"] == 1
    assert client.stats["dropped_bytes"] > 1_500_000
    assert "messages over 65536 bytes dropped" in caplog.text
    assert "lines cut to 512 characters" in caplog.text
    assert client.connected  # never fatal


async def test_consumer_exception_is_counted_not_fatal(
    make_client: ClientFactory, server: FakeAmi, consumer: Recorder
) -> None:
    consumer.fail_on = "Boom"
    client = await connected(make_client, server)
    server.session.send({"Event": "Boom"})
    server.session.send({"Event": "After"})
    await until(lambda: bool(consumer.named("After")))
    assert client.stats["consumer_errors"] == 1
    assert client.connected
    assert (await client.send_action("Ping"))["Ping"] == "Pong"
    assert server.connections == 1


# ------------------------------------------------------------------------ close


async def test_close_while_connecting(
    make_client: ClientFactory, server: FakeAmi, consumer: Recorder
) -> None:
    server.handlers["Login"] = lambda session, msg: None  # never answers
    client = make_client(action_timeout=30.0)
    await client.start()
    await server.wait_for(lambda: server.count("Login") == 1)
    async with asyncio.timeout(2.0):  # a hang guard, not a speed assertion
        await client.close()
    assert not client.connected
    assert consumer.log == []


async def test_close_while_backing_off(make_client: ClientFactory, server: FakeAmi) -> None:
    server.reject = 1000
    client = make_client(reconnect_min=30.0, reconnect_max=30.0)
    await client.start()
    await until(lambda: len(client.reconnect_delays) == 1)
    async with asyncio.timeout(2.0):
        await client.close()


async def test_close_logs_off(
    make_client: ClientFactory, server: FakeAmi, consumer: Recorder
) -> None:
    client = await connected(make_client, server)
    await client.close()
    assert server.count("Logoff") == 1
    assert consumer.log[-1] == "disconnected"
    assert not client.connected
    with pytest.raises(AmiNotConnected):
        await client.send_action("Ping")


# --------------------------------------------- against the full PBX simulator


async def test_against_the_pbx_simulator(consumer: Recorder) -> None:
    """The same client against telephony.simulator (skipped while it is not there)."""
    sim_mod = pytest.importorskip("telephony.simulator.server")
    async with sim_mod.PbxSimulator(time_scale=0.01) as sim:
        client = AmiClient(host=sim.host, port=sim.port, username="hotline",
                           secret="hotline-secret", consumer=consumer, action_timeout=2.0,
                           reconnect_min=0.01, reconnect_max=0.05, auth="md5")
        try:
            await client.start()
            await client.wait_connected(3.0)
            await until(lambda: "resync_end" in consumer.log)
            summary = await client.send_list_action("QueueSummary")
            assert {s.get("Queue") for s in summary} >= {"support"}
            sim.place_call(caller="13800138000", name="王芳")
            await until(lambda: any(e.get("CallerIDName") == "王芳" for e in consumer.events))
            await sim.drop_connections()
            await until(lambda: client.stats["reconnects"] == 1 and consumer.log.count(
                "resync_end") == 2)
            assert "disconnected" in consumer.log
            assert len(sim.actions_named("Login")) == 2
        finally:
            await client.close()


async def test_bad_config_is_retried_and_never_injects(
    make_client: ClientFactory, server: FakeAmi
) -> None:
    client = make_client(username="hotline\r\nAction: Originate")
    await client.start()
    await until(lambda: len(client.reconnect_delays) >= 2)
    assert isinstance(client.last_error, ValueError)
    assert server.count("Originate") == 0 and server.count("Login") == 0
    assert not client.connected
