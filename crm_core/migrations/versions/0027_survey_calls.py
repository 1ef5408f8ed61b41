"""Automated survey calls (issue 17 item 3): ``call_list.automated`` (the list is worked
by the IVR's survey dialler, not by agents), ``customer.prefers_automated_calls`` (the
dialler takes that customer's entries of the agents' satisfaction lists too) and
``satisfaction_score.question`` (a survey asks several questions: one answer per entry
AND question, so the unique ``entry_id`` becomes unique ``(entry_id, question)``; an
agent's call is the question ``overall``).

Revision ID: 0027
Revises: 0024
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0027"
down_revision: str | Sequence[str] | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("customer", sa.Column("prefers_automated_calls", sa.Boolean(),
                                        nullable=False, server_default=sa.false()))
    op.add_column("call_list", sa.Column("automated", sa.Boolean(), nullable=False,
                                         server_default=sa.false()))
    # a batch on SQLite (a constraint cannot be dropped in place there); nothing refers to
    # satisfaction_score, so rebuilding it cascades nowhere
    with op.batch_alter_table("satisfaction_score") as batch:
        batch.add_column(sa.Column("question", sa.String(), nullable=False,
                                   server_default="overall"))
        batch.drop_constraint("uq_satisfaction_score_entry_id", type_="unique")
        batch.create_unique_constraint("uq_satisfaction_score_entry_id_question",
                                       ["entry_id", "question"])


def downgrade() -> None:
    op.execute("DELETE FROM satisfaction_score WHERE question <> 'overall'")
    with op.batch_alter_table("satisfaction_score") as batch:
        batch.drop_constraint("uq_satisfaction_score_entry_id_question", type_="unique")
        batch.create_unique_constraint("uq_satisfaction_score_entry_id", ["entry_id"])
        batch.drop_column("question")
    # plain DROP COLUMN: a batch would rebuild call_list and cascade to its entries
    op.drop_column("call_list", "automated")
    op.drop_column("customer", "prefers_automated_calls")
