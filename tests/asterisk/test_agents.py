"""Agents on the real PBX: sign-in, pause, ready, sign-out as the console shows them; the
preferred agent answering, busy, not answering; pops; console hang-up."""

from __future__ import annotations

import asyncio
import re

from tests.integration.console_support import frame_where, state_is

from .conftest import Site, pop_then_answer
from .site import HOTLINE_400, KNOWN, interface

UNKNOWN = "13912345678"


async def test_sign_out_leaves_every_queue(site: Site) -> None:
    async with site.hotline.console("alice") as alice:
        assert (await alice.call("POST", "/agent/state", {"action": "sign-in"}))[0] == 202
        await site.ami.wait_event(lambda m: m.get("Event") == "QueueMemberAdded"
                                  and m.get("Queue") == "vip")
        status, body = await alice.call("POST", "/agent/state", {"action": "sign-out"})
        assert status == 202, body
    for queue in ("support", "vip"):
        out = await site.rig.cli(f"queue show {queue}")
        assert "Alice" not in out, out


async def test_console_hang_up_is_the_agents(site: Site) -> None:
    async with site.hotline.console("alice") as alice:
        assert (await alice.call("POST", "/agent/state", {"action": "sign-in"}))[0] == 202
        await site.ami.call_in(HOTLINE_400, "13912345678", "Zhou Min", keys="0", pre=7,
                               hold=600)
        connect = await site.ami.wait_event(lambda m: m.get("Event") == "AgentConnect",
                                            within=60)
        status, body = await alice.call("POST", f"/calls/{connect['Linkedid']}/hangup")
        assert status == 202, body
        rows = await site.hotline.wait_records(1, within=60)
    site.check_replay("inbound-console-hangup", rows)
    [row] = rows
    assert row.outcome == "answered"
    assert row.hangup_by == "agent", row.__dict__


async def test_wait_counts_the_preferred_agents_ring(site: Site) -> None:
    """A VIP rings his account manager Carol (who does not answer) for 15 s, then waits
    in the IVR's queue until Alice answers: his wait is from the first queue."""
    await site.ami.setvar("PHONE_1003_MODE", "noanswer")
    async with site.hotline.console("carol") as carol, site.hotline.console("alice") as alice:
        assert (await carol.call("POST", "/agent/state", {"action": "sign-in"}))[0] == 202
        assert (await alice.call("POST", "/agent/state", {"action": "sign-in"}))[0] == 202
        await site.ami.wait_event(lambda m: m.get("Event") == "QueueMemberAdded"
                                  and "1001" in m.get("Interface", ""))
        await site.ami.call_in(HOTLINE_400, KNOWN, "Wang Fang", keys="0", pre=9, hold=45)
        rows = await site.hotline.wait_records(1, within=120)
    site.check_replay("inbound-preferred-agent-no-answer", rows)
    [row] = rows
    assert row.outcome == "answered", row.__dict__
    assert row.agent == "Alice"
    assert "agent-1003" in row.queues, row.queues
    assert row.wait_s is not None and row.wait_s >= 15, row.__dict__


async def test_preferred_agent_answers_her_vip_with_his_record_popped(site: Site) -> None:
    """The VIP presses 0: his account manager Carol, free, is offered the call first
    (her personal queue); her console pops his record before she answers."""
    await site.ami.setvar("PHONE_1003_TALK", "3")
    async with site.agent("carol") as carol, site.agent("alice"), carol.socket() as ws:
        caller = await site.ivr_caller(KNOWN, "Wang Fang")
        await caller.hears("main_menu")
        await caller.press("0")
        pop, _answered = await pop_then_answer(ws)
        [row] = await site.hotline.wait_records(1, within=60)
    site.check_replay("inbound-preferred-agent-answers", [row])
    assert row.outcome == "answered", row.__dict__
    assert row.agent == "Carol"
    assert "agent-1003" in row.queues, row.queues
    assert pop["call"]["linkedid"] == row.linkedid
    assert pop["call"]["caller"] == "+86" + KNOWN
    assert pop["record"]["known"] is True
    assert pop["record"]["customer"]["id"] == site.seeded.known_customer


async def test_busy_preferred_agent_is_not_waited_for(site: Site) -> None:
    """Carol is on another call: her VIP is not kept for her; Alice answers him from
    support at once."""
    async with site.agent("carol"):
        first = await site.ivr_caller(UNKNOWN, "Zhou Min")
        await first.hears("main_menu")
        await first.press("0")
        await site.ami.wait_event(lambda m: m.get("Event") == "AgentConnect"
                                  and "1003" in m.get("Interface", ""), within=60)
        await site.ami.setvar("PHONE_1001_TALK", "3")
        async with site.agent("alice") as alice, alice.socket() as ws:
            mark = len(site.ami.events)
            vip = await site.ivr_caller(KNOWN, "Wang Fang")
            await vip.hears("main_menu")
            await vip.press("0")
            pop, _answered = await pop_then_answer(ws)
            [row] = await site.hotline.wait_records(1, within=60)
        await first.hang_up()
        rows = await site.hotline.wait_records(2, within=60)
    site.check_replay("inbound-preferred-agent-busy", rows)
    assert row.caller == "+86" + KNOWN and pop["call"]["linkedid"] == row.linkedid
    assert row.outcome == "answered" and row.agent == "Alice", row.__dict__
    rang = [m.get("Interface") for m in site.ami.events[mark:]
            if m.get("Event") == "AgentCalled" and m.get("Linkedid") == row.linkedid]
    assert rang == [interface("1001")], rang
    # not kept ringing (nor waiting for) a busy agent: HOTLINE_PREFERRED_RING_S is 15 s
    assert row.wait_s is not None and row.wait_s < 10, row.__dict__


async def test_states_from_sign_in_to_sign_out(site: Site) -> None:
    """What Alice's console shows, and what Asterisk has of her, as she signs in,
    pauses (a call then waits for her), is ready again and signs out."""
    await site.ami.setvar("PHONE_1001_TALK", "3")
    async with site.agent("alice", sign_in=False) as alice, alice.socket() as ws:
        # never signed in: not ready, whatever Asterisk thinks of her phone
        await frame_where(ws, state_is("signed-out"))
        assert (await alice.call("GET", "/agent/state"))[1]["state"] == "signed-out"
        await site.sign_in(alice, "alice")
        await frame_where(ws, state_is("ready"))
        status, body = await alice.call("POST", "/agent/state",
                                        {"action": "pause", "reason": "Lunch"})
        assert status == 202, body
        paused = await frame_where(ws, state_is("paused"))
        assert paused["reason"] == "Lunch", paused
        shown = await site.rig.cli("queue show support")
        assert re.search(r"Alice.*paused:Lunch", shown, re.IGNORECASE), shown
        # a caller now waits in support: she is not rung while paused
        mark = len(site.ami.events)
        caller = await site.ivr_caller(UNKNOWN, "Zhou Min")
        await caller.hears("main_menu")
        await caller.press("0")
        await site.ami.wait_event(lambda m: m.get("Event") == "QueueCallerJoin", start=mark,
                                  within=30)
        await asyncio.sleep(5)  # longer than the queue's retry: she would have been rung
        assert not [m for m in site.ami.events[mark:] if m.get("Event") == "AgentCalled"]
        status, body = await alice.call("POST", "/agent/state", {"action": "ready"})
        assert status == 202, body
        await frame_where(ws, state_is("ready"))
        await site.ami.wait_event(lambda m: m.get("Event") == "AgentCalled", start=mark)
        [row] = await site.hotline.wait_records(1, within=60)
        status, body = await alice.call("POST", "/agent/state", {"action": "sign-out"})
        assert status == 202, body
        await frame_where(ws, state_is("signed-out"))
    site.check_replay("agent-states", [row])
    assert row.outcome == "answered" and row.agent == "Alice", row.__dict__
    assert row.wait_s is not None and row.wait_s >= 5, row.__dict__
    for queue in ("support", "vip", "agent-1001"):
        shown = await site.rig.cli(f"queue show {queue}")
        assert "Alice" not in shown, shown
