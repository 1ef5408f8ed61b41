"""The screen pop's "last calls of this customer": index call_record by
(customer_id, ended_at) instead of customer_id alone.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26

``crm_core.lookup`` reads a customer's newest calls with ORDER BY ended_at DESC LIMIT
5; with only ``customer_id`` indexed both databases fetched and sorted every call of
the customer (a big account has thousands). The composite index serves that read
backwards and everything the single-column one served (its leading column), so the
old index is dropped rather than kept as a redundant write cost.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_call_record_customer_id_ended_at", "call_record", ["customer_id", "ended_at"]
    )
    op.drop_index(op.f("ix_call_record_customer_id"), table_name="call_record")


def downgrade() -> None:
    op.create_index(op.f("ix_call_record_customer_id"), "call_record", ["customer_id"])
    op.drop_index("ix_call_record_customer_id_ended_at", table_name="call_record")
