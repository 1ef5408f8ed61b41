"""``telephony.capture.load_capture``: raw .ami bytes fed in the recorded TCP chunks,
each message stamped with the absolute time of the read that completed it."""

from __future__ import annotations

import re
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from telephony.ami_codec import decode_all, encode_message
from telephony.capture import load_capture

from .test_tracker_captures import CAPTURES, capture_names


@pytest.mark.parametrize("name", capture_names())
def test_every_message_once_in_order_with_2026_times(name: str) -> None:
    timed = load_capture(CAPTURES / f"{name}.ami")
    md = (CAPTURES / f"{name}.md").read_text(encoding="utf-8")
    count = re.search(r"^- (\d+) messages:", md, re.MULTILINE)
    assert count is not None
    assert len(timed) == int(count.group(1))  # the banner is not a message
    assert all("Banner" not in m for _, m in timed)
    times = [t for t, _ in timed]
    assert times == sorted(times)
    assert datetime.fromtimestamp(times[0], UTC).year == 2026
    # the same messages as decoding the whole file at once
    assert [m for _, m in timed] == decode_all((CAPTURES / f"{name}.ami").read_bytes())[1:]


def test_receipt_times_follow_the_timeline() -> None:
    timed = load_capture(CAPTURES / "01-answered-call.ami")
    first = timed[0][0]  # the Login response, read at t = 0.023 s
    connect = next(t for t, m in timed if m.get("Event") == "AgentConnect")
    complete = next(t for t, m in timed if m.get("Event") == "AgentComplete")
    assert connect - first == pytest.approx(5.740 - 0.023, abs=1e-6)
    assert complete - first == pytest.approx(9.482 - 0.023, abs=1e-6)
    # the wall clock comes from the capture: SuccessfulAuth EventTV 23:58:50.992 UTC
    auth = next(t for t, m in timed if m.get("Event") == "SuccessfulAuth")
    assert auth == pytest.approx(datetime(2026, 11, 23, 23, 58, 50, 992000, UTC).timestamp())


def test_without_timeline_every_message_gets_the_base_time(tmp_path: Path) -> None:
    path = tmp_path / "01.ami"
    shutil.copy(CAPTURES / "01-answered-call.ami", path)
    timed = load_capture(path)
    assert len(timed) == 232
    assert len({t for t, _ in timed}) == 1


def test_base_time_from_the_first_newchannel_without_eventtv(tmp_path: Path) -> None:
    msgs = decode_all((CAPTURES / "02-abandoned-call.ami").read_bytes())[1:]
    kept = [m for m in msgs if "EventTV" not in m]
    path = tmp_path / "no-eventtv.ami"
    path.write_bytes(b"Asterisk Call Manager/11.0.0\r\n" + b"".join(map(encode_message, kept)))
    [at] = {t for t, _ in load_capture(path)}  # no timeline: one time for all
    # Uniqueid 1795478344.186 = 2026-11-23 23:59:04 UTC (within that second)
    assert 1795478344 <= at <= 1795478345


def test_capture_without_any_wall_clock() -> None:
    timed = load_capture(CAPTURES / "10b-login-failed.ami")
    assert [m.get("Message") for _, m in timed] == ["Permission denied", "Authentication failed"]


def test_missing_capture_raises_oserror(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        load_capture(tmp_path / "nope.ami")
