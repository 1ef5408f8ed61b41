"""The CRM record services on real databases (every test on SQLite and PostgreSQL).

CRUD of every record, the data scopes (an account manager sees only their own
customers, an agent sees any caller but cannot change customers), audit entries
with before/after for every write, the end-of-day closing of interactions and
addenda, ticket numbering under concurrency and ticket transitions, search by
name / phone in six formats / serial / ticket number, and nothing half-written
when validation fails.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import column, func, insert, select, table
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.pool import NullPool

from crm_core import (
    assets,
    contacts,
    customers,
    interactions,
    opportunities,
    roles,
    search,
    subscriptions,
    tickets,
    users,
)
from crm_core.db import make_engine, upgrade, upgrade_async
from crm_core.errors import Conflict, DuplicateCustomer, NotFound, ValidationFailed
from crm_core.models import (
    AuditEntry,
    Customer,
    OwnershipChange,
    PhoneNumber,
    Ticket,
    TicketStatusChange,
)
from crm_core.ownership import CapReached, OwnershipRules
from crm_core.permissions import SYSTEM, Actor, PermissionDenied, load_actor
from tests.integration.migration_support import migrate_to, old_customer

T = TypeVar("T")
SH = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
SIX_FORMATS = (
    "13800138000", "+86 138 0013 8000", "0086-138-0013-8000",
    "010-5129 7073", "(010)51297073", "4008001234",
)


@dataclass
class World:
    sm: async_sessionmaker[AsyncSession]
    admin: Actor
    alice: Actor  # manager, team north
    bob: Actor  # manager, team south
    agent: Actor
    sup: Actor  # supervisor, team north

    async def run(self, fn: Callable[[AsyncSession], Awaitable[T]]) -> T:
        async with self.sm.begin() as session:
            return await fn(session)

    async def count(self, model: Any, *where: Any) -> int:
        async with self.sm() as session:
            return int(await session.scalar(select(func.count()).select_from(model).where(*where))
                       or 0)

    async def audits(self, entity: str, entity_id: object) -> list[AuditEntry]:
        async with self.sm() as session:
            rows = await session.scalars(
                select(AuditEntry).where(AuditEntry.entity == entity,
                                         AuditEntry.entity_id == str(entity_id))
                .order_by(AuditEntry.id)
            )
            return list(rows)


@pytest.fixture(scope="module")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite database that each test copies instead of running every
    migration again."""
    template = tmp_path_factory.mktemp("crm_template") / "migrated.db"
    upgrade(f"sqlite+aiosqlite:///{template}")
    return template


async def migrate(db_url: str, template: Path) -> None:
    url = make_url(db_url)
    if url.get_backend_name() != "sqlite" or not url.database:
        await upgrade_async(db_url)
        return
    shutil.copyfile(template, url.database)


@pytest.fixture
async def world(db_url: str, sqlite_template: Path) -> AsyncIterator[World]:
    await migrate(db_url, sqlite_template)
    engine = make_engine(db_url)
    sm = async_sessionmaker(engine, expire_on_commit=False)
    try:
        async with sm.begin() as s:
            await users.ensure_roles(s)
            ids = {}
            for username, role, team in (
                ("alice", "manager", "north"), ("bob", "manager", "south"),
                ("agent1", "agent", "hotline"), ("sup", "supervisor", "north"),
                ("root", "admin", None),
            ):
                made = await users.create_user(s, SYSTEM, username=username,
                                               display_name=username.title(), role=role,
                                               team=team)
                ids[username] = made["id"]
        async with sm() as s:
            actors = {name: await load_actor(s, uid) for name, uid in ids.items()}
        assert all(actors.values())
        yield World(sm, actors["root"], actors["alice"], actors["bob"],  # type: ignore[arg-type]
                    actors["agent1"], actors["sup"])  # type: ignore[arg-type]
    finally:
        await engine.dispose()


async def new_customer(w: World, actor: Actor, name: str, *numbers: str, **kw: Any) -> int:
    made = await w.run(lambda s: customers.create_customer(
        s, actor, name=name, numbers=numbers, now=NOW, **kw))
    return int(made["id"])


# --- customers ---------------------------------------------------------------------------


async def test_customer_crud_owner_and_audit(world: World) -> None:
    w = world
    made = await w.run(lambda s: customers.create_customer(
        s, w.alice, name=" 郑州宇通客车股份有限公司 ", numbers=["13800138000", "0371-66718888"],
        province="河南", city="郑州", vip_tier=3, vip_value="12345.5", now=NOW))
    cid = made["id"]
    assert made["name"] == "郑州宇通客车股份有限公司"
    assert made["owner_id"] == w.alice.user_id and made["owner_name"] == "Alice"
    assert made["owner_since"] == NOW.isoformat() and made["vip_value"] == "12345.50"
    assert made["name_key"] and " " not in made["name_key"]
    kinds = {p["number_e164"]: p["kind"] for p in made["phone_numbers"]}
    assert kinds == {"+8613800138000": "mobile", "+8637166718888": "landline"}
    assert await w.count(OwnershipChange, OwnershipChange.customer_id == cid) == 1

    got = await w.run(lambda s: customers.get_customer(s, w.alice, cid))
    assert got == made

    later = NOW + timedelta(hours=1)
    updated = await w.run(lambda s: customers.update_customer(
        s, w.alice, cid, {"status": "active", "vip_tier": 4}, now=later))
    assert updated["status"] == "active" and updated["vip_tier"] == 4
    assert updated["last_touched_at"] == later.isoformat()

    with pytest.raises(ValidationFailed) as bad:
        await w.run(lambda s: customers.update_customer(s, w.alice, cid, {"owner_id": 1}))
    assert bad.value.field == "owner_id"
    with pytest.raises(ValidationFailed) as bad:
        await w.run(lambda s: customers.update_customer(s, w.alice, cid, {"vip_tier": True}))
    assert bad.value.field == "vip_tier"

    with pytest.raises(PermissionDenied):
        await w.run(lambda s: customers.delete_customer(s, w.alice, cid))
    await w.run(lambda s: customers.delete_customer(s, w.admin, cid))
    with pytest.raises(NotFound):
        await w.run(lambda s: customers.get_customer(s, w.admin, cid))
    assert await w.count(PhoneNumber) == 0

    entries = await w.audits("customer", cid)
    assert [e.action for e in entries] == ["create", "reassign", "update", "delete"]
    assert entries[0].before is None and entries[0].after is not None
    assert entries[0].after["name"] == "郑州宇通客车股份有限公司"
    assert entries[0].after["owner_id"] is None  # created in the pool, then claimed
    assert entries[1].after is not None and entries[1].after["owner_id"] == w.alice.user_id
    assert entries[2].before is not None and entries[2].before["status"] == "prospect"
    after = entries[2].after
    assert after is not None
    assert after == {"status": "active", "vip_tier": 4, "last_touched_at": later.isoformat(),
                     "updated_at": after["updated_at"]}
    assert entries[3].before is not None and entries[3].after is None
    assert all(e.user_id in (w.alice.user_id, w.admin.user_id) for e in entries)


async def test_creator_owner_rules(world: World) -> None:
    w = world
    pool = await w.run(lambda s: customers.create_customer(s, w.admin, name="Pool Co"))
    assert pool["owner_id"] is None
    assigned = await w.run(lambda s: customers.create_customer(
        s, w.admin, name="Given Co", owner_id=w.bob.user_id, now=NOW))
    assert assigned["owner_id"] == w.bob.user_id
    # a supervisor may hand a new customer to their team, not to another team
    to_team = await w.run(lambda s: customers.create_customer(
        s, w.sup, name="Team Co", owner_id=w.alice.user_id))
    assert to_team["owner_id"] == w.alice.user_id
    with pytest.raises(ValidationFailed):
        await w.run(lambda s: customers.create_customer(
            s, w.sup, name="Other Co", owner_id=w.bob.user_id))
    # a manager has no reassign grant
    with pytest.raises(PermissionDenied):
        await w.run(lambda s: customers.create_customer(
            s, w.alice, name="Mine Co", owner_id=w.bob.user_id))
    # an agent creates an unknown caller from the pop: it goes to the shared pool
    from_pop = await w.run(lambda s: customers.create_customer(s, w.agent, name="Agent Co"))
    assert from_pop["owner_id"] is None
    with pytest.raises(PermissionDenied):  # ... and may not hand it to anyone
        await w.run(lambda s: customers.create_customer(
            s, w.agent, name="Agent Co 2", owner_id=w.bob.user_id))
    # creating is claiming: the ownership cap applies to a manager's own creations
    # (bob holds "Given Co" already: a transfer counts towards the cap too)
    rules = OwnershipRules(cap=2)
    await w.run(lambda s: customers.create_customer(s, w.bob, name="Bob One", now=NOW,
                                                    rules=rules))
    with pytest.raises(CapReached):
        await w.run(lambda s: customers.create_customer(s, w.bob, name="Bob Two", now=NOW,
                                                        rules=rules))
    assert await w.count(Customer, Customer.name == "Bob Two") == 0


async def test_duplicates_and_merged_customers(world: World) -> None:
    w = world
    cid = await new_customer(w, w.alice, "华为技术有限公司", "13800138000")
    with pytest.raises(DuplicateCustomer) as dup:
        await new_customer(w, w.bob, "华为技术", "13912345678")
    assert dup.value.existing_id == cid and dup.value.owner_name == "Alice"
    with pytest.raises(DuplicateCustomer):
        await new_customer(w, w.bob, "Another", "+86 138 0013 8000")
    other = await new_customer(w, w.bob, "Another", "13912345678")
    with pytest.raises(DuplicateCustomer):
        await w.run(lambda s: customers.update_customer(s, w.bob, other,
                                                        {"name": "华为技术 有限公司"}))
    with pytest.raises(DuplicateCustomer):
        await w.run(lambda s: customers.add_phone_number(s, w.bob, other, "13800138000"))
    with pytest.raises(DuplicateCustomer):
        await w.run(lambda s: contacts.create_contact(s, w.bob, other, name="X",
                                                      numbers=["13800138000"]))
    # renaming to its own name is fine
    await w.run(lambda s: customers.update_customer(s, w.bob, other, {"name": "Another"}))

    async with w.sm.begin() as s:
        row = await s.get(Customer, other)
        assert row is not None
        row.merged_into_id = cid
    assert (await w.run(lambda s: customers.get_customer(s, w.bob, other)))[
        "merged_into_id"] == cid
    with pytest.raises(Conflict):
        await w.run(lambda s: customers.update_customer(s, w.bob, other, {"vip_tier": 1}))
    with pytest.raises(Conflict):
        await w.run(lambda s: interactions.create_interaction(s, w.bob, other, kind="note"))
    assert (await w.run(lambda s: customers.list_customers(s, w.admin)))["total"] == 1


async def test_scopes(world: World) -> None:
    w = world
    a1 = await new_customer(w, w.alice, "Alpha Printing", "13800138000")
    a2 = await new_customer(w, w.alice, "Alpha Books", "13900139000")
    b1 = await new_customer(w, w.bob, "Beta Bus", "13700137000")

    with pytest.raises(NotFound):
        await w.run(lambda s: customers.get_customer(s, w.bob, a1))
    with pytest.raises(NotFound):
        await w.run(lambda s: customers.update_customer(s, w.bob, a1, {"status": "lost"}))
    with pytest.raises(NotFound):
        await w.run(lambda s: contacts.create_contact(s, w.bob, a1, name="Spy"))

    listed = await w.run(lambda s: customers.list_customers(s, w.alice))
    assert [c["id"] for c in listed["items"]] == [a1, a2] and listed["total"] == 2
    found = await w.run(lambda s: search.search_customers(s, w.bob, name="a"))
    assert [c["id"] for c in found["items"]] == [b1]
    assert (await w.run(lambda s: search.search_customers(
        s, w.bob, phone="13800138000")))["total"] == 0

    # an agent reads any caller, logs against them, but cannot change the customer
    assert (await w.run(lambda s: customers.get_customer(s, w.agent, b1)))["id"] == b1
    assert (await w.run(lambda s: customers.list_customers(s, w.agent)))["total"] == 3
    with pytest.raises(PermissionDenied):
        await w.run(lambda s: customers.update_customer(s, w.agent, b1, {"status": "lost"}))
    with pytest.raises(PermissionDenied):
        await w.run(lambda s: customers.delete_customer(s, w.agent, b1))
    # the supervisor of team north sees alice's customers, not bob's
    sup_list = await w.run(lambda s: customers.list_customers(s, w.sup))
    assert [c["id"] for c in sup_list["items"]] == [a1, a2]
    with pytest.raises(NotFound):
        await w.run(lambda s: customers.get_customer(s, w.sup, b1))
    # paging
    page = await w.run(lambda s: customers.list_customers(s, w.admin, limit=2, offset=2))
    assert page["total"] == 3 and [c["id"] for c in page["items"]] == [b1]
    with pytest.raises(ValidationFailed):
        await w.run(lambda s: customers.list_customers(s, w.admin, limit=0))


async def test_nothing_half_written(world: World) -> None:
    w = world
    with pytest.raises(ValidationFailed) as bad:
        await w.run(lambda s: customers.create_customer(
            s, w.alice, name="Half Co", numbers=["13800138000", "010-51297073"], vip_tier=9))
    assert bad.value.field == "vip_tier"
    with pytest.raises(ValidationFailed) as bad:
        await w.run(lambda s: customers.create_customer(
            s, w.alice, name="Half Co", numbers=["13800138000", "010-51297073", "abc"]))
    assert bad.value.field == "numbers[2]"

    # a failure after rows were written in the same transaction rolls all of it back
    async def two_steps(s: AsyncSession) -> None:
        made = await customers.create_customer(
            s, w.alice, name="Half Co", numbers=["13800138000", "010-51297073"])
        await assets.create_asset(s, w.alice, made["id"], serial_number="SN-1",
                                  purchase_date="2026-01-02", warranty_end="2025-01-01")

    with pytest.raises(ValidationFailed) as bad:
        await w.run(two_steps)
    assert bad.value.field == "warranty_end"
    for model in (Customer, PhoneNumber, OwnershipChange, AuditEntry):
        assert await w.count(model, *(
            (AuditEntry.entity != "app_user",) if model is AuditEntry else ())) == 0


# --- search ------------------------------------------------------------------------------


async def test_search_by_name_phone_serial_ticket(world: World) -> None:
    w = world
    cid = await new_customer(w, w.alice, "Zhengzhou Yutong Bus Co., Ltd.",
                             "13800138000", "010-51297073", "4008001234")
    other = await new_customer(w, w.alice, "Henan Pharma Packaging", "13912345678")
    await w.run(lambda s: assets.create_asset(s, w.alice, cid, serial_number="ZK6122-0001"))
    ticket = await w.run(lambda s: tickets.create_ticket(s, w.alice, cid, problem="AC broken",
                                                         now=NOW))

    async def ids(**kw: Any) -> list[int]:
        result = await w.run(lambda s: search.search_customers(s, w.alice, **kw))
        return [c["id"] for c in result["items"]]

    for raw in SIX_FORMATS:
        assert await ids(phone=raw) == [cid], raw
        assert await ids(q=raw) == [cid], raw
    assert await ids(phone="13800138001") == []
    assert await ids(name="yutong") == [cid]
    assert await ids(name="YUTONG bus") == [cid]
    assert await ids(name="100%") == []
    assert await ids(serial="ZK6122-0001") == [cid]
    assert await ids(serial="ZK6122") == []
    assert await ids(ticket=ticket["number"]) == [cid]
    assert await ids(ticket=ticket["number"].lower()) == [cid]
    assert await ids(q="pharma") == [other]
    assert await ids(name="henan", phone="13800138000") == []
    with pytest.raises(ValidationFailed) as bad:
        await ids(phone="no digits")
    assert bad.value.field == "phone"


# --- contacts, assets, subscriptions ----------------------------------------------------


async def test_contacts_and_numbers(world: World) -> None:
    w = world
    cid = await new_customer(w, w.alice, "Library of Henan", "0371-65956666")
    # an agent may add a contact to any caller's customer
    made = await w.run(lambda s: contacts.create_contact(
        s, w.agent, cid, name="王老师", role="acquisitions", email="wang@lib.cn",
        numbers=["139 0371 0000"]))
    assert made["phone_numbers"][0]["number_e164"] == "+8613903710000"
    assert made["phone_numbers"][0]["contact_id"] == made["id"]
    with pytest.raises(ValidationFailed) as bad:
        await w.run(lambda s: contacts.create_contact(s, w.alice, cid, name="X",
                                                      numbers=["13903710000"]))
    assert bad.value.field == "numbers"
    with pytest.raises(ValidationFailed):
        await w.run(lambda s: contacts.create_contact(s, w.alice, cid, name="X", email="nope"))
    updated = await w.run(lambda s: contacts.update_contact(s, w.alice, made["id"],
                                                            {"role": "director"}))
    assert updated["role"] == "director"
    # "own" update scope of an agent: customers they own (none)
    with pytest.raises(NotFound):
        await w.run(lambda s: contacts.update_contact(s, w.agent, made["id"], {"role": "x"}))
    listed = await w.run(lambda s: contacts.list_contacts(s, w.agent, cid))
    assert listed["total"] == 1

    phone = await w.run(lambda s: customers.add_phone_number(s, w.alice, cid, "4008001234"))
    assert phone["kind"] == "hotline"
    with pytest.raises(ValidationFailed):
        await w.run(lambda s: customers.add_phone_number(s, w.alice, cid, "400-800-1234"))
    with pytest.raises(NotFound):
        await w.run(lambda s: customers.remove_phone_number(s, w.bob, phone["id"]))
    await w.run(lambda s: customers.remove_phone_number(s, w.alice, phone["id"]))
    got = await w.run(lambda s: customers.get_customer(s, w.alice, cid))
    assert len(got["phone_numbers"]) == 2

    await w.run(lambda s: contacts.delete_contact(s, w.admin, made["id"]))
    got = await w.run(lambda s: customers.get_customer(s, w.alice, cid))
    assert [p["contact_id"] for p in got["phone_numbers"]] == [None, None]
    assert [e.action for e in await w.audits("contact", made["id"])] == [
        "create", "update", "delete"]
    assert [e.action for e in await w.audits("phone_number", phone["id"])] == [
        "create", "delete"]


async def test_assets_and_product_lines(world: World) -> None:
    w = world
    cid = await new_customer(w, w.alice, "Office Print Ltd")
    with pytest.raises(PermissionDenied):
        await w.run(lambda s: assets.create_product_line(s, w.alice, code="PRN", name="打印机"))
    await w.run(lambda s: assets.create_product_line(s, w.admin, code="PRN", name="打印机",
                                                     name_en="Printers"))
    with pytest.raises(ValidationFailed):
        await w.run(lambda s: assets.create_product_line(s, w.admin, code="PRN", name="x"))
    lines = await w.run(lambda s: assets.list_product_lines(s, w.agent))
    assert [x["code"] for x in lines] == ["PRN"]

    made = await w.run(lambda s: assets.create_asset(
        s, w.alice, cid, serial_number=" SN-100 ", product_line="PRN", model="M402",
        purchase_date=date(2025, 3, 1), warranty_end="2027-03-01", site="3F"))
    assert made["serial_number"] == "SN-100" and made["product_line"] == "PRN"
    assert made["purchase_date"] == "2025-03-01"
    other = await new_customer(w, w.bob, "Other Print")
    with pytest.raises(ValidationFailed) as bad:
        await w.run(lambda s: assets.create_asset(s, w.bob, other, serial_number="SN-100"))
    assert bad.value.field == "serial_number"
    with pytest.raises(ValidationFailed) as bad:
        await w.run(lambda s: assets.create_asset(s, w.bob, other, serial_number="SN-2",
                                                  product_line="NOPE"))
    assert bad.value.field == "product_line"
    with pytest.raises(PermissionDenied):
        await w.run(lambda s: assets.create_asset(s, w.agent, cid, serial_number="SN-3"))

    updated = await w.run(lambda s: assets.update_asset(s, w.alice, made["id"], {"site": "4F"}))
    assert updated["site"] == "4F"
    with pytest.raises(ValidationFailed):
        await w.run(lambda s: assets.update_asset(s, w.alice, made["id"],
                                                  {"warranty_end": "2020-01-01"}))
    assert (await w.run(lambda s: assets.get_asset(s, w.agent, made["id"])))["site"] == "4F"
    with pytest.raises(NotFound):
        await w.run(lambda s: assets.get_asset(s, w.bob, made["id"]))
    assert (await w.run(lambda s: assets.list_assets(s, w.alice, cid)))["total"] == 1
    await w.run(lambda s: assets.delete_asset(s, w.admin, made["id"]))
    entries = await w.audits("asset", made["id"])
    assert [e.action for e in entries] == ["create", "update", "delete"]
    assert entries[1].before is not None and entries[1].before["site"] == "3F"
    assert entries[1].after == {"site": "4F"}


async def test_subscriptions(world: World) -> None:
    w = world
    cid = await new_customer(w, w.alice, "Travel Co")
    with pytest.raises(ValidationFailed) as bad:
        await w.run(lambda s: subscriptions.create_subscription(
            s, w.alice, cid, title="Maintenance", start_date="2026-01-01",
            end_date="2025-12-31"))
    assert bad.value.field == "end_date"
    made = await w.run(lambda s: subscriptions.create_subscription(
        s, w.alice, cid, title="Maintenance", kind="contract", start_date="2026-01-01",
        end_date="2026-12-31"))
    assert made["end_date"] == "2026-12-31" and made["status"] == "active"
    upd = await w.run(lambda s: subscriptions.update_subscription(
        s, w.alice, made["id"], {"status": "renewed", "end_date": "2027-12-31"}))
    assert upd["end_date"] == "2027-12-31"
    with pytest.raises(ValidationFailed):
        await w.run(lambda s: subscriptions.update_subscription(
            s, w.alice, made["id"], {"start_date": "2028-01-01"}))
    with pytest.raises(NotFound):
        await w.run(lambda s: subscriptions.get_subscription(s, w.bob, made["id"]))
    assert (await w.run(lambda s: subscriptions.list_subscriptions(s, w.agent, cid)))[
        "total"] == 1
    await w.run(lambda s: subscriptions.delete_subscription(s, w.admin, made["id"]))
    assert [e.action for e in await w.audits("subscription", made["id"])] == [
        "create", "update", "delete"]


# --- interactions and opportunities --------------------------------------------------------


async def test_interaction_closes_at_end_of_day_and_addendum(world: World) -> None:
    w = world
    cid = await new_customer(w, w.alice, "Pharma Pack")
    occurred = datetime(2026, 11, 25, 22, 30, tzinfo=SH)
    made = await w.run(lambda s: interactions.create_interaction(
        s, w.agent, cid, kind="call", content="asks for a quote", occurred_at=occurred,
        now=occurred + timedelta(minutes=5)))
    assert made["author_id"] == w.agent.user_id
    assert made["occurred_at"] == occurred.astimezone(UTC).isoformat()

    last_minute = datetime(2026, 11, 25, 23, 59, 59, tzinfo=SH)
    edited = await w.run(lambda s: interactions.update_interaction(
        s, w.agent, made["id"], {"result": "quote sent"}, now=last_minute))
    assert edited["result"] == "quote sent"
    # bob may not edit it: not his customer and not his interaction
    with pytest.raises(NotFound):
        await w.run(lambda s: interactions.update_interaction(
            s, w.bob, made["id"], {"result": "x"}, now=last_minute))

    midnight = datetime(2026, 11, 26, 0, 0, 0, tzinfo=SH)
    with pytest.raises(Conflict) as closed:
        await w.run(lambda s: interactions.update_interaction(
            s, w.agent, made["id"], {"result": "changed"}, now=midnight))
    assert "addendum" in str(closed.value)
    got = await w.run(lambda s: interactions.get_interaction(s, w.agent, made["id"],
                                                             now=midnight))
    assert got["closed"] is True and got["result"] == "quote sent"

    add = await w.run(lambda s: interactions.add_addendum(
        s, w.agent, made["id"], "quote was 10% off", now=midnight))
    assert add["parent_id"] == made["id"] and add["kind"] == "note"
    add2 = await w.run(lambda s: interactions.add_addendum(
        s, w.agent, add["id"], "and free delivery", now=midnight))
    assert add2["parent_id"] == made["id"]
    listed = await w.run(lambda s: interactions.list_interactions(s, w.alice, cid))
    assert listed["total"] == 3 and listed["items"][-1]["id"] == made["id"]
    with pytest.raises(ValidationFailed):
        await w.run(lambda s: interactions.create_interaction(
            s, w.agent, cid, kind="fax", now=NOW))
    with pytest.raises(ValidationFailed):
        await w.run(lambda s: interactions.create_interaction(
            s, w.agent, cid, kind="note", occurred_at=NOW + timedelta(days=1), now=NOW))
    entries = await w.audits("interaction", made["id"])
    assert [e.action for e in entries] == ["create", "update"]
    assert entries[1].after == {"result": "quote sent"}
    assert [e.action for e in await w.audits("interaction", add["id"])] == ["addendum"]


async def test_an_earlier_days_interaction_is_a_supervisors_audited_correction(
        world: World) -> None:
    """Issue 14 item 16: ``occurred_at`` may not lie before today (Shanghai) and more
    than 2 h back, unless it is a correction by someone who may correct beyond their own
    records (the team's supervisor, an admin), audited with how late it came."""
    w = world
    cid = await new_customer(w, w.alice, "Late Logger Ltd")  # Alice: manager, team north
    theirs = await new_customer(w, w.bob, "South Ltd")  # Bob: team south

    def log(actor: Actor, occurred: datetime, now: datetime, *, customer: int = cid,
            correction: bool = False) -> Any:
        return w.run(lambda s: interactions.create_interaction(
            s, actor, customer, kind="visit", occurred_at=occurred, now=now,
            correction=correction))

    after_midnight = datetime(2026, 11, 26, 0, 30, tzinfo=SH)
    await log(w.alice, datetime(2026, 11, 25, 23, 0, tzinfo=SH), after_midnight)  # grace
    with pytest.raises(ValidationFailed) as late:
        await log(w.alice, datetime(2026, 11, 25, 22, 0, tzinfo=SH), after_midnight)
    assert late.value.field == "occurred_at"
    afternoon = datetime(2026, 11, 26, 15, 0, tzinfo=SH)
    await log(w.alice, datetime(2026, 11, 26, 0, 1, tzinfo=SH), afternoon)  # today
    with pytest.raises(ValidationFailed):
        await log(w.alice, datetime(2026, 11, 25, 23, 59, tzinfo=SH), afternoon)
    week_ago = afternoon - timedelta(days=7)
    with pytest.raises(ValidationFailed):  # not even the admin without saying so
        await log(w.admin, week_ago, afternoon)
    for not_allowed in (w.alice, w.agent):  # interactions:update "own" only
        with pytest.raises(PermissionDenied):
            await log(not_allowed, week_ago, afternoon, correction=True)
    with pytest.raises(NotFound):  # the supervisor's team is north: not Bob's customer
        await log(w.sup, week_ago, afternoon, correction=True, customer=theirs)
    fixed = await log(w.sup, week_ago, afternoon, correction=True)
    by_admin = await log(w.admin, week_ago, afternoon, correction=True, customer=theirs)
    assert fixed["occurred_at"] == week_ago.astimezone(UTC).isoformat()
    [entry] = await w.audits("interaction", fixed["id"])
    assert (entry.action, entry.user_id) == ("create-correction", w.sup.user_id)
    assert entry.after is not None and entry.after["late_by_s"] == 7 * 86400
    assert entry.after["logged_at"] == afternoon.astimezone(UTC).isoformat()
    assert [e.action for e in await w.audits("interaction", by_admin["id"])] == [
        "create-correction"]
    # corrections only when late: today's entry with the flag is an ordinary create
    today = await log(w.alice, afternoon - timedelta(hours=3), afternoon, correction=True)
    assert [e.action for e in await w.audits("interaction", today["id"])] == ["create"]


async def test_owner_touch_and_opportunity_from_interaction(world: World) -> None:
    w = world
    cid = await new_customer(w, w.alice, "Bus Operator")
    call = await w.run(lambda s: interactions.create_interaction(
        s, w.agent, cid, kind="call", content="wants 10 more buses", now=NOW))
    async with w.sm() as s:
        customer = await s.get(Customer, cid)
        assert customer is not None and customer.last_touched_at == NOW  # agent: no touch
    opp = await w.run(lambda s: opportunities.raise_opportunity(
        s, w.agent, call["id"], title="10 buses", amount=1_500_000, now=NOW))
    assert opp["owner_id"] == w.alice.user_id and opp["source_interaction_id"] == call["id"]
    assert opp["stage"] == "lead" and opp["amount"] == "1500000.00"

    later = NOW + timedelta(days=2)
    won = await w.run(lambda s: opportunities.update_opportunity(
        s, w.alice, opp["id"], {"stage": "won"}, now=later))
    assert won["closed_at"] == later.isoformat()
    async with w.sm() as s:
        customer = await s.get(Customer, cid)
        assert customer is not None and customer.last_touched_at == later
    with pytest.raises(PermissionDenied):
        await w.run(lambda s: opportunities.update_opportunity(
            s, w.alice, opp["id"], {"owner_id": w.bob.user_id}))
    with pytest.raises(ValidationFailed):
        await w.run(lambda s: opportunities.update_opportunity(
            s, w.alice, opp["id"], {"stage": "dreaming"}))
    reopened = await w.run(lambda s: opportunities.update_opportunity(
        s, w.alice, opp["id"], {"stage": "proposal"}))
    assert reopened["closed_at"] is None
    listed = await w.run(lambda s: opportunities.list_opportunities(s, w.bob))
    assert listed["total"] == 0
    assert (await w.run(lambda s: opportunities.list_opportunities(
        s, w.alice, customer_id=cid, open_only=True)))["total"] == 1
    await w.run(lambda s: opportunities.delete_opportunity(s, w.admin, opp["id"]))
    assert [e.action for e in await w.audits("opportunity", opp["id"])] == [
        "create", "update", "update", "delete"]


# --- tickets -------------------------------------------------------------------------------


async def test_ticket_numbers_unique_under_concurrency(world: World) -> None:
    w = world
    cid = await new_customer(w, w.alice, "Busy Customer")
    async def one(i: int) -> dict[str, Any]:
        return await w.run(lambda s: tickets.create_ticket(s, w.agent, cid,
                                                           problem=f"fault {i}", now=NOW))

    made = await asyncio.gather(*(one(i) for i in range(20)))
    numbers = sorted(t["number"] for t in made)
    assert numbers == [f"T20261125-{i:04d}" for i in range(1, 21)]
    # the next Shanghai day starts its own sequence
    next_day = await w.run(lambda s: tickets.create_ticket(
        s, w.agent, cid, problem="x", now=datetime(2026, 11, 25, 16, 0, tzinfo=UTC)))
    assert next_day["number"] == "T20261126-0001"
    # each new ticket: its "new" step, then its routing (crm_core.dispatch)
    assert await w.count(TicketStatusChange, TicketStatusChange.kind == "status") == 21
    assert await w.count(TicketStatusChange, TicketStatusChange.kind == "route") == 21


async def test_counter_migration_continues_the_numbers_already_given(db_url: str) -> None:
    """0010 seeds each day's counter from the tickets numbered the old way."""
    engine = make_engine(db_url, poolclass=NullPool)

    def at(day: int) -> datetime:
        return datetime(2026, 11, day, 2, 0, tzinfo=UTC)

    try:
        async with engine.begin() as conn:
            await migrate_to(conn, db_url, "0009")
            cid = await old_customer(conn, "Old Co")
            # the 0009 table's own columns (the model's later ones do not exist yet)
            old_ticket = table("ticket", column("customer_id"), column("problem"),
                               column("number"))
            await conn.execute(insert(old_ticket), [
                {"customer_id": cid, "problem": "p", "number": number}
                for number in ("T20261124-0003", "T20261125-0041", "T20261125-10002",
                               "T20261125-0999", "legacy-17", "T20261199-0005")
            ])
        async with engine.begin() as conn:
            await migrate_to(conn, db_url, "head")
        sm = async_sessionmaker(engine, expire_on_commit=False)
        numbers = []
        for day in (25, 24, 26, 25):
            async with sm.begin() as s:
                made = await tickets.create_ticket(s, SYSTEM, cid, problem="x", now=at(day))
                numbers.append(made["number"])
    finally:
        await engine.dispose()
    assert numbers == ["T20261125-10003", "T20261124-0004", "T20261126-0001",
                       "T20261125-10004"]


async def test_ticket_transitions(world: World) -> None:
    w = world
    cid = await new_customer(w, w.alice, "Broken Printer Co")
    asset = await w.run(lambda s: assets.create_asset(s, w.alice, cid, serial_number="P-1"))
    other = await new_customer(w, w.bob, "Other")
    with pytest.raises(ValidationFailed) as bad:
        await w.run(lambda s: tickets.create_ticket(s, w.agent, other, problem="x",
                                                    asset_id=asset["id"]))
    assert bad.value.field == "asset_id"
    made = await w.run(lambda s: tickets.create_ticket(
        s, w.agent, cid, problem="paper jam", asset_id=asset["id"], priority="high", now=NOW))
    tid = made["id"]
    assert made["status"] == "new" and made["open"] is True
    # the "new" step, then its routing (crm_core.dispatch), which keeps the status
    assert [(h["kind"], h["to_status"]) for h in made["history"]] == [
        ("status", "new"), ("route", "new")]

    with pytest.raises(Conflict):
        await w.run(lambda s: tickets.change_ticket_status(s, w.agent, tid, "resolved"))
    with pytest.raises(Conflict):  # only dispatch routes: it names the station
        await w.run(lambda s: tickets.change_ticket_status(s, w.agent, tid, "routed"))
    async def move(status: str) -> dict[str, Any]:
        return await w.run(lambda s: tickets.change_ticket_status(
            s, w.agent, tid, status, note=f"-> {status}"))

    async def route(s: AsyncSession) -> None:  # as crm_core.dispatch does
        ticket = await s.get(Ticket, tid)
        assert ticket is not None
        await tickets.move(s, SYSTEM, ticket, "routed", at=NOW, kind="route")

    await w.run(route)
    for status in ("accepted", "waiting", "accepted", "cancelled"):
        got = await move(status)
    assert got["open"] is False
    # created: no station covers it here, so dispatch's row keeps it new (flagged)
    assert [(h["from_status"], h["to_status"]) for h in got["history"]] == [
        (None, "new"), ("new", "new"), ("new", "routed"), ("routed", "accepted"),
        ("accepted", "waiting"), ("waiting", "accepted"), ("accepted", "cancelled"),
    ]
    assert [h["kind"] for h in got["history"]] == ["status", "route", "route"] + ["status"] * 4
    with pytest.raises(Conflict):
        await w.run(lambda s: tickets.change_ticket_status(s, w.agent, tid, "accepted"))
    with pytest.raises(Conflict):  # a cancelled ticket is done: frozen
        await w.run(lambda s: tickets.update_ticket(s, w.agent, tid, {"priority": "low"}))
    with pytest.raises(ValidationFailed):
        await w.run(lambda s: tickets.change_ticket_status(s, w.agent, tid, "weird"))

    second = await w.run(lambda s: tickets.create_ticket(s, w.alice, cid, problem="toner"))
    cancelled = await w.run(lambda s: tickets.change_ticket_status(
        s, w.alice, second["id"], "cancelled"))
    assert cancelled["status"] == "cancelled"
    # bob: neither his customer nor his ticket
    with pytest.raises(NotFound):
        await w.run(lambda s: tickets.get_ticket(s, w.bob, tid))
    by_number = await w.run(lambda s: tickets.get_ticket_by_number(s, w.alice, made["number"]))
    assert by_number["id"] == tid
    assert (await w.run(lambda s: tickets.list_tickets(s, w.alice, open_only=True)))[
        "total"] == 0
    assert (await w.run(lambda s: tickets.list_tickets(s, w.alice, customer_id=cid)))[
        "total"] == 2
    entries = [e for e in await w.audits("ticket", tid) if e.action != "route"]
    assert [e.action for e in entries] == ["create"] + ["status"] * 5
    assert entries[1].before is not None and entries[1].before["status"] == "new"
    assert entries[1].after is not None and entries[1].after["status"] == "routed"
    assert entries[1].after["kind"] == "route"
    async with w.sm() as s:
        assert await s.scalar(select(Ticket.status).where(Ticket.id == tid)) == "cancelled"


# --- users -------------------------------------------------------------------------------


async def test_users_roles_and_audit(world: World) -> None:
    w = world
    async with w.sm.begin() as s:
        again = await users.ensure_roles(s)
    assert set(again) == set(users.DEFAULT_ROLES)
    listed = await w.run(lambda s: roles.list_roles(s, w.admin))
    agent_role = next(r for r in listed["items"] if r["name"] == "agent")
    assert agent_role["grants"]["customers:read"] == "all"

    made = await w.run(lambda s: users.create_user(
        s, w.admin, username="carol", display_name="Carol", role="agent", team="hotline",
        password_hash="argon2$secret", agent_interface="PJSIP/1001", agent_name="Carol"))
    assert made["has_password"] is True and "password_hash" not in made
    assert made["role"] == "agent" and made["is_admin"] is False
    with pytest.raises(ValidationFailed) as bad:
        await w.run(lambda s: users.create_user(s, w.admin, username="carol",
                                                display_name="C2", role="agent"))
    assert bad.value.field == "username"
    with pytest.raises(ValidationFailed) as bad:
        await w.run(lambda s: users.create_user(s, w.admin, username="dave",
                                                display_name="D", role="nope"))
    assert bad.value.field == "role"
    with pytest.raises(PermissionDenied):
        await w.run(lambda s: users.create_user(s, w.alice, username="eve",
                                                display_name="E", role="agent"))

    # everybody reads and edits their own profile; others need the grant
    me = await w.run(lambda s: users.update_user(s, w.alice, w.alice.user_id or 0,
                                                 {"language": "en"}))
    assert me["language"] == "en"
    with pytest.raises(PermissionDenied):
        await w.run(lambda s: users.update_user(s, w.alice, w.alice.user_id or 0,
                                                {"role": "admin"}))
    with pytest.raises(NotFound):
        await w.run(lambda s: users.get_user(s, w.sup, w.bob.user_id or 0))
    team = await w.run(lambda s: users.list_users(s, w.sup))
    assert {u["username"] for u in team["items"]} == {"alice", "sup"}
    everyone = await w.run(lambda s: users.list_users(s, w.admin, limit=100))
    assert everyone["total"] == 6

    gone = await w.run(lambda s: users.deactivate_user(s, w.admin, made["id"]))
    assert gone["active"] is False
    async with w.sm() as s:
        assert await load_actor(s, made["id"]) is None
    login = await w.run(lambda s: users.find_login(s, "carol"))
    assert login is not None and login.active is False
    entries = await w.audits("app_user", made["id"])
    assert [e.action for e in entries] == ["create", "update"]
    assert entries[0].after is not None and entries[0].after["password_hash"] == "***"
    assert entries[1].after == {"active": False}


async def test_hostile_input_is_a_clean_error_not_a_database_error(world: World) -> None:
    w = world
    cid = await new_customer(w, w.alice, "Target")
    huge = 2**40
    for get in (
        lambda s: customers.get_customer(s, w.admin, huge),
        lambda s: customers.get_customer(s, w.admin, "1"),  # type: ignore[arg-type]
        lambda s: interactions.get_interaction(s, w.admin, huge),
        lambda s: interactions.get_interaction(s, w.admin, 2**64),
        lambda s: tickets.get_ticket(s, w.admin, -1),
        lambda s: users.get_user(s, w.admin, huge),
        lambda s: customers.remove_phone_number(s, w.admin, huge),
    ):
        with pytest.raises(NotFound):
            await w.run(get)
    for bad in (
        lambda s: tickets.create_ticket(s, w.admin, cid, problem="x", asset_id=huge),
        lambda s: interactions.create_interaction(s, w.admin, cid, kind="note",
                                                  contact_id=huge),
        lambda s: search.search_customers(s, w.admin, owner_id=huge),
        lambda s: search.search_customers(s, w.admin, status="x\x00"),
        lambda s: search.search_customers(s, w.admin, name="x\x00"),
        lambda s: users.list_users(s, w.admin, team="x\x00"),
        lambda s: customers.create_customer(s, w.admin, name="X", owner_id=huge),
        lambda s: customers.create_customer(s, w.admin, name="x\x00y"),
        lambda s: customers.create_customer(s, w.admin, name="Y", vip_value="1e20"),
        lambda s: interactions.create_interaction(s, w.admin, cid, kind="note",
                                                  occurred_at="0001-01-01T00:00:00+00:00"),
    ):
        with pytest.raises(ValidationFailed):
            await w.run(bad)


async def test_the_last_active_admin_cannot_be_deactivated_or_demoted(db_url: str) -> None:
    from crm_core.db import make_engine, upgrade_async
    from crm_core.errors import Conflict
    from crm_core.permissions import SYSTEM
    from crm_core.users import create_user, deactivate_user, ensure_roles, update_user

    await upgrade_async(db_url)
    engine = make_engine(db_url)
    maker = async_sessionmaker(engine, expire_on_commit=False)
    try:
        async with maker.begin() as db:
            await ensure_roles(db)
            root = await create_user(db, SYSTEM, username="root", display_name="Root",
                                     role="admin")
        with pytest.raises(Conflict, match="last active admin"):
            async with maker.begin() as db:
                await deactivate_user(db, SYSTEM, root["id"])
        with pytest.raises(Conflict, match="last active admin"):
            async with maker.begin() as db:
                await update_user(db, SYSTEM, root["id"], {"role": "agent"})
        async with maker.begin() as db:  # with a second admin, the first may go
            await create_user(db, SYSTEM, username="root2", display_name="Root 2", role="admin")
            await deactivate_user(db, SYSTEM, root["id"])
    finally:
        await engine.dispose()
