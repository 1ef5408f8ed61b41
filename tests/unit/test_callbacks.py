"""ivr.callbacks, the pure callback decisions: the line of a queue, who is dialled by
which agent, when agents are held, what happens after each attempt; and the worker's
pure parsing of a QueueStatus answer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ivr.callback_worker import queue_state
from ivr.callbacks import (
    AGENT_MISSED,
    ANSWERED,
    BUSY,
    FAILED,
    INTERRUPTED,
    NO_ANSWER,
    RESERVE_REASON,
    Dial,
    Facts,
    Member,
    Pending,
    Policy,
    QueueState,
    WaitingCaller,
    avoid_after,
    dial_string,
    line,
    next_wake,
    outcome,
    plan,
    transition,
    waiting_counts,
)

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def caller(uid: str, joined: float, priority: int = 0) -> WaitingCaller:
    return WaitingCaller(uniqueid=uid, joined_at=at(joined), priority=priority)


def cb(cid: int, place: float, **kw: object) -> Pending:
    return Pending(id=cid, queue="support", place_at=at(place), **kw)  # type: ignore[arg-type]


def member(name: str, status: int = 1, paused: bool = False, reason: str = "") -> Member:
    return Member(interface=f"Local/{name}@agents/n", name=name, status=status,
                  paused=paused, reason=reason)


def queue(callers: tuple[WaitingCaller, ...] = (), members: tuple[Member, ...] = ()
          ) -> QueueState:
    return QueueState(name="support", callers=callers, members=members)


NOW = at(100)


# --------------------------------------------------------------------------- the line


def test_line_orders_by_priority_then_time_and_a_tie_puts_the_caller_first() -> None:
    q = queue(callers=(caller("x", 10), caller("vip", 50, priority=5), caller("y", 20)))
    order = line(q, [cb(1, 20), cb(2, 5), cb(3, 60, priority=5)], NOW)
    names = [e.uniqueid if isinstance(e, WaitingCaller) else e.id for e in order]
    assert names == ["vip", 3, 2, "x", "y", 1]


def test_callbacks_of_other_queues_and_not_yet_due_are_not_in_line() -> None:
    later = cb(2, 1, not_before=at(200))
    retrying = cb(3, 2, next_attempt_at=at(150))
    other = Pending(id=4, queue="vip", place_at=at(0))
    assert [p.id for p in line(queue(), [later, retrying, other, cb(1, 50)], NOW)
            if isinstance(p, Pending)] == [1]
    assert next_wake([later, retrying, cb(1, 50)], NOW) == at(150)
    assert next_wake([cb(1, 50)], NOW) is None


# --------------------------------------------------------------------------- the plan


def test_never_dialled_while_a_caller_who_was_waiting_before_it_still_waits() -> None:
    q = queue(callers=(caller("x", 10),), members=(member("alice"), member("bob")))
    decided = plan(q, [cb(1, 30)], NOW)
    assert decided.dials == ()
    assert decided.reserve == ()  # nothing to hold for: the caller ahead goes first


def test_a_caller_at_the_same_moment_is_ahead_of_the_callback() -> None:
    q = queue(callers=(caller("x", 30),), members=(member("alice"),))
    assert plan(q, [cb(1, 30)], NOW).dials == ()


def test_a_callback_placed_before_a_waiting_caller_takes_the_free_agent() -> None:
    q = queue(callers=(caller("y", 40),), members=(member("alice", status=2), member("bob")))
    assert plan(q, [cb(1, 30)], NOW).dials == (Dial(1, "Local/bob@agents/n", "bob"),)


def test_callbacks_are_served_in_line_order_one_agent_each() -> None:
    q = queue(members=(member("alice"), member("bob")))
    decided = plan(q, [cb(3, 50), cb(1, 10), cb(2, 20)], NOW)
    assert [(d.callback_id, d.agent) for d in decided.dials] == [(1, "alice"), (2, "bob")]
    assert decided.waiting_for_agent == 1


def test_only_free_unpaused_agents_not_already_dialling_are_used() -> None:
    q = queue(members=(member("lunch", paused=True, reason="lunch"), member("busy", 2),
                       member("gone", 5), member("ringing", 6), member("mine"),
                       member("unknown", 0)))
    decided = plan(q, [cb(1, 10), cb(2, 20)], NOW, busy=frozenset({"Local/mine@agents/n"}))
    assert [d.agent for d in decided.dials] == ["unknown"]


def test_agent_choice_held_first_then_preferred_and_spare_the_one_who_missed() -> None:
    held = member("held", paused=True, reason=RESERVE_REASON)
    q = queue(members=(member("alice"), member("bob"), held))
    assert plan(q, [cb(1, 10, preferred_agent="bob")], NOW).dials[0].agent == "held"
    q = queue(members=(member("alice"), member("bob")))
    assert plan(q, [cb(1, 10, preferred_agent="bob")], NOW).dials[0].agent == "bob"
    spared = cb(1, 10, avoid=frozenset({"Local/alice@agents/n"}))
    assert plan(q, [spared], NOW).dials[0].agent == "bob"
    q = queue(members=(member("alice"),))
    assert plan(q, [spared], NOW).dials[0].agent == "alice"  # nobody else: try again


def test_agents_are_held_when_a_callback_is_next_but_later_callers_would_take_them() -> None:
    q = queue(callers=(caller("y", 40),),
              members=(member("alice", 2), member("bob", 3), member("carol", paused=True,
                                                                     reason="lunch"),
                       member("dave", 5)))
    decided = plan(q, [cb(1, 30)], NOW)
    assert decided.dials == ()
    assert decided.reserve == ("Local/alice@agents/n", "Local/bob@agents/n")
    assert decided.waiting_for_agent == 1


def test_held_agent_freed_is_ours_and_the_others_are_released() -> None:
    held_free = member("alice", 1, paused=True, reason=RESERVE_REASON)
    held_busy = member("bob", 2, paused=True, reason=RESERVE_REASON)
    q = queue(callers=(caller("y", 40),), members=(held_busy, held_free))
    decided = plan(q, [cb(1, 30)], NOW)
    assert [d.agent for d in decided.dials] == ["alice"]
    assert decided.reserve == ()
    assert decided.release == ("Local/bob@agents/n",)


def test_nobody_is_held_without_competition_and_old_holds_are_released() -> None:
    held = member("bob", 2, paused=True, reason=RESERVE_REASON)
    q = queue(members=(member("alice", 2), held))
    decided = plan(q, [cb(1, 30)], NOW)
    assert decided.reserve == () and decided.release == ("Local/bob@agents/n",)
    # a caller ahead of the callback: hold nobody, release what we held
    q = queue(callers=(caller("x", 10),), members=(member("alice", 2), held))
    assert plan(q, [cb(1, 30)], NOW).release == ("Local/bob@agents/n",)
    # a callback waiting for its retry does not hold anybody either
    q = queue(callers=(caller("y", 40),), members=(member("alice", 2),))
    assert plan(q, [cb(1, 30, next_attempt_at=at(500))], NOW).reserve == ()


@st.composite
def scenes(draw: st.DrawFn) -> tuple[QueueState, list[Pending]]:
    n_callers = draw(st.integers(0, 4))
    callers = tuple(caller(f"c{i}", draw(st.integers(0, 50)), draw(st.integers(0, 2)))
                    for i in range(n_callers))
    members = tuple(member(f"m{i}", draw(st.sampled_from([0, 1, 2, 5, 6])),
                           paused=(p := draw(st.booleans())),
                           reason=draw(st.sampled_from(["", "lunch", RESERVE_REASON]))
                           if p else "")
                    for i in range(draw(st.integers(0, 4))))
    pending = [cb(i + 1, draw(st.integers(0, 50)), priority=draw(st.integers(0, 2)),
                  next_attempt_at=draw(st.sampled_from([None, at(50), at(150)])))
               for i in range(draw(st.integers(0, 4)))]
    return queue(callers, members), pending


@settings(max_examples=300, deadline=None)
@given(scenes())
def test_no_plan_ever_jumps_a_waiting_caller_or_uses_an_agent_twice(
        scene: tuple[QueueState, list[Pending]]) -> None:
    q, pending = scene
    decided = plan(q, pending, NOW)
    by_id = {p.id: p for p in pending}
    for dial in decided.dials:
        p = by_id[dial.callback_id]
        assert p.due(NOW)
        for c in q.callers:  # nobody who is ahead of it in line still waits
            assert (c.priority, -c.joined_at.timestamp()) < (
                p.priority, -p.place_at.timestamp())
    agents = [d.interface for d in decided.dials]
    assert len(agents) == len(set(agents))
    usable = {m.interface for m in q.members if m.status in (0, 1)
              and (not m.paused or m.reason == RESERVE_REASON)}
    assert set(agents) <= usable
    assert not set(decided.reserve) & set(decided.release)


# ----------------------------------------------------------------- after an attempt


def test_outcome_of_what_was_seen() -> None:
    assert outcome(Facts()) is None  # still going
    assert outcome(Facts(dial_status="ANSWER")) == ANSWERED
    assert outcome(Facts(customer_answered=True, ended=True, cut=True)) == ANSWERED
    assert outcome(Facts(dial_status="BUSY")) == BUSY
    assert outcome(Facts(dial_status="NOANSWER")) == NO_ANSWER
    assert outcome(Facts(dial_status="CHANUNAVAIL")) == FAILED
    assert outcome(Facts(dial_status="CANCEL")) == FAILED
    assert outcome(Facts(originate_failed="3")) == AGENT_MISSED
    assert outcome(Facts(refused=True)) == AGENT_MISSED
    assert outcome(Facts(ended=True)) == AGENT_MISSED  # never answered, no event said why
    assert outcome(Facts(ended=True, agent_answered=True)) == FAILED  # the dial never began
    assert outcome(Facts(ended=True, customer_dialled=True)) == FAILED
    assert outcome(Facts(agent_answered=True)) is None  # the customer's phone is next
    assert outcome(Facts(ended=True, cut=True)) == INTERRUPTED
    assert outcome(Facts(ended=True, cut=True, customer_dialled=True)) == INTERRUPTED


def test_busy_and_no_answer_retry_up_to_max_attempts_then_fail() -> None:
    policy = Policy(retry_s=60)
    first = transition(BUSY, attempts=0, max_attempts=3, misses=0, now=NOW, policy=policy)
    assert (first.state, first.attempts, first.next_attempt_at) == ("waiting", 1, at(160))
    second = transition(NO_ANSWER, attempts=1, max_attempts=3, misses=0, now=NOW,
                        policy=policy)
    assert (second.state, second.attempts) == ("waiting", 2)
    last = transition(NO_ANSWER, attempts=2, max_attempts=3, misses=0, now=NOW, policy=policy)
    assert (last.state, last.attempts, last.last_result) == ("failed", 3, NO_ANSWER)
    done = transition(ANSWERED, attempts=2, max_attempts=3, misses=0, now=NOW, policy=policy)
    assert (done.state, done.attempts) == ("done", 3)


def test_agent_misses_do_not_use_the_customers_attempts_but_are_bounded() -> None:
    policy = Policy(agent_retry_s=5, max_agent_misses=3)
    step = transition(AGENT_MISSED, attempts=1, max_attempts=3, misses=0, now=NOW,
                      policy=policy)
    assert (step.state, step.attempts, step.next_attempt_at) == ("waiting", 1, at(105))
    step = transition(AGENT_MISSED, attempts=1, max_attempts=3, misses=2, now=NOW,
                      policy=policy)
    assert (step.state, step.last_result) == ("failed", "no-agent")


def test_an_interrupted_attempt_is_never_tried_again() -> None:
    step = transition(INTERRUPTED, attempts=0, max_attempts=3, misses=0, now=NOW,
                      policy=Policy())
    assert (step.state, step.attempts, step.next_attempt_at) == ("failed", 0, None)


def test_the_agent_who_missed_the_last_attempt_is_spared() -> None:
    history = [{"event": "dialing", "agent": "A"}, {"event": AGENT_MISSED, "agent": "A"}]
    assert avoid_after(history) == frozenset({"A"})
    assert avoid_after([*history, {"event": BUSY, "agent": "B"}]) == frozenset()
    assert avoid_after([]) == frozenset()


# ------------------------------------------------------------------------ helpers


def test_dial_string_from_the_hotline_region() -> None:
    assert dial_string("+8613800138000") == "13800138000"
    assert dial_string("13800138000") == "13800138000"
    assert dial_string("+861051297073") == "01051297073"
    assert dial_string("+14155552671") == "0014155552671"
    assert dial_string("1001") == "1001"
    assert dial_string("no digits") is None


def test_waiting_count_is_callers_in_the_queue_plus_pending_callbacks() -> None:
    live: list[dict[str, Any]] = [
        {"queue": "support", "state": "queued"}, {"queue": "support", "state": "ringing"},
        {"queue": "support", "state": "talking"}, {"queue": None, "state": "ivr"},
        {"queue": "vip", "state": "queued"}]
    assert waiting_counts(live, {"support": 2, "burst": 1, "empty": 0}) == {
        "burst": {"callers": 0, "callbacks": 1, "total": 1},
        "support": {"callers": 2, "callbacks": 2, "total": 4},
        "vip": {"callers": 1, "callbacks": 0, "total": 1},
    }


def test_queue_state_from_a_queue_status_answer() -> None:
    items = [
        {"Event": "QueueParams", "Queue": "support"},
        {"Event": "QueueMember", "Queue": "support", "Name": "Alice",
         "Location": "Local/1001@agents/n", "Status": "1", "Paused": "0", "PausedReason": ""},
        {"Event": "QueueMember", "Queue": "support", "Name": "Bob",
         "Location": "Local/1002@agents/n", "Status": "2", "Paused": "1",
         "PausedReason": RESERVE_REASON},
        {"Event": "QueueEntry", "Queue": "support", "Uniqueid": "1.1", "Wait": "7",
         "Priority": "11"},
        {"Event": "QueueEntry", "Queue": "support", "Uniqueid": "1.2", "Wait": "bogus"},
        {"Event": "QueueParams", "Queue": "vip"},
    ]
    state = queue_state("support", items, {"1.1": 1000.5}, 2000.0)
    assert state is not None
    assert [m.name for m in state.members] == ["Alice", "Bob"]
    assert state.members[1].reserved and not state.members[0].reserved
    assert state.callers[0] == WaitingCaller(uniqueid="1.1", priority=11,
                                             joined_at=datetime.fromtimestamp(1000.5, UTC))
    assert state.callers[1].joined_at == datetime.fromtimestamp(2000.0, UTC)  # Wait unknown
    assert queue_state("nosuch", items, {}, 0.0) is None
