"""The sales pipeline's reports (issue 18 item 3): the funnel per salesman, team and month,
won amounts and margins per salesman, sales by product line, customer source and region,
customers who bought a product and the products a customer bought, and the big
contracts of the last days (the managers' home page).

Rules:
- the gate is ``reports``/``read`` (``reports``/``export`` for a file); its scope limits
  the deals and orders by their SALESMAN (the opportunity's or order's ``owner_id``):
  ``own`` = what I sell, ``team`` = what my team sells, ``region`` = the customers of my
  province, ``all``; merged-away customers are never counted;
- the funnel takes the opportunities CREATED in the months asked (a cohort), with their
  stage history (``OpportunityStageChange``), through ``crm_core.funnel``; a month is
  Asia/Shanghai's; the won amounts per salesman are the opportunities WON (closed) in
  the months, and the sales are the orders made in them (cancelled orders and lines left
  out), worth ``price x quantity``;
- a margin only counts the lines whose ``unit_cost`` is known; ``costed_share`` says how
  much of the sales that is (a margin over 10% of the sales would mislead otherwise);
- a big contract is an order worth at least the amount (its live lines), or an
  opportunity won with at least that amount, signed (order made, opportunity won) in the
  last ``days`` days;
- ``*_COLUMNS`` give the files' bilingual headers (``crm_core.exporter``).
KNOWN LIMIT: the funnel reads the period's opportunities and their history rows into
Python (the time in each stage needs each deal's steps); fine for tens of thousands of
deals a year, not for millions. An order signed from an opportunity is not linked to it:
both appear among the big contracts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    Numeric,
    and_,
    case,
    false,
    func,
    literal,
    or_,
    select,
    true,
)
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core import funnel
from crm_core.errors import ValidationFailed
from crm_core.models import (
    Customer,
    Opportunity,
    OpportunityStageChange,
    OrderLine,
    ProductLine,
    SalesOrder,
    User,
)
from crm_core.permissions import Actor, require
from crm_core.reports import report_operation

SHANGHAI = ZoneInfo("Asia/Shanghai")
GROUPINGS = ("salesman", "team", "month", "all")
DIMENSIONS = ("product_line", "source", "region")
BIG_AMOUNT = Decimal(100_000)
BIG_DAYS = 10
MAX_MONTHS = 36
_NONE = {"zh-CN": "(未填写)", "en": "(not set)"}
_NOBODY = {"zh-CN": "(无负责人)", "en": "(nobody)"}
_ALL = {"zh-CN": "全部", "en": "all"}

FUNNEL_COLUMNS: list[tuple[str, tuple[str, str]]] = [
    ("label", ("分组", "group")), ("stage", ("阶段", "stage")),
    ("count", ("当前数量", "now in stage")), ("amount", ("当前金额", "amount now")),
    ("reached", ("到达数量", "reached")), ("reached_amount", ("到达金额", "amount reached")),
    ("conversion", ("转化率", "conversion to next")),
    ("mean_days", ("平均停留天数", "mean days in stage")),
]
SALESMAN_COLUMNS: list[tuple[str, tuple[str, str]]] = [
    ("label", ("销售", "salesman")), ("team", ("团队", "team")),
    ("won", ("赢单数", "deals won")), ("won_amount", ("赢单金额", "won amount")),
    ("orders", ("订单数", "orders")), ("sales", ("销售额", "sales")),
    ("costed_share", ("已知成本占比", "share with known cost")),
    ("cost", ("成本", "cost")), ("margin", ("毛利", "margin")),
    ("margin_rate", ("毛利率", "margin rate")),
]
BY_COLUMNS: list[tuple[str, tuple[str, str]]] = [
    ("label", ("分组", "group")), ("orders", ("订单数", "orders")),
    ("customers", ("客户数", "customers")), ("quantity", ("数量", "quantity")),
    ("sales", ("销售额", "sales")),
]
BOUGHT_COLUMNS: list[tuple[str, tuple[str, str]]] = [
    ("customer_name", ("客户", "customer")), ("quantity", ("数量", "quantity")),
    ("sales", ("金额", "amount")), ("orders", ("订单数", "orders")),
    ("last_on", ("最近下单", "last ordered")),
]
PRODUCT_COLUMNS: list[tuple[str, tuple[str, str]]] = [
    ("ref", ("编号/ISBN", "ref / ISBN")), ("title", ("品名", "title")),
    ("quantity", ("数量", "quantity")), ("sales", ("金额", "amount")),
    ("orders", ("订单数", "orders")), ("last_on", ("最近下单", "last ordered")),
]


@dataclass(frozen=True, kw_only=True)
class SalesFilter:
    """Months ``first``..``last`` (``YYYY-MM``, both in), optionally one salesman or team."""

    first: str
    last: str
    owner_id: int | None = None
    team: str | None = None


def month_start(month: str) -> datetime:
    """The instant a ``YYYY-MM`` month starts in Shanghai, in UTC."""
    try:
        y, m = (int(x) for x in month.split("-"))
        first = date(y, m, 1)
    except ValueError as exc:
        raise ValidationFailed("month", f"{month!r} is not YYYY-MM") from exc
    return datetime.combine(first, time(), SHANGHAI).astimezone(UTC)


def next_month(month: str) -> str:
    y, m = (int(x) for x in month.split("-"))
    return f"{y + m // 12:04d}-{m % 12 + 1:02d}"


def period(f: SalesFilter) -> tuple[datetime, datetime]:
    """[start, end) of the filter's months; ``ValidationFailed`` when backwards or long."""
    start, end = month_start(f.first), month_start(next_month(f.last))
    if end <= start:
        raise ValidationFailed("to", "the last month is before the first")
    if (end - start).days > MAX_MONTHS * 31:
        raise ValidationFailed("to", f"at most {MAX_MONTHS} months")
    return start, end


def _lang(actor: Actor, lang: str | None) -> str:
    chosen = lang or actor.language
    return chosen if chosen in ("zh-CN", "en") else "zh-CN"


def seller_condition(actor: Actor, scope: str, owner: Any) -> ColumnElement[bool]:
    """The scope as a condition on the salesman column ``owner`` (and ``Customer``)."""
    if scope == "all":
        return true()
    if scope == "team" and actor.team is not None:
        return and_(owner.in_(select(User.id).where(User.team == actor.team)
                              .scalar_subquery()))
    if scope == "region" and actor.region is not None:
        return Customer.province == actor.region
    if scope in ("own", "team", "region"):
        return and_(owner == actor.user_id)
    return false()  # a service network scope sells nothing


def _conditions(actor: Actor, export: bool, owner: Any, f: SalesFilter | None
                ) -> list[ColumnElement[bool]]:
    scope = require(actor, "reports", report_operation(export))
    conds = [seller_condition(actor, scope, owner), Customer.merged_into_id.is_(None)]
    if f is not None and f.owner_id is not None:
        conds.append(owner == f.owner_id)
    if f is not None and f.team is not None:
        conds.append(owner.in_(select(User.id).where(User.team == f.team).scalar_subquery()))
    return conds


def _money(value: Decimal | float | int | None) -> float:
    return round(float(value or 0), 2)


def _line_amount() -> Any:
    return func.coalesce(OrderLine.price, 0) * OrderLine.quantity


def _aware(at: Any) -> datetime:
    if isinstance(at, str):
        at = datetime.fromisoformat(at)
    out: datetime = at if at.tzinfo is not None else at.replace(tzinfo=UTC)
    return out


# --- the funnel -----------------------------------------------------------------------


async def funnel_report(db: AsyncSession, actor: Actor, f: SalesFilter, *, by: str,
                        now: datetime, lang: str | None = None,
                        export: bool = False) -> list[dict[str, Any]]:
    """One funnel per salesman, team or month (or one for ``all``) of the opportunities
    created in the months: ``[{key, label, deals, won, won_amount, lost, win_rate,
    stages: [...]}]``, the biggest group first (months in order)."""
    if by not in GROUPINGS:
        raise ValidationFailed("by", f"one of {', '.join(GROUPINGS)}")
    start, end = period(f)
    language = _lang(actor, lang)
    conds = [*_conditions(actor, export, Opportunity.owner_id, f),
             Opportunity.created_at >= start, Opportunity.created_at < end]
    picked = (select(Opportunity.id, Opportunity.amount, Opportunity.stage,
                     Opportunity.created_at, Opportunity.owner_id, User.display_name,
                     User.team)
              .join(Customer, Customer.id == Opportunity.customer_id)
              .outerjoin(User, User.id == Opportunity.owner_id).where(*conds))
    rows = (await db.execute(picked)).all()
    ids = select(Opportunity.id).join(Customer, Customer.id == Opportunity.customer_id) \
        .where(*conds).scalar_subquery()
    history = (await db.execute(
        select(OpportunityStageChange.opportunity_id, OpportunityStageChange.to_stage,
               OpportunityStageChange.at)
        .where(OpportunityStageChange.opportunity_id.in_(ids))
        .order_by(OpportunityStageChange.opportunity_id, OpportunityStageChange.at,
                  OpportunityStageChange.id))).mappings().all()
    steps = funnel.merge_steps({**r, "at": _aware(r["at"])} for r in history)
    labels: dict[Any, str] = {}
    keyed = []
    for r in rows:
        if by == "salesman":
            key, label = r.owner_id, r.display_name or _NOBODY[language]
        elif by == "team":
            key = label = r.team or _NONE[language]
        elif by == "month":
            key = label = funnel.month_of(_aware(r.created_at), SHANGHAI)
        else:
            key, label = "all", _ALL[language]
        labels[key] = label
        keyed.append((key, funnel.Deal(id=r.id, amount=r.amount, stage=r.stage,
                                       steps=steps.get(r.id, ()))))
    found = funnel.funnels_by(keyed, now)
    out = [{"key": None if k is None else str(k), "label": labels[k], **fn.as_dict()}
           for k, fn in found.items()]
    if by == "month":
        out.sort(key=lambda g: g["key"] or "")
    else:
        out.sort(key=lambda g: (-g["deals"], g["label"]))
    return out


def funnel_file_rows(groups: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The funnel's groups as one file row per group and stage."""
    return [{"label": g["label"], **s} for g in groups for s in g["stages"]]


# --- won amounts and margins per salesman ---------------------------------------------


async def salesmen_report(db: AsyncSession, actor: Actor, f: SalesFilter, *,
                          lang: str | None = None, export: bool = False
                          ) -> list[dict[str, Any]]:
    """Per salesman: opportunities won in the months (count, amount), orders made in
    them (count, sales) and the margin of the lines whose cost is known."""
    start, end = period(f)
    language = _lang(actor, lang)
    won = (select(Opportunity.owner_id, func.count(), func.sum(Opportunity.amount))
           .join(Customer, Customer.id == Opportunity.customer_id)
           .where(*_conditions(actor, export, Opportunity.owner_id, f),
                  Opportunity.stage == "won", Opportunity.closed_at >= start,
                  Opportunity.closed_at < end)
           .group_by(Opportunity.owner_id))
    known = OrderLine.unit_cost.is_not(None)
    sold = (select(SalesOrder.owner_id, func.count(func.distinct(SalesOrder.id)),
                   func.sum(_line_amount()),
                   func.sum(_costed(known)),
                   func.sum(func.coalesce(OrderLine.unit_cost, 0) * OrderLine.quantity))
            .join(Customer, Customer.id == SalesOrder.customer_id)
            .join(OrderLine, OrderLine.order_id == SalesOrder.id)
            .where(*_conditions(actor, export, SalesOrder.owner_id, f),
                   SalesOrder.status != "cancelled", OrderLine.state != "cancelled",
                   SalesOrder.created_at >= start, SalesOrder.created_at < end)
            .group_by(SalesOrder.owner_id))
    figures: dict[int | None, dict[str, Any]] = {}

    def slot(owner: int | None) -> dict[str, Any]:
        return figures.setdefault(owner, {"won": 0, "won_amount": Decimal(0), "orders": 0,
                                          "sales": Decimal(0), "costed": Decimal(0),
                                          "cost": Decimal(0)})
    for owner, n, amount in await db.execute(won):
        s = slot(owner)
        s["won"], s["won_amount"] = int(n), Decimal(str(amount or 0))
    for owner, n, sales, costed, cost in await db.execute(sold):
        s = slot(owner)
        s.update(orders=int(n), sales=Decimal(str(sales or 0)),
                 costed=Decimal(str(costed or 0)), cost=Decimal(str(cost or 0)))
    names = await _users(db, [k for k in figures if k is not None])
    out = []
    for owner, s in figures.items():
        name, team = names.get(owner, (None, None)) if owner is not None else (None, None)
        has_cost = s["costed"] > 0
        m, rate = funnel.margin(s["costed"], s["cost"] if has_cost else None)
        out.append({
            "key": None if owner is None else str(owner), "owner_id": owner,
            "label": name or _NOBODY[language], "team": team, "won": s["won"],
            "won_amount": _money(s["won_amount"]), "orders": s["orders"],
            "sales": _money(s["sales"]),
            "costed_share": None if s["sales"] == 0 else round(float(s["costed"] / s["sales"]),
                                                               4),
            "cost": _money(s["cost"]) if has_cost else None, "margin": m,
            "margin_rate": rate})
    out.sort(key=lambda r: (-(r["won_amount"] + r["sales"]), r["label"]))
    return out


def _costed(known: ColumnElement[bool]) -> Any:
    """SQL: a line's amount when its cost is known, else 0."""
    return case((known, _line_amount()), else_=0)


async def _users(db: AsyncSession, ids: Sequence[int]) -> dict[int, tuple[str, str | None]]:
    if not ids:
        return {}
    rows = await db.execute(select(User.id, User.display_name, User.team)
                            .where(User.id.in_(ids)))
    return {i: (n, t) for i, n, t in rows}


# --- sales by product line, customer source, region -----------------------------------


def _sold_conditions(actor: Actor, export: bool, f: SalesFilter) -> list[Any]:
    start, end = period(f)
    return [*_conditions(actor, export, SalesOrder.owner_id, f),
            SalesOrder.status != "cancelled", OrderLine.state != "cancelled",
            SalesOrder.created_at >= start, SalesOrder.created_at < end]


async def sales_by(db: AsyncSession, actor: Actor, f: SalesFilter, *, dimension: str,
                   lang: str | None = None, export: bool = False) -> list[dict[str, Any]]:
    """The orders' sales of the months grouped by the lines' product line, or by the
    customers' source or province: orders, customers, quantity, sales; biggest first."""
    if dimension not in DIMENSIONS:
        raise ValidationFailed("dimension", f"one of {', '.join(DIMENSIONS)}")
    language = _lang(actor, lang)
    keys: list[Any]
    if dimension == "product_line":
        keys = [ProductLine.code, ProductLine.name if language == "zh-CN"
                else func.coalesce(ProductLine.name_en, ProductLine.name)]
    elif dimension == "source":
        keys = [Customer.source, Customer.source]
    else:
        keys = [Customer.province, Customer.province]
    stmt = (select(*keys, func.count(func.distinct(SalesOrder.id)),
                   func.count(func.distinct(SalesOrder.customer_id)),
                   func.sum(OrderLine.quantity), func.sum(_line_amount()))
            .select_from(SalesOrder)
            .join(Customer, Customer.id == SalesOrder.customer_id)
            .join(OrderLine, OrderLine.order_id == SalesOrder.id)
            .outerjoin(ProductLine, ProductLine.id == OrderLine.product_line_id)
            .where(*_sold_conditions(actor, export, f)).group_by(*keys))
    out = [{"key": key, "label": label or _NONE[language], "orders": int(n),
            "customers": int(c), "quantity": int(q or 0), "sales": _money(amount)}
           for key, label, n, c, q, amount in map(tuple, await db.execute(stmt))]
    out.sort(key=lambda r: (-r["sales"], r["label"]))
    return out


# --- both ways: customers who bought a product, products a customer bought ----------


async def customers_who_bought(db: AsyncSession, actor: Actor, product: str, *,
                               limit: int = 200, export: bool = False
                               ) -> list[dict[str, Any]]:
    """The customers whose (live) order lines are ``product``: its ref (ISBN, model)
    exactly, or a title containing it; the biggest buyers first."""
    wanted = product.strip()
    if not wanted:
        raise ValidationFailed("product", "required")
    like = "%" + wanted.lower().replace("\\", "\\\\").replace("%", "\\%") \
        .replace("_", "\\_") + "%"
    stmt = (select(Customer.id, Customer.name, func.sum(OrderLine.quantity),
                   func.sum(_line_amount()), func.count(func.distinct(SalesOrder.id)),
                   func.max(SalesOrder.created_at))
            .select_from(SalesOrder)
            .join(Customer, Customer.id == SalesOrder.customer_id)
            .join(OrderLine, OrderLine.order_id == SalesOrder.id)
            .where(*_conditions(actor, export, SalesOrder.owner_id, None),
                   SalesOrder.status != "cancelled", OrderLine.state != "cancelled",
                   or_(OrderLine.ref == wanted,
                       func.lower(OrderLine.title).like(like, escape="\\")))
            .group_by(Customer.id, Customer.name)
            .order_by(func.sum(OrderLine.quantity).desc(), Customer.id).limit(limit))
    return [{"customer_id": cid, "customer_name": name, "quantity": int(q or 0),
             "sales": _money(amount), "orders": int(n),
             "last_on": _aware(last).astimezone(SHANGHAI).date().isoformat()}
            for cid, name, q, amount, n, last in await db.execute(stmt)]


async def products_of(db: AsyncSession, actor: Actor, customer_id: int, *,
                      limit: int = 500, export: bool = False) -> list[dict[str, Any]]:
    """What a customer bought (the live lines of their orders in the actor's scope),
    per ref (else title): quantity, amount, orders, last ordered; most bought first."""
    key = func.coalesce(OrderLine.ref, OrderLine.title)
    stmt = (select(key, func.max(OrderLine.ref), func.max(OrderLine.title),
                   func.sum(OrderLine.quantity), func.sum(_line_amount()),
                   func.count(func.distinct(SalesOrder.id)), func.max(SalesOrder.created_at))
            .select_from(SalesOrder)
            .join(Customer, Customer.id == SalesOrder.customer_id)
            .join(OrderLine, OrderLine.order_id == SalesOrder.id)
            .where(*_conditions(actor, export, SalesOrder.owner_id, None),
                   SalesOrder.customer_id == customer_id,
                   SalesOrder.status != "cancelled", OrderLine.state != "cancelled")
            .group_by(key).order_by(func.sum(OrderLine.quantity).desc(), key).limit(limit))
    return [{"ref": ref, "title": title, "quantity": int(q or 0), "sales": _money(amount),
             "orders": int(n), "last_on": _aware(last).astimezone(SHANGHAI).date().isoformat()}
            for _, ref, title, q, amount, n, last in await db.execute(stmt)]


# --- big contracts --------------------------------------------------------------------


async def big_contracts(db: AsyncSession, actor: Actor, *, now: datetime,
                        min_amount: Decimal = BIG_AMOUNT, days: int = BIG_DAYS,
                        limit: int = 50) -> list[dict[str, Any]]:
    """Orders worth at least ``min_amount`` made, and opportunities of at least that
    amount won, in the last ``days`` days; the newest first."""
    since = now - timedelta(days=days)
    total = func.sum(_line_amount())
    # an unbounded numeric: a bound of the columns' Numeric(14, 2) overflows on PostgreSQL
    # for an amount above what a column holds (asyncpg casts the parameter to its type)
    least = literal(min_amount, Numeric())
    orders = (select(SalesOrder.id, SalesOrder.number, SalesOrder.customer_id, Customer.name,
                     SalesOrder.owner_id, SalesOrder.created_at, total)
              .join(Customer, Customer.id == SalesOrder.customer_id)
              .join(OrderLine, OrderLine.order_id == SalesOrder.id)
              .where(*_conditions(actor, False, SalesOrder.owner_id, None),
                     SalesOrder.status != "cancelled", OrderLine.state != "cancelled",
                     SalesOrder.created_at >= since, SalesOrder.created_at <= now)
              .group_by(SalesOrder.id, SalesOrder.number, SalesOrder.customer_id,
                        Customer.name, SalesOrder.owner_id, SalesOrder.created_at)
              .having(total >= least)
              .order_by(SalesOrder.created_at.desc()).limit(limit))
    won = (select(Opportunity.id, Opportunity.title, Opportunity.customer_id, Customer.name,
                  Opportunity.owner_id, Opportunity.closed_at, Opportunity.amount)
           .join(Customer, Customer.id == Opportunity.customer_id)
           .where(*_conditions(actor, False, Opportunity.owner_id, None),
                  Opportunity.stage == "won", Opportunity.amount >= least,
                  Opportunity.closed_at >= since, Opportunity.closed_at <= now)
           .order_by(Opportunity.closed_at.desc()).limit(limit))
    found = [("order", *r) for r in await db.execute(orders)] + \
        [("opportunity", *r) for r in await db.execute(won)]
    names = await _users(db, list({r[5] for r in found if r[5] is not None}))
    out = [{"kind": kind, "id": i, "title": title, "customer_id": cid, "customer_name": cname,
            "owner_id": owner, "owner_name": names.get(owner, (None, None))[0]
            if owner is not None else None,
            "signed_at": _aware(at).isoformat(), "amount": _money(amount)}
           for kind, i, title, cid, cname, owner, at, amount in found]
    out.sort(key=lambda r: r["signed_at"], reverse=True)
    return out[:limit]
