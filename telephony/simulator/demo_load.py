"""A steady trickle of human-like calls for the live demo page.

Rules: real time (time_scale 1); callers are picked from the demo's list,
DIDs from the hotline numbers; an IVR of a few seconds, a wait, a ring, a talk
of 20-90 s; some callers give up, some ring a member who does not answer
(Dave, rrmemory puts him in turn), a few have their name sent in GBK.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from telephony.simulator.load import CallPlan, LoadGenerator
from telephony.simulator.model import AgentSpec, QueueSpec
from telephony.simulator.pbx import CallScript
from telephony.simulator.server import PbxSimulator


@dataclass
class DemoCaller:
    number: str
    name: str


DEMO_AGENTS = [
    AgentSpec("Local/1001@agents/n", "Alice", ("support", "vip"), ring_s=3.0),
    AgentSpec("Local/1002@agents/n", "Bob", ("support",), ring_s=4.0),
    AgentSpec("Local/1003@agents/n", "Carol", ("vip", "support"), ring_s=2.5),
    AgentSpec("Local/1004@agents/n", "Dave", ("support",), mode="noanswer"),
    AgentSpec("Local/1005@agents/n", "Eve", ("support",), ring_s=5.0),
    AgentSpec("Local/1006@agents/n", "Frank", ("support", "vip"), ring_s=3.5),
    AgentSpec("Local/1007@agents/n", "Grace", ("support",), ring_s=2.0),
    AgentSpec("Local/1008@agents/n", "Heidi", ("support",), ring_s=4.5),
]

DEMO_QUEUES = [
    QueueSpec("support", "rrmemory", timeout=12, retry=2),
    QueueSpec("vip", "rrmemory", timeout=15, retry=1, weight=10, servicelevel=10),
]


class DemoPbx:
    """The running demo PBX: ``port`` to connect to, ``close()`` to stop it."""

    def __init__(self, sim: PbxSimulator, load: LoadGenerator) -> None:
        self.sim = sim
        self.load = load

    @property
    def port(self) -> int:
        return self.sim.port

    async def close(self) -> None:
        await self.load.stop()
        await self.sim.close()


def _planner(callers: list[DemoCaller], dids: list[str]):  # type: ignore[no-untyped-def]
    def plan(rng: random.Random, n: int) -> CallPlan:
        who = rng.choice(callers) if callers else DemoCaller(f"139{rng.randrange(10**8):08d}",
                                                             "Caller")
        did = rng.choice(dids) if dids else "4008001234"
        impatient = rng.random() < 0.15
        script = CallScript(
            ivr_digits=rng.choice(["1", "2", "1", ""]),
            skip_agi=rng.random() < 0.2,
            ivr_s=rng.uniform(3.0, 9.0),
            patience=rng.uniform(5.0, 25.0) if impatient else rng.uniform(60.0, 180.0),
            talk=rng.uniform(20.0, 90.0),
            hangup_by="agent" if rng.random() < 0.35 else "caller",
            gbk_name=rng.random() < 0.1 and not who.name.isascii(),
        )
        return who.number, who.name, did, script
    return plan


async def start_demo_pbx(*, username: str, secret: str, calls_per_second: float,
                         callers: list[DemoCaller], dids: list[str]) -> DemoPbx:
    """Start the simulator on a free local port and the trickle of calls."""
    numbers = tuple(dids) or ("4008001234", "8008001234")
    sim = PbxSimulator(username=username, secret=secret, time_scale=1.0, agents=DEMO_AGENTS,
                       queues=DEMO_QUEUES, hotline_numbers=numbers, seed=7)
    await sim.start()
    load = LoadGenerator(sim, calls_per_second=calls_per_second, total_calls=0,
                         make_call=_planner(list(callers), list(numbers)), seed=7)
    load.start()
    return DemoPbx(sim, load)
