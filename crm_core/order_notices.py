"""What a customer is told about their order's batch (issue 18 item 2), queued in the
notification outbox (``crm_core.outbox``) in the transaction of the event.

Events, each told ONCE per order, channel and recipient (the outbox's unique event key):
- ``dispatched``: a stage update moved the batch to ``dispatched`` (it is on its way
  to the customer): ``order-batch:<batch>:dispatched:<order>:<channel>:<recipient>``;
- ``slip``: a stage update moved the batch's expected day later
  (``order_eta.slipped``): ``...:slip:<new day>:...``, so each new later day is one
  event and the same update re-imported is none;
- ``overdue``: the daily sweep found the batch past its expected day, not delivered
  (``tell_overdue``): ``...:overdue:<expected day>:...``, once per forecast missed.

Rules:
- who is told: every OPEN order with a live line in the batch; email to the order's
  contact (else the customer's first contact with an email), SMS to a mobile of the
  order's contact (else the customer's first mobile); no address: that channel is not
  sent;
- texts are bilingual (zh-CN first, then English: libraries' foreign acquisitions staff
  read either) and carry the order number, the supplier and the expected day; the
  message builder is pure (``batch_messages``);
- the recipients of one batch are read in three statements whatever its size (a stage
  update of a 2,000-line batch stays one update and a few reads).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core import order_eta
from crm_core.models import (
    Contact,
    OrderLine,
    PhoneNumber,
    SalesOrder,
    Supplier,
    SupplierBatch,
)
from crm_core.notifications import is_mobile
from crm_core.outbox import Message, enqueue_many

EVENTS = ("dispatched", "slip", "overdue")
LIVE = ("active", "back_ordered", "partly_delivered")  # crm_core.orders.LIVE_LINE_STATES


@dataclass(frozen=True)
class Recipient:
    """An open order of a batch and where its customer is reached."""

    order_id: int
    number: str
    email: str | None
    mobile: str | None


def batch_messages(*, event: str, batch_id: int, expected_on: date | None, supplier: str,
                   recipient: Recipient) -> list[Message]:
    """The email and SMS telling one order's customer of a batch ``event`` (pure)."""
    if event not in EVENTS:
        raise ValueError(f"unknown batch event {event!r}")
    day = expected_on.isoformat() if expected_on is not None else "待定 / to be confirmed"
    n = recipient.number
    if event == "dispatched":
        zh = f"您的订单 {n} 中 {supplier} 的货物已发出，预计 {day} 送达。"
        en = f"Your order {n}: the goods from {supplier} are dispatched, expected on {day}."
        subject = f"订单 {n} 已发货 / Order {n} dispatched"
    else:
        zh = f"抱歉，您的订单 {n} 中 {supplier} 的货物将延迟，预计 {day} 送达。"
        en = f"Sorry: your order {n} from {supplier} is delayed, now expected on {day}."
        subject = f"订单 {n} 到货延迟 / Order {n} delayed"
    body = f"【服务热线】{zh} {en}"
    stamp = "dispatched" if event == "dispatched" else f"{event}:{day}"
    key = f"order-batch:{batch_id}:{stamp}:{recipient.order_id}"
    out = []
    if recipient.email:
        out.append(Message(event_key=f"{key}:email:{recipient.email}", channel="email",
                           recipient=recipient.email, subject=subject, body=body))
    if recipient.mobile:
        out.append(Message(event_key=f"{key}:sms:{recipient.mobile}", channel="sms",
                           recipient=recipient.mobile, subject=None, body=body))
    return out


async def recipients(session: AsyncSession, batch_id: int) -> list[Recipient]:
    """The open orders with a live line in the batch, and where each customer is told."""
    found = (await session.execute(
        select(SalesOrder.id, SalesOrder.number, SalesOrder.customer_id,
               SalesOrder.contact_id)
        .where(SalesOrder.status == "open",
               SalesOrder.id.in_(select(OrderLine.order_id).where(
                   OrderLine.batch_id == batch_id, OrderLine.state.in_(LIVE))))
        .order_by(SalesOrder.id))).all()
    if not found:
        return []
    customer_ids = {r.customer_id for r in found}
    emails: dict[int, str] = {}  # contact id -> email
    first_email: dict[int, str] = {}  # customer id -> its first contact's email
    for cid, cust, email in (await session.execute(
            select(Contact.id, Contact.customer_id, Contact.email)
            .where(Contact.customer_id.in_(customer_ids), Contact.email.is_not(None))
            .order_by(Contact.id))).all():
        if email and email.strip():
            emails[cid] = email.strip()
            first_email.setdefault(cust, email.strip())
    mobiles: dict[int, str] = {}  # contact id -> mobile
    first_mobile: dict[int, str] = {}
    for cust, contact, number, kind in (await session.execute(
            select(PhoneNumber.customer_id, PhoneNumber.contact_id, PhoneNumber.number_e164,
                   PhoneNumber.kind)
            .where(PhoneNumber.customer_id.in_(customer_ids))
            .order_by(PhoneNumber.id))).all():
        if is_mobile(number, kind):
            first_mobile.setdefault(cust, number)
            if contact is not None:
                mobiles.setdefault(contact, number)
    return [Recipient(
        order_id=r.id, number=r.number,
        email=emails.get(r.contact_id or 0) or first_email.get(r.customer_id),
        mobile=mobiles.get(r.contact_id or 0) or first_mobile.get(r.customer_id))
        for r in found]


async def tell(session: AsyncSession, batch: SupplierBatch, events: Sequence[str]) -> int:
    """Queue ``events`` of ``batch`` to every open order's customer; the messages queued
    (an event already told is skipped by its key)."""
    if not events:
        return 0
    supplier = await session.get(Supplier, batch.supplier_id)
    name = "" if supplier is None else supplier.name if supplier.name_en in (
        None, "", supplier.name) else f"{supplier.name} ({supplier.name_en})"
    messages = [m for r in await recipients(session, batch.id) for event in events
                for m in batch_messages(event=event, batch_id=batch.id,
                                        expected_on=batch.expected_on,
                                        supplier=name, recipient=r)]
    await enqueue_many(session, messages)
    return len(messages)


def events_of_move(was_stage: str, was_expected: date | None, batch: SupplierBatch
                   ) -> list[str]:
    """What a stage update of ``batch`` tells its customers (pure)."""
    events = []
    if batch.stage == "dispatched" and was_stage != "dispatched":
        events.append("dispatched")
    if batch.stage != "delivered" and order_eta.slipped(was_expected, batch.expected_on):
        events.append("slip")
    return events


async def tell_overdue(session: AsyncSession, today: date) -> int:
    """The daily sweep: every batch not delivered and past its expected day tells its
    customers once per missed forecast (a second sweep the same day queues nothing
    new: the keys). Returns how many overdue batches there are."""
    late = (await session.scalars(select(SupplierBatch).where(
        SupplierBatch.stage != "delivered", SupplierBatch.expected_on < today)
        .order_by(SupplierBatch.id))).all()
    for batch in late:
        await tell(session, batch, ["overdue"])
    return len(late)
