"""Run the schema's migrations up to a given revision inside a test's transaction, to
put rows in a table as an older revision left it and then check what a later one does."""

from __future__ import annotations

from alembic import command
from sqlalchemy import Connection, column, insert, table
from sqlalchemy.ext.asyncio import AsyncConnection

from crm_core.db import alembic_config


async def migrate_to(conn: AsyncConnection, db_url: str, target: str) -> None:
    """Upgrade the database of ``conn`` to revision ``target`` (``"head"``: the latest)."""
    cfg = alembic_config(db_url)

    def upgrade(connection: Connection) -> None:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, target)

    await conn.run_sync(upgrade)


async def old_customer(conn: AsyncConnection, name: str) -> int:
    """A customer row as any revision's table takes it (by its name alone: the model's
    later columns, and their defaults, do not exist in an older table)."""
    customer = table("customer", column("id"), column("name"))
    return int((await conn.execute(insert(customer).values(name=name)
                                   .returning(customer.c.id))).scalar_one())
