"""Ticket numbers come from a per-day counter instead of a scan of the day's numbers.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-25

``ticket_counter`` holds, per business (Asia/Shanghai) day, the last sequence given
out; ``crm_core.tickets`` increments it with one upsert inside the ticket's
transaction. The table is seeded from the tickets already there (the highest sequence
of each day's ``T<day>-<sequence>`` numbers), so a database numbered the old way never
hands out a number twice. Numbers that do not read that way are skipped. Offline
(``--sql``) only the table is created: the seed is computed in Python.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date

import sqlalchemy as sa
from alembic import context, op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NUMBER = re.compile(r"^T(\d{4})(\d{2})(\d{2})-(\d+)$")
_ticket = sa.table("ticket", sa.column("number", sa.String))


def last_per_day(numbers: Sequence[str]) -> dict[date, int]:
    """The highest sequence of each day among ticket ``numbers`` (others skipped)."""
    last: dict[date, int] = {}
    for number in numbers:
        found = _NUMBER.match(number or "")
        if found is None:
            continue
        try:
            day = date(int(found[1]), int(found[2]), int(found[3]))
        except ValueError:
            continue
        last[day] = max(last.get(day, 0), int(found[4]))
    return last


def upgrade() -> None:
    counter = op.create_table(
        "ticket_counter",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_ticket_counter")),
    )
    if context.is_offline_mode():
        return
    numbers = op.get_bind().execute(
        sa.select(_ticket.c.number).where(_ticket.c.number.like("T%"))
    ).scalars().all()
    seed = [{"day": day, "last": last} for day, last in sorted(last_per_day(numbers).items())]
    if seed:
        op.bulk_insert(counter, seed)


def downgrade() -> None:
    op.drop_table("ticket_counter")
