"""The dispatch board over real HTTP on SQLite and PostgreSQL (issue 15 item 6): open
tickets most at risk first (breached, at risk, on time; flagged first within a state;
then the next target that falls first), the database's order equal to the pure
``risk_order``, each filter, the read scope, and bad filters refused."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from crm_core.dispatch_board import next_due, risk_order
from crm_core.models import (
    Asset,
    Customer,
    ProductLine,
    ServiceStation,
    Technician,
    Ticket,
)
from tests.integration.test_api_support import Api, running_api, signed_in

T0 = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)


@pytest.fixture
async def api(db_url: str) -> AsyncIterator[Api]:
    async with running_api(db_url) as running:
        yield running


async def seed(api: Api) -> dict[str, Any]:
    """Two stations (华中, 华东), 40 tickets of random SLA states and targets, customers
    owned by ``agent`` and by ``south``; three tickets no longer open."""
    rnd = random.Random(15)
    async with api.sessionmaker.begin() as db:
        coach = ProductLine(code="coach", name="客车", name_en="Coaches")
        printer = ProductLine(code="printer", name="打印机", name_en="Printers")
        zz = ServiceStation(code="ZZ-001", name="郑州服务站", name_en="Zhengzhou",
                            province="河南", city="郑州", region="华中")
        sh = ServiceStation(code="SH-001", name="上海服务站", name_en="Shanghai",
                            province="上海", city="上海", region="华东")
        db.add_all([coach, printer, zz, sh])
        await db.flush()
        tech = Technician(station_id=zz.id, name="李师傅")
        mine = Customer(name="郑州宇通客运", province="河南", city="郑州",
                        owner_id=api.users.agent, vip_tier=2)
        theirs = Customer(name="广州印务", province="广东", city="广州",
                          owner_id=api.users.other_team)
        db.add_all([tech, mine, theirs])
        await db.flush()
        assets = {c.id: [Asset(customer_id=c.id, product_line_id=line.id,
                               serial_number=f"SN-{c.id}-{line.code}")
                         for line in (coach, printer)] for c in (mine, theirs)}
        db.add_all([a for pair in assets.values() for a in pair])
        await db.flush()
        for i in range(43):
            customer = mine if i % 3 else theirs
            station = rnd.choice([zz, sh, None])
            due = T0 + timedelta(minutes=rnd.randrange(-600, 6000))
            accepted = rnd.random() < 0.5
            arrived = accepted and rnd.random() < 0.5
            status = ("resolved", "closed", "cancelled")[i - 40] if i >= 40 else (
                "new" if not accepted else "accepted")
            db.add(Ticket(
                number=f"T20261207-{i:04d}", customer_id=customer.id, problem=f"故障 {i}",
                status=status, asset_id=rnd.choice(assets[customer.id]).id,
                station_id=None if station is None else station.id,
                technician_id=tech.id if station is zz and accepted else None,
                route_flagged=station is None, sla_state=rnd.choice(
                    ["ok", "ok", "warning", "breached"]),
                accept_due=due, arrive_due=due + timedelta(hours=4),
                resolve_due=rnd.choice([None, due + timedelta(hours=8)]),
                accepted_at=T0 if accepted else None, arrived_at=T0 if arrived else None,
                created_at=T0))
    return {"zz": zz.id, "sh": sh.id, "mine": mine.id}


async def board(client: Any, **query: Any) -> dict[str, Any]:
    resp = await client.get("/dispatch/tickets", params={k: str(v).lower() if isinstance(
        v, bool) else str(v) for k, v in query.items()})
    assert resp.status == 200, await resp.text()
    return dict(await resp.json())


async def test_most_at_risk_first_in_the_databases_order_as_the_pure_rule(api: Api) -> None:
    await seed(api)
    async with signed_in(api, "admin") as admin:
        first = await board(admin, limit=25)
        second = await board(admin, limit=25, offset=25)
    rows = first["items"] + second["items"]
    assert first["total"] == 40 and len(rows) == 40  # the 3 done tickets are not on it
    assert sum(first["by_state"].values()) == 40
    for row in rows:  # the API's times parsed back, as the pure rule takes them
        for key in ("accept_due", "arrive_due", "resolve_due", "accepted_at", "arrived_at"):
            row[key] = row[key] and datetime.fromisoformat(row[key])
    assert [r["number"] for r in rows] == [r["number"] for r in risk_order(rows)]
    states = [r["sla_state"] for r in rows]
    assert states == sorted(states, key=["breached", "warning", "ok"].index)
    for row in rows:
        due = next_due(row)
        assert (None if due is None else due) == (
            row["next_due"] and datetime.fromisoformat(row["next_due"]))


async def test_each_filter_narrows_the_board(api: Api) -> None:
    ids = await seed(api)
    async with signed_in(api, "admin") as admin:
        everything = (await board(admin, limit=200))["items"]
        cases: list[tuple[dict[str, Any], Any]] = [
            ({"station_id": ids["zz"]}, lambda r: r["station_id"] == ids["zz"]),
            ({"region": "华东"}, lambda r: r["station_region"] == "华东"
             or r["province"] == "华东"),
            ({"region": "广东"}, lambda r: r["province"] == "广东"),
            ({"status": "new"}, lambda r: r["status"] == "new"),
            ({"product_line": "printer"}, lambda r: r["product_line_code"] == "printer"),
            ({"sla_state": "breached"}, lambda r: r["sla_state"] == "breached"),
            ({"flagged": True}, lambda r: r["route_flagged"]),
        ]
        for query, keep in cases:
            got = await board(admin, limit=200, **query)
            expected = [r["number"] for r in everything if keep(r)]
            assert [r["number"] for r in got["items"]] == expected, query
            assert got["total"] == len(expected) and expected, query
    zz_rows = [r for r in everything if r["station_code"] == "ZZ-001"]
    assert {r["station_name"] for r in zz_rows} == {"郑州服务站"}
    assert any(r["technician_name"] == "李师傅" for r in zz_rows)


async def test_an_agent_sees_only_her_scope_and_bad_filters_are_refused(api: Api) -> None:
    ids = await seed(api)
    async with signed_in(api, "agent") as agent:  # tickets: read own
        mine = await board(agent, limit=200)
        assert mine["items"] and {r["customer_id"] for r in mine["items"]} == {ids["mine"]}
        for query in ({"sla_state": "late"}, {"status": "bogus"}, {"station_id": "x"},
                      {"limit": 0}, {"region": "x" * 41}):
            resp = await agent.get("/dispatch/tickets", params=query)
            assert resp.status == 422, (query, await resp.text())
    async with signed_in(api, "south") as south:
        theirs = await board(south, limit=200)
        assert {r["customer_name"] for r in theirs["items"]} == {"广州印务"}
