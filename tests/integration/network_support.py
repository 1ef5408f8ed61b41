"""A small service network for the lifecycle tests: two stations, their staff logins
(role station), two technicians of the first (one with a login, role technician), one
of the second, and a customer with a contact, a phone number and an asset."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.models import (
    Asset,
    Contact,
    Customer,
    PhoneNumber,
    ServiceStation,
    StationUser,
    Technician,
    Ticket,
    User,
)
from crm_core.permissions import SYSTEM
from crm_core.tickets import move
from crm_core.users import ensure_roles


@dataclass
class Network:
    station: int  # ZZ-001
    other_station: int  # SH-002
    staff: int  # user of ZZ-001 (role station)
    other_staff: int  # user of SH-002
    tech_user: int  # user of role technician: technician ``tech``
    tech: int  # a technician of ZZ-001, with a login
    tech2: int  # another technician of ZZ-001, without one
    foreign_tech: int  # a technician of SH-002
    customer: int
    contact: int
    asset: int


async def seed_network(db: AsyncSession, *, password_hash: str | None = None,
                       customer_name: str = "郑州客运总站") -> Network:
    roles = await ensure_roles(db)
    stations = [ServiceStation(code=code, name=name, name_en=en, province=prov, city=city,
                               phones=[], product_lines=["BUS-COACH"], covers=[], hours={})
                for code, name, en, prov, city in (
                    ("ZZ-001", "郑州服务站", "Zhengzhou station", "河南", "郑州"),
                    ("SH-002", "上海服务站", "Shanghai station", "上海", "上海"))]
    db.add_all(stations)
    await db.flush()
    users = [User(username=name, display_name=display, role_id=roles[role],
                  password_hash=password_hash, language=lang)
             for name, display, role, lang in (
                 ("zz.staff", "郑州站 staff", "station", "zh-CN"),
                 ("sh.staff", "上海站 staff", "station", "en"),
                 ("zz.tech", "张师傅", "technician", "zh-CN"))]
    db.add_all(users)
    await db.flush()
    db.add_all([StationUser(user_id=users[0].id, station_id=stations[0].id),
                StationUser(user_id=users[1].id, station_id=stations[1].id)])
    # ZZ-001's two are off duty: routing gives them nothing (crm_core.technician_rules),
    # the station assigns by hand, and a technician sees a ticket once assigned
    techs = [Technician(station_id=stations[0].id, user_id=users[2].id, name="张师傅",
                        skills=["BUS-COACH"], on_duty=False),
             Technician(station_id=stations[0].id, name="李师傅", skills=[], on_duty=False),
             Technician(station_id=stations[1].id, name="王师傅", skills=[])]
    db.add_all(techs)
    customer = Customer(name=customer_name, province="河南", city="郑州",
                        address="郑州市二七区大学路 1 号")
    db.add(customer)
    await db.flush()
    contact = Contact(customer_id=customer.id, name="刘站长")
    db.add(contact)
    await db.flush()
    db.add(PhoneNumber(customer_id=customer.id, contact_id=contact.id,
                       number_e164="+8613700000001", raw="137 0000 0001"))
    asset = Asset(customer_id=customer.id, model="ZK6122H", serial_number="LZYT-0001",
                  site="郑州东站停车场")
    db.add(asset)
    await db.flush()
    return Network(stations[0].id, stations[1].id, users[0].id, users[1].id, users[2].id,
                   techs[0].id, techs[1].id, techs[2].id, customer.id, contact.id, asset.id)


async def route_to(db: AsyncSession, ticket_id: int, station_id: int, at: datetime) -> None:
    """What ``crm_core.dispatch`` does when it routes: name the station, move to routed."""
    ticket = await db.get(Ticket, ticket_id)
    assert ticket is not None
    if ticket.status == "routed" and ticket.station_id == station_id:
        return  # the rules sent it there already, when it was created
    ticket.station_id = station_id
    ticket.routed_at = at
    await move(db, SYSTEM, ticket, "routed", at=at, kind="route",
               data={"station_id": station_id})
