"""The sales pipeline over real HTTP on SQLite and PostgreSQL (issue 18 item 3): the
funnel per salesman, team and month (stage history written by the opportunities
service, a reopened deal counted once), won amounts and margins where costs are known,
sales by product line / source / region, both ways between customers and products, the
big contracts, the files; and the scopes: a salesman's team lead sees the team's, a
user without a reports grant nothing, a file needs reports:export."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from crm_core import opportunities, orders
from crm_core.models import Customer, ProductLine
from crm_core.permissions import SYSTEM
from tests.integration.test_api_support import Api, running_api, signed_in

OCT = datetime(2026, 10, 5, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai


@pytest.fixture
async def api(db_url: str) -> AsyncIterator[Api]:
    async with running_api(db_url) as running:
        yield running


async def seed(api: Api) -> dict[str, Any]:
    u = api.users
    async with api.sessionmaker.begin() as db:
        books = ProductLine(code="BOOKS", name="外文图书", name_en="Foreign books")
        parts = ProductLine(code="PARTS", name="客车配件", name_en="Coach parts")
        uni = Customer(name="清华大学图书馆", owner_id=u.agent, source="trade-fair",
                       province="北京")
        lib = Customer(name="<b>北京市图书馆</b>", owner_id=u.agent2, source="referral",
                       province="北京")
        coach = Customer(name="广州客运公司", owner_id=u.other_team, source="web",
                         province="广东")
        db.add_all([books, parts, uni, lib, coach])
        await db.flush()
        ids = {"uni": uni.id, "lib": lib.id, "coach": coach.id}

        async def opp(customer: int, amount: str, path: list[tuple[str, float]]) -> int:
            row = await opportunities.create_opportunity(
                db, SYSTEM, customer, title=f"deal {amount}", amount=amount,
                stage=path[0][0], now=OCT + timedelta(days=path[0][1]))
            for stage, d in path[1:]:
                await opportunities.update_opportunity(
                    db, SYSTEM, row["id"], {"stage": stage}, now=OCT + timedelta(days=d))
            return int(row["id"])

        # agent (team north): 3 deals in October; one won, reopened, won again
        await opp(uni.id, "1000", [("lead", 0)])
        await opp(uni.id, "2000", [("lead", 0), ("qualified", 4), ("proposal", 6),
                                   ("won", 10), ("proposal", 11), ("won", 14)])
        await opp(uni.id, "3000", [("lead", 0), ("qualified", 2), ("lost", 3)])
        # agent2 (north), November: one deal won
        await opp(lib.id, "5000", [("qualified", 31), ("won", 36)])
        # south: one deal won in October
        await opp(coach.id, "7000", [("lead", 1), ("won", 2)])

        await orders.create_order(db, SYSTEM, uni.id, owner_id=u.agent, now=OCT, lines=[
            {"title": "Oxford Handbook of Linguistics", "ref": "9780199677078",
             "quantity": 10, "price": "100.00", "unit_cost": "60.00",
             "product_line": "BOOKS"},
            {"title": "Cambridge Grammar of English", "ref": "9780521588461",
             "quantity": 5, "price": "200.00", "product_line": "BOOKS"}])
        await orders.create_order(db, SYSTEM, lib.id, owner_id=u.agent2,
                                  now=OCT + timedelta(days=3), lines=[
            {"title": "Oxford Handbook of Linguistics", "ref": "9780199677078",
             "quantity": 2, "price": "100.00", "unit_cost": "60.00",
             "product_line": "BOOKS"}])
        await orders.create_order(db, SYSTEM, coach.id, owner_id=u.other_team, now=OCT,
                                  lines=[{"title": "刹车片 brake pads", "ref": "BP-9",
                                          "quantity": 40, "price": "50.00",
                                          "unit_cost": "30.00", "product_line": "PARTS"}])
        now = datetime.now(UTC)
        big = await orders.create_order(
            db, SYSTEM, uni.id, owner_id=u.agent, now=now - timedelta(days=2), lines=[
                {"title": "教材 Teaching set", "quantity": 500, "price": "300.00",
                 "product_line": "BOOKS"}])
        await orders.create_order(  # big but signed too long ago
            db, SYSTEM, lib.id, owner_id=u.agent2, now=now - timedelta(days=30), lines=[
                {"title": "Old big order", "quantity": 1, "price": "500000.00"}])
        won = await opportunities.create_opportunity(
            db, SYSTEM, coach.id, title="30 coaches' service contract", amount="250000",
            stage="won", now=now - timedelta(days=1))
        ids.update(big=big["id"], big_number=big["number"], won=won["id"])
        return ids


def stages(group: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["stage"]: s for s in group["stages"]}


async def test_the_funnel_per_salesman_team_and_month(api: Api) -> None:
    await seed(api)
    u = api.users
    async with signed_in(api, "admin") as admin:
        resp = await admin.get("/reports/sales/funnel",
                               params={"from": "2026-10", "to": "2026-11", "by": "salesman"})
        assert resp.status == 200, await resp.text()
        got = await resp.json()
        assert (got["from"], got["to"], got["by"]) == ("2026-10", "2026-11", "salesman")
        groups = {g["key"]: g for g in got["items"]}
        assert set(groups) == {str(u.agent), str(u.agent2), str(u.other_team)}
        mine = groups[str(u.agent)]
        assert mine["label"] == "王小明" and mine["deals"] == 3
        assert (mine["won"], mine["lost"], mine["won_amount"]) == (1, 1, 2000.0)
        s = stages(mine)
        assert [s[x]["reached"] for x in ("lead", "qualified", "proposal", "won")] == \
            [3, 2, 1, 1]
        assert s["lead"]["conversion"] == round(2 / 3, 4)
        assert s["lead"]["count"] == 1 and s["lead"]["amount"] == 1000.0
        # qualified: 4->6 (2 days) and 2->3 (1 day); proposal: 6->10 and 11->14, one deal
        assert s["qualified"]["mean_days"] == 1.5 and s["proposal"]["mean_days"] == 7.0

        by_team = await (await admin.get("/reports/sales/funnel", params={
            "from": "2026-10", "to": "2026-11", "by": "team"})).json()
        teams = {g["label"]: g["deals"] for g in by_team["items"]}
        assert teams == {"north": 4, "south": 1}
        by_month = await (await admin.get("/reports/sales/funnel", params={
            "from": "2026-10", "to": "2026-11", "by": "month"})).json()
        assert [(g["key"], g["deals"]) for g in by_month["items"]] == [
            ("2026-10", 4), ("2026-11", 1)]
        one = await (await admin.get("/reports/sales/funnel", params={
            "from": "2026-11", "by": "all", "owner_id": u.agent2, "lang": "en"})).json()
        [only] = one["items"]
        assert only["label"] == "all" and only["deals"] == 1 and only["win_rate"] == 1.0
        empty = await (await admin.get("/reports/sales/funnel", params={
            "from": "2025-01", "by": "all"})).json()
        assert empty["items"] == []
        for bad in ({"from": "2026-13"}, {"from": "2026-11", "to": "2026-10"},
                    {"by": "planet"}):
            assert (await admin.get("/reports/sales/funnel", params=bad)).status == 422

    async with signed_in(api, "manager") as manager:  # reports:read team (north)
        got = await (await manager.get("/reports/sales/funnel", params={
            "from": "2026-10", "to": "2026-11"})).json()
        assert {g["key"] for g in got["items"]} == {str(u.agent), str(u.agent2)}
        resp = await manager.get("/reports/sales/funnel",
                                 params={"from": "2026-10", "format": "csv"})
        assert resp.status == 403  # no reports:export
    async with signed_in(api, "agent") as agent:  # no reports grant at all
        assert (await agent.get("/reports/sales/funnel")).status == 403
        assert (await agent.get("/reports/sales/big-contracts")).status == 403


async def test_margins_sales_by_and_both_ways(api: Api) -> None:
    ids = await seed(api)
    u = api.users
    async with signed_in(api, "admin") as admin:
        resp = await admin.get("/reports/sales/salesmen",
                               params={"from": "2026-10", "to": "2026-11"})
        assert resp.status == 200, await resp.text()
        rows = {r["owner_id"]: r for r in (await resp.json())["items"]}
        a = rows[u.agent]
        # 10 x 100 known cost 60, 5 x 200 unknown cost: margin over the 1000 costed
        assert (a["won"], a["won_amount"], a["orders"], a["sales"]) == (1, 2000.0, 1, 2000.0)
        assert (a["cost"], a["margin"], a["margin_rate"], a["costed_share"]) == \
            (600.0, 400.0, 0.4, 0.5)
        assert rows[u.agent2]["won_amount"] == 5000.0 and rows[u.agent2]["margin"] == 80.0
        assert rows[u.other_team]["margin_rate"] == 0.4

        by = await (await admin.get("/reports/sales/by", params={
            "from": "2026-10", "dimension": "product_line", "lang": "en"})).json()
        assert [(r["label"], r["sales"], r["quantity"], r["orders"], r["customers"])
                for r in by["items"]] == [("Foreign books", 2200.0, 17, 2, 2),
                                          ("Coach parts", 2000.0, 40, 1, 1)]
        region = await (await admin.get("/reports/sales/by", params={
            "from": "2026-10", "dimension": "region"})).json()
        assert {r["label"]: r["sales"] for r in region["items"]} == {"北京": 2200.0,
                                                                     "广东": 2000.0}
        source = await (await admin.get("/reports/sales/by", params={
            "from": "2026-10", "dimension": "source"})).json()
        assert {r["label"]: r["orders"] for r in source["items"]} == {
            "trade-fair": 1, "referral": 1, "web": 1}

        buyers = await (await admin.get("/reports/sales/buyers",
                                        params={"product": "9780199677078"})).json()
        assert [(b["customer_name"], b["quantity"]) for b in buyers["items"]] == [
            ("清华大学图书馆", 10), ("<b>北京市图书馆</b>", 2)]
        words = await (await admin.get("/reports/sales/buyers",
                                       params={"product": "brake"})).json()
        assert [b["customer_id"] for b in words["items"]] == [ids["coach"]]
        none = await (await admin.get("/reports/sales/buyers", params={"product": "%"})).json()
        assert none["items"] == []  # a wildcard is a character, not "anything"

        bought = await (await admin.get(f"/customers/{ids['uni']}/products")).json()
        assert [(p["ref"], p["quantity"]) for p in bought["items"]] == [
            (None, 500), ("9780199677078", 10), ("9780521588461", 5)]

        resp = await admin.get("/reports/sales/salesmen",
                               params={"from": "2026-10", "format": "csv", "lang": "en"})
        assert resp.status == 200
        text = (await resp.read()).decode("utf-8-sig")
        table = list(csv.reader(io.StringIO(text)))
        assert table[0][:3] == ["salesman", "team", "deals won"]
        assert any(r[0] == "王小明" for r in table[1:])
        resp = await admin.get("/reports/sales/funnel", params={"from": "2026-10",
                                                                "format": "xlsx"})
        assert resp.status == 200 and (await resp.read())[:2] == b"PK"

    async with signed_in(api, "manager") as manager:
        rows = (await (await manager.get("/reports/sales/salesmen",
                                         params={"from": "2026-10"})).json())["items"]
        assert {r["owner_id"] for r in rows} == {u.agent, u.agent2}
        buyers = await (await manager.get("/reports/sales/buyers",
                                          params={"product": "brake"})).json()
        assert buyers["items"] == []  # the south team's sale


async def test_big_contracts(api: Api) -> None:
    ids = await seed(api)
    async with signed_in(api, "admin") as admin:
        resp = await admin.get("/reports/sales/big-contracts")
        assert resp.status == 200, await resp.text()
        got = await resp.json()
        assert (got["min_amount"], got["days"]) == (100000, 10)
        assert [(c["kind"], c["title"], c["amount"]) for c in got["items"]] == [
            ("opportunity", "30 coaches' service contract", 250000.0),
            ("order", ids["big_number"], 150000.0)]
        assert got["items"][1]["customer_name"] == "清华大学图书馆"
        assert got["items"][1]["owner_name"] == "王小明"
        wider = await (await admin.get("/reports/sales/big-contracts",
                                       params={"days": 40, "min_amount": 200000})).json()
        assert [c["amount"] for c in wider["items"]] == [250000.0, 500000.0]
        # more than a Numeric(14, 2) column holds: nothing that big, not an overflow
        huge = await admin.get("/reports/sales/big-contracts",
                               params={"days": 1, "min_amount": 10**12})
        assert huge.status == 200 and (await huge.json())["items"] == []
    async with signed_in(api, "manager") as manager:
        got = await (await manager.get("/reports/sales/big-contracts")).json()
        assert [c["id"] for c in got["items"]] == [ids["big"]]  # not the south's


async def test_the_settings_set_the_big_amount(db_url: str) -> None:
    async with running_api(db_url, big_contract_amount=200000, big_contract_days=3) as api:
        await seed(api)
        async with signed_in(api, "admin") as admin:
            got = await (await admin.get("/reports/sales/big-contracts")).json()
            assert (got["min_amount"], got["days"]) == (200000, 3)
            assert [c["kind"] for c in got["items"]] == ["opportunity"]
