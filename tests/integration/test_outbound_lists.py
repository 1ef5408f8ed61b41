"""Outbound call lists on SQLite and PostgreSQL (issue 17 items 1-2): built from each
rule with the right number, invalid numbers marked, "do not call" respected (also when
flagged later), outcomes recycled or closed, a rebuild losing no outcome, and many
agents asking at once never getting the same entry."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from crm_core import interactions
from crm_core import outbound_lists as ol
from crm_core.db import make_engine, upgrade_async
from crm_core.errors import Conflict, ValidationFailed
from crm_core.models import (
    Asset,
    AuditEntry,
    CallListEntry,
    Contact,
    Customer,
    Interaction,
    PhoneNumber,
    Subscription,
    Ticket,
    User,
)
from crm_core.permissions import Actor, PermissionDenied

NOW = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)  # Monday 10:00 in Shanghai
TODAY = date(2026, 12, 7)
Maker = async_sessionmaker[AsyncSession]
WORK = {("call_lists", "read"): "all", ("call_lists", "update"): "all"}
MANAGE = {**WORK, ("call_lists", "create"): "all"}
ALWAYS = ol.CallHours.always()


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    await upgrade_async(db_url)
    engine = make_engine(db_url)
    yield engine
    await engine.dispose()


@pytest.fixture
def maker(engine: AsyncEngine) -> Maker:
    return async_sessionmaker(engine, expire_on_commit=False)


async def users(maker: Maker, n: int) -> list[Actor]:
    async with maker.begin() as s:
        rows = [User(username=f"agent{i}", display_name=f"坐席{i}", team="north")
                for i in range(n)]
        s.add_all(rows)
        await s.flush()
        return [Actor(user_id=u.id, username=u.username, team="north", grants=MANAGE)
                for u in rows]


async def customer(s: AsyncSession, name: str, number: str | None = "13800138000",
                   **kw: Any) -> int:
    c = Customer(name=name, name_key=name, **kw)
    s.add(c)
    await s.flush()
    if number is not None:
        s.add(PhoneNumber(customer_id=c.id, number_e164=number, raw=number))
    return c.id


async def resolved_ticket(s: AsyncSession, customer_id: int, n: int, resolved: datetime,
                          contact_id: int | None = None) -> int:
    t = Ticket(number=f"T{n:04d}", customer_id=customer_id, problem=f"卡纸 {n}",
               status="resolved", resolved_at=resolved, contact_id=contact_id,
               category="repair")
    s.add(t)
    await s.flush()
    return t.id


async def entries(maker: Maker, list_id: int) -> dict[int, CallListEntry]:
    async with maker() as s:
        rows = (await s.scalars(select(CallListEntry)
                                .where(CallListEntry.list_id == list_id))).all()
        return {e.customer_id: e for e in rows}


async def test_repair_followup_uses_the_tickets_contact_and_marks_bad_numbers(
        maker: Maker) -> None:
    [boss] = await users(maker, 1)
    async with maker.begin() as s:
        with_contact = await customer(s, "甲公司", "+8613800000001")
        contact = Contact(customer_id=with_contact, name="张工")
        s.add(contact)
        await s.flush()
        s.add(PhoneNumber(customer_id=with_contact, contact_id=contact.id,
                          number_e164="+8613900000002", raw="13900000002"))
        plain = await customer(s, "乙公司", "+8613800000003")
        bad = await customer(s, "丙公司", "12345")
        none = await customer(s, "丁公司", None)
        too_new = await customer(s, "戊公司", "+8613800000005")
        yesterday = NOW - timedelta(days=1)
        await resolved_ticket(s, with_contact, 1, yesterday, contact.id)
        await resolved_ticket(s, plain, 2, yesterday)
        await resolved_ticket(s, bad, 3, yesterday)
        await resolved_ticket(s, none, 4, yesterday)
        await resolved_ticket(s, too_new, 5, NOW - timedelta(hours=1))
        made = await ol.create_list(s, boss, name="维修回访", rule="repair_followup",
                                    params={"days": 1}, now=NOW)
    assert made["kind"] == "satisfaction" and made["built"]["added"] == 4
    got = await entries(maker, made["id"])
    assert set(got) == {with_contact, plain, bad, none}
    assert got[with_contact].number == "+8613900000002"  # the ticket's contact
    assert got[plain].number == "+8613800000003"
    assert got[plain].reason.startswith("T0002")
    assert got[bad].state == "invalid-number" and got[none].state == "invalid-number"
    handed = set()
    async with maker.begin() as s:
        for _ in range(4):
            e = (await ol.next_entry(s, boss, made["id"], hours=ALWAYS, now=NOW))["entry"]
            if e is None:
                break
            handed.add(e["customer_id"])
            await ol.record_outcome(s, boss, e["id"], ol.Outcome("scored", score=5), now=NOW)
    assert handed == {with_contact, plain}  # the invalid numbers are never handed out


async def test_renewals_delivery_and_saved_filter(maker: Maker) -> None:
    [boss] = await users(maker, 1)
    async with maker.begin() as s:
        soon = await customer(s, "订户甲")
        later = await customer(s, "订户乙")
        for cid, days in ((soon, 20), (later, 60)):
            s.add(Subscription(customer_id=cid, title="期刊", start_date=date(2026, 1, 1),
                               end_date=TODAY + timedelta(days=days)))
        delivered = await customer(s, "车主")
        s.add(Asset(customer_id=delivered, serial_number="BUS-1", model="K9",
                    purchase_date=TODAY - timedelta(days=7)))
        await customer(s, "北京客户", province="北京")
        await customer(s, "广东客户", province="广东")
        renew = await ol.create_list(s, boss, name="续订", rule="renewal_due",
                                     params={"days": 30}, now=NOW)
        follow = await ol.create_list(s, boss, name="交车回访", rule="delivery_followup",
                                      params={"days": 7}, now=NOW)
        saved = await ol.create_list(s, boss, name="北京", rule="customer_filter",
                                     params={"filter": {"province": "北京"}}, now=NOW)
        with pytest.raises(ValidationFailed):
            await ol.create_list(s, boss, name="x", rule="customer_filter",
                                 params={"filter": {"colour": "red"}})
        with pytest.raises(ValidationFailed):
            await ol.create_list(s, boss, name="x", rule="renewal_due", params={"days": -1})
    assert set(await entries(maker, renew["id"])) == {soon}
    assert renew["outcomes"][:3] == ["renewed", "will-renew", "declined"]
    assert set(await entries(maker, follow["id"])) == {delivered}
    [beijing] = (await entries(maker, saved["id"])).values()
    assert beijing.reason == "北京"


async def test_outcomes_recycle_close_and_check_their_fields(maker: Maker) -> None:
    [boss] = await users(maker, 1)
    async with maker.begin() as s:
        cid = await customer(s, "订户")
        s.add(Subscription(customer_id=cid, title="期刊", start_date=date(2026, 1, 1),
                           end_date=TODAY + timedelta(days=5)))
        made = await ol.create_list(s, boss, name="续订", rule="renewal_due",
                                    params={"days": 30}, max_attempts=2, retry_delay_min=60,
                                    now=NOW)
    lid = made["id"]
    async with maker.begin() as s:
        e = (await ol.next_entry(s, boss, lid, hours=ALWAYS, now=NOW))["entry"]
        with pytest.raises(ValidationFailed):  # not an outcome of a renewal list
            await ol.record_outcome(s, boss, e["id"], ol.Outcome("scored", score=3), now=NOW)
        with pytest.raises(ValidationFailed):  # a refusal needs its reason
            await ol.record_outcome(s, boss, e["id"], ol.Outcome("declined"), now=NOW)
        out = await ol.record_outcome(s, boss, e["id"], ol.Outcome("no-answer"), now=NOW)
        assert out["state"] == "open" and out["attempts"] == 1
        assert out["due_at"] == NOW + timedelta(minutes=60)
        # not due again before the delay, then handed out again
        assert (await ol.next_entry(s, boss, lid, hours=ALWAYS, now=NOW))["why"] == "empty"
        later = NOW + timedelta(minutes=61)
        again = (await ol.next_entry(s, boss, lid, hours=ALWAYS, now=later))["entry"]
        assert again["id"] == e["id"]
        out = await ol.record_outcome(s, boss, e["id"], ol.Outcome("busy"), now=later)
        assert out["state"] == "done" and out["attempts"] == 2  # the last attempt
        with pytest.raises(Conflict):
            await ol.record_outcome(s, boss, e["id"], ol.Outcome("renewed"), now=later)
        calls = (await s.scalars(select(Interaction.result)
                                 .where(Interaction.customer_id == cid))).all()
    assert sorted(calls) == ["busy", "no-answer"]


async def test_do_not_call_and_closed_hours(maker: Maker) -> None:
    [boss] = await users(maker, 1)
    async with maker.begin() as s:
        ids = [await customer(s, f"客户{i}", f"+861380000{i:04d}", province="北京")
               for i in range(3)]
        await s.execute(update(Customer).where(Customer.id == ids[0]).values(do_not_call=True))
        a = await ol.create_list(s, boss, name="A", rule="customer_filter",
                                 params={"filter": {"province": "北京"}}, now=NOW)
        b = await ol.create_list(s, boss, name="B", rule="customer_filter",
                                 params={"filter": {"province": "北京"}}, now=NOW)
    assert (await entries(maker, a["id"]))[ids[0]].state == "do-not-call"
    async with maker.begin() as s:
        night = datetime(2026, 12, 7, 14, 0, tzinfo=UTC)  # 22:00 in Shanghai
        assert (await ol.next_entry(s, boss, a["id"], hours=ol.CallHours(), now=night)) == {
            "entry": None, "why": "closed"}
        e = (await ol.next_entry(s, boss, a["id"], hours=ALWAYS, now=NOW))["entry"]
        assert e["customer_id"] == ids[1]
        # the customer asks never to be called again: off every list
        await ol.record_outcome(s, boss, e["id"], ol.Outcome("do-not-call"), now=NOW)
        # flagged from elsewhere (the customer record) without touching the entries
        await s.execute(update(Customer).where(Customer.id == ids[2]).values(do_not_call=True))
    async with maker.begin() as s:
        for lst in (a, b):
            got = await ol.next_entry(s, boss, lst["id"], hours=ALWAYS, now=NOW)
            assert got == {"entry": None, "why": "empty"}
        assert (await s.get(Customer, ids[1])).do_not_call  # type: ignore[union-attr]


async def test_a_list_built_after_midnight_is_workable_that_day(maker: Maker) -> None:
    """Entries are due from the start of their business day; only the call window keeps
    calls out of the night (CI once built a list at 00:49 in Shanghai and found none due)."""
    [boss] = await users(maker, 1)
    after_midnight = datetime(2026, 12, 7, 16, 49, tzinfo=UTC)  # 00:49 on the 8th in Shanghai
    async with maker.begin() as s:
        ids = [await customer(s, f"客户{i}", f"+861380000{i:04d}", province="北京")
               for i in range(2)]
        made = await ol.create_list(s, boss, name="A", rule="customer_filter",
                                    params={"filter": {"province": "北京"}}, now=after_midnight)
        assert made["counts"]["due"] == 2
        assert (await ol.next_entry(s, boss, made["id"], hours=ol.CallHours(),
                                    now=after_midnight))["why"] == "closed"
        e = (await ol.next_entry(s, boss, made["id"], hours=ALWAYS,
                                 now=after_midnight))["entry"]
        assert e["customer_id"] in ids


async def test_rebuild_while_working_loses_no_outcome(maker: Maker) -> None:
    [boss, other] = await users(maker, 2)
    async with maker.begin() as s:
        ids = [await customer(s, f"客户{i}", f"+861380000{i:04d}", province="北京")
               for i in range(3)]
        made = await ol.create_list(s, boss, name="A", rule="customer_filter",
                                    params={"filter": {"province": "北京"}}, now=NOW)
    lid = made["id"]
    async with maker.begin() as s:
        first = (await ol.next_entry(s, boss, lid, hours=ALWAYS, now=NOW))["entry"]
        await ol.record_outcome(s, boss, first["id"],
                                ol.Outcome("reached", comment="满意"), now=NOW)
        held = (await ol.next_entry(s, other, lid, hours=ALWAYS, now=NOW))["entry"]
        # the rule no longer selects anyone, and a customer's number changed
        await s.execute(update(Customer).values(province="上海"))
        await s.execute(update(PhoneNumber).values(number_e164="+8613911112222"))
    async with maker.begin() as s:
        built = await ol.refresh_list(s, lid, now=NOW + timedelta(days=1))
    assert built["added"] == 0 and built["gone"] == 1  # only the untouched entry goes
    got = await entries(maker, lid)
    assert got[first["customer_id"]].outcome == "reached"
    assert got[first["customer_id"]].outcome_data == {"comment": "满意"}
    assert got[held["customer_id"]].state == "open" and got[held["customer_id"]].claim
    async with maker.begin() as s:  # the held entry's outcome still lands
        out = await ol.record_outcome(s, other, held["id"], ol.Outcome("reached"), now=NOW)
    assert out["state"] == "done"
    assert len(ids) == 3


async def test_an_agent_without_the_grant_is_refused(maker: Maker) -> None:
    [boss] = await users(maker, 1)
    nobody = Actor(user_id=boss.user_id, grants={})
    async with maker.begin() as s:
        with pytest.raises(PermissionDenied):
            await ol.create_list(s, nobody, name="x", rule="renewal_due")
        with pytest.raises(PermissionDenied):
            await ol.next_entry(s, nobody, 1, hours=ALWAYS)


async def test_many_agents_at_once_never_share_an_entry(maker: Maker) -> None:
    agents = await users(maker, 30)
    async with maker.begin() as s:
        for i in range(40):
            await customer(s, f"客户{i}", f"+86138{i:08d}", province="北京")
        made = await ol.create_list(s, agents[0], name="A", rule="customer_filter",
                                    params={"filter": {"province": "北京"}}, now=NOW)

    async def work(agent: Actor) -> list[int]:
        got = []
        while True:
            async with maker.begin() as s:
                e = (await ol.next_entry(s, agent, made["id"], hours=ALWAYS, now=NOW))["entry"]
                if e is None:
                    return got
                got.append(e["id"])
                await ol.record_outcome(s, agent, e["id"], ol.Outcome("reached"), now=NOW)

    handed = [i for batch in await asyncio.gather(*(work(a) for a in agents)) for i in batch]
    assert len(handed) == 40 and len(set(handed)) == 40


async def test_two_nodes_never_share_an_entry_and_hand_out_what_the_entry_shows(
        engine: AsyncEngine, db_url: str) -> None:
    """Two nodes (two engines, two pools) with agents asking at once: every entry is
    handed out once, and what ``next_entry`` returns from its claim (the entry's columns
    and its customer's name, in one statement) is what reading the entry shows."""
    other = make_engine(db_url)
    try:
        makers = [async_sessionmaker(engine, expire_on_commit=False),
                  async_sessionmaker(other, expire_on_commit=False)]
        agents = await users(makers[0], 12)
        async with makers[0].begin() as s:
            for i in range(5):  # customer ids out of step with entry ids
                await customer(s, f"不在单{i}", province="上海")
            names = {await customer(s, f"客户{i}", f"+86138{i:08d}", province="北京"): f"客户{i}"
                     for i in range(30)}
            made = await ol.create_list(s, agents[0], name="A", rule="customer_filter",
                                        params={"filter": {"province": "北京"}}, now=NOW)

        async def work(n: int, agent: Actor) -> list[dict[str, Any]]:
            got = []
            while True:
                async with makers[n % 2].begin() as s:
                    e = (await ol.next_entry(s, agent, made["id"], hours=ALWAYS,
                                             now=NOW))["entry"]
                    if e is None:
                        return got
                    assert e == await ol.get_entry(s, agent, e["id"])
                    got.append(e)
                    await ol.record_outcome(s, agent, e["id"], ol.Outcome("reached"), now=NOW)

        handed = [e for batch in await asyncio.gather(*(work(n, a) for n, a in
                                                        enumerate(agents))) for e in batch]
        assert sorted(e["customer_id"] for e in handed) == sorted(names)
        assert all(e["customer_name"] == names[e["customer_id"]] for e in handed)
        assert len({e["id"] for e in handed}) == 30
    finally:
        await other.dispose()


async def test_a_held_entry_comes_back_unless_its_customer_is_flagged_or_it_lapsed(
        maker: Maker) -> None:
    [boss, other] = await users(maker, 2)
    async with maker.begin() as s:
        ids = [await customer(s, f"客户{i}", f"+861380000{i:04d}", province="北京")
               for i in range(3)]
        made = await ol.create_list(s, boss, name="A", rule="customer_filter",
                                    params={"filter": {"province": "北京"}}, now=NOW)
        b = await ol.create_list(s, boss, name="B", rule="customer_filter",
                                 params={"filter": {"province": "北京"}}, now=NOW)
    lid = made["id"]
    async with maker.begin() as s:
        first = (await ol.next_entry(s, boss, lid, hours=ALWAYS, now=NOW))["entry"]
        # held on this list: handed back, also a minute later; another list is its own
        again = await ol.next_entry(s, boss, lid, hours=ALWAYS, now=NOW + timedelta(minutes=1))
        assert again["entry"] == await ol.get_entry(s, boss, first["id"])
        on_b = (await ol.next_entry(s, boss, b["id"], hours=ALWAYS, now=NOW))["entry"]
        assert on_b["list_id"] == b["id"] and on_b["id"] != first["id"]
        # flagged "do not call" while held: not handed back, the next one instead
        await s.execute(update(Customer).where(Customer.id == first["customer_id"])
                        .values(do_not_call=True))
        second = (await ol.next_entry(s, boss, lid, hours=ALWAYS, now=NOW))["entry"]
        assert second["customer_id"] not in (first["customer_id"],)
        # a claim past CLAIM_TTL lapses: another agent may take that entry
        later = NOW + ol.CLAIM_TTL + timedelta(minutes=1)
        taken = (await ol.next_entry(s, other, lid, hours=ALWAYS, now=later))["entry"]
        assert taken["id"] == second["id"] and taken["claimed_by_id"] == other.user_id
        mine = (await ol.next_entry(s, boss, lid, hours=ALWAYS, now=later))["entry"]
        assert mine["id"] not in (first["id"], second["id"])
    assert len(ids) == 3


async def test_one_call_dialled_from_the_preview_is_one_record(maker: Maker) -> None:
    """Issue 17: dialled from the preview, the call is logged by the outcome AND by the
    pop's log form; both name the call, so it stays one interaction, whichever comes
    first."""
    [agent] = await users(maker, 1)
    boss = Actor(user_id=agent.user_id, username=agent.username, team=agent.team, grants={
        **MANAGE, ("interactions", "create"): "all", ("interactions", "read"): "all",
        ("interactions", "update"): "own"})
    async with maker.begin() as s:
        ids = [await customer(s, f"客户{i}", f"+861380000{i:04d}", province="北京")
               for i in range(3)]
        made = await ol.create_list(s, boss, name="回访", rule="customer_filter",
                                    params={"filter": {"province": "北京"}}, now=NOW)

    async def calls_of(customer_id: int) -> list[Interaction]:
        async with maker() as s:
            return list((await s.scalars(select(Interaction).where(
                Interaction.customer_id == customer_id, Interaction.kind == "call")
                .order_by(Interaction.id))).all())

    # the log form first, then the outcome: the outcome completes the form's record
    async with maker.begin() as s:
        e = (await ol.next_entry(s, boss, made["id"], hours=ALWAYS, now=NOW))["entry"]
        await interactions.create_interaction(
            s, boss, e["customer_id"], kind="call", content="客户说车况良好",
            disposition="inquiry", call_linkedid="call-1", now=NOW)
        await ol.record_outcome(s, boss, e["id"], ol.Outcome("reached", comment="满意"),
                                now=NOW, call_linkedid="call-1")
    [one] = await calls_of(e["customer_id"])
    assert (one.call_linkedid, one.content, one.disposition) == ("call-1", "客户说车况良好",
                                                                 "inquiry")
    assert one.result == "reached · comment=满意"
    async with maker() as s:
        updates = (await s.scalars(select(AuditEntry).where(
            AuditEntry.entity == "interaction", AuditEntry.entity_id == str(one.id),
            AuditEntry.action == "update"))).all()
    assert [u.after for u in updates] == [{"result": "reached · comment=满意"}]

    # the outcome first: its record names the call, and the log form's lookup of the
    # call's record (POST /calls/{linkedid}/log updates it) finds that one
    async with maker.begin() as s:
        e2 = (await ol.next_entry(s, boss, made["id"], hours=ALWAYS, now=NOW))["entry"]
        await ol.record_outcome(s, boss, e2["id"], ol.Outcome("no-answer"), now=NOW,
                                call_linkedid="call-2")
        found = await interactions.call_log_of(s, e2["customer_id"], "call-2", boss.user_id)
        assert found is not None and found.result == "no-answer"
        await interactions.update_interaction(s, boss, found.id, {"content": "未接"}, now=NOW)
    [two] = await calls_of(e2["customer_id"])
    assert (two.call_linkedid, two.content, two.disposition) == ("call-2", "未接",
                                                                 "outbound:contact")

    # not dialled from here (no call named): its own record, as before
    async with maker.begin() as s:
        e3 = (await ol.next_entry(s, boss, made["id"], hours=ALWAYS, now=NOW))["entry"]
        await interactions.create_interaction(
            s, boss, e3["customer_id"], kind="call", content="另一通", call_linkedid="call-3",
            now=NOW)
        await ol.record_outcome(s, boss, e3["id"], ol.Outcome("reached"), now=NOW)
    assert [c.call_linkedid for c in await calls_of(e3["customer_id"])] == ["call-3", None]
    assert len(ids) == 3


def test_merged_call_log_keeps_the_forms_words_and_both_results() -> None:
    outcome = {"content": "回访原因", "result": "scored · score=5", "disposition":
               "outbound:satisfaction", "contact_id": 7, "place": None, "next_step": None}
    form = {"content": "", "result": "已解决", "disposition": "inquiry", "contact_id": None,
            "place": None, "next_step": "下周回访"}
    assert interactions.merged_call_log(outcome, form) == {
        "content": "回访原因", "result": "scored · score=5 · 已解决", "disposition": "inquiry",
        "contact_id": 7, "place": None, "next_step": "下周回访"}
    assert interactions.merged_call_log(outcome, {**form, "result": "scored · score=5"})[
        "result"] == "scored · score=5"
