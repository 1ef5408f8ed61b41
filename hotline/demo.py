"""``hotline demo``: the embedded demo, everything in one process.

SQLite database migrated and seeded, the PBX simulator started as a real AMI
server on a free local port, the app connected to it over TCP like to a real
Asterisk, the app's FastAGI IVR on another free port with the simulator running
every call's IVR on it (caller keys from ``demo_load.CALLER_KEYS``), a steady
trickle of simulated callers (some of them seeded customers, some unknown
numbers, one with a hostile caller name), and the live page served over HTTP:
IVR -> queue -> pop -> log. Ctrl-C (or SIGTERM) stops everything cleanly. The terminal
shows a line per start-up step and the banner; the log goes to a file
(``hotline.demo_output``).

Recordings: the simulated PBX records every queued call (HOTLINE_RECORD=yes) but has no
audio, so the demo itself answers ``/recordings/<name>.wav`` with one second of
silence: the 360 page's "Listen" links work. It answers as a real site must: only to a
signed-in user with the right to hear that call (``agent_console.recording_files``).
A real site serves the PBX's folder (deploy/README.md "Call recordings").
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import signal
import tempfile
import wave
from pathlib import Path

from aiohttp import web

from crm_core.db import make_engine, upgrade_async
from crm_core.demo_data import NUMBER_PLAN
from hotline.demo_output import Running, banner, log_to_file, step
from hotline.settings import Settings
from telephony.simulator.dialplan_conf import QueueDefaults

log = logging.getLogger("hotline.demo")

DEMO_RECORDINGS = "/recordings/"  # the demo's recording_base_url (served by the demo)

# (company, contact phone numbers as people write them, VIP tier)
DEMO_CUSTOMERS: list[tuple[str, list[str], int]] = [
    ("华东医药包装有限公司", ["13800138000", "021-6432 1000"], 2),
    ("宇通客车服务站(郑州)", ["+86 137 0013 7000"], 1),
    ("北京博文进口图书有限公司", ["010-5129 7073", "13600136000"], 0),
    ("Lanxi Printers Co., Ltd.", ["0086-135-0013-5000"], 0),
    ("读者杂志社订阅部", ["13400134000"], 0),
    ("深圳速印打印机维修中心", ["(0755)83210000", "13300133000"], 1),
    ("王芳", ["13100131001"], 0),
    ("Chen Jie Trading", ["13100131002"], 0),
    ("VIP 客户 — 国药集团", ["13911112222"], 3),
]



def _demo_dids(hotline_numbers: list[str]) -> list[str]:
    """What demo callers dial: mostly the 400/800 numbers, about a quarter of them an old
    department line (so the entry-numbers report shows which old numbers still ring)."""
    legacy = [number for number, kind, _, _ in NUMBER_PLAN if kind == "legacy"]
    return list(hotline_numbers) * len(legacy) + legacy

def silent_wav(seconds: float = 1.0, rate: int = 8000) -> bytes:
    """A WAV of silence, 16-bit mono: what a demo recording sounds like."""
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"\x00\x00" * int(seconds * rate))
    return out.getvalue()


_SILENCE = silent_wav()


async def demo_audio(name: str) -> bytes:
    """The audio of any demo recording: the simulated PBX records nothing but silence."""
    return _SILENCE


def add_demo_recordings(app: web.Application) -> None:
    """``/recordings/<name>``: the demo's silence, behind the same sign-in and per-call
    right as any recording (a link that works is no reason to serve a caller's call
    to anyone: the right is what a site's recordings need, so the demo shows it)."""
    from agent_console.recording_files import add_recordings

    add_recordings(app, DEMO_RECORDINGS, demo_audio)


async def seed(url: str) -> dict[str, int]:
    """The realistic bilingual demo records (customers, contacts, assets, tickets,
    users...); safe to run again: a second run creates nothing."""
    from sqlalchemy.ext.asyncio import async_sessionmaker

    from crm_core.demo_data import seed_demo

    engine = make_engine(url)
    try:
        return await seed_demo(async_sessionmaker(engine, expire_on_commit=False))
    finally:
        await engine.dispose()


def floor_agents() -> list[str]:
    """The simulated colleagues the demo signs in at start: the demo agents nobody can log
    in as. Alice, Bob and Carol (logins) start signed out, as at a site: the PBX rings
    nobody Hotline has not signed in (deploy/asterisk/queues.conf lists no member)."""
    from crm_core.demo_data import USERS
    from telephony.simulator.demo_load import DEMO_AGENTS

    logins = {user[6] for user in USERS if user[6]}
    return [agent.name for agent in DEMO_AGENTS if agent.interface not in logins]


async def plan_queue_defaults(url: str) -> QueueDefaults:
    """Each number's queue before the IVR, from the demo's own number plan: what
    ``hotline ivr dialplan`` writes into hotline-numbers.conf for a site with that plan
    (legacy lines included), so the simulated dialplan queues as the IVR does."""
    from sqlalchemy.ext.asyncio import async_sessionmaker

    from ivr.dialplan_defaults import plan_queues
    from ivr.routing import DEFAULT_QUEUE

    engine = make_engine(url)
    try:
        async with async_sessionmaker(engine)() as session:
            queues, _skipped = await plan_queues(session)
    finally:
        await engine.dispose()
    return QueueDefaults(queues, DEFAULT_QUEUE)


async def _serve(settings: Settings, port: int | None, calls_per_second: float,
                 log_file: Path) -> None:
    from hotline.app import AGI_SERVER, create_app
    from telephony.simulator.agi_caller import AgiTarget
    from telephony.simulator.demo_load import DemoCaller, start_demo_pbx

    step(f"migrating the database ({settings.database_url})")
    await upgrade_async(settings.database_url)
    step("seeding the demo's customers, users and call history")
    await seed(settings.database_url)
    queue_defaults = await plan_queue_defaults(settings.database_url)
    step("starting the simulated PBX, the IVR and the web app")

    callers = [DemoCaller(number=n[0], name=name) for name, n, _ in DEMO_CUSTOMERS]
    callers += [
        DemoCaller(number="13912345678", name="Unknown Caller"),
        DemoCaller(number="13700000001", name='<img src=x onerror=alert(1)>'),
    ]
    # the PBX's journal (CEL), read after an AMI outage as on a real site: the demo's own
    journal = settings.pbx_journal or str(Path(tempfile.mkdtemp(prefix="hotline-demo-"))
                                          / "cel.csv")
    # the IVR is ours, for real: the app's FastAGI server on a free port, the simulated
    # PBX calling it for every call (the port is known once the app has started)
    pbx = await start_demo_pbx(
        username=settings.ami_username,
        secret=settings.ami_secret,
        calls_per_second=calls_per_second,
        callers=callers,
        dids=_demo_dids(settings.hotline_numbers),
        agi=AgiTarget("127.0.0.1", 0),
        start_calls=False,
        record_calls=True,
        queue_defaults=queue_defaults,
        signed_in=floor_agents(),
        journal=journal,
    )
    settings = settings.model_copy(update={
        "ami_host": "127.0.0.1", "ami_port": pbx.port, "pbx_journal": journal,
        "agi_enabled": True, "agi_host": "127.0.0.1", "agi_port": 0,
        "recording_base_url": DEMO_RECORDINGS,
    })
    app = create_app(settings)
    add_demo_recordings(app)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    agi = app.get(AGI_SERVER)
    agi_port = agi.port if agi is not None else None
    pbx.point_ivr_at(agi_port)  # no IVR server: calls go straight to the queue
    pbx.start_calls()
    http_port = port if port is not None else settings.http_port
    site = web.TCPSite(runner, settings.http_host, http_port)
    try:
        await site.start()
    except OSError:
        log.warning("port %s busy, taking a free one", http_port)
        site = web.TCPSite(runner, settings.http_host, 0)
        await site.start()
    bound = runner.addresses[-1][1]  # the port really bound (0 asks for a free one)

    running = Running(
        host=settings.http_host, http_port=bound, ami_port=pbx.port,
        ami_username=settings.ami_username, ami_secret=settings.ami_secret, agi_port=agi_port,
        database_url=settings.database_url, journal=journal, log_file=log_file,
        floor=floor_agents())
    print("\n".join(banner(running)), flush=True)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        print("stopping...", flush=True)
        # no new calls, then the app (its AMI link closes before the PBX goes: no
        # "disconnected" warning on the way out), then the PBX and the calls still up
        await pbx.stop_calls()
        await runner.cleanup()
        await pbx.close()
        print("stopped.", flush=True)


def run(settings: Settings, *, port: int | None = None, calls_per_second: float = 0.3) -> int:
    """Entry point of ``hotline demo``."""
    # the app logs a line per call and more: to a file, so the banner stays on screen
    log_file = log_to_file(settings.database_url, settings.log_level)
    asyncio.run(_serve(settings, port, calls_per_second, log_file))
    return 0
