"""Run the schema's migrations up to a given revision inside a test's transaction, to
put rows in a table as an older revision left it and then check what a later one does."""

from __future__ import annotations

from alembic import command
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from crm_core.db import alembic_config


async def migrate_to(conn: AsyncConnection, db_url: str, target: str) -> None:
    """Upgrade the database of ``conn`` to revision ``target`` (``"head"``: the latest)."""
    cfg = alembic_config(db_url)

    def upgrade(connection: Connection) -> None:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, target)

    await conn.run_sync(upgrade)
