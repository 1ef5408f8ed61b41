"""Call records read by people: a customer's calls (the 360 page's timeline) and the
recent callers (the records page before any search; issue 14 items 8 and 9).

Rules:
- module ``calls``/``read``: a customer's calls are listed when the customer is inside
  that scope (``load_customer``), else ``NotFound``; the recent callers are the inbound
  calls inside it: every call for ``all``, else the calls of customers inside the scope
  (an unknown caller's call belongs to nobody's customers: ``all`` only);
- ``mine``: only the calls the actor's phone answered (``agent_interface``);
- a recent caller is one row per number, its latest call (newest first), with the
  customer it was filed under when the actor may read that customer
  (``customers``/``read``; a merged customer shows as the one it was merged into),
  ``restricted`` when the call has a customer the actor may not read;
- each call names its agent by the user's display name when the phone is a user's
  (``User.agent_interface``), else by the PBX's member name;
- the latest ``RECENT_WINDOW`` calls in scope are looked at: a number that has not
  called within them is not "recent";
- plain dicts out (ISO times); nothing here commits.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, false, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from crm_core.models import CallRecord, Customer, User
from crm_core.permissions import Actor, customer_filter, require, scope_for
from crm_core.records import check_page, load_customer, page, paginate

RECENT_WINDOW = 500
MAX_RECENT = 100
_CALL_FIELDS = (
    "id", "linkedid", "caller", "caller_name", "did", "direction", "queues", "agent",
    "agent_interface", "outcome", "hangup_by", "started_at", "answered_at", "ended_at",
    "wait_s", "talk_s", "recording", "customer_id",
)


def _iso(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def _call(row: CallRecord, agent_name: str | None) -> dict[str, Any]:
    data = {key: _iso(getattr(row, key)) for key in _CALL_FIELDS}
    data["agent_name"] = agent_name or row.agent
    return data


def _calls_select() -> Any:
    agent_user = aliased(User)
    return select(CallRecord, agent_user.display_name).outerjoin(
        agent_user, agent_user.agent_interface == CallRecord.agent_interface)


async def list_customer_calls(
    session: AsyncSession, actor: Actor, customer_id: int, *, limit: int = 50,
    offset: int = 0,
) -> dict[str, Any]:
    """A page of the customer's calls, newest first (``calls``/``read`` scope)."""
    customer = await load_customer(session, actor, customer_id, "calls", "read")
    lim, off = check_page(limit, offset)
    stmt = _calls_select().where(CallRecord.customer_id == customer.id).order_by(
        CallRecord.ended_at.desc(), CallRecord.id.desc())
    rows, total = await paginate(session, stmt, lim, off)
    return page([_call(r, name) for r, name in rows], total, lim, off)


def latest_per_number(calls: Iterable[Mapping[str, Any]], limit: int) -> list[Mapping[str, Any]]:
    """The first call of each number in ``calls`` (newest first), at most ``limit``. Pure."""
    seen: set[str] = set()
    out: list[Mapping[str, Any]] = []
    for c in calls:
        number = c.get("caller")
        if not number or number in seen:
            continue
        seen.add(number)
        out.append(c)
        if len(out) >= limit:
            break
    return out


def _in_calls_scope(actor: Actor, scope: str) -> ColumnElement[bool]:
    if scope == "all":
        return true()
    inside = select(Customer.id).where(customer_filter(actor, scope))
    return CallRecord.customer_id.in_(inside)


async def _customers(session: AsyncSession, actor: Actor, ids: Sequence[int]
                     ) -> dict[int, dict[str, Any] | None]:
    """Customer id -> what the actor may see of it (None: outside the read scope); a
    merged customer resolves to the one it was merged into."""
    if not ids:
        return {}
    scope = scope_for(actor, "customers", "read")
    owner = aliased(User)
    merged = dict((await session.execute(
        select(Customer.id, Customer.merged_into_id).where(Customer.id.in_(ids)))).all())
    wanted = sorted({merged.get(i) or i for i in ids})
    visible = customer_filter(actor, scope) if scope is not None else false()
    rows = await session.execute(
        select(Customer.id, Customer.name, Customer.vip_tier, owner.display_name)
        .outerjoin(owner, owner.id == Customer.owner_id)
        .where(Customer.id.in_(wanted), visible))
    seen = {int(cid): {"id": int(cid), "name": name, "vip_tier": vip, "owner_name": o}
            for cid, name, vip, o in rows}
    return {i: seen.get(merged.get(i) or i) for i in ids}


async def recent_callers(
    session: AsyncSession, actor: Actor, *, limit: int = 20, mine: str | None = None,
) -> dict[str, Any]:
    """The numbers that called the hotline lately, newest first: one row per number with
    its latest call and customer (see the module rules). ``mine``: the actor's agent
    interface, to list only the calls it answered."""
    scope = require(actor, "calls", "read")
    lim, _ = check_page(limit, 0)
    lim = min(lim, MAX_RECENT)
    conditions = [CallRecord.direction == "inbound", CallRecord.caller.is_not(None),
                  _in_calls_scope(actor, scope)]
    if mine is not None:
        conditions.append(CallRecord.agent_interface == mine)
    rows = (await session.execute(
        _calls_select().where(*conditions)
        .order_by(CallRecord.ended_at.desc(), CallRecord.id.desc())
        .limit(RECENT_WINDOW))).all()
    latest = latest_per_number((_call(r, name) for r, name in rows), lim)
    ids = sorted({int(c["customer_id"]) for c in latest if c.get("customer_id") is not None})
    customers = await _customers(session, actor, ids)
    items = []
    for c in latest:
        cid = c.get("customer_id")
        customer = customers.get(int(cid)) if cid is not None else None
        items.append({
            "caller": c["caller"], "caller_name": c["caller_name"],
            "at": c["ended_at"] or c["started_at"], "linkedid": c["linkedid"],
            "outcome": c["outcome"], "direction": c["direction"],
            "hangup_by": c["hangup_by"], "agent_name": c["agent_name"],
            "customer": customer, "restricted": cid is not None and customer is None,
        })
    return {"items": items}
