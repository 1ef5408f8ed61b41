"""The same scenarios on the real PBX and on the simulator give the same call-log rows,
field by field (tests/same/scenarios.py says which fields). HOTLINE_TEST_WRITE_ROWS=1 also
writes the real rows to tests/fixtures/asterisk/same-rows.json, which the simulator alone
is checked against when no Asterisk is at hand (tests/integration/test_same_rows.py)."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

from tests.same.scenarios import SCENARIOS, Scenario, comparable
from tests.same.sim_side import play_on_simulator

from .conftest import Site
from .site import AGENTS

REAL_ROWS = Path(__file__).resolve().parents[1] / "fixtures" / "asterisk" / "same-rows.json"


async def _click_to_dial(site: Site, scenario: Scenario, number: str) -> list[object]:
    phone = scenario.customer
    await site.ami.setvar(f"CUST_{number}_MODE", phone.mode)
    await site.ami.setvar(f"CUST_{number}_RING", str(phone.ring))
    await site.ami.setvar(f"CUST_{number}_TALK", str(phone.talk))
    async with site.hotline.console("alice") as alice:
        status, body = await alice.call("POST", "/calls/dial", {"number": number})
        assert status == 202, body
        rows = await site.hotline.wait_records(1, within=120)
    site.check_replay(f"same-{scenario.name}", rows)
    return list(rows)


async def _play_on_asterisk(site: Site, scenario: Scenario) -> list[object]:
    for ext, phone in scenario.phones.items():
        await site.ami.setvar(f"PHONE_{ext}_MODE", phone.mode)
        await site.ami.setvar(f"PHONE_{ext}_RING", str(phone.ring))
        await site.ami.setvar(f"PHONE_{ext}_TALK", str(phone.talk))
    consoles = []
    try:
        for user in scenario.signed_in:
            console = site.hotline.console(user)
            consoles.append(console)
            await site.sign_in(await console.__aenter__(), user)
        if scenario.dial is not None:
            return await _click_to_dial(site, scenario, scenario.dial)
        mark = len(site.ami.events)
        caller = await site.ivr_caller(scenario.number, scenario.caller_name)
        await caller.hears("main_menu")
        await caller.press(scenario.keys)
        joined = await site.ami.wait_event(
            lambda m: m.get("Event") == "QueueCallerJoin", start=mark, within=60)
        try:
            await site.ami.wait_event(
                lambda m: m.get("Event") in ("AgentConnect", "Hangup")
                and m.get("Linkedid") == joined["Linkedid"] and (
                    m["Event"] == "AgentConnect" or m.get("Uniqueid") == joined["Uniqueid"]),
                start=mark, within=scenario.patience)
        except AssertionError:
            await caller.hang_up()  # he gives up, as the simulator's caller does
        rows = await site.hotline.wait_records(1, within=120)
    finally:
        for console in consoles:
            await console.__aexit__(None, None, None)
    site.check_replay(f"same-{scenario.name}", rows)
    return list(rows)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
async def test_real_pbx_and_simulator_give_the_same_rows(site: Site, scenario: Scenario,
                                                         tmp_path: Path) -> None:
    assert set(scenario.signed_in) <= set(AGENTS)
    real = [json.loads(json.dumps(comparable(r))) for r in
            await _play_on_asterisk(site, scenario)]
    simulated = [json.loads(json.dumps(comparable(r))) for r in
                 await asyncio.wait_for(play_on_simulator(scenario, tmp_path), 300)]
    if os.environ.get("HOTLINE_TEST_WRITE_ROWS"):
        kept = json.loads(REAL_ROWS.read_text(encoding="utf-8")) if REAL_ROWS.exists() else {}
        kept[scenario.name] = real
        REAL_ROWS.write_text(json.dumps(kept, ensure_ascii=False, indent=1, sort_keys=True)
                             + "\n", encoding="utf-8")
    assert simulated == real
