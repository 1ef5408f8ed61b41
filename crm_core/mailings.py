"""Mail to customer groups (issue 18 item 4): an email or an SMS to the customers a saved
filter selects, queued through the outbox (``crm_core.outbox``), with each recipient's
status, bounces recorded and unsubscribes honoured.

Rules:
- the group is a ``crm_core.reports.CustomerFilter`` (region, product line, tier,
  subscription state...: the same filter the call lists and reports take), within the
  creator's ``mailings`` scope on customers, frozen with the mailing;
- recipients are resolved and queued in batches of ``BATCH`` customers (by customer id,
  a cursor on the mailing moved by compare-and-set), each batch its own transaction: the
  first with the mailing, the rest by the outbox worker (``queue_due``), so 10,000
  customers never make one giant transaction and two workers never queue a batch twice;
- the address is the first contact's (lowest id) valid email; for SMS the first
  contact's mobile, else the customer's own; a customer without one is recorded
  ``skipped`` (``no-address``), never silently dropped;
- an address in ``mailing_opt_out`` for the channel (unsubscribed through the email's
  link, opted out of SMS, or bounced for good) is recorded ``unsubscribed`` and never
  mailed by any later mailing; unsubscribing also cancels what is still pending for it;
- every email carries its unsubscribe link: ``/unsubscribe?t=<mailing>.<customer>.<sig>``,
  an HMAC of the two ids (``Links``), so the public page needs no sign-in and a guessed
  link is refused;
- a recipient's status: ``skipped``/``unsubscribed``/``bounced`` as recorded, else its
  outbox message's state: pending or sending -> ``queued``, ``sent``, ``failed``,
  ``cancelled`` -> ``unsubscribed``; a permanent SMTP refusal (the worker) or a bounce
  reported to the API marks it ``bounced`` and suppresses the address.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, case, false, func, select, true, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core import outbox
from crm_core.audit import audit
from crm_core.errors import NotFound, ValidationFailed
from crm_core.models import (
    Contact,
    Customer,
    Mailing,
    MailingOptOut,
    MailingRecipient,
    OutboxMessage,
    PhoneNumber,
    User,
    utcnow,
)
from crm_core.notifications import is_mobile
from crm_core.permissions import Actor, customer_filter, require
from crm_core.reports import SUBSCRIPTION_STATES, CustomerFilter, filter_conditions

MODULE = "mailings"
CHANNELS = ("email", "sms")
BATCH = 500
KEY_PREFIX = "mailing:"
STATUSES = ("queued", "sent", "failed", "bounced", "unsubscribed", "skipped")
# why a recipient was not mailed (a bounce's reason is the mail system's own text)
REASONS = ("no-address", "opted-out", "unsubscribed")
_EMAIL = re.compile(r"^[^@\s<>,;\"]+@[^@\s<>,;\"]+\.[^@\s<>,;\"]+$")
EMAIL_FOOTER = ("\n\n——\n如不想再收到此类邮件，请点击退订：{link}\n"
                "To stop receiving these emails, unsubscribe: {link}\n")
SMS_FOOTER = " 回TD退订"


# --- pure parts --------------------------------------------------------------------------


def normal_email(raw: str | None) -> str | None:
    """The address as compared and sent (trimmed, lower-case), or None if it is none."""
    if not raw:
        return None
    address = raw.strip().lower()
    return address if _EMAIL.match(address) else None


def event_key(mailing_id: int, customer_id: int) -> str:
    return f"{KEY_PREFIX}{mailing_id}:{customer_id}"


def parse_message_id(message_id: str) -> str | None:
    """The event key of a mailing's email from its Message-ID header
    (``<outbox-<id>-mailing.<m>.<c>@hotline>``, as ``hotline.outbox_worker`` writes it)."""
    found = re.search(r"outbox-\d+-mailing[.:](\d+)[.:](\d+)@", message_id)
    return event_key(int(found.group(1)), int(found.group(2))) if found else None


@dataclass(frozen=True)
class Links:
    """Signs and reads unsubscribe links; ``base_url``: Hotline's public address."""

    secret: bytes
    base_url: str

    def _sig(self, mailing_id: int, customer_id: int) -> str:
        key = hashlib.sha256(b"hotline-mailing-unsubscribe:" + self.secret).digest()
        mac = hmac.new(key, f"{mailing_id}:{customer_id}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac[:18]).decode("ascii")

    def token(self, mailing_id: int, customer_id: int) -> str:
        return f"{mailing_id}.{customer_id}.{self._sig(mailing_id, customer_id)}"

    def read(self, token: str) -> tuple[int, int] | None:
        """(mailing id, customer id) of a genuine token, else None."""
        parts = token.split(".")
        if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit():
            return None
        mailing_id, customer_id = int(parts[0]), int(parts[1])
        if not hmac.compare_digest(parts[2], self._sig(mailing_id, customer_id)):
            return None
        return mailing_id, customer_id

    def url(self, mailing_id: int, customer_id: int) -> str:
        return f"{self.base_url.rstrip('/')}/unsubscribe?t={self.token(mailing_id, customer_id)}"


def compose(channel: str, body: str, link: str) -> str:
    """The text one recipient gets: the body, then how to stop them."""
    if channel == "sms":
        return body + SMS_FOOTER
    return body + EMAIL_FOOTER.format(link=link)


def effective_status(status: str, outbox_state: str | None) -> str:
    """A recipient's status as shown: recorded, or its outbox message's state."""
    if status != "queued":
        return status
    return {"sent": "sent", "failed": "failed", "cancelled": "unsubscribed"}.get(
        outbox_state or "", "queued")


def check_filter(raw: Any) -> CustomerFilter:
    """The saved filter's fields, checked (422 naming the field)."""
    if not isinstance(raw, dict):
        raise ValidationFailed("filter", "an object of customer filter fields")
    known = {f.name for f in fields(CustomerFilter)}
    unknown = set(raw) - known
    if unknown:
        raise ValidationFailed("filter", f"unknown field(s): {', '.join(sorted(unknown))}")
    values = {k: v for k, v in raw.items() if v is not None and v != ""}
    for name in ("created_from", "created_to"):
        if name in values:
            try:
                values[name] = date.fromisoformat(str(values[name]))
            except ValueError as exc:
                raise ValidationFailed(f"filter.{name}", "a date YYYY-MM-DD") from exc
    if values.get("subscription") not in (None, *SUBSCRIPTION_STATES):
        raise ValidationFailed("filter.subscription", f"one of {', '.join(SUBSCRIPTION_STATES)}")
    return CustomerFilter(**values)


def _plain_filter(f: CustomerFilter) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in fields(CustomerFilter):
        value = getattr(f, item.name)
        if value is not None:
            out[item.name] = value.isoformat() if isinstance(value, date) else value
    return out


def _check_message(channel: str, subject: str | None, body: str) -> None:
    if channel not in CHANNELS:
        raise ValidationFailed("channel", f"one of {', '.join(CHANNELS)}")
    if not body.strip():
        raise ValidationFailed("body", "the message is empty")
    if channel == "email" and not (subject or "").strip():
        raise ValidationFailed("subject", "an email needs a subject")


# --- the group ---------------------------------------------------------------------------


async def _creator(session: AsyncSession, mailing: Mailing) -> Actor | None:
    if mailing.created_by_id is None:
        return None
    user = await session.get(User, mailing.created_by_id)
    if user is None:
        return None
    return Actor(user_id=user.id, username=user.username, team=user.team, region=user.region)


def _group(actor: Actor | None, scope: str, f: CustomerFilter) -> list[ColumnElement[bool]]:
    if scope == "all":
        seen: ColumnElement[bool] = true()
    elif actor is None or actor.user_id is None:
        seen = false()  # the creator is gone: a scoped group cannot be worked out
    else:
        seen = customer_filter(actor, scope)
    return [seen, *filter_conditions(f)]


def _email_exists(opted: bool) -> ColumnElement[bool]:
    address = func.lower(func.trim(Contact.email))
    q = select(Contact.id).where(Contact.customer_id == Customer.id, Contact.email.like("%@%"))
    out = select(MailingOptOut.id).where(MailingOptOut.channel == "email",
                                         MailingOptOut.address == address).exists()
    return q.where(out if opted else ~out).exists()


def _mobile_exists(opted: bool | None = None) -> ColumnElement[bool]:
    q = select(PhoneNumber.id).where(
        PhoneNumber.customer_id == Customer.id,
        (PhoneNumber.kind == "mobile") | PhoneNumber.number_e164.like("+861%"))
    if opted is None:
        return q.exists()
    out = select(MailingOptOut.id).where(MailingOptOut.channel == "sms",
                                         MailingOptOut.address == PhoneNumber.number_e164).exists()
    return q.where(out if opted else ~out).exists()


async def preview(session: AsyncSession, actor: Actor, channel: str,
                  raw_filter: Any) -> dict[str, int]:
    """How many customers the filter selects, how many have an address for the channel,
    and how many of those addresses opted out (an estimate of the email case: the exact
    pick is made when queueing)."""
    scope = require(actor, MODULE, "create")
    if channel not in CHANNELS:
        raise ValidationFailed("channel", f"one of {', '.join(CHANNELS)}")
    conds = _group(actor, scope, check_filter(raw_filter))
    has: ColumnElement[bool]
    opted: ColumnElement[bool]
    if channel == "email":
        has = select(Contact.id).where(Contact.customer_id == Customer.id,
                                       Contact.email.like("%@%")).exists()
        opted = _email_exists(True) & ~_email_exists(False)
    else:
        has = _mobile_exists()
        opted = _mobile_exists(True) & ~_mobile_exists(False)
    row = (await session.execute(select(
        func.count(), func.count().filter(has), func.count().filter(opted))
        .select_from(Customer).where(*conds))).one()
    customers, with_address, opted_out = int(row[0]), int(row[1]), int(row[2])
    return {"customers": customers, "reachable": with_address - opted_out,
            "no_address": customers - with_address, "opted_out": opted_out}


# --- queueing ----------------------------------------------------------------------------


async def _emails(session: AsyncSession, ids: Sequence[int]
                  ) -> dict[int, tuple[int | None, str]]:
    rows = await session.execute(
        select(Contact.customer_id, Contact.id, Contact.email)
        .where(Contact.customer_id.in_(ids), Contact.email.is_not(None))
        .order_by(Contact.customer_id, Contact.id))
    out: dict[int, tuple[int | None, str]] = {}
    for customer_id, contact_id, raw in rows:
        address = normal_email(raw)
        if address and customer_id not in out:
            out[customer_id] = (contact_id, address)
    return out


async def _mobiles(session: AsyncSession, ids: Sequence[int]
                   ) -> dict[int, tuple[int | None, str]]:
    rows = await session.execute(
        select(PhoneNumber.customer_id, PhoneNumber.contact_id, PhoneNumber.number_e164,
               PhoneNumber.kind)
        .where(PhoneNumber.customer_id.in_(ids))
        # a contact's mobile first (the person), then the customer's own
        .order_by(PhoneNumber.customer_id, PhoneNumber.contact_id.is_(None), PhoneNumber.id))
    out: dict[int, tuple[int | None, str]] = {}
    for customer_id, contact_id, number, kind in rows:
        if customer_id not in out and is_mobile(number, kind):
            out[customer_id] = (contact_id, number)
    return out


def _insert(session: AsyncSession, model: type[Any]) -> Any:
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    return insert(model.__table__)


async def queue_batch(session: AsyncSession, mailing: Mailing, links: Links,
                      size: int = BATCH) -> int:
    """Resolve and queue the mailing's next ``size`` customers; how many (0: another
    worker took this batch, or none were left: the mailing is then ``queued``)."""
    if mailing.state != "queueing":
        return 0
    f = check_filter(mailing.filter)
    conds = _group(await _creator(session, mailing), mailing.scope, f)
    ids = list((await session.scalars(
        select(Customer.id).where(*conds, Customer.id > mailing.cursor)
        .order_by(Customer.id).limit(size))).all())
    done = len(ids) < size
    moved = await session.execute(
        update(Mailing).where(Mailing.id == mailing.id, Mailing.cursor == mailing.cursor,
                              Mailing.state == "queueing")
        .values(cursor=ids[-1] if ids else mailing.cursor,
                state="queued" if done else "queueing",
                queued_at=utcnow() if done else None))
    if not getattr(moved, "rowcount", 0):
        return 0  # another worker moved the cursor first: its batch, not ours
    if not ids:
        return 0
    picked = await (_emails(session, ids) if mailing.channel == "email"
                    else _mobiles(session, ids))
    addresses = [a for _, a in picked.values()]
    opted = set((await session.scalars(select(MailingOptOut.address).where(
        MailingOptOut.channel == mailing.channel,
        MailingOptOut.address.in_(addresses)))).all()) if addresses else set()
    rows: list[dict[str, Any]] = []
    messages: list[outbox.Message] = []
    now = utcnow()
    for customer_id in ids:
        contact_id, address = picked.get(customer_id, (None, None))
        row: dict[str, Any] = {"mailing_id": mailing.id, "customer_id": customer_id,
                               "contact_id": contact_id, "address": address,
                               "updated_at": now, "event_key": None, "reason": None}
        if address is None:
            row.update(status="skipped", reason="no-address")
        elif address in opted:
            row.update(status="unsubscribed", reason="opted-out")
        else:
            key = event_key(mailing.id, customer_id)
            row.update(status="queued", event_key=key)
            messages.append(outbox.Message(
                event_key=key, channel=mailing.channel, recipient=address,
                subject=mailing.subject if mailing.channel == "email" else None,
                body=compose(mailing.channel, mailing.body,
                             links.url(mailing.id, customer_id))))
        rows.append(row)
    await session.execute(
        _insert(session, MailingRecipient).on_conflict_do_nothing(
            index_elements=["mailing_id", "customer_id"]), rows)
    await outbox.enqueue_many(session, messages)
    return len(ids)


async def queue_due(session: AsyncSession, links: Links, size: int = BATCH) -> int:
    """One batch of the oldest mailing still being queued (the outbox worker calls this
    in a transaction of its own, round after round); how many customers it took."""
    mailing = await session.scalar(select(Mailing).where(Mailing.state == "queueing")
                                   .order_by(Mailing.id).limit(1)
                                   .execution_options(populate_existing=True))
    if mailing is None:
        return 0
    return await queue_batch(session, mailing, links, size)


# --- mailings ----------------------------------------------------------------------------


def _visible(actor: Actor, scope: str) -> ColumnElement[bool]:
    """Which mailings a scope sees: its creators' (own: one's own; team: the team's)."""
    if scope in ("all", "region"):
        return true()
    if scope == "team" and actor.team is not None:
        return Mailing.created_by_id.in_(select(User.id).where(User.team == actor.team))
    return Mailing.created_by_id == actor.user_id


async def _counts(session: AsyncSession, ids: Iterable[int]) -> dict[int, dict[str, int]]:
    ids = list(ids)
    out: dict[int, dict[str, int]] = {i: dict.fromkeys(STATUSES, 0) for i in ids}
    if not ids:
        return out
    shown = case(
        (MailingRecipient.status != "queued", MailingRecipient.status),
        (OutboxMessage.state == "sent", "sent"),
        (OutboxMessage.state == "failed", "failed"),
        (OutboxMessage.state == "cancelled", "unsubscribed"),
        else_="queued")
    rows = await session.execute(
        select(MailingRecipient.mailing_id, shown, func.count())
        .outerjoin(OutboxMessage, OutboxMessage.event_key == MailingRecipient.event_key)
        .where(MailingRecipient.mailing_id.in_(ids))
        .group_by(MailingRecipient.mailing_id, shown))
    for mailing_id, status, n in rows:
        out[mailing_id][str(status)] = int(n)
    return out


def _out(m: Mailing, counts: dict[str, int], by: str | None) -> dict[str, Any]:
    return {"id": m.id, "name": m.name, "channel": m.channel, "filter": m.filter,
            "subject": m.subject, "body": m.body, "state": m.state,
            "created_at": m.created_at, "queued_at": m.queued_at, "created_by": by,
            "counts": counts, "total": sum(counts.values())}


async def _by(session: AsyncSession, ids: Iterable[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = await session.execute(select(User.id, User.display_name, User.username)
                                 .where(User.id.in_(wanted)))
    return {i: d or u for i, d, u in rows}


async def list_mailings(session: AsyncSession, actor: Actor, *, limit: int = 100,
                        offset: int = 0) -> dict[str, Any]:
    scope = require(actor, MODULE, "read")
    where = _visible(actor, scope)
    total = int(await session.scalar(select(func.count()).select_from(Mailing).where(where))
                or 0)
    items = list((await session.scalars(select(Mailing).where(where)
                                        .order_by(Mailing.id.desc())
                                        .limit(limit).offset(offset))).all())
    counts = await _counts(session, (m.id for m in items))
    names = await _by(session, (m.created_by_id for m in items))
    return {"items": [_out(m, counts[m.id], names.get(m.created_by_id or 0))
                      for m in items], "total": total}


async def _load(session: AsyncSession, actor: Actor, mailing_id: int,
                operation: str = "read") -> Mailing:
    scope = require(actor, MODULE, operation)
    mailing = await session.scalar(select(Mailing).where(Mailing.id == mailing_id,
                                                         _visible(actor, scope)))
    if mailing is None:
        raise NotFound("mailing", mailing_id)
    return mailing


async def get_mailing(session: AsyncSession, actor: Actor, mailing_id: int) -> dict[str, Any]:
    return await _summary(session, await _load(session, actor, mailing_id))


async def _summary(session: AsyncSession, mailing: Mailing) -> dict[str, Any]:
    counts = await _counts(session, [mailing.id])
    names = await _by(session, [mailing.created_by_id])
    return _out(mailing, counts[mailing.id], names.get(mailing.created_by_id or 0))


async def create_mailing(session: AsyncSession, actor: Actor, links: Links, *, name: str,
                         channel: str, raw_filter: Any, subject: str | None, body: str,
                         first_batch: int = BATCH) -> dict[str, Any]:
    """Make the mailing and queue its first batch at once (the worker queues the rest;
    ``first_batch=0``: all of them, e.g. a mailing made where the links cannot be signed)."""
    scope = require(actor, MODULE, "create")
    _check_message(channel, subject, body)
    f = check_filter(raw_filter)
    if not name.strip():
        raise ValidationFailed("name", "a name")
    mailing = Mailing(name=name.strip(), channel=channel, filter=_plain_filter(f),
                      subject=(subject or "").strip() if channel == "email" else None,
                      body=body, scope=scope, created_by_id=actor.user_id,
                      state="queueing", cursor=0)
    session.add(mailing)
    await session.flush()
    audit(session, user_id=actor.user_id, action="create", entity="mailing",
          entity_id=mailing.id, after={"name": mailing.name, "channel": channel,
                                       "filter": mailing.filter, "subject": mailing.subject,
                                       "body": body, "scope": scope})
    if first_batch:
        await queue_batch(session, mailing, links, first_batch)
    await session.refresh(mailing)
    return await _summary(session, mailing)


async def recipients(session: AsyncSession, actor: Actor, mailing_id: int, *,
                     status: str | None = None, limit: int = 50, offset: int = 0
                     ) -> dict[str, Any]:
    """The mailing's recipients with their status (``status``: only those)."""
    await _load(session, actor, mailing_id)
    shown = case(
        (MailingRecipient.status != "queued", MailingRecipient.status),
        (OutboxMessage.state == "sent", "sent"),
        (OutboxMessage.state == "failed", "failed"),
        (OutboxMessage.state == "cancelled", "unsubscribed"),
        else_="queued")
    base = (select(MailingRecipient, Customer.name, Contact.name, OutboxMessage.state,
                   OutboxMessage.last_error, OutboxMessage.sent_at)
            .join(Customer, Customer.id == MailingRecipient.customer_id)
            .outerjoin(Contact, Contact.id == MailingRecipient.contact_id)
            .outerjoin(OutboxMessage, OutboxMessage.event_key == MailingRecipient.event_key)
            .where(MailingRecipient.mailing_id == mailing_id))
    if status is not None:
        base = base.where(shown == status)
    total = int(await session.scalar(select(func.count()).select_from(base.subquery())) or 0)
    rows = await session.execute(base.order_by(MailingRecipient.id).limit(limit)
                                 .offset(offset))
    items = []
    for r, customer_name, contact_name, state, error, sent_at in rows:
        items.append({"id": r.id, "customer_id": r.customer_id, "customer_name": customer_name,
                      "contact_id": r.contact_id, "contact_name": contact_name,
                      "address": r.address, "status": effective_status(r.status, state),
                      "reason": r.reason or (error if state == "failed" else None),
                      "sent_at": sent_at, "updated_at": r.updated_at})
    return {"items": items, "total": total}


# --- unsubscribes, opt-outs, bounces ------------------------------------------------------


async def _suppress(session: AsyncSession, channel: str, address: str, reason: str, *,
                    customer_id: int | None, mailing_id: int | None) -> bool:
    """Add the address to the opt-outs (False: it was there already) and cancel what is
    still pending for it."""
    added = await session.execute(
        _insert(session, MailingOptOut).on_conflict_do_nothing(
            index_elements=["channel", "address"])
        .values(channel=channel, address=address, reason=reason, customer_id=customer_id,
                mailing_id=mailing_id, created_at=utcnow())
        .returning(MailingOptOut.id))
    await outbox.cancel_pending(session, recipient=address, channel=channel,
                                key_prefix=KEY_PREFIX)
    return added.scalar_one_or_none() is not None


async def unsubscribe_target(session: AsyncSession, links: Links, token: str
                             ) -> dict[str, Any] | None:
    """What an unsubscribe link is for (the confirmation page), or None if not genuine."""
    ids = links.read(token)
    if ids is None:
        return None
    row = await session.scalar(select(MailingRecipient).where(
        MailingRecipient.mailing_id == ids[0], MailingRecipient.customer_id == ids[1]))
    if row is None or row.address is None:
        return None
    channel = await session.scalar(select(Mailing.channel).where(Mailing.id == ids[0]))
    done = await session.scalar(select(MailingOptOut.id).where(
        MailingOptOut.channel == channel, MailingOptOut.address == row.address))
    return {"address": row.address, "channel": channel, "unsubscribed": done is not None,
            "mailing_id": ids[0], "customer_id": ids[1]}


async def unsubscribe(session: AsyncSession, links: Links, token: str) -> dict[str, Any] | None:
    """Honour an unsubscribe link: its address is never mailed again (None: not genuine)."""
    target = await unsubscribe_target(session, links, token)
    if target is None:
        return None
    await _suppress(session, target["channel"], target["address"], "unsubscribed",
                    customer_id=target["customer_id"], mailing_id=target["mailing_id"])
    await session.execute(
        update(MailingRecipient)
        .where(MailingRecipient.mailing_id == target["mailing_id"],
               MailingRecipient.customer_id == target["customer_id"])
        .values(status="unsubscribed", reason="unsubscribed", updated_at=utcnow()))
    audit(session, user_id=None, action="unsubscribe", entity="mailing",
          entity_id=target["mailing_id"], after={"address": target["address"],
                                                 "customer_id": target["customer_id"]})
    return {**target, "unsubscribed": True}


async def opt_out(session: AsyncSession, actor: Actor, *, channel: str, address: str,
                  reason: str = "opted-out") -> dict[str, Any]:
    """Record that an address wants no more mailings on a channel (an SMS reply "TD", a
    customer's word on the phone)."""
    require(actor, MODULE, "update")
    if channel not in CHANNELS:
        raise ValidationFailed("channel", f"one of {', '.join(CHANNELS)}")
    normal = normal_email(address) if channel == "email" else address.strip()
    if not normal:
        raise ValidationFailed("address", "an email address" if channel == "email"
                               else "a mobile number")
    added = await _suppress(session, channel, normal, reason, customer_id=None,
                            mailing_id=None)
    audit(session, user_id=actor.user_id, action="opt-out", entity="mailing_opt_out",
          entity_id=f"{channel}:{normal}", after={"reason": reason})
    return {"channel": channel, "address": normal, "added": added}


async def mark_bounced(session: AsyncSession, key: str, reason: str) -> bool:
    """The recipient of the mailing message ``key`` bounced: recorded, and its address
    suppressed (False: no such recipient)."""
    row = await session.scalar(select(MailingRecipient).where(MailingRecipient.event_key == key))
    if row is None or row.address is None:
        return False
    channel = await session.scalar(select(Mailing.channel)
                                   .where(Mailing.id == row.mailing_id)) or "email"
    row.status, row.reason, row.updated_at = "bounced", reason[:500], utcnow()
    await _suppress(session, channel, row.address, "bounced", customer_id=row.customer_id,
                    mailing_id=row.mailing_id)
    return True


async def record_bounce(session: AsyncSession, actor: Actor, *, message_id: str | None,
                        address: str | None, reason: str) -> dict[str, Any]:
    """A bounce reported by the mail system: by the email's Message-ID (one recipient), or
    by address (its latest mailing recipient). Audited."""
    require(actor, MODULE, "update")
    key = parse_message_id(message_id) if message_id else None
    if key is None and address:
        normal = normal_email(address)
        key = await session.scalar(
            select(MailingRecipient.event_key)
            .where(MailingRecipient.address == normal, MailingRecipient.event_key.is_not(None))
            .order_by(MailingRecipient.id.desc()).limit(1)) if normal else None
    if key is None:
        raise NotFound("mailing recipient", message_id or address)
    if not await mark_bounced(session, key, reason or "bounced"):
        raise NotFound("mailing recipient", message_id or address)
    audit(session, user_id=actor.user_id, action="bounce", entity="mailing_recipient",
          entity_id=key, after={"reason": reason})
    return {"event_key": key, "status": "bounced"}


def is_mailing_key(key: str) -> bool:
    return key.startswith(KEY_PREFIX)

