"""The ``hotline`` command: serve, demo, replay, simulate, db. Sub-commands import
their modules lazily so ``hotline replay`` starts fast and needs no database."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hotline", description="Hotline call-center platform")
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("replay", help="print the call summaries of a raw AMI capture")
    r.add_argument("file", help="raw AMI bytes as received from Asterisk (.ami)")
    r.add_argument("--json", action="store_true", help="one JSON object per line (default)")
    r.add_argument(
        "--events", action="store_true", help="print every domain event, not only summaries"
    )

    s = sub.add_parser("simulate", help="run the PBX simulator as a standalone AMI server")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=5038)
    s.add_argument("--calls-per-second", type=float, default=1.0)
    s.add_argument("--agents", type=int, default=10)
    s.add_argument("--duration", type=float, default=0.0, help="seconds; 0 = until Ctrl-C")
    s.add_argument("--username", default="hotline")
    s.add_argument("--secret", default="hotline-secret")
    s.add_argument("--total-calls", type=int, default=0, help="stop after N calls (0 = no limit)")
    s.add_argument("--time-scale", type=float, default=1.0,
                   help="wall seconds per simulated second (0.05 = 20x faster calls)")
    s.add_argument("--start-delay", type=float, default=0.0,
                   help="seconds to wait after the first login before calls start")
    s.add_argument("--agi", default=None, metavar="HOST:PORT",
                   help="run each call's IVR on this FastAGI server (e.g. hotline serve's "
                        "127.0.0.1:4573), as deploy/asterisk/extensions.conf does")

    d = sub.add_parser("demo", help="embedded demo: SQLite, simulator, web page")
    d.add_argument("--port", type=int, default=None, help="HTTP port (default from settings)")
    d.add_argument("--calls-per-second", type=float, default=0.3)

    sv = sub.add_parser("serve", help="run Hotline against a real Asterisk (HOTLINE_* settings)")
    sv.add_argument("--port", type=int, default=None, help="HTTP port (default from settings)")

    from hotline.admin_cli import add_admin_parsers
    from hotline.import_cli import add_import_parsers
    from hotline.ivr_cli import add_ivr_parsers

    add_admin_parsers(sub)
    add_import_parsers(sub)
    add_ivr_parsers(sub)

    pr = sub.add_parser("prompts", help="IVR prompts")
    prs = pr.add_subparsers(dest="prompts_command", required=True)
    pb = prs.add_parser("build", help="speak every prompt text to a sound file (espeak-ng)")
    pb.add_argument("--out", default="var/sounds/hotline",
                    help="folder of <lang>/<prompt_id>.wav (on the PBX: "
                         "/var/lib/asterisk/sounds/hotline)")
    pb.add_argument("--lang", choices=["zh", "en", "all"], default="all")
    pb.add_argument("--force", action="store_true", help="render even unchanged prompts")

    db = sub.add_parser("db", help="database schema")
    dbs = db.add_subparsers(dest="db_command", required=True)
    dbs.add_parser("upgrade", help="apply Alembic migrations up to head")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    if args.command == "replay":
        from telephony.replay import run as replay

        return replay(args.file, events=args.events)
    if args.command == "simulate":
        from telephony.simulator.cli import run as simulate

        return simulate(args)
    from hotline.settings import load_settings

    settings = load_settings()
    if args.command == "db":
        from crm_core.db import upgrade

        upgrade(settings.database_url)
        print(f"database at head: {settings.database_url}")
        return 0
    if args.command == "import":
        from hotline.import_cli import run_import

        return run_import(args, settings)
    if args.command == "export":
        from hotline.import_cli import run_export

        return run_export(args, settings)
    if args.command == "user":
        from hotline.admin_cli import run_user

        return run_user(settings, args)
    if args.command == "prompts":
        from ivr.prompts_build import run as build_prompts

        return build_prompts(args.out, args.lang, database_url=settings.database_url,
                             force=args.force)
    if args.command == "ivr":
        from hotline.ivr_cli import run_ivr

        return run_ivr(args, settings)
    if args.command == "crm":
        from hotline.admin_cli import run_crm

        return run_crm(settings, args)
    if args.command == "serve":
        from hotline.serve import run as serve

        return serve(settings, port=args.port)
    if args.command == "demo":
        from hotline.demo import run as demo

        return demo(settings, port=args.port, calls_per_second=args.calls_per_second)
    return 2


if __name__ == "__main__":
    sys.exit(main())
