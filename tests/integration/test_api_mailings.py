"""The mailings' API over real HTTP on SQLite and PostgreSQL (issue 18 item 4): a manager
previews a group, mails it (within the team's customers), reads its recipients by
status, reports a bounce and an SMS opt-out; an agent without the grant is refused;
every write is audited."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from crm_core.models import AuditEntry, Contact, Customer, Role, RolePermission
from tests.integration.test_api_support import Api, running_api, seed_customers, signed_in

HOSTILE = '<script>alert("x")</script>图书馆'


@pytest.fixture
async def api(db_url: str) -> AsyncIterator[Api]:
    async with running_api(db_url) as running:
        async with running.sessionmaker.begin() as db:
            manager = await db.scalar(select(Role.id).where(Role.name == "manager"))
            for op in ("read", "create", "update"):
                db.add(RolePermission(role_id=manager, module="mailings", operation=op,
                                      scope="team"))
        yield running


async def seed_emails(api: Api, ids: list[int]) -> None:
    """Every customer but the fifth gets a contact with an email; the first a hostile name."""
    async with api.sessionmaker.begin() as db:
        for n, cid in enumerate(ids):
            db.add(Contact(customer_id=cid, name=f"联系人{n}",
                           email=None if n == 4 else f"c{n}@example.com"))
        first = await db.get(Customer, ids[0])
        assert first is not None
        first.name = HOSTILE


async def test_a_manager_mails_the_teams_customers_and_follows_them(api: Api) -> None:
    ids = await seed_customers(api, 8)  # owners: agent, agent2, south, pool, ...
    await seed_emails(api, ids)
    team = [ids[0], ids[1], ids[4], ids[5]]  # owned by agent and agent2 (team north)
    group = {"filter": {}}
    async with signed_in(api, "agent") as client:
        assert (await client.get("/mailings")).status == 403
        resp = await client.post("/mailings", json={"name": "x", "channel": "sms", "body": "x"})
        assert resp.status == 403
    async with signed_in(api, "manager") as client:
        resp = await client.post("/mailings/preview", json={"channel": "email", **group})
        assert resp.status == 200, await resp.text()
        assert await resp.json() == {"customers": 4, "reachable": 3, "no_address": 1,
                                     "opted_out": 0}
        no_subject = {"name": "新书", "channel": "email", "body": "目录", **group}
        assert (await client.post("/mailings", json=no_subject)).status == 422
        bad = {**no_subject, "subject": "s", "filter": {"colour": "red"}}
        assert (await client.post("/mailings", json=bad)).status == 422
        resp = await client.post("/mailings", json={**no_subject, "subject": "新书目录"})
        assert resp.status == 201, await resp.text()
        made = await resp.json()
        assert made["state"] == "queued" and made["total"] == 4
        assert made["counts"]["queued"] == 3 and made["counts"]["skipped"] == 1
        assert made["created_by"] == "张经理"
        listed = await (await client.get("/mailings")).json()
        assert [m["id"] for m in listed["items"]] == [made["id"]] and listed["total"] == 1
        resp = await client.get(f"/mailings/{made['id']}/recipients")
        rows = (await resp.json())["items"]
        assert sorted(r["customer_id"] for r in rows) == sorted(team)
        assert next(r for r in rows if r["customer_id"] == ids[0])["customer_name"] == HOSTILE
        skipped = await (await client.get(f"/mailings/{made['id']}/recipients",
                                          params={"status": "skipped"})).json()
        assert [(r["customer_id"], r["reason"]) for r in skipped["items"]] == [
            (ids[4], "no-address")]
        resp = await client.post("/mailings/bounces", json={"address": "C1@example.com",
                                                             "reason": "550 user unknown"})
        assert resp.status == 200, await resp.text()
        one = await (await client.get(f"/mailings/{made['id']}")).json()
        assert one["counts"]["bounced"] == 1 and one["counts"]["queued"] == 2
        resp = await client.post("/mailings/bounces", json={"address": "who@example.com"})
        assert resp.status == 404
        resp = await client.post("/mailings/opt-outs",
                                 json={"channel": "sms", "address": "+8613800130000"})
        assert resp.status == 200 and (await resp.json())["added"] is True
        assert (await client.get("/mailings/999999")).status == 404
    async with api.sessionmaker() as db:
        actions = set((await db.execute(select(AuditEntry.action, AuditEntry.entity))).all())
    assert {("create", "mailing"), ("bounce", "mailing_recipient"),
            ("opt-out", "mailing_opt_out")} <= actions
