"""Mail to customer groups on SQLite and PostgreSQL (issue 18 item 4): a filter's customers
are resolved in batches and queued through the outbox, the worker delivers over real
SMTP (a local aiosmtpd server) and through the SMS gateway (a local aiohttp one);
customers without an address are skipped and listed, an unsubscribe link stops every
later mailing, a permanent SMTP refusal is a bounce, and the creator's scope bounds the
group."""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from agent_console.api.routing import SESSIONMAKER
from agent_console.unsubscribe import add_unsubscribe
from crm_core import mailings
from crm_core.db import make_engine, upgrade_async
from crm_core.errors import NotFound, ValidationFailed
from crm_core.models import (
    Asset,
    AuditEntry,
    Contact,
    Customer,
    Mailing,
    MailingOptOut,
    MailingRecipient,
    OutboxMessage,
    PhoneNumber,
    ProductLine,
    Subscription,
    User,
)
from crm_core.permissions import Actor, PermissionDenied
from hotline.outbox_worker import HttpSmsGateway, OutboxConfig, OutboxWorker, SmtpSender

Maker = async_sessionmaker[AsyncSession]
NOW = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
LINKS = mailings.Links(b"s" * 32, "https://hotline.example.com")
ADMIN = Actor(user_id=None, username="admin", is_admin=True)
HOSTILE = '<img src=x onerror="alert(1)">书店'


@pytest.fixture
async def maker(db_url: str) -> AsyncIterator[Maker]:
    await upgrade_async(db_url)
    engine: AsyncEngine = make_engine(db_url)
    yield async_sessionmaker(engine, expire_on_commit=False)
    await engine.dispose()


class Mailbox:
    """Takes every mail but refuses (550) the mailboxes named ``nobody@...``."""

    def __init__(self) -> None:
        self.messages: list[Envelope] = []

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        if address.startswith("nobody@"):
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.messages.append(envelope)
        return "250 OK"

    def texts(self) -> dict[str, str]:
        out = {}
        for e in self.messages:
            msg = email.message_from_bytes(e.original_content or b"", policy=email.policy.default)
            out[e.rcpt_tos[0]] = msg.get_body().get_content()  # type: ignore[union-attr]
        return out


@pytest.fixture
async def smtp() -> AsyncIterator[tuple[Mailbox, int]]:
    box = Mailbox()
    server = await asyncio.get_running_loop().create_server(
        lambda: SMTP(box, hostname="hotline.test"), "127.0.0.1", 0)
    yield box, server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()


@dataclass
class Gateway:
    received: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""


@pytest.fixture
async def gateway() -> AsyncIterator[Gateway]:
    gw = Gateway()

    async def sms(request: web.Request) -> web.Response:
        gw.received.append(await request.json())
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/sms", sms)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    gw.url = f"http://127.0.0.1:{runner.addresses[0][1]}/sms"
    yield gw
    await runner.cleanup()


def worker(maker: Maker, smtp_port: int | None = None, gateway_url: str | None = None
           ) -> OutboxWorker:
    senders: dict[str, Any] = {}
    if smtp_port:
        senders["email"] = SmtpSender("127.0.0.1", smtp_port, sender="hotline@example.com",
                                      tls="none", timeout=5)
    if gateway_url:
        senders["sms"] = HttpSmsGateway(gateway_url, timeout=5)
    return OutboxWorker(maker, senders, OutboxConfig(max_attempts=3, backoff_s=0, batch=50,
                                                     mailing_batches=50),
                        clock=lambda: NOW, name="w1", mailing_links=LINKS)


@dataclass
class World:
    ids: dict[str, int]
    manager: Actor


async def seed(maker: Maker) -> World:
    """Customers in 北京 (printers) and 广东; who has which contact, email and mobile."""
    ids: dict[str, int] = {}
    async with maker.begin() as db:
        boss = User(username="mgr", display_name="经理", password_hash="x")
        printers = ProductLine(code="printer", name="打印机")
        db.add_all([boss, printers])
        await db.flush()

        async def customer(key: str, province: str, *, email: str | None = None,
                           mobile: str | None = None, printer: bool = True, owned: bool = False,
                           name: str | None = None, vip: int = 0) -> None:
            c = Customer(name=name or f"客户{key}", province=province, vip_tier=vip,
                         owner_id=boss.id if owned else None)
            db.add(c)
            await db.flush()
            ids[key] = c.id
            contact = Contact(customer_id=c.id, name=f"联系人{key}", email=email)
            db.add(contact)
            await db.flush()
            if mobile:
                db.add(PhoneNumber(customer_id=c.id, contact_id=contact.id,
                                   number_e164=mobile, raw=mobile, kind="mobile"))
            if printer:
                db.add(Asset(customer_id=c.id, product_line_id=printers.id,
                             serial_number=f"SN-{key}"))

        await customer("a", "北京", email="A@Example.com ", mobile="+8613800000001", owned=True,
                       name=HOSTILE, vip=2)
        await customer("b", "北京", email="b@example.com", mobile="+8613800000002")
        await customer("c", "北京")  # no email, no mobile: skipped
        await customer("d", "北京", email="nobody@example.com", mobile="+8613800000004")
        await customer("e", "北京", email="e@example.com", printer=False)  # not the group
        await customer("f", "广东", email="f@example.com")  # not the group
        await customer("g", "北京", email="not-an-address", mobile="+8613800000007")
        db.add(Subscription(customer_id=ids["b"], title="维保", start_date=date(2026, 1, 1),
                            end_date=date(2027, 1, 1), status="active"))
    manager = Actor(user_id=boss.id, username="mgr", grants={
        ("mailings", op): "own" for op in ("read", "create", "update")})
    return World(ids, manager)


GROUP = {"province": "北京", "product_line": "printer"}


async def make(maker: Maker, actor: Actor = ADMIN, *, channel: str = "email",
               group: dict[str, Any] | None = None, first_batch: int = 2) -> dict[str, Any]:
    async with maker.begin() as db:
        return await mailings.create_mailing(
            db, actor, LINKS, name="新书目录", channel=channel,
            raw_filter=GROUP if group is None else group,
            subject="2027 年外文新书目录" if channel == "email" else None,
            body="尊敬的客户：附上新书目录。", first_batch=first_batch)


async def statuses(maker: Maker, mailing_id: int) -> dict[int, str]:
    async with maker() as db:
        page = await mailings.recipients(db, ADMIN, mailing_id, limit=200)
    return {r["customer_id"]: r["status"] for r in page["items"]}


async def test_an_email_reaches_the_group_in_batches_over_real_smtp(
        maker: Maker, smtp: tuple[Mailbox, int]) -> None:
    world = await seed(maker)
    box, port = smtp
    async with maker() as db:
        seen = await mailings.preview(db, ADMIN, "email", GROUP)
    # a, b, c, d, g are printer customers in 北京; c has no email, g's is no address
    assert seen == {"customers": 5, "reachable": 3, "no_address": 2, "opted_out": 0}
    made = await make(maker)  # the first batch (2 customers) queued with the mailing
    assert made["state"] == "queueing" and made["total"] == 2
    w = worker(maker, port)
    try:
        await w.run_once()  # the worker queues the other batches, then sends
        await w.run_once()
    finally:
        await w.close()
    ids = world.ids
    assert await statuses(maker, made["id"]) == {
        ids["a"]: "sent", ids["b"]: "sent", ids["c"]: "skipped", ids["d"]: "bounced",
        ids["g"]: "skipped"}
    texts = box.texts()
    assert sorted(texts) == ["a@example.com", "b@example.com"]  # trimmed, lower-case
    link = re.search(r"https://hotline\.example\.com/unsubscribe\?t=(\S+)", texts["b@example.com"])
    assert link and "新书目录" in texts["b@example.com"]
    assert LINKS.read(link.group(1)) == (made["id"], ids["b"])
    async with maker() as db:
        one = await mailings.get_mailing(db, ADMIN, made["id"])
        assert one["state"] == "queued" and one["counts"] == {
            "queued": 0, "sent": 2, "failed": 0, "bounced": 1, "unsubscribed": 0,
            "skipped": 2}
        skipped = await mailings.recipients(db, ADMIN, made["id"], status="skipped")
        assert {r["reason"] for r in skipped["items"]} == {"no-address"}
        # the 550 was not retried: failed at once, the address suppressed for good
        refused = await db.scalar(select(OutboxMessage).where(
            OutboxMessage.recipient == "nobody@example.com"))
        assert refused is not None and (refused.state, refused.attempts) == ("failed", 1)
        assert await db.scalar(select(MailingOptOut.reason).where(
            MailingOptOut.address == "nobody@example.com")) == "bounced"
        assert await db.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.entity == "mailing", AuditEntry.action == "create")) == 1


async def test_an_unsubscribed_address_is_never_mailed_again(
        maker: Maker, smtp: tuple[Mailbox, int]) -> None:
    world = await seed(maker)
    box, port = smtp
    first = await make(maker, first_batch=100)
    async with maker.begin() as db:
        assert await mailings.unsubscribe(db, LINKS, LINKS.token(first["id"], 999)) is None
        forged = LINKS.token(first["id"], world.ids["b"])[:-2] + "xx"
        assert await mailings.unsubscribe(db, LINKS, forged) is None
        done = await mailings.unsubscribe(db, LINKS, LINKS.token(first["id"], world.ids["a"]))
    assert done and done["address"] == "a@example.com"
    w = worker(maker, port)
    try:
        await w.run_once()
        second = await make(maker, first_batch=100)  # a later mailing to the same group
        await w.run_once()
    finally:
        await w.close()
    # unsubscribed before the worker sent it: its pending message was cancelled
    assert [e.rcpt_tos for e in box.messages] == [["b@example.com"], ["b@example.com"]]
    assert (await statuses(maker, first["id"]))[world.ids["a"]] == "unsubscribed"
    later = await statuses(maker, second["id"])
    assert later[world.ids["a"]] == "unsubscribed" and later[world.ids["b"]] == "sent"
    async with maker() as db:
        row = await db.scalar(select(MailingRecipient).where(
            MailingRecipient.mailing_id == second["id"],
            MailingRecipient.customer_id == world.ids["a"]))
        assert row is not None and row.reason == "opted-out" and row.event_key is None


async def test_the_unsubscribe_page_asks_then_unsubscribes_in_both_languages(
        maker: Maker) -> None:
    world = await seed(maker)
    made = await make(maker, first_batch=100)
    app = web.Application()
    app[SESSIONMAKER] = maker
    add_unsubscribe(app, LINKS)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}/unsubscribe"
    token = LINKS.token(made["id"], world.ids["b"])
    try:
        async with aiohttp.ClientSession() as http:
            resp = await http.get(base, params={"t": token, "lang": "en"})
            page = await resp.text()
            assert resp.status == 200 and "Stop sending our mailings to b@example.com" in page
            assert "script" not in page and "'self'" in resp.headers["Content-Security-Policy"]
            async with maker() as db:  # asking changed nothing
                assert await db.scalar(select(func.count()).select_from(MailingOptOut)) == 0
            resp = await http.post(base + "?lang=zh-CN", data={"t": token})
            assert resp.status == 200 and "已退订" in await resp.text()
            resp = await http.get(base, params={"t": token},
                                  headers={"Accept-Language": "zh-CN,zh;q=0.9"})
            assert "已经退订" in await resp.text()
            resp = await http.get(base, params={"t": token[:-3] + "abc", "lang": "en"})
            assert resp.status == 404 and "not valid" in await resp.text()
            resp = await http.get(base, params={"t": '"><script>x</script>', "lang": "en"})
            assert resp.status == 404 and "<script>" not in await resp.text()
    finally:
        await runner.cleanup()
    async with maker() as db:
        assert await db.scalar(select(MailingOptOut.address)) == "b@example.com"
        assert (await statuses(maker, made["id"]))[world.ids["b"]] == "unsubscribed"


async def test_an_sms_goes_through_the_gateway_and_honours_opt_outs(
        maker: Maker, gateway: Gateway) -> None:
    world = await seed(maker)
    async with maker.begin() as db:
        added = await mailings.opt_out(db, world.manager, channel="sms",
                                       address="+8613800000002")
        assert added["added"]
    async with maker() as db:
        seen = await mailings.preview(db, ADMIN, "sms", GROUP)
        assert seen == {"customers": 5, "reachable": 3, "no_address": 1, "opted_out": 1}
    made = await make(maker, channel="sms", first_batch=100)
    w = worker(maker, gateway_url=gateway.url)
    try:
        await w.run_once()
    finally:
        await w.close()
    ids = world.ids
    assert await statuses(maker, made["id"]) == {
        ids["a"]: "sent", ids["b"]: "unsubscribed", ids["c"]: "skipped", ids["d"]: "sent",
        ids["g"]: "sent"}
    assert sorted(m["to"] for m in gateway.received) == [
        "+8613800000001", "+8613800000004", "+8613800000007"]
    assert all(m["text"] == "尊敬的客户：附上新书目录。 回TD退订" for m in gateway.received)


async def test_a_bounce_reported_later_is_recorded_by_message_id(
        maker: Maker, smtp: tuple[Mailbox, int]) -> None:
    world = await seed(maker)
    box, port = smtp
    made = await make(maker, first_batch=100)
    w = worker(maker, port)
    try:
        await w.run_once()
    finally:
        await w.close()
    sent = next(e for e in box.messages if e.rcpt_tos == ["b@example.com"])
    msg = email.message_from_bytes(sent.original_content or b"", policy=email.policy.default)
    async with maker.begin() as db:
        out = await mailings.record_bounce(db, world.manager, message_id=str(msg["Message-ID"]),
                                           address=None, reason="550 mailbox full for good")
        assert out["event_key"] == f"mailing:{made['id']}:{world.ids['b']}"
    async with maker() as db:
        page = await mailings.recipients(db, ADMIN, made["id"], status="bounced")
        reasons = {r["customer_id"]: r["reason"] for r in page["items"]}
        assert reasons.pop(world.ids["b"]) == "550 mailbox full for good"
        assert list(reasons) == [world.ids["d"]] and "550" in reasons[world.ids["d"]]
        with pytest.raises(NotFound):
            await mailings.record_bounce(db, world.manager, message_id="<x@elsewhere>",
                                         address="stranger@example.com", reason="550")


async def test_the_group_stays_within_the_creators_scope_and_filter(maker: Maker) -> None:
    world = await seed(maker)
    async with maker() as db:
        seen = await mailings.preview(db, world.manager, "email", {})
        assert seen["customers"] == 1  # the manager owns a only
        tier = await mailings.preview(db, ADMIN, "email", {"vip_tier_min": 1})
        assert tier["customers"] == 1
        active = await mailings.preview(db, ADMIN, "email", {"subscription": "active"})
        assert active["customers"] == 1
        with pytest.raises(ValidationFailed):
            await mailings.preview(db, ADMIN, "email", {"colour": "red"})
        with pytest.raises(PermissionDenied):
            await mailings.preview(db, Actor(user_id=world.manager.user_id), "email", {})
    made = await make(maker, world.manager, group={})
    assert made["total"] == 1 and made["state"] == "queued"
    async with maker() as db:
        mine = await mailings.list_mailings(db, world.manager)
        assert [m["id"] for m in mine["items"]] == [made["id"]]
        other = Actor(user_id=world.manager.user_id + 1000, grants={
            ("mailings", "read"): "own"})
        assert (await mailings.list_mailings(db, other))["items"] == []


async def test_a_batch_is_queued_once_by_two_workers(maker: Maker) -> None:
    await seed(maker)
    made = await make(maker, first_batch=1)
    async with maker() as db:
        stale = await db.get(Mailing, made["id"])
    assert stale is not None
    async with maker.begin() as db:
        assert await mailings.queue_due(db, LINKS, size=2) == 2  # the cursor moved
    async with maker.begin() as db:
        db.add(stale)  # a second worker that read the mailing before
        assert await mailings.queue_batch(db, stale, LINKS, 2) == 0
    async with maker.begin() as db:
        while await mailings.queue_due(db, LINKS, size=2):
            pass
    async with maker() as db:
        rows = await db.scalar(select(func.count()).select_from(MailingRecipient))
        msgs = await db.scalar(select(func.count()).select_from(OutboxMessage))
    assert (rows, msgs) == (5, 3)


async def test_the_demo_mailing_is_resolved_by_the_worker(maker: Maker, gateway: Gateway
                                                          ) -> None:
    from crm_core.demo_data import seed_demo

    created = await seed_demo(maker)
    assert created["mailings"] == 1 and (await seed_demo(maker))["mailings"] == 0
    w = worker(maker, gateway_url=gateway.url)
    try:
        await w.run_once()
    finally:
        await w.close()
    async with maker() as db:
        mailing_id = await db.scalar(select(Mailing.id))
        one = await mailings.get_mailing(db, ADMIN, mailing_id)
    # wang.lei's customers with an active contract, each texted on a mobile or skipped
    assert one["state"] == "queued" and one["total"] > 0
    ours = [m for m in gateway.received if "续约" in m["text"]]  # not the tickets' SMS
    assert one["counts"]["sent"] == len(ours) > 0
    assert one["counts"]["sent"] + one["counts"]["skipped"] == one["total"]
