"""``/ivr``: the IVR's flows (versioned documents) and number plan, and
``/reports/entry-numbers`` (calls per dialled number, so old numbers still in use show).

Rules:
- every handler calls one service (``ivr.store``, ``crm_core.entry_report``) with the
  request's actor; the services own permissions (``ivr`` module: read for agents and
  supervisors, writes for admins), validation and audit;
- a flow that does not validate is a 422 listing EVERY problem in ``details``, each
  with the step it is about as ``field`` (``document.steps.<id>``); it is raised, so
  the request's transaction rolls back and nothing is stored;
- a number in a path may be written any way (``+86 400-800-1234``); the plan stores
  its canonical digits;
- PATCH passes only the fields the client sent.
"""

from __future__ import annotations

import ast
import re
from datetime import date, datetime
from typing import Any, Literal

from pydantic import ConfigDict, Field, ValidationError
from pydantic_core import PydanticCustomError

from agent_console.api.downloads import file_response
from agent_console.api.routing import Call, Download, Routes
from agent_console.api.schemas import MAX_ID, Body, Out, Page, PageQuery, Query, Text
from crm_core import entry_report
from ivr import store
from ivr.flow import FlowError
from ivr.number_plan import canonical_did

FLOW_NAME = r"^[A-Za-z0-9_.-]{1,64}$"
QUEUE_NAME = r"^[A-Za-z0-9_.-]{1,64}$"
Kind = Literal["400", "800", "legacy"]
Format = Literal["json", "csv", "xlsx"]
Lang = Literal["zh-CN", "en"]
_STEP = re.compile(r"^step ('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")")


# --- models ---------------------------------------------------------------------------

class FlowPath(Query):
    name: Text = Field(pattern=FLOW_NAME, description="flow name (A-Z a-z 0-9 _ . -)")


class FlowVersionPath(FlowPath):
    version: int = Field(ge=0, le=MAX_ID, description="0: the built-in default flow")


class NumberPath(Query):
    number: Text = Field(min_length=1, max_length=64,
                         description="any format: 4008001234, +86 400-800-1234")


class FlowIn(Body):
    document: dict[str, Any] = Field(description="the flow document (see ivr.flow); its "
                                     "'flow' and 'version' fields are filled in on save")
    comment: Text | None = Field(default=None, max_length=2000)
    base_version: int | None = Field(
        default=None, ge=0, le=MAX_ID,
        description="the version this edit started from: 409 if someone saved since")


class FlowCheckIn(Body):
    document: dict[str, Any]


class FlowVersionOut(Out):
    """What names one saved version of a flow: the base of the full flow and its brief."""

    name: str
    version: int
    builtin: bool
    comment: str | None = None
    created_at: datetime | None = None
    created_by_id: int | None = None


class FlowOut(FlowVersionOut):
    document: dict[str, Any]


class FlowBrief(FlowVersionOut):
    numbers: int | None = Field(default=None, description="plan numbers running this flow")


class FlowList(Out):
    items: list[FlowBrief]


class FlowCheck(Out):
    valid: bool
    problems: list[str]
    version: int = Field(description="the version a save would create")


class NumbersQuery(PageQuery):
    kind: Kind | None = None
    active: bool | None = None


class NumberIn(Body):
    number: Text = Field(min_length=1, max_length=64)
    flow_name: Text = Field(default="default", pattern=FLOW_NAME)
    kind: Kind | None = Field(default=None, description="default: 400/800 by prefix, "
                              "else legacy")
    label: Text | None = Field(default=None, max_length=200,
                               description="e.g. 原打印机维修热线 / old printer repair line")
    queue: Text | None = Field(default=None, pattern=QUEUE_NAME)
    active: bool = True


class NumberPatch(Body):
    flow_name: Text | None = Field(default=None, pattern=FLOW_NAME)
    kind: Kind | None = None
    label: Text | None = Field(default=None, max_length=200)
    queue: Text | None = Field(default=None, pattern=QUEUE_NAME)
    active: bool | None = None


class NumberOut(Out):
    id: int
    number: str
    flow_name: str
    kind: str
    label: str | None = None
    queue: str | None = None
    active: bool
    created_at: datetime | None = None


class ResolveQuery(Query):
    did: Text = Field(min_length=1, max_length=64, description="a dialled number, any format")


class Resolved(Out):
    number: str
    kind: str
    label: str | None = None
    flow_name: str
    queue: str | None = None
    runs_flow: str = Field(description="the flow a call runs (default when the named one "
                           "is missing or no longer valid)")
    runs_version: int


class EntryQuery(Query):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    start: date | None = Field(default=None, alias="from",
                               description="first day (Asia/Shanghai), inclusive")
    end: date | None = Field(default=None, alias="to",
                             description="last day (Asia/Shanghai), inclusive")
    format: Format = "json"
    lang: Lang | None = None


class EntryRow(Out):
    number: str
    kind: str
    kind_label: str
    label: str | None = None
    flow_name: str | None = None
    active: bool | None = None
    in_plan: bool
    calls: int
    answered: int
    abandoned: int
    ivr_only: int
    first_call: datetime | None = None
    last_call: datetime | None = None


class EntryReport(Out):
    items: list[EntryRow]


# --- the 422 of a refused flow ----------------------------------------------------------

def _where(problem: str) -> tuple[str, ...]:
    """The field a problem is about: ``document.steps.<id>`` when it names a step."""
    match = _STEP.match(problem)
    if match:
        try:
            step = ast.literal_eval(match.group(1))
        except (ValueError, SyntaxError):
            step = None
        if isinstance(step, str):
            return ("document", "steps", step)
    return ("document",)


def refused(exc: FlowError) -> ValidationError:
    """A refused flow as a validation error: every problem, each at its step."""
    return ValidationError.from_exception_data("flow", [
        {"type": PydanticCustomError("flow", problem), "loc": _where(problem), "input": None}
        for problem in exc.problems or ["flow: refused"]
    ])


# --- handlers ---------------------------------------------------------------------------

async def list_flows(call: Call) -> Any:
    return {"items": await store.list_flows(call.db, call.me)}


async def get_flow(call: Call) -> Any:
    return await store.get_flow(call.db, call.me, call.path.name)


async def flow_versions(call: Call) -> Any:
    return {"items": await store.flow_versions(call.db, call.me, call.path.name)}


async def get_flow_version(call: Call) -> Any:
    return await store.get_flow(call.db, call.me, call.path.name, call.path.version)


async def save_flow(call: Call) -> Any:
    body: FlowIn = call.body
    try:
        return await store.put_flow(call.db, call.me, call.path.name, body.document,
                                    comment=body.comment, base_version=body.base_version)
    except FlowError as exc:
        raise refused(exc) from exc


async def validate_flow(call: Call) -> Any:
    return await store.dry_run(call.db, call.me, call.path.name, call.body.document)


async def list_numbers(call: Call) -> Any:
    q: NumbersQuery = call.query
    return await store.list_numbers(call.db, call.me, kind=q.kind, active=q.active,
                                    limit=q.limit, offset=q.offset)


async def get_number(call: Call) -> Any:
    return await store.get_number(call.db, call.me, call.path.number)


async def create_number(call: Call) -> Any:
    return await store.create_number(call.db, call.me, **call.body.model_dump())


async def update_number(call: Call) -> Any:
    return await store.update_number(call.db, call.me, call.path.number,
                                     call.body.model_dump(exclude_unset=True))


async def delete_number(call: Call) -> Any:
    await store.delete_number(call.db, call.me, call.path.number)


async def resolve_number(call: Call) -> Any:
    return await store.preview(call.db, call.me, call.query.did)


async def entry_numbers_report(call: Call) -> Any:
    q: EntryQuery = call.query
    rows = await entry_report.entry_numbers(call.db, call.me, canonical=canonical_did,
                                            start=q.start, end=q.end, lang=q.lang,
                                            export=q.format != "json")
    if q.format == "json":
        return {"items": rows}
    lang = q.lang or (call.me.language if call.me.language in ("zh-CN", "en") else "zh-CN")
    return await file_response(rows, entry_report.ENTRY_REPORT_COLUMNS, q.format,
                               name="entry-numbers", lang=lang)


def add_routes(routes: Routes) -> None:
    read = (401, 403, 404, 422)
    routes.add("GET", "/ivr/flows", list_flows, tag="ivr", response_model=FlowList,
               summary="IVR flows: the newest version of each", errors=(401, 403))
    routes.add("GET", "/ivr/flows/{name}", get_flow, tag="ivr", path_model=FlowPath,
               response_model=FlowOut, errors=read,
               summary="The newest version of a flow, with its document")
    routes.add("PUT", "/ivr/flows/{name}", save_flow, tag="ivr", path_model=FlowPath,
               body_model=FlowIn, response_model=FlowOut, status=201,
               errors=(400, 401, 403, 409, 422),
               summary="Save a new version of a flow (admins; refused with every problem)")
    routes.add("POST", "/ivr/flows/{name}/validate", validate_flow, tag="ivr",
               path_model=FlowPath, body_model=FlowCheckIn, response_model=FlowCheck,
               errors=(400, 401, 403, 422),
               summary="Check a flow document without saving it (dry run)")
    routes.add("GET", "/ivr/flows/{name}/versions", flow_versions, tag="ivr",
               path_model=FlowPath, response_model=FlowList, errors=read,
               summary="Every saved version of a flow, newest first")
    routes.add("GET", "/ivr/flows/{name}/versions/{version}", get_flow_version, tag="ivr",
               path_model=FlowVersionPath, response_model=FlowOut, errors=read,
               summary="One saved version of a flow, with its document")
    routes.add("GET", "/ivr/numbers", list_numbers, tag="ivr", query_model=NumbersQuery,
               response_model=Page[NumberOut], errors=(401, 403, 422),
               summary="The number plan: 400, 800 and legacy numbers and their flows")
    routes.add("POST", "/ivr/numbers", create_number, tag="ivr", body_model=NumberIn,
               response_model=NumberOut, status=201, errors=(400, 401, 403, 409, 422),
               summary="Add a number to the plan (admins)")
    routes.add("GET", "/ivr/numbers/{number}", get_number, tag="ivr", path_model=NumberPath,
               response_model=NumberOut, errors=read, summary="One number of the plan")
    routes.add("PATCH", "/ivr/numbers/{number}", update_number, tag="ivr",
               path_model=NumberPath, body_model=NumberPatch, response_model=NumberOut,
               errors=(400, 401, 403, 404, 422),
               summary="Change a number's flow, kind, label, queue or active (admins)")
    routes.add("DELETE", "/ivr/numbers/{number}", delete_number, tag="ivr",
               path_model=NumberPath, errors=(401, 403, 404, 422),
               summary="Take a number out of the plan (admins)", status=204)
    routes.add("GET", "/ivr/resolve", resolve_number, tag="ivr", query_model=ResolveQuery,
               response_model=Resolved, errors=(401, 403, 422),
               summary="What a call to this number would run (entry and flow version)")
    routes.add("GET", "/reports/entry-numbers", entry_numbers_report, tag="reports",
               query_model=EntryQuery, response_model=EntryReport, download=Download(),
               errors=(401, 403, 422),
               summary="Calls per dialled number with the plan's kind and label "
                       "(JSON, CSV or XLSX; a file needs reports:export)")
