"""The AMI lease's decisions (``hotline.lease.Fence``) and the forwarded PBX requests'
checks (``hotline.pbx_rpc``), with plain numbers: no Redis, no clock."""

from __future__ import annotations

import json

import pytest

from agent_console.pbx_actions import NotSignedIn, PbxRefused, PbxUnreachable, UnknownCall
from hotline.lease import Fence, Transition
from hotline.pbx_rpc import OPS, decode_request, error_of

TTL = 4.0


def test_an_acquired_lease_is_trusted_from_when_it_was_asked_less_a_guard() -> None:
    fence = Fence(ttl_s=TTL)
    assert fence.acquired(7, sent_at=100.0) is Transition.GAINED
    assert fence.current(100.0) == 7
    assert fence.current(103.1) == 7
    # never up to the very end of the ttl (Redis' clock may run ahead of ours)
    assert fence.current(103.2) is None
    assert fence.current(104.0) is None


def test_a_refused_acquire_leaves_the_node_without_the_lease() -> None:
    fence = Fence(ttl_s=TTL)
    assert fence.acquired(None, sent_at=1.0) is Transition.NONE
    assert fence.current(1.0) is None
    assert not fence.allows(None, 1.0)


def test_renewals_keep_it_a_refused_renewal_loses_it() -> None:
    fence = Fence(ttl_s=TTL)
    fence.acquired(3, sent_at=0.0)
    assert fence.renewed(True, sent_at=1.0) is Transition.KEPT
    assert fence.current(4.1) == 3
    assert fence.renewed(False, sent_at=2.0) is Transition.LOST
    assert fence.current(2.0) is None


def test_a_late_reply_never_extends_the_lease_past_what_the_request_allowed() -> None:
    fence = Fence(ttl_s=TTL)
    fence.acquired(3, sent_at=10.0)
    # a renewal sent earlier than the last one, answered late: the deadline stays
    fence.renewed(True, sent_at=9.0)
    assert fence.until == pytest.approx(10.0 + TTL * 0.8)


def test_without_answers_from_redis_the_lease_holds_only_until_its_local_deadline() -> None:
    fence = Fence(ttl_s=TTL)
    fence.acquired(5, sent_at=0.0)
    assert fence.expired(now=2.0) is Transition.KEPT
    assert fence.expired(now=3.3) is Transition.LOST
    assert fence.expired(now=3.4) is Transition.NONE


def test_a_stale_owner_whose_token_is_older_cannot_publish_or_act() -> None:
    """Node A held token 1 and paused; node B took the lease (token 2). Whatever A did
    under token 1 is refused, whether A's clock says its lease ran out or not."""
    a, b = Fence(ttl_s=TTL), Fence(ttl_s=TTL)
    a.acquired(1, sent_at=0.0)
    assert a.allows(1, now=1.0)
    b.acquired(2, sent_at=5.0)  # A's lease expired in Redis, B got a larger token
    assert b.allows(2, now=5.5)
    assert not a.allows(1, now=5.5)  # A wakes up: its local deadline is past
    assert not b.allows(1, now=5.5)  # an action or event under the old token: refused
    # even if A's renewal were answered "ok" by mistake, token 1 is not B's
    assert a.renewed(False, sent_at=5.6) is Transition.LOST
    assert not a.allows(1, now=5.7)


def test_an_old_token_is_refused_even_before_the_local_deadline() -> None:
    fence = Fence(ttl_s=TTL)
    fence.acquired(1, sent_at=0.0)
    fence.lose()
    fence.acquired(2, sent_at=0.5)
    assert fence.allows(2, now=1.0)
    assert not fence.allows(1, now=1.0)


def _request(**over: object) -> bytes:
    data = {"op": "pause", "args": {"interface": "Local/1001@agents/n", "reason": "Lunch"},
            "reply": "r:1", "start_by": 10.0, **over}
    return json.dumps(data).encode()


def test_a_forwarded_request_is_checked_before_anything_is_done() -> None:
    ok = decode_request(_request())
    assert (ok.op, ok.args["reason"], ok.start_by) == ("pause", "Lunch", 10.0)
    dial = decode_request(_request(op="dial", args={
        "interface": "Local/1001@agents/n", "digits": "13800138000",
        "variables": {"HOTLINE_ORIGINATED_BY": "alice"}}))
    assert dial.args["variables"] == {"HOTLINE_ORIGINATED_BY": "alice"}
    assert set(OPS) == {"sign_in", "sign_out", "pause", "unpause", "dial", "blind_transfer",
                        "attended_transfer", "hangup", "spy"}


@pytest.mark.parametrize("raw", [
    b"not json", b"[1]", b"\xff\xfe",
    _request(op="__init__"), _request(op="client"),
    _request(args={"interface": "x"}),  # missing reason
    _request(args={"interface": "x", "reason": "y", "extra": 1}),
    _request(args={"interface": 1, "reason": "y"}),
    _request(op="dial", args={"interface": "x", "digits": "1", "variables": {"A": 1}}),
    _request(op="sign_in", args={"interface": "x", "name": "n", "queues": "support"}),
    _request(reply=""), _request(start_by="soon"), _request(start_by=True),
    b"x" * 70_000,
])
def test_bad_requests_are_refused_with_a_reason(raw: bytes) -> None:
    with pytest.raises(ValueError):
        decode_request(raw)


def test_a_failed_reply_becomes_the_same_error_as_on_the_owner() -> None:
    assert isinstance(error_of({"code": "pbx-unreachable", "message": "m"}), PbxUnreachable)
    assert isinstance(error_of({"code": "not_found", "message": "m"}), UnknownCall)
    assert isinstance(error_of({"code": "not-signed-in", "message": "m"}), NotSignedIn)
    other = error_of({"code": "???", "message": "the PBX refused QueuePause: x"})
    assert isinstance(other, PbxRefused) and other.message.endswith(": x")


def test_settings_refuse_a_lease_renewed_too_rarely_to_be_kept() -> None:
    from pydantic import ValidationError

    from hotline.settings import Settings

    ok = Settings(ami_lease_ttl_s=4.0, ami_lease_renew_s=1.0)
    assert (ok.ami_lease_ttl_s, ok.ami_lease_renew_s, ok.pbx_request_timeout_s) == (4.0, 1.0,
                                                                                    10.0)
    with pytest.raises(ValidationError, match="ami_lease_renew_s"):
        Settings(ami_lease_ttl_s=2.0, ami_lease_renew_s=1.0)
