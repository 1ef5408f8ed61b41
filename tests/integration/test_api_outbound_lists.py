"""The call lists' API over real HTTP on SQLite and PostgreSQL (issue 17 items 1-2): a
manager makes a list, agents take entries (many at once: never the same one), record
outcomes fitting the list, and are refused what their grants do not allow."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select, update

from crm_core.models import Customer, Role, RolePermission, User
from crm_core.outbound_lists import CallHours
from tests.integration.test_api_support import (
    FAST_HASHER,
    PASSWORD,
    Api,
    running_api,
    seed_customers,
    signed_in,
)

BEIJING = {"rule": "customer_filter", "params": {"filter": {"province": "北京"}}}


@pytest.fixture
async def api(db_url: str) -> AsyncIterator[Api]:
    async with running_api(db_url, call_hours=CallHours.always()) as running:
        async with running.sessionmaker.begin() as db:
            roles = {r.name: r.id for r in (await db.scalars(select(Role))).all()}
            for op in ("read", "update"):
                db.add(RolePermission(role_id=roles["agent"], module="call_lists",
                                      operation=op, scope="all"))
            for op in ("read", "create", "update"):
                db.add(RolePermission(role_id=roles["manager"], module="call_lists",
                                      operation=op, scope="all"))
            pw = FAST_HASHER.hash(PASSWORD)
            db.add_all([User(username=f"crowd{i}", display_name=f"坐席{i}", password_hash=pw,
                             role_id=roles["agent"], team="north") for i in range(10)])
        yield running


async def make_list(api: Api, **kw: Any) -> dict[str, Any]:
    async with signed_in(api, "manager") as client:
        resp = await client.post("/call-lists", json={"name": "北京回访", **BEIJING, **kw})
        assert resp.status == 201, await resp.text()
        return dict(await resp.json())


async def test_manager_makes_a_list_and_an_agent_works_it(api: Api) -> None:
    ids = await seed_customers(api, 6)  # the odd ones are in 北京
    made = await make_list(api, max_attempts=2)
    assert made["built"]["added"] == 3 and made["counts"]["due"] == 3
    async with signed_in(api, "agent") as client:
        resp = await client.get("/call-lists")
        assert [x["id"] for x in (await resp.json())["items"]] == [made["id"]]
        assert (await client.post("/call-lists", json={"name": "x", **BEIJING})).status == 403
        resp = await client.post(f"/call-lists/{made['id']}/next")
        entry = (await resp.json())["entry"]
        assert entry["customer_id"] in ids[1::2] and entry["number"].startswith("+86")
        assert entry["outcomes"][0] == "reached"
        again = await client.post(f"/call-lists/{made['id']}/next")  # held: the same one
        assert (await again.json())["entry"]["id"] == entry["id"]
        held = await (await client.get("/call-lists/held")).json()  # a reloaded console
        assert held["entry"]["id"] == entry["id"]
        path = f"/call-list-entries/{entry['id']}/outcome"
        assert (await client.post(path, json={"outcome": "renewed"})).status == 422
        assert (await client.post(path, json={"outcome": "scored", "score": 9})).status == 422
        async with signed_in(api, "agent2") as other:  # not theirs
            assert (await other.post(path, json={"outcome": "reached"})).status == 409
        resp = await client.post(path, json={"outcome": "reached", "comment": "满意"})
        assert resp.status == 200
        done = await resp.json()
        assert done["state"] == "done" and done["outcome_data"] == {"comment": "满意"}
        assert await (await client.get("/call-lists/held")).json() == {"entry": None}
        assert (await client.post("/call-lists/999999/next")).status == 404
    async with signed_in(api, "manager") as client:
        resp = await client.post(f"/call-lists/{made['id']}/refresh")
        assert await resp.json() == {"added": 0, "updated": 0, "gone": 0}
        resp = await client.post("/call-lists", json={"name": "x", "rule": "renewal_due",
                                                      "params": {"days": "many"}})
        assert resp.status == 422 and "params.days" in await resp.text()


async def test_do_not_call_is_never_handed_out(api: Api) -> None:
    ids = await seed_customers(api, 4)
    async with api.sessionmaker.begin() as db:
        await db.execute(update(Customer).where(Customer.id == ids[1]).values(do_not_call=True))
    made = await make_list(api)
    async with signed_in(api, "agent") as client:
        resp = await client.post(f"/call-lists/{made['id']}/next")
        entry = (await resp.json())["entry"]
        assert entry["customer_id"] == ids[3]
        resp = await client.post(f"/call-list-entries/{entry['id']}/outcome",
                                 json={"outcome": "do-not-call"})
        assert resp.status == 200
        resp = await client.post(f"/call-lists/{made['id']}/next")
        assert await resp.json() == {"entry": None, "why": "empty"}


async def test_closed_hours_hand_out_nothing(db_url: str) -> None:
    async with running_api(db_url, call_hours=CallHours.parse("09:00-18:00", "")) as api:
        async with api.sessionmaker.begin() as db:
            role = await db.scalar(select(Role.id).where(Role.name == "manager"))
            for op in ("read", "create", "update"):
                db.add(RolePermission(role_id=role, module="call_lists", operation=op,
                                      scope="all"))
        await seed_customers(api, 2)
        made = await make_list(api)
        async with signed_in(api, "manager") as client:
            resp = await client.post(f"/call-lists/{made['id']}/next")
            assert await resp.json() == {"entry": None, "why": "closed"}


async def test_many_agents_at_once_never_get_the_same_entry(api: Api) -> None:
    await seed_customers(api, 60)  # 30 in 北京
    made = await make_list(api)

    async def work(username: str) -> list[int]:
        got: list[int] = []
        async with signed_in(api, username) as client:
            while True:
                resp = await client.post(f"/call-lists/{made['id']}/next")
                assert resp.status == 200, await resp.text()
                entry = (await resp.json())["entry"]
                if entry is None:
                    return got
                got.append(entry["id"])
                resp = await client.post(f"/call-list-entries/{entry['id']}/outcome",
                                         json={"outcome": "reached"})
                assert resp.status == 200, await resp.text()

    names = ["agent", "agent2", *(f"crowd{i}" for i in range(10))]
    handed = [i for got in await asyncio.gather(*(work(n) for n in names)) for i in got]
    assert len(handed) == 30 and len(set(handed)) == 30


async def test_a_list_given_to_named_agents_or_a_team_is_theirs(api: Api) -> None:
    await seed_customers(api, 4)
    made = await make_list(api, agent_ids=[api.users.agent2])
    assert made["agent_ids"] == [api.users.agent2] and made["team"] is None
    path = f"/call-lists/{made['id']}"
    async with signed_in(api, "agent") as client:  # of the team north, not named
        assert (await (await client.get("/call-lists")).json())["items"] == []
        assert (await client.post(f"{path}/next")).status == 404
        assert (await client.get(f"{path}/entries")).status == 404
        assert (await client.get("/call-lists/assignable")).status == 403
        assert (await client.put(f"{path}/assignment", json={"team": "north"})).status == 403
    async with signed_in(api, "agent2") as client:
        resp = await client.post(f"{path}/next")
        assert (await resp.json())["entry"] is not None
    async with signed_in(api, "manager") as client:
        resp = await client.get("/call-lists/assignable")
        whom = await resp.json()
        named = {a["id"] for a in whom["agents"]}
        assert {api.users.agent, api.users.agent2, api.users.other_team} <= named
        assert {"north", "south"} <= set(whom["teams"])
        resp = await client.put(f"{path}/assignment", json={"agent_ids": [999999]})
        assert resp.status == 422 and "agent_ids" in await resp.text()
        resp = await client.put(f"{path}/assignment",
                                json={"team": "south", "agent_ids": [api.users.agent]})
        assert resp.status == 200, await resp.text()
        given = await resp.json()
        assert (given["team"], given["agent_ids"]) == ("south", [api.users.agent])
    async with signed_in(api, "agent") as client:  # named now
        assert [x["id"] for x in (await (await client.get("/call-lists")).json())["items"]] \
            == [made["id"]]
    async with signed_in(api, "south") as client:  # the team now
        assert (await client.post(f"{path}/next")).status == 200
    async with signed_in(api, "agent2") as client:  # no longer: the entry held stays hers
        assert (await client.get("/call-lists")).status == 200
        assert (await (await client.get("/call-lists")).json())["items"] == []


async def test_progress_entries_and_an_entrys_history(api: Api) -> None:
    await seed_customers(api, 6)  # 3 in 北京
    made = await make_list(api, name="<img src=x onerror=alert(1)>", max_attempts=2,
                           retry_delay_min=1)
    path = f"/call-lists/{made['id']}"
    async with signed_in(api, "agent") as client:
        first = (await (await client.post(f"{path}/next")).json())["entry"]
        out = f"/call-list-entries/{first['id']}/outcome"
        assert (await client.post(out, json={"outcome": "no-answer"})).status == 200
        second = (await (await client.post(f"{path}/next")).json())["entry"]
        assert second["id"] != first["id"]  # the no-answer comes back later, not now
        out2 = f"/call-list-entries/{second['id']}/outcome"
        assert (await client.post(out2, json={"outcome": "reached",
                                              "comment": "ok"})).status == 200
        third = (await (await client.post(f"{path}/next")).json())["entry"]
        resp = await client.get(f"{path}/entries")
        assert resp.status == 200
        rows = (await resp.json())["items"]
        assert (await client.get(f"{path}/entries?state=lost")).status == 422
        done = (await (await client.get(f"{path}/entries?state=done")).json())["items"]
        listed = (await (await client.get("/call-lists")).json())["items"][0]
        history = (await (await client.get(f"/call-list-entries/{first['id']}")).json())
    by_id = {r["id"]: r for r in rows}
    assert len(rows) == 3 and by_id[third["id"]]["held_by"] == "王小明"
    assert (by_id[first["id"]]["state"], by_id[first["id"]]["attempts"],
            by_id[first["id"]]["outcome"]) == ("open", 1, "no-answer")
    assert [r["id"] for r in done] == [second["id"]]
    assert listed["counts"]["done"] == 1 and listed["counts"]["open"] == 2
    assert listed["outcome_counts"] == {"no-answer": 1, "reached": 1}
    assert listed["name"] == "<img src=x onerror=alert(1)>"
    [step] = history["history"]
    assert (step["outcome"], step["by"], step["by_name"]) == ("no-answer", api.users.agent,
                                                             "王小明")


async def test_an_automated_survey_list_is_the_ivrs_not_an_agents(api: Api) -> None:
    await seed_customers(api, 2)
    async with signed_in(api, "manager") as client:
        bad = await client.post("/call-lists", json={"name": "x", **BEIJING, "automated": True})
        assert bad.status == 422  # a contact list: the survey asks satisfaction only
        resp = await client.post("/call-lists", json={
            "name": "自动回访", "rule": "repair_followup", "params": {"days": 1},
            "automated": True})
        assert resp.status == 201, await resp.text()
        made = await resp.json()
        assert made["automated"] is True and made["kind"] == "satisfaction"
        listed = await (await client.get("/call-lists")).json()
        assert [x["automated"] for x in listed["items"]] == [True]
    async with signed_in(api, "agent") as client:
        assert (await (await client.get("/call-lists")).json())["items"] == []
        assert (await client.post(f"/call-lists/{made['id']}/next")).status == 404
