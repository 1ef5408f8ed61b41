"""Roles and grants through the API and in the database (issue 14 item 10): the
defaults are in the database once (migration 0015) and stay as admins edit them;
only admins change roles, grants and other people's accounts; grants name known
modules, operations and scopes; the last admin keeps their rights; a changed grant
applies at the user's next request. On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import column, delete, insert, select, table
from sqlalchemy.ext.asyncio import async_sessionmaker

from crm_core.db import make_engine, upgrade_async
from crm_core.demo_data import seed_demo
from crm_core.models import AuditEntry, Role, RolePermission, User
from crm_core.users import DEFAULT_ROLES, ensure_roles
from tests.integration.migration_support import migrate_to
from tests.integration.test_api_support import (
    Api,
    ApiClient,
    role_with_grants,
    running_api,
    seed_customers,
    signed_in,
)


@pytest.fixture
async def api(db_url: str) -> AsyncIterator[Api]:
    async with running_api(db_url) as running:
        yield running


async def role_id(api: Api, name: str) -> int:
    async with api.sessionmaker() as db:
        found = await db.scalar(select(Role.id).where(Role.name == name))
    assert found is not None, name
    return found


async def stored_grants(api: Api, name: str) -> dict[str, str]:
    async with api.sessionmaker() as db:
        rows = await db.execute(
            select(RolePermission.module, RolePermission.operation, RolePermission.scope)
            .join(Role, Role.id == RolePermission.role_id).where(Role.name == name))
        return {f"{m}:{o}": s for m, o, s in rows}


async def audits(api: Api, entity: str, entity_id: int) -> list[AuditEntry]:
    async with api.sessionmaker() as db:
        return list((await db.scalars(
            select(AuditEntry).where(AuditEntry.entity == entity,
                                     AuditEntry.entity_id == str(entity_id))
            .order_by(AuditEntry.id))).all())


async def status_of(client: ApiClient, method: str, path: str, **kw: Any) -> int:
    return (await client.request(method, path, **kw)).status


async def body(resp: Any) -> Any:
    return await resp.json()


# --- the defaults, in the database once ---------------------------------------------------


async def test_a_new_database_holds_the_default_roles_and_keeps_an_admins_edit(
    db_url: str
) -> None:
    await upgrade_async(db_url)
    engine = make_engine(db_url)
    maker = async_sessionmaker(engine, expire_on_commit=False)
    try:
        async with maker() as db:
            roles = {r.name: r for r in (await db.scalars(select(Role))).all()}
            rows = (await db.execute(select(RolePermission))).scalars().all()
        assert set(roles) == set(DEFAULT_ROLES)
        for name, spec in DEFAULT_ROLES.items():
            assert roles[name].description == spec.description
            held = {(p.module, p.operation): p.scope for p in rows
                    if p.role_id == roles[name].id}
            assert held == dict(spec.grants), name
        # an admin removed the agents' calls:read; ensure_roles (hotline user add, the demo
        # seed) used to put it back: no more
        async with maker.begin() as db:
            await db.execute(delete(RolePermission).where(
                RolePermission.role_id == roles["agent"].id, RolePermission.module == "calls"))
        async with maker.begin() as db:
            ids = await ensure_roles(db)
        assert ids["agent"] == roles["agent"].id
        async with maker() as db:
            left = await db.scalar(select(RolePermission.id).where(
                RolePermission.role_id == roles["agent"].id, RolePermission.module == "calls"))
        assert left is None
    finally:
        await engine.dispose()


async def test_the_migration_completes_existing_roles_without_overriding_them(
    db_url: str
) -> None:
    engine = make_engine(db_url)
    try:
        async with engine.begin() as conn:
            await migrate_to(conn, db_url, "0013")
        async with async_sessionmaker(engine).begin() as db:  # as an older site left it
            agent = Role(name="agent", description="ours")
            db.add(agent)
            await db.flush()
            db.add(RolePermission(role_id=agent.id, module="customers", operation="read",
                                  scope="own"))
            # the 0013 table's own columns (the model's later ones do not exist yet)
            await db.execute(insert(table("app_user", column("username"), column(
                "display_name"), column("role_id"))).values(
                    username="bo", display_name="Bo", role_id=agent.id))
            agent_id = agent.id
        async with engine.begin() as conn:
            await migrate_to(conn, db_url, "head")
        async with async_sessionmaker(engine)() as db:
            roles = {r.name: r for r in (await db.scalars(select(Role))).all()}
            grants = {(p.module, p.operation): p.scope for p in (await db.scalars(
                select(RolePermission).where(RolePermission.role_id == agent_id))).all()}
        assert set(roles) == set(DEFAULT_ROLES)
        assert roles["agent"].id == agent_id and roles["agent"].description == "ours"
        assert grants[("customers", "read")] == "own"  # the site's own choice stays
        assert grants[("calls", "read")] == "all"  # a default it lacked arrives
        assert set(grants) == set(DEFAULT_ROLES["agent"].grants)
    finally:
        await engine.dispose()


# --- who may -----------------------------------------------------------------------------


async def test_only_admins_change_roles_grants_and_other_peoples_accounts(api: Api) -> None:
    agent_role = await role_id(api, "agent")
    async with api.sessionmaker.begin() as db:  # a manager who may read and edit users
        await role_with_grants(db, "manager", {("users", "read"): "all",
                                               ("users", "update"): "all",
                                               ("users", "create"): "all"})
    async with signed_in(api, "agent") as agent:
        assert await status_of(agent, "GET", "/roles") == 403  # no users grant at all
        assert await status_of(agent, "GET", f"/roles/{agent_role}") == 403
        assert await status_of(agent, "GET", "/users") == 403
        assert await status_of(agent, "POST", "/users", json={
            "username": "x1", "display_name": "X", "role": "agent"}) == 403
        assert await status_of(agent, "PATCH", f"/users/{api.users.agent2}",
                               json={"team": "south"}) == 403
    async with signed_in(api, "manager") as manager:
        resp = await manager.get("/roles")
        assert resp.status == 200  # may read them...
        for method, path, payload in (
            ("PUT", f"/roles/{agent_role}/grants", {"grants": {"users:update": "all"}}),
            ("PATCH", f"/roles/{agent_role}", {"description": "x"}),
            ("POST", "/roles", {"name": "mine", "grants": {"users:update": "all"}}),
            ("DELETE", f"/roles/{agent_role}", None),
        ):
            resp = await manager.request(method, path, json=payload)
            assert resp.status == 403, (method, path)  # ...but a grant hands out rights
            assert (await body(resp))["error"] == "forbidden"
        # nor may a users:update grant make anyone an admin
        resp = await manager.patch(f"/users/{api.users.agent}", json={"role": "admin"})
        assert resp.status == 403
    assert await stored_grants(api, "agent") != {"users:update": "all"}


# --- the admin's edits ----------------------------------------------------------------------


async def test_admin_edits_grants_checked_against_the_vocabulary_and_audited(api: Api) -> None:
    agent_role = await role_id(api, "agent")
    before = await stored_grants(api, "agent")
    async with signed_in(api, "admin") as admin:
        listed = await body(await admin.get("/roles"))
        assert listed["modules"][0] == "customers" and "calls" in listed["modules"]
        assert listed["operations"] == ["read", "create", "update", "delete", "export",
                                        "reassign"]
        assert listed["scopes"] == ["own", "team", "region", "all", "station", "technician"]
        by_name = {r["name"]: r for r in listed["items"]}
        assert set(by_name) == set(DEFAULT_ROLES)
        assert by_name["admin"]["is_admin"] and by_name["agent"]["builtin"]
        assert by_name["agent"]["users"] == 3  # agent, agent2, south
        assert by_name["hotline_supervisor"]["grants"]["calls:read"] == "all"

        for grants, field in (
            ({"bogus:read": "all"}, "grants.bogus:read"),
            ({"customers:fly": "all"}, "grants.customers:fly"),
            ({"customers:read": "everything"}, "grants.customers:read"),
        ):
            resp = await admin.put(f"/roles/{agent_role}/grants", json={"grants": grants})
            answer = await body(resp)
            assert resp.status == 422, grants
            assert answer["error"] == "validation" and answer["field"] == field
        resp = await admin.put(f"/roles/{agent_role}/grants", json={"grants": "all"})
        assert resp.status == 422
        assert await stored_grants(api, "agent") == before  # nothing of it stored

        wanted = {"customers:read": "all", "calls:read": "team", "reports:export": "region"}
        resp = await admin.put(f"/roles/{agent_role}/grants", json={"grants": wanted})
        assert resp.status == 200
        assert (await body(resp))["grants"] == {"customers:read": "all",
                                                "reports:export": "region",
                                                "calls:read": "team"}
        assert await stored_grants(api, "agent") == wanted
        resp = await admin.patch(f"/roles/{agent_role}", json={"description": "坐席 <b>"})
        assert resp.status == 200 and (await body(resp))["description"] == "坐席 <b>"
        missing = await admin.put("/roles/99999/grants", json={"grants": {}})
        assert missing.status == 404
        assert (await admin.get("/roles/99999")).status == 404
    entries = await audits(api, "role", agent_role)
    assert [e.action for e in entries] == ["update-grants", "update"]
    assert entries[0].user_id == api.users.admin
    assert entries[0].before == {"grants": before}
    assert entries[0].after == {"grants": {"customers:read": "all", "reports:export": "region",
                                           "calls:read": "team"}}


async def test_admin_creates_and_deletes_a_role_of_their_own(api: Api) -> None:
    async with signed_in(api, "admin") as admin:
        resp = await admin.post("/roles", json={
            "name": "night-shift", "description": "夜班", "grants": {"calls:read": "all"}})
        assert resp.status == 201
        made = await body(resp)
        assert made["builtin"] is False and made["users"] == 0
        assert made["grants"] == {"calls:read": "all"}
        for payload, field in (
            ({"name": "night-shift"}, "name"),  # taken
            ({"name": "Night Shift"}, "name"),
            ({"name": "x"}, "name"),
            ({"name": "ok-name", "grants": {"calls:fly": "all"}}, "grants.calls:fly"),
            ({"name": "ok-name", "is_admin": True}, "is_admin"),
        ):
            resp = await admin.post("/roles", json=payload)
            assert resp.status == 422, payload
            assert (await body(resp))["field"] == field, payload
        # a user holds it: not deleted; a default role: never
        resp = await admin.post("/users", json={"username": "night1", "display_name": "夜班一",
                                                "role": "night-shift"})
        assert resp.status == 201
        night1 = (await body(resp))["id"]
        resp = await admin.delete(f"/roles/{made['id']}")
        assert resp.status == 409 and "hold" in (await body(resp))["message"]
        for name in DEFAULT_ROLES:
            resp = await admin.delete(f"/roles/{await role_id(api, name)}")
            assert resp.status == 409, name
        resp = await admin.patch(f"/users/{night1}", json={"role": "agent"})
        assert resp.status == 200
        assert (await admin.delete(f"/roles/{made['id']}")).status == 204
        assert (await admin.get(f"/roles/{made['id']}")).status == 404
    actions = [e.action for e in await audits(api, "role", made["id"])]
    assert actions == ["create", "delete"]


async def test_admin_sets_role_team_region_and_phone_and_deactivates(api: Api) -> None:
    async with signed_in(api, "admin") as admin:
        resp = await admin.post("/users", json={
            "username": "zhao.min", "display_name": "赵敏", "role": "agent",
            "password": "long enough 1"})
        assert resp.status == 201
        uid = (await body(resp))["id"]
        resp = await admin.patch(f"/users/{uid}", json={
            "role": "hotline_supervisor", "team": "热线", "region": "上海",
            "agent_interface": "PJSIP/2001", "agent_name": "Zhao"})
        assert resp.status == 200
        user = await body(resp)
        assert (user["role"], user["team"], user["region"], user["agent_interface"]) == (
            "hotline_supervisor", "热线", "上海", "PJSIP/2001")
        # an interface goes into AMI actions: a line break would be a header of its own
        for bad in ("PJSIP/2002\r\nAction: Originate", "2002", "PJSIP/ 2002", "/2002"):
            resp = await admin.patch(f"/users/{uid}", json={"agent_interface": bad})
            assert resp.status == 422, bad
            assert (await body(resp))["field"] == "agent_interface"
        resp = await admin.post("/users", json={"username": "dup", "display_name": "D",
                                                "role": "agent", "agent_interface": "PJSIP/2001"})
        assert resp.status == 422 and (await body(resp))["field"] == "agent_interface"
        resp = await admin.patch(f"/users/{uid}", json={"role": "no-such-role"})
        assert resp.status == 422 and (await body(resp))["field"] == "role"
        resp = await admin.delete(f"/users/{uid}")
        assert resp.status == 200 and (await body(resp))["active"] is False
        listed = await body(await admin.get("/users", params={"active": "true",
                                                              "limit": "200"}))
        assert uid not in {u["id"] for u in listed["items"]}
        resp = await admin.patch(f"/users/{uid}", json={"active": True})
        assert resp.status == 200 and (await body(resp))["active"] is True
    entries = await audits(api, "app_user", uid)
    assert [e.action for e in entries] == ["create", "update", "update", "update"]
    assert entries[1].after is not None and entries[1].after["team"] == "热线"


async def test_the_last_admin_keeps_their_rights(api: Api) -> None:
    admin_role = await role_id(api, "admin")
    me = api.users.admin
    async with signed_in(api, "admin") as admin:
        for method, path, payload in (
            ("PATCH", f"/users/{me}", {"role": "agent"}),
            ("PATCH", f"/users/{me}", {"active": False}),
            ("DELETE", f"/users/{me}", None),
            ("PUT", f"/roles/{admin_role}/grants", {"grants": {"customers:read": "own"}}),
            ("DELETE", f"/roles/{admin_role}", None),
        ):
            resp = await admin.request(method, path, json=payload)
            assert resp.status == 409, (method, path)
            assert (await body(resp))["error"] == "conflict"
        assert (await admin.get("/roles")).status == 200  # still an admin
        resp = await admin.post("/users", json={"username": "root2", "display_name": "Root 2",
                                                "role": "admin", "password": "long enough 2"})
        assert resp.status == 201
        # with a second admin, the first may step down
        resp = await admin.patch(f"/users/{me}", json={"role": "agent"})
        assert resp.status == 200 and (await body(resp))["is_admin"] is False
        assert (await admin.get("/roles")).status == 403  # at the very next request
    assert await stored_grants(api, "admin") == {}


async def test_a_changed_grant_applies_at_the_users_next_request(api: Api) -> None:
    customers = await seed_customers(api, 4)  # customer 0 is the agent's, 1 agent2's
    agent_role = await role_id(api, "agent")
    async with signed_in(api, "agent") as agent, signed_in(api, "admin") as admin:
        assert (await agent.get(f"/customers/{customers[0]}")).status == 200
        assert (await agent.get(f"/customers/{customers[1]}")).status == 404  # not own

        resp = await admin.put(f"/roles/{agent_role}/grants",
                               json={"grants": {"customers:read": "all"}})
        assert resp.status == 200
        # the same session, not signed in again: the wider scope at once
        assert (await agent.get(f"/customers/{customers[1]}")).status == 200
        session = await body(await agent.get("/session"))
        assert session["grants"] == [{"module": "customers", "operation": "read",
                                      "scope": "all"}]

        resp = await admin.put(f"/roles/{agent_role}/grants", json={"grants": {}})
        assert resp.status == 200
        resp = await agent.get(f"/customers/{customers[0]}")
        assert resp.status == 403  # not even their own any more
        assert (await body(resp))["message"] == "not allowed: read on customers"


# --- the demo's hotline supervisor ----------------------------------------------------------


async def test_the_demo_seed_makes_zhao_min_the_hotline_supervisor_once(db_url: str) -> None:
    await upgrade_async(db_url)
    engine = make_engine(db_url)
    maker = async_sessionmaker(engine, expire_on_commit=False)

    async def role_of_zhao() -> str | None:
        async with maker() as db:
            return await db.scalar(select(Role.name).join(User, User.role_id == Role.id)
                                   .where(User.username == "zhao.min"))

    async def set_role(name: str) -> None:
        async with maker.begin() as db:
            rid = await db.scalar(select(Role.id).where(Role.name == name))
            user = await db.scalar(select(User).where(User.username == "zhao.min"))
            assert user is not None
            user.role_id = rid

    try:
        await seed_demo(maker)
        assert await role_of_zhao() == "hotline_supervisor"
        await set_role("supervisor")  # as the older seed left her: a sales team's
        await seed_demo(maker)
        assert await role_of_zhao() == "hotline_supervisor"
        await set_role("manager")  # an admin's choice since: left alone
        await seed_demo(maker)
        assert await role_of_zhao() == "manager"
        async with maker() as db:
            moved = (await db.scalars(select(AuditEntry).where(
                AuditEntry.entity == "app_user", AuditEntry.action == "seed"))).all()
        assert len(moved) == 1 and moved[0].after is not None
        assert moved[0].after["team"] == "热线"
    finally:
        await engine.dispose()
