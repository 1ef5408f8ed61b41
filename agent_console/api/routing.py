"""The API's route table: each endpoint declared once with its models, and the
wrapper that turns an aiohttp request into a validated call of a service.

Rules:
- ``Routes.add`` is the only way to declare an endpoint; the aiohttp routes AND
  the OpenAPI document are both built from this table;
- the wrapper, in this order: sign-in check (401), CSRF on writes (403), path /
  query / body validation (400 for bad JSON or content type, 422 naming the
  field), then ONE transaction (``sessionmaker.begin()``) holding the actor load
  and the handler: committed when the handler returns, rolled back when it raises,
  so nothing is ever half-written;
- the actor of a request is ``crm_core.permissions.load_actor`` of the signed-in
  user; a user deactivated since sign-in is a 401;
- a handler returns data (validated and serialised through the endpoint's response
  model) or a ready ``web.StreamResponse`` (downloads);
- every status an operation can answer is in its row: ``status`` and ``also`` (other
  successes, e.g. 200 for "already there"), ``errors`` (what the handler and the
  services it calls raise), and what the wrapper itself answers (``wrapper_statuses``);
  ``Endpoint.statuses`` is their union, which the OpenAPI document lists and the error
  middleware checks every answer against (an undocumented one is logged as an error).
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp_session import get_session
from pydantic import BaseModel, TypeAdapter
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agent_console.api.auth import AUTH
from agent_console.api.errors import DOCUMENTED, ApiError, Documented, error_body, json_response
from crm_core.permissions import Actor, load_actor

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CSRF_HEADER = "X-CSRF-Token"
SESSIONMAKER = web.AppKey("api_sessionmaker", async_sessionmaker[AsyncSession])


@dataclass(kw_only=True)
class Call:
    """What a handler gets: the validated inputs, the transaction and the actor."""

    request: web.Request
    db: AsyncSession
    actor: Actor | None
    path: Any = None
    query: Any = None
    body: Any = None

    @property
    def me(self) -> Actor:
        """The signed-in actor (every endpoint but sign-in has one)."""
        if self.actor is None:
            raise ApiError(401, "unauthenticated", "sign in first")
        return self.actor


Handler = Callable[[Call], Awaitable[Any]]


@dataclass(frozen=True, kw_only=True)
class Download:
    """An endpoint that can also answer a file (``?format=csv|xlsx``)."""

    formats: tuple[str, ...] = ("csv", "xlsx")


@dataclass(frozen=True, kw_only=True)
class Upload:
    """An endpoint whose body is a file, read by the handler itself (streamed, never
    parsed as JSON): documented as a binary body of ``media_types``."""

    media_types: tuple[str, ...] = ("application/octet-stream",)


@dataclass(frozen=True, kw_only=True)
class Endpoint:
    """One operation of the API (a row of the route table)."""

    method: str
    path: str  # relative to the API root, aiohttp syntax: /customers/{id}
    handler: Handler
    operation_id: str
    summary: str
    tag: str
    path_model: type[BaseModel] | None = None
    query_model: type[BaseModel] | None = None
    body_model: type[BaseModel] | None = None
    response_model: Any = None  # None: 204 without body
    status: int = 200
    public: bool = False
    errors: tuple[int, ...] = (400, 401, 403, 404, 409, 422)
    download: Download | None = None
    upload: Upload | None = None
    description: str | None = None
    also: tuple[int, ...] = ()  # other success statuses (same response model)
    adapter: TypeAdapter[Any] | None = field(default=None, compare=False)

    @property
    def successes(self) -> tuple[int, ...]:
        return tuple(sorted({self.status, *self.also}))

    @property
    def statuses(self) -> frozenset[int]:
        """Every status this operation can answer (module rules)."""
        return frozenset({*self.successes, *self.errors, *wrapper_statuses(self)})


def wrapper_statuses(ep: Endpoint) -> frozenset[int]:
    """What ``_wrap`` answers before or around any handler: 401 (not signed in), 403 (a
    write without its CSRF token), 400 and 413 (a body that is no JSON, or larger than
    the app's ``client_max_size``), 422 (a path, query or body that does not validate)."""
    out: set[int] = set()
    if not ep.public:
        out.add(401)
        if ep.method in WRITE_METHODS:
            out.add(403)
    if ep.body_model is not None:
        out |= {400, 413, 422}
    if ep.path_model is not None or ep.query_model is not None:
        out.add(422)
    return frozenset(out)


class Routes:
    """The route table of the API."""

    def __init__(self) -> None:
        self.endpoints: list[Endpoint] = []

    def add(self, method: str, path: str, handler: Handler, *, summary: str, tag: str,
            path_model: type[BaseModel] | None = None,
            query_model: type[BaseModel] | None = None,
            body_model: type[BaseModel] | None = None, response_model: Any = None,
            status: int = 200, public: bool = False, errors: tuple[int, ...] | None = None,
            download: Download | None = None, description: str | None = None,
            also: tuple[int, ...] = (), upload: Upload | None = None) -> None:
        """Declare one endpoint (its operation id is the handler's name)."""
        adapter = TypeAdapter(response_model) if response_model is not None else None
        default_errors = (400, 422, 429) if public else (400, 401, 403, 404, 409, 422)
        self.endpoints.append(Endpoint(
            method=method.upper(), path=path, handler=handler,
            operation_id=handler.__name__.strip("_"), summary=summary, tag=tag,
            path_model=path_model, query_model=query_model, body_model=body_model,
            response_model=response_model, status=status, public=public,
            errors=errors if errors is not None else default_errors, download=download,
            upload=upload, description=description, also=also, adapter=adapter,
        ))

    def install(self, app: web.Application) -> None:
        """Register every endpoint on ``app`` (the API sub-app)."""
        for endpoint in self.endpoints:
            app.router.add_route(endpoint.method, endpoint.path, _wrap(endpoint))


def _validate(model: type[BaseModel], data: Any) -> Any:
    # a ValidationError goes up to the error middleware: 422 naming the field(s)
    return model.model_validate(data)


def _query_dict(request: web.Request) -> dict[str, str]:
    # repeated parameters: the first one counts (no list parameters in this API)
    out: dict[str, str] = {}
    for key, value in request.query.items():
        out.setdefault(key, value)
    return out


async def _json_body(request: web.Request) -> Any:
    if request.content_type != "application/json":
        raise ApiError(400, "bad_request", "the body must be JSON (Content-Type: application/json)")
    raw = await request.read()
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ApiError(400, "bad_request", f"malformed JSON body: {exc}") from exc


async def signed_in_user(request: web.Request) -> int:
    """The signed-in user id of this request, or 401; CSRF-checked on writes."""
    session = await get_session(request)
    user_id = session.get("uid")
    sid = session.get("sid")
    if not isinstance(user_id, int) or not isinstance(sid, str):
        raise ApiError(401, "unauthenticated", "sign in first")
    if await request.config_dict[AUTH].is_revoked(sid):
        raise ApiError(401, "unauthenticated", "this session was signed out")
    if request.method in WRITE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        expected = session.get("csrf")
        if not sent or not isinstance(expected, str) or not hmac.compare_digest(
            sent.encode(), expected.encode()
        ):
            raise ApiError(403, "csrf", f"missing or wrong {CSRF_HEADER} header")
    return user_id


def _wrap(endpoint: Endpoint) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    documented = Documented(operation_id=endpoint.operation_id, statuses=endpoint.statuses)

    async def handle(request: web.Request) -> web.StreamResponse:
        request[DOCUMENTED] = documented  # what the error middleware checks the answer by
        user_id = None if endpoint.public else await signed_in_user(request)
        path = query = body = None
        if endpoint.path_model is not None:
            path = _validate(endpoint.path_model, dict(request.match_info))
        if endpoint.query_model is not None:
            query = _validate(endpoint.query_model, _query_dict(request))
        if endpoint.body_model is not None:
            body = _validate(endpoint.body_model, await _json_body(request))
        sessionmaker = request.config_dict[SESSIONMAKER]
        async with sessionmaker.begin() as db:
            actor = None
            if user_id is not None:
                actor = await load_actor(db, user_id)
                if actor is None:
                    raise ApiError(401, "unauthenticated", "this account is no longer active")
            call = Call(request=request, db=db, actor=actor, path=path, query=query, body=body)
            result = await endpoint.handler(call)
            if isinstance(result, web.StreamResponse):
                return result
            if endpoint.adapter is None:
                return web.Response(status=204)
            data = endpoint.adapter.dump_python(
                endpoint.adapter.validate_python(result), mode="json"
            )
        # serialised inside the transaction (lazy rows), answered after the commit
        return json_response(data, status=endpoint.status)

    handle.__name__ = endpoint.operation_id
    return handle


def not_found_json(entity: str) -> web.Response:
    """A 404 body (for handlers that answer rather than raise)."""
    return json_response(error_body("not_found", f"{entity} not found"), status=404)
