"""Choosing the technician of a routed ticket: the rule, pure (no I/O), explained in words.

Once routing has chosen a station (``crm_core.dispatch_rules``), the ticket goes to one
of that station's technicians when one qualifies, else the station assigns by hand.

Rules:
- the skills a ticket needs: its product line (when it names one) and the trade its
  category names (a trade's code, zh or en name: "electrical", "电气"); a category that
  names no trade ("repair", "inquiry") needs nothing more;
- a technician qualifies when active, on duty, of the chosen station, and his skills
  hold every skill needed (a ticket needing none: any technician on duty qualifies);
- among those, the least open load first (his open tickets), then the name, then the
  id: the same facts always give the same technician;
- the decision says why in one sentence zh-CN and one en ("技师 王师傅：旅游客车、电气，
  在办 2 单" / "technician 王师傅: coaches, electrical, 2 open"); none qualifies: no
  technician, and the sentence says the station assigns by hand.

``TRADES`` is the vocabulary of trades a technician may have beside product lines
(``crm_core.service_network`` checks skills against it).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

# trades a technician may have beside product lines: (code, zh, en)
TRADES: tuple[tuple[str, str, str], ...] = (
    ("electrical", "电气", "electrical"), ("mechanical", "机械", "mechanical"),
    ("hydraulic", "液压", "hydraulics"), ("aircon", "空调", "air conditioning"),
    ("engine", "发动机", "engine"), ("body", "钣金", "bodywork"),
    ("software", "软件", "software"), ("installation", "安装", "installation"),
)
TRADE_CODES = tuple(code for code, _, _ in TRADES)
_TRADE_BY_WORD = {word.lower(): code for code, zh, en in TRADES for word in (code, zh, en)}
_TRADE_NAMES = {code: (zh, en) for code, zh, en in TRADES}


@dataclass(frozen=True, kw_only=True)
class TechnicianFacts:
    """A technician as the rule sees him, with his open load."""

    id: int
    name: str
    station_id: int
    skills: tuple[str, ...] = ()
    on_duty: bool = True
    active: bool = True
    open: int = 0


@dataclass(frozen=True, kw_only=True)
class TechnicianChoice:
    """The technician chosen (None: the station assigns by hand) and why."""

    technician_id: int | None
    name: str | None
    skills: tuple[str, ...]  # the skills needed, which he has
    open: int
    reason: str  # zh-CN
    reason_en: str

    def as_dict(self) -> dict[str, object]:
        return {"technician_id": self.technician_id, "name": self.name,
                "skills": list(self.skills), "open": self.open, "reason": self.reason,
                "reason_en": self.reason_en}


def trade_of(category: str | None) -> str | None:
    """The trade a ticket's category names, None when it names none."""
    if category is None:
        return None
    return _TRADE_BY_WORD.get(category.strip().lower())


def needed_skills(product_line: str | None, category: str | None) -> tuple[str, ...]:
    """The skills a ticket needs (see the rules), product line first."""
    trade = trade_of(category)
    return tuple(s for s in (product_line, trade) if s is not None)


def qualifies(tech: TechnicianFacts, station_id: int, needed: Iterable[str]) -> bool:
    """Whether ``tech`` may take a ticket of ``station_id`` needing ``needed``."""
    return (tech.active and tech.on_duty and tech.station_id == station_id
            and set(needed) <= set(tech.skills))


def _skill_names(needed: tuple[str, ...], line_names: tuple[str | None, str | None]
                 ) -> tuple[str, str]:
    zh: list[str] = []
    en: list[str] = []
    for skill in needed:
        if skill in _TRADE_NAMES:
            zh.append(_TRADE_NAMES[skill][0])
            en.append(_TRADE_NAMES[skill][1])
        else:  # the product line
            zh.append(line_names[0] or skill)
            en.append(line_names[1] or skill)
    return "、".join(zh), ", ".join(en)


def pick_technician(
    station_id: int,
    technicians: Iterable[TechnicianFacts],
    needed: tuple[str, ...],
    *,
    line_zh: str | None = None,
    line_en: str | None = None,
) -> TechnicianChoice:
    """The technician of ``station_id`` for a ticket needing ``needed`` (see the rules);
    ``line_zh``/``line_en``: the product line's names, for the sentence."""
    fit = sorted((t for t in technicians if qualifies(t, station_id, needed)),
                 key=lambda t: (t.open, t.name, t.id))
    zh_skills, en_skills = _skill_names(needed, (line_zh, line_en))
    if not fit:
        need_zh = f"具备{zh_skills}技能的" if needed else ""
        need_en = f" with {en_skills}" if needed else ""
        return TechnicianChoice(
            technician_id=None, name=None, skills=needed, open=0,
            reason=f"无{need_zh}技师在岗：由服务站人工指派",
            reason_en=f"no technician on duty{need_en}: the station assigns by hand")
    tech = fit[0]
    zh = f"技师 {tech.name}：{zh_skills}，在办 {tech.open} 单" if needed else \
        f"技师 {tech.name}：在办 {tech.open} 单"
    en = f"technician {tech.name}: {en_skills}, {tech.open} open" if needed else \
        f"technician {tech.name}: {tech.open} open"
    return TechnicianChoice(technician_id=tech.id, name=tech.name, skills=needed,
                            open=tech.open, reason=zh, reason_en=en)
