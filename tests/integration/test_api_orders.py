"""Orders over real HTTP on SQLite and PostgreSQL (issue 18): create an order, read it
(lines, batches, timeline), list them (all, a customer's), move a batch through its
stages (a step back is a 422, an unknown batch a 404), and no grant, no orders."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from crm_core import orders
from crm_core.models import Customer, Supplier
from crm_core.permissions import SYSTEM
from tests.integration.test_api_backoffice import finished, upload
from tests.integration.test_api_support import Api, running_api, signed_in


@pytest.fixture
async def api(db_url: str) -> AsyncIterator[Api]:
    async with running_api(db_url) as running:
        yield running


async def seed(api: Api) -> dict[str, Any]:
    async with api.sessionmaker.begin() as db:
        uni = Customer(name="清华大学图书馆 Tsinghua University Library",
                       owner_id=api.users.agent)
        db.add_all([uni, Supplier(code="OUP", name="牛津大学出版社",
                                  name_en="Oxford University Press")])
        await db.flush()
        return {"customer": uni.id}


async def test_orders_and_a_batch_moving(api: Api) -> None:
    ids = await seed(api)
    async with signed_in(api, "admin") as admin:
        resp = await admin.post("/orders", json={
            "customer_id": ids["customer"], "due_date": "2026-09-01", "lines": [
                {"title": "Oxford Handbook of Linguistics", "ref": "9780199677078",
                 "quantity": 12, "price": "1280.00", "supplier": "OUP"},
                {"title": "一本供应商未定的书", "quantity": 2}]})
        assert resp.status == 201, await resp.text()
        order = await resp.json()
        assert order["stage"] == "to_be_batched" and len(order["lines"]) == 2
        async with api.sessionmaker.begin() as db:
            oup = await orders.supplier_by_code(db, "OUP")
            assert oup is not None
            batch = await orders.group_lines(db, SYSTEM, oup.id, code="OUP-2026-07",
                                             on="2026-07-01")
        resp = await admin.post(f"/batches/{batch['id']}/stage",
                                json={"stage": "customs", "on": "2026-07-20"})
        assert resp.status == 200, await resp.text()
        moved = await resp.json()
        assert moved["stage"] == "customs" and moved["changed"] is True
        assert moved["stage_on"] == "2026-07-20" and moved["expected_on"]

        resp = await admin.post(f"/batches/{batch['id']}/stage", json={"stage": "shipped"})
        assert resp.status == 422
        assert "cannot go back" in (await resp.json())["message"]
        resp = await admin.post("/batches/999999/stage", json={"stage": "customs"})
        assert resp.status == 404
        resp = await admin.post(f"/batches/{batch['id']}/stage", json={"stage": "lost"})
        assert resp.status == 422

        resp = await admin.get(f"/orders/{order['id']}")
        assert resp.status == 200
        got = await resp.json()
        [shown] = got["batches"]
        assert shown["code"] == "OUP-2026-07" and shown["supplier_en"] == \
            "Oxford University Press"
        assert shown["timeline"] == [{"stage": "ordered", "on": "2026-07-01"},
                                     {"stage": "customs", "on": "2026-07-20"}]
        assert [ln["stage"] for ln in got["lines"]] == ["customs", "to_be_batched"]

        listed = await (await admin.get("/orders", params={"status": "open"})).json()
        assert [o["number"] for o in listed["items"]] == [order["number"]]
        mine = await (await admin.get(f"/customers/{ids['customer']}/orders")).json()
        assert mine["total"] == 1 and mine["items"][0]["stage"] == "to_be_batched"
        assert (await admin.get("/orders", params={"status": "bogus"})).status == 422
        assert (await admin.get("/orders/999999")).status == 404

    async with signed_in(api, "agent") as agent:  # these test roles have no orders grant
        assert (await agent.get("/orders")).status == 403
        resp = await agent.post(f"/batches/{batch['id']}/stage", json={"stage": "delivered"})
        assert resp.status == 403


STAGE_CSV = """批次号,阶段,日期
OUP-A,已发运,2026/7/5
OUP-A,清关,2026-07-20
NO-SUCH-BATCH,清关,2026-07-20
OUP-B,inspection,2026-07-21
OUP-B,shipped,2026-07-22
OUP-A,漂流,2026-07-23
OUP-A,清关,2026-07-20
"""


async def test_stage_updates_imported_from_a_file_with_row_numbers(api: Api) -> None:
    ids = await seed(api)
    async with api.sessionmaker.begin() as db:
        await orders.create_order(db, SYSTEM, ids["customer"], lines=[
            {"title": "Oxford English Dictionary", "supplier": "OUP"}])
        oup = await orders.supplier_by_code(db, "OUP")
        assert oup is not None
        await orders.group_lines(db, SYSTEM, oup.id, code="OUP-A", on="2026-07-01")
        await orders.create_order(db, SYSTEM, ids["customer"], lines=[
            {"title": "Oxford Latin Dictionary", "supplier": "OUP"}])
        await orders.group_lines(db, SYSTEM, oup.id, code="OUP-B", on="2026-07-01")
    async with signed_in(api, "admin") as admin:
        for dry_run in (True, False):
            resp = await upload(admin, STAGE_CSV.encode("gb18030"), "海关 导出.csv",
                                kind="stage_updates", dry_run=dry_run)
            assert resp.status == 202, await resp.text()
            job = await finished(admin, (await resp.json())["id"])
            assert job["state"] == "done", job
            result = job["result"]
            assert (result["rows"], result["errors"]) == (7, 3)
            assert result["created"] == {"moved": 3, "unchanged": 1}
            # the spreadsheet's own row numbers (the header is row 1)
            assert [(i["row"], i["column"], i["code"]) for i in job["issues_preview"]] == [
                (4, "批次号", "stage_batch_unknown"), (6, "阶段", "stage_refused"),
                (7, "阶段", "stage_word_unknown")]
            async with api.sessionmaker() as db:
                a = await orders.find_batch(db, "OUP-A")
                b = await orders.find_batch(db, "OUP-B")
                assert a is not None and b is not None
                expected = ("ordered", "ordered") if dry_run else ("customs", "inspection")
                assert (a.stage, b.stage) == expected
        report = await admin.get(f"/imports/{job['id']}/report", params={"lang": "zh-CN"})
        text = (await report.read()).decode("utf-8-sig")
        assert "没有批次 NO-SUCH-BATCH" in text and "未知的阶段" in text
    async with signed_in(api, "agent") as agent:  # no orders grant: refused up front
        resp = await upload(agent, STAGE_CSV.encode(), "x.csv", kind="stage_updates")
        assert resp.status == 403


ORDERS_CSV = (
    "订单号,客户名称,业务员,交货日期,书名,ISBN,数量,单价,出版社\n"
    "SO-9001,清华大学图书馆 Tsinghua University Library,admin,2026-09-01,"
    "Oxford English Dictionary,9780198611868,2,3200,OUP\n"
    "SO-9001,,,,Teaching notes,,3,,\n"
    "SO-9002,北京不存在的大学,admin,2026-09-01,Calculus,9780000000001,1,10,OUP\n")


async def test_orders_imported_through_the_import_jobs(api: Api) -> None:
    ids = await seed(api)
    async with signed_in(api, "admin") as admin:
        for round_ in (1, 2):  # the same file twice: the same order, updated
            resp = await upload(admin, ORDERS_CSV.encode("gb18030"), "订单导出.csv",
                                kind="orders")
            assert resp.status == 202, await resp.text()
            job = await finished(admin, (await resp.json())["id"])
            assert job["state"] == "done", job
            created = job["result"]["created"]
            assert (created["orders"], created["orders_updated"]) == (
                (1, 0) if round_ == 1 else (0, 1))
            assert [(i["row"], i["code"]) for i in job["issues_preview"]] == [
                (4, "order_customer_unknown")]
        listed = await admin.get(f"/customers/{ids['customer']}/orders")
        body = await listed.json()
        assert [o["number"] for o in body["items"]] == ["SO-9001"]
        assert body["items"][0]["stage"] == "to_be_batched"
        report = await admin.get(f"/imports/{job['id']}/report", params={"lang": "zh-CN"})
        assert "没有客户 北京不存在的大学" in (await report.read()).decode("utf-8-sig")
    async with signed_in(api, "agent") as agent:  # reads orders, imports none
        resp = await upload(agent, ORDERS_CSV.encode(), "x.csv", kind="orders")
        assert resp.status == 403


async def test_late_batches_for_the_home_page(api: Api) -> None:
    ids = await seed(api)
    async with api.sessionmaker.begin() as db:
        await orders.create_order(db, SYSTEM, ids["customer"], number="SO-OLD",
                                  due_date="2020-09-01", lines=[
                                      {"title": "Oxford Atlas", "supplier": "OUP"}])
        oup = await orders.supplier_by_code(db, "OUP")
        assert oup is not None
        await orders.group_lines(db, SYSTEM, oup.id, code="OUP-2020", on="2020-07-01")
    async with signed_in(api, "admin") as admin:
        resp = await admin.get("/batches/late", params={"limit": 5})
        assert resp.status == 200, await resp.text()
        [late] = (await resp.json())["items"]
        assert (late["number"], late["batch_code"]) == ("SO-OLD", "OUP-2020")
        assert late["overdue_days"] > 0 and late["threatens_due"] is True
        assert late["supplier_en"] == "Oxford University Press"
        assert (await admin.get("/batches/late", params={"limit": 0})).status == 422
    async with signed_in(api, "agent") as agent:  # these test roles have no orders grant
        assert (await agent.get("/batches/late")).status == 403
