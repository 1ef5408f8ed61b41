"""``hotline import`` and ``hotline export``: the terminal side of crm_core's importer
and exporter (progress bar with rows/s, summary table, error report file).

Rules:
- the commands run as the system actor (an operator with shell access to the
  server is trusted); every created record still gets its audit entry;
- the database is migrated first (idempotent), so a fresh install can import;
- exit codes: 0 all rows imported, 1 some rows were rejected (errors or
  duplicates: see the report), 2 the file or the options cannot be used at all; a
  notice (a row imported with something to check) does not change it;
- every kind the back office's import page takes is here, with the same modules:
  customers, contacts, assets (``crm_core.importer``), orders
  (``crm_core.order_import``), stage-updates (``crm_core.stage_import``) and the service
  network's stations and technicians (``crm_core.network_import``: a workbook may hold
  both, a sheet each, named for what it holds; ``--sheet`` picks one);
- the progress bar goes to stderr, the summary to stdout.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from crm_core.importer import FIELDS, KINDS, REPORT_COLUMNS, ImportResult
from hotline.settings import Settings

# the kinds imported by their own modules (issue 18), as the import jobs run them: orders
# (crm_core.order_import, a row per order line) and the batches' stage updates
# (crm_core.stage_import, a row per batch); the command's word -> the import's kind
ORDER_KINDS = {"orders": "orders", "stage-updates": "stage_updates"}
# the service network (issue 15): stations and their technicians
NETWORK_KINDS = ("stations", "technicians")
EXPORT_KINDS = ("customers", "contacts", "assets", "tickets", "interactions",
                "report-customers", "report-products")


def add_import_parsers(subparsers: Any) -> None:
    """Add ``import`` and ``export`` to the ``hotline`` sub-command parsers."""
    fields = ", ".join(FIELDS)
    imp = subparsers.add_parser(
        "import", help="import customers, contacts, assets, orders, batches' stage "
        "updates, service stations or technicians from CSV/XLSX",
        description="Columns are mapped by their headers (Chinese or English); "
        f"fields: {fields}. orders: a row per order line (order number, customer, "
        "salesman, due date, title, ISBN/model, quantity, price, supplier); "
        "stage-updates: a row per supplier batch (batch, stage, date); stations / "
        "technicians: a row per service station (code, name, province, city, product "
        "lines, covers, capacity, hours) / technician (station code, name, skills, "
        "phone). --mapping, --map and --owner are for customers, contacts and assets; "
        "--sheet for them and the network.",
    )
    imp.add_argument("kind", choices=(*KINDS, *ORDER_KINDS, *NETWORK_KINDS))
    imp.add_argument("file", help="a .csv/.txt (UTF-8, GBK...) or .xlsx file")
    imp.add_argument("--mapping", help='JSON file {"column header": "field"} ("" ignores)')
    imp.add_argument("--map", action="append", default=[], metavar="COLUMN=FIELD",
                     help="map one column (repeatable); overrides --mapping")
    imp.add_argument("--dry-run", action="store_true", help="check everything, write nothing")
    imp.add_argument("--report", help="write every rejected row to this CSV file")
    imp.add_argument("--sheet", help="import only this sheet of the workbook")
    imp.add_argument("--owner", help="account manager (username) of rows that name none")

    exp = subparsers.add_parser("export", help="export a list or a report to CSV/XLSX")
    exp.add_argument("kind", choices=EXPORT_KINDS)
    exp.add_argument("file", help="FILE.csv or FILE.xlsx")
    exp.add_argument("--lang", choices=("zh-CN", "en"), default="zh-CN", help="header language")
    exp.add_argument("--by", default="category",
                     help="report-customers: category, source, industry, province, city, "
                     "region, owner, status, vip_tier, kind")
    for name in ("status", "category", "source", "industry", "province", "city"):
        exp.add_argument(f"--{name}", help=f"only customers with this {name}")
    exp.add_argument("--owner", help="only customers of this account manager (username)")


def _sessionmaker(url: str) -> tuple[Any, Any]:
    from sqlalchemy.ext.asyncio import async_sessionmaker

    from crm_core.db import make_engine

    engine = make_engine(url)
    return engine, async_sessionmaker(engine, expire_on_commit=False)


def run_import(args: argparse.Namespace, settings: Settings) -> int:
    """Entry point of ``hotline import``."""
    from rich.console import Console

    from crm_core.importer import load_mapping

    console = Console(stderr=True)
    if args.kind in ORDER_KINDS or args.kind in NETWORK_KINDS:
        own = ("mapping", "map", "owner") if args.kind in NETWORK_KINDS else (
            "mapping", "map", "sheet", "owner")
        unused = [f"--{name}" for name in own if getattr(args, name)]
        if unused:  # said, not ignored: the operator meant something by them
            console.print(f"[red]{', '.join(unused)}: not used by {args.kind} imports "
                          "(their columns are found by their headers)[/red]")
            return 2
    try:
        mapping = load_mapping(args.mapping, args.map)
    except (OSError, ValueError) as exc:
        console.print(f"[red]mapping: {exc}[/red]")
        return 2
    if not Path(args.file).is_file():
        console.print(f"[red]no such file: {args.file}[/red]")
        return 2
    try:
        result = asyncio.run(_import(args, settings, mapping, console))
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        return 2
    _summary(result, args)
    if args.report:
        _write_report(result, args.report)
    return 1 if result.errors or result.duplicates else 0


async def _import(
    args: argparse.Namespace, settings: Settings, mapping: dict[str, str | None], console: Any
) -> ImportResult:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    from crm_core import network_import, order_import, stage_import
    from crm_core.db import upgrade_async
    from crm_core.importer import import_file
    from crm_core.permissions import SYSTEM

    class RowsPerSecond(ProgressColumn):
        def render(self, task: Any) -> Text:
            speed = task.finished_speed or task.speed
            return Text("-- rows/s" if speed is None else f"{speed:,.0f} rows/s")

    await upgrade_async(settings.database_url)
    engine, sessionmaker = _sessionmaker(settings.database_url)
    verb = "checking" if args.dry_run else "importing"
    try:
        with Progress(
            TextColumn(f"{verb} {Path(args.file).name}"), BarColumn(), MofNCompleteColumn(),
            RowsPerSecond(), TimeElapsedColumn(), TimeRemainingColumn(), console=console,
        ) as progress:
            task = progress.add_task(verb, total=None)

            def tick(done: int, total: int) -> None:
                if done == 1 or done % 200 == 0 or done == total:
                    progress.update(task, completed=done, total=total)

            if args.kind == "orders":
                return await order_import.import_orders(
                    sessionmaker, args.file, actor=SYSTEM, dry_run=args.dry_run,
                    progress=tick)
            if args.kind == "stage-updates":
                return await stage_import.import_stage_updates(
                    sessionmaker, args.file, actor=SYSTEM, dry_run=args.dry_run,
                    progress=tick)
            if args.kind in NETWORK_KINDS:
                return await network_import.import_file(
                    sessionmaker, args.file, kind=args.kind, sheet=args.sheet, actor=SYSTEM,
                    dry_run=args.dry_run, progress=tick)
            return await import_file(
                sessionmaker, args.file, kind=args.kind, sheet=args.sheet, mapping=mapping,
                dry_run=args.dry_run, default_owner=args.owner,
                region=settings.default_region, progress=tick,
            )
    finally:
        await engine.dispose()


def _summary(result: ImportResult, args: argparse.Namespace) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    for note in result.notes:
        console.print(f"[dim]{note}[/dim]")
    title = "dry run: nothing written" if result.dry_run else "import done"
    table = Table(title=title)
    table.add_column("")
    table.add_column("would create" if result.dry_run else "created", justify="right")
    table.add_row("rows read", f"{result.rows:,}")
    for name, n in result.created.items():
        table.add_row(name, f"{n:,}")
    table.add_row("duplicates (skipped)", f"{result.duplicates:,}",
                  style="yellow" if result.duplicates else None)
    table.add_row("rows with errors", f"{result.errors:,}",
                  style="red" if result.errors else None)
    notices = sum(1 for i in result.issues if i.kind == "notice")
    if notices:  # imported, but worth a look (an order's unknown supplier created)
        table.add_row("rows with notices (imported)", f"{notices:,}", style="cyan")
    console.print(table)
    if result.issues and not args.report:
        issues = Table(title="first rows reported (all of them: --report FILE.csv)")
        for _, header in REPORT_COLUMNS:
            issues.add_column(header)
        for issue in result.issues[:20]:
            issues.add_row(*(str(v) for v in issue.as_dict().values()))
        console.print(issues)
    elif args.report:
        console.print(f"report: {args.report} ({len(result.issues)} lines)")


def _write_report(result: ImportResult, path: str) -> None:
    from crm_core.exporter import export_rows

    rows = [i.as_dict() for i in result.issues]
    asyncio.run(export_rows(rows, REPORT_COLUMNS, path, "csv"))


def run_export(args: argparse.Namespace, settings: Settings) -> int:
    """Entry point of ``hotline export``."""
    from rich.console import Console

    console = Console(stderr=True)
    try:
        count = asyncio.run(_export(args, settings))
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        return 2
    Console().print(f"{count:,} rows -> {args.file}")
    return 0


async def _export(args: argparse.Namespace, settings: Settings) -> int:
    from dataclasses import replace

    from sqlalchemy import select

    from crm_core import exporter, reports
    from crm_core.db import upgrade_async
    from crm_core.models import User
    from crm_core.permissions import SYSTEM

    exporter.format_of(args.file, None)  # a bad extension fails before any work
    await upgrade_async(settings.database_url)
    engine, sessionmaker = _sessionmaker(settings.database_url)
    actor = replace(SYSTEM, language=args.lang)
    try:
        owner_id = None
        if args.owner:
            async with sessionmaker() as session:
                owner_id = await session.scalar(select(User.id).where(User.username == args.owner))
            if owner_id is None:
                raise ValueError(f"--owner {args.owner!r}: no such user")
        filters = reports.CustomerFilter(
            status=args.status, category=args.category, source=args.source,
            industry=args.industry, province=args.province, city=args.city, owner_id=owner_id,
        )
        if not args.kind.startswith("report-"):
            return await exporter.export_list(
                sessionmaker, actor, args.kind, args.file, filters=filters, lang=args.lang,
            )
        async with sessionmaker() as session:
            if args.kind == "report-customers":
                rows = await reports.customers_by(session, actor, args.by, filters)
                columns: Any = reports.CUSTOMER_REPORT_COLUMNS
            else:
                rows = await reports.products_report(session, actor, filters)
                columns = reports.PRODUCT_REPORT_COLUMNS
        return await exporter.export_rows(rows, columns, args.file, lang=args.lang,
                                          title=args.kind)
    finally:
        await engine.dispose()
