"""Ownership rules on SQLite and PostgreSQL, with a controlled clock.

Transfers keep their history and audit; scopes are enforced; a leaver's 2,000
customers move in one set-based operation (a handful of statements) with one
history row each; the cap refuses the 21st claim in the period and allows it
after; untouched customers return to the pool after N days, idempotently.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from crm_core.db import make_engine, upgrade_async
from crm_core.errors import NotFound, ValidationFailed
from crm_core.models import AuditEntry, Customer, Opportunity, OwnershipChange, User
from crm_core.ownership import (
    CapReached,
    OwnershipRules,
    Reassignment,
    assign_owner,
    can_take,
    ownership_history,
    reassign_all,
    return_untouched_to_pool,
    taken_in_period,
)
from crm_core.permissions import SYSTEM, Actor, PermissionDenied

T0 = datetime(2025, 3, 3, 2, 0, tzinfo=UTC)

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


async def add_user(maker: Maker, username: str, *, team: str | None = None) -> int:
    async with maker.begin() as s:
        user = User(username=username, display_name=username.title(), team=team)
        s.add(user)
        await s.flush()
        return user.id


async def add_customers(
    maker: Maker, count: int, *, owner_id: int | None, owner_since: datetime | None = T0,
    prefix: str = "客户",
) -> list[int]:
    async with maker.begin() as s:
        rows = [
            {"name": f"{prefix}{i}", "name_key": f"{prefix}{i}", "owner_id": owner_id,
             "owner_since": owner_since if owner_id is not None else None,
             "created_at": T0 - timedelta(days=400), "updated_at": T0}
            for i in range(count)
        ]
        await s.execute(insert(Customer), rows)
        ids = await s.scalars(
            select(Customer.id).where(Customer.name.like(f"{prefix}%")).order_by(Customer.id)
        )
        return list(ids)


def manager(user_id: int, **grants: str) -> Actor:
    table = {("customers", op): scope for op, scope in grants.items()}
    return Actor(user_id=user_id, username=f"u{user_id}", team="north", grants=table)


async def owner_of(maker: Maker, customer_id: int) -> int | None:
    async with maker() as s:
        return await s.scalar(select(Customer.owner_id).where(Customer.id == customer_id))


async def test_transfer_keeps_history_and_audit(maker: Maker) -> None:
    alice, bob, carol, boss = [await add_user(maker, n) for n in ("alice", "bob", "carol", "boss")]
    [cid] = await add_customers(maker, 1, owner_id=alice)
    supervisor = manager(boss, read="all", reassign="all")
    async with maker.begin() as s:
        out = await assign_owner(s, supervisor, cid, bob, now=T0 + timedelta(days=1))
    assert out["changed"] and out["from_user_id"] == alice and out["to_user_id"] == bob
    async with maker.begin() as s:
        await assign_owner(s, supervisor, cid, carol, now=T0 + timedelta(days=2))
        again = await assign_owner(s, supervisor, cid, carol, now=T0 + timedelta(days=3))
    assert not again["changed"]
    async with maker() as s:
        customer = await s.get(Customer, cid)
        assert customer is not None
        assert customer.owner_id == carol and customer.owner_since == T0 + timedelta(days=2)
        history = await ownership_history(s, supervisor, cid)
        entries = (
            await s.scalars(select(AuditEntry).where(AuditEntry.entity == "customer"))
        ).all()
    assert [(h["from_user"]["display_name"], h["to_user"]["display_name"]) for h in history] == [
        ("Alice", "Bob"), ("Bob", "Carol"),
    ]
    assert {h["reason"] for h in history} == {"transfer"}
    assert history[0]["by"] == {"id": boss, "display_name": "Boss"}
    assert [(e.before["owner_id"], e.after["owner_id"]) for e in entries] == [  # type: ignore[index]
        (alice, bob), (bob, carol),
    ]
    assert all(e.user_id == boss and e.action == "reassign" for e in entries)


async def test_transfer_needs_reassign_in_scope(maker: Maker) -> None:
    alice, bob = await add_user(maker, "alice"), await add_user(maker, "bob")
    [mine] = await add_customers(maker, 1, owner_id=alice, prefix="甲")
    [theirs] = await add_customers(maker, 1, owner_id=bob, prefix="乙")
    agent = manager(alice, read="own", update="own")
    async with maker.begin() as s:
        with pytest.raises(PermissionDenied):
            await assign_owner(s, agent, mine, bob)  # sees it, may not give it away
        with pytest.raises(NotFound):
            await assign_owner(s, agent, theirs, alice)  # never learns it exists
        with pytest.raises(NotFound):
            await ownership_history(s, agent, theirs)
    with pytest.raises(PermissionDenied):
        async with maker() as s:
            await assign_owner(s, Actor(user_id=alice), mine, bob)
    assert await owner_of(maker, mine) == alice
    assert await owner_of(maker, theirs) == bob


async def test_owner_gives_back_to_pool_and_unknown_target_refused(maker: Maker) -> None:
    alice = await add_user(maker, "alice")
    [cid] = await add_customers(maker, 1, owner_id=alice)
    agent = manager(alice, read="own", update="own")
    async with maker.begin() as s:
        out = await assign_owner(s, agent, cid, None, now=T0)
    assert out["reason"] == "pool" and await owner_of(maker, cid) is None
    async with maker() as s:
        with pytest.raises(ValidationFailed):
            await assign_owner(s, SYSTEM, cid, 999_999)


async def count_statements(engine: AsyncEngine) -> list[str]:
    seen: list[str] = []

    def before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", before)
    return seen


async def test_leaver_bulk_reassignment_is_one_set_based_operation(
    engine: AsyncEngine, maker: Maker
) -> None:
    leaver, heir, boss = [await add_user(maker, n) for n in ("leaver", "heir", "boss")]
    ids = await add_customers(maker, 2000, owner_id=leaver)
    [other] = await add_customers(maker, 1, owner_id=heir, prefix="别人")
    statements = await count_statements(engine)
    async with maker.begin() as s:
        moved = await reassign_all(
            s, manager(boss, reassign="all"), from_user_id=leaver, to_user_id=heir,
            now=T0 + timedelta(days=5),
        )
    assert moved == Reassignment(customers=2000, opportunities=0)
    # a handful of statements, not one (or more) per customer
    assert len(statements) < 20
    async with maker() as s:
        owner_rows = await s.execute(
            select(Customer.owner_id, func.count()).group_by(Customer.owner_id)
        )
        owners = {owner: count for owner, count in owner_rows}
        history = [
            tuple(row) for row in await s.execute(
                select(OwnershipChange.from_user_id, OwnershipChange.to_user_id,
                       OwnershipChange.reason, OwnershipChange.by_id, func.count())
                .group_by(OwnershipChange.from_user_id, OwnershipChange.to_user_id,
                          OwnershipChange.reason, OwnershipChange.by_id)
            )
        ]
        audited = await s.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "reassign")
        )
        one = await s.scalar(select(AuditEntry).where(AuditEntry.entity_id == str(ids[7])))
        since = await s.scalar(select(Customer.owner_since).where(Customer.id == ids[0]))
        per_customer = await ownership_history(s, SYSTEM, ids[1999])
    assert owners == {heir: 2001}
    assert history == [(leaver, heir, "leaver", boss, 2000)]
    assert audited == 2000
    assert one is not None and one.before == {"owner_id": leaver}
    assert one.after == {"owner_id": heir, "reason": "leaver"}
    assert since == T0 + timedelta(days=5)
    assert [(h["from_user"]["id"], h["to_user"]["id"]) for h in per_customer] == [(leaver, heir)]
    assert other not in ids


async def test_a_leavers_open_opportunities_follow_his_customers(maker: Maker) -> None:
    """Issue 14 item 13: after a leaver's customers were reassigned, his open
    opportunities stayed with the deactivated user. They move with the customers
    (audited, in the same handful of statements); won/lost ones (history) and those a
    colleague holds on the same customers stay as they are."""
    leaver, heir, colleague, boss = [
        await add_user(maker, n) for n in ("leaver", "heir", "colleague", "boss")]
    [acme, beta] = await add_customers(maker, 2, owner_id=leaver, prefix="甲")
    [elsewhere] = await add_customers(maker, 1, owner_id=colleague, prefix="乙")
    async with maker.begin() as s:
        rows = {
            "lead": Opportunity(customer_id=acme, title="续约", stage="lead",
                                owner_id=leaver),
            "proposal": Opportunity(customer_id=beta, title="新线体", stage="proposal",
                                    owner_id=leaver, amount=540_000),
            "won": Opportunity(customer_id=acme, title="去年的单", stage="won",
                               owner_id=leaver, closed_at=T0),
            "lost": Opportunity(customer_id=beta, title="丢单", stage="lost",
                                owner_id=leaver, closed_at=T0),
            "theirs": Opportunity(customer_id=acme, title="同事的", stage="qualified",
                                  owner_id=colleague),
            # his lead on a customer he does not own: not part of this reassignment
            "elsewhere": Opportunity(customer_id=elsewhere, title="别处", stage="lead",
                                     owner_id=leaver),
        }
        s.add_all(rows.values())
        await s.flush()
        ids = {name: row.id for name, row in rows.items()}
    async with maker.begin() as s:
        moved = await reassign_all(s, manager(boss, reassign="all"), from_user_id=leaver,
                                   to_user_id=heir, now=T0 + timedelta(days=5))
    assert moved == Reassignment(customers=2, opportunities=2)
    async with maker() as s:
        owners = {name: await s.scalar(select(Opportunity.owner_id)
                                       .where(Opportunity.id == oid))
                  for name, oid in ids.items()}
        entries = (await s.scalars(select(AuditEntry).where(
            AuditEntry.entity == "opportunity").order_by(AuditEntry.entity_id))).all()
    assert owners == {"lead": heir, "proposal": heir, "won": leaver, "lost": leaver,
                      "theirs": colleague, "elsewhere": leaver}
    assert sorted((e.entity_id, e.user_id, e.action, e.before["owner_id"],  # type: ignore[index]
                   e.after["owner_id"], e.after["reason"], e.after["customer_id"])  # type: ignore[index]
                  for e in entries) == sorted([
        (str(ids["lead"]), boss, "reassign", leaver, heir, "leaver", acme),
        (str(ids["proposal"]), boss, "reassign", leaver, heir, "leaver", beta),
    ])
    # to the pool: his open opportunities are nobody's rather than a leaver's
    [gamma] = await add_customers(maker, 1, owner_id=heir, prefix="丙")
    async with maker.begin() as s:
        opp = Opportunity(customer_id=gamma, title="池", stage="lead", owner_id=heir)
        s.add(opp)
    async with maker.begin() as s:
        moved = await reassign_all(s, SYSTEM, from_user_id=heir, to_user_id=None)
    assert moved == Reassignment(customers=3, opportunities=3)
    async with maker() as s:
        assert await s.scalar(select(Opportunity.owner_id).where(Opportunity.id == opp.id)) \
            is None


async def test_bulk_reassignment_to_the_pool_and_scope(maker: Maker) -> None:
    leaver = await add_user(maker, "leaver", team="south")
    boss = await add_user(maker, "boss", team="north")
    ids = await add_customers(maker, 30, owner_id=leaver)
    team_boss = manager(boss, reassign="team")  # team north: the leaver is not in it
    async with maker.begin() as s:
        with pytest.raises(PermissionDenied):
            await reassign_all(s, team_boss, from_user_id=leaver, to_user_id=boss)
        with pytest.raises(PermissionDenied):
            await reassign_all(s, manager(boss), from_user_id=leaver, to_user_id=boss)
        with pytest.raises(ValidationFailed):
            await reassign_all(s, SYSTEM, from_user_id=leaver, to_user_id=leaver)
    assert await owner_of(maker, ids[0]) == leaver
    async with maker.begin() as s:
        assert (await reassign_all(s, SYSTEM, from_user_id=leaver, to_user_id=None)
                ).customers == 30
        assert (await reassign_all(s, SYSTEM, from_user_id=leaver, to_user_id=None)
                ).customers == 0
    assert await owner_of(maker, ids[0]) is None


async def test_bulk_reassignment_by_region_needs_every_customer_in_the_region(
    maker: Maker,
) -> None:
    leaver, boss = await add_user(maker, "leaver"), await add_user(maker, "boss")
    henan, unknown = await add_customers(maker, 2, owner_id=leaver)
    async with maker.begin() as s:
        (await s.get_one(Customer, henan)).province = "河南"
    regional = Actor(user_id=boss, region="河南", grants={("customers", "reassign"): "region"})
    async with maker.begin() as s:
        with pytest.raises(PermissionDenied):  # one customer has no province at all
            await reassign_all(s, regional, from_user_id=leaver, to_user_id=boss)
    async with maker.begin() as s:
        (await s.get_one(Customer, unknown)).province = "河南"
    async with maker.begin() as s:
        assert (await reassign_all(s, regional, from_user_id=leaver, to_user_id=boss)
                ).customers == 2


async def test_cap_refuses_the_21st_claim_in_the_period_and_allows_it_after(
    maker: Maker,
) -> None:
    rules = OwnershipRules(cap=20, cap_period_days=90)
    alice = await add_user(maker, "alice")
    pool = await add_customers(maker, 22, owner_id=None)
    agent = manager(alice, read="own", update="own")
    for i, cid in enumerate(pool[:20]):
        async with maker.begin() as s:
            out = await assign_owner(
                s, agent, cid, alice, now=T0 + timedelta(days=i), rules=rules
            )
            assert out["reason"] == "claim"
    day_30 = T0 + timedelta(days=30)
    async with maker() as s:
        assert await taken_in_period(s, alice, rules, day_30) == 20
        assert not await can_take(s, alice, rules, day_30)
        with pytest.raises(CapReached) as refused:
            await assign_owner(s, agent, pool[20], alice, now=day_30, rules=rules)
    assert refused.value.field == "owner_id" and refused.value.taken == 20
    assert await owner_of(maker, pool[20]) is None
    # the first claim (day 0) leaves the 90-day window on day 90
    day_90 = T0 + timedelta(days=90, seconds=1)
    async with maker.begin() as s:
        assert await can_take(s, alice, rules, day_90)
        await assign_owner(s, agent, pool[20], alice, now=day_90, rules=rules)
        with pytest.raises(CapReached):
            await assign_owner(s, agent, pool[21], alice, now=day_90, rules=rules)
    assert await owner_of(maker, pool[20]) == alice


async def test_customers_given_away_do_not_count_towards_the_cap(maker: Maker) -> None:
    rules = OwnershipRules(cap=2, cap_period_days=90)
    alice = await add_user(maker, "alice")
    pool = await add_customers(maker, 3, owner_id=None)
    agent = manager(alice, read="own", update="own")
    async with maker.begin() as s:
        for cid in pool[:2]:
            await assign_owner(s, agent, cid, alice, now=T0, rules=rules)
        await assign_owner(s, agent, pool[0], None, now=T0)  # gave one back
        assert await can_take(s, alice, rules, T0)
        await assign_owner(s, agent, pool[2], alice, now=T0, rules=rules)
        assert not await can_take(s, alice, rules, T0)


async def test_untouched_customers_return_to_the_pool_idempotently(maker: Maker) -> None:
    rules = OwnershipRules(pool_after_days=30)
    alice, bob = await add_user(maker, "alice"), await add_user(maker, "bob")
    untouched = await add_customers(maker, 5, owner_id=alice, prefix="冷")
    [touched, fresh, legacy, merged] = await add_customers(maker, 4, owner_id=alice, prefix="热")
    async with maker.begin() as s:
        (await s.get_one(Customer, touched)).last_touched_at = T0 + timedelta(days=20)
        (await s.get_one(Customer, legacy)).owner_since = None  # created 400 days ago
        (await s.get_one(Customer, merged)).merged_into_id = touched
        await assign_owner(s, SYSTEM, fresh, bob, now=T0 + timedelta(days=25))
    async with maker.begin() as s:
        assert await return_untouched_to_pool(s, rules, now=T0 + timedelta(days=29)) == 1
    assert await owner_of(maker, legacy) is None
    day_31 = T0 + timedelta(days=31)
    async with maker.begin() as s:
        assert await return_untouched_to_pool(s, rules, now=day_31) == 5
    async with maker.begin() as s:
        assert await return_untouched_to_pool(s, rules, now=day_31) == 0
    for cid in untouched:
        assert await owner_of(maker, cid) is None
    assert await owner_of(maker, touched) == alice
    assert await owner_of(maker, fresh) == bob
    assert await owner_of(maker, merged) == alice  # tombstones are left alone
    async with maker() as s:
        history = await ownership_history(s, SYSTEM, untouched[0])
        since = await s.scalar(select(Customer.owner_since).where(Customer.id == untouched[0]))
    assert history == [{
        "at": day_31.isoformat(), "from_user": {"id": alice, "display_name": "Alice"},
        "to_user": None, "by": None, "reason": "pool",
    }]
    assert since is None
    async with maker.begin() as s:
        assert await return_untouched_to_pool(s, rules, now=T0 + timedelta(days=56)) == 2


async def test_key_customers_stay_with_their_manager_however_long_untouched(
    maker: Maker,
) -> None:
    """Issue 14 item 14: the daily job gave 南京中北巴士 (VIP, ¥540k, 95 days without a
    purchase) back to the pool. A key customer (VIP tier above 0) keeps its manager;
    an ordinary customer untouched as long goes back as before."""
    rules = OwnershipRules(pool_after_days=30)
    wang = await add_user(maker, "wang.lei")
    [vip, top, plain] = await add_customers(maker, 3, owner_id=wang, prefix="南京中北巴士")
    async with maker.begin() as s:
        (await s.get_one(Customer, vip)).vip_tier = 1
        (await s.get_one(Customer, vip)).vip_value = 540_000
        (await s.get_one(Customer, top)).vip_tier = 5
    years_later = T0 + timedelta(days=3 * 365)
    async with maker.begin() as s:
        assert await return_untouched_to_pool(s, rules, now=years_later) == 1
    assert await owner_of(maker, vip) == wang
    assert await owner_of(maker, top) == wang
    assert await owner_of(maker, plain) is None
    async with maker() as s:
        assert await ownership_history(s, SYSTEM, vip) == []
        changes = await s.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.entity_id.in_([str(vip), str(top)])))
    assert changes == 0
    # a person still can move a key customer (a transfer, a leaver)
    heir = await add_user(maker, "heir")
    async with maker.begin() as s:
        assert (await reassign_all(s, SYSTEM, from_user_id=wang, to_user_id=heir,
                                   now=years_later)).customers == 2
    assert await owner_of(maker, vip) == heir


async def test_ids_that_cannot_exist_are_not_found_never_a_database_error(maker: Maker) -> None:
    huge = 2**40
    async with maker() as s:
        with pytest.raises(NotFound):
            await assign_owner(s, SYSTEM, huge, None)
        with pytest.raises(NotFound):
            await ownership_history(s, SYSTEM, -1)
        with pytest.raises(ValidationFailed):
            await reassign_all(s, SYSTEM, from_user_id=huge, to_user_id=None)
        assert await can_take(s, huge, OwnershipRules(), T0)
