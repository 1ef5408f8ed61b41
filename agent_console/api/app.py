"""The API sub-app factory: mount ``create_api_app(config)`` at ``/api/v1``.

Rules:
- the sub-app owns its middlewares (errors outermost, then the session cookie),
  its sign-in state and its route table; it knows nothing of the rest of Hotline;
- the database arrives as an ``async_sessionmaker`` under ``SESSIONMAKER``: passed
  here, or set on the parent app at startup (handlers read ``config_dict``, which
  sees the parent's keys), because the engine only exists once the app starts;
- the sign-in state (``AuthState.store``) is given here or set at startup, like the
  database; the sub-app's shutdown waits for the sign-in bookkeeping still running;
- ``GET /openapi.json`` is public and built once from the route table.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from aiohttp import web
from aiohttp_session import session_middleware
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agent_console.api import routes_session
from agent_console.api.auth import AUTH, ApiConfig, AuthState, make_storage
from agent_console.api.auth_store import AuthStore
from agent_console.api.errors import error_middleware, json_response
from agent_console.api.openapi import build_openapi
from agent_console.api.routes_imports import install_runner
from agent_console.api.routing import SESSIONMAKER, Routes

OPENAPI = web.AppKey("api_openapi", dict[str, Any])


def _route_modules() -> Iterable[Any]:
    """The modules that declare endpoints (each has ``add_routes(routes)``)."""
    from agent_console.api import resources

    yield routes_session
    yield from resources.available()


def build_routes() -> Routes:
    """The API's complete route table."""
    routes = Routes()
    for module in _route_modules():
        module.add_routes(routes)
    return routes


def create_api_app(
    config: ApiConfig, sessionmaker: async_sessionmaker[AsyncSession] | None = None,
    *, auth: AuthState | None = None, routes: Routes | None = None,
    store: AuthStore | None = None,
) -> web.Application:
    """The ``/api/v1`` sub-app (``routes``: another route table, e.g. for tests)."""
    app = web.Application(
        middlewares=[error_middleware, session_middleware(make_storage(config))],
        client_max_size=4 * 1024 * 1024,
    )
    app[AUTH] = auth = auth or AuthState(config)
    if store is not None:
        auth.store = store

    async def settle(_app: web.Application) -> None:
        await auth.settled()

    app.on_shutdown.append(settle)
    if sessionmaker is not None:
        app[SESSIONMAKER] = sessionmaker
    routes = routes if routes is not None else build_routes()
    app[OPENAPI] = build_openapi(routes, cookie_name=config.cookie_name)

    async def openapi_json(request: web.Request) -> web.Response:
        return json_response(request.app[OPENAPI])

    app.router.add_get("/openapi.json", openapi_json)
    routes.install(app)
    install_runner(app)  # the background imports of POST /imports
    return app
