"""The record of a web import (agent_console.api.import_jobs) and the pairing of
duplicates (crm_core.duplicate_pairs.combine): pure functions, plain data."""

from __future__ import annotations

import pytest

from agent_console.api import import_jobs as jobs
from crm_core.duplicate_pairs import combine


def fresh(now: float = 1000.0) -> jobs.Record:
    return jobs.new_record("j" * 32, user_id=7, filename="a.csv", dry_run=False, now=now)


def test_a_job_runs_then_finishes_with_every_issue_kept_and_a_preview() -> None:
    record = fresh()
    assert jobs.percent(record) is None  # the rows are not counted yet
    record = jobs.progressed(record, 50, 200, 1001.0)
    assert record is not None and jobs.percent(record) == 25
    issues = [{"sheet": "s", "row": r, "column": "c", "value": "v", "message": "m",
               "kind": "error"} for r in range(2, 40)]
    done = jobs.finished(record, {"rows": 200, "errors": 38, "issues": issues}, 1002.0)
    assert done is not None and done["state"] == "done" and done["issues"] == issues
    shown = jobs.view(done, 5000.0)  # long after: a finished job never goes stale
    assert shown["state"] == "done" and shown["percent"] == 100
    assert shown["issues_total"] == 38 and len(shown["issues_preview"]) == jobs.PREVIEW_ISSUES
    assert "issues" not in shown and "user_id" not in shown
    assert shown["result"] == {"rows": 200, "errors": 38}
    # once finished, late progress or a failure changes nothing
    assert jobs.progressed(done, 1, 2, 1003.0) == done
    assert jobs.failed(done, "late", 1003.0) == done


def test_too_many_issues_are_cut_and_say_so() -> None:
    issues = [{"row": r} for r in range(jobs.MAX_ISSUES + 5)]
    done = jobs.finished(fresh(), {"rows": 1, "issues": issues}, 1001.0)
    assert done is not None
    assert len(done["issues"]) == jobs.MAX_ISSUES and done["issues_truncated"] is True


def test_a_running_job_nobody_writes_reads_as_interrupted() -> None:
    record = fresh(now=1000.0)
    assert jobs.state_of(record, 1000.0 + jobs.STALE_S) == "running"
    assert jobs.state_of(record, 1000.0 + jobs.STALE_S + 1) == "interrupted"
    beaten = jobs.beat(record, 1000.0 + jobs.STALE_S)
    assert beaten is not None
    assert jobs.state_of(beaten, 1000.0 + jobs.STALE_S + 1) == "running"
    stopped = jobs.failed(record, "stopped", 1001.0, state="interrupted")
    assert stopped is not None and jobs.view(stopped, 1001.0)["state"] == "interrupted"


def test_a_vanished_record_stays_vanished() -> None:
    assert jobs.progressed(None, 1, 2, 1.0) is None
    assert jobs.finished(None, {"rows": 1}, 1.0) is None
    assert jobs.failed(None, "x", 1.0) is None


def test_empty_file_counts_as_zero_percent() -> None:
    record = jobs.progressed(fresh(), 0, 0, 1001.0)
    assert record is not None and jobs.percent(record) == 0


@pytest.mark.parametrize(("given", "kept"), [
    ("客户名单.csv", "客户名单.csv"), ("../../etc/passwd.csv", "passwd.csv"),
    ("C:\\Users\\王\\Desktop\\List.XLSX", "List.xlsx"), ("a\x00b\r\n.csv", "ab.csv"),
    ('x<y>:"|?*.txt', "x_y_.txt"), (".csv", None), ("  名单 .xlsm", "名单.xlsm"),
    ("a" * 300 + ".csv", "a" * (jobs.MAX_NAME - 4) + ".csv"),
    ("list.xls", None), ("list.exe", None), ("csv", None), ("", None), ("list.csv.", "list.csv"),
])
def test_only_a_spreadsheet_name_without_a_path_is_kept(given: str, kept: str | None) -> None:
    assert jobs.clean_filename(given) == kept


def test_duplicate_pairs_found_both_ways_are_one_pair_phone_first() -> None:
    pairs = combine(
        name_pairs=[(1, 2), (3, 9)],
        phone_pairs=[(3, 9, "+862164321000"), (3, 9, "+8613800138000"),
                     (3, 9, "+862164321000"), (4, 5, "+8613900000000")],
    )
    assert pairs == [
        {"a": 3, "b": 9, "reasons": ["phone", "name"],
         "numbers": ["+862164321000", "+8613800138000"]},
        {"a": 4, "b": 5, "reasons": ["phone"], "numbers": ["+8613900000000"]},
        {"a": 1, "b": 2, "reasons": ["name"], "numbers": []},
    ]
