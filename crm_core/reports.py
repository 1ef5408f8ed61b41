"""Reports, two main lines: by customer and by product.

- ``customers_by(dimension)``: customers counted and valued, grouped by one
  dimension (category, source, industry, province, city, region = province+city,
  owner, status, vip tier, kind), with status counts, assets and open tickets;
- ``products_report()``: per product line, the assets in the field, those under
  warranty, tickets total/open and tickets per 100 assets.

Rules:
- the gate is the ``reports`` module, operation ``read``; its data scope limits
  the customers counted (``permissions.customer_filter``), so a manager's report
  only ever counts their own customers; merged-away customers are never counted.
  A report taken away as a file (``export=True``: the API's CSV/XLSX downloads) is
  gated by ``reports``/``export`` instead, with that grant's scope: seeing a figure on
  screen is not the right to carry the data out (issue 14 item 12);
- filters (``CustomerFilter``) narrow the customers further, the same way for both
  reports; day boundaries are Asia/Shanghai;
- rows are plain JSON-ready dicts (money as float with 2 decimals), sorted by the
  biggest group first; ``CUSTOMER_REPORT_COLUMNS`` / ``PRODUCT_REPORT_COLUMNS``
  give bilingual headers for ``crm_core.exporter.export_rows``;
- one grouped query per measure: the database does the counting, never Python
  over all rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Select, and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.models import Asset, Customer, ProductLine, Subscription, Ticket, User
from crm_core.permissions import Actor, customer_filter, require

SHANGHAI = ZoneInfo("Asia/Shanghai")
CLOSED_TICKET_STATUSES = ("resolved", "closed", "cancelled")
DIMENSIONS = (
    "category", "source", "industry", "province", "city", "region", "owner", "status",
    "vip_tier", "kind",
)
_NONE_LABEL = {"zh-CN": "(未填写)", "en": "(not set)"}
_POOL_LABEL = {"zh-CN": "公海(无负责人)", "en": "shared pool"}
_NO_LINE_LABEL = {"zh-CN": "(无产品线)", "en": "(no product line)"}
STATUS_LABELS = {
    "prospect": ("潜在", "prospect"), "active": ("活跃", "active"),
    "dormant": ("休眠", "dormant"), "lost": ("流失", "lost"),
}

CUSTOMER_REPORT_COLUMNS: list[tuple[str, tuple[str, str]]] = [
    ("label", ("分组", "group")),
    ("customers", ("客户数", "customers")),
    ("active", ("活跃", "active")),
    ("prospect", ("潜在", "prospects")),
    ("dormant", ("休眠", "dormant")),
    ("lost", ("流失", "lost")),
    ("vip", ("VIP客户", "VIP customers")),
    ("value", ("客户价值合计", "total value")),
    ("assets", ("设备数", "assets")),
    ("open_tickets", ("未结工单", "open tickets")),
]
PRODUCT_REPORT_COLUMNS: list[tuple[str, tuple[str, str]]] = [
    ("code", ("产品线代码", "code")),
    ("label", ("产品线", "product line")),
    ("assets", ("在用设备", "assets in the field")),
    ("under_warranty", ("保修期内", "under warranty")),
    ("tickets", ("工单总数", "tickets")),
    ("open_tickets", ("未结工单", "open tickets")),
    ("tickets_per_100_assets", ("每百台工单", "tickets per 100 assets")),
]


@dataclass(frozen=True, kw_only=True)
class CustomerFilter:
    """Narrows the customers a report (or an export) covers; None: no condition."""

    status: str | None = None
    category: str | None = None
    source: str | None = None
    industry: str | None = None
    province: str | None = None
    city: str | None = None
    owner_id: int | None = None
    pool: bool | None = None  # True: only customers without an owner; False: only owned
    vip_tier_min: int | None = None
    created_from: date | None = None  # business days (Asia/Shanghai), inclusive
    created_to: date | None = None
    # customers with an asset of this product line (its code), e.g. a mailing's group
    product_line: str | None = None
    # "active": holds an active subscription or contract; "none": holds no active one
    subscription: str | None = None


SUBSCRIPTION_STATES = ("active", "none")


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, SHANGHAI).astimezone(UTC)


def filter_conditions(f: CustomerFilter | None) -> list[ColumnElement[bool]]:
    """SQL conditions on ``Customer`` for ``f`` (merged-away customers always left out)."""
    conds: list[ColumnElement[bool]] = [Customer.merged_into_id.is_(None)]
    if f is None:
        return conds
    for name in ("status", "category", "source", "industry", "province", "city", "owner_id"):
        value = getattr(f, name)
        if value is not None:
            conds.append(getattr(Customer, name) == value)
    if f.pool is True:
        conds.append(Customer.owner_id.is_(None))
    elif f.pool is False:
        conds.append(Customer.owner_id.is_not(None))
    if f.vip_tier_min is not None:
        conds.append(Customer.vip_tier >= f.vip_tier_min)
    if f.created_from is not None:
        conds.append(Customer.created_at >= _day_start(f.created_from))
    if f.created_to is not None:
        conds.append(Customer.created_at < _day_start(date.fromordinal(
            f.created_to.toordinal() + 1)))
    if f.product_line is not None:
        conds.append(select(Asset.id).join(ProductLine, ProductLine.id == Asset.product_line_id)
                     .where(Asset.customer_id == Customer.id,
                            ProductLine.code == f.product_line).exists())
    if f.subscription is not None:
        if f.subscription not in SUBSCRIPTION_STATES:
            raise ValueError(f"subscription: one of {', '.join(SUBSCRIPTION_STATES)}")
        active = select(Subscription.id).where(Subscription.customer_id == Customer.id,
                                               Subscription.status == "active").exists()
        conds.append(active if f.subscription == "active" else ~active)
    return conds


def report_operation(export: bool) -> str:
    """The ``reports`` operation a report needs: ``export`` for a file, else ``read``."""
    return "export" if export else "read"


def scoped_conditions(
    actor: Actor, filters: CustomerFilter | None, operation: str = "read",
    module: str = "reports",
) -> list[ColumnElement[bool]]:
    """The actor's data scope (``PermissionDenied`` without the grant) plus ``filters``."""
    scope = require(actor, module, operation)
    return [customer_filter(actor, scope), *filter_conditions(filters)]


def _lang(actor: Actor, lang: str | None) -> str:
    chosen = lang or actor.language
    return chosen if chosen in ("zh-CN", "en") else "zh-CN"


def _money(value: Decimal | float | int | None) -> float:
    return round(float(value or 0), 2)


def _group_columns(dimension: str) -> list[Any]:
    if dimension == "region":
        return [Customer.province, Customer.city]
    if dimension == "owner":
        return [Customer.owner_id]
    if dimension not in DIMENSIONS:
        raise ValueError(f"unknown dimension {dimension!r} (one of {', '.join(DIMENSIONS)})")
    return [getattr(Customer, dimension)]


def _key(dimension: str, values: Sequence[Any]) -> Any:
    if dimension == "region":
        return "/".join(v or "" for v in values) if any(values) else None
    return values[0]


async def _grouped(
    session: AsyncSession, stmt: Select[Any], dimension: str, n_measures: int
) -> dict[Any, tuple[Any, ...]]:
    out: dict[Any, tuple[Any, ...]] = {}
    width = len(_group_columns(dimension))
    for row in await session.execute(stmt):
        out[_key(dimension, row[:width])] = tuple(row[width:width + n_measures])
    return out


def _count_when(cond: ColumnElement[bool]) -> Any:
    return func.coalesce(func.sum(case((cond, 1), else_=0)), 0)


async def customers_by(
    session: AsyncSession,
    actor: Actor,
    dimension: str,
    filters: CustomerFilter | None = None,
    *,
    lang: str | None = None,
    export: bool = False,
) -> list[dict[str, Any]]:
    """Customers grouped by ``dimension`` (see ``DIMENSIONS``): one dict per group with
    ``key``, ``label``, ``customers``, ``active``/``prospect``/``dormant``/``lost``,
    ``vip``, ``value``, ``assets``, ``open_tickets``. ValueError: unknown dimension.
    ``export``: for a file (needs ``reports``/``export``)."""
    groups = _group_columns(dimension)
    conds = scoped_conditions(actor, filters, report_operation(export))
    base = (
        select(
            *groups, func.count(Customer.id),
            *(_count_when(Customer.status == s) for s in STATUS_LABELS),
            _count_when(Customer.vip_tier > 0),
            func.coalesce(func.sum(Customer.vip_value), 0),
        )
        .where(*conds).group_by(*groups)
    )
    counted = await _grouped(session, base, dimension, 7)
    assets = await _grouped(
        session,
        select(*groups, func.count(Asset.id)).join(Customer, Asset.customer_id == Customer.id)
        .where(*conds).group_by(*groups),
        dimension, 1,
    )
    tickets = await _grouped(
        session,
        select(*groups, func.count(Ticket.id)).join(Customer, Ticket.customer_id == Customer.id)
        .where(*conds, Ticket.status.not_in(CLOSED_TICKET_STATUSES)).group_by(*groups),
        dimension, 1,
    )
    labels = await _owner_labels(session, counted) if dimension == "owner" else {}
    language = _lang(actor, lang)
    rows = []
    for key, (n, prospect, active, dormant, lost, vip, value) in counted.items():
        rows.append({
            "dimension": dimension, "key": key,
            "label": _label(dimension, key, labels, language),
            "customers": int(n), "active": int(active), "prospect": int(prospect),
            "dormant": int(dormant), "lost": int(lost), "vip": int(vip),
            "value": _money(value),
            "assets": int(assets.get(key, (0,))[0]),
            "open_tickets": int(tickets.get(key, (0,))[0]),
        })
    rows.sort(key=lambda r: (-r["customers"], -r["value"], str(r["label"])))
    return rows


async def _owner_labels(
    session: AsyncSession, counted: dict[Any, tuple[Any, ...]]
) -> dict[Any, str]:
    ids = [k for k in counted if k is not None]
    if not ids:
        return {}
    rows = await session.execute(
        select(User.id, User.display_name, User.username).where(User.id.in_(ids))
    )
    return {uid: display or username for uid, display, username in rows}


def _label(dimension: str, key: Any, labels: dict[Any, str], lang: str) -> str:
    if dimension == "owner":
        return _POOL_LABEL[lang] if key is None else labels.get(key, f"#{key}")
    if key is None or key == "":
        return _NONE_LABEL[lang]
    if dimension == "status" and key in STATUS_LABELS:
        zh, en = STATUS_LABELS[key]
        return zh if lang == "zh-CN" else en
    if dimension == "vip_tier":
        return f"VIP {key}" if key else ("普通" if lang == "zh-CN" else "regular")
    return str(key)


def business_today(now: datetime | None = None) -> date:
    """Today in Asia/Shanghai (warranty and due dates are business days)."""
    return (now or datetime.now(UTC)).astimezone(SHANGHAI).date()


async def products_report(
    session: AsyncSession,
    actor: Actor,
    filters: CustomerFilter | None = None,
    *,
    today: date | None = None,
    lang: str | None = None,
    export: bool = False,
) -> list[dict[str, Any]]:
    """Per product line (every line of the catalogue, plus ``(no product line)`` when
    assets have none): ``assets``, ``under_warranty`` (warranty_end >= today),
    ``tickets``, ``open_tickets`` (tickets on those assets) and
    ``tickets_per_100_assets`` (None without assets). Tickets not tied to an asset
    belong to no product and are not counted here. ``export``: for a file (needs
    ``reports``/``export``)."""
    conds = scoped_conditions(actor, filters, report_operation(export))
    day = today or business_today()
    assets = {
        line: (int(n), int(warranty))
        for line, n, warranty in await session.execute(
            select(Asset.product_line_id, func.count(Asset.id),
                   _count_when(and_(Asset.warranty_end.is_not(None), Asset.warranty_end >= day)))
            .join(Customer, Asset.customer_id == Customer.id)
            .where(*conds).group_by(Asset.product_line_id)
        )
    }
    tickets = {
        line: (int(n), int(open_n))
        for line, n, open_n in await session.execute(
            select(Asset.product_line_id, func.count(Ticket.id),
                   _count_when(Ticket.status.not_in(CLOSED_TICKET_STATUSES)))
            .select_from(Ticket).join(Asset, Ticket.asset_id == Asset.id)
            .join(Customer, Ticket.customer_id == Customer.id)
            .where(*conds).group_by(Asset.product_line_id)
        )
    }
    language = _lang(actor, lang)
    lines: list[tuple[int | None, str | None, str, str, str | None]] = [
        (pid, code, name if language == "zh-CN" or not name_en else name_en, name, name_en)
        for pid, code, name, name_en in await session.execute(
            select(ProductLine.id, ProductLine.code, ProductLine.name, ProductLine.name_en)
            .order_by(ProductLine.code)
        )
    ]
    if None in assets or None in tickets:
        label = _NO_LINE_LABEL[language]
        lines.append((None, None, label, label, label))
    rows: list[dict[str, Any]] = []
    for pid, code, label, name, name_en in lines:
        n_assets, warranty = assets.get(pid, (0, 0))
        n_tickets, open_tickets = tickets.get(pid, (0, 0))
        rows.append({
            "product_line_id": pid, "code": code, "label": label, "name": name,
            "name_en": name_en, "assets": n_assets, "under_warranty": warranty,
            "tickets": n_tickets, "open_tickets": open_tickets,
            "tickets_per_100_assets": (
                round(100 * n_tickets / n_assets, 1) if n_assets else None
            ),
        })
    rows.sort(key=lambda r: (-r["assets"], -r["tickets"], str(r["code"] or "~")))
    return rows
