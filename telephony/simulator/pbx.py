"""The simulated PBX: channels, queues, agents and calls, emitting AMI events
in the order and shape of the real Asterisk 22 captures.

Rules:
- time is SIMULATED seconds: each call keeps its own exact simulated clock
  (``call.t``) advanced by scripted waits, and sleeps until the wall-clock
  moment of that simulated instant (``time_scale`` wall seconds per simulated
  second). So HoldTime/RingTime/TalkTime are exact whatever the loop jitter,
  and a test at time_scale=0.01 sees the same numbers as a real-time demo;
- one asyncio task per call, and ONE scheduler that wakes the calls in
  simulated-time order, one step at a time (a woken call runs until its next
  wait before the next one is woken): a loaded or lagging event loop changes
  nothing but the pace, never who got which agent;
- actions that act on a call (Hangup, transfers)
  are delivered to that task as a command, never by mutating it from outside;
- ``noise`` chooses how much realism besides the tracking events is sent:
  0 = tracking events only, 1 = + Newexten/VarSet/Cdr/DeviceStateChange
  basics, 2 = + CEL, AGIExec, queue VarSets (the scripted scenarios);
- every event is handed to the sink as bytes once; the server fans it out;
- with an AGI address (``agi``) a call runs the hotline dialplan of
  deploy/asterisk/extensions.conf: a real FastAGI session over TCP
  (``agi_caller``), then the queue the IVR chose (QUEUE, HOTLINE_PRIORITY or
  QUEUE_PRIO, HOTLINE_PREFERRED_AGENT first through its personal queue), failing
  open to the default queue; without one, the capture rig's dialplan with fake
  AGIExec events, as recorded;
- Hotline's dialplan (``agi``) is deploy/asterisk as the acceptance rig runs it: each
  number's queue from [globals] (``dialplan_conf``), no static queue member (agents
  take calls once signed in: ``sign_in`` or Hotline's QueueAdd), [agents] DIALS the
  agent's phone (a Local pair into [phones]: queue calls, click-to-dial, callbacks),
  [internal] reaches an agent through her personal queue (transfers, also attended).
  The capture rig's mode keeps captures 01-11's shapes ([agents] was the phone, static
  members, the 800 number a VIP line).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import random
import time
import uuid
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from telephony.personal_queues import is_personal, personal_queue
from telephony.simulator.agi_caller import (
    AGI_VERSION,
    AgiCaller,
    AgiOutcome,
    AgiTarget,
    CallerGone,
    IvrInput,
    environment,
    parse_agi_address,
    parse_ivr_inputs,
)
from telephony.simulator.dialplan_conf import QueueDefaults, shipped_queue_defaults
from telephony.simulator.model import (
    CAUSE_TEXT,
    DEV_BUSY,
    DEV_INUSE,
    DEV_NOT_INUSE,
    DEV_UNAVAILABLE,
    DEVICE_STATE_NAMES,
    UNKNOWN,
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
    clean,
    default_agents,
    default_queues,
    member_text,
    personal_queues,
)

log = logging.getLogger("telephony.simulator")

T = TypeVar("T")

OUTBOUND_DIAL_TIMEOUT = 30.0  # conf/extensions.conf [outbound]: Dial(...,30)
TRANSFER_DIGIT_TIMEOUT_S = 5.0  # deploy/asterisk/features.conf transferdigittimeout
# How the simulated site dials an agent's phone from deploy's [agents]
# (Dial(${HOTLINE_PHONE_PREFIX}${EXTEN}${HOTLINE_PHONE_SUFFIX},,tT)): a Local pair into
# [phones], as the acceptance rig's overlay dials [rig-phones] (a site: PJSIP/1001-xxxx)
PHONE_CONTEXT = "phones"
# a customer leg that does not answer: (seconds until the result, DialStatus, cause)
_CUSTOMER_FAILS = {"busy": (0.5, "BUSY", 17), "unavailable": (0.0, "CHANUNAVAIL", 0),
                   "noanswer": (OUTBOUND_DIAL_TIMEOUT, "NOANSWER", 19)}


@dataclass
class TransferPlan:
    """A transfer the agent makes ``after`` seconds of talk.

    kind: blind (BlindTransfer) | redirect (Redirect of the caller channel) |
    attended (Atxfer; the agent consults ``consult_s`` s, then hangs up).
    The target desk rings ``target_ring_s`` and hangs up after ``target_talk_s``.
    """

    kind: str = "blind"
    target: str = "2100"
    context: str = "internal"
    after: float = 2.0
    target_ring_s: float = 1.0
    target_talk_s: float = 3.5
    consult_s: float = 4.0


@dataclass
class CallScript:
    """What one simulated caller does (all times in simulated seconds).

    - ``ivr_digits``/``ivr_s``: digits pressed in the FastAGI IVR, ``ivr_s`` after
      the answer; ``skip_agi`` goes straight to the queue (like SKIP_AGI=1).
    - ``ivr_vars``: variables the IVR sets (VarSet), default QUEUE/PRIORITY/CRM_CONTACT_ID.
    - ``queue``: forced queue (FORCE_QUEUE); default by DID (8008001234 -> vip).
    - ``patience``: seconds in the queue before the caller gives up (abandon).
    - ``hold``: if set, the caller hangs up this long after joining the queue
      whatever happens (the capture rig's HOLD), overriding patience and talk.
    - ``talk``/``hangup_by``: conversation length and who ends it (caller|agent).
    - ``transfer``: a transfer done by the agent during the talk.
    - ``gbk_name``: the caller name goes out in GBK bytes, like some carriers.
    - ``ivr_inputs``: with a real FastAGI IVR (the PBX's ``agi``), what the caller does at
      each prompt that listens (``agi_caller.IvrInput``; ``parse_ivr_inputs("1,T,123#,H")``);
      None: ``ivr_digits`` read as such a list (one key per prompt unless comma-separated).
    """

    ivr_digits: str = "1"
    ivr_s: float = 2.6
    skip_agi: bool = False
    ivr_vars: dict[str, str] | None = None
    queue: str | None = None
    patience: float = 60.0
    hold: float | None = None
    talk: float = 4.0
    hangup_by: str = "caller"
    transfer: TransferPlan | None = None
    gbk_name: bool = False
    answer_delay: float = 0.5  # Answer() to the next dialplan step
    ivr_inputs: tuple[IvrInput, ...] | None = None

    def caller_inputs(self) -> tuple[IvrInput, ...]:
        if self.ivr_inputs is not None:
            return tuple(self.ivr_inputs)
        try:
            return parse_ivr_inputs(self.ivr_digits)
        except ValueError:
            log.warning("ivr_digits %r are not keys a phone sends: caller stays silent",
                        self.ivr_digits)
            return ()


@dataclass
class Attempt:
    agent: str
    interface: str
    queue: str
    result: str  # answered | no-answer | abandoned | timeout
    ring_ms: int


class SimCall:
    """One simulated inbound call. ``await call.done`` waits for its end."""

    def __init__(self, caller: str, name: str | None, did: str, script: CallScript,
                 done: asyncio.Future[SimCall]) -> None:
        self.caller = caller
        self.name = name
        self.did = did
        self.script = script
        self.done = done
        self.linkedid = ""
        self.t = 0.0  # the call's own simulated clock (epoch seconds)
        self.c1: Chan | None = None
        self.c2: Chan | None = None
        self.queue: str | None = None
        self.joined: float | None = None
        self.position = 0
        self.outcome = "ivr-only"  # answered | abandoned | timeout | ivr-only | transferred
        self.agent: str | None = None
        self.agent_interface: str | None = None
        self.wait_s: int | None = None
        self.ring_s: int | None = None
        self.talk_s: int | None = None
        self.hangup_by: str | None = None
        self.attempts: list[Attempt] = []
        self.transfers: list[tuple[str, str]] = []
        self.originate_action_id: str | None = None
        self.variables: dict[str, str] = {}
        self.dialplan_vars: dict[str, str] = {}  # the ;2 channel's variables (AGI mode)
        self.priority = 0  # QUEUE_PRIO: app_queue seats a caller ahead of lower ones
        self.first_joined: float | None = None  # patience counts from the first queue
        self.queues_tried: list[str] = []
        self.agi: AgiOutcome | None = None
        self.language = "en"
        self.queue_exit_continues = False
        self.queue_app_priority = 12  # the priority of the Queue() the caller is in
        self._cmd: asyncio.Future[tuple[str, ...] | None] | None = None
        self._pending: list[tuple[str, ...]] = []
        self._wakeable = False
        self.ringing = False
        self.task: asyncio.Task[None] | None = None

    def command(self, *cmd: str) -> None:
        """Deliver an action (hangup, transfer...) to the call's task. ``("wake", t)``
        only wakes a caller waiting in a queue for a free member; it is never queued."""
        if cmd[0] == "wake":
            if self._wakeable and self._cmd is not None and not self._cmd.done():
                self._cmd.set_result(cmd)
            return
        if self._cmd is not None and not self._cmd.done():
            self._cmd.set_result(cmd)
        else:
            self._pending.append(cmd)

    def __repr__(self) -> str:
        return f"<SimCall {self.linkedid} {self.caller} {self.outcome}>"


@dataclass
class _Leg:
    """The agent's Local pair during a queue call."""

    member: Member
    queue: Queue
    a1: Chan
    a2: Chan
    ring_start: float
    bridge: Bridge | None = None
    talk_start: float = 0.0
    hold: int = 0
    # Hotline's dialplan: the phone [agents] dials from a2 (a Local pair into [phones]),
    # and the bridge of a2 with it once she picks up
    phone: tuple[Chan, Chan] | None = None
    phone_bridge: Bridge | None = None


@dataclass
class _Spy:
    s1: Chan
    s2: Chan
    target: Chan


@dataclass
class PbxStats:
    events: int = 0
    calls_started: int = 0
    calls_finished: int = 0
    errors: int = 0
    by_outcome: dict[str, int] = field(default_factory=dict)


class Pbx:
    """State of the simulated Asterisk, and the coroutines that run calls."""

    def __init__(self, sink: EventSink, *, agents: Sequence[AgentSpec] | None = None,
                 queues: Sequence[QueueSpec] | None = None,
                 hotline_numbers: Sequence[str] = ("4008001234", "8008001234"),
                 time_scale: float = 1.0, timestampevents: bool = False, seed: int = 0,
                 noise: int = 2, agi: AgiTarget | tuple[str, int] | str | None = None,
                 record_calls: bool = False, queue_defaults: QueueDefaults | None = None,
                 ) -> None:
        self.sink = sink
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

    # ---------------------------------------------------------------- emitting
    def ev(self, name: str, cls: str, body: str) -> None:
        head = f"Event: {name}\r\nPrivilege: {cls},all\r\n"
        if self.timestampevents:
            head += f"Timestamp: {self.now():.6f}\r\n"
        data = (head + body + "\r\n").encode("utf-8")
        if self._gbk:
            for utf8, gbk in self._gbk.items():
                if utf8 in data:
                    data = data.replace(utf8, gbk)
        self.stats.events += 1
        self.sink(data, cls)

    def _chan_ev(self, name: str, c: Chan, extra: str = "", cls: str = "call") -> None:
        self.ev(name, cls, c.snap() + extra)

    def newexten(self, c: Chan, app: str, data: str = "", *, priority: int | None = None,
                 level: int = 1) -> None:
        if priority is not None:
            c.set(priority=priority)
        c.app, c.appdata = app, data
        if self.noise >= level:
            self._chan_ev("Newexten", c, f"Extension: {c.exten}\r\nApplication: {app}\r\n"
                          f"AppData: {data}\r\n", "dialplan")

    def varset(self, c: Chan, var: str, value: str, level: int = 1) -> None:
        c.variables[var.lstrip("_")] = value  # held whatever the noise (AMI Status reads it)
        if self.noise >= level:
            self._chan_ev("VarSet", c, f"Variable: {var}\r\nValue: {clean(value)}\r\n", "dialplan")

    def cel(self, c: Chan, name: str, extra: str = "") -> None:
        if self.noise < 2:
            return
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(self.now()))
        self.ev("CEL", "call", (
            f"EventName: {name}\r\nAccountCode: \r\nCallerIDnum: {_nz(c.cid_num)}\r\n"
            f"CallerIDname: {_nz(c.cid_name)}\r\nCallerIDani: {_nz(c.cid_num)}\r\n"
            f"CallerIDrdnis: \r\nCallerIDdnid: \r\nExten: {c.exten}\r\nContext: {c.context}\r\n"
            f"Channel: {c.name}\r\nApplication: {c.app}\r\nAppData: {c.appdata}\r\n"
            f"EventTime: {when}\r\nAMAFlags: DOCUMENTATION\r\nUniqueID: {c.uniqueid}\r\n"
            f"LinkedID: {c.linkedid}\r\nUserfield: \r\nPeer: \r\nPeerAccount: \r\n"
            f"Extra: {extra}\r\n"
        ))

    def device(self, device: str, state: str) -> None:
        if self.noise >= 1:
            self.ev("DeviceStateChange", "call", f"Device: {device}\r\nState: {state}\r\n")

    def dial_begin(self, src: Chan | None, dest: Chan, dialstring: str) -> None:
        self.ev("DialBegin", "call", (src.snap() if src else "") + dest.snap("Dest")
                + f"DialString: {dialstring}\r\n")

    def dial_state(self, src: Chan | None, dest: Chan, status: str) -> None:
        if self.noise >= 1:
            self.ev("DialState", "call", (src.snap() if src else "") + dest.snap("Dest")
                    + f"DialStatus: {status}\r\n")

    def dial_end(self, src: Chan | None, dest: Chan, status: str) -> None:
        self.ev("DialEnd", "call", (src.snap() if src else "") + dest.snap("Dest")
                + f"DialStatus: {status}\r\n")

    def newstate(self, c: Chan, state: int, **changes: Any) -> None:
        c.set(state=state, **changes)
        if state == 6 and c.answered is None:
            c.answered = self.now()
        self._chan_ev("Newstate", c)

    def local_bridge(self, c1: Chan, c2: Chan) -> None:
        if self.noise >= 1:
            self.ev("LocalBridge", "call", c1.snap("LocalOne") + c2.snap("LocalTwo")
                    + f"Context: {c2.context}\r\nExten: {c2.exten}\r\nLocalOptimization: No\r\n")

    def set_callerid(self, c: Chan, num: str, name: str, conn_num: str, conn_name: str,
                     *, connected: bool = True) -> None:
        c.set(cid_num=num, cid_name=name)
        self._chan_ev("NewCallerid", c,
                      "CID-CallingPres: 0 (Presentation Allowed, Not Screened)\r\n")
        if connected:
            c.set(conn_num=conn_num, conn_name=conn_name)
            self._chan_ev("NewConnectedLine", c)

    def bridge_create(self) -> Bridge:
        b = Bridge(str(uuid.UUID(int=self.rng.getrandbits(128), version=4)))
        self.bridges[b.id] = b
        self.ev("BridgeCreate", "call", b.text(count=0))
        return b

    def bridge_enter(self, b: Bridge, c: Chan) -> None:
        b.channels.append(c)
        c.bridge = b
        self.ev("BridgeEnter", "call", b.text() + c.snap())
        self.cel(c, "BRIDGE_ENTER")

    def bridge_leave(self, b: Bridge, c: Chan) -> None:
        if c in b.channels:
            b.channels.remove(c)
        c.bridge = None
        self.ev("BridgeLeave", "call", b.text() + c.snap())
        self.cel(c, "BRIDGE_EXIT")

    def bridge_destroy(self, b: Bridge) -> None:
        self.bridges.pop(b.id, None)
        self.ev("BridgeDestroy", "call", b.text(count=0))

    def hangup_request(self, c: Chan, cause: int, soft: bool = False) -> None:
        if c.name in self.channels:
            self._chan_ev("SoftHangupRequest" if soft else "HangupRequest", c,
                          f"Cause: {cause}\r\n")

    def hangup(self, c: Chan, cause: int = 16) -> None:
        """Hangup of one channel (idempotent), with the ChanSpy and Cdr side effects."""
        if self.channels.pop(c.name, None) is None:
            return
        for spy in [s for s in self.spies if s.target is c]:
            self.spies.remove(spy)
            self.ev("ChanSpyStop", "call", spy.s1.snap("Spyer") + c.snap("Spyee"))
            self.hangup(spy.s1)
            self.hangup(spy.s2)
        self.cel(c, "HANGUP")
        text = CAUSE_TEXT.get(cause, "Unknown")
        self._chan_ev("Hangup", c, f"Cause: {cause}\r\nCause-txt: {text}\r\n")
        self.cel(c, "CHAN_END")
        if c.kind.endswith("1"):
            self.cdr(c)
        if self.noise >= 2 and not any(x.linkedid == c.linkedid for x in self.channels.values()):
            self.cel(c, "LINKEDID_END")

    def cdr(self, c: Chan) -> None:
        if self.noise < 1:
            return
        now = self.now()
        fmt = "%Y-%m-%d %H:%M:%S"
        start = time.strftime(fmt, time.gmtime(c.created))
        answer = time.strftime(fmt, time.gmtime(c.answered)) if c.answered else ""
        end = time.strftime(fmt, time.gmtime(now))
        billable = int(now - c.answered) if c.answered else 0
        self.ev("Cdr", "cdr", (
            f"AccountCode: \r\nSource: {_nz(c.cid_num)}\r\nDestination: {c.exten}\r\n"
            f"DestinationContext: {c.context}\r\n"
            f"CallerID: \"{_nz(c.cid_name)}\" <{_nz(c.cid_num)}>\r\nChannel: {c.name}\r\n"
            f"DestinationChannel: {c.peer.name if c.bridge and c.peer else ''}\r\n"
            f"LastApplication: {c.app}\r\nLastData: {c.appdata}\r\nStartTime: {start}\r\n"
            f"AnswerTime: {answer}\r\nEndTime: {end}\r\nDuration: {int(now - c.created)}\r\n"
            f"BillableSeconds: {billable}\r\n"
            f"Disposition: {'ANSWERED' if c.answered else 'NO ANSWER'}\r\n"
            f"AMAFlags: DOCUMENTATION\r\nUniqueID: {c.uniqueid}\r\nUserField: \r\n"
        ))

    def member_event(self, name: str, m: Member, queue: str) -> None:
        self.ev(name, "agent", member_text(m, queue))

    def agent_status(self, agent: Agent, status: int, at: float | None = None) -> None:
        """Change an agent's device state; QueueMemberStatus once per queue it is in."""
        if agent.status == status:
            return
        agent.status = status
        self.device(agent.state_interface, DEVICE_STATE_NAMES.get(status, "UNKNOWN"))
        for q in self.queues.values():
            m = q.members.get(agent.interface)
            if m is not None:
                self.member_event("QueueMemberStatus", m, q.name)

    def wake_queues(self, interface: str | None = None, at: float | None = None) -> None:
        """Make waiting callers look for a member now instead of at their next poll.
        Not used by the queue itself: like app_queue, a waiting caller re-checks
        once per second of its own clock (which is what capture 11 shows)."""
        t = str(self.now() if at is None else at)
        for q in self.queues.values():
            if interface is not None and interface not in q.members:
                continue
            for call in list(q.entries):
                if isinstance(call, SimCall) and not call.ringing:
                    call.command("wake", t)

    def queue_ev(self, name: str, c: Chan, leg: _Leg | None, q: Queue, extra: str,
                 *, dest: bool = True) -> None:
        body = c.snap()
        if leg is not None:
            if dest:
                body += leg.a1.snap("Dest")
            body += (f"Queue: {q.name}\r\nInterface: {leg.member.agent.interface}\r\n"
                     f"MemberName: {leg.member.name}\r\n")
        else:
            body += f"Queue: {q.name}\r\n"
        self.ev(name, "agent", body + extra)

    # --------------------------------------------------------------- channels
    def _uniqueid(self, t: float) -> str:
        self._uid += 1
        return f"{int(t)}.{self._uid}"

    def local_pair(self, exten: str, context: str, t: float, *, linkedid: str | None = None,
                   kind: str = "", call: SimCall | None = None,
                   ids: tuple[str, str] | None = None) -> tuple[Chan, Chan]:
        """Create ``Local/<exten>@<context>-XXXXXXXX;1`` and ``;2`` (Newchannel x2);
        ``ids``: their Uniqueids as asked by Originate ChannelId/OtherChannelId."""
        self._local += 1
        base = f"Local/{exten}@{context}-{self._local:08x}"
        u1, u2 = ids if ids is not None else (self._uniqueid(t), self._uniqueid(t))
        link = linkedid or u1
        c1 = Chan(base + ";1", u1, link, state=0, context=context, exten=exten, created=t,
                  kind=kind + "1")
        c2 = Chan(base + ";2", u2, link, state=4, context=context, exten=exten, created=t,
                  kind=kind + "2")
        c1.peer, c2.peer = c2, c1
        c1.call = c2.call = call
        self.channels[c1.name] = c1
        self.channels[c2.name] = c2
        self.cel(c1, "CHAN_START")
        self.cel(c2, "CHAN_START")
        self._chan_ev("Newchannel", c1)
        self._chan_ev("Newchannel", c2)
        return c1, c2

    # --------------------------------------------------------------- waiting
    async def _sleep_until(self, t: float) -> None:
        assert self._loop is not None
        delay = self._wall(t) - self._loop.time()
        if delay > 0:
            await asyncio.sleep(delay)

    async def wait(self, call: SimCall, until: float,
                   wakeable: bool = False) -> tuple[str, ...] | None:
        """Sleep the call to simulated time ``until`` unless a command arrives first."""
        self.release(call)
        if call._pending:
            call.t = max(call.t, min(until, self.now()))
            return call._pending.pop(0)
        assert self._loop is not None
        fut: asyncio.Future[tuple[str, ...] | None] = self._loop.create_future()
        call._cmd = fut
        call._wakeable = wakeable
        self._push(until, fut, call)
        try:
            cmd = await fut
        finally:
            call._cmd = None
            call._wakeable = False
        if cmd is None:
            call.t = until
        elif cmd[0] == "wake":
            call.t = min(until, max(call.t, float(cmd[1])))
        else:
            call.t = max(call.t, min(until, self.now()))
        return cmd

    def _push(self, until: float, fut: asyncio.Future[Any], call: SimCall) -> None:
        self._heap_seq += 1
        item = (until, self._heap_seq, fut, call)
        heapq.heappush(self._heap, item)
        if self._runner is None or self._runner.done():
            assert self._loop is not None
            self._runner = self._loop.create_task(self._schedule(), name="sim-scheduler")
        elif self._heap[0] is item and self._runner_wake is not None:
            _resolve_none(self._runner_wake)

    def release(self, call: SimCall) -> None:
        """The call woken by the scheduler reached its next wait (or ended)."""
        if self._stepping is call and self._step_done is not None:
            _resolve_none(self._step_done)

    async def _schedule(self) -> None:
        """Wake waiting calls in simulated-time order, one at a time."""
        loop = self._loop
        assert loop is not None
        heap = self._heap
        while True:
            while heap and heap[0][2].done():
                heapq.heappop(heap)
            if not heap:
                self._runner_wake = loop.create_future()
                await self._runner_wake
                continue
            until, _seq, fut, call = heap[0]
            when = self._wall(until)
            if when > loop.time():
                self._runner_wake = wake = loop.create_future()
                handle = loop.call_at(when, _resolve_none, wake)
                try:
                    await wake
                finally:
                    handle.cancel()
                continue
            heapq.heappop(heap)
            done: asyncio.Future[Any] = loop.create_future()
            self._stepping, self._step_done = call, done
            # a step that never comes back to wait() must not stall the PBX forever
            guard = loop.call_later(1.0, _resolve_none, done)
            fut.set_result(None)
            try:
                await done
            finally:
                guard.cancel()
                self._stepping = self._step_done = None

    # ------------------------------------------------------------ placing calls
    def place_call(self, *, caller: str, name: str | None = None, did: str = "4008001234",
                   script: CallScript | None = None,
                   at: float | None = None, action_id: str | None = None,
                   variables: dict[str, str] | None = None) -> SimCall:
        """Start an inbound call now (or at simulated time ``at``, which must not be in
        the future: it lets a burst be spaced exactly); returns with the Linkedid set."""
        self.bind_loop()
        assert self._loop is not None
        script = script or CallScript()
        call = SimCall(clean(caller), clean(name) if name else None, clean(did), script,
                       self._loop.create_future())
        call.t = self.now() if at is None else min(at, self.now())
        call.originate_action_id = action_id
        call.variables = dict(variables or {})
        if script.gbk_name and call.name:
            with contextlib.suppress(UnicodeEncodeError):
                self._gbk[call.name.encode("utf-8")] = call.name.encode("gbk")
        self._start_caller_channels(call)
        self.calls[call.linkedid] = call
        self.stats.calls_started += 1
        call.task = self._loop.create_task(self._run_call(call), name=f"call-{call.linkedid}")
        return call

    def _start_caller_channels(self, call: SimCall) -> None:
        c1, c2 = self.local_pair(call.did, "from-pstn", call.t, kind="caller", call=call)
        call.c1, call.c2 = c1, c2
        call.linkedid = c1.linkedid
        name = call.name or UNKNOWN
        self.newexten(c1, "AppDial2", "(Outgoing Line)", level=2)
        for var, value in call.variables.items():
            self.varset(c1, var, value, level=2)
        self.set_callerid(c1, call.caller, name, call.caller, name)
        for var, value in call.variables.items():
            self.varset(c2, var, value, level=2)
        self.set_callerid(c2, call.caller, name, call.caller, name)
        self.local_bridge(c1, c2)
        self.cel(c2, "ANSWER")
        self.newexten(c2, "NoOp", f"Hotline call to DID {call.did} from {call.caller}", level=2)
        self.newexten(c2, "Answer", "", priority=2, level=2)
        self.newstate(c2, 6)
        self.dial_begin(None, c1, f"{call.did}@from-pstn/n")
        self.newstate(c1, 6)
        self.dial_end(None, c1, "ANSWER")
        c1.set(context="caller-phone", exten="s", priority=1)
        self.newexten(c1, "NoOp", "Caller phone", level=2)
        self.newexten(c1, "Wait", str(call.script.ivr_s), priority=2, level=2)
        if call.originate_action_id is not None:
            self.originate_response(call.originate_action_id, "Success", c1, "caller-phone", "s",
                                    "4", c1.uniqueid, call.caller, name)
        self.device(f"Local/{call.did}@from-pstn", "INUSE")

    def originate_response(self, action_id: str | None, response: str, chan: Chan | str,
                           context: str, exten: str, reason: str, uniqueid: str,
                           cid_num: str, cid_name: str) -> None:
        name = chan.name if isinstance(chan, Chan) else chan
        aid = f"ActionID: {action_id}\r\n" if action_id is not None else ""
        self.ev("OriginateResponse", "call", (
            f"{aid}Response: {response}\r\nChannel: {name}\r\nContext: {context}\r\n"
            f"Exten: {exten}\r\nReason: {reason}\r\nUniqueid: {uniqueid}\r\n"
            f"CallerIDNum: {cid_num}\r\nCallerIDName: {cid_name}\r\n"
        ))

    async def _run_call(self, call: SimCall) -> None:
        try:
            if self.agi is not None:
                await self._hotline_dialplan(call, self.agi)
                return
            queue = await self._dialplan(call)
            if queue is not None:
                await self._queue_call(call, queue)
            else:
                await self._end_without_queue(call)
        except asyncio.CancelledError:
            raise
        except Exception:  # a bug in one call must not kill the simulator
            self.stats.errors += 1
            log.exception("simulated call %s failed", call.linkedid)
            for c in (call.c2, call.c1):
                if c is not None:
                    self.hangup(c, 16)
        finally:
            self._finish(call)

    def _finish(self, call: SimCall) -> None:
        self.release(call)
        self.calls.pop(call.linkedid, None)
        self.processed_calls += 1
        self.stats.calls_finished += 1
        self.stats.by_outcome[call.outcome] = self.stats.by_outcome.get(call.outcome, 0) + 1
        if call.script.gbk_name and call.name:
            self._gbk.pop(call.name.encode("utf-8"), None)
        if not call.done.done():
            call.done.set_result(call)

    # --------------------------------------------------------------- dialplan
    def _queue_for(self, call: SimCall) -> str:
        """The queue a call starts with: the script's forced one, else the dialplan's
        default for its number (Hotline's: deploy/asterisk [globals]; the capture rig's:
        8008001234 -> vip, anything else support, as its extensions.conf says)."""
        if call.script.queue:
            return call.script.queue
        if self.agi is not None:
            return self.queue_defaults.for_number(call.did)
        return _rig_queue(call.did)

    async def _dialplan(self, call: SimCall) -> str | None:
        c2 = call.c2
        assert c2 is not None
        s = call.script
        cmd = await self.wait(call, call.t + s.answer_delay)
        if cmd is not None:
            return None if self._caller_gone(call, cmd) else self._queue_for(call)
        self.newexten(c2, "Set", f"__HOTLINE_DID={call.did}", priority=3, level=2)
        self.varset(c2, "__HOTLINE_DID", call.did)
        self.newexten(c2, "Set", f"CDR(userfield)=did={call.did}", priority=4, level=2)
        queue = _rig_queue(call.did)
        self.newexten(c2, "Set", f"QUEUE={queue}", priority=5, level=2)
        self.varset(c2, "QUEUE", queue, level=2)
        self.newexten(c2, "Set", "PRIORITY=0", priority=6, level=2)
        self.varset(c2, "PRIORITY", "0", level=2)
        self.newexten(c2, "GotoIf", f"{int(s.skip_agi)}?queue", priority=7, level=2)
        if not s.skip_agi:
            r = await self._ivr(call, queue)
            if r is None:
                return None
            queue = r
        if s.queue:
            queue = s.queue
        self.newexten(c2, "ExecIf", f"{int(bool(s.queue))}?Set(QUEUE={s.queue or ''})",
                      priority=10, level=2)
        self.newexten(c2, "Set", "QUEUE_PRIO=11", priority=11, level=2)
        self.varset(c2, "QUEUE_PRIO", "11", level=2)
        return queue

    async def _ivr(self, call: SimCall, queue: str) -> str | None:
        c2 = call.c2
        assert c2 is not None
        s = call.script
        url = f"agi://127.0.0.1:4573/hotline?did={call.did}"
        self.newexten(c2, "AGI", url, priority=8, level=2)
        self._agi_exec(c2, "ANSWER")
        start = call.t
        digits_at = start + max(0.0, s.ivr_s - s.answer_delay - 0.1)
        self._agi_exec(c2, "STREAM FILE welcome")
        cmd = await self.wait(call, digits_at)
        if cmd is not None and self._caller_gone(call, cmd):
            return None
        for digit in s.ivr_digits:
            self._chan_ev("DTMFBegin", c2, f"Digit: {digit}\r\nDirection: Received\r\n", "dtmf")
            cmd = await self.wait(call, call.t + 0.1)
            if cmd is not None and self._caller_gone(call, cmd):
                return None
            self._chan_ev("DTMFEnd", c2, f"Digit: {digit}\r\nDurationMs: 100\r\n"
                          "Direction: Received\r\n", "dtmf")
        ivr_vars = s.ivr_vars if s.ivr_vars is not None else {
            "QUEUE": queue, "PRIORITY": "0", "CRM_CONTACT_ID": f"CRM-{call.caller[-6:]}"}
        for var, value in ivr_vars.items():
            self.varset(c2, var, value)
        self.varset(c2, "AGISTATUS", "SUCCESS")
        new_queue = ivr_vars.get("QUEUE", queue) or queue
        self.newexten(c2, "NoOp", f"AGI done: AGISTATUS=SUCCESS QUEUE={new_queue}",
                      priority=9, level=2)
        return new_queue

    def _agi_exec(self, c: Chan, command: str) -> None:
        if self.noise < 2:
            return
        self._chan_ev("AGIExecStart", c, f"CommandId: {self.rng.randrange(1 << 30)}\r\n"
                      f"Command: {command}\r\n", "agi")
        self._chan_ev("AGIExecEnd", c, f"CommandId: {self.rng.randrange(1 << 30)}\r\n"
                      f"Command: {command}\r\nResultCode: 200\r\nResult: Success\r\n", "agi")

    def _caller_gone(self, call: SimCall, cmd: tuple[str, ...]) -> bool:
        """A command outside the queue: only a hangup matters (the caller ends)."""
        if cmd[0] == "hangup":
            self._hangup_caller_alone(call)
            call.hangup_by = "caller"
            return True
        return False

    def _hangup_caller_alone(self, call: SimCall) -> None:
        c1, c2 = call.c1, call.c2
        assert c1 is not None and c2 is not None
        self.hangup_request(c1, 16, soft=True)
        self.hangup_request(c2, 16)
        self.hangup(c1, 16)
        self.hangup_request(c2, 16, soft=True)
        self.hangup(c2, 16)

    async def _end_without_queue(self, call: SimCall) -> None:
        if call.c2 is not None and call.c2.name in self.channels:
            self._hangup_caller_alone(call)

    # ------------------------------------------------- the hotline dialplan (AGI mode)
    async def _hotline_dialplan(self, call: SimCall, target: AgiTarget) -> None:
        """deploy/asterisk/extensions.conf [from-pstn]: defaults, the FastAGI IVR with a
        deadline (fail open), then the preferred agent's queue and the IVR's queue."""
        c2 = call.c2
        assert c2 is not None
        s = call.script
        cmd = await self.wait(call, call.t + s.answer_delay)
        if cmd is not None and self._caller_gone(call, cmd):
            return
        did = call.did
        fallback = self._queue_for(call)
        self._dp_set(call, 3, "__HOTLINE_DID", did, level=1)
        self.newexten(c2, "Set", f"CDR(userfield)=did={did}", priority=4, level=2)
        self._dp_set(call, 5, "DEFAULT_QUEUE", fallback)
        self._dp_set(call, 6, "QUEUE", fallback)
        self._dp_set(call, 7, "QUEUE_PRIO", "0")
        if not s.skip_agi:
            self._dp_set(call, 8, "AGIEXITONHANGUP", "yes" if target.exit_on_hangup else "no")
            self.newexten(c2, "Set", f"TIMEOUT(absolute)={target.ivr_timeout_s:g}",
                          priority=9, level=2)
            outcome = await self._run_agi(call, target)
            if outcome.channel_hung_up:
                return
            if outcome.ended_by == "timeout":
                # TIMEOUT(absolute) hung the AGI up: the T extension sends the call on
                self.varset(c2, "AGISTATUS", "HANGUP")
                c2.set(exten="T")
                self.newexten(c2, "NoOp", "IVR over time: fail open to the queue",
                              priority=1, level=2)
                self._dp_set(call, 2, "HOTLINE_AGI", "TIMEOUT", level=1)
                self.newexten(c2, "Goto", f"{did},after_ivr", priority=3, level=2)
                c2.set(exten=did)
            else:
                self.varset(c2, "AGISTATUS", outcome.status)
                self._dp_set(call, 11, "HOTLINE_AGI", outcome.status, level=1)
        self.newexten(c2, "Set", "TIMEOUT(absolute)=0", priority=12, level=2)
        variables = call.dialplan_vars
        if variables.get("HOTLINE_ACTION", "").lower() == "hangup":
            self.newexten(c2, "Hangup", "", priority=29, level=1)
            self._channel_hangs_up_first(call)
            return
        self._record(call)
        queue = _queue_name(variables.get("QUEUE", ""))
        if not queue or queue not in self.queues:
            queue = fallback  # FILTER, then QUEUE_EXISTS: an unknown queue falls back
        self._dp_set(call, 16, "QUEUE", queue)
        prio_text = variables.get("HOTLINE_PRIORITY", "")
        if prio_text:
            self._dp_set(call, 19, "QUEUE_PRIO", "".join(ch for ch in prio_text
                                                         if ch.isdigit()), level=1)
        call.priority = _sscanf_int(call.dialplan_vars.get("QUEUE_PRIO", ""))
        preferred = variables.get("HOTLINE_PREFERRED_AGENT", "")
        personal = personal_queue(preferred) if preferred else None
        if personal is not None and personal in self.queues:
            q = self.queues[personal]
            status = await self._queue_call(
                call, personal, app_priority=25, ring_once=True, then_hangup=False,
                appdata=f"{personal},tn,,,{q.spec.maxwait:g}")
            if status not in ("TIMEOUT", "JOINEMPTY"):
                return
            self.newexten(c2, "NoOp", f"Preferred agent: {status}; on to {queue}",
                          priority=26, level=2)
        main = self.queues.get(queue)
        wait = main.spec.maxwait if main is not None else 60
        await self._queue_call(call, queue, app_priority=27, appdata=f"{queue},tT,,,{wait:g}")

    def _record(self, call: SimCall) -> None:
        """HOTLINE_RECORDING and MixMonitor (priorities 14-15): with ``record_calls``
        (HOTLINE_RECORD=yes) the file's dated name, else empty. Nothing is written: the
        simulator only says what a real PBX would have recorded."""
        c2 = call.c2
        assert c2 is not None
        name = ""
        if self.record_calls:
            day = time.strftime("%Y/%m/%d", time.localtime(call.t))
            name = f"{day}/{c2.uniqueid}.wav"
        self._dp_set(call, 14, "HOTLINE_RECORDING", name, level=1)
        self.newexten(c2, "ExecIf", f"{int(bool(name))}?MixMonitor({self.recordings_dir}/{name})",
                      priority=15, level=2)
        if name:
            self.varset(c2, "MIXMONITOR_FILENAME", f"{self.recordings_dir}/{name}", level=2)

    def _dp_set(self, call: SimCall, priority: int, name: str, value: str,
                level: int = 2) -> None:
        """Set(name=value) in the dialplan: Newexten, the variable, its VarSet."""
        assert call.c2 is not None
        self.newexten(call.c2, "Set", f"{name}={value}", priority=priority, level=2)
        call.dialplan_vars[name.lstrip("_")] = value
        self.varset(call.c2, name, value, level=level)

    async def _run_agi(self, call: SimCall, target: AgiTarget) -> AgiOutcome:
        """AGI(agi://host:port/hotline?did=DID,DID): one FastAGI session over TCP."""
        c2 = call.c2
        assert c2 is not None
        did = call.did
        self.newexten(c2, "AGI", f"{target.url(did)},{did}", priority=10, level=2)
        fields = [
            ("agi_network", "yes"), ("agi_network_script", f"{target.script}?did={did}"),
            ("agi_request", target.url(did)), ("agi_channel", c2.name),
            ("agi_language", call.language), ("agi_type", "Local"),
            ("agi_uniqueid", c2.uniqueid), ("agi_version", AGI_VERSION),
            ("agi_callerid", call.caller or "unknown"),
            ("agi_calleridname", call.name or "unknown"),
            ("agi_callingpres", "0"), ("agi_callingani2", "0"), ("agi_callington", "0"),
            ("agi_callingtns", "0"), ("agi_dnid", "unknown"), ("agi_rdnis", "unknown"),
            ("agi_context", c2.context), ("agi_extension", did), ("agi_priority", "10"),
            ("agi_enhanced", "0.0"), ("agi_accountcode", ""),
            ("agi_threadid", str(139_600_000_000_000 + self.rng.randrange(1 << 30))),
            ("agi_arg_1", did),
        ]
        env = environment(fields, name_encoding="gbk" if call.script.gbk_name else "utf-8")
        line = _AgiLine(self, call)
        outcome = await AgiCaller(target, line, call.script.caller_inputs()).run(env)
        call.agi = outcome
        if outcome.ended_by == "caller":
            self.varset(c2, "AGISTATUS", "HANGUP")
            if c2.name in self.channels:
                self.hangup_request(c2, 16, soft=True)
                self.hangup(c2, 16)
            if call.c1 is not None and call.c1.name in self.channels:
                self.hangup(call.c1, 16)
            call.hangup_by = "caller"
        elif outcome.ended_by == "agi":
            self.varset(c2, "AGISTATUS", "HANGUP")
            self._channel_hangs_up_first(call)
        return outcome

    def _handset_hangs_up(self, call: SimCall) -> None:
        """The caller hangs up during the IVR: the handset (;1) goes now, the dialplan
        side (;2) when the AGI application has returned."""
        c1, c2 = call.c1, call.c2
        assert c1 is not None and c2 is not None
        if c1.name not in self.channels:
            return
        self.hangup_request(c1, 16, soft=True)
        self.hangup_request(c2, 16)
        self.hangup(c1, 16)
        call.hangup_by = "caller"

    def _channel_hangs_up_first(self, call: SimCall) -> None:
        """The dialplan ends the call (the IVR's HANGUP, Hangup()): ;2 first, then ;1."""
        c1, c2 = call.c1, call.c2
        assert c1 is not None and c2 is not None
        self.hangup_request(c2, 16, soft=True)
        self.hangup(c2, 16)
        self.hangup_request(c1, 16)
        self.hangup(c1, 16)
        call.hangup_by = "system"

    async def _io(self, call: SimCall, aw: Awaitable[T], until: float) -> T:
        """Await network I/O for a call: the scheduler moves on meanwhile (the wait is
        real time, not a simulated step); a hangup command raises CallerGone, simulated
        ``until`` raises TimeoutError; afterwards the call's clock is the PBX's clock."""
        assert self._loop is not None
        self.release(call)
        task: asyncio.Future[T] = asyncio.ensure_future(aw)
        try:
            while True:
                if call._pending:
                    pending = call._pending.pop(0)
                    if pending[0] == "hangup":
                        raise CallerGone()
                    continue  # a transfer or a wake means nothing in the IVR
                fut: asyncio.Future[tuple[str, ...] | None] = self._loop.create_future()
                call._cmd = fut
                try:
                    timeout = max(0.0, self._wall(until) - self._loop.time())
                    waiting: set[asyncio.Future[Any]] = {task, fut}
                    done, _ = await asyncio.wait(waiting, timeout=timeout,
                                                 return_when=asyncio.FIRST_COMPLETED)
                finally:
                    call._cmd = None
                if task in done:
                    call.t = max(call.t, min(self.now(), until))
                    return task.result()
                if fut in done:
                    cmd = fut.result()
                    if cmd is not None and cmd[0] == "hangup":
                        call.t = max(call.t, min(self.now(), until))
                        raise CallerGone()
                    continue
                call.t = max(call.t, until)
                raise TimeoutError
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    # ------------------------------------------------------------------ queue
    async def _queue_call(self, call: SimCall, qname: str, *, app_priority: int = 12,
                          appdata: str | None = None, ring_once: bool = False,
                          then_hangup: bool = True) -> str:
        """Queue(): returns QUEUESTATUS-like ANSWERED | ABANDONED | TIMEOUT | JOINEMPTY |
        UNKNOWN. ``ring_once`` is Queue()'s ``n`` option (leave after one ring round);
        without ``then_hangup`` a TIMEOUT/JOINEMPTY caller goes on in the dialplan."""
        c2 = call.c2
        assert c2 is not None
        q = self.queues.get(qname)
        call.queue = qname
        data = appdata if appdata is not None else f"{qname},tT,,,60"
        self.newexten(c2, "Queue", data, priority=app_priority, level=1)
        if q is None:
            self.varset(c2, "QUEUESTATUS", "UNKNOWN")
            self._hangup_caller_alone(call)
            return "UNKNOWN"
        if not q.spec.joinempty and not any(
                not m.paused and m.agent.status == DEV_NOT_INUSE for m in q.members.values()):
            self.varset(c2, "QUEUESTATUS", "JOINEMPTY")
            return "JOINEMPTY"
        call.queues_tried.append(qname)
        call.queue_exit_continues = not then_hangup
        call.queue_app_priority = app_priority
        for var in ("ANSWEREDTIME", "DIALEDTIME", "QUEUEWAIT"):
            self.varset(c2, var, "", level=2)
        # app_queue's insert_entry: behind every caller of the same or a higher priority
        at = next((i for i, other in enumerate(q.entries)
                   if isinstance(other, SimCall) and other.priority < call.priority),
                  len(q.entries))
        q.entries.insert(at, call)
        call.position = at + 1
        call.joined = call.t
        if call.first_joined is None:
            call.first_joined = call.t
        self.device(f"Local/{call.did}@from-pstn", "INUSE")
        self.queue_ev("QueueCallerJoin", c2, None, q,
                      f"Position: {call.position}\r\nCount: {len(q.entries)}\r\n")
        self._chan_ev("MusicOnHoldStart", c2, "Class: default\r\n")
        s = call.script
        give_up = call.first_joined + (s.hold if s.hold is not None else s.patience)
        max_wait = call.t + q.spec.maxwait
        tried: set[str] = set()
        while True:
            member = self._pick(q, tried, call)
            if member is None:
                until = min(call.t + q.spec.retry, give_up, max_wait)
                cmd = await self.wait(call, until, wakeable=True)
                if (cmd is not None and cmd[0] == "hangup") or call.t >= give_up:
                    self._abandon(call, q, None)
                    return "ABANDONED"
                if call.t >= max_wait:
                    self._queue_timeout(call, q, None)
                    return "TIMEOUT"
                continue
            result = await self._ring(call, q, member, give_up, max_wait)
            if result != "no-answer":
                return {"answered": "ANSWERED", "abandoned": "ABANDONED"}.get(result, "TIMEOUT")
            if ring_once:
                self._queue_timeout(call, q, None)
                return "TIMEOUT"
            tried.add(member.agent.interface)
            until = min(call.t + q.spec.retry, give_up, max_wait)
            cmd = await self.wait(call, until)
            while cmd is not None and cmd[0] not in ("hangup",):
                cmd = await self.wait(call, until)  # transfers mean nothing while queued
            if (cmd is not None and cmd[0] == "hangup") or call.t >= give_up:
                self._abandon(call, q, None)
                return "ABANDONED"
            if call.t >= max_wait:
                self._queue_timeout(call, q, None)
                return "TIMEOUT"

    def _pick(self, q: Queue, tried: set[str], call: SimCall) -> Member | None:
        """The member to ring for ``call``, or None. Callers are served in queue order:
        a caller is only offered a member when fewer callers ahead of it (not already
        ringing someone) than there are free members (autofill)."""
        members = list(q.members.values())
        if not members:
            return None
        eligible = [m for m in members if not m.paused and m.agent.status == DEV_NOT_INUSE]
        if not eligible:
            return None
        ahead = 0
        for other in q.entries:
            if other is call:
                break
            if isinstance(other, SimCall) and not other.ringing:
                ahead += 1
        if ahead >= len(eligible):
            return None
        fresh = [m for m in eligible if m.agent.interface not in tried]
        if not fresh:
            tried.clear()
            fresh = eligible
        fresh_ids = {id(m) for m in fresh}
        if q.spec.strategy == "rrmemory":
            n = len(members)
            for step in range(1, n + 1):
                idx = (q.rr_last + step) % n
                if id(members[idx]) in fresh_ids:
                    q.rr_last = idx
                    return members[idx]
            return None
        best = min(m.penalty for m in fresh)
        return next(m for m in fresh if m.penalty == best)

    async def _ring(self, call: SimCall, q: Queue, m: Member, give_up: float,
                    max_wait: float) -> str:
        c2 = call.c2
        assert c2 is not None
        agent = m.agent
        exten, context = _split_local(agent.interface)
        a1, a2 = self.local_pair(exten, context, call.t, linkedid=call.linkedid, kind="agent",
                                 call=call)
        name = call.name or UNKNOWN
        self.newexten(a1, "AppQueue", "(Outgoing Line)", level=2)
        self.set_callerid(a1, call.caller, name, call.caller, name, connected=False)
        self.varset(a1, "__HOTLINE_DID", call.did, level=2)
        self.varset(a2, "__HOTLINE_DID", call.did, level=2)
        self.set_callerid(a2, call.caller, name, call.caller, name)
        self.local_bridge(a1, a2)
        a1.set(exten=call.did, conn_num=call.caller, conn_name=name)
        leg = _Leg(m, q, a1, a2, ring_start=call.t)
        call.ringing = True
        self.queue_ev("AgentCalled", c2, leg, q, "")
        self.dial_begin(c2, a1, f"{exten}@{context}/n")
        if self.agi is not None:  # deploy's [agents] dials her phone (inbound-answered.ami)
            leg.phone = self._dial_phone(a2, exten, call.t, call)
            self.newstate(a1, 5)
            self.dial_state(a2, leg.phone[0], "RINGING")
        else:  # the capture rig's [agents] played the phone itself
            self.newexten(a2, "NoOp", f"Agent {exten} phone ringing", level=2)
            self.newexten(a2, "Ringing", "", priority=2, level=2)
            self.newstate(a1, 5)
        self.agent_status(agent, DEV_INUSE)
        self.dial_state(c2, a1, "RINGING")
        spec = agent.spec
        answer_at = call.t + spec.ring_s if spec.mode == "answer" and spec.ring_s < q.spec.timeout \
            else None
        rna_at = call.t + q.spec.timeout
        first = min(t for t in (answer_at, rna_at, give_up, max_wait) if t is not None)
        cmd = await self.wait(call, first)
        call.ringing = False
        ring_ms = int((call.t - leg.ring_start) * 1000 + 0.5)
        if cmd is not None or call.t >= give_up:
            self._abandon(call, q, leg)
            call.attempts.append(Attempt(m.name, agent.interface, q.name, "abandoned", ring_ms))
            return "abandoned"
        if answer_at is not None and call.t >= answer_at:
            call.attempts.append(Attempt(m.name, agent.interface, q.name, "answered", ring_ms))
            await self._connected(call, q, leg)
            return "answered"
        if call.t >= max_wait and call.t < rna_at:
            self._queue_timeout(call, q, leg)
            call.attempts.append(Attempt(m.name, agent.interface, q.name, "timeout", ring_ms))
            return "timeout"
        self.queue_ev("AgentRingNoAnswer", c2, leg, q, f"RingTime: {ring_ms}\r\n")
        self.dial_end(c2, a1, "NOANSWER")
        self.dial_end(c2, a1, "CANCEL")
        self._drop_ringing_leg(leg, call.t, phone_first=True)
        call.attempts.append(Attempt(m.name, agent.interface, q.name, "no-answer", ring_ms))
        if call.t >= max_wait:
            self._queue_timeout(call, q, None)
            return "timeout"
        return "no-answer"

    def _drop_ringing_leg(self, leg: _Leg, at: float, phone_first: bool = False) -> None:
        """Hang up a ringing agent pair (Cause 0). The order of the two halves varies in
        the captures: ;1 first on abandon (02), ;2 first on ring-no-answer (03); with a
        phone, ;1, the Dial of the phone cancelled, then ;2 (inbound-ring-no-answer)."""
        if leg.phone is not None:
            p1, p2 = leg.phone
            self.hangup_request(leg.a2, 0)
            self.hangup(leg.a1, 0)
            self.dial_end(leg.a2, p1, "CANCEL")
            self.hangup_request(p2, 16)
            self.hangup(p1, 16)
            self.hangup_request(leg.a2, 16, soft=True)
            self.hangup(leg.a2, 0)
            self.hangup_request(p2, 16, soft=True)
            self.hangup(p2, 16)
            self.agent_status(leg.member.agent, _mode_status(leg.member.agent.spec.mode), at)
            return
        self.hangup_request(leg.a2, 0)
        self.hangup_request(leg.a2, 16, soft=True)
        first, second = (leg.a2, leg.a1) if phone_first else (leg.a1, leg.a2)
        self.hangup(first, 0)
        self.hangup(second, 0)
        self.agent_status(leg.member.agent, _mode_status(leg.member.agent.spec.mode), at)

    def _leave(self, call: SimCall, q: Queue) -> int:
        pos = q.entries.index(call) + 1 if call in q.entries else call.position
        if call in q.entries:
            q.entries.remove(call)
        assert call.c2 is not None
        self.queue_ev("QueueCallerLeave", call.c2, None, q,
                      f"Position: {pos}\r\nCount: {len(q.entries)}\r\n")
        return pos

    def _abandon(self, call: SimCall, q: Queue, leg: _Leg | None) -> None:
        """The caller hangs up while waiting (02): Abandon + Leave on the caller channel."""
        c1, c2 = call.c1, call.c2
        assert c1 is not None and c2 is not None and call.joined is not None
        self.hangup_request(c1, 16, soft=True)
        self.hangup_request(c2, 16)
        self.hangup(c1, 16)
        self._chan_ev("MusicOnHoldStop", c2)
        if leg is not None:
            self.dial_end(c2, leg.a1, "CANCEL")
            self.dial_end(c2, leg.a1, "CANCEL")
            self._drop_ringing_leg(leg, call.t)
        hold = _secs(call.t - call.joined)
        pos = q.entries.index(call) + 1 if call in q.entries else call.position
        self.queue_ev("QueueCallerAbandon", c2, None, q,
                      f"Position: {pos}\r\nOriginalPosition: {call.position}\r\n"
                      f"HoldTime: {hold}\r\n")
        self._leave(call, q)
        q.abandoned += 1
        self.hangup_request(c2, 16, soft=True)
        self.hangup(c2, 16)
        call.outcome, call.wait_s, call.hangup_by = "abandoned", hold, "caller"

    def _queue_timeout(self, call: SimCall, q: Queue, leg: _Leg | None) -> None:
        """The Queue() timeout expires: the caller leaves the queue, the dialplan hangs up."""
        c1, c2 = call.c1, call.c2
        assert c1 is not None and c2 is not None and call.joined is not None
        if leg is not None:
            self.dial_end(c2, leg.a1, "CANCEL")
            self._drop_ringing_leg(leg, call.t)
        self._chan_ev("MusicOnHoldStop", c2)
        self._leave(call, q)
        self.varset(c2, "QUEUESTATUS", "TIMEOUT")
        call.wait_s = _secs(call.t - call.joined)
        if call.queue_exit_continues:
            return  # the dialplan goes on (the preferred agent's queue, then the main one)
        after = call.queue_app_priority  # the dialplan's NoOp and Hangup after Queue()
        self.newexten(c2, "NoOp", "Queue finished: QUEUESTATUS=TIMEOUT", priority=after + 1,
                      level=2)
        self.newexten(c2, "Hangup", "", priority=after + 2, level=1)
        self.hangup_request(c2, 16, soft=True)
        self.hangup_request(c1, 16)
        self.hangup(c2, 16)
        self.hangup_request(c1, 16, soft=True)
        self.hangup(c1, 16)
        call.outcome, call.hangup_by = "timeout", "system"

    # ------------------------------------------------------------ connected
    async def _connected(self, call: SimCall, q: Queue, leg: _Leg) -> None:
        c2 = call.c2
        assert c2 is not None and call.joined is not None
        a1, a2, m = leg.a1, leg.a2, leg.member
        if leg.phone is not None:
            leg.phone_bridge = self._phone_answers(a2, *leg.phone)
        else:
            self.newexten(a2, "Answer", "", priority=5, level=2)
            self.newstate(a2, 6)
        self.newstate(a1, 6)
        self.dial_end(c2, a1, "ANSWER")
        self._chan_ev("MusicOnHoldStop", c2)
        for var, value in (("MEMBERINTERFACE", m.agent.interface), ("MEMBERNAME", m.name)):
            self.varset(c2, var, value, level=2)
            self.varset(a1, var, value, level=2)
        self._leave(call, q)
        hold = _secs(call.t - call.joined)
        ring = _secs(call.t - leg.ring_start)
        leg.hold = hold
        self.varset(c2, "QUEUEWAIT", str(hold), level=2)  # app_queue: the hold, at the connect
        self.queue_ev("AgentConnect", c2, leg, q, f"HoldTime: {hold}\r\nRingTime: {ring}\r\n")
        b = self.bridge_create()
        leg.bridge = b
        self.bridge_enter(b, a1)
        if leg.phone_bridge is not None:
            self.bridge_enter(leg.phone_bridge, a2)
        self.bridge_enter(b, c2)
        self.varset(a1, "BRIDGEPEER", c2.name, level=2)
        self.varset(c2, "BRIDGEPEER", a1.name, level=2)
        m.agent.in_call = True
        leg.talk_start = call.t
        call.outcome = "answered"
        call.agent, call.agent_interface = m.name, m.agent.interface
        call.wait_s, call.ring_s = hold, ring
        if hold <= q.spec.servicelevel:
            q.within_sl += 1
        await self._talk(call, q, leg)

    async def _talk(self, call: SimCall, q: Queue, leg: _Leg) -> None:
        s = call.script
        spec = leg.member.agent.spec
        start = call.t
        # the agent a scripted transfer reached talks as the plan's target does, and the
        # script's transfer is made once, by the first agent
        talk = s.talk if s.transfer is None or not call.transfers else s.transfer.target_talk_s
        caller_end = (call.joined or start) + s.hold if s.hold is not None else (
            start + talk if s.hangup_by != "agent" else None)
        agent_end = start + spec.talk_s if spec.talk_s is not None else (
            start + talk if s.hangup_by == "agent" else None)
        transfer_at = start + s.transfer.after if s.transfer is not None and not (
            call.transfers) else None
        while True:
            first = min(t for t in (caller_end, agent_end, transfer_at, start + 86400)
                        if t is not None)
            cmd = await self.wait(call, first)
            if cmd is None:
                if transfer_at is not None and call.t >= transfer_at and s.transfer is not None:
                    cmd = (s.transfer.kind, s.transfer.target, s.transfer.context, "script")
                elif caller_end is not None and call.t >= caller_end:
                    cmd = ("hangup", "caller")
                else:
                    cmd = ("hangup", "agent")
            kind = cmd[0]
            if kind == "hangup":
                if cmd[1] == "agent":
                    self._agent_hangs_up(call, q, leg)
                elif cmd[1] == "agent-leg":
                    self._agent_leg_hung_up(call, q, leg)
                else:
                    self._caller_hangs_up(call, q, leg)
                return
            plan = s.transfer or TransferPlan()
            target = cmd[1] if len(cmd) > 1 else plan.target
            context = cmd[2] if len(cmd) > 2 else plan.context
            if kind == "blind":
                await self._blind_transfer(call, q, leg, target, context, plan)
                return
            if kind == "redirect":
                await self._redirect(call, q, leg, target, context, plan)
                return
            if kind == "atxfer":
                await self._attended_transfer(call, q, leg, target, context, plan)
                return
            if kind == "attended":
                await self._attended_transfer(call, q, leg, target, context, plan)
                return

    def _complete(self, call: SimCall, q: Queue, leg: _Leg, reason: str, *,
                  dest: bool = True) -> None:
        assert call.c2 is not None
        talk = _secs(call.t - leg.talk_start)
        self.queue_ev("AgentComplete", call.c2, leg, q,
                      f"HoldTime: {leg.hold}\r\nTalkTime: {talk}\r\nReason: {reason}\r\n",
                      dest=dest)
        q.completed += 1
        q.holdtime_total += leg.hold
        q.talktime_total += talk
        call.talk_s = talk

    def _agent_free(self, leg: _Leg, at: float) -> None:
        agent = leg.member.agent
        agent.in_call = False
        agent.calls_taken += 1
        agent.last_call = int(at)
        self.agent_status(agent, _mode_status(agent.spec.mode), at)

    # ------------------------------------------------------- the agent's phone
    def _dial_phone(self, a2: Chan, exten: str, t: float,
                    call: SimCall | None) -> tuple[Chan, Chan]:
        """deploy's [agents] on ``a2``: Dial(<phone>,,tT); the phone rings (Newchannel
        pair, DialBegin from ``a2``, its ;1 Ringing), as in the real captures."""
        dialstring = f"Local/{exten}@{PHONE_CONTEXT}/n"
        self.newexten(a2, "Dial", f"{dialstring},,tT", level=1)
        p1, p2 = self.local_pair(exten, PHONE_CONTEXT, t, linkedid=a2.linkedid, kind="phone",
                                 call=call)
        self.set_callerid(p1, a2.cid_num, a2.cid_name, a2.cid_num, a2.cid_name,
                          connected=False)
        self.set_callerid(p2, a2.cid_num, a2.cid_name, a2.cid_num, a2.cid_name)
        self.local_bridge(p1, p2)
        self.dial_begin(a2, p1, dialstring)
        self.newstate(p1, 5)
        return p1, p2

    def _phone_answers(self, a2: Chan, p1: Chan, p2: Chan) -> Bridge:
        """She picks up: the phone's DialEnd ANSWER from ``a2`` (never the customer
        answering), ``a2`` up, and a bridge for the two (``a2`` enters it later)."""
        self.newstate(p2, 6, priority=6)
        self.newstate(p1, 6)
        self.dial_end(a2, p1, "ANSWER")
        self.newstate(a2, 6)
        b = self.bridge_create()
        self.bridge_enter(b, p1)
        return b

    def _end_agent_half(self, leg: _Leg) -> None:
        """``a2`` goes after ``a1`` hung up (its HangupRequest already queued); with a
        phone, it leaves the phone's bridge first and the phone follows it
        (inbound-answered.ami: caller hangs up)."""
        pb = leg.phone_bridge
        if pb is not None:
            self.bridge_leave(pb, leg.a2)
        self.hangup_request(leg.a2, 16, soft=True)
        self.hangup(leg.a2, 16)
        if leg.phone is not None:
            self._phone_follows(*leg.phone, pb)

    def _phone_follows(self, p1: Chan, p2: Chan, pb: Bridge | None) -> None:
        if pb is not None:
            self.bridge_leave(pb, p1)
            self.bridge_destroy(pb)
        self.hangup_request(p2, 16)
        self.hangup(p1, 16)
        self.hangup_request(p2, 16, soft=True)
        self.hangup(p2, 16)

    def _agent_side_hangs_up(self, leg: _Leg, *, announce: bool = True) -> None:
        """The agent hangs up: up to ``a1``'s HangupRequest (``a2``'s Hangup is the
        caller's to emit). The rig's [agents] hung up ``a2`` itself; a phone hangs up
        first and ``a2`` follows (transfer-attended-agent.ami)."""
        if leg.phone is None or leg.phone_bridge is None:
            if announce:
                self.newexten(leg.a2, "Hangup", "", priority=9, level=2)
            self.hangup_request(leg.a2, 16, soft=True)
            self.hangup_request(leg.a1, 16)
            return
        p1, p2 = leg.phone
        pb = leg.phone_bridge
        self.hangup_request(p2, 16, soft=True)
        self.hangup_request(p1, 16)
        self.hangup(p2, 16)
        self.bridge_leave(pb, p1)
        self.bridge_leave(pb, leg.a2)
        self.hangup_request(leg.a2, 16, soft=True)
        self.bridge_destroy(pb)
        self.hangup(p1, 16)
        self.hangup_request(leg.a1, 16)

    def _caller_hangs_up(self, call: SimCall, q: Queue, leg: _Leg) -> None:
        """01: the caller's ;1 hangs up first, AgentComplete Reason=caller."""
        c1, c2 = call.c1, call.c2
        assert c1 is not None and c2 is not None and leg.bridge is not None
        self.newexten(c1, "Hangup", "", priority=5, level=2)
        self.hangup_request(c1, 16, soft=True)
        self.hangup_request(c2, 16)
        self._complete(call, q, leg, "caller")
        self.varset(c2, "BRIDGEPEER", "", level=2)
        self.hangup(c1, 16)
        self.bridge_leave(leg.bridge, c2)
        self.hangup_request(c2, 16, soft=True)
        self.hangup(c2, 16)
        self.bridge_leave(leg.bridge, leg.a1)
        self.bridge_destroy(leg.bridge)
        self.hangup_request(leg.a2, 16)
        self.hangup(leg.a1, 16)
        self._end_agent_half(leg)
        self._agent_free(leg, call.t)
        call.hangup_by = "caller"

    def _agent_hangs_up(self, call: SimCall, q: Queue, leg: _Leg) -> None:
        """03: the agent phone (;2 of the agent pair) hangs up, Reason=agent."""
        c1, c2 = call.c1, call.c2
        assert c1 is not None and c2 is not None and leg.bridge is not None
        self._agent_side_hangs_up(leg)
        self._complete(call, q, leg, "agent")
        self.hangup(leg.a2, 16)
        self._agent_free(leg, call.t)
        self.bridge_leave(leg.bridge, leg.a1)
        self.bridge_leave(leg.bridge, c2)
        self.hangup(leg.a1, 16)
        self.bridge_destroy(leg.bridge)
        self.hangup_request(c2, 16, soft=True)
        self.hangup_request(c1, 16)
        self.hangup(c2, 16)
        self.hangup_request(c1, 16, soft=True)
        self.hangup(c1, 16)
        call.hangup_by = "agent"

    def _agent_leg_hung_up(self, call: SimCall, q: Queue, leg: _Leg) -> None:
        """AMI Hangup of the agent leg in the bridge (;1, the console's hang-up). Asterisk
        publishes no HangupRequest for a channel hung up by AMI (manager.c action_hangup:
        ast_channel_softhangup_withcause_locked), and app_queue's AgentComplete Reason is
        the first HangupRequest of caller or member (app_queue.c handle_hangup): here the
        caller's APPUNLOAD soft hangup once Queue() returns, so Reason=caller, though the
        agent's leg left the bridge first."""
        c1, c2 = call.c1, call.c2
        assert c1 is not None and c2 is not None and leg.bridge is not None
        self.bridge_leave(leg.bridge, leg.a1)
        self.hangup_request(leg.a2, 16)  # core_unreal: ;1 hanging up queues it on ;2
        self.bridge_leave(leg.bridge, c2)
        self.bridge_destroy(leg.bridge)
        self.hangup(leg.a1, 16)
        self._end_agent_half(leg)
        self._agent_free(leg, call.t)
        self.hangup_request(c2, 16, soft=True)  # Queue() returned: the dialplan ends
        self._complete(call, q, leg, "caller")
        self.hangup_request(c1, 16)
        self.hangup(c2, 16)
        self.hangup_request(c1, 16, soft=True)
        self.hangup(c1, 16)
        call.hangup_by = "agent"

    # --------------------------------------------------------------- transfers
    async def _blind_transfer(self, call: SimCall, q: Queue, leg: _Leg, target: str,
                              context: str, plan: TransferPlan) -> None:
        """05: BlindTransfer of the agent leg; the caller runs ``context,target``."""
        c2 = call.c2
        assert c2 is not None and leg.bridge is not None
        b = leg.bridge
        self._chan_ev("Unhold", leg.a1)
        self.ev("BlindTransfer", "call", "Result: Success\r\n" + leg.a1.snap("Transferer")
                + c2.snap("Transferee") + b.text() + "IsExternal: Yes\r\n"
                + f"Context: {context}\r\nExtension: {target}\r\n")
        self.cel(leg.a1, "BLINDTRANSFER")
        self._complete(call, q, leg, "transfer")
        call.transfers.append(("blind", target))
        c2.set(context=context, exten=target, priority=1)
        self.bridge_leave(b, c2)
        to_agent = self._via_personal_queue(target, context)
        if not to_agent:
            self.newexten(c2, "NoOp", f"Transfer target {target}", level=2)
            d1, d2 = self._dial_desk(call, target, context)
        self.bridge_leave(b, leg.a1)
        self.bridge_destroy(b)
        self.hangup_request(leg.a2, 16)
        self.hangup(leg.a1, 16)
        self._agent_free(leg, call.t)
        self._end_agent_half(leg)
        call.outcome, call.hangup_by = "transferred", "transfer"
        if to_agent:
            await self._internal(call, target)
        else:
            await self._desk_call(call, d1, d2, plan)

    def _via_personal_queue(self, target: str, context: str) -> bool:
        """Whether a transfer to ``target@context`` runs deploy's [internal] (the agent's
        personal queue, else back to the caller's queue): always with the hotline dialplan
        (``agi``); with the capture rig's, only for an agent's extension (any other one is
        one of the rig's desk phones, as recorded in 05/05b/06)."""
        if context != "internal":
            return False
        return self.agi is not None or personal_queue(target) in self.queues

    async def _internal(self, call: SimCall, target: str) -> None:
        """deploy/asterisk/extensions.conf [internal], run by the transferred caller's own
        channel: Queue() on the agent's personal queue (AgentCalled pops her console, her
        member goes in use); refused (not signed in, busy, paused: JOINEMPTY) or not
        answered (TIMEOUT), back to the hotline queue the caller came from."""
        c2 = call.c2
        assert c2 is not None
        personal = personal_queue(target) or "agent-"
        exists = personal in self.queues
        self.newexten(c2, "Set", f"TARGET={personal}", priority=1, level=2)
        self.varset(c2, "TARGET", personal, level=2)
        self.newexten(c2, "GotoIf", f"{int(not exists)}?refused", priority=2, level=2)
        status = "UNKNOWN"
        if exists:
            call.first_joined = None  # a new Queue(): the caller's patience starts again
            status = await self._queue_call(call, personal, app_priority=3, ring_once=True,
                                            then_hangup=False, appdata=f"{personal},tn,,,20")
            if status not in ("TIMEOUT", "JOINEMPTY"):
                return
        back = self._hotline_queue(call)
        self.newexten(c2, "NoOp", f"Transfer to {personal}: {status}; back to {back}",
                      priority=4, level=2)
        self.newexten(c2, "GotoIf", "0?done", priority=5, level=2)  # not an Atxfer consult
        self._dp_set(call, 6, "QUEUE", back)
        self.newexten(c2, "ExecIf", "0?Set(QUEUE=support)", priority=7, level=2)
        self.newexten(c2, "Goto", f"hotline-queues,{back},1", priority=8, level=2)
        c2.set(context="hotline-queues", exten=back)
        self.newexten(c2, "Set", f"QUEUE={back}", priority=1, level=2)
        self.newexten(c2, "GotoIf", f"{int(back not in self.queues)}?gone", priority=2,
                      level=2)
        if back not in self.queues:
            self.newexten(c2, "Hangup", "", priority=4, level=1)
            self._channel_hangs_up_first(call)
            return
        call.first_joined = None
        wait = self.queues[back].spec.maxwait
        await self._queue_call(call, back, app_priority=3, appdata=f"{back},tT,,,{wait:g}")

    def _hotline_queue(self, call: SimCall) -> str:
        """The caller's QUEUE (the hotline queue it was in; never a personal queue), else
        HOTLINE_DEFAULT_QUEUE (support), as [internal] works it out."""
        queue = _queue_name(call.dialplan_vars.get("QUEUE", ""))
        if not queue and call.queues_tried:
            queue = next((q for q in call.queues_tried if not is_personal(q)), "")
        return queue or self.queue_defaults.default

    def _dial_desk(self, call: SimCall, target: str, context: str,
                   src: Chan | None = None) -> tuple[Chan, Chan]:
        c2 = src or call.c2
        assert c2 is not None
        c2.set(priority=2)
        self.newexten(c2, "Dial", f"Local/{target}@desks/n,20", level=2)
        d1, d2 = self.local_pair(target, "desks", call.t, linkedid=call.linkedid, kind="desk",
                                 call=call)
        self.set_callerid(d1, c2.cid_num, c2.cid_name, c2.cid_num, c2.cid_name, connected=False)
        self.set_callerid(d2, c2.cid_num, c2.cid_name, c2.cid_num, c2.cid_name)
        self.local_bridge(d1, d2)
        self.dial_begin(c2, d1, f"Local/{target}@desks/n")
        self.newstate(d1, 5)
        return d1, d2

    async def _desk_call(self, call: SimCall, d1: Chan, d2: Chan, plan: TransferPlan,
                         src: Chan | None = None) -> Bridge:
        """The desk phone rings, answers and, after talking, hangs up; the caller follows."""
        c2 = src or call.c2
        assert c2 is not None
        await self.wait(call, call.t + plan.target_ring_s)
        self.dial_state(c2, d1, "RINGING")
        self.newstate(d2, 6, priority=4)
        self.newstate(d1, 6)
        self.dial_end(c2, d1, "ANSWER")
        if src is not None and src.peer is not None:
            # the attended transfer's consult pair (06): the ;1 half answers its originator
            self.newstate(src, 6)
            b = self.bridge_create()
            self.newstate(src.peer, 6)
            self.dial_end(None, src.peer, "ANSWER")
            self.bridge_enter(b, d1)
            self.bridge_enter(b, c2)
            return b
        b = self.bridge_create()
        self.bridge_enter(b, d1)
        self.bridge_enter(b, c2)
        await self.wait(call, call.t + plan.target_talk_s)
        self._desk_hangs_up(call, d1, d2, b)
        return b

    def _desk_hangs_up(self, call: SimCall, d1: Chan, d2: Chan, b: Bridge) -> None:
        c1, c2 = call.c1, call.c2
        assert c1 is not None and c2 is not None
        self.hangup_request(d2, 16, soft=True)
        self.hangup_request(d1, 16)
        self.hangup(d2, 16)
        self.bridge_leave(b, d1)
        self.bridge_leave(b, c2)
        self.hangup_request(c2, 16, soft=True)
        self.hangup_request(c1, 16)
        self.hangup(c2, 16)
        self.bridge_destroy(b)
        self.hangup(d1, 16)
        self.hangup_request(c1, 16, soft=True)
        self.hangup(c1, 16)

    async def _redirect(self, call: SimCall, q: Queue, leg: _Leg, target: str, context: str,
                        plan: TransferPlan) -> None:
        """05b: Redirect of the caller channel: no transfer event, the agent leg is hung
        up, and AgentComplete (Reason=caller, no Dest*) only comes when the caller leaves."""
        c1, c2 = call.c1, call.c2
        assert c1 is not None and c2 is not None and leg.bridge is not None
        b = leg.bridge
        c2.set(context=context, exten=target, priority=1)
        self.bridge_leave(b, c2)
        self.bridge_leave(b, leg.a1)
        self.hangup_request(leg.a2, 16)
        self.hangup(leg.a1, 16)
        self._agent_free(leg, call.t)
        self._end_agent_half(leg)
        self.bridge_destroy(b)
        call.transfers.append(("redirect", target))
        if self._via_personal_queue(target, context):
            await self._internal(call, target)
            # no transfer event: the first queue's AgentComplete only when the caller left
            self._complete(call, q, leg, "caller", dest=False)
            return
        self.newexten(c2, "NoOp", f"Transfer target {target}", level=2)
        d1, d2 = self._dial_desk(call, target, context)
        await self.wait(call, call.t + plan.target_ring_s)
        self.dial_state(c2, d1, "RINGING")
        self.newstate(d2, 6, priority=4)
        self.newstate(d1, 6)
        self.dial_end(c2, d1, "ANSWER")
        b2 = self.bridge_create()
        self.bridge_enter(b2, d1)
        self.bridge_enter(b2, c2)
        await self.wait(call, call.t + plan.target_talk_s)
        self.hangup_request(d2, 16, soft=True)
        self.hangup_request(d1, 16)
        self.hangup(d2, 16)
        self.bridge_leave(b2, d1)
        self.bridge_leave(b2, c2)
        self.hangup_request(c2, 16, soft=True)
        self.hangup_request(c1, 16)
        self.hangup(c2, 16)
        self._complete(call, q, leg, "caller", dest=False)
        self.hangup_request(c1, 16, soft=True)
        self.hangup(c1, 16)
        self.bridge_destroy(b2)
        self.hangup(d1, 16)
        call.hangup_by = "caller"

    async def _attended_transfer(self, call: SimCall, q: Queue, leg: _Leg, target: str,
                                 context: str, plan: TransferPlan) -> None:
        """06: Atxfer: DTMF on the agent leg, hold, consult a desk, the agent hangs up
        -> AttendedTransfer, AgentComplete Reason=transfer; the caller talks to the desk."""
        c1, c2 = call.c1, call.c2
        assert c1 is not None and c2 is not None and leg.bridge is not None
        b1, a1, a2 = leg.bridge, leg.a1, leg.a2
        # Asterisk collects the number digit by digit (ast_app_dtget): '#' ends it; without
        # one it waits transferdigittimeout for more wherever a pattern could match more -
        # every context of Hotline's dialplan (_X.), not the rig's exact extensions
        terminated = "#" in target
        target = target.split("#", 1)[0]
        digit_wait = 0.5 if terminated or self.agi is None else TRANSFER_DIGIT_TIMEOUT_S
        for i, digit in enumerate("*2" + target):
            self._chan_ev("DTMFEnd", a1, f"Digit: {digit}\r\nDurationMs: 0\r\n"
                          "Direction: Received\r\n", "dtmf")
            if i == 1:
                self._chan_ev("Hold", a1)
                self._chan_ev("MusicOnHoldStart", c2, "Class: default\r\n")
        await self.wait(call, call.t + digit_wait)
        i1, i2 = self.local_pair(target, context, call.t, linkedid=call.linkedid,
                                 kind="consult", call=call)
        self.set_callerid(i1, c2.cid_num, c2.cid_name, c2.cid_num, c2.cid_name, connected=False)
        self.set_callerid(i2, c2.cid_num, c2.cid_name, c2.cid_num, c2.cid_name)
        b2 = self.bridge_create()
        self.local_bridge(i1, i2)
        if self.agi is not None and context == "internal":
            # Hotline's [internal]: through her personal queue, never her desk
            await self._consult_agent(call, q, leg, target, plan, i1, i2, b2)
            return
        self.bridge_enter(b2, i1)
        d1, d2 = self._dial_desk(call, target, context, src=i2)
        self.bridge_leave(b1, a1)
        self.bridge_enter(b2, a1)
        self.newstate(i1, 5)
        await self._desk_call(call, d1, d2, plan, src=i2)
        desk_bridge = i2.bridge
        await self.wait(call, call.t + plan.consult_s)
        # the agent hangs up: the transfer completes
        self._agent_side_hangs_up(leg, announce=False)
        self.hangup(a2, 16)
        self._agent_free(leg, call.t)
        self.bridge_leave(b2, a1)
        if self.noise >= 1:
            self.ev("BridgeMerge", "call", b1.text("To", 1) + b2.text("From", 1))
        self.bridge_leave(b2, i1)
        self.bridge_enter(b1, i1)
        self._chan_ev("MusicOnHoldStop", c2)
        self.ev("AttendedTransfer", "call", "Result: Success\r\n" + a1.snap("OrigTransferer")
                + b1.text("Orig", 2) + a1.snap("SecondTransferer")
                + b2.text("Second", 0) + c2.snap("Transferee")
                + f"IsExternal: No\r\nDestType: Bridge\r\nDestBridgeUniqueid: {b1.id}\r\n")
        self.cel(a1, "ATTENDEDTRANSFER")
        self.bridge_destroy(b2)
        self.hangup(a1, 16)
        self._complete(call, q, leg, "transfer", dest=False)
        call.transfers.append(("attended", target))
        call.outcome, call.hangup_by = "transferred", "transfer"
        await self.wait(call, call.t + max(0.0, plan.target_talk_s - plan.consult_s))
        self.hangup_request(d2, 16, soft=True)
        self.hangup_request(d1, 16)
        self.hangup(d2, 16)
        if desk_bridge is not None:
            self.bridge_leave(desk_bridge, d1)
            self.bridge_leave(desk_bridge, i2)
        self.hangup_request(i2, 16, soft=True)
        self.hangup_request(i1, 16)
        self.hangup(i2, 16)
        self.bridge_leave(b1, i1)
        self.hangup(i1, 16)
        self.bridge_leave(b1, c2)
        self.bridge_destroy(b1)
        self.hangup_request(c2, 16, soft=True)
        self.hangup_request(c1, 16)
        self.hangup(c2, 16)
        self.hangup_request(c1, 16, soft=True)
        self.hangup(c1, 16)
        if desk_bridge is not None:
            self.bridge_destroy(desk_bridge)
        self.hangup(d1, 16)

    async def _consult_agent(self, call: SimCall, q: Queue, leg: _Leg, target: str,
                             plan: TransferPlan, i1: Chan, i2: Chan, b2: Bridge) -> None:
        """An attended transfer to an agent with Hotline's dialplan
        (transfer-attended-agent.ami): the consult channel's ;2 runs [internal],
        Queue(agent-<ext>,tn,,,20), so the queue events (AgentCalled...) are on it, with
        the call's Linkedid, and her member's ;2 dials her phone. Answered: the
        transferring agent talks to her, hangs up, and the caller is hers (Reason
        transfer for the first queue, agent for hers once she hangs up). Refused (not
        signed in, busy, paused: JOINEMPTY) or not answered: [internal] ends the consult
        call (ATTENDEDTRANSFER is set) and the transferring agent has her caller back."""
        c1, c2 = call.c1, call.c2
        assert c1 is not None and c2 is not None and leg.bridge is not None
        b1, a1 = leg.bridge, leg.a1
        personal = personal_queue(target) or "agent-"
        pq = self.queues.get(personal)
        self.newexten(i2, "Set", f"TARGET={personal}", priority=1, level=2)
        self.newexten(i2, "GotoIf", f"{int(pq is None)}?refused", priority=2, level=2)
        member = None if pq is None else next(
            (m for m in pq.members.values()
             if not m.paused and m.agent.status == DEV_NOT_INUSE), None)
        status = "JOINEMPTY"
        if pq is not None:
            self.newexten(i2, "Queue", f"{personal},tn,,,20", priority=3, level=1)
        if pq is not None and member is not None:
            consult = await self._consult_rings(call, pq, member, i1, i2, b2, b1, a1)
            if consult is not None:
                await self._consult_answered(call, q, leg, consult, plan, i1, i2, b2)
                return
            status = "TIMEOUT"
        elif pq is not None:
            self.varset(i2, "QUEUESTATUS", status)
        # [internal] (refused): NoOp, GotoIf ATTENDEDTRANSFER -> done, Hangup()
        self.newexten(i2, "NoOp", f"Transfer to {personal}: {status}; back to "
                      f"{self._hotline_queue(call)}", priority=4, level=2)
        self.newexten(i2, "Hangup", "", priority=9, level=1)
        self.hangup_request(i2, 16, soft=True)
        self.hangup_request(i1, 16)
        self.hangup(i2, 16)
        if i1 in b2.channels:
            self.bridge_leave(b2, i1)
        self.hangup(i1, 16)
        if a1 in b2.channels:  # the transferer goes back to her caller
            self.bridge_leave(b2, a1)
            self.bridge_enter(b1, a1)
        self.bridge_destroy(b2)
        self._chan_ev("MusicOnHoldStop", c2)
        self._chan_ev("Unhold", a1)
        call.transfers.append(("attended-failed", target))
        await self._talk(call, q, leg)

    async def _consult_rings(self, call: SimCall, pq: Queue, m: Member, i1: Chan, i2: Chan,
                             b2: Bridge, b1: Bridge, a1: Chan) -> _Leg | None:
        """Queue() on the consult channel rings the one member once: her leg, connected
        to the consult channel, or None (not answered: QUEUESTATUS TIMEOUT)."""
        agent = m.agent
        self.queue_ev("QueueCallerJoin", i2, None, pq, "Position: 1\r\nCount: 1\r\n")
        self._chan_ev("MusicOnHoldStart", i2, "Class: default\r\n")
        exten, context = _split_local(agent.interface)
        m1, m2 = self.local_pair(exten, context, call.t, linkedid=call.linkedid, kind="agent",
                                 call=call)
        self.set_callerid(m1, i2.cid_num, i2.cid_name, i2.cid_num, i2.cid_name, connected=False)
        self.set_callerid(m2, i2.cid_num, i2.cid_name, i2.cid_num, i2.cid_name)
        self.local_bridge(m1, m2)
        consult = _Leg(m, pq, m1, m2, ring_start=call.t)
        self.queue_ev("AgentCalled", i2, consult, pq, "")
        self.dial_begin(i2, m1, f"{exten}@{context}/n")
        self.bridge_enter(b2, i1)
        self.bridge_leave(b1, a1)
        self.bridge_enter(b2, a1)
        consult.phone = self._dial_phone(m2, exten, call.t, call)
        self.newstate(m1, 5)
        self.dial_state(m2, consult.phone[0], "RINGING")
        self.agent_status(agent, DEV_INUSE)
        self.dial_state(i2, m1, "RINGING")
        spec = agent.spec
        answers = spec.mode == "answer" and spec.ring_s < pq.spec.timeout
        await self.wait(call, call.t + (spec.ring_s if answers else pq.spec.timeout))
        ring_ms = int((call.t - consult.ring_start) * 1000 + 0.5)
        if not answers:
            self.queue_ev("AgentRingNoAnswer", i2, consult, pq, f"RingTime: {ring_ms}\r\n")
            self.dial_end(i2, m1, "NOANSWER")
            self.dial_end(i2, m1, "CANCEL")
            self._drop_ringing_leg(consult, call.t)
            self._chan_ev("MusicOnHoldStop", i2)
            self.queue_ev("QueueCallerLeave", i2, None, pq, "Position: 1\r\nCount: 0\r\n")
            self.varset(i2, "QUEUESTATUS", "TIMEOUT")
            call.attempts.append(Attempt(m.name, agent.interface, pq.name, "no-answer",
                                         ring_ms))
            return None
        consult.phone_bridge = self._phone_answers(m2, *consult.phone)
        self.bridge_enter(consult.phone_bridge, m2)
        self.newstate(m1, 6)
        self.dial_end(i2, m1, "ANSWER")
        self._chan_ev("MusicOnHoldStop", i2)
        self.queue_ev("QueueCallerLeave", i2, None, pq, "Position: 1\r\nCount: 0\r\n")
        consult.hold = _secs(ring_ms / 1000)  # she was rung as soon as it joined
        self.queue_ev("AgentConnect", i2, consult, pq,
                      f"HoldTime: {consult.hold}\r\nRingTime: {consult.hold}\r\n")
        self.newstate(i1, 6)
        self.dial_end(None, i1, "ANSWER")
        self.newstate(i2, 6)
        consult.bridge = self.bridge_create()
        self.bridge_enter(consult.bridge, m1)
        self.bridge_enter(consult.bridge, i2)
        m.agent.in_call = True
        consult.talk_start = call.t
        call.attempts.append(Attempt(m.name, agent.interface, pq.name, "answered", ring_ms))
        return consult

    async def _consult_answered(self, call: SimCall, q: Queue, leg: _Leg, consult: _Leg,
                                plan: TransferPlan, i1: Chan, i2: Chan, b2: Bridge) -> None:
        c1, c2 = call.c1, call.c2
        assert c1 is not None and c2 is not None and leg.bridge is not None
        pq = consult.queue
        b1, a1 = leg.bridge, leg.a1
        await self.wait(call, call.t + plan.consult_s)
        # the transferring agent hangs up: the transfer completes
        self._agent_side_hangs_up(leg, announce=False)
        self.hangup(leg.a2, 16)
        self._agent_free(leg, call.t)
        self.bridge_leave(b2, a1)
        if self.noise >= 1:
            self.ev("BridgeMerge", "call", b1.text("To", 1) + b2.text("From", 1))
        self.bridge_leave(b2, i1)
        self._chan_ev("MusicOnHoldStop", c2)
        self.bridge_enter(b1, i1)
        self.ev("AttendedTransfer", "call", "Result: Success\r\n" + a1.snap("OrigTransferer")
                + b1.text("Orig", 2) + a1.snap("SecondTransferer")
                + b2.text("Second", 0) + c2.snap("Transferee")
                + f"IsExternal: No\r\nDestType: Bridge\r\nDestBridgeUniqueid: {b1.id}\r\n")
        self.cel(a1, "ATTENDEDTRANSFER")
        self._complete(call, q, leg, "transfer")
        self.bridge_destroy(b2)
        self.hangup(a1, 16)
        call.transfers.append(("attended", i1.exten))
        call.outcome, call.hangup_by = "transferred", "transfer"
        # she talks to the caller, then hangs up her phone
        await self.wait(call, call.t + max(0.0, plan.target_talk_s - plan.consult_s))
        assert consult.bridge is not None
        self._agent_side_hangs_up(consult)
        self.hangup(consult.a2, 16)
        self.bridge_leave(consult.bridge, consult.a1)
        self.hangup(consult.a1, 16)
        self.bridge_leave(consult.bridge, i2)
        self.hangup_request(i2, 16, soft=True)
        self.hangup_request(i1, 16)
        self.hangup(i2, 16)
        talk = _secs(call.t - consult.talk_start)
        # both channels are gone: AgentComplete names neither (as captured)
        self.ev("AgentComplete", "agent",
                f"Queue: {pq.name}\r\nInterface: {consult.member.agent.interface}\r\n"
                f"MemberName: {consult.member.name}\r\nHoldTime: {consult.hold}\r\n"
                f"TalkTime: {talk}\r\nReason: agent\r\n")
        self._agent_free(consult, call.t)
        self.bridge_destroy(consult.bridge)
        self.bridge_leave(b1, i1)
        self.hangup(i1, 16)
        self.bridge_leave(b1, c2)
        self.bridge_destroy(b1)
        self.hangup_request(c2, 16, soft=True)
        self.hangup_request(c1, 16)
        self.hangup_request(c1, 16, soft=True)
        self.hangup(c1, 16)
        self.hangup(c2, 16)

    # --------------------------------------------------------- agent control
    def find_agent(self, name_or_interface: str) -> Agent | None:
        if name_or_interface in self.agents:
            return self.agents[name_or_interface]
        for agent in self.agents.values():
            if agent.spec.name == name_or_interface or agent.state_interface == name_or_interface:
                return agent
        return None

    def set_customer(self, number: str, **behaviour: Any) -> None:
        """How an outside number answers the hotline's calls (mode, ring_s, talk_s; see
        CustomerSpec). ``number`` as dialled (digits)."""
        self.customers[number] = CustomerSpec(**behaviour)

    def set_agent(self, name_or_interface: str, **behaviour: Any) -> None:
        """Change an agent's behaviour (mode, ring_s, talk_s); paused=True/False, reason=..."""
        agent = self.find_agent(name_or_interface)
        if agent is None:
            raise KeyError(f"no such agent: {name_or_interface}")
        paused = behaviour.pop("paused", None)
        reason = str(behaviour.pop("reason", ""))
        for key, value in behaviour.items():
            if not hasattr(agent.spec, key):
                raise TypeError(f"unknown agent behaviour: {key}")
            setattr(agent.spec, key, value)
        if not agent.in_call and agent.status in (DEV_NOT_INUSE, DEV_BUSY, DEV_UNAVAILABLE):
            self.agent_status(agent, _mode_status(agent.spec.mode))
        if paused is not None:
            self.pause(agent.interface, None, bool(paused), reason)

    def pause(self, interface: str, queue: str | None, paused: bool, reason: str) -> bool:
        """QueuePause: one QueueMemberPause per queue (all queues when ``queue`` is None)."""
        found = False
        for q in self.queues.values():
            if queue and q.name != queue:
                continue
            m = q.members.get(interface)
            if m is None:
                continue
            found = True
            m.paused = paused
            m.reason = clean(reason) if paused else ""
            m.last_pause = int(self.now()) if paused else m.last_pause
            self.member_event("QueueMemberPause", m, q.name)
        return found

    def queue_add(self, queue: str, interface: str, name: str, penalty: int,
                  state_interface: str, paused: bool) -> str | None:
        q = self.queues.get(queue)
        if q is None:
            return "Unable to add interface to queue: No such queue"
        if interface in q.members:
            return "Unable to add interface: Already there"
        agent = self.agents.get(interface)
        if agent is None:
            spec = AgentSpec(interface, name or interface, (queue,))
            agent = Agent(spec)
            self.agents[interface] = agent
        m = Member(agent, name or agent.spec.name, penalty=penalty, dynamic=True,
                   paused=paused, login_time=int(self.now()),
                   state_interface=state_interface or agent.state_interface)
        q.members[interface] = m
        self.member_event("QueueMemberAdded", m, q.name)
        return None

    def sign_in(self, name_or_interface: str) -> list[str]:
        """What Hotline's sign-in does at the PBX (agent_console.pbx_actions.sign_in):
        QueueAdd to each of the agent's queues (her AgentSpec.queues), then to her
        personal queue LAST; already a member is fine. Returns the queues she joined."""
        agent = self.find_agent(name_or_interface)
        if agent is None:
            raise KeyError(f"no such agent: {name_or_interface}")
        personal = personal_queue(agent.interface)
        joined: list[str] = []
        for queue in [*(q for q in agent.spec.queues if q != personal), personal]:
            if queue is None or queue not in self.queues:
                continue
            if self.queue_add(queue, agent.interface, agent.spec.name, agent.spec.penalty, "",
                              False) is None:
                joined.append(queue)
        return joined

    def queue_remove(self, queue: str, interface: str) -> str | None:
        """QueueRemove, answered as app_queue.c's manager_remove_queue_member: a static
        member (from the configuration) stays, "Member not dynamic"."""
        q = self.queues.get(queue)
        if q is None:
            return "Unable to remove interface from queue: No such queue"
        m = q.members.get(interface)
        if m is None:
            return "Unable to remove interface: Not there"
        if not m.dynamic:
            return "Member not dynamic"
        del q.members[interface]
        self.member_event("QueueMemberRemoved", m, q.name)
        return None

    def queue_penalty(self, interface: str, penalty: int, queue: str | None) -> bool:
        found = False
        for q in self.queues.values():
            if queue and q.name != queue:
                continue
            m = q.members.get(interface)
            if m is not None:
                found = True
                m.penalty = penalty
                self.member_event("QueueMemberPenalty", m, q.name)
        return found

    # ---------------------------------------------------------- call control
    def channel_call(self, name: str) -> tuple[Chan, SimCall | None] | None:
        c = self.channels.get(name)
        if c is None:
            return None
        call = c.call if isinstance(c.call, SimCall) else None
        return c, call

    def hangup_channel(self, name: str, cause: int = 16) -> bool:
        """AMI Hangup: returns False when the channel does not exist."""
        found = self.channel_call(name)
        if found is None:
            return False
        c, call = found
        if c.kind.startswith("spy"):
            return True  # like Asterisk 22 with Local channels: the spy lingers (README)
        if call is not None:
            # the agent leg's ;1 is in the queue bridge (the console hangs up that one);
            # its ;2 dials the agent's phone (or, in the capture rig, stands for it):
            # hanging either up is the agent hanging up; an outbound call's customer
            # leg (pstn-out) is the customer's
            who = {"agent1": "agent-leg", "agent2": "agent", "c2d1": "agent-leg",
                   "c2d2": "agent"}.get(c.kind) or (
                "agent" if c.kind.startswith(("agent", "phone")) else
                "customer" if c.kind.startswith("pstn") else "caller")
            call.command("hangup", who, str(cause))
            return True
        if c.peer is not None:
            self.hangup(c.peer, cause)
        self.hangup(c, cause)
        return True

    # -------------------------------------------------------------- originate
    async def originate(self, f: dict[str, str], action_id: str | None,
                        is_async: bool) -> tuple[bool, str]:
        """Run an Originate; for Async the OriginateResponse event is emitted here.
        Returns (success, reason) for the synchronous response."""
        self.bind_loop()
        channel = f.get("Channel", "")
        context = f.get("Context", "")
        exten = f.get("Exten", "")
        num, name = _parse_callerid(f.get("CallerID", ""))
        variables = _variables(f.get("Variable", ""))
        if not channel.startswith("Local/") or "@" not in channel:
            if is_async:
                self.originate_response(action_id, "Failure", channel, context, exten, "0",
                                        UNKNOWN, num or UNKNOWN, name or UNKNOWN)
            return False, "0"
        lexten, lcontext = _split_local(channel)
        if lcontext == "from-pstn" and lexten in self.hotline_numbers:
            self.place_call(caller=num or "anonymous", name=name, did=lexten,
                                   script=_script_from_vars(variables),
                                   action_id=action_id if is_async else None,
                                   variables=variables)
            return True, "4"  # the hotline answers at once: the call is up
        if lcontext == "agents":
            return await self._click_to_dial(channel, lexten, context, exten, num, name,
                                             action_id if is_async else None,
                                             float(f.get("Timeout", "30000") or 30000) / 1000,
                                             _channel_ids(f), variables)
        if lcontext == "supervisor":
            return self._spy(channel, lexten, exten, num, name, variables,
                             action_id if is_async else None)
        t = self.now()
        c1, c2 = self.local_pair(lexten, lcontext, t, kind="bad")
        self.hangup(c2, 0)
        self.hangup(c1, 0)
        if is_async:
            self.originate_response(action_id, "Failure", channel, context, exten, "0", UNKNOWN,
                                    UNKNOWN, UNKNOWN)
        return False, "0"

    async def _click_to_dial(self, channel: str, ext: str, context: str, exten: str,
                             num: str, name: str, action_id: str | None,
                             ring_timeout: float, ids: tuple[str, str] | None = None,
                             variables: dict[str, str] | None = None,
                             ) -> tuple[bool, str]:
        """07/07b: ring the agent; on answer dial the customer on pstn-out. The
        Originate's variables are set on both halves of the agent's Local pair before
        their caller id, as in capture 07 (at every noise level: the call tracker reads
        HOTLINE_ORIGINATED_BY / HOTLINE_DIALLED from them). Hotline's dialplan: the
        pair's ;2 dials her phone first (``_outbound_via_phone``)."""
        if self.agi is not None:
            return await self._outbound_via_phone(channel, ext, context, exten, num, name,
                                                  action_id, ring_timeout, ids, variables)
        agent = self.agents.get(channel) or self.find_agent(f"Local/{ext}@agents/n")
        t = self.now()
        a1, a2 = self.local_pair(ext, "agents", t, kind="c2d", ids=ids)
        for var, value in (variables or {}).items():
            self.varset(a1, var, value, level=0)
        self.set_callerid(a1, num or UNKNOWN, name or UNKNOWN, num or UNKNOWN, name or UNKNOWN,
                          connected=False)
        for var, value in (variables or {}).items():
            self.varset(a2, var, value, level=0)
        self.set_callerid(a2, num or UNKNOWN, name or UNKNOWN, num or UNKNOWN, name or UNKNOWN)
        self.dial_begin(None, a1, f"{ext}@agents/n")
        if agent is not None:
            self.agent_status(agent, DEV_INUSE)
        answers = agent is None or agent.spec.mode == "answer"
        ring = agent.spec.ring_s if agent is not None else 1.0
        probe = SimCall(num, name, exten, CallScript(), asyncio.get_running_loop().create_future())
        probe.t = t
        if not answers or ring >= ring_timeout:
            await self.wait(probe, t + ring_timeout)
            self.hangup(a1, 19)
            if action_id is not None:
                self.originate_response(action_id, "Failure", channel, context, exten, "3",
                                        UNKNOWN, num or UNKNOWN, name or UNKNOWN)
            self.hangup(a2, 19)
            if agent is not None:
                self.agent_status(agent, _mode_status(agent.spec.mode))
            self.release(probe)
            return False, "3"
        await self.wait(probe, t + ring)
        self.newstate(a2, 6)
        self.newstate(a1, 6)
        if action_id is not None:
            self.originate_response(action_id, "Success", a1, context, exten, "4", a1.uniqueid,
                                    num or UNKNOWN, name or UNKNOWN)
        self.dial_end(None, a1, "ANSWER")
        assert self._loop is not None
        task = self._loop.create_task(self._c2d_customer(probe, a1, a2, agent, exten))
        self._side_tasks.add(task)
        task.add_done_callback(self._side_tasks.discard)
        self.release(probe)
        return True, "4"

    async def _c2d_customer(self, probe: SimCall, a1: Chan, a2: Chan, agent: Agent | None,
                            number: str) -> None:
        a1.set(context="outbound", exten=number, priority=2)
        p1, p2 = self.local_pair(number, "pstn-out", probe.t, linkedid=a1.linkedid,
                                 kind="pstn")
        self.dial_begin(a1, p1, f"Local/{number}@pstn-out/n")
        spec = self.customers.get(number) or CustomerSpec()
        if spec.mode in _CUSTOMER_FAILS:
            await self._c2d_customer_fails(probe, a1, a2, p1, p2, agent, spec.mode)
            return
        await self.wait(probe, probe.t + spec.ring_s)
        self.newstate(p2, 6)
        self.newstate(p1, 6)
        self.dial_end(a1, p1, "ANSWER")
        b = self.bridge_create()
        self.bridge_enter(b, p1)
        self.bridge_enter(b, a1)
        await self.wait(probe, probe.t + spec.talk_s)
        self.hangup(p2, 16)
        self.bridge_leave(b, p1)
        self.bridge_leave(b, a1)
        self.hangup(a1, 16)
        self.hangup(a2, 16)
        if agent is not None:
            self.agent_status(agent, _mode_status(agent.spec.mode))
        self.bridge_destroy(b)
        self.hangup(p1, 16)
        self.release(probe)

    async def _c2d_customer_fails(self, probe: SimCall, a1: Chan, a2: Chan, p1: Chan,
                                  p2: Chan, agent: Agent | None, mode: str) -> None:
        """The customer's leg ends without an answer: Dial returns, [outbound] hangs up."""
        delay, status, cause = _CUSTOMER_FAILS[mode]
        await self.wait(probe, probe.t + delay)
        self.hangup(p2, cause)
        self.dial_end(a1, p1, status)
        self.hangup(p1, cause)
        self.varset(a1, "DIALSTATUS", status)
        self.hangup(a1, 16)
        self.hangup(a2, 16)
        if agent is not None:
            self.agent_status(agent, _mode_status(agent.spec.mode))
        self.release(probe)

    # ------------------------------------------- outbound with Hotline's dialplan
    async def _outbound_via_phone(self, channel: str, ext: str, context: str, exten: str,
                                  num: str, name: str, action_id: str | None,
                                  ring_timeout: float, ids: tuple[str, str] | None,
                                  variables: dict[str, str] | None) -> tuple[bool, str]:
        """Originate of ``Local/<ext>@agents/n`` into [outbound] on deploy/asterisk
        (outbound-answered.ami, callback-*.ami): the origin pair ``agents;1/;2``, whose
        ;2 runs [agents] and DIALS her phone (a second pair, DialBegin/DialEnd from ;2:
        her picking up is that DialEnd ANSWER); then the Originate's DialEnd ANSWER and
        ;1 runs [outbound], dialling the customer (DialBegin/DialEnd from ;1). Every
        channel carries the call's probe, so an AMI Hangup of any of them reaches it."""
        agent = self.agents.get(channel) or self.find_agent(f"Local/{ext}@agents/n")
        t = self.now()
        who = num or UNKNOWN, name or UNKNOWN
        probe = SimCall(num, name, exten, CallScript(), asyncio.get_running_loop().create_future())
        probe.t = t
        a1, a2 = self.local_pair(ext, "agents", t, kind="c2d", ids=ids, call=probe)
        for var, value in (variables or {}).items():
            self.varset(a1, var, value, level=0)
        self.set_callerid(a1, *who, *who, connected=False)
        for var, value in (variables or {}).items():
            self.varset(a2, var, value, level=0)
        self.set_callerid(a2, *who, *who)
        self.dial_begin(None, a1, f"{ext}@agents/n")
        p1, p2 = self._dial_phone(a2, ext, t, probe)
        self.newstate(a1, 5)
        self.dial_state(a2, p1, "RINGING")
        self.dial_state(None, a1, "RINGING")
        if agent is not None:
            self.agent_status(agent, DEV_INUSE)
        answers = agent is None or agent.spec.mode == "answer"
        ring = agent.spec.ring_s if agent is not None else 1.0
        if not answers or ring >= ring_timeout:
            await self.wait(probe, t + ring_timeout)
            # the Originate's timeout (callback-agent-missed.ami): Cause 19 everywhere
            self.hangup_request(a2, 19)
            self.dial_end(a2, p1, "CANCEL")
            self.hangup_request(p2, 19)
            self.hangup(p1, 19)
            if action_id is not None:
                self.originate_response(action_id, "Failure", channel, context, exten, "3",
                                        UNKNOWN, *who)
            self.hangup_request(a2, 16, soft=True)
            self.hangup(a2, 19)
            self.hangup(a1, 19)
            self.hangup_request(p2, 16, soft=True)
            self.hangup(p2, 19)
            self._outbound_done(probe, agent)
            return False, "3"
        await self.wait(probe, t + ring)
        pb = self._phone_answers(a2, p1, p2)
        self.newstate(a1, 6)
        self.dial_end(None, a1, "ANSWER")
        leg = _Leg(Member(agent or Agent(AgentSpec(channel, ext)), ext), Queue(QueueSpec("")),
                   a1, a2, ring_start=t, phone=(p1, p2), phone_bridge=pb)
        assert self._loop is not None
        task = self._loop.create_task(self._outbound_customer(
            probe, leg, agent, exten, context, action_id, who))
        self._side_tasks.add(task)
        task.add_done_callback(self._side_tasks.discard)
        self.release(probe)
        return True, "4"

    async def _outbound_customer(self, probe: SimCall, leg: _Leg, agent: Agent | None,
                                 number: str, context: str, action_id: str | None,
                                 who: tuple[str, str]) -> None:
        """[outbound] on the origin ;1: Dial(<trunk><number>,30), then Hangup()."""
        a1, a2 = leg.a1, leg.a2
        a1.set(context="outbound", exten=number, priority=1)
        self.newexten(a1, "Dial", f"Local/{number}@pstn-out/n,30", level=1)
        c1, c2 = self.local_pair(number, "pstn-out", probe.t, linkedid=a1.linkedid,
                                 kind="pstn", call=probe)
        self.dial_begin(a1, c1, f"Local/{number}@pstn-out/n")
        if action_id is not None:
            self.originate_response(action_id, "Success", a1, context, number, "4",
                                    a1.uniqueid, *who)
        self.newstate(c1, 5)
        if leg.phone_bridge is not None:
            self.bridge_enter(leg.phone_bridge, a2)
        self.dial_state(a1, c1, "RINGING")
        spec = self.customers.get(number) or CustomerSpec()
        fails = _CUSTOMER_FAILS.get(spec.mode)
        cmd = await self.wait(probe, probe.t + (fails[0] if fails else spec.ring_s))
        try:
            if cmd is not None and cmd[0] == "hangup":
                if cmd[1] == "customer":  # the customer rejects the call while it rings
                    self._outbound_customer_fails(leg, c1, c2, "NOANSWER", 16)
                else:
                    self._outbound_agent_gives_up(leg, c1, c2, by_console=cmd[1] == "agent-leg")
                return
            if fails is not None:
                # a Dial timeout hangs the customer's Local pair up with Cause 0
                # (callback-customer-no-answer.ami)
                status, cause = fails[1], 0 if fails[1] == "NOANSWER" else fails[2]
                self._outbound_customer_fails(leg, c1, c2, status, cause)
                return
            self.newstate(c2, 6, priority=6)
            self.newstate(c1, 6)
            self.dial_end(a1, c1, "ANSWER")
            b = self.bridge_create()
            self.bridge_enter(b, c1)
            self.bridge_enter(b, a1)
            cmd = await self.wait(probe, probe.t + spec.talk_s)
            while cmd is not None and cmd[0] != "hangup":
                cmd = await self.wait(probe, probe.t + spec.talk_s)
            by = "customer" if cmd is None else cmd[1]
            self._outbound_talk_ends(leg, c1, c2, b, by)
        finally:
            self._outbound_done(probe, agent)

    def _outbound_done(self, probe: SimCall, agent: Agent | None) -> None:
        if agent is not None:
            self.agent_status(agent, _mode_status(agent.spec.mode))
        self.release(probe)

    def _outbound_customer_fails(self, leg: _Leg, c1: Chan, c2: Chan, status: str,
                                 cause: int) -> None:
        """Dial returns without an answer; [outbound]'s Hangup() ends the agent's side."""
        a1 = leg.a1
        self.dial_end(a1, c1, status)
        self.hangup_request(c2, cause)
        self.hangup(c1, cause)
        self.varset(a1, "DIALSTATUS", status)
        a1.set(priority=2)
        self.newexten(a1, "Hangup", "", level=1)
        self.hangup_request(a1, 16, soft=True)
        self.hangup_request(leg.a2, 16)
        self.hangup(a1, 16)
        self._end_agent_half(leg)
        self.hangup_request(c2, 16, soft=True)
        self.hangup(c2, cause)

    def _outbound_agent_gives_up(self, leg: _Leg, c1: Chan, c2: Chan, *,
                                 by_console: bool) -> None:
        """The agent's side ends while the customer still rings: her phone hangs up
        (outbound-no-answer.ami), or the console hangs up the origin ;1 (no
        HangupRequest for a channel hung up by AMI); the Dial is cancelled."""
        a1 = leg.a1
        if by_console:
            self.dial_end(a1, c1, "CANCEL")
            self.hangup_request(c2, 16)
            self.hangup(c1, 16)
            self.hangup_request(leg.a2, 16)
            self.hangup(a1, 16)
            self._end_agent_half(leg)
        else:
            self._agent_side_hangs_up(leg)
            self.hangup(leg.a2, 16)
            self.dial_end(a1, c1, "CANCEL")
            self.hangup_request(c2, 16)
            self.hangup(c1, 16)
            self.hangup_request(a1, 16, soft=True)
            self.hangup(a1, 16)
        self.hangup_request(c2, 16, soft=True)
        self.hangup(c2, 16)

    def _outbound_talk_ends(self, leg: _Leg, c1: Chan, c2: Chan, b: Bridge, by: str) -> None:
        """The end of an answered outbound call: the side that hangs up leaves the
        bridge first (outbound-answered.ami: the customer; the tracker docstring: a
        console hang-up of the origin ;1 leaves first, the customer is kicked out and
        hangs up before the agent's side)."""
        a1 = leg.a1
        if by == "customer":
            self.hangup_request(c2, 16, soft=True)
            self.hangup_request(c1, 16)
            self.hangup(c2, 16)
            self.bridge_leave(b, c1)
            self.hangup(c1, 16)
            self.bridge_leave(b, a1)
            self.bridge_destroy(b)
            a1.set(priority=2)
            self.hangup_request(a1, 16, soft=True)
            self.hangup_request(leg.a2, 16)
            self.hangup(a1, 16)
            self._end_agent_half(leg)
            return
        if by == "agent-leg":
            self.bridge_leave(b, a1)
            self.hangup_request(leg.a2, 16)
        else:  # her phone (or the ;2 dialling it) hangs up
            self._agent_side_hangs_up(leg)
            self.hangup(leg.a2, 16)
            self.bridge_leave(b, a1)
        self.bridge_leave(b, c1)
        self.bridge_destroy(b)
        self.hangup_request(c2, 16)
        self.hangup(c1, 16)
        self.hangup_request(c2, 16, soft=True)
        self.hangup(c2, 16)
        self.hangup(a1, 16)
        if by == "agent-leg":
            self._end_agent_half(leg)

    def _spy(self, channel: str, ext: str, mode: str, num: str, name: str,
             variables: dict[str, str], action_id: str | None) -> tuple[bool, str]:
        """08: the supervisor phone answers and ChanSpy starts on SPYTARGET."""
        t = self.now()
        s1, s2 = self.local_pair(ext, "supervisor", t, kind="spy")
        self.set_callerid(s1, num or ext, name or "Supervisor", num or ext, name or "Supervisor")
        self.set_callerid(s2, num or ext, name or "Supervisor", num or ext, name or "Supervisor")
        self.dial_begin(None, s1, f"{ext}@supervisor/n")
        self.newstate(s2, 6)
        self.newstate(s1, 6)
        self.dial_end(None, s1, "ANSWER")
        s1.set(context="spy", exten=mode or "listen", priority=1)
        if action_id is not None:
            self.originate_response(action_id, "Success", s1, "spy", mode, "4", s1.uniqueid,
                                    s1.cid_num, s1.cid_name)
        target = self.channels.get(variables.get("SPYTARGET", ""))
        if target is None:
            self.hangup(s1, 16)
            self.hangup(s2, 16)
            return True, "4"
        self.spies.append(_Spy(s1, s2, target))
        self.ev("ChanSpyStart", "call", s1.snap("Spyer") + target.snap("Spyee"))
        return True, "4"

    # ------------------------------------------------------------- snapshots
    def queue_summary(self, q: Queue) -> dict[str, str]:
        logged = len(q.members)
        available = sum(1 for m in q.members.values()
                        if not m.paused and m.agent.status == DEV_NOT_INUSE)
        now = self.now()
        longest = max((int(now - (c.joined or now)) for c in q.entries
                       if isinstance(c, SimCall)), default=0)
        return {"Queue": q.name, "LoggedIn": str(logged), "Available": str(available),
                "Callers": str(len(q.entries)), "HoldTime": str(q.avg_hold()),
                "TalkTime": str(q.avg_talk()), "LongestHoldTime": str(longest)}

    async def close(self) -> None:
        tasks = [c.task for c in self.calls.values() if c.task is not None]
        tasks.extend(self._side_tasks)
        if self._runner is not None:
            tasks.append(self._runner)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


class _AgiLine:
    """The ``AgiChannel`` of a call's ;2 channel, the one that runs the dialplan."""

    def __init__(self, pbx: Pbx, call: SimCall) -> None:
        assert call.c2 is not None
        self.pbx = pbx
        self.call = call
        self.chan = call.c2
        self._warned_priority = False

    @property
    def name(self) -> str:
        return self.chan.name

    @property
    def language(self) -> str:
        return self.call.language

    def now(self) -> float:
        return self.call.t

    async def sleep(self, until: float) -> bool:
        call = self.call
        until = max(until, call.t)  # a clock never runs backwards
        while call.t < until:
            cmd = await self.pbx.wait(call, until)
            if cmd is None:
                return True
            if cmd[0] == "hangup":
                return False
        return True

    async def io(self, aw: Awaitable[T], until: float) -> T:
        return await self.pbx._io(self.call, aw, until)

    def exec_start(self, command: str) -> int:
        command_id = self.pbx.rng.randrange(1 << 30)
        if self.pbx.noise >= 2:
            self.pbx._chan_ev("AGIExecStart", self.chan, f"CommandId: {command_id}\r\n"
                              f"Command: {clean(command)}\r\n", "agi")
        return command_id

    def exec_end(self, command_id: int, command: str, code: int, result: str) -> None:
        if self.pbx.noise >= 2:
            self.pbx._chan_ev("AGIExecEnd", self.chan, f"CommandId: {command_id}\r\n"
                              f"Command: {clean(command)}\r\nResultCode: {code}\r\n"
                              f"Result: {result}\r\n", "agi")

    def dtmf(self, digit: str) -> None:
        self.pbx._chan_ev("DTMFBegin", self.chan, f"Digit: {digit}\r\nDirection: Received\r\n",
                          "dtmf")
        self.pbx._chan_ev("DTMFEnd", self.chan, f"Digit: {digit}\r\nDurationMs: 100\r\n"
                          "Direction: Received\r\n", "dtmf")

    def get_var(self, name: str) -> str | None:
        """A variable, a built-in (EXTEN, CONTEXT, PRIORITY, CHANNEL, UNIQUEID) or one of
        the few functions a hotline IVR reads (CALLERID, CHANNEL)."""
        call, chan = self.call, self.chan
        name = name.strip()
        func, _, arg = name.partition("(")
        if arg.endswith(")"):
            func, arg = func.strip().upper(), arg[:-1].strip().lower()
            if func == "CALLERID":
                return {"num": call.caller, "number": call.caller, "name": call.name or "",
                        "all": f'"{call.name or ""}" <{call.caller}>'}.get(arg)
            if func == "CHANNEL":
                return {"language": call.language, "name": chan.name,
                        "uniqueid": chan.uniqueid, "linkedid": chan.linkedid,
                        "channeltype": "Local"}.get(arg)
            return None
        builtin = {"EXTEN": chan.exten, "CONTEXT": chan.context, "PRIORITY": str(chan.priority),
                   "CHANNEL": chan.name, "UNIQUEID": chan.uniqueid}
        if name in builtin:  # built-ins win over a variable of the same name, as in Asterisk
            return builtin[name]
        return call.dialplan_vars.get(name)

    def set_var(self, name: str, value: str) -> None:
        name = name.strip()
        if name.endswith(")"):  # a function write: no VarSet
            if name.replace(" ", "").upper() == "CHANNEL(LANGUAGE)" and value:
                self.call.language = clean(value)
            return
        if name.lstrip("_") == "PRIORITY" and not self._warned_priority:
            self._warned_priority = True
            log.warning("the IVR set PRIORITY on %s: the dialplan cannot read it (built-in "
                        "current priority); set HOTLINE_PRIORITY or QUEUE_PRIO", self.name)
        self.call.dialplan_vars[name.lstrip("_")] = value
        self.pbx.varset(self.chan, name, value)

    def caller_hangup(self) -> None:
        self.pbx._handset_hangs_up(self.call)


def _queue_name(text: str) -> str:
    """The dialplan's FILTER(A-Za-z0-9_.-,${QUEUE}): no comma may add Queue() options."""
    return "".join(c for c in text if c.isascii() and (c.isalnum() or c in "_.-"))


def _rig_queue(did: str) -> str:
    """The capture rig's dialplan (../shared/asterisk/conf/extensions.conf): its 800
    number was a VIP line. Hotline's own dialplan takes the number plan's instead."""
    return "vip" if did == "8008001234" else "support"


def _sscanf_int(text: str) -> int:
    """app_queue reads QUEUE_PRIO with sscanf("%d"); anything else is priority 0."""
    digits = text.strip()
    sign = -1 if digits.startswith("-") else 1
    digits = digits.lstrip("+-")
    n = len(digits) - len(digits.lstrip("0123456789"))
    return sign * int(digits[:n]) if n else 0


def _secs(seconds: float) -> int:
    """Whole seconds, halves rounded up (Python's round() would round 6.5 to 6)."""
    return int(seconds + 0.5)


def _resolve_none(fut: asyncio.Future[Any]) -> None:
    if not fut.done():
        fut.set_result(None)


def _mode_status(mode: str) -> int:
    return {"busy": DEV_BUSY, "unavailable": DEV_UNAVAILABLE}.get(mode, DEV_NOT_INUSE)


def _nz(value: str) -> str:
    return "" if value == UNKNOWN else value


def _split_local(interface: str) -> tuple[str, str]:
    """``Local/1001@agents/n`` -> ("1001", "agents")."""
    body = interface.split("/", 1)[1] if "/" in interface else interface
    body = body.split("/", 1)[0]
    exten, _, context = body.partition("@")
    return exten, context


def _channel_ids(f: dict[str, str]) -> tuple[str, str] | None:
    """Originate ChannelId/OtherChannelId (Asterisk: the ;2 half gets ``<id>;2`` when
    only the first is given)."""
    first = clean(f.get("ChannelId", "")).strip()
    if not first:
        return None
    return first, clean(f.get("OtherChannelId", "")).strip() or f"{first};2"


def _parse_callerid(text: str) -> tuple[str, str]:
    """``"Wang Fang" <13800138000>`` -> ("13800138000", "Wang Fang")."""
    text = clean(text).strip()
    if "<" in text and text.endswith(">"):
        name, _, num = text[:-1].rpartition("<")
        return num.strip(), name.strip().strip('"')
    return text, ""


def _variables(raw: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in raw.replace(",", "\n").split("\n"):
        key, sep, value = part.partition("=")
        if sep and key.strip():
            out[key.strip()] = value
    return out


def _script_from_vars(v: dict[str, str]) -> CallScript:
    """The capture rig's caller variables: DIGIT, HOLD, PRE, SKIP_AGI, FORCE_QUEUE."""
    def num(key: str, default: float) -> float:
        try:
            return float(v.get(key, "") or default)
        except ValueError:
            return default

    pre = num("PRE", 2.5)
    return CallScript(ivr_digits=v.get("DIGIT", "1"), skip_agi=v.get("SKIP_AGI") == "1",
                      ivr_s=pre + 0.1, queue=v.get("FORCE_QUEUE") or None,
                      hold=num("HOLD", 60.0))
