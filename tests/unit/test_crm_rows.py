"""Pure parts of crm_core's call log: summary -> row cleaning, error classification,
URL handling and the UTC column type. No database, no sockets."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import exc as sa_exc

from crm_core.call_log import (
    UnwritableSummary,
    caller_key,
    clean_int,
    clean_json,
    clean_text,
    clean_time,
    is_database_fault,
    number_kind,
    record_to_dict,
    summary_for_log,
    summary_to_row,
    unique_rows,
)
from crm_core.db import async_url, sqlite_file
from crm_core.models import UtcDateTime, as_utc
from telephony.events import AgentAttempt, CallSummary, Transfer

T0 = datetime(2024, 5, 1, 8, 30, tzinfo=UTC)
NOW = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)


def test_clean_text() -> None:
    assert clean_text(None) is None
    assert clean_text("张伟") == "张伟"
    assert clean_text("a\x00b") == "ab"  # PostgreSQL refuses NUL in text and jsonb
    assert clean_text("bad \udcff byte") == "bad ? byte"  # lone surrogate (surrogateescape)
    assert clean_text(1001) == "1001"


def test_clean_int() -> None:
    assert clean_int(12) == 12
    assert clean_int("12") == 12
    assert clean_int(3.7) == 3
    assert clean_int(None) is None
    assert clean_int(True) is None
    assert clean_int("twelve") is None
    assert clean_int(10**12) is None  # would overflow an INTEGER column
    assert clean_int(float("inf")) is None


def test_clean_time_gives_aware_utc() -> None:
    beijing = timezone(timedelta(hours=8))
    assert clean_time(datetime(2024, 5, 1, 16, 30, tzinfo=beijing)) == T0
    assert clean_time(datetime(2024, 5, 1, 16, 30, tzinfo=beijing)).tzinfo is UTC  # type: ignore[union-attr]
    assert clean_time(datetime(2024, 5, 1, 8, 30)) == T0  # naive is taken as UTC
    assert clean_time("2024-05-01T16:30:00+08:00") == T0
    assert clean_time("yesterday") is None
    assert clean_time(12345) is None
    assert clean_time(None) is None


def test_clean_json_cleans_nested_strings_and_keys() -> None:
    data = {"a\x00": ["x\x00", 1, None, True, {"b": T0}], 2: 1.5}
    assert clean_json(data) == {"a": ["x", 1, None, True, {"b": T0.isoformat()}], "2": 1.5}


def full_summary(linkedid: str = "1714552200.42", **kw: Any) -> CallSummary:
    base: dict[str, Any] = dict(
        linkedid=linkedid,
        caller="+8613800138000",
        caller_name="张伟",
        did="4008001234",
        queues=("sales",),
        agents_tried=(AgentAttempt(agent="Bob", interface="PJSIP/1002", queue="sales",
                                   result="answered", ring_ms=1500, talk_s=42),),
        agent="Bob",
        agent_interface="PJSIP/1002",
        started_at=T0,
        ended_at=T0 + timedelta(seconds=90),
        wait_s=7,
        talk_s=80,
        hangup_by="agent",
        outcome="answered",
        transfers=(Transfer(kind="blind", by="Bob", target="2002", result="Success",
                            at=T0 + timedelta(seconds=60)),),
        ivr={"lang": "zh"},
    )
    base.update(kw)
    return CallSummary(**base)


def test_summary_to_row() -> None:
    row = summary_to_row(full_summary(), NOW)
    assert row == {
        "linkedid": "1714552200.42",
        "caller": "+8613800138000",
        "caller_name": "张伟",
        "did": "4008001234",
        "agent": "Bob",
        "agent_interface": "PJSIP/1002",
        "hangup_by": "agent",
        "started_at": T0,
        "queued_at": None,
        "answered_at": None,
        "ended_at": T0 + timedelta(seconds=90),
        "wait_s": 7,
        "ring_s": None,
        "talk_s": 80,
        "queues": ["sales"],
        "agents_tried": [{"agent": "Bob", "interface": "PJSIP/1002", "queue": "sales",
                          "result": "answered", "ring_ms": 1500, "talk_s": 42}],
        "transfers": [{"kind": "blind", "by": "Bob", "target": "2002", "result": "Success",
                       "at": (T0 + timedelta(seconds=60)).isoformat()}],
        "ivr": {"lang": "zh"},
        "outcome": "answered",
        "direction": "inbound",
        "customer_id": None,
        "recording": None,
        "recorded_at": NOW,
    }


def test_unwritable_summaries_are_named_as_such() -> None:
    with pytest.raises(UnwritableSummary):
        summary_to_row(full_summary(linkedid=""), NOW)
    with pytest.raises(UnwritableSummary):
        summary_to_row(full_summary(linkedid=None), NOW)  # type: ignore[arg-type]
    with pytest.raises(UnwritableSummary):
        summary_to_row({"linkedid": "x"}, NOW)  # type: ignore[arg-type]
    with pytest.raises(UnwritableSummary):
        summary_to_row(None, NOW)  # type: ignore[arg-type]


def test_unique_rows_keeps_the_first_of_each_linkedid() -> None:
    rows = unique_rows([full_summary("a", talk_s=1), full_summary("b"),
                        full_summary("a", talk_s=2)], NOW)
    assert [(r["linkedid"], r["talk_s"]) for r in rows] == [("a", 1), ("b", 80)]


def test_record_to_dict_is_json_ready() -> None:
    assert record_to_dict({"ended_at": T0, "wait_s": 3, "queues": ["q"]}) == {
        "ended_at": "2024-05-01T08:30:00+00:00", "wait_s": 3, "queues": ["q"],
    }


def test_summary_for_log_is_the_whole_summary() -> None:
    line = summary_for_log(full_summary())
    assert '"linkedid": "1714552200.42"' in line and "张伟" in line
    assert '"ivr": {"lang": "zh"}' in line
    assert summary_for_log(object()).startswith("<object")


def test_caller_key_and_number_kind() -> None:
    assert caller_key("010-5129 7073", "CN") == "+861051297073"
    assert caller_key("+861051297073", "CN") == "+861051297073"
    assert caller_key(None, "CN") is None
    assert caller_key("", "CN") is None
    assert number_kind("+8613800138000") == "mobile"
    assert number_kind("+861051297073") == "landline"
    assert number_kind("+864008001234") in {"toll-free", "phone"}
    assert number_kind("1001") == "extension"


class _Orig(Exception):
    def __init__(self, sqlstate: str | None) -> None:
        super().__init__(f"pg error {sqlstate}")
        self.sqlstate = sqlstate


def _dbapi(cls: type[sa_exc.DBAPIError], orig: BaseException, **kw: Any) -> sa_exc.DBAPIError:
    return cls("INSERT ...", {}, orig, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("exc", "database"),
    [
        (TimeoutError(), True),  # stalled
        (ConnectionRefusedError(), True),
        (_dbapi(sa_exc.OperationalError, Exception("database is locked")), True),
        (_dbapi(sa_exc.InterfaceError, Exception("connection is closed")), True),
        (_dbapi(sa_exc.DBAPIError, _Orig("40P01")), True),  # deadlock
        (_dbapi(sa_exc.DBAPIError, _Orig("55P03")), True),  # lock not available
        (_dbapi(sa_exc.DBAPIError, _Orig("57P01")), True),  # admin shutdown
        (_dbapi(sa_exc.ProgrammingError, _Orig("42P01")), True),  # no table: hold, not drop
        (_dbapi(sa_exc.DBAPIError, Exception("x"), connection_invalidated=True), True),
        (sa_exc.PendingRollbackError("rollback first"), True),
        (_dbapi(sa_exc.IntegrityError, Exception("NOT NULL constraint failed")), False),
        (_dbapi(sa_exc.DBAPIError, _Orig("22P05")), False),  # untranslatable character
        (_dbapi(sa_exc.DBAPIError, _Orig("23514")), False),  # check violation
        (_dbapi(sa_exc.InterfaceError, ValueError("invalid input for query argument")), False),
        (sa_exc.StatementError("bind", "INSERT", {}, TypeError("not JSON serializable")), False),
        (UnwritableSummary("no linkedid"), False),
        (KeyError("bug"), False),  # a bug is not the database: never hold everything for it
    ],
)
def test_is_database_fault(exc: BaseException, database: bool) -> None:
    assert is_database_fault(exc) is database


def test_async_url() -> None:
    assert str(async_url("sqlite:///var/h.db")) == "sqlite+aiosqlite:///var/h.db"
    assert str(async_url("postgresql://u@h/db")) == "postgresql+asyncpg://u@h/db"
    assert str(async_url("postgres://u@h/db")) == "postgresql+asyncpg://u@h/db"
    assert str(async_url("postgresql+asyncpg://u@h/db")) == "postgresql+asyncpg://u@h/db"
    assert str(async_url("sqlite+aiosqlite:///x.db")) == "sqlite+aiosqlite:///x.db"


def test_sqlite_file() -> None:
    assert sqlite_file(async_url("sqlite+aiosqlite:///var/hotline.db")) == Path("var/hotline.db")
    assert sqlite_file(async_url("sqlite+aiosqlite:////abs/h.db")) == Path("/abs/h.db")
    assert sqlite_file(async_url("sqlite+aiosqlite://")) is None
    assert sqlite_file(async_url("sqlite+aiosqlite:///:memory:")) is None
    assert sqlite_file(async_url("postgresql+asyncpg://u@h/db")) is None


def test_utc_datetime_type() -> None:
    kind = UtcDateTime()
    sqlite = SimpleNamespace(name="sqlite")
    pg = SimpleNamespace(name="postgresql")
    beijing = datetime(2024, 5, 1, 16, 30, tzinfo=timezone(timedelta(hours=8)))
    # SQLite text has no offset: UTC wall time goes in
    assert kind.process_bind_param(beijing, sqlite) == datetime(2024, 5, 1, 8, 30)  # type: ignore[arg-type]
    assert kind.process_bind_param(beijing, pg) == T0  # type: ignore[arg-type]
    assert kind.process_bind_param(None, pg) is None  # type: ignore[arg-type]
    back = kind.process_result_value(datetime(2024, 5, 1, 8, 30), sqlite)  # type: ignore[arg-type]
    assert back == T0 and back is not None and back.tzinfo is UTC
    assert as_utc(beijing).tzinfo is UTC


def test_crm_core_does_not_import_telephony_at_run_time() -> None:
    code = (
        "import sys, crm_core.call_log, crm_core.db, crm_core.models; "
        "sys.exit(sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'telephony', 'hotline', 'ivr', 'agent_console'}) or 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[2], timeout=60)
    assert done.returncode == 0, done.stderr
