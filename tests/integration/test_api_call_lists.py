"""The records pages' call lists over real HTTP on SQLite and PostgreSQL (issue 14 items
8-9): a customer's calls (the 360 timeline), the recent callers (the records page before
a search), who wrote each interaction, and a callback's automatic note told as facts
(never a raw channel name)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from crm_core.models import (
    CallbackRequest,
    CallRecord,
    Interaction,
    Role,
    RolePermission,
    User,
)
from ivr import callback_store as store
from ivr.callbacks import Policy
from tests.integration.test_api_support import Api, running_api, seed_customers, signed_in

T0 = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)
ALICE_PHONE = "Local/1001@agents/n"  # the agent user's phone
DAVE_PHONE = "Local/1007@agents/n"  # a PBX member who is no user
HOSTILE = "<img src=x onerror=alert(1)>"


@pytest.fixture
async def api(db_url: str) -> AsyncIterator[Api]:
    async with running_api(db_url) as running:
        async with running.sessionmaker.begin() as db:
            await db.execute(update(User).where(User.id == running.users.agent)
                             .values(agent_interface=ALICE_PHONE))
            # the test roles have no calls grant: agents read every call (as the
            # default role does), the manager the calls of the team's customers
            roles = {r.name: r.id for r in (await db.scalars(select(Role))).all()}
            db.add(RolePermission(role_id=roles["agent"], module="calls", operation="read",
                                  scope="all"))
            db.add(RolePermission(role_id=roles["manager"], module="calls",
                                  operation="read", scope="team"))
        yield running


def record(linkedid: str, caller: str | None, minutes: int, **kw: Any) -> CallRecord:
    ended = T0 + timedelta(minutes=minutes)
    return CallRecord(**{"linkedid": linkedid, "caller": caller, "started_at": ended,
                         "ended_at": ended, "outcome": "answered", **kw})


async def seed_calls(api: Api) -> list[int]:
    """Customers 0 (the agent's), 1 (agent2's), 2 (the other team's), and their calls."""
    ids = await seed_customers(api, 4)
    async with api.sessionmaker.begin() as db:
        db.add_all([
            record("c0-old", "+8613800130000", 1, customer_id=ids[0], agent="Alice",
                   agent_interface=ALICE_PHONE, answered_at=T0, talk_s=60, hangup_by="caller"),
            record("c0-new", "+8613800130000", 9, customer_id=ids[0], outcome="no-answer",
                   hangup_by="system", wait_s=120),
            record("c0-out", "+8613800130000", 5, customer_id=ids[0], direction="outbound",
                   agent="Dave", agent_interface=DAVE_PHONE, outcome="no-answer"),
            record("c1", "+8613800130001", 3, customer_id=ids[1], outcome="abandoned",
                   caller_name=HOSTILE),
            record("c2", "+8613800130002", 7, customer_id=ids[2], agent="Dave",
                   agent_interface=DAVE_PHONE),
            record("unknown", "+8613700000077", 8, outcome="abandoned"),
        ])
    return ids


async def get(api: Api, username: str, path: str) -> tuple[int, Any]:
    async with signed_in(api, username) as client:
        resp = await client.get(path)
        return resp.status, await resp.json()


async def test_a_customers_calls_newest_first_with_the_agents_name(api: Api) -> None:
    ids = await seed_calls(api)
    status, body = await get(api, "admin", f"/customers/{ids[0]}/calls")
    assert status == 200 and body["total"] == 3
    assert [c["linkedid"] for c in body["items"]] == ["c0-new", "c0-out", "c0-old"]
    by_id = {c["linkedid"]: c for c in body["items"]}
    # the user's display name for a user's phone, the PBX member name otherwise
    assert by_id["c0-old"]["agent_name"] == "王小明"
    assert by_id["c0-out"]["agent_name"] == "Dave"
    assert by_id["c0-new"]["agent_name"] is None
    assert by_id["c0-new"]["outcome"] == "no-answer" and by_id["c0-new"]["hangup_by"] == "system"
    assert by_id["c0-out"]["direction"] == "outbound"
    assert all(c["recording_url"] is None for c in body["items"])  # no recordings served
    status, page = await get(api, "admin", f"/customers/{ids[0]}/calls?limit=2&offset=2")
    assert status == 200 and page["total"] == 3
    assert [c["linkedid"] for c in page["items"]] == ["c0-old"]


async def test_a_customers_calls_follow_the_calls_read_scope(api: Api) -> None:
    ids = await seed_calls(api)
    # the manager (team north) reads the calls of the team's customers only
    assert (await get(api, "manager", f"/customers/{ids[1]}/calls"))[0] == 200
    assert (await get(api, "manager", f"/customers/{ids[2]}/calls"))[0] == 404
    assert (await get(api, "admin", "/customers/999999/calls"))[0] == 404
    assert (await get(api, "admin", "/customers/0/calls"))[0] == 422
    assert (await get(api, "admin", f"/customers/{ids[0]}/calls?limit=0"))[0] == 422
    async with api.sessionmaker.begin() as db:  # no calls grant at all: 403
        await db.execute(RolePermission.__table__.delete().where(
            RolePermission.module == "calls"))
    assert (await get(api, "agent", f"/customers/{ids[0]}/calls"))[0] == 403
    client = api.client()  # not signed in
    try:
        assert (await client.get(f"/customers/{ids[0]}/calls")).status == 401
        assert (await client.get("/recent-callers")).status == 401
    finally:
        await client.close()


async def test_recent_callers_one_row_per_number_newest_first(api: Api) -> None:
    ids = await seed_calls(api)
    status, body = await get(api, "admin", "/recent-callers")
    assert status == 200
    rows = body["items"]
    # inbound only (the outbound c0-out is no caller); one row per number, its last call
    assert [r["caller"] for r in rows] == [
        "+8613800130000", "+8613700000077", "+8613800130002", "+8613800130001"]
    first = rows[0]
    assert (first["linkedid"], first["outcome"], first["hangup_by"]) == ("c0-new", "no-answer",
                                                                        "system")
    assert first["customer"]["id"] == ids[0] and first["customer"]["name"] == "客户000有限公司"
    assert first["restricted"] is False
    unknown = rows[1]
    assert unknown["customer"] is None and unknown["restricted"] is False
    assert rows[3]["caller_name"] == HOSTILE  # as it came: the page shows it as text
    assert rows[2]["agent_name"] == "Dave"
    status, two = await get(api, "admin", "/recent-callers?limit=2")
    assert [r["caller"] for r in two["items"]] == [r["caller"] for r in rows[:2]]


async def test_recent_callers_follow_the_scopes(api: Api) -> None:
    ids = await seed_calls(api)
    # the agent reads every call, but customers only her own ("own" in the test role):
    # a call of someone else's customer is listed without that customer
    status, body = await get(api, "agent", "/recent-callers")
    assert status == 200
    rows = {r["caller"]: r for r in body["items"]}
    assert rows["+8613800130000"]["customer"]["id"] == ids[0]
    assert rows["+8613800130002"]["customer"] is None
    assert rows["+8613800130002"]["restricted"] is True
    # the manager reads the team's customers' calls: no unknown caller, no other team
    status, body = await get(api, "manager", "/recent-callers")
    assert status == 200
    assert {r["caller"] for r in body["items"]} == {"+8613800130000", "+8613800130001"}
    # only the calls her phone answered
    status, body = await get(api, "agent", "/recent-callers?mine=true")
    assert status == 200
    assert [(r["caller"], r["linkedid"]) for r in body["items"]] == [("+8613800130000",
                                                                     "c0-old")]
    # a user without a phone has no calls of her own to list
    status, body = await get(api, "admin", "/recent-callers?mine=true")
    assert status == 403 and body["error"] == "not-an-agent"
    for bad in ("limit=0", "limit=101", "mine=perhaps"):
        assert (await get(api, "admin", f"/recent-callers?{bad}"))[0] == 422, bad


async def test_interactions_say_who_wrote_them_and_callback_notes_as_facts(api: Api) -> None:
    ids = await seed_customers(api, 1)
    customer = ids[0]
    now = datetime.now(UTC)
    async with api.sessionmaker.begin() as db:
        cb = CallbackRequest(phone="+8613800130000", customer_id=customer, queue="support",
                             place_at=now, state="waiting")
        db.add(cb)
        await db.flush()
        cid = cb.id
        db.add(Interaction(customer_id=customer, kind="note", occurred_at=now,
                           content="客户来电", author_id=api.users.agent2))
    # two attempts by the worker (ivr.callback_store, as it runs): Dave (no user, the call
    # record names him) got a busy line, then Alice's phone reached the customer
    tokens = [f"hlcb-{cid}-aaaa", f"hlcb-{cid}-bbbb"]
    for token, phone, result in ((tokens[0], DAVE_PHONE, "busy"),
                                 (tokens[1], ALICE_PHONE, "answered")):
        async with api.sessionmaker() as db:
            seen = (await db.get(CallbackRequest, cid)).claim  # type: ignore[union-attr]
        assert await store.claim(api.sessionmaker, cid, seen=seen, token=token, agent=phone,
                                 now=now)
        assert await store.finish(api.sessionmaker, cid, token=token, result=result, now=now,
                                  policy=Policy(retry_s=0), agent=phone, started_at=now)
    async with api.sessionmaker.begin() as db:
        db.add(record(tokens[0], "+8613800130000", 0, direction="outbound", agent="Dave",
                      agent_interface=DAVE_PHONE, outcome="busy", customer_id=customer))
        notes = (await db.scalars(select(Interaction).where(
            Interaction.call_linkedid.in_(tokens)).order_by(Interaction.id))).all()
    # the text written names the agent, never the phone's channel
    assert [n.author_id for n in notes] == [None, None]
    assert "(1007)" in notes[0].content and "(王小明)" in notes[1].content
    assert all("Local/" not in n.content for n in notes)

    status, body = await get(api, "agent", f"/customers/{customer}/interactions")
    assert status == 200
    items = {i["call_linkedid"] or i["content"]: i for i in body["items"]}
    assert items["客户来电"]["author"] == "李娜"  # who wrote it
    assert "auto" not in items["客户来电"]
    assert items[tokens[0]]["author"] is None  # Hotline itself
    assert items[tokens[0]]["auto"] == {"kind": "callback", "attempt": 1, "result": "busy",
                                        "agent": "Dave", "extension": None}
    assert items[tokens[1]]["auto"] == {"kind": "callback", "attempt": 2,
                                        "result": "answered", "agent": "王小明",
                                        "extension": None}
