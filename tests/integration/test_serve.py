"""``hotline serve`` against an AMI server (the simulator standing in for
Asterisk): it connects, logs calls, and stops cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
import urllib.request
from pathlib import Path

from telephony.simulator import PbxSimulator
from tests.integration.console_support import cookie_for, seed_agents


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _up(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=2):
            return True
    except OSError:
        return False


def _calls(port: int, cookie: str) -> dict[str, list[dict[str, object]]] | None:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/api/calls",
                                     headers={"Cookie": cookie})
    try:
        with urllib.request.urlopen(request, timeout=2) as resp:
            return json.loads(resp.read().decode("utf-8"))  # type: ignore[no-any-return]
    except OSError:
        return None


async def test_serve_logs_a_call_and_stops_on_sigterm(tmp_path: Path) -> None:
    sim = PbxSimulator(time_scale=0.02)
    await sim.start()
    db_url = f"sqlite+aiosqlite:///{tmp_path}/serve.db"
    await seed_agents(db_url)  # the calls API answers signed-in staff only
    http_port = _free_port()
    env = dict(os.environ)
    env.pop("HOTLINE_CONFIG", None)
    env.update({
        "HOTLINE_DATABASE_URL": db_url,
        "HOTLINE_AMI_PORT": str(sim.port),
        "HOTLINE_HTTP_PORT": str(http_port),
        "HOTLINE_LOG_LEVEL": "WARNING",
    })
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hotline.cli", "serve", cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    try:
        for _ in range(300):
            if sim.connections and await asyncio.to_thread(_up, http_port):
                break
            await asyncio.sleep(0.1)
        assert sim.connections, "hotline serve never logged in to the AMI server"
        cookie = await cookie_for(http_port, "alice")
        call = sim.place_call(caller="13800138000", name="Wang Fang")
        await asyncio.wait_for(call.done, 30)
        latest: list[dict[str, object]] = []
        for _ in range(300):
            body = await asyncio.to_thread(_calls, http_port, cookie)
            latest = [c for c in (body or {}).get("latest", []) if c["linkedid"] == call.linkedid]
            if latest:
                break
            await asyncio.sleep(0.1)
        assert latest and latest[0]["outcome"] == "answered"
        proc.send_signal(signal.SIGTERM)
        out, _ = await asyncio.wait_for(proc.communicate(), 30)
        assert proc.returncode == 0, out.decode()
        assert b"Traceback" not in out
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await sim.close()


async def test_start_up_objects_are_frozen_out_of_the_collector() -> None:
    import gc

    from aiohttp import web

    from hotline.serve import freeze_startup_objects

    try:
        await freeze_startup_objects(web.Application())
        assert gc.get_freeze_count() > 0  # what lived then is out of every collection
    finally:
        gc.unfreeze()
