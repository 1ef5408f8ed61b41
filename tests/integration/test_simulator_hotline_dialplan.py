"""The simulator running Hotline's own dialplan (``PbxSimulator(agi=...)``) gives the
channels, Dial events and bridges real Asterisk 22 gave for deploy/asterisk in the
acceptance rig (tests/asterisk; captures in tests/fixtures/asterisk).

What is compared is the SHAPE of a call, never its timing: the channels created (a
channel's name without its unique suffix, the rig's [rig-phones]/[rig-customers]
standing for the simulator's [phones]/[pstn-out]: both are a site's phones and trunk
dialled as Local channels), who dialled whom with which result (DialBegin/DialEnd), who
shared a bridge, and the call record the real tracker makes of it.

Over real AMI (TCP) against the simulator; the FastAGI address is a closed port where
an IVR is not the point (the dialplan fails open to the queue, as on a real PBX).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from telephony.ami_codec import decode_all
from telephony.events import CallEnded
from telephony.simulator import CallScript, PbxSimulator, TransferPlan
from telephony.tracker import CallTracker
from tests.integration.test_simulator import RawClient
from tests.shared import ROOT

FIXTURES = ROOT / "tests" / "fixtures" / "asterisk"
SCALE = 0.01
CUSTOMER = "13700137000"
Msg = dict[str, str]


def role(channel: str) -> str:
    """``Local/1001@rig-phones-0000002a;1`` -> ``phone/1001;1``;
    ``Local/13700137000@pstn-out-00000003;2`` -> ``customer;2``."""
    channel = re.sub(r"-[0-9a-f]{8};", ";", channel or "")
    channel = re.sub(r"^Local/(\d+)@(?:rig-)?phones;", r"phone/\1;", channel)
    channel = re.sub(r"^Local/\d+@(?:rig-customers|pstn-out);", "customer;", channel)
    channel = re.sub(r"^Local/\d+@from-pstn;", "caller;", channel)
    return re.sub(r"^Local/(\d+)@(agents|internal);", r"\2/\1;", channel)


def of_first_call(messages: list[Msg]) -> list[Msg]:
    """The events of the first call in ``messages`` (by Linkedid)."""
    first = next(m for m in messages if m.get("Event") == "Newchannel")["Linkedid"]
    keys = ("Linkedid", "DestLinkedid", "TransfereeLinkedid", "OrigTransfererLinkedid")
    return [m for m in messages if "Event" in m and any(m.get(k) == first for k in keys)]


def channels(call: list[Msg]) -> list[str]:
    return [role(m["Channel"]) for m in call if m["Event"] == "Newchannel"]


def dials(call: list[Msg]) -> list[tuple[str, str, str, str]]:
    """(event, dialling channel, dialled channel, status) of every DialBegin/DialEnd."""
    return [(m["Event"], role(m.get("Channel", "")), role(m["DestChannel"]),
             m.get("DialStatus", "")) for m in call if m["Event"] in ("DialBegin", "DialEnd")]


def bridged(call: list[Msg]) -> list[tuple[str, ...]]:
    """The channels that shared each bridge, bridges in order of first entry."""
    out: dict[str, list[str]] = {}
    for m in call:
        if m["Event"] == "BridgeEnter":
            members = out.setdefault(m["BridgeUniqueid"], [])
            if role(m["Channel"]) not in members:
                members.append(role(m["Channel"]))
    return [tuple(sorted(v)) for v in out.values()]


def queue_events(call: list[Msg]) -> list[tuple[str, str, str, str]]:
    return [(m["Event"], role(m["Channel"]) if "Channel" in m else "", m.get("Queue", ""),
             role(m.get("DestChannel", ""))) for m in call
            if m["Event"].startswith(("Agent", "QueueCaller"))]


def record(messages: list[Msg]) -> dict[str, object]:
    """What the call log keeps of the first call, from the real tracker."""
    tracker = CallTracker(clock=lambda: 0.0)
    for m in messages:
        for event in tracker.feed(m):
            if isinstance(event, CallEnded):
                s = event.summary
                return {"direction": s.direction, "outcome": s.outcome,
                        "hangup_by": s.hangup_by, "agent": s.agent,
                        "queues": s.queues, "answered": s.answered_at is not None,
                        "tried": [(a.agent, a.result) for a in s.agents_tried]}
    raise AssertionError("no CallEnded")


def capture(name: str) -> list[Msg]:
    return [m for m in decode_all((FIXTURES / f"{name}.ami").read_bytes())
            if "Banner" not in m]


def assert_same_shape(ours: list[Msg], real: list[Msg], *, ended: bool = True) -> None:
    ours_call, real_call = of_first_call(ours), of_first_call(real)
    assert channels(ours_call) == channels(real_call)
    assert dials(ours_call) == dials(real_call)
    assert bridged(ours_call) == bridged(real_call)
    assert queue_events(ours_call) == queue_events(real_call)
    if ended:
        assert record(ours) == record(real)


@pytest.fixture
async def sim() -> AsyncIterator[PbxSimulator]:
    s = PbxSimulator(time_scale=SCALE, agi="127.0.0.1:1")
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


async def _click_to_dial(client: RawClient, number: str = CUSTOMER,
                         timeout_ms: str = "30000") -> None:
    """What the console's click-to-dial and the callback worker send (agent_console/
    pbx_actions.py): an async Originate of the agent's interface into [outbound]."""
    await client.action("Originate", "dial", Channel="Local/1001@agents/n",
                        Context="outbound", Exten=number, Priority="1",
                        CallerID='"Hotline" <4008001234>', Timeout=timeout_ms, Async="true",
                        Variable=f"HOTLINE_ORIGINATED_BY=alice,HOTLINE_DIALLED={number}")


async def _ended(sim: PbxSimulator, client: RawClient) -> list[Msg]:
    """Every message once the simulated call is over."""
    for _ in range(3000):
        if not sim.pbx.channels:
            break
        await asyncio.sleep(0.01)
    assert not sim.pbx.channels
    await client.action("Ping", "flush")
    return list(client.messages)


# ---------------------------------------------------------------------- outbound calls
async def test_click_to_dial_rings_the_agents_phone_then_the_customer(
        sim: PbxSimulator, client: RawClient) -> None:
    """outbound-answered.ami: [agents] dials her phone; her picking up is the phone's
    DialEnd ANSWER from ;2, then ;1 dials the customer, who answers, talks, hangs up."""
    sim.set_customer(CUSTOMER, ring_s=3.0, talk_s=5.0)
    await _click_to_dial(client)
    ours = await _ended(sim, client)
    assert_same_shape(ours, capture("outbound-answered"))
    assert dials(of_first_call(ours))[:3] == [
        ("DialBegin", "", "agents/1001;1", ""),
        ("DialBegin", "agents/1001;2", "phone/1001;1", ""),
        ("DialEnd", "agents/1001;2", "phone/1001;1", "ANSWER")]


async def test_click_to_dial_the_agent_gives_up_on_a_ringing_customer(
        sim: PbxSimulator, client: RawClient) -> None:
    """outbound-no-answer.ami: the customer never answers; the agent hangs up her phone."""
    sim.set_customer(CUSTOMER, mode="noanswer")
    await _click_to_dial(client)
    ringing = await client.wait_for(lambda m: m.get("Event") == "DialState"
                                    and "pstn-out" in m.get("DestChannel", ""))
    phone = next(c.name for c in sim.pbx.channels.values()
                 if c.name.startswith("Local/1001@phones-") and c.name.endswith(";2"))
    assert ringing["DialStatus"] == "RINGING"
    assert (await client.action("Hangup", "h", Channel=phone))["Response"] == "Success"
    ours = await _ended(sim, client)
    assert_same_shape(ours, capture("outbound-no-answer"))


async def test_callback_the_customer_never_answers(sim: PbxSimulator,
                                                   client: RawClient) -> None:
    """callback-customer-no-answer.ami: [outbound]'s Dial times out (NOANSWER)."""
    sim.set_customer("13600136000", mode="noanswer")
    await _click_to_dial(client, "13600136000")
    ours = await _ended(sim, client)
    assert_same_shape(ours, capture("callback-customer-no-answer"), ended=False)
    assert record(ours) | {"hangup_by": None} == {
        "direction": "outbound", "outcome": "no-answer", "hangup_by": None,
        "agent": "alice", "queues": (), "answered": False, "tried": []}


async def test_callback_the_agent_misses_it(sim: PbxSimulator, client: RawClient) -> None:
    """callback-agent-missed.ami: her phone rings until the Originate's timeout; the
    customer is never dialled."""
    sim.set_agent("Alice", mode="noanswer")
    await _click_to_dial(client, "13600136000", timeout_ms="4000")
    failure = await client.wait_for(lambda m: m.get("Event") == "OriginateResponse")
    assert (failure["Response"], failure["Reason"]) == ("Failure", "3")
    ours = await _ended(sim, client)
    assert_same_shape(ours, capture("callback-agent-missed"), ended=False)
    assert [c for c in channels(of_first_call(ours)) if c.startswith("customer")] == []


@pytest.mark.parametrize("who", ["agents", "phones"])
async def test_console_or_phone_hang_up_of_an_answered_outbound_call(
        sim: PbxSimulator, client: RawClient, who: str) -> None:
    """The agent's side ends the talk: the console's AMI Hangup of the origin ;1, or her
    phone; either way the call record says the agent hung up, not the customer."""
    sim.set_customer(CUSTOMER, talk_s=500.0)
    await _click_to_dial(client)
    await client.wait_for(lambda m: m.get("Event") == "DialEnd"
                          and "pstn-out" in m.get("DestChannel", "")
                          and m.get("DialStatus") == "ANSWER")
    name = next(c.name for c in sim.pbx.channels.values()
                if c.name.startswith(f"Local/1001@{who}-")
                and c.name.endswith(";1" if who == "agents" else ";2"))  # console: ;1
    assert (await client.action("Hangup", "h", Channel=name))["Response"] == "Success"
    ours = await _ended(sim, client)
    assert record(ours) == {"direction": "outbound", "outcome": "answered",
                            "hangup_by": "agent", "agent": "alice", "queues": (),
                            "answered": True, "tried": []}
    legs = [role(m["Channel"]) for m in of_first_call(ours) if m["Event"] == "Hangup"]
    assert set(legs) == {"agents/1001;1", "agents/1001;2", "phone/1001;1", "phone/1001;2",
                         "customer;1", "customer;2"}


# ----------------------------------------------------------------------- inbound calls
async def test_a_queue_call_rings_the_agents_phone(sim: PbxSimulator,
                                                   client: RawClient) -> None:
    """inbound-answered.ami: the queue's member Local/1001@agents/n ;2 dials her phone;
    the caller hangs up after the talk."""
    sim.pbx.sign_in("Alice")
    call = sim.place_call(caller="13912345678", name="Zhou Min",
                          script=CallScript(skip_agi=True, talk=5.0))
    await asyncio.wait_for(call.done, 30)
    ours = await _ended(sim, client)
    assert_same_shape(ours, capture("inbound-answered"))


async def test_ring_no_answer_cancels_the_phone_then_the_next_agent(
        sim: PbxSimulator, client: RawClient) -> None:
    """inbound-ring-no-answer.ami: Alice's phone rings out (its Dial cancelled with the
    member's), Bob's answers."""
    sim.pbx.sign_in("Alice")
    sim.pbx.sign_in("Bob")
    sim.set_agent("Alice", mode="noanswer")
    call = sim.place_call(caller="13912345678", name="Zhou Min",
                          script=CallScript(skip_agi=True, talk=5.0))
    await asyncio.wait_for(call.done, 30)
    ours = await _ended(sim, client)
    assert_same_shape(ours, capture("inbound-ring-no-answer"))


async def test_the_agent_hanging_up_her_phone_ends_a_queue_call(
        sim: PbxSimulator, client: RawClient) -> None:
    """Her phone hangs up first, the agent's Local pair follows: the agent hung up."""
    sim.pbx.sign_in("Alice")
    call = sim.place_call(caller="13912345678", script=CallScript(skip_agi=True, talk=500.0))
    await client.wait_for(lambda m: m.get("Event") == "AgentConnect")
    phone = next(c.name for c in sim.pbx.channels.values()
                 if c.name.startswith("Local/1001@phones-") and c.name.endswith(";2"))
    assert (await client.action("Hangup", "h", Channel=phone))["Response"] == "Success"
    await asyncio.wait_for(call.done, 30)
    ours = await _ended(sim, client)
    assert record(ours)["hangup_by"] == "agent"
    hangups = [role(m["Channel"]) for m in of_first_call(ours) if m["Event"] == "Hangup"]
    assert hangups[0] == "phone/1001;2"


def test_the_fixtures_are_the_acceptance_rigs() -> None:
    """The captures above were made by tests/asterisk against deploy/asterisk."""
    for name in ("outbound-answered", "outbound-no-answer", "inbound-answered",
                 "inbound-ring-no-answer", "callback-customer-no-answer",
                 "callback-agent-missed"):
        assert any("rig-phones" in m.get("Channel", "") for m in capture(name)), name
    assert Path(FIXTURES).is_dir()


# ------------------------------------------------------------------ attended transfers
async def test_attended_transfer_to_an_agent_queues_through_her_personal_queue(
        sim: PbxSimulator, client: RawClient) -> None:
    """transfer-attended-agent.ami: the consult channel's ;2 runs [internal],
    Queue(agent-1002,tn,,,20): AgentCalled/AgentConnect on it (same Linkedid), Bob's
    member dials his phone; Alice hangs up once he answered, he talks, then hangs up."""
    sim.pbx.sign_in("Alice")
    sim.pbx.sign_in("Bob")
    call = sim.place_call(caller="13912345678", name="Zhou Min", script=CallScript(
        skip_agi=True, talk=60.0, transfer=TransferPlan(
            kind="attended", target="1002#", context="internal", after=2.0,
            consult_s=3.0, target_talk_s=9.0)))
    await asyncio.wait_for(call.done, 30)
    ours = await _ended(sim, client)
    assert_same_shape(ours, capture("transfer-attended-agent"), ended=False)
    called = [m for m in of_first_call(ours) if m["Event"] == "AgentCalled"]
    assert [(role(m["Channel"]), m["Queue"]) for m in called] == [
        ("caller;2", "support"), ("internal/1002;2", "agent-1002")]
    assert {m["Linkedid"] for m in called} == {call.linkedid}
    assert not [m for m in ours if "desks" in m.get("Channel", "")]  # never her desk


async def test_attended_transfer_to_an_agent_not_signed_in_gives_the_caller_back(
        sim: PbxSimulator, client: RawClient) -> None:
    """Bob is not signed in: his personal queue refuses the consult call (JOINEMPTY),
    [internal] hangs it up (ATTENDEDTRANSFER), Alice has her caller back and talks on."""
    sim.pbx.sign_in("Alice")
    call = sim.place_call(caller="13912345678", name="Zhou Min", script=CallScript(
        skip_agi=True, talk=8.0, transfer=TransferPlan(
            kind="attended", target="1002#", context="internal", after=2.0)))
    await asyncio.wait_for(call.done, 30)
    ours = await _ended(sim, client)
    mine = of_first_call(ours)
    assert not [m for m in mine if m["Event"] == "AgentCalled" and m["Queue"] != "support"]
    assert not [m for m in ours if "desks" in m.get("Channel", "")]
    assert [(m["Variable"], m["Value"]) for m in mine if m["Event"] == "VarSet"
            and m["Variable"] == "QUEUESTATUS"] == [("QUEUESTATUS", "JOINEMPTY")]
    assert [role(m["Channel"]) for m in mine if m["Event"] == "Hangup"][:2] == [
        "internal/1002;2", "internal/1002;1"]  # the consult call ends first
    kept = record(ours)
    assert (kept["outcome"], kept["agent"], kept["hangup_by"]) == ("answered", "Alice",
                                                                    "caller")
