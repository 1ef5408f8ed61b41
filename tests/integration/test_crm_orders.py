"""Orders, supplier batches and their stages (issue 18) on SQLite and PostgreSQL: the
service (crm_core.orders), the IVR's order status (ivr.services) and the pop's open
orders (crm_core.lookup) giving one answer."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_core import customers, lookup, orders, subscriptions, users
from crm_core.db import make_engine
from crm_core.errors import NotFound, ValidationFailed
from crm_core.models import AuditEntry, OrderLine
from crm_core.order_eta import DEFAULT_DAYS
from crm_core.permissions import SYSTEM, Actor, PermissionDenied, load_actor
from ivr.services import ServiceContext, run_action
from tests.integration.test_crm_records import migrate, sqlite_template  # noqa: F401

T = TypeVar("T")
NOW = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai, June 1
TODAY = date(2026, 6, 1)
PHONE = "13900139000"


@dataclass
class World:
    sm: async_sessionmaker[AsyncSession]
    admin: Actor
    alice: Actor  # manager
    bob: Actor  # manager
    agent: Actor

    async def run(self, fn: Callable[[AsyncSession], Awaitable[T]]) -> T:
        async with self.sm.begin() as session:
            return await fn(session)


@pytest.fixture
async def world(db_url: str, sqlite_template: Path) -> AsyncIterator[World]:  # noqa: F811
    await migrate(db_url, sqlite_template)
    engine = make_engine(db_url)
    sm = async_sessionmaker(engine, expire_on_commit=False)
    try:
        ids = {}
        async with sm.begin() as s:
            await users.ensure_roles(s)
            for username, role in (("alice", "manager"), ("bob", "manager"),
                                   ("agent1", "agent"), ("root", "admin")):
                made = await users.create_user(s, SYSTEM, username=username,
                                               display_name=username.title(), role=role,
                                               team="north")
                ids[username] = made["id"]
        async with sm() as s:
            a = {name: await load_actor(s, uid) for name, uid in ids.items()}
        yield World(sm, a["root"], a["alice"], a["bob"], a["agent1"])  # type: ignore[arg-type]
    finally:
        await engine.dispose()


async def library(w: World) -> int:
    made = await w.run(lambda s: customers.create_customer(
        s, w.alice, name="复旦大学图书馆 Fudan University Library", numbers=[PHONE], now=NOW))
    return int(made["id"])


async def setup_order(w: World) -> tuple[int, dict[str, Any]]:
    cid = await library(w)
    await w.run(lambda s: orders.add_supplier(s, w.admin, code="SPRINGER", name="Springer",
                                              country="DE"))
    await w.run(lambda s: orders.add_supplier(s, w.admin, code="WILEY", name="Wiley"))
    order = await w.run(lambda s: orders.create_order(
        s, w.alice, cid, due_date="2026-09-01", now=NOW, lines=[
            {"title": "Linear Algebra Done Right", "ref": "9783031410253", "quantity": 40,
             "price": "389.00", "supplier": "SPRINGER"},
            {"title": "Principles of Physics", "ref": "9781119801146", "quantity": 60,
             "price": "512.50", "supplier": "WILEY"},
            {"title": "教学参考书（供应商待定）", "quantity": 5},
        ]))
    return cid, order


async def test_lines_batches_and_stages(world: World) -> None:
    w = world
    cid, order = await setup_order(w)
    assert order["number"] == f"SO{order['id']:06d}" and order["owner_id"] == w.alice.user_id
    assert order["stage"] == "to_be_batched" and order["expected_on"] is None
    assert [ln["stage"] for ln in order["lines"]] == ["to_be_batched"] * 3

    springer = await w.run(lambda s: orders.supplier_by_code(s, "SPRINGER"))
    assert springer is not None
    batch = await w.run(lambda s: orders.group_lines(s, w.admin, springer.id,
                                                     code="SPR-2026-06", now=NOW))
    assert batch["stage"] == "ordered" and batch["stage_on"] == "2026-06-01"
    assert batch["expected_on"] == (TODAY + timedelta(days=sum(DEFAULT_DAYS.values()))
                                    ).isoformat()
    # the line with no supplier is held, never lost
    waiting = await w.run(lambda s: orders.to_be_batched(s, w.admin))
    assert sorted(i["title"] for i in waiting["items"]) == [
        "Principles of Physics", "教学参考书（供应商待定）"]
    with pytest.raises(ValidationFailed):  # nothing of Springer is waiting any more
        await w.run(lambda s: orders.group_lines(s, w.admin, springer.id, code="SPR-2"))

    moved = await w.run(lambda s: orders.update_stage(
        s, w.admin, "SPR-2026-06", "customs", "2026-07-10", now=NOW + timedelta(days=40)))
    assert moved["changed"] and moved["stage"] == "customs"
    assert moved["stage_dates"] == {"ordered": "2026-06-01", "customs": "2026-07-10"}
    assert moved["expected_on"] == "2026-07-28"  # 7 + 5 + 3 + 3 days from July 10
    again = await w.run(lambda s: orders.update_stage(
        s, w.admin, "SPR-2026-06", "customs", "2026-07-12", now=NOW))
    assert again["changed"] is False and again["stage_on"] == "2026-07-10"
    with pytest.raises(ValidationFailed, match="cannot go back"):
        await w.run(lambda s: orders.update_stage(s, w.admin, "SPR-2026-06", "shipped"))
    with pytest.raises(NotFound):
        await w.run(lambda s: orders.update_stage(s, w.admin, "NO-SUCH", "customs"))
    with pytest.raises(ValidationFailed):
        await w.run(lambda s: orders.update_stage(s, w.admin, "SPR-2026-06", "lost"))
    # the stage update touched the batch row only: the lines still point at it
    async with w.sm() as s:
        assert await s.scalar(select(func.count()).select_from(OrderLine).where(
            OrderLine.batch_id == batch["id"])) == 1
        entries = (await s.scalars(select(AuditEntry.action).where(
            AuditEntry.entity == "supplier_batch"))).all()
    assert list(entries) == ["create", "update"]

    view = await w.run(lambda s: orders.order_view(s, w.alice, order["id"], now=NOW))
    assert view["stage"] == "to_be_batched"  # two lines still wait for their batch
    assert view["batches"][0]["timeline"] == [{"stage": "ordered", "on": "2026-06-01"},
                                              {"stage": "customs", "on": "2026-07-10"}]
    listed = await w.run(lambda s: orders.list_orders(s, w.alice, customer_id=cid, now=NOW))
    assert [i["number"] for i in listed["items"]] == [order["number"]]


async def test_permissions(world: World) -> None:
    w = world
    cid, order = await setup_order(w)
    # another manager does not see alice's order; the agent reads any; writes are denied
    with pytest.raises(NotFound):
        await w.run(lambda s: orders.order_view(s, w.bob, order["id"]))
    assert (await w.run(lambda s: orders.list_orders(s, w.bob)))["total"] == 0
    assert (await w.run(lambda s: orders.order_view(s, w.agent, order["id"])))["id"]
    with pytest.raises(PermissionDenied):
        await w.run(lambda s: orders.create_order(s, w.agent, cid, lines=[{"title": "x"}]))
    # a stage update moves many customers' lines: not for a manager's "own" scope
    with pytest.raises(PermissionDenied):
        await w.run(lambda s: orders.update_stage(s, w.alice, "whatever", "customs"))
    with pytest.raises(ValidationFailed) as bad:
        await w.run(lambda s: orders.create_order(s, w.alice, cid, lines=[
            {"title": "ok"}, {"title": "y", "supplier": "NOPE"}]))
    assert bad.value.field == "lines[1].supplier"


def ivr_context(customer: dict[str, Any] | None) -> ServiceContext:
    return ServiceContext(caller=PHONE, customer=customer, queue="support", priority=0,
                          linkedid=None, started_at=NOW + timedelta(days=40))


async def test_one_answer_in_the_ivr_and_the_pop(world: World) -> None:
    w = world
    cid, order = await setup_order(w)
    for code in ("SPRINGER", "WILEY"):
        sup = await w.run(lambda s, c=code: orders.supplier_by_code(s, c))  # type: ignore[misc]
        assert sup is not None
        await w.run(lambda s, i=sup.id, c=code: orders.group_lines(  # type: ignore[misc]
            s, w.admin, i, code=f"{c}-1", now=NOW))
    await w.run(lambda s: orders.update_stage(s, w.admin, "SPRINGER-1", "warehouse",
                                              "2026-07-09", now=NOW + timedelta(days=40)))
    await w.run(lambda s: orders.update_stage(s, w.admin, "WILEY-1", "customs",
                                              "2026-07-08", now=NOW + timedelta(days=40)))
    # the unsupplied line is cancelled: the order stands at its least advanced live line
    async with w.sm.begin() as s:
        line = await s.scalar(select(OrderLine).where(OrderLine.batch_id.is_(None)))
        assert line is not None
        line.state = "cancelled"
    sm = w.sm
    got = await run_action(sm, "order_status", {"customer_id": str(cid)}, ivr_context(None))
    assert got.ok and got.data["found"]
    # customs July 8: + 7 + 5 + 3 + 3 = July 26 (Wiley's), later than Springer's
    assert got.data["orders"] == [{"number": order["number"], "stage": "customs",
                                   "late": False, "expected_on": "2026-07-26"}]
    digits = order["number"][2:]
    assert got.data["prompts"] == [
        "orders_open", "order_number", {"say": "digits", "value": digits}, "stage_customs",
        "expected_on", {"say": "date", "value": "2026-07-26"}]
    keyed = await run_action(sm, "order_status", {"order_no": digits}, ivr_context(None))
    assert keyed.data["orders"] == got.data["orders"]
    missing = await run_action(sm, "order_status", {"order_no": "999999"}, ivr_context(None))
    assert missing.ok and missing.data["prompts"] == ["order_not_found"]

    async with w.sm() as s:
        view = await lookup.lookup_360(s, PHONE)
    [shown] = view["open_orders"]
    assert shown["number"] == order["number"] and shown["stage"] == "customs"
    assert shown["expected_on"] == "2026-07-26" and shown["due_date"] == "2026-09-01"
    assert shown["back_ordered"] is False and shown["lines"] == 2

    # every batch delivered: the delivery day is read back
    for code in ("SPRINGER-1", "WILEY-1"):
        await w.run(lambda s, c=code: orders.update_stage(  # type: ignore[misc]
            s, w.admin, c, "delivered", "2026-07-20", now=NOW + timedelta(days=50)))
    done = await run_action(sm, "order_status", {"customer_id": str(cid)}, ivr_context(None))
    assert done.data["prompts"][-3:] == ["stage_delivered", "delivered_on",
                                         {"say": "date", "value": "2026-07-20"}]


async def test_ivr_falls_back_to_subscriptions(world: World) -> None:
    w = world
    cid = await library(w)
    await w.run(lambda s: subscriptions.create_subscription(
        s, w.admin, cid, title="SpringerLink", start_date="2026-01-01",
        end_date="2026-12-31"))
    got = await run_action(w.sm, "order_status", {"customer_id": str(cid)}, ivr_context(None))
    assert got.ok and got.data["subscriptions"][0]["end_date"] == "2026-12-31"
    assert "orders" not in got.data

