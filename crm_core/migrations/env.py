"""Alembic environment of crm_core: async URLs (sqlite+aiosqlite, postgresql+asyncpg).

Two ways in:
- from ``crm_core.db`` (``hotline db upgrade``, app start-up): a live connection is
  handed over in ``config.attributes["connection"]``; we run on it and touch nothing
  else (no logging set-up, no event loop of our own);
- from Alembic's own command line (``alembic -c crm_core/alembic.ini -x url=...``):
  we build an async engine for the URL and run through ``asyncio.run``.
SQLite runs in batch mode, so later migrations can alter its tables.
"""

from __future__ import annotations

import asyncio
from logging.config import fileConfig

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.pool import NullPool

from crm_core.db import async_url, make_engine
from crm_core.models import Base

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    url = (
        config.attributes.get("hotline_url")
        or context.get_x_argument(as_dictionary=True).get("url")
        or config.get_main_option("sqlalchemy.url")
    )
    if not url:
        raise RuntimeError("no database URL: pass -x url=... or use crm_core.db.upgrade")
    return str(url)


def run_migrations_offline() -> None:
    context.configure(
        url=async_url(_url()),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        render_as_batch=async_url(_url()).get_backend_name() == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def do_run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_async_migrations() -> None:
    engine = make_engine(_url(), poolclass=NullPool)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(do_run_migrations)
    finally:
        await engine.dispose()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        do_run_migrations(connection)
        return
    if config.config_file_name is not None:
        fileConfig(config.config_file_name, disable_existing_loggers=False)
    asyncio.run(run_async_migrations())


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
