"""Sign-in state in the database, so that a restart keeps it and every node sees it.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-26

``auth_record`` holds, by key, the sessions signed out before their cookie expires,
the sign-in throttle (per account and client address, per client address) and the
failed sign-ins to tell each account's owner (agent_console.api.auth_store). It was
kept in each process's memory: a restart forgot it and another node never knew it.
With the Redis bus the same records live in Redis instead and this table stays empty.
Nothing to carry over: the old state was never written anywhere.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "auth_record",
        sa.Column("key", sa.String(), nullable=False),
        sa.Column(
            "value",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_auth_record")),
    )
    op.create_index(op.f("ix_auth_record_expires_at"), "auth_record", ["expires_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_auth_record_expires_at"), table_name="auth_record")
    op.drop_table("auth_record")
