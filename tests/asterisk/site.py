"""Hotline as a site runs it, in front of the rig's Asterisk: ``hotline serve`` in its own
process (SQLite in the test's folder, AMI and FastAGI on deploy/asterisk's addresses),
seeded with the rig's agents and customers; plus reads of what it wrote.

Agents: Alice 1001, Bob 1002, Carol 1003 (queues.conf's personal queues), all with the
agent role. KNOWN is a VIP customer whose account manager is Carol, with what the IVR's
self-service reads: an open ticket (TICKET), two devices (SERIAL_OLD out of warranty,
SERIAL_NEW in warranty) and an active subscription (SUBSCRIPTION_END). The site's IVR
flow is the default flow open around the clock (``open_around_the_clock``), except on
the 800 number, whose flow is the default one always closed (``closed_at_all_hours``):
the suite's calls take the same path at whatever hour it runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import os
import socket
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from crm_core.db import make_engine, upgrade_async
from crm_core.models import (
    Asset,
    CallbackRequest,
    CallRecord,
    Customer,
    IvrNumber,
    PhoneNumber,
    Subscription,
    Ticket,
    User,
)
from crm_core.users import ensure_roles
from ivr.default_flow import DEFAULT_FLOW
from ivr.number_plan import guess_kind
from ivr.store import save_flow
from tests.integration.console_support import Console
from tests.integration.test_api_support import FAST_HASHER, PASSWORD

from .rig import AMI_PORT, AMI_SECRET, AMI_USER

AGENTS = {"alice": ("1001", "Alice"), "bob": ("1002", "Bob"), "carol": ("1003", "Carol")}
KNOWN = "13800138000"  # VIP, account manager Carol
KNOWN_NAME = "华东医药包装有限公司"
HOTLINE_400 = "4008001234"
HOTLINE_800 = "8008001234"
TICKET = "T20261120-0042"  # KNOWN's open ticket, in progress
TICKET_UPDATED = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
SERIAL_OLD = "SN-2019-0001"  # KNOWN's first device (key 1), out of warranty
SERIAL_NEW = "SN-2024-0417"  # KNOWN's second device (key 2)
SUBSCRIPTION_END = date(2099, 6, 30)


# how long ``hotline serve`` may take to start: seconds on a quiet machine, far longer on
# a loaded one (30 s was once too short with a dozen other processes on two cores)
STARTUP_S = 120


def interface(ext: str) -> str:
    return f"Local/{ext}@agents/n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def port_free(port: int, within: float = 30.0) -> None:
    """Until nothing listens on ``port`` of 127.0.0.1: the dialplan's AGI port is fixed
    (deploy/asterisk), and a test of another suite on this machine may hold it a moment;
    Hotline would then run without its IVR."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", port))
                return
            except OSError:
                if asyncio.get_running_loop().time() > deadline:
                    raise AssertionError(f"port {port} is taken: Hotline's IVR could not "
                                         "listen there") from None
        await asyncio.sleep(0.2)


@dataclass
class Seeded:
    users: dict[str, int]
    known_customer: int
    assets: dict[str, int]  # serial number -> asset id


def open_around_the_clock(flow: dict[str, Any]) -> dict[str, Any]:
    """``flow`` (the default flow) for a site that is open at every hour of every day:
    both business-hours branches lead where they do when open, and the closed menu,
    unreachable then, is dropped. The suite's calls then take the same path whatever
    the hour and the day it runs on."""
    out = copy.deepcopy(flow)
    steps = out["steps"]
    steps["hours"]["else"] = steps["hours"]["then"]
    steps["agent_hours"]["else"] = steps["agent_hours"]["then"]
    del steps["closed_menu"]
    return out


def closed_at_all_hours(flow: dict[str, Any]) -> dict[str, Any]:
    """``flow`` (the default flow) for a number that is never open: no business day, so
    callers get the after-hours menu and no agent."""
    out = {**copy.deepcopy(flow), "flow": "after-hours"}
    for step in ("hours", "agent_hours"):
        out["steps"][step].update(days=[], holidays=[])
    return out


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
            assets = [Asset(customer_id=customer.id, serial_number=SERIAL_OLD, model="PK-200",
                            warranty_end=date(2021, 12, 31)),
                      Asset(customer_id=customer.id, serial_number=SERIAL_NEW, model="PK-300",
                            warranty_end=date(2099, 12, 31))]
            db.add_all(assets)
            db.add(Ticket(number=TICKET, customer_id=customer.id, problem="卡纸 / paper jam",
                          status="accepted", category="repair", created_at=TICKET_UPDATED,
                          updated_at=TICKET_UPDATED))
            db.add(Subscription(customer_id=customer.id, kind="subscription", title="耗材订阅",
                                start_date=date(2026, 1, 1), end_date=SUBSCRIPTION_END,
                                status="active"))
            await save_flow(db, "default", open_around_the_clock(DEFAULT_FLOW), actor_id=None,
                            comment="the rig's site: open around the clock")
            await save_flow(db, "after-hours", closed_at_all_hours(DEFAULT_FLOW),
                            actor_id=None, comment="the rig's 800 number: always closed")
            db.add(IvrNumber(number=HOTLINE_800, flow_name="after-hours",
                             kind=guess_kind(HOTLINE_800), active=True))
            await db.flush()
            return Seeded(users={k: u.id for k, u in users.items()},
                          known_customer=customer.id,
                          assets={a.serial_number: a.id for a in assets})
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
        """Start ``hotline serve``; back once it serves HTTP and, unless the IVR is off,
        its FastAGI server listens (tried again when another program took the port)."""
        ivr = self.env.get("HOTLINE_AGI_ENABLED", "true").lower() not in ("false", "0", "no")
        for _attempt in range(5):
            if ivr:
                await port_free(int(self.env["HOTLINE_AGI_PORT"]))
            mark = self.log.stat().st_size if self.log.exists() else 0
            try:
                await self._spawn()
                if not ivr or await self._agi_listening(mark):
                    return
            except BaseException:
                # never leave it running: an orphan holds port 4573 for every later scenario
                await self.stop(kill=True)
                raise
            await self.stop()
        raise AssertionError("Hotline's FastAGI server could not listen: "
                             + self.log.read_text()[-3000:])

    async def _spawn(self) -> None:
        out = self.log.open("ab")
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "hotline.cli", "serve", cwd=self.root, env=self.env,
            stdout=out, stderr=asyncio.subprocess.STDOUT)
        out.close()
        for _ in range(STARTUP_S * 10):
            if self.proc.returncode is not None:
                raise RuntimeError("hotline serve exited: " + self.log.read_text()[-3000:])
            with contextlib.suppress(OSError):
                _r, w = await asyncio.open_connection("127.0.0.1", self.http_port)
                w.close()
                await w.wait_closed()
                return
            await asyncio.sleep(0.1)
        raise RuntimeError(f"hotline serve did not listen in {STARTUP_S} s")

    async def _agi_listening(self, mark: int) -> bool:
        """What the log says since ``mark``: FastAGI listening, or not (port taken)."""
        for _ in range(STARTUP_S * 10):
            with self.log.open("rb") as f:
                f.seek(mark)
                text = f.read().decode("utf-8", "replace")
            if "FastAGI listening" in text:
                return True
            if "FastAGI cannot listen" in text:
                return False
            await asyncio.sleep(0.1)
        raise RuntimeError(f"hotline serve said nothing of its FastAGI server in {STARTUP_S} s")

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

    async def tickets(self) -> list[Ticket]:
        engine = make_engine(self.db_url)
        try:
            async with async_sessionmaker(engine, expire_on_commit=False)() as db:
                return list((await db.execute(select(Ticket).order_by(Ticket.id))).scalars())
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
