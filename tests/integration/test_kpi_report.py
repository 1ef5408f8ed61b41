"""The interval report's database grouping (``crm_core.kpi_report.interval_report``)
gives exactly what ``crm_core.kpi`` gives call by call over the same rows, for every
interval and grouping, on SQLite and PostgreSQL; and its gate."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker

from crm_core import kpi
from crm_core.db import make_engine, upgrade_async
from crm_core.kpi import QueueRules, SpanRow
from crm_core.kpi_report import interval_report, load_calls
from crm_core.models import AgentStateSpan, CallRecord
from crm_core.permissions import SYSTEM, Actor, PermissionDenied

START = datetime(2026, 3, 31, 15, 0, tzinfo=UTC)  # 23:00 in Shanghai, 31 March
RULES = {"*": QueueRules(sl_s=20, short_abandon_s=5), "vip": QueueRules(sl_s=10)}


def rows(n: int, seed: int) -> tuple[list[CallRecord], list[AgentStateSpan]]:
    rnd = random.Random(seed)
    calls, spans = [], []
    for i in range(n):
        ended = START + timedelta(seconds=rnd.randint(0, 3 * 3600),
                                  microseconds=rnd.randint(0, 999_999))
        outcome = rnd.choice(["answered", "transferred", "abandoned", "no-answer", "ivr-only"])
        queued = outcome != "ivr-only"
        queue = rnd.choice(["support", "vip"]) if queued else None
        wait = rnd.randint(0, 90) if queued else None
        agent = rnd.choice(["PJSIP/1001", "PJSIP/1002"]) if outcome in (
            "answered", "transferred") else None
        calls.append(CallRecord(
            linkedid=f"L{i}", direction=rnd.choice(["inbound"] * 9 + ["outbound"]),
            did=rnd.choice(["4008001234", "8008001234", "010-6500 1234"]),
            queues=[queue] if queue else [], queued_at=ended if queued else None,
            agent_interface=agent, outcome=outcome, wait_s=wait,
            talk_s=rnd.randint(1, 600) if agent else None, ended_at=ended))
        if agent:
            spans.append(AgentStateSpan(
                agent_interface=agent, state="wrap-up", linkedid=f"L{i}", started_at=ended,
                ended_at=ended + timedelta(seconds=rnd.randint(1, 60),
                                           microseconds=rnd.randint(0, 999_999))))
    return calls, spans


@pytest.mark.parametrize("interval", kpi.INTERVALS)
async def test_the_grouped_report_equals_the_definitions_call_by_call(
        db_url: str, interval: str) -> None:
    await upgrade_async(db_url)
    engine = make_engine(db_url)
    try:
        calls, spans = rows(400, seed=len(interval))
        span_rows = [kpi.SpanRow(agent=s.agent_interface, state=s.state, linkedid=s.linkedid,
                                 started_at=s.started_at, ended_at=s.ended_at) for s in spans]
        async with async_sessionmaker(engine).begin() as db:
            db.add_all([*calls, *spans])
        end = START + timedelta(hours=4)
        async with async_sessionmaker(engine)() as db:
            loaded = await load_calls(db, START, end)
            for by in ("queue", "did", "agent", "all"):
                got = await interval_report(db, SYSTEM, start=START, end=end,
                                            interval=interval, by=by, rules=RULES)
                wrapup = kpi.wrapup_by_call(span_rows, START, end + timedelta(hours=1))
                inbound = [c for c in loaded if c.direction == "inbound"]
                want = kpi.tally_calls(inbound, RULES, by=kpi.KEYS[by], interval=interval,
                                       wrapup=wrapup)
                expected = [{"interval": slot.isoformat() if slot else None, "key": key,
                             **kpi.call_figures(t)}
                            for (slot, key), t in sorted(want.items(),
                                                         key=lambda i: (i[0][0], str(i[0][1])))]
                for g, e in zip(got, expected, strict=True):
                    assert g == e, (by, {k: (g[k], e[k]) for k in g if g[k] != e[k]})
    finally:
        await engine.dispose()


async def test_the_report_needs_the_reports_right(db_url: str) -> None:
    await upgrade_async(db_url)
    engine = make_engine(db_url)
    try:
        async with async_sessionmaker(engine)() as db:
            with pytest.raises(PermissionDenied):
                await interval_report(db, Actor(user_id=1), start=START, end=START,
                                      interval="day", by="queue", rules=RULES)
            with pytest.raises(ValueError, match="unknown interval"):
                await interval_report(db, SYSTEM, start=START, end=START, interval="week",
                                      by="queue", rules=RULES)
            with pytest.raises(ValueError, match="unknown grouping"):
                await interval_report(db, SYSTEM, start=START, end=START, interval="day",
                                      by="colour", rules=RULES)
    finally:
        await engine.dispose()


def test_span_rows_keep_what_the_log_has() -> None:
    span = AgentStateSpan(agent_interface="a", state="paused", reason="lunch", team="t",
                          started_at=START, ended_at=None)
    assert kpi.span_row(span) == SpanRow(agent="a", state="paused", reason="lunch", team="t",
                                         started_at=START)


async def test_a_call_a_microsecond_before_midnight_is_that_days(db_url: str) -> None:
    """The slot of a call is its whole seconds' (the fraction dropped, never rounded up,
    in both databases): 23:59:59.999999 and 00:00:00.000000 are two days, 14:59:59.999999
    and 15:00:00 two hours."""
    await upgrade_async(db_url)
    engine = make_engine(db_url)
    midnight = datetime(2026, 3, 31, 16, 0, tzinfo=UTC)  # 1 April 00:00 in Shanghai
    tick = timedelta(microseconds=1)
    try:
        async with async_sessionmaker(engine).begin() as db:
            db.add_all([CallRecord(linkedid=f"M{i}", direction="inbound", outcome="ivr-only",
                                   ended_at=at)
                        for i, at in enumerate((midnight - tick, midnight, midnight - tick,
                                                midnight + timedelta(hours=1) - tick))])
        async with async_sessionmaker(engine)() as db:
            days = await interval_report(db, SYSTEM, start=midnight - timedelta(days=1),
                                         end=midnight + timedelta(days=1), interval="day",
                                         by="all", rules=RULES)
            hours = await interval_report(db, SYSTEM, start=midnight - timedelta(days=1),
                                          end=midnight + timedelta(days=1), interval="60m",
                                          by="all", rules=RULES)
        assert [(r["interval"], r["inbound"]) for r in days] == [
            ("2026-03-31T00:00:00+08:00", 2), ("2026-04-01T00:00:00+08:00", 2)]
        assert [(r["interval"], r["inbound"]) for r in hours] == [
            ("2026-03-31T23:00:00+08:00", 2), ("2026-04-01T00:00:00+08:00", 2)]
    finally:
        await engine.dispose()
