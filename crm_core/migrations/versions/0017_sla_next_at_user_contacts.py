"""The SLA sweep's next instant per ticket, and users' email and mobile (issue 15).

``ticket.sla_next_at``: when the ticket's SLA must next change (its warning, breach or
next escalation; NULL when nothing is pending: paused, met, done), indexed, so the
sweep reads only the tickets whose state must change (crm_core.sla.sweep), however
many are open. ``app_user.email`` / ``phone``: where the escalation chain (station
manager, regional service manager, service director) is told.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 15:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | Sequence[str] | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("ticket", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sla_next_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f("ix_ticket_sla_next_at"), ["sla_next_at"], unique=False)
    with op.batch_alter_table("app_user", schema=None) as batch_op:
        batch_op.add_column(sa.Column("email", sa.String(), nullable=True))
        batch_op.add_column(sa.Column("phone", sa.String(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("app_user", schema=None) as batch_op:
        batch_op.drop_column("phone")
        batch_op.drop_column("email")
    with op.batch_alter_table("ticket", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ticket_sla_next_at"))
        batch_op.drop_column("sla_next_at")
