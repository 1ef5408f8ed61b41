"""A call record keeps the name of the call's recording, when the PBX made one.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-25

``call_record.recording`` is the file's name relative to the site's recordings folder
(the dialplan's ``HOTLINE_RECORDING``, checked by the call tracker); the console turns
it into a link with the ``recording_base_url`` setting. Calls logged before, and calls
not recorded, have none.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("call_record", schema=None) as batch_op:
        batch_op.add_column(sa.Column("recording", sa.String(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("call_record", schema=None) as batch_op:
        batch_op.drop_column("recording")
