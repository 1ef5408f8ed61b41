"""Consult calls: the queue call an attended transfer's target channel makes.

An attended transfer (AMI Atxfer, the agent's feature code) creates a consult Local
pair in the SAME Linkedid as the caller's call; when its target is an agent (Hotline
reaches her through her personal queue ``agent-<ext>``) or a queue, the consult ``;2``
half runs ``Queue()``, so QueueCallerJoin / AgentCalled / AgentConnect / AgentComplete
arrive for a channel that is not the caller's, while the caller still talks to (is
held by) the first agent. The rules are in the ``telephony.tracker`` docstring
("Consult calls"); this module applies them, outside the call's state machine."""

from __future__ import annotations

from collections.abc import Callable

from telephony.events import AgentRinging, AgentRingNoAnswer, CallAnswered, DomainEvent, ts
from telephony.tracker.book import CallBook
from telephony.tracker.model import CALLER, HANDSET, Attempt, Call, Chan, Message, to_int

MarkLeg = Callable[[Call, str, str], None]


class Consults:
    """Queue calls of consult channels: attempts of the call, never its state."""

    def __init__(self, book: CallBook, mark_agent_leg: MarkLeg) -> None:
        self.book = book
        self.mark_agent_leg = mark_agent_leg

    # -------------------------------------------------------------- which calls

    def joins(self, call: Call, m: Message) -> bool:
        """A QueueCallerJoin by a channel of ``call`` that is not on the caller's side
        (a consult channel): the caller's own channel is the one a blind transfer or
        the dialplan queues."""
        uid = m.get("Uniqueid", "")
        if uid in call.consults:
            return True
        chan = self.book.channels.get(uid)
        return (chan is not None and chan.call is call and uid != call.queue_uid
                and chan.role not in (HANDSET, CALLER))

    @staticmethod
    def owns(call: Call, m: Message) -> bool:
        """A queue event of one of ``call``'s consult channels."""
        return m.get("Uniqueid", "") in call.consults

    def attempt_of(self, call: Call, m: Message) -> Attempt | None:
        """The consult attempt a member event names (by its agent leg, else by member)."""
        found = call.attempts.get(m.get("DestUniqueid", "") or m.get("DestChannel", ""))
        if found is not None and found.consult is not None:
            return found
        uid, interface = m.get("Uniqueid", ""), m.get("Interface", "")
        for attempt in reversed(list(call.attempts.values())):
            if attempt.consult == uid and attempt.interface == interface:
                return attempt
        return None

    def completed_member(self, m: Message) -> tuple[Call, Attempt] | None:
        """The call of an AgentComplete that names no channel: app_queue sends it
        without the caller's and member's snapshots once both channels are gone, as
        for a consult leg whose agent hung up (capture transfer-attended-agent). Only
        an answered consult attempt of that member in that queue, not yet complete."""
        queue, interface = m.get("Queue", ""), m.get("Interface", "")
        for call in self.book.calls.values():
            for attempt in reversed(list(call.attempts.values())):
                if (attempt.consult is not None and attempt.result == "answered"
                        and attempt.talk_s is None and attempt.queue == queue
                        and attempt.interface == interface):
                    return call, attempt
        return None

    # ------------------------------------------------------------- queue events

    def on_join(self, call: Call, m: Message) -> list[DomainEvent]:
        self.book.time(m)
        call.consults.add(m.get("Uniqueid", ""))
        queue = m.get("Queue", "")
        if queue and queue not in call.queues:
            call.queues.append(queue)
        return []  # no CallQueued: the caller is not waiting in a queue

    def on_agent_called(self, call: Call, m: Message) -> list[DomainEvent]:
        dest_uid = m.get("DestUniqueid", "") or m.get("DestChannel", "")
        if dest_uid in call.attempts:
            return []  # replayed
        t = self.book.time(m)
        agent = m.get("MemberName", "") or m.get("Interface", "")
        interface, queue = m.get("Interface", ""), m.get("Queue", "")
        call.attempts[dest_uid] = Attempt(agent, interface, queue, dest_uid, t,
                                          consult=m.get("Uniqueid", ""))
        self.mark_agent_leg(call, dest_uid, m.get("DestChannel", ""))
        return [AgentRinging(
            at=ts(t), linkedid=call.linkedid, queue=queue, agent=agent, interface=interface,
            agent_channel=m.get("DestChannel", ""), caller=call.caller,
            caller_name=call.caller_name, did=call.did, ivr=dict(call.ivr), consult=True)]

    def on_ring_no_answer(self, call: Call, m: Message) -> list[DomainEvent]:
        attempt = self.attempt_of(call, m)
        if attempt is None or attempt.result is not None:
            return []  # unknown, or replayed
        t = self.book.time(m)
        attempt.result = "no-answer"
        attempt.ring_ms = to_int(m.get("RingTime"))
        return [self._missed(call, attempt, t)]

    def on_abandon(self, call: Call, m: Message) -> list[DomainEvent]:
        """The consult was given up while members rang (the transferring agent hung up
        the consult, or went back to the caller): those members missed it."""
        t = self.book.time(m)
        out: list[DomainEvent] = []
        for attempt in call.attempts.values():
            if attempt.consult == m.get("Uniqueid", "") and attempt.result is None:
                attempt.result = "abandoned"
                attempt.ring_ms = max(0, round((t - attempt.called_at) * 1000))
                out.append(self._missed(call, attempt, t))
        return out

    @staticmethod
    def _missed(call: Call, attempt: Attempt, t: float) -> AgentRingNoAnswer:
        return AgentRingNoAnswer(at=ts(t), linkedid=call.linkedid, queue=attempt.queue,
                                 agent=attempt.agent, interface=attempt.interface,
                                 ring_ms=attempt.ring_ms, consult=True)

    def on_connect(self, call: Call, m: Message) -> list[DomainEvent]:
        found = self.attempt_of(call, m)
        if found is not None and found.result == "answered":
            return []  # replayed
        t = self.book.time(m)
        dest_uid = m.get("DestUniqueid", "") or m.get("DestChannel", "")
        attempt = found
        if attempt is None:  # its AgentCalled was missed
            attempt = Attempt(m.get("MemberName", "") or m.get("Interface", ""),
                              m.get("Interface", ""), m.get("Queue", ""), dest_uid, t,
                              consult=m.get("Uniqueid", ""))
            call.attempts[dest_uid or f"?{len(call.attempts)}"] = attempt
            ring = to_int(m.get("RingTime"))
            attempt.ring_ms = None if ring is None else ring * 1000
        else:
            attempt.ring_ms = max(0, round((t - attempt.called_at) * 1000))
        attempt.result = "answered"
        attempt.answered_at = t
        for other in call.attempts.values():
            if other.consult == attempt.consult and other.result is None:
                other.result = "lost"  # ringall: someone else answered the consult
        self.mark_agent_leg(call, dest_uid, m.get("DestChannel", ""))
        return [CallAnswered(
            at=ts(t), linkedid=call.linkedid, queue=attempt.queue, agent=attempt.agent,
            interface=attempt.interface, agent_channel=m.get("DestChannel", ""),
            wait_s=to_int(m.get("HoldTime")), ring_s=to_int(m.get("RingTime")),
            consult=True)]

    def on_complete(self, attempt: Attempt, m: Message) -> list[DomainEvent]:
        t = self.book.time(m)
        if attempt.talk_s is None:
            attempt.talk_s = to_int(m.get("TalkTime"))
        if attempt.ended_at is None:
            attempt.ended_at = t
        return []

    # ---------------------------------------------------------------- channels

    @staticmethod
    def hangup(call: Call, chan: Chan, t: float) -> None:
        """The consult channel or the consult agent's leg hung up: that agent's part
        ends (its talk, when AgentComplete does not say it)."""
        for attempt in call.attempts.values():
            if (attempt.consult is not None and attempt.answered_at is not None
                    and attempt.ended_at is None
                    and chan.uid in (attempt.consult, attempt.dest_uid)):
                attempt.ended_at = t
