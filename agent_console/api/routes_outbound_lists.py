"""Outbound call lists (``crm_core.outbound_lists``; issue 17 items 1-2): the lists an
agent may work, making a list from a rule or a saved filter, and preview dialling:
``POST /call-lists/{id}/next`` claims the next due entry for the signed-in agent,
``POST /call-list-entries/{id}/outcome`` closes (or recycles) it; a list's progress and
entries (``GET /call-lists/{id}/entries``) and its assignment to a team and/or agents
(``PUT /call-lists/{id}/assignment``, whom: ``GET /call-lists/assignable``).

Rules: the service decides everything (grants of module ``call_lists``, claims, hours:
``ApiConfig.call_hours``); dialling itself is the console's ``POST /calls/dial``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from agent_console.api.auth import AUTH
from agent_console.api.routing import Call, Routes
from agent_console.api.schemas import Body, Id, IdPath, Out, PageQuery, Text
from crm_core import outbound_lists as ol
from crm_core.permissions import require

Rule = Literal["repair_followup", "delivery_followup", "renewal_due", "customer_filter",
               "survey_followup"]


class ListIn(Body):
    name: Text = Field(min_length=1, max_length=80)
    rule: Rule
    params: dict[str, Any] = Field(default_factory=dict, description='{"days": N} or '
                                   '{"filter": {customer filter fields}}')
    max_attempts: int = Field(default=3, ge=1, le=20)
    retry_delay_min: int = Field(default=120, ge=1, le=7 * 24 * 60)
    team: Text | None = Field(default=None, max_length=40)
    agent_ids: list[Id] = Field(default_factory=list, max_length=200,
                                 description="agents who work the list besides its team")
    automated: bool = Field(default=False, description="called by the IVR's automated "
                            "survey, not by agents (a satisfaction list only)")


class AssignIn(Body):
    team: Text | None = Field(default=None, max_length=40)
    agent_ids: list[Id] = Field(default_factory=list, max_length=200)


class ListOut(Out):
    id: int
    name: str
    rule: str
    kind: str
    params: dict[str, Any]
    max_attempts: int
    retry_delay_min: int
    team: str | None = None
    agent_ids: list[int] = Field(default_factory=list)
    automated: bool = False
    refreshed_at: datetime | None = None
    outcomes: list[str]
    counts: dict[str, int] = Field(description="entries by state; due: open and due now")
    outcome_counts: dict[str, int] = Field(default_factory=dict,
                                           description="entries by their last outcome")


class ListsOut(Out):
    items: list[ListOut]


class Assignable(Out):
    class Agent(Out):
        id: int
        username: str
        display_name: str
        team: str | None = None

    agents: list[Agent]
    teams: list[str]


class EntriesQuery(PageQuery):
    state: Literal["open", "done", "invalid-number", "do-not-call", "gone"] | None = None


class EntryRow(Out):
    id: int
    customer_id: int
    customer_name: str
    do_not_call: bool
    reason: str
    number: str | None = None
    state: str
    due_at: datetime
    attempts: int
    outcome: str | None = None
    outcome_data: dict[str, Any] | None = None
    updated_at: datetime
    held_by: str | None = Field(default=None, description="who has it on screen now")


class EntriesOut(Out):
    items: list[EntryRow]
    total: int


class Built(Out):
    added: int
    updated: int
    gone: int


class MadeOut(ListOut):
    built: Built


class EntryOut(Out):
    id: int
    list_id: int
    list_name: str
    kind: str
    rule: str
    customer_id: int
    customer_name: str
    reason: str
    ticket_id: int | None = None
    asset_id: int | None = None
    subscription_id: int | None = None
    contact_id: int | None = None
    number: str | None = None
    state: str
    due_at: datetime
    attempts: int
    outcome: str | None = None
    outcome_data: dict[str, Any] | None = None
    outcomes: list[str] = Field(description="the outcomes this entry's list takes")
    history: list[dict[str, Any]]


class NextOut(Out):
    entry: EntryOut | None = None
    why: Literal["closed", "empty"] | None = Field(
        default=None, description="no entry: outside the call hours, or none due")


class OutcomeIn(Body):
    outcome: Literal["scored", "renewed", "will-renew", "declined", "reached", "no-answer",
                     "busy", "wrong-number", "do-not-call"]
    score: int | None = Field(default=None, ge=1, le=5)
    comment: Text | None = Field(default=None, max_length=2000)
    reason: Text | None = Field(default=None, max_length=500)
    # the call dialled for the entry: logged in the pop's form too, it stays one record
    call_linkedid: Text | None = Field(default=None, max_length=100)


async def list_call_lists(call: Call) -> Any:
    return {"items": await ol.list_lists(call.db, call.me)}


async def create_call_list(call: Call) -> Any:
    b: ListIn = call.body
    return await ol.create_list(call.db, call.me, name=b.name, rule=b.rule, params=b.params,
                                max_attempts=b.max_attempts,
                                retry_delay_min=b.retry_delay_min, team=b.team,
                                agent_ids=b.agent_ids, automated=b.automated)


async def assign_call_list(call: Call) -> Any:
    b: AssignIn = call.body
    return await ol.assign_list(call.db, call.me, call.path.id, team=b.team,
                                agent_ids=b.agent_ids)


async def call_list_assignable(call: Call) -> Any:
    return await ol.assignable(call.db, call.me)


async def list_call_list_entries(call: Call) -> Any:
    q: EntriesQuery = call.query
    return await ol.list_entries(call.db, call.me, call.path.id, state=q.state,
                                 limit=q.limit, offset=q.offset)


async def refresh_call_list(call: Call) -> Any:
    require(call.me, ol.MODULE, "create")
    return await ol.refresh_list(call.db, call.path.id)


async def next_call_list_entry(call: Call) -> Any:
    hours = call.request.config_dict[AUTH].config.call_hours
    return await ol.next_entry(call.db, call.me, call.path.id, hours=hours)


class HeldOut(Out):
    entry: EntryOut | None = None


async def held_call_list_entry(call: Call) -> Any:
    return {"entry": await ol.held_entry(call.db, call.me)}


async def get_call_list_entry(call: Call) -> Any:
    return await ol.get_entry(call.db, call.me, call.path.id)


async def record_call_list_outcome(call: Call) -> Any:
    b: OutcomeIn = call.body
    return await ol.record_outcome(call.db, call.me, call.path.id, ol.Outcome(
        b.outcome, score=b.score, comment=b.comment, reason=b.reason),
        call_linkedid=b.call_linkedid)


def add_routes(routes: Routes) -> None:
    routes.add("GET", "/call-lists", list_call_lists, tag="call-lists",
               summary="The outbound call lists you may work, with their counts "
                       "(call_lists:read)", response_model=ListsOut, errors=(401, 403))
    routes.add("POST", "/call-lists", create_call_list, tag="call-lists", status=201,
               summary="Make a call list from a rule or a saved customer filter; it is "
                       "built at once and rebuilt daily (call_lists:create)",
               body_model=ListIn, response_model=MadeOut, errors=(401, 403, 404, 422))
    routes.add("GET", "/call-lists/assignable", call_list_assignable, tag="call-lists",
               summary="Whom a list may be given to: the active agents who may take "
                       "entries, and their teams (call_lists:create)",
               response_model=Assignable, errors=(401, 403))
    routes.add("GET", "/call-lists/held", held_call_list_entry, tag="call-lists",
               summary="The entry you hold now, if any (a reloaded console shows it "
                       "again) (call_lists:read)", response_model=HeldOut, errors=(401, 403))
    routes.add("PUT", "/call-lists/{id}/assignment", assign_call_list, tag="call-lists",
               summary="Give the list to a team and/or named agents (neither: every "
                       "agent); entries on screen stay with their agent "
                       "(call_lists:create)", path_model=IdPath, body_model=AssignIn,
               response_model=ListOut, errors=(401, 403, 404, 422))
    routes.add("GET", "/call-lists/{id}/entries", list_call_list_entries, tag="call-lists",
               summary="The list's entries, due first, with attempts and last outcome "
                       "(call_lists:read)", path_model=IdPath, query_model=EntriesQuery,
               response_model=EntriesOut, errors=(401, 403, 404, 422))
    routes.add("POST", "/call-lists/{id}/refresh", refresh_call_list, tag="call-lists",
               summary="Rebuild the list from its rule now; no outcome is lost "
                       "(call_lists:create)", path_model=IdPath, response_model=Built,
               errors=(401, 403, 404, 422))
    routes.add("POST", "/call-lists/{id}/next", next_call_list_entry, tag="call-lists",
               summary="Claim the next due entry for you (preview dialling): never one "
                       "another agent holds, never a do-not-call customer, only within "
                       "the call hours (call_lists:update)", path_model=IdPath,
               response_model=NextOut, errors=(401, 403, 404, 422))
    routes.add("GET", "/call-list-entries/{id}", get_call_list_entry, tag="call-lists",
               summary="One entry with its history (call_lists:read)", path_model=IdPath,
               response_model=EntryOut, errors=(401, 403, 404, 422))
    routes.add("POST", "/call-list-entries/{id}/outcome", record_call_list_outcome,
               tag="call-lists", summary="Record the call's outcome on the entry you hold: "
               "it closes, or comes back later after no answer / busy (call_lists:update)",
               path_model=IdPath, body_model=OutcomeIn, response_model=EntryOut,
               errors=(401, 403, 404, 409, 422))
