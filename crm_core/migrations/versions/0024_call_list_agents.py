"""Call lists assigned to named agents (issue 17 item 6): ``call_list.agent_ids``, the
user ids of the agents who work the list besides its team (NULL: none named).

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-07

A JSON list rather than a table: it is read with its list (one row) whenever an agent
asks for her lists or the next entry, and never queried by agent.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
revision: str = "0024"
down_revision: str | Sequence[str] | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("call_list", sa.Column("agent_ids", JSON, nullable=True))


def downgrade() -> None:
    # a plain ALTER TABLE ... DROP COLUMN (SQLite >= 3.35), not a batch: a batch rebuilds
    # call_list, and dropping the old table would cascade to every list's entries
    op.drop_column("call_list", "agent_ids")
