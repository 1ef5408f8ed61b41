"""Agents on the real PBX: sign-in/out, the preferred agent, console hang-up."""

from __future__ import annotations

from .conftest import Site
from .site import HOTLINE_400, KNOWN


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
