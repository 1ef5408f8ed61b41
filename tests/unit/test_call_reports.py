"""The call centre reports' own groupings (``crm_core.call_reports``): abandons by hour and
by wait with ``kpi``'s short-abandon rule per queue, callbacks per day and queue with
``kpi.callbacks_kept``, an agent's figures flattened for a table and a file."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from crm_core import call_reports, kpi
from crm_core.call_reports import Abandon, CallbackRow
from crm_core.kpi import AgentTally, CallTally, QueueRules, SpanRow
from crm_core.satisfaction_figures import Tally

RULES = {"*": QueueRules(short_abandon_s=5), "vip": QueueRules(short_abandon_s=2)}
# 09:xx in Shanghai
NINE = datetime(2026, 5, 4, 1, 0, tzinfo=UTC)


def test_wait_bands_cover_every_wait_once() -> None:
    assert [call_reports.band_of(w) for w in (0, 4, 5, 9, 10, 59, 60, 299, 300, 10_000)] == [
        0, 0, 1, 1, 2, 4, 5, 6, 7, 7]
    assert call_reports.band_of(-3) == 0
    assert call_reports.band_label(0) == "0-5 s" and call_reports.band_label(7) == "300+ s"


def test_abandons_by_shanghai_hour_and_wait_with_each_queues_short_rule() -> None:
    abandons = [
        Abandon(ended_at=NINE, wait_s=3, queue="support"),  # short (< 5)
        Abandon(ended_at=NINE + timedelta(minutes=59), wait_s=3, queue="vip"),  # not (>= 2)
        Abandon(ended_at=NINE + timedelta(hours=1), wait_s=45, queue=None),
        Abandon(ended_at=datetime(2026, 5, 4, 16, 30, tzinfo=UTC), wait_s=400, queue="vip"),
    ]
    out = call_reports.abandon_analysis(abandons, {9: 10, 10: 4}, RULES)
    hours = {r["hour"]: r for r in out["when"]}
    assert len(out["when"]) == 24
    assert hours[9] == {"hour": 9, "abandoned": 2, "short_abandoned": 1, "offered": 10,
                        "share": 50.0}
    assert hours[10]["abandoned"] == 1 and hours[10]["offered"] == 4
    assert hours[0]["abandoned"] == 1  # 16:30 UTC is 00:30 the next day in Shanghai
    bands = {r["band"]: r for r in out["waits"]}
    assert bands["0-5 s"]["abandoned"] == 2 and bands["0-5 s"]["short_abandoned"] == 1
    assert bands["30-60 s"]["abandoned"] == 1 and bands["300+ s"]["abandoned"] == 1
    assert sum(r["abandoned"] for r in out["waits"]) == 4
    # the short rule is kpi's: the same calls as CallRows give the same short count
    tally = CallTally()
    for a in abandons:
        tally.add(kpi.CallRow(linkedid="x", queue=a.queue, queued=True, outcome="abandoned",
                              wait_s=a.wait_s), kpi.rules_for(RULES, a.queue))
    assert tally.short_abandoned == sum(r["short_abandoned"] for r in out["when"])


def test_no_abandon_has_no_share() -> None:
    out = call_reports.abandon_analysis([], {}, RULES)
    assert all(r["share"] is None and r["abandoned"] == 0 for r in out["when"] + out["waits"])
    rows = call_reports.abandon_file_rows(out)
    assert len(rows) == 24 + len(call_reports.WAIT_BANDS)
    assert rows[0]["label"] == "00:00" and rows[-1]["label"] == "300+ s"


def test_callbacks_per_shanghai_day_and_queue() -> None:
    late = datetime(2026, 5, 4, 17, 0, tzinfo=UTC)  # 5 May 01:00 in Shanghai
    rows = [CallbackRow(created_at=NINE, queue="support", state="done", last_result="answered"),
            CallbackRow(created_at=NINE, queue="support", state="failed", last_result="busy"),
            CallbackRow(created_at=NINE, queue="vip", state="waiting", last_result=None),
            CallbackRow(created_at=late, queue="support", state="cancelled", last_result=None)]
    days = call_reports.callbacks_by_day(rows)
    assert [(d["day"], d["queue"]) for d in days] == [
        ("2026-05-04", "support"), ("2026-05-04", "vip"), ("2026-05-05", "support")]
    assert days[0] == {"day": "2026-05-04", "queue": "support", "asked": 2, "kept": 1,
                            "failed": 1, "cancelled": 0, "pending": 0, "kept_rate": 50.0}
    total = call_reports.callbacks_total(rows)
    assert total == kpi.callbacks_kept((r.state, r.last_result) for r in rows)
    assert total["asked"] == 4 and total["kept_rate"] == 50.0


def test_an_agents_row_is_the_books_figures() -> None:
    tally = AgentTally()
    start, end = NINE, NINE + timedelta(hours=1)
    for state, minutes, reason in (("ready", 10, None), ("talking", 20, None),
                                   ("wrap-up", 5, None), ("paused", 15, "lunch"),
                                   ("paused", 10, None)):
        tally.add(SpanRow(agent="PJSIP/1001", state=state, reason=reason, started_at=start,
                          ended_at=start + timedelta(minutes=minutes)), NINE, end)
        start += timedelta(minutes=minutes)
    calls = CallTally(answered=2, talk_s=1200, wrapup_us=300 * kpi.US)
    row = call_reports.agent_row("PJSIP/1001", kpi.agent_figures(tally, calls), "王丽", "A")
    assert row == {"agent": "PJSIP/1001", "name": "王丽", "team": "A", "answered": 2,
                   "talk_s": 1200, "aht_s": 750.0, "occupancy": 71.4, "signed_in_s": 3600.0,
                   "ready_s": 600.0, "talking_s": 1200.0, "wrapup_s": 300.0,
                   "paused_s": 1500.0, "pauses": {"": 600.0, "lunch": 900.0},
                   "satisfaction_count": 0, "satisfaction_mean": None}
    scored = call_reports.agent_row("PJSIP/1001", kpi.agent_figures(tally, calls), "王丽",
                                    "A", Tally.of([5, 4, 4, 2]))
    assert (scored["satisfaction_count"], scored["satisfaction_mean"]) == (4, 3.8)
