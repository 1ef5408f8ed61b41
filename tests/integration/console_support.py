"""Helpers for the tests that run the whole app: the app on a free port, connected over
real AMI/TCP to the PBX simulator (``serving``, ``app_settings``, ``started``), seeded
users and customers, an HTTP client that signs in and sends the CSRF token, and
signed-in websockets (``Console.socket``, ``cookie_for`` + ``connect``). Used by the
console and pop tests here and by the browser tests (``tests/browser/conftest.py``).

Rules: no test functions here. The simulator's agents Alice and Bob are members of
NO queue at the start: they join through the API (QueueAdd), like a real shift.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
import websockets
from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from agent_console.api.auth import COOKIE_NAME
from crm_core.db import make_engine, upgrade_async
from crm_core.models import (
    Asset,
    AuditEntry,
    CallRecord,
    Contact,
    Customer,
    PhoneNumber,
    User,
)
from crm_core.users import ensure_roles
from hotline.app import AMI, create_app
from hotline.settings import Settings
from telephony.simulator import AgentSpec, CallScript, PbxSimulator, SimCall
from tests.integration.test_api_support import FAST_HASHER, PASSWORD, role_with_grants

TIME_SCALE = 0.02
ALICE, BOB = "Local/1001@agents/n", "Local/1002@agents/n"
WANG = "Local/1005@agents/n"  # an account manager who also has a phone
KNOWN_CALLER = "13800138000"  # 华东医药包装, owned by Wang
Frame = dict[str, Any]


@dataclass
class Seeded:
    alice: int
    bob: int
    wang: int
    li: int  # a manager without a phone
    customer: int  # owned by Wang, phone KNOWN_CALLER
    contact: int
    asset: int


async def seed(db_url: str) -> Seeded:
    """Users with the default role matrix, and one customer with a contact and an asset."""
    await upgrade_async(db_url)
    engine = make_engine(db_url)
    pw = FAST_HASHER.hash(PASSWORD)
    try:
        async with async_sessionmaker(engine, expire_on_commit=False).begin() as db:
            roles = await ensure_roles(db)
            users = {
                "alice": User(username="alice", display_name="Alice", password_hash=pw,
                              role_id=roles["agent"], team="hotline", language="en",
                              agent_interface=ALICE, agent_name="Alice"),
                "bob": User(username="bob", display_name="Bob", password_hash=pw,
                            role_id=roles["agent"], team="hotline",
                            agent_interface=BOB, agent_name="Bob"),
                "wang": User(username="wang", display_name="王磊", password_hash=pw,
                             role_id=roles["manager"], team="sales",
                             agent_interface=WANG, agent_name="Wang"),
                "li": User(username="li", display_name="李娜", password_hash=pw,
                           role_id=roles["manager"], team="sales"),
            }
            db.add_all(users.values())
            await db.flush()
            customer = Customer(name="华东医药包装有限公司", name_key="华东医药包装",
                                owner_id=users["wang"].id, province="上海", status="active")
            db.add(customer)
            await db.flush()
            db.add(PhoneNumber(customer_id=customer.id, number_e164="+86" + KNOWN_CALLER,
                               raw=KNOWN_CALLER))
            contact = Contact(customer_id=customer.id, name="张伟", role="采购")
            asset = Asset(customer_id=customer.id, serial_number="SN-PK-0001", model="PK-200")
            db.add_all([contact, asset])
            await db.flush()
            return Seeded(alice=users["alice"].id, bob=users["bob"].id, wang=users["wang"].id,
                          li=users["li"].id, customer=customer.id, contact=contact.id,
                          asset=asset.id)
    finally:
        await engine.dispose()


async def seed_agents(db_url: str) -> None:
    """A bare ``agent`` role that reads every customer; Alice and Bob with phones, and
    ``nobody``, an agent without one."""
    await upgrade_async(db_url)
    engine = make_engine(db_url)
    pw = FAST_HASHER.hash(PASSWORD)
    try:
        async with async_sessionmaker(engine).begin() as db:
            # as the default agent role (crm_core.users): any caller readable; the pop
            # applies the agent's permissions (test_console_pop covers a narrower scope)
            role_id = await role_with_grants(db, "agent", {("customers", "read"): "all"})
            db.add_all([
                User(username="alice", display_name="Alice", password_hash=pw,
                     role_id=role_id, agent_interface=ALICE, agent_name="Alice"),
                User(username="bob", display_name="Bob", password_hash=pw, role_id=role_id,
                     agent_interface=BOB, agent_name="Bob"),
                User(username="nobody", display_name="No phone", password_hash=pw,
                     role_id=role_id),
            ])
    finally:
        await engine.dispose()


async def recorded_call(db_url: str, linkedid: str, *, agent: str | None = ALICE,
                        also: Sequence[str] = (), customer_id: int | None = None,
                        **fields: Any) -> None:
    """A finished call in the call log, answered by the phone ``agent`` (None: nobody),
    with ``also`` the phones it was transferred to (one answered attempt each)."""
    answered = [{"agent": i, "interface": i, "queue": "support", "result": "answered"}
                for i in ([agent] if agent else []) + list(also)]
    engine = make_engine(db_url)
    try:
        async with async_sessionmaker(engine).begin() as db:
            db.add(CallRecord(**{
                "linkedid": linkedid, "caller": "+86" + KNOWN_CALLER, "outcome": "answered",
                "agent": agent, "agent_interface": agent, "agents_tried": answered,
                "queues": ["support"], "customer_id": customer_id, **fields}))
    finally:
        await engine.dispose()


async def call_customer(db_url: str, linkedid: str) -> int | None:
    """The customer the call log files call ``linkedid`` under."""
    engine = make_engine(db_url)
    try:
        async with engine.connect() as conn:
            found: int | None = await conn.scalar(
                select(CallRecord.customer_id).where(CallRecord.linkedid == linkedid))
            return found
    finally:
        await engine.dispose()


async def audit_entries(db_url: str, **where: Any) -> list[AuditEntry]:
    engine = make_engine(db_url)
    try:
        async with async_sessionmaker(engine, expire_on_commit=False)() as db:
            stmt = select(AuditEntry).order_by(AuditEntry.id)
            for key, value in where.items():
                stmt = stmt.where(getattr(AuditEntry, key) == value)
            return list((await db.scalars(stmt)).all())
    finally:
        await engine.dispose()


def simulator() -> PbxSimulator:
    """Alice and Bob have phones but are in no queue until they sign in."""
    return PbxSimulator(time_scale=TIME_SCALE, agents=[
        AgentSpec(ALICE, "Alice", (), ring_s=1.0),
        AgentSpec(BOB, "Bob", (), ring_s=1.0),
        AgentSpec(WANG, "Wang", (), ring_s=1.0),
    ])


@asynccontextmanager
async def started(pbx: PbxSimulator) -> AsyncIterator[PbxSimulator]:
    """``pbx`` listening on its port for as long as the block runs."""
    await pbx.start()
    try:
        yield pbx
    finally:
        await pbx.close()


def app_settings(db_url: str, ami_port: int, secret_key: str, **overrides: Any) -> Settings:
    """Settings of an app under test: HTTP on a free port, and an AMI link that pings and
    reconnects fast (a test that drops the PBX's connections waits seconds, not minutes)."""
    return Settings(**{
        "database_url": db_url, "ami_port": ami_port, "http_port": 0,
        "secret_key": secret_key, "ami_ping_interval_s": 0.5, "ami_ping_timeout_s": 1.0,
        "ami_reconnect_min_s": 0.05, "ami_reconnect_max_s": 0.3, **overrides,
    })


@asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[tuple[web.Application, int]]:
    """``create_app(settings)`` on a free port of 127.0.0.1, as ``(app, port)``; with AMI
    enabled, only once its link to the PBX is up."""
    app = create_app(settings)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        if settings.ami_enabled:
            await app[AMI].wait_connected(10)
        yield app, runner.addresses[0][1]
    finally:
        await runner.cleanup()


@asynccontextmanager
async def running(db_url: str, sim: PbxSimulator, **overrides: Any
                  ) -> AsyncIterator[tuple[web.Application, int]]:
    settings = app_settings(db_url, sim.port, "console-test-secret", **{
        "agent_queues": ["support"], "wrapup_s": 600,
        # the FastAGI server (ivr) is not under test here: no fixed port taken
        "agi_enabled": False, **overrides,
    })
    async with serving(settings) as served:
        yield served


class Console:
    """One browser: a cookie jar, the CSRF token, and the agent's websocket."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.base = f"http://127.0.0.1:{port}/api/v1"
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.csrf = ""

    async def sign_in(self, username: str, password: str = PASSWORD) -> aiohttp.ClientResponse:
        resp = await self.http.post(f"{self.base}/session",
                                    json={"username": username, "password": password})
        if resp.status == 200:
            self.csrf = (await resp.json())["csrf_token"]
        await resp.read()
        return resp

    async def call(self, method: str, path: str, body: Any = None, *, csrf: bool = True
                   ) -> tuple[int, Any]:
        headers = {"X-CSRF-Token": self.csrf} if csrf and method != "GET" else {}
        async with self.http.request(method, f"{self.base}{path}", json=body,
                                     headers=headers) as resp:
            text = await resp.text()
            return resp.status, json.loads(text) if text else None

    def cookie(self) -> str:
        return "; ".join(f"{c.key}={c.value}" for c in self.http.cookie_jar
                         if c.key == COOKIE_NAME)

    def socket(self) -> Any:
        return connect(self.port, self.cookie())

    async def close(self) -> None:
        await self.http.close()


@asynccontextmanager
async def console(port: int, username: str) -> AsyncIterator[Console]:
    c = Console(port)
    try:
        resp = await c.sign_in(username)
        assert resp.status == 200, await resp.text()
        yield c
    finally:
        await c.close()


async def cookie_for(port: int, username: str) -> str:
    """The session cookie of ``username``, signed in over HTTP, for a bare websocket."""
    async with console(port, username) as c:
        return c.cookie()


def connect(port: int, cookie: str | None, **kw: Any) -> Any:
    """The agent websocket of the app on ``port``; ``cookie`` None: sent without one."""
    headers = {"Cookie": cookie} if cookie is not None else {}
    return websockets.connect(f"ws://127.0.0.1:{port}/ws/agent",
                              additional_headers=headers, **kw)


async def recv(ws: Any, within: float = 20.0) -> Frame:
    frame: Frame = json.loads(await asyncio.wait_for(ws.recv(), within))
    assert frame["v"] == 1
    return frame


async def frame_where(ws: Any, test: Callable[[Frame], bool], *, within: float = 20.0,
                      seen: list[Frame] | None = None) -> Frame:
    """The first frame that passes ``test`` (earlier ones are collected in ``seen``)."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        left = deadline - asyncio.get_running_loop().time()
        if left <= 0:
            raise AssertionError("no such frame arrived")
        frame = await recv(ws, left)
        if seen is not None:
            seen.append(frame)
        if test(frame):
            return frame


def state_is(state: str) -> Callable[[Frame], bool]:
    return lambda f: f["type"] == "state" and f["state"] == state


async def eventually(probe: Callable[[], Awaitable[Any]], *, within: float = 20.0,
                     what: str = "condition") -> Any:
    """Poll ``probe`` until it returns something truthy (no wall-clock assertions)."""
    deadline = asyncio.get_running_loop().time() + within
    while not (value := await probe()):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)
    return value


def long_call(sim: PbxSimulator, caller: str = KNOWN_CALLER, name: str = "Wang Fang",
              talk: float = 3000.0) -> SimCall:
    """A caller who talks until somebody else ends the call (skips the IVR)."""
    return sim.place_call(caller=caller, name=name,
                          script=CallScript(skip_agi=True, talk=talk, patience=3000.0))


def member_of(sim: PbxSimulator, queue: str, interface: str) -> Any:
    return sim.pbx.queues[queue].members.get(interface)
