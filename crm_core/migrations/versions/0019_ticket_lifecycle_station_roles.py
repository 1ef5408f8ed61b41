"""The ticket lifecycle of the service network, and the roles of its users (issue 15).

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07

Tickets moved new -> assigned -> in_progress <-> waiting -> resolved -> closed; they now
move new -> routed -> accepted -> on_the_way -> on_site -> resolved -> closed
(``crm_core.tickets.TICKET_TRANSITIONS``). Existing tickets and their history keep
their meaning under the new names: ``assigned`` becomes ``routed`` and ``in_progress``
``accepted`` (``waiting`` stays). The new time stamps are filled from the history where
it tells them: ``accepted_at`` (the first move to in_progress), ``resolved_at`` and
``closed_at`` (the last move there), so the reports' mean times count old tickets too.

It also brings the two roles of the network (``crm_core.users.DEFAULT_ROLES``):
``station`` (a station's staff: the tickets routed to its station) and ``technician``
(the tickets assigned to him), with the data scopes ``station`` and ``technician``.
As in 0015, a role that exists gets the grants it lacks; the matrix is copied here.

Downgrade maps the statuses back (routed -> assigned; accepted, on_the_way, on_site ->
in_progress) and removes the two roles if nobody holds them.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | Sequence[str] | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RENAMED = {"assigned": "routed", "in_progress": "accepted"}
RENAMED_BACK = {"routed": "assigned", "accepted": "in_progress", "on_the_way": "in_progress",
                "on_site": "in_progress"}
OPERATIONS = ("read", "create", "update", "delete", "export", "reassign")

# role -> (description, rows "module  read create update delete export reassign")
ROLES: dict[str, tuple[str, str]] = {
    "station": ("service station: its station's tickets (accept, refuse, resolve)", """
        tickets  station     -  station     -  -  -
    """),
    "technician": ("technician: the tickets assigned to him", """
        tickets  technician  -  technician  -  -  -
    """),
}

ticket = sa.table("ticket", sa.column("id", sa.Integer), sa.column("status", sa.String),
                  sa.column("accepted_at", sa.DateTime(timezone=True)),
                  sa.column("resolved_at", sa.DateTime(timezone=True)),
                  sa.column("closed_at", sa.DateTime(timezone=True)))
change = sa.table("ticket_status_change", sa.column("ticket_id", sa.Integer),
                  sa.column("from_status", sa.String), sa.column("to_status", sa.String),
                  sa.column("at", sa.DateTime(timezone=True)))
role = sa.table("role", sa.column("id", sa.Integer), sa.column("name", sa.String),
                sa.column("description", sa.String))
permission = sa.table("role_permission", sa.column("role_id", sa.Integer),
                      sa.column("module", sa.String), sa.column("operation", sa.String),
                      sa.column("scope", sa.String))
app_user = sa.table("app_user", sa.column("role_id", sa.Integer))


def grants(table: str) -> dict[tuple[str, str], str]:
    """The grants of a role's rows (``-``: none)."""
    out: dict[tuple[str, str], str] = {}
    for line in table.strip().splitlines():
        module, *scopes = line.split()
        for operation, scope in zip(OPERATIONS, scopes, strict=True):
            if scope != "-":
                out[(module, operation)] = scope
    return out


def _stamp(column: str, to_status: str, first: bool) -> None:
    at = (sa.func.min if first else sa.func.max)(change.c.at)
    moved = (sa.select(at).where(change.c.ticket_id == ticket.c.id,
                                 change.c.to_status == to_status).scalar_subquery())
    op.get_bind().execute(ticket.update().where(ticket.c[column].is_(None))
                          .values({column: moved}))


def _rename(names: dict[str, str]) -> None:
    bind = op.get_bind()
    for old, new in names.items():
        bind.execute(ticket.update().where(ticket.c.status == old).values(status=new))
        bind.execute(change.update().where(change.c.to_status == old).values(to_status=new))
        bind.execute(change.update().where(change.c.from_status == old)
                     .values(from_status=new))


def upgrade() -> None:
    _stamp("accepted_at", "in_progress", first=True)
    _stamp("resolved_at", "resolved", first=False)
    _stamp("closed_at", "closed", first=False)
    _rename(RENAMED)
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
    _rename(RENAMED_BACK)
    bind = op.get_bind()
    for name in ROLES:
        role_id = bind.scalar(sa.select(role.c.id).where(role.c.name == name))
        if role_id is None:
            continue
        if bind.scalar(sa.select(sa.func.count()).select_from(app_user)
                       .where(app_user.c.role_id == role_id)):
            continue  # someone holds it: it stays, with its grants
        bind.execute(permission.delete().where(permission.c.role_id == role_id))
        bind.execute(role.delete().where(role.c.id == role_id))
