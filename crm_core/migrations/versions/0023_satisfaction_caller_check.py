"""Scores that belong to people and complaint caller verification (issue 17 items 4-5):
the ``satisfaction_score`` table; ``ticket.caller_check`` and ``ticket.caller_flagged``.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07

A score row names the ticket, station, technician, the agent who took the original
call, the product line, the customer and the list it came from (``entry_id`` unique:
one answer per list entry). The agent's and the station's figures read their indexes
by month. The ticket columns are added with a plain ADD COLUMN (a batch would rebuild
``ticket`` on SQLite and cascade deletes).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
revision: str = "0023"
down_revision: str | Sequence[str] | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "satisfaction_score",
        sa.Column("id", BIGID, nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.Column("station_id", sa.Integer(), nullable=True),
        sa.Column("technician_id", sa.Integer(), nullable=True),
        sa.Column("agent_id", sa.Integer(), nullable=True),
        sa.Column("product_line_id", sa.Integer(), nullable=True),
        sa.Column("list_id", sa.Integer(), nullable=True),
        sa.Column("entry_id", BIGID, nullable=True),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("channel", sa.String(), server_default="agent", nullable=False),
        sa.Column("asked_by_id", sa.Integer(), nullable=True),
        sa.Column("scored_at", sa.DateTime(timezone=True), server_default=sa.func.now(),
                  nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"],
                                name=op.f("fk_satisfaction_score_customer_id_customer"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["ticket_id"], ["ticket.id"],
                                name=op.f("fk_satisfaction_score_ticket_id_ticket"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(
            ["station_id"], ["service_station.id"],
            name=op.f("fk_satisfaction_score_station_id_service_station"), ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["technician_id"], ["technician.id"],
                                name=op.f("fk_satisfaction_score_technician_id_technician"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["agent_id"], ["app_user.id"],
                                name=op.f("fk_satisfaction_score_agent_id_app_user"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(
            ["product_line_id"], ["product_line.id"],
            name=op.f("fk_satisfaction_score_product_line_id_product_line"), ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["list_id"], ["call_list.id"],
                                name=op.f("fk_satisfaction_score_list_id_call_list"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["call_list_entry.id"],
            name=op.f("fk_satisfaction_score_entry_id_call_list_entry"), ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["asked_by_id"], ["app_user.id"],
                                name=op.f("fk_satisfaction_score_asked_by_id_app_user"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_satisfaction_score")),
        sa.UniqueConstraint("entry_id", name=op.f("uq_satisfaction_score_entry_id")),
    )
    op.create_index("ix_satisfaction_score_scored_at", "satisfaction_score", ["scored_at"])
    op.create_index("ix_satisfaction_score_agent_id_scored_at", "satisfaction_score",
                    ["agent_id", "scored_at"])
    op.create_index("ix_satisfaction_score_station_id_scored_at", "satisfaction_score",
                    ["station_id", "scored_at"])
    op.create_index(op.f("ix_satisfaction_score_customer_id"), "satisfaction_score",
                    ["customer_id"])
    op.create_index(op.f("ix_satisfaction_score_ticket_id"), "satisfaction_score",
                    ["ticket_id"])
    op.create_index(op.f("ix_satisfaction_score_technician_id"), "satisfaction_score",
                    ["technician_id"])
    op.add_column("ticket", sa.Column("caller_check", JSON, nullable=True))
    op.add_column("ticket", sa.Column("caller_flagged", sa.Boolean(),
                                      server_default=sa.false(), nullable=False))


def downgrade() -> None:
    # plain DROP COLUMN (SQLite >= 3.35): a batch would rebuild ``ticket``
    op.drop_column("ticket", "caller_flagged")
    op.drop_column("ticket", "caller_check")
    op.drop_table("satisfaction_score")
