"""The outbox worker: sends the queued notifications (crm_core.outbox) with retries.

Rules:
- every node runs one; each round claims due messages by a compare-and-set on their
  rows (``crm_core.outbox.claim``), so with several nodes each message is taken by one
  worker; a worker that dies while sending leaves its claim to expire (``claim_s``),
  then another takes the message again (sent at least once, and once unless a node
  dies between the send and its record);
- a send that fails (an exception of the sender: refused, timeout, a gateway's non-2xx)
  goes back to pending after an exponential backoff, and is marked ``failed`` with its
  last error once ``max_attempts`` are spent;
- a permanent refusal (an SMTP 5xx: no such mailbox, rejected) is not retried: the
  message is ``failed`` at once, and a mailing's recipient is marked bounced
  (``crm_core.mailings.mark_bounced``: its address is never mailed again);
- each round first queues the next batches of the group mailings still being resolved
  (``crm_core.mailings.queue_due``, one transaction per batch, at most
  ``mailing_batches`` per round), when the worker was given the links to sign;
- a channel without a configured sender (no SMTP host, no SMS gateway) is not claimed:
  its messages wait until one is configured;
- senders: :class:`SmtpSender` (aiosmtplib, real SMTP) and :class:`HttpSmsGateway` (POST
  JSON ``{"to", "text"}`` with aiohttp); anything with ``async send(message)`` will do.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import socket
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Protocol

import aiohttp
import aiosmtplib
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_core import mailings, outbox
from crm_core.models import OutboxMessage, utcnow
from hotline.cancelling import stop_if_cancelled
from hotline.settings import Settings

log = logging.getLogger("hotline.outbox")


def permanent(exc: BaseException) -> bool:
    """Whether a send failed for good: an SMTP 5xx reply (for every recipient)."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        return bool(exc.recipients) and all(r.code >= 500 for r in exc.recipients)
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return 500 <= exc.code < 600
    return False


class Sender(Protocol):
    async def send(self, message: OutboxMessage) -> None:
        """Deliver, or raise (the message is then retried)."""


def message_id(message: OutboxMessage) -> str:
    """The email's Message-ID: the outbox id and the event key, whose characters that may
    not stand in one (``:``, ``@``...) become dots (a bounce names it back: see
    ``crm_core.mailings.parse_message_id``)."""
    key = re.sub(r"[^A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]", ".", message.event_key[:40])
    return f"<outbox-{message.id}-{key}@hotline>"


class SmtpSender:
    """Email over SMTP (one connection per message: notifications are few)."""

    def __init__(self, host: str, port: int, *, sender: str, user: str = "",
                 password: str = "", tls: str = "auto", timeout: float = 30.0) -> None:
        self.host, self.port, self.sender = host, port, sender
        self.user, self.password, self.tls, self.timeout = user, password, tls, timeout

    async def send(self, message: OutboxMessage) -> None:
        email = EmailMessage()
        email["From"], email["To"] = self.sender, message.recipient
        email["Subject"] = message.subject or ""
        email["Message-ID"] = message_id(message)
        email.set_content(message.body)
        await aiosmtplib.send(
            email, hostname=self.host, port=self.port, timeout=self.timeout,
            username=self.user or None, password=self.password or None,
            use_tls=self.tls == "tls",
            start_tls=None if self.tls == "auto" else self.tls == "starttls")


class HttpSmsGateway:
    """SMS through an HTTP gateway: POST {"to", "text"} as JSON; a 2xx answer is sent."""

    def __init__(self, url: str, *, timeout: float = 10.0) -> None:
        self.url, self.timeout = url, timeout
        self._session: aiohttp.ClientSession | None = None

    async def send(self, message: OutboxMessage) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout))
        async with self._session.post(self.url, json={"to": message.recipient,
                                                      "text": message.body}) as response:
            if response.status // 100 != 2:
                detail = (await response.text())[:200]
                raise RuntimeError(f"SMS gateway answered {response.status}: {detail}")

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


@dataclass(frozen=True, kw_only=True)
class OutboxConfig:
    poll_s: float = 2.0
    max_attempts: int = 8
    backoff_s: float = 30.0
    batch: int = 50
    claim_s: float = 120.0  # longer than any send's timeout
    concurrency: int = 8
    mailing_batches: int = 4  # group mailings' batches queued per round (crm_core.mailings)


def senders_from_settings(settings: Settings) -> dict[str, Sender]:
    """The senders the settings configure (a channel without one waits)."""
    out: dict[str, Sender] = {}
    if settings.smtp_host:
        out["email"] = SmtpSender(settings.smtp_host, settings.smtp_port,
                                  sender=settings.smtp_from, user=settings.smtp_user,
                                  password=settings.smtp_password, tls=settings.smtp_tls,
                                  timeout=settings.smtp_timeout_s)
    if settings.sms_gateway_url:
        out["sms"] = HttpSmsGateway(settings.sms_gateway_url, timeout=settings.sms_timeout_s)
    return out


class OutboxWorker:
    """Claims, sends and records outbox messages, every ``poll_s`` or when woken."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession],
                 senders: Mapping[str, Sender], config: OutboxConfig | None = None, *,
                 clock: Callable[[], datetime] = utcnow, name: str | None = None,
                 mailing_links: mailings.Links | None = None) -> None:
        self.sessionmaker, self.senders = sessionmaker, dict(senders)
        self.mailing_links = mailing_links
        self.config = config or OutboxConfig()
        self.clock = clock
        self.name = name or f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}"
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        self._wakeup.set()

    async def run_once(self) -> dict[str, int]:
        """One round: queue mailings' batches, claim what is due, send it, record each
        outcome."""
        await self.queue_mailings()
        if not self.senders:
            return {"claimed": 0, "sent": 0, "retry": 0, "failed": 0}
        token = f"{self.name}:{uuid.uuid4().hex[:12]}"
        async with self.sessionmaker.begin() as session:
            claimed = await outbox.claim(
                session, token, self.clock(), channels=list(self.senders),
                limit=self.config.batch, claim_for=timedelta(seconds=self.config.claim_s))
        gate = asyncio.Semaphore(self.config.concurrency)
        counts = {"claimed": len(claimed), "sent": 0, "retry": 0, "failed": 0}

        async def one(message: OutboxMessage) -> None:
            async with gate:
                error, for_good = await self._send(message)
            async with self.sessionmaker.begin() as session:
                if error is None:
                    await outbox.sent(session, message.id, token, self.clock())
                    counts["sent"] += 1
                    return
                state = await outbox.failed(
                    session, message, token, self.clock(), error,
                    max_attempts=self.config.max_attempts, backoff_s=self.config.backoff_s,
                    permanent=for_good)
                if for_good and mailings.is_mailing_key(message.event_key):
                    await mailings.mark_bounced(session, message.event_key, error)
                counts["failed" if state == "failed" else "retry"] += 1
                log.log(logging.ERROR if state == "failed" else logging.WARNING,
                        "outbox %s to %s: attempt %s failed (%s)%s", message.channel,
                        message.recipient, message.attempts, error,
                        ": given up" if state == "failed" else "")

        await asyncio.gather(*(one(m) for m in claimed))
        return counts

    async def queue_mailings(self) -> int:
        """Queue up to ``mailing_batches`` batches of group mailings; customers taken."""
        if self.mailing_links is None:
            return 0
        taken = 0
        for _ in range(self.config.mailing_batches):
            async with self.sessionmaker.begin() as session:
                n = await mailings.queue_due(session, self.mailing_links)
            if not n:
                break
            taken += n
        return taken

    async def _send(self, message: OutboxMessage) -> tuple[str | None, bool]:
        """(the error, whether it is permanent), or (None, False) when sent."""
        try:
            await self.senders[message.channel].send(message)
        except Exception as exc:  # any failure of the channel is recorded, never fatal
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            return error, permanent(exc)
        return None, False

    async def _run(self) -> None:
        while True:
            try:
                counts = await self.run_once()
            except Exception:
                stop_if_cancelled()
                log.exception("outbox round failed; next round in %ss", self.config.poll_s)
                counts = {}
            if counts.get("claimed", 0) >= self.config.batch:
                continue  # a full batch: there may be more due at once
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), self.config.poll_s)
            self._wakeup.clear()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="outbox-worker")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for sender in self.senders.values():
            close = getattr(sender, "close", None)
            if close is not None:
                await close()
