"""``hotline demo`` as a new user runs it: it starts, prints its URL, serves the
live page with calls moving, and Ctrl-C stops everything cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _read_until(proc: subprocess.Popen[str], marker: str, within: float) -> list[str]:
    lines: list[str] = []
    deadline = time.monotonic() + within
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if marker in line:
            return lines
    raise AssertionError(f"{marker!r} never printed; got: {lines}")


def _get_json(opener: urllib.request.OpenerDirector, url: str) -> dict[str, object]:
    with opener.open(url, timeout=5) as resp:
        return json.loads(resp.read().decode("utf-8"))  # type: ignore[no-any-return]


def _signed_in(base: str, username: str, password: str) -> urllib.request.OpenerDirector:
    """An HTTP client holding the session cookie of ``username`` (a printed demo login)."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
    body = json.dumps({"username": username, "password": password}).encode()
    request = urllib.request.Request(base + "api/v1/session", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    with opener.open(request, timeout=5) as resp:
        assert resp.status == 200
    return opener


def test_demo_starts_serves_and_stops_cleanly(tmp_path: Path) -> None:
    env = dict(os.environ)
    env.pop("HOTLINE_CONFIG", None)
    env["HOTLINE_DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path}/demo.db"
    env["HOTLINE_LOG_LEVEL"] = "WARNING"
    proc = subprocess.Popen(
        [sys.executable, "-m", "hotline.cli", "demo", "--port", "0", "--calls-per-second", "3"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        lines = _read_until(proc, "Press Ctrl-C to stop.", within=60)
        text = "\n".join(lines)
        assert "Hotline demo" in text
        url = next(ln.split(" : ", 1)[1].strip() for ln in lines if "live calls page" in ln)
        assert url.startswith("http://127.0.0.1:")
        assert "AMI on 127.0.0.1:" in text
        with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310
            # callers' data is for staff: the live page sends a stranger to sign in
            assert resp.status == 200 and "/login" in resp.url
        assert "password: demo" in text and "zhao.min (hotline supervisor)" in text
        base = url.removesuffix("live")
        staff = _signed_in(base, "zhao.min", "demo")
        with staff.open(url, timeout=5) as resp:
            assert resp.status == 200 and resp.url == url and "live.js" in resp.read().decode()
        console_url = next(ln.split(" : ", 1)[1].strip() for ln in lines
                           if "agent console" in ln)
        with urllib.request.urlopen(console_url, timeout=5) as resp:  # noqa: S310
            assert resp.status == 200 and 'id="login-submit"' in resp.read().decode()
        deadline = time.monotonic() + 30
        calls: dict[str, object] = {}
        while time.monotonic() < deadline:
            calls = _get_json(staff, base + "api/calls")
            if calls["live"]:
                break
            time.sleep(0.2)
        assert calls["live"], "no simulated call ever reached the live page"
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0, out
        assert "stopped." in out
        assert "Traceback" not in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
