"""A call record says which way the call went: inbound (a customer called the hotline)
or outbound (an agent's click-to-dial or a callback called the customer).

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-25

Every call logged before was inbound (the call tracker followed only those), so the
column is filled with ``inbound`` by its server default and stays NOT NULL. The
call-center figures (entry report, service level, abandons) count inbound calls only;
an outbound call is linked to the customer by the number dialled.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("call_record", schema=None) as batch_op:
        batch_op.add_column(sa.Column("direction", sa.String(), nullable=False,
                                      server_default="inbound"))


def downgrade() -> None:
    with op.batch_alter_table("call_record", schema=None) as batch_op:
        batch_op.drop_column("direction")
