"""The demo's service network (issue 15): about 400 service stations across China's
provinces and their technicians, for the coach, printer and packaging-machine lines.

What is in it: in every city of ``crm_core.places.CITIES`` a coach station (touring
coaches and city buses, open every day: a broken-down coach is repaired at once) and a
printer station (laser printers, copiers); a packaging-machine station (blister
machines, pharmaceutical foil) in each provincial capital and the larger industrial
cities; the stations of a provincial capital cover their whole province, the others
their own city; one regional hub per service region (华北 北京, 东北 沈阳, 华东 上海,
华中 武汉, 华南 广州, 西南 成都, 西北 西安) serving every line. Each station has
technicians (3, a hub 6) skilled in its lines and a trade or two.

Rules: deterministic (the same names, coordinates and capacities every run: a hash of
the code, not a random generator); idempotent (a station whose code exists is left
alone, with its technicians); fast: one INSERT of all stations and one of all
technicians, no ORM objects (the demo starts in a second or two).
"""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.models import AuditEntry, ServiceStation, Technician
from crm_core.places import CITIES, REGIONS, region_of
from crm_core.service_network import DAYS, TRADE_CODES

COACH = ("BUS-COACH", "BUS-CITY")
PRINTER = ("PRN-LASER", "OFF-MFP")
PACKAGING = ("PKG-BLISTER", "PKG-FOIL")
FAMILIES: dict[str, tuple[tuple[str, ...], str, str]] = {
    "BUS": (COACH, "客车服务站", "coach service station"),
    "PRN": (PRINTER, "打印机服务站", "printer service station"),
    "PKG": (PACKAGING, "包装机服务站", "packaging machine service station"),
}
# cities beside the provincial capitals where packaging machines are made and used
PACKAGING_CITIES = frozenset({
    "苏州", "无锡", "常州", "泰州", "宁波", "台州", "温州", "青岛", "淄博", "烟台", "潍坊",
    "佛山", "东莞", "深圳", "中山", "洛阳", "新乡", "宜昌", "株洲", "绵阳", "宝鸡", "厦门",
    "泉州", "唐山", "大连", "芜湖",
})
# the busiest coach cities have a second coach station (the network's ~400th)
SECOND_COACH = ("北京", "上海", "广州", "深圳", "郑州", "成都", "重庆", "武汉", "西安", "杭州",
                "南京", "天津", "长沙", "济南", "沈阳", "哈尔滨", "昆明", "南宁", "福州",
                "合肥", "石家庄", "太原", "乌鲁木齐", "苏州")
HUBS: dict[str, str] = {"华北": "北京", "东北": "沈阳", "华东": "上海", "华中": "武汉",
                        "华南": "广州", "西南": "成都", "西北": "西安"}
_HUB_CODES = {"华北": "HB", "东北": "DB", "华东": "HD", "华中": "HZ", "华南": "HN",
              "西南": "XN", "西北": "XB"}
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘"
GIVEN = ("伟", "强", "磊", "军", "勇", "杰", "涛", "斌", "超", "明", "刚", "平", "辉", "鹏",
         "华", "飞", "鑫", "波", "宁", "健", "俊", "峰", "建国", "志强", "海峰", "晓东",
         "建华", "文斌", "永刚", "立新")
EVERY_DAY = {d: [["08:00", "20:00"]] for d in DAYS}
WEEKDAYS = {d: [["08:30", "12:00"], ["13:00", "17:30"]] for d in DAYS[:5]}


def _h(text: str, mod: int) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=4).digest(), "big") % mod


def _slug(english: str) -> str:
    return "".join(ch for ch in english.upper() if ch.isalnum())


def _capitals() -> dict[str, str]:
    first: dict[str, str] = {}
    for province, city, *_ in CITIES:
        first.setdefault(province, city)
    return first


def _station(code: str, family: str, province: str, city: str, city_en: str, lat: float,
             lon: float, *, capital: bool) -> dict[str, Any]:
    lines, name_zh, name_en = FAMILIES[family]
    # a few km from the city centre: stations of one city are not on one spot
    dlat = (_h(code + "lat", 1000) - 500) / 10000
    dlon = (_h(code + "lon", 1000) - 500) / 10000
    return {
        "code": code, "name": f"{city}{name_zh}", "name_en": f"{city_en} {name_en}",
        "province": province, "city": city, "district": None,
        "address": f"{province}{city}经济技术开发区服务路{_h(code, 300) + 1}号",
        "latitude": round(lat + dlat, 5), "longitude": round(lon + dlon, 5),
        "phones": [f"400-800-{_h(code, 9000) + 1000}"], "product_lines": list(lines),
        "covers": [{"province": province}] if capital and city != province else [],
        "capacity": 10 + 5 * _h(code + "cap", 7), "timezone": "Asia/Shanghai",
        "hours": EVERY_DAY if family == "BUS" else WEEKDAYS, "calendar": "CN",
        "is_hub": False, "region": region_of(province),
        "email": f"{code.lower()}@service.example.cn", "active": True,
    }


def network_rows() -> list[dict[str, Any]]:
    """Every station of the demo network as column values (pure, deterministic)."""
    capitals = _capitals()
    rows: list[dict[str, Any]] = []
    for province, city, city_en, lat, lon in CITIES:
        capital = capitals[province] == city
        for family in ("BUS", "PRN", "PKG"):
            if family == "PKG" and not (capital or city in PACKAGING_CITIES):
                continue
            code = f"{family}-{_slug(city_en)}"
            rows.append(_station(code, family, province, city, city_en, lat, lon,
                                 capital=capital))
        if city in SECOND_COACH:
            row = _station(f"BUS-{_slug(city_en)}-2", "BUS", province, city, city_en, lat,
                           lon, capital=False)
            row.update(name=f"{city}第二客车服务站", name_en=f"{city_en} coach service "
                                                             "station 2")
            rows.append(row)
    by_city = {c: (p, en, lat, lon) for p, c, en, lat, lon in CITIES}
    for region, city in HUBS.items():
        province, city_en, lat, lon = by_city[city]
        row = _station(f"HUB-{_HUB_CODES[region]}", "BUS", province, city, city_en, lat, lon,
                       capital=False)
        row.update(name=f"{region}区域服务中心", name_en=f"{city_en} regional service hub",
                   product_lines=list(COACH + PRINTER + PACKAGING), capacity=80,
                   is_hub=True, region=region)
        rows.append(row)
    assert set(HUBS) == set(REGIONS)
    return rows


def technician_rows(station_id: int, station: dict[str, Any]) -> list[dict[str, Any]]:
    """The technicians of one demo station (pure, deterministic)."""
    code = station["code"]
    count = 6 if station["is_hub"] else 3
    out = []
    for i in range(count):
        key = f"{code}-{i}"
        name = SURNAMES[_h(key + "s", len(SURNAMES))] + GIVEN[_h(key + "g", len(GIVEN))]
        lines = station["product_lines"]
        skills = [lines[i % len(lines)], *(x for x in lines if x != lines[i % len(lines)])][:2]
        skills.append(TRADE_CODES[_h(key + "t", len(TRADE_CODES))])
        out.append({"station_id": station_id, "name": name, "skills": skills,
                    "phone": f"13{_h(key + 'p', 10**9):09d}", "on_duty": i != count - 1 or
                    _h(key, 4) != 0, "active": True, "user_id": None})
    return out


async def seed_network(session: AsyncSession) -> dict[str, int]:
    """Insert the demo stations (and their technicians) whose codes are missing; how many
    of each were created."""
    existing = set(await session.scalars(select(ServiceStation.code)))
    missing = [r for r in network_rows() if r["code"] not in existing]
    if not missing:
        return {"stations": 0, "technicians": 0}
    table: Any = ServiceStation.__table__
    result = await session.execute(insert(table).returning(table.c.id, table.c.code), missing)
    ids = {code: int(sid) for sid, code in result}
    techs = [t for r in missing for t in technician_rows(ids[r["code"]], r)]
    technicians: Any = Technician.__table__
    audit_log: Any = AuditEntry.__table__
    await session.execute(insert(technicians), techs)
    await session.execute(insert(audit_log), [{
        "user_id": None, "action": "seed", "entity": "service_network", "entity_id": "demo",
        "before": None, "after": {"stations": len(missing), "technicians": len(techs)}}])
    return {"stations": len(missing), "technicians": len(techs)}
