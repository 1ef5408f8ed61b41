"""The survey's side of FastAGI: an automated survey call, once the customer answered,
runs ``AGI(agi://host:4573/survey?entry=<id>&claim=<token>)`` (the survey dialler's
Originate, ``ivr.survey_dialler``).

The call is an ordinary flow run (``ivr.runtime.IvrCall``: prompts, keys, retries, the
hang-up at the end) of the survey flow (``ivr.survey_flow``: the newest stored flow named
``survey`` that validates and asks a question, else the built-in one); what the customer
answered is read from the run's path and kept by ``crm_core.survey_answers`` (the entry
closed, the scores, a complaint and a follow-up for a low answer).

Rules:
- the answers are kept whatever ends the call (the survey's own hang-up, the customer
  hanging up after two questions): what was answered counts;
- a request without a well-formed entry id and claim runs nothing (the channel hangs up);
- a claim taken over meanwhile writes nothing (``Conflict``, logged);
- ``done`` (the dialler's ``finished``) hears of each finished call, so the node that
  dialled frees its slot at once.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import select

from crm_core.errors import Conflict, NotFound
from crm_core.models import IvrFlow
from crm_core.survey_answers import record_survey
from ivr.agi import AgiSession
from ivr.default_flow import PROMPTS
from ivr.flow import Flow, parse_flow, validate
from ivr.number_plan import Entry
from ivr.runtime import AgiChannel, CallFacts, Channel, IvrCall, IvrRuntime, Trace, call_facts
from ivr.survey_flow import FLOW_NAME, SURVEY_FLOW, answers, questions_of, survey_problems

log = logging.getLogger("ivr.survey_call")

SCRIPT = "survey"
_ID = re.compile(r"^\d{1,18}$")
_CLAIM = re.compile(r"^[A-Za-z0-9_.;-]{1,80}$")
SURVEY_ENTRY = Entry(number="", kind="survey", label=None, flow_name=FLOW_NAME, queue=None)


def survey_request(params: Mapping[str, str]) -> tuple[int, str] | None:
    """``(entry id, claim)`` of the AGI request's query, or None when malformed."""
    entry, claim = params.get("entry", ""), params.get("claim", "")
    if not _ID.match(entry) or not _CLAIM.match(claim):
        return None
    return int(entry), claim


async def load_survey(runtime: IvrRuntime) -> tuple[Flow, int]:
    """The newest stored survey flow that validates and asks a question, else the
    built-in one (version 0). Never raises: a customer is on the line."""
    try:
        async with runtime.sessions() as session:
            row = await session.scalar(
                select(IvrFlow).where(IvrFlow.name == FLOW_NAME)
                .order_by(IvrFlow.version.desc()).limit(1))
        if row is not None and not validate(row.document, PROMPTS):
            flow = parse_flow(row.document)
            if not survey_problems(flow):
                return flow, row.version
            log.error("stored survey flow v%s asks no question: the built-in one runs",
                      row.version)
    except Exception:  # noqa: BLE001 - the built-in survey rather than silence
        log.exception("survey flow unreadable: the built-in one runs")
    return parse_flow(SURVEY_FLOW), 0


class SurveyCalls:
    """Runs answered survey calls: the ``AgiServer`` handler for the ``survey`` script."""

    def __init__(self, runtime: IvrRuntime, *, low: int = 2,
                 done: Callable[[str], None] | None = None) -> None:
        self.rt = runtime
        self.low = low
        self.done = done

    async def handle(self, agi: AgiSession) -> None:
        facts = call_facts(agi.env, agi.params)
        channel = AgiChannel(agi, self.rt.sounds)
        request = survey_request(agi.params)
        if request is None:
            log.warning("survey AGI request without entry/claim: %r", agi.params)
            await channel.hangup()
            return
        await self.call(facts, channel, *request)

    async def call(self, facts: CallFacts, channel: Channel, entry_id: int, claim: str, *,
                   trace: Trace | None = None) -> dict[str, Any]:
        """One survey call: the flow run, then its answers kept (module rules)."""
        try:
            return await self._call(facts, channel, entry_id, claim, trace)
        finally:
            if self.done is not None:  # kept (or not): the dialler frees the slot
                self.done(claim)

    async def _call(self, facts: CallFacts, channel: Channel, entry_id: int, claim: str,
                    trace: Trace | None) -> dict[str, Any]:
        flow, version = await load_survey(self.rt)
        run = IvrCall(self.rt, flow, version, SURVEY_ENTRY, facts, channel, self.rt.clock(),
                      trace)
        result = await run.walk()
        found = answers(flow, run.run.path)
        result["answers"] = found
        try:
            async with self.rt.sessions() as session, session.begin():
                kept = await record_survey(
                    session, entry_id, claim, found, questions_of(flow), low=self.low,
                    linkedid=facts.uniqueid, now=self.rt.clock())
            result["kept"] = kept
        except (Conflict, NotFound) as exc:
            log.warning("survey call for entry %s (%s): answers not kept: %s", entry_id,
                        claim, exc)
            result["kept"] = None
        self.rt.counts["survey_calls"] += 1
        log.info("survey call for entry %s: %s", entry_id, found)
        return result
