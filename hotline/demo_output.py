"""What ``hotline demo`` shows on the terminal, and where its log goes.

Rules:
- the terminal is for the person trying the demo: one line per start-up step, then the
  banner (the URLs, the logins, where the log is), then only warnings and errors;
- the app's log (a line per call from the IVR, the access log, the AMI link...) goes
  to ``hotline-demo.log`` in the demo's data folder: the SQLite file's folder
  (``var/`` by default), or ``var/`` when the database is not a SQLite file; each run
  starts it afresh, so it is this run's log;
- the banner is built by a pure function (``banner``), so its lines are tested.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

LOG_NAME = "hotline-demo.log"
_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def data_dir(database_url: str) -> Path:
    """The demo's data folder: where its SQLite file is (``var/`` otherwise)."""
    try:
        url = make_url(database_url)
    except ArgumentError:
        return Path("var")
    name = url.database or ""
    if url.get_backend_name() == "sqlite" and name and name != ":memory:" \
            and not name.startswith("file:"):
        return Path(name).parent
    return Path("var")


def step(text: str) -> None:
    """One start-up step, as it starts: the terminal is never silent for long."""
    print(f"Hotline demo: {text}", flush=True)


def log_to_file(database_url: str, level: str) -> Path:
    """Send the whole log to the data folder's ``hotline-demo.log`` (at ``level``) and
    only warnings and errors to the terminal; returns the log file's path."""
    path = data_dir(database_url) / LOG_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    to_file = logging.FileHandler(path, mode="w", encoding="utf-8")
    to_file.setFormatter(logging.Formatter(_FORMAT))
    to_terminal = logging.StreamHandler()
    to_terminal.setLevel(logging.WARNING)
    to_terminal.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[to_file, to_terminal], force=True)
    logging.getLogger("alembic").setLevel(logging.WARNING)  # migrations: say only what's wrong
    return path


@dataclass(frozen=True)
class Running:
    """Where the running demo answers."""

    host: str
    http_port: int
    ami_port: int
    ami_username: str
    ami_secret: str
    agi_port: int | None
    database_url: str
    journal: str
    log_file: Path
    floor: list[str]  # the simulated colleagues signed in from the start


def banner(run: Running) -> list[str]:
    """The lines printed once the demo answers (README's first screen shows them)."""
    web = f"http://{run.host}:{run.http_port}"
    ivr = (f"FastAGI on 127.0.0.1:{run.agi_port} (default flow; the simulator calls it)"
           if run.agi_port is not None else "off (calls are queued without it)")
    named = ", ".join(run.floor[:4]) + (", ..." if len(run.floor) > 4 else "")
    return [
        "Hotline demo",
        f"  agent console   : {web}/login",
        f"  live calls page : {web}/live",
        f"  station page    : {web}/station (a service station's tickets, for a phone)",
        f"  wallboard       : {web}/wallboard (TV: {web}/wallboard?tv=1)",
        f"  simulated PBX   : AMI on 127.0.0.1:{run.ami_port} "
        f"(user {run.ami_username} / {run.ami_secret})",
        f"  IVR             : {ivr}",
        f"  database        : {run.database_url}",
        f"  PBX journal     : {run.journal} (CEL: calls the AMI link missed)",
        f"  REST API        : {web}/api/v1/openapi.json",
        "  logins          : admin, zhao.min (hotline supervisor), wang.lei / li.na "
        "(account managers),",
        "                    alice / bob / carol (agents), zz.station (station BUS-ZHENGZHOU); "
        "password: demo",
        "  orders          : 北京博文进口图书 (010-5129 7073, 13600136000) and "
        "宇通客车服务站(郑州) (137 0013 7000)",
        "                    have open orders (IVR key 2, the pop); li.na's and wang.lei's "
        "home pages list late batches",
        f"  sales           : {web}/backoffice/funnel (the funnel, margins, sales by line); "
        "wang.lei's home page",
        "                    shows his big contracts of the last 10 days",
        f"  agents          : {len(run.floor)} simulated colleagues take calls ({named});",
        "                    alice / bob / carol sign in from the console to take theirs",
        f"  log file        : {run.log_file} (the terminal shows only warnings)",
        "Press Ctrl-C to stop.",
    ]
