"""Pure parts of the AMI client: backoff, MD5 key, Originate timeout, settings,
and what the client does before it has any connection (no sockets here)."""

from __future__ import annotations

from collections.abc import Mapping
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from telephony.ami import (
    AmiClient,
    AmiError,
    AmiNotConnected,
    AmiTimeout,
    backoff_delay,
    md5_key,
    originate_timeout,
)


class Nothing:
    def on_event(self, msg: Mapping[str, str]) -> None: ...
    def on_connected(self) -> None: ...
    def on_disconnected(self) -> None: ...
    def on_resync_begin(self) -> None: ...
    def on_resync_end(self) -> None: ...


def test_backoff_grows_exponentially_up_to_the_cap() -> None:
    top = [backoff_delay(n, 0.5, 30.0, lambda: 1.0) for n in range(10)]
    assert top == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0, 30.0]


def test_backoff_full_jitter_spans_lo_to_ceiling() -> None:
    assert backoff_delay(5, 0.5, 30.0, lambda: 0.0) == 0.5
    assert backoff_delay(3, 0.5, 30.0, lambda: 0.5) == pytest.approx(0.5 + (4.0 - 0.5) / 2)


def test_backoff_survives_huge_attempts_and_bad_rng() -> None:
    assert backoff_delay(10**6, 0.5, 30.0, lambda: 1.0) == 30.0
    assert backoff_delay(-3, 0.5, 30.0, lambda: 1.0) == 0.5
    assert backoff_delay(4, 0.5, 30.0, lambda: 7.0) == 8.0
    assert backoff_delay(4, 0.5, 0.1, lambda: 1.0) == 0.5  # hi below lo: lo wins


@given(
    attempt=st.integers(min_value=0, max_value=200),
    lo=st.floats(min_value=0.0, max_value=10.0),
    span=st.floats(min_value=0.0, max_value=100.0),
    draw=st.floats(min_value=0.0, max_value=1.0),
)
def test_backoff_is_always_within_bounds(attempt: int, lo: float, span: float,
                                         draw: float) -> None:
    hi = lo + span
    delay = backoff_delay(attempt, lo, hi, lambda: draw)
    assert lo <= delay <= hi + 1e-9
    assert delay <= backoff_delay(attempt + 1, lo, hi, lambda: 1.0) + 1e-9


def test_md5_key_matches_the_real_capture() -> None:
    # 10c-login-md5-challenge: Challenge 836067126, secret hotline-secret
    assert md5_key("836067126", "hotline-secret") == "ce9fb25adb644acba4b92bad46671bc2"


def test_originate_timeout() -> None:
    assert originate_timeout({"Async": "true"}, 5.0) == 5.0
    assert originate_timeout({}, 5.0) == 35.0
    assert originate_timeout({"Timeout": 20000}, 5.0) == 25.0
    assert originate_timeout({"Timeout": "junk"}, 5.0) == 35.0


def test_from_settings_is_duck_typed() -> None:
    settings = SimpleNamespace(
        ami_host="pbx.example", ami_port="5039", ami_username="u", ami_secret="s",
        ami_action_timeout_s=2, ami_ping_interval_s=3, ami_ping_timeout_s=1,
        ami_reconnect_min_s=0.25, ami_reconnect_max_s=8,
    )
    client = AmiClient.from_settings(settings, Nothing())
    assert (client.host, client.port, client.username) == ("pbx.example", 5039, "u")
    assert client.action_timeout == 2.0 and client.ping_interval == 3.0
    assert client.ping_timeout == 1.0
    assert (client.reconnect_min, client.reconnect_max) == (0.25, 8.0)
    assert client.resync


def test_error_hierarchy_and_response() -> None:
    err = AmiError("boom", {"Response": "Error", "Message": "boom"})
    assert err.response == {"Response": "Error", "Message": "boom"}
    assert issubclass(AmiTimeout, AmiError) and issubclass(AmiNotConnected, AmiError)


def _client() -> AmiClient:
    return AmiClient(host="127.0.0.1", port=1, username="u", secret="s", consumer=Nothing())


async def test_actions_before_start_fail_at_once() -> None:
    client = _client()
    assert not client.connected
    with pytest.raises(AmiNotConnected):
        await client.send_action("Ping")
    with pytest.raises(AmiNotConnected):
        await client.send_list_action("CoreShowChannels")
    with pytest.raises(AmiNotConnected):
        await client.originate(Channel="Local/1@x")


async def test_wait_connected_times_out() -> None:
    client = _client()
    with pytest.raises(AmiTimeout):
        await client.wait_connected(0.01)
    await client.close()  # closing a client never started is fine
