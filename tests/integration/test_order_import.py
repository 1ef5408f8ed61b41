"""The orders import (issue 18 item 1) on SQLite and PostgreSQL: orders as another
department's system exports them, customers found by code, phone or name, unknown
customers and salesmen reported with their row numbers, a line without a supplier held
to be batched, and a second import of the same file updating, never duplicating."""

from __future__ import annotations

from pathlib import Path

from openpyxl import Workbook
from sqlalchemy import func, select

from crm_core import customers, orders
from crm_core.models import OrderLine, SalesOrder, Supplier
from crm_core.order_import import import_orders
from crm_core.permissions import PermissionDenied
from tests.integration.test_crm_orders import NOW, PHONE, World, library, world  # noqa: F401
from tests.integration.test_crm_records import sqlite_template  # noqa: F401

HEADER = "订单号,客户编号,客户名称,客户电话,联系人,业务员,交货日期,书名,ISBN,数量,单价,出版社\n"


def sheet(cid: int) -> str:
    return HEADER + "".join([
        # row 2: by our code; its second line continues on row 3 (no order number)
        f"SO-2026-0001,{cid},,,,alice,2026-09-01,Linear Algebra Done Right,9783031410253,"
        "40,389.00,Springer\n",
        ",,,,,,,Principles of Physics,9781119801146,60,512.50,Wiley\n",
        # row 4: the same customer by phone, a line without a supplier
        f"SO-2026-0002,,,{PHONE},,,2026-08-25,教学参考书,,5,,\n",
        # row 5: nobody has this name; row 6: the salesman is nobody
        "SO-2026-0003,,不存在大学图书馆,,,alice,2026-09-01,Calculus,9780000000001,1,10,Wiley\n",
        f"SO-2026-0004,{cid},,,,no.such.salesman,2026-09-01,Optics,9780000000002,2,20,Wiley\n",
        # row 7: a bad quantity (its order SO-2026-0001 keeps its other lines)
        "SO-2026-0001,,,,,,,Broken line,9780000000003,many,1,Springer\n",
        # row 8: by name
        "SO-2026-0005,,复旦大学图书馆 Fudan University Library,,,,2026-09-10,"
        "Oxford Handbook of Chemistry,9780198000000,3,800,Oxford University Press\n",
    ])


async def test_orders_imported_with_row_numbers_and_reimport_updates(
        world: World, tmp_path: Path) -> None:  # noqa: F811
    w = world
    cid = await library(w)
    await w.run(lambda s: orders.add_supplier(s, w.admin, code="SPRINGER", name="Springer"))
    path = tmp_path / "销售部订单.csv"
    path.write_bytes(sheet(cid).encode("gb18030"))

    dry = await import_orders(w.sm, path, actor=w.admin, dry_run=True, now=NOW)
    assert dry.created["orders"] == 3
    async with w.sm() as s:
        assert await s.scalar(select(func.count()).select_from(SalesOrder)) == 0

    seen: list[tuple[int, int]] = []
    result = await import_orders(w.sm, path, actor=w.admin, now=NOW,
                                 progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (7, 7)
    assert result.rows == 7
    assert result.created == {"orders": 3, "orders_updated": 0, "lines": 4,
                              "lines_updated": 0, "to_be_batched": 1, "suppliers": 2}
    problems = [(i.row, i.code) for i in result.issues if i.kind == "error"]
    assert problems == [(5, "order_customer_unknown"), (6, "order_salesman_unknown"),
                        (7, "order_quantity_invalid")]
    errors = [i for i in result.issues if i.kind == "error"]
    assert errors[0].value == "不存在大学图书馆"
    assert errors[1].value == "no.such.salesman"
    assert result.errors == 3
    # the suppliers nobody knew are created, and said so on the first row naming each
    # (Wiley on rows 5 and 6 too, but those orders were skipped: row 3 created it)
    notices = [(i.row, i.code, i.value, i.params["code"]) for i in result.issues
               if i.kind == "notice"]
    assert notices == [(3, "order_supplier_created", "Wiley", "WILEY"),
                       (8, "order_supplier_created", "Oxford University Press",
                        "OXFORD-UNIVERSITY-PRESS")]
    assert [i.row for i in result.issues] == [3, 5, 6, 7, 8]  # down the sheet
    assert "created with code WILEY" in result.issues[0].message

    async with w.sm() as s:
        got = {o.number: o for o in (await s.scalars(select(SalesOrder))).all()}
        assert sorted(got) == ["SO-2026-0001", "SO-2026-0002", "SO-2026-0005"]
        assert {o.customer_id for o in got.values()} == {cid}
        first = got["SO-2026-0001"]
        assert first.owner_id == w.alice.user_id and first.due_date.isoformat() == "2026-09-01"
        # no salesman named: the customer's account manager (alice created it)
        assert got["SO-2026-0002"].owner_id == w.alice.user_id
        lines = (await s.scalars(select(OrderLine).where(
            OrderLine.order_id == first.id).order_by(OrderLine.id))).all()
        assert [(ln.title, ln.quantity, str(ln.price)) for ln in lines] == [
            ("Linear Algebra Done Right", 40, "389.00"), ("Principles of Physics", 60, "512.50")]
        suppliers = {x.code for x in (await s.scalars(select(Supplier))).all()}
        assert suppliers == {"SPRINGER", "WILEY", "OXFORD-UNIVERSITY-PRESS"}
    # the line without a supplier waits to be batched: listed there, never lost
    waiting = await w.run(lambda s: orders.to_be_batched(s, w.admin, limit=50))
    assert "教学参考书" in [i["title"] for i in waiting["items"]]

    # a batch of Springer's, then the file again with a new quantity and a new line:
    # the same orders, updated
    springer = await w.run(lambda s: orders.supplier_by_code(s, "SPRINGER"))
    assert springer is not None
    await w.run(lambda s: orders.group_lines(s, w.admin, springer.id, code="SPR-1", now=NOW))
    again = sheet(cid).replace(",40,389.00,", ",45,389.00,") + (
        "SO-2026-0002,,,,,,,Teacher's Guide,9780000000009,1,99,Elsevier\n")
    path.write_bytes(again.encode("utf-8"))
    second = await import_orders(w.sm, path, actor=w.admin, now=NOW)
    assert second.created["orders"] == 0 and second.created["orders_updated"] == 3
    assert second.created["lines"] == 1 and second.created["lines_updated"] == 4
    # the known suppliers say nothing the second time; the new one does, on its row
    assert [(i.row, i.value) for i in second.issues if i.kind == "notice"] == [
        (9, "Elsevier")]
    assert second.created["suppliers"] == 1
    async with w.sm() as s:
        assert await s.scalar(select(func.count()).select_from(SalesOrder)) == 3
        assert await s.scalar(select(func.count()).select_from(OrderLine)) == 5
        linear = await s.scalar(select(OrderLine).where(OrderLine.ref == "9783031410253"))
        assert linear is not None and linear.quantity == 45 and linear.batch_id is not None


async def test_a_workbook_and_who_may_import(world: World, tmp_path: Path) -> None:  # noqa: F811
    w = world
    await w.run(lambda s: customers.create_customer(
        s, w.alice, name="宇通客车服务站(郑州)", numbers=["13700137000"], now=NOW))
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "配件订单"
    ws.append(["2026年9月配件订单"])  # a title line above the headers
    ws.append(["Order No.", "Customer", "Phone", "Salesman", "Due date", "Part",
               "Model", "Qty", "Unit price", "Supplier"])
    ws.append(["P-77", "", "+86 137 0013 7000", "bob", "2026-09-15", "刹车片 Brake pads",
               "ZK6122H-BP", 8, 450, "宇通配件 Yutong Parts"])
    ws.append(["P-77", "", "", "", "", "", "ZK6122H-AF", 4, 120, ""])
    path = tmp_path / "parts.xlsx"
    wb.save(path)
    result = await import_orders(w.sm, path, actor=w.admin, now=NOW)
    assert [(i.kind, i.row, i.column, i.value) for i in result.issues] == [
        ("notice", 3, "Supplier", "宇通配件 Yutong Parts")]
    assert result.errors == 0 and result.created["orders"] == 1
    assert result.created["lines"] == 2 and result.created["to_be_batched"] == 1
    async with w.sm() as s:
        order = await s.scalar(select(SalesOrder).where(SalesOrder.number == "P-77"))
        assert order is not None and order.owner_id == w.bob.user_id
        titles = (await s.scalars(select(OrderLine.title).where(
            OrderLine.order_id == order.id).order_by(OrderLine.id))).all()
        assert list(titles) == ["刹车片 Brake pads", "ZK6122H-AF"]
    for who in (w.alice, w.agent):  # own scope only, or no create grant: refused
        try:
            await import_orders(w.sm, path, actor=who, now=NOW)
        except PermissionDenied:
            continue
        raise AssertionError(f"{who.username} imported orders")
