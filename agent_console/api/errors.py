"""One place that turns every exception into the API's JSON error answer.

Rules:
- the middleware is the outermost of the API sub-app: whatever a handler, the
  session layer or the router raises becomes ``{"error": code, "message": ...}``
  with the right status (the ``Error`` schema of the OpenAPI document);
- crm_core errors: ``ValidationFailed`` 422 (naming the field; ``CallerNotVerified``
  is ``caller_not_verified`` with the failed method), ``NotFound`` 404,
  ``PermissionDenied`` 403, ``DuplicateCustomer`` 409 (with the existing record and
  its owner), ``DuplicateTicket`` 409 (``duplicate_ticket``, with the open ticket's id,
  number and status), ``MoveNotAllowed`` 409 (``move_not_allowed``, with the ticket's
  status and where it may go), ``Conflict`` 409; pydantic errors 422 naming the field(s);
- a database constraint violation is a 409 and a value the database cannot hold a
  422: both mean bad input that slipped past validation, not a server fault;
- anything else is a 500 that says nothing but a request id, and is logged with it;
- every answer carries ``X-Request-Id``;
- an operation's answer whose status its OpenAPI document does not list (``Documented``,
  set by the route wrapper) is logged as an error (``undocumented_status`` on the
  record, which the test suite fails on): the document must say what the API does.
  500 is not checked: it is a fault, logged as such.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from aiohttp import web
from pydantic import ValidationError
from sqlalchemy.exc import DataError, IntegrityError

from crm_core.errors import (
    CallerNotVerified,
    Conflict,
    DuplicateCustomer,
    DuplicateTicket,
    MoveNotAllowed,
    NotFound,
    ValidationFailed,
)
from crm_core.permissions import PermissionDenied

log = logging.getLogger("agent_console.api")

REQUEST_ID = web.RequestKey("api_request_id", str)


@dataclass(frozen=True, kw_only=True)
class Documented:
    """The operation a request reached and the statuses its document lists."""

    operation_id: str
    statuses: frozenset[int]


DOCUMENTED = web.RequestKey("api_documented", Documented)
_dumps = partial(json.dumps, ensure_ascii=False)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ApiError(Exception):
    """An answer decided by the API layer itself (401, 403 CSRF, 400, 429...)."""

    def __init__(
        self, status: int, error: str, message: str, *, field: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message
        self.field = field
        self.headers = dict(headers or {})


def json_response(data: Any, *, status: int = 200, headers: Mapping[str, str] | None = None
                  ) -> web.Response:
    """JSON with Chinese kept as text (not \\u escapes)."""
    return web.json_response(data, status=status, headers=headers, dumps=_dumps)


def error_body(error: str, message: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"error": error, "message": message}
    body.update({k: v for k, v in extra.items() if v is not None})
    return body


def _loc(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "body"


def validation_answer(exc: ValidationError, *, where: str | None = None) -> dict[str, Any]:
    """A pydantic error as the 422 body: the first field, then every detail."""
    details = [{"field": _loc(e["loc"]), "message": e["msg"]} for e in exc.errors()]
    first = details[0] if details else {"field": where, "message": "invalid"}
    return error_body("validation", str(first["message"]), field=first["field"], details=details)


def _answer(exc: Exception) -> tuple[int, dict[str, Any]] | None:
    """Status and body for the errors we know; None for a real fault."""
    if isinstance(exc, ApiError):
        return exc.status, error_body(exc.error, exc.message, field=exc.field)
    if isinstance(exc, CallerNotVerified):
        return 422, error_body("caller_not_verified", exc.message, field=exc.field,
                               method=exc.method)
    if isinstance(exc, ValidationFailed):
        return 422, error_body("validation", exc.message, field=exc.field)
    if isinstance(exc, ValidationError):
        return 422, validation_answer(exc)
    if isinstance(exc, NotFound):
        return 404, error_body("not_found", f"{exc.entity} not found")
    if isinstance(exc, PermissionDenied):
        return 403, error_body("forbidden", f"not allowed: {exc.operation} on {exc.module}")
    if isinstance(exc, DuplicateCustomer):
        existing = {"id": exc.existing_id, "name": exc.existing_name,
                    "owner_name": exc.owner_name, "reason": exc.reason}
        return 409, error_body("duplicate", str(exc), existing=existing)
    if isinstance(exc, DuplicateTicket):
        ticket = {"id": exc.existing_id, "number": exc.number, "status": exc.status}
        return 409, error_body("duplicate_ticket", exc.message, existing_ticket=ticket)
    if isinstance(exc, MoveNotAllowed):
        return 409, error_body("move_not_allowed", exc.message, status=exc.from_status,
                               to_status=exc.to_status, allowed=list(exc.allowed))
    if isinstance(exc, Conflict):
        return 409, error_body("conflict", exc.message)
    if isinstance(exc, IntegrityError):
        return 409, error_body("conflict", "the change conflicts with existing records")
    if isinstance(exc, DataError):
        return 422, error_body("validation", "a value is out of range for its field")
    return None


def _http_answer(exc: web.HTTPException) -> web.Response:
    code = exc.reason.lower().replace(" ", "_")
    keep = {k: v for k, v in exc.headers.items()
            if k.lower() not in ("content-type", "content-length")}
    return json_response(error_body(code, exc.reason), status=exc.status, headers=keep)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Map exceptions to JSON errors; tag every response with the request id."""
    request_id = uuid.uuid4().hex
    request[REQUEST_ID] = request_id
    try:
        response = await handler(request)
    except asyncio.CancelledError:
        raise
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        response = _http_answer(exc)
    except Exception as exc:  # noqa: BLE001 - the one place every fault is answered
        known = _answer(exc)
        if known is None:
            log.exception("request %s %s %s failed", request_id, request.method, request.path)
            status, body = 500, error_body("internal", "internal error", request_id=request_id)
        else:
            status, body = known
            if status == 409 and isinstance(exc, IntegrityError):
                log.info("request %s: integrity error: %s", request_id, exc.orig)
        headers = exc.headers if isinstance(exc, ApiError) else None
        response = json_response(body, status=status, headers=headers)
    if not response.prepared:
        response.headers["X-Request-Id"] = request_id
    _check_documented(request, response.status)
    return response


def _check_documented(request: web.Request, status: int) -> None:
    documented = request.get(DOCUMENTED)
    if documented is None or status == 500 or status in documented.statuses:
        return
    log.error("request %s: %s answered %s, which its OpenAPI document does not list",
              request[REQUEST_ID], documented.operation_id, status,
              extra={"undocumented_status": (documented.operation_id, status)})
