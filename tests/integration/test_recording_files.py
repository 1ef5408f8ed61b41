"""Call recordings over real HTTP, the demo's way of serving them (SQLite and PostgreSQL).

Issue 14 item 16: the demo served ``/recordings/<name>.wav`` to anyone. Now a recording is
played only to a signed-in user with the right to hear that call (``crm_core.
call_recordings``): not signed in or signed out, 401; signed in without the right, or a
name no call has, 404 (the same answer, so its existence is not given away).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import aiohttp
from aiohttp import web

from hotline.app import create_app
from hotline.demo import DEMO_RECORDINGS, add_demo_recordings, silent_wav
from telephony.simulator import PbxSimulator
from tests.integration.console_support import (
    ALICE,
    Console,
    app_settings,
    recorded_call,
    seed,
)

ENDED = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
KNOWN = "2026/11/25/1795478331.182.wav"  # the call of Wang's customer, answered by Alice
POOL = "2026/11/25/1795478331.190.wav"  # a call of nobody's customer, answered by Bob
# a record whose name says another day than its end: outside the days it is looked up in
OLD = "2025/01/01/1735689600.1.wav"


@asynccontextmanager
async def demo_app(db_url: str, sim: PbxSimulator) -> AsyncIterator[int]:
    """The app as ``hotline demo`` mounts it: its recordings under /recordings/."""
    settings = app_settings(db_url, sim.port, "recordings-test-secret", agi_enabled=False,
                            recording_base_url=DEMO_RECORDINGS)
    app = create_app(settings)
    add_demo_recordings(app)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield runner.addresses[0][1]
    finally:
        await runner.cleanup()


async def _get(http: aiohttp.ClientSession, port: int, name: str
               ) -> tuple[int, bytes, aiohttp.ClientResponse]:
    async with http.get(f"http://127.0.0.1:{port}{DEMO_RECORDINGS}{name}") as resp:
        return resp.status, await resp.read(), resp


async def test_a_recording_is_heard_only_by_who_may_hear_that_call(
        db_url: str, sim: PbxSimulator) -> None:
    seeded = await seed(db_url)
    await recorded_call(db_url, "1795478331.182", agent=ALICE, customer_id=seeded.customer,
                        recording=KNOWN, ended_at=ENDED)
    await recorded_call(db_url, "1795478331.190", agent="Local/1002@agents/n",
                        recording=POOL, ended_at=ENDED)
    await recorded_call(db_url, "1735689600.1", agent=ALICE, recording=OLD, ended_at=ENDED)
    async with demo_app(db_url, sim) as port:
        # nobody signed in: 401 and no audio, for a real recording or any other name
        async with aiohttp.ClientSession() as anonymous:
            for name in (KNOWN, POOL, "2026/11/25/guess.wav"):
                status, body, resp = await _get(anonymous, port, name)
                assert status == 401 and body != silent_wav(), name
                assert resp.content_type != "audio/wav"
        heard: dict[str, dict[str, int]] = {}
        for user in ("alice", "bob", "wang", "li"):
            who = Console(port)
            try:
                assert (await who.sign_in(user)).status == 200
                heard[user] = {}
                for name in (KNOWN, POOL, OLD, "2026/11/25/nothing.wav"):
                    status, body, resp = await _get(who.http, port, name)
                    heard[user][name] = status
                    if status == 200:
                        assert body == silent_wav() and resp.content_type == "audio/wav"
                        assert resp.headers["Cache-Control"] == "private, no-store"
                        assert resp.headers["X-Content-Type-Options"] == "nosniff"
                if user == "wang":  # signed out: the same cookie hears nothing any more
                    status, _ = await who.call("DELETE", "/session")
                    assert status in (200, 204)
                    assert (await _get(who.http, port, KNOWN))[0] == 401
            finally:
                await who.close()
    # agents (calls:read all) hear any call; Wang (manager, calls:read own) his customer's
    # only; Li (manager of nobody here) none; unknown names: nobody
    assert heard == {
        "alice": {KNOWN: 200, POOL: 200, OLD: 404, "2026/11/25/nothing.wav": 404},
        "bob": {KNOWN: 200, POOL: 200, OLD: 404, "2026/11/25/nothing.wav": 404},
        "wang": {KNOWN: 200, POOL: 404, OLD: 404, "2026/11/25/nothing.wav": 404},
        "li": {KNOWN: 404, POOL: 404, OLD: 404, "2026/11/25/nothing.wav": 404},
    }


async def test_a_bad_name_is_a_404_even_signed_in(db_url: str, sim: PbxSimulator) -> None:
    await seed(db_url)
    async with demo_app(db_url, sim) as port:
        alice = Console(port)
        try:
            assert (await alice.sign_in("alice")).status == 200
            for name in ("2026/11/25/1795478331.182.mp3", "2026/../../etc/passwd.wav",
                         "a%20b.wav", "..%2F..%2Fetc%2Fpasswd.wav"):
                assert (await _get(alice.http, port, name))[0] == 404, name
        finally:
            await alice.close()
