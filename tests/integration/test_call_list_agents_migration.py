"""Migration 0024 (issue 17 item 6): a list gets ``agent_ids`` (NULL: no agent named),
and a downgrade drops the column without a table rebuild that would cascade to the
lists' entries."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from alembic import command
from sqlalchemy import JSON, column, func, insert, select, table
from sqlalchemy.pool import NullPool

from crm_core.db import alembic_config, make_engine
from tests.integration.migration_support import migrate_to, old_customer

OLD_LIST = table("call_list", column("id"), column("name"), column("rule"), column("kind"),
                 column("params", JSON))
ENTRY = table("call_list_entry", column("id"), column("list_id"), column("customer_id"),
              column("reason_key"), column("reason"), column("due_at"), column("history", JSON))


async def test_0026_adds_agent_ids_and_downgrades_keeping_the_entries(db_url: str) -> None:
    engine = make_engine(db_url, poolclass=NullPool)
    try:
        async with engine.begin() as conn:
            await migrate_to(conn, db_url, "0022")
            cid = await old_customer(conn, "Old Co")
            list_id = (await conn.execute(insert(OLD_LIST).values(
                name="回访", rule="customer_filter", kind="contact", params={})
                .returning(OLD_LIST.c.id))).scalar_one()
            await conn.execute(insert(ENTRY).values(
                list_id=list_id, customer_id=cid, reason_key="customer", reason="回访",
                due_at=datetime(2026, 12, 1, tzinfo=UTC), history=[]))
        async with engine.begin() as conn:
            await migrate_to(conn, db_url, "0024")
            lists = table("call_list", column("id"), column("agent_ids", JSON))
            assert (await conn.execute(select(lists.c.agent_ids))).scalar_one() is None
            await conn.execute(lists.update().values(agent_ids=[7, 8]))
            assert (await conn.execute(select(lists.c.agent_ids))).scalar_one() == [7, 8]

        async with engine.begin() as conn:
            def down(connection: Any) -> None:
                cfg = alembic_config(db_url)
                cfg.attributes["connection"] = connection
                command.downgrade(cfg, "0023")
            await conn.run_sync(down)
            entries = await conn.scalar(select(func.count()).select_from(ENTRY))
            names = (await conn.execute(select(OLD_LIST.c.name))).scalars().all()
    finally:
        await engine.dispose()
    assert entries == 1 and names == ["回访"]
