"""The wallboard's pure parts: agent views into state spans, the board fed by events,
and midnight (the open spans cut there, a new day's board)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, cast

from agent_console.agent_state import AgentView, CallInfo
from agent_console.wallboard import WallboardHub
from agent_console.wallboard_state import Board, SpanLog
from crm_core import kpi
from crm_core.kpi import QueueRules
from telephony.events import CallAnswered, CallEnded, CallQueued, CallSummary

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
A = "PJSIP/1001"


def view(state: str, *, reason: str = "", call: str | None = None,
         wrapup: str | None = None) -> AgentView:
    info = None if call is None else CallInfo(
        linkedid=call, queue="support", caller=None, caller_name=None, agent_channel="",
        state="talking" if state == "busy" else "ringing", since=T0)
    return AgentView(interface=A, agent="Alice", queues=("support",), state=state,
                     device="", paused=state == "paused", reason=reason, wrapup_until=None,
                     wrapup_linkedid=wrapup, call=info)


def at(s: int) -> datetime:
    return T0 + timedelta(seconds=s)


def test_views_become_spans_a_change_of_state_reason_or_call_opens_a_new_one() -> None:
    log = SpanLog()
    assert log.feed(view("ready"), at(0)) == []
    assert log.feed(view("ready"), at(5)) == []  # the same: nothing closes
    closed = log.feed(view("ringing", call="c1"), at(10))
    closed += log.feed(view("busy", call="c1"), at(12))
    closed += log.feed(view("wrap-up", wrapup="c1"), at(72))
    closed += log.feed(view("paused", reason="lunch"), at(80))
    closed += log.feed(view("paused", reason="training"), at(90))
    assert [(s.state, s.reason, s.linkedid, s.started_at, s.ended_at) for s in closed] == [
        ("ready", None, None, at(0), at(10)),
        ("ringing", None, "c1", at(10), at(12)),
        ("talking", None, "c1", at(12), at(72)),
        ("wrap-up", None, "c1", at(72), at(80)),
        ("paused", "lunch", None, at(80), at(90)),
    ]
    assert log.open[A].state == "paused" and log.open[A].reason == "training"


def summary(linkedid: str, outcome: str, wait: int, ended: datetime) -> CallSummary:
    return CallSummary(linkedid=linkedid, caller="+8613800138000", caller_name=None,
                       did="4008001234", queues=("support",), agent_interface=A,
                       queued_at=ended, wait_s=wait, talk_s=30, outcome=outcome,
                       ended_at=ended)


def test_the_board_counts_each_call_once_when_it_ends_and_knows_who_waits() -> None:
    board = Board.for_day(T0, {"*": QueueRules(sl_s=20)})
    assert board.feed(CallQueued(at=at(0), linkedid="c1", queue="support", position=1,
                                 caller="13800138000", caller_name=None, did="4008001234"))
    tiles = board.queue_tiles(at(30))
    assert tiles[0]["waiting"] == 1 and tiles[0]["longest_wait_s"] == 30
    assert board.feed(CallAnswered(at=at(31), linkedid="c1", queue="support", agent="Alice",
                                   interface=A, agent_channel="", wait_s=31, ring_s=1))
    ended = CallEnded(at=at(90), summary=summary("c1", "answered", 31, at(90)))
    assert board.feed(ended)
    assert not board.feed(ended)  # a replayed event counts nothing twice
    f = board.queue_tiles(at(91))[0]
    assert (f["offered"], f["answered"], f["sl"], f["waiting"]) == (1, 1, 0.0, 0)
    # a call of yesterday (the log's, read at start) is not today's
    assert not board.book.add_call(kpi.call_row(summary("c0", "answered", 1, at(-86400))))


class _Writer:
    def __init__(self) -> None:
        self.spans: list[Any] = []

    def offer(self, spans: list[Any]) -> None:
        self.spans.extend(spans)


def test_at_midnight_the_open_spans_are_cut_and_a_new_day_begins() -> None:
    clock = [T0]
    writer = _Writer()
    hub = WallboardHub(cast(Any, None), rules={}, canonical=lambda d: d,
                       writer=cast(Any, writer), clock=lambda: clock[0])
    hub.on_view(view("ready"))
    hub.board.feed(CallQueued(at=at(0), linkedid="c9", queue="support", position=1,
                              caller=None, caller_name=None, did=None))
    day_end = hub.board.book.end
    clock[0] = day_end + timedelta(seconds=5)
    assert hub.roll(clock[0])
    assert [(s.state, s.started_at, s.ended_at) for s in writer.spans] == [
        ("ready", T0, day_end)]
    assert hub.board.book.start == day_end
    assert hub.spans.open[A].started_at == day_end
    assert "c9" in hub.board.waiting  # a caller waiting over midnight still waits
    assert not hub.roll(clock[0])
