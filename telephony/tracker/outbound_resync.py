"""Outbound calls (click-to-dial, callbacks) in a resync's snapshot (issue 13 items 1-2):
recognise them, adopt those the book does not know (Hotline restarted, or the call began
during an AMI outage) and bring those it knows up to date (the outage hid their events),
so that each is logged once when it ends, as if it had been watched whole.

What the snapshot tells, Asterisk 22 (CoreShowChannel and Status rows of the same call;
tests/fixtures/asterisk/restart-outbound-*.ami):
- the call: its FIRST channel (Uniqueid = Linkedid; a callback's is the claim token) was
  created in one of ``origin_contexts``. The snapshot shows where a channel runs NOW (once
  the agent answered, the Originate's own context, ``outbound``), so its NAME tells where
  it was created (``Local/1001@agents-0000005c;1``: context ``agents``); or it carries
  one of ``ORIGIN_VARS`` (a phone that is no Local channel, ``PJSIP/1001``);
- sides, as DialBegin tells them live (``telephony.tracker.outbound``): the first
  channel and its Local partner are the agent's side (HANDSET, CALLER); then, until
  nothing changes, a Local half is on its partner's side, a channel in a bridge with a
  channel of a known side or dialled by one (its device in that one's ``Dial()`` data) is
  the customer's when that one is the origin or the customer's, else the agent's PHONE;
  any other channel is the live tracker's guess: the phone while the agent's leg is not
  up, the customer's side after;
- placed when the origin or its partner rings or is up (ChannelState 5, 6) or a channel
  of the customer's side exists; the agent answered (her leg up) when one of them is up or
  the customer is dialled; the customer answered when a channel of his side is in a
  bridge (Dial() bridges them at the answer);
- the number: the Originate's HOTLINE_DIALLED (Status variables), else the origin's Exten
  once it runs the Originate's context (it is up, in no origin context), else the Exten of
  a channel of the customer's side; the agent's name and user: HOTLINE_AGENT_NAME,
  HOTLINE_ORIGINATED_BY. The agent side's HOTLINE_*/CRM_* variables go to ``ivr``.

Times, as for an adopted inbound call: ``started_at`` = now minus the age of the oldest
channel; the customer was dialled when the oldest channel of his side was created; once
answered, the answer is put at that (at most his ring early), never before the outage
began for a call Hotline knew. A ring not seen is not measured (``ring_s`` None); an
answer or a hang-up seen after the resync is measured as live.

A call whose first channel is gone from the snapshot (the agent's leg hung up) is not
recognised; it ends in an instant, and the journal, when there is one, logs it."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping, Sequence

from telephony.events import DomainEvent
from telephony.tracker import variables
from telephony.tracker.book import CallBook
from telephony.tracker.model import (
    CALLER,
    HANDSET,
    ORIGIN_VARS,
    OTHER,
    OUTBOUND,
    PHONE,
    Call,
    Message,
    channel_state,
    device_of,
)
from telephony.tracker.outbound import ORIGIN_PAIR, OutboundCalls

Age = Callable[[Message], float]  # seconds since a snapshot row's channel was created
Variables = Callable[[str], Mapping[str, str]]  # a channel's Status variables, by Uniqueid
CUSTOMER_SIDE = (HANDSET, OTHER)  # who is bridged with, or dialled by, these: the customer


def context_of(channel: str) -> str:
    """Where a Local channel was created: ``Local/1001@agents-0000005c;1`` -> ``agents``
    ("" for any other technology)."""
    device = device_of(channel)
    if not device.startswith("Local/"):
        return ""
    return device.rpartition("@")[2]


def dial_targets(data: str) -> set[str]:
    """The devices a ``Dial()`` application's data names: ``Local/1001@phones/n,,tT`` ->
    ``Local/1001@phones``; a trunk's ``PJSIP/13700137000@carrier`` -> also
    ``PJSIP/carrier`` (the name of the channel it creates)."""
    out: set[str] = set()
    for target in data.split(",", 1)[0].split("&"):
        tech, _, rest = target.strip().partition("/")
        resource = rest.split("/", 1)[0]
        if tech and resource:
            out.add(f"{tech}/{resource}")
            out.add(f"{tech}/{resource.rpartition('@')[2]}")
    return out


def _partner(name: str) -> str:
    if name.endswith(";1"):
        return name[:-1] + "2"
    if name.endswith(";2"):
        return name[:-1] + "1"
    return ""


def sides(linkedid: str, rows: Sequence[Message], known: Mapping[str, str], *,
          origin_up: bool) -> dict[str, str]:
    """The role of each row's channel (see the module docstring); ``known``: the roles of
    the channels the call already has, which stay. Spread from the channels whose side is
    known, each channel and each bridge looked at once (a snapshot is not trusted to be
    small)."""
    role = dict(known)
    by_name: dict[str, str] = {}
    bridged: dict[str, list[str]] = {}  # bridge -> its channels
    by_device: dict[str, list[str]] = {}
    rows_of: dict[str, Message] = {}
    for row in rows:
        uid = row.get("Uniqueid", "")
        if not uid:
            continue
        rows_of[uid] = row
        by_name[row.get("Channel", "")] = uid
        by_device.setdefault(device_of(row.get("Channel", "")), []).append(uid)
        if row.get("BridgeId"):
            bridged.setdefault(row.get("BridgeId", ""), []).append(uid)
    if linkedid in rows_of:
        role[linkedid] = HANDSET
    # from the origin first
    todo = deque(sorted((uid for uid in rows_of if uid in role), key=lambda u: u != linkedid))
    seen_bridges: set[str] = set()
    while todo:
        uid = todo.popleft()
        row = rows_of[uid]
        side = OTHER if role[uid] in CUSTOMER_SIDE else PHONE
        partner = by_name.get(_partner(row.get("Channel", "")), "")
        found = [(partner, CALLER if role[uid] == HANDSET else role[uid])]
        bridge = row.get("BridgeId", "")
        if bridge and bridge not in seen_bridges:
            seen_bridges.add(bridge)
            found += [(mate, side) for mate in bridged[bridge]]
        if row.get("Application") == "Dial":
            found += [(target, side) for device in dial_targets(row.get("ApplicationData", ""))
                      for target in by_device.get(device, ())]
        for other, got in found:
            if other and other not in role:
                role[other] = got
                todo.append(other)
    guess = OTHER if origin_up else PHONE
    return {uid: role.get(uid, guess) for uid in rows_of}


class OutboundResync:
    """The resync's part for outbound calls (module docstring)."""

    def __init__(self, book: CallBook, outbound: OutboundCalls, age: Age,
                 status: Variables) -> None:
        self.book = book
        self.outbound = outbound
        self.age = age
        self.status = status

    def is_outbound(self, linkedid: str, rows: Sequence[Message]) -> bool:
        """Whether an unknown call of the snapshot is an agent's Originate."""
        first = next((r for r in rows if r.get("Uniqueid") == linkedid), None)
        if first is None:
            return False
        origin = self.book.origin
        if first.get("Context") in origin or context_of(first.get("Channel", "")) in origin:
            return True
        return any(var in ORIGIN_VARS for var in self.status(linkedid))

    def adopt(self, linkedid: str, rows: Sequence[Message], now: float,
              out: list[DomainEvent]) -> Call:
        """A call the book does not know, still up: followed from now on."""
        book = self.book
        book.seq += 1
        call = Call(linkedid, now - max(self.age(r) for r in rows), book.seq, OUTBOUND)
        book.calls[linkedid] = call
        first = next(r for r in rows if r.get("Uniqueid") == linkedid)
        call.origin_name = first.get("Channel", "")
        self._update(call, rows, call.started_at, now, out)
        return call

    def reconcile(self, call: Call, rows: Sequence[Message], at: float, now: float,
                  out: list[DomainEvent]) -> None:
        """A call the book knew before the outage (begun at ``at``), still up: the
        channels it gained, and what became of it meanwhile."""
        self._update(call, rows, at, now, out)

    def register(self, call: Call, rows: Sequence[Message], out: list[DomainEvent]) -> None:
        """Channels of a known call that the book missed (the call began during the
        resync): registered on their sides."""
        self._register(call, rows, out)

    def _update(self, call: Call, rows: Sequence[Message], at: float, now: float,
                out: list[DomainEvent]) -> None:
        self._register(call, rows, out)
        roles = {uid: chan.role for uid, chan in call.channels.items()}
        pair = [r for r in rows if roles.get(r.get("Uniqueid", "")) in ORIGIN_PAIR]
        customer = [r for r in rows if roles.get(r.get("Uniqueid", "")) == OTHER]
        states = {channel_state(r) for r in pair}
        first = next((r for r in rows if r.get("Uniqueid") == call.linkedid), None)
        if first is not None and channel_state(first) == "6" \
                and first.get("Context") not in self.book.origin:
            self.outbound.set_number(call, first.get("Exten"), out)  # dialling it
        for row in customer:
            self.outbound.set_number(call, row.get("Exten"), out)
        call.origin_up = call.origin_up or "6" in states or bool(customer)
        call.placed = call.placed or bool(states & {"5", "6"}) or call.origin_up
        answered_at: float | None = None
        if customer:
            if call.dialled_at is None:
                call.dialled_at = max(call.started_at, now - max(map(self.age, customer)))
            if any(r.get("BridgeId") for r in customer):
                answered_at = max(at, call.dialled_at)
        self.outbound.resynced(call, now, answered_at, out)

    def _register(self, call: Call, rows: Sequence[Message], out: list[DomainEvent]) -> None:
        book = self.book
        known = {uid: chan.role for uid, chan in call.channels.items()}
        pair = {call.origin_name, _partner(call.origin_name)}
        up = call.origin_up or any(channel_state(r) == "6" for r in rows
                                   if r.get("Channel") in pair)
        roles = sides(call.linkedid, rows, known, origin_up=up)
        for row in rows:
            uid = row.get("Uniqueid", "")
            if not uid or uid in book.channels:
                continue
            chan = book.register(call, uid, row.get("Channel", ""), roles[uid],
                                 row.get("Exten", ""))
            if row.get("BridgeId"):
                book.enter_bridge(chan, row.get("BridgeId", ""))
            if chan.role in ORIGIN_PAIR:
                self._take_variables(call, uid, out)

    def _take_variables(self, call: Call, uid: str, out: list[DomainEvent]) -> None:
        """A channel of the agent's side: its variables as its VarSets would have given
        them (``ivr``; the Originate's user, agent name and number)."""
        for var, value in self.status(uid).items():
            if variables.kept(var):
                variables.apply(self.book, call, var, value)
            self.outbound.take_variable(call, var, value, out)
