"""The number plan's pure rules (ivr.number_plan) and the flow check the store runs before
saving (ivr.store.check_flow): canonical DIDs, kinds, what an unknown or disabled number
runs, which documents are refused and why."""

from __future__ import annotations

import copy
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm_core.demo_data import NUMBER_PLAN
from ivr.default_flow import DEFAULT_FLOW
from ivr.number_plan import (
    KINDS,
    Entry,
    canonical_did,
    entry_of,
    flow_name_problem,
    guess_kind,
    queue_problem,
    unknown_entry,
)
from ivr.store import check_flow


@pytest.mark.parametrize(("raw", "canonical"), [
    ("4008001234", "4008001234"),
    ("+86 400-800-1234", "4008001234"),
    ("0086 400 800 1234", "4008001234"),
    ("864008001234", "4008001234"),
    ("400.800.1234", "4008001234"),
    ("＋８６ ４００－８００－１２３４", "4008001234"),  # typed on a Chinese keyboard
    ("8008001234", "8008001234"),
    ("+86 21 5888 0101", "02158880101"),  # a landline keeps its trunk 0
    ("(021) 5888-0101", "02158880101"),
    ("02158880101", "02158880101"),
    ("+8613800138000", "13800138000"),
    ("58880101", "58880101"),  # a local DID without area code: its digits
    ("1001", "1001"),
    ("95588", "95588"),
    ("+14155550100", "+14155550100"),
])
def test_canonical_did(raw: str, canonical: str) -> None:
    assert canonical_did(raw) == canonical


@pytest.mark.parametrize("raw", [
    None, "", "   ", "s", "+", "+86", "4008001234#", "*99", "abc", "<unknown>",
    "4008001234\x00", "١٢٣", "1" * 40, 4008001234,
])
def test_no_number_is_none(raw: Any) -> None:
    assert canonical_did(raw) is None


@given(st.text(max_size=40))
def test_canonical_did_never_raises_and_is_stable(raw: str) -> None:
    once = canonical_did(raw)
    if once is not None:
        assert once.lstrip("+").isascii() and once.lstrip("+").isdigit()
        assert canonical_did(once) == once


@given(st.from_regex(r"\A(\+86|0086)?[ -]?[1-9][0-9 -]{2,14}\Z"))
def test_prefixes_and_separators_do_not_change_the_number(raw: str) -> None:
    plain = raw.replace(" ", "").replace("-", "")
    assert canonical_did(raw) == canonical_did(plain)


def test_kinds_are_guessed_by_prefix() -> None:
    assert guess_kind("4008001234") == "400"
    assert guess_kind("8008001234") == "800"
    assert guess_kind("02154881234") == "legacy"
    assert guess_kind("400800123") == "legacy"  # not a 10-digit 400 number


def test_unknown_and_blank_dids_run_the_default_flow() -> None:
    for did in ("13912345678", "", None, "garbage!"):
        entry = unknown_entry(did)
        assert (entry.kind, entry.flow_name, entry.label, entry.queue) == (
            "unknown", "default", None, None)
    assert unknown_entry("+86 139 1234 5678").number == "13912345678"
    assert unknown_entry("garbage!").number == ""


def test_a_plan_row_gives_its_entry_and_a_disabled_one_counts_as_unknown() -> None:
    row = dict(number="02154881234", kind="legacy", label="原打印机维修热线 / old printer line",
               flow_name="printers", queue="support")
    assert entry_of("021-5488 1234", active=True, **row) == Entry(**row)
    off = entry_of("021-5488 1234", active=False, **row)
    assert (off.kind, off.flow_name, off.number) == ("unknown", "default", "02154881234")


def test_a_row_edited_by_hand_still_answers() -> None:
    entry = entry_of("1", number="1", kind="weird", label="", flow_name="bad name!",
                     queue="support,then-hangup", active=True)
    assert (entry.kind, entry.label, entry.flow_name, entry.queue) == (
        "legacy", None, "default", None)


def test_names_of_flows_and_queues() -> None:
    assert flow_name_problem("default") is None and flow_name_problem("printers.v2") is None
    for bad in ("", "a b", "x" * 65, "流程", None, 3):
        assert flow_name_problem(bad) is not None
    assert queue_problem(None) is None and queue_problem("support") is None
    for bad in ("support,t", "a|b", "", "q" * 65, 5):
        assert queue_problem(bad) is not None


def test_demo_plan_is_canonical_and_bilingual() -> None:
    numbers = [n for n, *_ in NUMBER_PLAN]
    assert len(set(numbers)) == len(numbers)
    kinds = [k for _, k, _, _ in NUMBER_PLAN]
    assert kinds.count("400") == 1 and kinds.count("800") == 1 and kinds.count("legacy") >= 3
    for number, kind, label, queue in NUMBER_PLAN:
        assert canonical_did(number) == number
        assert kind in KINDS and queue_problem(queue) is None
        zh, en = label.split(" / ")
        assert zh and en and not zh.isascii() and en.isascii()


# --- check_flow: what the store refuses before writing ----------------------------------

def test_the_default_flow_passes_and_gets_name_and_version() -> None:
    doc = copy.deepcopy(DEFAULT_FLOW)
    del doc["flow"], doc["version"]
    stored, problems = check_flow("printers", doc, 4)
    assert problems == []
    assert (stored["flow"], stored["version"]) == ("printers", 4)
    assert "flow" not in doc  # the caller's document is not changed


def test_a_document_saved_under_another_name_is_refused() -> None:
    _, problems = check_flow("printers", copy.deepcopy(DEFAULT_FLOW), 2)
    assert problems == ["flow: field 'flow' is 'default' but the document is saved as "
                        "'printers'"]


def test_every_problem_is_listed_with_its_step() -> None:
    doc = copy.deepcopy(DEFAULT_FLOW)
    doc["steps"]["welcome"]["prompt"] = "no_such_prompt"
    doc["steps"]["orphan"] = {"type": "play", "prompt": "goodbye", "next": "hangup"}
    doc["steps"]["main_menu"]["choices"]["5"] = "nowhere"
    _, problems = check_flow("default", doc, 2)
    assert any(p.startswith("step 'welcome':") and "no_such_prompt" in p for p in problems)
    assert any(p.startswith("step 'orphan':") and "unreachable" in p for p in problems)
    assert any(p.startswith("step 'main_menu':") and "nowhere" in p for p in problems)


def _nested(depth: int) -> list[object]:
    out: list[object] = [1]
    for _ in range(depth):
        out = [out]
    return out


@pytest.mark.parametrize("bad", [
    "not a dict", [], None, {"steps": {}},
    {**DEFAULT_FLOW, "note": "a\x00b"},
    {**DEFAULT_FLOW, "weight": math.nan},
    {**DEFAULT_FLOW, "deep": _nested(40)},
    {**DEFAULT_FLOW, "bad": "\ud800"},
])
def test_unstorable_documents_are_refused(bad: object) -> None:
    stored, problems = check_flow("default", bad, 1)
    assert problems


def test_a_bad_flow_name_is_refused() -> None:
    _, problems = check_flow("bad name", copy.deepcopy(DEFAULT_FLOW), 1)
    assert any("name 'bad name'" in p for p in problems)
