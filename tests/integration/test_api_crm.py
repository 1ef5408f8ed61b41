"""The CRM endpoints over real HTTP on SQLite and PostgreSQL: the 360 lookup,
ownership (transfer, leaver, history), reports with CSV/XLSX downloads; each with
the data scope (another owner's customer is a 404, never the record), the missing
grant (403), bad payloads (422 naming the field, nothing written)."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date

import openpyxl
import pytest
from sqlalchemy import func, select

from crm_core.models import (
    Asset,
    Customer,
    Opportunity,
    OwnershipChange,
    PhoneNumber,
    ProductLine,
    Role,
    RolePermission,
)
from numbering.normalize import normalize
from tests.integration.test_api_support import Api, running_api, signed_in


@dataclass
class Data:
    mine: int  # owned by "agent"
    colleague: int  # owned by "agent2" (same team as agent and manager)
    south: int  # owned by "south" (another team)
    pool: int


@pytest.fixture
async def api(db_url: str) -> AsyncIterator[Api]:
    async with running_api(db_url) as running:
        yield running


async def _seed(api: Api) -> Data:
    u = api.users
    async with api.sessionmaker.begin() as db:
        line = ProductLine(code="PRN", name="打印机", name_en="printers")
        db.add(line)
        rows = [
            Customer(name="北京艾克美印刷有限公司", name_key="艾克美印刷", category="A",
                     province="北京", city="北京", status="active", owner_id=u.agent),
            Customer(name="天津同事客户", name_key="天津同事客户", category="B",
                     province="天津", owner_id=u.agent2),
            Customer(name="广州南方客运", name_key="广州南方客运", category="A",
                     province="广东", owner_id=u.other_team),
            Customer(name="公海客户", name_key="公海客户", province="河北"),
        ]
        db.add_all(rows)
        await db.flush()
        for customer, raw in zip(rows, ["13800138000", "13900139000", "020-8888 6666",
                                        "13700137000"], strict=True):
            number = normalize(raw)
            assert number is not None
            db.add(PhoneNumber(customer_id=customer.id, number_e164=number, raw=raw))
        db.add(Asset(customer_id=rows[0].id, product_line_id=line.id, serial_number="SN-1",
                     warranty_end=date(2099, 1, 1)))
        return Data(mine=rows[0].id, colleague=rows[1].id, south=rows[2].id, pool=rows[3].id)


async def _history_rows(api: Api) -> int:
    async with api.sessionmaker() as db:
        return int(await db.scalar(select(func.count()).select_from(OwnershipChange)) or 0)


async def test_lookup_any_format_and_scope(api: Api) -> None:
    data = await _seed(api)
    async with signed_in(api, "agent") as agent:
        for raw in ("13800138000", "+86 138 0013 8000", "0086-138-0013-8000"):
            resp = await agent.get("/lookup", params={"phone": raw})
            assert resp.status == 200
            view = await resp.json()
            assert view["found"] is True and view["customer"]["id"] == data.mine
            assert view["assets"][0]["serial_number"] == "SN-1"
        # another team's caller: who looks after them, never the record
        resp = await agent.get("/lookup", params={"phone": "(020)88886666"})
        view = await resp.json()
        assert view["found"] is True and view["restricted"] is True
        assert view["customer"] is None and "assets" not in view
        assert view["owner"]["display_name"] == "陈南"
        unknown = await (await agent.get("/lookup", params={"phone": "4000000000"})).json()
        assert unknown["found"] is False
        missing = await agent.get("/lookup")
        assert missing.status == 422 and (await missing.json())["field"] == "phone"

        assert (await agent.get(f"/customers/{data.mine}/360")).status == 200
        other = await agent.get(f"/customers/{data.south}/360")
        assert other.status == 404
        assert "广州" not in await other.text()
        assert (await agent.get("/customers/999999/360")).status == 404
        bad = await agent.get("/customers/abc/360")
        assert bad.status == 422 and (await bad.json())["field"] == "id"
        huge = await agent.get("/customers/99999999999999999999/360")
        assert huge.status == 422


async def test_transfer_needs_scope_and_grant(api: Api) -> None:
    data = await _seed(api)
    u = api.users
    async with signed_in(api, "agent") as agent:
        # not in the agent's scope: 404 (the record is not even admitted to exist)
        resp = await agent.post(f"/customers/{data.south}/owner", json={"user_id": u.agent})
        assert resp.status == 404
        # visible but no reassign grant: 403
        resp = await agent.post(f"/customers/{data.mine}/owner", json={"user_id": u.agent2})
        assert resp.status == 403 and (await resp.json())["error"] == "forbidden"
        assert (await agent.get(f"/customers/{data.south}/ownership-history")).status == 404
        # claiming a pool customer is self-service
        resp = await agent.post(f"/customers/{data.pool}/owner", json={"user_id": u.agent})
        assert resp.status == 200, await resp.text()
        assert (await resp.json())["reason"] == "claim"
    assert await _history_rows(api) == 1

    async with signed_in(api, "admin") as admin:
        for body, field in (({"user_id": "x"}, "user_id"), ({}, "user_id"),
                            ({"user_id": 0}, "user_id"), ({"user_id": 99999}, "to_user_id"),
                            ({"user_id": u.agent2, "why": 1}, "why")):
            resp = await admin.post(f"/customers/{data.mine}/owner", json=body)
            assert resp.status == 422, (body, await resp.text())
            assert (await resp.json())["field"] == field
        assert await _history_rows(api) == 1  # nothing written by the refused requests
        resp = await admin.post(f"/customers/{data.mine}/owner", json={"user_id": u.agent2})
        assert resp.status == 200
        assert (await resp.json())["changed"] is True
        history = await (await admin.get(f"/customers/{data.mine}/ownership-history")).json()
        assert [s["to_user"]["display_name"] for s in history["items"]] == ["李娜"]
        assert history["items"][0]["by"]["display_name"] == "管理员"


async def test_leaver_reassignment(api: Api) -> None:
    data = await _seed(api)
    u = api.users
    async with api.sessionmaker.begin() as db:
        lead = Opportunity(customer_id=data.mine, title="扩产报价", stage="proposal",
                           owner_id=u.agent)
        db.add(lead)
    async with signed_in(api, "agent") as agent:
        resp = await agent.post(f"/users/{u.agent}/reassign-customers",
                                json={"to_user_id": u.agent2})
        assert resp.status == 403
    async with signed_in(api, "admin") as admin:
        resp = await admin.post(f"/users/{u.agent}/reassign-customers",
                                json={"to_user_id": u.agent2})
        assert resp.status == 200
        answer = await resp.json()
        assert (answer["moved"], answer["opportunities_moved"]) == (1, 1)
    async with api.sessionmaker() as db:
        customer = await db.get(Customer, data.mine)
        assert customer is not None and customer.owner_id == u.agent2
        assert await db.scalar(select(Opportunity.owner_id)
                               .where(Opportunity.id == lead.id)) == u.agent2


async def test_reports_scope_and_downloads(api: Api) -> None:
    await _seed(api)
    async with signed_in(api, "agent") as agent:
        assert (await agent.get("/reports/customers", params={"by": "owner"})).status == 403
    async with signed_in(api, "manager") as manager:
        resp = await manager.get("/reports/customers", params={"by": "owner"})
        assert resp.status == 200
        groups = {g["label"]: g["customers"] for g in (await resp.json())["items"]}
        assert groups == {"王小明": 1, "李娜": 1}  # the team's customers only
        bad = await manager.get("/reports/customers", params={"by": "shoe-size"})
        assert bad.status == 422 and (await bad.json())["field"] == "by"
    await grant(api, "manager", "reports", "export", "team")
    async with signed_in(api, "manager") as manager:
        resp = await manager.get("/reports/customers",
                                 params={"by": "category", "format": "csv", "lang": "en"})
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/csv")
        assert "attachment" in resp.headers["Content-Disposition"]
        text = (await resp.read()).decode("utf-8-sig")
        assert text.splitlines()[0].startswith("group,customers")
        resp = await manager.get("/reports/products", params={"format": "xlsx"})
        assert resp.status == 200
        book = openpyxl.load_workbook(io.BytesIO(await resp.read()), read_only=True)
        rows = list(book.active.iter_rows(values_only=True))  # type: ignore[union-attr]
        book.close()
        assert rows[0][0] == "产品线代码" and rows[1][0] == "PRN" and rows[1][2] == 1
        prods = await (await manager.get("/reports/products")).json()
        assert prods["items"][0]["assets"] == 1


async def grant(api: Api, role: str, module: str, operation: str, scope: str) -> None:
    async with api.sessionmaker.begin() as db:
        role_id = await db.scalar(select(Role.id).where(Role.name == role))
        db.add(RolePermission(role_id=role_id, module=module, operation=operation,
                              scope=scope))


REPORT_FILES = [("/reports/customers", {"by": "owner"}), ("/reports/products", {}),
                ("/reports/entry-numbers", {})]


async def test_report_files_need_the_export_grant(api: Api) -> None:
    """Issue 14 item 12: a manager allowed to READ reports downloaded them as CSV and
    XLSX files without ``reports:export``. Every report route refuses a file (403)
    without it, still shows the report on screen, and gives the file once granted,
    in the export grant's own scope."""
    await _seed(api)  # the test manager: reports:read "team", no reports:export
    async with signed_in(api, "manager") as manager:
        for path, params in REPORT_FILES:
            assert (await manager.get(path, params=params)).status == 200, path
            for fmt in ("csv", "xlsx"):
                resp = await manager.get(path, params={**params, "format": fmt})
                assert resp.status == 403, (path, fmt)
                assert (await resp.json())["message"] == "not allowed: export on reports"
                assert "Content-Disposition" not in resp.headers
    await grant(api, "manager", "reports", "export", "own")
    async with signed_in(api, "manager") as manager:
        for path, params in REPORT_FILES:
            resp = await manager.get(path, params={**params, "format": "csv", "lang": "en"})
            assert resp.status == 200, path
            assert "attachment" in resp.headers["Content-Disposition"]
        resp = await manager.get("/reports/customers",
                                 params={"by": "owner", "format": "csv", "lang": "en"})
        text = (await resp.read()).decode("utf-8-sig")
    # the export scope is "own": the manager owns no customer, so no group (the screen's
    # "team" scope counts the team's two)
    assert text.splitlines() == ["group,customers,active,prospects,dormant,lost,"
                                 "VIP customers,total value,assets,open tickets"]


async def test_the_configured_claim_cap_applies_over_http(db_url: str) -> None:
    """HOTLINE_OWNERSHIP_CAP reaches the API: with a cap of 1, a second claim from
    the shared pool is refused (422 on owner_id) and nothing changes."""
    from crm_core.ownership import OwnershipRules
    from tests.integration.test_api_support import running_api, signed_in

    async with running_api(db_url, ownership=OwnershipRules(cap=1)) as api:
        async with api.sessionmaker.begin() as db:
            pool = [Customer(name=f"公海客户{i}", name_key=f"公海客户{i}", province="河北")
                    for i in range(2)]
            db.add_all(pool)
            await db.flush()
            ids = [c.id for c in pool]
        async with signed_in(api, "agent") as agent:
            first = await agent.post(f"/customers/{ids[0]}/owner",
                                     json={"user_id": api.users.agent})
            assert first.status == 200, await first.text()
            second = await agent.post(f"/customers/{ids[1]}/owner",
                                      json={"user_id": api.users.agent})
            assert second.status == 422, await second.text()
            assert (await second.json())["field"] == "owner_id"
        async with api.sessionmaker() as db:
            owner = await db.scalar(select(Customer.owner_id).where(Customer.id == ids[1]))
        assert owner is None
