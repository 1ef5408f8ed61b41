"""The call centre's reports over real HTTP on SQLite and PostgreSQL (issue 16 item 5): the
interval report, agent performance, abandon analysis, callbacks and IVR containment as
JSON with figures that equal the wallboard's ``Book`` over the same rows (live equals
historical), as CSV and XLSX (read back with openpyxl), ``reports:export`` enforced on
every download (403 without it, whatever the format), ``reports:read`` on every report, a
team lead seeing only their team's agents, bad periods refused."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import update

from crm_core import kpi
from crm_core.kpi import QueueRules
from crm_core.kpi_book import Book
from crm_core.models import AgentStateSpan, CallbackRequest, CallRecord, User
from ivr.number_plan import canonical_did
from tests.integration.test_api_support import Api, running_api, signed_in

DAY = {"from": "2026-05-04", "to": "2026-05-04"}
NINE = datetime(2026, 5, 4, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
RULES = {"*": QueueRules(sl_s=20, short_abandon_s=5)}
PATHS = ("intervals", "agents", "abandons", "callbacks", "ivr")
NORTH, SOUTH = "PJSIP/1001", "PJSIP/1003"


@pytest.fixture
async def api(db_url: str) -> AsyncIterator[Api]:
    async with running_api(db_url, queue_rules=RULES) as running:
        yield running


def at(minutes: float) -> datetime:
    return NINE + timedelta(minutes=minutes)


def call(n: int, minute: float, outcome: str, *, wait: int | None = None, talk: int | None = None,
         agent: str | None = None, did: str = "4008001234", queued: bool = True
         ) -> CallRecord:
    return CallRecord(linkedid=f"K{n}", direction="inbound", did=did,
                      queues=["support"] if queued else [],
                      queued_at=at(minute) if queued else None,
                      agent_interface=agent, outcome=outcome, wait_s=wait, talk_s=talk,
                      ended_at=at(minute))


async def arrange(api: Api) -> tuple[list[CallRecord], list[AgentStateSpan]]:
    calls = [
        call(1, 5, "answered", wait=10, talk=100, agent=NORTH),
        call(2, 20, "answered", wait=30, talk=200, agent=SOUTH, did="8008001234"),
        call(3, 40, "abandoned", wait=3),  # a short abandon
        call(4, 70, "abandoned", wait=45),  # 10:10 Shanghai
        call(5, 75, "ivr-only", queued=False),
        call(6, 80, "ivr-only", queued=False, did="8008001234"),
        call(7, 24 * 60, "answered", wait=5, talk=50, agent=NORTH),  # the next day
    ]
    spans = [
        AgentStateSpan(agent_interface=NORTH, team="north", state="ready", started_at=at(0),
                       ended_at=at(5)),
        AgentStateSpan(agent_interface=NORTH, team="north", state="wrap-up", linkedid="K1",
                       started_at=at(5), ended_at=at(5) + timedelta(seconds=20)),
        AgentStateSpan(agent_interface=NORTH, team="north", state="paused", reason="lunch",
                       started_at=at(30), ended_at=at(40)),
        AgentStateSpan(agent_interface=SOUTH, team="south", state="ready", started_at=at(0),
                       ended_at=at(20)),
    ]
    async with api.sessionmaker.begin() as db:
        await db.execute(update(User).where(User.username == "agent")
                         .values(agent_interface=NORTH))
        await db.execute(update(User).where(User.username == "south")
                         .values(agent_interface=SOUTH))
        db.add_all([*calls, *spans])
        db.add_all([
            CallbackRequest(phone="13800138000", queue="support", place_at=at(1), state="done",
                            last_result="answered", created_at=at(1)),
            CallbackRequest(phone="13800138001", queue="support", place_at=at(2),
                            state="failed", last_result="busy", created_at=at(2)),
            CallbackRequest(phone="13800138002", queue="vip", place_at=at(3), state="waiting",
                            created_at=at(3)),
        ])
    return calls, spans


async def get_json(client: Any, path: str, **params: str) -> Any:
    resp = await client.get(f"/reports/kpi/{path}", params=params)
    assert resp.status == 200, await resp.text()
    return await resp.json()


def wallboard_book(calls: list[CallRecord], spans: list[AgentStateSpan]) -> Book:
    """What the wallboard kept of that day, fed one call and one span at a time."""
    book = Book.for_day(NINE, RULES, canonical_did)
    for c in calls:
        book.add_call(kpi.call_row(c))
    for s in spans:
        book.add_span(kpi.span_row(s))
    return book


async def test_the_reports_equal_the_wallboards_day(api: Api) -> None:
    calls, spans = await arrange(api)
    book = wallboard_book(calls, spans)
    async with signed_in(api, "admin") as admin:
        report = await get_json(admin, "intervals", interval="day", by="queue", lang="en",
                                **DAY)
        assert (report["from"], report["to"], report["sl_s"]) == ("2026-05-04", "2026-05-04", 20)
        assert report["formulas"]["sl"].startswith("SL = answered within 20 s / answered")
        keyed = {r["key"]: r for r in report["items"]}
        assert set(keyed) == {"support", None}  # None: the calls the IVR finished alone
        assert (keyed[None]["inbound"], keyed[None]["ivr_only"], keyed[None]["offered"]) == (
            2, 2, 0)
        support = keyed["support"]
        assert support["interval"] == "2026-05-04T00:00:00+08:00"
        want = book.queues()["support"]
        assert {k: support[k] for k in want} == want  # figure by figure
        assert (support["offered"], support["answered"], support["abandoned"],
                support["short_abandoned"], support["sl"], support["sl2"], support["asa_s"],
                support["aht_s"]) == (4, 2, 1, 1, 50.0, 50.0, 20.0, 160.0)
        numbers = await get_json(admin, "intervals", interval="day", by="did", **DAY)
        assert {r["key"]: r["offered"] for r in numbers["items"]} == {
            k: v["offered"] for k, v in book.numbers().items()}
        hours = await get_json(admin, "intervals", interval="60m", by="all", **DAY)
        assert [(r["interval"][11:16], r["offered"]) for r in hours["items"]] == [
            ("09:00", 3), ("10:00", 1)]
        assert (await get_json(admin, "intervals", interval="15m", **DAY))["items"]

        agents = await get_json(admin, "agents", lang="zh-CN", **DAY)
        assert agents["formulas"]["aht"].startswith("平均处理时长")
        rows = {r["agent"]: r for r in agents["items"]}
        assert set(rows) == {NORTH, SOUTH}
        north = book.agents({}, at(24 * 60))[NORTH]
        assert (rows[NORTH]["answered"], rows[NORTH]["aht_s"], rows[NORTH]["occupancy"]) == (
            north["answered"], north["aht_s"], north["occupancy"])
        assert rows[NORTH]["name"] == "王小明" and rows[NORTH]["team"] == "north"
        assert rows[NORTH]["pauses"] == {"lunch": 600.0} and rows[NORTH]["aht_s"] == 120.0
        assert (rows[NORTH]["satisfaction_count"], rows[NORTH]["satisfaction_mean"]) == (0, None)

        abandons = await get_json(admin, "abandons", **DAY)
        hour = {r["hour"]: r for r in abandons["when"]}
        assert (hour[9]["abandoned"], hour[9]["short_abandoned"], hour[9]["offered"]) == (1, 1, 3)
        assert hour[10]["abandoned"] == 1 and abandons["short_abandon_s"] == 5
        waits = {r["band"]: r["abandoned"] for r in abandons["waits"]}
        assert waits["0-5 s"] == 1 and waits["30-60 s"] == 1

        callbacks = await get_json(admin, "callbacks", **DAY)
        assert callbacks["total"] == {"asked": 3, "kept": 1, "failed": 1, "cancelled": 0,
                                      "pending": 1, "kept_rate": 50.0}
        assert [(r["queue"], r["asked"]) for r in callbacks["items"]] == [("support", 2),
                                                                         ("vip", 1)]

        ivr = await get_json(admin, "ivr", **DAY)
        by_number = {r["key"]: r for r in ivr["items"]}
        assert {k: (r["inbound"], r["ivr_only"], r["ivr_self_service"])
                for k, r in by_number.items()} == {
            k: (v["inbound"], v["ivr_only"], v["ivr_self_service"])
            for k, v in book.numbers().items()}
        two_days = await get_json(admin, "intervals", interval="month", by="all",
                                  **{"from": "2026-05-04", "to": "2026-05-05"})
        assert two_days["items"][0]["answered"] == 3


async def test_files_in_both_languages(api: Api) -> None:
    await arrange(api)
    async with signed_in(api, "admin") as admin:
        for path in PATHS:
            resp = await admin.get(f"/reports/kpi/{path}",
                                   params={"format": "csv", "lang": "en", **DAY})
            assert resp.status == 200, (path, await resp.text())
            assert resp.headers["Content-Type"].startswith("text/csv")
            assert "attachment" in resp.headers["Content-Disposition"]
            table = list(csv.reader(io.StringIO((await resp.read()).decode("utf-8-sig"))))
            assert len(table) > 1, path
        resp = await admin.get("/reports/kpi/intervals",
                               params={"format": "xlsx", "interval": "day", **DAY})
        assert resp.status == 200
        book = await asyncio.to_thread(load_workbook, io.BytesIO(await resp.read()),
                                       read_only=True)
        rows = list(book.active.iter_rows(values_only=True))
        assert rows[0][:5] == ("时段", "分组", "呼入", "进线", "接听")
        support = next(r for r in rows[1:] if r[1] == "support")
        assert support[3] == 4 and support[11] == 50.0  # offered, SL %
        resp = await admin.get("/reports/kpi/agents", params={"format": "xlsx", "lang": "en",
                                                              **DAY})
        book = await asyncio.to_thread(load_workbook, io.BytesIO(await resp.read()),
                                       read_only=True)
        rows = list(book.active.iter_rows(values_only=True))
        assert rows[0][:4] == ("agent", "name", "team", "calls answered")
        assert rows[0][-2:] == ("satisfaction answers", "satisfaction mean")
        assert {r[0] for r in rows[1:]} == {NORTH, SOUTH}
        count = rows[0].index("satisfaction answers")
        assert {r[count] for r in rows[1:]} == {0}  # nobody scored yet


async def test_every_download_needs_the_export_grant(api: Api) -> None:
    await arrange(api)
    async with signed_in(api, "manager") as manager:  # reports:read team, no export
        for path in PATHS:
            assert (await manager.get(f"/reports/kpi/{path}", params=DAY)).status == 200, path
            for fmt in ("csv", "xlsx"):
                resp = await manager.get(f"/reports/kpi/{path}",
                                         params={"format": fmt, **DAY})
                assert resp.status == 403, (path, fmt)
                assert "attachment" not in resp.headers.get("Content-Disposition", "")
        # a team lead sees their team's agents only; queues and numbers are the hotline's
        agents = await get_json(manager, "agents", **DAY)
        assert [r["agent"] for r in agents["items"]] == [NORTH]
        report = await get_json(manager, "intervals", interval="day", **DAY)
        assert sum(r["offered"] for r in report["items"]) == 4
    async with signed_in(api, "agent") as agent:  # no reports at all
        for path in PATHS:
            assert (await agent.get(f"/reports/kpi/{path}", params=DAY)).status == 403, path
    async with signed_in(api, "admin") as admin:
        for params, path in (({"interval": "week"}, "intervals"), ({"by": "agent"}, "intervals"),
                             ({"from": "2026-05-04", "to": "2026-05-03"}, "agents"),
                             ({"from": "2025-01-01", "to": "2026-05-03"}, "abandons"),
                             ({"format": "pdf"}, "callbacks"),
                             ({"from": "0001-01-01"}, "ivr"), ({"to": "9999-12-31"}, "agents")):
            resp = await admin.get(f"/reports/kpi/{path}", params=params)
            assert resp.status == 422, (params, await resp.text())
    client = api.client()
    try:
        assert (await client.get("/reports/kpi/intervals")).status == 401
    finally:
        await client.close()
