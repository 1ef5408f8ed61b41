"""The call log report over real HTTP on SQLite and PostgreSQL (issue 16 item 5): every
filter, keyset paging in both orders with the filter's total, the CSV/XLSX file of the
same filter (read back), ``reports:export`` enforced on every download, ``reports:read``
on the list, and the data scope (a team lead sees the calls of the team's agents and
customers only, in the list and in the file)."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import select, update

from crm_core import call_log_report
from crm_core.models import CallRecord, Customer, Interaction, Role, User
from tests.integration.test_api_support import (
    MANAGER_GRANTS,
    Api,
    role_with_grants,
    running_api,
    signed_in,
)

DAY = {"from": "2026-05-04", "to": "2026-05-04"}
NINE = datetime(2026, 5, 4, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
NORTH, NORTH2, SOUTH = "PJSIP/1001", "PJSIP/1002", "PJSIP/1003"
HOSTILE = "<img src=x onerror=alert(1)>=cmd|' /C calc'!A0"


@pytest.fixture
async def api(db_url: str) -> AsyncIterator[Api]:
    async with running_api(db_url) as running:
        yield running


def at(minutes: float) -> datetime:
    return NINE + timedelta(minutes=minutes)


async def arrange(api: Api) -> dict[str, int]:
    """Ten calls of the day and one of the next; customers of the north team (agent's),
    of the south team, and none."""
    async with api.sessionmaker.begin() as db:
        await db.execute(update(User).where(User.username == "agent")
                         .values(agent_interface=NORTH))
        await db.execute(update(User).where(User.username == "agent2")
                         .values(agent_interface=NORTH2))
        await db.execute(update(User).where(User.username == "south")
                         .values(agent_interface=SOUTH))
        north = Customer(name="北方公司", name_key="北方", owner_id=api.users.agent)
        south = Customer(name=HOSTILE, name_key="hostile", owner_id=api.users.other_team)
        db.add_all([north, south])
        await db.flush()

        def call(n: int, minute: float, outcome: str, **kw: Any) -> CallRecord:
            kw.setdefault("direction", "inbound")
            kw.setdefault("queues", ["support"] if outcome != "ivr-only" else [])
            return CallRecord(linkedid=f"L{n}", outcome=outcome, ended_at=at(minute),
                              started_at=at(minute) - timedelta(minutes=2), **kw)

        db.add_all([
            call(1, 1, "answered", did="4008001234", caller="13800000001", wait_s=5,
                 talk_s=100, agent_interface=NORTH, agent="1001", customer_id=north.id),
            call(2, 2, "answered", did="8008001234", caller="13800000002", wait_s=25,
                 talk_s=300, agent_interface=SOUTH, customer_id=south.id,
                 caller_name=HOSTILE),
            call(3, 3, "abandoned", did="4008001234", caller="13800000003", wait_s=40),
            call(4, 3, "abandoned", did="+864008001234", caller="13800000004", wait_s=2,
                 queues=["vip"]),  # same end time as L3: the keyset's tie on id
            call(5, 4, "ivr-only", did="4008001234", caller="13900000005"),
            call(6, 5, "transferred", did="4008001234", caller="13800000006", wait_s=12,
                 talk_s=50, agent_interface=NORTH2),
            call(7, 6, "answered", direction="outbound", queues=[], caller="13800000001",
                 talk_s=60, agent_interface="PJSIP/9999", customer_id=north.id),
            call(8, 7, "answered", direction="outbound", queues=[], caller="13700000008",
                 talk_s=30, ivr={"HOTLINE_ORIGINATED_BY": "agent2"}),
            call(9, 8, "no-answer", did="4008001234", caller="13800000009", wait_s=300),
            call(10, 9, "answered", did="4008001234", caller="13800000010", wait_s=8,
                 talk_s=20, agent_interface=SOUTH),
            call(11, 24 * 60 + 1, "answered", did="4008001234", caller="13800000011",
                 wait_s=1, talk_s=10, agent_interface=NORTH),  # the next day
        ])
        db.add_all([
            Interaction(customer_id=north.id, kind="call", occurred_at=at(1),
                        disposition="inquiry", call_linkedid="L1", author_id=api.users.agent),
            Interaction(customer_id=north.id, kind="call", occurred_at=at(1),
                        disposition="repair", call_linkedid="L1", author_id=api.users.agent),
            Interaction(customer_id=south.id, kind="call", occurred_at=at(2),
                        disposition="complaint", call_linkedid="L2",
                        author_id=api.users.other_team),
        ])
    return {"north": north.id, "south": south.id}


async def ids(client: Any, **params: Any) -> list[str]:
    resp = await client.get("/reports/calls", params={**DAY, "limit": "200",
                                                      **{k: str(v) for k, v in params.items()}})
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert body["total"] == len(body["items"])
    return sorted((r["linkedid"] for r in body["items"]), key=lambda s: int(s[1:]))


async def test_every_filter(api: Api) -> None:
    customers = await arrange(api)
    async with signed_in(api, "admin") as admin:
        every = [f"L{n}" for n in range(1, 11)]
        assert await ids(admin) == every  # L11 ended the next day
        assert await ids(admin, **{"to": "2026-05-05"}) == [*every, "L11"]
        assert await ids(admin, direction="outbound") == ["L7", "L8"]
        assert await ids(admin, direction="inbound") == [
            "L1", "L2", "L3", "L4", "L5", "L6", "L9", "L10"]
        assert await ids(admin, queue="vip") == ["L4"]
        # the number dialled in any written form, as the number plan reads it
        assert await ids(admin, did="+86 400-800-1234") == [
            "L1", "L3", "L4", "L5", "L6", "L9", "L10"]
        assert await ids(admin, did="8008001234") == ["L2"]
        assert await ids(admin, did="95555") == []
        assert await ids(admin, agent=NORTH) == ["L1"]
        assert await ids(admin, agent="1001") == ["L1"]  # the agent's name on the call
        assert await ids(admin, customer_id=customers["north"]) == ["L1", "L7"]
        assert await ids(admin, caller="1380000000") == [
            "L1", "L2", "L3", "L4", "L6", "L7", "L9"]
        assert await ids(admin, caller="%") == []  # a wildcard is a character here
        assert await ids(admin, outcome="transferred") == ["L6"]
        assert await ids(admin, result="answered") == ["L1", "L2", "L6", "L7", "L8", "L10"]
        assert await ids(admin, result="abandoned") == ["L3", "L4"]
        assert await ids(admin, result="other") == ["L5", "L9"]
        assert await ids(admin, disposition="repair") == ["L1"]
        assert await ids(admin, disposition="complaint") == ["L2"]
        assert await ids(admin, min_wait=12, max_wait=40) == ["L2", "L3", "L6"]
        assert await ids(admin, min_talk=60) == ["L1", "L2", "L7"]
        assert await ids(admin, max_talk=0) == ["L3", "L4", "L5", "L9"]
        assert await ids(admin, result="answered", direction="inbound", min_wait=10) == [
            "L2", "L6"]
        resp = await admin.get("/reports/calls", params={**DAY, "limit": "200",
                                                         "agent": NORTH})
        row = (await resp.json())["items"][0]
        assert (row["agent_name"], row["customer_name"], row["disposition"], row["queue"],
                row["wait_s"], row["talk_s"], row["did"]) == (
            "王小明", "北方公司", "repair", "support", 5, 100, "4008001234")
        hostile = await admin.get("/reports/calls", params={**DAY, "caller": "13800000002"})
        row = (await hostile.json())["items"][0]
        assert row["caller_name"] == HOSTILE and row["customer_name"] == HOSTILE  # as stored
        for bad in ({"result": "maybe"}, {"direction": "sideways"}, {"min_wait": "-1"},
                    {"limit": "0"}, {"limit": "201"}, {"after": "nonsense"},
                    {"from": "2026-05-04", "to": "2026-05-03"}, {"customer_id": "0"},
                    {"caller": "138\x00"}, {"after": "20260504T010102999999~1\x00"}):
            resp = await admin.get("/reports/calls", params={**DAY, **bad})
            assert resp.status == 422, (bad, await resp.text())


async def walk(client: Any, order: str, limit: int, **params: str) -> tuple[list[str], set[int]]:
    seen: list[str] = []
    totals: set[int] = set()
    after: str | None = None
    while True:
        query = {**DAY, "order": order, "limit": str(limit), **params}
        if after:
            query["after"] = after
        resp = await client.get("/reports/calls", params=query)
        assert resp.status == 200, await resp.text()
        body = await resp.json()
        totals.add(body["total"])
        assert len(body["items"]) <= limit
        seen += [r["linkedid"] for r in body["items"]]
        after = body["next"]
        if after is None:
            return seen, totals


async def test_paging_by_time_both_ways(api: Api) -> None:
    await arrange(api)
    async with signed_in(api, "admin") as admin:
        newest, totals = await walk(admin, "desc", 3)
        assert totals == {10}
        assert newest == ["L10", "L9", "L8", "L7", "L6", "L5", "L4", "L3", "L2", "L1"]
        oldest, totals = await walk(admin, "asc", 4)
        assert totals == {10} and oldest == newest[::-1]
        # L3 and L4 end at the same second: a page boundary between them loses neither
        for limit in (1, 2, 5, 6, 7):
            assert (await walk(admin, "desc", limit))[0] == newest, limit
        page, totals = await walk(admin, "desc", 2, result="answered")
        assert page == ["L10", "L8", "L7", "L6", "L2", "L1"] and totals == {6}
        resp = await admin.get("/reports/calls", params={**DAY, "limit": "10"})
        assert (await resp.json())["next"] is None


async def read_file(client: Any, fmt: str, **params: str) -> list[tuple[Any, ...]]:
    resp = await client.get("/reports/calls", params={**DAY, "format": fmt, **params})
    assert resp.status == 200, await resp.text()
    assert "attachment" in resp.headers["Content-Disposition"]
    assert "calls-" in resp.headers["Content-Disposition"]
    data = await resp.read()
    if fmt == "csv":
        return [tuple(r) for r in csv.reader(io.StringIO(data.decode("utf-8-sig")))]
    book = await asyncio.to_thread(load_workbook, io.BytesIO(data), read_only=True)
    return [tuple(r) for r in book.active.iter_rows(values_only=True)]


async def test_the_file_holds_the_same_filter(api: Api) -> None:
    await arrange(api)
    async with signed_in(api, "admin") as admin:
        rows = await read_file(admin, "csv", lang="en", result="answered", order="asc")
        head = rows[0]
        assert head[:4] == ("ended", "started", "direction", "caller")
        linked = head.index("call id")
        assert [r[linked] for r in rows[1:]] == ["L1", "L2", "L6", "L7", "L8", "L10"]
        first = dict(zip(head, rows[1], strict=True))
        # times in China time, as the other files
        assert (first["ended"], first["agent name"], first["disposition"],
                first["customer"]) == ("2026-05-04 09:01:00", "王小明", "repair", "北方公司")
        second = dict(zip(head, rows[2], strict=True))
        assert second["caller name"] == HOSTILE  # not a formula: starts with '<'
        xlsx = await read_file(admin, "xlsx", disposition="complaint")
        assert xlsx[0][:4] == ("结束时间", "开始时间", "方向", "客户号码")
        assert len(xlsx) == 2 and xlsx[1][xlsx[0].index("通话编号")] == "L2"
        assert xlsx[1][xlsx[0].index("结束时间")] == datetime(2026, 5, 4, 9, 2)
        everything = await read_file(admin, "csv")
        assert len(everything) == 11


async def test_export_grant_and_data_scope(api: Api) -> None:
    customers = await arrange(api)
    # manager: reports:read team (north), no export
    async with signed_in(api, "manager") as manager:
        # north's agents answered L1, L6; agent2 placed L8; north's customer: L1, L7
        assert await ids(manager) == ["L1", "L6", "L7", "L8"]
        assert await ids(manager, customer_id=customers["south"]) == []
        for fmt in ("csv", "xlsx"):
            resp = await manager.get("/reports/calls", params={**DAY, "format": fmt})
            assert resp.status == 403, fmt
            assert "attachment" not in resp.headers.get("Content-Disposition", "")
    async with api.sessionmaker.begin() as db:
        await role_with_grants(db, "manager", {**MANAGER_GRANTS, ("reports", "export"): "team"})
    async with signed_in(api, "manager") as manager:
        rows = await read_file(manager, "csv", lang="en")
        linked = rows[0].index("call id")
        assert sorted(r[linked] for r in rows[1:]) == ["L1", "L6", "L7", "L8"]
    async with api.sessionmaker.begin() as db:  # own scope: the agent's own calls only
        await role_with_grants(db, "manager", {**MANAGER_GRANTS, ("reports", "read"): "own",
                                               ("reports", "export"): "own"})
        role = await db.scalar(select(Role.id).where(Role.name == "manager"))
        await db.execute(update(User).where(User.username == "agent2").values(role_id=role))
    async with signed_in(api, "agent2") as agent2:
        assert await ids(agent2) == ["L6", "L8"]  # answered L6, placed L8
        rows = await read_file(agent2, "xlsx", lang="en")
        assert sorted(r[rows[0].index("call id")] for r in rows[1:]) == ["L6", "L8"]
    async with signed_in(api, "agent") as agent:  # no reports at all
        assert (await agent.get("/reports/calls", params=DAY)).status == 403
        assert (await agent.get("/reports/calls", params={**DAY, "format": "csv"})).status == 403
    client = api.client()
    try:
        assert (await client.get("/reports/calls")).status == 401
    finally:
        await client.close()


async def test_a_file_too_large_is_refused(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    await arrange(api)
    monkeypatch.setattr(call_log_report, "EXPORT_MAX", 5)
    async with signed_in(api, "admin") as admin:
        resp = await admin.get("/reports/calls", params={**DAY, "format": "csv"})
        assert resp.status == 422
        assert (await resp.json())["error"] == "too-many-rows"
        assert len(await read_file(admin, "csv", result="answered", direction="outbound")) == 3
