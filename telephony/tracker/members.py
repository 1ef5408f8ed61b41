"""Agents and queue members: QueueMember* events into ``QueueMemberChanged`` and
``AgentStateChanged``, and which member a device (a channel's phone) belongs to."""

from __future__ import annotations

from collections.abc import Iterator

from telephony.events import AgentStateChanged, DomainEvent, QueueMemberChanged, ts
from telephony.tracker.book import CallBook
from telephony.tracker.model import DEVICE_STATES, Handler, Message, device_of, to_int

MemberRecord = tuple[str, int | None, bool, str, int | None]


class Members:
    """What the PBX believes about each queue member and agent."""

    def __init__(self, book: CallBook) -> None:
        self.book = book
        self.agent_states: dict[str, tuple[str, bool, str]] = {}
        self.members: dict[tuple[str, str], MemberRecord] = {}
        self.devices: dict[str, tuple[str, str]] = {}  # state interface -> (name, interface)

    def handlers(self) -> Iterator[tuple[str, Handler]]:
        yield "QueueMemberStatus", self.on_status
        yield "QueueMemberPause", self.on_pause
        yield "QueueMemberPaused", self.on_pause  # name before Asterisk 12
        yield "QueueMemberAdded", self.on_added
        yield "QueueMemberRemoved", self.on_removed
        yield "QueueMemberPenalty", self.on_penalty

    def member_of(self, channel: str) -> tuple[str, str]:
        """(member name, interface) of a channel's device; the device itself when unknown."""
        device = device_of(channel)
        found = self.devices.get(device)
        return found if found is not None else (device, device + "/n")

    def change(self, m: Message, change: str | None) -> list[DomainEvent]:
        """One member event; ``change`` None: a QueueStatus snapshot entry (only news count)."""
        queue = m.get("Queue", "")
        interface = m.get("Interface", "") or m.get("Location", "")
        if not interface:
            return []
        agent = m.get("MemberName", "") or m.get("Name", "") or interface
        status = to_int(m.get("Status"))
        paused = m.get("Paused", "") == "1"
        reason = m.get("PausedReason", "") if paused else ""
        penalty = to_int(m.get("Penalty"))
        key = (queue, interface)
        record = (agent, status, paused, reason, penalty)
        if change is None:
            if self.members.get(key) == record:
                return []
            change = "status"
        t = self.book.time(m)
        out: list[DomainEvent] = [QueueMemberChanged(
            at=ts(t), queue=queue, interface=interface, agent=agent, change=change,
            status=status, paused=paused, reason=reason, penalty=penalty)]
        device = m.get("StateInterface", "") or interface.removesuffix("/n")
        if change == "removed":
            self.members.pop(key, None)
            if not any(k[1] == interface for k in self.members):
                self.devices.pop(device, None)
                if self.agent_states.pop(interface, None) is not None:
                    out.append(AgentStateChanged(at=ts(t), interface=interface, agent=agent,
                                                 state="unavailable", paused=False, reason=""))
            return out
        self.members[key] = record
        self.devices[device] = (agent, interface)
        state = DEVICE_STATES.get(m.get("Status", ""), "unknown")
        if self.agent_states.get(interface) != (state, paused, reason):
            self.agent_states[interface] = (state, paused, reason)
            out.append(AgentStateChanged(at=ts(t), interface=interface, agent=agent, state=state,
                                         paused=paused, reason=reason))
        return out

    def on_status(self, m: Message) -> list[DomainEvent]:
        return self.change(m, "status")

    def on_pause(self, m: Message) -> list[DomainEvent]:
        return self.change(m, "paused" if m.get("Paused", "") == "1" else "unpaused")

    def on_added(self, m: Message) -> list[DomainEvent]:
        return self.change(m, "added")

    def on_removed(self, m: Message) -> list[DomainEvent]:
        return self.change(m, "removed")

    def on_penalty(self, m: Message) -> list[DomainEvent]:
        return self.change(m, "penalty")

    def removed_since(self, queues: set[str], listed: set[tuple[str, str]],
                      now: float) -> list[DomainEvent]:
        """After a QueueStatus snapshot: members of ``queues`` it no longer lists are gone."""
        out: list[DomainEvent] = []
        for queue, interface in list(self.members):
            if queue in queues and (queue, interface) not in listed:
                agent = self.members[(queue, interface)][0]
                out.extend(self.change({"Queue": queue, "Interface": interface,
                                        "MemberName": agent, "Timestamp": str(now)},
                                       "removed"))
        return out
