"""The wallboard against the whole app and the PBX simulator: a simulated stretch of a
day (agents sign in, calls answered, abandoned, wrap-ups), then the wallboard's figures
equal the report computed from the call log and the agent state log, figure by figure;
the page's socket is for those with ``reports:read``, and a team supervisor sees their
team's agents only. On SQLite and PostgreSQL, in-process bus and Redis."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import websockets
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from crm_core.db import make_engine
from crm_core.kpi_report import period_book
from crm_core.models import AgentStateSpan, CallRecord, User
from crm_core.users import ensure_roles
from hotline.app import WALLBOARD
from ivr.number_plan import canonical_did
from telephony.simulator import CallScript, PbxSimulator
from tests.integration.console_support import (
    ALICE,
    BOB,
    console,
    cookie_for,
    eventually,
    running,
    seed,
    simulator,
)
from tests.integration.test_api_support import FAST_HASHER, PASSWORD


@pytest.fixture
async def sim() -> AsyncIterator[PbxSimulator]:
    pbx = simulator()
    await pbx.start()
    yield pbx
    await pbx.close()


@pytest.fixture
def bus(bus_kind: str, redis_stream: str, request: pytest.FixtureRequest) -> dict[str, Any]:
    if bus_kind == "memory":
        return {"bus": "memory"}
    return {"bus": "redis", "redis_url": request.getfixturevalue("redis_url"),
            "redis_stream": redis_stream, "redis_consumer": "node-a",
            "ami_lease_ttl_s": 3.0, "ami_lease_renew_s": 0.5}


async def add_supervisors(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        async with async_sessionmaker(engine).begin() as db:
            roles = await ensure_roles(db)
            pw = FAST_HASHER.hash(PASSWORD)
            db.add_all([
                User(username="zhao", display_name="赵敏", password_hash=pw,
                     role_id=roles["hotline_supervisor"], team="热线"),
                User(username="sun", display_name="孙丽", password_hash=pw,
                     role_id=roles["supervisor"], team="sales"),
            ])
    finally:
        await engine.dispose()


async def count(db_url: str, model: Any) -> int:
    engine = make_engine(db_url)
    try:
        async with engine.connect() as conn:
            return int(await conn.scalar(select(func.count()).select_from(model)) or 0)
    finally:
        await engine.dispose()


async def board_frame(port: int, username: str) -> dict[str, Any]:
    cookie = await cookie_for(port, username)
    async with websockets.connect(f"ws://127.0.0.1:{port}/ws/wallboard",
                                  additional_headers={"Cookie": cookie}) as ws:
        frame: dict[str, Any] = json.loads(await ws.recv())
    assert frame["v"] == 1 and frame["type"] == "board"
    return frame


FIGURES = ("offered", "answered", "abandoned", "short_abandoned", "timed_out", "sl", "sl2",
           "asa_s", "aht_s", "abandon_rate")


async def test_a_simulated_day_on_the_wallboard_equals_the_report(
        db_url: str, bus: dict[str, Any], sim: PbxSimulator) -> None:
    await seed(db_url)
    await add_supervisors(db_url)
    async with running(db_url, sim, wrapup_s=1, **bus) as (app, port):
        hub = app[WALLBOARD]
        async with console(port, "alice") as alice, console(port, "bob") as bob:
            for agent in (alice, bob):
                assert (await agent.call("POST", "/agent/state", {"action": "sign-in"}))[0] == 202
            await eventually(lambda: _ready(hub, ALICE, BOB), what="both agents ready")
            scripts = [
                ("13800138000", "4008001234", CallScript(skip_agi=True, talk=3.0)),
                ("13800138001", "4008001234", CallScript(skip_agi=True, talk=5.0)),
                ("13800138002", "4008001234", CallScript(skip_agi=True, talk=2.0)),
                # the VIP line has no agent signed in: these callers give up
                ("13800138003", "8008001234", CallScript(skip_agi=True, patience=2.0)),
                ("13800138004", "8008001234", CallScript(skip_agi=True, patience=40.0)),
            ]
            for caller, did, script in scripts:
                sim.place_call(caller=caller, did=did, script=script)
            await eventually(lambda: _n(len(hub.board.book.seen) >= len(scripts)),
                             within=60, what="every call on the wallboard")
            await eventually(lambda: _count_is(db_url, CallRecord, len(scripts)), within=30,
                             what="every call logged")
            await eventually(lambda: _ready(hub, ALICE, BOB), within=30,
                             what="the wrap-ups over")
        # the agents signed out (their sockets closed: still members of the queue); cut
        # the open spans now, as midnight does, and write the state log
        now = hub.clock()
        hub.checkpoint(now)
        assert hub.writer is not None
        await hub.writer.flush()
        assert hub.writer.counts["written"] > 0
        live = hub.board.book
        engine = make_engine(db_url)
        try:
            async with async_sessionmaker(engine)() as db:
                report = await period_book(db, live.start, live.end, hub.rules, canonical_did)
        finally:
            await engine.dispose()
        assert report.seen == live.seen
        assert report.queues() == live.queues()
        assert report.numbers() == live.numbers()
        assert report.agents({}, now) == live.agents({}, now)
        assert report.teams(hub.team_of, {}, now) == live.teams(hub.team_of, {}, now)
        support = live.queues()["support"]
        assert support["answered"] == 3 and support["aht_s"] is not None
        vip = live.queues()["vip"]
        assert vip["answered"] == 0 and vip["abandoned"] + vip["short_abandoned"] == 2
        agents = live.agents({}, now)
        assert agents[ALICE]["answered"] + agents[BOB]["answered"] == 3
        assert agents[ALICE]["seconds"]["wrap-up"] > 0 or agents[BOB]["seconds"]["wrap-up"] > 0
        # the page's frame says the same
        frame = await board_frame(port, "zhao")
        tiles = {t["queue"]: t for t in frame["queues"]}
        for name, figures in report.queues().items():
            assert {k: tiles[name][k] for k in FIGURES} == {k: figures[k] for k in FIGURES}
        numbers = {t["number"]: t for t in frame["numbers"]}
        for number, figures in report.numbers().items():
            assert {k: numbers[number][k] for k in FIGURES} == {k: figures[k] for k in FIGURES}
        assert {a["agent"] for a in frame["agents"]} >= {ALICE, BOB}


def _n(value: bool) -> Any:
    async def probe() -> bool:
        return value
    return probe()


async def _ready(hub: Any, *agents: str) -> bool:
    return all(hub.spans.open.get(a) is not None and hub.spans.open[a].state == "ready"
               for a in agents)


async def _count_is(db_url: str, model: Any, n: int) -> bool:
    return await count(db_url, model) >= n


async def test_the_wallboard_is_for_those_with_reports_and_a_team_sees_its_agents(
        db_url: str, sim: PbxSimulator) -> None:
    await seed(db_url)
    await add_supervisors(db_url)
    async with running(db_url, sim) as (app, port):
        hub = app[WALLBOARD]
        async with console(port, "alice") as alice, console(port, "wang") as wang:
            assert (await alice.call("POST", "/agent/state", {"action": "sign-in"}))[0] == 202
            assert (await wang.call("POST", "/agent/state", {"action": "sign-in"}))[0] == 202
            await eventually(lambda: _ready(hub, ALICE, "Local/1005@agents/n"),
                             what="agents ready")
            everyone = await board_frame(port, "zhao")
            team = await board_frame(port, "sun")
        assert {ALICE, "Local/1005@agents/n"} <= {a["agent"] for a in everyone["agents"]}
        # sun supervises the sales team: Wang, not the hotline's Alice
        assert [a["agent"] for a in team["agents"]] == ["Local/1005@agents/n"]
        assert team["queues"] == everyone["queues"]
        cookie = await cookie_for(port, "alice")
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with websockets.connect(f"ws://127.0.0.1:{port}/ws/wallboard",
                                          additional_headers={"Cookie": cookie}):
                pass
        assert refused.value.response.status_code == 403
        with pytest.raises(websockets.InvalidStatus) as anonymous:
            async with websockets.connect(f"ws://127.0.0.1:{port}/ws/wallboard"):
                pass
        assert anonymous.value.response.status_code == 401
    assert await count(db_url, AgentStateSpan) > 0  # the state log was written at stop
