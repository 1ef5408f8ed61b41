"""The service report (issue 15 item 7): for the tickets created in a period, grouped by
station, region, month or product line: tickets, resolved, SLA attainment per target
and overall, mean time to accept / arrive / resolve, first-time-fix rate and repeat
repairs; and two lists: the faults found most often, the assets repaired most often.

Rules (those of ``crm_core.reports``):
- the gate is ``reports``/``read``; a file (``export=True``) needs ``reports``/``export``;
  the grant's data scope limits the tickets through their customer
  (``reports.scoped_conditions``), so a manager's report counts his customers' only;
- the period is Shanghai days, ``first`` to ``last`` inclusive, of the tickets' creation
  (default: this month); a month group is a Shanghai month;
- one grouped query per measure (tickets, repair records, repeat assets): the database
  sums and counts, ``crm_core.service_figures`` (pure) makes the rates and means;
- statuses come from ``crm_core.tickets`` at run time (``OPEN_STATUSES``), never a
  list of our own: the lifecycle may grow;
- a repair ticket is one of category ``repair`` or none (``tickets.is_repair``);
- rows are JSON-ready dicts; ``SERVICE_COLUMNS`` / ``FAULT_COLUMNS`` / ``REPEAT_COLUMNS``
  give bilingual headers for ``crm_core.exporter.export_rows``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, literal_column, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core import tickets
from crm_core.errors import ValidationFailed
from crm_core.models import (
    Asset,
    Customer,
    ProductLine,
    RepairRecord,
    ServiceStation,
    Ticket,
)
from crm_core.permissions import Actor
from crm_core.reports import business_today, report_operation, scoped_conditions
from crm_core.service_figures import (
    TARGETS,
    Counts,
    figures,
    month_of,
    period_bounds,
    rate,
    total,
)

GROUPS = ("station", "region", "month", "product_line")
MAX_TOP = 200
_LABELS = {
    "station": {"zh-CN": "(未派站)", "en": "(not routed)"},
    "region": {"zh-CN": "(未填写)", "en": "(not set)"},
    "product_line": {"zh-CN": "(无产品线)", "en": "(no product line)"},
    "month": {"zh-CN": "(未知)", "en": "(unknown)"},
}
_TOTAL = {"zh-CN": "合计", "en": "total"}

SERVICE_COLUMNS: list[tuple[str, tuple[str, str]]] = [
    ("label", ("分组", "group")),
    ("tickets", ("工单数", "tickets")),
    ("resolved", ("已解决", "resolved")),
    ("accept_pct", ("接单达标率(%)", "accepted on time (%)")),
    ("arrive_pct", ("到场达标率(%)", "arrived on time (%)")),
    ("resolve_pct", ("解决达标率(%)", "resolved on time (%)")),
    ("sla_pct", ("SLA总达标率(%)", "SLA attainment (%)")),
    ("mean_accept_min", ("平均接单用时(分钟)", "mean time to accept (min)")),
    ("mean_arrive_min", ("平均到场用时(分钟)", "mean time to arrive (min)")),
    ("mean_resolve_min", ("平均解决用时(分钟)", "mean time to resolve (min)")),
    ("repairs", ("维修记录", "repair records")),
    ("ftf_pct", ("一次修复率(%)", "first-time fix (%)")),
    ("repeat_assets", ("重复维修设备", "assets repaired again")),
    ("accept_met", ("接单达标", "accepted on time")),
    ("accept_decided", ("接单已判定", "acceptance decided")),
    ("arrive_met", ("到场达标", "arrived on time")),
    ("arrive_decided", ("到场已判定", "arrival decided")),
    ("resolve_met", ("解决达标", "resolved on time")),
    ("resolve_decided", ("解决已判定", "resolution decided")),
]
FAULT_COLUMNS: list[tuple[str, tuple[str, str]]] = [
    ("fault", ("故障", "fault")),
    ("repairs", ("次数", "repairs")),
    ("share_pct", ("占比(%)", "share (%)")),
    ("first_time_fixes", ("一次修复", "first-time fixes")),
    ("ftf_pct", ("一次修复率(%)", "first-time fix (%)")),
]
REPEAT_COLUMNS: list[tuple[str, tuple[str, str]]] = [
    ("serial_number", ("序列号", "serial number")),
    ("customer", ("客户名称", "customer")),
    ("product_line", ("产品线", "product line")),
    ("repairs", ("维修工单数", "repair tickets")),
    ("last_at", ("最近报修", "last request")),
]


@dataclass(frozen=True, kw_only=True)
class Period:
    """Shanghai days, inclusive; None: this month's first / last day."""

    first: date | None = None
    last: date | None = None

    def days(self, today: date | None = None) -> tuple[date, date]:
        month_first, month_last = month_of(today or business_today())
        return self.first or month_first, self.last or month_last

    def bounds(self, today: date | None = None) -> tuple[datetime, datetime]:
        """``[start, end)`` in UTC; ValidationFailed for an impossible period."""
        first, last = self.days(today)
        try:
            return period_bounds(first, last)
        except ValueError as err:
            raise ValidationFailed("to", str(err)) from None


# --- SQL that differs between SQLite and PostgreSQL ---------------------------------------


def minutes_between(dialect: str, start: Any, end: Any) -> ColumnElement[Any]:
    """Minutes from ``start`` to ``end`` (timestamps) in the database's own arithmetic."""
    if dialect == "sqlite":  # UTC text: Julian days apart, in minutes
        return (func.julianday(end) - func.julianday(start)) * 1440.0
    return func.extract("epoch", end - start) / 60.0


def month_key(dialect: str, at: Any) -> ColumnElement[Any]:
    """``YYYY-MM`` of the Shanghai month of timestamp ``at``. Literal constants (not bound
    parameters): PostgreSQL must see the GROUP BY expression equal to the selected one."""
    if dialect == "sqlite":  # stored as UTC text; Shanghai keeps no daylight saving
        return func.strftime(literal_column("'%Y-%m'"), at, literal_column("'+8 hours'"))
    return func.to_char(func.timezone(literal_column("'Asia/Shanghai'"), at),
                        literal_column("'YYYY-MM'"))


def _dialect(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


def _count_when(cond: Any) -> Any:
    return func.coalesce(func.sum(case((cond, 1), else_=0)), 0)


def _is_repair() -> ColumnElement[bool]:
    return or_(Ticket.category.is_(None), Ticket.category == tickets.REPAIR)


_DONE = {"accept": "accepted_at", "arrive": "arrived_at", "resolve": "resolved_at"}


def _target_measures(dialect: str, now: datetime) -> list[Any]:
    start = func.coalesce(Ticket.routed_at, Ticket.created_at)
    still_open = Ticket.status.in_(tickets.OPEN_STATUSES)
    out: list[Any] = []
    for target in TARGETS:
        done, due = getattr(Ticket, _DONE[target]), getattr(Ticket, f"{target}_due")
        out += [
            _count_when(and_(done.is_not(None), due.is_not(None), done <= due)),
            _count_when(and_(due.is_not(None),
                             or_(done.is_not(None), and_(due < now, still_open)))),
            func.coalesce(func.sum(case((done.is_not(None),
                                         minutes_between(dialect, start, done)), else_=None)), 0),
            _count_when(done.is_not(None)),
        ]
    return out


# --- the grouped counts ------------------------------------------------------------------


def _group_column(by: str, dialect: str) -> Any:
    if by == "station":
        return Ticket.station_id
    if by == "region":
        return ServiceStation.region
    if by == "month":
        return month_key(dialect, Ticket.created_at)
    if by == "product_line":
        return Asset.product_line_id
    raise ValidationFailed("by", f"unknown grouping {by!r} (one of {', '.join(GROUPS)})")


def _scoped(stmt: Any, conds: Sequence[ColumnElement[bool]], start: datetime,
            end: datetime, station_id: int | None) -> Any:
    stmt = (stmt.join(Customer, Customer.id == Ticket.customer_id)
            .outerjoin(ServiceStation, ServiceStation.id == Ticket.station_id)
            .outerjoin(Asset, Asset.id == Ticket.asset_id)
            .where(*conds, Ticket.created_at >= start, Ticket.created_at < end))
    if station_id is not None:
        stmt = stmt.where(Ticket.station_id == station_id)
    return stmt


async def grouped_counts(
    session: AsyncSession, conds: Sequence[ColumnElement[bool]], by: str, start: datetime,
    end: datetime, *, station_id: int | None = None, now: datetime | None = None,
) -> dict[Any, Counts]:
    """The ``Counts`` of each group (``by``) of the tickets created in ``[start, end)``
    within ``conds`` (the caller's scope): three grouped queries."""
    dialect = _dialect(session)
    key = _group_column(by, dialect)
    at = now or datetime.now(UTC)
    measures = await session.execute(_scoped(
        select(key, func.count(Ticket.id), _count_when(Ticket.resolved_at.is_not(None)),
               *_target_measures(dialect, at)).select_from(Ticket),
        conds, start, end, station_id).group_by(key))
    repairs = {k: (int(n), int(ftf)) for k, n, ftf in await session.execute(_scoped(
        select(key, func.count(RepairRecord.id), _count_when(RepairRecord.first_time_fix))
        .select_from(Ticket).join(RepairRecord, RepairRecord.ticket_id == Ticket.id),
        conds, start, end, station_id).group_by(key))}
    repeated = _scoped(
        select(key.label("k"), Ticket.asset_id).select_from(Ticket),
        conds, start, end, station_id,
    ).where(Ticket.asset_id.is_not(None), _is_repair()).group_by(key, Ticket.asset_id).having(
        func.count(Ticket.id) > 1).subquery()
    repeats = {k: int(n) for k, n in await session.execute(
        select(repeated.c.k, func.count()).group_by(repeated.c.k))}
    out: dict[Any, Counts] = {}
    for k, n, resolved, *per_target in measures:
        met, decided, minutes, done = {}, {}, {}, {}
        for i, target in enumerate(TARGETS):
            m, d, mins, dn = per_target[4 * i:4 * i + 4]
            met[target], decided[target] = int(m), int(d)
            minutes[target], done[target] = float(mins or 0), int(dn)
        n_repairs, ftf = repairs.get(k, (0, 0))
        out[k] = Counts(tickets=int(n), resolved=int(resolved), met=met, decided=decided,
                        minutes=minutes, done=done, repairs=n_repairs,
                        first_time_fixes=ftf, repeat_assets=repeats.get(k, 0))
    return out


# --- labels ------------------------------------------------------------------------------


def language(actor: Actor, lang: str | None) -> str:
    chosen = lang or actor.language
    return chosen if chosen in ("zh-CN", "en") else "zh-CN"


def bilingual(name: str | None, name_en: str | None, lang: str) -> str:
    """The name in ``lang`` (the other one when it has none)."""
    first, second = (name_en, name) if lang == "en" else (name, name_en)
    return first or second or ""


async def _labels(session: AsyncSession, by: str, keys: list[Any], lang: str) -> dict[Any, str]:
    ids = [k for k in keys if k is not None]
    if by == "station" and ids:
        return {sid: f"{code} {bilingual(name, name_en, lang)}"
                for sid, code, name, name_en in await session.execute(
                    select(ServiceStation.id, ServiceStation.code, ServiceStation.name,
                           ServiceStation.name_en).where(ServiceStation.id.in_(ids)))}
    if by == "product_line" and ids:
        return {pid: bilingual(name, name_en, lang) or code
                for pid, code, name, name_en in await session.execute(
                    select(ProductLine.id, ProductLine.code, ProductLine.name,
                           ProductLine.name_en).where(ProductLine.id.in_(ids)))}
    return {k: str(k) for k in ids}


# --- the reports -------------------------------------------------------------------------


async def service_report(
    session: AsyncSession, actor: Actor, by: str, period: Period | None = None, *,
    station_id: int | None = None, lang: str | None = None, export: bool = False,
    today: date | None = None, now: datetime | None = None,
) -> dict[str, Any]:
    """The tickets created in ``period`` grouped ``by`` (``GROUPS``): ``{"by", "from", "to",
    "items": [row...], "total": row}``, each row ``key``, ``label`` and
    ``service_figures.figures``. Months in order; other groups biggest first."""
    if by not in GROUPS:
        raise ValidationFailed("by", f"unknown grouping {by!r} (one of {', '.join(GROUPS)})")
    conds = scoped_conditions(actor, None, report_operation(export))
    period = period or Period()
    start, end = period.bounds(today)
    first, last = period.days(today)
    counted = await grouped_counts(session, conds, by, start, end, station_id=station_id,
                                   now=now)
    lang_ = language(actor, lang)
    labels = await _labels(session, by, list(counted), lang_)
    items = [{"key": k, "label": labels.get(k) or _LABELS[by][lang_], **figures(c)}
             for k, c in counted.items()]
    if by == "month":
        items.sort(key=lambda r: str(r["key"]))
    else:
        items.sort(key=lambda r: (-r["tickets"], str(r["label"])))
    summed = {"key": None, "label": _TOTAL[lang_], **figures(total(list(counted.values())))}
    return {"by": by, "from": first.isoformat(), "to": last.isoformat(), "items": items,
            "total": summed}


def _top(limit: int) -> int:
    if not 1 <= limit <= MAX_TOP:
        raise ValidationFailed("limit", f"must be between 1 and {MAX_TOP}")
    return limit


async def top_faults(
    session: AsyncSession, actor: Actor, period: Period | None = None, *, limit: int = 20,
    export: bool = False, today: date | None = None,
) -> dict[str, Any]:
    """The faults found most often (``RepairRecord.fault``, trimmed) on the tickets created
    in ``period``: ``{"from", "to", "repairs": all records, "items": [{fault, repairs,
    share_pct, first_time_fixes, ftf_pct}...]}``, most frequent first."""
    conds = scoped_conditions(actor, None, report_operation(export))
    period = period or Period()
    start, end = period.bounds(today)
    first, last = period.days(today)
    fault = func.trim(RepairRecord.fault)
    base = _scoped(select(fault, func.count(RepairRecord.id),
                          _count_when(RepairRecord.first_time_fix))
                   .select_from(Ticket).join(RepairRecord, RepairRecord.ticket_id == Ticket.id),
                   conds, start, end, None)
    all_records = await session.scalar(_scoped(
        select(func.count(RepairRecord.id)).select_from(Ticket)
        .join(RepairRecord, RepairRecord.ticket_id == Ticket.id), conds, start, end, None))
    rows = await session.execute(base.group_by(fault).order_by(
        func.count(RepairRecord.id).desc(), fault).limit(_top(limit)))
    n_all = int(all_records or 0)
    items = [{"fault": text, "repairs": int(n), "share_pct": rate(int(n), n_all),
              "first_time_fixes": int(ftf), "ftf_pct": rate(int(ftf), int(n))}
             for text, n, ftf in rows]
    return {"from": first.isoformat(), "to": last.isoformat(), "repairs": n_all,
            "items": items}


async def repeat_assets(
    session: AsyncSession, actor: Actor, period: Period | None = None, *, limit: int = 20,
    lang: str | None = None, export: bool = False, today: date | None = None,
) -> dict[str, Any]:
    """The assets with more than one repair ticket created in ``period``, most often
    repaired first: ``{"from", "to", "items": [{asset_id, serial_number, customer_id,
    customer, product_line, repairs, last_at}...]}``."""
    conds = scoped_conditions(actor, None, report_operation(export))
    period = period or Period()
    start, end = period.bounds(today)
    first, last = period.days(today)
    n = func.count(Ticket.id)
    latest = func.max(Ticket.created_at)
    stmt = (
        select(Asset.id, Asset.serial_number, Customer.id, Customer.name, ProductLine.code,
               ProductLine.name, ProductLine.name_en, n, latest)
        .select_from(Ticket)
        .join(Customer, Customer.id == Ticket.customer_id)
        .join(Asset, Asset.id == Ticket.asset_id)
        .outerjoin(ProductLine, ProductLine.id == Asset.product_line_id)
        .where(*conds, Ticket.created_at >= start, Ticket.created_at < end, _is_repair())
        .group_by(Asset.id, Asset.serial_number, Customer.id, Customer.name, ProductLine.code,
                  ProductLine.name, ProductLine.name_en)
        .having(n > 1).order_by(n.desc(), latest.desc(), Asset.id).limit(_top(limit))
    )
    lang_ = language(actor, lang)
    items = []
    for asset_id, serial, cid, customer, code, name, name_en, count, last_at in (
            await session.execute(stmt)):
        items.append({
            "asset_id": asset_id, "serial_number": serial, "customer_id": cid,
            "customer": customer, "product_line_code": code,
            "product_line": bilingual(name, name_en, lang_) or code or _LABELS[
                "product_line"][lang_],
            "repairs": int(count), "last_at": _utc(last_at),
        })
    return {"from": first.isoformat(), "to": last.isoformat(), "items": items}


def _utc(value: Any) -> datetime | None:
    if value is None:
        return None
    at = datetime.fromisoformat(value) if isinstance(value, str) else value
    assert isinstance(at, datetime)  # SQLite's max() of a timestamp comes back as text
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def file_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """A grouped report's rows for a file: the groups, then the total."""
    return [*report["items"], report["total"]]
