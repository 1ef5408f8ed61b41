"""ivr.routing: queue, priority and preferred agent from plain data (no database, no PBX)."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from ivr.routing import (
    DEFAULT_QUEUE,
    MAX_PRIORITY,
    TIER_PRIORITY,
    AgentPresence,
    Routing,
    decide,
    flow_customer,
    nobody_free,
    priority_for,
)
from telephony.events import AgentStateChanged, QueueMemberChanged

FLOW = {"queue": "support", "priority": 0, "skill": None, "preferred_agent": None}


def view(tier: int = 0, owner: int | None = 5, **extra: Any) -> dict[str, Any]:
    return {"found": True, "phone": "+8613800138000",
            "customer": {"id": 42, "name": "华东医药", "vip_tier": tier},
            "owner": None if owner is None else {"id": owner, "display_name": "王磊"},
            "contact": {"id": 9, "name": "张伟"},
            "open_tickets": [{"id": 1, "number": "T20261124-0007", "status": "routed",
                              "updated_at": "2026-11-24T03:00:00.000+00:00"}],
            "assets": [{"id": 3, "serial_number": "BPM-2022-0417", "model": "DPP-260",
                        "in_warranty": True}], **extra}


def free(*interfaces: str) -> Any:
    return set(interfaces).__contains__


def test_unknown_caller_goes_to_the_flow_queue_at_flow_priority() -> None:
    assert decide(None, None, FLOW, free("PJSIP/2001")) == Routing("support", 0, None, None)


def test_vip_tier_raises_priority_by_the_table() -> None:
    for tier, expected in TIER_PRIORITY.items():
        customer = flow_customer(view(tier))
        assert decide(customer, None, FLOW, nobody_free).priority == expected
    # the flow's own priority wins when higher (and is clamped)
    gold = flow_customer(view(2))
    assert decide(gold, None, {**FLOW, "priority": 35}, nobody_free).priority == 35
    assert decide(gold, None, {**FLOW, "priority": 900}, nobody_free).priority == MAX_PRIORITY
    assert decide(gold, None, {**FLOW, "priority": -4}, nobody_free).priority == 20


def test_account_manager_first_only_when_free() -> None:
    customer = flow_customer(view(1), "PJSIP/2001")
    assert decide(customer, None, FLOW, free("PJSIP/2001")).preferred_agent == "PJSIP/2001"
    assert decide(customer, None, FLOW, free("PJSIP/2002")).preferred_agent is None
    assert decide(customer, None, FLOW, nobody_free).preferred_agent is None


def test_flow_named_agent_beats_the_manager_but_must_be_free_too() -> None:
    customer = flow_customer(view(0), "PJSIP/2001")
    routing = {**FLOW, "preferred_agent": "PJSIP/3000"}
    assert decide(customer, None, routing, free("PJSIP/3000", "PJSIP/2001")).preferred_agent \
        == "PJSIP/3000"
    assert decide(customer, None, routing, free("PJSIP/2001")).preferred_agent is None


def test_broken_agent_state_source_means_no_preference() -> None:
    def explode(interface: str) -> bool:
        raise RuntimeError("redis down")

    customer = flow_customer(view(0), "PJSIP/2001")
    assert decide(customer, None, FLOW, explode).preferred_agent is None


def test_the_number_queue_wins_then_the_flow_then_the_default() -> None:
    assert decide(None, "printers", FLOW, nobody_free).queue == "printers"
    assert decide(None, None, FLOW, nobody_free).queue == "support"
    assert decide(None, None, {**FLOW, "queue": None}, nobody_free).queue == DEFAULT_QUEUE
    assert decide(None, None, {**FLOW, "queue": "  "}, nobody_free).queue == DEFAULT_QUEUE


def test_flow_customer_shapes_the_360_view() -> None:
    customer = flow_customer(view(2), "PJSIP/2001")
    assert customer is not None
    assert customer["id"] == 42 and customer["tier"] == "gold" and customer["vip_tier"] == 2
    assert customer["open_tickets"] == [{"id": 1, "number": "T20261124-0007",
                                         "status": "routed",
                                         "updated_at": "2026-11-24T03:00:00.000+00:00"}]
    assert customer["assets"][0]["serial"] == "BPM-2022-0417"
    assert customer["account_manager"] == "PJSIP/2001"
    assert customer["owner_id"] == 5 and customer["contact_id"] == 9


def test_flow_customer_of_unknown_restricted_or_odd_views_is_none_or_safe() -> None:
    assert flow_customer({"found": False, "phone": None}) is None
    assert flow_customer({"found": True, "restricted": True, "owner": None}) is None
    assert flow_customer(None) is None
    assert flow_customer({"found": True, "customer": {"id": "7"}}) is None
    odd = flow_customer({"found": True, "customer": {"id": 7, "vip_tier": "gold"},
                         "open_tickets": "x", "assets": [1, None], "owner": "me"})
    assert odd is not None
    assert (odd["vip_tier"], odd["open_tickets"], odd["assets"], odd["owner_id"]) == (
        0, [], [], None)


def personal(change: str, queue: str = "agent-2001") -> QueueMemberChanged:
    return QueueMemberChanged(queue=queue, interface="PJSIP/2001", agent="王磊",
                              change=change, status=1, paused=False, reason="")


def test_agent_states_follow_the_pbx() -> None:
    states = AgentPresence()
    assert not states.free("PJSIP/2001")  # never heard of: not free
    states.feed(personal("added"))  # Hotline signed her in
    base: dict[str, Any] = {"interface": "PJSIP/2001", "agent": "王磊"}
    states.feed(AgentStateChanged(**base, state="available", paused=False, reason=""))
    assert states.free("PJSIP/2001")
    states.feed(AgentStateChanged(**base, state="available", paused=True, reason="Lunch"))
    assert not states.free("PJSIP/2001")
    states.feed(AgentStateChanged(**base, state="busy", paused=False, reason=""))
    assert not states.free("PJSIP/2001")
    states.feed(object())  # not an agent state: ignored
    states.feed(AgentStateChanged(**base, state="available", paused=False, reason=""))
    assert states.free("PJSIP/2001")
    states.feed(personal("removed"))  # signed out
    assert not states.free("PJSIP/2001")


def test_an_agent_hotline_never_signed_in_is_not_free_however_available() -> None:
    """A static member of support (or of anything but her personal queue), free and
    unpaused: Asterisk reports her available, but nobody signed in at that desk."""
    states = AgentPresence()
    states.feed(personal("status", "support"))
    states.feed(personal("added", "agent-2002"))  # somebody else's personal queue
    states.feed(AgentStateChanged(interface="PJSIP/2001", agent="王磊", state="available",
                                  paused=False, reason=""))
    assert not states.free("PJSIP/2001")
    assert decide({"id": 1, "account_manager": "PJSIP/2001"}, None, {},
                  states.free).preferred_agent is None
    states.feed(personal("status"))  # a resync snapshot of her personal queue: signed in
    assert states.free("PJSIP/2001")
    assert decide({"id": 1, "account_manager": "PJSIP/2001"}, None, {},
                  states.free).preferred_agent == "PJSIP/2001"


@given(tier=st.one_of(st.integers(), st.text(), st.none(), st.booleans()),
       priority=st.one_of(st.integers(), st.none(), st.text(), st.booleans()))
def test_priority_is_always_in_range(tier: Any, priority: Any) -> None:
    value = priority_for(priority, {"vip_tier": tier})
    assert 0 <= value <= MAX_PRIORITY
