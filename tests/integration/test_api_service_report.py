"""The service report and the station overview over real HTTP on SQLite and PostgreSQL
(issue 15 items 7 and 6): JSON, CSV and XLSX (checked with openpyxl), the export grant
for files, the read grant, bad queries refused with the field named."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator
from typing import Any

import pytest
from openpyxl import load_workbook

from tests.integration.test_api_support import Api, running_api, signed_in
from tests.integration.test_service_report import known_set

DECEMBER = {"from": "2026-12-01", "to": "2026-12-31"}


@pytest.fixture
async def api(db_url: str) -> AsyncIterator[Api]:
    async with running_api(db_url) as running:
        yield running


async def get_json(client: Any, path: str, **params: str) -> Any:
    resp = await client.get(path, params=params)
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def test_json_and_files(api: Api) -> None:
    ids = await known_set(api.sessionmaker)
    async with signed_in(api, "admin") as admin:
        report = await get_json(admin, "/reports/service", by="station", lang="en", **DECEMBER)
        assert (report["from"], report["to"], report["by"]) == ("2026-12-01", "2026-12-31",
                                                                "station")
        zz = next(r for r in report["items"] if r["key"] == ids["zz"])
        assert (zz["tickets"], zz["sla_pct"], zz["mean_resolve_min"], zz["ftf_pct"]) == (
            2, 60.0, 495.0, 50.0)
        assert report["total"]["tickets"] == 6
        months = await get_json(admin, "/reports/service", by="month", **DECEMBER)
        assert [r["key"] for r in months["items"]] == ["2026-12"]
        faults = await get_json(admin, "/reports/service/faults", limit="5", **DECEMBER)
        assert [f["fault"] for f in faults["items"]] == ["油路堵塞", "电路故障"]
        repeats = await get_json(admin, "/reports/service/repeats", **DECEMBER)
        assert [r["serial_number"] for r in repeats["items"]] == ["B1-BUS", "A1-BUS"]

        resp = await admin.get("/reports/service", params={"by": "station", "format": "xlsx",
                                                           "lang": "en", **DECEMBER})
        assert resp.status == 200
        assert "service-by-station" in resp.headers["Content-Disposition"]
        body = await resp.read()
        book = await asyncio.to_thread(load_workbook, io.BytesIO(body), read_only=True)
        rows = list(book.active.iter_rows(values_only=True))
        assert rows[0][:3] == ("group", "tickets", "resolved")
        assert rows[0][6] == "SLA attainment (%)"
        assert [r[0] for r in rows[1:]] == ["SH-001 Shanghai station",
                                           "ZZ-001 Zhengzhou station", "(not routed)", "total"]
        assert rows[2][1] == 2 and rows[2][6] == 60.0 and rows[4][1] == 6

        resp = await admin.get("/reports/service/faults", params={"format": "csv",
                                                                  "lang": "zh-CN", **DECEMBER})
        assert resp.status == 200
        table = list(csv.reader(io.StringIO((await resp.read()).decode("utf-8-sig"))))
        assert table[0][:2] == ["故障", "次数"] and table[1][:2] == ["油路堵塞", "2"]
        resp = await admin.get("/reports/service/repeats", params={"format": "xlsx",
                                                                   **DECEMBER})
        assert resp.status == 200


async def test_grants_and_bad_queries(api: Api) -> None:
    await known_set(api.sessionmaker)
    async with signed_in(api, "manager") as manager:  # reports:read team, no export
        report = await get_json(manager, "/reports/service", by="region", **DECEMBER)
        assert report["total"]["tickets"] == 0  # none of his team's customers
        for path in ("/reports/service", "/reports/service/faults", "/reports/service/repeats"):
            resp = await manager.get(path, params={"format": "xlsx", **DECEMBER})
            assert resp.status == 403, path
        assert (await manager.get("/reports/stations")).status == 200
    async with signed_in(api, "agent") as agent:  # no reports at all
        for path in ("/reports/service", "/reports/stations"):
            assert (await agent.get(path)).status == 403
    async with signed_in(api, "admin") as admin:
        for params, field in (({"by": "weekday"}, "by"), ({"from": "2026-13-01"}, "from"),
                              ({"from": "2026-12-02", "to": "2026-12-01"}, "to"),
                              ({"limit": "0"}, "limit")):
            path = "/reports/service/faults" if "limit" in params else "/reports/service"
            resp = await admin.get(path, params=params)
            assert resp.status == 422, (params, await resp.text())
            assert field in await resp.text()
        assert (await admin.get("/reports/stations/999999")).status == 404


async def test_the_station_overview(api: Api) -> None:
    ids = await known_set(api.sessionmaker)
    async with signed_in(api, "admin") as admin:
        listed = await get_json(admin, "/reports/stations", lang="en")
        assert [r["code"] for r in listed["items"]] == ["SH-001", "ZZ-001"]
        assert listed["items"][0]["breached_now"] == 1
        assert listed["items"][0]["open_tickets"] == 3
        east = await get_json(admin, "/reports/stations", region="华东")
        assert [r["code"] for r in east["items"]] == ["SH-001"]
        detail = await get_json(admin, f"/reports/stations/{ids['zz']}")
        assert [t["name"] for t in detail["technicians"]] == ["李师傅", "王师傅", "离职"]
        assert detail["tickets"]["total"] == 0
        sh = await get_json(admin, f"/reports/stations/{ids['sh']}")
        assert sh["tickets"]["items"][0]["number"] == "T-3"
