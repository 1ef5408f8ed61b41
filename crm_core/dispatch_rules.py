"""Routing a ticket to a service station: the rules, pure (no I/O), explained in words.

In: the ticket's facts (category, priority, product line), where the repair is (the
asset's site, else the customer's province/city: ``crm_core.places.place_of``), the
customer's VIP tier, and the candidate stations with their open load.
Out: a ``Decision``: the station chosen, why (one sentence in zh-CN and one in en, e.g.
"郑州服务站: covers 河南郑州, serves coaches, 12 km, 3 open"), and the ranked
alternatives with their own sentences.

Rules:
- eligible = active, covers the place (its own city; or an entry of its ``covers``:
  ``{"province", "city"}`` that city, ``{"province"}`` alone every city of it; a place
  known only by its province is covered by the stations of that province), serves the
  ticket's product line (any line when the ticket names none), not excluded (a station
  that refused this ticket);
- ranked nearest first (haversine from the place's city centre to the station), with
  the load as a distance: a station at capacity counts ``LOAD_KM`` further than an idle
  one, so two stations of one city share the work; a full station (open >= capacity)
  drops behind every station that has room;
- VIP customers (tier >= ``VIP_TIER``) and breakdowns (priority ``urgent``) go first:
  the nearest eligible station takes them even at capacity (distance only);
- no eligible station: the regional hub of the place's region (``places.region_of``),
  and the decision is ``flagged`` for a person; no hub either: any active hub, nearest
  first; nothing at all: no station, flagged; a ticket is never dropped;
- ties break on the station code, so the same facts always give the same decision.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from crm_core.places import REGION_EN, Place, haversine_km, region_of
from crm_core.technician_rules import TechnicianChoice

LOAD_KM = 50.0  # how much further a station at capacity counts (see the rules)
VIP_TIER = 1
URGENT = "urgent"
MAX_ALTERNATIVES = 5


@dataclass(frozen=True, kw_only=True)
class StationFacts:
    """A candidate station as routing sees it."""

    id: int
    code: str
    name: str
    name_en: str | None = None
    province: str | None = None
    city: str | None = None
    lat: float | None = None
    lon: float | None = None
    product_lines: tuple[str, ...] = ()
    covers: tuple[dict[str, Any], ...] = ()
    capacity: int = 20
    open: int = 0
    open_at_least: bool = False  # ``open`` is where counting stopped: at least that many
    active: bool = True
    is_hub: bool = False
    region: str | None = None


@dataclass(frozen=True, kw_only=True)
class TicketFacts:
    """What routing needs of the ticket, its asset and its customer."""

    place: Place
    product_line: str | None = None  # code
    line_zh: str | None = None  # the product line's names, for the sentence
    line_en: str | None = None
    priority: str = "normal"
    category: str | None = None
    vip_tier: int = 0


@dataclass(frozen=True, kw_only=True)
class Choice:
    """One ranked station and the sentence saying why."""

    station_id: int
    code: str
    name: str
    km: float | None
    open: int
    capacity: int
    reason: str  # zh-CN
    reason_en: str

    def as_dict(self) -> dict[str, Any]:
        return {"station_id": self.station_id, "code": self.code, "name": self.name,
                "km": self.km, "open": self.open, "capacity": self.capacity,
                "reason": self.reason, "reason_en": self.reason_en}


@dataclass(frozen=True, kw_only=True)
class Decision:
    """The station chosen (None: nothing at all to send it to), why, the alternatives."""

    chosen: Choice | None
    reason: str  # zh-CN
    reason_en: str
    alternatives: tuple[Choice, ...] = ()
    flagged: bool = False
    notes: tuple[str, ...] = field(default=())
    technician: TechnicianChoice | None = None  # ``with_technician``: the station's pick

    @property
    def station_id(self) -> int | None:
        return self.chosen.station_id if self.chosen else None

    @property
    def technician_id(self) -> int | None:
        return self.technician.technician_id if self.technician else None


def with_technician(decision: Decision, choice: TechnicianChoice) -> Decision:
    """``decision`` with the technician of its station (``crm_core.technician_rules``),
    his sentence after the station's: "郑州服务站：…，在办 3 单；技师 王师傅：旅游客车，在办
    2 单"."""
    return replace(decision, technician=choice,
                   reason=f"{decision.reason}；{choice.reason}",
                   reason_en=f"{decision.reason_en}; {choice.reason_en}")


# --- the rules ------------------------------------------------------------------------


def covers(station: StationFacts, place: Place) -> bool:
    """Whether ``station`` covers ``place`` (see the rules)."""
    if place.province is None:
        return False
    if place.city is None:
        return station.province == place.province or any(
            entry.get("province") == place.province for entry in station.covers)
    if station.province == place.province and station.city == place.city:
        return True
    for entry in station.covers:
        if not isinstance(entry, dict) or entry.get("province") != place.province:
            continue
        city = entry.get("city")
        if not city or city == place.city:
            return True
    return False


def serves(station: StationFacts, product_line: str | None) -> bool:
    return product_line is None or product_line in station.product_lines


def distance_km(station: StationFacts, place: Place) -> float | None:
    if None in (station.lat, station.lon, place.lat, place.lon):
        return None
    return haversine_km(place.lat, place.lon, station.lat, station.lon)  # type: ignore[arg-type]


def is_first(facts: TicketFacts) -> bool:
    """VIP or breakdown: takes the nearest station even at capacity."""
    return facts.priority == URGENT or facts.vip_tier >= VIP_TIER


def full(station: StationFacts) -> bool:
    return station.open >= max(station.capacity, 0)


def _rank_key(station: StationFacts, km: float | None, first: bool) -> tuple[Any, ...]:
    far = km if km is not None else 1e6  # unknown distance: after every known one
    if first:
        return (far, station.code)
    load = station.open / station.capacity if station.capacity > 0 else 1.0
    return (full(station), far + LOAD_KM * min(load, 2.0), station.code)


def rank(stations: Iterable[StationFacts], facts: TicketFacts) -> list[StationFacts]:
    """``stations`` in the order the rules prefer them (eligibility not checked)."""
    first = is_first(facts)
    return sorted(stations, key=lambda s: _rank_key(s, distance_km(s, facts.place), first))


def decide(
    facts: TicketFacts, stations: Sequence[StationFacts], *, exclude: Iterable[int] = ()
) -> Decision:
    """The routing decision for ``facts`` among ``stations`` (see the rules)."""
    skip = set(exclude)
    live = [s for s in stations if s.active and s.id not in skip]
    eligible = [s for s in live if covers(s, facts.place) and serves(s, facts.product_line)]
    if eligible:
        ranked = [_choice(s, facts) for s in rank(eligible, facts)]
        chosen = ranked[0]
        return Decision(chosen=chosen, reason=chosen.reason, reason_en=chosen.reason_en,
                        alternatives=tuple(ranked[1:1 + MAX_ALTERNATIVES]))
    return _to_hub(facts, live)


def _to_hub(facts: TicketFacts, live: Sequence[StationFacts]) -> Decision:
    region = region_of(facts.place.province)
    hubs = [s for s in live if s.is_hub and s.region == region] if region else []
    if not hubs:
        hubs = [s for s in live if s.is_hub]
    where_zh, where_en = facts.place.label_zh(), facts.place.label_en()
    line_zh, line_en = _line(facts)
    why_zh = f"没有服务站覆盖{where_zh}并服务{line_zh}"
    why_en = f"no station covers {where_en} and serves {line_en}"
    if not hubs:
        return Decision(chosen=None, reason=f"{why_zh}，也没有区域中心：待人工指派",
                        reason_en=f"{why_en}, and there is no regional hub: a person "
                                  "must choose", flagged=True)
    ranked = rank(hubs, replace(facts, priority=URGENT))  # nearest hub, full or not
    hub = ranked[0]
    km = distance_km(hub, facts.place)
    region_zh = hub.region or "?"
    region_en = REGION_EN.get(hub.region or "", hub.region or "?")
    shown = f"{hub.open}+" if hub.open_at_least else str(hub.open)
    zh = (f"{hub.name}：{why_zh}，转{region_zh}区域中心{_km_zh(km)}，在办 {shown} 单"
          "（已标记待核）")
    en = (f"{hub.name_en or hub.code}: {why_en}; sent to the {region_en} regional hub"
          f"{_km_en(km)}, {shown} open (flagged)")
    chosen = Choice(station_id=hub.id, code=hub.code, name=hub.name, km=_round(km),
                    open=hub.open, capacity=hub.capacity, reason=zh, reason_en=en)
    others = tuple(_choice(s, facts) for s in ranked[1:1 + MAX_ALTERNATIVES])
    return Decision(chosen=chosen, reason=zh, reason_en=en, alternatives=others, flagged=True)


# --- the sentences --------------------------------------------------------------------


def _line(facts: TicketFacts) -> tuple[str, str]:
    if facts.product_line is None:
        return "任何产品线", "any product line"
    return (facts.line_zh or facts.product_line, facts.line_en or facts.product_line)


def _round(km: float | None) -> float | None:
    return None if km is None else round(km, 1)


def _km_zh(km: float | None) -> str:
    return "，距离未知" if km is None else f"，{km:.0f} 公里"


def _km_en(km: float | None) -> str:
    return ", distance unknown" if km is None else f", {km:.0f} km"


def _choice(station: StationFacts, facts: TicketFacts) -> Choice:
    km = distance_km(station, facts.place)
    line_zh, line_en = _line(facts)
    where_zh, where_en = facts.place.label_zh(), facts.place.label_en()
    shown = f"{station.open}+" if station.open_at_least else str(station.open)
    load_zh, load_en = f"在办 {shown} 单", f"{shown} open"
    if full(station):
        load_zh += f"（已满 {shown}/{station.capacity}）"
        load_en += f" (full: {shown}/{station.capacity})"
        if is_first(facts):
            why = "VIP" if facts.vip_tier >= VIP_TIER else "紧急故障"
            why_en = "VIP" if facts.vip_tier >= VIP_TIER else "breakdown"
            load_zh += f"，{why}优先"
            load_en += f", {why_en} first"
    zh = f"{station.name}：覆盖{where_zh}，服务{line_zh}{_km_zh(km)}，{load_zh}"
    en = (f"{station.name_en or station.code}: covers {where_en}, serves {line_en}"
          f"{_km_en(km)}, {load_en}")
    return Choice(station_id=station.id, code=station.code, name=station.name,
                  km=_round(km), open=station.open, capacity=station.capacity,
                  reason=zh, reason_en=en)
