"""The sales funnel's arithmetic (issue 18 item 3), pure: opportunities with their stage
history in, per stage the count and amount, how many got that far, the conversion to
the next stage and the mean time spent in it.

Rules:
- the funnel's chain is ``lead -> qualified -> proposal -> won``; ``lost`` stands beside
  it (a deal lost at any stage);
- a deal *reached* a stage of the chain when its history holds that stage or a later
  one (a deal created at ``proposal`` passed ``lead`` and ``qualified``); each deal is
  counted ONCE per stage however often it came back (a reopened deal: won, then back to
  proposal), so ``reached`` never grows along the chain and a conversion is at most 1;
- ``count``/``amount`` are the deals standing in the stage NOW (the pipeline);
- conversion of a stage = reached(next) / reached(stage); None when nobody reached it
  (never a division by zero); ``won`` and ``lost`` have none;
- time in a stage: every stay between two steps of the history, summed per deal (a
  reopened deal's two stays at ``proposal`` are one deal's time); the stay a deal is in
  now counts up to ``now``; won and lost are ends, not stays, and have no time (not even
  the days a deal sat at won before it was reopened);
  the mean is over the deals that stayed in the stage; a step dated before the one it
  follows (a clock set back) counts as no time, never a negative one;
- money is ``Decimal`` inside and a float with 2 decimals out; days to 1 decimal.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

CHAIN = ("lead", "qualified", "proposal", "won")
STAGES = ("lead", "qualified", "proposal", "won", "lost")  # crm_core.opportunities.STAGES
CLOSED = frozenset({"won", "lost"})
_DAY_S = 86400.0


@dataclass(frozen=True, kw_only=True)
class Step:
    """The deal entered ``stage`` at ``at``."""

    stage: str
    at: datetime


@dataclass(frozen=True, kw_only=True)
class Deal:
    """One opportunity: its amount, its stage now, and its history (any order)."""

    id: int
    amount: Decimal | None
    stage: str
    steps: tuple[Step, ...] = ()


@dataclass(kw_only=True)
class _Tally:
    count: int = 0
    amount: Decimal = Decimal(0)
    reached: int = 0
    reached_amount: Decimal = Decimal(0)
    stayed: int = 0
    stay_s: float = 0.0


@dataclass(frozen=True, kw_only=True)
class StageFigures:
    """One stage of a funnel."""

    stage: str
    count: int
    amount: float
    reached: int
    reached_amount: float
    conversion: float | None
    mean_days: float | None

    def as_dict(self) -> dict[str, Any]:
        return {"stage": self.stage, "count": self.count, "amount": self.amount,
                "reached": self.reached, "reached_amount": self.reached_amount,
                "conversion": self.conversion, "mean_days": self.mean_days}


@dataclass(frozen=True, kw_only=True)
class Funnel:
    """A funnel: its stages in ``STAGES`` order and the totals."""

    stages: tuple[StageFigures, ...]
    deals: int
    won: int
    won_amount: float
    lost: int
    win_rate: float | None = field(default=None)

    def as_dict(self) -> dict[str, Any]:
        return {"stages": [s.as_dict() for s in self.stages], "deals": self.deals,
                "won": self.won, "won_amount": self.won_amount, "lost": self.lost,
                "win_rate": self.win_rate}


def _ordered(deal: Deal) -> list[Step]:
    return sorted(deal.steps, key=lambda s: s.at)  # stable: same instant keeps its order


def reached(deal: Deal) -> set[str]:
    """The stages a deal reached: every stage of its history (its stage now when it has
    none) and, for a stage of the chain, the stages before it."""
    seen = {s.stage for s in deal.steps} | {deal.stage}
    out = {s for s in seen if s in STAGES}
    for stage in seen:
        if stage in CHAIN:
            out.update(CHAIN[:CHAIN.index(stage) + 1])
    return out


def stays(deal: Deal, now: datetime) -> dict[str, float]:
    """Seconds the deal spent in each stage (summed over its stays)."""
    steps = _ordered(deal)
    out: dict[str, float] = {}
    for i, step in enumerate(steps):
        if step.stage in CLOSED:
            continue  # an end, even when the deal was reopened from it later
        end = steps[i + 1].at if i + 1 < len(steps) else now
        out[step.stage] = out.get(step.stage, 0.0) + max(0.0, (end - step.at).total_seconds())
    return out


def _money(value: Decimal) -> float:
    return float(value.quantize(Decimal("0.01")))


def _ratio(part: int, whole: int) -> float | None:
    return None if whole == 0 else round(part / whole, 4)


def funnel(deals: Iterable[Deal], now: datetime) -> Funnel:
    """The funnel of ``deals`` as of ``now``."""
    tally = {s: _Tally() for s in STAGES}
    n = 0
    for deal in deals:
        n += 1
        amount = deal.amount or Decimal(0)
        if deal.stage in tally:
            tally[deal.stage].count += 1
            tally[deal.stage].amount += amount
        for stage in reached(deal):
            tally[stage].reached += 1
            tally[stage].reached_amount += amount
        for stage, seconds in stays(deal, now).items():
            if stage in tally:
                tally[stage].stayed += 1
                tally[stage].stay_s += seconds
    figures = []
    for stage in STAGES:
        t = tally[stage]
        nxt = CHAIN[CHAIN.index(stage) + 1] if stage in CHAIN[:-1] else None
        figures.append(StageFigures(
            stage=stage, count=t.count, amount=_money(t.amount), reached=t.reached,
            reached_amount=_money(t.reached_amount),
            conversion=None if nxt is None else _ratio(tally[nxt].reached, t.reached),
            mean_days=None if t.stayed == 0 else round(t.stay_s / t.stayed / _DAY_S, 1)))
    won, lost = tally["won"].count, tally["lost"].count
    return Funnel(stages=tuple(figures), deals=n, won=won,
                  won_amount=_money(tally["won"].amount), lost=lost,
                  win_rate=_ratio(won, won + lost))


def funnels_by(keyed: Iterable[tuple[Any, Deal]], now: datetime) -> dict[Any, Funnel]:
    """One funnel per key (salesman, team, month...), keys in first-seen order."""
    groups: dict[Any, list[Deal]] = {}
    for key, deal in keyed:
        groups.setdefault(key, []).append(deal)
    return {key: funnel(deals, now) for key, deals in groups.items()}


def margin(amount: Decimal, cost: Decimal | None) -> tuple[float | None, float | None]:
    """The margin of ``amount`` sold for ``cost`` and its rate (None: cost unknown, or
    nothing sold for the rate)."""
    if cost is None:
        return None, None
    m = amount - cost
    return _money(m), (None if amount == 0 else round(float(m / amount), 4))


def month_of(at: datetime, tz: Any) -> str:
    """``YYYY-MM`` of an instant in ``tz`` (the funnel per month groups by it)."""
    return at.astimezone(tz).strftime("%Y-%m")


def merge_steps(rows: Iterable[Mapping[str, Any]]) -> dict[int, tuple[Step, ...]]:
    """History rows ``{opportunity_id, to_stage, at}`` as steps per opportunity."""
    out: dict[int, list[Step]] = {}
    for r in rows:
        out.setdefault(int(r["opportunity_id"]), []).append(Step(stage=str(r["to_stage"]),
                                                                 at=r["at"]))
    return {k: tuple(v) for k, v in out.items()}
