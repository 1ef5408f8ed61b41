"""The supervisors' new grants: module ``supervise`` (listen / whisper / barge, pause or
sign out an agent; issue 16 item 4).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07

``crm_core.users.DEFAULT_ROLES`` gives ``supervise`` read (listen) and update (whisper,
barge, pause, sign out) to ``hotline_supervisor`` (scope all) and ``supervisor`` (scope
team). A new database gets them from 0015 onwards through this revision; an existing
one gets each grant its role lacks (a grant an admin already set keeps its scope), as
0015 did. The grants are copied here as they stand at this revision.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | Sequence[str] | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GRANTS: dict[str, dict[tuple[str, str], str]] = {
    "hotline_supervisor": {("supervise", "read"): "all", ("supervise", "update"): "all"},
    "supervisor": {("supervise", "read"): "team", ("supervise", "update"): "team"},
}

role = sa.table("role", sa.column("id", sa.Integer), sa.column("name", sa.String))
permission = sa.table("role_permission", sa.column("role_id", sa.Integer),
                      sa.column("module", sa.String), sa.column("operation", sa.String),
                      sa.column("scope", sa.String))


def upgrade() -> None:
    bind = op.get_bind()
    for name, grants in GRANTS.items():
        role_id = bind.scalar(sa.select(role.c.id).where(role.c.name == name))
        if role_id is None:
            continue  # 0015 creates every default role: a site that deleted one keeps it so
        held = {(m, o) for m, o in bind.execute(
            sa.select(permission.c.module, permission.c.operation)
            .where(permission.c.role_id == role_id))}
        missing = [{"role_id": role_id, "module": m, "operation": o, "scope": s}
                   for (m, o), s in grants.items() if (m, o) not in held]
        if missing:
            bind.execute(permission.insert(), missing)


def downgrade() -> None:
    bind = op.get_bind()
    bind.execute(permission.delete().where(permission.c.module == "supervise"))
