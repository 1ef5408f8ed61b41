"""Agent performance aggregated by the database equals the pure definitions (issue 16:
live equals historical), on SQLite and PostgreSQL: a generated day of calls and agent
state spans (spans across both midnights, open spans, zero-length spans, wrap-ups of
answered, abandoned and outbound calls, calls without an agent) is fed one row at a time
into the wallboard's ``kpi_book.Book`` and into the database, and
``agent_report.agent_tallies`` gives every agent the Book's figures, figure by figure;
the agent performance report adds each agent's satisfaction (count and mean)."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_core import agent_report, call_reports, kpi
from crm_core.call_reports import Period
from crm_core.db import make_engine, upgrade_async
from crm_core.kpi import QueueRules
from crm_core.kpi_book import Book
from crm_core.models import AgentStateSpan, CallRecord, Customer, SatisfactionScore, User
from crm_core.permissions import SYSTEM

DAY_START = datetime(2026, 6, 1, 16, 0, tzinfo=UTC)  # 2026-06-02 00:00 in Shanghai
DAY_END = DAY_START + timedelta(days=1)
RULES = {"*": QueueRules(sl_s=20, short_abandon_s=5), "vip": QueueRules(sl_s=10)}
AGENTS = [f"PJSIP/10{n:02d}" for n in range(8)]
OUTCOMES = ["answered", "answered", "answered", "transferred", "abandoned", "no-answer",
            "failed", "ivr-only"]
STATES = ["ready", "paused", "ringing", "talking", "wrap-up", "signed-out"]


@pytest.fixture
async def sessionmaker(db_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    await upgrade_async(db_url)
    engine = make_engine(db_url)
    try:
        yield async_sessionmaker(engine, expire_on_commit=False)
    finally:
        await engine.dispose()


def second(rng: random.Random, lo: datetime, hi: datetime) -> datetime:
    """A whole second in [lo, hi) (the figures are rounded to 0.1 s: see agent_report)."""
    return lo + timedelta(seconds=rng.randrange(int((hi - lo).total_seconds())))


def generated_day(seed: int) -> tuple[list[CallRecord], list[AgentStateSpan]]:
    rng = random.Random(seed)
    calls: list[CallRecord] = []
    spans: list[AgentStateSpan] = []
    lo, hi = DAY_START - timedelta(hours=2), DAY_END + timedelta(hours=2)
    for n in range(600):
        outcome = rng.choice(OUTCOMES)
        queued = outcome != "ivr-only" and rng.random() > 0.05
        answered = outcome in kpi.ANSWERED_OUTCOMES
        agent = rng.choice(AGENTS) if answered or rng.random() < 0.1 else None
        ended = second(rng, lo, hi)
        calls.append(CallRecord(
            linkedid=f"G{seed}-{n}", direction="outbound" if rng.random() < 0.1 else "inbound",
            did=rng.choice(["4008001234", "8008001234"]),
            queues=[rng.choice(["support", "vip"])] if queued and rng.random() > 0.1 else [],
            queued_at=ended - timedelta(minutes=3) if queued else None,
            agent_interface=agent, outcome=outcome, ended_at=ended,
            wait_s=rng.choice([None, 0, 3, 5, 9, 10, 11, 20, 21, 45, 300]) if queued else None,
            talk_s=rng.randrange(0, 900) if answered else None))
        if agent and rng.random() < 0.8:  # its wrap-up, possibly across a midnight
            start = ended + timedelta(seconds=rng.randrange(0, 5))
            spans.append(AgentStateSpan(
                agent_interface=agent, state="wrap-up", linkedid=calls[-1].linkedid,
                started_at=start, ended_at=start + timedelta(seconds=rng.randrange(0, 400))))
    for agent in AGENTS[:-1]:  # the last agent only answers calls: no span
        at = second(rng, lo, DAY_START + timedelta(hours=1))
        while at < hi:
            state = rng.choice(STATES)
            length = timedelta(seconds=rng.choice([0, 1, 59, 600, 3600, 5 * 3600]))
            open_span = rng.random() < 0.03
            spans.append(AgentStateSpan(
                agent_interface=agent, state=state,
                reason=rng.choice([None, "lunch", "午餐", "training"]) if state == "paused"
                else rng.choice([None, None, "ignored"]),
                started_at=at, ended_at=None if open_span else at + length))
            at += length + timedelta(seconds=rng.randrange(0, 30))
    return calls, spans


def book_of(calls: list[CallRecord], spans: list[AgentStateSpan]) -> Book:
    """What the wallboard keeps, fed the calls then the closed spans (as period_book)."""
    book = Book(rules=RULES, start=DAY_START, end=DAY_END)
    for c in calls:
        book.add_call(kpi.call_row(c))
    for s in spans:
        if s.ended_at is not None:
            book.add_span(kpi.span_row(s))
    return book


@pytest.mark.parametrize("seed", [1, 2])
async def test_the_databases_figures_are_the_books(
    sessionmaker: async_sessionmaker[AsyncSession], seed: int
) -> None:
    calls, spans = generated_day(seed)
    book = book_of(calls, spans)
    async with sessionmaker.begin() as db:
        db.add_all([*calls, *spans])
    async with sessionmaker() as db:
        tallies = await agent_report.agent_tallies(db, DAY_START, DAY_END, RULES)
    wanted = book.agents({}, DAY_END, only={a for a in {*book.by_agent, *book.by_agent_calls}
                                            if a})
    assert set(wanted) == set(tallies) == set(AGENTS)
    got = agent_report.agent_figures(tallies)
    for agent in AGENTS:
        assert got[agent] == wanted[agent], agent  # figure by figure
    # the generated day has what the rules are about
    assert any(w["pauses"] for w in wanted.values())
    assert all(w["answered"] > 0 and w["aht_s"] for w in wanted.values())
    assert any(s.ended_at is None for s in spans)
    assert any(s.started_at < DAY_START < (s.ended_at or DAY_END) for s in spans)
    assert any(s.started_at < DAY_END < (s.ended_at or DAY_END + timedelta(days=9))
               for s in spans)


async def test_the_report_adds_satisfaction(
    sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    calls, spans = generated_day(3)
    async with sessionmaker.begin() as db:
        db.add_all([*calls, *spans])
        north = User(username="north", display_name="北", agent_interface=AGENTS[0],
                     team="north")
        quiet = User(username="quiet", display_name="<b>quiet</b>",
                     agent_interface="PJSIP/7777", team="north")
        db.add_all([north, quiet])
        customer = Customer(name="客户", name_key="客户")
        db.add(customer)
        await db.flush()
        inside = DAY_START + timedelta(hours=3)
        db.add_all([
            SatisfactionScore(customer_id=customer.id, agent_id=north.id, score=5,
                              scored_at=inside),
            SatisfactionScore(customer_id=customer.id, agent_id=north.id, score=4,
                              scored_at=inside),
            SatisfactionScore(customer_id=customer.id, agent_id=north.id, score=2,
                              scored_at=inside),
            SatisfactionScore(customer_id=customer.id, agent_id=north.id, score=1,
                              scored_at=DAY_END),  # the next day
            SatisfactionScore(customer_id=customer.id, agent_id=quiet.id, score=3,
                              scored_at=inside),  # no call nor span: still listed
        ])
    async with sessionmaker() as db:
        rows = await call_reports.agents(db, SYSTEM, Period(start=DAY_START, end=DAY_END,
                                                            rules=RULES), now=DAY_END)
    by = {r["agent"]: r for r in rows}
    assert (by[AGENTS[0]]["satisfaction_count"], by[AGENTS[0]]["satisfaction_mean"]) == (
        3, 3.7)
    assert by[AGENTS[0]]["name"] == "北" and by[AGENTS[0]]["answered"] > 0
    assert (by["PJSIP/7777"]["satisfaction_count"], by["PJSIP/7777"]["satisfaction_mean"],
            by["PJSIP/7777"]["answered"]) == (1, 3.0, 0)
    assert (by[AGENTS[1]]["satisfaction_count"], by[AGENTS[1]]["satisfaction_mean"]) == (
        0, None)
    assert set(by) == {*AGENTS, "PJSIP/7777"}
