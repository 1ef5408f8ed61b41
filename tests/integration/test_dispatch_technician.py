"""Routing gives a new ticket its technician, by skill and open load, on SQLite and
PostgreSQL: the station's qualified technician on duty with the least open tickets, in
the decision's sentence and the ticket's history (an ``assign`` row, no move); none
qualifies: the ticket stays with no technician and the decision says so."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from crm_core import dispatch, service_network, ticket_moves, tickets
from crm_core.models import AuditEntry, Ticket
from crm_core.permissions import Actor
from tests.integration.test_crm_records import NOW, World
from tests.integration.test_crm_records import sqlite_template as sqlite_template  # noqa: F401
from tests.integration.test_crm_records import world as world  # noqa: F401
from tests.integration.test_dispatch import coach_customer, station
from tests.integration.test_dispatch import net as net  # noqa: F401

pytestmark = pytest.mark.parametrize("db_url", ["sqlite", "postgres"], indirect=True)


async def technician(w: World, sid: int, name: str, *skills: str, **kw: Any) -> int:
    made = await w.run(lambda s: service_network.create_technician(
        s, w.admin, station_id=sid, name=name, skills=list(skills), **kw))
    return int(made["id"])


async def test_a_new_ticket_gets_the_least_loaded_skilled_technician(net: World) -> None:  # noqa: F811
    w = net
    sid = await station(w, "ZZ01", "河南", "郑州", capacity=20)
    other = await station(w, "LY01", "河南", "洛阳")
    busy = await technician(w, sid, "李师傅", "BUS-COACH", "electrical")
    free = await technician(w, sid, "王师傅", "BUS-COACH", "electrical")
    await technician(w, sid, "赵师傅", "PRN-LASER", "electrical")  # not coaches
    await technician(w, sid, "钱师傅", "BUS-COACH", "electrical", on_duty=False)
    await technician(w, other, "孙师傅", "BUS-COACH", "electrical")  # another station
    cid, aid = await coach_customer(w, "郑州客运", "河南", "郑州", None)
    # 李师傅 already has an open ticket (a person gave it to him)
    first = await w.run(lambda s: tickets.create_ticket(
        s, w.agent, cid, problem="咨询", category="inquiry", now=NOW))
    assert first["station_id"] == sid
    await w.run(lambda s: ticket_moves.assign(s, w.admin, first["id"], busy, now=NOW))
    made = await w.run(lambda s: tickets.create_ticket(
        s, w.agent, cid, problem="仪表盘无电", asset_id=aid, category="电气", now=NOW))
    assert made["station_id"] == sid and made["technician_id"] == free
    assert made["status"] == "routed"  # assigned, not accepted: the station still accepts
    assert made["route_reason"].endswith("；技师 王师傅：旅游客车、电气，在办 0 单")
    kinds = [h["kind"] for h in made["history"]]
    assert kinds == ["status", "route", "assign"]
    route, assign = made["history"][1], made["history"][2]
    assert route["data"]["reason_en"].endswith("; technician 王师傅: coaches, electrical, 0 open")
    assert route["data"]["technician"]["technician_id"] == free
    assert (assign["from_status"], assign["to_status"]) == ("routed", "routed")
    assert assign["data"]["technician_id"] == free and assign["data"]["auto"] is True
    assert assign["data"]["name"] == "王师傅"
    # a second fault of the coach: 王师傅 and 李师傅 have one open each now; 李 sorts first
    again = await w.run(lambda s: tickets.create_ticket(
        s, w.agent, cid, problem="车灯不亮", asset_id=aid, category="电气", force=True,
        now=NOW))
    assert again["technician_id"] == busy
    # no product line: electrical alone, and 赵师傅 (printers, electrical) is idle
    call = await w.run(lambda s: tickets.create_ticket(
        s, w.agent, cid, problem="电路咨询", category="electrical", now=NOW))
    assert call["technician_id"] not in (busy, free)
    assert call["route_reason"].endswith("技师 赵师傅：电气，在办 0 单")
    async with w.sm() as s:
        actions = list(await s.scalars(select(AuditEntry.action).where(
            AuditEntry.entity == "ticket", AuditEntry.entity_id == str(made["id"]))))
        assert "assign" in actions
    # the technician sees his ticket (scope technician) and may accept it
    me = Actor(user_id=None, username="wang", technician_id=free, station_id=sid,
               grants={("tickets", "read"): "technician"})
    assert (await w.run(lambda s: tickets.get_ticket(s, me, made["id"])))["id"] == made["id"]


async def test_no_qualified_technician_the_station_assigns_by_hand(net: World) -> None:  # noqa: F811
    w = net
    sid = await station(w, "ZZ01", "河南", "郑州")
    await technician(w, sid, "赵师傅", "PRN-LASER")
    await technician(w, sid, "钱师傅", "BUS-COACH", on_duty=False)
    cid, aid = await coach_customer(w, "郑州客运", "河南", "郑州", None)
    made = await w.run(lambda s: tickets.create_ticket(
        s, w.agent, cid, problem="刹车异响", asset_id=aid, now=NOW))
    assert made["station_id"] == sid and made["technician_id"] is None
    assert made["route_reason"].endswith("；无具备旅游客车技能的技师在岗：由服务站人工指派")
    assert [h["kind"] for h in made["history"]] == ["status", "route"]
    assert made["history"][1]["data"]["reason_en"].endswith(
        "; no technician on duty with coaches: the station assigns by hand")


async def test_a_refusal_or_an_override_picks_the_new_station_technician(net: World) -> None:  # noqa: F811
    w = net
    a = await station(w, "ZZ01", "河南", "郑州")
    b = await station(w, "LY01", "河南", "洛阳", covers=[{"province": "河南"}])
    ta = await technician(w, a, "王师傅", "BUS-COACH")
    tb = await technician(w, b, "李师傅", "BUS-COACH")
    cid, aid = await coach_customer(w, "郑州客运", "河南", "郑州", None)
    made = await w.run(lambda s: tickets.create_ticket(
        s, w.agent, cid, problem="发动机故障", asset_id=aid, now=NOW))
    assert (made["station_id"], made["technician_id"]) == (a, ta)
    refused = await w.run(lambda s: dispatch.refuse(s, w.agent, made["id"], "没有配件",
                                                    now=NOW))
    assert (refused["station_id"], refused["technician_id"]) == (b, tb)
    moved = await w.run(lambda s: dispatch.override(s, w.agent, made["id"], a, "客户要求",
                                                    now=NOW))
    assert (moved["station_id"], moved["technician_id"]) == (a, ta)
    assert moved["history"][-1]["kind"] == "assign"
    async with w.sm() as s:
        row = await s.get(Ticket, made["id"])
        assert row is not None and row.technician_id == ta


async def test_routing_sees_station_and_technician_changes_at_once(net: World) -> None:  # noqa: F811
    """Routing keeps the network in memory (crm_core.network_cache): a change made by
    the services or by a plain statement is seen by the very next ticket."""
    from sqlalchemy import update

    from crm_core.models import ServiceStation

    w = net
    a = await station(w, "ZZ01", "河南", "郑州")
    b = await station(w, "LY01", "河南", "洛阳", covers=[{"province": "河南"}])
    tb = await technician(w, b, "李师傅", "BUS-COACH")
    cid, _ = await coach_customer(w, "郑州客运", "河南", "郑州", None)

    async def route() -> tuple[int | None, int | None]:
        made = await w.run(lambda s: tickets.create_ticket(
            s, w.agent, cid, problem="咨询", category="inquiry", now=NOW))
        return made["station_id"], made["technician_id"]

    assert await route() == (a, None)  # ZZ01 has nobody on duty
    await w.run(lambda s: service_network.update_station(s, w.admin, a, {"active": False}))
    assert await route() == (b, tb)
    await w.run(lambda s: service_network.update_technician(s, w.admin, tb,
                                                            {"on_duty": False}))
    assert await route() == (b, None)
    await w.run(lambda s: s.execute(update(ServiceStation).where(ServiceStation.id == a)
                                    .values(active=True)))
    assert await route() == (a, None)
