"""Originate: click-to-dial and callbacks, in the capture rig's dialplan and
in Hotline's ([outbound]), and ChanSpy."""

from __future__ import annotations

import asyncio

from telephony.simulator.calls import CallScript, SimCall, _Leg, _Spy
from telephony.simulator.helpers import (
    _CUSTOMER_FAILS,
    _channel_ids,
    _mode_status,
    _parse_callerid,
    _script_from_vars,
    _split_local,
    _variables,
)
from telephony.simulator.model import (
    DEV_INUSE,
    UNKNOWN,
    Agent,
    AgentSpec,
    Bridge,
    Chan,
    CustomerSpec,
    Member,
    Queue,
    QueueSpec,
)
from telephony.simulator.state import _PbxState
from telephony.simulator.survey_calls import SurveyCallsMixin

# deploy/asterisk/extensions.conf: the context that rings the supervisor's phone, and
# the ChanSpy options per extension of [supervise]
SPY_PHONE_CONTEXT = "supervisor-phone"
SPY_CHANNEL_VAR = "HOTLINE_SPY_CHANNEL"
SPY_OPTIONS = {"listen": "qudES", "whisper": "qudESw", "barge": "qudESB"}


class OutboundMixin(SurveyCallsMixin, _PbxState):
    """Originate (click-to-dial, callbacks) and ChanSpy."""

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
        if lcontext == SPY_PHONE_CONTEXT:
            return self._spy_via_phone(lexten, context, exten, num, name, variables,
                                       action_id if is_async else None)
        if f.get("Application", "").strip().upper() == "AGI":  # the automated survey
            return await self.originate_agi(f, lexten, lcontext,
                                            action_id if is_async else None,
                                            (num or UNKNOWN, name or UNKNOWN))
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
        self.newexten(a1, "AppDial2", "(Outgoing Line)", level=2)  # the Originate's (07)
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
        self.newexten(a1, "Dial", f"Local/{number}@pstn-out/n,30", level=1)  # as in 07
        p1, p2 = self.local_pair(number, "pstn-out", probe.t, linkedid=a1.linkedid,
                                 kind="pstn")
        self.newexten(p1, "AppDial", "(Outgoing Line)", level=2)
        self.dial_begin(a1, p1, f"Local/{number}@pstn-out/n")
        spec = self.customers.get(number) or CustomerSpec()
        if spec.mode in _CUSTOMER_FAILS:
            await self._c2d_customer_fails(probe, a1, a2, p1, p2, agent, spec.mode)
            return
        await self.wait(probe, probe.t + spec.ring_s)
        self.newstate(p2, 6)
        self.newstate(p1, 6)
        self.dial_end(a1, p1, "ANSWER")
        self._dialled_answers(p1)
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
        self.newexten(a1, "AppDial2", "(Outgoing Line)", level=2)  # the Originate's
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
        self.newexten(c1, "AppDial", "(Outgoing Line)", level=2)
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
        # her phone hangs up talk_s after SHE answered (just now), whatever the customer
        # does, as a desk phone's Wait(TALK) does on the real PBX (rig-phones)
        gives_up = probe.t + agent.spec.talk_s if agent and agent.spec.talk_s else None
        ring_end = probe.t + (fails[0] if fails else spec.ring_s)
        cmd = await self.wait(probe, min(ring_end, gives_up or ring_end))
        if cmd is None and gives_up is not None and gives_up < ring_end:
            cmd = ("hangup", "agent")  # her phone, while the customer's still rings
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
            self._dialled_answers(c1)
            b = self.bridge_create()
            self.bridge_enter(b, c1)
            self.bridge_enter(b, a1)
            talk_end = probe.t + spec.talk_s
            cmd = await self.wait(probe, min(talk_end, gives_up or talk_end))
            while cmd is not None and cmd[0] != "hangup":
                cmd = await self.wait(probe, min(talk_end, gives_up or talk_end))
            if cmd is None and gives_up is not None and gives_up < talk_end:
                cmd = ("hangup", "agent")  # her phone hangs up first
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

    def _spy_via_phone(self, ext: str, context: str, mode: str, num: str, name: str,
                       variables: dict[str, str], action_id: str | None
                       ) -> tuple[bool, str]:
        """Hotline's dialplan (deploy/asterisk [supervisor-phone], [supervise]): the
        Originate's pair ``supervisor-phone;1/;2`` (the variables on both halves, as 07),
        ;2 DIALS the supervisor's phone (a [phones] pair, DialBegin/DialEnd from ;2), she
        picks up at once, the Originate's DialEnd ANSWER, then ;1 runs the spy context:
        ``ChanSpy(<HOTLINE_SPY_CHANNEL>,<options of the mode>)`` and ChanSpyStart on that
        leg. Its own Linkedid, like capture 08. No such leg (the call ended meanwhile):
        ChanSpy returns at once (option S) and every channel of the session hangs up.
        An unknown mode is no extension of [supervise]: the Originate fails."""
        t = self.now()
        options = SPY_OPTIONS.get(mode)
        who = num or ext, name or "Supervisor"
        s1, s2 = self.local_pair(ext, SPY_PHONE_CONTEXT, t, kind="spy")
        self.newexten(s1, "AppDial2", "(Outgoing Line)", level=2)
        for var, value in variables.items():
            self.varset(s1, var, value, level=0)
        self.set_callerid(s1, *who, *who, connected=False)
        for var, value in variables.items():
            self.varset(s2, var, value, level=0)
        self.set_callerid(s2, *who, *who)
        self.dial_begin(None, s1, f"{ext}@{SPY_PHONE_CONTEXT}/n")
        p1, p2 = self._dial_phone(s2, ext, t, None)
        pb = self._phone_answers(s2, p1, p2)
        self.bridge_enter(pb, s2)
        self.newstate(s1, 6)
        self.dial_end(None, s1, "ANSWER")
        spy = _Spy(s1, s2, s1, phone=(p1, p2), phone_bridge=pb)
        if options is None:
            if action_id is not None:
                self.originate_response(action_id, "Failure", s1, context, mode, "0",
                                        UNKNOWN, *who)
            self._spy_ends(spy)
            return False, "0"
        s1.set(context=context, exten=mode, priority=1)
        if action_id is not None:
            self.originate_response(action_id, "Success", s1, context, mode, "4",
                                    s1.uniqueid, *who)
        channel = variables.get(SPY_CHANNEL_VAR, "")
        self.newexten(s1, "ChanSpy", f"{channel},{options}", level=1)
        target = self.channels.get(channel) if channel else None
        if target is None:
            self._spy_ends(spy)
            return True, "4"
        spy.target = target
        self.spies.append(spy)
        self.ev("ChanSpyStart", "call", s1.snap("Spyer") + target.snap("Spyee"))
        return True, "4"

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
