"""The screen pop's assets of a customer, newest first: index asset by
(customer_id, id) instead of customer_id alone.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26

``crm_core.lookup`` shows a customer's newest assets (ORDER BY id DESC LIMIT n). On
SQLite the single-column index already ends in the rowid, but a PostgreSQL index on
``customer_id`` alone gives no id order: a customer with hundreds of assets had all
of them fetched (one heap page each) and sorted. The composite index serves that
read backwards and everything the old one served, which is dropped.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_asset_customer_id_id", "asset", ["customer_id", "id"])
    op.drop_index(op.f("ix_asset_customer_id"), table_name="asset")


def downgrade() -> None:
    op.create_index(op.f("ix_asset_customer_id"), "asset", ["customer_id"])
    op.drop_index("ix_asset_customer_id_id", table_name="asset")
