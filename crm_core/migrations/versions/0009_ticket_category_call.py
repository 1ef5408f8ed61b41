"""Tickets remember their category and the call they were raised from (the console's
pop, the IVR's repair request), so the call's history lists the tickets it opened.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("ticket", schema=None) as batch_op:
        batch_op.add_column(sa.Column("category", sa.String(), nullable=True))
        batch_op.add_column(sa.Column("call_linkedid", sa.String(), nullable=True))
        batch_op.create_index(batch_op.f("ix_ticket_call_linkedid"), ["call_linkedid"],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table("ticket", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ticket_call_linkedid"))
        batch_op.drop_column("call_linkedid")
        batch_op.drop_column("category")
