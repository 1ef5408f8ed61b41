"""hotline.demo_output: the demo's banner says where everything is, including its log
file, which lives in the demo's data folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from hotline.demo_output import LOG_NAME, Running, banner, data_dir


def _running(**changes: object) -> Running:
    values: dict[str, object] = dict(
        host="127.0.0.1", http_port=8080, ami_port=5039, ami_username="hotline",
        ami_secret="hotline-secret", agi_port=4574, database_url="sqlite+aiosqlite:///var/x.db",
        journal="/tmp/j/cel.csv", log_file=Path("var") / LOG_NAME,
        floor=["Dave", "Eve", "Frank", "Grace", "Heidi", "Ivan"])
    values.update(changes)
    return Running(**values)  # type: ignore[arg-type]


def test_the_banner_names_the_urls_logins_agents_and_log_file() -> None:
    lines = banner(_running())
    assert lines[0] == "Hotline demo" and lines[-1] == "Press Ctrl-C to stop."
    text = "\n".join(lines)
    assert "  agent console   : http://127.0.0.1:8080/login" in lines
    assert "  live calls page : http://127.0.0.1:8080/live" in lines
    assert "  wallboard       : http://127.0.0.1:8080/wallboard (TV: " \
        "http://127.0.0.1:8080/wallboard?tv=1)" in lines
    assert "password: demo" in text and "alice / bob / carol" in text
    assert "zz.station (station BUS-ZHENGZHOU)" in text
    assert "  station page    : http://127.0.0.1:8080/station" in text
    assert "6 simulated colleagues take calls (Dave, Eve, Frank, Grace, ...)" in text
    assert f"  log file        : var/{LOG_NAME} (the terminal shows only warnings)" in lines
    assert "FastAGI on 127.0.0.1:4574" in text
    assert "13600136000" in text and "have open orders (IVR key 2, the pop)" in text


def test_without_an_ivr_server_the_banner_says_so() -> None:
    assert "  IVR             : off (calls are queued without it)" in banner(
        _running(agi_port=None, floor=["Dave"]))


@pytest.mark.parametrize(
    ("url", "folder"),
    [
        ("sqlite+aiosqlite:///var/hotline.db", Path("var")),
        ("sqlite+aiosqlite:////srv/demo/data/hotline.db", Path("/srv/demo/data")),
        ("sqlite+aiosqlite:///hotline.db", Path(".")),
        ("sqlite+aiosqlite://", Path("var")),  # in memory
        ("sqlite+aiosqlite:///:memory:", Path("var")),
        ("postgresql+asyncpg://postgres@127.0.0.1:5432/hotline", Path("var")),
        ("not a url at all", Path("var")),
    ],
)
def test_the_data_folder_is_the_sqlite_files(url: str, folder: Path) -> None:
    assert data_dir(url) == folder
