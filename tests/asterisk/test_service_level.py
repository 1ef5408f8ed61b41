"""The service level on the real PBX (issue 16 item 2): for the same calls, Hotline's
live wallboard and its report from the call log give app_queue's own figures
(QueueStatus's QueueParams: Completed, Abandoned, ServicelevelPerf, ServicelevelPerf2).

The calls, in queue ``support`` (``servicelevel = 20`` in deploy/asterisk/queues.conf,
Hotline's default threshold too): one answered at once (within 20 s); with nobody signed
in, two callers who give up after a few seconds (within 20 s) and one after half a minute
(not within); then one answered after half a minute of waiting (not within). So
SL = 1 / 2 = 50 % and SL2 = (1 + 2) / (2 + 3) = 60 %: the two formulas differ, each is
checked."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import websockets
from sqlalchemy.ext.asyncio import async_sessionmaker

from crm_core.db import make_engine
from crm_core.kpi import QueueRules
from crm_core.kpi_report import interval_report
from crm_core.permissions import SYSTEM
from tests.integration.console_support import frame_where

from .conftest import Site
from .site import HOTLINE_400
from .test_supervise import add_supervisor


async def queue_params(site: Site, queue: str) -> dict[str, Any]:
    """app_queue's own figures of ``queue`` (the QueueParams event of QueueStatus)."""
    mark = len(site.ami.events)
    reply = await site.ami.action("QueueStatus", Queue=queue)
    assert reply.get("Response") == "Success", reply
    return dict(await site.ami.wait_event(
        lambda m: m.get("Event") == "QueueParams" and m.get("Queue") == queue, start=mark))


async def queued(site: Site, count: int, mark: int) -> None:
    """Until ``count`` callers joined ``support`` after event index ``mark``."""
    deadline = asyncio.get_running_loop().time() + 60
    while sum(1 for e in site.ami.events[mark:] if e.get("Event") == "QueueCallerJoin"
              and e.get("Queue") == "support") < count:
        assert asyncio.get_running_loop().time() < deadline, "the callers did not queue"
        await asyncio.sleep(0.2)


async def test_service_level_equals_app_queues_own(site: Site) -> None:
    await add_supervisor(site.hotline.db_url)
    await site.ami.setvar("PHONE_1001_TALK", "5")  # Alice hangs up after 5 s of talk
    async with site.hotline.console("alice") as alice, site.hotline.console("zhao") as zhao:
        # 1. answered at once
        await site.sign_in(alice, "alice")
        await site.ami.call_in(HOTLINE_400, "13900000001", keys="0", pre=7, hold=60)
        await site.hotline.wait_records(1, within=90)
        mark = len(site.ami.events)
        status, body = await alice.call("POST", "/agent/state", {"action": "sign-out"})
        assert status == 202, body
        await site.ami.wait_event(lambda m: m.get("Event") == "QueueMemberRemoved"
                                  and m.get("Queue") == "support", start=mark)
        # 2-4. nobody to answer: two short waits and a long one, all given up
        mark = len(site.ami.events)
        for number, hold in (("13900000002", 8), ("13900000003", 8), ("13900000004", 34)):
            await site.ami.call_in(HOTLINE_400, number, keys="0", pre=7, hold=hold)
        await queued(site, 3, mark)
        await site.hotline.wait_records(4, within=90)
        # 5. waits half a minute, then Alice signs in and answers
        mark = len(site.ami.events)
        await site.ami.call_in(HOTLINE_400, "13900000005", keys="0", pre=7, hold=120)
        await queued(site, 1, mark)
        joined = await site.ami.wait_event(
            lambda m: m.get("Event") == "QueueCallerJoin", start=mark)
        await asyncio.sleep(30)  # the caller waits: past the 20 s of the service level
        await site.sign_in(alice, "alice")
        rows = await site.hotline.wait_records(5, within=90)
        params = await queue_params(site, "support")

        # the live wallboard's tile of the queue
        async with websockets.connect(
                f"ws://127.0.0.1:{site.hotline.http_port}/ws/wallboard",
                additional_headers={"Cookie": zhao.cookie()}) as ws:
            frame = await frame_where(ws, lambda f: f.get("type") == "board"
                                      and any(q["queue"] == "support"
                                              and q["offered"] == 5 for q in f["queues"]),
                                      within=30)
    [live] = [q for q in frame["queues"] if q["queue"] == "support"]

    # the report of the same calls, from the call log
    engine = make_engine(site.hotline.db_url)
    try:
        async with async_sessionmaker(engine).begin() as db:
            now = datetime.now(UTC)
            report = await interval_report(
                db, SYSTEM, start=now - timedelta(days=1), end=now + timedelta(minutes=1),
                interval="month", by="queue", rules={"support": QueueRules(sl_s=20)})
    finally:
        await engine.dispose()
    [logged] = [r for r in report if r["key"] == "support"]

    outcomes = sorted(r.outcome for r in rows)
    assert outcomes == ["abandoned"] * 3 + ["answered"] * 2, [r.__dict__ for r in rows]
    assert joined["Queue"] == "support"
    assert params["ServiceLevel"] == "20", params
    # app_queue's own figures are what the scenario says
    assert (params["Completed"], params["Abandoned"]) == ("2", "3"), params
    assert float(params["ServicelevelPerf"]) == 50.0, params
    assert float(params["ServicelevelPerf2"]) == 60.0, params
    # and Hotline's, live and from the log, are the same
    for figures in (live, logged):
        assert figures["answered"] == int(params["Completed"]), figures
        assert figures["abandoned"] + figures["short_abandoned"] == int(params["Abandoned"])
        assert figures["sl"] == float(params["ServicelevelPerf"]), figures
        assert figures["sl2"] == float(params["ServicelevelPerf2"]), figures
