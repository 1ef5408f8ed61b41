"""A repair ticket's life at its service station (issue 15 item 4), on SQLite and
PostgreSQL: routed -> accepted -> on the way -> waiting -> on site -> resolved with the
repair record -> closed (frozen) -> reopened; the refusal; the station and technician
scopes; every move in the history and the audit trail; migration 0019."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

import pytest
from alembic import command
from sqlalchemy import column, insert, select, table
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.pool import NullPool

from crm_core import sla, station_desk, ticket_moves, tickets
from crm_core.db import alembic_config, make_engine, upgrade_async
from crm_core.errors import Conflict, MoveNotAllowed, NotFound, ValidationFailed
from crm_core.models import (
    AuditEntry,
    Customer,
    RepairRecord,
    Role,
    RolePermission,
    ServiceStation,
    Ticket,
    TicketStatusChange,
)
from crm_core.permissions import SYSTEM, Actor, PermissionDenied, load_actor
from tests.integration.migration_support import migrate_to, old_customer
from tests.integration.network_support import Network, route_to, seed_network

T = TypeVar("T")
T0 = datetime(2026, 11, 25, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
RECORD = {"fault": "空调压缩机异响", "cause": "轴承磨损", "action": "更换压缩机轴承",
          "parts": [{"part": "轴承 6204", "qty": 2}], "labour_hours": "3.5",
          "serial_checked": True}


@dataclass
class World:
    sm: async_sessionmaker[AsyncSession]
    net: Network
    staff: Actor
    other_staff: Actor
    tech: Actor

    async def run(self, fn: Callable[[AsyncSession], Awaitable[T]]) -> T:
        async with self.sm.begin() as session:
            return await fn(session)

    async def audits(self, entity: str, entity_id: object) -> list[AuditEntry]:
        async with self.sm() as session:
            return list(await session.scalars(
                select(AuditEntry).where(AuditEntry.entity == entity,
                                         AuditEntry.entity_id == str(entity_id))
                .order_by(AuditEntry.id)))


@pytest.fixture
async def world(db_url: str) -> AsyncIterator[World]:
    await upgrade_async(db_url)
    engine = make_engine(db_url)
    sm = async_sessionmaker(engine, expire_on_commit=False)
    try:
        async with sm.begin() as s:
            net = await seed_network(s)
        async with sm() as s:
            actors = [await load_actor(s, uid) for uid in (net.staff, net.other_staff,
                                                            net.tech_user)]
        assert all(actors)
        yield World(sm, net, *actors)  # type: ignore[arg-type]
    finally:
        await engine.dispose()


async def new_routed(w: World, *, at: datetime = T0, category: str | None = "repair",
                     station: int | None = None) -> int:
    async def make(s: AsyncSession) -> int:
        made = await tickets.create_ticket(s, SYSTEM, w.net.customer, problem="空调异响",
                                           asset_id=w.net.asset, contact_id=w.net.contact,
                                           category=category, force=True, now=at)
        await route_to(s, made["id"], station or w.net.station, at)
        return int(made["id"])
    return await w.run(make)


def later(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


async def test_a_repair_goes_its_whole_way_with_stamps_history_and_audit(world: World) -> None:
    w = world
    tid = await new_routed(w)

    async def act(action: str, minutes: int, actor: Actor | None = None) -> dict[str, Any]:
        return await w.run(lambda s: ticket_moves.act(s, actor or w.staff, tid, action,
                                                      now=later(minutes)))

    got = await act("accept", 10)
    assert got["status"] == "accepted" and got["accepted_at"] == later(10).isoformat()
    assigned = await w.run(lambda s: ticket_moves.assign(s, w.staff, tid, w.net.tech,
                                                         now=later(12)))
    assert assigned["technician_id"] == w.net.tech
    # the technician now sees it, and moves it himself
    await act("on_the_way", 20, w.tech)
    await act("wait", 30, w.tech)  # the customer asks to come after lunch
    got = await act("resume", 90, w.tech)
    assert got["status"] == "on_the_way"  # back to where it was
    got = await act("on_site", 120, w.tech)
    assert got["arrived_at"] == later(120).isoformat()
    # a repair ticket is resolved with its repair record only
    with pytest.raises(MoveNotAllowed) as refused:
        await w.run(lambda s: tickets.change_ticket_status(s, w.tech, tid, "resolved"))
    assert "repair record" in str(refused.value)
    with pytest.raises(ValidationFailed) as missing:
        await w.run(lambda s: ticket_moves.resolve(s, w.tech, tid, None, now=later(200)))
    assert missing.value.field == "repair_record"
    with pytest.raises(ValidationFailed) as bad:
        await w.run(lambda s: ticket_moves.resolve(
            s, w.tech, tid, {**RECORD, "parts": [{"part": "x", "qty": -1}]}, now=later(200)))
    assert bad.value.field == "parts.0.qty"
    got = await w.run(lambda s: ticket_moves.resolve(s, w.tech, tid, RECORD, note="修好了",
                                                     now=later(200)))
    assert got["status"] == "resolved" and got["resolved_at"] == later(200).isoformat()
    record = got["repair_record"]
    assert record["parts"] == [{"part": "轴承 6204", "qty": 2}]
    assert Decimal(record["labour_hours"]) == Decimal("3.5")
    assert record["technician_id"] == w.net.tech and record["first_time_fix"] is True
    # corrected while resolved; frozen once closed
    await w.run(lambda s: ticket_moves.correct_record(
        s, w.staff, tid, {**RECORD, "cause": "轴承缺油磨损"}, now=later(210)))
    got = await w.run(lambda s: ticket_moves.act(s, SYSTEM, tid, "close", now=later(300)))
    assert got["closed_at"] == later(300).isoformat() and got["open"] is False
    with pytest.raises(Conflict, match="closed"):
        await w.run(lambda s: ticket_moves.correct_record(s, w.staff, tid, RECORD))
    with pytest.raises(Conflict, match="closed"):
        await w.run(lambda s: tickets.update_ticket(s, SYSTEM, tid, {"problem": "changed"}))
    with pytest.raises(MoveNotAllowed):
        await act("on_site", 310)
    noted = await w.run(lambda s: tickets.add_note(s, w.staff, tid, "客户回访满意",
                                                   now=later(320)))
    assert noted["history"][-1]["kind"] == "note" and noted["status"] == "closed"

    history = [(h["kind"], h["from_status"], h["to_status"]) for h in noted["history"]]
    assert history == [
        ("status", None, "new"), ("route", "new", "routed"), ("status", "routed", "accepted"),
        ("assign", "accepted", "accepted"), ("status", "accepted", "on_the_way"),
        ("status", "on_the_way", "waiting"), ("status", "waiting", "on_the_way"),
        ("status", "on_the_way", "on_site"), ("repair", "on_site", "on_site"),
        ("status", "on_site", "resolved"), ("repair", "resolved", "resolved"),
        ("status", "resolved", "closed"), ("note", "closed", "closed"),
    ]
    assert noted["history"][10]["data"]["previous"]["cause"] == "轴承磨损"
    entries = await w.audits("ticket", tid)
    moves = [(e.before or {}).get("status", "") + ">" + (e.after or {}).get("status", "")
             for e in entries if e.action == "status"]
    assert moves == ["new>routed", "routed>accepted", "accepted>on_the_way",
                     "on_the_way>waiting", "waiting>on_the_way", "on_the_way>on_site",
                     "on_site>resolved", "resolved>closed"]
    assert [e.after["technician_id"] for e in entries if e.action == "assign"  # type: ignore[index]
            ] == [w.net.tech]
    assert len(await w.audits("repair_record", record["id"])) == 2  # written, corrected


async def test_reopen_within_the_window_counts_and_marks_the_fix(world: World) -> None:
    w = world
    tid = await new_routed(w)
    for action, minutes in (("accept", 1), ("on_site", 2)):
        await w.run(lambda s, a=action, m=minutes: ticket_moves.act(s, w.staff, tid, a,
                                                                     now=later(m)))
    await w.run(lambda s: ticket_moves.resolve(s, w.staff, tid, RECORD, now=later(3)))
    await w.run(lambda s: ticket_moves.act(s, SYSTEM, tid, "close", now=later(4)))
    got = await w.run(lambda s: ticket_moves.act(s, w.staff, tid, "reopen",
                                                 now=later(3 + 6 * 24 * 60)))
    assert got["status"] == "accepted" and got["reopen_count"] == 1
    assert got["resolved_at"] is None and got["closed_at"] is None
    assert got["accepted_at"] == later(1).isoformat()  # the first acceptance stays
    assert got["repair_record"]["first_time_fix"] is False  # the fix did not hold
    again = await w.run(lambda s: ticket_moves.resolve(
        s, w.staff, tid, {**RECORD, "first_time_fix": True}, now=later(10_000)))
    assert again["repair_record"]["first_time_fix"] is False
    # a resolution more than 7 days ago cannot be reopened: open a new ticket
    with pytest.raises(MoveNotAllowed, match="7 days"):
        await w.run(lambda s: ticket_moves.act(s, w.staff, tid, "reopen",
                                               now=later(10_000 + 7 * 24 * 60 + 1)))
    got = await w.run(lambda s: ticket_moves.act(s, w.staff, tid, "reopen", reopen_days=30,
                                                 now=later(10_000 + 7 * 24 * 60 + 1)))
    assert got["reopen_count"] == 2
    with pytest.raises(MoveNotAllowed, match="only a resolved or closed"):
        await w.run(lambda s: ticket_moves.act(s, w.staff, tid, "reopen"))


async def test_a_refusal_sends_the_ticket_back_to_routing_with_its_reason(world: World) -> None:
    w = world
    tid = await new_routed(w)
    with pytest.raises(ValidationFailed) as no_reason:
        await w.run(lambda s: ticket_moves.refuse(s, w.staff, tid, "  "))
    assert no_reason.value.field == "reason"
    got = await w.run(lambda s: ticket_moves.refuse(s, w.staff, tid, "无此车型配件",
                                                    now=later(5)))
    # no other station covers it: dispatch routes it again, to nobody, flagged for a person
    assert got["status"] == "routed" and got["station_id"] is None and got["route_flagged"]
    refusal, rerouted = got["history"][-2:]
    assert (refusal["kind"], refusal["note"]) == ("refusal", "无此车型配件")
    assert refusal["data"] == {"station_id": w.net.station, "code": "ZZ-001",
                               "reason": "无此车型配件"}
    assert rerouted["kind"] == "route" and rerouted["data"]["flagged"]
    with pytest.raises(NotFound):  # no longer the station's
        await w.run(lambda s: tickets.get_ticket(s, w.staff, tid))
    # a new ticket cannot be refused: it is nobody's yet
    async def fresh(s: AsyncSession) -> int:  # as one no station covered is left
        ticket = Ticket(number="T-FRESH", customer_id=w.net.customer, problem="x",
                        status="new")
        s.add(ticket)
        await s.flush()
        return ticket.id
    made = await w.run(fresh)
    with pytest.raises(MoveNotAllowed):
        await w.run(lambda s: ticket_moves.refuse(s, SYSTEM, made, "no"))


async def test_each_station_and_technician_sees_and_moves_only_its_own(world: World) -> None:
    w = world
    ours = await new_routed(w, at=later(0))
    theirs = await new_routed(w, station=w.net.other_station)
    for actor, tid in ((w.other_staff, ours), (w.staff, theirs), (w.tech, ours)):
        with pytest.raises(NotFound):
            await w.run(lambda s, a=actor, t=tid: tickets.get_ticket(s, a, t))
        with pytest.raises(NotFound):
            await w.run(lambda s, a=actor, t=tid: ticket_moves.act(s, a, t, "accept"))
    view = await w.run(lambda s: station_desk.station_tickets(s, w.staff))
    assert [i["id"] for i in view["items"]] == [ours]
    assert view["station"]["code"] == "ZZ-001"
    assert {t["name"] for t in view["technicians"][str(w.net.station)]} == {"张师傅", "李师傅"}
    assert (await w.run(lambda s: tickets.list_tickets(s, w.tech)))["total"] == 0
    # a technician of another station cannot be assigned
    with pytest.raises(ValidationFailed) as foreign:
        await w.run(lambda s: ticket_moves.assign(s, w.staff, ours, w.net.foreign_tech))
    assert foreign.value.field == "technician_id"
    await w.run(lambda s: ticket_moves.assign(s, w.staff, ours, w.net.tech))
    assert (await w.run(lambda s: tickets.list_tickets(s, w.tech)))["total"] == 1
    # the network roles neither create tickets nor read customers
    with pytest.raises(PermissionDenied):
        await w.run(lambda s: tickets.create_ticket(s, w.staff, w.net.customer, problem="x"))
    with pytest.raises(PermissionDenied):
        from crm_core import customers
        await w.run(lambda s: customers.get_customer(s, w.staff, w.net.customer))


async def test_the_station_list_is_most_urgent_first_with_the_facts(world: World) -> None:
    w = world
    ids = [await new_routed(w) for _ in range(4)]

    async def dues(s: AsyncSession) -> None:
        for tid, accept_due, resolve_due in (
            (ids[0], later(600), later(900)), (ids[1], later(60), later(2000)),
            (ids[2], None, None), (ids[3], later(1), later(300)),
        ):
            ticket = await s.get(Ticket, tid)
            assert ticket is not None
            ticket.accept_due, ticket.resolve_due = accept_due, resolve_due
    await w.run(dues)
    await w.run(lambda s: ticket_moves.act(s, w.staff, ids[3], "accept"))
    view = await w.run(lambda s: station_desk.station_tickets(s, w.staff))
    # accepted: its resolve due (300) counts; routed: their accept due
    assert [i["id"] for i in view["items"]] == [ids[1], ids[3], ids[0], ids[2]]
    first = view["items"][0]
    assert first["customer_name"] == "郑州客运总站" and first["contact_name"] == "刘站长"
    assert first["phone"] == "137 0000 0001" and first["serial_number"] == "LZYT-0001"
    assert first["address"] == "郑州市二七区大学路 1 号" and first["site"] == "郑州东站停车场"
    assert first["next_moves"] == ["accepted", "cancelled"]
    one = await w.run(lambda s: station_desk.station_ticket(s, w.staff, ids[3]))
    assert one["status"] == "accepted" and "on_site" in one["next_moves"]
    assert one["customer_name"] == "郑州客运总站" and one["history"]
    assert {t["name"] for t in one["technicians"]} == {"张师傅", "李师傅"}


async def test_migration_0019_renames_the_old_statuses_and_adds_the_roles(db_url: str) -> None:
    engine = make_engine(db_url, poolclass=NullPool)
    old_ticket = table("ticket", column("id"), column("customer_id"), column("problem"),
                       column("number"), column("status"))
    history = table("ticket_status_change", column("ticket_id"), column("from_status"),
                    column("to_status"), column("at"))
    try:
        async with engine.begin() as conn:
            await migrate_to(conn, db_url, "0018")
            cid = await old_customer(conn, "Old Co")
            made = {}
            for number, status in (("T1", "assigned"), ("T2", "in_progress"),
                                   ("T3", "waiting"), ("T4", "closed")):
                made[status] = (await conn.execute(insert(old_ticket).values(
                    customer_id=cid, problem="p", number=number, status=status)
                    .returning(old_ticket.c.id))).scalar_one()
            steps = ["new", "assigned", "in_progress", "resolved", "closed"]
            pairs = zip([None, *steps[:-1]], steps, strict=True)
            await conn.execute(insert(history), [
                {"ticket_id": made["closed"], "from_status": a, "to_status": b,
                 "at": later(i)} for i, (a, b) in enumerate(pairs)])
        async with engine.begin() as conn:
            await migrate_to(conn, db_url, "head")
        async with async_sessionmaker(engine)() as s:
            got = {t.number: t for t in await s.scalars(select(Ticket))}
            moves = [(h.from_status, h.to_status) for h in await s.scalars(
                select(TicketStatusChange).order_by(TicketStatusChange.id))]
            roles = {r.name: r.id for r in await s.scalars(select(Role))}
            grants = {(p.role_id, p.module, p.operation): p.scope
                      for p in await s.scalars(select(RolePermission))}
    finally:
        await engine.dispose()
    assert [got[n].status for n in ("T1", "T2", "T3", "T4")] == [
        "routed", "accepted", "waiting", "closed"]
    assert moves == [(None, "new"), ("new", "routed"), ("routed", "accepted"),
                     ("accepted", "resolved"), ("resolved", "closed")]
    closed = got["T4"]
    assert closed.accepted_at == later(2) and closed.resolved_at == later(3)
    assert closed.closed_at == later(4)
    assert grants[(roles["station"], "tickets", "update")] == "station"
    assert grants[(roles["technician"], "tickets", "read")] == "technician"
    assert not {k for k in grants if k[0] == roles["station"] and k[1] != "tickets"}


async def test_migration_0019_downgrades_to_the_old_words(db_url: str) -> None:
    engine = make_engine(db_url, poolclass=NullPool)
    try:
        async with engine.begin() as conn:
            await migrate_to(conn, db_url, "head")
        async with async_sessionmaker(engine).begin() as s:
            cid = (await s.execute(insert(Customer).values(name="New Co")
                                   .returning(Customer.id))).scalar_one()
            s.add_all([Ticket(number=f"N{i}", customer_id=cid, problem="p", status=status)
                       for i, status in enumerate(("routed", "on_site", "waiting"))])
        async with engine.begin() as conn:
            def down(connection: Any) -> None:
                cfg = alembic_config(db_url)
                cfg.attributes["connection"] = connection
                command.downgrade(cfg, "0018")
            await conn.run_sync(down)
            old = dict((await conn.execute(select(Ticket.number, Ticket.status))).all())
            roles = set((await conn.execute(select(Role.name))).scalars())
    finally:
        await engine.dispose()
    assert old == {"N0": "assigned", "N1": "in_progress", "N2": "waiting"}
    assert "station" not in roles and "technician" not in roles  # nobody held them


async def test_nothing_is_half_written_when_a_resolve_fails(world: World) -> None:
    w = world
    tid = await new_routed(w)
    await w.run(lambda s: ticket_moves.act(s, w.staff, tid, "accept"))
    with pytest.raises(ValidationFailed):
        await w.run(lambda s: ticket_moves.resolve(s, w.staff, tid, {**RECORD, "fault": ""}))
    async with w.sm() as s:
        assert await s.scalar(select(RepairRecord.id)) is None
        assert await s.scalar(select(Ticket.status).where(Ticket.id == tid)) == "accepted"


async def test_the_moves_drive_the_sla_clock(world: World) -> None:
    """Accepting and arriving meet their targets (the clock goes on to the next one),
    waiting for the customer stops the clock and resuming moves every target not met by
    the time it stood, a reopened repair gets its targets again."""
    w = world
    tid = await new_routed(w)

    async def start(s: AsyncSession) -> None:
        await sla.seed_policies(s)
        ticket = await s.get_one(Ticket, tid)
        assert await sla.start_clock(s, ticket, await s.get(ServiceStation, ticket.station_id),
                                     T0) is not None
    await w.run(start)

    async def ticket() -> Ticket:
        return await w.run(lambda s: s.get_one(Ticket, tid))

    async def act(action: str, minutes: int) -> None:
        await w.run(lambda s: ticket_moves.act(s, w.staff, tid, action, now=later(minutes)))

    await act("accept", 10)
    got = await ticket()
    assert got.accepted_at == later(10) and got.sla_state == "ok"
    assert got.sla_next_at is not None  # on to the arrival
    arrive_due = got.arrive_due
    assert arrive_due is not None
    await act("wait", 30)
    got = await ticket()
    assert got.sla_paused_at == later(30) and got.sla_next_at is None
    await act("resume", 90)  # an hour of business time stood still (09:30-10:30 Shanghai)
    got = await ticket()
    assert got.sla_paused_at is None and got.sla_paused_s == 3600
    # pushed by that business hour: at least an hour of the wall clock
    assert got.arrive_due is not None and got.arrive_due - arrive_due >= timedelta(hours=1)
    await act("on_the_way", 100)
    await act("on_site", 120)
    got = await ticket()
    assert got.arrived_at == later(120) and got.sla_state == "ok"
    await w.run(lambda s: ticket_moves.resolve(s, w.staff, tid, RECORD, now=later(200)))
    assert (await ticket()).sla_next_at is None  # nothing left to watch
    await act("reopen", 300)
    got = await ticket()
    assert got.status == "accepted" and got.reopen_count == 1
    assert got.resolve_due is not None and got.resolve_due > later(300)
    assert got.sla_next_at is not None  # watched again
