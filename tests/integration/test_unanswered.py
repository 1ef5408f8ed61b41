"""A station that stops answering loses the ticket (crm_core.unanswered), on SQLite and
PostgreSQL: the SLA sweep that breaches the accept target escalates AND routes the ticket
again to the next best station (history ``timeout`` then ``route``, the first station
told, the clock restarted there); a station that let it pass is left out next time; with
no station left the ticket stays, flagged; an accepted ticket is left alone."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from crm_core import dispatch, sla, ticket_moves, tickets
from crm_core.models import OutboxMessage, Ticket, TicketStatusChange, as_utc
from crm_core.permissions import SYSTEM
from tests.integration.test_crm_records import NOW, World
from tests.integration.test_crm_records import sqlite_template as sqlite_template  # noqa: F401
from tests.integration.test_crm_records import world as world  # noqa: F401
from tests.integration.test_dispatch import coach_customer, station
from tests.integration.test_dispatch import net as net  # noqa: F401

pytestmark = pytest.mark.parametrize("db_url", ["sqlite", "postgres"], indirect=True)

TWO_DAYS = NOW + timedelta(days=2)  # 2026-11-27 10:00 Shanghai, a Friday: past every step


async def history(w: World, tid: int) -> list[tuple[str, Any]]:
    async with w.sm() as s:
        rows = await s.execute(select(TicketStatusChange.kind, TicketStatusChange.data)
                               .where(TicketStatusChange.ticket_id == tid)
                               .order_by(TicketStatusChange.id))
        return [(k, d) for k, d in rows.all()]


async def ticket(w: World, tid: int) -> Ticket:
    async with w.sm() as s:
        row = await s.get(Ticket, tid)
        assert row is not None
        return row


async def urgent_coach(w: World) -> int:
    await w.run(sla.seed_policies)
    cid, aid = await coach_customer(w, "郑州客运", "河南", "郑州", None)
    made = await w.run(lambda s: tickets.create_ticket(
        s, w.agent, cid, problem="抛锚", asset_id=aid, priority="urgent", category="repair",
        now=NOW))
    return int(made["id"])


async def test_a_station_that_does_not_accept_in_time_loses_the_ticket(net: World) -> None:  # noqa: F811
    w = net
    a = await station(w, "ZZ01", "河南", "郑州", email="zz01@example.com")
    b = await station(w, "LY01", "河南", "洛阳", covers=[{"province": "河南"}])
    tid = await urgent_coach(w)
    first = await ticket(w, tid)
    assert first.station_id == a and first.accept_due is not None
    # before the accept due: nothing moves
    early = await w.run(lambda s: sla.sweep(s, NOW + timedelta(minutes=5)))
    assert early.unanswered == [] and (await ticket(w, tid)).station_id == a
    swept = await w.run(lambda s: sla.sweep(s, TWO_DAYS))
    assert swept.unanswered == [tid] and swept.rerouted == 1 and swept.escalations >= 1
    now = await ticket(w, tid)
    assert now.station_id == b and now.status == "routed" and now.accepted_at is None
    # the clock starts afresh at the new station, from the sweep
    assert now.sla_state == "ok" and now.escalation_level == 0
    assert now.routed_at is not None and now.accept_due is not None
    assert as_utc(now.accept_due) > TWO_DAYS
    kinds = [k for k, _ in await history(w, tid)]
    breach = kinds.index("escalation")
    assert kinds[breach:].count("timeout") == 1
    after = kinds[kinds.index("timeout"):]
    assert after[:2] == ["timeout", "route"] and "sla-start" in after
    timeout = next(d for k, d in await history(w, tid) if k == "timeout")
    assert timeout["station_id"] == a and timeout["code"] == "ZZ01"
    assert timeout["reason"] == "服务站未按时接单"
    assert timeout["reason_en"] == "station did not answer in time"
    async with w.sm() as s:
        told = list(await s.scalars(select(OutboxMessage.body).where(
            OutboxMessage.event_key == f"unanswered:{tid}:{a}:email:zz01@example.com")))
    assert len(told) == 1 and "已改派" in told[0]
    # the station that let it pass is left out, like one that refused
    assert await w.run(lambda s: dispatch.passed_stations(s, tid)) == {a}


async def test_no_station_left_keeps_it_flagged_and_refusals_skip_the_silent(
    net: World,  # noqa: F811
) -> None:
    w = net
    a = await station(w, "ZZ01", "河南", "郑州")
    b = await station(w, "LY01", "河南", "洛阳", covers=[{"province": "河南"}])
    tid = await urgent_coach(w)
    await w.run(lambda s: sla.sweep(s, TWO_DAYS))
    assert (await ticket(w, tid)).station_id == b
    # LY01 is silent too: nobody else covers 郑州 and there is no hub: kept, flagged
    later = await w.run(lambda s: sla.sweep(s, TWO_DAYS + timedelta(days=5)))
    assert later.unanswered == [tid] and later.rerouted == 0
    kept = await ticket(w, tid)
    assert kept.station_id == b and kept.route_flagged and kept.status == "routed"
    last = [d for k, d in await history(w, tid) if k == "timeout"][-1]
    assert last["kept"] is True and last["station_id"] == b
    assert await w.run(lambda s: dispatch.passed_stations(s, tid)) == {a}
    # a ticket whose station refused after another timed out goes to neither
    tid2 = await urgent_coach_again(w)
    await w.run(lambda s: sla.sweep(s, TWO_DAYS))
    assert (await ticket(w, tid2)).station_id == b
    refused = await w.run(lambda s: dispatch.refuse(s, w.agent, tid2, "无配件",
                                                    now=TWO_DAYS))
    assert refused["station_id"] is None and refused["route_flagged"]


async def urgent_coach_again(w: World) -> int:
    cid = await w.run(lambda s: s.scalar(select(Ticket.customer_id).limit(1)))
    asset = await w.run(lambda s: s.scalar(select(Ticket.asset_id).limit(1)))
    made = await w.run(lambda s: tickets.create_ticket(
        s, w.agent, cid, problem="又抛锚", asset_id=asset, priority="urgent",
        category="repair", force=True, now=NOW))
    return int(made["id"])


async def test_an_accepted_ticket_stays_and_the_sweep_may_leave_it(net: World) -> None:  # noqa: F811
    w = net
    a = await station(w, "ZZ01", "河南", "郑州")
    await station(w, "LY01", "河南", "洛阳", covers=[{"province": "河南"}])
    accepted = await urgent_coach(w)
    await w.run(lambda s: ticket_moves.act(s, SYSTEM, accepted, "accept",
                                           now=NOW + timedelta(minutes=1)))
    silent = await urgent_coach_again(w)
    swept = await w.run(lambda s: sla.sweep(s, TWO_DAYS, reroute=False))
    # without re-routing the breach only escalates (as before)
    assert silent in swept.unanswered and accepted not in swept.unanswered
    assert swept.rerouted == 0 and (await ticket(w, silent)).station_id == a
    assert (await ticket(w, accepted)).station_id == a
