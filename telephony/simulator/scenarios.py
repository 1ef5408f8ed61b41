"""Scripted scenarios that mirror the real captures (01, 02, 03, 05, 05b, 06, 11).

Rules: each scenario sets the agents the way the capture rig did, places the
same caller(s) with timings chosen so the simulated HoldTime/RingTime/TalkTime
equal the captured ones, waits for the calls to end and puts the agents back
to their configured behaviour. Durations are simulated seconds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from telephony.simulator.pbx import CallScript, SimCall, TransferPlan

if TYPE_CHECKING:
    from telephony.simulator.server import PbxSimulator

SUPPORT = ("Alice", "Bob", "Carol")

# capture 11: (caller number suffix, HOLD seconds) from 11-burst-20-callers.sent.ami
BURST_HOLDS = (20, 25, 20, 20, 25, 25, 12, 12, 25, 20, 30, 25, 12, 8, 20, 16, 12, 8, 25, 30)


async def _one(sim: PbxSimulator, caller: str, name: str, script: CallScript,
               did: str = "4008001234") -> list[SimCall]:
    call = sim.place_call(caller=caller, name=name, did=did, script=script)
    await call.done
    return [call]


def _restore(sim: PbxSimulator, names: tuple[str, ...] = SUPPORT) -> None:
    for name in names:
        sim.set_agent(name, mode="answer", ring_s=2.0, talk_s=None)


async def answered(sim: PbxSimulator) -> list[SimCall]:
    """01: IVR, press 1, Alice rings 2 s and answers, talk ~4 s, caller hangs up."""
    _restore(sim)
    return await _one(sim, "13800138000", "Wang Fang", CallScript(talk=3.75))


async def abandoned(sim: PbxSimulator) -> list[SimCall]:
    """02: no IVR, nobody answers, the caller gives up after ~3 s in the queue."""
    for name in SUPPORT:
        sim.set_agent(name, mode="noanswer")
    try:
        return await _one(sim, "13700137000", "Li Na",
                          CallScript(skip_agi=True, ivr_digits="", patience=3.4))
    finally:
        _restore(sim)


async def ring_no_answer(sim: PbxSimulator) -> list[SimCall]:
    """03: Alice does not answer (RingTime 5000), Bob answers after 2 s; the agent hangs up."""
    _restore(sim)
    sim.set_agent("Alice", mode="noanswer")
    try:
        return await _one(sim, "13600136000", "Zhao Lei",
                          CallScript(talk=3.5, hangup_by="agent"))
    finally:
        _restore(sim)


async def blind_transfer(sim: PbxSimulator) -> list[SimCall]:
    """05: Alice answers after 1 s; 2 s later the agent leg is blind-transferred to 2100."""
    _restore(sim)
    sim.set_agent("Alice", ring_s=1.0)
    try:
        return await _one(sim, "13500135000", "Chen Jie", CallScript(
            talk=60, transfer=TransferPlan(kind="blind", target="2100", after=2.0,
                                           target_talk_s=3.5)))
    finally:
        _restore(sim)


async def redirect_transfer(sim: PbxSimulator) -> list[SimCall]:
    """05b: as 05 but with Redirect of the caller channel (AgentComplete comes late)."""
    _restore(sim)
    sim.set_agent("Alice", ring_s=1.0)
    try:
        return await _one(sim, "13500135001", "Chen Jie", CallScript(
            talk=60, transfer=TransferPlan(kind="redirect", target="2100", after=2.0,
                                           target_talk_s=3.5)))
    finally:
        _restore(sim)


async def attended_transfer(sim: PbxSimulator) -> list[SimCall]:
    """06: Atxfer to 1005 after 2 s of talk; Alice consults and hangs up; 1005 talks on."""
    _restore(sim)
    sim.set_agent("Alice", ring_s=1.0)
    try:
        return await _one(sim, "13400134000", "Sun Li", CallScript(
            talk=60, transfer=TransferPlan(kind="attended", target="1005", after=2.0,
                                           consult_s=3.9, target_talk_s=9.5)))
    finally:
        _restore(sim)


async def burst(sim: PbxSimulator) -> list[SimCall]:
    """11: 20 callers 0.25 s apart through the IVR into queue ``burst`` (3 agents that
    ring 1 s, talk 3 s and hang up); each caller hangs up after its HOLD seconds."""
    pbx = sim.pbx
    pbx.bind_loop()
    calls: list[SimCall] = []
    start = pbx.now()
    for i, hold in enumerate(BURST_HOLDS, 1):
        at = start + 0.25 * (i - 1)
        await pbx._sleep_until(at)  # exact simulated spacing, whatever the loop jitter
        script = CallScript(queue="burst", hold=float(hold), ivr_s=2.6)
        calls.append(pbx.place_call(caller=f"139000000{i:02d}", name=f"Burst Caller {i:02d}",
                                    script=script, at=at))
    await asyncio.gather(*(c.done for c in calls))
    return calls


SCENARIOS: dict[str, Callable[[PbxSimulator], Awaitable[list[SimCall]]]] = {
    "answered": answered,
    "abandoned": abandoned,
    "ring-no-answer": ring_no_answer,
    "blind-transfer": blind_transfer,
    "redirect-transfer": redirect_transfer,
    "attended-transfer": attended_transfer,
    "burst": burst,
}

# scenario name -> the capture it mirrors
CAPTURES = {
    "answered": "01-answered-call",
    "abandoned": "02-abandoned-call",
    "ring-no-answer": "03-ring-no-answer-then-answered",
    "blind-transfer": "05-blind-transfer",
    "redirect-transfer": "05b-redirect-transfer",
    "attended-transfer": "06-attended-transfer",
    "burst": "11-burst-20-callers",
}


async def run_scenario(sim: PbxSimulator, name: str) -> list[SimCall]:
    try:
        scenario = SCENARIOS[name]
    except KeyError:
        raise ValueError(f"unknown scenario {name!r}; known: {', '.join(SCENARIOS)}") from None
    return await scenario(sim)
