"""Holiday calendars as data: China's public holidays and adjusted working days.

Rules:
- ``crm_core/data/holidays_cn.json`` holds calendar "CN": per year, each holiday's
  ``off`` range (first and last day, inclusive) and its ``work`` days (the weekend days
  worked to bridge it, ``调休``); 2026 is the State Council's notice, 2027 the expected
  pattern until its notice is published (``"published": false``), then replace it;
- ``parse_days`` is pure and checks the data (a bad date or a day both off and worked is
  an error naming it); ``load_holidays`` writes it into the ``holiday`` table, one upsert
  per day, so loading twice or a corrected file changes rows, never doubles them;
- ``calendar_days`` reads a calendar back as {day: "off" | "work"} for the SLA clock.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.models import Holiday

CN_FILE = Path(__file__).with_name("data") / "holidays_cn.json"


def _day(text: object, where: str) -> date:
    try:
        return date.fromisoformat(str(text))
    except ValueError:
        raise ValueError(f"{where}: {text!r} is not a YYYY-MM-DD date") from None


def parse_days(data: Mapping[str, Any]) -> dict[date, tuple[str, str]]:
    """{day: (kind, holiday name)} from the file's structure; ``ValueError`` if wrong."""
    out: dict[date, tuple[str, str]] = {}
    years = data.get("years")
    if not isinstance(years, dict):
        raise ValueError("holidays: 'years' missing")
    for year, body in years.items():
        for i, item in enumerate(body.get("holidays", [])):
            where = f"{year}.holidays[{i}]"
            name = str(item.get("name") or "")
            off = item.get("off") or []
            if len(off) != 2:
                raise ValueError(f"{where}: 'off' must be [first, last]")
            first, last = _day(off[0], where), _day(off[1], where)
            if last < first or (last - first).days > 30:
                raise ValueError(f"{where}: {first}..{last} is not a holiday range")
            days = [(first + timedelta(days=n), "off") for n in range((last - first).days + 1)]
            days += [(_day(d, where), "work") for d in item.get("work") or []]
            for day, kind in days:
                if day in out and out[day][0] != kind:
                    raise ValueError(f"{where}: {day} is both a holiday and a working day")
                out[day] = (kind, name)
    return out


def read_file(path: Path = CN_FILE) -> tuple[str, dict[date, tuple[str, str]]]:
    """(calendar name, days) of a holiday file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: {exc}") from None
    return str(data.get("calendar") or "CN"), parse_days(data)


async def load_holidays(session: AsyncSession, path: Path = CN_FILE,
                        calendar: str | None = None) -> int:
    """Upsert a holiday file into the ``holiday`` table; returns the days written."""
    name, days = read_file(path)
    calendar = calendar or name
    rows = [{"calendar": calendar, "day": day, "kind": kind, "name": label}
            for day, (kind, label) in sorted(days.items())]
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = insert(Holiday)
    await session.execute(stmt.on_conflict_do_update(
        index_elements=["calendar", "day"],
        set_={"kind": stmt.excluded.kind, "name": stmt.excluded.name}), rows)
    return len(rows)


async def calendar_days(session: AsyncSession, calendar: str) -> dict[date, str]:
    """{day: kind} of one calendar."""
    result = await session.execute(
        select(Holiday.day, Holiday.kind).where(Holiday.calendar == calendar))
    return {day: kind for day, kind in result.all()}


async def all_calendars(session: AsyncSession) -> dict[str, dict[date, str]]:
    """Every calendar's days (the sweep needs each station's)."""
    out: dict[str, dict[date, str]] = {}
    for name, day, kind in (await session.execute(
            select(Holiday.calendar, Holiday.day, Holiday.kind))).all():
        out.setdefault(name, {})[day] = kind
    return out
