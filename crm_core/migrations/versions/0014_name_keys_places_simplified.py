"""Data only: recompute every ``customer.name_key`` with the rules of issue 14 item 15.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07

``crm_core.names.name_key`` now folds traditional characters into simplified ones
(OpenCC t2s) and drops a leading province or city (``上海华东医药包装有限责任公司`` ->
``华东医药包装``). Keys stored under the old rules would keep ``華東醫藥包裝`` or
``上海华东医药包装`` apart from the new names they should catch, so every key is
recomputed (only changed rows are written). Offline (``--sql``) it emits nothing: the
keys are computed in Python. Downgrade leaves the keys: they are derived data, and the
old guard only misses the matches the new rules add.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

from crm_core.names import name_key

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 5000
_customer = sa.table("customer", sa.column("id", sa.Integer), sa.column("name", sa.String),
                     sa.column("name_key", sa.String))


def upgrade() -> None:
    if context.is_offline_mode():
        return
    bind = op.get_bind()
    rows = bind.execute(sa.select(_customer.c.id, _customer.c.name, _customer.c.name_key)).all()
    changed = [{"b_id": cid, "b_key": key} for cid, name, old in rows
               if (key := name_key(name or "")) != (old or "")]
    stmt = (
        _customer.update()
        .where(_customer.c.id == sa.bindparam("b_id"))
        .values(name_key=sa.bindparam("b_key"))
    )
    for i in range(0, len(changed), _BATCH):
        bind.execute(stmt, changed[i : i + _BATCH])


def downgrade() -> None:
    pass
