"""The pop's per-agent ordering (``agent_console.pop_lanes``), without an event loop."""

from __future__ import annotations

from agent_console.pop_lanes import Lanes, Step
from telephony.events import AgentRinging, CallAnswered, CallEnded, CallSummary

ALICE, BOB = "Local/1001@agents/n", "Local/1002@agents/n"


def ringing(linkedid: str, interface: str) -> AgentRinging:
    return AgentRinging(linkedid=linkedid, queue="support", agent="A", interface=interface,
                        agent_channel=f"{interface};1", caller="+8613800138000",
                        caller_name="Wang", did="4008001234")


def answered(linkedid: str, interface: str) -> CallAnswered:
    return CallAnswered(linkedid=linkedid, queue="support", agent="A", interface=interface,
                        agent_channel=f"{interface};1", wait_s=1, ring_s=1)


def test_a_lane_waits_for_its_lookup_and_then_keeps_event_order() -> None:
    lanes = Lanes()
    pop = Step(ringing("1.1", ALICE), waits=True)
    assert lanes.add(ALICE, pop) == []
    later = Step(answered("1.1", ALICE))
    ended = Step(CallEnded(summary=CallSummary(linkedid="1.1", caller="+8613800138000",
                                                caller_name="Wang", did="4008001234")))
    assert lanes.add(ALICE, later) == []  # behind the pop being looked up
    assert lanes.add(ALICE, ended) == []
    assert lanes.ringing("1.1") == {ALICE}
    assert lanes.done(ALICE, pop, {"found": True}) == [pop, later, ended]
    assert pop.view == {"found": True} and len(lanes) == 0
    assert lanes.ringing("1.1") == set()


def test_another_agents_lane_is_never_behind_a_lookup() -> None:
    lanes = Lanes()
    slow = Step(ringing("1.1", ALICE), waits=True)
    lanes.add(ALICE, slow)
    bob_pop = Step(ringing("2.1", BOB), waits=True)
    lanes.add(BOB, bob_pop)
    assert lanes.done(BOB, bob_pop, {"found": False}) == [bob_pop]
    bob_answered = Step(answered("2.1", BOB))
    assert lanes.add(BOB, bob_answered) == [bob_answered]  # Alice's lookup still runs
    assert len(lanes) == 1


def test_two_pops_in_one_lane_go_out_in_order_whichever_lookup_ends_first() -> None:
    lanes = Lanes()
    first, second = Step(ringing("1.1", ALICE), waits=True), Step(ringing("1.2", ALICE),
                                                                  waits=True)
    lanes.add(ALICE, first)
    lanes.add(ALICE, second)
    assert lanes.done(ALICE, second, {"found": True}) == []  # the first is not done yet
    assert lanes.done(ALICE, first, None) == [first, second]  # None: cancelled lookup
    assert first.view is None and second.view == {"found": True}
