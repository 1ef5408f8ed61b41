"""The audit trail: who changed what, when, with the record before and after.

Rules:
- every write of a service adds its audit entry in the SAME session/transaction
  as the change, so a rolled-back change leaves no entry and a committed one
  always has it;
- ``write_entries`` writes several entries in ONE statement (a Core executemany: no
  ids read back, which the ORM would do row by row on SQLite), for hot paths that
  write a few at once (routing a ticket);
- ``snapshot()`` gives the JSON-ready column values of a row (dates as ISO
  strings, decimals as strings), the "before"/"after" of an entry;
- nothing here commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import insert, inspect
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.models import AuditEntry


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def snapshot(row: Any) -> dict[str, Any]:
    """The column values of an ORM row, JSON-ready."""
    mapper = inspect(row).mapper
    return {attr.key: _plain(getattr(row, attr.key)) for attr in mapper.column_attrs}


def audit(
    session: AsyncSession,
    *,
    user_id: int | None,
    action: str,
    entity: str,
    entity_id: object,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEntry:
    """Add one audit entry to ``session`` (committed with the change it describes)."""
    entry = AuditEntry(
        user_id=user_id, action=action, entity=entity, entity_id=str(entity_id),
        before=before, after=after,
    )
    session.add(entry)
    return entry


async def write_entries(session: AsyncSession, entries: Sequence[dict[str, Any]]) -> None:
    """Write audit entries (``audit``'s keyword arguments, each) now, in one statement."""
    if not entries:
        return
    rows = [{"user_id": e["user_id"], "action": e["action"], "entity": e["entity"],
             "entity_id": str(e["entity_id"]), "before": e.get("before"),
             "after": e.get("after")} for e in entries]
    # the Core table, not the ORM entity: a list of rows is then ONE executemany
    await session.execute(insert(AuditEntry.metadata.tables["audit_log"]), rows)


def changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """Only the keys whose value changed (for compact update entries)."""
    return {k: after[k] for k in after if before.get(k) != after[k]}
