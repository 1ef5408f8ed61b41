"""A scenario played on the simulator in Hotline's dialplan mode: the app (REST, AMI
link, FastAGI IVR) over real sockets, the site's seeded database (tests/asterisk/site.py),
agents signed in from their consoles, the caller keying the IVR."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from crm_core.db import make_engine
from crm_core.models import CallbackRequest, CallRecord
from telephony.simulator import CallScript, PbxSimulator, SimCall
from telephony.simulator.agi_caller import AgiTarget, parse_ivr_inputs
from tests.asterisk.site import AGENTS, interface, seed
from tests.integration.console_support import Console, app_settings, eventually, serving
from tests.integration.test_api_support import PASSWORD

from .play import play
from .scenarios import Phone, Scenario

TIME_SCALE = 0.1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _rows(db_url: str, model: Any) -> list[Any]:
    engine = make_engine(db_url)
    try:
        async with async_sessionmaker(engine, expire_on_commit=False)() as db:
            return list((await db.execute(select(model).order_by(model.id))).scalars())
    finally:
        await engine.dispose()


class SimSide:
    """The scenario's primitives on the simulator and an app serving on ``port``."""

    def __init__(self, sim: PbxSimulator, port: int, db_url: str) -> None:
        self.sim = sim
        self.port = port
        self.db_url = db_url
        self.consoles: dict[str, Console] = {}
        self.call: SimCall | None = None

    async def phone(self, ext: str, phone: Phone) -> None:
        self.sim.set_agent(interface(ext), mode=phone.mode, ring_s=phone.ring,
                           talk_s=phone.talk)

    async def customer(self, number: str, phone: Phone) -> None:
        self.sim.set_customer(number, mode=phone.mode, ring_s=phone.ring, talk_s=phone.talk)

    async def console(self, user: str) -> Console:
        if user not in self.consoles:
            console = self.consoles[user] = Console(self.port)
            assert (await console.sign_in(user, PASSWORD)).status == 200
        return self.consoles[user]

    async def sign_in(self, user: str) -> None:
        console = await self.console(user)
        status, body = await console.call("POST", "/agent/state", {"action": "sign-in"})
        assert status == 202, body
        personal, iface = f"agent-{AGENTS[user][0]}", interface(AGENTS[user][0])

        async def joined() -> bool:
            return iface in self.sim.pbx.queues[personal].members

        await eventually(joined, what=f"{user} signed in")

    async def call_in(self, s: Scenario) -> None:
        self.call = self.sim.place_call(
            caller=s.number, name=s.caller_name, did=s.did,
            script=CallScript(ivr_inputs=parse_ivr_inputs(s.keys), talk=6000.0,
                              patience=s.patience))
        if not s.queued:
            await asyncio.wait_for(self.call.done, 120)

    async def connected_or_gave_up(self, s: Scenario) -> None:
        assert self.call is not None
        await asyncio.wait_for(self.call.done, 120)

    async def records(self, count: int) -> list[Any]:
        async def logged() -> list[Any] | None:
            rows = await _rows(self.db_url, CallRecord)
            return rows if len(rows) >= count else None

        return list(await eventually(logged, within=120, what=f"{count} call records")) \
            if count else await _rows(self.db_url, CallRecord)

    async def callbacks(self) -> list[Any]:
        return await _rows(self.db_url, CallbackRequest)

    async def close(self) -> None:
        for console in self.consoles.values():
            await console.close()


def _overrides(scenario: Scenario) -> dict[str, str]:
    """The scenario's HOTLINE_* settings as Settings fields."""
    return {k.removeprefix("HOTLINE_").lower(): v for k, v in scenario.settings.items()}


async def play_on_simulator(scenario: Scenario, folder: Path,
                            journal: Path | None = None) -> dict[str, Any]:
    """``journal``: where the simulator keeps its CEL journal meanwhile."""
    db_url = f"sqlite+aiosqlite:///{folder}/sim.db"
    await seed(db_url)
    agi_port = _free_port()
    sim = PbxSimulator(time_scale=TIME_SCALE, record_calls=True,
                       agi=AgiTarget("127.0.0.1", agi_port),
                       journal=None if journal is None else str(journal))
    await sim.start()
    try:
        settings = app_settings(db_url, sim.port, "same-rows-secret", agi_enabled=True,
                                agi_port=agi_port, agent_queues=["support", "vip"],
                                wrapup_s=0, **_overrides(scenario))
        async with serving(settings) as (_app, port):
            side = SimSide(sim, port, db_url)
            try:
                return await play(side, scenario)
            finally:
                await side.close()
    finally:
        await sim.close()
