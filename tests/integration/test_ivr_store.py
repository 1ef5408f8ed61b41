"""ivr.store against a real database (SQLite and PostgreSQL): the number plan resolves
every DID (unknown -> default flow, never an error), flows are saved as validated new
versions (a refused one leaves nothing behind), a corrupt stored flow falls back to the
default flow, the seed is idempotent, every write is audited; and the entry-numbers
report (crm_core.entry_report) counts calls per dialled number against the plan."""

from __future__ import annotations

import copy
import logging
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_core.db import make_engine, upgrade_async
from crm_core.demo_data import NUMBER_PLAN, seed_demo
from crm_core.entry_report import entry_numbers
from crm_core.errors import Conflict, ValidationFailed
from crm_core.models import AuditEntry, CallRecord, Customer, IvrFlow, IvrNumber, User
from crm_core.permissions import SYSTEM, Actor, PermissionDenied
from ivr import store
from ivr.default_flow import DEFAULT_FLOW
from ivr.flow import FlowError
from ivr.number_plan import canonical_did

Maker = async_sessionmaker[AsyncSession]


@pytest.fixture
async def maker(db_url: str) -> AsyncIterator[Maker]:
    await upgrade_async(db_url)
    engine = make_engine(db_url)
    yield async_sessionmaker(engine, expire_on_commit=False)
    await engine.dispose()


def printers_flow() -> dict[str, Any]:
    """A small valid flow of its own: greet, route to the repair skill, queue."""
    return {
        "start": "hello", "languages": ["zh", "en"],
        "steps": {
            "hello": {"type": "play", "prompt": "welcome", "next": "route"},
            "route": {"type": "route", "queue": "support", "skill": "repair", "next": "q"},
            "q": {"type": "handoff", "kind": "queue"},
        },
    }


async def _count(maker: Maker, model: Any, *where: Any) -> int:
    async with maker() as db:
        return int(await db.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def test_seed_is_idempotent_and_the_hotline_numbers_resolve(maker: Maker) -> None:
    for _ in range(2):
        async with maker.begin() as db:
            await store.seed_defaults(db, ["4008001234", "+86 800-800-1234", "not a number"])
    assert await _count(maker, IvrFlow) == 1
    assert await _count(maker, IvrNumber) == 2
    assert await _count(maker, AuditEntry, AuditEntry.action == "seed") == 3
    async with maker() as db:
        flow, version = await store.load_flow(db, "default")
        assert (flow.name, version) == ("default", 1)
        row = await db.scalar(select(IvrFlow))
        assert row is not None and row.document == DEFAULT_FLOW
        e400 = await store.resolve_number(db, "+86 400-800-1234")
        e800 = await store.resolve_number(db, "8008001234")
    assert (e400.number, e400.kind, e400.flow_name) == ("4008001234", "400", "default")
    assert (e800.number, e800.kind) == ("8008001234", "800")


async def test_seed_keeps_what_is_there(maker: Maker) -> None:
    async with maker.begin() as db:
        await store.save_flow(db, "default", copy.deepcopy(DEFAULT_FLOW), actor_id=None)
        await store.save_flow(db, "default", copy.deepcopy(DEFAULT_FLOW), actor_id=None)
        db.add(IvrNumber(number="4008001234", flow_name="default", kind="400", label="主号"))
    async with maker.begin() as db:
        await store.seed_defaults(db, ["4008001234"])
    async with maker() as db:
        assert (await store.load_flow(db, "default"))[1] == 2
        row = await db.scalar(select(IvrNumber))
        assert row is not None and row.label == "主号"


async def test_unknown_blank_and_garbage_dids_get_the_default_flow(maker: Maker) -> None:
    async with maker.begin() as db:
        await store.seed_defaults(db, ["4008001234"])
    async with maker() as db:
        for did in ("13912345678", "", None, "s", "4008001234#", "\x00", "9" * 80):
            entry = await store.resolve_number(db, did)
            assert (entry.kind, entry.flow_name, entry.label) == ("unknown", "default", None)
            flow, version = await store.load_flow(db, entry.flow_name)
            assert flow.name == "default" and version == 1
        assert (await store.resolve_number(db, "+86 139-1234-5678")).number == "13912345678"


async def test_a_legacy_number_resolves_to_its_flow_with_its_tag(maker: Maker) -> None:
    label = "原打印机维修热线 / old printer repair line"
    async with maker.begin() as db:
        await store.save_flow(db, "printers", printers_flow(), actor_id=None, comment="v1")
        await store.create_number(db, SYSTEM, number="021-5488 1234",
                                  flow_name="printers", kind="legacy", label=label,
                                  queue="support")
    async with maker() as db:
        entry = await store.resolve_number(db, "+86 21 5488 1234")
        assert entry == store.Entry(number="02154881234", kind="legacy", label=label,
                                    flow_name="printers", queue="support")
        flow, version = await store.load_flow(db, entry.flow_name)
    assert (flow.name, version, flow.start) == ("printers", 1, "hello")
    assert flow.steps["route"].skill == "repair"


async def test_a_disabled_number_runs_the_default_flow_as_unknown(maker: Maker) -> None:
    async with maker.begin() as db:
        await store.save_flow(db, "printers", printers_flow(), actor_id=None)
        await store.create_number(db, SYSTEM, number="4006181234", flow_name="printers",
                                  kind="legacy", label="原期刊订阅热线 / old magazine line")
        await store.update_number(db, SYSTEM, "400-618-1234", {"active": False})
    async with maker() as db:
        entry = await store.resolve_number(db, "4006181234")
    assert (entry.kind, entry.flow_name) == ("unknown", "default")


async def test_flows_are_saved_as_new_versions(maker: Maker) -> None:
    async with maker.begin() as db:
        admin = User(username="root", display_name="管理员", is_admin=True)
        db.add(admin)
        await db.flush()
        first = await store.save_flow(db, "printers", printers_flow(), actor_id=admin.id,
                                      comment="first")
        second_doc = printers_flow()
        second_doc["steps"]["route"]["priority"] = 5
        second_doc["version"] = 99  # ignored: the store numbers versions
        second = await store.save_flow(db, "printers", second_doc, actor_id=admin.id,
                                       comment="priority 5", base_version=1)
        admin_id = admin.id
    assert (first.version, second.version) == (1, 2)
    assert second.document["version"] == 2 and second.document["flow"] == "printers"
    assert second.created_by_id == admin_id and second.comment == "priority 5"
    async with maker() as db:
        flow, version = await store.load_flow(db, "printers")
        assert version == 2 and flow.steps["route"].priority == 5
        versions = await store.flow_versions(db, SYSTEM, "printers")
        assert [v["version"] for v in versions] == [2, 1]
        old = await store.get_flow(db, SYSTEM, "printers", 1)
        assert "priority" not in old["document"]["steps"]["route"]
        entries = (await db.scalars(select(AuditEntry).where(AuditEntry.entity == "ivr_flow")
                                    .order_by(AuditEntry.id))).all()
    assert [(e.action, e.user_id) for e in entries] == [("create", admin_id)] * 2
    assert entries[1].after is not None and entries[1].after["version"] == 2
    assert entries[1].after["document"]["steps"]["route"]["priority"] == 5


async def test_a_stale_edit_is_a_conflict(maker: Maker) -> None:
    async with maker.begin() as db:
        await store.save_flow(db, "printers", printers_flow(), actor_id=None)
        await store.save_flow(db, "printers", printers_flow(), actor_id=None)
    with pytest.raises(Conflict, match="version 2, not 1"):
        async with maker.begin() as db:
            await store.save_flow(db, "printers", printers_flow(), actor_id=None,
                                  base_version=1)
    assert await _count(maker, IvrFlow) == 2


async def test_a_refused_flow_leaves_nothing_behind(maker: Maker) -> None:
    bad = printers_flow()
    bad["steps"]["hello"]["prompt"] = "no_such_prompt"
    bad["steps"]["lost"] = {"type": "play", "prompt": "goodbye", "next": "q"}
    bad["steps"]["route"]["next"] = "nowhere"
    with pytest.raises(FlowError) as refused:
        async with maker.begin() as db:
            await store.save_flow(db, "printers", bad, actor_id=None)
    problems = refused.value.problems
    assert any(p.startswith("step 'hello':") and "no_such_prompt" in p for p in problems)
    assert any(p.startswith("step 'lost':") and "unreachable" in p for p in problems)
    assert any(p.startswith("step 'route':") and "'nowhere'" in p for p in problems)
    assert await _count(maker, IvrFlow) == 0
    assert await _count(maker, AuditEntry) == 0
    async with maker() as db:
        flow, version = await store.load_flow(db, "printers")
    assert (flow.name, version) == ("default", 0)  # never saved: the built-in flow runs


async def test_a_corrupt_stored_flow_falls_back_to_the_default(
    maker: Maker, caplog: pytest.LogCaptureFixture,
) -> None:
    async with maker.begin() as db:
        await store.save_flow(db, "printers", printers_flow(), actor_id=None)
        # what an upgrade with stricter rules, or a hand edit in the database, leaves
        broken = printers_flow()
        broken["steps"]["route"]["next"] = "gone"
        db.add(IvrFlow(name="printers", version=2, document={**broken, "version": 2}))
        db.add(IvrFlow(name="odd", version=1, document={"steps": "not steps"}))
    caplog.set_level(logging.ERROR, logger="ivr.store")
    async with maker() as db:
        flow, version = await store.load_flow(db, "printers")
        assert (flow.name, version) == ("default", 0)
        assert flow.steps["main_menu"].type == "menu"
        flow, version = await store.load_flow(db, "odd")
        assert (flow.name, version) == ("default", 0)
    logged = [r.getMessage() for r in caplog.records]
    assert any("'printers' version 2 no longer validates" in m and "'gone'" in m
               for m in logged), logged
    assert any("'odd' version 1 no longer validates" in m for m in logged), logged


async def test_a_database_fault_still_answers(tmp_path: Path,
                                              caplog: pytest.LogCaptureFixture) -> None:
    # a database without the IVR tables: every query fails, the caller still gets a flow
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path}/empty.db")
    try:
        async with async_sessionmaker(engine)() as db:
            entry = await store.resolve_number(db, "4008001234")
            flow, version = await store.load_flow(db, "default")
    finally:
        await engine.dispose()
    assert (entry.kind, entry.flow_name, entry.number) == ("unknown", "default", "4008001234")
    assert (flow.name, version) == ("default", 0)
    assert any("unreadable" in r.getMessage() for r in caplog.records)


async def test_number_plan_rules(maker: Maker) -> None:
    async with maker.begin() as db:
        made = await store.create_number(db, SYSTEM, number="+86 400-800-1234")
        assert (made["number"], made["kind"], made["flow_name"]) == (
            "4008001234", "400", "default")
        with pytest.raises(Conflict):
            await store.create_number(db, SYSTEM, number="0086 4008001234")
        with pytest.raises(ValidationFailed) as bad:
            await store.create_number(db, SYSTEM, number="8008001234", flow_name="nosuch")
        assert bad.value.field == "flow_name"
        cases: list[tuple[str, dict[str, Any]]] = [
            ("number", {"number": "abc"}),
            ("kind", {"number": "1001", "kind": "vip"}),
            ("queue", {"number": "1001", "queue": "support,r"})]
        for field, kw in cases:
            with pytest.raises(ValidationFailed) as bad:
                await store.create_number(db, SYSTEM, **kw)
            assert bad.value.field == field
        agent = Actor(user_id=None, grants={("ivr", "read"): "all"})
        with pytest.raises(PermissionDenied):
            await store.create_number(db, agent, number="1002")
        assert (await store.list_numbers(db, agent))["total"] == 1
        await store.delete_number(db, SYSTEM, "4008001234")
    assert await _count(maker, IvrNumber) == 0
    actions = await _audit_actions(maker, "ivr_number")
    assert actions == ["create", "delete"]


async def _audit_actions(maker: Maker, entity: str) -> list[str]:
    async with maker() as db:
        return list((await db.scalars(select(AuditEntry.action)
                                      .where(AuditEntry.entity == entity)
                                      .order_by(AuditEntry.id))).all())


# --- the entry-numbers report -------------------------------------------------------------

def _call(n: int, did: str | None, outcome: str, day: int, customer_id: int | None = None
          ) -> CallRecord:
    # 10:00 Shanghai on 2025-06-<day>
    ended = datetime(2025, 6, day, 2, 0, tzinfo=UTC)
    return CallRecord(linkedid=f"c{n}", caller="13800138000", did=did, outcome=outcome,
                      started_at=ended, ended_at=ended, customer_id=customer_id)


async def test_entry_report_counts_calls_per_dialled_number(maker: Maker) -> None:
    await seed_demo(maker)
    async with maker.begin() as db:
        mine = User(username="mgr", display_name="经理")
        db.add(mine)
        await db.flush()
        customer = Customer(name="某某公司", name_key="某某公司", owner_id=mine.id)
        db.add(customer)
        await db.flush()
        calls = [
            _call(1, "4008001234", "answered", 2), _call(2, "4008001234", "answered", 2),
            _call(3, "+864008001234", "abandoned", 3),  # the same number, written otherwise
            _call(4, "4008001234", "transferred", 3, customer.id),
            _call(5, "02154881234", "answered", 2), _call(6, "021-5488 1234", "ivr-only", 4),
            _call(7, "13912345678", "no-answer", 2),  # not in the plan
            _call(8, None, "failed", 2),
            _call(9, "8008301234", "answered", 20),  # outside the period
        ]
        db.add_all(calls)
        mine_id = mine.id
    async with maker() as db:
        rows = await entry_numbers(db, SYSTEM, canonical=canonical_did,
                                   start=date(2025, 6, 2), end=date(2025, 6, 4), lang="en")
    by_number = {r["number"]: r for r in rows}
    assert set(by_number) == {n for n, *_ in NUMBER_PLAN} | {"13912345678", ""}
    main = by_number["4008001234"]
    assert (main["kind"], main["calls"], main["answered"], main["abandoned"]) == (
        "400", 4, 3, 1)
    assert main["first_call"] == datetime(2025, 6, 2, 2, 0, tzinfo=UTC)
    assert main["last_call"] == datetime(2025, 6, 3, 2, 0, tzinfo=UTC)
    printer = by_number["02154881234"]
    assert (printer["kind"], printer["label"], printer["calls"], printer["ivr_only"]) == (
        "legacy", "原打印机维修热线 / old printer repair line", 2, 1)
    assert printer["kind_label"] == "legacy line"
    stranger = by_number["13912345678"]
    assert (stranger["kind"], stranger["in_plan"], stranger["calls"], stranger["abandoned"],
            stranger["label"]) == ("unknown", False, 1, 1, None)
    assert (by_number[""]["kind"], by_number[""]["calls"]) == ("none", 1)
    assert by_number["8008301234"]["calls"] == 0  # outside the period: listed, not dialled
    assert by_number["8008001234"]["calls"] == 0
    assert rows[0]["number"] == "4008001234"  # biggest first

    manager = Actor(user_id=mine_id, grants={("reports", "read"): "own"}, language="zh-CN")
    async with maker() as db:
        own = await entry_numbers(db, manager, canonical=canonical_did)
        with pytest.raises(PermissionDenied):
            await entry_numbers(db, Actor(user_id=mine_id), canonical=canonical_did)
    counted = {r["number"]: r["calls"] for r in own if r["calls"]}
    assert counted == {"4008001234": 1}  # only the call of the manager's own customer
    assert "13912345678" not in {r["number"] for r in own}
    legacy = next(r for r in own if r["number"] == "02154881234")
    assert (legacy["kind_label"], legacy["calls"]) == ("原部门热线", 0)


async def test_entry_report_counts_inbound_calls_only(maker: Maker) -> None:
    """Click-to-dial and callbacks (outbound) change none of the report's figures, even
    with a DID of the plan on the record or for a customer in a manager's scope."""
    await seed_demo(maker)

    async def report() -> list[dict[str, Any]]:
        async with maker() as db:
            return await entry_numbers(db, SYSTEM, canonical=canonical_did,
                                       start=date(2025, 6, 1), end=date(2025, 6, 30))

    async with maker.begin() as db:
        db.add_all([_call(1, "4008001234", "answered", 2), _call(2, "4008001234", "abandoned", 2)])
    before = await report()
    async with maker.begin() as db:
        outbound = [_call(10 + i, did, outcome, 2)
                    for i, (did, outcome) in enumerate([
                        ("4008001234", "answered"), (None, "answered"), (None, "no-answer"),
                        (None, "failed"), ("13912345678", "answered")])]
        for call in outbound:
            call.direction = "outbound"
        db.add_all(outbound)
    assert await report() == before
    main = next(r for r in before if r["number"] == "4008001234")
    assert (main["calls"], main["answered"], main["abandoned"]) == (2, 1, 1)


async def test_the_app_seeds_the_ivr_when_it_starts(db_url: str) -> None:
    from aiohttp import web

    from hotline.app import create_app
    from hotline.settings import Settings

    settings = Settings(database_url=db_url, ami_enabled=False, http_port=0,
                        secret_key="ivr-store-secret",
                        hotline_numbers=["4008001234", "+86 800-800-1234"])
    for _ in range(2):  # a restart adds nothing
        runner = web.AppRunner(create_app(settings), handle_signals=False)
        await runner.setup()
        await runner.cleanup()
    engine = make_engine(db_url)
    try:
        async with async_sessionmaker(engine)() as db:
            numbers = sorted((await db.scalars(select(IvrNumber.number))).all())
            flows = (await db.execute(select(IvrFlow.name, IvrFlow.version))).all()
            entry = await store.resolve_number(db, "800-800-1234")
    finally:
        await engine.dispose()
    assert numbers == ["4008001234", "8008001234"]
    assert [tuple(f) for f in flows] == [("default", 1)]
    assert (entry.kind, entry.flow_name) == ("800", "default")
