"""Data only: compute ``customer.name_key`` for rows that have none.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26

0002 added ``name_key`` with the default ``''``, so every customer written before it
(and any written by code that skips the customer service) cannot be found by the
duplicate guard's name rule. This fills it with ``crm_core.names.name_key``: the
rule of the code being installed, which is what the guard will compare against. A
later change of those rules must ship its own migration recomputing every key.
Offline (``--sql``) it emits nothing: the keys are computed in Python.
Downgrade leaves the keys: they are derived data, and harmless to 0002.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

from crm_core.names import name_key

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 5000
_customer = sa.table("customer", sa.column("id", sa.Integer), sa.column("name", sa.String),
                     sa.column("name_key", sa.String))


def upgrade() -> None:
    if context.is_offline_mode():
        return
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(_customer.c.id, _customer.c.name).where(_customer.c.name_key == "")
    ).all()
    keys = [{"b_id": cid, "b_key": key} for cid, name in rows if (key := name_key(name or ""))]
    stmt = (
        _customer.update()
        .where(_customer.c.id == sa.bindparam("b_id"))
        .values(name_key=sa.bindparam("b_key"))
    )
    for i in range(0, len(keys), _BATCH):
        bind.execute(stmt, keys[i : i + _BATCH])


def downgrade() -> None:
    pass
