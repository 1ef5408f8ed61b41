"""TrackerFeed: which records go to the bus at once and which wait for the PBX's journal
(issue 13 items 1-2).

A call that ends while a resync runs is recorded from the tracker's view of before the
cut (the snapshot is not reconciled yet): a caller in the IVR at the cut, who queued and
timed out during the outage, came out ``ivr-only``. Its record goes to the journal's
reconciliation with the resync's own, as the calls that vanished do. Seen over real AMI
under load (tests/integration/test_restart_journal.py, one run in a few on a busy
machine); here with a tracker that says what it is told to.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from hotline.pipeline import TrackerFeed
from telephony.events import CallEnded, CallQueued, CallStarted, CallSummary, DomainEvent


def ended(linkedid: str, outcome: str = "ivr-only") -> CallEnded:
    return CallEnded(summary=CallSummary(linkedid=linkedid, caller=None, caller_name=None,
                                         did=None, outcome=outcome))


def started(linkedid: str) -> CallStarted:
    return CallStarted(linkedid=linkedid, caller=None, caller_name=None, did=None)


class Tracker:
    """Answers each AMI message (by its Event) with the domain events it was given."""

    def __init__(self) -> None:
        self.answers: dict[str, list[DomainEvent]] = {}
        self.at_resync_end: list[DomainEvent] = []
        self.last_event_time: float | None = None

    def feed(self, msg: Mapping[str, str]) -> list[DomainEvent]:
        self.last_event_time = float(msg.get("Time", self.last_event_time or 0.0))
        return self.answers.pop(msg["Event"], [])

    def begin_resync(self) -> None:
        pass

    def end_resync(self) -> list[DomainEvent]:
        out, self.at_resync_end = self.at_resync_end, []
        return out


class Bus:
    def __init__(self) -> None:
        self.events: list[DomainEvent] = []

    def publish_nowait(self, event: DomainEvent) -> None:
        self.events.append(event)


class Journal:
    def __init__(self) -> None:
        self.calls: list[tuple[float | None, list[str]]] = []

    def after_resync(self, since: float | None, held: Iterable[CallEnded]) -> None:
        self.calls.append((since, [e.linkedid for e in held]))


def feed(journal: Journal | None = None) -> tuple[TrackerFeed, Tracker, Bus]:
    tracker, bus = Tracker(), Bus()
    return TrackerFeed(tracker, bus, journal), tracker, bus  # type: ignore[arg-type]


def an_outage(f: TrackerFeed, tracker: Tracker, at: float) -> None:
    """The link is up, events until ``at``, then it goes down and comes back."""
    f.on_connected()
    f.on_event({"Event": "Ping", "Time": str(at)})
    f.on_disconnected()
    f.on_connected()


def test_a_call_that_ends_while_the_resync_runs_waits_for_the_journal() -> None:
    journal = Journal()
    f, tracker, bus = feed(journal)
    an_outage(f, tracker, 100.0)
    f.on_resync_begin()
    tracker.answers["Hangup"] = [ended("A")]  # in the IVR at the cut: the tracker's guess
    tracker.answers["Newchannel"] = [started("C")]
    f.on_event({"Event": "Hangup", "Time": "130"})
    f.on_event({"Event": "Newchannel", "Time": "131"})
    assert [e.type for e in bus.events] == ["CallStarted"]  # live events still flow
    tracker.at_resync_end = [ended("B"), CallQueued(linkedid="Q", queue="support",
                                                    position=1, caller=None,
                                                    caller_name=None, did=None)]
    f.on_resync_end()
    assert [e.type for e in bus.events] == ["CallStarted", "CallQueued"]
    assert journal.calls == [(100.0, ["A", "B"])]  # since the cut, both for correction


def test_outside_a_resync_a_call_ended_goes_to_the_bus_at_once() -> None:
    journal = Journal()
    f, tracker, bus = feed(journal)
    an_outage(f, tracker, 100.0)
    f.on_resync_begin()
    f.on_resync_end()
    tracker.answers["Hangup"] = [ended("A", "answered")]
    f.on_event({"Event": "Hangup", "Time": "140"})
    assert [e.type for e in bus.events] == ["CallEnded"]
    assert journal.calls == [(100.0, [])]


def test_without_a_journal_nothing_waits() -> None:
    f, tracker, bus = feed(None)
    an_outage(f, tracker, 100.0)
    f.on_resync_begin()
    tracker.answers["Hangup"] = [ended("A")]
    f.on_event({"Event": "Hangup", "Time": "130"})
    tracker.at_resync_end = [ended("B")]
    f.on_resync_end()
    assert [e.linkedid for e in bus.events if isinstance(e, CallEnded)] == ["A", "B"]


def test_a_resync_cut_short_keeps_the_first_cut_and_what_it_held() -> None:
    """The link is lost again before the snapshot is complete (no on_resync_end): the
    next resync's reading of the journal starts at the FIRST cut, with the calls held."""
    journal = Journal()
    f, tracker, bus = feed(journal)
    an_outage(f, tracker, 100.0)
    f.on_resync_begin()
    tracker.answers["Hangup"] = [ended("A")]
    f.on_event({"Event": "Hangup", "Time": "130"})
    f.on_disconnected()  # mid-resync
    f.on_connected()
    f.on_resync_begin()
    f.on_resync_end()
    assert journal.calls == [(100.0, ["A"])]
    assert bus.events == []


def test_a_failing_end_of_resync_still_hands_over_what_was_held() -> None:
    journal = Journal()
    f, tracker, bus = feed(journal)
    an_outage(f, tracker, 100.0)
    f.on_resync_begin()
    tracker.answers["Hangup"] = [ended("A")]
    f.on_event({"Event": "Hangup", "Time": "130"})

    def broken() -> list[DomainEvent]:
        raise RuntimeError("tracker bug")

    tracker.end_resync = broken  # type: ignore[method-assign]
    f.on_resync_end()
    assert f.errors == 1
    assert journal.calls == [(100.0, ["A"])]
