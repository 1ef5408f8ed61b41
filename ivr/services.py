"""Self-service actions of the IVR against ``crm_core`` (issue 6, point 4).

Each action answers a flow's ``self_service`` step with a ``ServiceResult``: ``ok``,
and ``data`` whose ``prompts`` the flow engine reads back to the caller (prompt ids
of ``ivr.default_flow.PROMPTS``, and ``{"say": "digits" | "date", "value": ...}``
items the PBX speaks), plus the facts found (for the call log and ``hotline ivr try``).

Actions (``ACTIONS``):
- ``ticket_status``: ``ticket_no`` (keypad digits of a ticket number: ``T20261125-0001``
  is keyed ``202611250001``) reads that ticket's status; else the caller's open tickets
  (newest first, up to ``READ_TICKETS``) as the 360 view of this call has them. Not
  found is an answer (ok, "ticket_not_found"), not a failure;
- ``order_status``: ``order_no`` (keypad digits of an order number: ``SO000123`` is
  keyed ``000123``) reads that order; else the caller's open orders (newest first, up
  to ``READ_ORDERS``, ``crm_core.orders.open_orders``: one indexed statement): number,
  stage, expected arrival (delivery day once delivered), back-ordered items (issue 18).
  A caller with no open order hears their subscriptions and contracts as before
  (active ones and those that ended within ``RECENT_DAYS``, up to
  ``READ_SUBSCRIPTIONS``): kind, end date, renewal (``sub_renewal_due`` when an active
  one ends within ``RENEWAL_DAYS``);
- ``list_assets``: the caller's assets from the 360 view (oldest first, up to
  ``MAX_CHOICES``) as a keypad menu: "serial number ending 0417, press 1"; no asset: not
  ok (the flow asks a serial);
- ``repair_request``: ``choice`` (a key of ``list_assets``, same list) or ``serial``
  (keypad digits of the serial number: all its digits, or its last 4+ when that is unique
  among the caller's assets in the database) -> a new ticket
  (``crm_core.tickets.create_ticket``, which checks the asset is the customer's;
  category ``repair``, linked to the call), its number read back; an unknown serial is
  not ok (the flow hands over to an agent). When the asset already has an open repair
  ticket (``crm_core.tickets.open_repair``) no second one is opened: the request is
  added to that ticket (``add_note``: a history event naming this call, audited) and
  the caller hears "already open", its number and its status (issue 14 item 3: three
  identical tickets in ten minutes from one caller trying again);
- ``callback``: ``ivr.callback_store.request_callback`` when that module is installed;
  without it the action is not ok (the flow then offers an agent).

Rules:
- what the call's 360 view already holds (open tickets, assets) is read from it: no
  query (the view was read moments ago, at the start of the call); anything else runs
  in its own session and transaction, opened only when needed; writes are committed
  only when ``commit`` (``hotline ivr try`` rolls them back unless told otherwise);
- the IVR acts as ``IVR_ACTOR`` (the system, on behalf of a caller the number identified);
- digits from the keypad are checked here again: anything but digits is not found;
- only keypad digits and dates are spoken: no CRM text is sent to the PBX.
"""

from __future__ import annotations

import importlib
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_core.models import Asset, Subscription, Ticket
from crm_core.order_eta import RANK as STAGE_RANK
from crm_core.orders import OrderStatus, open_orders, order_by_number
from crm_core.permissions import Actor
from crm_core.tickets import TICKET_STATUSES, add_note, create_ticket, open_repair
from numbering.normalize import typed_number

log = logging.getLogger("ivr.services")

IVR_ACTOR = Actor(user_id=None, username="ivr", is_admin=True)
BUSINESS_TZ = ZoneInfo("Asia/Shanghai")
READ_TICKETS = 3
READ_SUBSCRIPTIONS = 3
READ_ORDERS = 3
RECENT_DAYS = 90
RENEWAL_DAYS = 30
MAX_CHOICES = 8  # keys 1-8; 0 is "key the serial number instead"
SERIAL_TAIL = 4
REPAIR_PROBLEM = "电话自助报修（IVR）/ Repair request by phone (IVR)"
REPEAT_NOTE = "客户再次来电报修（IVR）/ The caller asked for this repair again (IVR)"

_TICKET_DIGITS = re.compile(r"^(\d{8})(\d{4,})$")

READBACK_PROMPTS = frozenset({
    "tickets_open", "no_open_tickets", "ticket_not_found", "ticket_number", "updated_on",
    *(f"status_{s}" for s in TICKET_STATUSES),
    "kind_subscription", "kind_contract", "ends_on", "ended_on", "sub_active",
    "sub_renewal_due", "sub_renewed", "sub_not_renewed", "sub_cancelled", "no_subscription",
    "serial_ending", "press", "serial_not_found", "repair_created", "repair_already_open",
    "out_of_warranty",
    "callback_confirmed",
    "orders_open", "order_number", "order_not_found", "expected_on", "delivered_on",
    "order_back_ordered", *(f"stage_{s}" for s in STAGE_RANK),
})
"""Every prompt id an action may read back (each must be in the prompt catalogue)."""


@dataclass(frozen=True)
class ServiceContext:
    """What an action knows of the call besides its arguments."""

    caller: str
    customer: Mapping[str, Any] | None
    queue: str
    priority: int
    linkedid: str | None
    started_at: datetime
    preferred_agent: str | None = None
    region: str = "CN"

    @property
    def today(self) -> date:
        return self.started_at.astimezone(BUSINESS_TZ).date()


@dataclass(frozen=True)
class ServiceResult:
    ok: bool
    data: dict[str, Any] = field(default_factory=dict)


class Db:
    """The action's database session, opened on first use (reads from the 360 need none)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        self.session: AsyncSession | None = None

    def __call__(self) -> AsyncSession:
        if self.session is None:
            self.session = self._sessions()
        return self.session


Action = Callable[[Db, Mapping[str, str], ServiceContext], Awaitable[ServiceResult]]


# --- pure helpers ----------------------------------------------------------------------------

def digits(value: object) -> str:
    """``value`` when it is keypad digits only, else ``""``."""
    return value if isinstance(value, str) and value.isascii() and value.isdigit() else ""


def callback_number(value: object, region: str = "CN") -> str | None:
    """The number to call back (the caller id the network gave, or digits the caller
    keyed), when it is a phone number (``+8613800138000``, ``021-6432 1000``;
    ``numbering.normalize.typed_number`` decides, as for every number from outside),
    else None. Not only bare digits: many trunks send E.164 with a ``+``, and those
    callers could not be called back."""
    if not isinstance(value, str) or len(value) > 40:
        return None
    text = value.strip()
    return text if typed_number(text, region) is not None else None


def customer_id_of(value: object) -> int | None:
    text = digits(value)
    return int(text) if text and len(text) <= 9 and int(text) > 0 else None


def ticket_number_from_digits(keyed: str) -> str | None:
    """``202611250001`` -> ``T20261125-0001`` (the crm_core numbering), else None."""
    match = _TICKET_DIGITS.match(digits(keyed))
    return f"T{match.group(1)}-{match.group(2)}" if match else None


def ticket_digits(number: str) -> str:
    """What a caller keys for a ticket number (and what is read back)."""
    return "".join(c for c in number if c.isascii() and c.isdigit())


def say_digits(value: str) -> dict[str, str]:
    return {"say": "digits", "value": value}


def say_date(value: date) -> dict[str, str]:
    return {"say": "date", "value": value.isoformat()}


def local_day(moment: datetime | str | None) -> date | None:
    if isinstance(moment, str):
        try:
            moment = datetime.fromisoformat(moment)
        except ValueError:
            return None
    if moment is None:
        return None
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone(BUSINESS_TZ).date()


def serial_matches(keyed: str, serials: list[tuple[int, str]]) -> list[int]:
    """Asset ids whose serial number's digits are ``keyed``; failing that, whose digits end
    with ``keyed`` (at least ``SERIAL_TAIL`` keys)."""
    whole = [i for i, s in serials if ticket_digits(s) == keyed]
    if whole or len(keyed) < SERIAL_TAIL:
        return whole
    return [i for i, s in serials if ticket_digits(s).endswith(keyed)]


# --- actions ---------------------------------------------------------------------------------

def _ticket_readback(number: str, status: str, updated: datetime | str | None) -> list[Any]:
    out: list[Any] = ["ticket_number", say_digits(ticket_digits(number))]
    if status in TICKET_STATUSES:
        out.append(f"status_{status}")
    day = local_day(updated)
    if day is not None:
        out += ["updated_on", say_date(day)]
    return out


def _own(ctx: ServiceContext, customer_id: int | None, name: str) -> list[Mapping[str, Any]]:
    """A list of the caller's 360 (``open_tickets``, ``assets``), when it is that customer's."""
    customer = ctx.customer or {}
    if customer_id is None or customer.get("id") != customer_id:
        return []
    items = customer.get(name)
    return [i for i in items if isinstance(i, Mapping)] if isinstance(items, list) else []


async def ticket_status(db: Db, args: Mapping[str, str], ctx: ServiceContext) -> ServiceResult:
    keyed = args.get("ticket_no")
    if keyed is not None:
        number = ticket_number_from_digits(keyed)
        ticket = None if number is None else await db().scalar(
            select(Ticket).where(Ticket.number == number))
        if ticket is None:
            return ServiceResult(True, {"found": False, "prompts": ["ticket_not_found"]})
        return ServiceResult(True, {
            "found": True, "tickets": [{"number": ticket.number, "status": ticket.status}],
            "prompts": _ticket_readback(ticket.number, ticket.status, ticket.updated_at)})
    customer_id = customer_id_of(args.get("customer_id"))
    if customer_id is None or (ctx.customer or {}).get("id") != customer_id:
        return ServiceResult(False, {"error": "not the caller's customer"})
    tickets = sorted((t for t in _own(ctx, customer_id, "open_tickets")
                      if isinstance(t.get("number"), str)),
                     key=lambda t: t.get("id") or 0, reverse=True)[:READ_TICKETS]
    if not tickets:
        return ServiceResult(True, {"found": False, "prompts": ["no_open_tickets"]})
    prompts: list[Any] = ["tickets_open"]
    for t in tickets:
        prompts += _ticket_readback(t["number"], str(t.get("status")), t.get("updated_at"))
    return ServiceResult(True, {
        "found": True, "tickets": [{"number": t["number"], "status": t.get("status")}
                                   for t in tickets], "prompts": prompts})


def _subscription_readback(sub: Subscription, today: date) -> list[Any]:
    kind = "kind_contract" if sub.kind == "contract" else "kind_subscription"
    ended = sub.end_date < today
    out: list[Any] = [kind, "ended_on" if ended else "ends_on", say_date(sub.end_date)]
    if sub.status == "active" and not ended:
        soon = sub.end_date <= today + timedelta(days=RENEWAL_DAYS)
        out.append("sub_renewal_due" if soon else "sub_active")
    elif sub.status in ("renewed", "not_renewed", "cancelled"):
        out.append(f"sub_{sub.status}")
    elif sub.status == "active":  # ended, not yet marked by the daily job
        out.append("sub_renewal_due")
    return out


def order_readback(order: OrderStatus) -> list[Any]:
    """What a caller hears of one order: its number, its stage, the day it is expected
    (or was delivered), and whether items are back-ordered."""
    out: list[Any] = ["order_number", say_digits(ticket_digits(order.number)),
                      f"stage_{order.stage}"]
    if order.expected_on is not None:
        delivered = order.stage == "delivered"
        out += ["delivered_on" if delivered else "expected_on", say_date(order.expected_on)]
    if order.back_ordered:
        out.append("order_back_ordered")
    return out


def _order_fact(order: OrderStatus) -> dict[str, Any]:
    return {"number": order.number, "stage": order.stage, "late": order.late,
            "expected_on": None if order.expected_on is None
            else order.expected_on.isoformat()}


async def order_status(db: Db, args: Mapping[str, str], ctx: ServiceContext) -> ServiceResult:
    today = ctx.today
    keyed = args.get("order_no")
    if keyed is not None:
        order = await order_by_number(db(), digits(keyed), today) if digits(keyed) else None
        if order is None:
            return ServiceResult(True, {"found": False, "prompts": ["order_not_found"]})
        return ServiceResult(True, {"found": True, "orders": [_order_fact(order)],
                                    "prompts": order_readback(order)})
    customer_id = customer_id_of(args.get("customer_id"))
    if customer_id is None:
        return ServiceResult(True, {"found": False, "prompts": ["no_subscription"]})
    orders = await open_orders(db(), customer_id, today, limit=READ_ORDERS)
    if orders:
        prompts: list[Any] = ["orders_open"]
        for order in orders:
            prompts += order_readback(order)
        return ServiceResult(True, {"found": True, "orders": [_order_fact(o) for o in orders],
                                    "prompts": prompts})
    return await _subscription_status(db, customer_id, today)


async def _subscription_status(db: Db, customer_id: int, today: date) -> ServiceResult:
    rows = (await db().scalars(
        select(Subscription).where(
            Subscription.customer_id == customer_id,
            (Subscription.status == "active")
            | (Subscription.end_date >= today - timedelta(days=RECENT_DAYS)))
        .order_by(Subscription.end_date.desc(), Subscription.id.desc())
        .limit(READ_SUBSCRIPTIONS))).all()
    if not rows:
        return ServiceResult(True, {"found": False, "prompts": ["no_subscription"]})
    prompts: list[Any] = []
    for sub in rows:
        prompts += _subscription_readback(sub, today)
    facts = [{"kind": s.kind, "end_date": s.end_date.isoformat(), "status": s.status}
             for s in rows]
    return ServiceResult(True, {"found": True, "subscriptions": facts, "prompts": prompts})


def _menu(ctx: ServiceContext, customer_id: int | None) -> list[Mapping[str, Any]]:
    """The caller's assets as ``list_assets`` offers them: oldest first, keys 1..8."""
    assets = [a for a in _own(ctx, customer_id, "assets")
              if isinstance(a.get("id"), int) and isinstance(a.get("serial"), str)]
    return sorted(assets, key=lambda a: int(a["id"]))[:MAX_CHOICES]


async def list_assets(db: Db, args: Mapping[str, str], ctx: ServiceContext) -> ServiceResult:
    assets = _menu(ctx, customer_id_of(args.get("customer_id")))
    if not assets:
        return ServiceResult(False, {"assets": []})
    prompts: list[Any] = []
    for key, asset in enumerate(assets, start=1):
        tail = ticket_digits(asset["serial"])[-SERIAL_TAIL:] or str(key)
        prompts += ["serial_ending", say_digits(tail), "press", say_digits(str(key))]
    choices = [{"key": str(k), "asset_id": a["id"], "serial": a["serial"]}
               for k, a in enumerate(assets, start=1)]
    return ServiceResult(True, {"assets": choices, "prompts": prompts})


async def _keyed_asset(db: Db, customer_id: int, keyed: str) -> Asset | None | int:
    """The caller's one asset whose serial number is ``keyed``; else how many matched."""
    assets = list((await db().scalars(
        select(Asset).where(Asset.customer_id == customer_id).order_by(Asset.id))).all())
    found = serial_matches(keyed, [(a.id, a.serial_number) for a in assets]) if keyed else []
    return next(a for a in assets if a.id == found[0]) if len(found) == 1 else len(found)


async def repair_request(db: Db, args: Mapping[str, str], ctx: ServiceContext) -> ServiceResult:
    customer_id = customer_id_of(args.get("customer_id"))
    if customer_id is None:
        return ServiceResult(False, {"error": "no customer"})
    choice = digits(args.get("choice"))
    if choice:
        menu = _menu(ctx, customer_id)
        key = int(choice) if len(choice) <= 2 else 0
        if not 1 <= key <= len(menu):
            return ServiceResult(False, {"error": "no such choice", "choice": choice})
        asset_id, serial = int(menu[key - 1]["id"]), str(menu[key - 1]["serial"])
        expired = menu[key - 1].get("in_warranty") is False
    else:
        found = await _keyed_asset(db, customer_id, digits(args.get("serial")))
        if not isinstance(found, Asset):
            return ServiceResult(False, {"error": "serial not found", "matches": found,
                                         "prompts": ["serial_not_found"]})
        asset_id, serial = found.id, found.serial_number
        expired = found.warranty_end is not None and found.warranty_end < ctx.today
    existing = await open_repair(db(), customer_id, asset_id)
    if existing is not None:
        view = await add_note(db(), IVR_ACTOR, existing.id, repeat_note(ctx.linkedid),
                              now=ctx.started_at)
    else:
        contact = (ctx.customer or {}).get("contact_id")
        view = await create_ticket(
            db(), IVR_ACTOR, customer_id, problem=REPAIR_PROBLEM, asset_id=asset_id,
            contact_id=contact if isinstance(contact, int) else None, category="repair",
            call_linkedid=ctx.linkedid, now=ctx.started_at)
    number = str(view["number"])
    prompts = repair_readback(number, str(view["status"]), repeat=existing is not None,
                              expired=expired)
    return ServiceResult(True, {"ticket": number, "ticket_id": view["id"],
                                "asset_id": asset_id, "serial": serial,
                                "already_open": existing is not None,
                                "prompts": prompts, "wrote": True})


def repeat_note(linkedid: str | None) -> str:
    """The history note of a repeat request (naming the call, when known)."""
    return REPEAT_NOTE if not linkedid else f"{REPEAT_NOTE}: {linkedid}"


def repair_readback(number: str, status: str, *, repeat: bool, expired: bool) -> list[Any]:
    """What the caller hears: the new ticket's number; or, for a repeat request, that
    the repair is already open, its number and where it stands."""
    if not repeat:
        out: list[Any] = ["repair_created", say_digits(ticket_digits(number))]
    else:
        out = ["repair_already_open", say_digits(ticket_digits(number))]
        if status in TICKET_STATUSES:
            out.append(f"status_{status}")
    if expired:
        out.append("out_of_warranty")
    return out


def _callback_store() -> Any:
    """``ivr.callback_store`` when installed (built separately), else None."""
    try:
        return importlib.import_module("ivr.callback_store")
    except ImportError:
        return None


async def callback(db: Db, args: Mapping[str, str], ctx: ServiceContext) -> ServiceResult:
    store = _callback_store()
    request = getattr(store, "request_callback", None)
    if request is None:
        return ServiceResult(False, {"error": "callbacks are not available"})
    phone = callback_number(args.get("caller"), ctx.region) or callback_number(
        ctx.caller, ctx.region)
    if phone is None:
        return ServiceResult(False, {"error": "no number to call back"})
    callback_id = await request(
        db(), phone=phone, customer_id=customer_id_of(args.get("customer_id")),
        queue=ctx.queue, priority=ctx.priority, origin_linkedid=ctx.linkedid,
        place_at=ctx.started_at, region=ctx.region)
    return ServiceResult(True, {"callback_id": callback_id, "wrote": True})


WRITES = frozenset({"repair_request", "callback"})
"""Actions that write: they are tied to the call (its Linkedid) they came from."""

ACTIONS: dict[str, Action] = {
    "ticket_status": ticket_status,
    "order_status": order_status,
    "list_assets": list_assets,
    "repair_request": repair_request,
    "callback": callback,
}


async def run_action(
    sessions: async_sessionmaker[AsyncSession], name: str, args: Mapping[str, str],
    ctx: ServiceContext, *, commit: bool = True,
) -> ServiceResult:
    """Run one action in its own transaction; any failure is a not-ok result, never raised.

    No retry on SQLite's "database is locked": the session begins with ``BEGIN
    IMMEDIATE`` (``crm_core.db``), so a write waits its turn for the lock (up to the
    busy timeout) instead of being refused.
    """
    action = ACTIONS.get(name)
    if action is None:
        log.warning("IVR: unknown self-service action %r", name)
        return ServiceResult(False, {"error": f"unknown action {name!r}"})
    try:
        return await _attempt(sessions, action, args, ctx, commit)
    except Exception as exc:
        log.exception("IVR: self-service %s failed", name)
        return ServiceResult(False, {"error": type(exc).__name__})


async def _attempt(sessions: async_sessionmaker[AsyncSession], action: Action,
                   args: Mapping[str, str], ctx: ServiceContext, commit: bool) -> ServiceResult:
    db = Db(sessions)
    try:
        result = await action(db, args, ctx)
        if db.session is not None:
            if commit and result.ok:
                await db.session.commit()
            else:
                await db.session.rollback()
        return result
    finally:
        if db.session is not None:
            await db.session.close()
