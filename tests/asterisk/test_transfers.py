"""Transfers on the real PBX, from the agent console: blind and attended, to an agent
(through her personal queue: she gets the pop), to a queue and to a number."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.integration.console_support import frame_where

from .conftest import Site
from .site import HOTLINE_400

NUMBER = "02155551234"


async def _answered_by_alice(site: Site, alice: Any) -> str:
    assert (await alice.call("POST", "/agent/state", {"action": "sign-in"}))[0] == 202
    await site.ami.call_in(HOTLINE_400, "13912345678", "Zhou Min", keys="0", pre=7,
                           hold=40)
    connect = await site.ami.wait_event(
        lambda m: m.get("Event") == "AgentConnect" and m.get("Queue") == "support", within=60)
    await asyncio.sleep(1)  # the console sees the call as talking
    return connect["Linkedid"]


@pytest.mark.parametrize(("mode", "kind", "value"), [
    ("blind", "agent", "bob"),
    ("attended", "agent", "bob"),
    ("blind", "queue", "vip"),
    ("blind", "number", NUMBER),
])
async def test_transfer(site: Site, mode: str, kind: str, value: str) -> None:
    await site.ami.setvar("PHONE_1002_TALK", "4")
    await site.ami.setvar(f"CUST_{NUMBER}_TALK", "4")
    if mode == "attended":
        # Alice hangs up once Bob has answered her consult call: the transfer completes
        await site.ami.setvar("PHONE_1001_TALK", "6")
        await site.ami.setvar("PHONE_1002_TALK", "12")
    async with site.hotline.console("alice") as alice, site.hotline.console("bob") as bob:
        linkedid = await _answered_by_alice(site, alice)
        if kind != "number":  # only now, so that the caller is Alice's
            assert (await bob.call("POST", "/agent/state", {"action": "sign-in"}))[0] == 202
            await site.ami.wait_event(lambda m: m.get("Event") == "QueueMemberAdded"
                                      and m.get("Queue") == "agent-1002")
        mark = len(site.ami.events)
        async with bob.socket() as bob_ws:
            status, body = await alice.call(
                "POST", f"/calls/{linkedid}/transfer",
                {"mode": mode, "target": {"kind": kind, "value": value}})
            assert status == 202, body
            if kind == "agent":
                # Bob is reached through his personal queue: AgentCalled pops his console.
                # An attended transfer dials at once ('#' ends the number; without it
                # Asterisk waits transferdigittimeout, 5 s, with the caller on hold: item 14)
                await site.ami.wait_event(lambda m: m.get("Event") == "AgentCalled"
                                          and m.get("Queue") == "agent-1002", within=4,
                                          start=mark)
                # the transferred caller pops on Bob's console, with the CALLER's data
                pop = await frame_where(bob_ws, lambda f: f["type"] == "pop", within=10)
                assert (pop["call"]["linkedid"], pop["call"]["caller"],
                        pop["call"]["caller_name"]) == (linkedid, "+8613912345678",
                                                        "Zhou Min"), pop["call"]
                assert pop["call"]["ivr"].get("HOTLINE_IVR_PATH"), pop["call"]
            rows = await site.hotline.wait_records(1, within=90)
    site.check_replay(f"transfer-{mode}-{kind}", rows)
    [row] = rows
    assert row.linkedid == linkedid
    assert row.outcome == "transferred", row.__dict__
    assert [t["kind"] for t in row.transfers] == [mode], row.transfers
    if kind == "agent":
        assert "agent-1002" in row.queues, row.queues
        answered = [a for a in row.agents_tried if a["result"] == "answered"]
        assert [a["agent"] for a in answered] == ["Alice", "Bob"], row.agents_tried
        assert all(a["ring_ms"] is not None and a["talk_s"] for a in answered), answered
