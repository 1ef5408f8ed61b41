"""The sign-in throttle's rules and the client's address, as plain data (no I/O)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent_console.api import login_throttle as t
from agent_console.api.client_address import client_address, parse_networks

POLICY = t.ThrottlePolicy(free_failures=3, first_delay_s=2.0, max_delay_s=60.0,
                          forget_s=3600.0, address_limit=4, address_window_s=40.0)


def claims(record: Any, now: float) -> tuple[Any, float]:
    return t.pair_claim(record, now, POLICY)


def test_a_pair_goes_free_then_waits_longer_and_longer_up_to_the_cap() -> None:
    record, now, waits = None, 0.0, []
    for _ in range(3):
        record, wait = claims(record, now)
        assert wait == 0
    while len(waits) < 8:
        refused, wait = claims(record, now)
        assert wait > 0 and refused == record  # a refusal changes nothing
        waits.append(wait)
        now += wait
        record, wait = claims(record, now)
        assert wait == 0
    assert waits == [2, 4, 8, 16, 32, 60, 60, 60]


def test_a_pair_untouched_for_forget_s_starts_afresh() -> None:
    record = {"n": 50, "t": 0.0}
    assert claims(record, 3599.0) == ({"n": 51, "t": 3599.0}, 0.0)  # still counted
    fresh, wait = claims(record, 3600.0)
    assert wait == 0 and fresh == {"n": 1, "t": 3600.0}


@pytest.mark.parametrize("record", [
    {}, {"n": "5", "t": 0}, {"n": True, "t": 0}, {"n": 5}, [], "x", {"n": None, "t": None},
])
def test_a_malformed_pair_record_counts_as_absent(record: Any) -> None:
    assert claims(record, 10.0) == ({"n": 1, "t": 10.0}, 0.0)


@given(st.integers(min_value=0, max_value=10**9))
def test_the_delay_never_overflows_and_never_exceeds_the_cap(attempts: int) -> None:
    delay = t.pair_delay(attempts, POLICY)
    assert 0 <= delay <= POLICY.max_delay_s
    assert (delay == 0) == (attempts < POLICY.free_failures)


def test_an_address_gets_a_burst_then_one_every_window_over_limit() -> None:
    record: Any = None
    for _ in range(4):
        record, wait = t.address_take(record, 0.0, POLICY)
        assert wait == 0
    refused, wait = t.address_take(record, 0.0, POLICY)
    assert refused == record and wait == 10.0  # 40 s / 4
    record, wait = t.address_take(record, 10.0, POLICY)
    assert wait == 0
    assert t.address_take(record, 10.0, POLICY)[1] == 10.0
    # idle for a window: a whole burst again
    record, _ = t.address_take(record, 100.0, POLICY)
    assert record == {"tat": 110.0}


def test_the_owner_is_told_how_many_when_and_from_where() -> None:
    record = t.notice_add(None, 5.0, "10.0.0.9")
    record = t.notice_add(record, 9.0, "10.0.0.7")
    assert t.notice_summary(record) == {"count": 2, "first": 5.0, "last": 9.0,
                                        "address": "10.0.0.7"}
    assert t.notice_summary(None) is None
    assert t.notice_summary({"count": 0, "first": 1, "last": 1, "address": "x"}) is None
    assert t.notice_summary({"count": 2, "first": 1, "last": 1}) is None
    assert t.notice_add({"count": "a"}, 1.0, "y" * 500)["address"] == "y" * 64


# --- the client's address -----------------------------------------------------------------

PROXIES = parse_networks(["127.0.0.1", "10.0.0.0/8"])


@pytest.mark.parametrize("peer,forwarded,expected", [
    ("203.0.113.5", None, "203.0.113.5"),
    ("203.0.113.5", "1.2.3.4", "203.0.113.5"),  # not from a proxy: the header is ignored
    ("127.0.0.1", None, "127.0.0.1"),
    ("127.0.0.1", "198.51.100.7", "198.51.100.7"),
    ("127.0.0.1", "6.6.6.6, 198.51.100.7", "198.51.100.7"),  # the client's own part: no
    ("127.0.0.1", "198.51.100.7, 10.1.2.3", "198.51.100.7"),  # through two proxies
    ("127.0.0.1", "10.9.9.9, 10.1.2.3", "10.9.9.9"),  # only proxies: the first one
    ("127.0.0.1", "garbage, 10.1.2.3", "10.1.2.3"),  # a bad hop ends the walk
    ("127.0.0.1", "2001:DB8::1", "2001:db8::1"),  # one spelling
    (None, "1.2.3.4", "unknown"),
    ("not-an-ip", "1.2.3.4", "not-an-ip"),
])
def test_client_address(peer: str | None, forwarded: str | None, expected: str) -> None:
    assert client_address(peer, forwarded, PROXIES) == expected


def test_without_trusted_proxies_the_peer_is_the_client() -> None:
    assert client_address("127.0.0.1", "198.51.100.7") == "127.0.0.1"


def test_a_bad_proxy_setting_is_refused_at_start() -> None:
    from hotline.settings import Settings

    with pytest.raises(ValueError, match="nonsense"):
        Settings(trusted_proxies=["nonsense"])
    assert Settings(trusted_proxies=["10.0.0.0/8"]).trusted_proxies == ["10.0.0.0/8"]
