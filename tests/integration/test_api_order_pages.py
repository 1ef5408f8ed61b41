"""What the orders pages read (issue 18 item 5) over real HTTP on SQLite and PostgreSQL:
the orders list's filters (salesman, due date, late only), the order's customer,
contact and salesman, and the batches board's list (``GET /batches``: by stage,
supplier and lateness, each with its line count and late flag), in the data scope of
the order routes: a salesman sees his orders' share of a batch, never another's."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from crm_core import orders
from crm_core.models import Contact, Customer, Supplier
from crm_core.permissions import SYSTEM
from tests.integration.test_api_support import (
    AGENT_GRANTS,
    Api,
    role_with_grants,
    running_api,
    signed_in,
)

HOSTILE = '<img src=x onerror="alert(1)">北大图书馆'


@pytest.fixture
async def api(db_url: str) -> AsyncIterator[Api]:
    async with running_api(db_url) as running:
        yield running


async def seed(api: Api) -> dict[str, Any]:
    """Two customers (the agent's, the second agent's), two suppliers; an OUP batch
    ordered today (on time) carrying both customers' lines, a Wiley batch ordered in
    January (long past its expected day: late), and a line still to be batched."""
    u = api.users
    async with api.sessionmaker.begin() as db:
        await role_with_grants(db, "agent", {**AGENT_GRANTS, ("orders", "read"): "own"})
        mine = Customer(name=HOSTILE, owner_id=u.agent)
        theirs = Customer(name="复旦大学图书馆", owner_id=u.agent2)
        db.add_all([mine, theirs, Supplier(code="OUP", name="牛津大学出版社",
                                           name_en="Oxford University Press"),
                    Supplier(code="WILEY", name="Wiley")])
        await db.flush()
        contact = Contact(customer_id=mine.id, name="周老师", role="采购")
        db.add(contact)
        await db.flush()
        a1 = await orders.create_order(db, SYSTEM, mine.id, number="SO-A1",
                                       due_date="2029-06-01", owner_id=u.agent,
                                       contact_id=contact.id, lines=[
                                           {"title": "Oxford Handbook", "supplier": "OUP"}])
        a2 = await orders.create_order(db, SYSTEM, mine.id, number="SO-A2",
                                       due_date="2030-01-01", owner_id=u.agent, lines=[
                                           {"title": "Physics", "supplier": "WILEY"}])
        b1 = await orders.create_order(db, SYSTEM, theirs.id, number="SO-B1",
                                       due_date="2030-01-01", owner_id=u.agent2, lines=[
                                           {"title": "Oxford Atlas", "supplier": "OUP"},
                                           {"title": "未定供应商的书"}])
        oup = await orders.supplier_by_code(db, "OUP")
        wiley = await orders.supplier_by_code(db, "WILEY")
        assert oup is not None and wiley is not None
        on_time = await orders.group_lines(db, SYSTEM, oup.id, code="OUP-NOW")
        late = await orders.group_lines(db, SYSTEM, wiley.id, code="WILEY-JAN",
                                        on="2026-01-05")
        return {"a1": a1["id"], "a2": a2["id"], "b1": b1["id"], "oup": on_time["id"],
                "wiley": late["id"], "wiley_supplier": wiley.id}


async def items(client: Any, path: str, **params: Any) -> list[dict[str, Any]]:
    resp = await client.get(path, params={k: str(v).lower() if isinstance(v, bool) else v
                                          for k, v in params.items()})
    assert resp.status == 200, await resp.text()
    return list((await resp.json())["items"])


async def test_the_orders_list_filters_and_the_order_names_its_people(api: Api) -> None:
    ids = await seed(api)
    async with signed_in(api, "admin") as admin:
        every = await items(admin, "/orders")
        assert [o["number"] for o in every] == ["SO-B1", "SO-A2", "SO-A1"]
        assert {o["number"]: o["owner_name"] for o in every} == {
            "SO-B1": "李娜", "SO-A2": "王小明", "SO-A1": "王小明"}
        assert [o["number"] for o in await items(admin, "/orders", late=True)] == ["SO-A2"]
        assert [o["late"] for o in every] == [False, True, False]
        assert [o["number"] for o in await items(
            admin, "/orders", owner_id=api.users.agent2)] == ["SO-B1"]
        assert [o["number"] for o in await items(
            admin, "/orders", due_before="2029-12-31")] == ["SO-A1"]
        assert [o["number"] for o in await items(
            admin, "/orders", due_before="2030-01-01", owner_id=api.users.agent)] == [
            "SO-A2", "SO-A1"]
        assert (await admin.get("/orders", params={"due_before": "soon"})).status == 422
        assert [o["number"] for o in await items(admin, "/orders", customer="复旦")] == [
            "SO-B1"]
        assert [o["number"] for o in await items(admin, "/orders", customer="%")] == []

        order = await (await admin.get(f"/orders/{ids['a1']}")).json()
        assert (order["customer_name"], order["contact_name"], order["contact_role"],
                order["owner_name"]) == (HOSTILE, "周老师", "采购", "王小明")

    async with signed_in(api, "agent") as agent:  # orders read, own: his two orders
        assert [o["number"] for o in await items(agent, "/orders")] == ["SO-A2", "SO-A1"]
        assert (await agent.get(f"/orders/{ids['b1']}")).status == 404


async def test_the_batches_board_list_by_stage_supplier_and_lateness(api: Api) -> None:
    ids = await seed(api)
    async with signed_in(api, "admin") as admin:
        board = await items(admin, "/batches")
        assert [(b["code"], b["stage"], b["lines"], b["orders"], b["late"]) for b in board] \
            == [("WILEY-JAN", "ordered", 1, 1, True), ("OUP-NOW", "ordered", 2, 2, False)]
        oup = board[1]
        assert (oup["supplier"], oup["supplier_en"], oup["supplier_code"]) == (
            "牛津大学出版社", "Oxford University Press", "OUP")
        assert oup["expected_on"] > oup["stage_on"] and oup["earliest_due"] == "2029-06-01"
        assert [b["code"] for b in await items(admin, "/batches", late=True)] == ["WILEY-JAN"]
        assert [b["code"] for b in await items(admin, "/batches", supplier="WIL")] == [
            "WILEY-JAN"]
        assert [b["code"] for b in await items(
            admin, "/batches", supplier_id=ids["wiley_supplier"])] == ["WILEY-JAN"]
        assert await items(admin, "/batches", stage="shipped") == []

        resp = await admin.post(f"/batches/{ids['wiley']}/stage", json={"stage": "shipped"})
        assert resp.status == 200, await resp.text()
        assert [b["code"] for b in await items(admin, "/batches", stage="shipped")] == [
            "WILEY-JAN"]
        assert [b["code"] for b in await items(admin, "/batches", stage="ordered")] == [
            "OUP-NOW"]
        # the board's "move back" is the API's refusal, said in words
        resp = await admin.post(f"/batches/{ids['wiley']}/stage", json={"stage": "ordered"})
        assert resp.status == 422
        assert "cannot go back" in (await resp.json())["message"]
        assert (await admin.get("/batches", params={"stage": "lost"})).status == 422

    async with signed_in(api, "agent") as agent:  # his orders' share of each batch
        board = await items(agent, "/batches")
        assert sorted((b["code"], b["lines"], b["orders"]) for b in board) == [
            ("OUP-NOW", 1, 1), ("WILEY-JAN", 1, 1)]
        resp = await agent.post(f"/batches/{ids['oup']}/stage", json={"stage": "shipped"})
        assert resp.status == 403  # moving a batch needs orders update, all
    async with signed_in(api, "agent2") as agent2:
        board = await items(agent2, "/batches")
        assert [(b["code"], b["lines"]) for b in board] == [("OUP-NOW", 1)]
    async with signed_in(api, "manager") as manager:  # no orders grant at all
        assert (await manager.get("/batches")).status == 403
