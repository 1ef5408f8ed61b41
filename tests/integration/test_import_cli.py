"""``hotline import orders`` and ``hotline import stage-updates`` as an operator runs
them (issue 18), on SQLite and PostgreSQL: the same imports as the back office's import
page, with the summary, the exit code and the error report file of the other kinds."""

from __future__ import annotations

import asyncio
import csv
import os
import sys
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from crm_core import orders
from crm_core.db import make_engine, upgrade_async
from crm_core.models import Customer, OrderLine, SalesOrder, Supplier, SupplierBatch
from crm_core.permissions import SYSTEM

ORDERS_CSV = (
    "订单号,客户名称,交货日期,书名,ISBN,数量,单价,出版社\n"
    "SO-7001,南京大学图书馆,2026-09-01,Algebra,9780000000101,30,88.00,Springer Nature\n"
    "SO-7001,,,Topology,9780000000102,10,95.00,OUP\n"
    "SO-7002,不存在的学院,2026-09-01,Calculus,9780000000103,1,10,OUP\n")

STAGES_CSV = "批次号,阶段,日期\nOUP-CLI,已发运,2026-07-05\nNO-SUCH,清关,2026-07-20\n"


async def hotline(tmp_path: Path, db_url: str, *args: str) -> tuple[int, str, str]:
    env = dict(os.environ)
    env.pop("HOTLINE_CONFIG", None)
    env["HOTLINE_DATABASE_URL"] = db_url
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hotline.cli", "import", *args, cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def report_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


async def test_orders_then_stage_updates_from_the_command_line(
        db_url: str, tmp_path: Path) -> None:
    await upgrade_async(db_url)
    engine = make_engine(db_url)
    sm = async_sessionmaker(engine, expire_on_commit=False)
    try:
        async with sm.begin() as db:
            db.add_all([Customer(name="南京大学图书馆"),
                        Supplier(code="OUP", name="Oxford University Press")])
        (tmp_path / "orders.csv").write_bytes(ORDERS_CSV.encode("gb18030"))

        code, out, err = await hotline(tmp_path, db_url, "orders", "orders.csv",
                                       "--report", "orders-report.csv")
        assert code == 1, err  # a row rejected
        assert "import done" in out and "rows with errors" in out
        assert "rows with notices (imported)" in out
        rows = report_rows(tmp_path / "orders-report.csv")
        assert [(r["row"], r["kind"]) for r in rows] == [("2", "notice"), ("4", "error")]
        assert "created with code SPRINGER-NATURE" in rows[0]["message"]
        assert "不存在的学院" in rows[1]["message"]
        async with sm() as db:
            order = await db.scalar(select(SalesOrder).where(SalesOrder.number == "SO-7001"))
            assert order is not None
            titles = (await db.scalars(select(OrderLine.title).where(
                OrderLine.order_id == order.id).order_by(OrderLine.id))).all()
            assert list(titles) == ["Algebra", "Topology"]

        async with sm.begin() as db:
            oup = await orders.supplier_by_code(db, "OUP")
            assert oup is not None
            await orders.group_lines(db, SYSTEM, oup.id, code="OUP-CLI", on="2026-07-01")
        (tmp_path / "stages.csv").write_bytes(STAGES_CSV.encode("gb18030"))
        code, out, err = await hotline(tmp_path, db_url, "stage-updates", "stages.csv",
                                       "--dry-run")
        assert code == 1, err
        assert "dry run: nothing written" in out and "NO-SUCH" in out
        async with sm() as db:
            stage = await db.scalar(select(SupplierBatch.stage).where(
                SupplierBatch.code == "OUP-CLI"))
            assert stage == "ordered"
        code, out, err = await hotline(tmp_path, db_url, "stage-updates", "stages.csv",
                                       "--report", "stages-report.csv")
        assert code == 1, err
        assert [(r["row"], r["kind"]) for r in report_rows(tmp_path / "stages-report.csv")] \
            == [("3", "error")]
        async with sm() as db:
            stage = await db.scalar(select(SupplierBatch.stage).where(
                SupplierBatch.code == "OUP-CLI"))
            assert stage == "shipped"

        # options of the customer imports are refused, not silently ignored
        code, _, err = await hotline(tmp_path, db_url, "orders", "orders.csv",
                                     "--sheet", "Sheet1")
        assert code == 2 and "--sheet" in err
        code, _, err = await hotline(tmp_path, db_url, "stage-updates", "missing.csv")
        assert code == 2 and "no such file" in err
    finally:
        await engine.dispose()


STATIONS_CSV = ("服务站编号,服务站名称,省份,城市,产品线,覆盖范围,接单容量\n"
                "ZZ01,郑州客车服务站,河南省,郑州市,旅游客车,河南,30\n"
                "LY01,洛阳客车服务站,河南,洛阳,挖掘机,,20\n")
TECHNICIANS_CSV = "服务站编号,姓名,技能,手机\nZZ01,张师傅,旅游客车,13800138000\nNOPE,李师傅,电气,\n"


async def test_the_service_network_from_the_command_line(db_url: str, tmp_path: Path) -> None:
    from crm_core import assets
    from crm_core.models import ServiceStation, Technician

    await upgrade_async(db_url)
    engine = make_engine(db_url)
    sm = async_sessionmaker(engine, expire_on_commit=False)
    try:
        async with sm.begin() as db:
            await assets.create_product_line(db, SYSTEM, code="BUS-COACH", name="旅游客车",
                                             name_en="Touring coaches")
        (tmp_path / "stations.csv").write_bytes(STATIONS_CSV.encode("gbk"))
        (tmp_path / "techs.csv").write_bytes(TECHNICIANS_CSV.encode("gbk"))

        code, out, err = await hotline(tmp_path, db_url, "stations", "stations.csv",
                                       "--report", "stations-report.csv")
        assert code == 1, err  # 挖掘机 is no product line
        assert "import done" in out
        rows = report_rows(tmp_path / "stations-report.csv")
        assert [(r["row"], r["kind"]) for r in rows] == [("3", "error")]
        assert "挖掘机" in rows[0]["message"] or "挖掘机" in rows[0].get("value", "")

        code, out, err = await hotline(tmp_path, db_url, "technicians", "techs.csv")
        assert code == 1, err
        assert "NOPE" in out  # the rejected row is shown when no report file is asked for
        async with sm() as db:
            codes = (await db.scalars(select(ServiceStation.code))).all()
            assert list(codes) == ["ZZ01"]
            names = (await db.scalars(select(Technician.name))).all()
            assert list(names) == ["张师傅"]

        code, out, err = await hotline(tmp_path, db_url, "stations", "stations.csv",
                                       "--owner", "someone")
        assert code == 2 and "--owner" in err  # an option the kind does not use is said
    finally:
        await engine.dispose()
