"""``hotline demo`` as a new user runs it: it starts with a line per step, prints its
banner and keeps it on screen (the app's log goes to a file, not one line per call on
the terminal), serves the live page with calls moving, answers most calls, and Ctrl-C
stops everything cleanly. It runs without the test tools (``make demo`` does not
install them)."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import tomllib
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

from hotline.demo import floor_agents

ROOT = Path(__file__).resolve().parents[2]
RUN_S = 60  # how long the demo's own call rate runs with the hotline open
ANSWERED = ("answered", "transferred")


def _test_only_packages() -> list[str]:
    """The modules of pyproject's test extras that the base dependencies do not list."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]

    def name(spec: str) -> str:
        return re.split(r"[<>=!~\[; ]", spec, maxsplit=1)[0].lower().replace("-", "_")

    base = {name(spec) for spec in project["dependencies"]}
    return sorted({name(spec) for spec in project["optional-dependencies"]["test"]} - base)


# ``hotline demo`` with the test tools made unimportable, as after ``make demo``
WITHOUT_TEST_TOOLS = """
import importlib.abc, sys
BLOCKED = set(sys.argv[1].split(","))
class TestTools(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"{name}: a test tool, which make demo does not install")
        return None
sys.meta_path.insert(0, TestTools())
from hotline.cli import main
sys.exit(main(sys.argv[2:]))
"""


class _Output:
    """Every line the demo prints, read on a thread (a full pipe would stall the demo)."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        self.lines: list[str] = []
        self._stdout = proc.stdout
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        for line in self._stdout:
            self.lines.append(line.rstrip("\n"))

    def until(self, marker: str, within: float) -> list[str]:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if any(marker in line for line in self.lines):
                return list(self.lines)
            if not self._thread.is_alive():
                break
            time.sleep(0.05)
        raise AssertionError(f"{marker!r} never printed; got: {self.lines}")

    def finish(self) -> list[str]:
        self._thread.join(timeout=30)
        return list(self.lines)


def _get_json(opener: urllib.request.OpenerDirector, url: str) -> Any:
    with opener.open(url, timeout=5) as resp:
        return json.loads(resp.read().decode("utf-8"))


def _signed_in(base: str, username: str,
               password: str) -> tuple[urllib.request.OpenerDirector, str]:
    """An HTTP client holding the session cookie of ``username`` (a printed demo login),
    and the session's CSRF token."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
    body = json.dumps({"username": username, "password": password}).encode()
    request = urllib.request.Request(base + "api/v1/session", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    with opener.open(request, timeout=5) as resp:
        assert resp.status == 200
        return opener, json.loads(resp.read())["csrf_token"]


def _open_around_the_clock(base: str) -> None:
    """Save a version of the default flow open every day, so the run does not depend on
    the hour in Shanghai (after hours callers book callbacks instead of queueing)."""
    admin, csrf = _signed_in(base, "admin", "demo")
    doc = _get_json(admin, base + "api/v1/ivr/flows/default")["document"]
    for step in ("hours", "agent_hours"):
        doc["steps"][step].update(days=[1, 2, 3, 4, 5, 6, 7], open="00:00", close="23:59",
                                  holidays=[])
    request = urllib.request.Request(
        base + "api/v1/ivr/flows/default", data=json.dumps({"document": doc}).encode(),
        method="PUT", headers={"Content-Type": "application/json", "X-CSRF-Token": csrf})
    with admin.open(request, timeout=10) as resp:
        assert resp.status == 201


def _queued_outcomes(db: Path, after_id: int) -> Counter[str]:
    """Outcomes of the inbound calls logged since ``after_id`` that reached a queue."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        rows = conn.execute(
            "SELECT outcome FROM call_record WHERE id > ? AND direction = 'inbound' "
            "AND queued_at IS NOT NULL", (after_id,)).fetchall()
    return Counter(outcome for (outcome,) in rows)


def _last_call_id(db: Path) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return int(conn.execute("SELECT coalesce(max(id), 0) FROM call_record").fetchone()[0])


def test_demo_starts_serves_answers_and_stops_cleanly(tmp_path: Path) -> None:
    env = dict(os.environ)
    env.pop("HOTLINE_CONFIG", None)
    db = tmp_path / "data" / "demo.db"
    db.parent.mkdir()
    env["HOTLINE_DATABASE_URL"] = f"sqlite+aiosqlite:///{db}"
    env["HOTLINE_LOG_LEVEL"] = "INFO"  # the IVR logs a line per call at INFO
    blocked = _test_only_packages()
    assert {"pytest", "playwright", "mypy", "websockets"} <= set(blocked)
    proc = subprocess.Popen(
        [sys.executable, "-c", WITHOUT_TEST_TOOLS, ",".join(blocked), "demo", "--port", "0"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    output = _Output(proc)
    try:
        lines = output.until("Press Ctrl-C to stop.", within=60)
        start = lines.index("Hotline demo")
        # a line per start-up step before the banner: never minutes of silence
        steps = [ln for ln in lines[:start] if ln.startswith("Hotline demo: ")]
        assert len(steps) >= 3, lines
        banner = lines[start:]
        text = "\n".join(banner)
        assert "AMI on 127.0.0.1:" in text
        assert "password: demo" in text and "zhao.min (hotline supervisor)" in text
        assert f"{len(floor_agents())} simulated colleagues take calls" in text
        log_file = Path(next(ln.split(" : ", 1)[1] for ln in banner if "log file" in ln)
                        .split(" (", 1)[0])
        assert log_file == db.parent / "hotline-demo.log"  # in the demo's data folder
        url = next(ln.split(" : ", 1)[1].strip() for ln in banner if "live calls page" in ln)
        assert url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310
            # callers' data is for staff: the live page sends a stranger to sign in
            assert resp.status == 200 and "/login" in resp.url
        base = url.removesuffix("live")
        staff, _ = _signed_in(base, "zhao.min", "demo")
        with staff.open(url, timeout=5) as resp:
            assert resp.status == 200 and resp.url == url and "live.js" in resp.read().decode()
        console_url = next(ln.split(" : ", 1)[1].strip() for ln in banner
                           if "agent console" in ln)
        with urllib.request.urlopen(console_url, timeout=5) as resp:  # noqa: S310
            assert resp.status == 200 and 'id="login-submit"' in resp.read().decode()

        first_call = _last_call_id(db)  # the seeded history is not this run's
        _open_around_the_clock(base)
        deadline = time.monotonic() + 30
        calls: dict[str, Any] = {}
        while time.monotonic() < deadline:
            calls = _get_json(staff, base + "api/calls")
            if calls["live"]:
                break
            time.sleep(0.2)
        assert calls["live"], "no simulated call ever reached the live page"

        time.sleep(RUN_S)  # the demo's own call rate, with its own simulated floor
        live = Counter(c["state"] for c in _get_json(staff, base + "api/calls")["live"]
                       if c["direction"] == "inbound")
        logged = _queued_outcomes(db, first_call)
        answered = sum(logged[o] for o in ANSWERED) + live["talking"]
        # lost (timed out of the queue, hung up waiting) or still waiting for an agent
        not_answered = sum(n for o, n in logged.items() if o not in ANSWERED) + live["queued"]
        assert answered >= 3, (logged, live)
        assert answered >= 3 * not_answered, (logged, live)

        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
        out = output.finish()
        after_banner = out[out.index("Press Ctrl-C to stop.") + 1:]
        assert after_banner[-2:] == ["stopping...", "stopped."], out
        # the terminal keeps the banner: no log line per call (warnings only, and few)
        assert len(after_banner) <= 6, after_banner
        assert not any("IVR call" in ln for ln in out)
        assert "Traceback" not in "\n".join(out)
        log_text = log_file.read_text(encoding="utf-8")
        assert "IVR call" in log_text  # the per-call lines went to the file
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        output.finish()
        assert proc.stdout is not None
        proc.stdout.close()
