"""/api/v1/callbacks over real HTTP on SQLite and PostgreSQL: scheduling a callback,
the list of callbacks, cancelling one, with permissions and bad input."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from crm_core.models import CallbackRequest, Role, RolePermission, User
from ivr import callback_store as store
from tests.integration.test_api_support import (
    FAST_HASHER,
    PASSWORD,
    Api,
    running_api,
    seed_customers,
    signed_in,
)

# what the seeded roles lack for callbacks: agents see and cancel their own, managers
# their team's
EXTRA_GRANTS = {
    "agent": {("calls", "read"): "own", ("interactions", "update"): "own"},
    "manager": {("calls", "read"): "team", ("interactions", "update"): "team"},
}


@pytest.fixture
async def api(db_url: str) -> AsyncIterator[Api]:
    async with running_api(db_url) as running:
        async with running.sessionmaker.begin() as db:
            roles = {r.name: r.id for r in (await db.scalars(select(Role))).all()}
            for name, grants in EXTRA_GRANTS.items():
                for (module, operation), scope in grants.items():
                    db.add(RolePermission(role_id=roles[name], module=module,
                                          operation=operation, scope=scope))
            # someone who may read but not schedule or cancel anything
            reader = Role(name="reader")
            db.add(reader)
            await db.flush()
            db.add(RolePermission(role_id=reader.id, module="calls", operation="read",
                                  scope="all"))
            db.add(User(username="reader", display_name="只读", role_id=reader.id,
                        password_hash=FAST_HASHER.hash(PASSWORD)))
        yield running


def iso(moment: datetime) -> str:
    return moment.isoformat()


async def test_schedule_now_and_at_a_time_and_asking_twice(api: Api) -> None:
    customers = await seed_customers(api, 4)  # customer 0 belongs to "agent"
    async with signed_in(api, "agent") as client:
        before = datetime.now(UTC)
        resp = await client.post("/callbacks", json={"phone": "138 0013 8000"})
        assert resp.status == 201, await resp.text()
        made = await resp.json()
        assert (made["phone"], made["queue"], made["state"]) == (
            "+8613800138000", "support", "waiting")
        assert made["created"] is True and made["created_by_id"] == api.users.agent
        assert made["attempts"] == 0 and made["max_attempts"] == 3
        assert made["not_before"] is None
        assert datetime.fromisoformat(made["place_at"]) >= before - timedelta(seconds=1)
        assert [h["event"] for h in made["history"]] == ["requested"]

        again = await client.post("/callbacks", json={"phone": "+86 13800138000"})
        assert again.status == 200
        assert (await again.json())["id"] == made["id"]
        assert (await again.json())["created"] is False

        at = (datetime.now(UTC) + timedelta(hours=2)).replace(microsecond=0)
        later = await client.post("/callbacks", json={
            "phone": "010-5129 7073", "customer_id": customers[0], "at": iso(at),
            "note": "<b>after lunch</b> 下午再打", "queue": "vip"})
        assert later.status == 201, await later.text()
        body = await later.json()
        assert body["phone"] == "+861051297073" and body["queue"] == "vip"
        assert body["customer_id"] == customers[0]
        assert datetime.fromisoformat(body["not_before"]) == at
        assert datetime.fromisoformat(body["place_at"]) == at
        assert body["note"] == "<b>after lunch</b> 下午再打"  # text, as it was given


@pytest.mark.parametrize("payload,field", [
    ({"phone": "not a number"}, "phone"),
    # the digits of these are a number nobody typed (138001380001, 1000): refused, as
    # /calls/dial refuses them (issue 13 item 7)
    ({"phone": "13800138000,1,Hangup()"}, "phone"),
    ({"phone": "1000@internal"}, "phone"),
    ({"phone": "13800138000\r\nAction: Originate"}, "phone"),
    ({"phone": ""}, "phone"),
    ({"phone": "1" * 65}, "phone"),
    ({}, "phone"),
    ({"phone": "13800138000", "at": "2026-12-01T10:00:00"}, "at"),  # no offset
    ({"phone": "13800138000", "at": "tomorrow"}, "at"),
    ({"phone": "13800138000", "at": "2020-01-01T10:00:00+08:00"}, "at"),  # past
    ({"phone": "13800138000", "at": "2999-01-01T10:00:00+08:00"}, "at"),  # too far
    ({"phone": "13800138000", "customer_id": 0}, "customer_id"),
    ({"phone": "13800138000", "customer_id": 2**40}, "customer_id"),
    ({"phone": "13800138000", "note": "x" * 2001}, "note"),
    ({"phone": "13800138000", "note": "nul\x00"}, "note"),
    ({"phone": "13800138000", "queue": "support\r\nAction: Originate"}, "queue"),
    ({"phone": "13800138000", "queue": ""}, "queue"),
    ({"phone": "13800138000", "priority": 9}, "priority"),  # not a field of this API
])
async def test_bad_input_is_a_422_naming_the_field(
        api: Api, payload: dict[str, Any], field: str) -> None:
    async with signed_in(api, "agent") as client:
        resp = await client.post("/callbacks", json=payload)
        assert resp.status == 422, await resp.text()
        body = await resp.json()
        assert body["error"] == "validation" and body["field"] == field
    async with api.sessionmaker() as db:
        assert (await db.scalars(select(CallbackRequest))).all() == []


async def test_not_json_and_no_session_and_no_csrf(api: Api) -> None:
    anonymous = api.client()
    try:
        assert (await anonymous.post("/callbacks", json={"phone": "13800138000"})).status == 401
        assert (await anonymous.get("/callbacks")).status == 401
    finally:
        await anonymous.close()
    async with signed_in(api, "agent") as client:
        resp = await client.post("/callbacks", data=b"{", headers={
            "Content-Type": "application/json"})
        assert resp.status == 400
        resp = await client.post("/callbacks", json={"phone": "13800138000"}, csrf=False)
        assert resp.status == 403 and (await resp.json())["error"] == "csrf"


async def test_permissions_to_schedule(api: Api) -> None:
    customers = await seed_customers(api, 4)  # 0 agent, 1 agent2, 2 other_team, 3 pool
    async with signed_in(api, "reader") as client:
        resp = await client.post("/callbacks", json={"phone": "13800138000"})
        assert resp.status == 403 and (await resp.json())["error"] == "forbidden"
    async with signed_in(api, "agent") as client:
        resp = await client.post("/callbacks", json={"phone": "13800138001",
                                                     "customer_id": customers[2]})
        assert resp.status == 404  # not theirs: as if it did not exist
        resp = await client.post("/callbacks", json={"phone": "13800138001",
                                                     "customer_id": 99_999})
        assert resp.status == 404
    async with signed_in(api, "admin") as client:
        resp = await client.post("/callbacks", json={"phone": "13800138001",
                                                     "customer_id": customers[2]})
        assert resp.status == 201


async def test_list_is_scoped_filtered_and_in_line_order(api: Api) -> None:
    customers = await seed_customers(api, 4)
    ids: dict[str, int] = {}
    async with signed_in(api, "agent2") as client:  # for a customer of agent2
        resp = await client.post("/callbacks", json={"phone": "13700000002",
                                                     "customer_id": customers[1]})
        ids["agent2"] = (await resp.json())["id"]
    async with signed_in(api, "agent") as client:
        for key, phone in (("first", "13700000001"), ("second", "13700000003")):
            resp = await client.post("/callbacks", json={"phone": phone})
            ids[key] = (await resp.json())["id"]
        resp = await client.post("/callbacks", json={"phone": "13700000004", "queue": "vip"})
        ids["vip"] = (await resp.json())["id"]
        await client.post(f"/callbacks/{ids['second']}/cancel")

        mine = await (await client.get("/callbacks")).json()
        assert [c["id"] for c in mine["items"]] == [ids["first"], ids["second"], ids["vip"]]
        assert mine["total"] == 3
        waiting = await (await client.get("/callbacks?state=waiting")).json()
        assert [c["id"] for c in waiting["items"]] == [ids["first"], ids["vip"]]
        vip = await (await client.get("/callbacks?queue=vip")).json()
        assert [c["id"] for c in vip["items"]] == [ids["vip"]]
        page = await (await client.get("/callbacks?limit=1&offset=1")).json()
        assert [c["id"] for c in page["items"]] == [ids["second"]] and page["total"] == 3
        for bad in ("state=asleep", "queue=a%20b", "limit=0", "limit=999", "offset=-1"):
            resp = await client.get(f"/callbacks?{bad}")
            assert resp.status == 422, bad
    async with signed_in(api, "manager") as client:  # team north: agent's and agent2's
        seen = await (await client.get("/callbacks")).json()
        assert [c["id"] for c in seen["items"]] == [ids["agent2"]]  # by customer only
    async with signed_in(api, "admin") as client:
        everything = await (await client.get("/callbacks")).json()
        assert everything["total"] == 4
    async with signed_in(api, "south") as client:
        assert (await (await client.get("/callbacks")).json())["items"] == []


async def test_cancel_a_waiting_callback_only(api: Api) -> None:
    async with signed_in(api, "agent") as client:
        made = await (await client.post("/callbacks", json={"phone": "13600000001"})).json()
        resp = await client.post(f"/callbacks/{made['id']}/cancel")
        assert resp.status == 200, await resp.text()
        body = await resp.json()
        assert body["state"] == "cancelled"
        assert [h["event"] for h in body["history"]] == ["requested", "cancelled"]
        assert body["history"][-1]["by"] == api.users.agent
        again = await client.post(f"/callbacks/{made['id']}/cancel")
        assert again.status == 409 and (await again.json())["error"] == "conflict"
        # the number may ask again once the old one is over
        renewed = await client.post("/callbacks", json={"phone": "13600000001"})
        assert renewed.status == 201
        renewed_id = (await renewed.json())["id"]

        dialled = await (await client.post("/callbacks", json={"phone": "13600000002"})).json()
        assert await store.claim(api.sessionmaker, dialled["id"], seen=None, token="hlcb-x",
                                 agent="Local/1001@agents/n", now=datetime.now(UTC))
        resp = await client.post(f"/callbacks/{dialled['id']}/cancel")
        assert resp.status == 409  # being dialled: too late
        assert (await client.post("/callbacks/99999/cancel")).status == 404
        assert (await client.post("/callbacks/0/cancel")).status == 422
        assert (await client.post("/callbacks/abc/cancel")).status == 422
    async with signed_in(api, "agent2") as client:  # not theirs, no customer of theirs
        assert (await client.post(f"/callbacks/{renewed_id}/cancel")).status == 404
    async with signed_in(api, "reader") as client:
        resp = await client.post(f"/callbacks/{renewed_id}/cancel")
        assert resp.status == 403
    async with signed_in(api, "admin") as client:
        assert (await client.post(f"/callbacks/{renewed_id}/cancel")).status == 200


async def test_openapi_documents_the_callbacks(api: Api) -> None:
    client = api.client()
    try:
        doc = await (await client.get("/openapi.json")).json()
    finally:
        await client.close()
    assert {"post"} <= set(doc["paths"]["/callbacks"]) and "get" in doc["paths"]["/callbacks"]
    assert "post" in doc["paths"]["/callbacks/{id}/cancel"]
