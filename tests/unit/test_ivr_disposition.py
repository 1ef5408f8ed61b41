"""The call log's disposition suggested by the caller's IVR choice (issue 14 item 6):
key 3 of the default flow's main menu is a repair, 2 an order status, 1 a question about
a ticket; 0 and 4 suggest nothing; the last choice with a meaning decides; nothing the
variables hold raises."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent_console.ivr_disposition import STEP_DISPOSITION, suggested_disposition
from ivr.default_flow import DEFAULT_FLOW

DISPOSITIONS = ("inquiry", "repair", "complaint", "order-status", "sales-lead", "other")


def path(*steps: str) -> dict[str, str]:
    return {"HOTLINE_IVR_PATH": ",".join(steps)}


@pytest.mark.parametrize(("key", "expected"), [
    ("1", "inquiry"), ("2", "order-status"), ("3", "repair"), ("4", None), ("0", None)])
def test_each_main_menu_key_of_the_default_flow(key: str, expected: str | None) -> None:
    # the step each key leads to, read from the flow itself: renaming one breaks this test
    target = dict(DEFAULT_FLOW["steps"]["main_menu"]["choices"])[key]
    assert STEP_DISPOSITION.get(target) == expected
    ivr = path("welcome", "base_route", "identify", "known", "hours", "main_menu",
               f"main_menu:{key}", target, "to_agent", "queue")
    assert suggested_disposition(ivr) == expected


def test_every_step_named_exists_in_the_default_flow() -> None:
    assert set(STEP_DISPOSITION) <= set(DEFAULT_FLOW["steps"])
    assert set(STEP_DISPOSITION.values()) <= set(DISPOSITIONS)


def test_a_known_callers_repair_walk_with_an_asset_picked() -> None:
    ivr = path("welcome", "identify", "known", "welcome_back", "vip", "hours", "main_menu",
               "main_menu:3", "can_repair", "has_assets", "list_assets", "pick_asset",
               "pick_asset:1", "repair_pick", "more", "more:0", "agent_hours", "to_agent",
               "queue")
    assert suggested_disposition(ivr) == "repair"


def test_the_last_choice_decides() -> None:
    ivr = path("main_menu", "main_menu:1", "has_ticket", "my_tickets", "more", "more:9",
               "main_menu", "main_menu:2", "order_status", "more", "more:0", "to_agent")
    assert suggested_disposition(ivr) == "order-status"


def test_the_repair_skill_without_a_known_path() -> None:
    assert suggested_disposition({"HOTLINE_IVR_PATH": "start,menu:7,x",
                                  "HOTLINE_SKILL": "repair"}) == "repair"
    assert suggested_disposition({"HOTLINE_SKILL": "sales"}) is None


@pytest.mark.parametrize("ivr", [None, {}, {"QUEUE": "support"}, path("main_menu:0", "to_agent"),
                                 {"HOTLINE_IVR_PATH": 3}, {"HOTLINE_SKILL": None}, "repair"])
def test_no_hint(ivr: object) -> None:
    assert suggested_disposition(ivr) is None  # type: ignore[arg-type]


@given(st.dictionaries(st.sampled_from(["HOTLINE_IVR_PATH", "HOTLINE_SKILL", "X"]),
                       st.text(max_size=300)))
def test_nothing_in_the_variables_raises(ivr: dict[str, str]) -> None:
    assert suggested_disposition(ivr) in {None, *DISPOSITIONS}
