"""ivr.flow_engine: walking the default flow as callers do, garbage input, and fuzzing."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ivr.default_flow import DEFAULT_FLOW
from ivr.flow import parse_flow
from ivr.flow_engine import (
    Action,
    ActionResult,
    CollectDigits,
    DtmfReceived,
    Event,
    FlowRun,
    HandOff,
    Hangup,
    Lookup,
    LookupResult,
    Play,
    SelfService,
    SetRouting,
    Timeout,
)

FLOW = parse_flow(DEFAULT_FLOW)
OPEN = "2026-11-25T10:00:00+08:00"  # a Wednesday, 10:00 in Shanghai
EVENING = "2026-11-25T19:30:00+08:00"
NATIONAL_DAY = "2026-10-02T10:00:00+08:00"  # a Friday, but a holiday
KNOWN = {"id": 42, "tier": "standard", "open_tickets": 0}
VIP = {"id": 7, "tier": "VIP", "account_manager": "alice", "open_tickets": [{"no": "T1"}]}


def begin(customer: dict[str, Any] | None, now: str = OPEN, **ctx: Any) -> tuple[FlowRun,
                                                                                 list[Action]]:
    run = FlowRun(FLOW)
    first = run.start({"caller": "13800138000", "now": now, "timezone": "Asia/Shanghai", **ctx})
    assert first[-1] == Lookup("caller_number", "13800138000")
    return run, run.feed(LookupResult(customer))


def prompts(actions: list[Action]) -> list[str]:
    return [a.prompt_id for a in actions if isinstance(a, Play)]


def test_unknown_caller_presses_0_for_an_agent() -> None:
    run, actions = begin(None)
    assert prompts(actions) == ["main_menu"]
    assert actions[-1] == CollectDigits(1, 5000, "", "0123456789")  # any digit stops it
    actions = run.feed(DtmfReceived("0"))
    assert actions == [Play("transfer", "zh"), HandOff("queue")]
    assert run.result["queue"] == "support"
    assert run.result["priority"] == 0
    assert run.result["customer_id"] is None
    assert run.result["path"][-3:] == ["main_menu:0", "to_agent", "queue"]
    assert run.done and run.outcome == "queue"


def test_known_caller_is_welcomed_back_at_normal_priority() -> None:
    run, actions = begin(KNOWN)
    assert prompts(actions) == ["welcome_back", "main_menu"]
    run.feed(DtmfReceived("0"))
    assert run.result["customer_id"] == 42
    assert run.result["priority"] == 0
    assert run.result["preferred_agent"] is None


def test_vip_gets_priority_and_account_manager() -> None:
    run, actions = begin(VIP)
    assert SetRouting(None, 10, None, "alice") in actions
    run.feed(DtmfReceived("0"))
    result = run.result
    assert (result["queue"], result["priority"], result["preferred_agent"]) == ("support", 10,
                                                                                 "alice")
    assert "vip_route" in result["path"]


def test_vip_reads_open_tickets_back_then_hangs_up_via_default() -> None:
    run, _ = begin(VIP)
    actions = run.feed(DtmfReceived("1"))
    assert actions == [SelfService("ticket_status", {"customer_id": "7"})]
    actions = run.feed(ActionResult("ticket_status", True, {"prompts": ["ticket_T1_open"]}))
    assert prompts(actions) == ["ticket_T1_open", "more"]
    for _ in range(3):  # silence: 2 retries, then the default (goodbye)
        actions = run.feed(Timeout())
    assert actions == [Play("goodbye", "zh"), HandOff("hangup")]


def test_unknown_caller_enters_a_ticket_number() -> None:
    run, _ = begin(None)
    actions = run.feed(DtmfReceived("1"))
    assert prompts(actions) == ["enter_ticket"]
    assert actions[-1] == CollectDigits(12, 5000, "#", "0123456789")
    assert actions[-1].keys_to_read == 13  # room for the "#": it ends the entry
    actions = run.feed(DtmfReceived("20261125#"))
    assert actions == [SelfService("ticket_status", {"ticket_no": "20261125"})]
    assert run.result["vars"]["ticket_no"] == "20261125"
    assert "ask_ticket:20261125#" in run.result["path"]


def test_too_many_and_too_few_digits_retry_then_default() -> None:
    run, _ = begin(None)
    run.feed(DtmfReceived("1"))
    actions = run.feed(DtmfReceived("1234567890123#"))  # 13 digits: too many
    assert prompts(actions) == ["invalid", "enter_ticket"]
    actions = run.feed(DtmfReceived("12#"))  # too few
    assert prompts(actions) == ["invalid", "enter_ticket"]
    actions = run.feed(DtmfReceived("12*4567"))  # not digits
    assert actions == [Play("transfer", "zh"), HandOff("queue")]
    assert run.result["path"][-2:] == ["to_agent", "queue"]


def test_garbage_dtmf_in_menu_retries_then_default() -> None:
    run, _ = begin(KNOWN)
    assert prompts(run.feed(DtmfReceived("7"))) == ["invalid", "main_menu"]
    assert prompts(run.feed(DtmfReceived("**"))) == ["invalid", "main_menu"]
    actions = run.feed(DtmfReceived("x"))
    assert actions[-1] == HandOff("queue")
    assert [p for p in run.result["path"] if p.startswith("main_menu:")] == [
        "main_menu:7", "main_menu:**", "main_menu:x"]


def test_timeouts_retry_then_default() -> None:
    run, _ = begin(KNOWN)
    assert prompts(run.feed(Timeout())) == ["invalid", "main_menu"]
    assert prompts(run.feed(Timeout())) == ["invalid", "main_menu"]
    assert run.feed(Timeout())[-1] == HandOff("queue")
    assert run.result["path"].count("main_menu:timeout") == 3


def test_hangup_mid_menu_keeps_the_path() -> None:
    run, _ = begin(VIP)
    run.feed(DtmfReceived("5"))
    assert run.feed(Hangup()) == []
    result = run.result
    assert result["outcome"] == "caller_hangup"
    assert result["customer_id"] == 7 and result["priority"] == 10
    assert result["path"][-2:] == ["main_menu", "main_menu:5"]
    assert run.feed(DtmfReceived("0")) == []  # nothing after a hang-up
    assert run.result == result


def test_after_hours_offers_self_service_and_callback() -> None:
    run, actions = begin(KNOWN, now=EVENING)
    assert prompts(actions) == ["welcome_back", "closed"]
    actions = run.feed(DtmfReceived("4"))
    assert actions == [SelfService("callback", {"caller": "13800138000", "customer_id": "42"})]
    actions = run.feed(ActionResult("callback", True, {}))
    assert actions == [Play("callback_confirmed", "zh"), HandOff("hangup")]


def test_holiday_is_closed_and_context_holidays_count() -> None:
    _, actions = begin(None, now=NATIONAL_DAY)
    assert prompts(actions) == ["closed"]
    _, actions = begin(None, now=OPEN, holidays=["2026-11-25"])
    assert prompts(actions) == ["closed"]
    # the clock is converted to Shanghai time: 02:00 UTC is 10:00 there
    _, actions = begin(None, now="2026-11-25T02:00:00+00:00")
    assert prompts(actions) == ["main_menu"]
    _, actions = begin(None, now="2026-11-28T10:00:00+08:00")  # Saturday
    assert prompts(actions) == ["closed"]


def test_unusable_clock_counts_as_open() -> None:
    _, actions = begin(None, now="not a date")
    assert prompts(actions) == ["main_menu"]
    _, actions = begin(None, now=EVENING, timezone="Mars/Olympus")  # falls back to Shanghai
    assert prompts(actions) == ["closed"]


def test_broken_flow_fails_open_to_the_dialplan() -> None:
    broken = parse_flow({"version": 1, "start": "a", "steps": {
        "a": {"type": "play", "prompt": "welcome", "next": "ghost"}}})
    run = FlowRun(broken)
    assert run.start({}) == [Play("welcome", "zh"), HandOff("dialplan")]
    assert run.result["outcome"] == "dialplan"


def test_the_greeting_is_interruptible_by_the_keys_of_the_menus_that_follow() -> None:
    """The welcome is played before the caller lookup, so before the flow knows which
    menu comes (open or closed): its prompts stop on a key of either, so a caller who
    knows the menu can answer it during the greeting."""
    run = FlowRun(FLOW)
    first = run.start({"caller": "13800138000", "now": OPEN})
    assert first[0] == Play("welcome", "zh") and isinstance(first[-1], Lookup)
    assert run.escape == "0123456789"  # every digit stops a menu's prompts
    actions = run.feed(LookupResult(KNOWN))
    assert prompts(actions) == ["welcome_back", "main_menu"]
    assert run.escape == "0123456789"
    actions = run.feed(DtmfReceived("0"))
    assert actions == [Play("transfer", "zh"), HandOff("queue")]
    assert run.escape == ""  # nothing is asked any more: "transfer" plays to its end


def test_a_readback_before_a_self_service_stops_on_the_next_inputs_keys() -> None:
    run, _ = begin({**VIP, "assets": 2})
    actions = run.feed(DtmfReceived("3"))  # repair: the assets are listed, then one picked
    assert actions == [SelfService("list_assets", {"customer_id": "7"})]
    assert run.escape == "0123456789"  # pick_asset's digits, or ask_serial's
    actions = run.feed(DtmfReceived("9"))  # not waiting for keys: ignored
    assert actions == [] and run.escape == ""


def test_english_and_self_service_failure() -> None:
    run, actions = begin(KNOWN, lang="en")
    assert actions[0] == Play("welcome_back", "en")
    run.feed(DtmfReceived("2"))
    actions = run.feed(ActionResult("order_status", False, {}))
    assert actions == [Play("service_error", "en"), Play("transfer", "en"), HandOff("queue")]


def test_repair_request_by_serial() -> None:
    run, _ = begin(KNOWN)
    run.feed(DtmfReceived("3"))
    actions = run.feed(DtmfReceived("SN12#"))  # letters cannot be keyed: invalid
    assert prompts(actions) == ["invalid", "enter_serial"]
    actions = run.feed(DtmfReceived("12345678#"))
    assert actions == [SelfService("repair_request", {"customer_id": "42",
                                                      "serial": "12345678"})]
    run.feed(ActionResult("wrong_name", True, {}))  # not the awaited action: ignored
    actions = run.feed(ActionResult("repair_request", True, {"prompts": ["ticket_no_99"]}))
    assert prompts(actions) == ["ticket_no_99", "more"]
    assert run.feed(DtmfReceived("0"))[-1] == HandOff("queue")


def test_unexpected_events_are_ignored() -> None:
    run = FlowRun(FLOW)
    assert run.feed(DtmfReceived("1")) == []  # before start
    run.start({"caller": "1"})
    assert run.feed(DtmfReceived("1")) == []  # waiting for the lookup
    assert run.feed(ActionResult("x", True, {})) == []
    assert run.start({}) == []  # a second start does nothing


def test_menu_loop_is_cut_short_by_the_step_budget() -> None:
    run, _ = begin(None)
    last: list[Action] = []
    for _ in range(200):
        if run.done:
            break
        run.feed(DtmfReceived("2"))
        last = run.feed(ActionResult("order_status", True, {}))
        if not run.done:
            last = run.feed(DtmfReceived("9"))
    assert run.done and last[-1] == HandOff("dialplan")


EVENTS = st.one_of(
    st.builds(DtmfReceived, st.text(alphabet="0123456789*#x", max_size=14)),
    st.just(Timeout()),
    st.builds(LookupResult, st.sampled_from([None, KNOWN, VIP, {}, {"tier": 3,
                                                                    "open_tickets": "x"}])),
    st.builds(ActionResult, st.sampled_from(["ticket_status", "order_status", "callback",
                                             "repair_request", "other"]), st.booleans(),
              st.sampled_from([{}, {"prompts": ["p1", 3]}, {"prompts": "nope"}])),
    st.just(Hangup()),
)


@settings(max_examples=300, deadline=None)
@given(events=st.lists(EVENTS, max_size=60),
       now=st.sampled_from([OPEN, EVENING, NATIONAL_DAY, "not a date", None]))
def test_random_events_never_raise_and_end_in_handoff_or_hangup(
        events: list[Event], now: str | None) -> None:
    run = FlowRun(FLOW)
    seen: list[Action] = list(run.start({"caller": "13800138000", "now": now}))
    for event in events:
        seen += run.feed(event)
    # An adapter then answers whatever is awaited; the run must end within a bounded count.
    for _ in range(50):
        if run.done:
            break
        seen += run.feed(Timeout())
        seen += run.feed(LookupResult(None))
        for name in ("ticket_status", "order_status", "callback", "repair_request"):
            seen += run.feed(ActionResult(name, False, {}))
    assert run.done
    handoffs = [a for a in seen if isinstance(a, HandOff)]
    assert len(handoffs) <= 1
    assert handoffs or run.outcome == "caller_hangup"
    assert isinstance(run.result["path"], list)
