"""Database engine and schema migrations for crm_core (SQLAlchemy 2 async + Alembic).

Rules:
- one URL decides everything: ``sqlite+aiosqlite:///var/hotline.db`` (embedded default)
  or ``postgresql+asyncpg://...`` (production); plain ``sqlite:///`` / ``postgresql://``
  / ``postgres://`` URLs are taken to mean their async drivers;
- SQLite connections always run with WAL, foreign keys on and a busy timeout, and the
  directory of the database file is created on first use;
- SQLite transactions are begun by us, not by the driver, with ``BEGIN IMMEDIATE``
  just before their first write (the write lock waited for up to the busy timeout,
  instead of "database is locked" when a reader tries to become a writer while another
  connection writes); reads before that, and read-only transactions, run in autocommit
  beside the writers, as the driver always did (``_sqlite_begins``);
- SQLite connections stop their aiosqlite thread once, however often they are closed
  (``_SqliteConnection``): a statement cancelled twice must not leave a close waiting
  forever;
- the schema is only ever changed by Alembic migrations shipped inside the package
  (``crm_core/migrations``), found from the package, never from the working directory;
- ``upgrade`` is the sync entry (CLI), ``upgrade_async`` the one for a running loop:
  it runs Alembic on a connection of our own through ``run_sync``, no thread, no
  second event loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import sqlite3
from importlib import resources
from pathlib import Path
from typing import Any

import aiosqlite
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

SQLITE_BUSY_TIMEOUT_S = 5.0
_ASYNC_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
}


def async_url(url: str | URL) -> URL:
    """``url`` with its async driver (``sqlite`` -> aiosqlite, ``postgresql`` -> asyncpg)."""
    parsed = make_url(url) if isinstance(url, str) else url
    driver = _ASYNC_DRIVERS.get(parsed.drivername)
    return parsed.set(drivername=driver) if driver else parsed


def sqlite_file(url: URL) -> Path | None:
    """The database file of a SQLite URL; None for memory databases and non-SQLite URLs."""
    if url.get_backend_name() != "sqlite":
        return None
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return None
    return Path(database)


def _json_dumps(value: Any) -> str:
    # readable UTF-8 in the database (Chinese names stay Chinese in the JSON columns)
    return json.dumps(value, ensure_ascii=False)


def _sqlite_pragmas(busy_timeout_s: float) -> Any:
    busy_ms = max(0, int(busy_timeout_s * 1000))

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # the driver must not begin transactions on its own: ours begin in _sqlite_begins
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
        finally:
            cursor.close()

    return on_connect


_BEGIN_OWED = "hotline_sqlite_begin"
"""``Connection.info`` key: the open transaction has not sent its BEGIN yet."""


def _sqlite_begins(engine: Engine) -> None:
    """Begin SQLite transactions ourselves, with ``BEGIN IMMEDIATE``, just before the
    transaction's first write.

    pysqlite/aiosqlite send a deferred BEGIN before the first INSERT/UPDATE/DELETE,
    reads before it running in autocommit. A deferred transaction that reads and then
    writes has to upgrade its lock, and SQLite refuses that at once with "database is
    locked" whenever another connection writes: no busy timeout applies then.
    ``BEGIN IMMEDIATE`` takes the write lock when the transaction begins and waits the
    busy timeout for it.

    Every transaction (an ORM session's or a plain connection's) keeps the driver's
    rule for when: SELECTs before the first write run in autocommit (each sees the
    latest commit, as PostgreSQL's READ COMMITTED does), and BEGIN IMMEDIATE goes just
    before that write (or savepoint, DDL). So a transaction that only reads never
    begins: it never waits behind a writer (WAL lets reads run beside a write) and
    never holds a snapshot open. Taking the lock at a session's start instead made the
    IVR's read-only self-service (ticket and order status) and the API's reads queue
    behind every ticket being written: the IVR benchmark's p99 doubled. The screen
    pop's lookups (``crm_core.lookup``) run outside SQLAlchemy's transactions:
    autocommit, no lock.

    The BEGIN is owed at the engine's ``begin`` event and sent (on the statement's own
    cursor) in ``before_cursor_execute``.
    """

    def owe_begin(conn: Connection) -> None:
        conn.info[_BEGIN_OWED] = True

    def send_begin(conn: Connection, cursor: Any, statement: str, *_: Any) -> None:
        if _BEGIN_OWED not in conn.info:
            return
        if statement.lstrip()[:6].upper() == "SELECT":
            return  # a read before the transaction's first write: autocommit
        del conn.info[_BEGIN_OWED]
        cursor.execute("BEGIN IMMEDIATE")

    def forget_begin(conn: Connection) -> None:
        # ended before any write: nothing was begun. An invalidated connection (a
        # cancelled statement) has no info left to clean, and is never reused.
        if not conn.invalidated:
            conn.info.pop(_BEGIN_OWED, None)

    event.listen(engine, "begin", owe_begin)
    event.listen(engine, "before_cursor_execute", send_begin)
    event.listen(engine, "commit", forget_begin)
    event.listen(engine, "rollback", forget_begin)


class _SqliteConnection(aiosqlite.Connection):
    """aiosqlite's connection, whose worker thread is asked to stop once.

    aiosqlite 0.22.1 queues one "stop" per ``stop()`` call and its thread exits at the
    first. A statement cancelled mid-run makes SQLAlchemy close the connection in a
    shielded task that ends with ``stop()``; a second cancel in that window makes it
    force-stop as well, so the shielded close's own stop went to a thread that had
    already exited and waited forever (the event loop's close then hung: a stalled CI
    run). Here a later ``stop()`` answers with the first one's future.
    """

    _stop_asked = False
    _first_stop: asyncio.Future[Any] | None = None

    def stop(self) -> asyncio.Future[Any] | None:
        if not self._stop_asked:
            self._stop_asked = True
            self._first_stop = super().stop()
        return self._first_stop


def _sqlite_connect(database: str, *, iter_chunk_size: int = 64,
                    **kwargs: Any) -> aiosqlite.Connection:
    """``aiosqlite.connect`` with ``_SqliteConnection`` (SQLAlchemy's
    ``async_creator_fn``): the same connector, the worker thread a daemon as
    SQLAlchemy makes it (a thread left behind must not keep the process alive)."""
    conn = _SqliteConnection(lambda: sqlite3.connect(database, **kwargs), iter_chunk_size)
    conn._thread.daemon = True
    return conn


def make_engine(
    url: str,
    *,
    sqlite_busy_timeout_s: float = SQLITE_BUSY_TIMEOUT_S,
    poolclass: Any = None,
) -> AsyncEngine:
    """An async engine for ``url``, set up for Hotline (see the module rules).

    ``sqlite_busy_timeout_s``: how long a SQLite transaction waits for another writer's
    lock before failing with "database is locked" (the call-log writer then retries).
    """
    parsed = async_url(url)
    kwargs: dict[str, Any] = {"json_serializer": _json_dumps}
    if poolclass is not None:
        kwargs["poolclass"] = poolclass
    path = sqlite_file(parsed)
    if parsed.get_backend_name() == "sqlite":
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"timeout": sqlite_busy_timeout_s,
                                  "async_creator_fn": _sqlite_connect}
        engine = create_async_engine(parsed, **kwargs)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas(sqlite_busy_timeout_s))
        _sqlite_begins(engine.sync_engine)
        return engine
    if parsed.get_backend_name() == "postgresql" and poolclass is None:
        kwargs.update(
            pool_size=10,
            max_overflow=20,
            pool_timeout=30,
            pool_pre_ping=True,  # a restarted server must not cost us a failed write
            pool_recycle=1800,
            connect_args={"server_settings": {"application_name": "hotline"}},
        )
    return create_async_engine(parsed, **kwargs)


# --- migrations -------------------------------------------------------------------------


def _package_dir() -> Path:
    return Path(str(resources.files("crm_core")))


def alembic_config(url: str) -> Any:
    """The Alembic ``Config`` of the packaged migrations, aimed at ``url``."""
    from alembic.config import Config

    pkg = _package_dir()
    cfg = Config(str(pkg / "alembic.ini"))
    cfg.set_main_option("script_location", str(pkg / "migrations"))
    # the URL travels in attributes: configparser would choke on %-escapes in passwords
    cfg.attributes["hotline_url"] = async_url(url).render_as_string(hide_password=False)
    return cfg


def _upgrade_on(connection: Connection, cfg: Any) -> None:
    from alembic import command

    cfg.attributes["connection"] = connection
    command.upgrade(cfg, "head")


async def upgrade_async(url: str) -> None:
    """``alembic upgrade head`` from inside a running event loop (idempotent)."""
    engine = make_engine(url, poolclass=NullPool)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_upgrade_on, alembic_config(url))
    finally:
        await engine.dispose()


def upgrade(url: str) -> None:
    """``alembic upgrade head``, sync (``hotline db upgrade``); idempotent."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(upgrade_async(url))
        return
    # called synchronously from inside a running loop: that loop cannot be re-entered,
    # so the upgrade gets a thread (and an event loop) of its own
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="alembic") as pool:
        pool.submit(asyncio.run, upgrade_async(url)).result()
