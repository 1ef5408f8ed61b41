"""Control from AMI actions and tests: agents (pause, queue membership, sign-in),
customers' behaviour, and hanging up a channel."""

from __future__ import annotations

from typing import Any

from telephony.personal_queues import personal_queue
from telephony.simulator.calls import SimCall
from telephony.simulator.helpers import _mode_status
from telephony.simulator.model import (
    DEV_BUSY,
    DEV_NOT_INUSE,
    DEV_UNAVAILABLE,
    Agent,
    AgentSpec,
    Chan,
    CustomerSpec,
    Member,
    clean,
)
from telephony.simulator.state import _PbxState


class ControlMixin(_PbxState):
    """What AMI actions and tests change: agents, customers, hangups."""

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
