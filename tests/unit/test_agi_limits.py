"""FastAGI caps, sans-I/O: who may open a session, and how often a refusal is logged."""

from __future__ import annotations

from ivr.agi_limits import REFUSED_PEER_SESSIONS, REFUSED_SESSIONS, LogThrottle, SessionLimiter


def test_sessions_are_capped_in_all_and_per_peer() -> None:
    limiter = SessionLimiter(max_sessions=4, max_per_peer=2)
    assert [limiter.admit("10.0.0.1") for _ in range(3)] == [None, None, REFUSED_PEER_SESSIONS]
    assert [limiter.admit("10.0.0.2") for _ in range(2)] == [None, None]
    assert limiter.admit("10.0.0.3") == REFUSED_SESSIONS  # the total cap comes first
    assert limiter.total == 4 and limiter.open_from("10.0.0.1") == 2
    limiter.release("10.0.0.1")
    assert limiter.admit("10.0.0.3") is None  # a freed place is anyone's
    assert limiter.admit("10.0.0.1") == REFUSED_SESSIONS


def test_a_refused_session_takes_no_place_and_released_peers_leave_nothing() -> None:
    limiter = SessionLimiter(max_sessions=1, max_per_peer=1)
    assert limiter.admit("a") is None
    for peer in ("a", "b", "c"):
        assert limiter.admit(peer) is not None
    limiter.release("a")
    assert limiter.total == 0 and limiter.open_from("a") == 0
    assert limiter._open == {}  # no entry kept per address ever seen


def test_log_throttle_gives_one_line_per_kind_per_interval_with_the_count_held() -> None:
    throttle = LogThrottle(interval=10.0)
    assert throttle.allow("sessions", 0.0) == 0
    assert [throttle.allow("sessions", t) for t in (1.0, 2.0, 9.9)] == [None, None, None]
    assert throttle.allow("header_bytes", 5.0) == 0  # each kind has its own pace
    assert throttle.allow("sessions", 10.0) == 3  # the three held back are told
    assert throttle.allow("sessions", 25.0) == 0
