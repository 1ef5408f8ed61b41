"""A supervisor's listen / whisper / barge and pause / sign-out of an agent, end to end:
REST over HTTP -> AMI over TCP -> the PBX simulator (Originate into Hotline's
[supervisor-phone] / [supervise], ChanSpy on the agent's leg) -> AMI events -> tracker ->
call log and the agent's websocket. On SQLite and PostgreSQL.

Asserted: what the PBX received, the spy session it runs, that the call record is the
spied call's alone (one agent, no record of the session), the agent's state frames, the
audit trail, and every refusal's status and code."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from crm_core.db import make_engine
from crm_core.models import CallRecord, User
from crm_core.users import ensure_roles
from telephony.simulator import PbxSimulator
from tests.integration.console_support import (
    ALICE,
    FAST_HASHER,
    PASSWORD,
    audit_entries,
    console,
    eventually,
    frame_where,
    long_call,
    recv,
    running,
    seed,
    state_is,
)

ZHAO_PHONE = "PJSIP/1009"  # her desk phone: [supervisor-phone] dials it


async def seed_supervisors(db_url: str) -> dict[str, int]:
    """zhao (hotline supervisor with a phone), nophone (one without), sam (a sales team's
    supervisor: Alice, of team hotline, is outside his scope)."""
    ids = await seed(db_url)
    engine = make_engine(db_url)
    pw = FAST_HASHER.hash(PASSWORD)
    try:
        async with async_sessionmaker(engine, expire_on_commit=False).begin() as db:
            roles = await ensure_roles(db)
            users = [
                User(username="zhao", display_name="赵敏", password_hash=pw, team="hotline",
                     role_id=roles["hotline_supervisor"], agent_interface=ZHAO_PHONE),
                User(username="nophone", display_name="No phone", password_hash=pw,
                     role_id=roles["hotline_supervisor"]),
                User(username="sam", display_name="Sam", password_hash=pw, team="sales",
                     role_id=roles["supervisor"], agent_interface="PJSIP/1010"),
            ]
            db.add_all(users)
            await db.flush()
            return {"alice": ids.alice, **{u.username: u.id for u in users}}
    finally:
        await engine.dispose()


async def call_records(db_url: str) -> list[CallRecord]:
    engine = make_engine(db_url)
    try:
        async with async_sessionmaker(engine, expire_on_commit=False)() as db:
            return list((await db.scalars(select(CallRecord))).all())
    finally:
        await engine.dispose()


async def ready(agent: Any, ws: Any) -> None:
    assert (await recv(ws))["type"] == "hello"
    status, _ = await agent.call("POST", "/agent/state", {"action": "sign-in"})
    assert status == 202
    await frame_where(ws, state_is("ready"))


async def test_listen_then_barge_into_alices_call(db_url: str, sim: PbxSimulator) -> None:
    await seed_supervisors(db_url)
    async with running(db_url, sim) as (_, port), console(port, "alice") as alice, \
            console(port, "zhao") as zhao, alice.socket() as ws:
        await ready(alice, ws)
        call = long_call(sim)
        await frame_where(ws, lambda f: f["type"] == "answered")
        _, state = await alice.call("GET", "/agent/state")
        linkedid = state["call"]["linkedid"]
        assert linkedid == call.linkedid

        status, board = await zhao.call("GET", "/supervise/agents")
        assert status == 200 and board["phone"] == ZHAO_PHONE
        assert board["listen"] is True and board["act"] is True
        [seen] = [a for a in board["agents"] if a["interface"] == ALICE]
        assert (seen["state"], seen["call"]["linkedid"], seen["call"]["state"]) == (
            "busy", linkedid, "talking")

        status, body = await zhao.call("POST", f"/supervise/calls/{linkedid}",
                                       {"mode": "listen"})
        assert (status, body) == (202, {"ok": True, "mode": "listen", "agent": "Alice",
                                        "phone": ZHAO_PHONE})
        sent = sim.actions_named("Originate")[-1]
        assert (sent["Channel"], sent["Context"], sent["Exten"]) == (
            "Local/1009@supervisor-phone/n", "supervise", "listen")
        spied = [s.target.name for s in sim.pbx.spies]
        assert len(spied) == 1 and spied[0].startswith("Local/1001@agents-")
        assert f"HOTLINE_SPY_CHANNEL={spied[0]}" in sent["Variable"]

        status, _ = await zhao.call("POST", f"/supervise/calls/{linkedid}", {"mode": "barge"})
        assert status == 202
        assert sim.actions_named("Originate")[-1]["Exten"] == "barge"
        assert len(sim.pbx.spies) == 2

        status, _ = await alice.call("POST", f"/calls/{linkedid}/hangup")
        assert status == 202
        await frame_where(ws, lambda f: f["type"] == "ended")

        async def logged() -> list[CallRecord]:
            return await call_records(db_url)

        [record] = await eventually(logged, what="the call record")
        assert record.linkedid == linkedid and record.agent == "Alice"
        assert [a["interface"] for a in record.agents_tried] == [ALICE]
        assert sim.pbx.spies == []  # ChanSpy ended with the agent's leg (E)
        assert not any(name.startswith("Local/1009@supervisor-phone")
                       for name in sim.pbx.channels)
    entries = await audit_entries(db_url, entity="call", entity_id=linkedid)
    assert [e.action for e in entries if e.action.startswith("supervise-")] == [
        "supervise-listen", "supervise-barge"]
    assert entries[0].after is not None and entries[0].after["agent"] == ALICE


async def test_refusals_say_why(db_url: str, sim: PbxSimulator) -> None:
    await seed_supervisors(db_url)
    async with running(db_url, sim) as (_, port), console(port, "alice") as alice, \
            console(port, "zhao") as zhao, console(port, "nophone") as nophone, \
            console(port, "sam") as sam, alice.socket() as ws:
        await ready(alice, ws)
        long_call(sim)
        await frame_where(ws, lambda f: f["type"] == "answered")
        _, state = await alice.call("GET", "/agent/state")
        linkedid = state["call"]["linkedid"]
        before = len(sim.actions_named("Originate"))

        async def refused(who: Any, path: str, body: Any) -> tuple[int, str]:
            status, answer = await who.call("POST", path, body)
            return status, answer["error"]

        assert await refused(zhao, "/supervise/calls/1.999", {"mode": "listen"}) == (
            404, "no-such-call")
        assert await refused(nophone, f"/supervise/calls/{linkedid}", {"mode": "listen"}) == (
            409, "no-phone")
        assert await refused(sam, f"/supervise/calls/{linkedid}", {"mode": "listen"}) == (
            403, "forbidden")  # Alice is not in his team
        assert await refused(alice, f"/supervise/calls/{linkedid}", {"mode": "listen"}) == (
            403, "forbidden")  # an agent supervises nobody
        assert await refused(zhao, f"/supervise/calls/{linkedid}", {"mode": "shout"}) == (
            422, "validation")
        assert len(sim.actions_named("Originate")) == before  # nothing reached the PBX
        status, board = await sam.call("GET", "/supervise/agents")
        assert status == 200  # his team's phones only (Wang, himself): not Alice
        assert sorted(a["name"] for a in board["agents"]) == ["Sam", "Wang"]
        status, _ = await alice.call("GET", "/supervise/agents")
        assert status == 403

        sim.canned_response("Originate", {"Response": "Error", "Message": "Originate failed"})
        assert await refused(zhao, f"/supervise/calls/{linkedid}", {"mode": "whisper"}) == (
            502, "pbx-refused")
    assert [e.action for e in await audit_entries(db_url)
            if e.action.startswith("supervise-")] == []


async def test_pause_and_sign_out_alice_with_a_reason(db_url: str, sim: PbxSimulator) -> None:
    ids = await seed_supervisors(db_url)
    alice_state = f"/supervise/agents/{ids['alice']}/state"
    async with running(db_url, sim) as (_, port), console(port, "alice") as alice, \
            console(port, "zhao") as zhao, console(port, "sam") as sam, \
            alice.socket() as ws:
        status, body = await zhao.call("POST", alice_state,
                                       {"action": "pause", "reason": "coaching"})
        assert (status, body["error"]) == (409, "not-signed-in")
        await ready(alice, ws)

        status, body = await zhao.call("POST", alice_state,
                                       {"action": "pause", "reason": "coaching"})
        assert (status, body) == (202, {"ok": True, "action": "pause", "agent": "Alice"})
        paused = await frame_where(ws, state_is("paused"))  # her console shows it
        assert paused["reason"] == "coaching"
        pause = sim.actions_named("QueuePause")[-1]
        assert (pause["Interface"], pause["Paused"], pause["Reason"]) == (ALICE, "true",
                                                                            "coaching")
        for bad in ({"action": "pause"}, {"action": "pause", "reason": "wrap-up"},
                    {"action": "nap", "reason": "x"}):
            status, body = await zhao.call("POST", alice_state, bad)
            assert (status, body["error"]) == (422, "validation"), bad
        status, body = await sam.call("POST", alice_state,
                                      {"action": "sign-out", "reason": "end of shift"})
        assert (status, body["error"]) == (403, "forbidden")
        status, body = await zhao.call("POST", "/supervise/agents/999999/state",
                                       {"action": "sign-out", "reason": "x"})
        assert (status, body["error"]) == (404, "not_found")

        status, _ = await zhao.call("POST", alice_state,
                                    {"action": "sign-out", "reason": "end of shift"})
        assert status == 202
        await frame_where(ws, state_is("signed-out"))
    entries = [e for e in await audit_entries(db_url, entity="agent", entity_id=ALICE)
               if e.action.startswith("supervise-")]
    assert [(e.action, e.user_id, (e.after or {}).get("reason")) for e in entries] == [
        ("supervise-pause", ids["zhao"], "coaching"),
        ("supervise-sign-out", ids["zhao"], "end of shift")]


async def test_a_call_still_ringing_the_agent_cannot_be_listened_to(
    db_url: str, sim: PbxSimulator
) -> None:
    await seed_supervisors(db_url)
    sim.set_agent("Alice", ring_s=3000.0)  # she lets it ring
    async with running(db_url, sim) as (_, port), console(port, "alice") as alice, \
            console(port, "zhao") as zhao, alice.socket() as ws:
        await ready(alice, ws)
        call = long_call(sim)
        await frame_where(ws, state_is("ringing"))
        status, body = await zhao.call("POST", f"/supervise/calls/{call.linkedid}",
                                       {"mode": "whisper"})
        assert (status, body["error"]) == (409, "not-talking")
        assert sim.actions_named("Originate") == []
