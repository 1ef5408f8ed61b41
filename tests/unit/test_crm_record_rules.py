"""The pure rules of the CRM record services: input validation, phone kinds, the
end-of-day closing of interactions, ticket numbers and the ticket state table."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from crm_core.customers import guess_kind, normalize_numbers
from crm_core.errors import Conflict, DuplicateCustomer, NotFound, ValidationFailed
from crm_core.interactions import is_closed
from crm_core.records import (
    a_date,
    a_datetime,
    business_day,
    check_fields,
    check_page,
    choice,
    integer,
    money,
    text,
)
from crm_core.tickets import (
    DONE_STATUSES,
    OPEN_STATUSES,
    STAMPS,
    TICKET_STATUSES,
    TICKET_TRANSITIONS,
    can_move,
    can_reopen,
    format_number,
    is_reopen,
    next_moves,
)

SH = timezone(timedelta(hours=8))


def test_errors_carry_their_data() -> None:
    err = ValidationFailed("vip_tier", "must be in 0..5")
    assert (err.field, err.message, str(err)) == ("vip_tier", "must be in 0..5",
                                                  "vip_tier: must be in 0..5")
    nf = NotFound("customer", 5)
    assert (nf.entity, nf.id) == ("customer", 5) and "customer 5" in str(nf)
    dup = DuplicateCustomer(3, "华为", None, "phone")
    assert (dup.existing_id, dup.owner_name, dup.reason) == (3, None, "phone")
    assert "shared pool" in str(dup)
    assert Conflict("closed: add an addendum").message == "closed: add an addendum"


@pytest.mark.parametrize(("raw", "kind"), [
    ("13800138000", "mobile"), ("+86 199 0000 0000", "mobile"),
    ("010-5129 7073", "landline"), ("(0371)66718888", "landline"),
    ("4008001234", "hotline"), ("800-810-8888", "hotline"),
    ("+1 650 253 0000", "phone"), ("1001", "phone"),
])
def test_phone_kind(raw: str, kind: str) -> None:
    [(number, _)] = normalize_numbers([raw])
    assert guess_kind(number) == kind


def test_numbers_are_validated_and_deduplicated() -> None:
    assert normalize_numbers(["13800138000", " +86 138 0013 8000 ", "010-51297073"]) == [
        ("+8613800138000", "13800138000"), ("+861051297073", "010-51297073")]
    for bad, field in ((["abc"], "numbers[0]"), (["1380", 5], "numbers[1]"),
                       ("13800138000", "numbers"), (["12"], "numbers[0]")):
        with pytest.raises(ValidationFailed) as err:
            normalize_numbers(bad)
        assert err.value.field == field


def test_value_checks() -> None:
    assert integer(3, "n", low=0, high=5) == 3
    for bad in (True, "3", 3.0, 6, -1):
        with pytest.raises(ValidationFailed):
            integer(bad, "n", low=0, high=5)
    assert money("12.5", "m") == Decimal("12.50") and money(None, "m") is None
    for bad_money in ("x", -1, "NaN", "Infinity", True, 10**13, [1]):
        with pytest.raises(ValidationFailed):
            money(bad_money, "m")
    assert text("  a ", "t") == "a" and text("   ", "t") is None
    for bad_text in (5, "x" * 201, "a\x00b"):
        with pytest.raises(ValidationFailed):
            text(bad_text, "t")
    with pytest.raises(ValidationFailed):
        text(None, "t", required=True)
    assert choice("a", "c", ("a", "b")) == "a"
    with pytest.raises(ValidationFailed):
        choice(None, "c", ("a",))
    assert a_date("2026-01-02", "d") == date(2026, 1, 2)
    for bad_date in ("2026-13-01", datetime(2026, 1, 1, tzinfo=UTC), 5):
        with pytest.raises(ValidationFailed):
            a_date(bad_date, "d")
    assert a_datetime("2026-01-02T08:00:00+08:00", "t") == datetime(2026, 1, 2, tzinfo=UTC)
    for bad_dt in ("2026-01-02T08:00:00", "nope", 3):
        with pytest.raises(ValidationFailed):
            a_datetime(bad_dt, "t")
    check_fields({"a": 1}, ("a", "b"))
    with pytest.raises(ValidationFailed) as err:
        check_fields({"a": 1, "owner_id": 2}, ("a",))
    assert err.value.field == "owner_id"
    assert check_page(10, 0) == (10, 0)
    for limit, offset in ((0, 0), (501, 0), (10, -1), ("10", 0)):
        with pytest.raises(ValidationFailed):
            check_page(limit, offset)


def test_interaction_closes_at_the_end_of_its_shanghai_day() -> None:
    occurred = datetime(2026, 11, 25, 23, 0, tzinfo=SH)  # 15:00 UTC
    assert business_day(occurred) == date(2026, 11, 25)
    assert not is_closed(occurred, datetime(2026, 11, 25, 23, 59, 59, tzinfo=SH))
    assert is_closed(occurred, datetime(2026, 11, 26, 0, 0, tzinfo=SH))
    # the same instant, written in UTC, is still the 25th in Shanghai until 16:00 UTC
    assert not is_closed(occurred, datetime(2026, 11, 25, 15, 59, tzinfo=UTC))
    assert is_closed(occurred, datetime(2026, 11, 25, 16, 0, tzinfo=UTC))
    early = datetime(2026, 11, 25, 0, 30, tzinfo=SH)  # 16:30 UTC the day before
    assert not is_closed(early, datetime(2026, 11, 25, 18, 0, tzinfo=SH))


def test_ticket_numbers() -> None:
    day = date(2026, 11, 25)
    assert format_number(day, 1) == "T20261125-0001"
    assert format_number(day, 42) == "T20261125-0042"
    assert format_number(day, 10000) == "T20261125-10000"


def test_ticket_state_table() -> None:
    path = ["new", "routed", "routed", "accepted", "on_the_way", "waiting", "on_the_way",
            "on_site", "waiting", "on_site", "resolved", "closed", "accepted", "resolved"]
    assert all(can_move(a, b) for a, b in zip(path, path[1:], strict=False))
    for status in OPEN_STATUSES:
        assert can_move(status, "cancelled")
    for status in DONE_STATUSES:
        assert not can_move(status, "cancelled")
    assert not can_move("new", "resolved") and not can_move("new", "accepted")
    assert not can_move("routed", "on_site")  # accepted first
    assert not can_move("on_the_way", "resolved")  # on site first
    assert not can_move("new", "waiting") and not can_move("routed", "waiting")
    assert not can_move("closed", "on_site") and not can_move("cancelled", "accepted")
    assert can_move("resolved", "accepted") and can_move("closed", "accepted")  # reopened
    assert is_reopen("closed", "accepted") and not is_reopen("waiting", "accepted")
    assert not can_move("nonsense", "new")
    assert "routed" not in next_moves("accepted") and "on_site" in next_moves("accepted")
    assert set(STAMPS) <= set(TICKET_STATUSES)


def test_reopen_window_counts_days_from_the_resolution() -> None:
    resolved = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
    assert can_reopen(resolved, resolved + timedelta(days=7))
    assert not can_reopen(resolved, resolved + timedelta(days=7, seconds=1))
    assert can_reopen(resolved, resolved + timedelta(days=2), days=2)
    assert not can_reopen(resolved, resolved + timedelta(days=3), days=2)
    assert can_reopen(None, resolved)  # resolved before issue 15: no time kept
    for targets in TICKET_TRANSITIONS.values():
        assert set(targets) <= set(TICKET_TRANSITIONS)
