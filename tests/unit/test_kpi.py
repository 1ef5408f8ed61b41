"""The one set of KPI definitions (``crm_core.kpi``) with plain records."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crm_core import kpi
from crm_core.kpi import CallRow, CallTally, QueueRules, SpanRow
from telephony.events import CallSummary

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
RULES = {"*": QueueRules(sl_s=20, short_abandon_s=5)}


def call(n: int, outcome: str, wait: int | None = None, *, queue: str | None = "support",
         talk: int | None = None, at: datetime = T0, did: str = "4008001234",
         agent: str | None = None, direction: str = "inbound") -> CallRow:
    return CallRow(linkedid=f"c{n}", direction=direction, did=did, queue=queue,
                   agent=agent, outcome=outcome, queued=queue is not None, wait_s=wait,
                   talk_s=talk, ended_at=at)


def tally(calls: list[CallRow], rules: QueueRules = RULES["*"]) -> CallTally:
    t = CallTally()
    for c in calls:
        t.add(c, rules)
    return t


def test_service_level_is_app_queues_both_ways_within_means_at_most_t() -> None:
    calls = [call(1, "answered", 20, talk=60), call(2, "answered", 21, talk=30),
             call(3, "abandoned", 3), call(4, "abandoned", 40), call(5, "no-answer", 300),
             call(6, "transferred", 0, talk=10)]
    f = kpi.call_figures(tally(calls))
    assert f["offered"] == 6 and f["answered"] == 3 and f["timed_out"] == 1
    # ServicelevelPerf: answered within 20 s (20 and 0) / answered (3)
    assert f["sl"] == 66.7
    # ServicelevelPerf2: (2 answered + 1 abandoned within) / (3 answered + 2 abandoned)
    assert f["sl2"] == 60.0
    # short abandons apart: 1 abandon counted of 6 - 1 offered
    assert (f["abandoned"], f["short_abandoned"], f["abandon_rate"]) == (1, 1, 20.0)
    assert f["asa_s"] == pytest.approx(41 / 3, abs=0.05)
    assert f["aht_s"] == pytest.approx(100 / 3, abs=0.05)


def test_nothing_to_divide_gives_no_figure_rather_than_a_made_up_one() -> None:
    f = kpi.call_figures(tally([call(1, "ivr-only", queue=None), call(2, "no-answer", 90)]))
    assert f["sl"] is None and f["sl2"] is None and f["asa_s"] is None
    assert f["ivr_only"] == 1 and f["ivr_self_service"] == 50.0


def test_outbound_calls_are_no_kpi_of_the_queues() -> None:
    t = tally([call(1, "answered", 0, direction="outbound", queue=None)])
    assert t == CallTally()


def test_a_call_summary_and_a_log_row_make_the_same_row() -> None:
    summary = CallSummary(linkedid="L1", caller="+8613800138000", caller_name=None,
                          did="4008001234", queues=("vip", "support"),
                          agent_interface="PJSIP/1001", queued_at=T0, wait_s=4, talk_s=9,
                          outcome="answered", ended_at=T0)
    row = kpi.call_row(summary)
    assert row == CallRow(linkedid="L1", did="4008001234", queue="vip", agent="PJSIP/1001",
                          outcome="answered", queued=True, wait_s=4, talk_s=9, ended_at=T0)


def test_queue_rules_from_settings_json_say_what_is_wrong() -> None:
    assert kpi.QueueRules.from_dict({"sl_s": 30}).sl_s == 30
    with pytest.raises(ValueError, match="unknown queue rule"):
        kpi.QueueRules.from_dict({"sla": 30})
    with pytest.raises(ValueError, match="sl_s must be a number"):
        kpi.QueueRules.from_dict({"sl_s": "thirty"})
    assert kpi.rules_for({"vip": QueueRules(sl_s=10)}, "vip").sl_s == 10
    assert kpi.rules_for({"vip": QueueRules(sl_s=10)}, "support").sl_s == kpi.DEFAULT_SL_S


def test_intervals_are_shanghai_time() -> None:
    late = datetime(2026, 3, 31, 16, 7, tzinfo=UTC)  # 00:07 on 1 April in Shanghai
    assert kpi.bucket(late, "15m").isoformat() == "2026-04-01T00:00:00+08:00"
    assert kpi.bucket(late, "day").isoformat() == "2026-04-01T00:00:00+08:00"
    assert kpi.bucket(late - timedelta(minutes=8), "month").isoformat() == \
        "2026-03-01T00:00:00+08:00"
    assert kpi.next_bucket(kpi.bucket(late, "month"), "month").month == 5
    assert kpi.bucket(T0 + timedelta(minutes=44), "30m").minute == 30
    with pytest.raises(ValueError, match="unknown interval"):
        kpi.bucket(T0, "7m")


def test_agent_time_is_clipped_to_the_period_and_occupancy_excludes_pauses() -> None:
    start, end = T0, T0 + timedelta(hours=1)
    spans = [
        SpanRow(agent="a", state="ready", started_at=start - timedelta(minutes=30),
                ended_at=start + timedelta(minutes=10)),
        SpanRow(agent="a", state="talking", started_at=start + timedelta(minutes=10),
                ended_at=start + timedelta(minutes=25), linkedid="c1"),
        SpanRow(agent="a", state="wrap-up", started_at=start + timedelta(minutes=25),
                ended_at=start + timedelta(minutes=30), linkedid="c1"),
        SpanRow(agent="a", state="paused", reason="lunch",
                started_at=start + timedelta(minutes=30)),  # still lasts
    ]
    t = kpi.tally_agents(spans, start, end)["a"]
    f = kpi.agent_figures(t)
    assert f["seconds"]["ready"] == 600 and f["pauses"] == {"lunch": 1800}
    assert f["occupancy"] == 66.7  # (15 + 5) / (10 + 15 + 5)
    assert kpi.wrapup_by_call(spans, start, end) == {"c1": 300 * kpi.US}


def test_longest_wait_and_callbacks_kept() -> None:
    assert kpi.longest_wait_s([], T0) == 0
    assert kpi.longest_wait_s([T0 - timedelta(seconds=42), T0], T0) == 42
    f = kpi.callbacks_kept([("done", "answered"), ("done", "busy"), ("waiting", None),
                            ("cancelled", None)])
    assert (f["asked"], f["kept"], f["failed"], f["kept_rate"]) == (4, 1, 1, 50.0)


OUTCOMES = st.sampled_from(["answered", "transferred", "abandoned", "no-answer", "ivr-only"])
CALLS = st.lists(st.builds(
    lambda n, o, w, q, m: call(n, o, w, queue=q, talk=w, at=T0 + timedelta(minutes=m)),
    st.integers(0, 10_000), OUTCOMES, st.one_of(st.none(), st.integers(0, 120)),
    st.sampled_from(["support", "vip", None]), st.integers(0, 600)), max_size=60)


@settings(max_examples=150, deadline=None)
@given(CALLS, st.sampled_from(kpi.INTERVALS))
def test_a_periods_tally_is_the_sum_of_its_intervals(calls: list[CallRow], interval: str
                                                     ) -> None:
    whole = kpi.tally_calls(calls, RULES, by=kpi.KEYS["all"])
    parts = kpi.tally_calls(calls, RULES, by=kpi.KEYS["all"], interval=interval)
    total = sum(parts.values(), CallTally())
    assert total == whole.get((None, "*"), CallTally())


@settings(max_examples=150, deadline=None)
@given(CALLS)
def test_figures_stay_in_their_bounds(calls: list[CallRow]) -> None:
    f = kpi.call_figures(tally(calls))
    for name in ("sl", "sl2", "abandon_rate", "ivr_self_service"):
        assert f[name] is None or 0.0 <= f[name] <= 100.0
    assert f["answered"] + f["abandoned"] + f["short_abandoned"] + f["timed_out"] + \
        f["other"] == \
        f["offered"]
    assert f["offered"] + f["ivr_only"] <= f["inbound"]
