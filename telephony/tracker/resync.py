"""Resync after an AMI (re)connect: collect the CoreShowChannels / QueueStatus / Status
snapshot, then end the known calls that vanished, adopt the unknown ones (with their
channels' variables and times; outbound calls: ``outbound_resync``), and drop the queue
members the snapshot no longer lists.

Live events of a call the channel list names but the book does not know yet (it began
during the outage), arriving once that list is complete, wait (``deferred``) until the
snapshot has adopted the call, and are then fed in their order: the list is older than
they are, so without them a caller seen in the IVR by the list who queued and gave up
while the other lists came in stayed in the IVR for good (``ivr-only``). Their Hangups
too: the call is adopted with the channel, which the replayed Hangup then ends as it
happened. At most ``MAX_DEFERRED`` events wait; beyond, they are handled at once (and
counted).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from telephony.events import AgentRinging, CallAnswered, CallQueued, DomainEvent, ts
from telephony.tracker import variables
from telephony.tracker.book import CallBook
from telephony.tracker.inbound import InboundCalls
from telephony.tracker.members import Members
from telephony.tracker.model import (
    AGENT,
    CALLER,
    HANDSET,
    MAX_DURATION,
    OTHER,
    OUTBOUND,
    Attempt,
    Call,
    Chan,
    Handler,
    Message,
    S,
    duration,
    to_int,
)
from telephony.tracker.outbound import OutboundCalls
from telephony.tracker.outbound_resync import OutboundResync

MAX_DEFERRED = 50_000  # live events held during one resync (a few minutes of a busy PBX)


def seconds_field(value: str | None) -> float:
    """A Status event's ``Seconds`` (0 when unreadable, at most a week, as ``duration``)."""
    n = to_int(value)
    return float(n) if n is not None and 0 <= n <= MAX_DURATION else 0.0


class Resync:
    """The snapshot of one resync and its reconciliation with the book."""

    def __init__(self, book: CallBook, inbound: InboundCalls, members: Members,
                 outbound: OutboundCalls) -> None:
        self.book = book
        self.inbound = inbound
        self.members = members
        self.outbound = OutboundResync(book, outbound, self._age, self._variables_of)
        self.active = False
        self.seq = 0
        self.outage_at: float | None = None
        self.channels: dict[str, Message] = {}
        self.entries: dict[str, Message] = {}
        self.status: dict[str, Message] = {}  # Status events (variables, Seconds) by Uniqueid
        self.listed_members: set[tuple[str, str]] = set()
        self.queues: set[str] = set()
        self.gone: set[str] = set()  # Uniqueids hung up while resyncing
        self.listed: set[str] = set()  # Linkedids of the complete channel list
        self.deferred: list[Message] = []  # live events of calls to adopt (module doc)
        self.channels_done = False
        self.queues_done = False
        self._list_events = frozenset(name for name, _ in self.handlers())

    def handlers(self) -> Iterator[tuple[str, Handler]]:
        yield "QueueMember", self.on_queue_member
        yield "QueueParams", self.on_queue_params
        yield "QueueEntry", self.on_queue_entry
        yield "QueueStatusComplete", self.on_queue_status_complete
        yield "CoreShowChannel", self.on_core_show_channel
        yield "CoreShowChannelsComplete", self.on_core_show_complete
        yield "Status", self.on_status

    def begin(self) -> None:
        self.active = True
        self.seq = self.book.seq
        self.outage_at = self.book.last_time
        self._clear()
        self.channels_done = False
        self.queues_done = False

    def _clear(self) -> None:
        self.channels, self.entries, self.status = {}, {}, {}
        self.listed_members, self.queues, self.gone = set(), set(), set()
        self.listed, self.deferred = set(), []

    def defers(self, m: Message) -> bool:
        """Whether live event ``m`` waits for the end of the resync (module docstring)."""
        if not (self.active and self.channels_done):
            return False
        name = m.get("Event", "")
        if name in self._list_events or name.endswith("Complete"):
            return False
        if m.get("Linkedid", "") not in self.listed or self.book.call_of(m) is not None:
            return False
        if len(self.deferred) >= MAX_DEFERRED:
            self.book.unexpected["live event not deferred: too many"] += 1
            return False
        self.deferred.append(m)
        return True

    def take_deferred(self) -> list[Message]:
        """The events deferred by the resync that just ended, to feed now (once)."""
        out, self.deferred = self.deferred, []
        return out

    def end(self, out: list[DomainEvent]) -> None:
        """Reconcile with the snapshot into ``out`` (kept even when this fails midway);
        the deferred events stay for ``take_deferred``."""
        self.active = False
        deferred = self.deferred
        try:
            now = self.book.clock()
            if self.channels_done:
                ended_at = self.outage_at if self.outage_at is not None else now
                self._reconcile_calls(ended_at, out)
                self._adopt_calls(now, out)
            if self.queues_done:
                out.extend(self.members.removed_since(self.queues, self.listed_members, now))
        finally:
            self._clear()
            self.deferred = deferred

    def hung_up(self, uid: str) -> None:
        if self.active:  # the snapshot may still list it: do not adopt it later
            self.gone.add(uid)

    # ------------------------------------------------------------ list events

    def on_queue_member(self, m: Message) -> list[DomainEvent]:
        if self.active:
            self.listed_members.add((m.get("Queue", ""), m.get("Location", "")))
        return self.members.change(m, None)

    def on_queue_params(self, m: Message) -> list[DomainEvent]:
        if self.active:
            self.queues.add(m.get("Queue", ""))
        return []

    def on_queue_entry(self, m: Message) -> list[DomainEvent]:
        if self.active and m.get("Uniqueid"):
            self.entries[m.get("Uniqueid", "")] = dict(m)
        return []

    def on_queue_status_complete(self, m: Message) -> list[DomainEvent]:
        if self.active:
            self.queues_done = True
        return []

    def on_core_show_channel(self, m: Message) -> list[DomainEvent]:
        if self.active and m.get("Uniqueid"):
            self.channels[m.get("Uniqueid", "")] = dict(m)
        return []

    def on_core_show_complete(self, m: Message) -> list[DomainEvent]:
        if self.active:
            self.channels_done = True
            self.listed = {row.get("Linkedid", "") for row in self.channels.values()} - {""}
        return []

    def on_status(self, m: Message) -> list[DomainEvent]:
        """One channel of the Status list: its variables and age. A channel already
        tracked takes its variables now (later VarSets, in arrival order, win); the
        others when they are adopted."""
        uid = m.get("Uniqueid", "")
        if not self.active or not uid:
            return []
        self.status[uid] = dict(m)
        chan = self.book.channels.get(uid)
        if chan is not None:
            self._take_variables(chan.call, chan)
        return []

    def _take_variables(self, call: Call, chan: Chan) -> None:
        """The call's variables (``variables``) set on ``chan``, when it is on the
        caller's side, as a VarSet of each would have given them."""
        row = self.status.get(chan.uid)
        if row is None or chan.role not in (HANDSET, CALLER):
            return
        for var, value in variables.status_variables(row).items():
            if variables.kept(var):
                variables.apply(self.book, call, var, value)

    def _variables_of(self, uid: str) -> dict[str, str]:
        """A channel's variables, as the Status list gave them (none without it)."""
        row = self.status.get(uid)
        return variables.status_variables(row) if row is not None else {}

    def _age(self, row: Message) -> float:
        """Seconds since a snapshot channel was created (CoreShowChannel Duration, the
        Status event's Seconds)."""
        status = self.status.get(row.get("Uniqueid", ""), {})
        return max(duration(row.get("Duration")), seconds_field(status.get("Seconds")))

    def _queue_wait(self, uid: str | None) -> int | None:
        """app_queue's QUEUEWAIT of the caller's queue channel: seconds it waited until
        the agent answered (set at the connect)."""
        row = self.status.get(uid or "")
        if row is None:
            return None
        return to_int(variables.status_variables(row).get("QUEUEWAIT"))

    # ------------------------------------------------------------- known calls

    def _reconcile_calls(self, ended_at: float, out: list[DomainEvent]) -> None:
        book, snap = self.book, self.channels
        by_linkedid: dict[str, list[Message]] = {}  # once, not per call: resyncs can be big
        for row in snap.values():
            by_linkedid.setdefault(row.get("Linkedid", ""), []).append(row)
        for call in list(book.calls.values()):
            if call.seq > self.seq:
                continue  # started during the resync: the snapshot may predate it
            for chan in list(call.channels.values()):
                if chan.uid not in snap and chan.seq <= self.seq:
                    call.channels.pop(chan.uid, None)
                    book.channels.pop(chan.uid, None)
                    book.leave_bridge(chan)
            if not call.channels:
                out.extend(book.end(call, ended_at, system=True))
                continue
            if call.direction == OUTBOUND:
                rows = [r for r in by_linkedid.get(call.linkedid, ())
                        if r.get("Uniqueid") not in self.gone]
                self.outbound.reconcile(call, rows, ended_at, book.clock(), out)
                continue
            # channels the call gained during the outage (an agent leg, a transfer's)
            # are known by its Linkedid only
            for row in by_linkedid.get(call.linkedid, ()):
                uid = row.get("Uniqueid", "")
                if uid not in book.channels and uid not in self.gone:
                    self._register_row(call, row)
            if call.state == S.IVR and call.agent is None:
                self._queued_in_outage(call, ended_at, out)
            if call.state in (S.QUEUED, S.RINGING, S.LEFT) and call.agent is None:
                self._answered_in_outage(call, ended_at, out)

    def _queued_in_outage(self, call: Call, at: float, out: list[DomainEvent]) -> None:
        """A call in the IVR at the cut that the snapshot lists in a queue, or talking
        to an agent (its queue then is the one its caller channel's Queue() names)."""
        entry = next((self.entries[u] for u in call.channels if u in self.entries), None)
        rows = [r for uid, r in self.channels.items() if uid in call.channels]
        if entry is None:
            caller = next((r for r in rows if r.get("Application") == "Queue"), None)
            if caller is None:
                return
            queue = caller.get("ApplicationData", "").split(",", 1)[0]
            call.queue_uid = caller.get("Uniqueid")
            wait = 0
        else:
            queue = entry.get("Queue", "")
            call.queue_uid = entry.get("Uniqueid")
            wait = to_int(entry.get("Wait")) or 0
        if not queue:
            return
        call.queue, call.state = queue, S.QUEUED
        if queue not in call.queues:
            call.queues.append(queue)
        # joined during the outage: not before it, not before the call began
        call.queued_at = call.joined_at = max(call.started_at, at, self.book.clock() - wait)
        out.append(CallQueued(at=ts(self.book.clock()), linkedid=call.linkedid, queue=queue,
                              position=to_int((entry or {}).get("Position")) or 0,
                              caller=call.caller, caller_name=call.caller_name, did=call.did))

    @staticmethod
    def _agent_legs(rows: Iterable[Message]) -> list[Message]:
        return [r for r in rows if r.get("Application") == "AppQueue"]

    def _answered_in_outage(self, call: Call, at: float, out: list[DomainEvent]) -> None:
        rows = [r for uid, r in self.channels.items() if uid in call.channels]
        caller = next((r for r in rows if r.get("Uniqueid") == call.queue_uid), None)
        bridge = caller.get("BridgeId", "") if caller else ""
        for leg in self._agent_legs(rows):
            if bridge and leg.get("BridgeId") == bridge:
                self._talking(call, leg, at)
                call.queue_context = caller.get("Context", "") if caller else None
                wait = self._queue_wait(call.queue_uid)
                if wait is not None:
                    call.wait_s = wait
                out.append(self._answered(call, at))
                return

    def _talking(self, call: Call, leg: Message, answered_at: float) -> tuple[str, str]:
        """The call talks to the agent of ``leg`` since ``answered_at``: (agent, interface)."""
        agent, interface = self.members.member_of(leg.get("Channel", ""))
        call.state = S.TALKING
        call.agent, call.agent_interface = agent, interface
        call.agent_channel = leg.get("Channel", "")
        call.answered_at = answered_at
        call.agent_uids = self.inbound.agent_uids(call, leg.get("Uniqueid", ""),
                                                  call.agent_channel)
        return agent, interface

    @staticmethod
    def _answered(call: Call, at: float) -> CallAnswered:
        return CallAnswered(at=ts(at), linkedid=call.linkedid, queue=call.queue or "",
                            agent=call.agent or "", interface=call.agent_interface or "",
                            agent_channel=call.agent_channel or "", wait_s=None, ring_s=None)

    # ----------------------------------------------------------- unknown calls

    def _adopt_calls(self, now: float, out: list[DomainEvent]) -> None:
        book = self.book
        groups: dict[str, list[Message]] = {}
        for uid, row in self.channels.items():
            lid = row.get("Linkedid", "")
            if lid and uid not in book.channels and lid not in book.ended:
                groups.setdefault(lid, []).append(row)
        for lid, rows in groups.items():
            live = [r for r in rows if r.get("Uniqueid") not in self.gone]
            call = book.calls.get(lid)
            if call is not None and call.direction == OUTBOUND:
                self.outbound.register(call, live, out)
            elif call is not None:  # a known call: register the channels we missed
                for row in live:
                    self._register_row(call, row)
            elif self.outbound.is_outbound(lid, rows):  # before inbound: a trunk's
                # channel dialled out may be in an inbound context (its endpoint's)
                self.outbound.adopt(lid, live or rows, now, out)
                if not live:
                    out.extend(book.end(book.calls[lid], now, system=True))
            elif self._is_inbound(rows):
                self._adopt(lid, live or rows, now, out)
                if not live:  # seen only in the snapshot, gone before the resync ended
                    out.extend(book.end(book.calls[lid], now, system=True))

    def _is_inbound(self, rows: list[Message]) -> bool:
        return any(r.get("Context") in self.book.inbound or r.get("Uniqueid") in self.entries
                   or r.get("Application") == "AppQueue" for r in rows)

    def _register_row(self, call: Call, row: Message) -> Chan:
        uid = row.get("Uniqueid", "")
        if uid == call.linkedid:
            role = HANDSET
        elif row.get("Context") in self.book.inbound or uid in self.entries:
            role = CALLER
        elif row.get("Application") == "AppQueue":
            role = AGENT
        else:
            role = OTHER
        chan = self.book.register(call, uid, row.get("Channel", ""), role, row.get("Exten", ""))
        bridge = row.get("BridgeId", "")
        if bridge:
            self.book.enter_bridge(chan, bridge)
        self._take_variables(call, chan)
        return chan

    def _adopt(self, lid: str, rows: list[Message], now: float, out: list[DomainEvent]) -> None:
        book = self.book
        age = max(self._age(r) for r in rows)
        book.seq += 1
        call = Call(lid, now - age, book.seq)
        book.calls[lid] = call
        rows = sorted(rows, key=lambda r: (r.get("Uniqueid") != lid, r.get("Uniqueid", "")))
        for row in rows:
            self._register_row(call, row)
        for row in rows:  # agent legs are Local pairs too: mark their other halves
            if row.get("Application") == "AppQueue":
                self.inbound.mark_agent_leg(call, row.get("Uniqueid", ""), row.get("Channel", ""))
        caller_row = next((r for r in rows if r.get("Uniqueid") in self.entries), None)
        if caller_row is None:
            caller_row = next((r for r in rows if r.get("Context") in book.inbound), rows[0])
        for row in rows:
            book.set_caller(call, row.get("CallerIDNum"), row.get("CallerIDName"))
            if row.get("Context") in book.inbound:
                book.set_did(call, row.get("Exten"))
        book.ensure_started(call, out)
        call.queue_uid = caller_row.get("Uniqueid")
        call.queue_context = caller_row.get("Context")
        entry = self.entries.get(call.queue_uid or "")
        if entry is None:
            entry = next((self.entries[u] for u in call.channels if u in self.entries), None)
        bridge = caller_row.get("BridgeId", "")
        legs = self._agent_legs(rows)
        if entry is not None:
            queue = entry.get("Queue", "")
            wait = to_int(entry.get("Wait")) or 0
            call.queue, call.queues, call.state = queue, [queue], S.QUEUED
            # whole seconds each, counted apart: never before the call began
            call.queued_at = call.joined_at = max(call.started_at, now - wait)
            out.append(CallQueued(at=ts(now), linkedid=lid, queue=queue,
                                  position=to_int(entry.get("Position")) or 0, caller=call.caller,
                                  caller_name=call.caller_name, did=call.did))
            self._adopt_ringing(call, legs, now, out)
        else:
            queue = caller_row.get("ApplicationData", "").split(",", 1)[0]
            for leg in legs:
                if bridge and leg.get("BridgeId") == bridge:
                    self._adopt_talking(call, leg, queue, now, out)
                    break

    def _adopt_ringing(self, call: Call, legs: list[Message], now: float,
                       out: list[DomainEvent]) -> None:
        for leg in legs:
            agent, interface = self.members.member_of(leg.get("Channel", ""))
            uid = leg.get("Uniqueid", "")
            started = now - self._age(leg)
            call.attempts[uid] = Attempt(agent, interface, call.queue or "", uid, started)
            call.state = S.RINGING
            out.append(AgentRinging(
                at=ts(now), linkedid=call.linkedid, queue=call.queue or "", agent=agent,
                interface=interface, agent_channel=leg.get("Channel", ""), caller=call.caller,
                caller_name=call.caller_name, did=call.did, ivr=dict(call.ivr)))

    def _adopt_talking(self, call: Call, leg: Message, queue: str, now: float,
                       out: list[DomainEvent]) -> None:
        call.queue = queue or None
        call.queues = [queue] if queue else []
        # the leg was created when it began to ring: the answer is at most its ring later
        answered_at = max(call.started_at, now - self._age(leg))
        agent, interface = self._talking(call, leg, answered_at)
        wait = self._queue_wait(call.queue_uid)
        if wait is not None:  # Asterisk's own count; queued that long before the answer
            call.wait_s = wait
            call.queued_at = call.joined_at = max(call.started_at, answered_at - wait)
        uid = leg.get("Uniqueid", "")
        attempt = Attempt(agent, interface, queue, uid, answered_at)
        attempt.result = "answered"
        call.attempts[uid] = attempt
        out.append(CallAnswered(at=ts(now), linkedid=call.linkedid, queue=queue,
                                agent=agent, interface=interface,
                                agent_channel=call.agent_channel or "", wait_s=None,
                                ring_s=None))
