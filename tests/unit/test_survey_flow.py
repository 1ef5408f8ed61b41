"""The automated survey as a flow (ivr.survey_flow) stepped by the flow engine, and the
survey dialler's pure outcome of a call (ivr.survey_dialler.attempt_outcome)."""

from __future__ import annotations

from typing import Any

from ivr.default_flow import PROMPTS
from ivr.flow import parse_flow, validate
from ivr.flow_engine import (
    CollectDigits,
    DtmfReceived,
    FlowRun,
    HandOff,
    Hangup,
    Play,
    Timeout,
)
from ivr.prompts_build import CATALOGUE
from ivr.survey_dialler import Attempt, attempt_outcome
from ivr.survey_flow import (
    SURVEY_FLOW,
    answers,
    entry_score,
    is_low,
    questions_of,
    survey_document,
    survey_problems,
)

FLOW = parse_flow(SURVEY_FLOW)


def played(actions: list[Any]) -> list[str]:
    return [a.prompt_id for a in actions if isinstance(a, Play)]


def test_the_built_in_survey_validates_with_zh_and_en_prompts_that_prompts_build_speaks() -> None:
    assert validate(SURVEY_FLOW, PROMPTS) == []
    for prompt in FLOW.prompt_ids():
        assert CATALOGUE[prompt]["zh"] and CATALOGUE[prompt]["en"]
    assert questions_of(FLOW) == ["overall", "repair", "staff"]
    assert survey_problems(FLOW) == []


def test_a_survey_of_any_questions_from_the_catalogue() -> None:
    doc = survey_document([("staff", "survey_staff")], retries=1)
    flow = parse_flow(doc)
    assert validate(doc, PROMPTS) == [] and questions_of(flow) == ["staff"]
    assert survey_problems(parse_flow(survey_document([]))) != []


def test_greeting_questions_thanks_and_hang_up() -> None:
    run = FlowRun(FLOW)
    first = run.start({"lang": "en"})
    assert played(first) == ["survey_greeting", "survey_overall"]
    assert isinstance(first[-1], CollectDigits) and first[-1].max_digits == 1
    assert run.escape == "0123456789"  # a customer who presses during the greeting answers
    assert played(run.feed(DtmfReceived("4"))) == ["survey_repair"]
    assert played(run.feed(DtmfReceived("2"))) == ["survey_staff"]
    last = run.feed(DtmfReceived("5"))
    assert played(last) == ["survey_thanks"] and last[-1] == HandOff("hangup")
    assert answers(FLOW, run.path) == {"overall": 4, "repair": 2, "staff": 5}
    assert all(a.lang == "en" for a in last if isinstance(a, Play))


def test_garbage_and_silence_are_asked_again_then_the_question_is_skipped() -> None:
    run = FlowRun(FLOW)
    run.start({})
    again = run.feed(DtmfReceived("9"))  # no such score: asked again
    assert played(again) == ["survey_invalid", "survey_overall"]
    assert played(run.feed(Timeout())) == ["survey_invalid", "survey_overall"]
    # third miss (retries 2): skipped, on to the next question
    assert played(run.feed(DtmfReceived("#"))) == ["survey_repair"]
    assert played(run.feed(DtmfReceived("0"))) == ["survey_invalid", "survey_repair"]
    assert played(run.feed(DtmfReceived("3"))) == ["survey_staff"]
    run.feed(Timeout())
    run.feed(Timeout())
    done = run.feed(Timeout())
    assert done[-1] == HandOff("hangup")
    assert answers(FLOW, run.path) == {"repair": 3}


def test_a_hang_up_keeps_what_was_answered() -> None:
    run = FlowRun(FLOW)
    run.start({})
    run.feed(DtmfReceived("1"))
    run.feed(Hangup())
    assert run.outcome == "caller_hangup"
    assert answers(FLOW, run.path) == {"overall": 1}


def test_the_entry_score_and_what_is_low() -> None:
    order = ["overall", "repair", "staff"]
    assert entry_score({"repair": 3, "overall": 5}, order) == 5
    assert entry_score({"staff": 2}, order) == 2
    assert entry_score({}, order) is None
    assert is_low({"overall": 5, "staff": 2}, 2) and not is_low({"overall": 3}, 2)


def test_an_answer_is_only_a_score_key_of_a_question_step() -> None:
    path = ["greeting", "q_overall", "q_overall:12", "q_overall:6", "q_overall:3", "q_repair",
            "q_repair:timeout", "thanks:5", "q_unknown:4"]
    assert answers(FLOW, path) == {"overall": 3}


def test_what_a_survey_call_came_to() -> None:
    a = Attempt("hlsv-x", 1, 0.0)
    assert attempt_outcome(a) is None
    a.dial_status = "BUSY"
    assert attempt_outcome(a) is None  # the call is not over yet
    a.ended = True
    assert attempt_outcome(a) == "busy"
    b = Attempt("hlsv-y", 2, 0.0, failed="3")
    assert attempt_outcome(b) == "no-answer"
    assert attempt_outcome(Attempt("z", 3, 0.0, failed="5")) == "busy"
    assert attempt_outcome(Attempt("z", 3, 0.0, dial_status="CHANUNAVAIL",
                                   ended=True)) == "no-answer"
    assert attempt_outcome(Attempt("z", 3, 0.0, refused=True)) == "no-answer"
    c = Attempt("hlsv-c", 4, 0.0, answered=True)
    assert attempt_outcome(c) is None  # the survey is under way
    c.ended = True
    assert attempt_outcome(c) == "answered"
