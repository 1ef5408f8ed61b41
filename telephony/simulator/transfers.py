"""Transfers: blind, redirect and attended, to a desk, a number or an agent through her
personal queue."""

from __future__ import annotations

from telephony.personal_queues import is_personal, personal_queue
from telephony.simulator.calls import Attempt, SimCall, TransferPlan, _Leg
from telephony.simulator.helpers import TRANSFER_DIGIT_TIMEOUT_S, _queue_name, _secs, _split_local
from telephony.simulator.model import DEV_INUSE, DEV_NOT_INUSE, Bridge, Chan, Member, Queue
from telephony.simulator.state import _PbxState


class TransfersMixin(_PbxState):
    """An agent's transfers of a connected call (blind, redirect, attended)."""

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
        # with the hotline's dialplan, a queue's name runs [hotline-queues]
        to_queue = self.agi is not None and context == "hotline-queues"
        if not (to_agent or to_queue):
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
        elif to_queue:
            await self._hotline_queues(call, target)
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
        await self._hotline_queues(call, back)

    async def _hotline_queues(self, call: SimCall, queue: str) -> None:
        """deploy/asterisk/extensions.conf [hotline-queues], run by the caller's channel
        (a transfer to a queue, or [internal] sending him back): Queue() on ``queue`` as
        a new wait, or a hang-up when there is no such queue."""
        c2 = call.c2
        assert c2 is not None
        c2.set(context="hotline-queues", exten=queue)
        self._dp_set(call, 1, "QUEUE", _queue_name(queue))
        queue = _queue_name(queue)
        self.newexten(c2, "GotoIf", f"{int(queue not in self.queues)}?gone", priority=2,
                      level=2)
        if queue not in self.queues:
            self.newexten(c2, "Hangup", "", priority=4, level=1)
            self._channel_hangs_up_first(call)
            return
        call.first_joined = None
        wait = self.queues[queue].spec.maxwait
        await self._queue_call(call, queue, app_priority=3, appdata=f"{queue},tT,,,{wait:g}")

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
