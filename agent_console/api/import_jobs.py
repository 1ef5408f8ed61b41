"""The record of an import started from the web console (pure: no I/O, no clock).

A job's record is a JSON-ready dict that any node can read (``import_runner`` keeps it
in the API's shared record store); these functions make and change it, and say what a
poll answers (``view``).

States: ``running`` (``done`` of ``total`` rows; ``total`` is None while the file is
read), then ``done`` (``result``: what the importer did or, dry run, would do, and
``issues``: every rejected row) or ``failed`` (``error``: why nothing could be
imported, e.g. no column for the customer's name). A record still ``running`` whose
last write is older than ``STALE_S`` was left by a node that stopped: it reads as
``interrupted`` (a running job is written at least every ``HEARTBEAT_S``). A job
cancelled at shutdown is written ``interrupted`` at once.

Rules:
- times are wall-clock seconds (``time.time()``) written inside the record, because
  the record outlives the process and is read on other nodes;
- the record keeps at most ``MAX_ISSUES`` issues (``issues_truncated`` says when there
  were more); a poll shows the first ``PREVIEW_ISSUES`` only, the report has them all;
- ``clean_filename`` keeps a name that is safe to write in a folder of our own and to
  show (no path, no control character, a spreadsheet's extension) or refuses it.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

STALE_S = 60.0
HEARTBEAT_S = 5.0
PROGRESS_EVERY_S = 0.5
MAX_ISSUES = 50_000
PREVIEW_ISSUES = 20
EXTENSIONS = (".csv", ".txt", ".xlsx", ".xlsm")
MAX_NAME = 120

Record = dict[str, Any]


def new_record(job_id: str, *, user_id: int | None, filename: str, dry_run: bool,
               now: float) -> Record:
    """A job just accepted: running, nothing read yet."""
    return {"id": job_id, "user_id": user_id, "filename": filename, "dry_run": dry_run,
            "state": "running", "done": 0, "total": None, "started_at": now,
            "updated_at": now, "finished_at": None, "result": None, "issues": [],
            "issues_truncated": False, "error": None}


def progressed(record: Record | None, done: int, total: int, now: float) -> Record | None:
    """``done`` of ``total`` rows judged (a record gone or finished stays as it is)."""
    if record is None or record.get("state") != "running":
        return record
    return {**record, "done": max(0, done), "total": max(0, total), "updated_at": now}


def beat(record: Record | None, now: float) -> Record | None:
    """Still running (nothing new to say: the file is being read)."""
    if record is None or record.get("state") != "running":
        return record
    return {**record, "updated_at": now}


def finished(record: Record | None, result: dict[str, Any], now: float) -> Record | None:
    """The importer's answer (``ImportResult.as_dict()``)."""
    if record is None:
        return None
    issues = list(result.get("issues") or [])
    summary = {k: v for k, v in result.items() if k != "issues"}
    rows = int(summary.get("rows") or 0)
    return {**record, "state": "done", "done": rows, "total": rows, "updated_at": now,
            "finished_at": now, "result": summary, "issues": issues[:MAX_ISSUES],
            "issues_truncated": len(issues) > MAX_ISSUES}


def failed(record: Record | None, error: str, now: float, *, state: str = "failed",
           code: str | None = None, params: dict[str, Any] | None = None) -> Record | None:
    """Nothing (more) could be imported: ``error`` says why in English, ``code`` and
    ``params`` (``crm_core.import_messages``) let the page say it in its language
    (``state`` interrupted: the job was stopped)."""
    if record is None or record.get("state") not in ("running", None):
        return record
    return {**record, "state": state, "updated_at": now, "finished_at": now,
            "error": error[:2000], "error_code": code, "error_params": params}


def state_of(record: Record, now: float) -> str:
    """The job's state as a reader sees it: a running record nobody wrote for
    ``STALE_S`` is ``interrupted``."""
    state = str(record.get("state") or "failed")
    if state == "running" and now - float(record.get("updated_at") or 0) > STALE_S:
        return "interrupted"
    return state


def percent(record: Record) -> int | None:
    """How far the job is, 0-100 (None while the rows are not counted yet)."""
    if record.get("state") == "done":
        return 100
    total = record.get("total")
    if not isinstance(total, int):
        return None
    if total <= 0:
        return 0
    return min(100, int(100 * int(record.get("done") or 0) / total))


def view(record: Record, now: float) -> dict[str, Any]:
    """What a poll answers: the record without its full issue list."""
    issues = list(record.get("issues") or [])
    out = {k: v for k, v in record.items() if k not in ("issues", "user_id")}
    out["state"] = state_of(record, now)
    out["percent"] = percent(record)
    out["issues_total"] = len(issues)
    out["issues_preview"] = issues[:PREVIEW_ISSUES]
    return out


_UNSAFE = re.compile(r'[\\/:*?"<>|]+')


def clean_filename(name: str) -> str | None:
    """``name`` as a safe file name with a spreadsheet's extension, or None: the last
    path part only, no control or reserved characters, at most ``MAX_NAME`` long."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(c for c in base if unicodedata.category(c)[0] != "C")
    base = _UNSAFE.sub("_", base).strip(" .")
    stem, dot, ext = base.rpartition(".")
    if not dot or f".{ext.casefold()}" not in EXTENSIONS:
        return None
    stem = stem.strip(" .")[: MAX_NAME - len(ext) - 1] or "import"
    return f"{stem}.{ext.casefold()}"
