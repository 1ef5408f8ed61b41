"""The IVR endpoints over real HTTP on SQLite and PostgreSQL: flows saved as versions
(history, dry-run validation, a refused flow is a 422 listing every problem at its step
and stores nothing, a stale edit is a 409), the number plan (any number format, duplicates
409, flow must exist), who may do what (agents read, only admins write: 403), every write
audited, and the entry-numbers report as JSON, CSV and XLSX."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import openpyxl
import pytest
from sqlalchemy import func, select

from crm_core.models import AuditEntry, CallRecord, IvrFlow, IvrNumber, RolePermission, User
from tests.integration.test_api_support import Api, running_api, signed_in


@pytest.fixture
async def api(db_url: str) -> AsyncIterator[Api]:
    async with running_api(db_url) as running:
        async with running.sessionmaker.begin() as db:
            agent = await db.get(User, running.users.agent)
            assert agent is not None and agent.role_id is not None
            # as crm_core.users.DEFAULT_ROLES gives agents: read the IVR, change nothing
            db.add(RolePermission(role_id=agent.role_id, module="ivr", operation="read",
                                  scope="all"))
        yield running


def printers_flow(priority: int = 0) -> dict[str, Any]:
    return {
        "start": "hello", "languages": ["zh", "en"],
        "steps": {
            "hello": {"type": "play", "prompt": "welcome", "next": "route"},
            "route": {"type": "route", "queue": "support", "skill": "repair",
                      "priority": priority, "next": "q"},
            "q": {"type": "handoff", "kind": "queue"},
        },
    }


async def _count(api: Api, model: Any, *where: Any) -> int:
    async with api.sessionmaker() as db:
        return int(await db.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def test_flows_are_saved_validated_and_versioned(api: Api) -> None:
    async with signed_in(api, "admin") as admin:
        listed = await (await admin.get("/ivr/flows")).json()
        assert listed["items"] == [{
            "name": "default", "version": 0, "builtin": True, "comment": "built-in default flow",
            "created_at": None, "created_by_id": None, "numbers": 0}]
        builtin = await (await admin.get("/ivr/flows/default")).json()
        assert builtin["version"] == 0 and builtin["document"]["start"] == "welcome"

        resp = await admin.request("PUT", "/ivr/flows/printers",
                                   json={"document": printers_flow(), "comment": "首版"})
        assert resp.status == 201, await resp.text()
        first = await resp.json()
        assert (first["name"], first["version"], first["comment"]) == ("printers", 1, "首版")
        assert first["document"]["flow"] == "printers" and first["document"]["version"] == 1
        resp = await admin.request("PUT", "/ivr/flows/printers", json={
            "document": printers_flow(priority=7), "comment": "VIP first", "base_version": 1})
        assert resp.status == 201, await resp.text()
        assert (await resp.json())["version"] == 2

        latest = await (await admin.get("/ivr/flows/printers")).json()
        assert latest["version"] == 2
        assert latest["document"]["steps"]["route"]["priority"] == 7
        assert latest["created_by_id"] == api.users.admin
        history = await (await admin.get("/ivr/flows/printers/versions")).json()
        assert [(v["version"], v["comment"]) for v in history["items"]] == [
            (2, "VIP first"), (1, "首版")]
        old = await (await admin.get("/ivr/flows/printers/versions/1")).json()
        assert old["document"]["steps"]["route"]["priority"] == 0
        assert (await admin.get("/ivr/flows/printers/versions/9")).status == 404
        assert (await admin.get("/ivr/flows/nosuch")).status == 404
        assert (await admin.get("/ivr/flows/bad%20name")).status == 422

        check = await admin.post("/ivr/flows/printers/validate",
                                 json={"document": printers_flow(priority=9)})
        assert check.status == 200
        assert await check.json() == {"valid": True, "problems": [], "version": 3}
        bad = printers_flow()
        bad["steps"]["route"]["next"] = "nowhere"
        check = await admin.post("/ivr/flows/printers/validate", json={"document": bad})
        body = await check.json()
        assert body["valid"] is False
        assert "step 'route': field 'next' names no step ('nowhere')" in body["problems"]
        assert "step 'q': unreachable from start 'hello'" in body["problems"]

        flows = {f["name"]: f["version"] for f in
                 (await (await admin.get("/ivr/flows")).json())["items"]}
        assert flows == {"default": 0, "printers": 2}
    assert await _count(api, IvrFlow) == 2  # the dry runs stored nothing
    async with api.sessionmaker() as db:
        audited = (await db.execute(select(AuditEntry.action, AuditEntry.user_id)
                                    .where(AuditEntry.entity == "ivr_flow"))).all()
    assert sorted(audited) == [("create", api.users.admin)] * 2


async def test_a_refused_flow_is_a_422_listing_every_problem(api: Api) -> None:
    bad = printers_flow()
    bad["steps"]["hello"]["prompt"] = "no_such_prompt"
    bad["steps"]["orphan"] = {"type": "play", "prompt": "goodbye", "next": "q"}
    bad["steps"]["route"]["next"] = "nowhere"
    async with signed_in(api, "admin") as admin:
        resp = await admin.request("PUT", "/ivr/flows/printers",
                                   json={"document": bad, "comment": "broken"})
        assert resp.status == 422
        body = await resp.json()
        assert body["error"] == "validation"
        details = {(d["field"], d["message"]) for d in body["details"]}
        assert ("document.steps.hello", "step 'hello': field 'prompt' prompt "
                "'no_such_prompt' is not in the prompt catalogue") in details
        assert ("document.steps.orphan", "step 'orphan': unreachable from start 'hello'"
                ) in details
        assert ("document.steps.route", "step 'route': field 'next' names no step "
                "('nowhere')") in details
        assert body["field"] == body["details"][0]["field"]
        assert (await admin.get("/ivr/flows/printers")).status == 404

        documents: list[dict[str, Any]] = [{"steps": []},
                                           {"start": "x", "steps": {"x": {"type": "dance"}}}]
        for document in documents:
            resp = await admin.request("PUT", "/ivr/flows/printers",
                                       json={"document": document})
            assert resp.status == 422
            assert all(d["message"] for d in (await resp.json())["details"])
        resp = await admin.request("PUT", "/ivr/flows/printers", json={"document": "text"})
        assert resp.status == 422
        resp = await admin.request(
            "PUT", "/ivr/flows/printers",
            json={"document": {**printers_flow(), "flow": "something-else"}})
        assert resp.status == 422
        assert "saved as 'printers'" in (await resp.json())["message"]
    assert await _count(api, IvrFlow) == 0
    assert await _count(api, AuditEntry) == 0


async def test_a_stale_edit_is_a_409(api: Api) -> None:
    async with signed_in(api, "admin") as admin:
        for _ in range(2):
            resp = await admin.request("PUT", "/ivr/flows/printers",
                                       json={"document": printers_flow()})
            assert resp.status == 201
        resp = await admin.request("PUT", "/ivr/flows/printers",
                                   json={"document": printers_flow(), "base_version": 1})
        assert resp.status == 409
        assert "version 2, not 1" in (await resp.json())["message"]
    assert await _count(api, IvrFlow) == 2


async def test_agents_read_only_admins_write(api: Api) -> None:
    async with signed_in(api, "admin") as admin:
        assert (await admin.request("PUT", "/ivr/flows/printers",
                                    json={"document": printers_flow()})).status == 201
        assert (await admin.post("/ivr/numbers", json={"number": "4008001234"})).status == 201
    async with signed_in(api, "agent") as agent:
        assert (await agent.get("/ivr/flows")).status == 200
        assert (await agent.get("/ivr/flows/printers")).status == 200
        assert (await agent.get("/ivr/numbers")).status == 200
        assert (await agent.get("/ivr/resolve", params={"did": "4008001234"})).status == 200
        check = await agent.post("/ivr/flows/printers/validate",
                                 json={"document": printers_flow()})
        assert check.status == 200
        writes = [
            ("PUT", "/ivr/flows/printers", {"document": printers_flow(5)}),
            ("PUT", "/ivr/flows/default", {"document": printers_flow(5)}),
            ("POST", "/ivr/numbers", {"number": "8008001234"}),
            ("PATCH", "/ivr/numbers/4008001234", {"label": "hijacked"}),
            ("DELETE", "/ivr/numbers/4008001234", None),
        ]
        for method, path, body in writes:
            resp = await agent.request(method, path, json=body)
            assert resp.status == 403, (method, path, await resp.text())
            assert (await resp.json())["error"] == "forbidden"
    async with signed_in(api, "manager") as manager:  # no ivr grant at all
        assert (await manager.get("/ivr/flows")).status == 403
        assert (await manager.get("/ivr/numbers")).status == 403
    assert await _count(api, IvrFlow) == 1
    async with api.sessionmaker() as db:
        row = await db.scalar(select(IvrNumber))
        assert row is not None and row.label is None
    assert await _count(api, AuditEntry) == 2  # the admin's two writes only


async def test_the_number_plan_over_http(api: Api) -> None:
    label = "原打印机维修热线 / old printer repair line"
    async with signed_in(api, "admin") as admin:
        assert (await admin.request("PUT", "/ivr/flows/printers",
                                    json={"document": printers_flow()})).status == 201
        resp = await admin.post("/ivr/numbers", json={
            "number": "+86 21 5488-1234", "flow_name": "printers", "kind": "legacy",
            "label": label, "queue": "support"})
        assert resp.status == 201, await resp.text()
        made = await resp.json()
        assert (made["number"], made["kind"], made["label"], made["active"]) == (
            "02154881234", "legacy", label, True)
        resp = await admin.post("/ivr/numbers", json={"number": "+86 400-800-1234"})
        assert resp.status == 201 and (await resp.json())["kind"] == "400"

        dup = await admin.post("/ivr/numbers", json={"number": "021-5488 1234"})
        assert dup.status == 409
        for body, field in (({"number": "8008001234", "flow_name": "nosuch"}, "flow_name"),
                            ({"number": "call me"}, "number"),
                            ({"number": "8008001234", "kind": "vip"}, "kind"),
                            ({"number": "8008001234", "queue": "support,,h"}, "queue"),
                            ({"number": "8008001234", "colour": "red"}, "colour")):
            resp = await admin.post("/ivr/numbers", json=body)
            assert resp.status == 422, body
            assert (await resp.json())["field"] == field, body

        listed = await (await admin.get("/ivr/numbers")).json()
        assert [n["number"] for n in listed["items"]] == ["4008001234", "02154881234"]
        assert listed["total"] == 2
        legacy = await (await admin.get("/ivr/numbers", params={"kind": "legacy"})).json()
        assert [n["number"] for n in legacy["items"]] == ["02154881234"]
        one = await admin.get("/ivr/numbers/+86 21 5488 1234")
        assert one.status == 200 and (await one.json())["flow_name"] == "printers"

        seen = await (await admin.get("/ivr/resolve", params={"did": "0086 21 54881234"})
                      ).json()
        assert seen == {"number": "02154881234", "kind": "legacy", "label": label,
                        "flow_name": "printers", "queue": "support", "runs_flow": "printers",
                        "runs_version": 1}
        stranger = await (await admin.get("/ivr/resolve", params={"did": "13912345678"})
                          ).json()
        assert (stranger["kind"], stranger["runs_flow"], stranger["runs_version"]) == (
            "unknown", "default", 0)

        resp = await admin.patch("/ivr/numbers/02154881234",
                                 json={"queue": None, "flow_name": "default"})
        assert resp.status == 200
        assert ((await resp.json())["queue"], (await resp.json())["label"]) == (None, label)
        assert (await admin.patch("/ivr/numbers/02154881234",
                                  json={"flow_name": "nosuch"})).status == 422
        assert (await admin.patch("/ivr/numbers/99999", json={"label": "x"})).status == 404
        assert (await admin.delete("/ivr/numbers/021-5488-1234")).status == 204
        assert (await admin.get("/ivr/numbers/02154881234")).status == 404
        assert (await admin.delete("/ivr/numbers/02154881234")).status == 404
    async with api.sessionmaker() as db:
        audited = (await db.execute(
            select(AuditEntry.action, AuditEntry.user_id, AuditEntry.before, AuditEntry.after)
            .where(AuditEntry.entity == "ivr_number").order_by(AuditEntry.id))).all()
    assert [(a, u) for a, u, _, _ in audited] == [
        ("create", api.users.admin), ("create", api.users.admin),
        ("update", api.users.admin), ("delete", api.users.admin)]
    update = audited[2]
    assert update[2] == {"queue": "support", "flow_name": "printers"}
    assert update[3] == {"queue": None, "flow_name": "default"}


async def test_entry_numbers_report(api: Api) -> None:
    label = "原期刊订阅热线 / old magazine subscription line"
    async with signed_in(api, "admin") as admin:
        await admin.post("/ivr/numbers", json={"number": "4008001234"})
        await admin.post("/ivr/numbers", json={"number": "4006181234", "kind": "legacy",
                                               "label": label})
        await admin.post("/ivr/numbers", json={"number": "02154881234", "kind": "legacy",
                                               "label": "原打印机维修热线 / old printer line"})
    async with api.sessionmaker.begin() as db:
        for i, (did, outcome, day) in enumerate([
            ("4008001234", "answered", 2), ("+864008001234", "abandoned", 2),
            ("4006181234", "answered", 3), ("400-618-1234", "answered", 3),
            ("4006181234", "ivr-only", 3), ("13912345678", "answered", 3),
            ("4006181234", "answered", 9),  # outside the period
        ]):
            at = datetime(2025, 6, day, 3, 0, tzinfo=UTC)
            db.add(CallRecord(linkedid=f"L{i}", caller="13800138000", did=did,
                              outcome=outcome, started_at=at, ended_at=at))
    period = {"from": "2025-06-01", "to": "2025-06-05"}
    async with signed_in(api, "admin") as admin:
        resp = await admin.get("/reports/entry-numbers", params={**period, "lang": "en"})
        assert resp.status == 200, await resp.text()
        items = (await resp.json())["items"]
        got = [(r["number"], r["kind"], r["label"], r["calls"], r["answered"])
               for r in items]
        assert got == [
            ("4006181234", "legacy", label, 3, 2),
            ("4008001234", "400", None, 2, 1),
            ("13912345678", "unknown", None, 1, 1),
            ("02154881234", "legacy", "原打印机维修热线 / old printer line", 0, 0),
        ]
        everything = await (await admin.get("/reports/entry-numbers")).json()
        assert everything["items"][0]["calls"] == 4  # no period: the 9th counts too

        resp = await admin.get("/reports/entry-numbers",
                               params={**period, "format": "csv", "lang": "en"})
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/csv")
        assert "entry-numbers" in resp.headers["Content-Disposition"]
        rows = list(csv.reader(io.StringIO((await resp.read()).decode("utf-8-sig"))))
        assert rows[0][:3] == ["number dialled", "kind", "label"]
        assert rows[1][:3] == ["4006181234", "legacy line", label]
        assert rows[3][:2] == ["13912345678", "not in the number plan"]

        resp = await admin.get("/reports/entry-numbers", params={**period, "format": "xlsx"})
        assert resp.status == 200
        book = openpyxl.load_workbook(io.BytesIO(await resp.read()), read_only=True)
        sheet = list(book.active.iter_rows(values_only=True))
        book.close()
        assert sheet[0][:3] == ("被叫号码", "号码类型", "说明")
        assert sheet[1][:2] == ("4006181234", "原部门热线")

        bad = await admin.get("/reports/entry-numbers", params={"from": "yesterday"})
        assert bad.status == 422 and (await bad.json())["field"] == "from"
    async with signed_in(api, "agent") as agent:  # no reports grant
        assert (await agent.get("/reports/entry-numbers")).status == 403
