"""The ticket's moves over the REST API (issue 15 item 4), on SQLite and PostgreSQL: a
station's staff signs in and works its ticket through, a move the status does not allow
is a 409 ``move_not_allowed`` saying where the ticket may go, bad input a 422 naming its
field, another station's ticket a 404; the signed-in staff lands on /station."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from crm_core.models import Ticket
from crm_core.permissions import SYSTEM
from crm_core.tickets import create_ticket
from tests.integration.network_support import Network, route_to, seed_network
from tests.integration.test_api_support import (
    FAST_HASHER,
    PASSWORD,
    Api,
    ApiClient,
    running_api,
    signed_in,
)

T0 = datetime(2026, 11, 25, 1, 0, tzinfo=UTC)
HOSTILE = '<img src=x onerror="alert(1)">客运'


@pytest.fixture
async def api(db_url: str) -> AsyncIterator[tuple[Api, Network]]:
    async with running_api(db_url) as running:
        async with running.sessionmaker.begin() as db:
            net = await seed_network(db, password_hash=FAST_HASHER.hash(PASSWORD),
                                     customer_name=HOSTILE)
        yield running, net


async def routed(api: Api, net: Network, station: int | None = None) -> dict[str, Any]:
    async with api.sessionmaker.begin() as db:
        made = await create_ticket(db, SYSTEM, net.customer, problem="空调异响",
                                   asset_id=net.asset, contact_id=net.contact,
                                   category="repair", force=True)
        await route_to(db, made["id"], station or net.station, T0)
        return made


async def ok(client: ApiClient, path: str, body: Any = None, status: int = 200) -> Any:
    resp = await client.post(path, json=body if body is not None else {})
    assert resp.status == status, await resp.text()
    return await resp.json()


async def test_the_station_works_its_ticket_through_the_api(
    api: tuple[Api, Network]
) -> None:
    running, net = api
    ticket = await routed(running, net)
    tid = ticket["id"]
    async with signed_in(running, "zz.staff") as staff:
        listed = await (await staff.get("/station/tickets")).json()
        assert [i["id"] for i in listed["items"]] == [tid]
        assert listed["items"][0]["customer_name"] == HOSTILE  # as data, for text
        # not yet accepted: on site is not a move from routed
        early = await staff.post(f"/tickets/{tid}/on-site", json={})
        assert early.status == 409
        body = await early.json()
        assert body["error"] == "move_not_allowed" and body["status"] == "routed"
        assert body["to_status"] == "on_site" and body["allowed"] == ["accepted", "cancelled"]
        assert (await ok(staff, f"/tickets/{tid}/accept", {"note": "马上安排"}))[
            "status"] == "accepted"
        assert (await ok(staff, f"/tickets/{tid}/assign", {"technician_id": net.tech}))[
            "technician_id"] == net.tech
        foreign = await staff.post(f"/tickets/{tid}/assign",
                                   json={"technician_id": net.foreign_tech})
        assert foreign.status == 422 and (await foreign.json())["field"] == "technician_id"
        await ok(staff, f"/tickets/{tid}/on-the-way")
        await ok(staff, f"/tickets/{tid}/wait", {"note": "客户下午才在"})
        assert (await ok(staff, f"/tickets/{tid}/resume"))["status"] == "on_the_way"
        await ok(staff, f"/tickets/{tid}/on-site")
        missing = await staff.post(f"/tickets/{tid}/resolve", json={})
        assert missing.status == 422 and (await missing.json())["field"] == "repair_record"
        bad = await staff.post(f"/tickets/{tid}/resolve", json={"repair_record": {
            "fault": "f", "action": "a", "labour_hours": 1.234}})
        assert bad.status == 422 and (await bad.json())["field"] == "labour_hours"
        done = await ok(staff, f"/tickets/{tid}/resolve", {"repair_record": {
            "fault": "压缩机异响", "cause": "轴承磨损", "action": "更换轴承",
            "parts": [{"part": "轴承 6204", "qty": 2}], "labour_hours": 2.5,
            "serial_checked": True}})
        assert done["status"] == "resolved"
        assert done["repair_record"]["parts"] == [{"part": "轴承 6204", "qty": 2}]
        fixed = await staff.put(f"/tickets/{tid}/repair-record", json={
            "fault": "压缩机异响", "action": "更换轴承并加注润滑脂"})
        assert fixed.status == 200, await fixed.text()
        await ok(staff, f"/tickets/{tid}/close")
        frozen = await staff.put(f"/tickets/{tid}/repair-record", json={
            "fault": "x", "action": "y"})
        assert frozen.status == 409 and "closed" in (await frozen.json())["message"]
        patched = await staff.patch(f"/tickets/{tid}", json={"problem": "x"})
        assert patched.status == 409
        noted = await ok(staff, f"/tickets/{tid}/notes", {"note": "回访：客户满意"}, 201)
        assert noted["history"][-1]["kind"] == "note"
        assert (await ok(staff, f"/tickets/{tid}/reopen"))["reopen_count"] == 1
        assert await staff.post(f"/tickets/{tid}/refuse", json={}) is not None
        no_reason = await staff.post(f"/tickets/{tid}/refuse", json={"reason": ""})
        assert no_reason.status == 422
        refused = await ok(staff, f"/tickets/{tid}/refuse", {"reason": "需要专用工装"})
        assert refused["status"] == "routed" and refused["station_id"] is None
        gone = await staff.get(f"/station/tickets/{tid}")
        assert gone.status == 404  # refused: no longer the station's


async def test_other_stations_tickets_are_not_found_and_desk_moves_by_name(
    api: tuple[Api, Network]
) -> None:
    running, net = api
    theirs = await routed(running, net, net.other_station)
    ours = await routed(running, net)
    async with signed_in(running, "zz.staff") as staff:
        for path in (f"/station/tickets/{theirs['id']}", f"/tickets/{theirs['id']}"):
            assert (await staff.get(path)).status == 404
        assert (await staff.post(f"/tickets/{theirs['id']}/accept", json={})).status == 404
        assert (await staff.get("/customers")).status == 403
        listed = await (await staff.get("/tickets")).json()
        assert [t["id"] for t in listed["items"]] == [ours["id"]]
    async with signed_in(running, "zz.tech") as tech:
        assert (await (await tech.get("/station/tickets")).json())["items"] == []
    async with signed_in(running, "admin") as admin:
        # the desk moves by name too; routing stays dispatch's
        by_name = await admin.post(f"/tickets/{ours['id']}/status", json={"status": "routed"})
        assert by_name.status == 409 and (await by_name.json())["error"] == "move_not_allowed"
        assert (await ok(admin, f"/tickets/{ours['id']}/status",
                         {"status": "accepted"}))["status"] == "accepted"
        wrong = await admin.post(f"/tickets/{ours['id']}/accept", json={"note": 5})
        assert wrong.status == 422
    async with running.sessionmaker() as db:
        row = await db.get(Ticket, ours["id"])
        assert row is not None and row.accepted_at is not None
