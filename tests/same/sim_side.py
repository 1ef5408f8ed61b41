"""A scenario played on the simulator in Hotline's dialplan mode: the app (REST, AMI
link, FastAGI IVR) over real sockets, the site's seeded database (tests/asterisk/site.py),
agents signed in from their consoles, the caller keying at the main menu."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from crm_core.db import make_engine
from crm_core.models import CallRecord
from telephony.simulator import CallScript, PbxSimulator
from telephony.simulator.agi_caller import AgiTarget, parse_ivr_inputs
from tests.asterisk.site import AGENTS, interface, seed
from tests.integration.console_support import Console, app_settings, eventually, serving
from tests.integration.test_api_support import PASSWORD

from .scenarios import Scenario

TIME_SCALE = 0.1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _records(db_url: str) -> list[CallRecord]:
    engine = make_engine(db_url)
    try:
        async with async_sessionmaker(engine, expire_on_commit=False)() as db:
            return list((await db.execute(select(CallRecord).order_by(CallRecord.id))).scalars())
    finally:
        await engine.dispose()


async def _click_to_dial(sim: PbxSimulator, port: int, scenario: Scenario, number: str
                         ) -> None:
    phone = scenario.customer
    sim.set_customer(number, mode=phone.mode, ring_s=phone.ring, talk_s=phone.talk)
    alice = Console(port)
    try:
        assert (await alice.sign_in("alice", PASSWORD)).status == 200
        status, body = await alice.call("POST", "/calls/dial", {"number": number})
        assert status == 202, body
    finally:
        await alice.close()


async def play_on_simulator(scenario: Scenario, folder: Path) -> list[CallRecord]:
    db_url = f"sqlite+aiosqlite:///{folder}/sim.db"
    await seed(db_url)
    agi_port = _free_port()
    sim = PbxSimulator(time_scale=TIME_SCALE, record_calls=True,
                       agi=AgiTarget("127.0.0.1", agi_port))
    await sim.start()
    try:
        for ext, phone in scenario.phones.items():
            sim.set_agent(interface(ext), mode=phone.mode, ring_s=phone.ring,
                          talk_s=phone.talk)
        settings = app_settings(db_url, sim.port, "same-rows-secret", agi_enabled=True,
                                agi_port=agi_port, agent_queues=["support", "vip"],
                                wrapup_s=0)
        async with serving(settings) as (_app, port):
            consoles: list[Console] = []
            try:
                for user in scenario.signed_in:
                    console = Console(port)
                    consoles.append(console)
                    assert (await console.sign_in(user, PASSWORD)).status == 200
                    status, body = await console.call("POST", "/agent/state",
                                                      {"action": "sign-in"})
                    assert status == 202, body
                    personal = f"agent-{AGENTS[user][0]}"

                    async def joined(queue: str = personal, who: str = user) -> Any:
                        return interface(AGENTS[who][0]) in sim.pbx.queues[queue].members

                    await eventually(joined, what=f"{user} signed in")
                if scenario.dial is not None:
                    await _click_to_dial(sim, port, scenario, scenario.dial)
                else:
                    call = sim.place_call(
                        caller=scenario.number, name=scenario.caller_name,
                        script=CallScript(ivr_inputs=parse_ivr_inputs(scenario.keys),
                                          talk=6000.0, patience=scenario.patience))
                    await asyncio.wait_for(call.done, 120)

                async def logged() -> list[CallRecord]:
                    return await _records(db_url)

                return list(await eventually(logged, what="the call record"))
            finally:
                for console in consoles:
                    await console.close()
    finally:
        await sim.close()
