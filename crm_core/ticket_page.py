"""The service desk's ticket page (issue 15 item 6): one ticket with its facts, its
routing decision, its SLA clocks, its whole timeline and its repair record.

Rules:
- read scope as for every ticket read (``station_desk.station_ticket``, which checks it
  through ``tickets.get_ticket``): no ``tickets:read`` grant is ``PermissionDenied``
  (403), a ticket outside the scope ``NotFound`` (404), like one that does not exist;
- the SLA clocks (``sla_clocks``, pure): one per target with a due (accept, arrive,
  resolve), each ``met`` / ``met_late`` (its time stamp against its due), else
  ``paused`` (waiting for the customer), ``stopped`` (the ticket is done without it),
  ``breached`` (past its due), ``warned`` (the sweep's warning fired since the clock
  last started) or ``running``; ``seconds`` is wall-clock time left (> 0) or over
  (< 0): to the due from now, from the pause, or from the time it was met. The dues
  themselves are business time (``crm_core.sla``); the escalation level reached is the
  highest of the target's escalation rows since the clock last started;
- the timeline (``timeline``, pure): the history rows and the notifications queued for
  the ticket (the outbox, by its ``ticket_id`` index: at most ``MAX_MESSAGES``), in time
  order; at the same instant a step comes before the message it caused, then by id;
  each history row names who did it (the user's display name, None: Hotline itself);
- a station's staff (``Actor.station_id`` or ``technician_id`` set) see that a message went
  and how it fared, not its recipient: the escalation chain's phones and mail addresses
  are the company's staff directory, not the station's (``recipient`` is None for them);
- the routing decision is the ticket's own (``route_reason``, ``route_alternatives``,
  ``route_override``), plus the English sentence of the last route/override row;
- plain data out; nothing here writes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.models import (
    Asset,
    Customer,
    OutboxMessage,
    ProductLine,
    SlaPolicy,
    User,
    as_utc,
)
from crm_core.permissions import Actor
from crm_core.records import current
from crm_core.station_desk import station_ticket

TARGETS = (("accept", "accept_due", "accepted_at"), ("arrive", "arrive_due", "arrived_at"),
           ("resolve", "resolve_due", "resolved_at"))
CLOCK_STATES = ("running", "warned", "breached", "paused", "met", "met_late", "stopped")
DONE = ("resolved", "closed", "cancelled")
MAX_MESSAGES = 100
ROUTE_KINDS = ("route", "override")


def _time(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return as_utc(value)
    if isinstance(value, str) and value:
        return as_utc(datetime.fromisoformat(value))
    return None


def _since_start(history: Sequence[Mapping[str, Any]]) -> Sequence[Mapping[str, Any]]:
    """The history rows since the SLA clock last (re)started (all, if it never did)."""
    starts = [i for i, row in enumerate(history) if row.get("kind") == "sla-start"]
    return history[starts[-1]:] if starts else history


def _target_of(row: Mapping[str, Any]) -> str | None:
    data = row.get("data")
    return data.get("target") if isinstance(data, dict) else None


def sla_clocks(ticket: Mapping[str, Any], history: Sequence[Mapping[str, Any]],
               now: datetime) -> list[dict[str, Any]]:
    """The clock of each target with a due (see the rules); ``history`` in id order."""
    recent = _since_start(history)
    warned = {_target_of(r) for r in recent if r.get("kind") == "sla-warning"}
    levels: dict[str, int] = {}
    for row in recent:
        data = row.get("data")
        if row.get("kind") == "escalation" and isinstance(data, dict):
            name, level = data.get("target"), data.get("level")
            if isinstance(name, str) and isinstance(level, int):
                levels[name] = max(levels.get(name, 0), level)
    paused = _time(ticket.get("sla_paused_at"))
    clock_now = as_utc(now)
    out = []
    for name, due_key, met_key in TARGETS:
        due = _time(ticket.get(due_key))
        if due is None:
            continue
        met = _time(ticket.get(met_key))
        seconds: float | None
        if met is not None:
            state, seconds = ("met" if met <= due else "met_late"), (due - met).total_seconds()
        elif paused is not None:
            state, seconds = "paused", (due - paused).total_seconds()
        elif ticket.get("status") in DONE:
            state, seconds = "stopped", None
        elif clock_now >= due:
            state, seconds = "breached", (due - clock_now).total_seconds()
        else:
            state = "warned" if name in warned else "running"
            seconds = (due - clock_now).total_seconds()
        out.append({"target": name, "due": due.isoformat(),
                    "met_at": None if met is None else met.isoformat(), "state": state,
                    "seconds": None if seconds is None else int(seconds),
                    "level": levels.get(name, 0)})
    return out


def timeline(history: Sequence[Mapping[str, Any]], messages: Sequence[Mapping[str, Any]]
             ) -> list[dict[str, Any]]:
    """History rows (``entry: "step"``) and notifications (``entry: "message"``, at their
    ``created_at``) in time order (see the rules)."""
    entries = [(_time(r.get("at")), 0, int(r.get("id") or 0), {"entry": "step", **r})
               for r in history]
    entries += [(_time(m.get("created_at")), 1, int(m.get("id") or 0),
                 {"entry": "message", "at": m.get("created_at"), **m}) for m in messages]
    never = datetime.min.replace(tzinfo=UTC)  # a row without a time goes first
    entries.sort(key=lambda e: (e[0] or never, e[1], e[2]))
    return [e[3] for e in entries]


def route_sentence_en(history: Sequence[Mapping[str, Any]]) -> str | None:
    """The English sentence of the last routing decision, if its row kept one."""
    for row in reversed(history):
        data = row.get("data")
        if row.get("kind") in ROUTE_KINDS and isinstance(data, dict):
            value = data.get("reason_en")
            return value if isinstance(value, str) else None
    return None


# --- reading -------------------------------------------------------------------------------


async def _names(session: AsyncSession, user_ids: set[int]) -> dict[int, str]:
    if not user_ids:
        return {}
    rows = await session.execute(select(User.id, User.display_name, User.username)
                                 .where(User.id.in_(user_ids)))
    return {uid: display or username for uid, display, username in rows}


async def _messages(session: AsyncSession, ticket_id: int, *, recipients: bool = True
                    ) -> list[dict[str, Any]]:
    rows = await session.execute(
        select(OutboxMessage.id, OutboxMessage.event_key, OutboxMessage.channel,
               OutboxMessage.recipient, OutboxMessage.subject, OutboxMessage.state,
               OutboxMessage.attempts, OutboxMessage.created_at, OutboxMessage.sent_at)
        .where(OutboxMessage.ticket_id == ticket_id)
        .order_by(OutboxMessage.id).limit(MAX_MESSAGES))
    out = []
    for row in rows:
        item = dict(row._mapping)
        item["event"] = str(item.pop("event_key")).split(":", 1)[0]  # routed | sla | customer
        if not recipients:
            item["recipient"] = None
        for key in ("created_at", "sent_at"):
            if item[key] is not None:
                item[key] = as_utc(item[key]).isoformat()
        out.append(item)
    return out


async def _extras(session: AsyncSession, view: Mapping[str, Any]) -> dict[str, Any]:
    """What the station's view lacks: the asset's product line, the customer's tier, the
    SLA policy's name."""
    line = None
    if view.get("asset_id") is not None:
        found = (await session.execute(
            select(ProductLine.code, ProductLine.name, ProductLine.name_en)
            .join(Asset, Asset.product_line_id == ProductLine.id)
            .where(Asset.id == view["asset_id"]))).one_or_none()
        line = None if found is None else dict(found._mapping)
    tier = await session.scalar(select(Customer.vip_tier)
                                .where(Customer.id == view["customer_id"]))
    policy = (await session.scalar(select(SlaPolicy.name)
                                   .where(SlaPolicy.id == view["sla_policy_id"]))
              if view.get("sla_policy_id") is not None else None)
    return {"product_line": line, "vip_tier": tier or 0, "sla_policy": policy}


async def ticket_page(session: AsyncSession, actor: Actor, ticket_id: int, *,
                      now: datetime | None = None) -> dict[str, Any]:
    """One ticket as its page shows it (see the rules): the station's view of it
    (facts, history, repair record, technicians) plus ``product_line``, ``vip_tier``,
    ``sla_policy``, ``route_reason_en``, ``sla_clocks``, ``messages`` and ``timeline``."""
    at = current(now)
    view = await station_ticket(session, actor, ticket_id)  # the scope check
    history: list[dict[str, Any]] = view["history"]
    names = await _names(session, {r["by_id"] for r in history if r.get("by_id") is not None})
    for row in history:
        row["by_name"] = names.get(row["by_id"]) if row.get("by_id") is not None else None
    station_staff = actor.station_id is not None or actor.technician_id is not None
    messages = await _messages(session, view["id"], recipients=not station_staff)
    view.update(await _extras(session, view))
    view["route_reason_en"] = route_sentence_en(history)
    view["sla_clocks"] = sla_clocks(view, history, at)
    view["messages"] = messages
    view["timeline"] = timeline(history, messages)
    return view
