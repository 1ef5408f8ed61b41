"""Calls that span an AMI outage keep their true outcome (issue 13 item 1).

Hotline's AMI side (``AmiClient`` feeding a ``CallTracker``, as ``hotline serve`` wires
them) watches a stream of calls on the simulator; mid-stream the PBX drops the link and
refuses to take it back for a while, then lets it in. The calls go on meanwhile: some
are in the IVR at the cut, some queued, some ringing, some talking; some are answered,
some end, during the outage. Each must be logged once, with the outcome, queue and agent
the simulator knows it really had. Everything runs on the simulator's clock."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from hotline.journal import CsvJournal, JournalReconciler
from hotline.pipeline import TrackerFeed
from telephony.ami import AmiClient
from telephony.events import CallEnded
from telephony.simulator import CallScript, PbxSimulator, SimCall
from telephony.tracker import CallTracker

from .test_resync_restart import Bus, hotline

SCALE = 0.02  # 50 simulated seconds a second


def _script(i: int) -> CallScript:
    """Call ``i``: talks 20-80 s, every third one 250 s (still up after any outage here);
    every fifth caller gives up after 8 s in the queue."""
    talk = 250.0 if i % 3 == 0 else 20.0 + (i % 4) * 20.0
    return CallScript(talk=talk, patience=8.0 if i % 5 == 4 else 300.0, ivr_s=2.0 + (i % 3))


def _truth(call: SimCall) -> tuple[str, str | None, str | None]:
    # the simulator's "timeout" (Queue()'s own timeout ran out) is the call log's no-answer
    outcome = {"timeout": "no-answer"}.get(call.outcome, call.outcome)
    return outcome, call.queue, call.agent


async def _logged(bus: Bus, calls: list[SimCall]) -> dict[str, CallEnded]:
    wanted = {c.linkedid for c in calls}
    for _ in range(2000):
        ended = {e.linkedid: e for e in bus.events if isinstance(e, CallEnded)}
        if wanted <= set(ended):
            return ended
        await asyncio.sleep(0.01)
    missing = wanted - {e.linkedid for e in bus.events if isinstance(e, CallEnded)}
    raise AssertionError(f"never logged: {sorted(missing)}")


def _logged_as(event: CallEnded) -> tuple[str, str | None, str | None]:
    s = event.summary
    return s.outcome, (s.queues or (None,))[-1], s.agent


@asynccontextmanager
async def hotline_with_journal(sim: PbxSimulator, journal: Path
                               ) -> AsyncIterator[tuple[AmiClient, Bus]]:
    """One Hotline's AMI side, as ``hotline serve`` wires it with HOTLINE_PBX_JOURNAL:
    the resync's blind records go to the journal's reconciliation first."""
    bus = Bus()
    tracker = CallTracker(clock=sim.pbx.now)

    async def logged(linkedids: Iterable[str]) -> set[str]:
        return {e.linkedid for e in bus.events if isinstance(e, CallEnded)} & set(linkedids)

    async def never() -> None:
        return None

    reconciler = JournalReconciler(
        CsvJournal(journal), publish=bus.publish_nowait, logged=logged, last_logged=never,
        member_of=tracker.member_of, inbound=lambda: tracker.inbound_contexts,
        is_open=tracker.is_open, clock=sim.pbx.now,
        origin=lambda: tracker.origin_contexts, outbound={"outbound"},
        followed=tracker.open_linkedids)
    feed = TrackerFeed(tracker, bus, reconciler)
    client = AmiClient(host="127.0.0.1", port=sim.port, username="hotline",
                       secret="hotline-secret", consumer=feed, action_timeout=5.0)
    await client.start()
    try:
        yield client, bus
    finally:
        await client.close()
        await reconciler.close()


async def _traffic_across_an_outage(outage_s: float, journal: Path | None = None, *,
                                    slow_status_s: float = 0.0
                                    ) -> tuple[list[SimCall], set[str],
                                               dict[str, CallEnded], Bus]:
    """30 calls, one a simulated second; after the 15th the PBX drops the link and
    refuses it for ``outage_s``. Returns the calls, the Linkedids of those still up when
    Hotline had resynced, what was logged, and the bus. With ``journal``: the PBX keeps
    its CEL journal there and Hotline reads it after the outage. With ``slow_status_s``:
    the PBX answers the resync's Status list that late (a busy Asterisk), and the calls
    keep coming meanwhile (the Linkedids returned are then those up at the reconnect)."""
    async with contextlib.AsyncExitStack() as stack:
        sim = PbxSimulator(time_scale=SCALE, timestampevents=True,
                           journal=None if journal is None else str(journal))
        await sim.start()
        stack.push_async_callback(sim.close)
        for agent in ("Alice", "Bob", "Carol"):
            sim.pbx.sign_in(agent)
        calls: list[SimCall] = []
        up_at_resync: set[str] = set()
        side = hotline(sim) if journal is None else hotline_with_journal(sim, journal)
        async with side as (client, bus):
            for _ in range(500):
                if client.ready:
                    break
                await asyncio.sleep(0.01)
            for i in range(30):
                calls.append(sim.place_call(caller=f"1391234{i:04d}", name=f"Caller {i}",
                                            script=_script(i)))
                await asyncio.sleep(0.02)  # one call a simulated second
                if i == 14:  # half of them are under way: the link goes down
                    sim.refuse_connections(True)
                    await sim.drop_connections()
                    await asyncio.sleep(outage_s)
                    if slow_status_s:
                        sim.slow_action("Status", slow_status_s)
                    sim.refuse_connections(False)
                    if slow_status_s:  # the calls do not wait for Hotline's resync
                        up_at_resync = {c.linkedid for c in calls if not c.done.done()}
                        continue
                    for _ in range(500):
                        if client.ready:
                            break
                        await asyncio.sleep(0.01)
                    assert client.ready, "Hotline never resynced"
                    up_at_resync = {c.linkedid for c in calls if not c.done.done()}
            await asyncio.wait_for(asyncio.gather(*(c.done for c in calls)), 60)
            ended = await _logged(bus, calls)
        return calls, up_at_resync, ended, bus


@pytest.mark.parametrize("outage_s", [0.25, 0.6])  # 12 s, 30 s of the PBX's time
async def test_calls_up_across_an_ami_outage_keep_their_outcome(outage_s: float) -> None:
    """Calls still up when Hotline resyncs: the snapshot tells what they became during
    the outage (queued from the IVR, answered by an agent whose leg is new)."""
    calls, up, ended, bus = await _traffic_across_an_outage(outage_s)
    once = Counter(e.linkedid for e in bus.events if isinstance(e, CallEnded))
    assert [lid for lid, n in once.items() if n != 1] == []
    assert up  # the long calls at least
    wrong = {c.linkedid: (_truth(c), _logged_as(ended[c.linkedid]))
             for c in calls if c.linkedid in up and _logged_as(ended[c.linkedid]) != _truth(c)}
    assert wrong == {}, f"{len(wrong)}/{len(up)} wrong (truth, logged): {wrong}"


@pytest.mark.parametrize("outage_s", [0.25, 0.6])
async def test_calls_ended_during_an_ami_outage_are_logged_from_the_pbx_journal(
        outage_s: float, tmp_path: Path) -> None:
    """Issue 13 items 1-2: a call that ENDS during the outage is beyond AMI's reach;
    the PBX's journal (CEL) gives its outcome. Every call logged once, every one right."""
    calls, _up, ended, bus = await _traffic_across_an_outage(outage_s, tmp_path / "cel.csv")
    once = Counter(e.linkedid for e in bus.events if isinstance(e, CallEnded))
    assert [lid for lid, n in once.items() if n != 1] == []
    wrong = {c.linkedid: (_truth(c), _logged_as(ended[c.linkedid]))
             for c in calls if _logged_as(ended[c.linkedid]) != _truth(c)}
    assert wrong == {}, f"{len(wrong)}/{len(calls)} wrong (truth, logged): {wrong}"


async def test_calls_that_change_while_a_slow_resync_runs_keep_their_outcome(
        tmp_path: Path) -> None:
    """The resync's last list (Status with every variable) answers 15 s of the PBX's time
    late and the calls go on meanwhile: callers the channel list saw in the IVR queue, are
    answered, give up or time out, and hang up, before Hotline has adopted their calls or
    reconciled its own. Their events wait for the snapshot; every call logged once and
    right (before: 6 runs of 6 had a caller who timed out in the queue logged ivr-only)."""
    calls, _up, ended, bus = await _traffic_across_an_outage(0.5, tmp_path / "cel.csv",
                                                             slow_status_s=0.3)
    once = Counter(e.linkedid for e in bus.events if isinstance(e, CallEnded))
    assert [lid for lid, n in once.items() if n != 1] == []
    wrong = {c.linkedid: (_truth(c), _logged_as(ended[c.linkedid]))
             for c in calls if _logged_as(ended[c.linkedid]) != _truth(c)}
    assert wrong == {}, f"{len(wrong)}/{len(calls)} wrong (truth, logged): {wrong}"


async def test_without_the_journal_a_call_ended_in_the_outage_is_only_a_guess() -> None:
    """What the journal is for: without it, at least one call that ended during the
    outage is logged with an outcome it did not have (the tracker's blind guess)."""
    calls, up, ended, _bus = await _traffic_across_an_outage(0.6)
    wrong = [c.linkedid for c in calls
             if c.linkedid not in up and _logged_as(ended[c.linkedid]) != _truth(c)]
    assert wrong
