"""The repair record's input rules (crm_core.repair_records.parse_record): pure."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from crm_core.errors import ValidationFailed
from crm_core.repair_records import MAX_PARTS, parse_record

GOOD: dict[str, Any] = {"fault": "热封温度不稳定", "action": "更换热电偶",
                        "parts": [{"part": "热电偶 K", "qty": 2}], "labour_hours": "1.5"}


def test_a_good_record_is_cleaned_and_the_same_part_is_added_up() -> None:
    got = parse_record({**GOOD, "cause": "  老化 ", "serial_checked": True,
                        "parts": [{"part": "热电偶 K", "qty": 2}, {"part": "保险丝"},
                                  {"part": "热电偶 K", "qty": 1}]})
    assert got == {"fault": "热封温度不稳定", "cause": "老化", "action": "更换热电偶",
                   "parts": [{"part": "热电偶 K", "qty": 3}, {"part": "保险丝", "qty": 1}],
                   "labour_hours": Decimal("1.50"), "serial_checked": True,
                   "first_time_fix": True}
    assert parse_record({"fault": "f", "action": "a"}, first_time_fix=False) == {
        "fault": "f", "cause": None, "action": "a", "parts": [], "labour_hours": None,
        "serial_checked": False, "first_time_fix": False}


@pytest.mark.parametrize(("data", "field"), [
    ({**GOOD, "fault": " "}, "fault"),
    ({k: v for k, v in GOOD.items() if k != "action"}, "action"),
    ({**GOOD, "parts": "two fuses"}, "parts"),
    ({**GOOD, "parts": [{"part": "x", "qty": 0}]}, "parts.0.qty"),
    ({**GOOD, "parts": [{"part": "x", "qty": 1}, {"part": "y", "qty": "2"}]}, "parts.1.qty"),
    ({**GOOD, "parts": [{"part": "x", "qty": True}]}, "parts.0.qty"),
    ({**GOOD, "parts": [{"qty": 1}]}, "parts.0.part"),
    ({**GOOD, "parts": [{"part": "x", "price": 3}]}, "price"),
    ({**GOOD, "parts": [5]}, "parts.0"),
    ({**GOOD, "parts": [{"part": "x", "qty": 9000}, {"part": "x", "qty": 1000}]},
     "parts.1.qty"),
    ({**GOOD, "parts": [{"part": f"p{i}", "qty": 1} for i in range(MAX_PARTS + 1)]}, "parts"),
    ({**GOOD, "labour_hours": -1}, "labour_hours"),
    ({**GOOD, "labour_hours": "1.555"}, "labour_hours"),
    ({**GOOD, "labour_hours": "lots"}, "labour_hours"),
    ({**GOOD, "labour_hours": "NaN"}, "labour_hours"),
    ({**GOOD, "labour_hours": 1000}, "labour_hours"),
    ({**GOOD, "labour_hours": True}, "labour_hours"),
    ({**GOOD, "serial_checked": "yes"}, "serial_checked"),
    ({**GOOD, "first_time_fix": 1}, "first_time_fix"),
    ({**GOOD, "signature": "x"}, "signature"),
    (None, "repair_record"),
    ([GOOD], "repair_record"),
])
def test_bad_input_names_its_field(data: Any, field: str) -> None:
    with pytest.raises(ValidationFailed) as bad:
        parse_record(data)
    assert bad.value.field == field
