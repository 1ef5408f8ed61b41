"""Complaint caller verification (crm_core.caller_check): a number on record, the
serial number's last four characters, or not verified with a reason (flagged); what a
ticket keeps never holds the answer."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from crm_core.caller_check import (
    answer_matches,
    gate,
    is_complaint,
    number_on_record,
    serial_tail,
    verify,
)

ON_RECORD = ["+8613800138000", "+862161234567"]
SERIALS = ["PRN-2024-00A7x", "BUS 77 1234"]


def test_complaint_category() -> None:
    assert is_complaint("complaint") and is_complaint(" Complaint ")
    assert not is_complaint(None) and not is_complaint("repair")


@pytest.mark.parametrize("caller", ["13800138000", "+86 138 0013 8000", "138-0013-8000",
                                    "021 6123 4567"])
def test_a_number_on_record_matches_however_written(caller: str) -> None:
    assert number_on_record(caller, ON_RECORD)


@pytest.mark.parametrize("caller", [None, "", "anonymous", "13900139000", "8000"])
def test_other_numbers_do_not(caller: str | None) -> None:
    assert not number_on_record(caller, ON_RECORD)


def test_serial_tail_ignores_noise_and_case() -> None:
    assert serial_tail("PRN-2024-00A7x") == "0A7X"
    assert serial_tail("BUS 77 1234") == "1234"


@pytest.mark.parametrize("answer", ["0a7x", "0A7X", " 0a-7x ", "1234"])
def test_the_answer_on_record(answer: str) -> None:
    assert answer_matches(answer, SERIALS)


@pytest.mark.parametrize("answer", [None, "", "A7X", "00A7X", "1235", "2024"])
def test_a_wrong_or_partial_answer(answer: str | None) -> None:
    assert not answer_matches(answer, SERIALS)


def test_no_assets_no_answer() -> None:
    assert not answer_matches("1234", [])
    assert not answer_matches("ABC", ["ABC"])  # a serial shorter than four never matches


def test_verify_and_gate() -> None:
    ok = verify("number", caller="13800138000", source="call", registered=ON_RECORD)
    assert ok.passed and gate(ok) is None
    bad = verify("number", caller="13900139000", source="given", registered=ON_RECORD)
    assert not bad.passed and "not on record" in (gate(bad) or "")
    wrong = verify("question", answer="9999", serials=SERIALS)
    assert not wrong.passed and "does not match" in (gate(wrong) or "")
    flagged = verify("not_verified", reason="caller refused to give details")
    assert flagged.flagged and not flagged.passed and gate(flagged) is None
    assert gate(None) is not None


def test_not_verified_needs_a_reason_and_methods_are_known() -> None:
    with pytest.raises(ValueError):
        verify("not_verified", reason="  ")
    with pytest.raises(ValueError):
        verify("guess")


def test_the_record_never_holds_the_answer() -> None:
    at = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    kept = verify("question", answer="1234", serials=SERIALS).record(by_id=7, at=at)
    assert kept == {"method": "question", "passed": True, "by_id": 7,
                    "at": "2026-12-07T09:00:00+00:00"}
    assert "1234" not in repr(kept)
