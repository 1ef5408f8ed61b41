"""A supervisor on the real PBX (issue 16 item 4): a caller talks to Alice; the hotline
supervisor listens, then barges in, from the live page's API. Hotline originates
Local/<her ext>@supervisor-phone/n into [supervise] (deploy/asterisk as shipped), her
phone (a rig phone) answers and ChanSpy runs on Alice's leg of the call.

Asserted: Asterisk's ChanSpyStart names Alice's leg of the call and the ChanSpy options of
each mode; the call record is the call's alone, with one agent (no record, transfer or
second agent from the spy sessions); each spy session ends with the call (ChanSpyStop,
its channels hung up); the replay of the capture gives the same row."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import async_sessionmaker

from crm_core.db import make_engine
from crm_core.models import User
from crm_core.users import ensure_roles
from tests.integration.test_api_support import FAST_HASHER, PASSWORD

from .conftest import Site
from .site import HOTLINE_400, interface

SUPERVISOR_EXT = "1009"
SPY_PHONE = f"Local/{SUPERVISOR_EXT}@supervisor-phone-"


async def add_supervisor(db_url: str) -> None:
    """zhao, the hotline supervisor, whose desk phone is extension 1009 (a rig phone:
    it answers after PHONE_1009_RING seconds)."""
    engine = make_engine(db_url)
    try:
        async with async_sessionmaker(engine).begin() as db:
            roles = await ensure_roles(db)
            db.add(User(username="zhao", display_name="赵敏", team="hotline",
                        password_hash=FAST_HASHER.hash(PASSWORD),
                        role_id=roles["hotline_supervisor"],
                        agent_interface=f"PJSIP/{SUPERVISOR_EXT}"))
    finally:
        await engine.dispose()


async def test_supervisor_listens_then_barges_into_alices_call(site: Site) -> None:
    await add_supervisor(site.hotline.db_url)
    async with site.agent("alice") as alice, site.hotline.console("zhao") as zhao:
        mark = len(site.ami.events)
        await site.ami.call_in(HOTLINE_400, "13912345678", "Zhou Min", keys="0", pre=7,
                               hold=600)
        connect = await site.ami.wait_event(lambda m: m.get("Event") == "AgentConnect",
                                            start=mark, within=60)
        linkedid, leg = connect["Linkedid"], connect["DestChannel"]
        assert connect["Interface"] == interface("1001")

        starts = []
        for mode, options in (("listen", "qudES"), ("barge", "qudESB")):
            seen = len(site.ami.events)
            status, body = await zhao.call("POST", f"/supervise/calls/{linkedid}",
                                           {"mode": mode})
            assert status == 202, body
            start = await site.ami.wait_event(
                lambda m: m.get("Event") == "ChanSpyStart", start=seen, within=30)
            assert start["SpyeeChannel"] == leg, start
            assert start["SpyeeLinkedid"] == linkedid
            assert start["SpyerChannel"].startswith(SPY_PHONE), start
            assert start["SpyerLinkedid"] != linkedid  # a session of its own
            assert (start["SpyerContext"], start["SpyerExten"]) == ("supervise", mode)
            spy_app = [m.get("AppData", "") for m in site.ami.events[seen:]
                       if m.get("Event") == "Newexten" and m.get("Application") == "ChanSpy"]
            assert spy_app == [f"{leg},{options}"], spy_app
            starts.append(start)

        status, body = await alice.call("POST", f"/calls/{linkedid}/hangup")
        assert status == 202, body
        rows = await site.hotline.wait_records(1, within=60)
        for start in starts:  # each session ended with the call (option E)
            await site.ami.wait_event(lambda m, s=start: m.get("Event") == "ChanSpyStop"
                                      and m.get("SpyerChannel") == s["SpyerChannel"],
                                      start=mark, within=30)
            await site.ami.wait_event(lambda m, s=start: m.get("Event") == "Hangup"
                                      and m.get("Channel") == s["SpyerChannel"],
                                      start=mark, within=30)
        records = await site.hotline.records()
    site.check_replay("supervise-listen-barge", rows)
    assert [r.linkedid for r in records] == [linkedid]  # the sessions are no calls
    [row] = rows
    assert (row.outcome, row.agent, row.hangup_by) == ("answered", "Alice", "agent"), \
        row.__dict__
    assert [a["interface"] for a in row.agents_tried] == [interface("1001")]
    assert not any(SPY_PHONE in str(a) for a in row.agents_tried)
