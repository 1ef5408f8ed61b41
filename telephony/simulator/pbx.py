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

``Pbx`` is composed of one mixin per concern: ``emit`` (AMI events), ``waiting`` (the
scheduler), ``dialplan`` (placing calls, both dialplans), ``queueing`` (queue, connected
call, the agent's phone), ``transfers``, ``control`` (agents, hangups), ``outbound``
(Originate, ChanSpy), over ``state._PbxState``; ``calls`` holds the call dataclasses and
``helpers`` the constants and pure helpers.
"""

from __future__ import annotations

import asyncio
import contextlib

from telephony.simulator.calls import (
    Attempt,
    CallScript,
    PbxStats,
    SimCall,
    TransferPlan,
    _Leg,
    _Spy,
)
from telephony.simulator.control import ControlMixin
from telephony.simulator.dialplan import DialplanMixin
from telephony.simulator.emit import EmitMixin
from telephony.simulator.helpers import _parse_callerid, _script_from_vars, _variables
from telephony.simulator.model import DEV_NOT_INUSE, Queue
from telephony.simulator.outbound import OutboundMixin
from telephony.simulator.queueing import QueueingMixin
from telephony.simulator.state import _PbxState
from telephony.simulator.transfers import TransfersMixin
from telephony.simulator.waiting import WaitingMixin

# the names other modules (and tests) import from here, from before the split
__all__ = ["Attempt", "CallScript", "Pbx", "PbxStats", "SimCall", "TransferPlan", "_Leg", "_Spy",
           "_parse_callerid", "_script_from_vars", "_variables"]


class Pbx(EmitMixin, WaitingMixin, DialplanMixin, QueueingMixin, TransfersMixin, ControlMixin,
          OutboundMixin, _PbxState):
    """State of the simulated Asterisk, and the coroutines that run calls."""

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
