"""Late supplier batches (issue 18 item 2) on SQLite and PostgreSQL: a batch that
threatens an order's due date, or is past its expected day, is on its salesman's list
(and not on another salesman's); the customer is told through the outbox when the batch
slips or is dispatched, and by the daily sweep when it is overdue, once per event."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import select

from crm_core import late_batches, order_notices, orders
from crm_core.models import Contact, OutboxMessage, SalesOrder
from tests.integration.test_crm_orders import NOW, World, library, world  # noqa: F401
from tests.integration.test_crm_records import sqlite_template  # noqa: F401


def at(day: date) -> datetime:
    return NOW + timedelta(days=(day - NOW.date()).days)


async def outbox(w: World) -> list[tuple[str, str, str]]:
    async with w.sm() as s:
        rows = (await s.execute(select(OutboxMessage.event_key, OutboxMessage.channel,
                                       OutboxMessage.body).order_by(OutboxMessage.id))).all()
    return [(k, c, b) for k, c, b in rows]


async def test_late_batches_listed_and_customers_told_once(world: World) -> None:  # noqa: F811
    w = world
    cid = await library(w)  # alice's, with the mobile 13900139000
    async with w.sm.begin() as s:
        s.add(Contact(customer_id=cid, name="钱文", email="qianwen@example.edu"))
    await w.run(lambda s: orders.add_supplier(s, w.admin, code="SPRINGER", name="施普林格",
                                              name_en="Springer"))
    order = await w.run(lambda s: orders.create_order(
        s, w.alice, cid, number="SO-LATE-1", due_date="2026-07-01", now=NOW,
        lines=[{"title": "Analysis I", "ref": "9789811072543", "supplier": "SPRINGER"}]))
    springer = await w.run(lambda s: orders.supplier_by_code(s, "SPRINGER"))
    assert springer is not None
    batch = await w.run(lambda s: orders.group_lines(s, w.admin, springer.id, code="SPR-9",
                                                     now=NOW))
    assert batch["expected_on"] == "2026-08-07"  # 67 usual days: after the July 1 due date

    mine = await w.run(lambda s: late_batches.late_batches(s, w.alice, now=NOW))
    assert [(i["number"], i["batch_code"], i["threatens_due"], i["overdue_days"])
            for i in mine["items"]] == [("SO-LATE-1", "SPR-9", True, 0)]
    assert mine["items"][0]["supplier_en"] == "Springer"
    theirs = await w.run(lambda s: late_batches.late_batches(s, w.bob, now=NOW))
    assert theirs["items"] == []
    assert await outbox(w) == []  # grouped: nothing to tell yet

    # shipped early: an earlier forecast (August 2), nothing told
    await w.run(lambda s: orders.update_stage(s, w.admin, "SPR-9", "shipped", "2026-06-10",
                                              now=at(date(2026, 6, 10))))
    assert await outbox(w) == []
    # customs two months later: the forecast slips, the customer is told (email + SMS)
    moved = await w.run(lambda s: orders.update_stage(
        s, w.admin, "SPR-9", "customs", "2026-08-20", now=at(date(2026, 8, 20))))
    assert moved["expected_on"] == "2026-09-07"
    told = await outbox(w)
    assert sorted(c for _, c, _ in told) == ["email", "sms"]
    key, _, body = told[0]
    assert key.startswith(f"order-batch:{batch['id']}:slip:2026-09-07:{order['id']}:")
    assert "SO-LATE-1" in body and "2026-09-07" in body and "延迟" in body
    assert "delayed" in body and "施普林格 (Springer)" in body
    # the same update again (a re-imported file): no change, nothing more told
    await w.run(lambda s: orders.update_stage(s, w.admin, "SPR-9", "customs", "2026-08-20",
                                              now=at(date(2026, 8, 21))))
    assert len(await outbox(w)) == 2

    # dispatched: told once more
    await w.run(lambda s: orders.update_stage(s, w.admin, "SPR-9", "dispatched",
                                              "2026-08-28", now=at(date(2026, 8, 28))))
    told = await outbox(w)
    dispatched = [(k, c) for k, c, _ in told if ":dispatched:" in k]
    assert sorted(c for _, c in dispatched) == ["email", "sms"]
    assert {r for _, c, r in [(k, c, k.rsplit(":", 1)[-1]) for k, c in dispatched]} == {
        "qianwen@example.edu", "+8613900139000"}

    # past its expected day: on the list as overdue, and the daily sweep tells it once
    async with w.sm() as s:
        expected = (await orders.find_batch(s, "SPR-9")).expected_on  # type: ignore[union-attr]
    later = expected + timedelta(days=4)
    listed = await w.run(lambda s: late_batches.late_batches(s, w.alice, now=at(later)))
    assert listed["items"][0]["overdue_days"] == 4
    for _ in range(2):
        swept = await w.run(lambda s: order_notices.tell_overdue(s, later))
        assert swept == 1
    overdue = [k for k, _, _ in await outbox(w) if ":overdue:" in k]
    assert len(overdue) == 2  # email and SMS, once
    # delivered, or the order closed: no longer late, nobody told
    await w.run(lambda s: orders.update_stage(s, w.admin, "SPR-9", "delivered",
                                              later.isoformat(), now=at(later)))
    assert (await w.run(lambda s: late_batches.late_batches(
        s, w.alice, now=at(later))))["items"] == []
    async with w.sm.begin() as s:
        so = await s.get(SalesOrder, order["id"])
        assert so is not None
        so.status = "closed"
    assert await w.run(lambda s: order_notices.recipients(s, batch["id"])) == []
