"""The ticket page's read (``GET /tickets/{id}/page``, issue 15 item 6) over the REST
API, on SQLite and PostgreSQL: a ticket routed, refused and routed again, warned and
escalated by the SLA sweep, then accepted, on site and resolved, reads back with its
timeline in time order (who did each step), its clocks (met late, met) and its repair
record; a hostile customer name comes back as data; the ticket's own station's staff
reads it, another station's staff and an agent outside the scope get a 404, a role
without ``tickets:read`` a 403."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from crm_core import dispatch, outbox, sla, ticket_moves
from crm_core.models import User
from crm_core.permissions import SYSTEM, load_actor
from crm_core.tickets import create_ticket
from crm_core.users import ensure_roles
from tests.integration.network_support import Network, seed_network
from tests.integration.test_api_support import (
    FAST_HASHER,
    PASSWORD,
    Api,
    role_with_grants,
    running_api,
    signed_in,
)

# Wednesday 2026-11-25 09:00 in Shanghai: inside the default business hours
T0 = datetime(2026, 11, 25, 1, 0, tzinfo=UTC)
HOSTILE = '<img src=x onerror=alert(1)>客运'


@pytest.fixture
async def api(db_url: str) -> AsyncIterator[tuple[Api, Network]]:
    async with running_api(db_url) as running:
        async with running.sessionmaker.begin() as db:
            await ensure_roles(db)
            net = await seed_network(db, password_hash=FAST_HASHER.hash(PASSWORD),
                                     customer_name=HOSTILE)
            await sla.seed_policies(db)
            reader = await role_with_grants(db, "reporter", {("reports", "read"): "all"})
            db.add(User(username="reporter", display_name="报表员", role_id=reader,
                        password_hash=FAST_HASHER.hash(PASSWORD)))
        yield running, net


async def worked_ticket(api: Api, net: Network) -> int:
    """A repair ticket's life at fixed times: routed by a person to ZZ-001, refused there
    (routed again by the rules), sent back to ZZ-001 by hand, warned and breached on its
    acceptance, accepted, on site, resolved with its repair record."""
    async with api.sessionmaker.begin() as db:
        staff = await load_actor(db, net.staff)
        assert staff is not None
        made = await create_ticket(db, SYSTEM, net.customer, problem="刹车异响 <script>",
                                   asset_id=net.asset, contact_id=net.contact,
                                   category="repair", station_id=net.station,
                                   override_reason="客户指定郑州站", now=T0)
        tid = int(made["id"])
        await ticket_moves.refuse(db, staff, tid, "缺少配件 <b>x</b>",
                                  now=T0 + timedelta(minutes=5))
        await dispatch.override(db, SYSTEM, tid, net.station, "只有郑州站有工装",
                                now=T0 + timedelta(minutes=10))
        # the acceptance (2 business hours from 09:10) warns at 10:46, is due at 11:10;
        # kept at its station to read an escalation (the re-route of a station that did
        # not accept in time is test_unanswered's)
        await sla.sweep(db, T0 + timedelta(minutes=110), reroute=False)
        await sla.sweep(db, T0 + timedelta(minutes=135), reroute=False)
        await ticket_moves.act(db, staff, tid, "accept", now=T0 + timedelta(minutes=140))
        await ticket_moves.act(db, staff, tid, "on_site", now=T0 + timedelta(minutes=200))
        await ticket_moves.resolve(db, staff, tid, {
            "fault": "刹车片磨损", "cause": "到期", "action": "更换刹车片",
            "parts": [{"part": "刹车片 ZK-BP12", "qty": 4}], "labour_hours": "1.5",
            "serial_checked": True}, now=T0 + timedelta(minutes=260))
        return tid


def kinds(page: dict[str, Any]) -> list[str]:
    return [e.get("kind") or e["entry"] for e in page["timeline"] if e["entry"] == "step"]


async def test_the_page_reads_the_whole_life_of_a_ticket(api: tuple[Api, Network]) -> None:
    running, net = api
    tid = await worked_ticket(running, net)
    async with signed_in(running, "admin") as admin:
        resp = await admin.get(f"/tickets/{tid}/page")
        assert resp.status == 200, await resp.text()
        page = await resp.json()
    assert page["customer_name"] == HOSTILE and page["serial_number"] == "LZYT-0001"
    assert page["station_code"] == "ZZ-001" and page["status"] == "resolved"
    assert page["route_override"] == "只有郑州站有工装"
    assert "chosen by a person" in page["route_reason_en"]
    steps = [e for e in page["timeline"] if e["entry"] == "step"]
    times = [e["at"] for e in steps]
    assert times == sorted(times, key=datetime.fromisoformat)
    assert [k for k in kinds(page) if k not in ("sla-start", "sla-pause", "sla-resume")] == [
        "status", "override", "refusal", "route", "override", "sla-warning", "escalation",
        "status", "status", "repair", "status"]
    refusal = next(e for e in steps if e["kind"] == "refusal")
    assert refusal["note"] == "缺少配件 <b>x</b>" and refusal["by_name"] == "郑州站 staff"
    assert next(e for e in steps if e["kind"] == "sla-warning")["by_name"] is None
    clocks = {c["target"]: c for c in page["sla_clocks"]}
    assert clocks["accept"]["state"] == "met_late" and clocks["accept"]["seconds"] < 0
    assert clocks["accept"]["level"] == 1
    assert clocks["resolve"]["state"] == "met" and clocks["resolve"]["seconds"] > 0
    record = page["repair_record"]
    assert record["parts"] == [{"part": "刹车片 ZK-BP12", "qty": 4}]
    assert record["labour_hours"] == "1.50" and record["serial_checked"] is True
    assert record["first_time_fix"] is True
    # the notifications queued (the station has no address: none), and who may route
    assert isinstance(page["messages"], list)
    assert page["sla_policy"] and page["vip_tier"] == 0


async def test_the_page_keeps_to_the_readers_scope(api: tuple[Api, Network]) -> None:
    running, net = api
    tid = await worked_ticket(running, net)
    async with signed_in(running, "zz.staff") as staff:
        assert (await staff.get(f"/tickets/{tid}/page")).status == 200
        noted = await staff.post(f"/tickets/{tid}/notes", json={"note": "回访 <i>ok</i>"})
        assert noted.status == 201, await noted.text()
        page = await (await staff.get(f"/tickets/{tid}/page")).json()
        assert page["timeline"][-1]["kind"] == "note"
        assert page["timeline"][-1]["note"] == "回访 <i>ok</i>"
    async with signed_in(running, "sh.staff") as other:
        assert (await other.get(f"/tickets/{tid}/page")).status == 404
    async with signed_in(running, "agent") as agent:  # tickets of their own customers only
        assert (await agent.get(f"/tickets/{tid}/page")).status == 404
    async with signed_in(running, "reporter") as reporter:
        refused = await reporter.get(f"/tickets/{tid}/page")
        assert refused.status == 403
    async with signed_in(running, "admin") as admin:
        assert (await admin.get("/tickets/999999/page")).status == 404
        assert (await admin.get("/tickets/x/page")).status in (404, 422)


async def test_station_staff_see_that_a_message_went_not_to_whom(
        api: tuple[Api, Network]) -> None:
    running, net = api
    tid = await worked_ticket(running, net)
    async with running.sessionmaker.begin() as db:  # the chain's director was told by SMS
        assert await outbox.enqueue(db, f"sla:{tid}:resolve:1", "sms", "13900001111", None,
                                    "工单超时", ticket_id=tid)
    async with signed_in(running, "admin") as admin:
        page = await (await admin.get(f"/tickets/{tid}/page")).json()
        assert "13900001111" in [m["recipient"] for m in page["messages"]]
        told = len(page["messages"])
    async with signed_in(running, "zz.staff") as staff:
        page = await (await staff.get(f"/tickets/{tid}/page")).json()
        assert len(page["messages"]) == told
        assert ("sla", "sms") in [(m["event"], m["channel"]) for m in page["messages"]]
        assert all(m["recipient"] is None for m in page["messages"])
        told = [e for e in page["timeline"] if e["entry"] == "message"]
        assert told and all(e["recipient"] is None for e in told)
