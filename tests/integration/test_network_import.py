"""The service network imported from CSV/XLSX through the customers' import framework
and its background jobs (SQLite and PostgreSQL): rows judged alone, unknown stations,
skills and product lines reported with their row numbers, progress and result."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agent_console.api.auth_store import SqlAuthStore
from agent_console.api.import_runner import ImportRunner
from crm_core import assets, importer
from crm_core.db import make_engine, upgrade_async
from crm_core.import_rights import may_import
from crm_core.models import AuditEntry, ServiceStation, Technician
from crm_core.permissions import SYSTEM, Actor
from tests.integration.test_import_runner import until_finished

STATIONS = [
    ["服务站编号", "服务站名称", "省份", "城市", "产品线", "覆盖范围", "接单容量", "工作时间"],
    ["ZZ01", "郑州客车服务站", "河南省", "郑州市", "旅游客车", "河南", 30, "08:00-20:00 每天"],
    ["LY01", "洛阳客车服务站", "河南", "洛阳", "BUS-COACH、挖掘机", "", 20, ""],
    ["ZZ01", "重复的站", "河南", "郑州", "旅游客车", "", 20, ""],
    ["", "无编号", "河南", "郑州", "", "", "", ""],
]
TECHNICIANS = [
    ["服务站编号", "姓名", "技能", "手机"],
    ["ZZ01", "张师傅", "旅游客车,电气", "13800138000"],
    ["NOPE", "李师傅", "电气", ""],
    ["ZZ01", "王师傅", "杂技", ""],
]


@pytest.fixture
async def maker(db_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    await upgrade_async(db_url)
    engine = make_engine(db_url)
    sm = async_sessionmaker(engine, expire_on_commit=False)
    async with sm.begin() as s:
        await assets.create_product_line(s, SYSTEM, code="BUS-COACH", name="旅游客车",
                                         name_en="Touring coaches")
    yield sm
    await engine.dispose()


def workbook(path: Path) -> Path:
    wb = Workbook()
    sheet = wb.active
    assert sheet is not None
    sheet.title = "服务站"
    for row in STATIONS:
        sheet.append(row)
    techs = wb.create_sheet("技术员")
    for row in TECHNICIANS:
        techs.append(row)
    wb.save(path)
    return path


async def count(sm: async_sessionmaker[AsyncSession], model: Any) -> int:
    async with sm() as s:
        return int(await s.scalar(select(func.count()).select_from(model)) or 0)


@pytest.mark.parametrize("db_url", ["sqlite", "postgres"], indirect=True)
async def test_workbook_of_stations_and_technicians(
    maker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    path = workbook(tmp_path / "网络.xlsx")
    dry = await importer.import_file(maker, path, kind="stations", dry_run=True)
    assert dry.created == {"stations": 1, "technicians": 1} and dry.dry_run
    assert await count(maker, ServiceStation) == 0
    done: list[tuple[int, int]] = []
    result = await importer.import_file(maker, path, kind="stations",
                                        progress=lambda d, t: done.append((d, t)))
    assert result.created == {"stations": 1, "technicians": 1}
    assert done[-1] == (7, 7)
    found = {(i.sheet, i.row, i.code) for i in result.issues}
    assert found == {
        ("服务站", 3, "product_unknown"),  # 挖掘机
        ("服务站", 4, "duplicate_station_code_in_file"),
        ("服务站", 5, "station_code_missing"),
        ("技术员", 3, "station_code_unknown"),  # NOPE
        ("技术员", 4, "skill_unknown"),  # 杂技
    }
    assert result.errors == 4 and result.duplicates == 1
    async with maker() as s:
        station = await s.scalar(select(ServiceStation).where(ServiceStation.code == "ZZ01"))
        assert station is not None and station.province == "河南" and station.capacity == 30
        assert station.covers == [{"province": "河南"}] and station.hours["sun"]
        tech = await s.scalar(select(Technician))
        assert tech is not None and tech.station_id == station.id
        assert tech.skills == ["BUS-COACH", "electrical"]
        audits = await s.scalar(select(func.count()).select_from(AuditEntry)
                                .where(AuditEntry.action == "import"))
        assert audits == 2
    again = await importer.import_file(maker, path, kind="stations")
    assert again.created == {"stations": 0, "technicians": 0}
    assert ("服务站", 2, "duplicate_station_code") in {(i.sheet, i.row, i.code)
                                                     for i in again.issues}


@pytest.mark.parametrize("db_url", ["sqlite", "postgres"], indirect=True)
async def test_a_csv_of_technicians_as_a_background_job(
    maker: async_sessionmaker[AsyncSession], tmp_path: Path, db_url: str
) -> None:
    first = await importer.import_file(maker, workbook(tmp_path / "n.xlsx"), kind="stations")
    assert first.created["stations"] == 1
    folder = tmp_path / "upload"
    folder.mkdir()
    csv = folder / "技术员.csv"
    csv.write_text("服务站编号,姓名,技能\nZZ01,赵师傅,电气\nXX99,钱师傅,电气\n", encoding="gbk")
    engine = make_engine(db_url)
    store = SqlAuthStore(engine)
    runner = ImportRunner(store_of=lambda: store, clock=time.time)
    try:
        record = await runner.start(actor=SYSTEM, sessionmaker=maker, path=csv, dry_run=False,
                                    default_owner=None, region="CN", kind="technicians")
        finished = await until_finished(runner, record["id"])
    finally:
        await store.close()
        await engine.dispose()
    assert finished["state"] == "done", finished
    assert finished["result"]["created"] == {"stations": 0, "technicians": 1}
    issues = finished["issues"]
    assert [(i["row"], i["code"], i["value"]) for i in issues] == [
        (3, "station_code_unknown", "XX99")]
    assert not csv.exists()  # the job's folder is removed


def test_network_import_needs_its_own_grant() -> None:
    stations_admin = Actor(user_id=5, grants={("stations", "create"): "all"})
    assert may_import(stations_admin, "stations") and not may_import(stations_admin)
    customers_admin = Actor(user_id=6, grants={("customers", "create"): "all",
                                               ("customers", "reassign"): "all"})
    assert may_import(customers_admin) and not may_import(customers_admin, "technicians")
