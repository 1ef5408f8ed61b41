"""Asterisk's Channel Event Logging (CEL) as Hotline reads it: the journal the PBX writes
of every call whatever Hotline does, so that calls which ended while Hotline was blind
(an AMI outage, a restart) are logged all the same (issue 13 item 2).

deploy/asterisk/cel_custom.conf has Asterisk write one CSV line per event, the columns
of Asterisk's own sample mapping (``COLUMNS``, which are also the columns of the
``cel`` table that cel_pgsql fills), every field quoted (``CSV_QUOTE``). This module
reads such a line (``parse_line``) and writes one (``format_line``: the simulator keeps
the same journal). Pure: no I/O.

Rules:
- a line that is not such a record (too few fields, no event type, a time that is no
  time) is None, never an exception: the journal is read after outages, when it is the
  only witness, and one torn line must not hide the others;
- bytes are UTF-8, else GBK (some carriers' caller names), else replaced;
- ``eventtime`` is Asterisk's default ``<seconds>.<microseconds>`` (cel.conf without a
  ``dateformat``); a ``YYYY-MM-DD HH:MM:SS[.ffffff]`` time is read as UTC;
- ``extra`` is Asterisk's JSON object (HANGUP's ``hangupsource``, BRIDGE_ENTER's
  ``bridge_id``, BLINDTRANSFER's ``extension``...); anything else is kept as
  ``{"text": ...}``.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

COLUMNS = ("eventtype", "eventtime", "cid_name", "cid_num", "cid_ani", "cid_rdnis",
           "cid_dnid", "exten", "context", "channame", "appname", "appdata", "amaflags",
           "accountcode", "uniqueid", "linkedid", "peer", "userfield", "userdeftype",
           "extra")
MAX_LINE = 64 * 1024  # a longer line is not Asterisk's (caller names are short)
MAX_FIELD = 4096
LATEST_EPOCH = 32_503_680_000.0  # year 3000


@dataclass(frozen=True)
class CelEvent:
    """One CEL record."""

    type: str  # CHAN_START, ANSWER, HANGUP, CHAN_END, APP_START, BRIDGE_ENTER, ...
    time: float  # epoch seconds
    uniqueid: str
    linkedid: str
    channel: str = ""
    context: str = ""
    exten: str = ""
    cid_num: str = ""
    cid_name: str = ""
    app: str = ""
    appdata: str = ""
    peer: str = ""
    userdeftype: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def _text(raw: bytes) -> str:
    for encoding in ("utf-8", "gbk"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    return raw.decode("utf-8", "replace")


def _time(text: str) -> float | None:
    text = text.strip()
    try:
        value = float(text)
    except ValueError:
        for fmt in ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S"):
            try:
                return datetime.strptime(text, fmt).replace(tzinfo=UTC).timestamp()
            except ValueError:
                continue
        return None
    return value if 0 < value < LATEST_EPOCH else None


def _extra(text: str) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {"text": text}
    return value if isinstance(value, dict) else {"text": text}


def parse_line(raw: bytes) -> CelEvent | None:
    """One journal line (without or with its newline) as a ``CelEvent``, or None."""
    if len(raw) > MAX_LINE:
        return None
    text = _text(raw).rstrip("\r\n")
    if not text or "\x00" in text:
        return None
    try:
        rows = list(csv.reader(io.StringIO(text)))
    except csv.Error:
        return None
    if len(rows) != 1 or len(rows[0]) < len(COLUMNS):
        return None
    row = dict(zip(COLUMNS, (v[:MAX_FIELD] for v in rows[0]), strict=False))
    when = _time(row["eventtime"])
    kind = row["eventtype"].strip().upper()
    if when is None or not kind or not row["linkedid"]:
        return None
    return CelEvent(
        type=kind, time=when, uniqueid=row["uniqueid"], linkedid=row["linkedid"],
        channel=row["channame"], context=row["context"], exten=row["exten"],
        cid_num=row["cid_num"], cid_name=row["cid_name"], app=row["appname"],
        appdata=row["appdata"], peer=row["peer"], userdeftype=row["userdeftype"],
        extra=_extra(row["extra"]))


def format_line(event: CelEvent) -> bytes:
    """The line Asterisk's cel_custom writes for ``event`` (every field CSV_QUOTEd)."""
    values = {
        "eventtype": event.type, "eventtime": f"{event.time:.6f}",
        "cid_name": event.cid_name, "cid_num": event.cid_num, "cid_ani": event.cid_num,
        "cid_rdnis": "", "cid_dnid": "", "exten": event.exten, "context": event.context,
        "channame": event.channel, "appname": event.app, "appdata": event.appdata,
        "amaflags": "3", "accountcode": "", "uniqueid": event.uniqueid,
        "linkedid": event.linkedid, "peer": event.peer, "userfield": "",
        "userdeftype": event.userdeftype,
        "extra": json.dumps(event.extra, ensure_ascii=False) if event.extra else "",
    }
    out = io.StringIO()
    csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n").writerow(
        [values[c] for c in COLUMNS])
    return out.getvalue().encode("utf-8")
