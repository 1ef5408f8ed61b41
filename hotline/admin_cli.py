"""Admin commands of the ``hotline`` CLI: ``hotline user add`` (an account that
can sign in; a service station's staff or technician with ``--station CODE``) and
``hotline crm daily`` (the daily CRM job: expired subscriptions become "not renewed",
untouched customers go back to the pool).

Both run against the configured database (migrated first) as the system actor;
every write they make is audited like any other.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from hotline.settings import Settings


def add_admin_parsers(sub: Any) -> None:
    """Register ``user`` and ``crm`` under the top-level sub-parsers."""
    user = sub.add_parser("user", help="user accounts").add_subparsers(
        dest="user_command", required=True
    )
    add = user.add_parser("add", help="create a user who can sign in")
    add.add_argument("username")
    add.add_argument("--name", dest="display_name", help="display name (default: username)")
    add.add_argument("--role", default="agent",
                     help="agent | manager | supervisor | hotline_supervisor | station | "
                          "technician | admin, or a role an admin created")
    add.add_argument("--team")
    add.add_argument("--region", help="province, for the region data scope")
    add.add_argument("--language", default="zh-CN", choices=["zh-CN", "en"])
    add.add_argument("--agent-interface", help="queue member interface, e.g. PJSIP/1001")
    add.add_argument("--agent-name", help="queue member name on the PBX")
    add.add_argument("--station", metavar="CODE",
                     help="the service station's code: required for the roles station "
                          "(its staff) and technician (one of its technicians)")
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")

    crm = sub.add_parser("crm", help="CRM maintenance").add_subparsers(
        dest="crm_command", required=True
    )
    daily = crm.add_parser("daily", help="run the daily job (safe to run twice)")
    daily.add_argument("--pool-after-days", type=int, default=None,
                       help="default: HOTLINE_POOL_AFTER_DAYS (30)")
    daily.add_argument("--force", action="store_true",
                       help="run even if another node already ran it today (Redis bus)")


    holidays = crm.add_parser(
        "holidays", help="load a holiday calendar (default: China's, shipped) into the "
                         "database, and the default SLA policies if there are none")
    holidays.add_argument("--file", default=None,
                          help="a holiday JSON file (default: crm_core/data/holidays_cn.json)")
    holidays.add_argument("--calendar", default=None, help="calendar name (default: the file's)")


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("password: ")
    if first != getpass.getpass("again: "):
        raise SystemExit("passwords differ")
    return first


async def _add_user(settings: Settings, args: argparse.Namespace, password: str) -> dict[str, Any]:
    from sqlalchemy.ext.asyncio import async_sessionmaker

    from agent_console.api.auth import hash_password
    from crm_core.db import make_engine, upgrade_async
    from crm_core.errors import ValidationFailed
    from crm_core.permissions import SYSTEM
    from crm_core.station_staff import link_to_station
    from crm_core.users import NETWORK_ROLES, create_user, ensure_roles

    await upgrade_async(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        async with async_sessionmaker(engine, expire_on_commit=False).begin() as session:
            await ensure_roles(session)
            if args.role in NETWORK_ROLES and not args.station:
                raise ValidationFailed("station", f"a {args.role} user needs --station CODE")
            user = await create_user(
                session, SYSTEM, username=args.username,
                display_name=args.display_name or args.username, role=args.role,
                team=args.team, region=args.region, language=args.language,
                password_hash=await asyncio.to_thread(hash_password, password),
                agent_interface=args.agent_interface, agent_name=args.agent_name,
            )
            if args.station:  # in the same transaction: a bad code creates no user
                user.update(await link_to_station(session, SYSTEM, user["id"], args.station))
            return user
    finally:
        await engine.dispose()


async def _daily(settings: Settings, args: argparse.Namespace) -> dict[str, Any]:
    from sqlalchemy.ext.asyncio import async_sessionmaker

    from crm_core.db import make_engine, upgrade_async
    from crm_core.ownership import OwnershipRules
    from crm_core.reminders import business_today, daily_job

    await upgrade_async(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        pool_after = args.pool_after_days or settings.pool_after_days
        rules = OwnershipRules(cap=settings.ownership_cap,
                               cap_period_days=settings.ownership_cap_period_days,
                               pool_after_days=pool_after)
        maker = async_sessionmaker(engine, expire_on_commit=False)
        today = business_today()

        async def run() -> dict[str, Any]:
            return dict(await daily_job(maker, rules, today=today))

        if settings.bus != "redis" or args.force:
            return await run()
        return await _once_across_nodes(settings, today, run)
    finally:
        await engine.dispose()


async def _once_across_nodes(settings: Settings, today: Any,
                             run: Callable[[], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
    # cron starts it on every node: the first to claim the day runs it (hotline.once_a_day)
    import socket

    from redis.asyncio import Redis

    from hotline.once_a_day import run_once

    redis = Redis.from_url(settings.redis_url, socket_connect_timeout=2.0)
    try:
        who = settings.redis_consumer or socket.gethostname()
        ran, result = await run_once(redis, settings.redis_stream, "crm", today, who, run)
    finally:
        await redis.aclose()
    if ran:
        assert isinstance(result, dict)
        return result
    return {"skipped": True, "day": today.isoformat(), "ran_on": result}


def run_user(settings: Settings, args: argparse.Namespace) -> int:
    from crm_core.errors import ValidationFailed

    password = _password(args)
    if len(password) < 8:
        print("error: the password needs at least 8 characters", file=sys.stderr)
        return 2
    try:
        user = asyncio.run(_add_user(settings, args, password))
    except ValidationFailed as exc:
        print(f"error: {exc.field}: {exc.message}", file=sys.stderr)
        return 2
    print(json.dumps(user, ensure_ascii=False, default=str))
    return 0


async def _holidays(settings: Settings, args: argparse.Namespace) -> dict[str, Any]:
    from pathlib import Path

    from sqlalchemy.ext.asyncio import async_sessionmaker

    from crm_core.db import make_engine, upgrade_async
    from crm_core.holidays import CN_FILE, load_holidays
    from crm_core.sla import seed_policies

    await upgrade_async(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        async with async_sessionmaker(engine, expire_on_commit=False).begin() as session:
            path = Path(args.file) if args.file else CN_FILE
            days = await load_holidays(session, path, args.calendar)
            return {"holidays": days, "sla_policies_added": await seed_policies(session)}
    finally:
        await engine.dispose()


def run_crm(settings: Settings, args: argparse.Namespace) -> int:
    if args.crm_command == "holidays":
        try:
            result = asyncio.run(_holidays(settings, args))
        except ValueError as exc:  # a bad file: which entry, and why
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(json.dumps(result, ensure_ascii=False))
        return 0
    print(json.dumps(asyncio.run(_daily(settings, args)), ensure_ascii=False, default=str))
    return 0
