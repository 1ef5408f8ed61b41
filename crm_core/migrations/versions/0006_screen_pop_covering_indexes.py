"""Screen pop: the per-customer indexes end in ``id`` so the newest rows' ids come
from the index alone.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26

``crm_core.lookup`` takes a customer's newest calls, open tickets and open
opportunities in two steps: the ids of the few rows shown (ORDER BY ... LIMIT n), read
from an index only, then those rows by primary key. PostgreSQL plans the correlated
subqueries for an average customer and otherwise fetched every row of a big account
(one heap page each: milliseconds for a customer with hundreds of calls). Each index
below replaces one with the same leading columns, so whatever used the old one can
use the new one.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, old index, old columns, new index, new columns)
_CHANGES = (
    ("call_record", "ix_call_record_customer_id_ended_at", ["customer_id", "ended_at"],
     "ix_call_record_customer_id_ended_at_id", ["customer_id", "ended_at", "id"]),
    ("ticket", "ix_ticket_customer_id_status", ["customer_id", "status"],
     "ix_ticket_customer_id_status_id", ["customer_id", "status", "id"]),
    ("opportunity", "ix_opportunity_customer_id_stage", ["customer_id", "stage"],
     "ix_opportunity_customer_id_stage_id", ["customer_id", "stage", "id"]),
)


def upgrade() -> None:
    for table, old, _, new, columns in _CHANGES:
        op.create_index(new, table, columns)
        op.drop_index(old, table_name=table)


def downgrade() -> None:
    for table, old, old_columns, new, _ in _CHANGES:
        op.create_index(old, table, old_columns)
        op.drop_index(new, table_name=table)
