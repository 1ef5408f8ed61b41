"""Never the wrong customer (issue 14 items 1 and 2), at the API, on SQLite and
PostgreSQL, the app connected to the PBX simulator.

Item 2: the console sent the customer on screen with any number typed into "Dial a
number", and the call then popped and was logged as that customer's. The number
dialled decides: a ``customer_id`` the number does not belong to is a 422, and nothing
is dialled.

Item 1: the log form of a call that rang the agent and ended unanswered stays with that
call, so saving it must be possible: a call NOBODY took is logged by an agent it rang
(before: 403, and the note could only land on the next call).
"""

from __future__ import annotations

import asyncio

from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from crm_core.db import make_engine
from crm_core.models import Contact, Customer, Interaction, PhoneNumber
from telephony.simulator import CallScript, PbxSimulator
from tests.integration.console_support import (
    ALICE,
    BOB,
    KNOWN_CALLER,
    console,
    frame_where,
    recorded_call,
    recv,
    running,
    seed,
    state_is,
)

STRANGER = "135 1234 9877"  # nobody's number
OTHER_NUMBER = "13700137000"  # 宇通's
CONTACT_NUMBER = "13911112222"  # 张伟's, a contact of the seeded customer


async def more_customers(db_url: str, customer_id: int, contact_id: int) -> int:
    """Another customer with its number, and a mobile of the seeded customer's contact;
    the other customer's id."""
    engine = make_engine(db_url)
    try:
        async with async_sessionmaker(engine, expire_on_commit=False).begin() as db:
            other = Customer(name="宇通客车服务站", name_key="宇通客车服务站", province="河南")
            db.add(other)
            await db.flush()
            contact = await db.get(Contact, contact_id)
            assert contact is not None
            db.add_all([
                PhoneNumber(customer_id=other.id, number_e164="+86" + OTHER_NUMBER,
                            raw=OTHER_NUMBER),
                PhoneNumber(customer_id=customer_id, contact_id=contact_id,
                            number_e164="+86" + CONTACT_NUMBER, raw=CONTACT_NUMBER)])
            return other.id
    finally:
        await engine.dispose()


async def test_the_number_dialled_decides_the_customer(db_url: str, sim: PbxSimulator) -> None:
    ids = await seed(db_url)
    other = await more_customers(db_url, ids.customer, ids.contact)
    async with running(db_url, sim) as (_, port), console(port, "alice") as alice:
        # the customer on screen sent along with a number that is not theirs: refused
        for number, customer_id in ((STRANGER, ids.customer), (OTHER_NUMBER, ids.customer),
                                    (KNOWN_CALLER, other)):
            status, body = await alice.call("POST", "/calls/dial", {
                "number": number, "customer_id": customer_id})
            assert (status, body["error"], body["field"]) == (422, "validation",
                                                              "customer_id"), body
            assert "number dialled decides" in body["message"]
        assert sim.actions_named("Originate") == []  # nothing dialled
        # a number of the customer's contact is the customer's: the hint rides along
        status, body = await alice.call("POST", "/calls/dial", {
            "number": "139-1111-2222", "customer_id": ids.customer})
        assert (status, body) == (202, {"ok": True})
        [originate] = sim.actions_named("Originate")
        assert originate["Exten"] == CONTACT_NUMBER
        assert f"HOTLINE_CUSTOMER_ID={ids.customer}" in originate.get("Variable", "")


async def test_a_call_nobody_took_is_logged_by_an_agent_it_rang(
    db_url: str, sim: PbxSimulator
) -> None:
    ids = await seed(db_url)
    other = await more_customers(db_url, ids.customer, ids.contact)
    # recorded: rang Alice (no answer), then the caller gave up
    missed = [{"agent": "Alice", "interface": ALICE, "queue": "support",
               "result": "no-answer"}]
    await recorded_call(db_url, "1795478500.1", agent=None, outcome="abandoned",
                        agents_tried=missed)
    # recorded: rang Alice (no answer), then Bob took it
    await recorded_call(db_url, "1795478500.2", agent=BOB, agents_tried=[
        *missed, {"agent": "Bob", "interface": BOB, "queue": "support",
                  "result": "answered"}])
    sim.set_agent("Bob", paused=True, reason="away")
    sim.set_agent("Alice", mode="noanswer")
    async with running(db_url, sim) as (_, port), console(port, "alice") as alice, \
            console(port, "bob") as bob, alice.socket() as ws:
        body = {"customer_id": ids.customer, "disposition": "inquiry", "notes": "回电"}
        status, logged = await alice.call("POST", "/calls/1795478500.1/log", body)
        assert status == 201, logged
        status, refused = await bob.call("POST", "/calls/1795478500.1/log", body)
        assert (status, refused["error"]) == (403, "not-your-call"), refused
        # somebody took it: it is theirs, ringing Alice first gives her nothing
        status, refused = await alice.call("POST", "/calls/1795478500.2/log", body)
        assert (status, refused["error"]) == (403, "not-your-call"), refused

        # live: the call rings Alice, she does not answer, the caller hangs up; the
        # moment before its record is written, the board knows it rang her
        assert (await recv(ws))["type"] == "hello"
        assert (await alice.call("POST", "/agent/state", {"action": "sign-in"}))[0] == 202
        await frame_where(ws, state_is("ready"))
        call = sim.place_call(caller=OTHER_NUMBER, name="宇通客车服务站",
                              script=CallScript(skip_agi=True, patience=60.0))
        await frame_where(ws, lambda f: f["type"] == "missed")
        call.command("hangup", "caller", "16")
        await asyncio.wait_for(call.done, 15)
        status, logged = await alice.call("POST", f"/calls/{call.linkedid}/log", {
            **body, "customer_id": other})
        assert status == 201, logged
        status, refused = await bob.call("POST", f"/calls/{call.linkedid}/log", body)
        assert (status, refused["error"]) == (403, "not-your-call"), refused
    engine = make_engine(db_url)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(
                select(Interaction.call_linkedid, Interaction.customer_id)
                .where(Interaction.kind == "call").order_by(Interaction.id))).all()
    finally:
        await engine.dispose()
    assert [tuple(r) for r in rows] == [("1795478500.1", ids.customer),
                                        (call.linkedid, other)]
