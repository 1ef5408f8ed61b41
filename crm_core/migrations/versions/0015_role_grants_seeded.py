"""The default roles and their grants written into the database once, here.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-08

Until now ``crm_core.users.ensure_roles`` (run by ``hotline user add`` and the demo
seed) added every default grant a role lacked, each time: a grant an admin had
removed came back at the next ``user add``, so the matrix was in effect fixed in
code. Grants are now edited by admins (``crm_core.roles``, the admin page) and
``ensure_roles`` only creates a missing role. This revision does, one last time, what
it did: each default role is created if missing, and an existing one gets the default
grants it lacks (a grant that exists keeps its scope). It also brings the new
``hotline_supervisor`` role: every call and agent of the hotline, the live page, the
reports (issue 14 item 10).

The matrix is copied here as it stands at this revision (a migration must not change
when the code's defaults change later): a later change of ``DEFAULT_ROLES`` comes with
a migration of its own; tests/integration/test_api_roles.py checks that a new
database ends up with exactly ``DEFAULT_ROLES``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPERATIONS = ("read", "create", "update", "delete", "export", "reassign")

# role -> (description, rows "module  read create update delete export reassign")
ROLES: dict[str, tuple[str, str]] = {
    "agent": ("hotline agent: any caller readable, logs calls and tickets", """
        customers      all   all   -     -  -     -
        contacts       all   all   own   -  -     -
        assets         all   -     -     -  -     -
        interactions   all   all   own   -  -     -
        tickets        all   all   own   -  -     -
        opportunities  all   all   own   -  -     -
        subscriptions  all   -     -     -  -     -
        calls          all   -     -     -  -     -
        ivr            all   -     -     -  -     -
    """),
    "manager": ("account manager: own customers", """
        customers      own   own   own   -  own   -
        contacts       own   own   own   -  own   -
        assets         own   own   own   -  own   -
        interactions   own   own   own   -  own   -
        tickets        own   own   own   -  own   -
        opportunities  own   own   own   -  own   -
        subscriptions  own   own   own   -  own   -
        calls          own   -     -     -  -     -
        reports        own   -     -     -  -     -
    """),
    "supervisor": ("supervisor: the team's customers, reassigns in the team", """
        customers      team  team  team  -  team  team
        contacts       team  team  team  -  team  -
        assets         team  team  team  -  team  -
        interactions   team  team  team  -  team  -
        tickets        team  team  team  -  team  -
        opportunities  team  team  team  -  team  -
        subscriptions  team  team  team  -  team  -
        calls          team  -     team  -  -     -
        reports        team  -     -     -  team  -
        users          team  -     -     -  -     -
        ivr            all   -     -     -  -     -
    """),
    "hotline_supervisor": (
        "hotline supervisor: every call and agent of the hotline, live page, reports", """
        customers      all   -     -     -  -     -
        contacts       all   -     -     -  -     -
        assets         all   -     -     -  -     -
        interactions   all   all   all   -  -     -
        tickets        all   all   all   -  -     -
        opportunities  all   -     -     -  -     -
        subscriptions  all   -     -     -  -     -
        calls          all   -     all   -  -     -
        reports        all   -     -     -  all   -
        users          all   -     -     -  -     -
        ivr            all   -     -     -  -     -
    """),
    "admin": ("administrator: everything", ""),  # users' is_admin: no grants
}

role = sa.table("role", sa.column("id", sa.Integer), sa.column("name", sa.String),
                sa.column("description", sa.String))
permission = sa.table("role_permission", sa.column("role_id", sa.Integer),
                      sa.column("module", sa.String), sa.column("operation", sa.String),
                      sa.column("scope", sa.String))


def grants(table: str) -> dict[tuple[str, str], str]:
    """The grants of a role's rows (``-``: none)."""
    out: dict[tuple[str, str], str] = {}
    for line in table.strip().splitlines():
        module, *scopes = line.split()
        for operation, scope in zip(OPERATIONS, scopes, strict=True):
            if scope != "-":
                out[(module, operation)] = scope
    return out


def upgrade() -> None:
    bind = op.get_bind()
    for name, (description, table) in ROLES.items():
        role_id = bind.scalar(sa.select(role.c.id).where(role.c.name == name))
        if role_id is None:
            bind.execute(role.insert().values(name=name, description=description))
            role_id = bind.scalar(sa.select(role.c.id).where(role.c.name == name))
        held = {(m, o) for m, o in bind.execute(
            sa.select(permission.c.module, permission.c.operation)
            .where(permission.c.role_id == role_id))}
        missing = [{"role_id": role_id, "module": m, "operation": o, "scope": s}
                   for (m, o), s in grants(table).items() if (m, o) not in held]
        if missing:
            bind.execute(permission.insert(), missing)


def downgrade() -> None:
    # the rows are plain data the previous revision reads as well: nothing to undo
    pass
