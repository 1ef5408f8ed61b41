"""Migration 0027 (issue 17 item 3): an agent's scores of before become the question
``overall``; one answer per (entry, question) from then on; lists are not automated
unless made so; a downgrade keeps the agents' scores and the lists' entries."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from alembic import command
from sqlalchemy import JSON, column, func, insert, select, table
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import NullPool

from crm_core.db import alembic_config, make_engine
from tests.integration.migration_support import migrate_to, old_customer

LISTS = table("call_list", column("id"), column("name"), column("rule"), column("kind"),
              column("params", JSON))
ENTRY = table("call_list_entry", column("id"), column("list_id"), column("customer_id"),
              column("reason_key"), column("reason"), column("due_at"),
              column("history", JSON))
SCORE = table("satisfaction_score", column("id"), column("customer_id"), column("entry_id"),
              column("score"), column("channel"))


async def test_0027_keeps_scores_as_overall_and_downgrades(db_url: str) -> None:
    engine = make_engine(db_url, poolclass=NullPool)
    try:
        async with engine.begin() as conn:
            await migrate_to(conn, db_url, "0026")
            cid = await old_customer(conn, "Old Co")
            list_id = (await conn.execute(insert(LISTS).values(
                name="回访", rule="repair_followup", kind="satisfaction", params={})
                .returning(LISTS.c.id))).scalar_one()
            entry_id = (await conn.execute(insert(ENTRY).values(
                list_id=list_id, customer_id=cid, reason_key="ticket:1", reason="回访",
                due_at=datetime(2026, 12, 1, tzinfo=UTC), history=[])
                .returning(ENTRY.c.id))).scalar_one()
            await conn.execute(insert(SCORE).values(customer_id=cid, entry_id=entry_id,
                                                    score=4, channel="agent"))
        async with engine.begin() as conn:
            await migrate_to(conn, db_url, "0027")
            scores = table("satisfaction_score", column("entry_id"), column("question"),
                           column("score"), column("customer_id"), column("channel"))
            assert (await conn.execute(select(scores.c.question))).scalars().all() == [
                "overall"]
            lists = table("call_list", column("automated"))
            assert not (await conn.execute(select(lists.c.automated))).scalar_one()
            await conn.execute(insert(scores).values(customer_id=cid, entry_id=entry_id,
                                                     question="repair", score=2,
                                                     channel="ivr"))
        with pytest.raises(IntegrityError):  # the same entry's same question twice
            async with engine.begin() as conn:
                await conn.execute(insert(scores).values(
                    customer_id=cid, entry_id=entry_id, question="repair", score=3,
                    channel="ivr"))
        async with engine.begin() as conn:
            def down(connection: Any) -> None:
                cfg = alembic_config(db_url)
                cfg.attributes["connection"] = connection
                command.downgrade(cfg, "0026")
            await conn.run_sync(down)
            kept = (await conn.execute(select(SCORE.c.score))).scalars().all()
            entries = await conn.scalar(select(func.count()).select_from(ENTRY))
    finally:
        await engine.dispose()
    assert kept == [4] and entries == 1
