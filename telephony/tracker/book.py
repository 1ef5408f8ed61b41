"""The tracker's shared book of open calls and their channels, and the helpers every
concern uses on it: the event time, the transition table, caller id and DID, channel
registration, bridges, and ending a call exactly once."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable

from numbering.normalize import normalize
from telephony.events import CallEnded, CallStarted, CallSummary, DomainEvent, ts
from telephony.tracker.model import (
    LATEST_EPOCH,
    TRANSITIONS,
    Call,
    CallState,
    Chan,
    Message,
    known,
    looks_like_number,
)

log = logging.getLogger("telephony.tracker")

Summarise = Callable[[Call, float, bool], CallSummary]


class CallBook:
    """Open calls by Linkedid, channels by Uniqueid, bridges, recently ended calls."""

    def __init__(self, *, region: str, inbound_contexts: Iterable[str],
                 origin_contexts: Iterable[str], hotline_numbers: Iterable[str],
                 clock: Callable[[], float], ended_memory: int, max_open_calls: int) -> None:
        self.region = region
        self.inbound = frozenset(inbound_contexts)
        self.origin = frozenset(origin_contexts)
        self.hotline = frozenset(hotline_numbers)
        self.clock = clock
        self.ended_memory = ended_memory
        self.max_open_calls = max_open_calls
        self.unexpected: Counter[str] = Counter()
        self.calls: dict[str, Call] = {}
        self.channels: dict[str, Chan] = {}
        self.bridges: dict[str, set[str]] = {}
        self.ended: dict[str, None] = {}  # insertion-ordered, bounded
        self.seq = 0
        self.last_time: float | None = None
        # set by the tracker: the CallSummary of a call that ends (per its direction)
        self.summarise: Summarise | None = None

    # ------------------------------------------------------------------ time

    def time(self, msg: Message) -> float:
        stamp = msg.get("Timestamp")
        t: float | None = None
        if stamp:
            try:
                t = float(stamp)
            except ValueError:
                t = None
            if t is not None and not (0.0 <= t < LATEST_EPOCH):  # NaN fails too
                t = None
        if t is None:
            t = self.clock()
        self.last_time = t
        return t

    # ----------------------------------------------------------------- calls

    def transition(self, call: Call, event: str) -> CallState | None:
        nxt = TRANSITIONS.get((call.state, event))
        if nxt is None:
            key = f"{event} in {call.state.value}"
            self.unexpected[key] += 1
            log.debug("unexpected %s for call %s", key, call.linkedid)
        return nxt

    def call_of(self, msg: Message, uid_key: str = "Uniqueid", lid_key: str = "Linkedid",
                ) -> Call | None:
        chan = self.channels.get(msg.get(uid_key, ""))
        if chan is not None:
            return chan.call
        return self.calls.get(msg.get(lid_key, ""))

    def untracked(self, name: str, msg: Message) -> None:
        lid = msg.get("Linkedid", "")
        if lid and lid not in self.ended:
            self.unexpected[f"{name} for untracked call"] += 1

    def ensure_started(self, call: Call, out: list[DomainEvent]) -> None:
        if call.started:
            return
        call.started = True
        out.append(CallStarted(at=ts(call.started_at), linkedid=call.linkedid, caller=call.caller,
                               caller_name=call.caller_name, did=call.did,
                               direction=call.direction))

    def set_caller(self, call: Call, num: str | None, name: str | None) -> None:
        if call.caller is None:
            caller = normalize(known(num), self.region)
            if caller is not None:
                call.caller = caller
        if call.caller_name is None:
            call.caller_name = known(name)

    def set_did(self, call: Call, exten: str | None, *, from_var: bool = False) -> None:
        if not exten:
            return
        if exten in self.hotline:
            if call.did not in self.hotline:
                call.did = exten
        elif call.did is None and (from_var or looks_like_number(exten)):
            call.did = exten

    def new_call(self, m: Message, lid: str, direction: str, out: list[DomainEvent]) -> Call:
        if len(self.calls) >= self.max_open_calls:
            oldest = next(iter(self.calls.values()))
            out.extend(self.end(oldest, self.last_time or self.clock(), system=True))
        t = self.time(m)
        self.seq += 1
        call = Call(lid, t, self.seq, direction)
        self.calls[lid] = call
        return call

    # -------------------------------------------------------------- channels

    def register(self, call: Call, uid: str, name: str, role: str, exten: str) -> Chan:
        self.seq += 1
        chan = Chan(uid, name, call, role, exten, self.seq)
        call.channels[uid] = chan
        if name:
            call.by_name[name] = uid
        self.channels[uid] = chan
        return chan

    def partner(self, call: Call, name: str) -> str | None:
        """Uniqueid of the other half of a Local channel pair, if known."""
        if name.endswith(";1"):
            return call.by_name.get(name[:-1] + "2")
        if name.endswith(";2"):
            return call.by_name.get(name[:-1] + "1")
        return None

    def forget_channel(self, chan: Chan) -> None:
        """A channel hung up: out of its call, the book and its bridge."""
        call = chan.call
        self.channels.pop(chan.uid, None)
        call.channels.pop(chan.uid, None)
        if call.by_name.get(chan.name) == chan.uid:
            del call.by_name[chan.name]
        self.leave_bridge(chan)

    def enter_bridge(self, chan: Chan, bridge: str) -> None:
        self.leave_bridge(chan)
        chan.bridge = bridge
        self.bridges.setdefault(bridge, set()).add(chan.uid)

    def leave_bridge(self, chan: Chan) -> None:
        if chan.bridge is None:
            return
        members = self.bridges.get(chan.bridge)
        if members is not None:
            members.discard(chan.uid)
            if not members:
                del self.bridges[chan.bridge]
        chan.bridge = None

    # ---------------------------------------------------------------- ending

    def end(self, call: Call, t: float, *, system: bool = False) -> list[DomainEvent]:
        """The one CallEnded of a call (nothing when it already ended)."""
        out: list[DomainEvent] = []
        if self.calls.get(call.linkedid) is not call or self.summarise is None:
            return out
        del self.calls[call.linkedid]
        for chan in call.channels.values():
            self.leave_bridge(chan)
            if self.channels.get(chan.uid) is chan:
                del self.channels[chan.uid]
        call.channels.clear()
        self.remember_ended(call.linkedid)
        self.ensure_started(call, out)
        out.append(CallEnded(at=ts(t), summary=self.summarise(call, t, system)))
        return out

    def remember_ended(self, linkedid: str) -> None:
        ended = self.ended
        ended[linkedid] = None
        if len(ended) > self.ended_memory:
            del ended[next(iter(ended))]
