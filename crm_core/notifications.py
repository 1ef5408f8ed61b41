"""What the service network is told, queued in the outbox (crm_core.outbox).

Rules:
- texts are zh-CN (the stations', managers' and customers' language) and always carry
  the ticket number; the message builders are pure (``*_messages``), the ``async``
  functions look up the recipients and queue in the caller's transaction;
- event keys name the event, the channel and the recipient, so the same event queued
  again (a retry, a second sweep) is still one message per person;
- a recipient without an address for a channel is simply not sent that channel; a
  station's phones may be strings or {"number": ...} objects (the first one is used);
- SMS go only to mobile numbers (a customer's or contact's ``mobile`` kind, or a
  Chinese mobile in E.164: +861...).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, case, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.models import PhoneNumber, ServiceStation, Ticket, User
from crm_core.outbox import Message, enqueue_many

SHANGHAI = ZoneInfo("Asia/Shanghai")
LEVEL_NAMES = {1: "服务站经理", 2: "区域服务经理", 3: "服务总监"}
TARGET_NAMES = {"accept": "接单", "arrive": "到达现场", "resolve": "修复"}


def local_time(at: datetime | None, zone: str = "Asia/Shanghai") -> str:
    """A due in the station's zone, as people read it: 2026-03-02 14:30."""
    if at is None:
        return "待定"
    return at.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M")


def first_phone(phones: Sequence[Any] | None) -> str | None:
    for phone in phones or []:
        number = phone.get("number") if isinstance(phone, dict) else phone
        if number and str(number).strip():
            return str(number).strip()
    return None


def _both(key: str, email: str | None, phone: str | None, subject: str, body: str,
          ticket_id: int | None) -> list[Message]:
    out = []
    if email:
        out.append(Message(event_key=f"{key}:email:{email}", channel="email", recipient=email,
                           subject=subject, body=body, ticket_id=ticket_id))
    if phone:
        out.append(Message(event_key=f"{key}:sms:{phone}", channel="sms", recipient=phone,
                           subject=None, body=body, ticket_id=ticket_id))
    return out


def routed_messages(*, ticket_id: int, number: str, problem: str, station_email: str | None,
                    station_phone: str | None, accept_due: datetime | None,
                    zone: str = "Asia/Shanghai", routed_at: datetime | None = None
                    ) -> list[Message]:
    """The station is told of a new ticket (email and SMS)."""
    stamp = routed_at.isoformat() if routed_at else "first"
    subject = f"新工单 {number}"
    body = (f"【服务热线】新工单 {number} 已派至贵站，请于 {local_time(accept_due, zone)} 前接单。"
            f"故障：{problem[:120]}")
    return _both(f"routed:{ticket_id}:{stamp}", station_email, station_phone, subject, body,
                 ticket_id)


def warning_messages(*, ticket_id: int, number: str, target: str, due: datetime,
                     station_email: str | None, zone: str = "Asia/Shanghai") -> list[Message]:
    """The station is warned that a target is near (email only: no SMS flood)."""
    what = TARGET_NAMES.get(target, target)
    subject = f"工单 {number} 即将超时（{what}）"
    body = f"【服务热线】工单 {number} 的{what}时限 {local_time(due, zone)} 即将到期，请尽快处理。"
    return _both(f"sla:{ticket_id}:{target}:warn", station_email, None, subject, body,
                 ticket_id)


def escalation_messages(*, ticket_id: int, number: str, target: str, level: int,
                        due: datetime, email: str | None, phone: str | None,
                        station_name: str | None, zone: str = "Asia/Shanghai"
                        ) -> list[Message]:
    """A person of the escalation chain is told of a breach (email and SMS)."""
    what = TARGET_NAMES.get(target, target)
    who = LEVEL_NAMES.get(level, f"第{level}级")
    subject = f"工单 {number} 超时升级（{what}，{who}）"
    body = (f"【服务热线】工单 {number}（{station_name or '未派站'}）{what}已于 "
            f"{local_time(due, zone)} 超时，升级至{who}，请督办。")
    return _both(f"sla:{ticket_id}:{target}:{level}", email, phone, subject, body, ticket_id)


def unanswered_messages(*, ticket_id: int, number: str, station_id: int,
                        station_email: str | None, station_phone: str | None,
                        accept_due: datetime | None, zone: str = "Asia/Shanghai"
                        ) -> list[Message]:
    """The station that did not accept in time is told the ticket went to another."""
    subject = f"工单 {number} 已改派（未按时接单）"
    body = (f"【服务热线】工单 {number} 未在 {local_time(accept_due, zone)} 前接单，"
            "已改派其他服务站，贵站无需处理。")
    return _both(f"unanswered:{ticket_id}:{station_id}", station_email, station_phone,
                 subject, body, ticket_id)


def customer_messages(*, ticket_id: int, number: str, phone: str,
                      expected_arrival: datetime | None, zone: str = "Asia/Shanghai"
                      ) -> list[Message]:
    """The customer gets the ticket number and the expected arrival by SMS."""
    body = (f"【服务热线】您的报修已受理，工单号 {number}，"
            f"服务工程师预计 {local_time(expected_arrival, zone)} 前到达。")
    return _both(f"customer:{ticket_id}:ack", None, phone, "", body, ticket_id)


class StationContact(Protocol):
    """What a station's notice reads: a ``ServiceStation`` row, or routing's
    ``crm_core.dispatch.StationDetails`` (kept in memory)."""

    @property
    def email(self) -> str | None: ...
    @property
    def phones(self) -> Sequence[Any]: ...
    @property
    def timezone(self) -> str: ...


async def station_routed(session: AsyncSession, ticket: Ticket, station: StationContact) -> None:
    """Queue the station's notice of a ticket routed to it (its email, its first phone)."""
    await enqueue_many(session, routed_messages(
        ticket_id=ticket.id, number=ticket.number, problem=ticket.problem,
        station_email=station.email, station_phone=first_phone(station.phones),
        accept_due=ticket.accept_due, zone=station.timezone, routed_at=ticket.routed_at))


async def station_unanswered(session: AsyncSession, ticket: Ticket, station: ServiceStation,
                             accept_due: datetime | None) -> None:
    """Queue the notice to ``station`` that ``ticket`` was taken from it (not accepted by
    ``accept_due``)."""
    await enqueue_many(session, unanswered_messages(
        ticket_id=ticket.id, number=ticket.number, station_id=station.id,
        station_email=station.email, station_phone=first_phone(station.phones),
        accept_due=accept_due, zone=station.timezone))


async def escalated(session: AsyncSession, ticket: Ticket, level: int, user: User | None,
                    *, target: str = "resolve", due: datetime | None = None,
                    station: ServiceStation | None = None) -> None:
    """Queue the notice to ``user`` of the escalation ``level`` of a ticket."""
    if user is None:
        return
    await enqueue_many(session, escalation_messages(
        ticket_id=ticket.id, number=ticket.number, target=target, level=level,
        due=due or ticket.resolve_due or ticket.created_at, email=user.email,
        phone=user.phone, station_name=station.name if station else None,
        zone=station.timezone if station else "Asia/Shanghai"))


# a mainland mobile: +86 1[3-9]X XXXX XXXX. "+861" alone would take Beijing's landlines
# (+86 10 XXXX XXXX) for mobiles and text them
_CN_MOBILE = re.compile(r"\+861[3-9]\d{9}")


def is_mobile(number: str, kind: str | None = None) -> bool:
    """Whether ``number`` (E.164) can take an SMS: recorded as a mobile, or a mainland
    mobile number."""
    return kind == "mobile" or _CN_MOBILE.fullmatch(number) is not None


@lru_cache(maxsize=2)
def _numbers_statement(no_contact: bool) -> Any:
    """A customer's numbers, the ticket's contact's first (no contact: the customer's own,
    ``contact_id IS NULL``); built once (routing reads it on every ticket)."""
    first = (PhoneNumber.contact_id.is_(None) if no_contact
             else PhoneNumber.contact_id == bindparam("contact_id"))
    return (select(PhoneNumber.number_e164, PhoneNumber.kind)
            .where(PhoneNumber.customer_id == bindparam("customer_id"))
            .order_by(case((first, 0), else_=1), PhoneNumber.id))


async def customer_mobile(session: AsyncSession, ticket: Ticket) -> str | None:
    """The mobile to text about a ticket: its contact's, else the customer's."""
    rows = await session.execute(_numbers_statement(ticket.contact_id is None),
                                 {"customer_id": ticket.customer_id,
                                  "contact_id": ticket.contact_id})
    for number, kind in rows.all():
        if is_mobile(number, kind):
            return str(number)
    return None


async def customer_ticket_sms(session: AsyncSession, ticket: Ticket,
                              expected_arrival: datetime | None) -> bool:
    """Queue the customer's SMS (ticket number, expected arrival); False: no mobile."""
    phone = await customer_mobile(session, ticket)
    if phone is None:
        return False
    await enqueue_many(session, customer_messages(
        ticket_id=ticket.id, number=ticket.number, phone=phone,
        expected_arrival=expected_arrival))
    return True


async def routed_notices(session: AsyncSession, ticket: Ticket,
                         station: StationContact | None, phone: str | None) -> None:
    """``station_routed`` and ``customer_ticket_sms`` (to ``phone``: ``customer_mobile``
    read already) queued in ONE statement: routing writes them on every new ticket."""
    messages: list[Message] = []
    if station is not None:
        messages += routed_messages(
            ticket_id=ticket.id, number=ticket.number, problem=ticket.problem,
            station_email=station.email, station_phone=first_phone(station.phones),
            accept_due=ticket.accept_due, zone=station.timezone, routed_at=ticket.routed_at)
    if phone is not None:
        messages += customer_messages(ticket_id=ticket.id, number=ticket.number, phone=phone,
                                      expected_arrival=ticket.arrive_due)
    await enqueue_many(session, messages)
