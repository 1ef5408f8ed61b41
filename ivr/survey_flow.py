"""The automated satisfaction survey (issue 17 item 3) as a flow document, and what its
run's path says the customer answered. Pure.

The survey is an ordinary flow (``ivr.flow``) that ``ivr.flow_engine.FlowRun`` steps like
an inbound one: a greeting, one ``menu`` per question whose choices are the keys 1-5, all
leading on to the next question, a thank-you and a hang-up::

    greeting -> q_overall -> q_repair -> q_staff -> thanks -> hangup

Rules:
- a question is a menu step whose id is ``q_<question>`` and whose choices are exactly
  the keys ``1``-``5``; a key that is no score (0, 6-9, *, #, several keys) or no key at
  all replays the question (after ``survey_invalid``) up to ``retries`` times, then the
  question is SKIPPED: its ``default`` is the next question too, so a skipped question
  simply has no answer;
- the answers are read back from the run's ``path`` (``answers``): the flow engine notes
  every input as ``<step id>:<keys>``, and a question's accepted key is the one that is
  one of its choices (a garbage key is never a choice), the last one if a flow visits a
  question twice;
- the prompts are in the one catalogue (``ivr.default_flow.PROMPTS``: ``hotline prompts
  build`` speaks them); ``survey_document`` builds a survey from any questions whose
  prompts are there, so a site may store its own (``FLOW_NAME`` in the flow store);
- ``is_low``: an answer at most ``low`` (the setting ``survey_low_score``, default 2).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ivr.flow import Flow

FLOW_NAME = "survey"
QUESTION_PREFIX = "q_"
SCORES = ("1", "2", "3", "4", "5")
QUESTIONS: tuple[tuple[str, str], ...] = (
    ("overall", "survey_overall"), ("repair", "survey_repair"), ("staff", "survey_staff"))
"""(question, prompt id) of the built-in survey; ``overall`` first: it is the entry's
score (``crm_core.outbound_lists.Outcome.score``)."""
RETRIES = 2
TIMEOUT_MS = 6000


def survey_document(questions: Sequence[tuple[str, str]] = QUESTIONS, *,
                    retries: int = RETRIES, timeout_ms: int = TIMEOUT_MS,
                    languages: Sequence[str] = ("zh", "en"), version: int = 1
                    ) -> dict[str, Any]:
    """A survey flow asking ``questions`` ((question, prompt id), in order)."""
    ids = [f"{QUESTION_PREFIX}{q}" for q, _ in questions]
    steps: dict[str, Any] = {
        "greeting": {"type": "play", "prompt": "survey_greeting",
                     "next": ids[0] if ids else "thanks"}}
    for i, (step_id, (_, prompt)) in enumerate(zip(ids, questions, strict=True)):
        after = ids[i + 1] if i + 1 < len(ids) else "thanks"
        steps[step_id] = {"type": "menu", "prompt": prompt,
                          "choices": dict.fromkeys(SCORES, after), "default": after,
                          "retries": retries, "timeout_ms": timeout_ms,
                          "invalid_prompt": "survey_invalid"}
    steps["thanks"] = {"type": "play", "prompt": "survey_thanks", "next": "hangup"}
    steps["hangup"] = {"type": "handoff", "kind": "hangup"}
    return {"flow": FLOW_NAME, "version": version, "start": "greeting",
            "languages": list(languages), "steps": steps}


SURVEY_FLOW: dict[str, Any] = survey_document()


def questions_of(flow: Flow) -> list[str]:
    """The questions a survey flow asks: its menu steps ``q_<question>`` whose choices are
    the scores (in the flow's step order)."""
    return [step_id[len(QUESTION_PREFIX):] for step_id, step in flow.steps.items()
            if step.type == "menu" and step_id.startswith(QUESTION_PREFIX)
            and {key for key, _ in step.choices} == set(SCORES)]


def survey_problems(flow: Flow) -> list[str]:
    """Why ``flow`` cannot be a survey (empty: it can): it must ask a question."""
    return [] if questions_of(flow) else [
        "survey: no question (a menu step q_<name> with the choices 1-5)"]


def answers(flow: Flow, path: Iterable[str]) -> dict[str, int]:
    """question -> score (1-5) the run's ``path`` accepted; a skipped question is absent."""
    asked = {f"{QUESTION_PREFIX}{q}": q for q in questions_of(flow)}
    out: dict[str, int] = {}
    for item in path:
        step_id, sep, keys = item.partition(":")
        if sep and step_id in asked and keys in SCORES:
            out[asked[step_id]] = int(keys)
    return out


def entry_score(found: Mapping[str, int], order: Sequence[str]) -> int | None:
    """The one score the call-list entry keeps: the first question answered in ``order``
    (``overall`` in the built-in survey); None when nothing was answered."""
    return next((found[q] for q in order if q in found), None)


def is_low(found: Mapping[str, int], low: int) -> bool:
    """Whether any answer is at most ``low`` (a complaint, and an agent's follow-up)."""
    return any(score <= low for score in found.values())
