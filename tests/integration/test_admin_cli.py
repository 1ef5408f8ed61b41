"""``hotline user add`` and ``hotline crm daily`` as an administrator runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from argon2 import PasswordHasher


def _hotline(tmp_path: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop("HOTLINE_CONFIG", None)
    env["HOTLINE_DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path}/admin.db"
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


def test_crm_daily_runs_twice(tmp_path: Path) -> None:
    for _ in range(2):
        done = _hotline(tmp_path, "crm", "daily")
        assert done.returncode == 0, done.stderr
        result = json.loads(done.stdout)
        assert result["errors"] == 0 and result["expired"] == 0
