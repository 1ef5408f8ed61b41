"""Helpers for the API tests: the real API app on a free port over real HTTP, with
a migrated database and a few users of different grants.

Rules: no test functions here (only helpers imported by test_api*.py); users are
seeded straight into the tables (the roles and grants are test data, not under test).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web
from argon2 import PasswordHasher
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agent_console.api import ApiConfig, AuthState, create_api_app
from agent_console.api.auth_store import SqlAuthStore
from agent_console.api.routing import Routes
from crm_core.db import make_engine, upgrade_async
from crm_core.models import Role, RolePermission, User

PASSWORD = "correct horse 电池 staple"
# cheap hashes: the tests sign in many times; production uses argon2's defaults
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)

AGENT_GRANTS = {
    ("customers", "read"): "own", ("customers", "create"): "own",
    ("customers", "update"): "own",
    ("contacts", "read"): "own", ("contacts", "create"): "own",
    ("assets", "read"): "own", ("interactions", "read"): "own",
    ("interactions", "create"): "own", ("tickets", "read"): "own",
    ("tickets", "create"): "own",
}
MANAGER_GRANTS = {**AGENT_GRANTS, ("customers", "read"): "team",
                  ("customers", "delete"): "team", ("customers", "reassign"): "team",
                  ("reports", "read"): "team", ("customers", "export"): "team"}


@dataclass
class Users:
    admin: int
    agent: int
    agent2: int
    manager: int
    other_team: int


@dataclass
class Api:
    base: str  # http://127.0.0.1:PORT/api/v1
    sessionmaker: async_sessionmaker[AsyncSession]
    auth: AuthState
    users: Users

    def client(self, source: str | None = None) -> ApiClient:
        return ApiClient(self.base, source)


class ApiClient:
    """An HTTP client with its own cookie jar and the CSRF token from sign-in;
    ``source``: the loopback address it connects from (another client address)."""

    def __init__(self, base: str, source: str | None = None) -> None:
        self.base = base
        connector = aiohttp.TCPConnector(local_addr=(source, 0)) if source else None
        # unsafe=True: keep cookies from an IP address host (127.0.0.1)
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True),
                                          connector=connector)
        self.csrf: str | None = None

    async def close(self) -> None:
        await self.http.close()

    async def sign_in(self, username: str, password: str = PASSWORD) -> aiohttp.ClientResponse:
        resp = await self.http.post(f"{self.base}/session",
                                    json={"username": username, "password": password})
        if resp.status == 200:
            self.csrf = (await resp.json())["csrf_token"]
        return resp

    async def request(self, method: str, path: str, *, csrf: bool = True, **kw: Any
                      ) -> aiohttp.ClientResponse:
        headers = dict(kw.pop("headers", {}))
        if csrf and self.csrf and method.upper() != "GET":
            headers.setdefault("X-CSRF-Token", self.csrf)
        resp = await self.http.request(method, f"{self.base}{path}", headers=headers, **kw)
        await resp.read()
        return resp

    async def get(self, path: str, **kw: Any) -> aiohttp.ClientResponse:
        return await self.request("GET", path, **kw)

    async def post(self, path: str, **kw: Any) -> aiohttp.ClientResponse:
        return await self.request("POST", path, **kw)

    async def patch(self, path: str, **kw: Any) -> aiohttp.ClientResponse:
        return await self.request("PATCH", path, **kw)

    async def put(self, path: str, **kw: Any) -> aiohttp.ClientResponse:
        return await self.request("PUT", path, **kw)

    async def delete(self, path: str, **kw: Any) -> aiohttp.ClientResponse:
        return await self.request("DELETE", path, **kw)

    def cookie_header(self) -> str:
        return "; ".join(f"{c.key}={c.value}" for c in self.http.cookie_jar)


async def role_with_grants(db: AsyncSession, name: str, grants: dict[tuple[str, str], str]
                           ) -> int:
    """Role ``name`` with exactly ``grants``: the migrations seed the default roles
    (agent, manager...) with theirs, which a test replaces by the ones it means."""
    role_id = await db.scalar(select(Role.id).where(Role.name == name))
    if role_id is None:
        role = Role(name=name)
        db.add(role)
        await db.flush()
        role_id = role.id
    await db.execute(delete(RolePermission).where(RolePermission.role_id == role_id))
    for (module, operation), scope in grants.items():
        db.add(RolePermission(role_id=role_id, module=module, operation=operation, scope=scope))
    await db.flush()
    return role_id


async def seed_users(sessionmaker: async_sessionmaker[AsyncSession]) -> Users:
    pw = FAST_HASHER.hash(PASSWORD)
    async with sessionmaker.begin() as db:
        agent_role = await role_with_grants(db, "agent", AGENT_GRANTS)
        manager_role = await role_with_grants(db, "manager", MANAGER_GRANTS)
        rows = {
            "admin": User(username="admin", display_name="管理员", password_hash=pw,
                          is_admin=True, language="zh-CN"),
            "agent": User(username="agent", display_name="王小明", password_hash=pw,
                          role_id=agent_role, team="north", region="北京"),
            "agent2": User(username="agent2", display_name="李娜", password_hash=pw,
                           role_id=agent_role, team="north", region="北京"),
            "manager": User(username="manager", display_name="张经理", password_hash=pw,
                            role_id=manager_role, team="north", region="北京"),
            "other_team": User(username="south", display_name="陈南", password_hash=pw,
                               role_id=agent_role, team="south", region="广东"),
        }
        db.add_all(rows.values())
        await db.flush()
        return Users(**{k: u.id for k, u in rows.items()})


@contextlib.asynccontextmanager
async def running_api(db_url: str, *, routes: Routes | None = None, **config: Any
                      ) -> AsyncIterator[Api]:
    """The API sub-app mounted at /api/v1 on a free port, database migrated and seeded."""
    await upgrade_async(db_url)
    engine = make_engine(db_url)
    sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
    runner: web.AppRunner | None = None
    try:
        users = await seed_users(sessionmaker)
        api_config = ApiConfig(secret_key=b"k" * 32, **config)
        auth = AuthState(api_config, hasher=FAST_HASHER, store=SqlAuthStore(engine))
        root = web.Application()
        root.add_subapp("/api/v1", create_api_app(api_config, sessionmaker, auth=auth,
                                                        routes=routes))
        runner = web.AppRunner(root)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        yield Api(base=f"http://127.0.0.1:{port}/api/v1", sessionmaker=sessionmaker,
                  auth=auth, users=users)
    finally:
        if runner is not None:
            await runner.cleanup()
        await engine.dispose()


@contextlib.asynccontextmanager
async def signed_in(api: Api, username: str) -> AsyncIterator[ApiClient]:
    client = api.client()
    try:
        resp = await client.sign_in(username)
        assert resp.status == 200, await resp.text()
        yield client
    finally:
        await client.close()


async def seed_customers(api: Api, n: int = 30) -> list[int]:
    """``n`` customers spread over the users and the pool, each with a phone number."""
    from crm_core.models import Customer, PhoneNumber

    owners = [api.users.agent, api.users.agent2, api.users.other_team, None]
    ids = []
    async with api.sessionmaker.begin() as db:
        for i in range(n):
            customer = Customer(name=f"客户{i:03d}有限公司", name_key=f"客户{i:03d}",
                                province="北京" if i % 2 else "广东", owner_id=owners[i % 4])
            db.add(customer)
            await db.flush()
            raw = f"1380013{i:04d}"
            db.add(PhoneNumber(customer_id=customer.id, number_e164=f"+86{raw}", raw=raw))
            ids.append(customer.id)
    return ids
