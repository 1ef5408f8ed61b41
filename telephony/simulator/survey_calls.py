"""Originate into an AGI application: the automated survey (``ivr.survey_dialler``) calls
a customer, and on answer the originated channel runs ``AGI(agi://.../survey?...)``.

What the PBX does (deploy/asterisk [outbound]), and so what this does: Originate
``Channel=Local/<number>@outbound``, ``Application=AGI``, ``Data=<agi url>``; the pair's
``;2`` runs [outbound] (``Dial(<trunk><number>,30)``), the customer's line rings
(``CustomerSpec``: answer / busy / noanswer / unavailable); unanswered, the ``;2`` DialEnd
says why (BUSY, NOANSWER, CHANUNAVAIL), both halves hang up and the OriginateResponse is a
Failure; answered, the OriginateResponse is a Success and the ``;1`` runs the FastAGI
session while the customer presses ``CustomerSpec.keys`` (``agi_caller.parse_ivr_inputs``:
"5,T,9,2" = 5 at the first question, silence at the next, ...). The AGI's ``HANGUP`` or
its end hangs the call up; a customer's ``H`` hangs up from their side.
"""

from __future__ import annotations

import asyncio

from telephony.simulator.agi_caller import (
    AGI_VERSION,
    AgiCaller,
    AgiTarget,
    environment,
    parse_agi_address,
    parse_ivr_inputs,
)
from telephony.simulator.calls import CallScript, SimCall
from telephony.simulator.dialplan import _AgiLine
from telephony.simulator.helpers import _CUSTOMER_FAILS, _channel_ids, _variables, log
from telephony.simulator.model import UNKNOWN, Chan, CustomerSpec
from telephony.simulator.state import _PbxState

ORIGINATE_REASON = {"BUSY": "5", "NOANSWER": "3", "CHANUNAVAIL": "0"}


def agi_target(data: str) -> tuple[AgiTarget, str] | None:
    """The FastAGI server and the request URL of ``AGI(<url>[,args])``'s data."""
    url = data.split(",", 1)[0].strip()
    if not url.startswith("agi://"):
        return None
    try:
        target = parse_agi_address(url)
    except ValueError:
        return None
    return target, url


class SurveyCallsMixin(_PbxState):
    """Originate of a Local channel into the AGI application."""

    async def originate_agi(self, f: dict[str, str], number: str, context: str,
                            action_id: str | None, cid: tuple[str, str]) -> tuple[bool, str]:
        found = agi_target(f.get("Data", ""))
        channel = f.get("Channel", "")
        if found is None:
            if action_id is not None:
                self.originate_response(action_id, "Failure", channel, "", "", "0", UNKNOWN,
                                        UNKNOWN, UNKNOWN)
            return False, "0"
        target, url = found
        assert self._loop is not None
        spec = self.customers.get(number) or CustomerSpec()
        try:
            inputs = parse_ivr_inputs(spec.keys)
        except ValueError:
            log.warning("customer %s: keys %r are not keys a phone sends", number, spec.keys)
            inputs = ()
        probe = SimCall(number, None, number, CallScript(ivr_inputs=inputs),
                        self._loop.create_future())
        probe.t = self.now()
        o1, o2 = self.local_pair(number, context, probe.t, kind="survey",
                                 ids=_channel_ids(f))
        probe.linkedid = o1.linkedid
        for var, value in _variables(f.get("Variable", "")).items():
            self.varset(o1, var, value, level=0)
            self.varset(o2, var, value, level=0)
        self.set_callerid(o2, *cid, *cid)
        o2.set(context=context, exten=number, priority=1)
        self.newexten(o2, "Dial", f"Local/{number}@pstn-out/n,30", level=1)
        p1, p2 = self.local_pair(number, "pstn-out", probe.t, linkedid=o1.linkedid,
                                 kind="pstn")
        self.newexten(p1, "AppDial", "(Outgoing Line)", level=2)
        self.dial_begin(o2, p1, f"Local/{number}@pstn-out/n")
        fails = _CUSTOMER_FAILS.get(spec.mode)
        await self.wait(probe, probe.t + (fails[0] if fails else spec.ring_s))
        if fails is not None:
            status = fails[1]
            self.dial_end(o2, p1, status)
            self.varset(o2, "DIALSTATUS", status)
            for c, cause in ((p2, fails[2]), (p1, fails[2]), (o2, 16), (o1, 16)):
                self.hangup(c, cause)
            if action_id is not None:
                self.originate_response(action_id, "Failure", channel, "", "",
                                        ORIGINATE_REASON.get(status, "1"), UNKNOWN, *cid)
            self.release(probe)
            return False, ORIGINATE_REASON.get(status, "1")
        self.newstate(p2, 6)
        self.newstate(p1, 6)
        self.dial_end(o2, p1, "ANSWER")
        self.newstate(o2, 6)
        self.newstate(o1, 6)
        if action_id is not None:
            self.originate_response(action_id, "Success", o1, "", "", "4", o1.uniqueid, *cid)
        probe.c1, probe.c2 = p2, o1  # the customer's handset; the channel running AGI
        task = self._loop.create_task(self._survey_agi(probe, target, url, o1, o2, p1, p2))
        self._side_tasks.add(task)
        task.add_done_callback(self._side_tasks.discard)
        self.release(probe)
        return True, "4"

    async def _survey_agi(self, probe: SimCall, target: AgiTarget, url: str, o1: Chan,
                          o2: Chan, p1: Chan, p2: Chan) -> None:
        try:
            self.newexten(o1, "AGI", url, level=1)
            path = url.split("://", 1)[1].split("/", 1)[1] if "/" in url[6:] else ""
            fields = [
                ("agi_network", "yes"), ("agi_network_script", path),
                ("agi_request", url), ("agi_channel", o1.name),
                ("agi_language", probe.language), ("agi_type", "Local"),
                ("agi_uniqueid", o1.uniqueid), ("agi_version", AGI_VERSION),
                ("agi_callerid", probe.caller), ("agi_calleridname", "unknown"),
                ("agi_callingpres", "0"), ("agi_callingani2", "0"),
                ("agi_callington", "0"), ("agi_callingtns", "0"), ("agi_dnid", "unknown"),
                ("agi_rdnis", "unknown"), ("agi_context", o1.context),
                ("agi_extension", o1.exten), ("agi_priority", "1"), ("agi_enhanced", "0.0"),
                ("agi_accountcode", ""), ("agi_threadid", "139600000000001"),
            ]
            probe.agi = await AgiCaller(target, _AgiLine(self, probe),  # type: ignore[arg-type]
                                        probe.script.caller_inputs()).run(environment(fields))
        except asyncio.CancelledError:
            raise
        except Exception:  # a bug in one call must not kill the simulator
            self.stats.errors += 1
            log.exception("simulated survey call %s failed", probe.linkedid)
        finally:
            for c in (o1, o2, p1, p2):  # the application returned: the call ends
                self.hangup(c, 16)
            self.release(probe)
