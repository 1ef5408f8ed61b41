"""The service network and routing over real HTTP (SQLite and PostgreSQL): stations and
technicians, a ticket routed at creation, a person's choice of station (with its
reason) at creation and after, a station's refusal."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from crm_core.models import ProductLine
from tests.integration.test_api_support import Api, running_api, seed_customers, signed_in


@pytest.fixture
async def api(db_url: str) -> AsyncIterator[Api]:
    async with running_api(db_url) as running:
        async with running.sessionmaker.begin() as db:
            db.add(ProductLine(code="BUS-COACH", name="旅游客车", name_en="coaches"))
        yield running


async def test_stations_tickets_override_and_refusal(api: Api) -> None:
    [cid] = await seed_customers(api, 1)
    async with signed_in(api, "admin") as admin:
        made = []
        for code, city in (("SH01", "上海"), ("SH02", "上海"), ("HUB-HD", "杭州")):
            resp = await admin.post("/stations", json={
                "code": code, "name": f"{city}服务站{code}", "province": "上海" if city == "上海"
                else "浙江", "city": city, "product_lines": ["BUS-COACH"],
                "is_hub": code.startswith("HUB"), "covers": [{"province": "上海"}]
                if code == "SH02" else []})
            assert resp.status == 201, await resp.text()
            made.append(await resp.json())
        bad = await admin.post("/stations", json={"code": "X", "name": "x", "province": "火星"})
        assert bad.status == 422, await bad.text()
        listed = await (await admin.get("/stations", params={"province": "上海"})).json()
        assert listed["total"] == 2 and {"open", "code"} <= set(listed["items"][0])
        tech = await admin.post("/technicians", json={"station_id": made[0]["id"],
                                                      "name": "张师傅", "skills": ["BUS-COACH"]})
        assert tech.status == 201, await tech.text()
        unknown = await admin.post("/technicians", json={"station_id": made[0]["id"],
                                                         "name": "李", "skills": ["杂技"]})
        assert unknown.status == 422
        station = await (await admin.get(f"/stations/{made[0]['id']}")).json()
        assert [t["name"] for t in station["technicians"]] == ["张师傅"]
        patched = await admin.patch(f"/stations/{made[0]['id']}", json={"capacity": 3})
        assert patched.status == 200 and (await patched.json())["capacity"] == 3

        # the customer names no place: nobody covers it, kept and flagged
        resp = await admin.post(f"/customers/{cid}/tickets", json={"problem": "发动机故障"})
        assert resp.status == 201, await resp.text()
        ticket = await resp.json()
        assert ticket["route_flagged"] and ticket["route_reason"]
        # a person chooses the station: a reason is needed
        no_reason = await admin.post(f"/customers/{cid}/tickets",
                                     json={"problem": "空调", "station_id": made[1]["id"]})
        assert no_reason.status == 422, await no_reason.text()
        chosen = await admin.post(f"/customers/{cid}/tickets", json={
            "problem": "空调", "station_id": made[1]["id"], "override_reason": "客户指定"})
        assert chosen.status == 201, await chosen.text()
        body = await chosen.json()
        assert body["station_id"] == made[1]["id"] and body["route_override"] == "客户指定"
        rerouted = await admin.post(f"/tickets/{ticket['id']}/route",
                                    json={"station_id": made[0]["id"], "reason": "就近"})
        assert rerouted.status == 200, await rerouted.text()
        after = await rerouted.json()
        kinds = [h["kind"] for h in after["history"]]
        assert after["station_id"] == made[0]["id"] and kinds[-2:] == ["override", "assign"]
        assert after["technician_id"] == (await tech.json())["id"]  # 张师傅, on duty there
        refused = await admin.post(f"/tickets/{ticket['id']}/refuse", json={"reason": "无配件"})
        assert refused.status == 200, await refused.text()
        kinds = [h["kind"] for h in (await refused.json())["history"]]
        assert kinds[-2:] == ["refusal", "route"]
        missing = await admin.post("/tickets/999999/refuse", json={"reason": "x"})
        assert missing.status == 404
    async with signed_in(api, "agent") as agent:  # tickets read: may read the network
        assert (await agent.get("/stations")).status == 200
        denied = await agent.post("/stations", json={"code": "Z9", "name": "z",
                                                     "province": "上海"})
        assert denied.status == 403
