"""The console's pure modules run in Chromium on plain data (issue 14 items 4, 5, 8):
``words.js`` (the state bar's one state, queue names, what an outcome says, how a call
ended for the agent, when a log form is offered) and ``timeline.js`` (a customer's calls
and interactions on one timeline)."""

from __future__ import annotations

from typing import Any

from tests.browser.conftest import Browser, Console

WRAPPING = "2026-12-07T10:00:30+00:00"


async def module(page: Any, console: Console, name: str, call: str, arg: Any) -> Any:
    """``call`` (a JS expression over ``m``, the module, and ``a``, the argument)."""
    return await page.evaluate(
        f"async (a) => {{ const m = await import('/static/console/js/{name}'); return {call}; }}",
        arg)


async def test_state_words(console: Console, browser: Browser) -> None:
    page = await browser.page()
    await page.goto(f"{console.base}/login")
    cases = [
        ({"state": "ready"}, ("ready", "state.ready", None, False, "")),
        ({"state": "paused", "paused": True, "reason": "lunch"},
         ("paused", "state.paused_for", "pause_reason.lunch", False, "")),
        ({"state": "paused", "paused": True, "reason": "Lunch "},  # as a phone may set it
         ("paused", "state.paused_for", "pause_reason.lunch", False, "")),
        ({"state": "paused", "paused": True, "reason": "hotline-callback"},
         ("paused", "state.held_for_callback", None, False, "")),
        ({"state": "paused", "paused": True, "reason": "wrap-up"},
         ("wrap-up", "state.wrap-up", None, False, "")),
        ({"state": "paused", "paused": True, "reason": "gone fishing"},
         ("paused", "state.paused", None, False, "gone fishing")),
        # paused during a wrap-up: the pause alone, no countdown
        ({"state": "paused", "paused": True, "reason": "lunch", "wrapup_until": WRAPPING},
         ("paused", "state.paused_for", "pause_reason.lunch", False, "")),
        ({"state": "wrap-up", "paused": True, "reason": "wrap-up", "wrapup_until": WRAPPING},
         ("wrap-up", "state.wrap-up", None, True, "")),
        ({"state": "wrap-up", "wrapup_until": "not a time"},
         ("wrap-up", "state.wrap-up", None, False, "")),
        ({}, ("unknown", "state.unknown", None, False, "")),
    ]
    got = await module(page, console, "words.js", "a.map((v) => { const w = m.stateWords(v);"
                       " return [w.pill, w.key, w.vars.reason || null, w.countdown, w.hint]; })",
                       [c for c, _ in cases])
    assert [tuple(g) for g in got] == [want for _, want in cases]
    pressed = await module(page, console, "words.js", "a.map((v) => m.activeButton(v))",
                           [c for c, _ in cases])
    assert pressed == ["ready", "pause", "pause", None, None, "pause", "pause", None, None, None]
    confirms = await module(page, console, "words.js",
                            "a.map(([act, v]) => m.confirms(act, v))",
                            [["ready", {"state": "ready"}], ["pause", {"state": "ready"}],
                             ["pause", {"state": "wrap-up", "paused": True}],
                             ["sign-in", {"state": "unknown"}], ["sign-in", {"state": "busy"}],
                             ["sign-out", {"state": "signed-out"}], ["other", {}]])
    assert confirms == [True, False, True, False, True, True, False]
    queues = await module(page, console, "words.js", "a.map((q) => m.queueWords(q))",
                          ["support", "VIP", "agent-1001", "agent-x_1", "billing", "", None])
    assert queues == [{"key": "queue.support", "raw": "support"},
                      {"key": "queue.vip", "raw": "VIP"}, None, None,
                      {"key": None, "raw": "billing"}, None, None]


async def test_outcome_words(console: Console, browser: Browser) -> None:
    page = await browser.page()
    await page.goto(f"{console.base}/login")
    calls = [
        {"outcome": "no-answer", "hangup_by": "system"},
        {"outcome": "no-answer", "direction": "outbound", "hangup_by": "system"},
        {"outcome": "abandoned", "hangup_by": "caller"},
        {"outcome": "failed", "direction": "outbound"},
        {"outcome": "answered", "hangup_by": "agent"},
        {"outcome": "ivr-only"},
    ]
    said = await module(page, console, "words.js",
                        "a.map((c) => [m.outcomeKey(c), m.endedByKey(c)])", calls)
    assert said == [["outcome.queue-timeout", "ended_by.queue"],
                    ["outcome.customer-no-answer", "ended_by.system"],
                    ["outcome.abandoned", "ended_by.caller"],
                    ["outcome.not-placed", ""],
                    ["outcome.answered", "ended_by.agent"],
                    ["outcome.ivr-only", ""]]
    me = "Local/1001@agents/n"
    ends = [
        ({"outcome": "abandoned"}, {}),
        ({"outcome": "no-answer"}, {}),
        ({"outcome": "no-answer", "direction": "outbound"}, {}),
        ({"outcome": "answered", "agent_interface": "Local/1002@agents/n"}, {"me": me}),
        ({"outcome": "answered", "agent_interface": me}, {"me": me, "answered": True}),
        ({"outcome": "transferred", "agent_interface": me}, {"me": me}),
        ({"outcome": "abandoned"}, {"answered": True}),  # she talked to them: it just ended
        ({"outcome": "failed"}, {}),
        ({}, {}),
    ]
    got = await module(page, console, "words.js", "a.map(([f, o]) => m.endStatus(f, o))", ends)
    assert got == ["abandoned", "queue-timeout", "customer-no-answer", "taken-elsewhere",
                   "ended", "ended", "ended", "failed", "ended"]
    offered = await module(page, console, "words.js", "a.map((c) => m.logOffered(c))", [
        None, {"status": "ringing"}, {"status": "talking"},
        {"status": "ended", "answered_at": "x"}, {"status": "abandoned"},
        {"status": "missed"}, {"status": "queue-timeout", "logAsked": True}])
    assert offered == [True, True, True, True, False, False, True]
    await browser.assert_clean()


async def test_timeline(console: Console, browser: Browser) -> None:
    page = await browser.page()
    await page.goto(f"{console.base}/login")

    def at(minute: int) -> str:
        return f"2026-12-07T10:{minute:02d}:00+00:00"

    calls = [{"linkedid": "c3", "ended_at": at(30)}, {"linkedid": "c2", "ended_at": at(20)},
             {"linkedid": "c1", "ended_at": at(5)}]
    interactions = [
        {"id": 6, "occurred_at": at(32), "call_linkedid": "c3"},  # logged after the call
        {"id": 5, "occurred_at": at(25)},
        {"id": 4, "occurred_at": at(21), "call_linkedid": "c2"},
        {"id": 3, "occurred_at": at(20), "call_linkedid": "c2"},
        {"id": 2, "occurred_at": at(15), "call_linkedid": "gone"},  # its call not loaded
        {"id": 1, "occurred_at": at(1)},
    ]

    async def build(c: list[Any], i: list[Any], more: dict[str, bool]) -> Any:
        return await module(page, console, "timeline.js",
                            "(() => { const r = m.buildTimeline(a[0], a[1], a[2]);"
                            " return [r.held, r.entries.map((e) => e.kind === 'call'"
                            " ? [e.call.linkedid, e.logs.map((l) => l.id)] : e.item.id)]; })()",
                            [c, i, more])

    held, entries = await build(calls, interactions, {})
    assert held == 0
    assert entries == [["c3", [6]], 5, ["c2", [3, 4]], 2, ["c1", []], 1]
    # older interactions still to load: nothing older than the oldest loaded one is shown
    # (c2 waits too: its first log is not loaded yet)
    held, entries = await build(calls, interactions[:3], {"interactions": True})
    assert entries == [["c3", [6]], 5] and held == 2
    # older calls still to load: likewise
    held, entries = await build(calls[:1], interactions, {"calls": True})
    assert entries == [["c3", [6]]] and held == 5
    held, entries = await build([], [], {})
    assert (held, entries) == (0, [])
    await browser.assert_clean()
