"""The sales pipeline (issue 18 item 3): each opportunity's stage history
(``opportunity_stage_change``: the funnel's time spent in each stage), and what an order
line cost and which product line it belongs to (``order_line.unit_cost`` and
``order_line.product_line_id``: margins per salesman, sales by product line).

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-07

Existing opportunities get one history row: their current stage, entered when they were
closed (won, lost) or created (the open ones). Nothing older is known, so their time
in the earlier stages is not counted rather than guessed.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0025"
down_revision: str | Sequence[str] | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "opportunity_stage_change",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("opportunity_id", sa.Integer(), nullable=False),
        sa.Column("from_stage", sa.String(), nullable=True),
        sa.Column("to_stage", sa.String(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.func.now(),
                  nullable=False),
        sa.Column("by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["by_id"], ["app_user.id"],
                                name=op.f("fk_opportunity_stage_change_by_id_app_user"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(
            ["opportunity_id"], ["opportunity.id"],
            name=op.f("fk_opportunity_stage_change_opportunity_id_opportunity"),
            ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_opportunity_stage_change")),
    )
    op.create_index("ix_opportunity_stage_change_opportunity_id_at",
                    "opportunity_stage_change", ["opportunity_id", "at"], unique=False)
    op.execute(
        "INSERT INTO opportunity_stage_change (opportunity_id, from_stage, to_stage, at) "
        "SELECT id, NULL, stage, COALESCE(closed_at, created_at) FROM opportunity")
    with op.batch_alter_table("order_line") as batch:
        batch.add_column(sa.Column("unit_cost", sa.Numeric(14, 2), nullable=True))
        batch.add_column(sa.Column("product_line_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(op.f("fk_order_line_product_line_id_product_line"),
                                 "product_line", ["product_line_id"], ["id"],
                                 ondelete="SET NULL")
        batch.create_index(op.f("ix_order_line_product_line_id"), ["product_line_id"],
                           unique=False)


def downgrade() -> None:
    with op.batch_alter_table("order_line") as batch:
        batch.drop_index(op.f("ix_order_line_product_line_id"))
        batch.drop_constraint(op.f("fk_order_line_product_line_id_product_line"),
                              type_="foreignkey")
        batch.drop_column("product_line_id")
        batch.drop_column("unit_cost")
    op.drop_index("ix_opportunity_stage_change_opportunity_id_at",
                  table_name="opportunity_stage_change")
    op.drop_table("opportunity_stage_change")
