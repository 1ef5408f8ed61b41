"""``/callbacks``: agents schedule a callback, list the line of callbacks, cancel one.

Rules: ``ivr.callback_store`` decides (validation, permissions, the one pending
callback per number and queue); this module only translates HTTP. ``POST`` answers
201 with the new callback, or 200 with the callback this number already has pending in
that queue (``created: false``). Only a waiting callback can be cancelled (409 once it is
being dialled or over). The app sets ``CALLBACK_OPTIONS`` (default queue and attempts,
and the worker's ``wake`` so a new callback is looked at at once); without it (the API
alone) the defaults below apply and the worker finds the row at its next poll.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from aiohttp import web
from pydantic import AwareDatetime, Field

from agent_console.api.auth import AUTH
from agent_console.api.errors import json_response
from agent_console.api.routing import Call, Routes
from agent_console.api.schemas import Body, Id, IdPath, Out, Page, PageQuery, Text
from ivr.callback_store import cancel_for, create_for, list_for

QUEUE_PATTERN = r"^[A-Za-z0-9_.\-]{1,64}$"


@dataclass(frozen=True, kw_only=True)
class CallbackOptions:
    """What the app tells the API about callbacks."""

    queue: str = "support"
    max_attempts: int = 3
    wake: Callable[[], None] | None = None


CALLBACK_OPTIONS = web.AppKey("callback_options", CallbackOptions)


class CallbackIn(Body):
    phone: Text = Field(min_length=1, max_length=64,
                        description="the number to call back, any format")
    customer_id: Id | None = None
    at: AwareDatetime | None = Field(
        default=None, description="call back at (ISO 8601 with offset); none: as soon as "
        "its place in line comes up")
    note: Text | None = Field(default=None, max_length=2000)
    queue: Text | None = Field(default=None, pattern=QUEUE_PATTERN,
                               description="the queue whose agents call back (default: "
                               "the configured callback queue)")


class CallbackOut(Out):
    id: int
    phone: str
    customer_id: int | None = None
    queue: str
    priority: int
    state: Literal["waiting", "dialing", "done", "failed", "cancelled"]
    attempts: int
    max_attempts: int
    place_at: datetime
    not_before: datetime | None = None
    next_attempt_at: datetime | None = None
    agent_interface: str | None = None
    last_result: str | None = None
    note: str | None = None
    created_by_id: int | None = None
    created_at: datetime
    updated_at: datetime
    history: list[dict[str, Any]]
    created: bool | None = Field(default=None, description="POST: false when this number "
                                 "already had a pending callback in that queue")


class CallbackQuery(PageQuery):
    state: Literal["waiting", "dialing", "done", "failed", "cancelled"] | None = None
    queue: Text | None = Field(default=None, pattern=QUEUE_PATTERN)


def _options(call: Call) -> CallbackOptions:
    return call.request.config_dict.get(CALLBACK_OPTIONS) or CallbackOptions()


async def create_callback(call: Call) -> Any:
    body: CallbackIn = call.body
    options = _options(call)
    region = call.request.config_dict[AUTH].config.region
    row, created = await create_for(
        call.db, call.me, phone=body.phone, customer_id=body.customer_id, at=body.at,
        note=body.note, queue=body.queue or options.queue,
        max_attempts=options.max_attempts, region=region)
    row["created"] = created
    if options.wake is not None:
        options.wake()  # a hint: the worker also finds it at its next poll
    if created:
        return row
    return json_response(CallbackOut.model_validate(row).model_dump(mode="json"), status=200)


async def list_callbacks(call: Call) -> Any:
    q: CallbackQuery = call.query
    return await list_for(call.db, call.me, state=q.state, queue=q.queue, limit=q.limit,
                          offset=q.offset)


async def cancel_callback(call: Call) -> Any:
    return await cancel_for(call.db, call.me, call.path.id)


def add_routes(routes: Routes) -> None:
    routes.add("POST", "/callbacks", create_callback, tag="callbacks",
               summary="Schedule a callback (now in line, or at a given time)",
               body_model=CallbackIn, response_model=CallbackOut, status=201, also=(200,),
               errors=(403, 404, 409, 422),
               description="201 with the new callback; 200 with the one this number "
                           "already has pending in that queue (created: false).")
    routes.add("GET", "/callbacks", list_callbacks, tag="callbacks",
               summary="Callbacks, first in line first (filter by state and queue)",
               query_model=CallbackQuery, response_model=Page[CallbackOut],
               errors=(401, 403, 422))
    routes.add("POST", "/callbacks/{id}/cancel", cancel_callback, tag="callbacks",
               summary="Cancel a waiting callback", path_model=IdPath,
               response_model=CallbackOut, errors=(401, 403, 404, 409, 422))
