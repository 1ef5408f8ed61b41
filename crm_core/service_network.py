"""The service network as data: service stations and their technicians (issue 15).

Rules:
- module ``stations``: writing needs ``stations`` create/update (administrators by
  default); reading needs ``stations`` read OR ``tickets`` read (whoever sees tickets
  sees where they are routed, and an agent overriding a route must pick a station);
- a station: ``code`` unique (letters, digits, ``-``/``_``), names zh (required) and en,
  a known province (``numbering.regions``: "河南省" is stored "河南"), city, latitude
  and longitude (in China's range; taken from the city's centre, ``crm_core.places``,
  when not given), the product line codes it serves (each in the catalogue), the places
  it ``covers`` beyond its own city (``[{"province", "city"?}]``), capacity (open
  tickets it can carry), working hours (``{"mon": [["08:30", "17:30"]], ...}``) in its
  time zone, a holiday calendar, a hub flag and its service region (default: its
  province's);
- a technician: a station, a name, skills (product line codes of the catalogue, or
  ``TRADES``), phone, on duty;
- the checks are pure (``clean_station``, ``clean_technician``, given the catalogue)
  and shared with the network import (``crm_core.network_import``);
- every write is audited (entity ``service_station`` / ``technician``); nothing here
  commits.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Integer, Text, bindparam, cast, func, literal, or_, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.audit import audit, changes, snapshot
from crm_core.errors import Conflict, NotFound, ValidationFailed
from crm_core.models import ProductLine, ServiceStation, Technician, Ticket, User
from crm_core.permissions import Actor, PermissionDenied, require, scope_for
from crm_core.places import REGIONS, clean_city, coordinates, region_of
from crm_core.records import (
    DEFAULT_PAGE,
    check_fields,
    check_page,
    integer,
    is_id,
    optional_id,
    page,
    paginate,
    required_text,
    text,
    to_dict,
)
from crm_core.technician_rules import TRADE_CODES as TRADE_CODES
from crm_core.technician_rules import TRADES as TRADES
from numbering.regions import province_key

MODULE = "stations"
CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$")
DEFAULT_HOURS: dict[str, Any] = {d: [["08:30", "17:30"]] for d in DAYS[:5]} | {
    "sat": [["09:00", "12:00"]]}
STATION_FIELDS = (
    "code", "name", "name_en", "province", "city", "district", "address", "latitude",
    "longitude", "phones", "product_lines", "covers", "capacity", "timezone", "hours",
    "calendar", "is_hub", "region", "manager_id", "regional_manager_id", "email", "active",
)
TECHNICIAN_FIELDS = ("station_id", "user_id", "name", "skills", "phone", "on_duty", "active")


# --- permissions ---------------------------------------------------------------------


def may_read(actor: Actor) -> bool:
    return scope_for(actor, MODULE, "read") is not None or \
        scope_for(actor, "tickets", "read") is not None


def require_read(actor: Actor) -> None:
    if not may_read(actor):
        raise PermissionDenied(MODULE, "read")


# --- checks (pure, given the catalogue) --------------------------------------------------


def _bool(value: object, field: str) -> bool:
    if not isinstance(value, bool):
        raise ValidationFailed(field, "must be true or false")
    return value


def _number(value: object, field: str, low: float, high: float) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationFailed(field, "must be a number")
    if not low <= float(value) <= high:
        raise ValidationFailed(field, f"must be in {low}..{high}")
    return float(value)


def _texts(value: object, field: str, *, max_items: int = 20, max_len: int = 40) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list | tuple) or len(value) > max_items:
        raise ValidationFailed(field, f"a list of at most {max_items} strings")
    out: list[str] = []
    for i, item in enumerate(value):
        cleaned = text(item, f"{field}[{i}]", max_len=max_len)
        if cleaned and cleaned not in out:
            out.append(cleaned)
    return out


def province(value: object, field: str = "province", *, required: bool = False) -> str | None:
    raw = text(value, field, required=required, max_len=50)
    if raw is None:
        return None
    key = province_key(raw)
    if key is None:
        raise ValidationFailed(field, "not a province of China (e.g. 河南, 河南省, Henan)")
    return key


def clean_covers(value: object) -> list[dict[str, str]]:
    """``[{"province", "city"?}]`` with provinces folded to their short names."""
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > 200:
        raise ValidationFailed("covers", 'a list of {"province", "city"} (at most 200)')
    out: list[dict[str, str]] = []
    for i, entry in enumerate(value):
        if not isinstance(entry, Mapping) or set(entry) - {"province", "city"}:
            raise ValidationFailed(f"covers[{i}]", 'an object {"province", "city"?}')
        prov = province(entry.get("province"), f"covers[{i}].province", required=True)
        city = clean_city(text(entry.get("city"), f"covers[{i}].city", max_len=50))
        item = {"province": prov or ""} | ({"city": city} if city else {})
        if item not in out:
            out.append(item)
    return out


def clean_hours(value: object) -> dict[str, list[list[str]]]:
    """Working hours per weekday: ``{"mon": [["08:30", "12:00"], ["13:00", "17:30"]]}``."""
    if value is None:
        return {k: [list(p) for p in v] for k, v in DEFAULT_HOURS.items()}
    if not isinstance(value, Mapping):
        raise ValidationFailed("hours", 'an object {"mon": [["08:30", "17:30"]], ...}')
    out: dict[str, list[list[str]]] = {}
    for day, spans in value.items():
        if day not in DAYS:
            raise ValidationFailed(f"hours.{day}", f"a weekday: {', '.join(DAYS)}")
        if not isinstance(spans, list) or len(spans) > 6:
            raise ValidationFailed(f"hours.{day}", 'a list of ["HH:MM", "HH:MM"]')
        clean: list[list[str]] = []
        for span in spans:
            if (not isinstance(span, list | tuple) or len(span) != 2
                    or not all(isinstance(t, str) and _HHMM.match(t) for t in span)
                    or span[0] >= span[1]):
                raise ValidationFailed(f"hours.{day}", 'each span ["HH:MM", "HH:MM"], '
                                                       "start before end")
            clean.append([span[0], span[1]])
        out[day] = sorted(clean)
    return out


def _timezone(value: object) -> str:
    name = text(value, "timezone", max_len=64) or "Asia/Shanghai"
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationFailed("timezone", "not a time zone (e.g. Asia/Shanghai)") from None
    return name


def clean_station(
    data: Mapping[str, Any], lines: Collection[str], *, partial: bool = False
) -> dict[str, Any]:
    """The checked column values of a station from ``data`` (only the keys given when
    ``partial``); ``lines``: the product line codes of the catalogue."""
    check_fields(data, STATION_FIELDS)
    out: dict[str, Any] = {}

    def given(key: str) -> bool:
        return key in data or not partial

    if given("code"):
        code = required_text(data.get("code"), "code", max_len=40)
        if not CODE.match(code):
            raise ValidationFailed("code", "letters, digits, - and _ (at most 40)")
        out["code"] = code
    if given("name"):
        out["name"] = required_text(data.get("name"), "name", max_len=200)
    for key, size in (("name_en", 200), ("district", 50), ("address", 500),
                      ("email", 200), ("calendar", 40)):
        if given(key):
            out[key] = text(data.get(key), key, max_len=size)
    if out.get("email") and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", out["email"]):
        raise ValidationFailed("email", "not an email address")
    if given("calendar"):
        out["calendar"] = out.get("calendar") or "CN"
    if given("province"):
        out["province"] = province(data.get("province"), required=not partial)
    if given("city"):
        out["city"] = clean_city(text(data.get("city"), "city", max_len=50))
    if given("latitude"):
        out["latitude"] = _number(data.get("latitude"), "latitude", 3.0, 54.0)
    if given("longitude"):
        out["longitude"] = _number(data.get("longitude"), "longitude", 73.0, 136.0)
    if given("phones"):
        out["phones"] = _texts(data.get("phones"), "phones", max_items=10)
    if given("product_lines"):
        codes = _texts(data.get("product_lines"), "product_lines", max_items=50)
        unknown = [c for c in codes if c not in lines]
        if unknown:
            raise ValidationFailed("product_lines", f"unknown product line {unknown[0]!r}")
        out["product_lines"] = codes
    if given("covers"):
        out["covers"] = clean_covers(data.get("covers"))
    if given("capacity"):
        cap = data.get("capacity", 20)
        out["capacity"] = integer(20 if cap is None else cap, "capacity", low=0, high=100_000)
    if given("timezone"):
        out["timezone"] = _timezone(data.get("timezone"))
    if given("hours"):
        out["hours"] = clean_hours(data.get("hours"))
    for key, default in (("is_hub", False), ("active", True)):
        if given(key):
            value = data.get(key, default)
            out[key] = _bool(default if value is None else value, key)
    if given("region"):
        region = text(data.get("region"), "region", max_len=10)
        if region is not None and region not in REGIONS:
            raise ValidationFailed("region", f"one of {', '.join(REGIONS)}")
        out["region"] = region
    for key in ("manager_id", "regional_manager_id"):
        if given(key):
            out[key] = optional_id(data.get(key), key)
    return out


def complete_station(values: dict[str, Any]) -> dict[str, Any]:
    """Fill what follows from the rest: the region of the province, the coordinates of
    the city's centre."""
    if values.get("region") is None:
        values["region"] = region_of(values.get("province"))
    if values.get("latitude") is None or values.get("longitude") is None:
        point = coordinates(values.get("province"), values.get("city"))
        if point is not None:
            values["latitude"], values["longitude"] = point
    return values


def clean_skills(value: object, lines: Collection[str]) -> list[str]:
    skills = _texts(value, "skills", max_items=30)
    for skill in skills:
        if skill not in lines and skill not in TRADE_CODES:
            raise ValidationFailed("skills", f"unknown skill {skill!r} (a product line code "
                                             f"or one of {', '.join(TRADE_CODES)})")
    return skills


def clean_technician(
    data: Mapping[str, Any], lines: Collection[str], *, partial: bool = False
) -> dict[str, Any]:
    """The checked column values of a technician (``station_id`` is checked to be an id;
    that the station exists is the caller's)."""
    check_fields(data, TECHNICIAN_FIELDS)
    out: dict[str, Any] = {}

    def given(key: str) -> bool:
        return key in data or not partial

    if given("station_id"):
        sid = optional_id(data.get("station_id"), "station_id")
        if sid is None:
            raise ValidationFailed("station_id", "is required")
        out["station_id"] = sid
    if given("name"):
        out["name"] = required_text(data.get("name"), "name", max_len=100)
    if given("skills"):
        out["skills"] = clean_skills(data.get("skills"), lines)
    if given("phone"):
        out["phone"] = text(data.get("phone"), "phone", max_len=40)
    if given("user_id"):
        out["user_id"] = optional_id(data.get("user_id"), "user_id")
    for key in ("on_duty", "active"):
        if given(key):
            value = data.get(key, True)
            out[key] = _bool(True if value is None else value, key)
    return out


# --- services ------------------------------------------------------------------------


async def product_line_codes(session: AsyncSession) -> set[str]:
    return set(await session.scalars(select(ProductLine.code)))


async def open_counts(session: AsyncSession, station_ids: Collection[int]) -> dict[int, int]:
    """Open tickets per station: ONE grouped count on ``ix_ticket_station_id_status``."""
    from crm_core.tickets import OPEN_STATUSES

    if not station_ids:
        return {}
    rows = await session.execute(
        select(Ticket.station_id, func.count()).where(
            Ticket.station_id.in_(list(station_ids)), Ticket.status.in_(OPEN_STATUSES))
        .group_by(Ticket.station_id))
    return {int(sid): int(n) for sid, n in rows if sid is not None}


async def open_counts_upto(session: AsyncSession, limits: Mapping[int, int]) -> dict[int, int]:
    """Open tickets per station, counted no further than ``limits[station]``: routing
    only needs to know a station is that full (a busy station's thousands of open
    tickets are not counted on every new ticket). One query: a UNION ALL of one
    LIMITed index range per station."""
    from crm_core.tickets import OPEN_STATUSES

    if not limits:
        return {}
    stmt = _upto_statement(len(limits), OPEN_STATUSES)
    params: dict[str, Any] = {}
    for i, (sid, limit) in enumerate(limits.items()):
        params[f"sid{i}"], params[f"lim{i}"] = sid, max(int(limit), 1)
    conn = await session.connection()  # a plain Core read: no ORM bookkeeping
    return {int(sid): int(n) for sid, n in await conn.execute(stmt, params)}


@lru_cache(maxsize=64)
def _upto_statement(n: int, statuses: tuple[str, ...]) -> Any:
    """The counting statement for ``n`` stations, built once per ``n``."""
    parts = []
    for i in range(n):
        sid = bindparam(f"sid{i}", type_=Integer)
        rows = (select(literal(1).label("one")).select_from(Ticket)
                .where(Ticket.station_id == sid, Ticket.status.in_(statuses))
                .limit(bindparam(f"lim{i}", type_=Integer)).subquery())
        parts.append(select(sid.label("sid"), func.count().label("n")).select_from(rows))
    return parts[0] if n == 1 else union_all(*parts)


async def _check_users(session: AsyncSession, values: Mapping[str, Any]) -> None:
    for key in ("manager_id", "regional_manager_id", "user_id"):
        uid = values.get(key)
        if uid is not None and await session.get(User, uid) is None:
            raise ValidationFailed(key, "no such user")


async def _code_taken(session: AsyncSession, code: str, but: int | None = None) -> None:
    found = await session.scalar(select(ServiceStation.id).where(ServiceStation.code == code))
    if found is not None and found != but:
        raise Conflict(f"station code {code!r} is taken (station {found})")


async def _load_station(session: AsyncSession, station_id: object) -> ServiceStation:
    if not is_id(station_id):
        raise NotFound("station", station_id)
    row = await session.get(ServiceStation, station_id)
    if row is None:
        raise NotFound("station", station_id)
    return row


async def create_station(session: AsyncSession, actor: Actor, **data: Any) -> dict[str, Any]:
    """A new station (see the rules for its fields)."""
    require(actor, MODULE, "create")
    values = complete_station(clean_station(data, await product_line_codes(session)))
    await _code_taken(session, values["code"])
    await _check_users(session, values)
    row = ServiceStation(**values)
    session.add(row)
    await session.flush()
    audit(session, user_id=actor.user_id, action="create", entity="service_station",
          entity_id=row.id, after=snapshot(row))
    return to_dict(row, open=0)


async def update_station(
    session: AsyncSession, actor: Actor, station_id: int, changes_: Mapping[str, Any]
) -> dict[str, Any]:
    """Change the fields given (a new province or city re-derives region and
    coordinates only when those are not given too)."""
    require(actor, MODULE, "update")
    row = await _load_station(session, station_id)
    values = clean_station(changes_, await product_line_codes(session), partial=True)
    if "code" in values:
        await _code_taken(session, values["code"], but=row.id)
    if "province" in values and values["province"] is None:
        raise ValidationFailed("province", "is required")
    await _check_users(session, values)
    before = snapshot(row)
    moved = ("province" in values or "city" in values)
    if moved and "region" not in values and not row.is_hub:
        values["region"] = region_of(values.get("province", row.province))
    if moved and "latitude" not in values and "longitude" not in values:
        point = coordinates(values.get("province", row.province), values.get("city", row.city))
        if point is not None:
            values["latitude"], values["longitude"] = point
    for key, value in values.items():
        setattr(row, key, value)
    await session.flush()
    audit(session, user_id=actor.user_id, action="update", entity="service_station",
          entity_id=row.id, before=before, after=changes(before, snapshot(row)))
    return await _station_dict(session, row)


async def _station_dict(session: AsyncSession, row: ServiceStation) -> dict[str, Any]:
    counts = await open_counts(session, [row.id])
    technicians = await session.scalars(
        select(Technician).where(Technician.station_id == row.id).order_by(Technician.id))
    return to_dict(row, open=counts.get(row.id, 0),
                   technicians=[to_dict(t) for t in technicians])


async def get_station(session: AsyncSession, actor: Actor, station_id: int) -> dict[str, Any]:
    """One station with its open load and technicians."""
    require_read(actor)
    return await _station_dict(session, await _load_station(session, station_id))


async def list_stations(
    session: AsyncSession,
    actor: Actor,
    *,
    q: str | None = None,
    province: str | None = None,
    region: str | None = None,
    product_line: str | None = None,
    active: bool | None = None,
    is_hub: bool | None = None,
    limit: int = DEFAULT_PAGE,
    offset: int = 0,
) -> dict[str, Any]:
    """Stations by code, each with its open load; filters: a code/name fragment,
    province, region, a product line served, active, hub."""
    require_read(actor)
    lim, off = check_page(limit, offset)
    stmt = select(ServiceStation).order_by(ServiceStation.code)
    needle = text(q, "q", max_len=100)
    if needle:
        like = f"%{needle}%"
        stmt = stmt.where(or_(ServiceStation.code.ilike(like), ServiceStation.name.like(like),
                              ServiceStation.name_en.ilike(like)))
    if province is not None:
        stmt = stmt.where(ServiceStation.province == (province_key(province) or province))
    if region is not None:
        stmt = stmt.where(ServiceStation.region == region)
    if active is not None:
        stmt = stmt.where(ServiceStation.active.is_(active))
    if is_hub is not None:
        stmt = stmt.where(ServiceStation.is_hub.is_(is_hub))
    if product_line is not None:
        # the JSON list as text: a quoted code is one of its items
        code = text(product_line, "product_line", max_len=40) or ""
        stmt = stmt.where(cast(ServiceStation.product_lines, Text).like(f'%"{code}"%'))
    rows, total = await paginate(session, stmt, lim, off)
    counts = await open_counts(session, [r[0].id for r in rows])
    return page([to_dict(r[0], open=counts.get(r[0].id, 0)) for r in rows], total, lim, off)


# --- technicians ----------------------------------------------------------------------


async def _load_technician(session: AsyncSession, technician_id: object) -> Technician:
    if not is_id(technician_id):
        raise NotFound("technician", technician_id)
    row = await session.get(Technician, technician_id)
    if row is None:
        raise NotFound("technician", technician_id)
    return row


async def create_technician(session: AsyncSession, actor: Actor, **data: Any) -> dict[str, Any]:
    """A technician of a station."""
    require(actor, MODULE, "create")
    values = clean_technician(data, await product_line_codes(session))
    await _load_station_or_invalid(session, values["station_id"])
    await _check_users(session, values)
    row = Technician(**values)
    session.add(row)
    await session.flush()
    audit(session, user_id=actor.user_id, action="create", entity="technician",
          entity_id=row.id, after=snapshot(row))
    return to_dict(row)


async def _load_station_or_invalid(session: AsyncSession, station_id: int) -> None:
    if await session.get(ServiceStation, station_id) is None:
        raise ValidationFailed("station_id", "no such station")


async def update_technician(
    session: AsyncSession, actor: Actor, technician_id: int, changes_: Mapping[str, Any]
) -> dict[str, Any]:
    require(actor, MODULE, "update")
    row = await _load_technician(session, technician_id)
    values = clean_technician(changes_, await product_line_codes(session), partial=True)
    if "station_id" in values:
        await _load_station_or_invalid(session, values["station_id"])
    await _check_users(session, values)
    before = snapshot(row)
    for key, value in values.items():
        setattr(row, key, value)
    await session.flush()
    audit(session, user_id=actor.user_id, action="update", entity="technician",
          entity_id=row.id, before=before, after=changes(before, snapshot(row)))
    return to_dict(row)


async def get_technician(
    session: AsyncSession, actor: Actor, technician_id: int
) -> dict[str, Any]:
    require_read(actor)
    return to_dict(await _load_technician(session, technician_id))


async def list_technicians(
    session: AsyncSession,
    actor: Actor,
    *,
    station_id: int | None = None,
    skill: str | None = None,
    on_duty: bool | None = None,
    limit: int = DEFAULT_PAGE,
    offset: int = 0,
) -> dict[str, Any]:
    """Technicians by station and name; filters: station, a skill, on duty."""
    require_read(actor)
    lim, off = check_page(limit, offset)
    stmt = select(Technician).order_by(Technician.station_id, Technician.name, Technician.id)
    if station_id is not None:
        stmt = stmt.where(Technician.station_id == station_id)
    if on_duty is not None:
        stmt = stmt.where(Technician.on_duty.is_(on_duty))
    if skill is not None:
        code = text(skill, "skill", max_len=40) or ""
        stmt = stmt.where(cast(Technician.skills, Text).like(f'%"{code}"%'))
    rows, total = await paginate(session, stmt, lim, off)
    return page([to_dict(r[0]) for r in rows], total, lim, off)

