"""Outbound calls: an agent's Originate (click-to-dial, callback) rings the agent's
phone, then the dialplan dials the customer. The agent's side and the customer's side
of the Linkedid, the pop and the answer, and the summary."""

from __future__ import annotations

from collections.abc import Iterator

from telephony.events import AgentRinging, CallAnswered, CallSummary, DomainEvent, ts
from telephony.tracker.book import CallBook
from telephony.tracker.figures import figures, seconds, talk_ends
from telephony.tracker.members import Members
from telephony.tracker.model import (
    AGENT_NAME_VAR,
    CALLER,
    DIALLED_VAR,
    HANDSET,
    ORIGIN_VARS,
    OTHER,
    OUTBOUND,
    PHONE,
    USER_VARS,
    Call,
    Chan,
    Handler,
    Message,
    channel_state,
    device_of,
    looks_like_number,
)

ORIGIN_PAIR = (HANDSET, CALLER)  # the origin channel and its Local partner
AGENT_SIDE = (HANDSET, CALLER, PHONE)  # ... and the agent's phone they dialled


class OutboundCalls:
    """Calls placed by an agent: recognised by their first channel (see the docstring)."""

    def __init__(self, book: CallBook, members: Members) -> None:
        self.book = book
        self.members = members

    def handlers(self) -> Iterator[tuple[str, Handler]]:
        yield "Newstate", self.on_newstate
        yield "DialBegin", self.on_dial_begin
        yield "DialEnd", self.on_dial_end
        yield "OriginateResponse", self.on_originate_response

    def of(self, uid: str) -> tuple[Chan, Call] | None:
        chan = self.book.channels.get(uid)
        if chan is None or chan.call.direction != OUTBOUND:
            return None
        return chan, chan.call

    # ------------------------------------------------------------- channels

    def start(self, m: Message, uid: str, lid: str) -> list[DomainEvent]:
        """The first channel of an originated call: the agent leg."""
        book = self.book
        out: list[DomainEvent] = []
        call = book.new_call(m, lid, OUTBOUND, out)
        call.origin_name = m.get("Channel", "")
        book.register(call, uid, call.origin_name, HANDSET, m.get("Exten", ""))
        if channel_state(m) == "6":
            call.origin_up = True
        return out

    def channel(self, call: Call, m: Message, uid: str) -> list[DomainEvent]:
        """Another channel of an outbound call: a Local half is on its partner's side;
        else, until the agent's leg is up, the agent's phone (the Originate waits for
        it: nothing else is dialled yet), after that the customer's side. DialBegin
        corrects this guess with who dialled it (``on_dial_begin``)."""
        book = self.book
        name = m.get("Channel", "")
        partner = book.partner(call, name)
        if partner is not None:
            role = call.channels[partner].role
            role = CALLER if role in ORIGIN_PAIR else role
        else:
            role = OTHER if call.origin_up else PHONE
        chan = book.register(call, uid, name, role, m.get("Exten", ""))
        out: list[DomainEvent] = []
        if role == OTHER:
            self._customer_leg(call, chan, m, out)
        return out

    def _customer_leg(self, call: Call, chan: Chan, m: Message, out: list[DomainEvent]) -> None:
        """A channel of the customer's side: the customer is being dialled."""
        call.origin_up = True  # the dialplan dials the customer only once the agent answered
        t = self.book.time(m)
        if call.dialled_at is None:
            call.dialled_at = t  # the customer's phone rings from here
        if call.caller is None and looks_like_number(chan.exten):
            self._set_number(call, chan.exten, out)
        self._placed(call, t, out)

    def on_dial_begin(self, m: Message) -> list[DomainEvent]:
        """Who dialled a channel says its side: the origin channel dials the customer
        (from context outbound); its Local partner, in the agents context, the agent's
        phone; a channel dials for its own side. The Originate's own DialBegin of the
        origin has no Channel and says nothing."""
        found = self.of(m.get("Uniqueid", ""))
        if found is None:
            return []
        src, call = found
        dest = call.channels.get(m.get("DestUniqueid", ""))
        if dest is None or dest.role in ORIGIN_PAIR:
            return []
        role = OTHER if src.role in (HANDSET, OTHER) else PHONE
        out: list[DomainEvent] = []
        for chan in (dest, call.channels.get(self.book.partner(call, dest.name) or "")):
            if chan is None or chan.role == role or chan.role in ORIGIN_PAIR:
                continue
            chan.role = role
            if role == OTHER:
                self._customer_leg(call, chan, m, out)
        return out

    def hangup(self, call: Call, chan: Chan, t: float) -> None:
        agent_side = chan.role in AGENT_SIDE
        if call.answered_at is not None:
            talk_ends(call, "agent" if agent_side else "customer", t)
        elif call.first_origin is None:
            call.first_origin = agent_side

    def bridge_leave(self, call: Call, chan: Chan, m: Message) -> None:
        # the console's AMI Hangup of the origin: it leaves the bridge first, then the
        # customer's leg, kicked out, hangs up before it (its Dial() must return)
        if call.answered_at is not None:
            talk_ends(call, "agent" if chan.role in AGENT_SIDE else "customer",
                      self.book.time(m))

    def bridge_enter(self, call: Call, chan: Chan, m: Message, out: list[DomainEvent]) -> None:
        if chan.role == OTHER:
            self._customer_answered(call, m, out)  # in case its DialEnd was missed

    # ------------------------------------------------------- the agent's pop

    def agent(self, call: Call) -> tuple[str | None, str | None]:
        """(agent, interface): the queue member of the origin's device when known, else
        the agent's name our Originate set (HOTLINE_AGENT_NAME, as a queue call names her
        even when she is not signed in), else its user, else the device."""
        device = device_of(call.origin_name) if call.origin_name else ""
        found = self.members.devices.get(device)
        if found is not None:
            return found
        interface = device + "/n" if device.startswith("Local/") else device
        return (call.agent_name or call.originated_by or device or None), (interface or None)

    def _ringing(self, call: Call, t: float, out: list[DomainEvent]) -> None:
        """The agent's pop of an outbound call: once it is placed and its number known."""
        if call.popped or not call.placed or call.caller is None or call.originate_failed:
            return  # a failed Originate (its number only in the failure, 07b): no pop
        agent, interface = self.agent(call)
        if agent is None or interface is None:
            return
        call.popped = True
        out.append(AgentRinging(
            at=ts(t), linkedid=call.linkedid, queue="", agent=agent, interface=interface,
            agent_channel=call.origin_name, caller=call.caller, caller_name=None, did=None,
            ivr=dict(call.ivr), direction=OUTBOUND))

    def _placed(self, call: Call, t: float, out: list[DomainEvent]) -> None:
        call.placed = True
        self._ringing(call, t, out)

    def _set_number(self, call: Call, number: str | None, out: list[DomainEvent]) -> None:
        """The customer's number of an outbound call; CallStarted once it is known."""
        book = self.book
        if call.caller is None:
            book.set_caller(call, number, None)
        if call.caller is not None:
            book.ensure_started(call, out)
            self._ringing(call, book.last_time or call.started_at, out)

    def _customer_answered(self, call: Call, m: Message, out: list[DomainEvent]) -> None:
        if call.answered_at is not None:
            return
        t = call.answered_at = self.book.time(m)
        call.origin_up = True
        call.ring_s = seconds(call.dialled_at, t)
        self._placed(call, t, out)
        if call.popped:  # the agent's call is now a conversation (the board's "talking")
            agent, interface = self.agent(call)
            out.append(CallAnswered(
                at=ts(t), linkedid=call.linkedid, queue="", agent=agent or "",
                interface=interface or "", agent_channel=call.origin_name, wait_s=None,
                ring_s=call.ring_s, direction=OUTBOUND))

    # ---------------------------------------------------------------- events

    def on_newstate(self, m: Message) -> list[DomainEvent]:
        found = self.of(m.get("Uniqueid", ""))
        if found is None:
            return []
        chan, call = found
        out: list[DomainEvent] = []
        if chan.role not in ORIGIN_PAIR:
            return out
        state = channel_state(m)
        if state == "6":
            call.origin_up = True
        if state in ("5", "6"):
            self._placed(call, self.book.time(m), out)
        return out

    def on_dial_end(self, m: Message) -> list[DomainEvent]:
        # the agent leg's Dial() of the customer; the Originate's own DialEnd of the
        # agent leg has no Channel (capture 07) and is not this
        found = self.of(m.get("Uniqueid", ""))
        if found is None or m.get("DialStatus") != "ANSWER":
            return []
        chan, call = found
        dest = self.book.channels.get(m.get("DestUniqueid", ""))
        out: list[DomainEvent] = []
        # only the origin channel dials the customer: the agent's side answering its
        # phone (the ;2 half's Dial of it) is the agent picking up, not the customer
        if chan.role == HANDSET and (dest is None or (
                dest.call is call and dest.role == OTHER)):
            self._customer_answered(call, m, out)
        return out

    def on_originate_response(self, m: Message) -> list[DomainEvent]:
        """Success names the agent leg's Uniqueid; Failure only the requested channel
        (``Local/1002@agents/n``, Uniqueid ``<unknown>``, 07b): then the open outbound
        call of that device whose agent leg never came up."""
        book = self.book
        call: Call | None = None
        found = self.of(m.get("Uniqueid", ""))
        if found is not None:
            call = found[1]
        elif m.get("Response") == "Failure":
            device = device_of(m.get("Channel", "").removesuffix("/n"))
            for candidate in book.calls.values():
                if (candidate.direction == OUTBOUND and not candidate.origin_up
                        and device_of(candidate.origin_name) == device):
                    call = candidate
                    break
        if call is None:
            return []
        out: list[DomainEvent] = []
        if m.get("Response") == "Failure":
            call.originate_failed = True
        elif m.get("Response") == "Success":
            call.origin_up = True
        if call.caller is None and looks_like_number(m.get("Exten")):
            book.time(m)
            self._set_number(call, m.get("Exten"), out)
        if m.get("Response") == "Success":
            self._placed(call, book.time(m), out)
        return out

    def varset(self, m: Message, var: str) -> list[DomainEvent]:
        """An Originate variable: starts an outbound call whose first channel was not
        in an origin context (e.g. ``PJSIP/1001``), names the agent, or the number."""
        book = self.book
        uid, lid = m.get("Uniqueid", ""), m.get("Linkedid", "")
        value = m.get("Value", "")
        out: list[DomainEvent] = []
        chan = book.channels.get(uid)
        if chan is None:
            if var not in ORIGIN_VARS or not uid or uid != lid or lid in book.ended \
                    or lid in book.calls:
                return out
            out.extend(self.start(m, uid, lid))
            chan = book.channels[uid]
        call = chan.call
        if call.direction != OUTBOUND or chan.role not in ORIGIN_PAIR:
            return out
        if var == DIALLED_VAR and value:
            book.time(m)
        self.take_variable(call, var, value, out)
        return out

    def take_variable(self, call: Call, var: str, value: str, out: list[DomainEvent]) -> None:
        """One of our Originate's variables on the call's agent side (a live VarSet, or a
        resync's Status list): the user who dialled, the agent's name, the number."""
        if var in USER_VARS and value:
            call.originated_by = value
        elif var == AGENT_NAME_VAR and value:
            call.agent_name = value
        elif var == DIALLED_VAR and value:
            self._set_number(call, value, out)

    # ---------------------------------------------------------------- resync

    def set_number(self, call: Call, number: str | None, out: list[DomainEvent]) -> None:
        """The customer's number read from a resync's snapshot (a channel's Exten)."""
        if call.caller is None and looks_like_number(number):
            self._set_number(call, number, out)

    def resynced(self, call: Call, t: float, answered_at: float | None,
                 out: list[DomainEvent]) -> None:
        """A resync's snapshot (at ``t``) of the call: placed or not (``call.placed``, set
        by the caller), answered by the customer at ``answered_at`` (None: not yet).
        What the live events would have said: the agent's pop once it is placed with its
        number; the answer (its ring unseen: not measured)."""
        answered = answered_at is not None and call.answered_at is None
        if answered:
            call.answered_at = answered_at
            call.origin_up = call.placed = True
        if call.placed:
            self._ringing(call, t, out)
        if answered and call.popped:
            agent, interface = self.agent(call)
            out.append(CallAnswered(
                at=ts(t), linkedid=call.linkedid, queue="", agent=agent or "",
                interface=interface or "", agent_channel=call.origin_name, wait_s=None,
                ring_s=None, direction=OUTBOUND))

    # --------------------------------------------------------------- summary

    def summary(self, call: Call, t: float, system: bool) -> CallSummary:
        answered = call.answered_at is not None
        if answered:
            outcome = "answered"
        elif call.origin_up and not call.originate_failed:
            outcome = "no-answer"
        else:
            outcome = "failed"
        # unanswered: only an agent who was up and hung up first gave up on the customer
        gave_up = "agent" if outcome == "no-answer" and call.first_origin else None
        fig = figures(call, t, system=system, answerer="customer", gave_up=gave_up)
        agent, interface = self.agent(call)
        return CallSummary(
            linkedid=call.linkedid, caller=call.caller, caller_name=None, did=None,
            agent=agent, agent_interface=interface, started_at=ts(call.started_at),
            answered_at=ts(call.answered_at), ended_at=ts(t), wait_s=fig.wait_s,
            ring_s=fig.ring_s, talk_s=fig.talk_s, hangup_by=fig.hangup_by, outcome=outcome,
            ivr=dict(call.ivr), recording=call.recording, direction=OUTBOUND)

    def live_state(self, call: Call) -> tuple[str, str | None]:
        """(state, agent): never in a queue, dialling until the customer answers."""
        state = "talking" if call.answered_at is not None else "dialling"
        agent = self.agent(call)[0] if call.popped else None
        return state, agent
