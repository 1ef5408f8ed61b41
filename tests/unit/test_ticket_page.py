"""The ticket page's pure parts (``crm_core.ticket_page``): each SLA target's clock
state and time left or over, and the timeline's order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from crm_core.ticket_page import route_sentence_en, sla_clocks, timeline

T0 = datetime(2026, 11, 25, 1, 0, tzinfo=UTC)


def iso(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat()


def ticket(**fields: Any) -> dict[str, Any]:
    return {"status": "routed", "accept_due": iso(120), "arrive_due": iso(480),
            "resolve_due": iso(1440), "accepted_at": None, "arrived_at": None,
            "resolved_at": None, "sla_paused_at": None, **fields}


def states(clocks: list[dict[str, Any]]) -> dict[str, str]:
    return {c["target"]: c["state"] for c in clocks}


def test_a_fresh_ticket_runs_every_clock_with_its_time_left() -> None:
    clocks = sla_clocks(ticket(), [], T0 + timedelta(minutes=20))
    assert states(clocks) == {"accept": "running", "arrive": "running", "resolve": "running"}
    assert clocks[0]["seconds"] == 100 * 60 and clocks[0]["level"] == 0


def test_warned_then_breached_with_the_level_since_the_clock_last_started() -> None:
    old = [{"kind": "sla-start"}, {"kind": "escalation", "data": {"target": "accept", "level": 3}}]
    recent = [{"kind": "sla-start"},
              {"kind": "sla-warning", "data": {"target": "accept", "level": 0}}]
    warned = sla_clocks(ticket(), old + recent, T0 + timedelta(minutes=100))
    assert states(warned)["accept"] == "warned" and warned[0]["level"] == 0  # re-routed
    late = recent + [{"kind": "escalation", "data": {"target": "accept", "level": 1}}]
    breached = sla_clocks(ticket(), old + late, T0 + timedelta(minutes=150))
    assert states(breached)["accept"] == "breached"
    assert breached[0]["seconds"] == -30 * 60 and breached[0]["level"] == 1
    assert states(breached)["arrive"] == "running"  # its warning has not fired


def test_met_on_time_or_late_paused_and_stopped() -> None:
    met = ticket(status="waiting", accepted_at=iso(130), arrived_at=iso(300),
                 sla_paused_at=iso(400))
    clocks = {c["target"]: c for c in sla_clocks(met, [], T0 + timedelta(days=3))}
    assert clocks["accept"]["state"] == "met_late" and clocks["accept"]["seconds"] == -600
    assert clocks["arrive"]["state"] == "met" and clocks["arrive"]["seconds"] == 180 * 60
    assert clocks["resolve"]["state"] == "paused"  # frozen at the pause, not at now
    assert clocks["resolve"]["seconds"] == (1440 - 400) * 60
    cancelled = sla_clocks(ticket(status="cancelled"), [], T0 + timedelta(days=3))
    assert set(states(cancelled).values()) == {"stopped"}
    assert all(c["seconds"] is None for c in cancelled)


def test_a_target_without_a_due_has_no_clock() -> None:
    assert [c["target"] for c in sla_clocks(ticket(arrive_due=None), [], T0)] == [
        "accept", "resolve"]


def test_the_timeline_is_in_time_order_steps_before_their_messages() -> None:
    history = [{"id": 1, "at": iso(0), "kind": "status"}, {"id": 2, "at": iso(0), "kind": "route"},
               {"id": 4, "at": iso(30), "kind": "refusal"},
               {"id": 3, "at": iso(10), "kind": "note"}]
    messages = [{"id": 9, "created_at": iso(0), "channel": "sms"},
                {"id": 8, "created_at": iso(20), "channel": "email"}]
    line = timeline(history, messages)
    assert [(e["entry"], e["id"]) for e in line] == [
        ("step", 1), ("step", 2), ("message", 9), ("step", 3), ("message", 8), ("step", 4)]
    assert line[2]["at"] == iso(0)


def test_the_english_sentence_is_the_last_routing_rows() -> None:
    history = [{"kind": "route", "data": {"reason_en": "Zhengzhou: covers Henan"}},
               {"kind": "refusal", "data": {"reason_en": "ignored"}},
               {"kind": "override", "data": {"reason_en": "Shanghai: chosen by a person"}},
               {"kind": "note", "data": None}]
    assert route_sentence_en(history) == "Shanghai: chosen by a person"
    assert route_sentence_en([{"kind": "status"}]) is None
