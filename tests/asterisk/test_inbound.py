"""Inbound calls on the real PBX: IVR, queue, agent, call log."""

from __future__ import annotations

from .conftest import Site
from .site import HOTLINE_400


async def test_answered_call_is_logged_once_with_its_agent(site: Site) -> None:
    async with site.hotline.console("alice") as alice:
        status, body = await alice.call("POST", "/agent/state", {"action": "sign-in"})
        assert status == 202, body
        await site.ami.setvar("PHONE_1001_TALK", "600")
        # an unknown caller presses 0 (an agent) at the main menu, talks, hangs up
        await site.ami.call_in(HOTLINE_400, "13912345678", "Zhou Min", keys="0", pre=7,
                               hold=20)
        rows = await site.hotline.wait_records(1, within=90)
    site.save_capture("inbound-answered")
    [row] = rows
    assert row.outcome == "answered", row.__dict__
    assert row.agent == "Alice"
    assert row.did == HOTLINE_400
    assert row.caller == "+8613912345678"
    assert row.queues == ["support"]
    assert row.hangup_by == "caller"
    assert (row.talk_s or 0) >= 1
