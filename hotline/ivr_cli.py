"""``hotline ivr try`` and ``hotline ivr dialplan``.

``hotline ivr dialplan [--out FILE]`` writes the dialplan's per-number default queues
(``HOTLINE_QUEUE_<DID>``, the queue a number gets before the IVR runs) from the configured
number plan: ``ivr.dialplan_defaults``. Shipped as ``deploy/asterisk/hotline-numbers.conf``
for the plan Hotline seeds; after editing the plan, write it again and reload the dialplan.

``hotline ivr try``: a caller's walk through the IVR, against the configured database,
without a PBX (issue 6, point 9).

The flow of the dialled number (``ivr.store``; the default flow for an unknown number)
runs in ``ivr.runtime`` exactly as for a FastAGI call, on a scripted channel: each
request for input takes the next answer of ``--dtmf``. Every step, prompt (with its
text) and spoken value is printed, then, as the LAST line, the routing result as JSON::

    {"queue": "support", "priority": 20, "preferred_agent": null, "customer_id": 1,
     "path": [...], "digits": ["0"], "entry": "400:", ...}

Answers (comma-separated): keys (``1``, ``202611250001#``), ``timeout`` (or nothing
between two commas) for silence, ``hangup`` to hang up there. When the answers run
out the caller stays silent. Nobody is free to take a call unless named with
``--agent-free`` (there is no PBX to ask). Self-service writes (repair tickets,
callbacks) are rolled back unless ``--commit``: trying a flow never files a real
repair or dials a real callback by accident. Like the app, it migrates the database
and puts the configured hotline numbers in the number plan when they are missing. The
walk itself is ``ivr.trial``'s, shared with the back office's "try a call".
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from hotline.settings import Settings
from ivr.flow_engine import DEFAULT_TZ


def add_ivr_parsers(sub: Any) -> None:
    """Register ``ivr try`` under the top-level sub-parsers."""
    ivr = sub.add_parser("ivr", help="the IVR").add_subparsers(dest="ivr_command",
                                                                required=True)
    t = ivr.add_parser("try", help="run the IVR for a caller, without a PBX",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    t.add_argument("--did", default=None, help="number dialled (default: the first hotline "
                                               "number)")
    t.add_argument("--caller", default="", help="caller's number, any format")
    t.add_argument("--dtmf", default="", help="answers, comma-separated: keys, timeout, hangup")
    t.add_argument("--lang", default=None, help="prompt language (zh or en; default: the flow's)")
    t.add_argument("--now", default=None,
                   help="the call's time, ISO 8601 (naive = Asia/Shanghai; default: now)")
    t.add_argument("--agent-free", action="append", default=[], metavar="INTERFACE",
                   help="an agent interface the PBX would call free (repeatable)")
    t.add_argument("--commit", action="store_true",
                   help="keep what self-service writes (default: rolled back)")
    d = ivr.add_parser("dialplan", help="write the dialplan's default queue of each number "
                                        "(an include file for [globals])")
    d.add_argument("--out", default="-", help="file to write (default: standard output)")


def answers(text: str) -> list[str | None]:
    """``1,,202611250001#,hangup`` -> ["1", None, "202611250001#", "hangup"]."""
    if not text:
        return []
    out: list[str | None] = []
    for item in text.split(","):
        item = item.strip()
        out.append(None if item.lower() in ("", "timeout", "t") else item)
    return out


def parse_now(text: str | None) -> datetime | None:
    if not text:
        return None
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=ZoneInfo(DEFAULT_TZ))


async def try_call(settings: Settings, args: argparse.Namespace) -> dict[str, Any]:
    from sqlalchemy.ext.asyncio import async_sessionmaker

    from crm_core.db import make_engine, upgrade_async
    from ivr import trial
    from ivr.store import seed_defaults

    now = parse_now(args.now)
    await upgrade_async(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        async with async_sessionmaker(engine).begin() as session:
            await seed_defaults(session, settings.hotline_numbers)
        did = args.did if args.did is not None else (settings.hotline_numbers or [""])[0]
        _lines, result = await trial.try_call(
            engine, did=did, caller=args.caller, answers=answers(args.dtmf), lang=args.lang,
            now=now, region=settings.default_region, agents_free=args.agent_free,
            commit=args.commit, echo=print)
        return result
    finally:
        await engine.dispose()


async def number_queues(settings: Settings) -> str:
    """The include file for the configured number plan (migrated and seeded as the app
    does, so a fresh site gets the plan it will run)."""
    from sqlalchemy.ext.asyncio import async_sessionmaker

    from crm_core.db import make_engine, upgrade_async
    from ivr.dialplan_defaults import plan_queues, render
    from ivr.store import seed_defaults

    await upgrade_async(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        async with async_sessionmaker(engine).begin() as session:
            await seed_defaults(session, settings.hotline_numbers)
        async with async_sessionmaker(engine)() as session:
            queues, skipped = await plan_queues(session)
    finally:
        await engine.dispose()
    return render(queues, skipped)


def run_dialplan(args: argparse.Namespace, settings: Settings) -> int:
    text = asyncio.run(number_queues(settings))
    if args.out == "-":
        sys.stdout.write(text)
        return 0
    from pathlib import Path

    Path(args.out).write_text(text, encoding="utf-8")
    print(f"wrote {args.out}: {text.count(chr(10) + 'HOTLINE_QUEUE_')} number(s); reload the "
          "dialplan (asterisk -rx 'dialplan reload')", file=sys.stderr)
    return 0


def run_ivr(args: argparse.Namespace, settings: Settings) -> int:
    """``hotline ivr try`` (the routing JSON is the last line printed) and ``hotline ivr
    dialplan``."""
    if args.ivr_command == "dialplan":
        return run_dialplan(args, settings)
    try:
        parse_now(args.now)
    except ValueError:
        print(f"--now: not an ISO 8601 time: {args.now!r}", file=sys.stderr)
        return 2
    result = asyncio.run(try_call(settings, args))
    print(json.dumps(result, ensure_ascii=False, default=str))
    return 0
