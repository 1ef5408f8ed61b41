"""The back office's endpoints over real HTTP on SQLite and PostgreSQL (issue 14 item 11):
an uploaded file imported in the background (progress polled to the end, every bad
row in a CSV/XLSX error report, nothing written by a dry run, who may, what is
refused), the shared pool, the pairs of duplicates one could merge, and the lists
as files."""

from __future__ import annotations

import asyncio
import csv
import io
import time
from collections.abc import AsyncIterator
from typing import Any

import openpyxl
import pytest
from sqlalchemy import func, select

from agent_console.api import import_jobs, routes_imports
from agent_console.api.import_runner import JOB_TTL_S, job_key
from crm_core.models import AuditEntry, Customer, OwnershipChange, PhoneNumber
from tests.integration.test_api_support import Api, ApiClient, running_api, signed_in

CSV_WITH_BAD_ROWS = (
    "客户名称,电话,省份,VIP等级,负责人\n"
    "苏州新华书店有限公司,0512-6522 1234,江苏,2,\n"
    "杭州西湖旅游客运有限公司,not-a-number,浙江,1,\n"     # row 3: the phone
    "南京长江印务有限公司,025-8471 9000,江苏,白金卡?,\n"  # row 4: the VIP tier
    "无锡太湖包装有限公司,0510-8271 6000,江苏,0,agent\n"
)


@pytest.fixture
async def api(db_url: str) -> AsyncIterator[Api]:
    async with running_api(db_url) as running:
        yield running


async def upload(client: ApiClient, body: bytes, filename: str, **query: Any) -> Any:
    params = {"filename": filename, **{k: str(v).lower() for k, v in query.items()}}
    return await client.post("/imports", data=body, params=params,
                             headers={"Content-Type": "application/octet-stream"})


async def finished(client: ApiClient, job_id: str) -> dict[str, Any]:
    """Poll the job as the page does until it is no longer running."""
    for _ in range(400):
        resp = await client.get(f"/imports/{job_id}")
        assert resp.status == 200, await resp.text()
        job = await resp.json()
        if job["state"] != "running":
            return dict(job)
        await asyncio.sleep(0.05)
    raise AssertionError("the import never finished")


async def count(api: Api, model: Any, *where: Any) -> int:
    async with api.sessionmaker() as db:
        return int(await db.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def test_upload_is_imported_in_the_background_with_an_error_report(api: Api) -> None:
    async with signed_in(api, "admin") as admin:
        resp = await upload(admin, CSV_WITH_BAD_ROWS.encode("gb18030"), "../客户 名单.csv")
        assert resp.status == 202, await resp.text()
        started = await resp.json()
        assert started["filename"] == "客户 名单.csv"  # the path part is dropped
        assert started["state"] == "running" and started["dry_run"] is False
        job = await finished(admin, started["id"])
        assert job["state"] == "done", job
        assert (job["done"], job["total"], job["percent"]) == (4, 4, 100)
        assert job["result"]["rows"] == 4 and job["result"]["errors"] == 2
        assert job["result"]["created"]["customers"] == 2
        assert job["issues_total"] == 2
        assert [(i["row"], i["column"]) for i in job["issues_preview"]] == [
            (3, "电话"), (4, "VIP等级")]
        # each problem has a stable code and its params beside the English text
        assert [(i["code"], i["params"]) for i in job["issues_preview"]] == [
            ("phone_invalid", {}), ("vip_tier_invalid", {"max": 5})]
        assert job["issues_preview"][0]["message"] == "not a valid phone number"
        assert all(n["code"] == "note_encoding" for n in job["result"]["note_items"])

        report = await admin.get(f"/imports/{started['id']}/report", params={"lang": "en"})
        assert report.status == 200
        assert report.headers["Content-Type"].startswith("text/csv")
        assert "attachment" in report.headers["Content-Disposition"]
        rows = list(csv.reader(io.StringIO((await report.read()).decode("utf-8-sig"))))
        assert rows[0] == ["sheet or file", "row", "column", "value", "problem", "kind",
                           "problem (English)"]
        assert rows[1][4] == rows[1][6] == "not a valid phone number"
        zh = await admin.get(f"/imports/{started['id']}/report", params={"lang": "zh-CN"})
        zh_rows = list(csv.reader(io.StringIO((await zh.read()).decode("utf-8-sig"))))
        assert [r[4] for r in zh_rows[1:]] == [
            "不是有效的电话号码", "VIP 等级应为 0-5（或 普通/银卡/金卡/钻石）"]
        assert zh_rows[1][6] == "not a valid phone number"  # the English column stays
        assert [(r[0], r[1], r[3]) for r in rows[1:]] == [
            ("客户 名单.csv", "3", "not-a-number"), ("客户 名单.csv", "4", "白金卡?")]
        xlsx = await admin.get(f"/imports/{started['id']}/report",
                               params={"format": "xlsx", "lang": "zh-CN"})
        assert xlsx.status == 200
        sheet = openpyxl.load_workbook(io.BytesIO(await xlsx.read())).active
        assert sheet is not None
        values = [[c.value for c in row] for row in sheet.iter_rows()]
        assert values[0][:2] == ["工作表/文件", "行号"] and len(values) == 3

    # written: the good rows, audited, the owner named by the file
    assert await count(api, Customer, Customer.name == "苏州新华书店有限公司") == 1
    assert await count(api, Customer, Customer.name.like("杭州西湖%")) == 0
    assert await count(api, Customer, Customer.owner_id == api.users.agent,
                       Customer.name == "无锡太湖包装有限公司") == 1
    assert await count(api, AuditEntry, AuditEntry.action == "import",
                       AuditEntry.entity == "customer",
                       AuditEntry.user_id == api.users.admin) == 2


async def test_a_dry_run_writes_nothing_and_xlsx_is_read(api: Api) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "客户"
    sheet.append(["客户名称", "手机"])
    sheet.append(["宁波港集团", "13905741234"])
    sheet.append(["", "13905741235"])  # no name: an error
    data = io.BytesIO()
    book.save(data)
    async with signed_in(api, "admin") as admin:
        resp = await upload(admin, data.getvalue(), "list.xlsx", dry_run=True)
        assert resp.status == 202, await resp.text()
        job = await finished(admin, (await resp.json())["id"])
    assert job["state"] == "done" and job["dry_run"] is True
    assert job["result"]["created"]["customers"] == 1 and job["result"]["errors"] == 1
    assert job["issues_preview"][0]["sheet"] == "客户"
    assert await count(api, Customer) == 0


async def test_a_file_that_cannot_be_imported_fails_with_the_reason(api: Api) -> None:
    async with signed_in(api, "admin") as admin:
        resp = await upload(admin, "编号,备注\n1,x\n".encode(), "nothing.csv")
        assert resp.status == 202
        job = await finished(admin, (await resp.json())["id"])
    assert job["state"] == "failed"
    assert "customer name" in job["error"]
    assert (job["error_code"], job["error_params"]["sheet"]) == ("no_name_column", "nothing.csv")
    assert job["percent"] is None


async def test_who_may_import_and_what_is_refused(api: Api, monkeypatch: Any) -> None:
    async with signed_in(api, "manager") as manager:  # customers:create own only
        resp = await upload(manager, CSV_WITH_BAD_ROWS.encode(), "a.csv")
        assert resp.status == 403
    async with signed_in(api, "admin") as admin:
        for name in ("a.xls", "a.exe", "noextension", "csv"):
            resp = await upload(admin, b"x", name)
            assert resp.status == 422, name
            assert (await resp.json())["field"] == "filename"
        assert (await upload(admin, b"", "empty.csv")).status == 422
        monkeypatch.setattr(routes_imports, "MAX_UPLOAD_BYTES", 1000)
        resp = await upload(admin, b"a" * 1001, "big.csv")
        assert resp.status == 413
        monkeypatch.undo()
        started = await (await upload(admin, CSV_WITH_BAD_ROWS.encode(), "a.csv")).json()
        await finished(admin, started["id"])
        # someone else's job, or a made-up one: not found
        async with signed_in(api, "agent") as agent:
            assert (await agent.get(f"/imports/{started['id']}")).status == 404
            assert (await agent.get(f"/imports/{started['id']}/report")).status == 404
        assert (await admin.get(f"/imports/{'0' * 32}")).status == 404
        assert (await admin.get("/imports/not-a-job")).status == 422


async def test_a_job_left_running_reads_as_interrupted_and_has_no_report(api: Api) -> None:
    store = api.auth.shared
    stale = import_jobs.new_record("a" * 32, user_id=api.users.admin, filename="x.csv",
                                   dry_run=False, now=time.time() - 3600)
    fresh = import_jobs.new_record("b" * 32, user_id=api.users.admin, filename="x.csv",
                                   dry_run=False, now=time.time())
    for record in (stale, fresh):
        await store.modify(job_key(record["id"]), lambda _old, r=record: (r, None), JOB_TTL_S)
    async with signed_in(api, "admin") as admin:
        assert (await (await admin.get(f"/imports/{'a' * 32}")).json())["state"] == \
            "interrupted"
        running = await (await admin.get(f"/imports/{'b' * 32}")).json()
        assert running["state"] == "running" and running["percent"] is None
        assert (await admin.get(f"/imports/{'b' * 32}/report")).status == 409


async def test_the_pool_lists_what_a_claim_needs_and_a_claim_takes_it(api: Api) -> None:
    async with api.sessionmaker.begin() as db:
        pooled = Customer(name="常州公交集团", name_key="常州公交", province="江苏", vip_tier=2)
        owned = Customer(name="镇江客运", name_key="镇江客运", owner_id=api.users.agent2)
        gone = Customer(name="扬州旅游", name_key="扬州旅游", owner_id=None)
        db.add_all([pooled, owned, gone])
        await db.flush()
        db.add(PhoneNumber(customer_id=pooled.id, number_e164="+8651988001234",
                           raw="0519-8800 1234"))
        db.add(OwnershipChange(customer_id=pooled.id, from_user_id=api.users.agent2,
                               to_user_id=None, reason="pool"))
        tomb = Customer(name="扬州旅游2", name_key="扬州旅游2", merged_into_id=gone.id)
        db.add(tomb)
    async with signed_in(api, "agent") as agent:  # customers:update own: may claim
        page = await (await agent.get("/pool")).json()
        assert [c["name"] for c in page["items"]] == ["常州公交集团", "扬州旅游"]
        first = page["items"][0]
        assert first["previous_owner"] == {"id": api.users.agent2, "display_name": "李娜"}
        assert first["pooled_at"] is not None and "phones" not in first
        assert (await (await agent.get("/pool", params={"q": "扬州"})).json())["total"] == 1
        resp = await agent.post(f"/customers/{first['id']}/owner",
                                json={"user_id": api.users.agent})
        assert resp.status == 200, await resp.text()
        assert (await resp.json())["reason"] == "claim"
        assert [c["name"] for c in (await (await agent.get("/pool")).json())["items"]] == [
            "扬州旅游"]
    async with signed_in(api, "agent") as agent:
        async with api.sessionmaker.begin() as db:
            from crm_core.models import RolePermission, User
            role_id = (await db.get(User, api.users.agent)).role_id  # type: ignore[union-attr]
            await db.execute(RolePermission.__table__.delete().where(  # type: ignore[attr-defined]
                RolePermission.role_id == role_id, RolePermission.module == "customers",
                RolePermission.operation == "update"))
        assert (await agent.get("/pool")).status == 403  # neither claim nor assign


async def test_duplicate_pairs_in_scope_and_merged_away(api: Api) -> None:
    async with api.sessionmaker.begin() as db:
        a = Customer(name="华东医药包装有限公司", name_key="华东医药包装", owner_id=api.users.agent)
        b = Customer(name="華東醫藥包裝", name_key="华东医药包装", owner_id=api.users.agent)
        c = Customer(name="华东医药包装厂", name_key="华东医药包装厂", owner_id=api.users.agent)
        d = Customer(name="别人的客户", name_key="别人的客户", owner_id=api.users.agent2)
        db.add_all([a, b, c, d])
        await db.flush()
        db.add_all([
            PhoneNumber(customer_id=c.id, number_e164="+862164321000", raw="021-6432 1000"),
            PhoneNumber(customer_id=a.id, number_e164="+862164321000", raw="(021)64321000"),
            PhoneNumber(customer_id=d.id, number_e164="+862164321000", raw="64321000"),
        ])
        ids = (a.id, b.id, c.id)
    async with signed_in(api, "agent") as agent:  # update scope own: agent2's d is outside
        page = await (await agent.get("/duplicates")).json()
        pairs = [(p["a"]["id"], p["b"]["id"], p["reasons"]) for p in page["items"]]
        assert pairs == [(ids[0], ids[2], ["phone"]), (ids[0], ids[1], ["name"])]
        first = page["items"][0]
        assert first["numbers"] == ["+862164321000"]
        assert first["a"]["records"]["phone_numbers"] == 1
        assert first["a"]["owner"] == {"id": api.users.agent, "display_name": "王小明"}
        resp = await agent.post(f"/customers/{ids[0]}/merge", json={"merge_id": ids[1]})
        assert resp.status == 200, await resp.text()
        page = await (await agent.get("/duplicates")).json()
        assert [(p["a"]["id"], p["b"]["id"]) for p in page["items"]] == [(ids[0], ids[2])]
    async with signed_in(api, "admin") as admin:  # scope all: d pairs with both
        page = await (await admin.get("/duplicates")).json()
        assert page["total"] == 3


async def test_lists_as_files_in_the_export_scope(api: Api) -> None:
    async with api.sessionmaker.begin() as db:
        mine = Customer(name="=HYPERLINK(\"x\")", name_key="hyperlink", province="北京",
                        owner_id=api.users.agent)
        other = Customer(name="陈南的客户", name_key="陈南的客户", owner_id=api.users.other_team)
        db.add_all([mine, other])
    async with signed_in(api, "admin") as admin:
        resp = await admin.get("/exports/customers", params={"lang": "en"})
        assert resp.status == 200
        rows = list(csv.reader(io.StringIO((await resp.read()).decode("utf-8-sig"))))
        assert len(rows) == 3 and rows[0][:2] == ["id", "name"]
        assert any(r[1].startswith("'=") for r in rows[1:])  # never a formula
        resp = await admin.get("/exports/contacts", params={"format": "xlsx"})
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("application/vnd.openxml")
        resp = await admin.get("/exports/customers", params={"province": "北京"})
        assert len((await resp.read()).decode("utf-8-sig").strip().splitlines()) == 2
        assert (await admin.get("/exports/calls")).status == 422
    async with signed_in(api, "manager") as manager:  # customers:export team, no contacts
        resp = await manager.get("/exports/customers")
        assert resp.status == 200
        body = (await resp.read()).decode("utf-8-sig")
        assert "HYPERLINK" in body and "陈南的客户" not in body
        assert (await manager.get("/exports/contacts")).status == 403


async def test_a_call_walked_through_a_draft_flow_without_a_pbx(api: Api) -> None:
    draft = {
        "start": "hello", "languages": ["zh", "en"],
        "steps": {
            "hello": {"type": "play", "prompt": "welcome", "next": "menu"},
            "menu": {"type": "menu", "prompt": "main_menu", "default": "q",
                     "choices": {"3": "repairs", "0": "q"}},
            "repairs": {"type": "route", "queue": "support", "skill": "repair",
                        "priority": 5, "next": "q"},
            "q": {"type": "handoff", "kind": "queue"},
        },
    }
    body = {"did": "+86 400-800-1234", "caller": "13800138000", "keys": ["3"], "lang": "en",
            "now": "2026-11-25T10:00:00", "draft": {"name": "printers", "document": draft}}
    async with signed_in(api, "admin") as admin:
        resp = await admin.post("/ivr/try", json=body)
        assert resp.status == 200, await resp.text()
        walked = await resp.json()
        assert walked["draft_version"] == 1
        assert walked["result"]["skill"] == "repair" and walked["result"]["priority"] == 5
        assert walked["result"]["digits"] == ["3"] and walked["result"]["flow"] == "printers@1"
        assert any("welcome" in line for line in walked["trace"])
        # nothing was saved: the draft stays a draft
        assert (await admin.get("/ivr/flows/printers")).status == 404
        # a broken draft is refused as a save would be, at its step
        draft["steps"]["menu"]["choices"]["3"] = "nowhere"
        resp = await admin.post("/ivr/try", json=body)
        assert resp.status == 422
        assert any(d["field"] == "document.steps.menu" for d in (await resp.json())["details"])
        # without a draft: the saved flow of the number (the default one)
        resp = await admin.post("/ivr/try", json={"did": "4008001234", "keys": ["hangup"]})
        assert resp.status == 200
        assert (await resp.json())["result"]["ended"] == "hangup"
    async with signed_in(api, "agent") as agent:  # may read the IVR, not change it
        async with api.sessionmaker.begin() as db:
            from crm_core.models import RolePermission, User
            role_id = (await db.get(User, api.users.agent)).role_id  # type: ignore[union-attr]
            db.add(RolePermission(role_id=role_id, module="ivr", operation="read",
                                  scope="all"))
        assert (await agent.post("/ivr/try", json={"did": "4008001234"})).status == 403
