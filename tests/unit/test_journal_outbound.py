"""The journal's reconciliation (``hotline.journal``) of OUTBOUND calls, on the real
Asterisk 22 journals (tests/fixtures/asterisk/cel/): a click-to-dial or a callback that
ended while Hotline could not watch is logged once, as the tracker would have logged it,
with what Hotline's own records add (the agent's name, a callback's number); one the
resync had to end blind is corrected. No sockets: the journal is a file, the bus a list."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path

from hotline.journal import CsvJournal, JournalReconciler
from telephony.cel import parse_line
from telephony.events import CallEnded, CallSummary, DomainEvent, ts

JOURNALS = Path(__file__).resolve().parents[1] / "fixtures" / "asterisk" / "cel"
CLICK = "1796630723.0"  # click-to-dial-answered: Alice (in no queue) dials 13700137000
MISSED = "hlcb-1-ce1373d563"  # callback-agent-misses: callback 1, her phone never answered
ALICE = {"Local/1001@agents": ("Alice", "Local/1001@agents/n")}  # the users' phones


def _journal(tmp_path: Path, *names: str) -> tuple[CsvJournal, float]:
    """The named real journals in one file, and the time just after their last event."""
    data = b"".join((JOURNALS / f"{name}.csv").read_bytes() for name in names)
    path = tmp_path / "hotline-cel.csv"
    path.write_bytes(data)
    last = max(e.time for e in map(parse_line, data.splitlines()) if e is not None)
    return CsvJournal(path), last + 1.0


class Side:
    """What the reconciler talks to: the bus (a list) and the call log (a set)."""

    def __init__(self) -> None:
        self.published: list[DomainEvent] = []
        self.logged: set[str] = set()
        self.asked: list[list[str]] = []

    def publish(self, event: DomainEvent) -> None:
        self.published.append(event)
        if isinstance(event, CallEnded):
            self.logged.add(event.summary.linkedid)

    async def already(self, linkedids: Iterable[str]) -> set[str]:
        return self.logged & set(linkedids)

    async def agents(self) -> Mapping[str, tuple[str, str]]:
        return ALICE

    async def dialled(self, linkedids: list[str]) -> Mapping[str, str]:
        self.asked.append(linkedids)
        return {MISSED: "+8613600136000"} if MISSED in linkedids else {}

    def ended(self) -> dict[str, CallSummary]:
        return {e.summary.linkedid: e.summary for e in self.published
                if isinstance(e, CallEnded)}


async def _never() -> datetime | None:
    return None


def _reconciler(journal: CsvJournal, side: Side, now: float, *,
                outbound_aware: bool = True) -> JournalReconciler:
    extra = dict(origin=lambda: {"agents"}, outbound={"outbound"}, agents=side.agents,
                 dialled=side.dialled) if outbound_aware else {}
    return JournalReconciler(
        journal, publish=side.publish, logged=side.already, last_logged=_never,
        member_of=lambda _channel: None, inbound=lambda: {"from-pstn"},
        is_open=lambda _lid: False, clock=lambda: now, **extra)  # type: ignore[arg-type]


async def test_outbound_calls_that_ended_unseen_are_logged_once(tmp_path: Path) -> None:
    journal, now = _journal(tmp_path, "click-to-dial-answered", "callback-agent-misses")
    side = Side()
    await _reconciler(journal, side, now).reconcile(None, [])
    ended = side.ended()
    assert sorted(ended) == [CLICK, MISSED]
    click, missed = ended[CLICK], ended[MISSED]
    assert (click.direction, click.caller, click.agent, click.agent_interface, click.outcome,
            click.hangup_by, click.did, click.queues) == (
        "outbound", "+8613700137000", "Alice", "Local/1001@agents/n", "answered", "customer",
        None, ())
    assert click.answered_at is not None and click.talk_s == 5 and click.ring_s == 2
    assert click.ivr == {"HOTLINE_DIALLED": "13700137000"}
    # her phone never answered: no event names the number, the callback's request does
    assert (missed.direction, missed.caller, missed.agent, missed.outcome, missed.hangup_by) \
        == ("outbound", "+8613600136000", "Alice", "failed", "system")
    assert missed.ivr == {"HOTLINE_CALLBACK": MISSED, "HOTLINE_CALLBACK_ID": "1"}
    assert side.asked == [[MISSED]]  # only the call whose number the journal lacks
    # read again (the next outage, a restart): nothing twice
    await _reconciler(journal, side, now).reconcile(None, [])
    assert len(side.published) == 2


async def test_an_outbound_call_cut_by_an_outage_gets_the_journals_outcome(
        tmp_path: Path) -> None:
    """The link went down while the customer's phone rang; the call was answered and
    ended before the resync, which ended it blind (no channel left): the tracker's guess
    (no-answer, system) is corrected; its variables stay (who clicked, the number)."""
    journal, now = _journal(tmp_path, "click-to-dial-answered")
    side = Side()
    ivr = {"HOTLINE_ORIGINATED_BY": "alice", "HOTLINE_AGENT_NAME": "Alice",
           "HOTLINE_DIALLED": "13700137000"}
    guess = CallSummary(
        linkedid=CLICK, caller="+8613700137000", caller_name=None, did=None, agent="Alice",
        agent_interface="Local/1001@agents/n", started_at=ts(1796630723.46),
        ended_at=ts(1796630725.0), outcome="no-answer", hangup_by="system", ivr=ivr,
        direction="outbound")
    held = [CallEnded(at=ts(1796630725.0), summary=guess)]
    await _reconciler(journal, side, now).reconcile(1796630725.0, held)
    (record,) = side.ended().values()
    assert (record.outcome, record.hangup_by, record.agent, record.caller, record.direction) \
        == ("answered", "customer", "Alice", "+8613700137000", "outbound")
    assert record.ivr == ivr and record.talk_s == 5
    assert side.published == [CallEnded(at=held[0].at, summary=record)]


async def test_without_the_outbound_contexts_outbound_calls_are_left_alone(
        tmp_path: Path) -> None:
    """A reconciler not told where Originates start recognises no outbound call: it
    logs none (an inbound-only wiring keeps its old behaviour)."""
    journal, now = _journal(tmp_path, "click-to-dial-answered")
    side = Side()
    await _reconciler(journal, side, now, outbound_aware=False).reconcile(None, [])
    assert side.published == []


async def test_when_hotlines_records_cannot_be_read_the_journals_record_stands(
        tmp_path: Path) -> None:
    """The agents' phones and the callbacks' numbers are a help: unreadable (the
    database down), the calls are logged as the journal tells them, not dropped."""
    journal, now = _journal(tmp_path, "click-to-dial-answered", "callback-agent-misses")
    side = Side()

    async def broken(*_args: object) -> Mapping[str, tuple[str, str]]:
        raise ConnectionError("database unreachable")

    reconciler = _reconciler(journal, side, now)
    reconciler.agents = broken
    reconciler.dialled = broken  # type: ignore[assignment]
    await reconciler.reconcile(None, [])
    ended = side.ended()
    assert (ended[CLICK].agent, ended[CLICK].caller, ended[CLICK].outcome) == (
        "Local/1001@agents", "+8613700137000", "answered")
    assert (ended[MISSED].caller, ended[MISSED].outcome) == (None, "failed")
    assert reconciler.counts["failed"] == 0


async def test_a_call_the_tracker_followed_at_the_resync_is_never_the_journals(
        tmp_path: Path) -> None:
    """Issue 13, never doubled: the resync adopted the click-to-dial (still up); it ends
    while the journal is being read, its record not in the database yet. The journal has
    its end, the tracker no longer has it open, the call log does not name it: it is the
    tracker's all the same (followed when the resync ended), not logged a second time."""
    journal, now = _journal(tmp_path, "click-to-dial-answered", "callback-agent-misses")
    side = Side()
    reconciler = _reconciler(journal, side, now)
    reconciler.followed = lambda: {CLICK}
    reconciler.after_resync(None, [])
    [task] = reconciler._tasks
    await task
    assert sorted(side.ended()) == [MISSED]  # the other one ended unseen: the journal's
