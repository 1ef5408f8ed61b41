"""The screen pop frames (agent_console.pop) and a client's bounded queue."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from agent_console import pop
from agent_console.hub import Agent, AgentClient
from telephony.events import (
    AgentRinging,
    AgentRingNoAnswer,
    AgentStateChanged,
    CallAnswered,
    CallEnded,
    CallSummary,
    CallTransferred,
)

HOSTILE = "<img src=x onerror=alert(1)>"


def ringing(**kw: object) -> AgentRinging:
    base: dict[str, object] = dict(
        linkedid="1.1", queue="support", agent="Alice", interface="Local/1001@agents/n",
        agent_channel="Local/1001@agents-0001;1", caller="+8613800138000",
        caller_name="王先生", did="4008001234", ivr={"QUEUE": "support"},
        at=datetime(2024, 5, 1, 8, 30, tzinfo=UTC),
    )
    base.update(kw)
    return AgentRinging(**base)  # type: ignore[arg-type]


def test_known_caller_pop_carries_the_view() -> None:
    view = {"found": True, "phone": "+8613800138000", "customer": {"id": 7, "name": "华东"}}
    msg = pop.pop_message(ringing(), view)
    assert msg["v"] == 1 and msg["type"] == "pop"
    assert msg["record"]["known"] is True and msg["record"]["customer"]["id"] == 7
    assert msg["call"]["linkedid"] == "1.1" and msg["call"]["caller_name"] == "王先生"
    assert msg["call"]["at"] == "2024-05-01T08:30:00+00:00"


def test_unknown_caller_gets_a_quick_create_prefill_without_the_caller_id_name() -> None:
    # issue 14 item 7: a company by default, the region guessed from the number, and the
    # carrier's caller name (anyone's, or an attack) never as the name: only in the call
    msg = pop.pop_message(ringing(caller_name=HOSTILE),
                          {"found": False, "phone": "+8613800138000"})
    assert msg["record"] == {"known": False, "phone": "+8613800138000",
                             "quick_create": {"phone": "+8613800138000", "kind": "company",
                                              "province": "北京"},
                             "candidates": []}
    assert HOSTILE not in json.dumps(msg["record"], ensure_ascii=False)
    assert msg["call"]["caller_name"] == HOSTILE


def test_unknown_caller_pop_carries_the_duplicate_candidates() -> None:
    candidates = [{"id": 3, "name": "王先生", "owner": {"id": 9, "display_name": "Wang Lei"},
                   "reason": "name"}]
    msg = pop.pop_message(ringing(), {"found": False, "phone": "+8613800138000",
                                      "candidates": candidates})
    assert msg["record"]["known"] is False and msg["record"]["candidates"] == candidates


def test_wrapup_frames_are_typed_and_versioned() -> None:
    until = datetime(2024, 5, 1, 8, 31, tzinfo=UTC)
    start = pop.wrapup_frame("Local/1001@agents/n", "1.1", until)
    end = pop.wrapup_end_frame("Local/1001@agents/n", "1.1", "saved")
    assert start == {"v": 1, "type": "wrapup", "interface": "Local/1001@agents/n",
                     "linkedid": "1.1", "until": "2024-05-01T08:31:00+00:00"}
    assert end["type"] == "wrapup-end" and end["linkedid"] == "1.1" and end["why"] == "saved"


def test_hostile_caller_name_stays_the_exact_string_through_json() -> None:
    text = pop.dumps(pop.pop_message(ringing(caller_name=HOSTILE), {"found": False}))
    back = json.loads(text)
    assert back["call"]["caller_name"] == HOSTILE
    assert "name" not in back["record"]["quick_create"]
    assert "&lt;" not in text


def test_no_caller_number_still_pops() -> None:
    msg = pop.pop_message(ringing(caller=None, caller_name=None), {"found": False, "phone": None})
    assert msg["record"]["known"] is False
    assert msg["record"]["quick_create"] == {"phone": None, "kind": "company", "province": None}


def test_ivr_customer_id_only_plain_positive_integers() -> None:
    assert pop.ivr_customer_id({"HOTLINE_CUSTOMER_ID": "42"}) == 42
    assert pop.ivr_customer_id({"CRM_CUSTOMER_ID": " 9 "}) == 9
    for bad in ("", "0", "-1", "CRM-138000", "٣", "1e3", "9" * 40):
        assert pop.ivr_customer_id({"HOTLINE_CUSTOMER_ID": bad}) is None, bad
    assert pop.ivr_customer_id({"CRM_CONTACT_ID": "42"}) is None


def test_call_frames_are_typed_and_versioned() -> None:
    iface = "Local/1001@agents/n"
    answered = pop.call_frame(CallAnswered(linkedid="1.1", queue="q", agent="A", interface=iface,
                                           agent_channel="c", wait_s=1, ring_s=2))
    missed = pop.call_frame(AgentRingNoAnswer(linkedid="1.1", queue="q", agent="A",
                                              interface=iface, ring_ms=5000))
    # the agent's state is not a call step: agent_state builds it (pop.state_frame)
    assert pop.call_frame(AgentStateChanged(interface=iface, agent="A", state="busy",
                                            paused=False, reason="")) is None
    state = pop.state_frame({"interface": iface, "state": "busy", "paused": False,
                             "reason": ""})
    assert answered and answered["type"] == "answered" and answered["v"] == 1
    assert missed and missed["type"] == "missed"
    assert state and state["type"] == "state" and state["state"] == "busy"
    assert pop.call_frame(CallTransferred(linkedid="1", kind="blind", by=None,
                                          target="2000", result="Success")) is None


def test_ended_frame_says_how_the_call_ended() -> None:
    # the console tells a caller who hung up while it rang (abandoned) from a queue
    # timeout (no-answer, ended by the system) and from a call a colleague took
    for outcome, by, agent in (("abandoned", "caller", None),
                               ("no-answer", "system", None),
                               ("answered", "caller", "Local/1002@agents/n")):
        frame = pop.call_frame(CallEnded(summary=CallSummary(
            linkedid="1.1", caller="+8613800138000", caller_name=HOSTILE, did="4008001234",
            outcome=outcome, hangup_by=by, agent_interface=agent)))
        assert frame == {"v": 1, "type": "ended", "linkedid": "1.1", "at": None,
                         "outcome": outcome, "direction": "inbound", "hangup_by": by,
                         "agent_interface": agent}
        assert HOSTILE not in json.dumps(frame)  # nothing of the caller goes with it


def test_overflowing_client_drops_its_backlog_for_resync_and_state() -> None:
    client = AgentClient(Agent(1, "Local/1001@agents/n", "Alice"), 4, lambda: ["state", "pop"])
    for i in range(4):
        client.offer(f"f{i}")
    client.offer("new")
    frames = [client.queue.get_nowait() for _ in range(client.queue.qsize())]
    assert json.loads(frames[0])["type"] == "resync"
    assert frames[1:] == ["state", "pop", "new"]
    assert client.dropped == 4 and client.resyncs == 1


def test_outbound_call_pops_as_a_queue_call_marked_outbound() -> None:
    """An agent's own outbound call: the same pop (record of the number dialled, or the
    unknown-caller form), the call marked outbound, in no queue, no DID."""
    out = ringing(queue="", did=None, caller_name=None, direction="outbound",
                  ivr={"HOTLINE_CUSTOMER_ID": "7"})
    known = pop.pop_message(out, {"found": True, "phone": "+8613800138000",
                                  "customer": {"id": 7, "name": "华东"}})
    assert known["type"] == "pop" and known["record"]["known"] is True
    assert (known["call"]["direction"], known["call"]["queue"], known["call"]["did"]) == (
        "outbound", "", None)
    unknown = pop.pop_message(out, {"found": False, "phone": "+8613800138000"})
    assert unknown["record"] == {"known": False, "phone": "+8613800138000",
                                 "quick_create": {"phone": "+8613800138000",
                                                  "kind": "company", "province": "北京"},
                                 "candidates": []}
    assert pop.pop_message(ringing(), {"found": False})["call"]["direction"] == "inbound"


def test_the_pop_carries_the_disposition_the_ivr_choice_points_to() -> None:
    repair = {"HOTLINE_IVR_PATH": "welcome,main_menu,main_menu:3,can_repair,repair_agent,"
                                  "to_agent,queue", "HOTLINE_SKILL": "repair"}
    assert pop.pop_message(ringing(ivr=repair), {"found": False})["call"][
        "suggested_disposition"] == "repair"
    assert pop.pop_message(ringing(), {"found": False})["call"]["suggested_disposition"] is None
