"""Hotline as a site runs it, in front of the rig's Asterisk: ``hotline serve`` in its own
process (SQLite in the test's folder, AMI and FastAGI on deploy/asterisk's addresses),
seeded with the rig's agents and customers; plus reads of what it wrote.

Agents: Alice 1001, Bob 1002, Carol 1003 (queues.conf's personal queues), all with the
agent role. KNOWN is a VIP customer whose account manager is Carol.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from crm_core.db import make_engine, upgrade_async
from crm_core.models import CallbackRequest, CallRecord, Customer, PhoneNumber, User
from crm_core.users import ensure_roles
from tests.integration.console_support import Console
from tests.integration.test_api_support import FAST_HASHER, PASSWORD

from .rig import AMI_PORT, AMI_SECRET, AMI_USER

AGENTS = {"alice": ("1001", "Alice"), "bob": ("1002", "Bob"), "carol": ("1003", "Carol")}
KNOWN = "13800138000"  # VIP, account manager Carol
KNOWN_NAME = "华东医药包装有限公司"
HOTLINE_400 = "4008001234"
HOTLINE_800 = "8008001234"


def interface(ext: str) -> str:
    return f"Local/{ext}@agents/n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Seeded:
    users: dict[str, int]
    known_customer: int


async def seed(db_url: str) -> Seeded:
    await upgrade_async(db_url)
    engine = make_engine(db_url)
    pw = FAST_HASHER.hash(PASSWORD)
    try:
        async with async_sessionmaker(engine, expire_on_commit=False).begin() as db:
            roles = await ensure_roles(db)
            users = {name: User(username=name, display_name=label, password_hash=pw,
                                role_id=roles["agent"], team="hotline", language="en",
                                agent_interface=interface(ext), agent_name=label)
                     for name, (ext, label) in AGENTS.items()}
            db.add_all(users.values())
            await db.flush()
            customer = Customer(name=KNOWN_NAME, name_key="华东医药包装", vip_tier=2,
                                owner_id=users["carol"].id, province="上海", status="active")
            db.add(customer)
            await db.flush()
            db.add(PhoneNumber(customer_id=customer.id, number_e164="+86" + KNOWN, raw=KNOWN))
            return Seeded(users={k: u.id for k, u in users.items()},
                          known_customer=customer.id)
    finally:
        await engine.dispose()


class HotlineProcess:
    """``hotline serve`` as a subprocess; restartable (kill -9 or SIGTERM)."""

    def __init__(self, root: Path, db_url: str, **env: str) -> None:
        self.root = root
        self.db_url = db_url
        self.http_port = free_port()
        self.env = dict(os.environ)
        self.env.pop("HOTLINE_CONFIG", None)
        self.env.update({
            "HOTLINE_DATABASE_URL": db_url,
            "HOTLINE_AMI_PORT": str(AMI_PORT),
            "HOTLINE_AMI_USERNAME": AMI_USER,
            "HOTLINE_AMI_SECRET": AMI_SECRET,
            "HOTLINE_HTTP_PORT": str(self.http_port),
            "HOTLINE_AGI_PORT": "4573",
            "HOTLINE_LOG_LEVEL": "INFO",
            "HOTLINE_SECRET_KEY": "rig-secret-key-rig-secret-key-0123456789",
            "HOTLINE_WRAPUP_S": "0",
        })
        self.env.update(env)
        self.proc: asyncio.subprocess.Process | None = None
        self.log = root / "hotline.log"

    async def start(self) -> None:
        out = self.log.open("ab")
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "hotline.cli", "serve", cwd=self.root, env=self.env,
            stdout=out, stderr=asyncio.subprocess.STDOUT)
        out.close()
        for _ in range(300):
            if self.proc.returncode is not None:
                raise RuntimeError("hotline serve exited: " + self.log.read_text()[-3000:])
            with contextlib.suppress(OSError):
                _r, w = await asyncio.open_connection("127.0.0.1", self.http_port)
                w.close()
                await w.wait_closed()
                return
            await asyncio.sleep(0.1)
        raise RuntimeError("hotline serve did not listen in 30 s")

    async def stop(self, *, kill: bool = False) -> None:
        if self.proc is None or self.proc.returncode is not None:
            return
        if kill:
            self.proc.kill()
        else:
            self.proc.terminate()
        try:
            await asyncio.wait_for(self.proc.wait(), 20)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()

    @asynccontextmanager
    async def console(self, username: str) -> AsyncIterator[Console]:
        c = Console(self.http_port)
        try:
            resp = await c.sign_in(username)
            assert resp.status == 200, await resp.text()
            yield c
        finally:
            await c.close()

    async def records(self) -> list[CallRecord]:
        engine = make_engine(self.db_url)
        try:
            async with async_sessionmaker(engine, expire_on_commit=False)() as db:
                return list((await db.execute(
                    select(CallRecord).order_by(CallRecord.id))).scalars())
        finally:
            await engine.dispose()

    async def callbacks(self) -> list[CallbackRequest]:
        engine = make_engine(self.db_url)
        try:
            async with async_sessionmaker(engine, expire_on_commit=False)() as db:
                return list((await db.execute(
                    select(CallbackRequest).order_by(CallbackRequest.id))).scalars())
        finally:
            await engine.dispose()

    async def wait_callback(self, test: Callable[[CallbackRequest], bool], *,
                            within: float = 90.0) -> CallbackRequest:
        """The first callback row that passes ``test`` (polled)."""
        deadline = asyncio.get_running_loop().time() + within
        while True:
            for row in await self.callbacks():
                if test(row):
                    return row
            if asyncio.get_running_loop().time() > deadline:
                rows = [(r.id, r.state, r.attempts, r.last_result) for r in await self.callbacks()]
                raise AssertionError(f"no such callback row: {rows}")
            await asyncio.sleep(0.25)

    async def wait_records(self, count: int, *, within: float = 60.0) -> list[CallRecord]:
        deadline = asyncio.get_running_loop().time() + within
        while True:
            rows = await self.records()
            if len(rows) >= count:
                return rows
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"{len(rows)} call records, expected {count}: "
                                     + self.log.read_text()[-3000:])
            await asyncio.sleep(0.25)


async def http_json(port: int, path: str, cookie: str) -> Any:
    async with aiohttp.ClientSession() as s, s.get(
            f"http://127.0.0.1:{port}{path}", headers={"Cookie": cookie}) as resp:
        return await resp.json()
