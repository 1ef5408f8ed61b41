"""Every status an API operation can answer is in its OpenAPI document (issue 13 item 10).

The route table is walked, not sampled: for each operation, the code its handler can
reach (its own functions and every function of ours they name, transitively: the
services, their helpers) is read for what makes a status: ``ApiError(<status>, ...)``,
``status=<n>`` on an answer, and the exceptions the error middleware maps
(``NotFound`` 404, ``PermissionDenied`` 403, ``ValidationFailed`` 422, ``Conflict`` and
``DuplicateCustomer`` 409, pydantic's ``ValidationError`` 422, a ``PbxError``'s own
status). Each must be among the operation's documented responses. The walk sees every
branch, so it may find a status an operation cannot reach with its arguments: such a
case is listed in ``UNREACHABLE`` with the reason, never silently skipped.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
import types
from typing import Any

import pytest
from aiohttp import web
from pydantic import ValidationError

from agent_console.api.app import build_routes
from agent_console.api.console import pbx_answers
from agent_console.api.errors import ApiError
from agent_console.api.openapi import build_openapi
from agent_console.api.routing import Endpoint, Routes, wrapper_statuses
from agent_console.pbx_actions import PBX_STATUSES, PbxError
from crm_core.errors import Conflict, DuplicateCustomer, NotFound, ValidationFailed
from crm_core.permissions import PermissionDenied

OURS = ("agent_console", "crm_core", "ivr", "numbering", "telephony")
RAISED = {NotFound: 404, PermissionDenied: 403, ValidationFailed: 422, Conflict: 409,
          DuplicateCustomer: 409, ValidationError: 422}
# functions that answer a status they are handed: what they can answer
DYNAMIC: dict[Any, frozenset[int]] = {inspect.unwrap(pbx_answers): PBX_STATUSES}
# (method, path) -> {status: why the walk's finding cannot happen for this operation}
UNREACHABLE: dict[tuple[str, str], dict[int, str]] = {
    ("PATCH", "/me"): {
        404: "users.update_user of the signed-in user: load_actor found them active",
        409: "only the language changes: never the last admin's role or activity",
    },
    ("GET", "/customers/{id}/calls"): {
        409: "load_customer for a read: a merged customer is read, only a write is refused",
    },
}

ROUTES = build_routes()


def _ours(obj: Any) -> bool:
    return (getattr(obj, "__module__", "") or "").split(".")[0] in OURS


def _resolve(node: ast.AST, names: dict[str, Any]) -> Any:
    if isinstance(node, ast.Name):
        return names.get(node.id)
    if isinstance(node, ast.Attribute):
        base = _resolve(node.value, names)
        return getattr(base, node.attr, None) if base is not None else None
    return None


def _names(fn: types.FunctionType) -> dict[str, Any]:
    names = dict(fn.__globals__)
    for name, cell in zip(fn.__code__.co_freevars, fn.__closure__ or (), strict=True):
        try:
            names[name] = cell.cell_contents
        except ValueError:  # an empty cell
            continue
    return names


def _status_of_raise(target: type) -> set[int]:
    out = {status for exc, status in RAISED.items() if issubclass(target, exc)}
    if issubclass(target, PbxError):
        out.add(target.status)
    if issubclass(target, web.HTTPException) and target.status_code >= 400:
        out.add(target.status_code)
    return out


def reachable_statuses(handler: Any) -> dict[int, list[str]]:
    """Status -> the chain of functions that makes it, for everything ``handler`` reaches."""
    found: dict[int, list[str]] = {}
    seen: set[types.FunctionType] = set()

    def walk(fn: Any, trail: list[str]) -> None:
        fn = inspect.unwrap(fn)
        if not isinstance(fn, types.FunctionType) or fn in seen or (trail and not _ours(fn)):
            return
        seen.add(fn)
        trail = [*trail, f"{fn.__module__}.{fn.__qualname__}"]
        for status in DYNAMIC.get(fn, ()):
            found.setdefault(status, trail)
        names = _names(fn)
        tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                target = _resolve(node.func, names)
                if target is ApiError and fn not in DYNAMIC:
                    first = node.args[0] if node.args else None
                    assert isinstance(first, ast.Constant), (
                        f"{trail[-1]} answers a computed status: add it to DYNAMIC")
                    found.setdefault(first.value, trail)
                elif isinstance(target, type) and issubclass(target, BaseException):
                    for status in _status_of_raise(target):
                        found.setdefault(status, [*trail, target.__name__])
                for kw in node.keywords:  # json_response(..., status=200), web.Response
                    value = kw.value.value if isinstance(kw.value, ast.Constant) else None
                    if kw.arg == "status" and type(value) is int:
                        found.setdefault(value, trail)
            if isinstance(node, ast.Name | ast.Attribute) and isinstance(node.ctx, ast.Load):
                walk(_resolve(node, names), trail)  # a call, or a function handed on

    walk(handler, [])
    return found


def _id(ep: Endpoint) -> str:
    return f"{ep.method} {ep.path}"


@pytest.mark.parametrize("ep", ROUTES.endpoints, ids=_id)
def test_what_the_handler_can_answer_is_documented(ep: Endpoint) -> None:
    doc = build_openapi(ROUTES, cookie_name="s")
    path = ep.path.replace(":[^/]+", "")
    documented = {int(s) for s in doc["paths"][path][ep.method.lower()]["responses"]}
    assert documented == set(ep.statuses)
    excused = UNREACHABLE.get((ep.method, ep.path), {})
    missing = {status: " > ".join(trail[-4:])
               for status, trail in reachable_statuses(ep.handler).items()
               if status not in documented and status not in excused}
    assert missing == {}, f"undocumented statuses of {_id(ep)} (and what makes them)"
    assert wrapper_statuses(ep) <= documented


def test_the_walk_finds_what_it_must() -> None:
    """The walk itself: a handler's own answers, through services, and the PBX's."""
    by_op = {ep.operation_id: ep for ep in ROUTES.endpoints}
    assert {200, 404, 403, 409, 422} <= set(reachable_statuses(by_op["log_call"].handler))
    assert {200, 409} <= set(reachable_statuses(by_op["create_callback"].handler))
    assert {403, 404, 409, 422} <= set(reachable_statuses(by_op["create_customer"].handler))
    assert PBX_STATUSES <= set(reachable_statuses(by_op["hangup"].handler))
    assert 429 in reachable_statuses(by_op["sign_in"].handler)


def test_a_handler_answering_an_undocumented_status_is_caught() -> None:
    async def quirky(call: Any) -> Any:
        raise ApiError(418, "teapot", "no")

    routes = Routes()
    routes.add("GET", "/quirk", quirky, summary="q", tag="t", errors=(401,))
    [ep] = routes.endpoints
    assert 418 in reachable_statuses(ep.handler) and 418 not in ep.statuses
