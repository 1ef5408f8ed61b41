"""Channel bookkeeping that applies to every call in every state: Newchannel, Hangup,
NewCallerid, VarSet, BridgeEnter/Leave. Each is kept in the book, then handed to the
call's direction (inbound queue call or outbound call) for what it means there."""

from __future__ import annotations

from collections.abc import Iterator

from telephony.events import DomainEvent
from telephony.tracker import variables
from telephony.tracker.book import CallBook
from telephony.tracker.inbound import InboundCalls
from telephony.tracker.model import (
    AGENT_NAME_VAR,
    CALLER,
    DIALLED_VAR,
    HANDSET,
    INBOUND,
    ORIGIN_VARS,
    OUTBOUND,
    Handler,
    Message,
)
from telephony.tracker.outbound import OutboundCalls
from telephony.tracker.resync import Resync


class Channels:
    """Routes channel lifecycle events to the book and to the call's direction."""

    def __init__(self, book: CallBook, inbound: InboundCalls, outbound: OutboundCalls,
                 resync: Resync) -> None:
        self.book = book
        self.inbound = inbound
        self.outbound = outbound
        self.resync = resync

    def handlers(self) -> Iterator[tuple[str, Handler]]:
        yield "Newchannel", self.on_newchannel
        yield "Hangup", self.on_hangup
        yield "NewCallerid", self.on_newcallerid
        yield "VarSet", self.on_varset
        yield "BridgeEnter", self.on_bridge_enter
        yield "BridgeLeave", self.on_bridge_leave

    def on_newchannel(self, m: Message) -> list[DomainEvent]:
        book = self.book
        uid = m.get("Uniqueid", "")
        lid = m.get("Linkedid", "")
        if not uid or not lid or uid in book.channels:
            return []
        call = book.calls.get(lid)
        context = m.get("Context", "")
        if call is None:
            if uid != lid or lid in book.ended:
                return []
            if context in book.origin:
                return self.outbound.start(m, uid, lid)
            if context not in book.inbound:
                return []
            return self.inbound.start(m, uid, lid)
        if call.direction == OUTBOUND:
            return self.outbound.channel(call, m, uid)
        return self.inbound.channel(call, m, uid)

    def on_hangup(self, m: Message) -> list[DomainEvent]:
        book = self.book
        uid = m.get("Uniqueid", "")
        self.resync.hung_up(uid)
        chan = book.channels.get(uid)
        if chan is None:
            return []
        t = book.time(m)
        call = chan.call
        book.forget_channel(chan)
        out: list[DomainEvent] = []
        if call.direction == OUTBOUND:
            self.outbound.hangup(call, chan, t)
        else:
            self.inbound.hangup(call, chan, m, t, out)
        if not call.channels:
            out.extend(book.end(call, t))
        return out

    def on_newcallerid(self, m: Message) -> list[DomainEvent]:
        chan = self.book.channels.get(m.get("Uniqueid", ""))
        if chan is None or chan.role not in (HANDSET, CALLER) or chan.call.direction == OUTBOUND:
            return []  # an outbound agent leg's caller id is the hotline's own number
        call = chan.call
        self.book.set_caller(call, m.get("CallerIDNum"), m.get("CallerIDName"))
        out: list[DomainEvent] = []
        if call.caller is not None and not call.started:
            self.book.time(m)
            self.book.ensure_started(call, out)
        return out

    def on_varset(self, m: Message) -> list[DomainEvent]:
        var = m.get("Variable", "").lstrip("_")
        out: list[DomainEvent] = []
        if var in ORIGIN_VARS or var in (DIALLED_VAR, AGENT_NAME_VAR):
            out = self.outbound.varset(m, var)
        if not variables.kept(var):
            return out
        chan = self.book.channels.get(m.get("Uniqueid", ""))
        if chan is None or chan.role not in (HANDSET, CALLER):
            return out
        variables.apply(self.book, chan.call, var, m.get("Value", ""))
        return out

    def on_bridge_enter(self, m: Message) -> list[DomainEvent]:
        chan = self.book.channels.get(m.get("Uniqueid", ""))
        bridge = m.get("BridgeUniqueid", "")
        if chan is None or not bridge:
            return []
        self.book.enter_bridge(chan, bridge)
        out: list[DomainEvent] = []
        if chan.call.direction == OUTBOUND:
            self.outbound.bridge_enter(chan.call, chan, m, out)
        else:
            self.inbound.bridge_enter(chan.call, chan)
        return out

    def on_bridge_leave(self, m: Message) -> list[DomainEvent]:
        chan = self.book.channels.get(m.get("Uniqueid", ""))
        if chan is None:
            return []
        self.book.leave_bridge(chan)
        if chan.call.direction == INBOUND:
            self.inbound.bridge_leave(chan.call, chan, m)
        else:
            self.outbound.bridge_leave(chan.call, chan, m)
        return []
