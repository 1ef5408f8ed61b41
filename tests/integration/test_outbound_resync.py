"""Outbound calls still up when Hotline comes back are followed to their end and logged
once (issue 13 items 1-2): ``hotline serve`` killed (SIGKILL) and started again, or its
AMI link cut for a while, while Alice's click-to-dial rings the customer and a callback
rings the agent's phone. While Hotline is blind the customer answers and the agent picks
up (the customer's phone is dialled); once Hotline has resynced the customer hangs up
the click-to-dial and the agent gives up on the callback. Before, the restarted Hotline
never logged either (its resync adopted inbound calls only, the journal logs calls that
ended); across an outage the callback was ``failed`` (her answer unseen).

Each is compared with the same call watched whole by the same Hotline beforehand: same
direction, number, agent, outcome, who hung up. SQLite and PostgreSQL, the in-process
bus and Redis; the simulator runs Hotline's own dialplan (the agent's phone dialled by
[agents], the customer by [outbound]) and keeps its CEL journal, which ``hotline serve``
reads at start and after the outage (it must not log these calls a second time)."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from crm_core.db import upgrade_async
from crm_core.models import CallRecord
from telephony.simulator import PbxSimulator

from .test_outbound_journal import _callback_request, _originate, _until
from .test_restart_journal import _records, _serve, _stop

SCALE = 0.02  # 50 simulated seconds a second
LONG = 100_000.0  # a phone that rings, or a talk that lasts, until the test ends it
ALICE, AGENT2002 = "Local/1001@agents/n", "Local/2002@agents/n"


def _channel(sim: PbxSimulator, linkedid: str, prefix: str) -> str | None:
    """The name of the call's channel that starts with ``prefix``, if it exists."""
    return next((c.name for c in sim.pbx.channels.values()
                 if c.linkedid == linkedid and c.name.startswith(prefix)), None)


def _resyncs(folder: Path) -> int:
    """How many times Hotline has reconciled after a resync (it logs each)."""
    log = folder / "serve.log"
    return log.read_text("utf-8", "replace").count("journal read since") if log.exists() else 0


def _row(r: CallRecord) -> tuple[Any, ...]:
    return (r.direction, r.agent, r.agent_interface, r.outcome, r.hangup_by,
            r.answered_at is not None, r.did, list(r.queues or []))


async def _pair(sim: PbxSimulator, tag: str, db_url: str) -> tuple[str, str, asyncio.Task[Any],
                                                                   asyncio.Task[Any]]:
    """Alice clicks to dial 1370013701<tag>; a callback to 1360013601<tag> rings the
    phone of 2002. Returns their Linkedids and tasks."""
    cb_id = await _callback_request(db_url, f"+86136001360{tag}")
    c2d, callback = f"c2d-{tag}", f"hlcb-{cb_id}-0a1b2c3d{tag}"
    tasks = (_originate(sim, ALICE, f"137001370{tag}", c2d, timeout_s=60.0),
             _originate(sim, AGENT2002, f"136001360{tag}", callback, timeout_s=60.0,
                        callback=True))
    return c2d, callback, *tasks


async def _end(sim: PbxSimulator, c2d: str, callback: str, tag: str) -> None:
    """The customer hangs up the click-to-dial (answered); the agent hangs up her phone
    while the callback's customer still rings."""
    customer = _channel(sim, c2d, f"Local/137001370{tag}@pstn-out-")
    phone = _channel(sim, callback, "Local/2002@phones-")
    assert customer and phone, sorted(c.name for c in sim.pbx.channels.values())
    assert sim.pbx.hangup_channel(customer[:-1] + "2")
    assert sim.pbx.hangup_channel(phone)


@pytest.mark.parametrize("fault", ["kill", "outage"])
async def test_outbound_calls_up_when_hotline_is_back_are_logged_once_as_watched(
        fault: str, db_url: str, bus_env: dict[str, str], tmp_path: Path) -> None:
    await upgrade_async(db_url)
    journal = tmp_path / "cel.csv"
    # Hotline's dialplan (the agent's phone dialled first); the IVR's port is closed:
    # only outbound calls here
    sim = PbxSimulator(time_scale=SCALE, timestampevents=True, journal=str(journal),
                       agi="127.0.0.1:1")
    await sim.start()
    procs: list[Any] = []
    tasks: list[asyncio.Task[Any]] = []
    try:
        for agent in ("Alice", "Agent2002"):
            sim.pbx.sign_in(agent)
        # her phone stays off the hook until the test hangs it up
        sim.set_agent("Alice", ring_s=1.0, talk_s=LONG)
        sim.set_agent("Agent2002", ring_s=20.0, talk_s=LONG)  # picks up while Hotline is blind
        for tag in ("01", "02"):
            sim.set_customer(f"137001370{tag}", mode="answer", ring_s=20.0, talk_s=LONG)
            sim.set_customer(f"136001360{tag}", mode="answer", ring_s=LONG, talk_s=LONG)
        procs.append(await _serve(db_url, bus_env, sim, journal, tmp_path))
        await _until("Hotline resynced", lambda: _async(_resyncs(tmp_path) >= 1))

        # watched whole: the same two calls, ended the same way
        seen_c2d, seen_cb, *more = await _pair(sim, "01", db_url)
        tasks += more
        await _until("both dialling", lambda: _async(
            _channel(sim, seen_c2d, "Local/13700137001@pstn-out-") is not None
            and _channel(sim, seen_cb, "Local/13600136001@pstn-out-") is not None))
        await _until("the customer answered", lambda: _async(
            _bridged(sim, seen_c2d, "Local/13700137001@pstn-out-")))
        await _end(sim, seen_c2d, seen_cb, "01")
        await _until("both logged", _logged(db_url, {seen_c2d, seen_cb}))

        c2d, callback, *more = await _pair(sim, "02", db_url)
        tasks += more
        await _until("the customer's phone and the agent's ring", lambda: _async(
            _channel(sim, c2d, "Local/13700137002@pstn-out-") is not None
            and _channel(sim, callback, "Local/2002@phones-") is not None))
        resyncs = _resyncs(tmp_path)
        if fault == "kill":
            procs[-1].kill()  # SIGKILL: nothing flushed, nothing said goodbye
            await procs[-1].wait()
            await asyncio.sleep(0.5)  # 25 s of the PBX's time without Hotline
            procs.append(await _serve(db_url, bus_env, sim, journal, tmp_path))
        else:
            sim.refuse_connections(True)
            await sim.drop_connections()
            await asyncio.sleep(0.5)  # 25 s of the PBX's time with Hotline blind
            sim.refuse_connections(False)
        await _until("Hotline resynced again", lambda: _async(_resyncs(tmp_path) > resyncs))
        # while it was blind: the customer answered, the agent picked up the callback
        assert _bridged(sim, c2d, "Local/13700137002@pstn-out-")
        assert _channel(sim, callback, "Local/13600136002@pstn-out-") is not None
        await _end(sim, c2d, callback, "02")
        await _until("both logged", _logged(db_url, {c2d, callback}))
        await asyncio.sleep(0.3)  # 15 s of the PBX's time: a second record would be in
        rows = await _records(db_url)
    finally:
        await _stop(procs, sim, tasks)
    assert [lid for lid, n in Counter(r.linkedid for r in rows).items() if n > 1] == []
    by_call = {r.linkedid: r for r in rows}
    assert set(by_call) == {seen_c2d, seen_cb, c2d, callback}
    assert _row(by_call[seen_c2d]) == ("outbound", "Alice", ALICE, "answered", "customer",
                                       True, None, [])
    assert _row(by_call[seen_cb]) == ("outbound", "Agent2002", AGENT2002, "no-answer",
                                      "agent", False, None, [])
    assert _row(by_call[c2d]) == _row(by_call[seen_c2d])
    assert _row(by_call[callback]) == _row(by_call[seen_cb])
    assert (by_call[c2d].caller, by_call[callback].caller) == ("+8613700137002",
                                                               "+8613600136002")
    assert by_call[c2d].ivr == {"HOTLINE_DIALLED": "13700137002",
                                "HOTLINE_ORIGINATED_BY": "alice"}
    assert by_call[callback].ivr == {**by_call[seen_cb].ivr,
                                     "HOTLINE_CALLBACK": callback,
                                     "HOTLINE_DIALLED": "13600136002",
                                     "HOTLINE_CALLBACK_ID": callback.split("-")[1]}
    # the answer was unseen: never before the fault, its talk at least the talk after it
    answered = by_call[c2d].answered_at
    assert answered is not None and by_call[c2d].talk_s is not None
    assert by_call[c2d].talk_s >= 25


async def _async(value: bool) -> bool:
    return value


def _bridged(sim: PbxSimulator, linkedid: str, prefix: str) -> bool:
    name = _channel(sim, linkedid, prefix)
    chan = sim.pbx.channels.get(name or "")
    return chan is not None and chan.bridge is not None


def _logged(db_url: str, linkedids: set[str]) -> Any:
    async def check() -> bool:
        return linkedids <= {r.linkedid for r in await _records(db_url)}
    return check
