"""The notification outbox on SQLite and PostgreSQL: an event queued twice is one
message; the worker sends email over real SMTP (a local aiosmtpd server) and SMS
through an HTTP gateway (a local aiohttp one that fails when told), retries with
backoff, gives up after its attempts, and two workers send each message once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from crm_core.db import make_engine, upgrade_async
from crm_core.models import OutboxMessage
from crm_core.outbox import backoff, enqueue
from hotline.outbox_worker import HttpSmsGateway, OutboxConfig, OutboxWorker, SmtpSender

Maker = async_sessionmaker[AsyncSession]
# the fake clock runs a day ahead of the real one: every message queued (next_at = the real
# now) is due to it, however long after this module was imported the test runs
NOW = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)


@pytest.fixture
async def maker(db_url: str) -> AsyncIterator[Maker]:
    await upgrade_async(db_url)
    engine: AsyncEngine = make_engine(db_url)
    yield async_sessionmaker(engine, expire_on_commit=False)
    await engine.dispose()


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[Envelope] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.messages.append(envelope)
        return "250 OK"


@pytest.fixture
async def smtp() -> AsyncIterator[tuple[Mailbox, int]]:
    box = Mailbox()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(box, hostname="hotline.test"),
                                      "127.0.0.1", 0)
    yield box, server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()


@dataclass
class Gateway:
    fail: int = 0
    received: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""


@pytest.fixture
async def gateway() -> AsyncIterator[Gateway]:
    gw = Gateway()

    async def sms(request: web.Request) -> web.Response:
        body = await request.json()
        if gw.fail > 0:
            gw.fail -= 1
            return web.Response(status=503, text="carrier busy")
        gw.received.append(body)
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/sms", sms)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    gw.url = f"http://127.0.0.1:{port}/sms"
    yield gw
    await runner.cleanup()


async def queue(maker: Maker, key: str, channel: str, to: str, body: str = "工单 T1") -> bool:
    async with maker.begin() as s:
        return await enqueue(s, key, channel, to, "主题 T1", body)


async def rows(maker: Maker) -> list[OutboxMessage]:
    async with maker() as s:
        return list((await s.execute(select(OutboxMessage).order_by(OutboxMessage.id)))
                    .scalars())


def worker(maker: Maker, smtp_port: int | None, gateway_url: str | None, *,
           max_attempts: int = 3, backoff_s: float = 0.0, name: str = "w1",
           clock: Any = None) -> OutboxWorker:
    senders: dict[str, Any] = {}
    if smtp_port:
        senders["email"] = SmtpSender("127.0.0.1", smtp_port, sender="hotline@example.com",
                                      tls="none", timeout=5)
    if gateway_url:
        senders["sms"] = HttpSmsGateway(gateway_url, timeout=5)
    return OutboxWorker(maker, senders, OutboxConfig(max_attempts=max_attempts,
                                                     backoff_s=backoff_s, batch=10),
                        name=name, **({"clock": clock} if clock else {}))


async def test_an_event_queued_twice_is_one_message(maker: Maker) -> None:
    assert await queue(maker, "sla:1:accept:1:email:a@x", "email", "a@x")
    assert not await queue(maker, "sla:1:accept:1:email:a@x", "email", "a@x", "again")
    assert [(m.body, m.state) for m in await rows(maker)] == [("工单 T1", "pending")]
    with pytest.raises(ValueError, match="unknown channel"):
        await queue(maker, "k", "fax", "a@x")


async def test_email_over_smtp_and_sms_through_the_gateway(
        maker: Maker, smtp: tuple[Mailbox, int], gateway: Gateway) -> None:
    box, port = smtp
    await queue(maker, "e1", "email", "zhang@example.com", "工单 T20260302-0001 超时")
    await queue(maker, "s1", "sms", "+8613800000000", "工单 T20260302-0001 超时")
    w = worker(maker, port, gateway.url)
    try:
        assert (await w.run_once())["sent"] == 2
    finally:
        await w.close()
    assert [e.rcpt_tos for e in box.messages] == [["zhang@example.com"]]
    assert b"T20260302-0001" in (box.messages[0].original_content or b"")
    assert gateway.received == [{"to": "+8613800000000", "text": "工单 T20260302-0001 超时"}]
    assert {(m.state, m.attempts) for m in await rows(maker)} == {("sent", 1)}


async def test_a_failing_gateway_is_retried_with_backoff_then_given_up(
        maker: Maker, gateway: Gateway) -> None:
    now = [NOW]
    await queue(maker, "s1", "sms", "+8613800000000")
    gateway.fail = 2
    w = worker(maker, None, gateway.url, max_attempts=4, backoff_s=60, clock=lambda: now[0])
    try:
        assert (await w.run_once())["retry"] == 1
        (m,) = await rows(maker)
        assert (m.state, m.attempts, m.next_at) == ("pending", 1, NOW + timedelta(seconds=60))
        assert "503" in (m.last_error or "")
        assert (await w.run_once())["claimed"] == 0  # not due yet
        now[0] = NOW + timedelta(seconds=60)
        assert (await w.run_once())["retry"] == 1
        (m,) = await rows(maker)
        assert m.next_at == now[0] + timedelta(seconds=120)  # doubled
        now[0] += timedelta(seconds=120)
        assert (await w.run_once())["sent"] == 1
        assert len(gateway.received) == 1
        # a gateway that never answers well: failed after max_attempts, with the reason
        await queue(maker, "s2", "sms", "+8613800000001")
        gateway.fail = 100
        for _ in range(4):
            now[0] += timedelta(hours=7)
            await w.run_once()
        m = (await rows(maker))[1]
        assert (m.state, m.attempts) == ("failed", 4)
        assert "carrier busy" in (m.last_error or "")
    finally:
        await w.close()
    assert backoff(30, 30.0) == timedelta(hours=6)  # capped


async def test_unreachable_smtp_is_a_retry_not_a_crash(maker: Maker) -> None:
    await queue(maker, "e1", "email", "zhang@example.com")
    w = worker(maker, 1, None)  # nothing listens on port 1
    try:
        assert (await w.run_once())["retry"] == 1
    finally:
        await w.close()
    (m,) = await rows(maker)
    assert m.state == "pending" and m.last_error


async def test_two_workers_send_each_message_once(maker: Maker, gateway: Gateway) -> None:
    for n in range(25):
        await queue(maker, f"s{n}", "sms", f"+86138000000{n:02d}")
    a, b = worker(maker, None, gateway.url, name="a"), worker(maker, None, gateway.url, name="b")
    try:
        for _ in range(4):
            await asyncio.gather(a.run_once(), b.run_once())
    finally:
        await a.close()
        await b.close()
    assert sorted(r["to"] for r in gateway.received) == sorted(
        f"+86138000000{n:02d}" for n in range(25))
    assert {m.state for m in await rows(maker)} == {"sent"}


async def test_a_channel_without_a_sender_waits(maker: Maker, gateway: Gateway) -> None:
    await queue(maker, "e1", "email", "zhang@example.com")
    w = worker(maker, None, gateway.url)
    try:
        assert (await w.run_once())["claimed"] == 0
    finally:
        await w.close()
    assert [m.state for m in await rows(maker)] == ["pending"]


async def test_the_customers_sms_goes_to_the_tickets_contact_else_the_customers_own_mobile(
        maker: Maker) -> None:
    """``notifications.customer_mobile`` (read on every routed ticket): the ticket's
    contact's mobile first; without a contact the customer's own (no contact), even when
    a contact's number was stored first; landlines are skipped."""
    from crm_core.models import Contact, Customer, PhoneNumber, Ticket
    from crm_core.notifications import customer_mobile

    async with maker.begin() as s:
        c = Customer(name="客户", name_key="客户")
        s.add(c)
        await s.flush()
        li, wang = Contact(customer_id=c.id, name="李"), Contact(customer_id=c.id, name="王")
        s.add_all([li, wang])
        await s.flush()
        s.add_all([
            PhoneNumber(customer_id=c.id, contact_id=li.id, number_e164="+8613800000001",
                        raw="1", kind="mobile"),
            PhoneNumber(customer_id=c.id, number_e164="+862155551234", raw="2", kind="landline"),
            PhoneNumber(customer_id=c.id, number_e164="+8613900000002", raw="3", kind="mobile"),
        ])
        await s.flush()
        # wang has no number of his own: the first mobile stored, as ever
        of = {None: "+8613900000002", li.id: "+8613800000001", wang.id: "+8613800000001"}
        for contact_id, expected in of.items():
            ticket = Ticket(number="T1", customer_id=c.id, contact_id=contact_id, problem="x")
            assert await customer_mobile(s, ticket) == expected, contact_id
