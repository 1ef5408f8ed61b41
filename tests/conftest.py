"""Shared fixtures: the real services (PostgreSQL, Redis) and the captures.

Rules:
- a test that needs PostgreSQL or Redis asks for ``postgres_url`` /
  ``redis_url`` (or the parametrised ``db_url`` / ``bus_kind``);
- in CI (``CI`` set) a missing service is a FAILURE, never a skip;
- outside CI a missing service skips the test, and says so loudly at the end.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
from tests.shared import CAPTURES  # noqa: E402

# HOTLINE_TEST_PG_DB picks another database (created on demand), so two suites can run at once
# on one machine without dropping each other's tables; CI uses ``test``.
PG_DB = os.environ.get("HOTLINE_TEST_PG_DB", "test")
PG_DSN = f"postgresql://postgres@127.0.0.1:5432/{PG_DB}"
PG_URL = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{PG_DB}"
REDIS_URL = "redis://127.0.0.1:6379/0"

_skipped_services: set[str] = set()


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def _require(service: str, host: str, port: int) -> None:
    if _reachable(host, port):
        return
    if os.environ.get("CI"):
        pytest.fail(f"{service} is not reachable on {host}:{port} and CI is set: it must run")
    _skipped_services.add(service)
    pytest.skip(f"{service} not running on {host}:{port} (outside CI only)")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _skipped_services:
        terminalreporter.write_sep(
            "!", f"SKIPPED tests that need: {', '.join(sorted(_skipped_services))} (not running)",
            red=True, bold=True,
        )


@pytest.fixture
def captures() -> Path:
    return CAPTURES


async def _reset_postgres() -> None:
    import asyncpg

    if PG_DB != "test":
        admin = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres")
        try:
            if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", PG_DB):
                await admin.execute(f'CREATE DATABASE "{PG_DB}"')
        finally:
            await admin.close()
    conn = await asyncpg.connect(PG_DSN)
    try:
        await conn.execute("DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public;")
    finally:
        await conn.close()


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    """The ``test`` database, emptied (schema dropped) before the test."""
    _require("PostgreSQL", "127.0.0.1", 5432)
    await _reset_postgres()
    yield PG_URL


@pytest.fixture
def redis_url() -> str:
    _require("Redis", "127.0.0.1", 6379)
    return REDIS_URL


@pytest.fixture(params=["sqlite", "postgres"])
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """Each test that takes it runs on SQLite and on PostgreSQL (empty database)."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path}/hotline.db"
    else:
        _require("PostgreSQL", "127.0.0.1", 5432)
        await _reset_postgres()
        yield PG_URL


@pytest.fixture(params=["memory", "redis"])
def bus_kind(request: pytest.FixtureRequest) -> str:
    """Each test that takes it runs on the in-process bus and on Redis."""
    if request.param == "redis":
        _require("Redis", "127.0.0.1", 6379)
    return str(request.param)


@pytest.fixture
def redis_stream() -> Iterator[str]:
    """A stream key of its own, so tests never see each other's events."""
    yield f"hotline:test:{uuid.uuid4().hex}"


class _UndocumentedStatuses(logging.Handler):
    """Collects the API's "answered a status its OpenAPI document does not list" records
    (``agent_console.api.errors``)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.found: list[tuple[str, int]] = []

    def emit(self, record: logging.LogRecord) -> None:
        found = getattr(record, "undocumented_status", None)
        if found is not None:
            self.found.append(found)


@pytest.fixture(autouse=True)
def api_answers_only_documented_statuses() -> Iterator[_UndocumentedStatuses]:
    """Whatever a test makes the API answer must be in its OpenAPI document (issue 13
    item 10): every test that calls the API checks the document as a side effect. (A
    test of the check itself takes this fixture and empties ``found``.)"""
    handler = _UndocumentedStatuses()
    logger = logging.getLogger("agent_console.api")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
    if handler.found:
        pytest.fail(f"the API answered statuses its OpenAPI document does not list "
                    f"(operation, status): {sorted(set(handler.found))}")
