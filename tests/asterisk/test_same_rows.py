"""The same scenarios on the real PBX and on the simulator give the same call-log rows and
callback rows, field by field (tests/same/scenarios.py says which fields). With
HOTLINE_TEST_WRITE_ROWS=1 the real results are also written to
tests/fixtures/asterisk/same-rows.json, which the simulator alone is checked against when
no Asterisk is at hand (tests/integration/test_same_rows.py)."""

from __future__ import annotations

import asyncio
import json
import os
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest

from tests.integration.console_support import Console
from tests.same.play import play
from tests.same.scenarios import SCENARIOS, Phone, Scenario
from tests.same.sim_side import play_on_simulator

from .conftest import IvrCaller, Site
from .site import AGENTS

REAL_ROWS = Path(__file__).resolve().parents[1] / "fixtures" / "asterisk" / "same-rows.json"


class RealSide:
    """The scenario's primitives on the rig's Asterisk and ``hotline serve``."""

    def __init__(self, site: Site, stack: AsyncExitStack) -> None:
        self.site = site
        self.stack = stack
        self.consoles: dict[str, Console] = {}
        self.caller: IvrCaller | None = None
        self.mark = 0

    async def _setvars(self, prefix: str, phone: Phone) -> None:
        await self.site.ami.setvar(f"{prefix}_MODE", phone.mode)
        await self.site.ami.setvar(f"{prefix}_RING", str(phone.ring))
        await self.site.ami.setvar(f"{prefix}_TALK", str(phone.talk))

    async def phone(self, ext: str, phone: Phone) -> None:
        await self._setvars(f"PHONE_{ext}", phone)

    async def customer(self, number: str, phone: Phone) -> None:
        await self._setvars(f"CUST_{number}", phone)

    async def console(self, user: str) -> Console:
        if user not in self.consoles:
            self.consoles[user] = await self.stack.enter_async_context(
                self.site.hotline.console(user))
        return self.consoles[user]

    async def sign_in(self, user: str) -> None:
        await self.site.sign_in(await self.console(user), user)

    async def call_in(self, s: Scenario) -> None:
        self.mark = len(self.site.ami.events)
        caller = self.caller = await self.site.ivr_caller(s.number, s.caller_name, did=s.did)
        for prompt, keys in s.ivr:
            await caller.hears(prompt)
            if keys == "H":
                await caller.hang_up()
                return
            await caller.press(keys)

    async def connected_or_gave_up(self, s: Scenario) -> None:
        ami, mark = self.site.ami, self.mark
        joined = await ami.wait_event(lambda m: m.get("Event") == "QueueCallerJoin",
                                      start=mark, within=60)
        try:
            await ami.wait_event(
                lambda m: m.get("Event") in ("AgentConnect", "Hangup")
                and m.get("Linkedid") == joined["Linkedid"] and (
                    m["Event"] == "AgentConnect" or m.get("Uniqueid") == joined["Uniqueid"]),
                start=mark, within=s.patience)
        except AssertionError:
            assert self.caller is not None
            await self.caller.hang_up()  # he gives up, as the simulator's caller does

    async def records(self, count: int) -> list[Any]:
        return list(await self.site.hotline.wait_records(count, within=120))

    async def callbacks(self) -> list[Any]:
        return list(await self.site.hotline.callbacks())


async def _play_on_asterisk(site: Site, s: Scenario) -> dict[str, Any]:
    if s.settings:
        await site.restart_hotline(**s.settings)
    async with AsyncExitStack() as stack:
        result = await play(RealSide(site, stack), s)
    site.check_replay(f"same-{s.name}", await site.hotline.records())
    return result


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
async def test_real_pbx_and_simulator_give_the_same_rows(site: Site, scenario: Scenario,
                                                         tmp_path: Path) -> None:
    assert set(scenario.signed_in) | set(scenario.late) <= set(AGENTS)
    real = json.loads(json.dumps(await _play_on_asterisk(site, scenario)))
    simulated = json.loads(json.dumps(
        await asyncio.wait_for(play_on_simulator(scenario, tmp_path), 300)))
    if os.environ.get("HOTLINE_TEST_WRITE_ROWS"):
        kept = json.loads(REAL_ROWS.read_text(encoding="utf-8")) if REAL_ROWS.exists() else {}
        kept[scenario.name] = real
        REAL_ROWS.write_text(json.dumps(kept, ensure_ascii=False, indent=1, sort_keys=True)
                             + "\n", encoding="utf-8")
    assert _without_races(simulated, scenario) == _without_races(real, scenario)


def _without_races(played: dict[str, Any], scenario: Scenario) -> dict[str, Any]:
    """``played`` without the attempts Asterisk makes or not by a race of its own
    (``Scenario.racy_attempts``: e.g. re-offering an agent whose Local channel is still
    being torn down); everything else is compared as it is."""
    racy = [list(attempt) for attempt in scenario.racy_attempts]
    rows = [{**row, "agents_tried": [a for a in row["agents_tried"] if a not in racy]}
            if "agents_tried" in row else row for row in played["rows"]]
    return {**played, "rows": rows}
