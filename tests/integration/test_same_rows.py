"""The simulator gives the call-log and callback rows the real Asterisk 22 gave for the
same scenarios (tests/same/scenarios.py). The real rows are kept in
tests/fixtures/asterisk/same-rows.json, written by tests/asterisk/test_same_rows.py on the
real PBX (HOTLINE_TEST_WRITE_ROWS=1), which also compares both sides live whenever
HOTLINE_TEST_ASTERISK names an Asterisk.

The simulator's CEL journal of each scenario gives those rows too, as far as a journal
knows them (tests/same/journal_rows.py), as the real PBX's journals do
(tests/unit/test_cel_calls.py): Hotline reads it after an outage or a restart."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.same.journal_rows import expected, journal_rows, read
from tests.same.scenarios import SCENARIOS, Scenario
from tests.same.sim_side import play_on_simulator

REAL_ROWS = Path(__file__).resolve().parents[1] / "fixtures" / "asterisk" / "same-rows.json"


def test_every_scenario_has_its_real_rows() -> None:
    kept = json.loads(REAL_ROWS.read_text(encoding="utf-8"))
    assert sorted(kept) == sorted(s.name for s in SCENARIOS)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
async def test_simulator_gives_the_real_pbx_rows(scenario: Scenario, tmp_path: Path) -> None:
    real = json.loads(REAL_ROWS.read_text(encoding="utf-8"))[scenario.name]
    journal = tmp_path / "cel.csv"
    ours = json.loads(json.dumps(await play_on_simulator(scenario, tmp_path, journal)))
    assert ours == real
    assert journal_rows(read(journal), real["rows"]) == [expected(r) for r in real["rows"]]
