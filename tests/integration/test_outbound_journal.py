"""Outbound calls (click-to-dial, callbacks) Hotline could not watch are logged from the
PBX's journal too (issue 13 item 2): killed mid-call and restarted (``hotline serve``,
SQLite and PostgreSQL), every outbound call that ended meanwhile is logged once, as the
tracker logs it live; one cut by an AMI outage gets the journal's outcome instead of the
resync's blind guess.

The simulator keeps its CEL journal as deploy/asterisk's cel_custom.conf has Asterisk keep
it; the calls are Originates as the console and the callback worker send them (the
agent's phone first, then [outbound] dials the customer; a callback's ChannelId is its
claim token ``hlcb-<id>-<random>``)."""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker

from crm_core.db import make_engine, upgrade_async
from crm_core.models import CallbackRequest, CallRecord, User
from hotline.journal_lookups import agents_by_device, callback_numbers
from telephony.cel import parse_line
from telephony.events import CallEnded
from telephony.simulator import PbxSimulator

from .test_ami_outage import hotline_with_journal
from .test_restart_journal import _records, _serve, _stop
from .test_resync_restart import hotline

SCALE = 0.02  # 50 simulated seconds a second
CALLER_ID = '"Hotline" <4008001234>'


def _originate(sim: PbxSimulator, interface: str, number: str, channel_id: str, *,
               timeout_s: float = 20.0, callback: bool = False) -> asyncio.Task[Any]:
    """The Originate Hotline sends (agent_console.pbx_actions.dial, or the callback
    worker's), placed on the simulated PBX: ``channel_id`` is the call's Linkedid."""
    variables = [f"HOTLINE_DIALLED={number}"]
    if callback:
        callback_id = channel_id.split("-")[1]
        variables += [f"HOTLINE_CALLBACK_ID={callback_id}", f"HOTLINE_CALLBACK={channel_id}"]
    else:
        variables += ["HOTLINE_ORIGINATED_BY=alice"]
    fields = {"Channel": interface, "Context": "outbound", "Exten": number, "Priority": "1",
              "CallerID": CALLER_ID, "Timeout": str(int(timeout_s * 1000)),
              "ChannelId": channel_id, "Variable": ",".join(variables)}
    return asyncio.get_running_loop().create_task(sim.pbx.originate(fields, None, True))


def _ended(journal: Path) -> set[str]:
    """The Linkedids whose LINKEDID_END the journal holds."""
    if not journal.exists():
        return set()
    return {e.linkedid for e in map(parse_line, journal.read_bytes().splitlines())
            if e is not None and e.type == "LINKEDID_END"}


async def _until(what: str, check: Any, tries: int = 600) -> Any:
    for _ in range(tries):
        found = await check()
        if found:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"never: {what}")


async def _callback_request(db_url: str, phone: str) -> int:
    """A callback whose attempt the test places (done: the worker leaves it alone)."""
    engine = make_engine(db_url)
    try:
        async with async_sessionmaker(engine)() as db, db.begin():
            row = CallbackRequest(phone=phone, queue="support", state="done", attempts=1,
                                  place_at=datetime.now(UTC))
            db.add(row)
            await db.flush()
            return int(row.id)
    finally:
        await engine.dispose()


def _row(r: CallRecord) -> tuple[Any, ...]:
    return (r.direction, r.caller, r.agent, r.agent_interface, r.outcome, r.hangup_by,
            r.answered_at is not None, r.did, list(r.queues or []))


async def test_outbound_calls_that_end_while_hotline_is_killed_are_logged_after_its_restart(
        db_url: str, bus_env: dict[str, str], tmp_path: Path) -> None:
    await upgrade_async(db_url)
    missed_id = await _callback_request(db_url, "+8613600136009")
    busy_id = await _callback_request(db_url, "+8613600136008")
    journal = tmp_path / "cel.csv"
    sim = PbxSimulator(time_scale=SCALE, timestampevents=True, journal=str(journal))
    await sim.start()
    procs: list[Any] = []
    tasks: list[asyncio.Task[Any]] = []
    early, answered, unanswered, missed = "c2d-early", "c2d-answered", "c2d-no-answer", \
        "c2d-agent-misses"
    cb_missed, cb_busy = f"hlcb-{missed_id}-0a1b2c3d4e", f"hlcb-{busy_id}-5f6a7b8c9d"
    unseen = "c2d-unseen"  # placed and ended while Hotline is down
    try:
        for agent in ("Alice", "Bob", "Carol", "Agent2001", "Agent2002"):
            sim.pbx.sign_in(agent)
        sim.set_agent("Alice", ring_s=1.0)
        sim.set_agent("Bob", ring_s=1.0)
        sim.set_agent("Carol", mode="noanswer")
        sim.set_agent("Agent2001", mode="noanswer")
        sim.set_agent("Agent2002", ring_s=15.0)
        for number, mode, talk in (("13700137004", "answer", 3.0),
                                   ("13700137001", "answer", 40.0),
                                   ("13700137002", "noanswer", 0.0),
                                   ("13600136008", "busy", 0.0),
                                   ("13700137005", "answer", 5.0)):
            sim.set_customer(number, mode=mode, ring_s=2.0, talk_s=talk or 3.5)
        procs.append(await _serve(db_url, bus_env, sim, journal, tmp_path))
        # ended while Hotline watches: logged live, and not again from the journal
        tasks.append(_originate(sim, "Local/1001@agents/n", "13700137004", early))

        async def early_logged() -> bool:
            return early in {r.linkedid for r in await _records(db_url)}

        await _until("the first call logged live", early_logged)
        # each lasts 15 s of the PBX's time or more: they end while Hotline is down
        tasks += [
            _originate(sim, "Local/1001@agents/n", "13700137001", answered),
            _originate(sim, "Local/1002@agents/n", "13700137002", unanswered),
            _originate(sim, "Local/1003@agents/n", "13700137003", missed, timeout_s=20.0),
            _originate(sim, "Local/2001@agents/n", "13600136009", cb_missed, timeout_s=20.0,
                       callback=True),
            _originate(sim, "Local/2002@agents/n", "13600136008", cb_busy, timeout_s=30.0,
                       callback=True),
        ]
        placed = {answered, unanswered, missed, cb_missed, cb_busy}

        async def ringing() -> bool:  # every agent's phone rings: Hotline saw them start
            return placed <= {c.linkedid for c in sim.pbx.channels.values()}

        await _until("the agents' phones ring", ringing)
        procs[-1].kill()  # SIGKILL: nothing flushed, nothing said goodbye
        await procs[-1].wait()
        before = {r.linkedid for r in await _records(db_url)}  # what it logged live
        tasks.append(_originate(sim, "Local/1002@agents/n", "13700137005", unseen))
        down = placed | {unseen}

        async def all_ended() -> bool:
            return down <= _ended(journal)

        await _until("the calls ended while Hotline is down", all_ended)
        procs.append(await _serve(db_url, bus_env, sim, journal, tmp_path))

        async def all_logged() -> list[CallRecord] | None:
            rows = await _records(db_url)
            return rows if {early} | down <= {r.linkedid for r in rows} else None

        rows = await _until("every outbound call logged", all_logged)
    finally:
        await _stop(procs, sim, tasks)
    by_call = {r.linkedid: r for r in rows}
    assert [lid for lid, n in Counter(r.linkedid for r in rows).items() if n > 1] == []
    # the PBX's time is the wall clock's: on a stalled machine a call may have ended
    # before the kill, and was then logged live (by the tracker, with the same record but
    # for the number the journal cannot know, below)
    recovered = down - before
    assert unseen in recovered and early in before
    alice, bob = "Local/1001@agents/n", "Local/1002@agents/n"
    assert {lid: _row(r) for lid, r in by_call.items()} == {
        early: ("outbound", "+8613700137004", "Alice", alice, "answered", "customer", True,
                None, []),
        answered: ("outbound", "+8613700137001", "Alice", alice, "answered", "customer", True,
                   None, []),
        unanswered: ("outbound", "+8613700137002", "Bob", bob, "no-answer", "system", False,
                     None, []),
        # her phone never answered: the dialplan never saw the number, nor does the
        # journal (the tracker has it from the Originate's variable)
        missed: ("outbound", None if missed in recovered else "+8613700137003", "Carol",
                 "Local/1003@agents/n", "failed", "system", False, None, []),
        # a callback's number comes from its request
        cb_missed: ("outbound", "+8613600136009", "Agent2001", "Local/2001@agents/n",
                    "failed", "system", False, None, []),
        cb_busy: ("outbound", "+8613600136008", "Agent2002", "Local/2002@agents/n",
                  "no-answer", "system", False, None, []),
        unseen: ("outbound", "+8613700137005", "Bob", bob, "answered", "customer", True, None,
                 []),
    }
    assert by_call[cb_busy].ivr == {"HOTLINE_DIALLED": "13600136008",
                                    "HOTLINE_CALLBACK": cb_busy,
                                    "HOTLINE_CALLBACK_ID": str(busy_id)}
    # the restarted Hotline logged from the journal those the first did not, only those
    log = (tmp_path / "serve.log").read_text("utf-8", "replace")
    counts = re.findall(r"journal read since \d+ \(\d+ events\): (\{[^}]*\})", log)
    assert counts and f"'recovered': {len(recovered)}," in counts[-1], (counts, recovered)


async def test_an_outbound_call_cut_by_an_ami_outage_gets_the_journals_outcome(
        tmp_path: Path) -> None:
    """The link drops while the customer's phone rings; he answers, talks and hangs up
    before Hotline is back. The resync finds no channel left and can only guess; the
    journal says answered, the customer hung up. Without it, the guess stands (wrong)."""
    results = {}
    for with_journal in (False, True):
        journal = tmp_path / f"cel-{with_journal}.csv"
        sim = PbxSimulator(time_scale=SCALE, timestampevents=True,
                           journal=str(journal) if with_journal else None)
        await sim.start()
        task: asyncio.Task[Any] | None = None
        try:
            sim.pbx.sign_in("Alice")
            sim.set_agent("Alice", ring_s=1.0)
            sim.set_customer("13700137001", mode="answer", ring_s=6.0, talk_s=4.0)
            side = hotline_with_journal(sim, journal) if with_journal else hotline(sim)
            async with side as (client, bus):
                await _until("logged in", _ready(client))
                task = _originate(sim, "Local/1001@agents/n", "13700137001", "c2d-cut")
                await _until("the customer's phone rings", _ringing(bus, "c2d-cut"))
                sim.refuse_connections(True)
                await sim.drop_connections()
                await _until("the call ended", _ended_in(
                    journal if with_journal else None, "c2d-cut", sim))
                sim.refuse_connections(False)
                ended = await bus.first(CallEnded, "c2d-cut")
                await asyncio.sleep(0.2)  # a second record would come now
                assert sum(isinstance(e, CallEnded) and e.linkedid == "c2d-cut"
                           for e in bus.events) == 1
                results[with_journal] = ended.summary
        finally:
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
            await sim.close()
    fixed, guess = results[True], results[False]
    assert (fixed.outcome, fixed.hangup_by, fixed.agent, fixed.caller, fixed.direction) == (
        "answered", "customer", "Alice", "+8613700137001", "outbound")
    assert fixed.answered_at is not None and fixed.talk_s == 4
    # what the tracker alone had: the Originate's variables stay in the corrected record
    assert fixed.ivr["HOTLINE_ORIGINATED_BY"] == "alice"
    assert (guess.outcome, guess.hangup_by) == ("no-answer", "system"), guess


def _ready(client: Any) -> Any:
    async def check() -> bool:
        return bool(client.ready)
    return check


def _ringing(bus: Any, linkedid: str) -> Any:
    """The agent's pop of the outbound call: the customer is being dialled."""
    async def check() -> bool:
        return any(getattr(e, "linkedid", None) == linkedid and type(e).__name__ ==
                   "AgentRinging" for e in bus.events)
    return check


def _ended_in(journal: Path | None, linkedid: str, sim: PbxSimulator) -> Any:
    """The call is over at the PBX (its channels gone; the journal's last word on it)."""
    async def check() -> bool:
        gone = not any(c.linkedid == linkedid for c in sim.pbx.channels.values())
        return gone and (journal is None or linkedid in _ended(journal))
    return check


async def test_the_journals_lookups_read_hotlines_records(db_url: str) -> None:
    """What Hotline's records add to an outbound call's journal: the agent's name by her
    phone's device (agent name, else display name), a callback attempt's number by its
    claim token; anything else is not found."""
    await upgrade_async(db_url)
    callback_id = await _callback_request(db_url, "+8613600136000")
    engine = make_engine(db_url)
    try:
        sm = async_sessionmaker(engine, expire_on_commit=False)
        async with sm() as db, db.begin():
            db.add_all([
                User(username="alice", display_name="Alice Liu", password_hash="x",
                     agent_interface="Local/1001@agents/n", agent_name="Alice"),
                User(username="bob", display_name="Bob Wang", password_hash="x",
                     agent_interface="PJSIP/1002"),
                User(username="admin", display_name="Admin", password_hash="x"),
            ])
        assert await agents_by_device(sm) == {
            "Local/1001@agents": ("Alice", "Local/1001@agents/n"),
            "PJSIP/1002": ("Bob Wang", "PJSIP/1002")}
        token = f"hlcb-{callback_id}-0123456789"
        assert await callback_numbers(sm, [token, "hlcb-999999-0a", "1796630723.0",
                                           "hlcb-x-1", "hlcb-"]) == {token: "+8613600136000"}
    finally:
        await engine.dispose()
