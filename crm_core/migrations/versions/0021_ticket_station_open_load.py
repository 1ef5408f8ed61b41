"""A ticket index on (station_id, status): a station's open load is one grouped count
over this index when a ticket is routed (issue 15, routing p99 <= 5 ms with 200,000
open tickets).

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07 14:05:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0021"
down_revision: str | Sequence[str] | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("ticket", schema=None) as batch_op:
        batch_op.create_index("ix_ticket_station_id_status", ["station_id", "status"],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table("ticket", schema=None) as batch_op:
        batch_op.drop_index("ix_ticket_station_id_status")
