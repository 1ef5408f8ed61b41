"""The duplicate guard and the merge, on SQLite and PostgreSQL.

A new customer sharing a phone number written another way, or a name that differs
only by legal suffix, spacing or bracket width, is refused naming the existing
record and its owner; an explicit merge keeps every contact, number, asset,
interaction, ticket, opportunity, subscription and call record; out-of-scope merges
change nothing; old rows get their name keys (migration 0003, backfill).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import String, column, func, insert, select, table
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.pool import NullPool

from crm_core.db import make_engine, upgrade_async
from crm_core.duplicates import (
    backfill_name_keys,
    check_new_customer,
    find_duplicates,
    merge_customers,
)
from crm_core.errors import DuplicateCustomer, NotFound, ValidationFailed
from crm_core.models import (
    Asset,
    AuditEntry,
    CallRecord,
    Contact,
    Customer,
    Interaction,
    Opportunity,
    OwnershipChange,
    PhoneNumber,
    Subscription,
    Ticket,
    User,
)
from crm_core.names import name_key
from crm_core.permissions import SYSTEM, Actor
from numbering.normalize import normalize
from tests.integration.migration_support import migrate_to

T0 = datetime(2025, 3, 3, 2, 0, tzinfo=UTC)
OLD_CUSTOMER = table("customer", column("name", String), column("name_key", String))
Maker = async_sessionmaker[AsyncSession]


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    await upgrade_async(db_url)
    engine = make_engine(db_url)
    yield engine
    await engine.dispose()


@pytest.fixture
def maker(engine: AsyncEngine) -> Maker:
    return async_sessionmaker(engine, expire_on_commit=False)


async def add_user(maker: Maker, username: str) -> int:
    async with maker.begin() as s:
        user = User(username=username, display_name=username.title())
        s.add(user)
        await s.flush()
        return user.id


async def add_customer(
    maker: Maker, name: str, numbers: list[str], *, owner_id: int | None = None,
    **fields: Any,
) -> int:
    async with maker.begin() as s:
        customer = Customer(name=name, name_key=name_key(name), owner_id=owner_id, **fields)
        s.add(customer)
        await s.flush()
        for raw in numbers:
            s.add(PhoneNumber(customer_id=customer.id, number_e164=normalize(raw), raw=raw))
        return customer.id


@pytest.mark.parametrize(
    ("stored", "written"),
    [
        ("13800138000", "+86 138 0013 8000"),
        ("+8613800138000", "0086-138-0013-8000"),
        ("010-5129 7073", "(010)51297073"),
        ("4008001234", "400-800-1234"),
    ],
)
async def test_same_number_written_another_way_is_refused_naming_the_owner(
    maker: Maker, stored: str, written: str
) -> None:
    wang = await add_user(maker, "wang")
    existing = await add_customer(maker, "郑州宇通客车有限公司", [stored], owner_id=wang)
    async with maker() as s:
        with pytest.raises(DuplicateCustomer) as refused:
            await check_new_customer(s, name="完全不同的名字", numbers=["1001", written])
    assert refused.value.existing_id == existing
    assert refused.value.existing_name == "郑州宇通客车有限公司"
    assert refused.value.owner_name == "Wang"
    assert refused.value.reason == "phone"
    assert "Wang" in str(refused.value)


@pytest.mark.parametrize(
    "written",
    ["上海华东医药包装", "上海 华东医药包装 股份有限公司", "上海华东医药包装有限责任公司",
     "上海华东医药包装（集团）有限公司", "  上海华东医药包装有限公司。"],
)
async def test_same_name_with_other_suffix_or_spacing_is_refused(
    maker: Maker, written: str
) -> None:
    li = await add_user(maker, "li")
    existing = await add_customer(maker, "上海华东医药包装有限公司", ["13911112222"], owner_id=li)
    async with maker() as s:
        with pytest.raises(DuplicateCustomer) as refused:
            await check_new_customer(s, name=written, numbers=["13700000000"])
    assert (refused.value.existing_id, refused.value.reason) == (existing, "name")
    assert refused.value.owner_name == "Li"


async def test_pool_customer_is_named_without_owner(maker: Maker) -> None:
    existing = await add_customer(maker, "Acme Printing Co., Ltd.", [])
    async with maker() as s:
        with pytest.raises(DuplicateCustomer) as refused:
            await check_new_customer(s, name="ACME PRINTING", numbers=[])
    assert refused.value.existing_id == existing and refused.value.owner_name is None
    assert "shared pool" in str(refused.value)


async def test_different_customers_branches_and_tombstones_pass(maker: Maker) -> None:
    keep = await add_customer(maker, "宇通客车服务站(郑州)", ["13800138000"])
    gone = await add_customer(maker, "旧记录有限公司", ["13600000000"])
    async with maker.begin() as s:
        (await s.get_one(Customer, gone)).merged_into_id = keep
    async with maker() as s:
        await check_new_customer(s, name="宇通客车服务站（洛阳）", numbers=["13800138001"])
        await check_new_customer(s, name="旧记录", numbers=["136 0000 0000"])
        await check_new_customer(s, name="", numbers=["", "unknown"])
        # editing a customer: it does not duplicate itself
        await check_new_customer(
            s, name="宇通客车服务站（郑州）", numbers=["13800138000"], exclude_id=keep
        )
        assert await find_duplicates(s, name=None, numbers=[]) == []


async def test_find_duplicates_lists_every_match_phone_first(maker: Maker) -> None:
    zhao = await add_user(maker, "zhao")
    by_name = await add_customer(maker, "北京理工大学图书馆", ["01068912345"], owner_id=zhao)
    by_both = await add_customer(maker, "北京理工大学 图书馆", ["13800138000"])
    by_phone = await add_customer(maker, "某书店", ["+86 138 0013 8000", "13900139000"])
    async with maker() as s:
        found = await find_duplicates(
            s, name="北京理工大学图书馆（）", numbers=["138-0013-8000", "139 0013 9000"]
        )
    assert [(f["id"], f["reason"], f["reasons"]) for f in found] == [
        (by_both, "phone", ["phone", "name"]),
        (by_phone, "phone", ["phone"]),
        (by_name, "name", ["name"]),
    ]
    assert found[1]["numbers"] == ["+8613800138000", "+8613900139000"]
    assert found[2]["owner"] == {"id": zhao, "display_name": "Zhao"}
    assert found[0]["owner"] is None


async def _populate(maker: Maker, customer_id: int, tag: str) -> dict[str, int]:
    """One of every record hanging off a customer."""
    async with maker.begin() as s:
        contact = Contact(customer_id=customer_id, name=f"联系人{tag}")
        s.add(contact)
        await s.flush()
        asset = Asset(
            customer_id=customer_id, serial_number=f"SN-{tag}", warranty_end=date(2026, 1, 1)
        )
        note = Interaction(customer_id=customer_id, kind="call", occurred_at=T0, content=tag)
        s.add_all([asset, note])
        await s.flush()
        s.add_all([
            Interaction(customer_id=customer_id, kind="note", occurred_at=T0, parent_id=note.id,
                        content=f"addendum {tag}"),
            Ticket(number=f"T-{tag}", customer_id=customer_id, asset_id=asset.id, problem="卡纸"),
            Opportunity(customer_id=customer_id, title=f"耗材 {tag}"),
            Subscription(customer_id=customer_id, title=f"维保 {tag}", start_date=date(2025, 1, 1),
                         end_date=date(2025, 12, 31)),
            PhoneNumber(customer_id=customer_id, contact_id=contact.id,
                        number_e164=f"+86139{tag:0>8}", raw=tag),
        ])
        await s.execute(
            insert(CallRecord).values(linkedid=f"call-{tag}", customer_id=customer_id)
        )
        return {"contact": contact.id, "asset": asset.id}


async def count_by_customer(s: AsyncSession, model: Any, customer_id: int) -> int:
    return int(
        await s.scalar(
            select(func.count()).select_from(model).where(model.customer_id == customer_id)
        ) or 0
    )


RECORDS = (Contact, PhoneNumber, Asset, Interaction, Ticket, Opportunity, Subscription, CallRecord)


async def test_merge_keeps_every_record(maker: Maker) -> None:
    wang, li, boss = [await add_user(maker, n) for n in ("wang", "li", "boss")]
    keep = await add_customer(
        maker, "理光(中国)投资有限公司", ["13800138000"], owner_id=wang, vip_tier=1
    )
    merge = await add_customer(
        maker, "理光（中国）投资", ["+86 138 0013 8000", "021-6234 5678"], owner_id=li,
        vip_tier=3, city="上海", last_touched_at=T0,
    )
    await _populate(maker, keep, "1")
    merged_refs = await _populate(maker, merge, "2")
    older = await add_customer(maker, "理光中国老记录", [])
    async with maker.begin() as s:
        (await s.get_one(Customer, older)).merged_into_id = merge
    async with maker() as s:
        before = {m: await count_by_customer(s, m, keep) + await count_by_customer(s, m, merge)
                  for m in RECORDS}
    supervisor = Actor(user_id=boss, grants={("customers", "update"): "all"})
    async with maker.begin() as s:
        out = await merge_customers(s, supervisor, keep_id=keep, merge_id=merge, now=T0)
    assert out["keep_id"] == keep and out["owner_id"] == wang
    assert out["moved"] == {
        "contacts": 1, "phone_numbers": 2, "phone_numbers_dropped": 1, "assets": 1,
        "interactions": 2, "tickets": 1, "opportunities": 1, "subscriptions": 1,
        "call_records": 1,
    }
    async with maker() as s:
        for model in RECORDS:
            assert await count_by_customer(s, model, merge) == 0, model
            expected = before[model] - (1 if model is PhoneNumber else 0)  # the shared number
            assert await count_by_customer(s, model, keep) == expected, model
        kept = await s.get_one(Customer, keep)
        tomb = await s.get_one(Customer, merge)
        older_row = await s.get_one(Customer, older)
        asset = await s.get_one(Asset, merged_refs["asset"])
        history = (
            await s.scalars(select(OwnershipChange).where(OwnershipChange.customer_id == merge))
        ).all()
        audits = (
            await s.scalars(select(AuditEntry).where(AuditEntry.action == "merge")
                            .order_by(AuditEntry.id))
        ).all()
        found = await find_duplicates(s, name="理光(中国)投资", numbers=["02162345678"])
    assert tomb.merged_into_id == keep and older_row.merged_into_id == keep
    assert asset.customer_id == keep and asset.serial_number == "SN-2"
    assert (kept.vip_tier, kept.city, kept.last_touched_at) == (3, "上海", T0)
    assert [(h.from_user_id, h.to_user_id, h.reason, h.by_id) for h in history] == [
        (li, wang, "merge", boss)
    ]
    assert [(a.entity_id, a.user_id) for a in audits] == [(str(merge), boss), (str(keep), boss)]
    assert audits[1].after is not None and audits[1].after["merged_from"] == merge
    assert [f["id"] for f in found] == [keep]  # the tombstone is no duplicate any more


async def test_pool_customer_adopts_the_merged_owner(maker: Maker) -> None:
    wang = await add_user(maker, "wang")
    keep = await add_customer(maker, "甲公司", [])
    merge = await add_customer(maker, "甲", [], owner_id=wang)
    async with maker.begin() as s:
        out = await merge_customers(s, SYSTEM, keep_id=keep, merge_id=merge, now=T0)
    assert out["owner_id"] == wang
    async with maker() as s:
        kept = await s.get_one(Customer, keep)
        history = (await s.scalars(select(OwnershipChange))).all()
    assert (kept.owner_id, kept.owner_since) == (wang, T0)
    assert [(h.customer_id, h.from_user_id, h.to_user_id) for h in history] == [
        (keep, None, wang)
    ]


async def test_merge_out_of_scope_or_invalid_changes_nothing(maker: Maker) -> None:
    wang, li = await add_user(maker, "wang"), await add_user(maker, "li")
    mine = await add_customer(maker, "王的客户", [], owner_id=wang)
    theirs = await add_customer(maker, "李的客户", [], owner_id=li)
    await _populate(maker, theirs, "9")
    agent = Actor(user_id=wang, grants={("customers", "update"): "own"})
    with pytest.raises(NotFound):
        async with maker.begin() as s:
            await merge_customers(s, agent, keep_id=mine, merge_id=theirs)
    with pytest.raises(ValidationFailed):
        async with maker.begin() as s:
            await merge_customers(s, SYSTEM, keep_id=mine, merge_id=mine)
    async with maker.begin() as s:
        await merge_customers(s, SYSTEM, keep_id=mine, merge_id=theirs)
    with pytest.raises(NotFound):  # a tombstone cannot be merged again
        async with maker.begin() as s:
            await merge_customers(s, SYSTEM, keep_id=mine, merge_id=theirs)
    async with maker() as s:
        assert await count_by_customer(s, Ticket, mine) == 1
        assert await s.scalar(select(func.count()).select_from(AuditEntry)) == 2


async def test_rows_without_name_key_are_backfilled(maker: Maker) -> None:
    async with maker.begin() as s:
        await s.execute(insert(Customer), [{"name": "郑州宇通集团有限公司"}, {"name": "（）"}])
    async with maker() as s:
        assert await find_duplicates(s, name="郑州宇通", numbers=[]) == []
    async with maker.begin() as s:
        assert await backfill_name_keys(s) == 1
    async with maker.begin() as s:
        assert await backfill_name_keys(s) == 0
        with pytest.raises(DuplicateCustomer):
            await check_new_customer(s, name="郑州宇通", numbers=[])


async def test_migration_0003_computes_name_keys_of_old_rows(db_url: str) -> None:
    engine = make_engine(db_url, poolclass=NullPool)
    try:
        async with engine.begin() as conn:
            await migrate_to(conn, db_url, "0002")
            # the table as 0002 left it (the model may have grown since)
            await conn.execute(insert(OLD_CUSTOMER), [{"name": "Acme Printing Co., Ltd."}])
        async with engine.begin() as conn:
            await migrate_to(conn, db_url, "head")
            key = await conn.scalar(select(OLD_CUSTOMER.c.name_key))
    finally:
        await engine.dispose()
    assert key == "acmeprinting"


async def test_ids_and_numbers_that_cannot_exist_are_harmless(maker: Maker) -> None:
    existing = await add_customer(maker, "甲", ["13800138000"])
    async with maker() as s:
        with pytest.raises(NotFound):
            await merge_customers(s, SYSTEM, keep_id=existing, merge_id=2**40)
        found = await find_duplicates(
            s, name="甲", numbers=[12345, "13800138000"],  # type: ignore[list-item]
            exclude_id=2**40,
        )
    assert [f["id"] for f in found] == [existing]


# --- issue 14 item 15: traditional characters, legal forms, leading places ----------------


@pytest.mark.parametrize("written", ["上海华东医药包装有限责任公司", "華東醫藥包裝有限公司",
                                     "上海市華東醫藥包裝股份有限公司"])
async def test_place_and_traditional_spellings_are_refused_naming_the_owner(
    maker: Maker, written: str
) -> None:
    wang = await add_user(maker, "wang")
    existing = await add_customer(maker, "华东医药包装有限公司", ["13800138000"], owner_id=wang)
    async with maker() as s:
        with pytest.raises(DuplicateCustomer) as refused:
            await check_new_customer(s, name=written, numbers=["13700000000"])
        found = await find_duplicates(s, name=written, numbers=[])
    assert (refused.value.existing_id, refused.value.reason) == (existing, "name")
    assert refused.value.existing_name == "华东医药包装有限公司"
    assert refused.value.owner_name == "Wang"
    assert [(f["id"], f["reasons"]) for f in found] == [(existing, ["name"])]


async def test_the_same_firm_name_in_another_city_is_another_customer(maker: Maker) -> None:
    zhengzhou = await add_customer(maker, "郑州宇通客车服务站", [])
    shanghai = await add_customer(maker, "上海华东医药包装有限公司", [])
    async with maker() as s:
        await check_new_customer(s, name="洛阳宇通客车服务站", numbers=[])
        await check_new_customer(s, name="南京华东医药包装有限公司", numbers=[])
        # the city left out, or named with its province: the firm already there
        assert [f["id"] for f in await find_duplicates(s, name="宇通客车服务站", numbers=[])] \
            == [zhengzhou]
        assert [f["id"] for f in await find_duplicates(
            s, name="河南省郑州市宇通客车服务站", numbers=[])] == [zhengzhou]
        assert [f["id"] for f in await find_duplicates(
            s, name="華東醫藥包裝", numbers=[])] == [shanghai]


async def test_migration_0014_recomputes_keys_stored_by_the_old_rules(db_url: str) -> None:
    engine = make_engine(db_url, poolclass=NullPool)
    try:
        async with engine.begin() as conn:
            await migrate_to(conn, db_url, "0013")
            # keys as the rules before 0014 stored them
            await conn.execute(insert(OLD_CUSTOMER), [
                {"name": "上海华东医药包装有限公司", "name_key": "上海华东医药包装"},
                {"name": "廣州白雲山製藥包裝廠", "name_key": "廣州白雲山製藥包裝廠"},
                {"name": "Acme Printing Co., Ltd.", "name_key": "acmeprinting"},
            ])
        async with engine.begin() as conn:
            await migrate_to(conn, db_url, "head")
            keys = (await conn.execute(
                select(OLD_CUSTOMER.c.name, OLD_CUSTOMER.c.name_key)
                .order_by(OLD_CUSTOMER.c.name))).all()
    finally:
        await engine.dispose()
    assert sorted(keys) == sorted([("上海华东医药包装有限公司", "华东医药包装"),
                                   ("廣州白雲山製藥包裝廠", "白云山制药包装厂"),
                                   ("Acme Printing Co., Ltd.", "acmeprinting")])
