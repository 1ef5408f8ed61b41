"""Migration 0026 (issue 18 item 4): the mailings' tables, and module ``mailings``
granted to the existing manager and supervisor roles (a grant a site already changed is
kept); a downgrade removes both and goes up again."""

from __future__ import annotations

from typing import Any

from alembic import command
from sqlalchemy import JSON, column, delete, insert, select, table, update
from sqlalchemy.pool import NullPool

from crm_core.db import alembic_config, make_engine
from tests.integration.migration_support import migrate_to

ROLE = table("role", column("id"), column("name"))
GRANT = table("role_permission", column("role_id"), column("module"), column("operation"),
              column("scope"))


async def _grants(conn: Any) -> dict[tuple[str, str], str]:
    rows = await conn.execute(select(ROLE.c.name, GRANT.c.operation, GRANT.c.scope)
                              .join(GRANT, GRANT.c.role_id == ROLE.c.id)
                              .where(GRANT.c.module == "mailings"))
    return {(name, op): scope for name, op, scope in rows}


async def test_0026_grants_managers_and_downgrades(db_url: str) -> None:
    engine = make_engine(db_url, poolclass=NullPool)
    try:
        async with engine.begin() as conn:
            await migrate_to(conn, db_url, "0025")
            manager = (await conn.execute(select(ROLE.c.id).where(ROLE.c.name == "manager"))
                       ).scalar_one()
            # this site had already given its managers read on mailings, at scope team
            await conn.execute(insert(GRANT).values(role_id=manager, module="mailings",
                                                    operation="read", scope="team"))
        async with engine.begin() as conn:
            await migrate_to(conn, db_url, "0026")
            grants = await _grants(conn)
            assert grants == {
                ("manager", "read"): "team", ("manager", "create"): "own",
                ("manager", "update"): "own", ("supervisor", "read"): "team",
                ("supervisor", "create"): "team", ("supervisor", "update"): "team"}
            mailing = table("mailing", column("id"), column("name"), column("channel"),
                            column("filter", JSON), column("body"))
            await conn.execute(insert(mailing).values(name="x", channel="sms", filter={},
                                                      body="b"))
            await conn.execute(update(mailing).values(name="y"))
            await conn.execute(delete(mailing))

        async with engine.begin() as conn:
            def down(connection: Any) -> None:
                cfg = alembic_config(db_url)
                cfg.attributes["connection"] = connection
                command.downgrade(cfg, "0025")
            await conn.run_sync(down)
            assert await _grants(conn) == {}
        async with engine.begin() as conn:
            await migrate_to(conn, db_url, "0026")
            assert len(await _grants(conn)) == 6
    finally:
        await engine.dispose()
