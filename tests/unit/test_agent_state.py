"""The agent console's state machine (agent_console.agent_state): pure, plain data in.

Also fed with the real Asterisk captures through the call tracker: what the board
shows is what the PBX said (04: pause with a reason in every queue, sign-out; 05/06:
a transfer ends the agent's part of the call).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from agent_console.agent_state import (
    DERIVATION,
    STATES,
    WRAPUP_REASON,
    AgentBoard,
    Effect,
    StateChanged,
    Unpause,
    WrapupEnded,
    WrapupStarted,
)
from telephony.capture import load_capture
from telephony.events import (
    AgentRinging,
    AgentRingNoAnswer,
    AgentStateChanged,
    CallAnswered,
    CallEnded,
    CallSummary,
    CallTransferred,
    QueueMemberChanged,
)
from telephony.tracker import CallTracker
from tests.shared import CAPTURES

ALICE = "Local/1001@agents/n"
PERSONAL = "agent-1001"  # Alice's personal queue: in it = Hotline signed her in
CHAN = "Local/1001@agents-00000063;1"
T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def member(change: str, queue: str = "support", iface: str = ALICE) -> QueueMemberChanged:
    return QueueMemberChanged(queue=queue, interface=iface, agent="Alice", change=change,
                              status=1, paused=False, reason="")


def pbx(state: str = "available", paused: bool = False, reason: str = "",
        iface: str = ALICE) -> AgentStateChanged:
    return AgentStateChanged(interface=iface, agent="Alice", state=state, paused=paused,
                             reason=reason)


def ringing(linkedid: str = "1.1") -> AgentRinging:
    return AgentRinging(linkedid=linkedid, queue="support", agent="Alice", interface=ALICE,
                        agent_channel=CHAN, caller="+8613800138000", caller_name="Wang",
                        did="4008001234")


def answered(linkedid: str = "1.1") -> CallAnswered:
    return CallAnswered(linkedid=linkedid, queue="support", agent="Alice", interface=ALICE,
                        agent_channel=CHAN, wait_s=1, ring_s=1)


def ended(linkedid: str = "1.1") -> CallEnded:
    return CallEnded(summary=CallSummary(linkedid=linkedid, caller="+8613800138000",
                                         caller_name="Wang", did="4008001234",
                                         agent="Alice", agent_interface=ALICE,
                                         outcome="answered"))


def of(effects: list[Effect], kind: type) -> list:  # type: ignore[type-arg]
    return [e for e in effects if isinstance(e, kind)]


def state(board: AgentBoard) -> str:
    view = board.view(ALICE)
    assert view is not None
    return view.state


def signed_in(wrapup_s: float = 30) -> AgentBoard:
    """As Hotline's sign-in does it: her queues, then her personal queue."""
    board = AgentBoard(wrapup_s=wrapup_s)
    board.feed(member("added"), at(0))
    board.feed(member("added", "vip"), at(0))
    board.feed(member("added", PERSONAL), at(0))
    board.feed(pbx(), at(0))
    return board


def after_a_call(board: AgentBoard, linkedid: str = "1.1", t: float = 10) -> list[Effect]:
    board.feed(ringing(linkedid), at(t))
    board.feed(pbx("ringing"), at(t))
    board.feed(answered(linkedid), at(t + 1))
    board.feed(pbx("busy"), at(t + 1))
    board.feed(pbx("available"), at(t + 5))
    return board.feed(ended(linkedid), at(t + 5))


def test_every_state_is_derivable_and_the_table_ends_in_ready() -> None:
    assert {name for name, _ in DERIVATION} == set(STATES)
    assert DERIVATION[-1][0] == "ready"


def test_her_personal_queue_signs_her_in_and_out() -> None:
    board = AgentBoard()
    assert board.view(ALICE) is None
    effects = board.feed(member("added"), at(0))
    assert of(effects, StateChanged)[-1].view.state == "signed-out"  # not by Hotline yet
    board.feed(member("added", "vip"), at(0))
    effects = board.feed(member("added", PERSONAL), at(0))
    view = of(effects, StateChanged)[-1].view
    assert (view.state, view.queues) == ("ready", ("support", "vip"))  # no personal queue
    assert board.queues() == {"support", "vip"}
    board.feed(member("removed"), at(1))
    board.feed(member("removed", "vip"), at(1))
    assert state(board) == "ready"  # in no queue to take callers from, but signed in
    effects = board.feed(member("removed", PERSONAL), at(2))
    assert of(effects, StateChanged)[-1].view.state == "signed-out"
    assert board.queues() == set()


def test_an_agent_the_pbx_lists_in_a_queue_is_not_signed_in_by_that() -> None:
    """A static member of support (queues.conf), free and unpaused: Asterisk would report
    her available, but Hotline never signed her in: signed out, whatever the PBX says."""
    board = AgentBoard()
    board.feed(member("status"), at(0))  # a QueueStatus snapshot entry
    board.feed(member("status", "vip"), at(0))
    board.feed(pbx("available"), at(0))
    view = board.view(ALICE)
    assert view is not None and (view.state, view.queues) == ("signed-out", ("support", "vip"))
    board.feed(member("added", "agent-1002"), at(1))  # somebody else's personal queue
    assert state(board) == "signed-out"


def test_a_resync_snapshot_entry_of_her_personal_queue_counts_as_signed_in() -> None:
    board = AgentBoard()
    board.feed(member("status", PERSONAL), at(0))  # Hotline restarted: the PBX kept her
    assert state(board) == "ready"


def test_pause_with_a_reason_then_ready() -> None:
    board = signed_in()
    effects = board.feed(pbx(paused=True, reason="lunch"), at(1))
    view = of(effects, StateChanged)[-1].view
    assert (view.state, view.paused, view.reason) == ("paused", True, "lunch")
    board.feed(pbx(), at(2))
    assert state(board) == "ready"


def test_every_pbx_state_report_reaches_the_console_even_unchanged() -> None:
    board = signed_in()
    assert len(of(board.feed(pbx(), at(1)), StateChanged)) == 1


def test_ringing_then_busy_then_wrapup_with_a_pbx_pause() -> None:
    board = signed_in(wrapup_s=30)
    board.feed(ringing(), at(10))
    assert state(board) == "ringing"
    board.feed(answered(), at(11))
    assert state(board) == "busy"
    view = board.view(ALICE)
    assert view is not None and view.call is not None and view.call.state == "talking"
    assert view.call.caller == "+8613800138000" and view.call.agent_channel == CHAN
    board.feed(pbx("available"), at(15))
    effects = board.feed(ended(), at(15))
    started = of(effects, WrapupStarted)
    assert started == [WrapupStarted(interface=ALICE, linkedid="1.1", until=at(45), pause=True)]
    assert state(board) == "wrap-up" and board.next_deadline() == at(45)
    board.feed(pbx(paused=True, reason=WRAPUP_REASON), at(15))  # the PBX confirms
    assert state(board) == "wrap-up"
    assert board.tick(at(44)) == []
    effects = board.tick(at(45))
    assert of(effects, WrapupEnded) == [
        WrapupEnded(interface=ALICE, linkedid="1.1", why="timer", unpause=True)]
    assert board.next_deadline() is None
    assert state(board) == "paused"  # until the PBX reports the unpause
    board.feed(pbx(), at(45))
    assert state(board) == "ready"


def test_saving_the_log_ends_the_wrapup_early() -> None:
    board = signed_in()
    after_a_call(board)
    board.feed(pbx(paused=True, reason=WRAPUP_REASON), at(15))
    effects = board.log_saved(ALICE, "1.1", at(20))
    assert of(effects, WrapupEnded) == [
        WrapupEnded(interface=ALICE, linkedid="1.1", why="saved", unpause=True)]
    assert board.tick(at(100)) == []


def test_the_log_of_another_call_does_not_end_the_wrapup() -> None:
    board = signed_in()
    after_a_call(board)
    assert of(board.log_saved(ALICE, "other", at(20)), WrapupEnded) == []
    assert state(board) == "wrap-up"


def test_an_unconfirmed_wrapup_pause_is_still_lifted() -> None:
    # the log saved before the PBX reported our pause: the unpause must follow it
    board = signed_in()
    after_a_call(board)
    (end,) = of(board.log_saved(ALICE, "1.1", at(15)), WrapupEnded)
    assert end.unpause is True


def test_a_pause_of_the_agents_own_is_never_lifted() -> None:
    board = signed_in()
    board.feed(ringing(), at(10))
    board.feed(answered(), at(11))
    board.feed(pbx("busy", paused=True, reason="lunch"), at(12))  # paused while talking
    assert state(board) == "busy"
    board.feed(pbx("available", paused=True, reason="lunch"), at(15))
    (start,) = of(board.feed(ended(), at(15)), WrapupStarted)
    assert start.pause is False  # already paused: the PBX is not asked again
    (end,) = of(board.tick(at(60)), WrapupEnded)
    assert end.unpause is False
    assert state(board) == "paused"


def test_pausing_during_the_wrapup_keeps_the_agent_paused_after_it() -> None:
    board = signed_in()
    after_a_call(board)
    board.feed(pbx(paused=True, reason=WRAPUP_REASON), at(15))
    board.feed(pbx(paused=True, reason="meeting"), at(20))
    assert state(board) == "paused"
    view = board.view(ALICE)
    assert view is not None and view.wrapup_until == at(45)  # the log is still due
    (end,) = of(board.log_saved(ALICE, "1.1", at(30)), WrapupEnded)
    assert end.unpause is False


def test_a_call_logged_before_it_ended_gets_no_wrapup() -> None:
    board = signed_in()
    board.feed(ringing(), at(10))
    board.feed(answered(), at(11))
    board.log_saved(ALICE, "1.1", at(12))
    assert of(board.feed(ended(), at(15)), WrapupStarted) == []
    assert state(board) == "ready"


def test_a_call_not_answered_gets_no_wrapup() -> None:
    board = signed_in()
    board.feed(ringing(), at(10))
    board.feed(AgentRingNoAnswer(linkedid="1.1", queue="support", agent="Alice",
                                 interface=ALICE, ring_ms=5000), at(15))
    assert state(board) == "ready"
    assert of(board.feed(ended(), at(20)), WrapupStarted) == []


def test_no_wrapup_when_it_is_configured_off() -> None:
    board = signed_in(wrapup_s=0)
    assert of(after_a_call(board), WrapupStarted) == []
    assert state(board) == "ready"


def test_going_ready_ends_the_wrapup_without_a_second_unpause() -> None:
    board = signed_in()
    after_a_call(board)
    assert of(board.agent_ready(ALICE, at(20)), WrapupEnded) == [
        WrapupEnded(interface=ALICE, linkedid="1.1", why="ready", unpause=False)]
    assert board.agent_ready(ALICE, at(21)) == []


def test_a_new_call_ends_the_wrapup() -> None:
    board = signed_in()
    after_a_call(board)
    effects = board.feed(ringing("2.2"), at(20))
    assert [e.why for e in of(effects, WrapupEnded)] == ["new-call"]
    assert state(board) == "ringing"


def test_signing_out_ends_the_wrapup_without_unpausing() -> None:
    board = signed_in()
    after_a_call(board)
    board.feed(member("removed"), at(20))
    assert of(board.feed(member("removed", "vip"), at(20)), WrapupEnded) == []
    effects = board.feed(member("removed", PERSONAL), at(20))
    assert of(effects, WrapupEnded) == [
        WrapupEnded(interface=ALICE, linkedid="1.1", why="signed-out", unpause=False)]
    assert state(board) == "signed-out"


def test_a_left_over_wrapup_pause_is_lifted_once_the_wrapup_time_passed() -> None:
    board = signed_in(wrapup_s=30)
    board.feed(pbx(paused=True, reason=WRAPUP_REASON), at(5))  # e.g. a restart mid-wrap-up
    assert state(board) == "paused" and board.next_deadline() == at(35)
    assert board.tick(at(34)) == []
    assert of(board.tick(at(35)), Unpause) == [Unpause(interface=ALICE)]
    assert board.next_deadline() is None


def test_a_left_over_pause_the_agent_lifted_meanwhile_is_left_alone() -> None:
    board = signed_in(wrapup_s=30)
    board.feed(pbx(paused=True, reason=WRAPUP_REASON), at(5))
    board.feed(pbx(), at(6))
    assert board.tick(at(60)) == []


def test_our_own_wrapup_pause_is_not_taken_for_a_left_over() -> None:
    board = signed_in(wrapup_s=30)
    after_a_call(board)
    board.feed(pbx(paused=True, reason=WRAPUP_REASON), at(15))
    effects = board.tick(at(45))
    assert of(effects, Unpause) == [] and len(of(effects, WrapupEnded)) == 1


def test_a_transfer_by_the_agent_starts_the_wrapup_once() -> None:
    board = signed_in()
    board.feed(ringing(), at(10))
    board.feed(answered(), at(11))
    effects = board.feed(CallTransferred(linkedid="1.1", kind="blind", by="Alice",
                                         target="2100", result="Success"), at(13))
    assert len(of(effects, WrapupStarted)) == 1
    assert of(board.feed(ended(), at(30)), WrapupStarted) == []  # the caller hung up later


def test_a_failed_transfer_leaves_the_call_with_the_agent() -> None:
    board = signed_in()
    board.feed(ringing(), at(10))
    board.feed(answered(), at(11))
    board.feed(CallTransferred(linkedid="1.1", kind="blind", by="Alice", target="2100",
                               result="Fail"), at(13))
    assert state(board) == "busy"


def test_unknown_events_are_counted_not_raised() -> None:
    board = AgentBoard()
    from telephony.events import CallStarted

    assert board.feed(CallStarted(linkedid="1", caller=None, caller_name=None, did=None),
                      at(0)) == []
    assert board.ignored == 1


# --- the real captures, through the tracker ---------------------------------------------


def replay_into(board: AgentBoard, name: str) -> list[Effect]:
    tracker = CallTracker()
    effects: list[Effect] = []
    for t, msg in load_capture(CAPTURES / f"{name}.ami"):
        for event in tracker.feed(msg):
            effects.extend(board.feed(event, datetime.fromtimestamp(t, UTC)))
    return effects


def test_capture_04_pause_reason_in_every_queue_and_removal_signs_out() -> None:
    """The capture rig had no personal queues: Dave and Alice are signed in to theirs
    first, as Hotline's sign-in does; Dave's removal from his last queue signs him out
    here only because the board is told he left his personal queue too."""
    board = AgentBoard()
    dave_if = "Local/1004@agents/n"
    board.feed(member("added", "agent-1004", dave_if), at(0))
    board.feed(member("added", PERSONAL), at(0))
    effects = replay_into(board, "04-agent-state")
    dave = [e.view for e in of(effects, StateChanged) if e.view.interface == dave_if]
    assert ("paused", "Lunch break") in [(v.state, v.reason) for v in dave]
    assert dave[0].state == "ready" and dave[-1].state == "ready" and dave[-1].queues == ()
    out = board.feed(member("removed", "agent-1004", dave_if), at(99))
    assert of(out, StateChanged)[-1].view.state == "signed-out"
    alice = [e.view for e in of(effects, StateChanged) if e.view.interface == ALICE]
    meeting = [v for v in alice if v.reason == "Meeting"]
    assert meeting and meeting[0].state == "paused" and set(meeting[-1].queues) == {"support",
                                                                                     "vip"}
    assert alice[-1].state == "ready"


@pytest.mark.parametrize("name", ["05-blind-transfer", "06-attended-transfer"])
def test_captured_transfers_put_the_agent_in_wrapup(name: str) -> None:
    board = AgentBoard(wrapup_s=30)
    board.feed(member("added", PERSONAL), at(0))  # the capture has no membership snapshot
    effects = replay_into(board, name)
    started = of(effects, WrapupStarted)
    assert [s.interface for s in started] == [ALICE]
    assert len(of(effects, WrapupStarted)) == 1


def test_an_answered_outbound_call_is_busy_then_wrapup() -> None:
    """The agent's own outbound call follows the same path: ringing (dialling) while
    nobody answers, busy once the customer answers, then the wrap-up."""
    board = signed_in(wrapup_s=30)
    board.feed(AgentRinging(linkedid="9.1", queue="", agent="Alice", interface=ALICE,
                            agent_channel=CHAN, caller="+8613800138000", caller_name=None,
                            did=None, direction="outbound"), at(10))
    assert state(board) == "ringing"
    board.feed(CallAnswered(linkedid="9.1", queue="", agent="Alice", interface=ALICE,
                            agent_channel=CHAN, wait_s=None, ring_s=None,
                            direction="outbound"), at(14))
    view = board.view(ALICE)
    assert state(board) == "busy" and view is not None and view.call is not None
    assert (view.call.linkedid, view.call.caller, view.call.agent_channel) == (
        "9.1", "+8613800138000", CHAN)
    effects = board.feed(ended("9.1"), at(20))
    assert of(effects, WrapupStarted) == [
        WrapupStarted(interface=ALICE, linkedid="9.1", until=at(50), pause=True)]


def test_an_unanswered_outbound_call_gets_no_wrapup() -> None:
    board = signed_in(wrapup_s=30)
    board.feed(AgentRinging(linkedid="9.2", queue="", agent="Alice", interface=ALICE,
                            agent_channel=CHAN, caller="+8613800138000", caller_name=None,
                            did=None, direction="outbound"), at(10))
    assert of(board.feed(ended("9.2"), at(40)), WrapupStarted) == []
    assert state(board) == "ready"


def test_capture_07_click_to_dial_puts_alice_in_wrapup() -> None:
    board = AgentBoard(wrapup_s=30)
    board.feed(member("added", PERSONAL), at(0))
    effects = replay_into(board, "07-click-to-dial")
    assert [s.linkedid for s in of(effects, WrapupStarted)] == ["1795478428.216"]


# --- whose call is it (issue 13 item 3: only an agent who took a call logs it) ----------

def test_took_names_the_agents_who_answered_or_placed_a_call_and_remembers_them() -> None:
    board = signed_in()
    assert board.took("1.1") == (False, frozenset())  # never seen
    board.feed(ringing("1.1"), at(10))
    assert board.took("1.1") == (True, frozenset())  # ringing: seen, not taken yet
    board.feed(answered("1.1"), at(11))
    assert board.took("1.1") == (True, frozenset({ALICE}))
    board.feed(ended("1.1"), at(20))
    assert board.took("1.1") == (True, frozenset({ALICE}))  # until the record says so
    # a call rung but not answered was never hers
    board.feed(ringing("1.2"), at(30))
    board.feed(AgentRingNoAnswer(linkedid="1.2", queue="support", agent="Alice",
                                 interface=ALICE, ring_ms=5000), at(35))
    assert board.took("1.2") == (False, frozenset())
    # but it rang her (a call nobody takes is logged by an agent it rang: issue 14 item 1)
    assert board.rang("1.2") == frozenset({ALICE}) and board.rang("1.1") == {ALICE}
    assert board.rang("1.3") == frozenset()
    # her own outbound call is hers as soon as her phone rings for it
    board.feed(AgentRinging(linkedid="9.2", queue="", agent="Alice", interface=ALICE,
                            agent_channel=CHAN, caller="+8613800138000", caller_name=None,
                            did=None, direction="outbound"), at(40))
    board.feed(ended("9.2"), at(50))
    assert board.took("9.2") == (True, frozenset({ALICE}))


def test_took_forgets_only_after_many_calls() -> None:
    board = signed_in(wrapup_s=0)
    for i in range(20):
        after_a_call(board, f"2.{i}", t=10 * i)
    assert board.took("2.19")[1] == {ALICE} and board.took("2.4")[1] == {ALICE}
    assert board.took("2.0") == (False, frozenset())  # the call record knows it by now


def test_among_many_agents_a_calls_end_and_the_timers_reach_exactly_its_agents() -> None:
    """The board finds a call's agents and the running wrap-ups through its own indexes
    (an event must not cost a walk over 2,000 agents): the effects are the same as
    reading every agent, in the board's order."""
    board = AgentBoard(wrapup_s=30)
    ifaces = [f"Local/{1001 + n}@agents/n" for n in range(50)]
    for n, iface in enumerate(ifaces):
        name = f"Agent{1001 + n}"
        board.feed(QueueMemberChanged(queue="support", interface=iface, agent=name,
                                      change="added", status=1, paused=False, reason=""),
                   at(0))
        board.feed(QueueMemberChanged(queue=f"agent-{1001 + n}", interface=iface, agent=name,
                                      change="added", status=1, paused=False, reason=""),
                   at(0))

    def rings(linkedid: str, n: int, t: float) -> None:
        board.feed(AgentRinging(linkedid=linkedid, queue="support", agent=f"Agent{1001 + n}",
                                interface=ifaces[n], agent_channel=f"{ifaces[n]};1",
                                caller="+8613800138000", caller_name="Wang", did="4008001234"),
                   at(t))

    def answers(linkedid: str, n: int, t: float) -> None:
        board.feed(CallAnswered(linkedid=linkedid, queue="support", agent=f"Agent{1001 + n}",
                                interface=ifaces[n], agent_channel=f"{ifaces[n]};1",
                                wait_s=1, ring_s=1), at(t))

    def ends(linkedid: str, n: int, t: float) -> list[Effect]:
        return board.feed(CallEnded(summary=CallSummary(
            linkedid=linkedid, caller="+8613800138000", caller_name="Wang", did="4008001234",
            agent=f"Agent{1001 + n}", agent_interface=ifaces[n], outcome="answered")), at(t))

    rings("2.1", 40, 10)  # ring-all: agents 40 and 3 ring, 40 answers
    rings("2.1", 3, 10)
    rings("2.2", 7, 11)
    answers("2.1", 40, 12)
    answers("2.2", 7, 12)
    effects = ends("2.1", 40, 20)
    assert [e.view.interface for e in of(effects, StateChanged)] == [ifaces[3], ifaces[40]]
    assert of(effects, WrapupStarted) == [
        WrapupStarted(interface=ifaces[40], linkedid="2.1", until=at(50), pause=True)]
    assert [board.view(i).state for i in (ifaces[3], ifaces[40], ifaces[7])] == [  # type: ignore[union-attr]
        "ready", "wrap-up", "busy"]
    assert ends("2.1", 40, 21) == []  # told twice: nobody is on that call any more
    ends("2.2", 7, 25)
    assert board.next_deadline() == at(50)
    assert [e.interface for e in of(board.tick(at(50)), WrapupEnded)] == [ifaces[40]]
    assert board.next_deadline() == at(55)
    assert [e.interface for e in of(board.tick(at(55)), WrapupEnded)] == [ifaces[7]]
    assert board.next_deadline() is None and board.tick(at(99)) == []
    rings("2.3", 40, 60)  # the same agent's next call is found again
    answers("2.3", 40, 61)
    assert [e.view.interface for e in of(ends("2.3", 40, 70), StateChanged)] == [ifaces[40]]
