"""A call in a queue: ringing members, the connected call, and the agent's phone
(the Local pair [agents] dials into [phones])."""

from __future__ import annotations

from telephony.simulator.calls import Attempt, SimCall, TransferPlan, _Leg
from telephony.simulator.helpers import PHONE_CONTEXT, _mode_status, _secs, _split_local
from telephony.simulator.model import DEV_INUSE, DEV_NOT_INUSE, UNKNOWN, Bridge, Chan, Member, Queue
from telephony.simulator.state import _PbxState


class QueueingMixin(_PbxState):
    """Rings a queue's members, connects a call, and ends its legs."""

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
        self.newexten(p1, "AppDial", "(Outgoing Line)", level=2)
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
        self._dialled_answers(p1)
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
