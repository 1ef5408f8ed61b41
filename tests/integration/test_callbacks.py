"""Callbacks end to end: the app (worker inside) dials through real AMI over TCP to the
PBX simulator, on SQLite and PostgreSQL.

What is checked, as behaviour (event order, actions the PBX received, rows), never
timing: the callback waits behind callers who were waiting before it and goes before
callers who came after it; each callback is dialled once, also when the app restarts
mid-dial and when two workers race; a busy or unanswered customer is retried up to
max_attempts and then failed; an agent who does not answer passes it to another; the
queue's waiting count includes callbacks.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import pytest
import websockets
from aiohttp import ClientSession, web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_core.call_log import add_customer
from crm_core.db import make_engine, upgrade_async
from crm_core.models import CallbackRequest, Interaction, utcnow
from hotline.app import AMI, CALLBACKS, TRACKER, create_app
from hotline.settings import Settings
from ivr import callback_store as store
from ivr.callback_worker import PREFIX
from ivr.callbacks import RESERVE_REASON, Policy
from telephony.ami import AmiClient
from telephony.simulator import CallScript, PbxSimulator
from telephony.simulator.agi_caller import AgiTarget
from tests.conftest import REDIS_URL
from tests.integration.console_support import connect, cookie_for, seed_agents
from tests.integration.test_auth_shared import _forget

TIME_SCALE = 0.02  # wall seconds per simulated second
CUSTOMER = "13800138000"
ALICE, BOB, CAROL = "Local/1001@agents/n", "Local/1002@agents/n", "Local/1003@agents/n"
Msg = dict[str, str]


async def eventually(probe: Callable[[], Any], *, within: float = 30.0,
                     what: str = "condition") -> Any:
    """Poll ``probe`` (sync or async) until it returns something truthy."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        value = probe()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


class Recorder:
    """A second AMI client that keeps every event in the order the PBX sent it."""

    def __init__(self) -> None:
        self.events: list[Msg] = []

    def on_event(self, msg: Mapping[str, str]) -> None:
        self.events.append(dict(msg))

    def on_connected(self) -> None: ...
    def on_disconnected(self) -> None: ...
    def on_resync_begin(self) -> None: ...
    def on_resync_end(self) -> None: ...

    def index(self, pred: Callable[[Msg], bool]) -> int | None:
        return next((i for i, e in enumerate(self.events) if pred(e)), None)

    def first(self, pred: Callable[[Msg], bool]) -> Msg | None:
        i = self.index(pred)
        return None if i is None else self.events[i]


def of_caller(event: str, number: str) -> Callable[[Msg], bool]:
    return lambda e: e.get("Event") == event and e.get("CallerIDNum") == number


def callback_event(e: Msg) -> bool:
    return e.get("Linkedid", "").startswith(PREFIX) or e.get(
        "DestLinkedid", "").startswith(PREFIX)


@asynccontextmanager
async def recording(sim: PbxSimulator) -> AsyncIterator[Recorder]:
    rec = Recorder()
    client = AmiClient(host=sim.host, port=sim.port, username="hotline",
                       secret="hotline-secret", consumer=rec, resync=False, ping_interval=0)
    await client.start()
    try:
        await client.wait_connected(10)
        yield rec
    finally:
        await client.close()


@asynccontextmanager
async def callbacks_app(db_url: str, sim: PbxSimulator, *, connected: bool = True,
                        **overrides: Any) -> AsyncIterator[tuple[web.Application, str]]:
    """The app; ``connected``: once its AMI link is up (False: a node on the Redis bus
    that will not own the PBX, whose link never comes up)."""
    options: dict[str, Any] = dict(
        database_url=db_url, ami_port=sim.port, ami_ping_interval_s=0.5,
        ami_ping_timeout_s=1.0, ami_reconnect_min_s=0.05, ami_reconnect_max_s=0.3,
        http_port=0, callback_poll_s=0.05, callback_retry_s=0.05,
        callback_agent_retry_s=0.05, callback_agent_ring_s=20.0, wrapup_s=0,
        agi_enabled=False)
    options.update(overrides)
    app = create_app(Settings(**options))
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        if connected:
            await app[AMI].wait_connected(10)
        yield app, f"127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


@pytest.fixture
async def sim(request: pytest.FixtureRequest) -> AsyncIterator[PbxSimulator]:
    # parametrize("sim", [scale], indirect=True): a slower PBX where a test needs time
    pbx = PbxSimulator(time_scale=getattr(request, "param", TIME_SCALE))
    await pbx.start()
    yield pbx
    await pbx.close()


@pytest.fixture
async def sm(db_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    await upgrade_async(db_url)
    engine = make_engine(db_url)
    yield async_sessionmaker(engine, expire_on_commit=False)
    await engine.dispose()


async def ask(sm: async_sessionmaker[AsyncSession], phone: str = CUSTOMER, *,
              queue: str = "support", customer_id: int | None = None,
              max_attempts: int | None = None, priority: int = 0) -> int:
    """What the IVR does when a caller presses "call me back"."""
    async with sm.begin() as db:
        return await store.request_callback(
            db, phone=phone, customer_id=customer_id, queue=queue, priority=priority,
            origin_linkedid=None, place_at=utcnow(), max_attempts=max_attempts)


async def row(sm: async_sessionmaker[AsyncSession], callback_id: int) -> CallbackRequest:
    async with sm() as db:
        found = await db.get(CallbackRequest, callback_id)
        assert found is not None
        return found


def in_state(sm: async_sessionmaker[AsyncSession], callback_id: int, *states: str
             ) -> Callable[[], Any]:
    async def probe() -> CallbackRequest | None:
        r = await row(sm, callback_id)
        return r if r.state in states else None
    return probe


def originates(sim: PbxSimulator, callback_id: int) -> list[Msg]:
    mark = f"HOTLINE_CALLBACK_ID={callback_id}"
    return [a for a in sim.actions_named("Originate")
            if mark in a.get("Variable", "").split("\n")]


def events(r: CallbackRequest) -> list[str]:
    return [h["event"] for h in r.history]


def script(**kw: Any) -> CallScript:
    return CallScript(skip_agi=True, **kw)


# ------------------------------------------------------------------ the simulator


def ended(rec: Recorder, uniqueid: str) -> Callable[[], Msg | None]:
    return lambda: rec.first(
        lambda e: e.get("Event") == "Hangup" and e.get("Uniqueid") == uniqueid)


async def test_simulator_customer_modes_and_channel_id(sim: PbxSimulator) -> None:
    """What the worker relies on: ChannelId names the originated channel (Linkedid of
    every leg), and the customer's DialStatus arrives on DialEnd of that channel."""
    sim.set_customer("13800000001", mode="busy")
    sim.set_customer("13800000002", mode="noanswer")
    async with recording(sim) as rec:
        client = AmiClient(host=sim.host, port=sim.port, username="hotline",
                           secret="hotline-secret", consumer=Recorder(), resync=False)
        await client.start()
        try:
            await client.wait_connected(10)
            for n, number in enumerate(("13800000001", "13800000002", "13800000003")):
                token = f"hlcb-t-{n}"
                await client.originate(Channel=ALICE, Context="outbound", Exten=number,
                                       Priority="1", CallerID='"Hotline" <4008001234>',
                                       Async="true", ChannelId=token)
                await eventually(ended(rec, token), what=f"the end of dial {n}")
        finally:
            await client.close()
    ends = [e for e in rec.events if e.get("Event") == "DialEnd" and "Channel" in e]
    assert [(e["Linkedid"], e["DialStatus"]) for e in ends] == [
        ("hlcb-t-0", "BUSY"), ("hlcb-t-1", "NOANSWER"), ("hlcb-t-2", "ANSWER")]
    second = rec.first(lambda e: e.get("Event") == "Newchannel"
                       and e.get("Uniqueid") == "hlcb-t-0;2")
    assert second is not None and second["Linkedid"] == "hlcb-t-0"


# ------------------------------------------------------------------ a callback


async def test_agent_first_then_the_customer_and_the_outcome_logged(
        db_url: str, sim: PbxSimulator, sm: async_sessionmaker[AsyncSession]) -> None:
    customer_id = await add_customer(sm.kw["bind"], "回拨测试有限公司", ["+86 138 0013 8000"])
    async with callbacks_app(db_url, sim) as (app, _):
        cid = await ask(sm, "+86 138-0013-8000", customer_id=customer_id)
        done = await eventually(in_state(sm, cid, "done", "failed"), what="the callback")
    sent = originates(sim, cid)
    assert len(sent) == 1
    action = sent[0]
    assert action["Channel"] == ALICE  # the agent first...
    assert (action["Context"], action["Exten"]) == ("outbound", CUSTOMER)  # ...then the customer
    assert action["CallerID"].endswith("<4008001234>")  # the hotline's number
    # the number rides along: the agent's pop (telephony.tracker) while her phone rings
    assert f"HOTLINE_DIALLED={CUSTOMER}" in action["Variable"].split("\n")
    assert action["ChannelId"] == done.claim and done.claim.startswith(f"{PREFIX}{cid}-")
    assert (done.state, done.attempts, done.last_result) == ("done", 1, "answered")
    assert done.agent_interface == ALICE
    assert events(done) == ["requested", "dialing", "answered"]
    assert done.history[2]["dial_status"] == "ANSWER"
    async with sm() as db:
        logged = (await db.scalars(select(Interaction).where(
            Interaction.customer_id == customer_id))).all()
    assert [(i.kind, i.result, i.call_linkedid) for i in logged] == [
        ("call", "answered", done.claim)]
    assert "回拨" in logged[0].content and "Callback" in logged[0].content


async def test_an_agent_who_does_not_answer_passes_it_to_another(
        db_url: str, sim: PbxSimulator, sm: async_sessionmaker[AsyncSession]) -> None:
    sim.set_agent("Alice", mode="noanswer")
    async with callbacks_app(db_url, sim, callback_agent_ring_s=3.0) as _:
        cid = await ask(sm)
        done = await eventually(in_state(sm, cid, "done", "failed"), what="the callback")
    assert events(done) == ["requested", "dialing", "agent-missed", "dialing", "answered"]
    assert [h.get("agent") for h in done.history[1:]] == [ALICE, ALICE, BOB, BOB]
    assert done.history[2]["originate_reason"] == "3"
    assert (done.state, done.attempts) == ("done", 1)  # the customer was called once
    assert [a["Channel"] for a in originates(sim, cid)] == [ALICE, BOB]


async def test_a_caller_asks_in_the_ivr_hangs_up_and_is_called_back(
        db_url: str, sm: async_sessionmaker[AsyncSession]) -> None:
    """As a real caller: dials the hotline, the FastAGI IVR answers, they press 4 (call me
    back) and hang up; the app calls them back through a free agent."""
    with socket.socket() as probe:  # a free port for the app's FastAGI server
        probe.bind(("127.0.0.1", 0))
        agi_port = probe.getsockname()[1]
    pbx = PbxSimulator(time_scale=TIME_SCALE, agi=AgiTarget("127.0.0.1", agi_port))
    await pbx.start()
    for agent in ("Alice", "Bob", "Carol"):  # deploy's queues.conf: nobody until sign-in
        pbx.pbx.sign_in(agent)
    try:
        async with callbacks_app(db_url, pbx, agi_enabled=True, agi_port=agi_port) as _:
            call = pbx.place_call(caller=CUSTOMER, name="Caller", script=CallScript(
                ivr_digits="4", patience=1.0))
            await asyncio.wait_for(call.done, 30)
            async with sm() as db:
                asked = (await db.scalars(select(CallbackRequest))).all()
            assert [(r.phone, r.queue, r.origin_linkedid) for r in asked] == [
                ("+8613800138000", "support", call.linkedid)]
            done = await eventually(in_state(sm, asked[0].id, "done", "failed"),
                                    what="the callback")
    finally:
        await pbx.close()
    assert call.queue is None  # they never waited in the queue: they hung up
    assert (done.state, done.last_result) == ("done", "answered")
    assert [a["Exten"] for a in originates(pbx, done.id)] == [CUSTOMER]


# ------------------------------------------------------------------ fairness
# ------------------------------------------------------------------ fairness


# a slower PBX: X waits ~0.6 s while Bob is free, so a callback jumping X would be seen
@pytest.mark.parametrize("sim", [0.1], indirect=True)
async def test_never_ahead_of_a_caller_who_was_waiting_first(
        db_url: str, sim: PbxSimulator, sm: async_sessionmaker[AsyncSession]) -> None:
    """X waits (ringing Alice, who will not pick up in time) while Bob is free. A
    callback asked after X joined must not take Bob: it goes after X is connected."""
    sim.set_agent("Carol", paused=True, reason="off")
    sim.set_agent("Alice", ring_s=8.0)  # longer than support's ring timeout (5 s)
    async with recording(sim) as rec, callbacks_app(db_url, sim) as _:
        sim.place_call(caller="13900000001", name="X", script=script(talk=4.0))
        await eventually(lambda: rec.first(of_caller("QueueCallerJoin", "13900000001")),
                         what="X in the queue")
        cid = await ask(sm)
        done = await eventually(in_state(sm, cid, "done", "failed"), what="the callback")
    x_connected = rec.index(of_caller("AgentConnect", "13900000001"))
    dialled = rec.index(callback_event)

    assert x_connected is not None and dialled is not None
    assert x_connected < dialled
    assert done.state == "done"


async def test_before_a_caller_who_came_later_even_when_all_agents_are_busy(
        db_url: str, sim: PbxSimulator, sm: async_sessionmaker[AsyncSession]) -> None:
    """Alice (the only agent) talks; a callback is asked; then Y calls and waits. When
    Alice is free the callback is hers, not Y's (she was held for it), and Y is served
    right after, Alice not left paused."""
    sim.set_agent("Bob", paused=True, reason="off")
    sim.set_agent("Carol", paused=True, reason="off")
    async with recording(sim) as rec, callbacks_app(db_url, sim) as _:
        sim.place_call(caller="13900000001", name="Busy", script=script(talk=30.0))
        await eventually(lambda: rec.first(of_caller("AgentConnect", "13900000001")),
                         what="Alice busy")
        cid = await ask(sm)
        sim.place_call(caller="13900000002", name="Y", script=script(talk=2.0,
                                                                    patience=300.0))
        await eventually(lambda: rec.first(of_caller("QueueCallerJoin", "13900000002")),
                         what="Y in the queue")
        done = await eventually(in_state(sm, cid, "done", "failed"), what="the callback")
        await eventually(lambda: rec.first(of_caller("AgentConnect", "13900000002")),
                         what="Y answered")
        await eventually(lambda: not sim.pbx.queues["support"].members[ALICE].paused,
                         what="Alice released")
    holds = [a for a in sim.actions_named("QueuePause") if a.get("Reason") == RESERVE_REASON]
    assert [(a["Interface"], a["Queue"]) for a in holds] == [(ALICE, "support")]
    dialled = rec.index(callback_event)
    y_connected = rec.index(of_caller("AgentConnect", "13900000002"))
    assert dialled is not None and y_connected is not None
    assert dialled < y_connected
    assert (done.state, done.agent_interface) == ("done", ALICE)


# ------------------------------------------------------------------ retries


@pytest.mark.parametrize("mode,result", [("busy", "busy"), ("noanswer", "no-answer")])
async def test_busy_or_unanswered_customer_is_retried_then_failed(
        db_url: str, sim: PbxSimulator, sm: async_sessionmaker[AsyncSession], mode: str,
        result: str) -> None:
    sim.set_customer(CUSTOMER, mode=mode)
    customer_id = await add_customer(sm.kw["bind"], "占线客户", [CUSTOMER])
    async with callbacks_app(db_url, sim) as _:
        cid = await ask(sm, customer_id=customer_id, max_attempts=3)
        failed = await eventually(in_state(sm, cid, "done", "failed"), what="the callback")
    assert (failed.state, failed.attempts, failed.last_result) == ("failed", 3, result)
    assert events(failed) == ["requested"] + ["dialing", result] * 3
    assert len(originates(sim, cid)) == 3
    async with sm() as db:
        logged = (await db.scalars(select(Interaction).where(
            Interaction.customer_id == customer_id).order_by(Interaction.id))).all()
    assert [i.result for i in logged] == [result] * 3
    assert len({i.call_linkedid for i in logged}) == 3


async def test_busy_first_then_answered(
        db_url: str, sim: PbxSimulator, sm: async_sessionmaker[AsyncSession]) -> None:
    sim.set_customer(CUSTOMER, mode="busy")
    async with callbacks_app(db_url, sim, callback_retry_s=0.5) as _:
        cid = await ask(sm, max_attempts=3)

        async def busy_once() -> bool:
            return "busy" in events(await row(sm, cid))

        await eventually(busy_once, what="the first attempt")
        sim.set_customer(CUSTOMER, mode="answer")
        done = await eventually(in_state(sm, cid, "done", "failed"), what="the callback")
    assert (done.state, done.attempts) == ("done", 2)
    assert events(done) == ["requested", "dialing", "busy", "dialing", "answered"]
    assert len(originates(sim, cid)) == 2


# ------------------------------------------------------------------ exactly once


async def test_restart_while_the_agent_rings_adopts_the_call(
        db_url: str, sim: PbxSimulator, sm: async_sessionmaker[AsyncSession]) -> None:
    for agent in ("Alice", "Bob", "Carol"):
        # 5 s of wall time: the app restarts meanwhile, even on a loaded machine (with 2 s
        # a slow restart found the call answered already, and nothing was left to adopt);
        # under the 300 s the app lets an agent ring
        sim.set_agent(agent, ring_s=250.0)
    cid = await ask(sm)
    async with recording(sim) as rec:
        async with callbacks_app(db_url, sim, callback_agent_ring_s=300.0) as _:
            dialing = await eventually(in_state(sm, cid, "dialing"), what="the dial")
            await eventually(lambda: rec.first(
                lambda e: e.get("Event") == "Newchannel" and e.get("Linkedid") == dialing.claim),
                what="its channel")
        assert (await row(sm, cid)).state == "dialing"  # stopped mid-dial
        async with callbacks_app(db_url, sim, callback_agent_ring_s=300.0) as (app, _):
            done = await eventually(in_state(sm, cid, "done", "failed"), what="the callback",
                                    within=60)
            assert app[CALLBACKS].stats["adopted"] == 1
    assert len(originates(sim, cid)) == 1
    assert (done.state, done.claim, done.attempts) == ("done", dialing.claim, 1)
    assert events(done) == ["requested", "dialing", "answered"]
    assert done.history[-1]["adopted"] is True


async def test_restart_while_the_customer_talks_finds_it_answered(
        db_url: str, sim: PbxSimulator, sm: async_sessionmaker[AsyncSession]) -> None:
    sim.set_customer(CUSTOMER, ring_s=25.0, talk_s=400.0)  # answers while no app runs
    cid = await ask(sm)
    async with recording(sim) as rec:
        async with callbacks_app(db_url, sim) as _:
            await eventually(lambda: rec.first(
                lambda e: e.get("Event") == "DialBegin" and "Channel" in e
                and e.get("Linkedid", "").startswith(PREFIX)), what="the customer's phone")
        await eventually(lambda: rec.first(
            lambda e: e.get("Event") == "DialEnd" and "Channel" in e
            and e.get("Linkedid", "").startswith(PREFIX)), what="the customer to answer")
        assert (await row(sm, cid)).state == "dialing"  # the answer came while we were away
        async with callbacks_app(db_url, sim) as (app, _):
            done = await eventually(in_state(sm, cid, "done", "failed"), what="the callback")
            assert app[CALLBACKS].stats["adopted"] == 1
    assert (done.state, done.last_result) == ("done", "answered")
    assert len(originates(sim, cid)) == 1


async def test_pbx_link_lost_mid_dial_the_attempt_is_followed_again(
        db_url: str, sim: PbxSimulator, sm: async_sessionmaker[AsyncSession]) -> None:
    for agent in ("Alice", "Bob", "Carol"):
        sim.set_agent(agent, ring_s=50.0)  # 1 s of wall time: the link drops meanwhile
    async with callbacks_app(db_url, sim, callback_agent_ring_s=300.0) as (app, _):
        cid = await ask(sm)
        await eventually(in_state(sm, cid, "dialing"), what="the dial")
        connects = app[AMI].stats["connects"]
        await sim.drop_connections()
        await eventually(lambda: app[AMI].connected and app[AMI].stats["connects"] > connects,
                         what="the link back")
        done = await eventually(in_state(sm, cid, "done", "failed"), what="the callback")
    assert (done.state, done.last_result) == ("done", "answered")
    assert len(originates(sim, cid)) == 1


async def test_a_dial_that_ends_while_the_link_is_down_is_not_redialled(
        db_url: str, sim: PbxSimulator, sm: async_sessionmaker[AsyncSession]) -> None:
    sim.set_customer(CUSTOMER, ring_s=5.0, talk_s=5.0)
    for agent in ("Alice", "Bob", "Carol"):
        sim.set_agent(agent, ring_s=10.0)
    async with callbacks_app(db_url, sim) as _:
        cid = await ask(sm)
        dialing = await eventually(in_state(sm, cid, "dialing"), what="the dial")

        def channels() -> list[Any]:
            return [c for c in sim.pbx.channels.values() if c.linkedid == dialing.claim]

        await eventually(channels, what="the agent's phone ringing")
        sim.refuse_connections(True)
        await sim.drop_connections()
        await eventually(lambda: not channels(), what="the call to end unseen")
        sim.refuse_connections(False)
        failed = await eventually(in_state(sm, cid, "done", "failed"), what="the verdict")
    # the customer may well have talked: nobody saw it, so nobody is called twice
    assert (failed.state, failed.last_result) == ("failed", "interrupted")
    assert events(failed) == ["requested", "dialing", "interrupted"]
    assert len(originates(sim, cid)) == 1


async def test_a_dial_whose_channels_are_gone_after_a_restart_is_never_redialled(
        db_url: str, sim: PbxSimulator, sm: async_sessionmaker[AsyncSession]) -> None:
    """A previous run claimed these rows and died: one long ago, one just now. Neither
    has a channel on the PBX. The old one ends "interrupted" (was the customer reached?
    nobody can say: a person decides); the fresh one is left alone (its worker may be
    about to dial). Nothing is dialled."""
    old, fresh = await ask(sm, "13800000001"), await ask(sm, "13800000002")
    now = utcnow()
    assert await store.claim(sm, old, seen=None, token=f"{PREFIX}{old}-gone", agent=ALICE,
                             now=now - timedelta(minutes=5))
    assert await store.claim(sm, fresh, seen=None, token=f"{PREFIX}{fresh}-busy", agent=BOB,
                             now=now + timedelta(minutes=5))
    async with callbacks_app(db_url, sim, callback_orphan_grace_s=60.0) as (app, _):
        failed = await eventually(in_state(sm, old, "failed"), what="the old claim")
        steps = app[CALLBACKS].stats["steps"]
        await eventually(lambda: app[CALLBACKS].stats["steps"] >= steps + 5, what="more steps")
        assert (await row(sm, fresh)).state == "dialing"
    assert (failed.last_result, failed.attempts) == ("interrupted", 0)
    assert events(failed) == ["requested", "dialing", "interrupted"]
    assert sim.actions_named("Originate") == []


async def test_two_workers_racing_dial_each_callback_once(
        db_url: str, bus_kind: str, redis_stream: str, sim: PbxSimulator,
        sm: async_sessionmaker[AsyncSession]) -> None:
    """Two nodes. In-process bus: each has its own AMI link and worker; the claim (a
    compare-and-set in the database) lets one dial each callback. Redis: only the AMI
    owner runs the worker (issue 13 item 12); the other node dials nothing."""
    def node(name: str) -> dict[str, Any]:
        if bus_kind == "memory":
            return {}
        return {"bus": "redis", "redis_stream": redis_stream, "redis_consumer": name,
                "ami_lease_ttl_s": 3.0, "ami_lease_renew_s": 0.5}
    try:
        async with callbacks_app(db_url, sim, **node("one")) as (one, _), \
                callbacks_app(db_url, sim, connected=bus_kind == "memory",
                              **node("two")) as (two, _):
            ids = [await ask(sm, f"1380000000{n}") for n in range(3)]
            for cid in ids:
                await eventually(in_state(sm, cid, "done", "failed"), what=f"callback {cid}")
            dials = [one[CALLBACKS].stats["dials"], two[CALLBACKS].stats["dials"]]
    finally:
        if bus_kind == "redis":
            await _forget(REDIS_URL, redis_stream)
    assert [len(originates(sim, cid)) for cid in ids] == [1, 1, 1]
    assert sum(dials) == 3
    if bus_kind == "redis":
        assert dials == [3, 0]  # the first node took the lease; the second never dials
    for cid in ids:
        assert (await row(sm, cid)).state == "done"


async def test_claim_is_compare_and_set(sm: async_sessionmaker[AsyncSession]) -> None:
    cid = await ask(sm)
    now = utcnow()
    won = await asyncio.gather(*(store.claim(sm, cid, seen=None, token=f"{PREFIX}{cid}-{n}",
                                             agent=ALICE, now=now) for n in range(8)))
    assert won.count(True) == 1
    r = await row(sm, cid)
    assert r.claim == f"{PREFIX}{cid}-{won.index(True)}"
    assert events(r) == ["requested", "dialing"]
    # an outcome only counts from the claim that dialled
    assert await store.finish(sm, cid, token="someone-else", result="answered", now=now,
                              policy=Policy()) is None
    step = await store.finish(sm, cid, token=r.claim or "", result="busy", now=now,
                              policy=Policy(retry_s=0))
    assert step is not None and step.state == "waiting"
    assert await store.finish(sm, cid, token=r.claim or "", result="busy", now=now,
                              policy=Policy()) is None  # a duplicate: ignored
    # back to waiting with the old claim: a claim that read the older state loses
    assert not await store.claim(sm, cid, seen=None, token="late", agent=BOB, now=now)
    assert await store.claim(sm, cid, seen=r.claim, token="next", agent=BOB, now=now)


async def test_asking_twice_keeps_one_place(sm: async_sessionmaker[AsyncSession]) -> None:
    racing = await asyncio.gather(*(ask(sm, CUSTOMER) for _ in range(5)))
    first = racing[0]
    assert set(racing) == {first}
    assert await ask(sm, "+86 138 0013 8000") == first
    assert await ask(sm, CUSTOMER, queue="vip") != first  # another queue, another line
    async with sm() as db:
        rows = (await db.scalars(select(CallbackRequest))).all()
    assert sorted((r.phone, r.queue) for r in rows) == [
        ("+8613800138000", "support"), ("+8613800138000", "vip")]


# ------------------------------------------------------------------ waiting count


async def test_the_agent_called_back_gets_the_pop_of_the_customer(
        db_url: str, sim: PbxSimulator, sm: async_sessionmaker[AsyncSession]) -> None:
    """A callback is the agent's outbound call: her console pops the customer called back
    (by the number dialled), marked outbound, then answered when the customer answers."""
    await seed_agents(db_url)
    customer_id = await add_customer(sm.kw["bind"], "回拨弹屏有限公司", ["+86 138 0013 8000"])
    async with callbacks_app(db_url, sim) as (app, host):
        port = int(host.rsplit(":", 1)[1])
        async with connect(port, await cookie_for(port, "alice")) as ws:
            cid = await ask(sm, CUSTOMER, customer_id=customer_id)
            frames: list[dict[str, Any]] = []
            while not any(f["type"] == "answered" for f in frames):
                frames.append(json.loads(await asyncio.wait_for(ws.recv(), 20)))
            [pop] = [f for f in frames if f["type"] == "pop"]
            assert (pop["call"]["direction"], pop["call"]["caller"]) == (
                "outbound", "+86" + CUSTOMER)
            assert pop["call"]["interface"] == ALICE
            assert pop["call"]["ivr"]["HOTLINE_CALLBACK_ID"] == str(cid)
            assert pop["record"]["known"] is True
            assert pop["record"]["customer"]["id"] == customer_id
            answered = next(f for f in frames if f["type"] == "answered")
            assert answered["linkedid"] == pop["call"]["linkedid"]
        await eventually(in_state(sm, cid, "done"), what="the callback done")


async def test_the_waiting_count_includes_callbacks(
        db_url: str, sim: PbxSimulator, sm: async_sessionmaker[AsyncSession]) -> None:
    for agent in ("Alice", "Bob", "Carol"):
        sim.set_agent(agent, paused=True, reason="meeting")
    await seed_agents(db_url)  # the live page's data is for signed-in staff
    async with callbacks_app(db_url, sim) as (app, host):
        signed_in = {"Cookie": await cookie_for(int(host.rsplit(":", 1)[1]), "alice")}
        sim.place_call(caller="13900000009", name="Waiting", script=script(patience=500.0))
        await eventually(lambda: any(c["state"] == "queued" for c in app[TRACKER].live_calls()),
                         what="a caller in the queue")
        await ask(sm, "13800000001")
        await ask(sm, "13800000002")
        await ask(sm, "13800000003", queue="vip")
        expected = {"support": {"callers": 1, "callbacks": 2, "total": 3},
                    "vip": {"callers": 0, "callbacks": 1, "total": 1}}
        async with ClientSession(headers=signed_in) as http, \
                http.get(f"http://{host}/api/calls") as resp:
            assert (await resp.json())["waiting"] == expected
        async with websockets.connect(f"ws://{host}/ws", additional_headers=signed_in) as ws:
            snapshot = json.loads(await ws.recv())
        assert snapshot["type"] == "snapshot" and snapshot["waiting"] == expected
    assert sim.actions_named("Originate") == []  # behind the caller, and nobody free
