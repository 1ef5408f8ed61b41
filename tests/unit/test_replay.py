"""``hotline replay``: call summaries (or every domain event) of a raw capture as JSON lines."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from telephony.ami_codec import decode_all, encode_message
from telephony.replay import run

ROOT = Path(__file__).resolve().parents[2]
SUMMARY_KEYS = {"linkedid", "caller", "caller_name", "did", "queues", "agents_tried", "agent",
                "started_at", "answered_at", "ended_at", "wait_s", "talk_s", "hangup_by",
                "outcome", "transfers", "ivr"}


def replay(path: Path | str, *, events: bool = False) -> tuple[int, list[str], str]:
    out, err = io.StringIO(), io.StringIO()
    code = run(str(path), events=events, out=out, err=err)
    return code, out.getvalue().splitlines(), err.getvalue()


def test_summary_lines(captures: Path) -> None:
    code, lines, err = replay(captures / "01-answered-call.ami")
    assert code == 0 and err == ""
    [line] = lines
    summary = json.loads(line)
    assert SUMMARY_KEYS <= set(summary)
    assert (summary["linkedid"], summary["caller"], summary["caller_name"], summary["did"]) == (
        "1795478331.182", "+8613800138000", "Wang Fang", "4008001234")
    assert (summary["queues"], summary["agent"], summary["wait_s"], summary["talk_s"],
            summary["hangup_by"], summary["outcome"]) == (
        ["support"], "Alice", 2, 4, "caller", "answered")
    assert summary["started_at"].startswith("2026-11-23T23:58:5")
    assert summary["started_at"] < summary["answered_at"] < summary["ended_at"]


def test_one_line_per_call_in_the_burst(captures: Path) -> None:
    code, lines, _ = replay(captures / "11-burst-20-callers.ami")
    summaries = [json.loads(line) for line in lines]
    assert code == 0 and len(summaries) == 20
    assert sorted(s["outcome"] for s in summaries).count("abandoned") == 5
    assert len({s["linkedid"] for s in summaries}) == 20


def test_transfer_in_the_summary(captures: Path) -> None:
    [line] = replay(captures / "06-attended-transfer.ami")[1]
    summary = json.loads(line)
    assert summary["outcome"] == "transferred"
    assert [(t["kind"], t["target"], t["result"]) for t in summary["transfers"]] == [
        ("attended", "1005", "Success")]


def test_events_mode(captures: Path) -> None:
    code, lines, _ = replay(captures / "03-ring-no-answer-then-answered.ami", events=True)
    types = [json.loads(line)["type"] for line in lines]
    assert code == 0
    assert types.count("CallEnded") == 1 and types[0] == "CallStarted"
    for kind in ("CallQueued", "AgentRinging", "AgentRingNoAnswer", "CallAnswered",
                 "QueueMemberChanged", "AgentStateChanged"):
        assert kind in types
    ended = json.loads(lines[types.index("CallEnded")])
    assert ended["summary"]["agent"] == "Bob"


@pytest.mark.parametrize("name", ["04-agent-state", "10-login"])
def test_no_summary_without_a_call(captures: Path, name: str) -> None:
    assert replay(captures / f"{name}.ami")[:2] == (0, [])


def test_click_to_dial_is_one_outbound_summary(captures: Path) -> None:
    code, lines, _ = replay(captures / "07-click-to-dial.ami")
    [summary] = [json.loads(line) for line in lines]
    assert code == 0
    assert (summary["direction"], summary["caller"], summary["outcome"]) == (
        "outbound", "+8613800138000", "answered")


def test_missing_file_exits_2(tmp_path: Path) -> None:
    code, lines, err = replay(tmp_path / "nope.ami")
    assert (code, lines) == (2, [])
    assert "nope.ami" in err
    assert replay(tmp_path)[0] == 2  # a directory is not a capture


def test_unreadable_file_exits_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "secret.ami"
    path.write_bytes(b"Asterisk Call Manager/11.0.0\r\n")

    def denied(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", denied)  # chmod 0 means nothing to root
    code, lines, err = replay(path)
    assert (code, lines) == (2, [])
    assert "Permission denied" in err


def test_open_call_at_the_end_goes_to_stderr(captures: Path, tmp_path: Path) -> None:
    data = (captures / "01-answered-call.ami").read_bytes()
    cut = tmp_path / "cut.ami"  # no timeline next to it: decoded whole
    cut.write_bytes(data[: data.index(b"Event: AgentComplete")])
    code, lines, err = replay(cut)
    assert (code, lines) == (0, [])
    assert "open at end of capture: 1795478331.182 (talking)" in err


def test_non_ascii_names_are_printed_as_is(captures: Path, tmp_path: Path) -> None:
    msgs = decode_all((captures / "02-abandoned-call.ami").read_bytes())
    body = b"".join(encode_message({k: v.replace("Li Na", "李娜") for k, v in m.items()})
                    for m in msgs[1:])
    path = tmp_path / "chinese.ami"
    path.write_bytes(b"Asterisk Call Manager/11.0.0\r\n" + body)
    [line] = replay(path)[1]
    assert '"caller_name": "李娜"' in line
    assert json.loads(line)["outcome"] == "abandoned"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hotline.cli", "replay", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=False)


def test_cli(captures: Path) -> None:
    done = cli(str(captures / "02-abandoned-call.ami"), "--json")
    assert done.returncode == 0, done.stderr
    [line] = done.stdout.splitlines()
    summary = json.loads(line)
    assert (summary["linkedid"], summary["outcome"], summary["wait_s"], summary["hangup_by"]) == (
        "1795478344.186", "abandoned", 3, "caller")


def test_cli_events_and_missing_file(captures: Path, tmp_path: Path) -> None:
    done = cli(str(captures / "05-blind-transfer.ami"), "--events")
    assert done.returncode == 0, done.stderr
    types = [json.loads(line)["type"] for line in done.stdout.splitlines()]
    assert "CallTransferred" in types and types.count("CallEnded") == 1
    missing = cli(str(tmp_path / "gone.ami"))
    assert missing.returncode == 2
    assert missing.stdout == "" and "gone.ami" in missing.stderr
