"""The record endpoints over real HTTP on SQLite and PostgreSQL: customer CRUD and
search, pagination, the duplicate guard (409 naming the existing record and its
owner), merge, scope (404) vs missing grant (403), bad payloads (422 naming the
field, nothing written), tickets with status and one open repair per asset, the CSV
export gate."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select

from crm_core.models import Asset, AuditEntry, Customer, Ticket
from tests.integration.test_api_support import Api, running_api, seed_customers, signed_in


@pytest.fixture
async def api(db_url: str) -> AsyncIterator[Api]:
    async with running_api(db_url) as running:
        yield running


async def _count(api: Api, model: type) -> int:
    async with api.sessionmaker() as db:
        return int(await db.scalar(select(func.count()).select_from(model)) or 0)


async def test_customer_lifecycle_and_duplicates(api: Api) -> None:
    async with signed_in(api, "admin") as admin:
        resp = await admin.post("/customers", json={
            "name": "北京艾克美印刷有限公司", "numbers": ["010-5129 7073"], "category": "A"})
        assert resp.status == 201, await resp.text()
        acme = await resp.json()
        # the same company written differently, or the same number: 409, who has it
        same_number = {"name": "别的公司", "numbers": ["(010)51297073"]}
        for body in ({"name": "北京艾克美印刷"}, same_number):
            dup = await admin.post("/customers", json=body)
            assert dup.status == 409, await dup.text()
            answer = await dup.json()
            assert answer["error"] == "duplicate"
            assert answer["existing"]["id"] == acme["id"]
            assert answer["existing"]["name"] == "北京艾克美印刷有限公司"
        found = await (await admin.get("/customers", params={"phone": "+86 10 5129 7073"})).json()
        assert [c["id"] for c in found["items"]] == [acme["id"]]
        patched = await admin.patch(f"/customers/{acme['id']}", json={"vip_tier": 3})
        assert patched.status == 200 and (await patched.json())["vip_tier"] == 3
        assert (await admin.delete(f"/customers/{acme['id']}")).status == 204
        assert (await admin.get(f"/customers/{acme['id']}")).status == 404


async def test_place_and_traditional_spellings_of_a_customer_are_409(api: Api) -> None:
    """Issue 14 item 15: both names got past 华东医药包装有限公司."""
    async with signed_in(api, "admin") as admin:
        resp = await admin.post("/customers", json={"name": "华东医药包装有限公司"})
        assert resp.status == 201, await resp.text()
        existing = await resp.json()
        for name in ("上海华东医药包装有限责任公司", "華東醫藥包裝有限公司"):
            dup = await admin.post("/customers", json={"name": name})
            assert dup.status == 409, (name, await dup.text())
            answer = await dup.json()
            assert answer["error"] == "duplicate"
            assert answer["existing"]["id"] == existing["id"]
            assert answer["existing"]["name"] == "华东医药包装有限公司"
        other = await admin.post("/customers", json={"name": "华东医药器械有限公司"})
        assert other.status == 201, await other.text()
    async with api.sessionmaker() as db:
        names = (await db.scalars(select(Customer.name).order_by(Customer.id))).all()
    assert names == ["华东医药包装有限公司", "华东医药器械有限公司"]


async def test_bad_payloads_name_the_field_and_write_nothing(api: Api) -> None:
    async with signed_in(api, "admin") as admin:
        customers, audits = await _count(api, Customer), await _count(api, AuditEntry)
        cases = [
            ({"name": ""}, "name"),
            ({"name": "x", "vip_tier": 9}, "vip_tier"),
            ({"name": "x", "status": "happy"}, "status"),
            ({"name": "x", "owner_id": -1}, "owner_id"),
            ({"name": "x", "numbers": "13800138000"}, "numbers"),
            ({"name": "x", "colour": "red"}, "colour"),
            ({"name": "x\x00y"}, "name"),
            ({"name": "x", "numbers": ["not a number at all"]}, "numbers"),
            ({"name": "x", "numbers": ["13800138000,1,Hangup()"]}, "numbers"),
        ]
        for body, field in cases:
            resp = await admin.post("/customers", json=body)
            assert resp.status == 422, (body, resp.status, await resp.text())
            answer = await resp.json()
            assert answer["error"] == "validation"
            assert answer["field"].split(".")[0].split("[")[0] == field, (body, answer)
        assert await _count(api, Customer) == customers
        assert await _count(api, AuditEntry) == audits


async def test_pagination(api: Api) -> None:
    await seed_customers(api, 30)
    async with signed_in(api, "admin") as admin:
        first = await (await admin.get("/customers", params={"limit": 10})).json()
        assert (first["total"], first["limit"], first["offset"]) == (30, 10, 0)
        assert len(first["items"]) == 10
        last = await (await admin.get("/customers", params={"limit": 10, "offset": 25})).json()
        assert len(last["items"]) == 5
        seen = {c["id"] for c in first["items"]} & {c["id"] for c in last["items"]}
        assert not seen
        default = await (await admin.get("/customers")).json()
        assert default["limit"] == 50 and len(default["items"]) == 30
        for params, field in (({"limit": 0}, "limit"), ({"limit": 201}, "limit"),
                              ({"limit": "ten"}, "limit"), ({"offset": -1}, "offset")):
            resp = await admin.get("/customers", params=params)
            assert resp.status == 422 and (await resp.json())["field"] == field


async def test_scope_is_404_and_missing_grant_is_403(api: Api) -> None:
    ids = await seed_customers(api, 4)  # owners: agent, agent2, south, pool
    mine, colleagues, south = ids[0], ids[1], ids[2]
    async with signed_in(api, "agent") as agent:
        assert (await agent.get(f"/customers/{mine}")).status == 200
        for other in (colleagues, south):
            resp = await agent.get(f"/customers/{other}")
            assert resp.status == 404
            assert "客户" not in await resp.text()
            assert (await agent.patch(f"/customers/{other}", json={"city": "x"})).status == 404
        listed = await (await agent.get("/customers")).json()
        assert [c["id"] for c in listed["items"]] == [mine]
        # no delete / export / users grant at all: 403
        assert (await agent.delete(f"/customers/{mine}")).status == 403
        assert (await agent.get("/customers", params={"format": "csv"})).status == 403
        assert (await agent.get("/users")).status == 403
    async with signed_in(api, "manager") as manager:
        assert (await manager.get(f"/customers/{colleagues}")).status == 200  # team scope
        assert (await manager.get(f"/customers/{south}")).status == 404
        export = await manager.get("/customers", params={"format": "csv"})
        assert export.status == 200
        text = (await export.read()).decode("utf-8-sig")
        assert len(text.strip().splitlines()) == 1 + 2  # header + the team's two customers


async def test_tickets_and_status(api: Api) -> None:
    ids = await seed_customers(api, 1)
    async with signed_in(api, "admin") as admin:
        resp = await admin.post(f"/customers/{ids[0]}/tickets", json={"problem": "卡纸"})
        assert resp.status == 201, await resp.text()
        ticket = await resp.json()
        by_number = await (await admin.get("/tickets", params={"number": ticket["number"]})).json()
        assert by_number["items"][0]["id"] == ticket["id"]
        search = await (await admin.get("/customers", params={"ticket": ticket["number"]})).json()
        assert [c["id"] for c in search["items"]] == [ids[0]]
        moved = await admin.post(f"/tickets/{ticket['id']}/status", json={"status": "cancelled"})
        assert moved.status == 200, await moved.text()
        bad = await admin.post(f"/tickets/{ticket['id']}/status", json={"status": "teleported"})
        assert bad.status in (409, 422)


async def test_a_second_open_repair_of_an_asset_is_refused_unless_forced(api: Api) -> None:
    """Issue 14 item 3, the console's side: a repair ticket for an asset that already has
    an open repair ticket is a 409 naming that ticket (documented in the OpenAPI); with
    ``force: true`` it is opened anyway and the audit entry says which one it duplicates.
    Another category, another asset, or a closed repair: no conflict."""
    [cid] = await seed_customers(api, 1)
    async with api.sessionmaker.begin() as db:
        rows = [Asset(customer_id=cid, model="DPP-260", serial_number=f"BPM-2022-04{i}")
                for i in (17, 18)]
        db.add_all(rows)
        await db.flush()
        press, other = rows[0].id, rows[1].id
    repair = {"title": "热封温度不稳定", "category": "repair", "asset_id": press}
    async with signed_in(api, "admin") as admin:
        first = await admin.post(f"/customers/{cid}/tickets", json=repair)
        assert first.status == 201, await first.text()
        opened = await first.json()
        tickets_before = await _count(api, Ticket)
        for body in (repair, {**repair, "category": None}, {**repair, "category": " Repair "},
                     {**repair, "force": False}):
            dup = await admin.post(f"/customers/{cid}/tickets", json=body)
            assert dup.status == 409, await dup.text()
            answer = await dup.json()
            assert answer["error"] == "duplicate_ticket"
            assert answer["existing_ticket"] == {"id": opened["id"], "number": opened["number"],
                                                 "status": "new"}
            assert opened["number"] in answer["message"]
        assert await _count(api, Ticket) == tickets_before
        for body in ({**repair, "category": "installation"}, {**repair, "asset_id": other},
                     {"title": "咨询", "category": "repair"}):
            resp = await admin.post(f"/customers/{cid}/tickets", json=body)
            assert resp.status == 201, (body, await resp.text())
        forced = await admin.post(f"/customers/{cid}/tickets", json={**repair, "force": True})
        assert forced.status == 201, await forced.text()
        second = await forced.json()
        bad = await admin.post(f"/customers/{cid}/tickets", json={**repair, "force": "yes"})
        assert bad.status == 422 and (await bad.json())["field"] == "force"
        # once the first is done... the forced one is still open: still a 409
        done = await admin.post(f"/tickets/{opened['id']}/status", json={"status": "cancelled"})
        assert done.status == 200, await done.text()
        dup = await admin.post(f"/customers/{cid}/tickets", json=repair)
        assert (await dup.json())["existing_ticket"]["number"] == second["number"]
        await admin.post(f"/tickets/{second['id']}/status", json={"status": "cancelled"})
        again = await admin.post(f"/customers/{cid}/tickets", json=repair)
        assert again.status == 201, await again.text()
        doc = await (await admin.get("/openapi.json")).json()
    async with api.sessionmaker() as db:
        entry = await db.scalar(select(AuditEntry).where(
            AuditEntry.entity == "ticket", AuditEntry.entity_id == str(second["id"]),
            AuditEntry.action == "create"))
    assert entry is not None and entry.after is not None
    assert entry.after["duplicate_of"] == {"id": opened["id"], "number": opened["number"]}
    operation = doc["paths"]["/customers/{id}/tickets"]["post"]
    assert "duplicate_ticket" in operation["responses"]["409"]["description"]
    assert "duplicate_ticket" in operation["description"]
    assert "force" in doc["components"]["schemas"]["TicketIn"]["properties"]
    assert "existing_ticket" in doc["components"]["schemas"]["Error"]["properties"]
