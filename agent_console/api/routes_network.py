"""The service network and the routing of tickets: stations, technicians, a person's
override of a ticket's route, a station's refusal.

Rules: every handler calls one service (``crm_core.service_network``,
``crm_core.dispatch``), which owns validation, permissions and audit; the bodies give
the types (the OpenAPI document), PATCH passes only the fields sent.
"""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field, StrictBool

from agent_console.api.routing import Call, Routes
from agent_console.api.schemas import MAX_ID, Body, Id, IdPath, Out, Page, PageQuery, Text
from crm_core import dispatch, service_network


class Record(Out):
    model_config = ConfigDict(extra="allow")
    id: int


class Cover(Body):
    province: Text = Field(min_length=1, max_length=50)
    city: Text | None = Field(default=None, max_length=50)


class StationPatch(Body):
    code: Text | None = Field(default=None, min_length=1, max_length=40,
                              pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
    name: Text | None = Field(default=None, min_length=1, max_length=200,
                              description="zh-CN name, e.g. 郑州服务站")
    name_en: Text | None = Field(default=None, max_length=200)
    province: Text | None = Field(default=None, max_length=50, description="河南, 河南省 or Henan")
    city: Text | None = Field(default=None, max_length=50)
    district: Text | None = Field(default=None, max_length=50)
    address: Text | None = Field(default=None, max_length=500)
    latitude: float | None = Field(default=None, ge=3, le=54,
                                   description="default: the city's centre")
    longitude: float | None = Field(default=None, ge=73, le=136)
    phones: list[Text] | None = Field(default=None, max_length=10)
    product_lines: list[Text] | None = Field(default=None, max_length=50,
                                             description="product line codes it serves")
    covers: list[Cover] | None = Field(default=None, max_length=200,
                                       description="places beyond its own city; a province "
                                                   "alone covers all its cities")
    capacity: int | None = Field(default=None, ge=0, le=100_000,
                                 description="open tickets it can carry")
    timezone: Text | None = Field(default=None, max_length=64)
    hours: dict[str, list[list[Text]]] | None = Field(
        default=None, description='working hours: {"mon": [["08:30", "17:30"]], ...}')
    calendar: Text | None = Field(default=None, max_length=40)
    is_hub: StrictBool | None = None
    region: Text | None = Field(default=None, max_length=10,
                                description="华北 东北 华东 华中 华南 西南 西北")
    manager_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    regional_manager_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    email: Text | None = Field(default=None, max_length=200)
    active: StrictBool | None = None


class StationIn(StationPatch):
    code: Text = Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
    name: Text = Field(min_length=1, max_length=200, description="zh-CN name")
    province: Text = Field(min_length=1, max_length=50)


class StationList(PageQuery):
    q: Text | None = Field(default=None, max_length=100, description="code or name fragment")
    province: Text | None = Field(default=None, max_length=50)
    region: Text | None = Field(default=None, max_length=10)
    product_line: Text | None = Field(default=None, max_length=40)
    active: bool | None = None
    is_hub: bool | None = None


class TechnicianPatch(Body):
    station_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    name: Text | None = Field(default=None, min_length=1, max_length=100)
    skills: list[Text] | None = Field(default=None, max_length=30,
                                      description="product line codes or trades")
    phone: Text | None = Field(default=None, max_length=40)
    user_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    on_duty: StrictBool | None = None
    active: StrictBool | None = None


class TechnicianIn(TechnicianPatch):
    station_id: Id
    name: Text = Field(min_length=1, max_length=100)


class TechnicianList(PageQuery):
    station_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    skill: Text | None = Field(default=None, max_length=40)
    on_duty: bool | None = None


class RouteIn(Body):
    station_id: Id
    reason: Text = Field(min_length=1, max_length=1000,
                         description="why a person chose this station")


class RefuseIn(Body):
    reason: Text = Field(min_length=1, max_length=1000, description="why the station refuses")


def _sent(call: Call) -> dict[str, Any]:
    data: dict[str, Any] = call.body.model_dump(exclude_unset=True)
    return data


async def list_stations(call: Call) -> Any:
    q: StationList = call.query
    return await service_network.list_stations(
        call.db, call.me, q=q.q, province=q.province, region=q.region,
        product_line=q.product_line, active=q.active, is_hub=q.is_hub, limit=q.limit,
        offset=q.offset)


async def create_station(call: Call) -> Any:
    return await service_network.create_station(call.db, call.me, **_sent(call))


async def get_station(call: Call) -> Any:
    return await service_network.get_station(call.db, call.me, call.path.id)


async def update_station(call: Call) -> Any:
    return await service_network.update_station(call.db, call.me, call.path.id, _sent(call))


async def list_technicians(call: Call) -> Any:
    q: TechnicianList = call.query
    return await service_network.list_technicians(
        call.db, call.me, station_id=q.station_id, skill=q.skill, on_duty=q.on_duty,
        limit=q.limit, offset=q.offset)


async def create_technician(call: Call) -> Any:
    return await service_network.create_technician(call.db, call.me, **_sent(call))


async def get_technician(call: Call) -> Any:
    return await service_network.get_technician(call.db, call.me, call.path.id)


async def update_technician(call: Call) -> Any:
    return await service_network.update_technician(call.db, call.me, call.path.id,
                                                   _sent(call))


async def route_ticket(call: Call) -> Any:
    body: RouteIn = call.body
    return await dispatch.override(call.db, call.me, call.path.id, body.station_id, body.reason)


def add_routes(routes: Routes) -> None:
    tag = "service network"
    routes.add("GET", "/stations", list_stations, tag=tag, query_model=StationList,
               response_model=Page[Record],
               summary="Service stations with their open load (needs stations or tickets "
                       "read)")
    routes.add("POST", "/stations", create_station, tag=tag, body_model=StationIn,
               response_model=Record, status=201,
               summary="Add a service station (needs stations:create)")
    routes.add("GET", "/stations/{id}", get_station, tag=tag, path_model=IdPath,
               response_model=Record, summary="A station, its open load and technicians")
    routes.add("PATCH", "/stations/{id}", update_station, tag=tag, path_model=IdPath,
               body_model=StationPatch, response_model=Record,
               summary="Change a station (needs stations:update)")
    routes.add("GET", "/technicians", list_technicians, tag=tag, query_model=TechnicianList,
               response_model=Page[Record], summary="Technicians (by station, skill, duty)")
    routes.add("POST", "/technicians", create_technician, tag=tag, body_model=TechnicianIn,
               response_model=Record, status=201,
               summary="Add a technician to a station (needs stations:create)")
    routes.add("GET", "/technicians/{id}", get_technician, tag=tag, path_model=IdPath,
               response_model=Record, summary="A technician")
    routes.add("PATCH", "/technicians/{id}", update_technician, tag=tag, path_model=IdPath,
               body_model=TechnicianPatch, response_model=Record,
               summary="Change a technician (needs stations:update)")
    routes.add("POST", "/tickets/{id}/route", route_ticket, tag="tickets", path_model=IdPath,
               body_model=RouteIn, response_model=Record,
               summary="Route a ticket to a station a person chose, with the reason "
                       "(history: override)")
