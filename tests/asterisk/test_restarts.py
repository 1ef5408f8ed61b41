"""Restarts on the real PBX: Asterisk restarted under a running Hotline (issue 12 item 7)."""

from __future__ import annotations

import asyncio

from .conftest import Site
from .driver import AmiDriver
from .site import HOTLINE_400


async def test_asterisk_restart_resyncs_once_booted(site: Site) -> None:
    await site.ami.close()
    await site.rig.stop()
    await site.rig.start()  # Hotline logs in again while Asterisk is still loading
    site.ami = AmiDriver()
    await site.ami.connect()
    try:
        await site.hotline_connected(within=60)
        async with site.hotline.console("alice") as alice:
            assert (await alice.call("POST", "/agent/state", {"action": "sign-in"}))[0] == 202
            await site.ami.call_in(HOTLINE_400, "13912345678", "Zhou Min", keys="0", pre=7,
                                   hold=15)
            [row] = await site.hotline.wait_records(1, within=90)
    finally:
        # the site fixture closes the driver it made (closed above), not this one: left
        # open, its socket is collected during the next test (an unraisable warning)
        await site.ami.close()
    assert row.outcome == "answered" and row.agent == "Alice"
    log = site.hotline.log.read_text()
    assert "QueueStatus refused" not in log, log[-3000:]
    assert "callback step failed" not in log, log[-3000:]


async def test_hotline_killed_mid_call_logs_the_adopted_call_with_its_data(site: Site) -> None:
    """Issue 12 item 8: ``hotline serve`` is killed while a caller who went through the
    IVR talks to Alice; the restarted one adopts the call from its resync and, when the
    call ends, logs it with the IVR's variables, the recording and sane times."""
    async with site.hotline.console("alice") as alice:
        assert (await alice.call("POST", "/agent/state", {"action": "sign-in"}))[0] == 202
    await site.ami.setvar("PHONE_1001_TALK", "600")
    await site.ami.call_in(HOTLINE_400, "13912345678", "Zhou Min", keys="0", pre=7, hold=30)
    connect = await site.ami.wait_event(
        lambda m: m.get("Event") == "AgentConnect" and m.get("Queue") == "support", within=60)
    await site.restart_hotline(kill=True)
    [row] = await site.hotline.wait_records(1, within=90)
    site.save_capture("restart-hotline-mid-call")
    assert row.linkedid == connect["Linkedid"]
    assert (row.outcome, row.agent, row.queues) == ("answered", "Alice", ["support"]), \
        row.__dict__
    assert row.ivr.get("HOTLINE_IVR_PATH", "").endswith("to_agent,queue"), row.ivr
    assert row.ivr.get("HOTLINE_DIGITS") == "0" and row.ivr.get("QUEUE") == "support"
    assert row.recording, row.__dict__
    assert (site.rig.recordings / row.recording).is_file()
    started, queued, answered, ended = (row.started_at, row.queued_at, row.answered_at,
                                        row.ended_at)
    assert started and queued and answered and ended, row.__dict__
    assert started <= queued <= answered <= ended, row.__dict__


async def test_calls_that_end_while_hotline_is_down_are_logged_from_the_journal(
        site: Site) -> None:
    """Issue 13 item 2: ``hotline serve`` is killed while Alice talks to a caller; while
    it is down that call ends, Bob answers another (no IVR: the dialplan queues callers
    without it) and a third caller gives up waiting. Started again with Asterisk's CEL
    journal (deploy/asterisk/cel.conf + cel_custom.conf), it logs all three from it."""
    journal = {"HOTLINE_PBX_JOURNAL": str(site.rig.journal)}
    await site.restart_hotline(**journal)
    for user in ("alice", "bob"):
        async with site.agent(user):
            pass
    await site.ami.setvar("PHONE_1001_TALK", "12")
    await site.ami.setvar("PHONE_1002_TALK", "12")
    await site.ami.call_in(HOTLINE_400, "13912345678", "Zhou Min", keys="0", pre=7, hold=120)
    first = await site.ami.wait_event(
        lambda m: m.get("Event") == "AgentConnect" and m.get("Queue") == "support", within=60)
    await site.hotline.stop(kill=True)
    mark = len(site.ami.events)
    await site.ami.call_in(HOTLINE_400, "13912345670", "Li Lei", pre=1, hold=120)
    second = await site.ami.wait_event(
        lambda m: m.get("Event") == "AgentConnect" and m.get("Linkedid") != first["Linkedid"],
        within=60, start=mark)
    await site.ami.call_in(HOTLINE_400, "13912345671", "Wu Fei", pre=1, hold=4)
    third = await site.ami.wait_event(
        lambda m: m.get("Event") == "QueueCallerAbandon", within=60, start=mark)
    for linkedid in (first["Linkedid"], second["Linkedid"], third["Linkedid"]):
        await site.ami.wait_event(lambda m, lid=linkedid: m.get("Event") == "Hangup"
                                  and m.get("Uniqueid") == lid, within=60)
    await site.hotline.start()
    await site.hotline_connected()
    rows = {r.linkedid: r for r in await site.hotline.wait_records(3, within=60)}
    site.save_capture("restart-hotline-journal")
    got = {lid: (rows[lid].outcome, rows[lid].agent, rows[lid].queues, rows[lid].caller)
           for lid in rows}
    assert got == {
        first["Linkedid"]: ("answered", "Alice", ["support"], "+8613912345678"),
        second["Linkedid"]: ("answered", "Bob", ["support"], "+8613912345670"),
        third["Linkedid"]: ("abandoned", None, ["support"], "+8613912345671"),
    }, {lid: r.__dict__ for lid, r in rows.items()}
    assert "journal read since" in site.hotline.log.read_text()


async def test_an_outbound_call_that_ends_while_hotline_is_down_is_logged_from_the_journal(
        site: Site) -> None:
    """Issue 13 item 2, outbound: Alice (in no queue) clicks to dial a customer; Hotline
    is killed while the customer's phone rings; he answers, talks and hangs up while it is
    down. Started again, it logs the call from Asterisk's journal as the tracker would
    have: outbound, answered, the number dialled, Alice (her phone's user), the customer
    hung up."""
    customer = "13700137000"
    await site.restart_hotline(HOTLINE_PBX_JOURNAL=str(site.rig.journal))
    await site.ami.setvar(f"CUST_{customer}_RING", "4")
    await site.ami.setvar(f"CUST_{customer}_TALK", "5")
    await site.ami.setvar("PHONE_1001_TALK", "600")
    mark = len(site.ami.events)
    async with site.hotline.console("alice") as alice:
        status, body = await alice.call("POST", "/calls/dial", {"number": customer})
        assert status == 202, body
        dialled = await site.ami.wait_event(
            lambda m: m.get("Event") == "DialBegin"
            and m.get("DestChannel", "").startswith(f"Local/{customer}@"), within=60,
            start=mark)
    await site.hotline.stop(kill=True)
    linkedid = dialled["Linkedid"]
    await site.ami.wait_event(lambda m: m.get("Event") == "Hangup"
                              and m.get("Uniqueid") == linkedid, within=60, start=mark)
    await site.hotline.start()
    await site.hotline_connected()
    [row] = await site.hotline.wait_records(1, within=60)
    site.save_capture("restart-hotline-outbound-journal")
    assert (row.linkedid, row.direction, row.outcome, row.caller, row.agent,
            row.agent_interface, row.hangup_by) == (
        linkedid, "outbound", "answered", "+86" + customer, "Alice", "Local/1001@agents/n",
        "customer"), row.__dict__
    assert row.answered_at is not None and row.talk_s is not None and 4 <= row.talk_s <= 6
    assert "'recovered': 1" in site.hotline.log.read_text()


async def _snapshot(site: Site) -> None:
    """The lists Hotline's resync asks for (CoreShowChannels, Status with every variable),
    asked on the test's own AMI session: their replies are in the scenario's capture, what
    a real Asterisk says of an outbound call's channels (the simulator must say the same)."""
    for action, fields in (("CoreShowChannels", {}), ("Status", {"AllVariables": "true"})):
        mark = len(site.ami.events)
        reply = await site.ami.action(action, **fields)
        assert reply.get("Response") == "Success", reply
        done = ("CoreShowChannelsComplete" if action == "CoreShowChannels"
                else "StatusComplete")
        await site.ami.wait_event(lambda m, d=done, a=reply["ActionID"]: m.get("Event") == d
                                  and m.get("ActionID") == a, start=mark)


async def test_a_click_to_dial_up_across_a_restart_is_adopted_and_logged_once(
        site: Site) -> None:
    """Issue 13 items 1-2, outbound: ``hotline serve`` is killed while Alice talks to the
    customer she clicked to dial; started again while they still talk, its resync adopts
    the call (before: only inbound calls were, and this one was never logged). When the
    customer hangs up it is logged once, as the tracker logs a call it watched whole:
    outbound, answered, the number, Alice, the customer hung up, the Originate's
    variables; the journal read at the start does not log it again."""
    customer = "13700137000"
    await site.restart_hotline(HOTLINE_PBX_JOURNAL=str(site.rig.journal))
    await site.ami.setvar(f"CUST_{customer}_RING", "2")
    await site.ami.setvar(f"CUST_{customer}_TALK", "25")
    await site.ami.setvar("PHONE_1001_TALK", "600")
    mark = len(site.ami.events)
    async with site.hotline.console("alice") as alice:
        status, body = await alice.call("POST", "/calls/dial", {"number": customer})
        assert status == 202, body
        answer = await site.ami.wait_event(
            lambda m: m.get("Event") == "DialEnd" and m.get("DialStatus") == "ANSWER"
            and m.get("DestChannel", "").startswith(f"Local/{customer}@"), within=60,
            start=mark)
    linkedid = answer["Linkedid"]
    await site.hotline.stop(kill=True)
    await _snapshot(site)
    await site.hotline.start()
    await site.hotline_connected()
    try:
        await site.ami.wait_event(lambda m: m.get("Event") == "Hangup"
                                  and m.get("Uniqueid") == linkedid, within=60, start=mark)
        [row] = await site.hotline.wait_records(1, within=60)
        await asyncio.sleep(2)  # a second record (the journal's) would come now
        assert len(await site.hotline.records()) == 1
    finally:  # kept whatever happens: the real PBX's snapshot of an outbound call
        site.save_capture("restart-hotline-outbound-answered")
    assert (row.linkedid, row.direction, row.outcome, row.caller, row.agent,
            row.agent_interface, row.hangup_by) == (
        linkedid, "outbound", "answered", "+86" + customer, "Alice", "Local/1001@agents/n",
        "customer"), row.__dict__
    assert row.ivr.get("HOTLINE_ORIGINATED_BY") == "alice", row.ivr
    assert row.ivr.get("HOTLINE_DIALLED") == customer, row.ivr
    started, answered, ended = row.started_at, row.answered_at, row.ended_at
    assert started and answered and ended and started <= answered <= ended, row.__dict__
    # the customer talked 25 s: adopted, the answer is known to the customer leg's age
    # (its ring, 2 s, at most early)
    assert row.talk_s is not None and 24 <= row.talk_s <= 28, row.__dict__
    assert "'recovered': 0" in site.hotline.log.read_text()


async def test_a_click_to_dial_ringing_across_a_restart_is_adopted_and_logged_once(
        site: Site) -> None:
    """The same while the customer's phone still rings: adopted ringing, then the live
    events say he answered (the ring measured from when his leg was dialled)."""
    customer = "13700137000"
    await site.restart_hotline(HOTLINE_PBX_JOURNAL=str(site.rig.journal))
    await site.ami.setvar(f"CUST_{customer}_RING", "15")
    await site.ami.setvar(f"CUST_{customer}_TALK", "5")
    await site.ami.setvar("PHONE_1001_TALK", "600")
    mark = len(site.ami.events)
    async with site.hotline.console("alice") as alice:
        status, body = await alice.call("POST", "/calls/dial", {"number": customer})
        assert status == 202, body
        dialled = await site.ami.wait_event(
            lambda m: m.get("Event") == "DialBegin"
            and m.get("DestChannel", "").startswith(f"Local/{customer}@"), within=60,
            start=mark)
    linkedid = dialled["Linkedid"]
    await site.hotline.stop(kill=True)
    await _snapshot(site)
    await site.hotline.start()
    await site.hotline_connected()
    try:
        await site.ami.wait_event(lambda m: m.get("Event") == "Hangup"
                                  and m.get("Uniqueid") == linkedid, within=60, start=mark)
        [row] = await site.hotline.wait_records(1, within=60)
        await asyncio.sleep(2)
        assert len(await site.hotline.records()) == 1
    finally:  # kept whatever happens: the real PBX's snapshot of an outbound call
        site.save_capture("restart-hotline-outbound-ringing")
    assert (row.linkedid, row.direction, row.outcome, row.caller, row.agent,
            row.hangup_by) == (linkedid, "outbound", "answered", "+86" + customer, "Alice",
                               "customer"), row.__dict__
    assert row.ring_s is not None and 14 <= row.ring_s <= 17, row.__dict__
    assert row.talk_s is not None and 4 <= row.talk_s <= 6, row.__dict__


async def test_a_callback_ringing_the_agent_across_a_restart_is_adopted_and_logged_once(
        site: Site) -> None:
    """A callback's Originate (its Linkedid the claim token ``hlcb-...``) rings Alice's
    phone when ``hotline serve`` is killed; the restarted one adopts it ringing (her
    phone's pop), she answers, the customer answers, talks and hangs up: logged once,
    answered, the callback's number and variables; the worker closes the callback."""
    customer = "13600136000"
    await site.restart_hotline(HOTLINE_PBX_JOURNAL=str(site.rig.journal),
                               HOTLINE_CALLBACK_RETRY_S="3600", HOTLINE_CALLBACK_POLL_S="0.2",
                               HOTLINE_CALLBACK_AGENT_RING_S="40")
    await site.ami.setvar("PHONE_1001_RING", "14")
    await site.ami.setvar("PHONE_1001_TALK", "600")
    await site.ami.setvar(f"CUST_{customer}_RING", "2")
    await site.ami.setvar(f"CUST_{customer}_TALK", "5")
    mark = len(site.ami.events)
    async with site.hotline.console("alice") as alice:
        assert (await alice.call("POST", "/agent/state", {"action": "sign-in"}))[0] == 202
        status, body = await alice.call("POST", "/callbacks", {"phone": customer})
        assert status in (200, 201), body
        ringing = await site.ami.wait_event(
            lambda m: m.get("Event") == "DialBegin"
            and m.get("Linkedid", "").startswith("hlcb-")
            and m.get("DestChannel", "").startswith("Local/1001@rig-phones"), within=60,
            start=mark)
    linkedid = ringing["Linkedid"]
    await site.hotline.stop(kill=True)
    await _snapshot(site)
    await site.hotline.start()
    await site.hotline_connected()
    try:
        await site.ami.wait_event(lambda m: m.get("Event") == "Hangup"
                                  and m.get("Uniqueid") == linkedid, within=60, start=mark)
        [row] = await site.hotline.wait_records(1, within=60)
        await asyncio.sleep(2)  # a second record (the journal's) would come now
        assert len(await site.hotline.records()) == 1
    finally:
        site.save_capture("restart-hotline-callback-ringing")
    assert (row.linkedid, row.direction, row.outcome, row.caller, row.agent,
            row.hangup_by) == (linkedid, "outbound", "answered", "+86" + customer, "Alice",
                               "customer"), row.__dict__
    assert row.ivr.get("HOTLINE_CALLBACK") == linkedid, row.ivr
    assert row.ring_s is not None and 1 <= row.ring_s <= 4, row.__dict__
    assert row.talk_s is not None and 4 <= row.talk_s <= 6, row.__dict__
    done = await site.hotline.wait_callback(lambda r: r.state == "done", within=30)
    assert done.last_result == "answered", (done.state, done.last_result, done.history)
