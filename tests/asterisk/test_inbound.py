"""Inbound calls on the real PBX: IVR, queue, agent, call log."""

from __future__ import annotations

from .conftest import Site, pop_then_answer
from .site import HOTLINE_400


async def test_answered_call_is_logged_once_with_its_agent(site: Site) -> None:
    async with site.agent("alice") as alice, alice.socket() as ws:
        await site.ami.setvar("PHONE_1001_TALK", "600")
        # an unknown caller presses 0 (an agent) at the main menu, talks, hangs up
        await site.ami.call_in(HOTLINE_400, "13912345678", "Zhou Min", keys="0", pre=7,
                               hold=20)
        # her console pops the caller (unknown: the quick-create form) before she answers
        pop, _answered = await pop_then_answer(ws)
        rows = await site.hotline.wait_records(1, within=90)
    site.check_replay("inbound-answered", rows)
    [row] = rows
    assert pop["call"]["linkedid"] == row.linkedid
    assert pop["call"]["caller"] == "+8613912345678"
    assert pop["record"]["known"] is False
    assert row.outcome == "answered", row.__dict__
    assert row.agent == "Alice"
    assert row.did == HOTLINE_400
    assert row.caller == "+8613912345678"
    assert row.queues == ["support"]
    assert row.hangup_by == "caller"
    assert (row.talk_s or 0) >= 1


async def test_caller_who_hangs_up_in_the_queue_is_abandoned(site: Site) -> None:
    # nobody signed in: the caller waits in support (joinempty) and gives up
    await site.ami.call_in(HOTLINE_400, "13912345678", "Zhou Min", keys="0", pre=7, hold=6)
    rows = await site.hotline.wait_records(1, within=60)
    site.check_replay("inbound-abandoned", rows)
    [row] = rows
    assert row.outcome == "abandoned", row.__dict__
    assert row.agent is None and row.queues == ["support"]
    assert row.hangup_by == "caller"
    assert row.wait_s is not None and row.wait_s >= 1


async def test_ring_no_answer_then_the_next_agent(site: Site) -> None:
    await site.ami.setvar("PHONE_1001_MODE", "noanswer")
    async with site.hotline.console("alice") as alice, site.hotline.console("bob") as bob:
        assert (await alice.call("POST", "/agent/state", {"action": "sign-in"}))[0] == 202
        assert (await bob.call("POST", "/agent/state", {"action": "sign-in"}))[0] == 202
        for ext in ("1001", "1002"):
            await site.ami.wait_event(lambda m, e=ext: m.get("Event") == "QueueMemberAdded"
                                      and m.get("Queue") == "support" and e in m["Interface"])
        await site.ami.call_in(HOTLINE_400, "13912345678", "Zhou Min", keys="0", pre=7,
                               hold=40)
        rows = await site.hotline.wait_records(1, within=90)
    site.check_replay("inbound-ring-no-answer", rows)
    [row] = rows
    assert row.outcome == "answered", row.__dict__
    assert row.agent == "Bob"
    tried = [(a["agent"], a["result"]) for a in row.agents_tried]
    assert tried == [("Alice", "no-answer"), ("Bob", "answered")], tried


async def test_ivr_down_fails_open_to_the_queue(site: Site) -> None:
    await site.restart_hotline(HOTLINE_AGI_ENABLED="false")
    async with site.hotline.console("alice") as alice:
        assert (await alice.call("POST", "/agent/state", {"action": "sign-in"}))[0] == 202
        await site.ami.call_in(HOTLINE_400, "13912345678", "Zhou Min", hold=10)
        rows = await site.hotline.wait_records(1, within=60)
    site.check_replay("inbound-agi-down", rows)
    [row] = rows
    assert row.outcome == "answered" and row.agent == "Alice"
    assert row.queues == ["support"]
    assert row.ivr.get("HOTLINE_AGI") == "FAILURE", row.ivr


async def test_ivr_hung_fails_open_after_the_deadline(site: Site) -> None:
    """An AGI server that accepts and never answers: TIMEOUT(absolute) cuts it."""
    import asyncio

    await site.restart_hotline(HOTLINE_AGI_ENABLED="false")
    held: list[asyncio.StreamWriter] = []

    async def mute(_r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        held.append(w)

    server = await asyncio.start_server(mute, "127.0.0.1", 4573)
    try:
        await site.ami.setvar("HOTLINE_IVR_MAX_S", "3")
        async with site.hotline.console("alice") as alice:
            assert (await alice.call("POST", "/agent/state", {"action": "sign-in"}))[0] == 202
            await site.ami.call_in(HOTLINE_400, "13912345678", "Zhou Min", hold=12)
            rows = await site.hotline.wait_records(1, within=60)
    finally:
        server.close()
        for w in held:
            w.close()
    site.check_replay("inbound-agi-hung", rows)
    [row] = rows
    assert row.outcome == "answered" and row.agent == "Alice"
    assert row.ivr.get("HOTLINE_AGI") == "TIMEOUT", row.ivr


async def test_burst_of_twenty_callers_each_logged_once(site: Site) -> None:
    for ext in ("1001", "1002", "1003"):
        await site.ami.setvar(f"PHONE_{ext}_TALK", "2")
    async with site.hotline.console("alice") as a, site.hotline.console("bob") as b, \
            site.hotline.console("carol") as c:
        for agent in (a, b, c):
            assert (await agent.call("POST", "/agent/state", {"action": "sign-in"}))[0] == 202
        for i in range(20):
            await site.ami.call_in(HOTLINE_400, f"139000000{i + 1:02d}", f"Burst {i + 1}",
                                   hold=300)
        rows = await site.hotline.wait_records(20, within=240)
    site.check_replay("inbound-burst-20", rows)
    assert len({r.linkedid for r in rows}) == 20
    assert {r.outcome for r in rows} == {"answered"}, [r.outcome for r in rows]
    assert sorted(r.caller for r in rows) == [f"+86139000000{i:02d}" for i in range(1, 21)]


async def test_hotline_restarted_while_a_caller_waits_in_the_queue(site: Site) -> None:
    """Hotline stops (SIGTERM) while the caller waits in support and starts again; an
    agent then answers him: one call record, his, answered, as the capture says."""
    await site.ami.setvar("PHONE_1001_TALK", "3")
    mark = len(site.ami.events)
    caller = await site.ivr_caller("13912345678", "Zhou Min")
    await caller.hears("main_menu")
    await caller.press("0")
    await site.ami.wait_event(lambda m: m.get("Event") == "QueueCallerJoin", start=mark)
    await site.restart_hotline()
    async with site.agent("alice"):
        rows = await site.hotline.wait_records(1, within=90)
    [row] = rows
    assert row.caller == "+8613912345678"
    assert row.outcome == "answered" and row.agent == "Alice", row.__dict__
    assert row.queues == ["support"], row.queues
    site.check_replay("inbound-hotline-restarted-in-queue", rows)
