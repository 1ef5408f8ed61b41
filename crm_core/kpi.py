"""The one set of call-centre definitions (DESIGN.md, "Wallboard"): what offered,
answered, abandoned, service level, ASA, AHT, occupancy... mean, for the live wallboard
and the reports alike, so the two always agree.

Rules:
- pure: plain records in (``CallRow``: one inbound call, from a ``CallSummary`` on the
  bus or a ``call_record`` row; ``SpanRow``: one agent state span), plain figures out;
  no clock but the ``now`` handed in, no I/O;
- everything is a sum first (``CallTally``, ``AgentTally``): the wallboard adds one call
  or span at a time, a report folds many or has the database add them up
  (``crm_core.kpi_report``), and the ratios are only taken at the end (``call_figures``,
  ``agent_figures``), so a day's tally is the sum of its intervals' tallies;
- a call counts where and when it ENDED (its queue, its number dialled, its agent, the
  interval of ``ended_at`` in Asia/Shanghai): the wallboard learns a call's outcome
  when it ends, and so does the call log;
- only inbound calls that reached a queue are offered; a call the IVR finished alone
  (outcome ``ivr-only``) is IVR self-service;
- service level follows app_queue exactly (``ServicelevelPerf`` and
  ``ServicelevelPerf2`` of QueueParams / QueueSummary): a call is "within T" when its
  wait is <= T seconds (app_queue: ``now - qe->start <= servicelevel``);
  SL = answered within T / answered; SL2 = (answered within T + abandoned within T) /
  (answered + abandoned), every abandon counted (short ones too: app_queue does);
  a queue timeout is neither answered nor abandoned there, so neither here; with
  nothing to divide the figure is None (app_queue prints 0.0);
- short abandons (the caller hung up within ``short_abandon_s`` seconds: a wrong
  number, a misdial) are counted apart and left out of the abandon rate;
- agent time comes from state spans, clipped to the period: occupancy = (talking +
  wrap-up) / (ready + ringing + talking + wrap-up); pauses are not work time;
  AHT = (talk of the answered calls + their wrap-up) / answered calls.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")
ANSWERED_OUTCOMES = frozenset({"answered", "transferred"})
ABANDONED_OUTCOMES = frozenset({"abandoned"})
TIMED_OUT_OUTCOMES = frozenset({"no-answer"})
SPAN_STATES = ("signed-out", "ready", "paused", "ringing", "talking", "wrap-up")
WORK_STATES = frozenset({"talking", "wrap-up"})
AVAILABLE_STATES = frozenset({"ready", "ringing", "talking", "wrap-up"})
INTERVALS = ("15m", "30m", "60m", "day", "month")
DEFAULT_SL_S = 20
DEFAULT_SHORT_ABANDON_S = 5
US = 1_000_000

# the formulas as the screen states them, {t} the queue's threshold in seconds
FORMULAS: dict[str, dict[str, str]] = {
    "sl": {
        "en": "SL = answered within {t} s / answered (app_queue ServicelevelPerf)",
        "zh-CN": "服务水平 = {t} 秒内接听数 / 接听数（app_queue ServicelevelPerf）",
    },
    "sl2": {
        "en": "SL2 = (answered within {t} s + abandoned within {t} s) / (answered + abandoned)"
              " (app_queue ServicelevelPerf2)",
        "zh-CN": "服务水平2 = （{t} 秒内接听数 + {t} 秒内放弃数）/（接听数 + 放弃数）"
                 "（app_queue ServicelevelPerf2）",
    },
    "abandon_rate": {
        "en": "abandon rate = abandoned after {s} s or more / (offered - short abandons)",
        "zh-CN": "放弃率 = 等待 {s} 秒及以上后放弃数 /（进线数 - 短时放弃数）",
    },
    "asa": {"en": "ASA = total wait of answered calls / answered",
            "zh-CN": "平均应答速度 = 已接听来电的等待总时长 / 接听数"},
    "aht": {"en": "AHT = (talk + wrap-up) / answered",
            "zh-CN": "平均处理时长 =（通话 + 话后整理）/ 接听数"},
    "occupancy": {"en": "occupancy = (talking + wrap-up) / (ready + ringing + talking + wrap-up)",
                  "zh-CN": "占用率 =（通话 + 话后整理）/（就绪 + 振铃 + 通话 + 话后整理）"},
}


@dataclass(frozen=True, kw_only=True)
class QueueRules:
    """A queue's service-level threshold, short-abandon cut and wallboard colours."""

    sl_s: int = DEFAULT_SL_S
    short_abandon_s: int = DEFAULT_SHORT_ABANDON_S
    sl_target: float = 80.0  # at or above: green
    sl_warn: float = 60.0  # below: red (between: amber)
    wait_warn_s: int = 30  # longest wait at or above: amber
    wait_alert_s: int = 60  # at or above: red

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> QueueRules:
        """From settings JSON; ValueError names a bad key or value."""
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown queue rule(s): {', '.join(sorted(unknown))}")
        kwargs: dict[str, Any] = {}
        for name, value in d.items():
            if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
                raise ValueError(f"queue rule {name} must be a number >= 0, not {value!r}")
            kwargs[name] = float(value) if name in ("sl_target", "sl_warn") else int(value)
        return cls(**kwargs)


def wait_cap(rules: Mapping[str, QueueRules]) -> int:
    """The longest wait any rule tells apart: every wait above it classes alike."""
    every = [*rules.values(), QueueRules()]
    return max(max(r.sl_s, r.short_abandon_s) for r in every)


def rules_for(rules: Mapping[str, QueueRules], queue: str | None) -> QueueRules:
    """The rules of ``queue`` (``*`` or the defaults when it has none of its own)."""
    return rules.get(queue or "") or rules.get("*") or QueueRules()


@dataclass(frozen=True, kw_only=True)
class CallRow:
    """One call as the KPIs see it."""

    linkedid: str
    direction: str = "inbound"
    did: str | None = None
    queue: str | None = None  # the queue it was offered in (its first)
    agent: str | None = None  # the answering agent's interface
    outcome: str = "ivr-only"
    queued: bool = False
    wait_s: int | None = None
    talk_s: int | None = None
    ended_at: datetime | None = None


def call_row(record: Any) -> CallRow:
    """A ``CallRow`` from anything with the call log's attributes (a ``CallSummary``,
    a ``CallRecord``): the same conversion for the live stream and the log."""
    queues = list(getattr(record, "queues", None) or ())
    queued = bool(queues) or getattr(record, "queued_at", None) is not None
    return CallRow(
        linkedid=str(record.linkedid), direction=str(record.direction or "inbound"),
        did=record.did, queue=str(queues[0]) if queues else None,
        agent=record.agent_interface, outcome=str(record.outcome or "ivr-only"),
        queued=queued, wait_s=record.wait_s, talk_s=record.talk_s, ended_at=record.ended_at)


@dataclass
class CallTally:
    """Sums over calls; ``+`` merges two tallies (intervals into a day)."""

    inbound: int = 0
    offered: int = 0
    answered: int = 0
    answered_in_sl: int = 0
    abandoned: int = 0  # every abandon, short ones included (app_queue's count)
    abandoned_in_sl: int = 0
    short_abandoned: int = 0
    timed_out: int = 0
    other: int = 0  # queued, then ended some other way (failed, a tracker oddity)
    ivr_only: int = 0
    wait_answered_s: int = 0  # ASA's numerator
    talk_s: int = 0
    # wrap-up of the answered calls (state spans, by linkedid), in whole microseconds: the
    # database sums the same integers, so a report and the board never differ by a rounding
    wrapup_us: int = 0

    def add(self, call: CallRow, rules: QueueRules, n: int = 1, *,
            wait_total: int | None = None, talk_total: int | None = None) -> None:
        """Count ``call``; with ``n``, count ``n`` calls like it (a report's group of
        calls alike: same queue, outcome and wait class) whose waits and talks sum to
        ``wait_total`` and ``talk_total``."""
        if call.direction != "inbound":
            return
        self.inbound += n
        if not call.queued:
            if call.outcome == "ivr-only":
                self.ivr_only += n
            return
        self.offered += n
        wait = call.wait_s or 0
        within = n if wait <= rules.sl_s else 0
        if call.outcome in ANSWERED_OUTCOMES:
            self.answered += n
            self.answered_in_sl += within
            self.wait_answered_s += wait * n if wait_total is None else wait_total
            self.talk_s += (call.talk_s or 0) * n if talk_total is None else talk_total
        elif call.outcome in ABANDONED_OUTCOMES:
            self.abandoned += n
            self.abandoned_in_sl += within
            self.short_abandoned += n if wait < rules.short_abandon_s else 0
        elif call.outcome in TIMED_OUT_OUTCOMES:
            self.timed_out += n
        else:
            self.other += n

    def __add__(self, other: CallTally) -> CallTally:
        return CallTally(**{f.name: getattr(self, f.name) + getattr(other, f.name)
                            for f in fields(self)})


def _ratio(num: float, den: float, scale: float = 100.0) -> float | None:
    return None if den <= 0 else round(scale * num / den, 1)


def service_level(answered_in_sl: int, answered: int) -> float | None:
    """app_queue ``ServicelevelPerf`` in percent (None: nothing answered)."""
    return _ratio(answered_in_sl, answered)


def service_level2(answered_in_sl: int, abandoned_in_sl: int, answered: int,
                   abandoned: int) -> float | None:
    """app_queue ``ServicelevelPerf2`` in percent (None: nothing answered or abandoned)."""
    return _ratio(answered_in_sl + abandoned_in_sl, answered + abandoned)


def _aht(t: CallTally) -> float | None:
    return _ratio(t.talk_s * US + t.wrapup_us, t.answered * US, 1.0)


def call_figures(t: CallTally) -> dict[str, Any]:
    """The figures of a tally (JSON-ready; None where a ratio has no denominator)."""
    counted = t.offered - t.short_abandoned
    return {
        "inbound": t.inbound, "offered": t.offered, "answered": t.answered,
        "answered_in_sl": t.answered_in_sl,
        "abandoned": t.abandoned - t.short_abandoned, "short_abandoned": t.short_abandoned,
        "abandoned_in_sl": t.abandoned_in_sl, "timed_out": t.timed_out, "other": t.other,
        "ivr_only": t.ivr_only,
        "sl": service_level(t.answered_in_sl, t.answered),
        "sl2": service_level2(t.answered_in_sl, t.abandoned_in_sl, t.answered, t.abandoned),
        "abandon_rate": _ratio(t.abandoned - t.short_abandoned, counted),
        "asa_s": _ratio(t.wait_answered_s, t.answered, 1.0),
        "aht_s": _aht(t),
        "ivr_self_service": _ratio(t.ivr_only, t.inbound),
    }


# --- agent state spans -------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class SpanRow:
    """One agent state span (``AgentStateSpan``); ``ended_at`` None: it still lasts."""

    agent: str
    state: str
    started_at: datetime
    ended_at: datetime | None = None
    reason: str | None = None
    team: str | None = None
    linkedid: str | None = None


def span_row(record: Any) -> SpanRow:
    """A ``SpanRow`` from an ``AgentStateSpan`` row (or anything with its attributes)."""
    return SpanRow(agent=record.agent_interface, state=record.state,
                   started_at=record.started_at, ended_at=record.ended_at,
                   reason=record.reason, team=record.team, linkedid=record.linkedid)


def clipped_us(span: SpanRow, start: datetime, end: datetime) -> int:
    """Microseconds of ``span`` inside [start, end) (an open span lasts until ``end``)."""
    lo = max(span.started_at, start)
    hi = min(span.ended_at or end, end)
    return max(0, (hi - lo) // timedelta(microseconds=1))


def clipped_s(span: SpanRow, start: datetime, end: datetime) -> float:
    """Seconds of ``span`` inside [start, end)."""
    return clipped_us(span, start, end) / US


@dataclass
class AgentTally:
    """Seconds per state (and per pause reason) of one agent or team."""

    seconds: dict[str, float] = field(default_factory=dict)
    pauses: dict[str, float] = field(default_factory=dict)  # reason -> seconds

    def add(self, span: SpanRow, start: datetime, end: datetime) -> None:
        s = clipped_s(span, start, end)
        if s <= 0:
            return
        self.seconds[span.state] = self.seconds.get(span.state, 0.0) + s
        if span.state == "paused":
            reason = span.reason or ""
            self.pauses[reason] = self.pauses.get(reason, 0.0) + s

    def __add__(self, other: AgentTally) -> AgentTally:
        out = AgentTally(dict(self.seconds), dict(self.pauses))
        for k, v in other.seconds.items():
            out.seconds[k] = out.seconds.get(k, 0.0) + v
        for k, v in other.pauses.items():
            out.pauses[k] = out.pauses.get(k, 0.0) + v
        return out


def agent_figures(t: AgentTally, calls: CallTally | None = None) -> dict[str, Any]:
    """Time in each state, occupancy, and (with the agent's calls) calls, talk and AHT."""
    sec = t.seconds
    work = sum(sec.get(s, 0.0) for s in WORK_STATES)
    available = sum(sec.get(s, 0.0) for s in AVAILABLE_STATES)
    out: dict[str, Any] = {
        "seconds": {s: round(sec.get(s, 0.0), 1) for s in SPAN_STATES},
        "pauses": {r: round(v, 1) for r, v in sorted(t.pauses.items())},
        "signed_in_s": round(sum(v for s, v in sec.items() if s != "signed-out"), 1),
        "occupancy": _ratio(work, available),
    }
    if calls is not None:
        out.update(answered=calls.answered, talk_s=calls.talk_s,
                   aht_s=_aht(calls))
    return out


def longest_wait_s(waiting_since: Iterable[datetime], now: datetime) -> int:
    """Seconds the longest-waiting caller has waited (0: nobody waits)."""
    oldest = min(waiting_since, default=None)
    return 0 if oldest is None else max(0, int((now - oldest).total_seconds()))


def callbacks_kept(states: Iterable[tuple[str, str | None]]) -> dict[str, Any]:
    """Of the callbacks asked (``(state, last_result)`` each): how many were kept (done
    and answered), failed, cancelled, still pending, and the kept rate."""
    asked = kept = failed = cancelled = pending = 0
    for state, result in states:
        asked += 1
        if state == "done" and result in (None, "answered"):
            kept += 1
        elif state in ("failed", "done"):
            failed += 1
        elif state == "cancelled":
            cancelled += 1
        else:
            pending += 1
    return {"asked": asked, "kept": kept, "failed": failed, "cancelled": cancelled,
            "pending": pending, "kept_rate": _ratio(kept, asked - pending - cancelled)}


# --- intervals ----------------------------------------------------------------------


def bucket(at: datetime, interval: str) -> datetime:
    """The start (aware, Asia/Shanghai) of the ``interval`` holding ``at``."""
    local = at.astimezone(SHANGHAI)
    if interval == "month":
        return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    if interval == "day":
        return local.replace(hour=0, minute=0, second=0, microsecond=0)
    if interval not in INTERVALS:
        raise ValueError(f"unknown interval {interval!r} (one of {', '.join(INTERVALS)})")
    size = int(interval[:-1])
    return local.replace(minute=local.minute - local.minute % size, second=0, microsecond=0)


def next_bucket(start: datetime, interval: str) -> datetime:
    """The start of the interval after the one starting at ``start``."""
    if interval == "month":
        year, month = (start.year + 1, 1) if start.month == 12 else (start.year, start.month + 1)
        return start.replace(year=year, month=month)
    if interval == "day":
        # a calendar day in Shanghai (no DST there, but say what we mean)
        return (start + timedelta(days=1)).replace(hour=0, minute=0, second=0)
    return start + timedelta(minutes=int(interval[:-1]))


def day_bounds(at: datetime) -> tuple[datetime, datetime]:
    """The Asia/Shanghai day holding ``at`` as [start, end) in UTC."""
    start = bucket(at, "day")
    return start.astimezone(UTC), next_bucket(start, "day").astimezone(UTC)


Key = Callable[[CallRow], str | None]
KEYS: dict[str, Key] = {
    "queue": lambda c: c.queue,
    "did": lambda c: c.did,
    "agent": lambda c: c.agent,
    "all": lambda c: "*",
}


def tally_calls(calls: Iterable[CallRow], rules: Mapping[str, QueueRules], *,
                by: Key = KEYS["queue"], interval: str | None = None,
                wrapup: Mapping[str, int] | None = None,
                ) -> dict[tuple[datetime | None, str | None], CallTally]:
    """Calls folded into tallies per (interval start or None, key). ``wrapup``: seconds
    of wrap-up per linkedid (microseconds, ``wrapup_by_call``), added to the answered calls' AHT."""
    out: dict[tuple[datetime | None, str | None], CallTally] = {}
    for call in calls:
        slot = bucket(call.ended_at, interval) if interval and call.ended_at else None
        tally = out.setdefault((slot, by(call)), CallTally())
        before = tally.answered
        tally.add(call, rules_for(rules, call.queue))
        if wrapup and tally.answered > before:
            tally.wrapup_us += wrapup.get(call.linkedid, 0)
    return out


def wrapup_by_call(spans: Iterable[SpanRow], start: datetime, end: datetime
                   ) -> dict[str, int]:
    """Wrap-up microseconds per linkedid (inside [start, end))."""
    out: dict[str, int] = {}
    for span in spans:
        if span.state == "wrap-up" and span.linkedid:
            out[span.linkedid] = out.get(span.linkedid, 0) + clipped_us(span, start, end)
    return out


def tally_agents(spans: Iterable[SpanRow], start: datetime, end: datetime, *,
                 by: Callable[[SpanRow], str | None] = lambda s: s.agent
                 ) -> dict[str | None, AgentTally]:
    """Spans folded into agent tallies per key (agent, or ``lambda s: s.team``)."""
    out: dict[str | None, AgentTally] = {}
    for span in spans:
        out.setdefault(by(span), AgentTally()).add(span, start, end)
    return out
