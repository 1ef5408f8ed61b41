"""Who may log a call (crm_core.call_access.log_right, record_takers): pure decisions."""

from __future__ import annotations

from crm_core.call_access import (
    ON_BEHALF,
    RUNG,
    TAKER,
    Taker,
    log_right,
    record_rung,
    record_takers,
)
from crm_core.permissions import Actor
from crm_core.users import DEFAULT_ROLES

ALICE, BOB = "Local/1001@agents/n", "Local/1002@agents/n"


def actor(role: str, user_id: int, **kw: object) -> Actor:
    spec = DEFAULT_ROLES[role]
    return Actor(user_id=user_id, username=role, grants=spec.grants,
                 is_admin=spec.is_admin, **kw)  # type: ignore[arg-type]


def test_the_agents_of_a_record_are_who_answered_or_placed_it() -> None:
    tried = [{"interface": ALICE, "result": "answered"},
             {"interface": "Local/1003@agents/n", "result": "no-answer"},
             {"interface": BOB, "result": "answered"}, "junk", {"result": "answered"}]
    assert record_takers(ALICE, tried, {}) == ({ALICE, BOB}, set())
    # an outbound call: the agent who placed it, by username
    assert record_takers(None, [], {"HOTLINE_ORIGINATED_BY": "alice"}) == (set(), {"alice"})
    assert record_takers(None, [], None) == (set(), set())  # abandoned: nobody's


def test_only_a_taker_or_a_scoped_supervisor_logs_a_call() -> None:
    bob = Taker(user_id=2, team="hotline", region="上海")
    # Alice (an agent, no calls:update) and another agent's call: no
    assert log_right(actor("agent", 1, team="hotline"), [bob]) is None
    assert log_right(actor("agent", 2, team="hotline"), [bob]) == TAKER
    # Bob's supervisor logs it for him (audited by the API); another team's may not
    assert log_right(actor("supervisor", 9, team="hotline"), [bob]) == ON_BEHALF
    assert log_right(actor("supervisor", 9, team="sales"), [bob]) is None
    assert log_right(actor("supervisor", 9, team=None), [bob]) is None
    # a call nobody took is only for scope "all" (an admin)
    assert log_right(actor("supervisor", 9, team="hotline"), []) is None
    assert log_right(actor("admin", 10), []) == ON_BEHALF
    assert log_right(actor("manager", 3, team="hotline"), [bob]) is None
    region = Actor(user_id=11, region="上海", grants={("calls", "update"): "region"})
    assert log_right(region, [bob]) == ON_BEHALF
    assert log_right(Actor(user_id=None, is_admin=False), [bob]) is None


def test_who_may_hear_a_recording() -> None:
    """Issue 14 item 16: the agents who took the call; else ``calls:read`` in scope (the
    customer's, or a taker's team/region); no grant: never (``hear_right``)."""
    from crm_core.call_recordings import hear_right

    bob = Taker(user_id=2, team="hotline", region="上海")
    # an agent (calls:read "all") hears any call, taken by her or not
    assert hear_right(actor("agent", 1, team="hotline"), [bob], customer_in_scope=False)
    # a manager (calls:read "own"): the calls of his own customers only
    assert hear_right(actor("manager", 3, team="sales"), [bob], customer_in_scope=True)
    assert not hear_right(actor("manager", 3, team="sales"), [bob], customer_in_scope=False)
    # a supervisor (calls:read "team"): his team's agents' calls, or his team's customers'
    assert hear_right(actor("supervisor", 9, team="hotline"), [bob], customer_in_scope=False)
    assert not hear_right(actor("supervisor", 9, team="sales"), [bob],
                          customer_in_scope=False)
    assert not hear_right(actor("supervisor", 9, team="sales"), [], customer_in_scope=False)
    # no calls grant at all: only the agent who took it
    bare = Actor(user_id=2, username="bob")
    assert hear_right(bare, [bob], customer_in_scope=False)
    assert not hear_right(Actor(user_id=5), [bob], customer_in_scope=True)
    assert hear_right(actor("admin", 10), [], customer_in_scope=False)


def test_a_recordings_day_comes_from_the_dialplans_name() -> None:
    from datetime import date

    from crm_core.call_recordings import recording_day

    assert recording_day("2026/11/25/1795478331.182.wav") == date(2026, 11, 25)
    assert recording_day("2026/02/30/x.wav") is None  # no such day
    assert recording_day("1795478331.182.wav") is None
    assert recording_day("26/11/25/x.wav") is None


def test_a_call_nobody_took_is_logged_by_an_agent_it_rang() -> None:
    """Issue 14 item 1: the log form of a call that rang the agent and ended unanswered
    stays with that call, so she must be able to save it there."""
    tried = [{"interface": ALICE, "result": "no-answer"}, {"interface": BOB,
                                                           "result": "abandoned"},
             "junk", {"result": "no-answer"}, {"interface": ""}]
    assert record_rung(tried) == {ALICE, BOB}
    assert record_rung([]) == set()
    alice = Taker(user_id=1, team="hotline", region=None)
    bob = Taker(user_id=2, team="hotline", region=None)
    agent = actor("agent", 1, team="hotline")
    assert log_right(agent, [], [alice, bob]) == RUNG
    assert log_right(agent, [], [bob]) is None  # it never rang her
    # somebody took it: theirs, however many phones it rang first
    assert log_right(agent, [bob], [alice, bob]) is None
    assert log_right(actor("agent", 2, team="hotline"), [bob], [alice, bob]) == TAKER
    assert log_right(Actor(user_id=None, is_admin=False), [], [alice]) is None
