"""Entry-numbers report: calls per dialled number (DID), with the number plan's kind and
label, so the company sees which old department hotlines are still dialled.

Rules:
- the gate is ``reports``/``read`` (``reports``/``export`` for a file, as every report:
  ``crm_core.reports``); with scope ``all`` every call counts, a narrower scope counts
  only calls from customers inside it (as every report does);
- only inbound calls count (``direction`` inbound): an agent's click-to-dial or a
  callback was dialled by us, not to one of these numbers;
- calls are counted by the day they ended (Asia/Shanghai days, ``start``/``end``
  inclusive); the database groups them by (DID, outcome), Python only merges the few
  groups whose DIDs are one number written differently;
- ``canonical`` is the number plan's DID normalisation (``ivr.number_plan.canonical_did``),
  passed in because crm_core does not import the IVR (DESIGN.md dependency rules);
- every number of the plan is listed, dialled or not (zero calls says "retire it");
  a dialled number outside the plan is listed as ``unknown``, calls without a DID as
  one ``none`` row; biggest first;
- ``ENTRY_REPORT_COLUMNS`` gives bilingual headers for ``crm_core.exporter``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.models import CallRecord, Customer, IvrNumber, as_utc
from crm_core.permissions import Actor, customer_filter, require
from crm_core.reports import report_operation

SHANGHAI = ZoneInfo("Asia/Shanghai")
Canonical = Callable[[str | None], str | None]

KIND_LABELS = {
    "400": ("400 热线", "400 number"),
    "800": ("800 热线", "800 number"),
    "legacy": ("原部门热线", "legacy line"),
    "unknown": ("未登记号码", "not in the number plan"),
    "none": ("无被叫号码", "no dialled number"),
}
ANSWERED = ("answered", "transferred")
ABANDONED = ("abandoned", "no-answer")

ENTRY_REPORT_COLUMNS: list[tuple[str, tuple[str, str]]] = [
    ("number", ("被叫号码", "number dialled")),
    ("kind_label", ("号码类型", "kind")),
    ("label", ("说明", "label")),
    ("flow_name", ("流程", "flow")),
    ("active", ("启用", "active")),
    ("calls", ("来电数", "calls")),
    ("answered", ("已接听", "answered")),
    ("abandoned", ("放弃/未接", "abandoned or not answered")),
    ("ivr_only", ("仅IVR", "IVR only")),
    ("first_call", ("首次来电", "first call")),
    ("last_call", ("最近来电", "last call")),
]


@dataclass
class _Count:
    calls: int = 0
    answered: int = 0
    abandoned: int = 0
    ivr_only: int = 0
    first: datetime | None = None
    last: datetime | None = None

    def add(self, outcome: str | None, n: int, first: datetime | None,
            last: datetime | None) -> None:
        self.calls += n
        if outcome in ANSWERED:
            self.answered += n
        elif outcome in ABANDONED:
            self.abandoned += n
        elif outcome == "ivr-only":
            self.ivr_only += n
        if first is not None:
            first = as_utc(first)
            self.first = first if self.first is None else min(self.first, first)
        if last is not None:
            last = as_utc(last)
            self.last = last if self.last is None else max(self.last, last)


def _conditions(actor: Actor, start: date | None, end: date | None, operation: str
                ) -> list[ColumnElement[bool]]:
    scope = require(actor, "reports", operation)
    conds: list[ColumnElement[bool]] = [CallRecord.direction == "inbound"]
    if scope != "all":
        in_scope = select(Customer.id).where(customer_filter(actor, scope))
        conds.append(CallRecord.customer_id.in_(in_scope))
    if start is not None:
        conds.append(CallRecord.ended_at >= _day_start(start))
    if end is not None:
        conds.append(CallRecord.ended_at < _day_start(end + timedelta(days=1)))
    return conds


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, SHANGHAI).astimezone(UTC)


async def entry_numbers(
    db: AsyncSession, actor: Actor, *, canonical: Canonical, start: date | None = None,
    end: date | None = None, lang: str | None = None, export: bool = False,
) -> list[dict[str, Any]]:
    """One row per number: ``number``, ``kind`` (400/800/legacy/unknown/none),
    ``kind_label``, ``label``, ``flow_name``, ``active``, ``in_plan``, ``calls``,
    ``answered``, ``abandoned``, ``ivr_only``, ``first_call``, ``last_call``.
    ``export``: for a file (needs ``reports``/``export``)."""
    language = lang if lang in ("zh-CN", "en") else (
        actor.language if actor.language in ("zh-CN", "en") else "zh-CN")
    stmt = (select(CallRecord.did, CallRecord.outcome, func.count(CallRecord.id),
                   func.min(CallRecord.ended_at), func.max(CallRecord.ended_at))
            .where(*_conditions(actor, start, end, report_operation(export)))
            .group_by(CallRecord.did, CallRecord.outcome))
    counts: dict[str | None, _Count] = {}
    for did, outcome, n, first, last in await db.execute(stmt):
        counts.setdefault(canonical(did), _Count()).add(outcome, int(n), first, last)
    plan = {row.number: row for row in await db.scalars(select(IvrNumber))}
    rows: list[dict[str, Any]] = []
    for number in {*plan, *counts}:
        count = counts.get(number) or _Count()
        entry = plan.get(number) if number is not None else None
        kind = entry.kind if entry is not None else ("none" if number is None else "unknown")
        zh, en = KIND_LABELS.get(kind, (kind, kind))
        rows.append({
            "number": number or "", "kind": kind,
            "kind_label": zh if language == "zh-CN" else en,
            "label": entry.label if entry is not None else None,
            "flow_name": entry.flow_name if entry is not None else None,
            "active": entry.active if entry is not None else None,
            "in_plan": entry is not None,
            "calls": count.calls, "answered": count.answered, "abandoned": count.abandoned,
            "ivr_only": count.ivr_only,
            "first_call": count.first, "last_call": count.last,
        })
    rows.sort(key=lambda r: (-r["calls"], not r["in_plan"], r["number"]))
    return rows
