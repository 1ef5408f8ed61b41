"""Placing calls and running them through a dialplan: the capture rig's (fake
AGIExec events) or Hotline's (a real FastAGI session, ``agi``)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable
from typing import Any

from telephony.personal_queues import personal_queue
from telephony.simulator.agi_caller import (
    AGI_VERSION,
    AgiCaller,
    AgiOutcome,
    AgiTarget,
    CallerGone,
    environment,
)
from telephony.simulator.calls import CallScript, SimCall
from telephony.simulator.helpers import T, _queue_name, _rig_queue, _sscanf_int, log
from telephony.simulator.model import UNKNOWN, Chan, clean
from telephony.simulator.state import _PbxState


class DialplanMixin(_PbxState):
    """Places inbound calls and runs each through the dialplan to its queue."""

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



class _AgiLine:
    """The ``AgiChannel`` of a call's ;2 channel, the one that runs the dialplan."""

    def __init__(self, pbx: DialplanMixin, call: SimCall) -> None:
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
