"""The acceptance suite runs against a REAL Asterisk named by HOTLINE_TEST_ASTERISK.

Unset: every test here is skipped, and the run says so in its summary (loudly: a site or
a developer must know the real PBX was not tried). Each test gets a fresh rig (Asterisk
from deploy/asterisk as shipped plus tests/asterisk/overlay) and a fresh ``hotline
serve`` on SQLite; scenario captures are written to HOTLINE_TEST_CAPTURES when set.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from telephony.replay import replay_lines
from tests.integration.console_support import Console, Frame, frame_where

from .driver import AmiDriver
from .rig import AsteriskRig, asterisk_binary
from .site import AGENTS, HOTLINE_400, HotlineProcess, Seeded, seed

HERE = Path(__file__).resolve().parent
LOCK = Path(tempfile.gettempdir()) / "hotline-asterisk-rig.lock"
# what a replay of the capture must give exactly as the call log has it
REPLAY_FIELDS = ("caller", "caller_name", "did", "queues", "agents_tried", "agent",
                 "agent_interface", "wait_s", "ring_s", "talk_s", "hangup_by", "outcome",
                 "transfers", "ivr", "recording", "direction")
REASON = ("HOTLINE_TEST_ASTERISK is not set: the acceptance suite against a real Asterisk "
          "did NOT run (see README, 'Testing against a real Asterisk')")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if asterisk_binary() is not None:
        return
    for item in items:
        if Path(str(item.fspath)).resolve().is_relative_to(HERE):
            item.add_marker(pytest.mark.skip(reason=REASON))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if asterisk_binary() is None:
        terminalreporter.write_line(f"WARNING: {REASON}", yellow=True, bold=True)


@pytest.fixture(scope="session")
def prompts_dir(request: pytest.FixtureRequest,
                tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Hotline's IVR prompts (``hotline prompts build``), kept in pytest's cache: the
    build renders only what changed since the last run (without the cache plugin: built
    afresh for the run)."""
    from ivr.prompts_build import build

    cache = getattr(request.config, "cache", None)
    base = Path(cache.mkdir("asterisk-prompts")) if cache is not None \
        else tmp_path_factory.mktemp("asterisk-prompts")
    out = base / "hotline"
    build(out, ["zh", "en"], progress=lambda _line: None)
    return out


@dataclass
class Site:
    rig: AsteriskRig
    hotline: HotlineProcess
    ami: AmiDriver
    seeded: Seeded
    root: Path

    async def ami_sessions(self) -> int:
        """How many AMI sessions of the hotline user Asterisk has (ours is one)."""
        out = await self.rig.cli("manager show connected")
        return sum(1 for line in out.splitlines() if line.strip().startswith("hotline "))

    async def hotline_connected(self, within: float = 30.0) -> None:
        """Until Hotline's own AMI session is up (the driver's is the other one)."""
        deadline = asyncio.get_running_loop().time() + within
        while await self.ami_sessions() < 2:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError("Hotline did not log in to AMI: "
                                     + self.hotline.log.read_text()[-3000:])
            await asyncio.sleep(0.2)

    async def restart_hotline(self, *, kill: bool = False, **env: str) -> None:
        """Stop ``hotline serve`` (SIGTERM, or SIGKILL) and start it again, with ``env``
        (HOTLINE_* settings) added; back once its AMI session is up."""
        await self.hotline.stop(kill=kill)
        self.hotline.env.update(env)
        await self.hotline.start()
        await self.hotline_connected()

    async def sign_in(self, console: Console, username: str) -> None:
        """Sign ``username`` in from her console; back once Asterisk has her in her
        personal queue (what makes her 'ready' and offered calls)."""
        ext = AGENTS[username][0]
        mark = len(self.ami.events)
        status, body = await console.call("POST", "/agent/state", {"action": "sign-in"})
        assert status == 202, body
        await self.ami.wait_event(lambda m: m.get("Event") == "QueueMemberAdded"
                                  and m.get("Queue") == f"agent-{ext}", start=mark)

    @asynccontextmanager
    async def agent(self, username: str, *, sign_in: bool = True) -> AsyncIterator[Console]:
        """``username``'s console (signed in to the queues unless ``sign_in`` is False)."""
        async with self.hotline.console(username) as console:
            if sign_in:
                await self.sign_in(console, username)
            yield console

    async def ivr_caller(self, number: str, name: str = "", *, did: str = HOTLINE_400,
                         hold: float = 600.0) -> IvrCaller:
        """A PSTN caller dials ``did`` and stays on the line (``hold`` s at most): the
        test presses the keys, when the caller hears what he waits for."""
        mark, start = self.rig.log_size(), len(self.ami.events)
        await self.ami.call_in(did, number, name, pre=0, hold=hold)
        return IvrCaller(self, await self.ami.handset(did, start=start), mark)

    def check_replay(self, name: str, rows: list[Any]) -> None:
        """Save the scenario's capture; ``hotline replay`` of it must give the call log's
        rows, field by field (the tracker reads the bytes as the live pipeline did)."""
        lines, _tracker = replay_lines(self.save_capture(name))
        replayed = {d["linkedid"]: d for d in map(json.loads, lines)}
        for row in rows:
            assert row.linkedid in replayed, (row.linkedid, sorted(replayed))
            got = {k: replayed[row.linkedid].get(k) for k in REPLAY_FIELDS}
            want = {k: getattr(row, k) for k in REPLAY_FIELDS}
            assert got == want, f"{name}: replay {got} != logged {want}"

    def save_capture(self, name: str) -> Path:
        """The scenario's raw AMI bytes (and Asterisk's CEL journal of it), kept beside
        the test's files and, when HOTLINE_TEST_CAPTURES names a folder, there too."""
        path = self.root / f"{name}.ami"
        self.ami.save(path)
        kept = [path]
        if self.rig.journal.exists():  # the PBX's own journal of the same calls (CEL)
            kept.append(self.root / f"{name}.cel.csv")
            shutil.copyfile(self.rig.journal, kept[-1])
        dest = os.environ.get("HOTLINE_TEST_CAPTURES")
        if dest:
            Path(dest).mkdir(parents=True, exist_ok=True)
            for f in kept:
                shutil.copyfile(f, Path(dest) / f.name)
        return path


@dataclass
class IvrCaller:
    """A caller going through the IVR as a person does: he listens until a prompt
    starts (Asterisk's log says which sound files it plays to his call, in order),
    then presses keys on his handset."""

    site: Site
    handset: str  # the ;1 half of the Local pair: the caller's phone
    mark: int  # where Asterisk's log stood when he dialled
    heard_upto: int = 0  # how many of the sounds played to him were waited for

    @property
    def line(self) -> str:
        """The channel the hotline's dialplan (and IVR) runs on: the ;2 half."""
        return self.handset[:-1] + "2"

    def sounds(self) -> list[str]:
        """Every sound file played to him so far: ``hotline/zh/welcome``, ..."""
        return self.site.rig.played(self.line, since=self.mark)

    async def hears(self, prompt: str, *, lang: str = "zh", within: float = 60.0) -> list[str]:
        """Until prompt ``prompt`` starts, after what he heard so far; the prompts played
        in between (since the last ``hears``), without it."""
        sound = f"hotline/{lang}/{prompt}"
        deadline = asyncio.get_running_loop().time() + within
        while True:
            sounds = self.sounds()
            if sound in sounds[self.heard_upto:]:
                at = sounds.index(sound, self.heard_upto)
                between = sounds[self.heard_upto:at]
                self.heard_upto = at + 1
                return [s.removeprefix(f"hotline/{lang}/") for s in between]
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"{prompt} not played after {sounds[:self.heard_upto]}:"
                                     f" {sounds[self.heard_upto:]}")
            await asyncio.sleep(0.05)

    async def press(self, keys: str) -> None:
        await self.site.ami.press(self.handset, keys)

    async def hang_up(self) -> None:
        await self.site.ami.hangup(self.handset)


async def pop_then_answer(ws: Any, *, within: float = 90.0) -> tuple[Frame, Frame]:
    """The agent's websocket: the next pop, then the ``answered`` frame of that call
    (so the pop came before the answer)."""
    pop = await frame_where(ws, lambda f: f["type"] == "pop", within=within)
    linkedid = pop["call"]["linkedid"]
    answered = await frame_where(
        ws, lambda f: f["type"] == "answered" and f.get("linkedid") == linkedid,
        within=within)
    return pop, answered


@pytest.fixture
def rig_lock() -> Iterator[None]:
    """One rig at a time on this machine: deploy/asterisk fixes AMI on 5038 and the
    dialplan's AGI on 4573, so two runs of this suite take turns."""
    with open(LOCK, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


@pytest.fixture
async def site(tmp_path: Path, prompts_dir: Path, rig_lock: None) -> AsyncIterator[Site]:
    binary = asterisk_binary()
    assert binary is not None
    rig = AsteriskRig(binary, tmp_path / "asterisk")
    rig.write_config()
    (rig.sounds / "hotline").symlink_to(prompts_dir, target_is_directory=True)
    db_url = f"sqlite+aiosqlite:///{tmp_path}/hotline.db"
    seeded = await seed(db_url)
    await rig.start()
    ami = AmiDriver()
    await ami.connect()
    hotline = HotlineProcess(tmp_path, db_url)
    await hotline.start()
    s = Site(rig, hotline, ami, seeded, tmp_path)
    await s.hotline_connected()
    try:
        yield s
    finally:
        await s.hotline.stop()
        if s.ami is not ami:  # a scenario that restarted Asterisk made a new one
            await ami.close()
        await s.ami.close()
        await rig.stop()
