"""The 360 view of a caller: the screen pop's hot path.

``lookup_360(db, phone)`` takes a phone number as a carrier or a person writes it,
normalises it (``numbering.normalize``) and returns everything an agent needs before
picking up: the customer, the contact the number belongs to, the owner, phones,
contacts, assets (with product line and warranty), open tickets, open opportunities,
active subscriptions, the last interactions and the last calls, open orders (each with
its stage, expected arrival and whether it is late: issue 18); as a JSON-ready dict.

Rules:
- ONE statement per lookup: the number is found through ``phone_number.number_e164``
  (indexed), the customer, owner and contact are joined to it, and every list is a
  correlated, index-driven subquery aggregated to JSON inside the database
  (``json_group_array``/``json_object`` on SQLite, ``json_agg``/``json_build_object``
  on PostgreSQL). Merge chains longer than one hop cost one more statement per hop.
- statements are Core selects built and compiled once per dialect; on aiosqlite and
  asyncpg the compiled SQL runs straight on the driver connection under the
  SQLAlchemy connection (one thread hop / one round trip, asyncpg keeps it prepared;
  SQLAlchemy's cursor path costs four hops on aiosqlite); other drivers go through
  ``execute``. No transaction is opened for it: a session's or connection's own
  transaction is used as it stands (a session's unflushed objects are not flushed);
- the screen pop hub should hold a ``LookupReader`` (connections kept checked out):
  an engine works too, but then every lookup pays a pool checkout (with
  ``pool_pre_ping``: three more round trips on PostgreSQL);
- an unknown (or empty) number is ``{"found": False, "phone": <normalised>}``, never
  an error; a customer merged into another (``merged_into_id``) resolves to the one
  it was merged into (the merge service re-points its records there);
- permissions: ``actor=None`` means a trusted caller (the screen pop hub). With an
  actor, the ``customers``/``read`` scope decides (``permissions.allows``): a customer
  outside it (or no read grant at all) gives ``{"found": True, "restricted": True,
  "phone": ..., "owner": {"display_name": ...}}``: only who looks after the caller,
  so the agent can hand the call over, never the record;
- every list is capped (``LIST_CAP``, ``interactions`` up to ``MAX_INTERACTIONS``,
  ``CALLS``); a list cut short is named in ``"more"``; texts are cut to ``TEXT_CHARS``;
  rows are ordered and limited on raw columns, JSON is built only for the rows kept;
- times are ISO 8601 UTC strings with milliseconds made by the database, the same
  on both (``2024-05-01T08:30:00.123+00:00``), dates ``YYYY-MM-DD``, money a decimal
  string (``"1234.50"``); interactions and calls are newest first;
- a call's ``direction`` is inbound or outbound (click-to-dial, callback); its
  ``caller`` is the customer's number either way (for outbound, the number dialled);
- no cache: the single indexed statement meets the budget (see benchmarks/lookup.py),
  so there is nothing to invalidate and a write is visible at the next lookup.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    Dialect,
    Integer,
    Row,
    Select,
    String,
    bindparam,
    case,
    cast,
    func,
    literal_column,
    null,
    select,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from crm_core.models import (
    Asset,
    CallRecord,
    Contact,
    Customer,
    Interaction,
    Opportunity,
    OrderLine,
    PhoneNumber,
    ProductLine,
    SalesOrder,
    ServiceStation,
    Subscription,
    SupplierBatch,
    Technician,
    Ticket,
    User,
)
from crm_core.names import name_places, places_agree
from crm_core.order_eta import TO_BE_BATCHED, is_late
from crm_core.orders import live_states, stage_of_rank, stage_rank
from crm_core.permissions import Actor, allows, scope_for
from numbering.normalize import normalize

CLOSED_TICKET_STATUSES = ("resolved", "closed", "cancelled")
CLOSED_OPPORTUNITY_STAGES = ("won", "lost")
ACTIVE_SUBSCRIPTION_STATUSES = ("active",)
LIST_CAP = 20  # phones, contacts, assets, open tickets/opportunities, subscriptions
CALLS = 5
TEXT_CHARS = 500
MAX_MERGE_HOPS = 5
BUSINESS_TZ = ZoneInfo("Asia/Shanghai")  # "in warranty" is judged on the local day

MAX_INTERACTIONS = 200
MAX_ID = 2**31 - 1  # INTEGER ids: anything above cannot exist
log = logging.getLogger("crm_core.lookup")

customer_t = Customer.__table__
user_t = User.__table__
contact_t = Contact.__table__
phone_t = PhoneNumber.__table__
asset_t = Asset.__table__
line_t = ProductLine.__table__
ticket_t = Ticket.__table__
station_t = ServiceStation.__table__
technician_t = Technician.__table__
opportunity_t = Opportunity.__table__
subscription_t = Subscription.__table__
interaction_t = Interaction.__table__
call_t = CallRecord.__table__
order_t = SalesOrder.__table__
order_line_t = OrderLine.__table__
batch_t = SupplierBatch.__table__

LISTS = (
    "phones", "contacts", "assets", "open_tickets", "open_opportunities",
    "subscriptions", "interactions", "calls", "open_orders",
)


# --- statement building (once per dialect) -------------------------------------------


def _json_object(dialect: str, fields: Sequence[tuple[str, Any]]) -> ColumnElement[Any]:
    """A JSON object of ``fields``; keys are our own constants, rendered inline."""
    args: list[Any] = []
    for key, value in fields:
        args += [literal_column(f"'{key}'"), value]
    if dialect == "sqlite":
        return func.json_object(*args)
    return func.json_build_object(*args)


def _json_array(
    dialect: str, rows: Select[Any], formats: dict[str, Callable[[Any], Any]]
) -> ColumnElement[Any]:
    """``rows`` (narrow raw columns, ordered and limited inside) as one JSON array of
    objects keyed by their labels. The JSON is built outside the ORDER BY/LIMIT, so a
    sort (if any) moves raw values and only the rows kept are formatted."""
    sub = rows.subquery()
    obj = _json_object(dialect, [
        (key, formats[key](col) if key in formats else col) for key, col in sub.c.items()
    ])
    agg = func.json_group_array(obj) if dialect == "sqlite" else func.json_agg(obj)
    return select(agg).scalar_subquery()


def _const(value: int) -> ColumnElement[Any]:
    """An integer rendered inline: no bound parameter to process on each execution."""
    return literal_column(str(int(value)), Integer)


def _words(values: Sequence[str]) -> list[ColumnElement[Any]]:
    """Our own status words rendered inline (not an expanding IN parameter)."""
    return [literal_column(f"'{v}'") for v in values]


def _text(column: Any) -> ColumnElement[Any]:
    return func.substr(column, _const(1), _const(TEXT_CHARS))


def _iso(dialect: str, column: Any) -> ColumnElement[Any]:
    """A timestamp as ISO 8601 UTC text with milliseconds, made by the database so that
    both give the very same string (``2024-05-01T08:30:00.123+00:00``); NULL stays NULL.
    SQLite keeps UTC text (models.UtcDateTime); strftime also copes with other layouts."""
    if dialect == "sqlite":
        return func.strftime(literal_column("'%Y-%m-%dT%H:%M:%f'"), column).concat(
            literal_column("'+00:00'"))
    return func.to_char(func.timezone(literal_column("'UTC'"), column),
                        literal_column("'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"+00:00\"'"))


def _money(dialect: str, column: Any) -> ColumnElement[Any]:
    """A NUMERIC(14, 2) as decimal text with two places (no float rounding)."""
    if dialect == "sqlite":
        return case((column.is_(None), null()),
                    else_=func.printf(literal_column("'%.2f'"), column))
    return cast(column, String)


def _list_subqueries(dialect: str, cust: Any) -> list[ColumnElement[Any]]:
    """The correlated list subqueries of the view, in ``LISTS`` order."""

    def iso(column: Any) -> ColumnElement[Any]:
        return _iso(dialect, column)

    def money(column: Any) -> ColumnElement[Any]:
        return _money(dialect, column)

    cap = _const(LIST_CAP + 1)  # one more than shown: tells whether the list was cut

    phones = select(
        phone_t.c.id, phone_t.c.number_e164.label("number"), phone_t.c.raw, phone_t.c.kind,
        phone_t.c.contact_id,
    ).where(phone_t.c.customer_id == cust.c.id).order_by(phone_t.c.id).limit(cap)

    contacts = select(
        contact_t.c.id, contact_t.c.name, contact_t.c.role, contact_t.c.email,
    ).where(contact_t.c.customer_id == cust.c.id).order_by(contact_t.c.id).limit(cap)

    # two steps (assets, tickets, opportunities, calls): the ids of the rows shown
    # from an index alone, then those rows by primary key; PostgreSQL plans these
    # subqueries for an average customer and would otherwise read every row of a big
    # account to sort them
    a_ids = asset_t.alias("a_ids")
    newest_assets = select(a_ids.c.id).where(a_ids.c.customer_id == cust.c.id).order_by(
        a_ids.c.id.desc()).limit(cap).correlate(cust).subquery("a_keep")
    assets = select(
        asset_t.c.id, asset_t.c.model, asset_t.c.serial_number, asset_t.c.purchase_date,
        asset_t.c.warranty_end, asset_t.c.site, line_t.c.id.label("product_line_id"),
        line_t.c.code.label("product_line_code"), line_t.c.name.label("product_line_name"),
        line_t.c.name_en.label("product_line_name_en"),
    ).select_from(
        newest_assets.join(asset_t, asset_t.c.id == newest_assets.c.id)
        .outerjoin(line_t, line_t.c.id == asset_t.c.product_line_id)
    )

    t_ids = ticket_t.alias("t_ids")
    open_tickets = select(t_ids.c.id).where(
        t_ids.c.customer_id == cust.c.id,
        t_ids.c.status.not_in(_words(CLOSED_TICKET_STATUSES)),
    ).order_by(t_ids.c.id.desc()).limit(cap).correlate(cust).subquery("t_keep")
    # with the station and technician it is routed to and its SLA: "when will the
    # technician come?" is answered from the pop (issue 15 item 6)
    tickets = select(
        ticket_t.c.id, ticket_t.c.number, ticket_t.c.status, ticket_t.c.priority,
        ticket_t.c.problem, ticket_t.c.asset_id, ticket_t.c.created_at, ticket_t.c.updated_at,
        station_t.c.code.label("station_code"), station_t.c.name.label("station_name"),
        station_t.c.name_en.label("station_name_en"),
        technician_t.c.name.label("technician_name"), ticket_t.c.arrive_due,
        ticket_t.c.arrived_at, ticket_t.c.resolve_due, ticket_t.c.sla_state,
    ).select_from(
        open_tickets.join(ticket_t, ticket_t.c.id == open_tickets.c.id)
        .outerjoin(station_t, station_t.c.id == ticket_t.c.station_id)
        .outerjoin(technician_t, technician_t.c.id == ticket_t.c.technician_id)
    )

    o_ids = opportunity_t.alias("o_ids")
    open_opportunities = select(o_ids.c.id).where(
        o_ids.c.customer_id == cust.c.id,
        o_ids.c.stage.not_in(_words(CLOSED_OPPORTUNITY_STAGES)),
    ).order_by(o_ids.c.id.desc()).limit(cap).correlate(cust).subquery("o_keep")
    opportunities = select(
        opportunity_t.c.id, opportunity_t.c.title, opportunity_t.c.stage,
        opportunity_t.c.amount, opportunity_t.c.owner_id, opportunity_t.c.created_at,
    ).select_from(
        open_opportunities.join(opportunity_t, opportunity_t.c.id == open_opportunities.c.id))

    subscriptions = select(
        subscription_t.c.id, subscription_t.c.kind, subscription_t.c.title,
        subscription_t.c.start_date, subscription_t.c.end_date, subscription_t.c.status,
    ).where(
        subscription_t.c.customer_id == cust.c.id,
        subscription_t.c.status.in_(_words(ACTIVE_SUBSCRIPTION_STATUSES)),
    ).order_by(subscription_t.c.end_date).limit(cap)

    author = user_t.alias("author")
    interactions = select(
        interaction_t.c.id, interaction_t.c.kind, interaction_t.c.occurred_at,
        interaction_t.c.place, interaction_t.c.content, interaction_t.c.result,
        interaction_t.c.next_step, interaction_t.c.disposition, interaction_t.c.contact_id,
        interaction_t.c.author_id, author.c.display_name.label("author"),
        interaction_t.c.call_linkedid, interaction_t.c.parent_id,
    ).select_from(
        interaction_t.outerjoin(author, author.c.id == interaction_t.c.author_id)
    ).where(interaction_t.c.customer_id == cust.c.id).order_by(
        # the (customer_id, occurred_at) index read backwards; id breaks ties
        interaction_t.c.occurred_at.desc(), interaction_t.c.id.desc()
    ).limit(bindparam("n_interactions", type_=Integer))

    c_ids = call_t.alias("c_ids")
    last_calls = select(c_ids.c.id).where(c_ids.c.customer_id == cust.c.id).order_by(
        # (customer_id, ended_at, id) read backwards, stopped after CALLS rows
        c_ids.c.ended_at.desc(), c_ids.c.id.desc()
    ).limit(_const(CALLS)).correlate(cust).subquery("c_keep")
    calls = select(
        call_t.c.id, call_t.c.linkedid, call_t.c.caller, call_t.c.did, call_t.c.agent,
        call_t.c.outcome, call_t.c.started_at, call_t.c.answered_at, call_t.c.ended_at,
        call_t.c.wait_s, call_t.c.talk_s, call_t.c.recording, call_t.c.direction,
    ).select_from(last_calls.join(call_t, call_t.c.id == last_calls.c.id))

    # open orders (issue 18), newest first from (customer_id, status, id); each with the
    # rank of its least advanced live line and its last batch's expected day, from
    # (order_id, state, batch_id) and the batches' primary key
    so_ids = order_t.alias("so_ids")
    newest_orders = select(so_ids.c.id).where(
        so_ids.c.customer_id == cust.c.id, so_ids.c.status == literal_column("'open'"),
    ).order_by(so_ids.c.id.desc()).limit(cap).correlate(cust).subquery("so_keep")
    open_orders = select(
        order_t.c.id, order_t.c.number, order_t.c.due_date, order_t.c.owner_id,
        func.min(stage_rank(batch_t.c.stage, order_line_t.c.batch_id)).label("stage_rank"),
        func.max(batch_t.c.expected_on).label("expected_on"),
        func.max(case((order_line_t.c.state == literal_column("'back_ordered'"), _const(1)),
                      else_=_const(0))).label("back_ordered"),
        func.count().label("lines"),
    ).select_from(
        newest_orders.join(order_t, order_t.c.id == newest_orders.c.id)
        .join(order_line_t, order_line_t.c.order_id == order_t.c.id)
        .outerjoin(batch_t, batch_t.c.id == order_line_t.c.batch_id)
    ).where(order_line_t.c.state.in_(live_states())).group_by(
        order_t.c.id, order_t.c.number, order_t.c.due_date, order_t.c.owner_id)

    times: dict[str, Callable[[Any], Any]] = {
        k: iso for k in ("created_at", "updated_at", "occurred_at", "started_at",
                         "answered_at", "ended_at", "arrive_due", "arrived_at",
                         "resolve_due")}
    texts: dict[str, Callable[[Any], Any]] = {
        k: _text for k in ("problem", "content", "result", "next_step")}
    formats = {**times, **texts, "amount": money}
    lists = (phones, contacts, assets, tickets, opportunities, subscriptions,
             interactions, calls, open_orders)
    return [
        _json_array(dialect, q.correlate(cust), formats).label(name)
        for name, q in zip(LISTS, lists, strict=True)
    ]


def _hit_by_number() -> Any:
    """The phone row of the number (the oldest customer's if shared), resolved one merge
    hop: (customer_id, contact_id, matched_customer_id)."""
    c0 = customer_t.alias("c0")
    return (
        select(
            func.coalesce(c0.c.merged_into_id, c0.c.id).label("customer_id"),
            phone_t.c.contact_id.label("contact_id"),
            c0.c.id.label("matched_customer_id"),
        )
        .select_from(phone_t.join(c0, c0.c.id == phone_t.c.customer_id))
        .where(phone_t.c.number_e164 == bindparam("number"))
        .order_by(phone_t.c.customer_id, phone_t.c.id)
        .limit(_const(1))
        .subquery("hit")
    )


def _hit_by_customer() -> Any:
    return select(
        bindparam("customer_id", type_=Integer).label("customer_id"),
        cast(null(), Integer).label("contact_id"),  # PostgreSQL: a bare NULL is text
        bindparam("customer_id", type_=Integer).label("matched_customer_id"),
    ).subquery("hit")


def build_statement(dialect: str, by: str) -> Select[Any]:
    """The whole 360 view in one SELECT; ``by`` is ``"number"`` or ``"customer"``."""
    hit = _hit_by_number() if by == "number" else _hit_by_customer()
    cust = customer_t.alias("c")
    owner = user_t.alias("owner")
    contact = contact_t.alias("k")
    return select(
        cust.c.id, cust.c.name, cust.c.kind, cust.c.category, cust.c.industry,
        cust.c.source, cust.c.province, cust.c.city, cust.c.vip_tier, cust.c.vip_value,
        cust.c.status, cust.c.merged_into_id, cust.c.owner_id,
        hit.c.matched_customer_id,
        owner.c.display_name.label("owner_name"), owner.c.team.label("owner_team"),
        contact.c.id.label("contact_id"), contact.c.name.label("contact_name"),
        contact.c.role.label("contact_role"), contact.c.email.label("contact_email"),
        *_list_subqueries(dialect, cust),
    ).select_from(
        hit.join(cust, cust.c.id == hit.c.customer_id)
        .outerjoin(owner, owner.c.id == cust.c.owner_id)
        .outerjoin(contact, contact.c.id == hit.c.contact_id)
    )


_STATEMENTS: dict[tuple[str, str], Select[Any]] = {}


def candidates_statement() -> Select[Any]:
    """Live customers with one ``name_key`` (the duplicate guard's name rule), oldest
    first, each with its owner's name: the pop's candidates for an unknown caller."""
    owner = user_t.alias("owner")
    return (
        select(customer_t.c.id, customer_t.c.name, customer_t.c.owner_id,
               owner.c.display_name.label("owner_name"))
        .select_from(customer_t.outerjoin(owner, owner.c.id == customer_t.c.owner_id))
        .where(customer_t.c.name_key == bindparam("key", type_=String),
               customer_t.c.merged_into_id.is_(None))
        .order_by(customer_t.c.id)
        .limit(bindparam("limit", type_=Integer))
    )


def statement(dialect: str, by: str) -> Select[Any]:
    """The cached statement (same object each time: its cache key is memoised);
    ``by``: ``"number"``, ``"customer"`` (the 360 view) or ``"candidates"``."""
    key = (dialect, by)
    stmt = _STATEMENTS.get(key)
    if stmt is None:
        stmt = _STATEMENTS[key] = (candidates_statement() if by == "candidates"
                                   else build_statement(dialect, by))
    return stmt


# --- pure: shaping a row into the view --------------------------------------------------


def money(value: Any) -> str | None:
    if value is None:
        return None
    return str(Decimal(str(value)).quantize(Decimal("0.01")))


def _loads(value: Any) -> list[dict[str, Any]]:
    """A JSON array column: the drivers give text (or None for no rows on PostgreSQL)."""
    if value is None:
        return []
    if isinstance(value, list):
        return value
    loaded = json.loads(value)
    return loaded if isinstance(loaded, list) else []


def _newest_first(items: list[dict[str, Any]], key: str) -> None:
    # the databases disagree on where NULL sorts; missing times go last
    items.sort(key=lambda i: (i.get(key) is not None, i.get(key) or "", i.get("id") or 0),
               reverse=True)


def shape(row: Any, phone: str | None, today: date) -> dict[str, Any]:
    """The view of one result row (a mapping with the statement's labels)."""
    lists = {name: _loads(row[name]) for name in LISTS}
    # newest first before anything is cut: the aggregates need not keep the order
    for name in ("assets", "open_tickets", "open_opportunities", "open_orders"):
        lists[name].sort(key=lambda item: item.get("id") or 0, reverse=True)
    more = [name for name in LISTS if name not in ("interactions", "calls")
            and len(lists[name]) > LIST_CAP]
    for name in more:
        del lists[name][LIST_CAP:]
    for asset in lists["assets"]:
        end = asset["warranty_end"]
        asset["in_warranty"] = None if end is None else end >= today.isoformat()
    for order in lists["open_orders"]:
        _order_stands(order, today)
    # the SQL orders both; the aggregate keeping that order is usual but not promised
    _newest_first(lists["interactions"], "occurred_at")
    _newest_first(lists["calls"], "ended_at")

    contact = None
    if row["contact_id"] is not None:
        contact = {"id": row["contact_id"], "name": row["contact_name"],
                   "role": row["contact_role"], "email": row["contact_email"]}
    owner = None
    if row["owner_id"] is not None:
        owner = {"id": row["owner_id"], "display_name": row["owner_name"]}
    view: dict[str, Any] = {
        "found": True,
        "phone": phone,
        "customer": {
            "id": row["id"], "name": row["name"], "kind": row["kind"],
            "category": row["category"], "industry": row["industry"], "source": row["source"],
            "province": row["province"], "city": row["city"], "vip_tier": row["vip_tier"],
            "vip_value": money(row["vip_value"]), "status": row["status"],
        },
        "contact": contact,
        "owner": owner,
        **lists,
        "more": more,
    }
    if row["matched_customer_id"] != row["id"]:
        view["merged_from"] = row["matched_customer_id"]
    return view


def _order_stands(order: dict[str, Any], today: date) -> None:
    """An open order of the pop: its stage word, no expected day while a line waits to
    be batched, and whether it is late (past that day, or after its due date)."""
    stage = stage_of_rank(order.pop("stage_rank", 0))
    order["stage"] = stage
    if stage == TO_BE_BATCHED:
        order["expected_on"] = None
    order["back_ordered"] = bool(order.get("back_ordered"))
    expected, due = order.get("expected_on"), order.get("due_date")
    order["late"] = is_late(
        stage, date.fromisoformat(expected) if isinstance(expected, str) else None,
        date.fromisoformat(due) if isinstance(due, str) else None, today)


def restricted(row: Any, phone: str | None) -> dict[str, Any]:
    """What an actor outside the customer's scope sees: who looks after the caller."""
    owner = None if row["owner_id"] is None else {"display_name": row["owner_name"]}
    return {"found": True, "restricted": True, "phone": phone, "owner": owner}


def visible_to(actor: Actor, row: Any) -> bool:
    scope = scope_for(actor, "customers", "read")
    if scope is None:
        return False
    if (scope == "team" and actor.team is None) or (scope == "region" and actor.region is None):
        scope = "own"  # as permissions.customer_filter does for such an actor
    return allows(actor, scope, owner_id=row["owner_id"], owner_team=row["owner_team"],
                  province=row["province"])


def business_today(now: datetime | None = None) -> date:
    return (now or datetime.now(UTC)).astimezone(BUSINESS_TZ).date()


# --- I/O ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Compiled:
    """A statement compiled once for one dialect and driver: its SQL, the names of its
    positional parameters (constants prefilled) and its result columns."""

    sql: str
    names: tuple[str, ...]
    defaults: dict[str, Any]
    columns: tuple[str, ...]

    def args(self, params: dict[str, Any]) -> list[Any]:
        return [params[n] if n in params else self.defaults[n] for n in self.names]


_COMPILED: dict[tuple[str, str, str], Compiled] = {}
_FAST_DRIVERS = ("aiosqlite", "asyncpg")


def compiled(dialect: Dialect, by: str) -> Compiled:
    key = (dialect.name, dialect.driver, by)
    found = _COMPILED.get(key)
    if found is None:
        stmt = statement(dialect.name, by)
        comp = stmt.compile(dialect=dialect)
        names = tuple(comp.positiontup or ())
        defaults = comp.construct_params(
            {"number": "", "customer_id": 0, "n_interactions": 0}, _check=False)
        found = _COMPILED[key] = Compiled(
            str(comp), names, dict(defaults), tuple(stmt.selected_columns.keys()))
    return found


async def _fetch(conn: AsyncConnection, by: str, params: dict[str, Any]) -> Any:
    """The one result row (as a dict) or None.

    On aiosqlite and asyncpg the compiled SQL goes straight to the driver connection
    of ``conn`` (same connection, same transaction): one thread hop on aiosqlite
    instead of four, one round trip with asyncpg's prepared-statement cache. Other
    drivers go through SQLAlchemy's ``execute``. Driver errors propagate as they are.
    """
    dialect = conn.dialect
    if dialect.driver in _FAST_DRIVERS:
        stmt = compiled(dialect, by)
        args = stmt.args(params)
        driver: Any = (await conn.get_raw_connection()).driver_connection
        if dialect.driver == "aiosqlite":
            rows = await driver.execute_fetchall(stmt.sql, args)
            first = next(iter(rows), None)
        else:
            first = await driver.fetchrow(stmt.sql, *args)
        return None if first is None else dict(zip(stmt.columns, first, strict=True))
    result = await conn.execute(statement(dialect.name, by), params)
    row: Row[Any] | None = result.first()
    return None if row is None else dict(row._mapping)


async def _fetch_all(conn: AsyncConnection, by: str, params: dict[str, Any]
                     ) -> list[dict[str, Any]]:
    """Every result row (as dicts), the way ``_fetch`` runs its statement."""
    dialect = conn.dialect
    if dialect.driver in _FAST_DRIVERS:
        stmt = compiled(dialect, by)
        args = stmt.args(params)
        driver: Any = (await conn.get_raw_connection()).driver_connection
        if dialect.driver == "aiosqlite":
            rows = await driver.execute_fetchall(stmt.sql, args)
        else:
            rows = await driver.fetch(stmt.sql, *args)
        return [dict(zip(stmt.columns, row, strict=True)) for row in rows]
    result = await conn.execute(statement(dialect.name, by), params)
    return [dict(row._mapping) for row in result.all()]


async def _resolve(conn: AsyncConnection, number: str, interactions: int) -> Any:
    """The row of the customer owning ``number``, merge chains followed."""
    row = await _fetch(conn, "number", {"number": number, "n_interactions": interactions})
    seen: set[int] = set()
    while row is not None and row["merged_into_id"] is not None and len(seen) < MAX_MERGE_HOPS:
        # merged again after the first merge: follow the chain (rare: one statement a hop)
        seen.add(row["id"])
        if row["merged_into_id"] in seen:
            break
        first = row
        row = await _fetch(conn, "customer", {"customer_id": row["merged_into_id"],
                                              "n_interactions": interactions})
        if row is not None:
            row = {**row, "matched_customer_id": first["matched_customer_id"],
                   "contact_id": first["contact_id"], "contact_name": first["contact_name"],
                   "contact_role": first["contact_role"],
                   "contact_email": first["contact_email"]}
    return row


class LookupReader:
    """Connections held for the screen pop: the hot path without a pool checkout.

    Checking a connection out of the engine's pool for every lookup costs more than
    the lookup itself (with ``pool_pre_ping`` three round trips on PostgreSQL, a
    rollback hop on aiosqlite). A reader keeps up to ``size`` connections of the
    engine checked out and reuses them; lookups on one connection take turns, so
    ``size`` bounds concurrency (a cut-short SQLite lookup may still be finishing
    beside them: see ``_work``). Each statement runs on its own (no transaction is
    left open), so a committed write is seen by the next lookup. A connection that
    fails is invalidated and the lookup is tried once more on a fresh one (the server
    restarted). ``close()`` gives the connections back; use it as an async context
    manager or from the owner's cleanup (e.g. an aiohttp cleanup_ctx).
    """

    def __init__(self, engine: AsyncEngine, *, size: int = 2) -> None:
        if size < 1:
            raise ValueError("size must be at least 1")
        self.engine = engine
        self._slots = asyncio.Semaphore(size)
        self._idle: list[AsyncConnection] = []
        self._settling: set[asyncio.Task[None]] = set()
        self._closed = False

    async def __aenter__(self) -> LookupReader:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def run(self, work: Callable[[AsyncConnection], Awaitable[Any]]) -> Any:
        """``work(connection)`` on a held connection (retried once on a fresh one)."""
        if self._closed:
            raise RuntimeError("LookupReader is closed")
        async with self._slots:
            for attempt in (1, 2):
                conn = self._idle.pop() if self._idle else await self.engine.connect()
                try:
                    result = await self._work(conn, work)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    await _discard(conn)
                    if attempt == 2:
                        raise
                    log.warning("lookup connection failed; retrying on a new one",
                                exc_info=True)
                    continue
                await self._keep(conn)
                return result
        raise AssertionError("unreachable")  # pragma: no cover

    async def _work(self, conn: AsyncConnection,
                    work: Callable[[AsyncConnection], Awaitable[Any]]) -> Any:
        if conn.dialect.name != "sqlite":
            try:
                return await work(conn)
            except asyncio.CancelledError:
                # cancelled mid-statement: the server side is in an unknown state, so the
                # connection is never reused; shielded so a second cancel can't leak it
                await asyncio.shield(_discard(conn))
                raise
        # SQLite: the statement runs to its end on aiosqlite's thread whatever happens
        # here, so a cancelled lookup lets it finish in the background and then gives
        # the connection back. Interrupting SQLAlchemy mid-statement instead makes it
        # invalidate the connection, and a second cancel in that window makes aiosqlite
        # stop its thread twice and wait forever on the second stop (an app stopped
        # during a lookup hung the event loop's close).
        running = asyncio.ensure_future(work(conn))
        try:
            return await asyncio.shield(running)
        except asyncio.CancelledError:
            if not running.done():
                settle = asyncio.create_task(self._settle(conn, running))
                self._settling.add(settle)
                settle.add_done_callback(self._settling.discard)
                raise
            if running.cancelled():
                raise
            return running.result()  # it finished just as the cancel came: use it

    async def _settle(self, conn: AsyncConnection, running: asyncio.Future[Any]) -> None:
        try:
            await running
        except BaseException:
            await _discard(conn)
            return
        await self._keep(conn)

    async def _keep(self, conn: AsyncConnection) -> None:
        if self._closed:
            await conn.close()
        else:
            self._idle.append(conn)

    async def close(self) -> None:
        self._closed = True
        if self._settling:  # cut-short SQLite lookups finishing: their connections too
            await asyncio.gather(*self._settling, return_exceptions=True)
        idle, self._idle = self._idle, []
        for conn in idle:
            await conn.close()


async def _discard(conn: AsyncConnection) -> None:
    with contextlib.suppress(Exception):
        await conn.invalidate()
    with contextlib.suppress(Exception):
        await conn.close()


Db = AsyncSession | AsyncEngine | AsyncConnection | LookupReader


async def _run(db: Db, work: Callable[[AsyncConnection], Awaitable[Any]]) -> Any:
    if isinstance(db, LookupReader):
        return await db.run(work)
    if isinstance(db, AsyncSession):
        return await work(await db.connection())
    if isinstance(db, AsyncConnection):
        return await work(db)
    async with db.connect() as conn:
        return await work(conn)


def _limit(interactions: int) -> int:
    return min(max(0, int(interactions)), MAX_INTERACTIONS)


async def lookup_360(
    session_or_engine: Db,
    phone: str | None,
    *,
    region: str = "CN",
    interactions: int = 10,
    actor: Actor | None = None,
) -> dict[str, Any]:
    """The 360 view of whoever has ``phone`` (any format), JSON-ready (module rules)."""
    number = normalize(phone, region) if phone else None
    if number is None:
        return {"found": False, "phone": None}
    limit = _limit(interactions)

    async def work(conn: AsyncConnection) -> Any:
        return await _resolve(conn, number, limit)

    row = await _run(session_or_engine, work)
    if row is None:
        return {"found": False, "phone": number}
    if actor is not None and not visible_to(actor, row):
        return restricted(row, number)
    return shape(row, number, business_today())


async def view_360(
    session_or_engine: Db,
    customer_id: int,
    *,
    interactions: int = 10,
    actor: Actor | None = None,
) -> dict[str, Any]:
    """The same view for a customer id (merges followed); unknown id: found false."""
    limit = _limit(interactions)
    if not 0 < customer_id <= MAX_ID:
        return {"found": False, "phone": None}

    async def work(conn: AsyncConnection) -> Any:
        row = await _fetch(conn, "customer", {"customer_id": customer_id,
                                              "n_interactions": limit})
        hops = 0
        while row is not None and row["merged_into_id"] is not None and hops < MAX_MERGE_HOPS:
            hops += 1
            row = await _fetch(conn, "customer", {"customer_id": row["merged_into_id"],
                                                  "n_interactions": limit})
        return row

    row = await _run(session_or_engine, work)
    if row is None:
        return {"found": False, "phone": None}
    if actor is not None and not visible_to(actor, row):
        return restricted(row, None)
    view = shape(row, None, business_today())
    if row["id"] != customer_id:
        view["merged_from"] = customer_id
    return view


async def name_candidates(db: Db, key: str, *, limit: int = 5,
                          places: frozenset[str] | None = None) -> list[dict[str, Any]]:
    """Live customers (tombstones left out) whose ``name_key`` is ``key``, oldest first,
    at most ``limit``: dicts with ``id``, ``name``, ``owner_id``, ``owner_name``. One
    statement; on a ``LookupReader`` it runs like the 360 lookup (no pool checkout).
    ``places``: those of the name looked for; a customer whose places disagree
    (``crm_core.names.places_agree``: ``郑州X`` for ``洛阳X``) is left out."""
    if not key:
        return []
    wanted = min(max(0, int(limit)), LIST_CAP)
    # places are read from the names: ask for more rows when some may be left out
    params = {"key": key, "limit": wanted if places is None else LIST_CAP}

    async def work(conn: AsyncConnection) -> list[dict[str, Any]]:
        return await _fetch_all(conn, "candidates", params)

    rows: list[dict[str, Any]] = await _run(db, work)
    if places is not None:
        rows = [r for r in rows if places_agree(places, name_places(str(r["name"])))]
    return rows[:wanted]
