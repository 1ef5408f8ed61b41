"""Who may log a call, and how a call's customer changes (issue 13 item 3), over HTTP on
SQLite and PostgreSQL, the app connected to the PBX simulator. A running call (no
record yet) is known from the live agent board, which the bus feeds: that test runs on
the in-process bus and on Redis too, where the agents' node is not the AMI owner.

Before: as Alice, ``POST /calls/<Bob's linkedid>/log`` with another customer answered
201 and filed Bob's call under that customer, and any Linkedid was accepted
(``/calls/0/log`` too). Now only an agent who took the call logs it (or a supervisor,
audited); an unknown Linkedid is a 404; the call's customer changes only by an
explicit, audited correction.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from crm_core.db import make_engine
from crm_core.models import Customer, Interaction, Role, User
from telephony.simulator import PbxSimulator
from tests.conftest import REDIS_URL
from tests.integration.console_support import (
    BOB,
    Console,
    audit_entries,
    call_customer,
    console,
    frame_where,
    long_call,
    recorded_call,
    recv,
    running,
    seed,
    state_is,
)
from tests.integration.test_api_support import FAST_HASHER, PASSWORD
from tests.integration.test_auth_shared import _forget


async def more_people(db_url: str) -> dict[str, int]:
    """A second customer (Alice's: in the hotline team's scope), a supervisor of the
    agents' team and one of another team."""
    engine = make_engine(db_url)
    try:
        async with async_sessionmaker(engine, expire_on_commit=False).begin() as db:
            role = await db.scalar(select(Role.id).where(Role.name == "supervisor"))
            alice = await db.scalar(select(User.id).where(User.username == "alice"))
            pw = FAST_HASHER.hash(PASSWORD)
            rows = {
                "other": Customer(name="申通巴士集团", name_key="申通巴士", province="上海",
                                  owner_id=alice),
                "zhao": User(username="zhao", display_name="赵敏", password_hash=pw,
                             role_id=role, team="hotline"),
                "qian": User(username="qian", display_name="钱进", password_hash=pw,
                             role_id=role, team="sales"),
            }
            db.add_all(rows.values())
            await db.flush()
            return {key: row.id for key, row in rows.items()}
    finally:
        await engine.dispose()


async def call_logs(db_url: str, linkedid: str) -> list[tuple[int, int | None]]:
    """(customer, author) of every interaction logged for call ``linkedid``."""
    engine = make_engine(db_url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                select(Interaction.customer_id, Interaction.author_id)
                .where(Interaction.call_linkedid == linkedid).order_by(Interaction.id))
            return [(r[0], r[1]) for r in rows]
    finally:
        await engine.dispose()


@asynccontextmanager
async def agents_node(db_url: str, sim: PbxSimulator, bus_kind: str, redis_stream: str
                      ) -> AsyncIterator[int]:
    """The port of the node the agents' consoles use. In-process bus: the one node. On
    Redis: a node WITHOUT the AMI link beside the owner, so all it knows of a running
    call came over Redis (several nodes)."""
    if bus_kind == "memory":
        async with running(db_url, sim) as (_, port):
            yield port
        return
    shared: dict[str, Any] = {"bus": "redis", "redis_stream": redis_stream,
                              "ami_lease_ttl_s": 3.0, "ami_lease_renew_s": 0.5}
    try:
        async with running(db_url, sim, redis_consumer="owner", **shared), \
                running(db_url, sim, redis_consumer="away", ami_enabled=False,
                        **shared) as (_, port):
            yield port
    finally:
        await _forget(REDIS_URL, redis_stream)


def log_body(customer_id: int, **more: Any) -> dict[str, Any]:
    return {"customer_id": customer_id, "disposition": "inquiry", "notes": "", **more}


async def test_an_agent_cannot_log_or_refile_another_agents_call(
    db_url: str, sim: PbxSimulator
) -> None:
    ids = await seed(db_url)
    more = await more_people(db_url)
    await recorded_call(db_url, "1795478400.1", agent=BOB)  # Bob's, no customer yet
    async with running(db_url, sim) as (_, port), console(port, "alice") as alice, \
            console(port, "bob") as bob:
        status, body = await alice.call("POST", "/calls/1795478400.1/log",
                                        log_body(more["other"]))
        assert (status, body["error"]) == (403, "not-your-call"), body
        for unknown in ("0", "1.7", "1795478400.2"):
            status, body = await alice.call("POST", f"/calls/{unknown}/log",
                                            log_body(ids.customer))
            assert (status, body["error"]) == (404, "no-such-call"), (unknown, body)
            assert unknown in body["message"]
        assert await call_customer(db_url, "1795478400.1") is None  # untouched
        assert await call_logs(db_url, "1795478400.1") == []
        # Bob took it: he logs it, and the call gets his customer (audited)
        status, logged = await bob.call("POST", "/calls/1795478400.1/log",
                                        log_body(ids.customer))
        assert status == 201, logged
    assert await call_customer(db_url, "1795478400.1") == ids.customer
    assert await call_logs(db_url, "1795478400.1") == [(ids.customer, ids.bob)]
    [entry] = await audit_entries(db_url, entity="call", entity_id="1795478400.1")
    assert (entry.action, entry.user_id, entry.before, entry.after) == (
        "set-customer", ids.bob, {"customer_id": None}, {"customer_id": ids.customer})


async def test_the_calls_customer_changes_only_by_an_explicit_audited_correction(
    db_url: str, sim: PbxSimulator
) -> None:
    ids = await seed(db_url)
    more = await more_people(db_url)
    await recorded_call(db_url, "1795478401.1", agent=BOB, customer_id=ids.customer)
    async with running(db_url, sim) as (_, port), console(port, "bob") as bob:
        path = "/calls/1795478401.1/log"
        status, body = await bob.call("POST", path, log_body(more["other"]))
        assert (status, body["error"], body["field"]) == (409, "customer-mismatch",
                                                          "customer_id"), body
        assert "correct_customer" in body["message"]
        assert await call_customer(db_url, "1795478401.1") == ids.customer
        assert await call_logs(db_url, "1795478401.1") == []  # nothing half-written
        status, body = await bob.call("POST", path, log_body(more["other"],
                                                             correct_customer="yes"))
        assert status == 422 and body["field"] == "correct_customer"
        status, logged = await bob.call("POST", path, log_body(more["other"],
                                                               correct_customer=True))
        assert status == 201, logged
        assert logged["customer_id"] == more["other"]
    assert await call_customer(db_url, "1795478401.1") == more["other"]
    [entry] = await audit_entries(db_url, entity="call", entity_id="1795478401.1")
    assert (entry.action, entry.user_id, entry.before, entry.after) == (
        "correct-customer", ids.bob, {"customer_id": ids.customer},
        {"customer_id": more["other"]})


async def test_a_supervisor_logs_and_corrects_the_teams_calls_audited(
    db_url: str, sim: PbxSimulator
) -> None:
    ids = await seed(db_url)
    more = await more_people(db_url)
    await recorded_call(db_url, "1795478402.1", agent=BOB, customer_id=ids.customer)
    async with running(db_url, sim) as (_, port), console(port, "zhao") as zhao, \
            console(port, "qian") as qian:
        path = "/calls/1795478402.1/log"
        # a supervisor of another team: not her agents' call
        status, body = await qian.call("POST", path, log_body(ids.customer))
        assert (status, body["error"]) == (403, "not-your-call"), body
        # Bob's supervisor: logs it for him, and may correct its customer, explicitly
        status, body = await zhao.call("POST", path, log_body(more["other"]))
        assert (status, body["error"]) == (409, "customer-mismatch")
        status, logged = await zhao.call("POST", path, log_body(more["other"],
                                                                correct_customer=True))
        assert status == 201, logged
    assert await call_customer(db_url, "1795478402.1") == more["other"]
    assert await call_logs(db_url, "1795478402.1") == [(more["other"], more["zhao"])]
    entries = await audit_entries(db_url, entity="call", entity_id="1795478402.1")
    assert [(e.action, e.user_id) for e in entries] == [
        ("correct-customer", more["zhao"]), ("log-on-behalf", more["zhao"])]
    assert entries[1].after is not None
    assert entries[1].after["takers"] == [ids.bob]
    assert entries[1].after["interaction_id"] == logged["id"]


async def test_a_running_call_is_logged_by_the_agent_talking_on_it_only(
    db_url: str, bus_kind: str, redis_stream: str, sim: PbxSimulator
) -> None:
    """No call record yet (the call runs): the live agent board says whose it is."""
    ids = await seed(db_url)
    async with agents_node(db_url, sim, bus_kind, redis_stream) as port, \
            console(port, "alice") as alice, \
            console(port, "bob") as bob, alice.socket() as ws:
        assert (await recv(ws))["type"] == "hello"
        assert (await alice.call("POST", "/agent/state", {"action": "sign-in"}))[0] == 202
        await frame_where(ws, state_is("ready"))
        call = long_call(sim)
        await frame_where(ws, lambda f: f["type"] == "answered")
        path = f"/calls/{call.linkedid}/log"
        status, body = await bob.call("POST", path, log_body(ids.customer))
        assert (status, body["error"]) == (403, "not-your-call"), body
        # nothing to correct yet: the call has no record until it ends
        status, body = await alice.call("POST", path, log_body(ids.customer,
                                                               correct_customer=True))
        assert (status, body["error"]) == (409, "conflict"), body
        status, logged = await alice.call("POST", path, log_body(ids.customer))
        assert status == 201, logged
    assert await call_logs(db_url, call.linkedid) == [(ids.customer, ids.alice)]


async def test_an_unknown_call_is_a_404_for_an_admin_too(
    tmp_path: Any, sim: PbxSimulator
) -> None:
    db_url = f"sqlite+aiosqlite:///{tmp_path}/c.db"
    ids = await seed(db_url)
    engine = make_engine(db_url)
    try:
        async with async_sessionmaker(engine).begin() as db:
            db.add(User(username="root", display_name="Root", is_admin=True,
                        password_hash=FAST_HASHER.hash(PASSWORD)))
    finally:
        await engine.dispose()
    await recorded_call(db_url, "1795478403.1", agent=None, outcome="abandoned")
    async with running(db_url, sim) as (_, port):
        root = Console(port)
        try:
            assert (await root.sign_in("root")).status == 200
            status, body = await root.call("POST", "/calls/0/log", log_body(ids.customer))
            assert (status, body["error"]) == (404, "no-such-call")
            # an abandoned call nobody took: only scope "all" logs it (audited)
            status, _ = await root.call("POST", "/calls/1795478403.1/log",
                                        log_body(ids.customer))
            assert status == 201
        finally:
            await root.close()
    actions = [e.action for e in await audit_entries(db_url, entity="call")]
    assert actions == ["set-customer", "log-on-behalf"]
