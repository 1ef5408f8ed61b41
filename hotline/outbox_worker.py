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
- a channel without a configured sender (no SMTP host, no SMS gateway) is not claimed:
  its messages wait until one is configured;
- senders: :class:`SmtpSender` (aiosmtplib, real SMTP) and :class:`HttpSmsGateway` (POST
  JSON ``{"to", "text"}`` with aiohttp); anything with ``async send(message)`` will do.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
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

from crm_core import outbox
from crm_core.models import OutboxMessage, utcnow
from hotline.cancelling import stop_if_cancelled
from hotline.settings import Settings

log = logging.getLogger("hotline.outbox")


class Sender(Protocol):
    async def send(self, message: OutboxMessage) -> None:
        """Deliver, or raise (the message is then retried)."""


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
        email["Message-ID"] = f"<outbox-{message.id}-{message.event_key[:40]}@hotline>"
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
                 clock: Callable[[], datetime] = utcnow, name: str | None = None) -> None:
        self.sessionmaker, self.senders = sessionmaker, dict(senders)
        self.config = config or OutboxConfig()
        self.clock = clock
        self.name = name or f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}"
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        self._wakeup.set()

    async def run_once(self) -> dict[str, int]:
        """One round: claim what is due, send it, record each outcome."""
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
                error = await self._send(message)
            async with self.sessionmaker.begin() as session:
                if error is None:
                    await outbox.sent(session, message.id, token, self.clock())
                    counts["sent"] += 1
                    return
                state = await outbox.failed(
                    session, message, token, self.clock(), error,
                    max_attempts=self.config.max_attempts, backoff_s=self.config.backoff_s)
                counts["failed" if state == "failed" else "retry"] += 1
                log.log(logging.ERROR if state == "failed" else logging.WARNING,
                        "outbox %s to %s: attempt %s failed (%s)%s", message.channel,
                        message.recipient, message.attempts, error,
                        ": given up" if state == "failed" else "")

        await asyncio.gather(*(one(m) for m in claimed))
        return counts

    async def _send(self, message: OutboxMessage) -> str | None:
        try:
            await self.senders[message.channel].send(message)
        except Exception as exc:  # any failure of the channel is retried, never fatal
            return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return None

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
