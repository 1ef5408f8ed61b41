"""A ticket's moves through its life (issue 15): one endpoint per action, and the
station's page data (``/station/...``).

Rules:
- each handler calls one service (``crm_core.ticket_moves``, ``crm_core.station_desk``)
  with the request's actor; the services own the rules, the scope (a station user acts
  on its station's tickets, a technician on his own) and the audit;
- a move the ticket's status does not allow is a 409 ``move_not_allowed`` naming the
  status and the moves open from it; a missing reason or a bad repair record a 422
  naming the field; a ticket outside the scope a 404;
- ``POST /tickets/{id}/status`` (``routes_records``) stays, for any move by name;
- the reopen window is the setting ``ticket_reopen_days``.
"""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field, StrictBool

from agent_console.api.auth import AUTH
from agent_console.api.routing import Call, Routes
from agent_console.api.schemas import MAX_ID, Body, IdPath, Out, Text
from crm_core import station_desk, ticket_moves, tickets

_NOTE = "a note for the ticket's history"


class NoteIn(Body):
    note: Text | None = Field(default=None, max_length=4000, description=_NOTE)


class NoteOnlyIn(Body):
    note: Text = Field(min_length=1, max_length=4000, description=_NOTE)


class RefuseIn(Body):
    reason: Text = Field(min_length=1, max_length=1000, description="why the station refuses")


class AssignIn(Body):
    technician_id: int | None = Field(ge=1, le=MAX_ID,
                                      description="one of the station's technicians; null: "
                                                  "nobody")
    note: Text | None = Field(default=None, max_length=4000, description=_NOTE)


class PartIn(Body):
    part: Text = Field(min_length=1, max_length=200)
    qty: int = Field(default=1, ge=1, le=9999)


class RepairRecordIn(Body):
    fault: Text = Field(min_length=1, max_length=4000, description="the fault found")
    cause: Text | None = Field(default=None, max_length=4000)
    action: Text = Field(min_length=1, max_length=4000, description="what was done")
    parts: list[PartIn] = Field(default_factory=list, max_length=50)
    labour_hours: float | None = Field(default=None, ge=0, le=999.99)
    serial_checked: StrictBool = False
    first_time_fix: StrictBool | None = Field(
        default=None, description="default: true, false once the ticket was reopened")


class ResolveIn(Body):
    repair_record: RepairRecordIn | None = Field(
        default=None, description="required for a repair ticket")
    note: Text | None = Field(default=None, max_length=4000, description=_NOTE)


class Ticket(Out):
    """A ticket as the services answer it: its columns, ``open``, ``history``,
    ``repair_record`` and ``next_moves``."""

    model_config = ConfigDict(extra="allow")
    id: int
    number: str
    status: str


class StationView(Out):
    model_config = ConfigDict(extra="allow")
    items: list[dict[str, Any]]


def _record(body: RepairRecordIn | None) -> dict[str, Any] | None:
    if body is None:
        return None
    data = body.model_dump(exclude_none=True)
    if body.labour_hours is not None:  # the service checks two decimals on the text
        data["labour_hours"] = str(body.labour_hours)
    return data


def _action(action: str) -> Any:
    async def handler(call: Call) -> Any:
        body: NoteIn = call.body
        return await ticket_moves.act(
            call.db, call.me, call.path.id, action, note=body.note,
            reopen_days=call.request.config_dict[AUTH].config.ticket_reopen_days)
    handler.__name__ = handler.__qualname__ = f"{action}_ticket"
    return handler


async def refuse_ticket(call: Call) -> Any:
    body: RefuseIn = call.body
    return await ticket_moves.refuse(call.db, call.me, call.path.id, body.reason)


async def assign_ticket(call: Call) -> Any:
    body: AssignIn = call.body
    return await ticket_moves.assign(call.db, call.me, call.path.id, body.technician_id,
                                     note=body.note)


async def resolve_ticket(call: Call) -> Any:
    body: ResolveIn = call.body
    return await ticket_moves.resolve(call.db, call.me, call.path.id, _record(body.repair_record),
                                      note=body.note)


async def correct_repair_record(call: Call) -> Any:
    return await ticket_moves.correct_record(call.db, call.me, call.path.id,
                                             _record(call.body))


async def add_ticket_note(call: Call) -> Any:
    body: NoteOnlyIn = call.body
    return await tickets.add_note(call.db, call.me, call.path.id, body.note)


async def station_tickets(call: Call) -> Any:
    return await station_desk.station_tickets(call.db, call.me)


async def station_ticket(call: Call) -> Any:
    return await station_desk.station_ticket(call.db, call.me, call.path.id)


_SUMMARIES = {
    "accept": "The station accepts the ticket",
    "on_the_way": "The technician sets off",
    "on_site": "The technician is on site",
    "wait": "Wait for the customer (the SLA clock pauses)",
    "resume": "Back from waiting, to where the ticket was",
    "close": "Close a resolved ticket (it is frozen then; notes only)",
    "reopen": "Reopen a resolved or closed ticket (within ticket_reopen_days)",
    "cancel": "Cancel an open ticket",
}


def add_routes(routes: Routes) -> None:
    for action, summary in _SUMMARIES.items():
        routes.add("POST", f"/tickets/{{id}}/{action.replace('_', '-')}", _action(action),
                   tag="tickets", summary=f"{summary} (409 move_not_allowed otherwise)",
                   path_model=IdPath, body_model=NoteIn, response_model=Ticket)
    routes.add("POST", "/tickets/{id}/refuse", refuse_ticket, tag="tickets",
               summary="The station refuses the ticket, with a reason: it goes back to "
                       "routing", path_model=IdPath, body_model=RefuseIn, response_model=Ticket)
    routes.add("POST", "/tickets/{id}/assign", assign_ticket, tag="tickets",
               summary="Assign one of the station's technicians", path_model=IdPath,
               body_model=AssignIn, response_model=Ticket)
    routes.add("POST", "/tickets/{id}/resolve", resolve_ticket, tag="tickets",
               summary="Resolve, writing the repair record (required for a repair ticket)",
               path_model=IdPath, body_model=ResolveIn, response_model=Ticket)
    routes.add("PUT", "/tickets/{id}/repair-record", correct_repair_record, tag="tickets",
               summary="Correct the repair record of a resolved ticket (409 once closed)",
               path_model=IdPath, body_model=RepairRecordIn, response_model=Ticket)
    routes.add("POST", "/tickets/{id}/notes", add_ticket_note, tag="tickets",
               summary="Add a note to the ticket's history (a closed ticket's addendum)",
               path_model=IdPath, body_model=NoteOnlyIn, response_model=Ticket, status=201)
    routes.add("GET", "/station/tickets", station_tickets, tag="station",
               summary="The open tickets of the signed-in station or technician, most "
                       "urgent first, with their customer, contact, asset and due times",
               response_model=StationView)
    routes.add("GET", "/station/tickets/{id}", station_ticket, tag="station",
               summary="One ticket as the station page shows it (history, repair record)",
               path_model=IdPath, response_model=Ticket)
