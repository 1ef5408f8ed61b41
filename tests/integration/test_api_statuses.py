"""Every operation of the API, over HTTP on SQLite and PostgreSQL, answers what its OpenAPI
document says (issue 13 item 10): the answers of the route wrapper, provoked for each
route of the table (not signed in, no CSRF token, a body that is no JSON or too large, a
path that does not validate), and the operations' own answers the document used to omit
(``POST /callbacks`` 200, ``POST /calls/{linkedid}/log`` 200 and its refusals).

``tests/conftest.py`` also fails any test during which the API answered a status its
document does not list, and ``tests/unit/test_api_statuses.py`` walks each handler's
code for the statuses it can make.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from agent_console.api.app import build_routes
from agent_console.api.errors import json_response
from agent_console.api.routing import WRITE_METHODS, Endpoint
from crm_core.models import CallRecord
from tests.integration.test_api_support import Api, ApiClient, running_api, signed_in

ROUTES = build_routes()
TOO_LARGE = 4 * 1024 * 1024 + 1  # the API app's client_max_size, plus one byte
GOOD = ("1", "default", "1.1", "4008001234", "customers", "0" * 32)
BAD = ("0", "-1", "a b", "x" * 100, "")


@pytest.fixture
async def api(db_url: str) -> AsyncIterator[Api]:
    async with running_api(db_url) as running:
        yield running


async def documented(api: Api) -> dict[tuple[str, str], set[int]]:
    client = api.client()
    try:
        doc = await (await client.get("/openapi.json")).json()
    finally:
        await client.close()
    return {(method.upper(), path): {int(s) for s in op["responses"]}
            for path, ops in doc["paths"].items() for method, op in ops.items()}


def _valid(model: type[BaseModel], name: str, value: str) -> bool:
    fields = {n: GOOD[0] for n in model.model_fields}
    fields[name] = value
    try:
        model.model_validate(fields)
    except ValidationError as exc:
        return not any(e["loc"] and e["loc"][0] == name for e in exc.errors())
    return True


def path_of(ep: Endpoint, *, bad: bool = False) -> str:
    """The route's path with a value for each parameter: valid ones, or (``bad``) the
    first one invalid."""
    path = ep.path
    model = ep.path_model
    assert model is not None or "{" not in path, ep.path
    for i, name in enumerate(model.model_fields if model is not None else ()):
        pool = BAD if bad and i == 0 else GOOD
        value = next(v for v in pool if _valid(model, name, v) != (bad and i == 0))
        start = path.index("{" + name)
        path = path[:start] + value.replace(" ", "%20") + path[path.index("}", start) + 1:]
    return path


def doc_key(ep: Endpoint) -> tuple[str, str]:
    return ep.method, ep.path.replace(":[^/]+", "")


async def probe(client: ApiClient, ep: Endpoint, path: str, *, csrf: bool = True,
                **kw: Any) -> int:
    resp = await client.request(ep.method, path, csrf=csrf, **kw)
    return resp.status


async def test_what_the_wrapper_answers_is_documented_for_every_route(api: Api) -> None:
    doc = await documented(api)
    seen: list[tuple[str, str, int]] = []
    anonymous = api.client()
    try:
        async with signed_in(api, "admin") as admin:
            for ep in ROUTES.endpoints:
                listed = doc[doc_key(ep)]
                answers: dict[str, int] = {}
                if not ep.public:
                    answers["signed out"] = await probe(anonymous, ep, path_of(ep))
                    assert answers["signed out"] == 401, (ep.path, answers)
                if ep.method in WRITE_METHODS and not ep.public:
                    answers["no csrf"] = await probe(admin, ep, path_of(ep), csrf=False,
                                                     json={})
                    assert answers["no csrf"] == 403, (ep.path, answers)
                if ep.path_model is not None:
                    answers["bad path"] = await probe(admin, ep, path_of(ep, bad=True),
                                                      json={})
                    assert answers["bad path"] == 422, (ep.path, answers)
                if ep.body_model is not None:
                    answers["not json"] = await probe(admin, ep, path_of(ep), data=b"{",
                                                      headers={"Content-Type":
                                                               "application/json"})
                    assert answers["not json"] == 400, (ep.path, answers)
                    answers["too large"] = await probe(
                        admin, ep, path_of(ep), data=io.BytesIO(b" " * TOO_LARGE),
                        headers={"Content-Type": "application/json"})
                    assert answers["too large"] == 413, (ep.path, answers)
                seen += [(ep.method, ep.path, s) for s in answers.values()]
                assert set(answers.values()) <= listed, (ep.method, ep.path, answers, listed)
    finally:
        await anonymous.close()
    assert len({(m, p) for m, p, _ in seen}) == len(ROUTES.endpoints)


async def test_the_answers_the_document_used_to_omit(api: Api) -> None:
    doc = await documented(api)
    async with api.sessionmaker.begin() as db:
        db.add(CallRecord(linkedid="1795478500.1", caller="+8613800138000",
                          outcome="answered", agent="Agent", agent_interface="PJSIP/1001",
                          queues=["support"], agents_tried=[]))
    async with signed_in(api, "admin") as admin:
        first = await admin.post("/callbacks", json={"phone": "13800138000"})
        again = await admin.post("/callbacks", json={"phone": "138 0013 8000"})
        assert (first.status, again.status) == (201, 200)
        assert {201, 200} <= doc[("POST", "/callbacks")]

        customer = await admin.post("/customers", json={"name": "华东医药包装有限公司"})
        customer_id = (await customer.json())["id"]
        body = {"customer_id": customer_id, "disposition": "inquiry", "notes": ""}
        statuses = [
            (await admin.post("/calls/1795478500.1/log", json=body)).status,  # an admin: on behalf
            (await admin.post("/calls/1795478500.1/log", json=body)).status,  # saved again
            (await admin.post("/calls/1795478500.2/log", json=body)).status,  # no such call
            (await admin.post("/calls/1795478500.1/log",  # logged: to another customer?
                              json={**body, "customer_id": customer_id + 1000})).status,
        ]
        assert statuses == [201, 200, 404, 409]
        assert set(statuses) <= doc[("POST", "/calls/{linkedid}/log")]
        assert {403, 409} <= doc[("POST", "/calls/{linkedid}/log")]  # not yours; mismatch


async def test_an_undocumented_answer_is_logged_as_an_error(
    tmp_path: Any, api_answers_only_documented_statuses: Any
) -> None:
    """The check every test runs under: an answer outside the document is logged, with the
    operation and the status, and the answer itself goes out unchanged."""
    async def teapot(call: Any) -> Any:
        return json_response({"ok": True}, status=418)

    routes = build_routes()  # sign-in and all, and one quirky route
    routes.add("GET", "/teapot", teapot, summary="A status nobody documented", tag="t",
               response_model=None, errors=(401,))
    found = api_answers_only_documented_statuses.found
    async with running_api(f"sqlite+aiosqlite:///{tmp_path}/t.db", routes=routes) as api, \
            signed_in(api, "admin") as admin:
        assert (await admin.get("/teapot")).status == 418
        assert found == [("teapot", 418)]
        found.clear()  # seen: this test is about exactly that
        client = api.client()
        try:
            assert (await client.get("/teapot")).status == 401  # documented: not logged
        finally:
            await client.close()
        assert found == []
