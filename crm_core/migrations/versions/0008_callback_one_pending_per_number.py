"""Callbacks: at most one pending (waiting or dialing) callback per number and queue.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27

A caller who asks for a callback twice (pressed the key again, called in again) keeps
the one place they already have instead of getting two calls. A partial unique index
makes that hold even when two requests race (``ivr.callback_store.request_callback``
answers the existing row's id then). Finished rows (done, failed, cancelled) are not
in the index, so the same number may ask again later.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PENDING = "state IN ('waiting', 'dialing')"


def upgrade() -> None:
    op.create_index(
        "uq_callback_request_pending_phone_queue", "callback_request", ["phone", "queue"],
        unique=True, postgresql_where=sa.text(_PENDING), sqlite_where=sa.text(_PENDING),
    )


def downgrade() -> None:
    op.drop_index("uq_callback_request_pending_phone_queue", table_name="callback_request")
