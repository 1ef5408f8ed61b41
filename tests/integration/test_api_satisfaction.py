"""Satisfaction figures over real HTTP on SQLite and PostgreSQL (issue 17 item 4): the
report per agent (JSON, CSV, XLSX; files need reports:export), the agent's own figures
without any grant, the station's with its technicians', bad queries refused."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from openpyxl import load_workbook

from crm_core.models import (
    Customer,
    SatisfactionScore,
    ServiceStation,
    Technician,
    utcnow,
)
from crm_core.service_figures import shanghai_month
from tests.integration.test_api_support import Api, running_api, signed_in


@pytest.fixture
async def api(db_url: str) -> AsyncIterator[Api]:
    async with running_api(db_url) as running:
        yield running


async def seed(api: Api) -> dict[str, Any]:
    now = utcnow() - timedelta(minutes=1)
    async with api.sessionmaker.begin() as db:
        station = ServiceStation(code="SH01", name="上海站", name_en="Shanghai")
        customer = Customer(name="<b>甲</b>公司", name_key="甲", owner_id=api.users.agent)
        db.add_all([station, customer])
        await db.flush()
        tech = Technician(station_id=station.id, name="赵师傅")
        db.add(tech)
        await db.flush()
        for score, agent in ((5, api.users.agent), (4, api.users.agent),
                             (1, api.users.agent2)):
            db.add(SatisfactionScore(customer_id=customer.id, station_id=station.id,
                                     technician_id=tech.id, agent_id=agent, score=score,
                                     comment="<img src=x>" if score == 1 else None,
                                     scored_at=now))
    month = shanghai_month(now)
    return {"station": station.id, "tech": tech.id, "month": month}


async def test_report_files_and_grants(api: Api) -> None:
    ids = await seed(api)
    async with signed_in(api, "admin") as admin:
        resp = await admin.get("/reports/satisfaction", params={"by": "agent", "lang": "en"})
        assert resp.status == 200, await resp.text()
        report = await resp.json()
        assert [(r["label"], r["count"], r["mean"], r["satisfied_pct"])
                for r in report["items"]] == [("王小明", 2, 4.5, 100.0), ("李娜", 1, 1.0, 0.0)]
        assert report["total"]["distribution"] == [1, 0, 0, 1, 1]
        resp = await admin.get("/reports/satisfaction", params={"by": "month"})
        assert [r["key"] for r in (await resp.json())["items"]] == [ids["month"]]
        resp = await admin.get("/reports/satisfaction",
                               params={"by": "technician", "format": "xlsx", "lang": "en"})
        assert resp.status == 200
        assert "satisfaction-by-technician" in resp.headers["Content-Disposition"]
        book = await asyncio.to_thread(load_workbook, io.BytesIO(await resp.read()),
                                       read_only=True)
        rows = list(book.active.iter_rows(values_only=True))
        assert rows[0][:4] == ("group", "answers", "mean score", "satisfied (4-5, %)")
        assert rows[1][:3] == ("赵师傅 (SH01)", 3, 3.3) and rows[-1][0] == "total"
        resp = await admin.get("/reports/satisfaction",
                               params={"by": "station", "format": "csv", "lang": "zh-CN"})
        table = list(csv.reader(io.StringIO((await resp.read()).decode("utf-8-sig"))))
        assert table[0][:3] == ["分组", "评分数", "平均分"] and table[1][1] == "3"
        for bad in ({"by": "weather"}, {"from": "2026-12-31", "to": "2026-12-01"}):
            resp = await admin.get("/reports/satisfaction", params=bad)
            assert resp.status == 422, bad
    async with signed_in(api, "manager") as manager:  # reports:read (team), no export
        resp = await manager.get("/reports/satisfaction", params={"by": "agent"})
        assert resp.status == 200
        resp = await manager.get("/reports/satisfaction", params={"format": "csv"})
        assert resp.status == 403
    async with signed_in(api, "agent") as agent:  # no reports grant at all
        resp = await agent.get("/reports/satisfaction")
        assert resp.status == 403


async def test_own_and_station_figures(api: Api) -> None:
    ids = await seed(api)
    async with signed_in(api, "agent") as agent:
        resp = await agent.get("/agent/scores")
        assert resp.status == 200, await resp.text()
        mine = await resp.json()
        assert (mine["count"], mine["mean"], mine["distribution"]) == (2, 4.5, [0, 0, 0, 1, 1])
        assert len(mine["recent"]) == 2
        resp = await agent.get("/station/scores")  # no station of her own
        assert resp.status == 422
        resp = await agent.get("/station/scores", params={"station_id": str(ids["station"])})
        assert resp.status == 404  # another station needs reports:read
    async with signed_in(api, "agent2") as agent2:
        mine = await (await agent2.get("/agent/scores")).json()
        assert mine["count"] == 1 and mine["recent"][0]["comment"] == "<img src=x>"
    async with signed_in(api, "admin") as admin:
        resp = await admin.get("/station/scores", params={"station_id": str(ids["station"])})
        assert resp.status == 200, await resp.text()
        here = await resp.json()
        assert here["station"]["code"] == "SH01" and here["station"]["count"] == 3
        assert [(t["name"], t["count"], t["mean"]) for t in here["technicians"]] == [
            ("赵师傅", 3, 3.3)]
