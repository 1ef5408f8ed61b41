"""What an automated survey call leaves behind (issue 17 item 3): the entry's outcome,
the answers against who earned them, and for a low answer a complaint and an agent's
follow-up.

Rules:
- the call answers the entry the survey dialler claimed (``claim``: its token); a claim
  taken over meanwhile (a lapsed claim redialled elsewhere) is a Conflict and nothing is
  written, so a replay never doubles anything;
- the entry closes through ``outbound_lists.close_entry`` like an agent's call: with
  answers it is ``scored`` (the first question answered is the entry's score, every
  answer a ``SatisfactionScore`` of channel ``ivr`` naming its question: the ticket's
  station, technician and original agent, as an agent-taken score); answered but not
  one key: ``no-answer``, recycled after the list's delay up to its attempts; the
  dialler's unanswered calls (busy, no answer) go the same way (``unanswered``);
- an answer at most ``low`` opens a complaint ticket for the customer (category
  ``complaint``): its caller check is ``number``, passed, source ``survey``: the hotline
  dialled the number on record itself (``caller_checks``), and puts the customer on the
  agents' follow-up list (rule ``survey_followup``; made on first need, then rebuilt at
  once so the entry is there now, and by the daily rebuild from the same answers);
- the survey acts as ``SURVEY_ACTOR`` (the system: no user asked).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.caller_checks import CallerClaim
from crm_core.errors import Conflict, NotFound
from crm_core.models import CallList, CallListEntry, utcnow
from crm_core.outbound_lists import (
    Outcome,
    check_params,
    close_entry,
    create_list,
    refresh_list,
)
from crm_core.permissions import Actor
from crm_core.tickets import create_ticket

SURVEY_ACTOR = Actor(user_id=None, username="ivr-survey", is_admin=True)
FOLLOWUP_NAME = "满意度回访跟进 / Survey follow-up"
COMPLAINT_PROBLEM = "自动满意度回访低分 / Low score in the automated satisfaction survey"


async def _claimed(session: AsyncSession, entry_id: int, claim: str
                   ) -> tuple[CallListEntry, CallList]:
    entry = await session.get(CallListEntry, entry_id, populate_existing=True)
    if entry is None:
        raise NotFound("call_list_entry", entry_id)
    if entry.state != "open" or entry.claim != claim:
        raise Conflict("this survey call's entry was taken over meanwhile")
    lst = await session.get(CallList, entry.list_id)
    if lst is None:
        raise NotFound("call_list", entry.list_id)
    return entry, lst


def _words(answers: Mapping[str, int]) -> str:
    return ", ".join(f"{q}={s}" for q, s in answers.items())


async def unanswered(session: AsyncSession, entry_id: int, claim: str, outcome: str, *,
                     detail: str | None = None, now: datetime | None = None) -> str:
    """Close a dialled entry whose call was not answered (``no-answer`` or ``busy``):
    recycled or done, as an agent's (``close_entry``). Its new state."""
    at = utcnow() if now is None else now
    entry, lst = await _claimed(session, entry_id, claim)
    t = await close_entry(session, entry, lst, Outcome(outcome, comment=detail), by_id=None,
                          channel="ivr", now=at)
    return t.state


async def record_survey(session: AsyncSession, entry_id: int, claim: str,
                        answers: Mapping[str, int], order: Sequence[str], *, low: int,
                        linkedid: str | None = None, now: datetime | None = None
                        ) -> dict[str, Any]:
    """Keep the answers of an answered survey call (module rules): ``{"outcome", "state",
    "answers", "complaint": ticket number | None, "followup_list_id": id | None}``."""
    at = utcnow() if now is None else now
    entry, lst = await _claimed(session, entry_id, claim)
    ordered = [(q, int(answers[q])) for q in order if q in answers]
    ordered += [(q, int(s)) for q, s in answers.items() if q not in order]
    out: dict[str, Any] = {"answers": dict(ordered), "complaint": None,
                           "followup_list_id": None}
    if not ordered:
        t = await close_entry(session, entry, lst,
                              Outcome("no-answer", comment="survey: no key pressed"),
                              by_id=None, channel="ivr", now=at)
        return {**out, "outcome": "no-answer", "state": t.state}
    t = await close_entry(session, entry, lst,
                          Outcome("scored", score=ordered[0][1], comment=_words(dict(ordered))),
                          by_id=None, channel="ivr", now=at, answers=ordered)
    out.update(outcome="scored", state=t.state)
    if any(score <= low for _, score in ordered):
        out["complaint"] = await _complaint(session, entry, dict(ordered), linkedid, at)
        out["followup_list_id"] = await _follow_up(session, low, at)
    return out


async def _complaint(session: AsyncSession, entry: CallListEntry, answers: Mapping[str, int],
                     linkedid: str | None, at: datetime) -> str:
    problem = f"{COMPLAINT_PROBLEM}: {_words(answers)}. {entry.reason}"
    view = await create_ticket(
        session, SURVEY_ACTOR, entry.customer_id, problem=problem, priority="high",
        contact_id=entry.contact_id, category="complaint", call_linkedid=linkedid,
        caller=CallerClaim(method="number", call_number=entry.number, source="survey"),
        now=at)
    return str(view["number"])


async def _follow_up(session: AsyncSession, low: int, at: datetime) -> int:
    """The agents' follow-up list of low survey answers, made on first need; rebuilt now."""
    list_id = await session.scalar(
        select(CallList.id).where(CallList.rule == "survey_followup",
                                  CallList.active.is_(True)).order_by(CallList.id).limit(1))
    if list_id is None:
        made = await create_list(session, SURVEY_ACTOR, name=FOLLOWUP_NAME,
                                 rule="survey_followup",
                                 params=check_params("survey_followup", {"max_score": low}),
                                 now=at)
        return int(made["id"])
    await refresh_list(session, list_id, now=at)
    return int(list_id)
