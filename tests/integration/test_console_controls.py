"""The agent console's controls end to end: REST over HTTP -> AMI over TCP -> the PBX
simulator -> AMI events -> tracker -> bus -> agent board -> websocket frames.

Everything real: the app connects to the simulator like to Asterisk; agents sign in
over HTTP with the CSRF token and listen on their websocket. Assertions are about
what the PBX received and what came back, never about durations.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from hotline.app import AMI, CALL_LOG
from telephony.personal_queues import personal_queue
from telephony.simulator import AgentSpec, CallScript, PbxSimulator
from tests.integration.console_support import (
    ALICE,
    BOB,
    KNOWN_CALLER,
    TIME_SCALE,
    Console,
    Frame,
    audit_entries,
    console,
    eventually,
    frame_where,
    long_call,
    member_of,
    recv,
    running,
    seed,
    state_is,
)


def of_type(kind: str, linkedid: str | None = None) -> Any:
    return lambda f: f["type"] == kind and (linkedid is None or f.get("linkedid") == linkedid)


async def signed_in_and_ready(agent: Console, ws: Any) -> None:
    assert (await recv(ws))["type"] == "hello"
    status, _ = await agent.call("POST", "/agent/state", {"action": "sign-in"})
    assert status == 202
    await frame_where(ws, state_is("ready"))


async def answered_call(agent: Console, ws: Any, sim: PbxSimulator, **kw: Any) -> str:
    """A long call rings the agent and is answered; its linkedid."""
    call = long_call(sim, **kw)
    await frame_where(ws, of_type("answered"))
    _, state = await agent.call("GET", "/agent/state")
    assert state["state"] == "busy" and state["call"]["linkedid"] == call.linkedid
    assert state["call"]["state"] == "talking"
    return call.linkedid


async def test_sign_in_pause_ready_sign_out_are_what_the_pbx_reports(
    db_url: str, sim: PbxSimulator
) -> None:
    await seed(db_url)
    async with running(db_url, sim) as (_, port), console(port, "alice") as alice:
        status, body = await alice.call("GET", "/agent/state")
        assert status == 200
        assert (body["interface"], body["state"], body["queues"]) == (ALICE, "signed-out", [])
        async with alice.socket() as ws:
            assert (await recv(ws))["type"] == "hello"
            first = await recv(ws)  # the state at once, even before the PBX said anything
            assert (first["type"], first["state"], first["interface"]) == (
                "state", "signed-out", ALICE)
            status, body = await alice.call("POST", "/agent/state", {"action": "sign-in"})
            assert (status, body) == (202, {"ok": True, "action": "sign-in"})
            ready = await frame_where(ws, state_is("ready"))
            assert ready["interface"] == ALICE and ready["queues"] == ["support"]
            member = member_of(sim, "support", ALICE)
            assert member is not None and member.dynamic and member.name == "Alice"
            adds = sim.actions_named("QueueAdd")
            assert [(a["Queue"], a["Interface"], a["StateInterface"]) for a in adds] == [
                ("support", ALICE, "Local/1001@agents"),
                ("agent-1001", ALICE, "Local/1001@agents")]  # her presence, last

            status, _ = await alice.call("POST", "/agent/state",
                                         {"action": "pause", "reason": "lunch"})
            assert status == 202
            paused = await frame_where(ws, state_is("paused"))
            assert paused["paused"] is True and paused["reason"] == "lunch"
            assert member.paused and member.reason == "lunch"  # the PBX itself
            pause = sim.actions_named("QueuePause")[-1]
            assert (pause["Interface"], pause["Paused"], pause["Reason"]) == (ALICE, "true",
                                                                                "lunch")
            _, body = await alice.call("GET", "/agent/state")
            assert (body["state"], body["reason"]) == ("paused", "lunch")

            status, _ = await alice.call("POST", "/agent/state", {"action": "ready"})
            assert status == 202
            await frame_where(ws, state_is("ready"))
            assert not member.paused

            status, _ = await alice.call("POST", "/agent/state", {"action": "sign-out"})
            assert status == 202
            out = await frame_where(ws, state_is("signed-out"))
            assert out["queues"] == []
            assert member_of(sim, "support", ALICE) is None
            assert member_of(sim, "agent-1001", ALICE) is None
            assert [(r["Queue"], r["Interface"]) for r in sim.actions_named("QueueRemove")] == [
                ("support", ALICE), ("agent-1001", ALICE)]
    actions = [e.action for e in await audit_entries(db_url, entity="agent")]
    assert actions == ["agent-sign-in", "agent-pause", "agent-ready", "agent-sign-out"]


@pytest.fixture
async def static_sim() -> AsyncIterator[PbxSimulator]:
    """Alice is a STATIC member of vip (a queues.conf member => line), free and unpaused:
    Asterisk reports her available although nobody signed in at her desk."""
    pbx = PbxSimulator(time_scale=TIME_SCALE, agents=[
        AgentSpec(ALICE, "Alice", ("vip",), ring_s=1.0),
        AgentSpec(BOB, "Bob", (), ring_s=1.0),
    ])
    await pbx.start()
    yield pbx
    await pbx.close()


async def test_an_agent_hotline_never_signed_in_is_signed_out_whatever_the_pbx_lists(
    tmp_path: Any, static_sim: PbxSimulator
) -> None:
    """Issue 12, item 2: the PBX lists Alice in vip (static) and says she is free, but
    Hotline never signed her in: her console says signed-out, not ready."""
    db_url = f"sqlite+aiosqlite:///{tmp_path}/c.db"
    await seed(db_url)
    async with running(db_url, static_sim) as (_, port), console(port, "alice") as alice:
        async def seen() -> Any:  # the board has the PBX's snapshot of her
            _, body = await alice.call("GET", "/agent/state")
            return body if body["queues"] == ["vip"] else None

        body = await eventually(seen, what="Alice's membership from the PBX")
        assert (body["state"], body["device"], body["paused"]) == ("signed-out", "available",
                                                                   False)


async def test_sign_out_leaves_every_queue_even_past_a_static_member(
    tmp_path: Any, static_sim: PbxSimulator
) -> None:
    """Issue 12, item 1: Asterisk refuses to remove a static member ("Member not dynamic");
    sign-out goes on, takes her out of every other queue and signs her out; the static
    membership is queues.conf's (it stays, and is logged)."""
    db_url = f"sqlite+aiosqlite:///{tmp_path}/c.db"
    await seed(db_url)
    async with running(db_url, static_sim, agent_queues=["support", "vip"]) as (_, port), \
            console(port, "alice") as alice, alice.socket() as ws:
        await signed_in_and_ready(alice, ws)
        assert member_of(static_sim, "support", ALICE).dynamic
        assert not member_of(static_sim, "vip", ALICE).dynamic  # "Already there": fine
        status, _ = await alice.call("POST", "/agent/state", {"action": "sign-out"})
        assert status == 202
        out = await frame_where(ws, state_is("signed-out"))
        assert out["queues"] == ["vip"]  # what the PBX still lists, truthfully
        assert member_of(static_sim, "support", ALICE) is None
        assert member_of(static_sim, "agent-1001", ALICE) is None
        assert member_of(static_sim, "vip", ALICE) is not None
        removes = [r["Queue"] for r in static_sim.actions_named("QueueRemove")]
        assert removes == ["support", "vip", "agent-1001"]
        _, body = await alice.call("GET", "/agent/state")
        assert body["state"] == "signed-out"


async def test_a_transfer_to_an_agent_pops_her_console_and_makes_her_busy(
    tmp_path: Any, sim: PbxSimulator
) -> None:
    """Issue 12, item 13: [internal] reaches Bob through his personal queue, so the
    transferred caller pops on his console like any call, he is busy while he talks,
    and the PBX offers him no queue call meanwhile (his member is in use)."""
    db_url = f"sqlite+aiosqlite:///{tmp_path}/c.db"
    await seed(db_url)
    async with running(db_url, sim) as (_, port), console(port, "alice") as alice, \
            console(port, "bob") as bob, alice.socket() as ws, bob.socket() as bob_ws:
        await signed_in_and_ready(alice, ws)
        await signed_in_and_ready(bob, bob_ws)
        linkedid = await answered_call(alice, ws, sim)  # support is linear: Alice first
        status, body = await alice.call("POST", f"/calls/{linkedid}/transfer", {
            "mode": "blind", "target": {"kind": "agent", "value": "bob"}})
        assert (status, body) == (202, {"ok": True})
        pop = await frame_where(bob_ws, lambda f: f["type"] == "pop"
                                and f["call"]["linkedid"] == linkedid)
        assert pop["call"]["caller"].endswith(KNOWN_CALLER)
        assert pop["call"]["queue"] == "agent-1002"
        await frame_where(bob_ws, of_type("answered", linkedid))
        _, state = await bob.call("GET", "/agent/state")
        assert state["state"] == "busy" and state["call"]["linkedid"] == linkedid
        assert state["call"]["queue"] == "agent-1002"
        assert member_of(sim, "support", BOB).agent.in_call  # ringinuse=no: no queue call


async def test_a_pause_reason_is_plain_text_and_wrapup_is_the_consoles_own(
    tmp_path: Any, sim: PbxSimulator
) -> None:
    db_url = f"sqlite+aiosqlite:///{tmp_path}/c.db"
    await seed(db_url)
    async with running(db_url, sim) as (_, port), console(port, "alice") as alice:
        before = len(sim.actions_named("QueuePause"))
        for reason in ("wrap-up", "lunch\r\nAction: Hangup", ""):
            status, body = await alice.call("POST", "/agent/state",
                                            {"action": "pause", "reason": reason})
            assert status == 422 and body["field"] in ("reason", "body.reason"), body
        status, body = await alice.call("POST", "/agent/state", {"action": "nap"})
        assert status == 422
        assert len(sim.actions_named("QueuePause")) == before  # nothing reached the PBX
        status, body = await alice.call("POST", "/agent/state", {"action": "ready"})
        assert status == 409 and body["error"] == "not-signed-in"  # in no queue yet


async def test_wrapup_after_a_call_pauses_at_the_pbx_until_the_timer_runs_out(
    tmp_path: Any, sim: PbxSimulator
) -> None:
    db_url = f"sqlite+aiosqlite:///{tmp_path}/c.db"
    await seed(db_url)
    async with running(db_url, sim, wrapup_s=1) as (_, port), \
            console(port, "alice") as alice, alice.socket() as ws:
        await signed_in_and_ready(alice, ws)
        call = sim.place_call(caller=KNOWN_CALLER, name="Wang Fang",
                              script=CallScript(skip_agi=True, talk=5))
        seen: list[Frame] = []
        wrapup = await frame_where(ws, of_type("wrapup", call.linkedid), seen=seen)
        assert [f["type"] for f in seen if f["type"] in ("pop", "answered", "ended")] == [
            "pop", "answered", "ended"]
        assert wrapup["until"]
        await frame_where(ws, state_is("wrap-up"))
        member = member_of(sim, "support", ALICE)
        await eventually(lambda: _true(member.paused and member.reason == "wrap-up"),
                         what="the PBX to pause the agent for the wrap-up")
        end = await frame_where(ws, of_type("wrapup-end", call.linkedid))
        assert end["why"] == "timer"
        await frame_where(ws, state_is("ready"))
        assert not member.paused
        pauses = [(a["Paused"], a.get("Reason")) for a in sim.actions_named("QueuePause")]
        assert pauses[-2:] == [("true", "wrap-up"), ("false", None)]


async def _true(value: bool) -> bool:
    return value


async def test_saving_the_call_log_ends_the_wrapup_and_links_the_interaction_to_the_call(
    db_url: str, sim: PbxSimulator
) -> None:
    ids = await seed(db_url)
    async with running(db_url, sim, wrapup_s=600) as (app, port), \
            console(port, "alice") as alice, alice.socket() as ws:
        await signed_in_and_ready(alice, ws)
        call = sim.place_call(caller=KNOWN_CALLER, name="Wang Fang",
                              script=CallScript(skip_agi=True, talk=5))
        await frame_where(ws, of_type("wrapup", call.linkedid))
        member = member_of(sim, "support", ALICE)
        await eventually(lambda: _true(member.paused), what="the wrap-up pause")
        status, logged = await alice.call("POST", f"/calls/{call.linkedid}/log", {
            "customer_id": ids.customer, "contact_id": ids.contact, "disposition": "repair",
            "notes": "打印机卡纸 <b>urgent</b>"})
        assert status == 201, logged
        assert (logged["kind"], logged["call_linkedid"], logged["disposition"]) == (
            "call", call.linkedid, "repair")
        assert logged["customer_id"] == ids.customer and logged["contact_id"] == ids.contact
        assert logged["content"] == "打印机卡纸 <b>urgent</b>"
        end = await frame_where(ws, of_type("wrapup-end", call.linkedid))
        assert end["why"] == "saved"
        await frame_where(ws, state_is("ready"))
        assert not member.paused

        # saved again (F4 twice, or an edit): the same interaction, updated
        status, again = await alice.call("POST", f"/calls/{call.linkedid}/log", {
            "customer_id": ids.customer, "disposition": "complaint", "notes": "later"})
        assert status == 200 and again["id"] == logged["id"]
        assert again["disposition"] == "complaint"
        status, body = await alice.call("POST", f"/calls/{call.linkedid}/log", {
            "customer_id": ids.customer + 1000, "disposition": "other", "notes": ""})
        assert status in (404, 409), body

        record = await eventually(lambda: app[CALL_LOG].get(call.linkedid),
                                  what="the call record")
        assert record["customer_id"] == ids.customer
        _, listed = await alice.call("GET", f"/customers/{ids.customer}/interactions")
        calls = [i for i in listed["items"] if i["call_linkedid"] == call.linkedid]
        assert [i["id"] for i in calls] == [logged["id"]]


async def test_click_to_dial_rings_the_agents_phone_with_the_hotline_caller_id(
    db_url: str, sim: PbxSimulator
) -> None:
    ids = await seed(db_url)
    async with running(db_url, sim) as (_, port), console(port, "alice") as alice, \
            alice.socket() as ws:
        await signed_in_and_ready(alice, ws)
        status, body = await alice.call("POST", "/calls/dial", {
            "number": "+86 138-0013 8000", "customer_id": ids.customer})
        assert (status, body) == (202, {"ok": True})
        originate = sim.actions_named("Originate")[-1]
        assert originate["Channel"] == ALICE  # the agent's own phone rings first
        assert originate["CallerID"] == '"Hotline" <4008001234>'
        assert (originate["Exten"], originate["Context"]) == ("13800138000", "outbound")
        assert originate["Async"] == "true"
        await frame_where(ws, state_is("busy"))  # the PBX reports the agent's phone in use
        status, body = await alice.call("POST", "/calls/dial", {"number": "not a number"})
        assert status == 422 and body["field"] == "number"
    entries = await audit_entries(db_url, entity="call", action="dial")
    assert entries and entries[-1].after == {"number": "13800138000",
                                             "customer_id": ids.customer}


async def outbound_record(app: Any, number: str, outcome: str) -> dict[str, Any]:
    """The call record of the outbound call to ``number`` ending in ``outcome``."""
    async def probe() -> dict[str, Any] | None:
        for row in await app[CALL_LOG].latest(10):
            if (row["direction"], row["caller"], row["outcome"]) == ("outbound", number,
                                                                     outcome):
                return row
        return None
    found: dict[str, Any] = await eventually(probe, what=f"an outbound {outcome} call record")
    return found


async def test_click_to_dial_is_logged_as_an_outbound_call_of_the_customer(
    db_url: str, sim: PbxSimulator
) -> None:
    """Console API -> Originate over real AMI -> the simulator rings Alice, then dials the
    customer, who answers and hangs up (capture 07) -> tracker -> call log: one outbound
    record, linked to the customer by the number dialled. Then Alice does not answer
    her own phone: a failed outbound call, still the customer's."""
    ids = await seed(db_url)
    async with running(db_url, sim) as (app, port), console(port, "alice") as alice, \
            alice.socket() as ws:
        await signed_in_and_ready(alice, ws)
        status, _ = await alice.call("POST", "/calls/dial", {
            "number": "138 0013 8000", "customer_id": ids.customer})
        assert status == 202
        record = await outbound_record(app, "+86" + KNOWN_CALLER, "answered")
        assert record["customer_id"] == ids.customer
        assert (record["agent"], record["agent_interface"]) == ("Alice", ALICE)
        assert (record["hangup_by"], record["did"], record["queues"]) == ("customer", None, [])
        assert record["answered_at"] is not None and record["talk_s"] is not None
        assert record["wait_s"] is None and record["agents_tried"] == []
        assert record["ivr"] == {"HOTLINE_ORIGINATED_BY": "alice", "HOTLINE_AGENT_NAME": "Alice",
                                 "HOTLINE_DIALLED": KNOWN_CALLER,
                                 "HOTLINE_CUSTOMER_ID": str(ids.customer)}
        # Alice's phone is free again: her wrap-up runs (an earlier wait for "ready" here
        # only passed on the second "ready" frame the old sign-in sent)
        await frame_where(ws, state_is("wrap-up"))

        sim.set_agent("Alice", mode="noanswer")
        status, _ = await alice.call("POST", "/calls/dial", {"number": KNOWN_CALLER})
        assert status == 202
        failed = await outbound_record(app, "+86" + KNOWN_CALLER, "failed")
        assert failed["linkedid"] != record["linkedid"]
        assert (failed["customer_id"], failed["hangup_by"], failed["answered_at"]) == (
            ids.customer, "system", None)
        assert await app[CALL_LOG].count() == 2  # each call once, nothing else logged


async def test_click_to_dial_pops_the_customer_and_is_logged_against_the_call(
    db_url: str, sim: PbxSimulator
) -> None:
    """The agent's own outbound call follows the inbound path: Alice's socket gets the
    pop of the customer she dialled (the call marked outbound), ``answered`` when the
    customer answers, her wrap-up when the call ends; she logs the call through the API
    and the interaction is linked to the outbound call's Linkedid, both in the
    customer's 360. An unknown number pops the unknown-caller form."""
    ids = await seed(db_url)
    async with running(db_url, sim, wrapup_s=600) as (app, port), \
            console(port, "alice") as alice, alice.socket() as ws:
        await signed_in_and_ready(alice, ws)
        status, _ = await alice.call("POST", "/calls/dial", {
            "number": "138 0013 8000", "customer_id": ids.customer})
        assert status == 202
        # the board's frames (wrap-up) and the hub's (pop, answered) come from two
        # pumps: only each one's own order is promised
        seen: list[Any] = []
        popped = await frame_where(ws, of_type("pop"), seen=seen)
        call, record = popped["call"], popped["record"]
        linkedid = call["linkedid"]
        assert (call["direction"], call["caller"], call["queue"], call["did"]) == (
            "outbound", "+86" + KNOWN_CALLER, "", None)
        assert call["interface"] == ALICE
        assert record["known"] is True and record["customer"]["id"] == ids.customer
        answered = await frame_where(ws, of_type("answered", linkedid), seen=seen)
        assert answered["interface"] == ALICE
        if not any(f["type"] == "wrapup" and f["linkedid"] == linkedid for f in seen):
            await frame_where(ws, of_type("wrapup", linkedid))
        status, logged = await alice.call("POST", f"/calls/{linkedid}/log", {
            "customer_id": ids.customer, "contact_id": ids.contact,
            "disposition": "sales-lead", "notes": "回访 <i>ok</i>"})
        assert status == 201, logged
        assert (logged["call_linkedid"], logged["customer_id"], logged["kind"]) == (
            linkedid, ids.customer, "call")
        assert (await frame_where(ws, of_type("wrapup-end", linkedid)))["why"] == "saved"
        row = await outbound_record(app, "+86" + KNOWN_CALLER, "answered")
        assert (row["linkedid"], row["customer_id"]) == (linkedid, ids.customer)
        status, view = await alice.call("GET", f"/customers/{ids.customer}/360")
        assert status == 200, view
        assert [i["id"] for i in view["interactions"]
                if i.get("call_linkedid") == linkedid] == [logged["id"]]
        assert [(c["linkedid"], c["direction"]) for c in view["calls"]] == [
            (linkedid, "outbound")]

        await frame_where(ws, state_is("ready"))
        status, _ = await alice.call("POST", "/calls/dial", {"number": "139 0013 9000"})
        assert status == 202
        stranger = await frame_where(ws, lambda f: f["type"] == "pop"
                                     and f["call"]["linkedid"] != linkedid)
        assert stranger["call"]["direction"] == "outbound"
        assert stranger["record"]["known"] is False
        assert stranger["record"]["quick_create"]["phone"] == "+8613900139000"


async def test_the_agent_hangs_up_her_own_outbound_call(tmp_path: Any, sim: PbxSimulator
                                                         ) -> None:
    """Her outbound call is her call on the board: hang-up acts on her leg of it (a
    call the tracker did not give her would be a 404), the call ends, hung up by her."""
    await seed(f"sqlite+aiosqlite:///{tmp_path}/h.db")
    sim.set_customer(KNOWN_CALLER, talk_s=600.0)
    async with running(f"sqlite+aiosqlite:///{tmp_path}/h.db", sim) as (app, port), \
            console(port, "alice") as alice, alice.socket() as ws:
        await signed_in_and_ready(alice, ws)
        status, _ = await alice.call("POST", "/calls/dial", {"number": KNOWN_CALLER})
        assert status == 202
        linkedid = (await frame_where(ws, of_type("pop")))["call"]["linkedid"]
        await frame_where(ws, of_type("answered", linkedid))
        _, state = await alice.call("GET", "/agent/state")
        assert (state["state"], state["call"]["linkedid"]) == ("busy", linkedid)
        status, body = await alice.call("POST", f"/calls/{linkedid}/hangup")
        assert (status, body) == (202, {"ok": True})
        assert sim.actions_named("Hangup")[-1]["Channel"].startswith("Local/1001@agents-")
        await frame_where(ws, of_type("ended", linkedid))
        record = await outbound_record(app, "+86" + KNOWN_CALLER, "answered")
        assert (record["linkedid"], record["hangup_by"]) == (linkedid, "agent")


async def test_an_agent_on_a_call_cannot_dial_out(tmp_path: Any, sim: PbxSimulator) -> None:
    db_url = f"sqlite+aiosqlite:///{tmp_path}/c.db"
    await seed(db_url)
    async with running(db_url, sim) as (_, port), console(port, "alice") as alice, \
            alice.socket() as ws:
        await signed_in_and_ready(alice, ws)
        await answered_call(alice, ws, sim)
        before = len(sim.actions_named("Originate"))
        status, body = await alice.call("POST", "/calls/dial", {"number": "13900139000"})
        assert status == 409 and body["error"] == "agent-busy", body
        assert len(sim.actions_named("Originate")) == before


def answers_and_hangs_up(sim: PbxSimulator, interface: str) -> None:
    """The transfer's target agent is signed in at the PBX (her personal queue, as
    Hotline's sign-in leaves it), answers, and hangs up after a short talk."""
    queue = personal_queue(interface)
    assert queue is not None
    assert sim.pbx.queue_add(queue, interface, "", 0, "", False) is None
    sim.set_agent(interface, talk_s=2.0)


TRANSFERS = [
    # (mode, target kind, value, AMI action, Exten, Context, transfer kind in the call log)
    ("blind", "agent", "bob", "BlindTransfer", "1002", "internal", "blind"),
    # an attended transfer's number ends with '#': Asterisk then dials at once instead of
    # waiting transferdigittimeout for more digits (issue 12 item 14)
    ("attended", "agent", "bob", "Atxfer", "1002#", "internal", "attended"),
    ("blind", "queue", "support", "BlindTransfer", "support", "hotline-queues", "blind"),
    ("blind", "account-manager", "", "BlindTransfer", "1005", "internal", "blind"),
    ("attended", "number", "(021) 5555-1234", "Atxfer", "02155551234#", "outbound",
     "attended"),
]


@pytest.mark.parametrize("mode,kind,value,action,exten,context,logged_kind", TRANSFERS)
async def test_transfers_reach_the_pbx_and_the_call_log_records_them(
    tmp_path: Any, sim: PbxSimulator, mode: str, kind: str, value: str, action: str,
    exten: str, context: str, logged_kind: str,
) -> None:
    db_url = f"sqlite+aiosqlite:///{tmp_path}/c.db"
    await seed(db_url)
    async with running(db_url, sim) as (app, port), console(port, "alice") as alice, \
            alice.socket() as ws:
        await signed_in_and_ready(alice, ws)
        if context == "internal":  # an agent: reached through her personal queue
            answers_and_hangs_up(sim, f"Local/{exten}@agents/n")
        linkedid = await answered_call(alice, ws, sim)
        status, body = await alice.call("POST", f"/calls/{linkedid}/transfer", {
            "mode": mode, "target": {"kind": kind, "value": value}})
        assert (status, body) == (202, {"ok": True})
        sent = sim.actions_named(action)[-1]
        assert sent["Channel"].startswith("Local/1001@agents-")  # the agent's leg
        assert (sent["Exten"], sent["Context"]) == (exten, context)
        await frame_where(ws, of_type("wrapup", linkedid))  # the agent's part is over
        record = await eventually(lambda: app[CALL_LOG].get(linkedid), what="the call record")
        assert record["outcome"] == "transferred"
        assert [t["kind"] for t in record["transfers"]] == [logged_kind]
    entries = await audit_entries(db_url, entity="call", entity_id=linkedid)
    assert [e.action for e in entries] == [f"transfer-{mode}"]


async def test_an_attended_transfer_to_a_queue_named_with_letters_is_refused(
    tmp_path: Any, sim: PbxSimulator
) -> None:
    """Atxfer keys its destination as DTMF: on Asterisk 22 ``vip#`` keyed nothing and the
    caller stayed on hold until the agent hung up. Refused before the PBX is asked."""
    db_url = f"sqlite+aiosqlite:///{tmp_path}/c.db"
    await seed(db_url)
    async with running(db_url, sim) as (_app, port), console(port, "alice") as alice, \
            alice.socket() as ws:
        await signed_in_and_ready(alice, ws)
        linkedid = await answered_call(alice, ws, sim)
        before = len(sim.actions_named("Atxfer"))
        status, body = await alice.call("POST", f"/calls/{linkedid}/transfer", {
            "mode": "attended", "target": {"kind": "queue", "value": "support"}})
        assert (status, body["error"], body["field"]) == (422, "not-keyable", "mode"), body
        assert len(sim.actions_named("Atxfer")) == before
        _, state = await alice.call("GET", "/agent/state")
        assert state["state"] == "busy"  # the call goes on with her


async def test_a_blind_transfer_on_postgresql_too(db_url: str, sim: PbxSimulator) -> None:
    await seed(db_url)
    async with running(db_url, sim) as (app, port), console(port, "alice") as alice, \
            alice.socket() as ws:
        await signed_in_and_ready(alice, ws)
        answers_and_hangs_up(sim, BOB)
        linkedid = await answered_call(alice, ws, sim)
        status, _ = await alice.call("POST", f"/calls/{linkedid}/transfer", {
            "mode": "blind", "target": {"kind": "agent", "value": "Local/1002@agents/n"}})
        assert status == 202
        record = await eventually(lambda: app[CALL_LOG].get(linkedid), what="the call record")
        assert record["outcome"] == "transferred" and record["transfers"][0]["kind"] == "blind"


async def test_transfer_refusals(tmp_path: Any, sim: PbxSimulator) -> None:
    db_url = f"sqlite+aiosqlite:///{tmp_path}/c.db"
    await seed(db_url)
    async with running(db_url, sim) as (_, port), console(port, "alice") as alice, \
            console(port, "bob") as bob, alice.socket() as ws, bob.socket() as bob_ws:
        await signed_in_and_ready(alice, ws)
        status, body = await alice.call("POST", "/calls/1.999/transfer", {
            "mode": "blind", "target": {"kind": "queue", "value": "support"}})
        assert status == 404 and body["error"] == "not_found"  # no such call of yours
        linkedid = await answered_call(alice, ws, sim)
        await signed_in_and_ready(bob, bob_ws)
        other = long_call(sim, caller="13700137000", name="Li")  # Bob takes this one
        await frame_where(bob_ws, of_type("answered", other.linkedid))
        sent = len(sim.actions_named("BlindTransfer"))
        for target, code, error in [
            ({"kind": "agent", "value": "bob"}, 409, "target-busy"),
            ({"kind": "agent", "value": "alice"}, 422, "validation"),
            ({"kind": "agent", "value": "nobody"}, 422, "validation"),
            ({"kind": "queue", "value": "no-such-queue"}, 422, "validation"),
            ({"kind": "number", "value": "call me"}, 422, "validation"),
        ]:
            status, body = await alice.call("POST", f"/calls/{linkedid}/transfer",
                                            {"mode": "blind", "target": target})
            assert (status, body["error"]) == (code, error), (target, body)
        status, body = await bob.call("POST", f"/calls/{linkedid}/hangup")
        assert status == 404  # Alice's call is not Bob's to hang up
        assert len(sim.actions_named("BlindTransfer")) == sent  # nothing reached the PBX


async def test_hang_up_ends_the_agents_call(tmp_path: Any, sim: PbxSimulator) -> None:
    db_url = f"sqlite+aiosqlite:///{tmp_path}/c.db"
    await seed(db_url)
    async with running(db_url, sim) as (app, port), console(port, "alice") as alice, \
            alice.socket() as ws:
        await signed_in_and_ready(alice, ws)
        linkedid = await answered_call(alice, ws, sim)
        status, body = await alice.call("POST", f"/calls/{linkedid}/hangup")
        assert (status, body) == (202, {"ok": True})
        assert sim.actions_named("Hangup")[-1]["Channel"].startswith("Local/1001@agents-")
        await frame_where(ws, of_type("ended", linkedid))
        record = await eventually(lambda: app[CALL_LOG].get(linkedid), what="the call record")
        assert record["hangup_by"] == "agent"
        status, body = await alice.call("POST", f"/calls/{linkedid}/hangup")
        assert status == 404


async def test_pbx_unreachable_is_a_503_with_a_clear_message(
    tmp_path: Any, sim: PbxSimulator
) -> None:
    db_url = f"sqlite+aiosqlite:///{tmp_path}/c.db"
    await seed(db_url)
    async with running(db_url, sim, ami_action_timeout_s=0.5) as (app, port), \
            console(port, "alice") as alice:
        assert (await alice.call("POST", "/agent/state", {"action": "sign-in"}))[0] == 202
        # the PBX stops answering: the action times out
        sim.pause_output(True)
        status, body = await alice.call("POST", "/agent/state",
                                        {"action": "pause", "reason": "break"})
        assert status == 503 and body["error"] == "pbx-unreachable"
        assert "PBX" in body["message"]
        sim.pause_output(False)
        # the link is down and stays down
        sim.refuse_connections(True)
        await sim.drop_connections()
        await eventually(lambda: _true(not app[AMI].connected), what="the link to drop")
        for path, body_in in [("/agent/state", {"action": "ready"}),
                              ("/calls/dial", {"number": "13800138000"})]:
            status, body = await alice.call("POST", path, body_in)
            assert status == 503 and body["error"] == "pbx-unreachable", body
            assert "unreachable" in body["message"]
        sim.refuse_connections(False)
        await app[AMI].wait_connected(10)
        assert (await alice.call("POST", "/agent/state", {"action": "ready"}))[0] == 202


async def test_controls_need_the_csrf_token_and_a_phone(tmp_path: Any, sim: PbxSimulator
                                                         ) -> None:
    db_url = f"sqlite+aiosqlite:///{tmp_path}/c.db"
    await seed(db_url)
    async with running(db_url, sim) as (_, port), console(port, "alice") as alice, \
            console(port, "li") as li:
        for path, body_in in [("/calls/dial", {"number": "13800138000"}),
                              ("/agent/state", {"action": "sign-in"}),
                              ("/calls/1.1/hangup", None)]:
            status, body = await alice.call("POST", path, body_in, csrf=False)
            assert status == 403 and body["error"] == "csrf"
        assert sim.actions_named("Originate") == [] and sim.actions_named("QueueAdd") == []
        status, body = await li.call("GET", "/agent/state")
        assert status == 403 and body["error"] == "not-an-agent"
        status, body = await li.call("POST", "/calls/dial", {"number": "13800138000"})
        assert status == 403 and body["error"] == "not-an-agent"
