"""A steady trickle of human-like calls for the live demo page.

Rules: real time (time_scale 1); callers are picked from the demo's list,
DIDs from the hotline numbers; an IVR, a wait, a ring, a talk of 20-90 s; some
callers give up, some ring a member who does not answer (Dave, rrmemory puts him
in turn), a few have their name sent in GBK. With an AGI address the IVR is real
(our FastAGI server) and callers key what people key (``CALLER_KEYS``): straight
to an agent, ticket or order status first, a repair, a callback, a wrong key, or
nothing at all; a few hang up mid-menu.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from telephony.simulator.agi_caller import AgiTarget, IvrInput, parse_ivr_inputs
from telephony.simulator.dialplan_conf import QueueDefaults
from telephony.simulator.load import CallPlan, LoadGenerator
from telephony.simulator.model import AgentSpec, QueueSpec
from telephony.simulator.pbx import CallScript
from telephony.simulator.server import PbxSimulator

CALLER_KEYS: list[tuple[float, str]] = [
    (30, "0"),            # an agent, now (main menu 0)
    (12, "1,0"),          # ticket status read back, then an agent
    (8, "2,0"),           # order / subscription status, then an agent
    (6, "1,9,0"),         # ticket status, back to the main menu, then an agent
    (8, "7,0"),           # a key that is not on the menu, then 0
    (8, ""),              # says nothing: the menu's default after its retries
    (5, "1,T"),           # ticket status, then silence at "more": goodbye
    (5, "3,1,0"),         # a repair request for their first device
    (4, "4"),             # a callback: hangs up, keeps the place in line
    (4, "H@2.5"),         # hangs up in the middle of the menu
    (4, "1@0.3,2026#,0"),  # keys early over the prompt, a ticket number that is not theirs
]
"""What demo callers press, per prompt that listens (``parse_ivr_inputs``), and how often."""


def caller_keys(rng: random.Random) -> tuple[IvrInput, ...]:
    """One caller's keys for the real IVR, drawn from ``CALLER_KEYS``."""
    weights = [w for w, _ in CALLER_KEYS]
    keys = rng.choices([k for _, k in CALLER_KEYS], weights=weights)[0]
    inputs = parse_ivr_inputs(keys)
    # people take their time: 0.5-3 s into the prompt that asks
    return tuple(i if "@" in keys else IvrInput(i.keys, round(rng.uniform(0.5, 3.0), 1),
                                                 i.hangup) for i in inputs)


@dataclass
class DemoCaller:
    number: str
    name: str


# The rest of the simulated floor. Enough colleagues that the demo's trickle is mostly
# answered: at 0.3 calls/s about 0.25/s reach a queue, and each answered call holds an
# agent for a ring, a 20-90 s talk and Hotline's 30 s wrap-up (about 90 s): some 22 agents
# busy on average. With the eight above (Dave never answers) the demo answered one queued
# call in five (the rest timed out of the queue); tests/integration/test_demo.py checks it.
FLOOR_NAMES = (
    "Ivan", "Judy", "Ken", "Laura", "Mallory", "Niaj", "Olivia", "Peggy", "Quinn", "Rupert",
    "Sybil", "Trent", "Uma", "Victor", "Walter", "Wendy", "Xavier", "Yvonne", "Zoe", "Amir",
    "Bella", "Chen", "Dmitri", "Elif", "Farah",
)

DEMO_AGENTS = [
    AgentSpec("Local/1001@agents/n", "Alice", ("support", "vip"), ring_s=3.0),
    AgentSpec("Local/1002@agents/n", "Bob", ("support",), ring_s=4.0),
    AgentSpec("Local/1003@agents/n", "Carol", ("vip", "support"), ring_s=2.5),
    AgentSpec("Local/1004@agents/n", "Dave", ("support",), mode="noanswer"),
    AgentSpec("Local/1005@agents/n", "Eve", ("support",), ring_s=5.0),
    AgentSpec("Local/1006@agents/n", "Frank", ("support", "vip"), ring_s=3.5),
    AgentSpec("Local/1007@agents/n", "Grace", ("support",), ring_s=2.0),
    AgentSpec("Local/1008@agents/n", "Heidi", ("support",), ring_s=4.5),
] + [
    AgentSpec(f"Local/{1009 + i}@agents/n", name,
              ("support", "vip") if i % 2 else ("support",), ring_s=2.0 + i % 4)
    for i, name in enumerate(FLOOR_NAMES)
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
        self._started = False

    @property
    def port(self) -> int:
        return self.sim.port

    def point_ivr_at(self, port: int | None) -> None:
        """Calls from now on run their IVR on the FastAGI server at 127.0.0.1:``port``;
        None: no IVR server, the capture rig's dialplan (fake IVR) as before."""
        target = self.sim.pbx.agi
        if port is None or target is None:
            self.sim.pbx.agi = None
        else:
            self.sim.pbx.agi = AgiTarget(target.host, port, script=target.script,
                                         ivr_timeout_s=target.ivr_timeout_s)

    def start_calls(self) -> None:
        if not self._started:
            self._started = True
            self.load.start()

    async def stop_calls(self) -> None:
        """No new calls from now on (calls under way go on)."""
        await self.load.stop()

    async def close(self) -> None:
        await self.load.stop()
        await self.sim.close()


def _planner(callers: list[DemoCaller], dids: list[str],  # type: ignore[no-untyped-def]
             sim: PbxSimulator):
    def plan(rng: random.Random, n: int) -> CallPlan:
        who = rng.choice(callers) if callers else DemoCaller(f"139{rng.randrange(10**8):08d}",
                                                             "Caller")
        did = rng.choice(dids) if dids else "4008001234"
        impatient = rng.random() < 0.15
        script = CallScript(
            ivr_digits=rng.choice(["1", "2", "1", ""]),
            skip_agi=rng.random() < 0.2 and sim.pbx.agi is None,  # the rig's SKIP_AGI
            ivr_s=rng.uniform(3.0, 9.0),
            patience=rng.uniform(5.0, 25.0) if impatient else rng.uniform(60.0, 180.0),
            talk=rng.uniform(20.0, 90.0),
            hangup_by="agent" if rng.random() < 0.35 else "caller",
            gbk_name=rng.random() < 0.1 and not who.name.isascii(),
            ivr_inputs=caller_keys(rng) if sim.pbx.agi is not None else None,
        )
        return who.number, who.name, did, script
    return plan


async def start_demo_pbx(*, username: str, secret: str, calls_per_second: float,
                         callers: list[DemoCaller], dids: list[str],
                         agi: AgiTarget | None = None, start_calls: bool = True,
                         record_calls: bool = False,
                         queue_defaults: QueueDefaults | None = None,
                         signed_in: Sequence[str] = (),
                         journal: str | None = None) -> DemoPbx:
    """Start the simulator on a free local port and the trickle of calls (at once, or at
    ``start_calls()``: when the IVR server is listening). ``agi``: where calls run their
    IVR (its port may be set later with ``point_ivr_at``); None: the capture rig's IVR.
    ``record_calls``: queued calls announce a recording (HOTLINE_RECORDING), with ``agi``.
    ``queue_defaults``: each number's queue before the IVR (default: deploy/asterisk's).
    ``signed_in``: the agents signed in at start (with ``agi`` no agent is in a queue
    until signed in, as with deploy/asterisk/queues.conf; the rig's are static members).
    ``journal``: where the PBX keeps its CEL journal (deploy/asterisk/cel_custom.conf)."""
    numbers = tuple(dict.fromkeys(dids)) or ("4008001234", "8008001234")  # a list may weight
    sim = PbxSimulator(username=username, secret=secret, time_scale=1.0, agents=DEMO_AGENTS,
                       queues=DEMO_QUEUES, hotline_numbers=numbers, seed=7, agi=agi,
                       record_calls=record_calls, journal=journal)
    if queue_defaults is not None:
        sim.pbx.queue_defaults = queue_defaults
    for name in signed_in:
        sim.pbx.sign_in(name)
    await sim.start()
    load = LoadGenerator(sim, calls_per_second=calls_per_second, total_calls=0,
                         make_call=_planner(list(callers), list(dids) or list(numbers), sim),
                         seed=7)
    pbx = DemoPbx(sim, load)
    if start_calls:
        pbx.start_calls()
    return pbx
