"""One number plan: the dialplan's per-number default queues are Hotline's.

The queue a number gets BEFORE the IVR (deploy/asterisk's ``HOTLINE_QUEUE_<DID>``, used
when the IVR is down) must be the one the IVR gives it, or a caller's queue depends on
whether the IVR is up (the 800 number went to ``vip`` without it, ``support`` with it).
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path

from sqlalchemy.ext.asyncio import async_sessionmaker

from crm_core.db import make_engine, upgrade_async
from crm_core.models import IvrNumber
from hotline.settings import Settings
from ivr.default_flow import DEFAULT_FLOW
from ivr.dialplan_defaults import FILE_NAME, default_queue, plan_queues, render
from ivr.flow import parse_flow
from ivr.number_plan import Entry
from ivr.routing import DEFAULT_QUEUE
from ivr.runtime import CallFacts, IvrRuntime
from ivr.store import save_flow, seed_defaults
from ivr.trial import ScriptedChannel
from tests.shared import ROOT

DEPLOY = ROOT / "deploy" / "asterisk"


def shipped_queues() -> dict[str, str]:
    text = (DEPLOY / FILE_NAME).read_text(encoding="utf-8")
    return dict(re.findall(r"^HOTLINE_QUEUE_(\d+) = (\S+)$", text, re.MULTILINE))


def globals_block() -> str:
    text = (DEPLOY / "extensions.conf").read_text(encoding="utf-8")
    return text.split("[globals]", 1)[1].split("\n[", 1)[0]


async def test_the_shipped_default_queues_are_what_the_seeded_plan_gives(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'plan.db'}"
    await upgrade_async(url)
    engine = make_engine(url)
    try:
        async with async_sessionmaker(engine).begin() as s:
            await seed_defaults(s, Settings(database_url=url).hotline_numbers)
        async with async_sessionmaker(engine)() as s:
            queues, skipped = await plan_queues(s)
        # and the IVR, run for a caller it does not know who asks for an agent at once,
        # queues each number where the dialplan would without it
        runtime = IvrRuntime(engine)
        for did in queues:
            result = await runtime.call(CallFacts(did=did, caller="13700137000",
                                                  caller_name=""), ScriptedChannel(["0"]))
            assert result["queue"] == queues[did], did
    finally:
        await engine.dispose()
    assert (DEPLOY / FILE_NAME).read_text(encoding="utf-8") == render(queues, skipped)
    assert shipped_queues() == {"4008001234": "support", "8008001234": "support"}
    # the 800 number is the toll-free service line, not a VIP line: no queue of its own
    block = globals_block()
    assert f"#include {FILE_NAME}" in block
    assert not re.search(r"^HOTLINE_QUEUE_\d", block, re.MULTILINE)  # only generated ones
    assert re.search(rf"^HOTLINE_DEFAULT_QUEUE = {DEFAULT_QUEUE}\b", block, re.MULTILINE)


def test_a_numbers_default_is_its_own_queue_else_its_flows_else_support() -> None:
    flow = parse_flow(DEFAULT_FLOW)
    legacy = Entry("02154881234", "legacy", "old printer line", "default", "printers")
    assert default_queue(legacy, flow) == "printers"
    plain = Entry("8008001234", "800", None, "default", None)
    assert default_queue(plain, flow) == "support"  # the default flow's base route
    sales = dict(DEFAULT_FLOW, steps=dict(DEFAULT_FLOW["steps"]))
    sales["steps"]["base_route"] = {**sales["steps"]["base_route"], "queue": "sales"}
    assert default_queue(plain, parse_flow(sales)) == "sales"
    no_route = dict(DEFAULT_FLOW, steps=dict(DEFAULT_FLOW["steps"]))
    no_route["steps"]["base_route"] = {"type": "route", "priority": 0, "next": "identify"}
    assert default_queue(plain, parse_flow(no_route)) == DEFAULT_QUEUE


async def site_plan(url: str) -> None:
    """A site's plan: a legacy line with its own queue, one on a flow of its own, an
    inactive one, a foreign number."""
    await upgrade_async(url)
    engine = make_engine(url)
    try:
        async with async_sessionmaker(engine).begin() as s:
            sales = dict(DEFAULT_FLOW, flow="sales", steps=dict(DEFAULT_FLOW["steps"]))
            sales["steps"]["base_route"] = {**sales["steps"]["base_route"], "queue": "sales"}
            await save_flow(s, "sales", sales, actor_id=None)
            s.add_all([
                IvrNumber(number="02154881234", kind="legacy", flow_name="default",
                          queue="printers", active=True),
                IvrNumber(number="4006181234", kind="legacy", flow_name="sales", active=True),
                IvrNumber(number="01065881234", kind="legacy", flow_name="default",
                          active=False),
                IvrNumber(number="+493012345678", kind="legacy", flow_name="default",
                          active=True),
            ])
    finally:
        await engine.dispose()


def test_cli_writes_the_plan_of_the_configured_database(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'site.db'}"
    asyncio.run(site_plan(url))
    out = tmp_path / FILE_NAME
    env = {**os.environ, "HOTLINE_DATABASE_URL": url}
    env.pop("HOTLINE_CONFIG", None)
    done = subprocess.run([sys.executable, "-m", "hotline.cli", "ivr", "dialplan", "--out",
                           str(out)], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    text = out.read_text(encoding="utf-8")
    assert re.findall(r"^HOTLINE_QUEUE_(\d+) = (\S+)$", text, re.MULTILINE) == [
        ("02154881234", "printers"), ("4006181234", "sales"), ("4008001234", "support"),
        ("8008001234", "support")]
    assert "; +493012345678 left out: not digits only" in text  # not a dialplan name
    assert "01065881234" not in text  # inactive: an unknown number, the default queue
