"""The notification outbox: messages written in the same transaction as their event.

Rules:
- ``enqueue`` / ``enqueue_many`` add rows to ``outbox_message`` in the caller's
  transaction: the message exists if and only if the event committed;
- ``event_key`` is unique and the insert is ``ON CONFLICT (event_key) DO NOTHING``
  (PostgreSQL and SQLite), so an event queued twice (a retried request, two sweeps) is
  one message; the key names the event AND the recipient and channel
  (``sla:42:accept:1:email:zhang@example.com``), so one event may tell several people;
- the worker (``hotline.outbox_worker``) claims, sends, retries with backoff; the state
  machine and the claim are here, beside the table: pending -> sending -> sent, or
  back to pending with ``next_at`` pushed, or failed after ``max_attempts`` (at once
  when the failure is permanent: an SMTP 5xx, a mailbox that does not exist);
- a pending message may be ``cancelled`` (its recipient unsubscribed meanwhile): never
  claimed again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.models import OutboxMessage

CHANNELS = ("email", "sms")


@dataclass(frozen=True, kw_only=True)
class Message:
    """A message to queue."""

    event_key: str
    channel: str
    recipient: str
    subject: str | None
    body: str
    ticket_id: int | None = None


def _check(message: Message) -> None:
    if message.channel not in CHANNELS:
        raise ValueError(f"outbox: unknown channel {message.channel!r} ({', '.join(CHANNELS)})")
    if not message.event_key or not message.recipient.strip():
        raise ValueError("outbox: a message needs an event key and a recipient")


def _insert(session: AsyncSession) -> Any:
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    # the Core table, not the ORM entity: a list of rows is then ONE executemany
    table = OutboxMessage.metadata.tables["outbox_message"]
    return insert(table).on_conflict_do_nothing(index_elements=["event_key"])


async def enqueue(session: AsyncSession, event_key: str, channel: str, recipient: str,
                  subject: str | None, body: str, ticket_id: int | None = None) -> bool:
    """Queue one message; False if its event key was already queued (nothing added)."""
    message = Message(event_key=event_key, channel=channel, recipient=recipient,
                      subject=subject, body=body, ticket_id=ticket_id)
    _check(message)
    result = await session.execute(
        _insert(session).values(**asdict(message)).returning(OutboxMessage.id))
    return result.scalar_one_or_none() is not None


async def enqueue_many(session: AsyncSession, messages: Sequence[Message]) -> None:
    """Queue many messages in one statement (keys already queued are skipped)."""
    for message in messages:
        _check(message)
    if messages:
        await session.execute(_insert(session), [asdict(m) for m in messages])


def backoff(attempts: int, base_s: float, cap_s: float = 6 * 3600) -> timedelta:
    """The wait before the next attempt after ``attempts`` failed ones: base x 2^(n-1)."""
    return timedelta(seconds=min(cap_s, base_s * 2 ** max(attempts - 1, 0)))


async def claim(session: AsyncSession, token: str, now: datetime, *, channels: Sequence[str],
                limit: int, claim_for: timedelta) -> list[OutboxMessage]:
    """Take up to ``limit`` due messages for this worker: a compare-and-set on each row
    (still pending, or its claim expired: a worker died while sending), so two workers
    never take the same one. The claim lasts ``claim_for`` (``next_at``)."""
    due = or_(OutboxMessage.state == "pending",
              OutboxMessage.state == "sending")  # "sending" past next_at: an orphan
    candidates = (select(OutboxMessage.id)
                  .where(due, OutboxMessage.next_at <= now,
                         OutboxMessage.channel.in_(channels))
                  .order_by(OutboxMessage.next_at).limit(limit))
    ids = list((await session.execute(candidates)).scalars())
    if not ids:
        return []
    claimed = await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(ids), due, OutboxMessage.next_at <= now)
        .values(state="sending", claim=token, next_at=now + claim_for,
                attempts=OutboxMessage.attempts + 1)
        .returning(OutboxMessage.id))
    won = list(claimed.scalars())
    if not won:
        return []
    rows = await session.execute(select(OutboxMessage).where(
        OutboxMessage.id.in_(won), OutboxMessage.claim == token)
        .execution_options(populate_existing=True))
    return list(rows.scalars())


async def sent(session: AsyncSession, message_id: int, token: str, now: datetime) -> bool:
    """Record a delivery (only under our claim)."""
    result = await session.execute(
        update(OutboxMessage)
        .where(and_(OutboxMessage.id == message_id, OutboxMessage.claim == token,
                    OutboxMessage.state == "sending"))
        .values(state="sent", sent_at=now, claim=None, last_error=None))
    return bool(getattr(result, "rowcount", 0))


async def failed(session: AsyncSession, message: OutboxMessage, token: str, now: datetime,
                 error: str, *, max_attempts: int, backoff_s: float,
                 permanent: bool = False) -> str:
    """Record a failed attempt: back to pending after a backoff, or ``failed`` for good
    once ``max_attempts`` are spent (or at once when ``permanent``). Returns the new
    state."""
    state = "failed" if permanent or message.attempts >= max_attempts else "pending"
    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message.id, OutboxMessage.claim == token,
               OutboxMessage.state == "sending")
        .values(state=state, claim=None, last_error=error[:2000],
                next_at=now + backoff(message.attempts, backoff_s)))
    return state


async def cancel_pending(session: AsyncSession, *, recipient: str, channel: str,
                         key_prefix: str) -> int:
    """Cancel the messages not yet sent to ``recipient`` whose event key starts with
    ``key_prefix`` (a mailing's, after its recipient unsubscribed); how many."""
    result = await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.recipient == recipient, OutboxMessage.channel == channel,
               OutboxMessage.state == "pending",
               OutboxMessage.event_key.startswith(key_prefix, autoescape=True))
        .values(state="cancelled", last_error="unsubscribed"))
    return int(getattr(result, "rowcount", 0) or 0)
