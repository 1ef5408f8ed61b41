"""``hotline user add`` and ``hotline crm daily`` as an administrator runs them."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from redis.asyncio import Redis

from hotline.once_a_day import claim_key, run_once


def _hotline(tmp_path: Path, *args: str, stdin: str = "",
             env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    extra = env or {}
    env = dict(os.environ)
    env.pop("HOTLINE_CONFIG", None)
    env["HOTLINE_DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path}/admin.db"
    env.update(extra)
    return subprocess.run(
        [sys.executable, "-m", "hotline.cli", *args], input=stdin, capture_output=True,
        text=True, env=env, cwd=tmp_path, timeout=120, check=False,
    )


def test_user_add_creates_a_user_who_can_sign_in(tmp_path: Path) -> None:
    done = _hotline(tmp_path, "user", "add", "wang.lei", "--name", "王磊", "--role", "manager",
                    "--team", "east", "--password-stdin", stdin="correct horse\n")
    assert done.returncode == 0, done.stderr
    user = json.loads(done.stdout)
    assert user["username"] == "wang.lei" and user["role"] == "manager"
    assert user["display_name"] == "王磊" and user["has_password"]
    assert "password_hash" not in user

    import sqlite3

    with sqlite3.connect(tmp_path / "admin.db") as db:
        (stored,) = db.execute(
            "SELECT password_hash FROM app_user WHERE username='wang.lei'"
        ).fetchone()
    assert PasswordHasher().verify(stored, "correct horse")

    again = _hotline(tmp_path, "user", "add", "wang.lei", "--password-stdin", stdin="another one\n")
    assert again.returncode != 0
    assert "username" in again.stderr


def test_user_add_refuses_a_short_password_and_a_bad_role(tmp_path: Path) -> None:
    short = _hotline(tmp_path, "user", "add", "li.na", "--password-stdin", stdin="short\n")
    assert short.returncode == 2 and "8 characters" in short.stderr
    bad = _hotline(tmp_path, "user", "add", "li.na", "--role", "emperor", "--password-stdin",
                   stdin="long enough\n")
    assert bad.returncode == 2 and "role" in bad.stderr


def test_user_add_creates_station_staff_and_technicians_linked_to_their_station(
    tmp_path: Path,
) -> None:
    import sqlite3

    first = _hotline(tmp_path, "user", "add", "nobody", "--password-stdin", stdin="long enough\n")
    assert first.returncode == 0, first.stderr  # the database exists, migrated
    with sqlite3.connect(tmp_path / "admin.db") as db:
        db.execute("INSERT INTO service_station (code, name, phones, product_lines, covers, "
                   "hours) VALUES ('ZZ-001', '郑州服务站', '[]', '[]', '[]', '{}')")
    unlinked = _hotline(tmp_path, "user", "add", "zz.staff", "--role", "station",
                        "--password-stdin", stdin="long enough\n")
    assert unlinked.returncode == 2 and "--station" in unlinked.stderr
    unknown = _hotline(tmp_path, "user", "add", "zz.staff", "--role", "station", "--station",
                       "XX-404", "--password-stdin", stdin="long enough\n")
    assert unknown.returncode == 2 and "XX-404" in unknown.stderr
    staff = _hotline(tmp_path, "user", "add", "zz.staff", "--role", "station", "--station",
                     "ZZ-001", "--password-stdin", stdin="long enough\n")
    assert staff.returncode == 0, staff.stderr
    assert json.loads(staff.stdout)["role"] == "station"
    tech = _hotline(tmp_path, "user", "add", "zz.tech", "--name", "张师傅", "--role",
                    "technician", "--station", "ZZ-001", "--password-stdin",
                    stdin="long enough\n")
    assert tech.returncode == 0, tech.stderr
    assert json.loads(tech.stdout)["technician_id"] >= 1
    with sqlite3.connect(tmp_path / "admin.db") as db:
        linked = db.execute(
            "SELECT u.username, s.code FROM station_user l JOIN app_user u ON u.id = l.user_id "
            "JOIN service_station s ON s.id = l.station_id").fetchall()
        techs = db.execute("SELECT t.name, u.username FROM technician t "
                           "JOIN app_user u ON u.id = t.user_id").fetchall()
        users = {name for (name,) in db.execute("SELECT username FROM app_user")}
    assert linked == [("zz.staff", "ZZ-001")] and techs == [("张师傅", "zz.tech")]
    assert users == {"nobody", "zz.staff", "zz.tech"}  # a refused add leaves no user


def test_crm_daily_runs_twice(tmp_path: Path) -> None:
    for _ in range(2):
        done = _hotline(tmp_path, "crm", "daily")
        assert done.returncode == 0, done.stderr
        result = json.loads(done.stdout)
        assert result["errors"] == 0 and result["expired"] == 0


def test_crm_daily_runs_once_a_day_across_nodes_on_redis(tmp_path: Path, db_url: str,
                                                         redis_url: str,
                                                         redis_stream: str) -> None:
    """cron starts it on every node: the first runs it, the others skip the day (on
    SQLite and PostgreSQL; the in-process bus means one node: test_crm_daily_runs_twice)."""
    env = {"HOTLINE_BUS": "redis", "HOTLINE_REDIS_URL": redis_url,
           "HOTLINE_REDIS_STREAM": redis_stream, "HOTLINE_DATABASE_URL": db_url}
    try:
        first = _hotline(tmp_path, "crm", "daily",
                         env={**env, "HOTLINE_REDIS_CONSUMER": "node-a"})
        assert first.returncode == 0, first.stderr
        assert json.loads(first.stdout)["errors"] == 0
        second = _hotline(tmp_path, "crm", "daily",
                          env={**env, "HOTLINE_REDIS_CONSUMER": "node-b"})
        assert second.returncode == 0, second.stderr
        skipped = json.loads(second.stdout)
        assert skipped["skipped"] is True and skipped["ran_on"] == "node-a"
        forced = _hotline(tmp_path, "crm", "daily", "--force",
                          env={**env, "HOTLINE_REDIS_CONSUMER": "node-b"})
        assert forced.returncode == 0 and "expired" in json.loads(forced.stdout)
    finally:
        asyncio.run(_forget(redis_url, redis_stream))


async def test_a_failed_daily_run_gives_its_claim_back(redis_url: str,
                                                        redis_stream: str) -> None:
    redis = Redis.from_url(redis_url)
    day = date(2026, 12, 7)

    async def broken() -> dict[str, int]:
        raise RuntimeError("database down")

    async def works() -> dict[str, int]:
        return {"errors": 0}

    try:
        with pytest.raises(RuntimeError):
            await run_once(redis, redis_stream, "crm", day, "node-a", broken)
        assert await run_once(redis, redis_stream, "crm", day, "node-b", works) == (
            True, {"errors": 0})
        assert await run_once(redis, redis_stream, "crm", day, "node-a", works) == (
            False, "node-b")
    finally:
        await redis.delete(claim_key(redis_stream, "crm", day))
        await redis.aclose()


async def _forget(redis_url: str, stream: str) -> None:
    from crm_core.reminders import business_today
    from hotline.once_a_day import claim_key as key

    redis = Redis.from_url(redis_url)
    try:
        await redis.delete(key(stream, "crm", business_today()))
    finally:
        await redis.aclose()


def test_crm_holidays_loads_china_calendar_and_policies_once(tmp_path: Path) -> None:
    import sqlite3

    first = _hotline(tmp_path, "crm", "holidays")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["sla_policies_added"] > 0
    again = _hotline(tmp_path, "crm", "holidays")
    assert json.loads(again.stdout)["sla_policies_added"] == 0
    with sqlite3.connect(tmp_path / "admin.db") as db:
        rows = dict(db.execute("SELECT day, kind FROM holiday WHERE calendar='CN'").fetchall())
    assert rows["2026-02-14"] == "work" and rows["2026-10-01"] == "off"
    assert len(rows) == json.loads(again.stdout)["holidays"]
    bad = tmp_path / "bad.json"
    bad.write_text('{"years": {"2026": {"holidays": [{"name": "x", "off": ["2026-02-30", '
                   '"2026-03-01"]}]}}}', encoding="utf-8")
    refused = _hotline(tmp_path, "crm", "holidays", "--file", str(bad))
    assert refused.returncode == 2 and "2026.holidays[0]" in refused.stderr
