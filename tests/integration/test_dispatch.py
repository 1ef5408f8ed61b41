"""The service network and ticket routing on real databases (SQLite and PostgreSQL):
stations and technicians (checks, permissions, audit), routing where a ticket is born,
a person's override, a station's refusal, the hub of last resort."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select

from crm_core import assets, dispatch, service_network, tickets
from crm_core.errors import Conflict, ValidationFailed
from crm_core.models import AuditEntry, Ticket, TicketStatusChange
from crm_core.permissions import PermissionDenied
from tests.integration.test_crm_records import NOW, World, new_customer
from tests.integration.test_crm_records import sqlite_template as sqlite_template  # noqa: F401
from tests.integration.test_crm_records import world as world  # noqa: F401

pytestmark = pytest.mark.parametrize("db_url", ["sqlite", "postgres"], indirect=True)


async def station(w: World, code: str, province: str, city: str, **kw: Any) -> int:
    values: dict[str, Any] = {"name": f"{city}服务站{code}", "name_en": f"{code} station",
                              "product_lines": ["BUS-COACH"], "capacity": 5}
    values.update(kw)
    made = await w.run(lambda s: service_network.create_station(
        s, w.admin, code=code, province=province, city=city, **values))
    return int(made["id"])


@pytest.fixture
async def net(world: World) -> AsyncIterator[World]:  # noqa: F811
    await world.run(lambda s: assets.create_product_line(
        s, world.admin, code="BUS-COACH", name="旅游客车", name_en="coaches"))
    await world.run(lambda s: assets.create_product_line(
        s, world.admin, code="PRN-LASER", name="激光打印机", name_en="laser printers"))
    yield world


async def coach_customer(w: World, name: str, province: str, city: str, site: str | None,
                         tier: int = 0) -> tuple[int, int]:
    cid = await new_customer(w, w.admin, name, province=province, city=city, vip_tier=tier)
    made = await w.run(lambda s: assets.create_asset(
        s, w.admin, cid, serial_number=f"SN-{name}", product_line="BUS-COACH", site=site,
        now=NOW))
    return cid, int(made["id"])


async def test_station_checks_permissions_and_audit(net: World) -> None:
    w = net
    sid = await station(w, "ZZ01", "河南省", "郑州市")
    got = await w.run(lambda s: service_network.get_station(s, w.agent, sid))  # tickets read
    assert got["province"] == "河南" and got["city"] == "郑州" and got["region"] == "华中"
    assert got["latitude"] == pytest.approx(34.747) and got["open"] == 0
    assert got["hours"]["mon"] == [["08:30", "17:30"]]
    with pytest.raises(PermissionDenied):
        await w.run(lambda s: service_network.create_station(
            s, w.agent, code="X1", name="x", province="河南"))
    with pytest.raises(Conflict):
        await station(w, "ZZ01", "河南", "郑州")
    for bad in ({"product_lines": ["NOPE"]}, {"province": "Atlantis"},
                {"hours": {"mon": [["18:00", "08:00"]]}}, {"covers": [{"city": "郑州"}]},
                {"region": "火星"}, {"timezone": "Mars/Base"}):
        with pytest.raises(ValidationFailed):
            await w.run(lambda s, bad=bad: service_network.update_station(s, w.admin, sid, bad))
    await w.run(lambda s: service_network.update_station(s, w.admin, sid, {"capacity": 9}))
    entries = await w.audits("service_station", sid)
    assert [e.action for e in entries] == ["create", "update"]
    assert entries[1].after == {"capacity": 9} and entries[1].before["capacity"] == 5
    tech = await w.run(lambda s: service_network.create_technician(
        s, w.admin, station_id=sid, name="张师傅", skills=["BUS-COACH", "aircon"]))
    with pytest.raises(ValidationFailed, match="skill"):
        await w.run(lambda s: service_network.create_technician(
            s, w.admin, station_id=sid, name="李师傅", skills=["juggling"]))
    with pytest.raises(ValidationFailed, match="station"):
        await w.run(lambda s: service_network.create_technician(
            s, w.admin, station_id=sid + 100, name="王师傅"))
    listed = await w.run(lambda s: service_network.list_technicians(
        s, w.admin, skill="aircon"))
    assert [t["id"] for t in listed["items"]] == [tech["id"]]
    page = await w.run(lambda s: service_network.list_stations(
        s, w.admin, product_line="BUS-COACH", province="河南"))
    assert page["total"] == 1 and page["items"][0]["code"] == "ZZ01"
    assert (await w.run(lambda s: service_network.list_stations(
        s, w.admin, product_line="PRN-LASER")))["total"] == 0


async def test_new_ticket_is_routed_with_reason_and_history(net: World) -> None:
    w = net
    near = await station(w, "ZZ01", "河南", "郑州")
    await station(w, "LY01", "河南", "洛阳", covers=[{"province": "河南"}])
    await station(w, "ZZP1", "河南", "郑州", product_lines=["PRN-LASER"])
    cid, aid = await coach_customer(w, "郑州客运", "上海", "上海", "郑州二七车场")
    made = await w.run(lambda s: tickets.create_ticket(
        s, w.agent, cid, problem="车门气泵漏气", asset_id=aid, now=NOW))
    assert made["station_id"] == near and made["status"] == "routed"  # new -> routed
    assert made["route_reason"].startswith("郑州服务站ZZ01：覆盖河南郑州，服务旅游客车，0 公里")
    assert not made["route_flagged"] and made["routed_at"]
    assert [a["code"] for a in made["route_alternatives"]] == ["LY01"]
    assert [h["kind"] for h in made["history"]] == ["status", "route"]
    route = made["history"][1]
    assert (route["from_status"], route["to_status"]) == ("new", "routed")
    assert route["data"]["station_id"] == near and route["data"]["code"] == "ZZ01"
    assert "Zhengzhou" in route["data"]["reason_en"]
    station_view = await w.run(lambda s: service_network.get_station(s, w.admin, near))
    assert station_view["open"] == 1


async def test_uncovered_goes_to_the_hub_flagged_and_refusals_reroute(net: World) -> None:
    w = net
    hub = await station(w, "HUB-HZ", "湖北", "武汉", is_hub=True)
    a = await station(w, "ZZ01", "河南", "郑州")
    b = await station(w, "ZZ02", "河南", "郑州")
    cid, aid = await coach_customer(w, "兰州客运", "甘肃", "兰州", None)
    lanzhou = await w.run(lambda s: tickets.create_ticket(
        s, w.agent, cid, problem="刹车异响", asset_id=aid, now=NOW))
    # 甘肃 is 西北: no hub there, so the nearest hub anywhere, flagged
    assert lanzhou["station_id"] == hub and lanzhou["route_flagged"]
    cid2, aid2 = await coach_customer(w, "郑州公交", "河南", "郑州", None)
    made = await w.run(lambda s: tickets.create_ticket(
        s, w.agent, cid2, problem="发动机故障", asset_id=aid2, now=NOW))
    first = made["station_id"]
    assert first in (a, b)
    refused = await w.run(lambda s: dispatch.refuse(s, w.agent, made["id"], "没有配件",
                                                    now=NOW))
    second = refused["station_id"]
    assert second in (a, b) and second != first
    again = await w.run(lambda s: dispatch.refuse(s, w.agent, made["id"], "人手不足", now=NOW))
    assert again["station_id"] == hub and again["route_flagged"]
    kinds = [h["kind"] for h in again["history"]]
    assert kinds == ["status", "route", "refusal", "route", "refusal", "route"]
    assert again["history"][2]["data"] == {"station_id": first, "code": "ZZ01" if first == a
                                           else "ZZ02", "reason": "没有配件"}
    with pytest.raises(ValidationFailed):
        await w.run(lambda s: dispatch.refuse(s, w.agent, made["id"], "  ", now=NOW))


async def test_override_by_a_person_and_at_creation(net: World) -> None:
    w = net
    a = await station(w, "ZZ01", "河南", "郑州")
    b = await station(w, "LY01", "河南", "洛阳")
    cid, aid = await coach_customer(w, "郑州客运", "河南", "郑州", None)
    made = await w.run(lambda s: tickets.create_ticket(
        s, w.agent, cid, problem="空调不制冷", asset_id=aid, now=NOW))
    assert made["station_id"] == a
    moved = await w.run(lambda s: dispatch.override(s, w.agent, made["id"], b, "客户指定洛阳站",
                                                    now=NOW))
    assert moved["station_id"] == b and moved["route_override"] == "客户指定洛阳站"
    assert moved["history"][-1]["kind"] == "override"
    with pytest.raises(ValidationFailed):
        await w.run(lambda s: dispatch.override(s, w.agent, made["id"], 99999, "x", now=NOW))
    with pytest.raises(ValidationFailed, match="override_reason"):
        await w.run(lambda s: tickets.create_ticket(
            s, w.agent, cid, problem="二次故障", category="inquiry", station_id=b, now=NOW))
    chosen = await w.run(lambda s: tickets.create_ticket(
        s, w.agent, cid, problem="咨询保养", category="inquiry", station_id=b,
        override_reason="老客户习惯洛阳站", now=NOW))
    assert chosen["station_id"] == b and [h["kind"] for h in chosen["history"]] == [
        "status", "override"]
    async with w.sm() as s:
        kinds = list(await s.scalars(select(TicketStatusChange.kind)
                                     .where(TicketStatusChange.ticket_id == chosen["id"])))
        assert kinds == ["status", "override"]
        audit_kinds = list(await s.scalars(select(AuditEntry.action).where(
            AuditEntry.entity == "ticket", AuditEntry.entity_id == str(made["id"]))))
        assert "route" in audit_kinds and "override" in audit_kinds
        assert (await s.get(Ticket, chosen["id"])) is not None


async def test_a_ticket_without_place_or_network_is_kept_and_flagged(net: World) -> None:
    w = net
    cid = await new_customer(w, w.admin, "无地址客户")
    made = await w.run(lambda s: tickets.create_ticket(s, w.agent, cid, problem="?", now=NOW))
    assert made["station_id"] is None and made["route_flagged"] and made["route_reason"]




async def test_the_demo_network_routes_the_demo_tickets(world: World) -> None:  # noqa: F811
    from crm_core.demo_data import seed_demo
    from crm_core.models import ServiceStation, Technician
    from crm_core.places import REGIONS

    created = await seed_demo(world.sm, now=NOW)
    assert 380 <= created["stations"] <= 420 and created["technicians"] >= 3 * 380
    async with world.sm() as s:
        hubs = list(await s.scalars(select(ServiceStation.region).where(ServiceStation.is_hub)))
        assert sorted(hubs) == sorted(REGIONS)
        provinces = set(await s.scalars(select(ServiceStation.province)))
        assert len(provinces) >= 30
        assert await s.scalar(select(Technician.id).limit(1)) is not None
        # the coach with the broken door pump in 郑州 (asset site 郑州服务站) goes to 郑州
        routed = (await s.execute(
            select(Ticket.route_reason, ServiceStation.city, ServiceStation.product_lines)
            .join(ServiceStation, ServiceStation.id == Ticket.station_id)
            .where(Ticket.problem == "空调压缩机异响(过保有偿)"))).one()
        assert routed.city == "郑州" and "BUS-COACH" in routed.product_lines
        assert routed.route_reason.startswith("郑州")
        unrouted = await s.scalar(select(Ticket.id).where(
            Ticket.status.in_(tickets.OPEN_STATUSES), Ticket.routed_at.is_(None)))
        assert unrouted is None
    again = await seed_demo(world.sm, now=NOW)
    assert again["stations"] == 0 and again["technicians"] == 0


async def test_open_load_is_counted_up_to_a_limit(net: World) -> None:
    w = net
    sid = await station(w, "ZZ01", "河南", "郑州", capacity=1)
    cid, _ = await coach_customer(w, "郑州客运", "河南", "郑州", None)
    for i in range(3):
        await w.run(lambda s, i=i: tickets.create_ticket(s, w.agent, cid, problem=f"p{i}",
                                                         category="inquiry", now=NOW))
    counted = await w.run(lambda s: service_network.open_counts_upto(s, {sid: 2, 999: 5}))
    assert counted == {sid: 2, 999: 0}
    exact = await w.run(lambda s: service_network.open_counts(s, [sid]))
    assert exact == {sid: 3}
    assert dispatch.count_limit(1) == 20 and dispatch.count_limit(30) == 60
