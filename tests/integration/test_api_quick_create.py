"""The unknown caller's quick-create over real HTTP, on SQLite and PostgreSQL (issue 14
item 7): the company with the person on the phone and a note in one request, and its
account manager by the stated rule (crm_core.account_managers): a hotline agent's new
customer goes to the account manager of its region (the least loaded of several), or to
the shared pool; a manager who creates one keeps it; ``GET /regions`` tells the console
who that will be. Refusals write nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from sqlalchemy import func, select

from crm_core.models import (
    Contact,
    Customer,
    Interaction,
    OwnershipChange,
    Role,
    RolePermission,
    User,
)
from crm_core.users import DEFAULT_ROLES
from tests.integration.test_api_support import (
    FAST_HASHER,
    PASSWORD,
    Api,
    running_api,
    signed_in,
)


@dataclass
class Team:
    busy_sh: int  # 上海 account manager with two customers
    idle_sh: int  # 上海 account manager with none: the rule's choice there
    js: int  # 江苏 account manager, region written "江苏省"
    gone_zj: int  # 浙江 account manager who left (deactivated)


@pytest.fixture
async def api(db_url: str) -> AsyncIterator[Api]:
    async with running_api(db_url) as running:
        yield running


async def _seed(api: Api) -> Team:
    """A hotline agent with the default agent grants, and account managers by region;
    ``running_api`` already has 张经理 (manager, 北京) and 陈南 (agent role, 广东)."""
    pw = FAST_HASHER.hash(PASSWORD)
    async with api.sessionmaker.begin() as db:
        hotline = Role(name="hotline")
        db.add(hotline)
        manager = await db.scalar(select(Role.id).where(Role.name == "manager"))
        await db.flush()
        for (module, operation), scope in DEFAULT_ROLES["agent"].grants.items():
            db.add(RolePermission(role_id=hotline.id, module=module, operation=operation,
                                  scope=scope))
        users = {
            "hotline": User(username="hotline", display_name="Alice", password_hash=pw,
                            role_id=hotline.id, team="热线"),
            "busy_sh": User(username="busy", display_name="王磊", password_hash=pw,
                            role_id=manager, team="华东", region="上海"),
            "idle_sh": User(username="idle", display_name="周婷", password_hash=pw,
                            role_id=manager, team="华东", region="上海"),
            "js": User(username="js", display_name="孙杰", password_hash=pw, role_id=manager,
                       team="华东", region="江苏省"),
            "gone_zj": User(username="gone", display_name="钱多", password_hash=pw,
                            role_id=manager, team="华东", region="浙江", active=False),
        }
        db.add_all(users.values())
        await db.flush()
        db.add_all([Customer(name=f"老客户{i}", name_key=f"老客户{i}", province="上海",
                             owner_id=users["busy_sh"].id) for i in range(2)])
        return Team(busy_sh=users["busy_sh"].id, idle_sh=users["idle_sh"].id,
                    js=users["js"].id, gone_zj=users["gone_zj"].id)


async def _count(api: Api, model: type) -> int:
    async with api.sessionmaker() as db:
        return int(await db.scalar(select(func.count()).select_from(model)) or 0)


async def test_a_hotline_agents_customer_goes_to_its_regions_least_loaded_manager(
    api: Api
) -> None:
    team = await _seed(api)
    async with signed_in(api, "hotline") as agent:
        resp = await agent.post("/customers", json={
            "name": "上海浦江物流有限公司", "kind": "company", "numbers": ["021-6123 4567"],
            "province": "上海", "contact_name": "陈工", "contact_role": "设备科",
            "note": "询问叉车保养合同", "source": "hotline"})
        assert resp.status == 201, await resp.text()
        created = await resp.json()
        assert created["owner_id"] == team.idle_sh  # not 王磊, who has two already
        assert created["owner_name"] == "周婷"
        assert created["contact"]["name"] == "陈工"
        # the number is the contact's: the next call pops the company and who is calling
        found = await (await agent.get("/lookup", params={"phone": "02161234567"})).json()
        assert found["customer"]["id"] == created["id"]
        assert found["contact"]["name"] == "陈工"
        notes = await (await agent.get(f"/customers/{created['id']}/interactions")).json()
        assert [(i["kind"], i["content"]) for i in notes["items"]] == [
            ("note", "询问叉车保养合同")]
        history = await (await agent.get(
            f"/customers/{created['id']}/ownership-history")).json()
        assert [(h["to_user"]["id"], h["reason"]) for h in history["items"]] == [
            (team.idle_sh, "region")]
        # loads now 王磊 2, 周婷 1: the next goes to her; then 2 each: the lower id (王磊)
        owners = [(await (await agent.post("/customers", json={
            "name": f"上海第{n}家", "province": province})).json())["owner_id"]
            for n, province in (("二", "上海市"), ("三", "上海"), ("四", "Shanghai"))]
        assert owners == [team.idle_sh, team.busy_sh, team.idle_sh]


@pytest.mark.parametrize(("province", "owner"), [
    ("江苏", "js"),  # the manager's region is written 江苏省: one region
    ("浙江", None),  # its only manager left: the pool
    ("广东", None),  # 陈南 is there but is no account manager
    (None, None),  # no region: the pool
    ("火星", None),  # not a province
])
async def test_the_rule_by_region(api: Api, province: str | None, owner: str | None) -> None:
    team = await _seed(api)
    body = {"name": "某某科技有限公司"} | ({"province": province} if province else {})
    async with signed_in(api, "hotline") as agent:
        resp = await agent.post("/customers", json=body)
        assert resp.status == 201, await resp.text()
        created = await resp.json()
    assert created["owner_id"] == (None if owner is None else getattr(team, owner))
    assert created["contact"] is None and created["note_id"] is None


async def test_a_manager_keeps_and_an_admin_follows_the_region(api: Api) -> None:
    team = await _seed(api)
    async with signed_in(api, "manager") as manager:  # 张经理, 北京, create scope "own"
        mine = await (await manager.post("/customers", json={
            "name": "上海经理自建客户", "province": "上海"})).json()
        regions = await (await manager.get("/regions")).json()
    assert mine["owner_id"] == api.users.manager
    assert regions["creator_keeps"] is True
    async with signed_in(api, "admin") as admin:
        theirs = await (await admin.post("/customers", json={
            "name": "江苏管理员建的客户", "province": "江苏"})).json()
        pinned = await (await admin.post("/customers", json={
            "name": "指定经理的客户", "province": "江苏", "owner_id": team.busy_sh})).json()
    assert theirs["owner_id"] == team.js
    assert pinned["owner_id"] == team.busy_sh  # an explicit owner comes first


async def test_regions_tell_the_console_who_gets_the_customer(api: Api) -> None:
    team = await _seed(api)
    async with signed_in(api, "hotline") as agent:
        resp = await agent.get("/regions")
        assert resp.status == 200, await resp.text()
        regions = await resp.json()
    assert regions["creator_keeps"] is False
    by = {r["region"]: r for r in regions["items"]}
    assert len(by) == 34 and by["上海"]["name_en"] == "Shanghai"
    assert by["上海"]["manager"] == {"id": team.idle_sh, "display_name": "周婷"}
    assert by["江苏"]["manager"]["id"] == team.js
    assert by["北京"]["manager"]["id"] == api.users.manager
    assert by["浙江"]["manager"] is None and by["广东"]["manager"] is None
    async with api.sessionmaker.begin() as db:
        no_create = Role(name="viewer")
        db.add(no_create)
        await db.flush()
        db.add(User(username="viewer", display_name="V", role_id=no_create.id,
                    password_hash=FAST_HASHER.hash(PASSWORD)))
    async with signed_in(api, "viewer") as viewer:
        assert (await viewer.get("/regions")).status == 403


async def test_refusals_write_nothing(api: Api) -> None:
    await _seed(api)
    async with signed_in(api, "hotline") as agent:
        first = await agent.post("/customers", json={
            "name": "宁波港吉码头经营有限公司", "numbers": ["0574-8765 4321"],
            "contact_name": "李工", "province": "浙江"})
        assert first.status == 201, await first.text()
        before = [await _count(api, m) for m in (Customer, Contact, Interaction,
                                                 OwnershipChange)]
        # the contact's number is another customer's: 409 naming it, nothing written
        dup = await agent.post("/customers", json={
            "name": "别的公司", "numbers": ["+86 574 8765 4321"], "contact_name": "王工",
            "note": "x"})
        assert dup.status == 409, await dup.text()
        assert (await dup.json())["existing"]["name"] == "宁波港吉码头经营有限公司"
        for body, field in (
            ({"name": "x", "contact_name": "名" * 101}, "contact_name"),
            ({"name": "x", "note": "a\x00b"}, "note"),
            ({"name": "x", "note": "n" * 4001}, "note"),
            ({"name": "x", "contact_role": 7}, "contact_role"),
        ):
            resp = await agent.post("/customers", json=body)
            assert resp.status == 422, (body, await resp.text())
            assert (await resp.json())["field"] == field
        after = [await _count(api, m) for m in (Customer, Contact, Interaction,
                                                OwnershipChange)]
    assert after == before
