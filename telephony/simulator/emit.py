"""AMI emission: the events of channels, bridges, dials, hangups, CDRs, queue
members and devices, in the shape of the real Asterisk 22 captures."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from telephony.cel import CelEvent, format_line
from telephony.simulator.calls import SimCall, _Leg, _Spy
from telephony.simulator.helpers import _nz
from telephony.simulator.model import (
    CAUSE_TEXT,
    DEVICE_STATE_NAMES,
    Agent,
    Bridge,
    Chan,
    Member,
    Queue,
    clean,
    member_text,
)
from telephony.simulator.state import _PbxState


class EmitMixin(_PbxState):
    """Sends the AMI events; the other concerns call these, never ``sink`` directly."""

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
        if app.lower() == "hangup":
            c.hangupsource = c.hangupsource or "dialplan/builtin"
        queue_before = c.app.lower() == "queue"
        c.app, c.appdata = app, data
        # deploy/asterisk/cel.conf tracks Queue() only (apps = queue)
        if queue_before and app.lower() != "queue":
            self.cel(c, "APP_END")
        if app.lower() == "queue":
            self.cel(c, "APP_START")
        if self.noise >= level:
            self._chan_ev("Newexten", c, f"Extension: {c.exten}\r\nApplication: {app}\r\n"
                          f"AppData: {data}\r\n", "dialplan")

    def varset(self, c: Chan, var: str, value: str, level: int = 1) -> None:
        c.variables[var.lstrip("_")] = value  # held whatever the noise (AMI Status reads it)
        if self.noise >= level:
            self._chan_ev("VarSet", c, f"Variable: {var}\r\nValue: {clean(value)}\r\n", "dialplan")

    def cel(self, c: Chan, name: str, details: dict[str, Any] | None = None, *,
            peer: str = "") -> None:
        """One CEL record: a line of the journal (``journal``, always: Asterisk writes it
        whoever listens) and, with noise, the AMI CEL event."""
        if self.journal is not None:
            line = format_line(CelEvent(
                type=name, time=self.now(), uniqueid=c.uniqueid, linkedid=c.linkedid,
                channel=c.name, context=c.context, exten=c.exten, cid_num=_nz(c.cid_num),
                cid_name=_nz(c.cid_name), app=c.app, appdata=c.appdata, peer=peer,
                extra=details or {}))
            with open(self.journal, "ab") as f:  # noqa: PTH123 - one line, as cel_custom
                f.write(line)
        if self.noise < 2:
            return
        extra = json.dumps(details) if details else ""
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(self.now()))
        self.ev("CEL", "call", (
            f"EventName: {name}\r\nAccountCode: \r\nCallerIDnum: {_nz(c.cid_num)}\r\n"
            f"CallerIDname: {_nz(c.cid_name)}\r\nCallerIDani: {_nz(c.cid_num)}\r\n"
            f"CallerIDrdnis: \r\nCallerIDdnid: \r\nExten: {c.exten}\r\nContext: {c.context}\r\n"
            f"Channel: {c.name}\r\nApplication: {c.app}\r\nAppData: {c.appdata}\r\n"
            f"EventTime: {when}\r\nAMAFlags: DOCUMENTATION\r\nUniqueID: {c.uniqueid}\r\n"
            f"LinkedID: {c.linkedid}\r\nUserfield: \r\nPeer: {peer}\r\nPeerAccount: \r\n"
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

    def _dialled_answers(self, c: Chan) -> None:
        """The ``;1`` a Dial() created (``AppDial``) is bridged to its caller once answered:
        Asterisk 22 clears its Exten then (restart-outbound-*.ami: a Newexten with an empty
        Exten, and so the snapshot and the journal's lines after it)."""
        c.set(exten="")
        self.newexten(c, "AppDial", "(Outgoing Line)", level=2)

    def newstate(self, c: Chan, state: int, **changes: Any) -> None:
        c.set(state=state, **changes)
        if state == 6 and c.answered is None:
            c.answered = self.now()
            # CEL's ANSWER, as Asterisk writes it for every channel that comes up: an
            # outbound call's journal tells from it when the agent answered (her side:
            # what started before), telephony.cel_outbound
            self.cel(c, "ANSWER")
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
        self.cel(c, "BRIDGE_ENTER", {"bridge_id": b.id, "bridge_technology": "simple_bridge"},
                 peer=",".join(x.name for x in b.channels if x is not c))

    def bridge_leave(self, b: Bridge, c: Chan) -> None:
        if c in b.channels:
            b.channels.remove(c)
        c.bridge = None
        self.ev("BridgeLeave", "call", b.text() + c.snap())
        self.cel(c, "BRIDGE_EXIT", {"bridge_id": b.id, "bridge_technology": "simple_bridge"},
                 peer=",".join(x.name for x in b.channels))

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
            self._spy_ends(spy)
        self.cel(c, "HANGUP", {"hangupcause": cause, "hangupsource": c.hangupsource,
                               "dialstatus": ""})
        text = CAUSE_TEXT.get(cause, "Unknown")
        self._chan_ev("Hangup", c, f"Cause: {cause}\r\nCause-txt: {text}\r\n")
        self.cel(c, "CHAN_END")
        if c.kind.endswith("1"):
            self.cdr(c)
        if not any(x.linkedid == c.linkedid for x in self.channels.values()):
            self.cel(c, "LINKEDID_END")

    def _spy_ends(self, spy: _Spy) -> None:
        """ChanSpy returned (E: the spied leg hung up; S: nothing to spy on): the
        spyer's Hangup(), then its partner and the supervisor's phone."""
        self.hangup(spy.s1)
        if spy.phone is not None and spy.phone_bridge is not None:
            self.bridge_leave(spy.phone_bridge, spy.s2)
        self.hangup(spy.s2)
        if spy.phone is not None:
            p1, p2 = spy.phone
            if spy.phone_bridge is not None:
                self.bridge_leave(spy.phone_bridge, p1)
                self.bridge_destroy(spy.phone_bridge)
            self.hangup(p1, 16)
            self.hangup(p2, 16)

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
