"""Sign-in state every node shares and a restart keeps (issue 13 items 4 and 5).

Everything real: ``create_app`` on a free port, restarted (built again with the same
settings) or run twice at once (two nodes sharing the database and, on the Redis bus,
Redis), on SQLite and PostgreSQL, on the in-process bus and on Redis. Two client
addresses are two loopback addresses (127.0.0.1 and 127.0.0.2: the server sees each as
the peer's address), so an attacker and an account's owner are really two clients.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import aiohttp
import pytest
import websockets
from aiohttp import web
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from crm_core.db import make_engine
from crm_core.models import Role, User
from hotline.app import API_AUTH
from hotline.settings import Settings
from tests.integration.console_support import (
    app_settings,
    audit_entries,
    connect,
    recv,
    seed_agents,
    serving,
)
from tests.integration.test_api_support import FAST_HASHER, PASSWORD

OWNER, ATTACKER = "127.0.0.1", "127.0.0.2"
Node = tuple[web.Application, int]


class Client:
    """One browser at one client address: its cookie jar and CSRF token."""

    def __init__(self, port: int, source: str = OWNER) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.http = aiohttp.ClientSession(
            cookie_jar=aiohttp.CookieJar(unsafe=True),
            connector=aiohttp.TCPConnector(local_addr=(source, 0)))
        self.csrf = ""

    async def sign_in(self, username: str, password: str = PASSWORD
                      ) -> tuple[int, dict[str, Any], str | None]:
        async with self.http.post(f"{self.base}/api/v1/session",
                                  json={"username": username, "password": password}) as resp:
            body = await resp.json()
            if resp.status == 200:
                self.csrf = body["csrf_token"]
            return resp.status, body, resp.headers.get("Retry-After")

    def cookie(self) -> str:
        return "; ".join(f"{c.key}={c.value}" for c in self.http.cookie_jar)

    async def sign_out(self) -> int:
        async with self.http.delete(f"{self.base}/api/v1/session",
                                    headers={"X-CSRF-Token": self.csrf}) as resp:
            return resp.status

    async def close(self) -> None:
        await self.http.close()


async def session_status(port: int, cookie: str) -> int:
    """``GET /api/v1/session`` with nothing but ``cookie``, from a fresh client."""
    async with aiohttp.ClientSession() as http, http.get(
            f"http://127.0.0.1:{port}/api/v1/session", headers={"Cookie": cookie}) as resp:
        return resp.status


async def page_status(port: int, cookie: str) -> int:
    async with aiohttp.ClientSession() as http, http.get(
            f"http://127.0.0.1:{port}/console", headers={"Cookie": cookie},
            allow_redirects=False) as resp:
        return resp.status


async def socket_refused(port: int, cookie: str) -> bool:
    try:
        async with connect(port, cookie):
            return False
    except websockets.InvalidStatus as exc:
        return exc.response.status_code == 401


@asynccontextmanager
async def client(port: int, source: str = OWNER) -> AsyncIterator[Client]:
    c = Client(port, source)
    try:
        yield c
    finally:
        await c.close()


@pytest.fixture
async def settings_for(db_url: str, bus_kind: str, redis_stream: str,
                       request: pytest.FixtureRequest
                       ) -> AsyncIterator[Callable[..., Settings]]:
    """Settings of one node (``consumer``: its name on the Redis bus)."""
    await seed_agents(db_url)
    redis_url = str(request.getfixturevalue("redis_url")) if bus_kind == "redis" else ""

    def make(consumer: str = "node-a", **overrides: Any) -> Settings:
        return app_settings(db_url, 5038, "auth-shared-secret", bus=bus_kind,
                            redis_stream=redis_stream, redis_consumer=consumer,
                            ami_enabled=False, agi_enabled=False, **overrides)

    yield make
    if bus_kind == "redis":
        await _forget(redis_url, redis_stream)


async def _forget(redis_url: str, redis_stream: str) -> None:
    """Delete the test's stream and the sign-in records kept beside it."""
    redis = Redis.from_url(redis_url)
    try:
        keys = [key async for key in redis.scan_iter(match=f"{redis_stream}*")]
        if keys:
            await redis.delete(*keys)
    finally:
        await redis.aclose()


# --- item 4: sign-out and throttling survive a restart and are seen by every node -------


async def test_a_signed_out_cookie_stays_refused_after_a_restart(
    settings_for: Callable[..., Settings]
) -> None:
    settings = settings_for()
    async with serving(settings) as (_, port), client(port) as alice, client(port) as bob:
        assert (await alice.sign_in("alice"))[0] == 200
        assert (await bob.sign_in("bob"))[0] == 200
        signed_out, kept = alice.cookie(), bob.cookie()
        assert await alice.sign_out() == 204
        assert await session_status(port, signed_out) == 401
    async with serving(settings_for()) as (_, port):  # the same settings, a new process
        assert await session_status(port, kept) == 200  # sessions do survive a restart...
        assert await session_status(port, signed_out) == 401  # ...a signed-out one stays out
        assert await page_status(port, signed_out) == 302  # to /login
        assert await page_status(port, kept) == 200
        assert await socket_refused(port, signed_out)


async def test_a_session_signed_out_on_one_node_is_refused_by_the_others(
    settings_for: Callable[..., Settings]
) -> None:
    async with AsyncExitStack() as stack:
        _, port_a = await stack.enter_async_context(serving(settings_for("node-a")))
        _, port_b = await stack.enter_async_context(serving(settings_for("node-b")))
        alice = await stack.enter_async_context(client(port_a))
        assert (await alice.sign_in("alice"))[0] == 200
        cookie = alice.cookie()
        assert await session_status(port_b, cookie) == 200  # one cookie, valid on each node
        assert await alice.sign_out() == 204
        assert await session_status(port_b, cookie) == 401
        assert await page_status(port_b, cookie) == 302
        assert await socket_refused(port_b, cookie)


async def test_signing_out_closes_the_sessions_sockets_on_every_node(
    db_url: str, redis_url: str, redis_stream: str
) -> None:
    """Several nodes serve sockets on the Redis bus only: the node that signs a session
    out tells the others, whose sockets of that session close (and no other)."""
    await seed_agents(db_url)

    def node(name: str) -> Settings:
        return app_settings(db_url, 5038, "auth-shared-secret", bus="redis",
                            redis_stream=redis_stream, redis_consumer=name,
                            ami_enabled=False, agi_enabled=False)

    try:
        async with AsyncExitStack() as stack:
            _, port_a = await stack.enter_async_context(serving(node("node-a")))
            _, port_b = await stack.enter_async_context(serving(node("node-b")))
            alice = await stack.enter_async_context(client(port_a))
            bob = await stack.enter_async_context(client(port_a))
            assert (await alice.sign_in("alice"))[0] == 200
            assert (await bob.sign_in("bob"))[0] == 200
            alice_ws = await stack.enter_async_context(connect(port_b, alice.cookie()))
            bob_ws = await stack.enter_async_context(connect(port_b, bob.cookie()))
            assert (await recv(alice_ws))["type"] == "hello"
            assert (await recv(bob_ws))["type"] == "hello"
            assert await alice.sign_out() == 204  # on node A
            with pytest.raises(websockets.ConnectionClosed) as closed:
                while True:
                    await recv(alice_ws, within=10)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
            await bob_ws.ping()  # another session's socket stays open
    finally:
        await _forget(redis_url, redis_stream)


async def test_a_throttled_sign_in_stays_throttled_after_a_restart_and_on_every_node(
    settings_for: Callable[..., Settings]
) -> None:
    limits = {"login_max_failures": 3, "login_delay_s": 600}
    async with AsyncExitStack() as stack:
        _, port_a = await stack.enter_async_context(serving(settings_for("node-a", **limits)))
        _, port_b = await stack.enter_async_context(serving(settings_for("node-b", **limits)))
        guesser = await stack.enter_async_context(client(port_a, ATTACKER))
        for _ in range(3):
            assert (await guesser.sign_in("alice", "guess"))[0] == 401
        status, _, retry = await guesser.sign_in("alice")  # the right password, too soon
        assert status == 429 and retry is not None and 0 < int(retry) <= 600
        on_b = await stack.enter_async_context(client(port_b, ATTACKER))
        assert (await on_b.sign_in("alice"))[0] == 429  # the other node knows
    async with serving(settings_for("node-a", **limits)) as (_, port), \
            client(port, ATTACKER) as after:
        assert (await after.sign_in("alice"))[0] == 429  # and a restart forgets nothing


async def test_the_limit_per_address_is_shared_by_the_nodes_and_kept_on_restart(
    settings_for: Callable[..., Settings]
) -> None:
    limits = {"login_rate_per_ip": 4, "login_rate_window_s": 600}
    async with AsyncExitStack() as stack:
        _, port_a = await stack.enter_async_context(serving(settings_for("node-a", **limits)))
        _, port_b = await stack.enter_async_context(serving(settings_for("node-b", **limits)))
        on_a = await stack.enter_async_context(client(port_a, ATTACKER))
        on_b = await stack.enter_async_context(client(port_b, ATTACKER))
        for user in ("alice", "bob"):  # a spray over the accounts, half on each node
            assert (await on_a.sign_in(user, "guess"))[0] == 401
            assert (await on_b.sign_in(user, "guess"))[0] == 401
        status, body, _ = await on_b.sign_in("nobody", "guess")
        assert status == 429 and body["error"] == "rate-limited"
    async with serving(settings_for("node-a", **limits)) as (_, port):
        async with client(port, ATTACKER) as again:
            assert (await again.sign_in("nobody", "guess"))[0] == 429
        async with client(port, OWNER) as owner:  # another address is not limited
            assert (await owner.sign_in("nobody"))[0] == 200


# --- item 5: nobody can lock somebody else out; the owner is told -----------------------


async def test_wrong_passwords_from_one_address_never_lock_the_owner_out(
    settings_for: Callable[..., Settings]
) -> None:
    limits = {"login_max_failures": 5, "login_delay_s": 600}
    async with AsyncExitStack() as stack:
        _, port_a = await stack.enter_async_context(serving(settings_for("node-a", **limits)))
        _, port_b = await stack.enter_async_context(serving(settings_for("node-b", **limits)))
        guesser = await stack.enter_async_context(client(port_a, ATTACKER))
        for _ in range(5):
            assert (await guesser.sign_in("alice", "guess"))[0] == 401
        assert (await guesser.sign_in("alice", "guess"))[0] == 429
        # the owner, from her own address, on either node: in at once
        for port in (port_a, port_b):
            async with client(port, OWNER) as owner:
                assert (await owner.sign_in("alice"))[0] == 200
        assert (await guesser.sign_in("alice", "guess"))[0] == 429  # the guesser still waits


async def test_the_owner_is_told_of_failed_sign_ins_at_the_next_sign_in(
    settings_for: Callable[..., Settings], db_url: str
) -> None:
    async with AsyncExitStack() as stack:
        app_a, port_a = await stack.enter_async_context(serving(settings_for("node-a")))
        _, port_b = await stack.enter_async_context(serving(settings_for("node-b")))
        guesser = await stack.enter_async_context(client(port_a, ATTACKER))
        for _ in range(3):
            assert (await guesser.sign_in("bob", "guess"))[0] == 401
        await app_a[API_AUTH].settled()  # the owner's notice is written after the answer
        owner = await stack.enter_async_context(client(port_b, OWNER))
        status, body, _ = await owner.sign_in("bob")
        assert status == 200
        told = body["failed_sign_ins"]
        assert told["count"] == 3 and told["last_address"] == ATTACKER
        assert told["first_at"] <= told["last_at"]
        async with aiohttp.ClientSession() as http, http.get(
                f"http://127.0.0.1:{port_b}/api/v1/session",
                headers={"Cookie": owner.cookie()}) as resp:  # what the console page reads
            assert (await resp.json())["failed_sign_ins"] == told
        again = await stack.enter_async_context(client(port_a, OWNER))
        assert (await again.sign_in("bob"))[1]["failed_sign_ins"] is None  # told once
    failed = await audit_entries(db_url, action="sign_in_failed")
    assert len(failed) == 3
    assert {(e.entity, e.user_id) for e in failed} == {("app_user", None)}
    assert {e.after["address"] for e in failed if e.after} == {ATTACKER}



# --- a shift starts: many agents sign in at once ------------------------------------------


async def test_more_agents_signing_in_at_once_than_the_pool_has_connections(
    settings_for: Callable[..., Settings]
) -> None:
    """Each sign-in holds one of the app's database connections while it asks the auth
    store; with the store on the same pool, 60 agents at once (more than the pool: SQLite
    15, PostgreSQL 30) each waited for a second connection until the pool's timeout and
    answered 500. Every one must be signed in."""
    settings = settings_for(login_rate_per_ip=1000)
    names = [f"agent{n:02d}" for n in range(60)]
    await _add_agents(settings.database_url, names)
    async with serving(settings) as (_app, port):
        async with AsyncExitStack() as stack:
            clients = [await stack.enter_async_context(client(port)) for _ in names]
            answers = await asyncio.gather(
                *(c.sign_in(name) for name, c in zip(names, clients, strict=True)))
    assert [status for status, _body, _retry in answers] == [200] * len(names)


async def _add_agents(db_url: str, names: list[str]) -> None:
    engine = make_engine(db_url)
    try:
        async with async_sessionmaker(engine).begin() as db:
            role_id = await db.scalar(select(Role.id).where(Role.name == "agent"))
            pw = FAST_HASHER.hash(PASSWORD)
            db.add_all(User(username=name, display_name=name, password_hash=pw,
                            role_id=role_id, agent_interface=f"Local/{name}@agents/n",
                            agent_name=name) for name in names)
    finally:
        await engine.dispose()
