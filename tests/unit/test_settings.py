"""Settings: environment > TOML file > defaults, read into one typed object."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from hotline.settings import Settings, load_settings


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("HOTLINE_CONFIG", "HOTLINE_DATABASE_URL", "HOTLINE_BUS", "HOTLINE_AMI_PORT"):
        monkeypatch.delenv(key, raising=False)
    s = load_settings()
    assert s.database_url == "sqlite+aiosqlite:///var/hotline.db"
    assert s.bus == "memory"
    assert s.ami_port == 5038
    assert s.hotline_numbers == ["4008001234", "8008001234"]
    assert s.default_region == "CN"


def test_environment_and_toml(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    toml = tmp_path / "hotline.toml"
    toml.write_text(
        'ami_port = 6000\nbus = "redis"\nhotline_numbers = ["4001112222"]\nhttp_port = 9000\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("HOTLINE_CONFIG", str(toml))
    monkeypatch.setenv("HOTLINE_HTTP_PORT", "9100")
    s = load_settings()
    assert s.ami_port == 6000  # from the file
    assert s.bus == "redis"
    assert s.hotline_numbers == ["4001112222"]
    assert s.http_port == 9100  # the environment wins over the file


def test_json_list_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HOTLINE_CONFIG", raising=False)
    monkeypatch.setenv("HOTLINE_HOTLINE_NUMBERS", '["4000000000", "8000000000"]')
    assert load_settings().hotline_numbers == ["4000000000", "8000000000"]


def test_bad_value_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HOTLINE_CONFIG", raising=False)
    monkeypatch.setenv("HOTLINE_BUS", "carrier-pigeon")
    with pytest.raises(ValidationError, match="bus"):
        Settings()


def test_ami_caps_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from telephony.ami import AmiClient

    monkeypatch.delenv("HOTLINE_CONFIG", raising=False)
    monkeypatch.setenv("HOTLINE_AMI_MAX_LINE_CHARS", "1024")
    client = AmiClient.from_settings(load_settings(), consumer=None)  # type: ignore[arg-type]
    assert (client.limits.max_line, client.limits.max_lines) == (1024, 1000)
    assert client.limits.max_message == 1 << 20
    with pytest.raises(ValidationError):
        Settings(ami_max_message_lines=0)


def test_fastagi_caps_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from hotline.app import agi_limits

    monkeypatch.delenv("HOTLINE_CONFIG", raising=False)
    monkeypatch.setenv("HOTLINE_AGI_MAX_SESSIONS_PER_PEER", "300")
    monkeypatch.setenv("HOTLINE_AGI_MAX_HEADER_BYTES", "8192")
    monkeypatch.setenv("HOTLINE_AGI_HEADER_TIMEOUT_S", "2.5")
    limits = agi_limits(load_settings())
    assert (limits.max_sessions_per_peer, limits.max_header_bytes, limits.header_timeout) == (
        300, 8192, 2.5)
    assert (limits.max_sessions, limits.max_header_lines, limits.max_line) == (2000, 256, 8192)
    with pytest.raises(ValidationError):
        Settings(agi_max_sessions=0)


def test_wallboard_queue_rules_are_checked_when_read() -> None:
    from pydantic import ValidationError

    from hotline.settings import Settings

    ok = Settings(wallboard_queues={"*": {"sl_s": 20}, "vip": {"sl_s": 10, "sl_target": 90}})
    assert ok.wallboard_queues["vip"]["sl_s"] == 10
    with pytest.raises(ValidationError, match=r"wallboard_queues\['vip'\]: unknown queue rule"):
        Settings(wallboard_queues={"vip": {"sla": 10}})
    with pytest.raises(ValidationError, match="must be a number >= 0"):
        Settings(wallboard_queues={"*": {"sl_s": -1}})
