"""The simulated PBX's state (agents, queues, calls, clocks), its constructor and
reset, and the methods one concern calls in another, declared for the type checker."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from telephony.simulator.agi_caller import AgiTarget, parse_agi_address
from telephony.simulator.calls import CallScript, PbxStats, SimCall, TransferPlan, _Leg, _Spy
from telephony.simulator.dialplan_conf import QueueDefaults, shipped_queue_defaults
from telephony.simulator.helpers import _mode_status
from telephony.simulator.model import (
    Agent,
    AgentSpec,
    Bridge,
    Chan,
    CustomerSpec,
    EventSink,
    Member,
    Queue,
    QueueSpec,
    build_members,
    default_agents,
    default_queues,
    personal_queues,
)


class _PbxState:
    """State of the simulated Asterisk: what ``__init__`` and ``reset`` set, the simulated
    clock, and (for the type checker) the methods one concern's mixin calls in another's.
    ``Pbx`` (pbx.py) composes it with those mixins."""

    def __init__(self, sink: EventSink, *, agents: Sequence[AgentSpec] | None = None,
                 queues: Sequence[QueueSpec] | None = None,
                 hotline_numbers: Sequence[str] = ("4008001234", "8008001234"),
                 time_scale: float = 1.0, timestampevents: bool = False, seed: int = 0,
                 noise: int = 2, agi: AgiTarget | tuple[str, int] | str | None = None,
                 record_calls: bool = False, queue_defaults: QueueDefaults | None = None,
                 journal: str | None = None,
                 ) -> None:
        self.sink = sink
        # where the PBX's CEL journal goes (deploy/asterisk/cel_custom.conf's lines), kept
        # whatever the AMI clients do: what Hotline reads after an outage (telephony.cel)
        self.journal = journal
        # the hotline dialplan's DEFAULT_QUEUE per number (HOTLINE_QUEUE_<DID>, else
        # HOTLINE_DEFAULT_QUEUE): deploy/asterisk's [globals] unless the caller knows better
        self.queue_defaults = queue_defaults or shipped_queue_defaults()
        # the hotline dialplan's HOTLINE_RECORD (with ``agi`` only): queued calls announce
        # a recording (HOTLINE_RECORDING) as deploy/asterisk/extensions.conf does
        self.record_calls = record_calls
        self.recordings_dir = "/var/spool/asterisk/monitor/hotline"
        self.agi = parse_agi_address(agi) if agi is not None else None
        self.time_scale = max(float(time_scale), 1e-6)
        self.timestampevents = timestampevents
        self.hotline_numbers = tuple(hotline_numbers)
        self.noise = noise
        self.rng = random.Random(seed)
        self.stats = PbxStats()
        self._agent_specs = [AgentSpec(**vars(a)) for a in (agents or default_agents())]
        self._queue_specs = list(queues or default_queues())
        # every agent's personal queue, empty as in deploy/asterisk/queues.conf: Hotline's
        # sign-in adds her (QueueAdd), the dialplan offers her a preferred caller or a
        # transfer through it (telephony.personal_queues)
        known = {q.name for q in self._queue_specs}
        self._queue_specs += [spec for spec in personal_queues(self._agent_specs)
                              if spec.name not in known]
        self.started_at = time.time()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wall0 = 0.0
        self._sim0 = self.started_at
        self._uid = 0
        self._local = 0
        self._gbk: dict[bytes, bytes] = {}
        self._heap: list[tuple[float, int, asyncio.Future[Any], SimCall]] = []
        self._heap_seq = 0
        self._runner: asyncio.Task[None] | None = None
        self._runner_wake: asyncio.Future[Any] | None = None
        self._stepping: SimCall | None = None
        self._side_tasks: set[asyncio.Task[None]] = set()
        self._step_done: asyncio.Future[Any] | None = None
        self.reset()

    # ------------------------------------------------------------------ state
    def reset(self) -> None:
        """Forget every call and channel; agents and queues back to configuration."""
        for call in list(getattr(self, "calls", {}).values()):
            if call.task is not None:
                call.task.cancel()
        self.calls: dict[str, SimCall] = {}
        self.channels: dict[str, Chan] = {}
        self.bridges: dict[str, Bridge] = {}
        self.spies: list[_Spy] = []
        fresh = [AgentSpec(**vars(a)) for a in self._agent_specs]  # set_agent edits copies
        # Hotline's dialplan runs with deploy/asterisk/queues.conf: no static member, an
        # agent takes calls once signed in (sign_in, or Hotline's QueueAdd over AMI); the
        # capture rig's agents were static members of their queues
        self.agents, self.queues = build_members(fresh, self._queue_specs, int(self.started_at),
                                                 static=self.agi is None)
        for agent in self.agents.values():
            agent.status = _mode_status(agent.spec.mode)
        self.processed_calls = 0
        self._gbk.clear()
        self.customers: dict[str, CustomerSpec] = {}  # outside numbers by digits

    def bind_loop(self) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._loop = loop
            self._wall0 = loop.time()
            self._sim0 = time.time()

    def now(self) -> float:
        """Current simulated epoch seconds."""
        if self._loop is None:
            return time.time()
        return self._sim0 + (self._loop.time() - self._wall0) / self.time_scale

    def _wall(self, sim_t: float) -> float:
        return self._wall0 + (sim_t - self._sim0) * self.time_scale

    # the methods each concern's mixin calls in another's: declared here so that mypy
    # checks those calls; the definitions are the mixins' (emit, waiting, dialplan,
    # queueing, transfers, control, outbound), first in Pbx's MRO
    if TYPE_CHECKING:
        def ev(self, name: str, cls: str, body: str) -> None: ...
        def _chan_ev(self, name: str, c: Chan, extra: str = "", cls: str = "call") -> None: ...
        def newexten(self, c: Chan, app: str, data: str = "", *, priority: int | None = None,
                     level: int = 1) -> None: ...
        def varset(self, c: Chan, var: str, value: str, level: int = 1) -> None: ...
        def cel(self, c: Chan, name: str, details: dict[str, Any] | None = None, *,
                peer: str = "") -> None: ...
        def device(self, device: str, state: str) -> None: ...
        def dial_begin(self, src: Chan | None, dest: Chan, dialstring: str) -> None: ...
        def dial_state(self, src: Chan | None, dest: Chan, status: str) -> None: ...
        def dial_end(self, src: Chan | None, dest: Chan, status: str) -> None: ...
        def newstate(self, c: Chan, state: int, **changes: Any) -> None: ...

        def _dialled_answers(self, c: Chan) -> None: ...
        def local_bridge(self, c1: Chan, c2: Chan) -> None: ...
        def set_callerid(self, c: Chan, num: str, name: str, conn_num: str, conn_name: str,
                         *, connected: bool = True) -> None: ...
        def bridge_create(self) -> Bridge: ...
        def bridge_enter(self, b: Bridge, c: Chan) -> None: ...
        def bridge_leave(self, b: Bridge, c: Chan) -> None: ...
        def bridge_destroy(self, b: Bridge) -> None: ...
        def hangup_request(self, c: Chan, cause: int, soft: bool = False) -> None: ...
        def hangup(self, c: Chan, cause: int = 16) -> None: ...
        def member_event(self, name: str, m: Member, queue: str) -> None: ...
        def agent_status(self, agent: Agent, status: int, at: float | None = None) -> None: ...
        def queue_ev(self, name: str, c: Chan, leg: _Leg | None, q: Queue, extra: str,
                     *, dest: bool = True) -> None: ...
        def local_pair(self, exten: str, context: str, t: float, *, linkedid: str | None = None,
                       kind: str = "", call: SimCall | None = None,
                       ids: tuple[str, str] | None = None) -> tuple[Chan, Chan]: ...
        async def wait(self, call: SimCall, until: float,
                       wakeable: bool = False) -> tuple[str, ...] | None: ...
        def release(self, call: SimCall) -> None: ...
        def place_call(self, *, caller: str, name: str | None = None, did: str = "4008001234",
                       script: CallScript | None = None,
                       at: float | None = None, action_id: str | None = None,
                       variables: dict[str, str] | None = None) -> SimCall: ...
        def originate_response(self, action_id: str | None, response: str, chan: Chan | str,
                               context: str, exten: str, reason: str, uniqueid: str,
                               cid_num: str, cid_name: str) -> None: ...
        def _hangup_caller_alone(self, call: SimCall) -> None: ...
        def _dp_set(self, call: SimCall, priority: int, name: str, value: str,
                    level: int = 2) -> None: ...
        def _channel_hangs_up_first(self, call: SimCall) -> None: ...
        async def _queue_call(self, call: SimCall, qname: str, *, app_priority: int = 12,
                              appdata: str | None = None, ring_once: bool = False,
                              then_hangup: bool = True) -> str: ...
        def _drop_ringing_leg(self, leg: _Leg, at: float, phone_first: bool = False) -> None: ...
        async def _talk(self, call: SimCall, q: Queue, leg: _Leg) -> None: ...
        def _complete(self, call: SimCall, q: Queue, leg: _Leg, reason: str, *,
                      dest: bool = True) -> None: ...
        def _agent_free(self, leg: _Leg, at: float) -> None: ...
        def _dial_phone(self, a2: Chan, exten: str, t: float,
                        call: SimCall | None) -> tuple[Chan, Chan]: ...
        def _phone_answers(self, a2: Chan, p1: Chan, p2: Chan) -> Bridge: ...
        def _spy_ends(self, spy: _Spy) -> None: ...
        def _end_agent_half(self, leg: _Leg) -> None: ...
        def _agent_side_hangs_up(self, leg: _Leg, *, announce: bool = True) -> None: ...
        async def _blind_transfer(self, call: SimCall, q: Queue, leg: _Leg, target: str,
                                  context: str, plan: TransferPlan) -> None: ...
        async def _redirect(self, call: SimCall, q: Queue, leg: _Leg, target: str, context: str,
                            plan: TransferPlan) -> None: ...
        async def _attended_transfer(self, call: SimCall, q: Queue, leg: _Leg, target: str,
                                     context: str, plan: TransferPlan) -> None: ...
        def find_agent(self, name_or_interface: str) -> Agent | None: ...
