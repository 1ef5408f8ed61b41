"""``POST /ivr/try``: a caller's walk through the IVR without a PBX (``ivr.trial``, what
``hotline ivr try`` prints), for the back office's "try a call": the flow of a dialled
number, or a draft not saved yet, with the keys the caller would press.

Rules: for who may change flows (``ivr``/``update``: the walk reads the CRM as the IVR
does for any caller, ticket status and all); nothing it does stays (self-service
writes rolled back); a draft is checked as a save would check it and refused the same
way (422, every problem at its step), then runs whatever flow the number has in the
plan; a naive ``now`` is Asia/Shanghai time.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import Field
from sqlalchemy.ext.asyncio import AsyncEngine

from agent_console.api.auth import AUTH
from agent_console.api.routes_ivr import FLOW_NAME, refused
from agent_console.api.routing import Call, Routes
from agent_console.api.schemas import Body, Out, Text
from crm_core.permissions import require
from ivr import store, trial
from ivr.flow import FlowError, parse_flow

SHANGHAI = ZoneInfo("Asia/Shanghai")
Key = Annotated[Text, Field(max_length=32)]


class DraftIn(Body):
    name: Text = Field(pattern=FLOW_NAME, description="the flow the draft stands in for")
    document: dict[str, Any]


class TryIn(Body):
    did: Text = Field(min_length=1, max_length=64, description="the number dialled, any format")
    caller: Text = Field(default="", max_length=64, description="the caller's number")
    keys: list[Key | None] = Field(
        default_factory=list, max_length=30,
        description="the caller's answer to each request for input: keys ('1', "
                    "'202611250001#'), null for silence, 'hangup'; then silence")
    lang: Literal["zh", "en"] | None = Field(default=None,
                                             description="default: the flow's first")
    now: datetime | None = Field(default=None, description="the call's time (business "
                                 "hours); naive: Asia/Shanghai; default: now")
    draft: DraftIn | None = Field(default=None, description="run this document (checked as "
                                  "flow <name>) instead of the number's saved flow")


class TryOut(Out):
    trace: list[str] = Field(description="each step, prompt (with its text), input, "
                             "lookup, self-service and routing decision, in order")
    result: dict[str, Any] = Field(description="the routing result: queue, priority, "
                                   "preferred_agent, skill, customer_id, path, digits, "
                                   "entry, outcome, ended, flow, services")
    draft_version: int | None = Field(default=None,
                                      description="the version saving the draft would make")


async def try_ivr_call(call: Call) -> Any:
    body: TryIn = call.body
    require(call.me, "ivr", "update")
    draft = None
    if body.draft is not None:
        check = await store.dry_run(call.db, call.me, body.draft.name, body.draft.document)
        if not check["valid"]:
            raise refused(FlowError(check["problems"]))
        stored, _ = store.check_flow(body.draft.name, body.draft.document, check["version"])
        draft = (parse_flow(stored), int(check["version"]))
    engine = call.db.bind
    assert isinstance(engine, AsyncEngine)  # the API's sessions are bound to the engine
    now = body.now
    if now is not None and now.tzinfo is None:
        now = now.replace(tzinfo=SHANGHAI)
    lines, result = await trial.try_call(
        engine, did=body.did, caller=body.caller, answers=body.keys, lang=body.lang, now=now,
        region=call.request.config_dict[AUTH].config.region, draft=draft)
    return {"trace": lines, "result": result,
            "draft_version": None if draft is None else draft[1]}


def add_routes(routes: Routes) -> None:
    routes.add("POST", "/ivr/try", try_ivr_call, tag="ivr", body_model=TryIn,
               response_model=TryOut, errors=(400, 401, 403, 422),
               summary="Walk a call through the IVR without a PBX (the saved flow of the "
                       "number, or a draft); nothing it does is kept")
