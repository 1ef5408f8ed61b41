"""Scores that belong to people (issue 17 item 4): every satisfaction answer is one
``SatisfactionScore`` row naming who and what earned it, and the figures per agent,
technician, station, product line and month.

Rules:
- ``record_score`` is the one writer: a call-list outcome ``scored``
  (``crm_core.outbound_lists.record_outcome``, channel ``agent``) calls it, and so does the
  automated survey (``crm_core.survey_answers``, channel ``ivr``, ``asked_by_id`` None, one
  row per question answered); the score is checked there
  (``satisfaction_figures.check_score``);
- the attribution (``attribution``) is read when the answer is written and kept on the
  row, so a later move of the ticket or a technician's leaving does not rewrite history:
  the station is the ticket's; the technician the one named on its repair record, else
  the ticket's; the agent is the one who answered the ticket's call (the call log's
  answering phone, then the call's logged interaction's author, then the ticket's
  creator when it was raised from a call); without a ticket, the agent who answered the
  customer's last inbound call before the answer; the product line the asset's (the
  ticket's asset, else the entry's);
- the reports (``satisfaction_report``): gate ``reports``/``read`` (``export`` for a
  file), scope through the customer (``reports.scoped_conditions``), period of the
  answers' Shanghai days; the database counts per (group, score), the pure module
  makes the figures;
- ``my_scores``: the signed-in user's own answers (no grant needed: they are hers);
  ``station_scores``: the actor's station and its technicians (``tickets``/``read``,
  like the station page), or any station for a user with ``reports``/``read``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.errors import NotFound, ValidationFailed
from crm_core.models import (
    Asset,
    CallRecord,
    Customer,
    Interaction,
    ProductLine,
    RepairRecord,
    SatisfactionScore,
    ServiceStation,
    Technician,
    Ticket,
    User,
    utcnow,
)
from crm_core.permissions import Actor, require, scope_for
from crm_core.reports import report_operation, scoped_conditions
from crm_core.satisfaction_figures import CHANNELS, Tally, check_score, figures, tallies, total
from crm_core.service_report import Period, bilingual, language, month_key

GROUPS = ("agent", "technician", "station", "product_line", "month")
RECENT = 10
_NONE = {"agent": ("(无坐席)", "(no agent)"), "technician": ("(无技师)", "(no technician)"),
         "station": ("(未派站)", "(no station)"),
         "product_line": ("(无产品线)", "(no product line)"), "month": ("(未知)", "(unknown)")}
_TOTAL = {"zh-CN": "合计", "en": "total"}
COLUMNS: list[tuple[str, tuple[str, str]]] = [
    ("label", ("分组", "group")),
    ("count", ("评分数", "answers")),
    ("mean", ("平均分", "mean score")),
    ("satisfied_pct", ("满意率(4-5分, %)", "satisfied (4-5, %)")),
    ("score_1", ("1分", "score 1")),
    ("score_2", ("2分", "score 2")),
    ("score_3", ("3分", "score 3")),
    ("score_4", ("4分", "score 4")),
    ("score_5", ("5分", "score 5")),
]


# --- attribution -------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Attribution:
    """Who and what an answer is kept against."""

    ticket_id: int | None = None
    station_id: int | None = None
    technician_id: int | None = None
    agent_id: int | None = None
    product_line_id: int | None = None


async def _user_of_interface(session: AsyncSession, interface: str | None) -> int | None:
    if not interface:
        return None
    found: int | None = await session.scalar(
        select(User.id).where(User.agent_interface == interface))
    return found


async def agent_of_call(session: AsyncSession, linkedid: str) -> int | None:
    """The user who answered call ``linkedid``: the call log's answering phone, else the
    author of the call's first logged interaction."""
    interface = await session.scalar(
        select(CallRecord.agent_interface).where(CallRecord.linkedid == linkedid))
    user_id = await _user_of_interface(session, interface)
    if user_id is not None:
        return user_id
    author: int | None = await session.scalar(
        select(Interaction.author_id)
        .where(Interaction.call_linkedid == linkedid, Interaction.kind == "call",
               Interaction.parent_id.is_(None), Interaction.author_id.is_not(None))
        .order_by(Interaction.id).limit(1))
    return author


async def agent_of_last_call(session: AsyncSession, customer_id: int, before: datetime
                             ) -> int | None:
    """The user who answered the customer's last inbound call before ``before``."""
    row = (await session.execute(
        select(CallRecord.linkedid, CallRecord.agent_interface)
        .where(CallRecord.customer_id == customer_id, CallRecord.direction == "inbound",
               CallRecord.answered_at.is_not(None), CallRecord.answered_at <= before)
        .order_by(CallRecord.answered_at.desc(), CallRecord.id.desc()).limit(1))).first()
    if row is None:
        return None
    return await _user_of_interface(session, row.agent_interface) \
        or await agent_of_call(session, row.linkedid)


async def attribution(session: AsyncSession, *, customer_id: int, ticket_id: int | None,
                      asset_id: int | None, at: datetime) -> Attribution:
    """Who and what earned an answer given about ``ticket_id`` / ``asset_id`` (rules)."""
    ticket = None if ticket_id is None else await session.get(Ticket, ticket_id)
    agent_id = None
    station_id = technician_id = None
    if ticket is not None:
        station_id = ticket.station_id
        technician_id = await session.scalar(
            select(RepairRecord.technician_id).where(RepairRecord.ticket_id == ticket.id)
        ) or ticket.technician_id
        asset_id = ticket.asset_id or asset_id
        if ticket.call_linkedid:
            agent_id = await agent_of_call(session, ticket.call_linkedid) \
                or ticket.created_by_id
    else:
        agent_id = await agent_of_last_call(session, customer_id, at)
    product_line_id = None if asset_id is None else await session.scalar(
        select(Asset.product_line_id).where(Asset.id == asset_id))
    return Attribution(ticket_id=None if ticket is None else ticket.id, station_id=station_id,
                       technician_id=technician_id, agent_id=agent_id,
                       product_line_id=product_line_id)


# --- the one writer ----------------------------------------------------------------------


async def record_score(session: AsyncSession, *, customer_id: int, score: int,
                       comment: str | None = None, channel: str = "agent",
                       ticket_id: int | None = None, asset_id: int | None = None,
                       list_id: int | None = None, entry_id: int | None = None,
                       asked_by_id: int | None = None, at: datetime | None = None,
                       question: str = "overall") -> SatisfactionScore:
    """Keep one answer against who and what earned it (see the rules); ``question``: which
    question of an automated survey (an agent's call asks ``overall``)."""
    when = utcnow() if at is None else at
    try:
        clean = check_score(score)
    except ValueError as exc:
        raise ValidationFailed("score", str(exc)) from None
    if channel not in CHANNELS:
        raise ValidationFailed("channel", f"one of {', '.join(CHANNELS)}")
    who = await attribution(session, customer_id=customer_id, ticket_id=ticket_id,
                            asset_id=asset_id, at=when)
    row = SatisfactionScore(
        customer_id=customer_id, ticket_id=who.ticket_id, station_id=who.station_id,
        technician_id=who.technician_id, agent_id=who.agent_id,
        product_line_id=who.product_line_id, list_id=list_id, entry_id=entry_id,
        score=clean, comment=(comment or "").strip()[:4000] or None, channel=channel,
        asked_by_id=asked_by_id, scored_at=when, question=question[:64] or "overall")
    session.add(row)
    await session.flush()
    return row


# --- the figures -------------------------------------------------------------------------


def _group_column(by: str, dialect: str) -> Any:
    if by == "month":
        return month_key(dialect, SatisfactionScore.scored_at)
    if by == "agent":
        return SatisfactionScore.agent_id
    if by in ("technician", "station", "product_line"):
        return getattr(SatisfactionScore, f"{by}_id")
    raise ValidationFailed("by", f"unknown grouping {by!r} (one of {', '.join(GROUPS)})")


async def grouped_tallies(session: AsyncSession, by: str, conds: Sequence[ColumnElement[bool]],
                          start: datetime, end: datetime) -> dict[Any, Tally]:
    """One tally per group of the answers in ``[start, end)`` within ``conds``: one
    GROUP BY (group, score)."""
    key = _group_column(by, session.get_bind().dialect.name)
    rows = await session.execute(
        select(key, SatisfactionScore.score, func.count())
        .select_from(SatisfactionScore)
        .join(Customer, Customer.id == SatisfactionScore.customer_id)
        .where(*conds, SatisfactionScore.scored_at >= start, SatisfactionScore.scored_at < end)
        .group_by(key, SatisfactionScore.score))
    return tallies((k, int(s), int(n)) for k, s, n in rows)


async def _labels(session: AsyncSession, by: str, keys: list[Any], lang: str
                  ) -> dict[Any, str]:
    ids = [k for k in keys if k is not None]
    if not ids or by == "month":
        return {k: str(k) for k in ids}
    if by == "agent":
        return {uid: name for uid, name in await session.execute(
            select(User.id, User.display_name).where(User.id.in_(ids)))}
    if by == "technician":
        return {tid: f"{name} ({code})" for tid, name, code in await session.execute(
            select(Technician.id, Technician.name, ServiceStation.code)
            .join(ServiceStation, ServiceStation.id == Technician.station_id)
            .where(Technician.id.in_(ids)))}
    if by == "station":
        return {sid: f"{code} {bilingual(name, name_en, lang)}"
                for sid, code, name, name_en in await session.execute(
                    select(ServiceStation.id, ServiceStation.code, ServiceStation.name,
                           ServiceStation.name_en).where(ServiceStation.id.in_(ids)))}
    return {pid: bilingual(name, name_en, lang) or code
            for pid, code, name, name_en in await session.execute(
                select(ProductLine.id, ProductLine.code, ProductLine.name,
                       ProductLine.name_en).where(ProductLine.id.in_(ids)))}


async def satisfaction_report(
    session: AsyncSession, actor: Actor, by: str, period: Period | None = None, *,
    lang: str | None = None, export: bool = False, today: date | None = None,
) -> dict[str, Any]:
    """The answers given in ``period`` grouped ``by`` (``GROUPS``): ``{"by", "from", "to",
    "items": [{key, label, count, mean, distribution, satisfied_pct}], "total"}``;
    months in order, other groups most answers first."""
    if by not in GROUPS:
        raise ValidationFailed("by", f"unknown grouping {by!r} (one of {', '.join(GROUPS)})")
    conds = scoped_conditions(actor, None, report_operation(export))
    period = period or Period()
    start, end = period.bounds(today)
    first, last = period.days(today)
    counted = await grouped_tallies(session, by, conds, start, end)
    lang_ = language(actor, lang)
    labels = await _labels(session, by, list(counted), lang_)
    none_label = _NONE[by][0 if lang_ == "zh-CN" else 1]
    items = [{"key": k, "label": labels.get(k) or none_label, **figures(t)}
             for k, t in counted.items()]
    if by == "month":
        items.sort(key=lambda r: str(r["key"]))
    else:
        items.sort(key=lambda r: (-r["count"], str(r["label"])))
    summed = {"key": None, "label": _TOTAL[lang_], **figures(total(counted.values()))}
    return {"by": by, "from": first.isoformat(), "to": last.isoformat(), "items": items,
            "total": summed}


def file_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The report's rows (and its total) flattened for ``COLUMNS``."""
    out = []
    for row in [*report["items"], report["total"]]:
        flat = {k: v for k, v in row.items() if k != "distribution"}
        flat.update({f"score_{i + 1}": n for i, n in enumerate(row["distribution"])})
        out.append(flat)
    return out


async def _recent(session: AsyncSession, cond: ColumnElement[bool]) -> list[dict[str, Any]]:
    rows = await session.execute(
        select(SatisfactionScore.score, SatisfactionScore.comment,
               SatisfactionScore.scored_at, SatisfactionScore.channel, Ticket.number)
        .outerjoin(Ticket, Ticket.id == SatisfactionScore.ticket_id)
        .where(cond).order_by(SatisfactionScore.scored_at.desc(), SatisfactionScore.id.desc())
        .limit(RECENT))
    return [{"score": s, "comment": c, "scored_at": at, "channel": ch, "ticket_number": n}
            for s, c, at, ch, n in rows]


async def _figures_where(session: AsyncSession, cond: ColumnElement[bool], start: datetime,
                         end: datetime) -> dict[str, Any]:
    rows = await session.execute(
        select(SatisfactionScore.score, func.count())
        .where(cond, SatisfactionScore.scored_at >= start, SatisfactionScore.scored_at < end)
        .group_by(SatisfactionScore.score))
    return figures(Tally({int(s): int(n) for s, n in rows}))


async def my_scores(session: AsyncSession, actor: Actor, period: Period | None = None, *,
                    today: date | None = None) -> dict[str, Any]:
    """The actor's own answers as the agent who took the call: the period's figures
    (default this month) and the latest answers with their comments."""
    if actor.user_id is None:
        raise NotFound("user", "me")
    period = period or Period()
    start, end = period.bounds(today)
    first, last = period.days(today)
    mine = SatisfactionScore.agent_id == actor.user_id
    return {"from": first.isoformat(), "to": last.isoformat(),
            **await _figures_where(session, mine, start, end),
            "recent": await _recent(session, mine)}


async def station_scores(session: AsyncSession, actor: Actor, station_id: int | None = None,
                         period: Period | None = None, *, today: date | None = None
                         ) -> dict[str, Any]:
    """A station's figures and each of its technicians' (see the rules for who may):
    the actor's own station by default."""
    require(actor, "tickets", "read")
    chosen = station_id if station_id is not None else actor.station_id
    if chosen is None:
        raise ValidationFailed("station_id", "name the station")
    if chosen != actor.station_id and scope_for(actor, "reports", "read") is None:
        raise NotFound("service_station", chosen)
    station = await session.get(ServiceStation, chosen)
    if station is None:
        raise NotFound("service_station", chosen)
    period = period or Period()
    start, end = period.bounds(today)
    first, last = period.days(today)
    techs = (await session.execute(
        select(Technician.id, Technician.name).where(Technician.station_id == chosen,
                                                     Technician.active)
        .order_by(Technician.name, Technician.id))).all()
    by_tech = await session.execute(
        select(SatisfactionScore.technician_id, SatisfactionScore.score, func.count())
        .where(SatisfactionScore.technician_id.in_([t.id for t in techs]),
               SatisfactionScore.scored_at >= start, SatisfactionScore.scored_at < end)
        .group_by(SatisfactionScore.technician_id, SatisfactionScore.score))
    counted = tallies((k, int(s), int(n)) for k, s, n in by_tech)
    here = SatisfactionScore.station_id == chosen
    return {"from": first.isoformat(), "to": last.isoformat(),
            "station": {"id": station.id, "code": station.code, "name": station.name,
                        "name_en": station.name_en,
                        **await _figures_where(session, here, start, end)},
            "technicians": [{"id": t.id, "name": t.name,
                             **figures(counted.get(t.id, Tally()))} for t in techs],
            "recent": await _recent(session, here)}
