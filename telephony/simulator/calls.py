"""The simulator's calls and what they carry: a call's script (IVR answers, waits,
transfers), the call itself with its attempts and legs, and the PBX's counters."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from telephony.simulator.agi_caller import AgiOutcome, IvrInput, parse_ivr_inputs
from telephony.simulator.model import Bridge, Chan, Member, Queue

log = logging.getLogger("telephony.simulator")


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
    # Hotline's dialplan: the supervisor's phone [supervisor-phone] dials from s2, and
    # the bridge of s2 with it
    phone: tuple[Chan, Chan] | None = None
    phone_bridge: Bridge | None = None


@dataclass
class PbxStats:
    events: int = 0
    calls_started: int = 0
    calls_finished: int = 0
    errors: int = 0
    by_outcome: dict[str, int] = field(default_factory=dict)
