"""Inbound calls: a customer calls the hotline, is queued, rung to agents, answered,
maybe transferred. Queue events are keyed by the caller channel that ran Queue()."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from telephony.events import (
    AgentAttempt,
    AgentRinging,
    AgentRingNoAnswer,
    CallAnswered,
    CallQueued,
    CallSummary,
    CallTransferred,
    DomainEvent,
    Transfer,
    ts,
)
from telephony.tracker.book import CallBook
from telephony.tracker.consult import Consults
from telephony.tracker.figures import (
    figures,
    queue_wait,
    seconds,
    talk_ends,
    talk_resumes,
    transferred,
)
from telephony.tracker.model import (
    AGENT,
    CALLER,
    HANDSET,
    HANGUP_REASONS,
    INBOUND,
    LIVE_STATE,
    OTHER,
    Attempt,
    Call,
    Chan,
    Handler,
    Message,
    S,
    known,
    target_of,
    to_int,
)


class InboundCalls:
    """Queue calls: the caller's side, the queue, the agents rung and the one who answered."""

    def __init__(self, book: CallBook) -> None:
        self.book = book
        self.consults = Consults(book, self.mark_agent_leg)

    def handlers(self) -> Iterator[tuple[str, Handler]]:
        of_call, consult = self._for_call, self.consults
        yield "QueueCallerJoin", self.on_join
        yield "QueueCallerLeave", self.on_leave
        yield "QueueCallerAbandon", of_call("QueueCallerAbandon", self.on_abandon,
                                            consult.on_abandon)
        yield "AgentCalled", of_call("AgentCalled", self.on_agent_called,
                                     consult.on_agent_called)
        yield "AgentRingNoAnswer", self.on_ring_no_answer
        yield "AgentConnect", of_call("AgentConnect", self.on_connect, consult.on_connect)
        yield "AgentComplete", self.on_complete
        yield "BlindTransfer", self.on_blind_transfer
        yield "AttendedTransfer", self.on_attended_transfer

    def _for_call(self, name: str, handle: Callable[[Call, Message], list[DomainEvent]],
                  consult: Callable[[Call, Message], list[DomainEvent]]) -> Handler:
        """A queue event's handler: its call found (an untracked one is counted and
        dropped), and a consult's queue events (an attended transfer's) sent to
        ``consult`` instead of ``handle``."""
        def handler(m: Message) -> list[DomainEvent]:
            call = self.book.call_of(m)
            if call is None:
                self.book.untracked(name, m)
                return []
            if self.consults.owns(call, m):
                return consult(call, m)
            return handle(call, m)
        return handler

    # ------------------------------------------------------------- channels

    def start(self, m: Message, uid: str, lid: str) -> list[DomainEvent]:
        """The first channel of a call created in an inbound context."""
        book = self.book
        out: list[DomainEvent] = []
        call = book.new_call(m, lid, INBOUND, out)
        book.register(call, uid, m.get("Channel", ""), HANDSET, m.get("Exten", ""))
        book.set_did(call, m.get("Exten"))
        num = m.get("CallerIDNum")
        book.set_caller(call, num, m.get("CallerIDName"))
        if known(num) is not None:  # a trunk channel knows its caller id at once
            book.ensure_started(call, out)
        return out

    def channel(self, call: Call, m: Message, uid: str) -> list[DomainEvent]:
        """Another channel of an inbound call: the caller's side when in an inbound
        context, an agent leg when it pairs with one, else other (transfer targets...)."""
        role = CALLER if m.get("Context", "") in self.book.inbound else OTHER
        chan = self.book.register(call, uid, m.get("Channel", ""), role, m.get("Exten", ""))
        if role == OTHER:
            partner = self.book.partner(call, chan.name)
            if partner is not None and partner in call.agent_uids:
                chan.role = AGENT
        return []

    def hangup(self, call: Call, chan: Chan, m: Message, t: float,
               out: list[DomainEvent]) -> None:
        if call.first_hangup_handset is None:
            call.first_hangup_handset = chan.role == HANDSET
        if call.consults:
            self.consults.hangup(call, chan, t)
        if chan.role == HANDSET and m.get("ChannelState", "6") != "6":
            call.handset_up = False
        if chan.uid in call.agent_uids and call.state is S.TALKING \
                and call.redirect_to is not None:
            self._redirect(call, t, out)
            return
        side = self._side(call, chan)
        if side is not None:
            talk_ends(call, side, t)

    def _side(self, call: Call, chan: Chan) -> str | None:
        """``caller`` or ``agent`` for a channel of the conversation: the caller's side,
        or the answering agent's leg until a transfer handed the caller on."""
        if chan.role in (HANDSET, CALLER):
            return "caller"
        if chan.uid in call.agent_uids and not transferred(call):
            return "agent"
        return None

    def bridge_leave(self, call: Call, chan: Chan, m: Message) -> None:
        # Redirect, first half: the caller's queue channel leaves the agent bridge
        # into another context; confirmed when the agent leg hangs up.
        if (call.state is S.TALKING and chan.uid == call.queue_uid
                and m.get("Context", "") != call.queue_context):
            call.redirect_to = m.get("Exten", "") or m.get("Context", "")
        side = self._side(call, chan)
        if side is not None:
            talk_ends(call, side, self.book.time(m), chan.uid)

    @staticmethod
    def bridge_enter(call: Call, chan: Chan) -> None:
        # an attended transfer moves the answering agent's leg out of the caller's
        # bridge into the consult's: only a leg that does not come back ended the talk
        if chan.uid in call.agent_uids:
            talk_resumes(call, chan.uid)

    def _redirect(self, call: Call, t: float, out: list[DomainEvent]) -> None:
        nxt = self.book.transition(call, "Redirect")
        if nxt is None:
            return
        call.state = nxt
        self._agent_part_ends(call, t)
        target = call.redirect_to or ""
        call.redirect_to = None
        call.transfers.append(Transfer(kind="redirect", by=None, target=target, result="Success",
                                       at=ts(t)))
        out.append(CallTransferred(at=ts(t), linkedid=call.linkedid, kind="redirect", by=None,
                                   target=target, result="Success"))

    @staticmethod
    def _agent_part_ends(call: Call, t: float) -> Attempt | None:
        """The agent talking to the caller is done with them (complete, transfer): the
        end of that agent's leg. Returns that attempt (the last one, when already done)."""
        talking = call.talking
        if talking is None:
            answered = [a for a in call.attempts.values()
                        if a.result == "answered" and a.consult is None]
            return answered[-1] if answered else None
        if talking.ended_at is None:
            talking.ended_at = t
        call.talking = None
        return talking

    def mark_agent_leg(self, call: Call, uid: str, name: str) -> None:
        """An agent leg and its Local partner are the agent's side."""
        chan = call.channels.get(uid)
        if chan is not None and chan.role == OTHER:
            chan.role = AGENT
        partner = self.book.partner(call, name)
        if partner is not None:
            other = call.channels.get(partner)
            if other is not None and other.role == OTHER:
                other.role = AGENT

    def agent_uids(self, call: Call, uid: str, name: str) -> set[str]:
        """The answering agent's leg and its Local partner."""
        uids = {uid}
        partner = self.book.partner(call, name)
        if partner is not None:
            uids.add(partner)
        return uids

    # ---------------------------------------------------------- queue events

    def on_join(self, m: Message) -> list[DomainEvent]:
        book = self.book
        call = book.call_of(m)
        if call is None:
            book.untracked("QueueCallerJoin", m)
            return []
        if self.consults.joins(call, m):
            return self.consults.on_join(call, m)
        queue = m.get("Queue", "")
        if call.state is S.QUEUED and call.queue == queue:
            return []  # replayed
        nxt = book.transition(call, "QueueCallerJoin")
        if nxt is None:
            return []
        t = book.time(m)
        out: list[DomainEvent] = []
        book.set_caller(call, m.get("CallerIDNum"), m.get("CallerIDName"))
        if m.get("Context") in book.inbound:
            book.set_did(call, m.get("Exten"))
        book.ensure_started(call, out)
        call.state = nxt
        call.queue = queue
        if queue not in call.queues:
            call.queues.append(queue)
        if call.queued_at is None:
            call.queued_at = t
        call.joined_at = t
        call.left_at = None
        call.queue_uid = m.get("Uniqueid") or call.queue_uid
        position = to_int(m.get("Position")) or 0
        out.append(CallQueued(at=ts(t), linkedid=call.linkedid, queue=queue, position=position,
                              caller=call.caller, caller_name=call.caller_name, did=call.did))
        return out

    def on_leave(self, m: Message) -> list[DomainEvent]:
        call = self.book.call_of(m)
        if call is None or self.consults.owns(call, m):
            return []  # a consult's leaving its queue says nothing of the caller
        nxt = self.book.transition(call, "QueueCallerLeave")
        if nxt is None:
            return []
        t = self.book.time(m)
        call.state = nxt
        if call.left_at is None:
            call.left_at = t
        return []

    def on_abandon(self, call: Call, m: Message) -> list[DomainEvent]:
        book = self.book
        nxt = book.transition(call, "QueueCallerAbandon")
        if nxt is None:
            return []
        t = book.time(m)
        call.state = nxt
        call.abandoned = True
        call.left_at = t
        hold = to_int(m.get("HoldTime"))
        if hold is not None and call.answered_at is None:  # after an answer: wait is known
            call.wait_s = queue_wait(call, hold, t)
        for attempt in call.attempts.values():
            if attempt.result is None:
                attempt.result = "abandoned"
                attempt.ring_ms = max(0, round((t - attempt.called_at) * 1000))
        return []

    def on_agent_called(self, call: Call, m: Message) -> list[DomainEvent]:
        book = self.book
        dest_uid = m.get("DestUniqueid", "") or m.get("DestChannel", "")
        if dest_uid in call.attempts:
            return []  # replayed
        nxt = book.transition(call, "AgentCalled")
        if nxt is None:
            return []
        t = book.time(m)
        out: list[DomainEvent] = []
        book.ensure_started(call, out)
        call.state = nxt
        agent = m.get("MemberName", "") or m.get("Interface", "")
        interface = m.get("Interface", "")
        queue = m.get("Queue", "") or call.queue or ""
        call.attempts[dest_uid] = Attempt(agent, interface, queue, dest_uid, t)
        self.mark_agent_leg(call, dest_uid, m.get("DestChannel", ""))
        out.append(AgentRinging(
            at=ts(t), linkedid=call.linkedid, queue=queue, agent=agent, interface=interface,
            agent_channel=m.get("DestChannel", ""), caller=call.caller,
            caller_name=call.caller_name, did=call.did, ivr=dict(call.ivr)))
        return out

    def _find_attempt(self, call: Call, m: Message) -> Attempt | None:
        attempt = call.attempts.get(m.get("DestUniqueid", "") or m.get("DestChannel", ""))
        if attempt is not None:
            return attempt
        interface = m.get("Interface", "")
        for candidate in reversed(list(call.attempts.values())):
            if (candidate.interface == interface and candidate.result is None
                    and candidate.consult is None):
                return candidate
        return None

    def _attempt_of(self, call: Call, m: Message, t: float) -> Attempt:
        """The attempt an event names; a new one when its AgentCalled was missed."""
        attempt = self._find_attempt(call, m)
        if attempt is None:
            dest_uid = m.get("DestUniqueid", "")
            attempt = Attempt(m.get("MemberName", "") or m.get("Interface", ""),
                              m.get("Interface", ""), m.get("Queue", "") or call.queue or "",
                              dest_uid, t)
            call.attempts[dest_uid or f"?{len(call.attempts)}"] = attempt
        return attempt

    def on_ring_no_answer(self, m: Message) -> list[DomainEvent]:
        book = self.book
        call = book.call_of(m)
        if call is None:
            return []
        if self.consults.owns(call, m):
            return self.consults.on_ring_no_answer(call, m)
        found = self._find_attempt(call, m)
        if found is not None and found.result is not None:
            return []  # replayed
        nxt = book.transition(call, "AgentRingNoAnswer")
        if nxt is None:
            return []
        t = book.time(m)
        ring_ms = to_int(m.get("RingTime"))
        attempt = self._attempt_of(call, m, t)
        attempt.result = "no-answer"
        attempt.ring_ms = ring_ms
        if nxt is S.QUEUED and any(a.result is None for a in call.attempts.values()):
            nxt = S.RINGING
        call.state = nxt
        return [AgentRingNoAnswer(at=ts(t), linkedid=call.linkedid, queue=attempt.queue,
                                  agent=attempt.agent, interface=attempt.interface,
                                  ring_ms=ring_ms)]

    def on_connect(self, call: Call, m: Message) -> list[DomainEvent]:
        book = self.book
        nxt = book.transition(call, "AgentConnect")
        if nxt is None:
            return []
        t = book.time(m)
        out: list[DomainEvent] = []
        book.ensure_started(call, out)
        call.state = nxt
        dest_uid = m.get("DestUniqueid", "")
        hold, ring = to_int(m.get("HoldTime")), to_int(m.get("RingTime"))
        seen = self._find_attempt(call, m) is not None
        attempt = self._attempt_of(call, m, t)
        attempt.result = "answered"
        attempt.answered_at = t
        # measured from its AgentCalled (ms); else Asterisk's RingTime (whole seconds)
        if seen:
            attempt.ring_ms = max(0, round((t - attempt.called_at) * 1000))
        elif ring is not None:
            attempt.ring_ms = ring * 1000
        call.talking = attempt
        for other in call.attempts.values():
            if other.result is None and other.consult is None:
                other.result = "lost"  # ringall: someone else answered first
        queue = m.get("Queue", "") or attempt.queue
        if call.agent is None:  # the summary keeps the first agent who answered
            call.agent = attempt.agent
            call.agent_interface = attempt.interface
            call.agent_channel = m.get("DestChannel", "") or None
            call.answered_at = t
            call.wait_s = queue_wait(call, hold, t)
            call.ring_s = ring
            call.queue_context = m.get("Context", "")
            if m.get("Uniqueid"):
                call.queue_uid = m.get("Uniqueid")
            call.agent_uids = self.agent_uids(call, dest_uid, m.get("DestChannel", ""))
            self.mark_agent_leg(call, dest_uid, m.get("DestChannel", ""))
        out.append(CallAnswered(at=ts(t), linkedid=call.linkedid, queue=queue,
                                agent=attempt.agent, interface=attempt.interface,
                                agent_channel=m.get("DestChannel", ""), wait_s=hold, ring_s=ring))
        return out

    def on_complete(self, m: Message) -> list[DomainEvent]:
        call = self.book.call_of(m)
        if call is None and not m.get("Uniqueid"):
            found = self.consults.completed_member(m)
            return self.consults.on_complete(found[1], m) if found is not None else []
        if call is None:
            return []
        if self.consults.owns(call, m):
            attempt = self.consults.attempt_of(call, m)
            return self.consults.on_complete(attempt, m) if attempt is not None else []
        nxt = self.book.transition(call, "AgentComplete")
        if nxt is None:
            return []
        t = self.book.time(m)
        call.state = nxt
        talking = self._agent_part_ends(call, t)
        if talking is not None and talking.talk_s is None:
            talking.talk_s = to_int(m.get("TalkTime"))
        if not call.completed:
            call.completed = True
            talk = to_int(m.get("TalkTime"))
            if talk is not None:
                call.talk_s = talk
            reason = m.get("Reason", "")
            if reason in HANGUP_REASONS:
                call.hangup_by = reason
            if call.wait_s is None:
                call.wait_s = queue_wait(call, to_int(m.get("HoldTime")), call.answered_at or t)
        return []

    # ------------------------------------------------------------- transfers

    def _transfer(self, call: Call, m: Message, kind: str, by_uid: str, by_chan: str,
                  target: str) -> list[DomainEvent]:
        book = self.book
        result = m.get("Result", "")
        if result == "Success":
            nxt = book.transition(call, "BlindTransfer" if kind == "blind" else "AttendedTransfer")
            if nxt is None:
                return []
            call.state = nxt
        t = book.time(m)
        if result == "Success":
            self._agent_part_ends(call, t)
        out: list[DomainEvent] = []
        book.ensure_started(call, out)
        by = call.agent if by_uid and by_uid in call.agent_uids else (by_chan or None)
        call.transfers.append(Transfer(kind=kind, by=by, target=target, result=result, at=ts(t)))
        out.append(CallTransferred(at=ts(t), linkedid=call.linkedid, kind=kind, by=by,
                                   target=target, result=result))
        return out

    def on_blind_transfer(self, m: Message) -> list[DomainEvent]:
        book = self.book
        call = (book.call_of(m, "TransfererUniqueid", "TransfererLinkedid")
                or book.call_of(m, "TransfereeUniqueid", "TransfereeLinkedid"))
        if call is None:
            return []
        target = m.get("Extension", "")
        return self._transfer(call, m, "blind", m.get("TransfererUniqueid", ""),
                              m.get("TransfererChannel", ""), target)

    def on_attended_transfer(self, m: Message) -> list[DomainEvent]:
        book = self.book
        call = (book.call_of(m, "OrigTransfererUniqueid", "OrigTransfererLinkedid")
                or book.call_of(m, "TransfereeUniqueid", "TransfereeLinkedid")
                or book.call_of(m, "SecondTransfererUniqueid", "SecondTransfererLinkedid"))
        if call is None:
            return []
        return self._transfer(call, m, "attended", m.get("OrigTransfererUniqueid", ""),
                              m.get("OrigTransfererChannel", ""), self._atxfer_target(call, m))

    def _atxfer_target(self, call: Call, m: Message) -> str:
        """Who the caller was handed to: the target channel, else who shares their bridge."""
        book = self.book
        target = book.channels.get(m.get("TransferTargetUniqueid", ""))
        if target is not None:
            return target_of(target)
        skip = {m.get(k, "") for k in ("TransfereeUniqueid", "OrigTransfererUniqueid",
                                       "SecondTransfererUniqueid")}
        for key in ("DestBridgeUniqueid", "SecondBridgeUniqueid"):
            for uid in sorted(book.bridges.get(m.get(key, ""), ())):
                chan = book.channels.get(uid)
                if chan is not None and uid not in skip and chan.role == OTHER:
                    return target_of(chan)
        others = [c for c in call.channels.values() if c.role == OTHER]
        if others:
            return target_of(min(others, key=lambda c: c.seq))
        return m.get("TransferTargetChannel", "") or m.get("DestApp", "")

    # --------------------------------------------------------------- summary

    def summary(self, call: Call, t: float, system: bool) -> CallSummary:
        answered = call.answered_at is not None
        abandoned = not answered and (
            call.abandoned or call.state in (S.QUEUED, S.RINGING))
        gave_up = "caller" if abandoned or call.first_hangup_handset else None
        if not answered and not call.queues:
            gave_up = ivr_hangup(call.ivr, gave_up)
        fig = figures(call, t, system=system, answerer="caller", gave_up=gave_up)
        if answered:
            outcome = "transferred" if fig.hangup_by == "transfer" else "answered"
        elif abandoned:
            outcome = "abandoned"
        elif call.queues:
            outcome = "no-answer"
        elif not call.handset_up:
            outcome = "failed"
        else:
            outcome = "ivr-only"
        tried = []
        for a in call.attempts.values():
            result = a.result or ("abandoned" if outcome == "abandoned" else "lost")
            talk = a.talk_s
            if talk is None and a.answered_at is not None:  # no AgentComplete for it
                # the call's talk end counts only when it came after this agent answered
                # (a transfer's earlier agent hung up before a later one took the caller)
                end = call.talk_end if call.talk_end is not None \
                    and call.talk_end >= a.answered_at else t
                talk = seconds(a.answered_at, a.ended_at or end)
            tried.append(AgentAttempt(agent=a.agent, interface=a.interface, queue=a.queue,
                                      result=result, ring_ms=a.ring_ms, talk_s=talk))
        return CallSummary(
            linkedid=call.linkedid, caller=call.caller, caller_name=call.caller_name,
            did=call.did, queues=tuple(call.queues), agents_tried=tuple(tried),
            agent=call.agent, agent_interface=call.agent_interface,
            started_at=ts(call.started_at), queued_at=ts(call.queued_at),
            answered_at=ts(call.answered_at), ended_at=ts(t), wait_s=fig.wait_s,
            ring_s=fig.ring_s, talk_s=fig.talk_s, hangup_by=fig.hangup_by, outcome=outcome,
            transfers=tuple(call.transfers), ivr=dict(call.ivr), recording=call.recording)

    def live_state(self, call: Call) -> tuple[str, str | None]:
        """(state, agent) of an open inbound call for the live page."""
        state = LIVE_STATE[call.state]
        if call.state is S.AFTER and not call.transfers:
            state = "ivr"
        # the agent on the call now: the latest to answer (a transfer's target, a
        # consult's), as the CallAnswered events told the live page
        answered = [a for a in call.attempts.values() if a.result == "answered"]
        return state, answered[-1].agent if answered else call.agent


def ivr_hangup(ivr: Mapping[str, str], by_channels: str | None) -> str | None:
    """Who ended a call that never left the IVR: the IVR says it, not the order of the
    channels (a Local pair's halves hang up in either order on Asterisk 22, and a trunk
    is one channel). ``HOTLINE_ACTION=hangup``: the IVR ended it (None: the system); an
    IVR that ran and never handed the call on was cut off by the caller."""
    action = ivr.get("HOTLINE_ACTION")
    if action == "hangup":
        return None
    if not action and ivr.get("HOTLINE_IVR_PATH"):
        return "caller"
    return by_channels
