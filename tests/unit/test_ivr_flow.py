"""ivr.flow: parsing and validation of flow documents; the default flow validates."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from ivr.default_flow import DEFAULT_FLOW, PROMPTS
from ivr.flow import FlowError, parse_flow, validate


def small() -> dict[str, Any]:
    return {
        "flow": "t", "version": 1, "start": "hello", "languages": ["zh", "en"],
        "steps": {
            "hello": {"type": "play", "prompt": "welcome", "next": "menu"},
            "menu": {"type": "menu", "prompt": "main_menu", "choices": {"1": "q", "2": "bye"},
                     "default": "q", "retries": 1},
            "q": {"type": "handoff", "kind": "queue"},
            "bye": {"type": "handoff", "kind": "hangup"},
        },
    }


def test_default_flow_validates_with_both_languages() -> None:
    assert validate(DEFAULT_FLOW, PROMPTS) == []
    flow = parse_flow(DEFAULT_FLOW)
    assert flow.languages == ("zh", "en")
    assert flow.prompt_ids() <= set(PROMPTS)
    assert all(texts["zh"] and texts["en"] for texts in PROMPTS.values())


def test_small_flow_is_fine() -> None:
    assert validate(small(), PROMPTS) == []


def one_problem(doc: dict[str, Any], *needles: str) -> None:
    problems = validate(doc, PROMPTS)
    assert problems, "expected the flow to be refused"
    joined = " | ".join(problems)
    for needle in needles:
        assert needle in joined, joined
    with pytest.raises(FlowError) as err:  # a field problem also stops parsing
        parse_flow(doc)
    assert any(needles[0] in p for p in err.value.problems)


def test_unknown_step_type() -> None:
    doc = small()
    doc["steps"]["hello"]["type"] = "dance"
    one_problem(doc, "step 'hello'", "unknown step type 'dance'")


def test_dangling_next_and_choice() -> None:
    doc = small()
    doc["steps"]["hello"]["next"] = "nowhere"
    problems = validate(doc, PROMPTS)
    assert any("step 'hello'" in p and "'next'" in p and "nowhere" in p for p in problems)
    doc = small()
    doc["steps"]["menu"]["choices"]["3"] = "ghost"
    problems = validate(doc, PROMPTS)
    assert any("step 'menu'" in p and "choices.3" in p and "ghost" in p for p in problems)


def test_unreachable_step() -> None:
    doc = small()
    doc["steps"]["orphan"] = {"type": "handoff", "kind": "dialplan"}
    assert validate(doc, PROMPTS) == ["step 'orphan': unreachable from start 'hello'"]


def test_prompt_not_in_catalogue_and_missing_language() -> None:
    doc = small()
    doc["steps"]["hello"]["prompt"] = "no_such_prompt"
    problems = validate(doc, PROMPTS)
    assert problems == ["step 'hello': field 'prompt' prompt 'no_such_prompt' is not in the "
                        "prompt catalogue"]
    catalogue = copy.deepcopy(PROMPTS)
    del catalogue["welcome"]["en"]
    problems = validate(small(), catalogue)
    assert problems == ["step 'hello': field 'prompt' prompt 'welcome' has no 'en' text"]
    assert validate(small(), {"welcome"}) != []  # a set of ids works too
    assert validate(small(), None) == []  # no catalogue: prompts unchecked


def test_missing_prompt_field() -> None:
    doc = small()
    del doc["steps"]["menu"]["prompt"]
    one_problem(doc, "step 'menu': field 'prompt' is missing")


def test_loop_without_exit() -> None:
    doc = small()
    doc["steps"]["menu"]["choices"] = {"1": "again"}
    doc["steps"]["menu"]["default"] = "again"
    doc["steps"]["again"] = {"type": "play", "prompt": "invalid", "next": "menu"}
    doc["steps"]["q"] = {"type": "handoff", "kind": "queue"}
    problems = validate(doc, PROMPTS)
    assert any(p.startswith("step 'again': loop without exit (again -> menu)") for p in problems)


def test_loop_that_never_waits() -> None:
    doc = small()
    doc["steps"]["hello"]["next"] = "a"
    doc["steps"]["a"] = {"type": "branch", "condition": "known_customer", "then": "b",
                         "else": "menu"}
    doc["steps"]["b"] = {"type": "play", "prompt": "welcome", "next": "a"}
    problems = validate(doc, PROMPTS)
    assert problems == ["step 'a': loop never waits for the caller (a -> b)"]


def test_loop_with_an_exit_is_fine() -> None:
    doc = small()
    doc["steps"]["menu"]["choices"]["9"] = "repeat"
    doc["steps"]["repeat"] = {"type": "play", "prompt": "invalid", "next": "menu"}
    assert validate(doc, PROMPTS) == []


def test_path_without_handoff() -> None:
    doc = small()
    doc["steps"]["q"] = {"type": "play", "prompt": "goodbye", "next": "bye"}
    doc["steps"]["bye"] = {"type": "route", "queue": "x", "next": "q"}
    problems = validate(doc, PROMPTS)
    assert any("loop" in p for p in problems)
    doc = small()
    doc["steps"] = {"hello": {"type": "play", "prompt": "welcome", "next": "hello2"},
                    "hello2": {"type": "route", "queue": "x", "next": "hello"}}
    assert "flow: no handoff step" in " ".join(validate(doc, PROMPTS))


def test_bad_handoff_kind_and_bad_fields() -> None:
    doc = small()
    doc["steps"]["q"]["kind"] = "voicemail"
    one_problem(doc, "step 'q': field 'kind' is unknown 'voicemail'")
    doc = small()
    doc["steps"]["menu"]["retries"] = -1
    doc["steps"]["menu"]["choices"] = {"x": "q"}
    doc["steps"]["hello"]["colour"] = "blue"
    problems = validate(doc, PROMPTS)
    joined = " | ".join(problems)
    assert "step 'menu': field 'retries'" in joined
    assert "step 'menu': field 'choices.x' is not a DTMF key" in joined
    assert "step 'hello': field 'colour' is not a field of a play step" in joined
    with pytest.raises(FlowError) as err:
        parse_flow(doc)
    assert len(err.value.problems) == 3


def test_version_and_start_required() -> None:
    doc = small()
    del doc["version"]
    assert "flow: field 'version' must be a positive integer" in validate(doc)
    doc = small()
    doc["version"] = "2"
    assert "flow: field 'version' must be a positive integer" in validate(doc)
    doc = small()
    doc["start"] = "nope"
    assert any("'start' names no step" in p for p in validate(doc))


def test_branch_conditions_checked() -> None:
    doc = small()
    doc["steps"]["hello"] = {"type": "branch", "condition": "moon_phase", "then": "menu",
                             "else": "q"}
    one_problem(doc, "step 'hello': field 'condition' is unknown 'moon_phase'")
    doc["steps"]["hello"] = {"type": "branch", "condition": "business_hours", "open": "9am",
                             "holidays": ["tomorrow"], "then": "menu", "else": "q"}
    joined = " | ".join(validate(doc))
    assert "field 'open' must be a time HH:MM" in joined
    assert "field 'holidays' must be a list of YYYY-MM-DD dates" in joined


@pytest.mark.parametrize("doc", [None, [], "flow", 3, {"steps": []}, {"steps": {"a": 1}},
                                 {"version": 1, "start": "a", "steps": {"a": {"type": None}}},
                                 {"version": 1, "start": "a", "steps": {1: {}}}])
def test_garbage_documents_are_refused_not_crashed(doc: Any) -> None:
    assert validate(doc) != []
    with pytest.raises(FlowError):
        parse_flow(doc)
