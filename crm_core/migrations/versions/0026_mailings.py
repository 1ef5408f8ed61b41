"""Mail to customer groups (issue 18 item 4): ``mailing`` (a saved customer filter and an
email or SMS), ``mailing_recipient`` (each customer's address and status) and
``mailing_opt_out`` (addresses never mailed again: unsubscribed, opted out, bounced), and
the grants of module ``mailings``.

Revision ID: 0026
Revises: 0024
Create Date: 2026-12-07

``crm_core.users.DEFAULT_ROLES`` gives ``mailings`` read, create and update to managers
(their own customers) and supervisors (their team's); an existing site gets each grant
its role lacks, as 0020 did. The grants are copied here as they stand at this revision.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
revision: str = "0026"
down_revision: str | Sequence[str] | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GRANTS: dict[str, dict[tuple[str, str], str]] = {
    "manager": {("mailings", op_): "own" for op_ in ("read", "create", "update")},
    "supervisor": {("mailings", op_): "team" for op_ in ("read", "create", "update")},
}

role = sa.table("role", sa.column("id", sa.Integer), sa.column("name", sa.String))
permission = sa.table(
    "role_permission",
    sa.column("role_id", sa.Integer),
    sa.column("module", sa.String),
    sa.column("operation", sa.String),
    sa.column("scope", sa.String),
)


def _grant() -> None:
    bind = op.get_bind()
    for name, grants in GRANTS.items():
        role_id = bind.scalar(sa.select(role.c.id).where(role.c.name == name))
        if role_id is None:
            continue  # 0015 creates every default role: a site that deleted one keeps it so
        held = {
            (m, o)
            for m, o in bind.execute(
                sa.select(permission.c.module, permission.c.operation).where(
                    permission.c.role_id == role_id
                )
            )
        }
        missing = [
            {"role_id": role_id, "module": m, "operation": o, "scope": s}
            for (m, o), s in grants.items()
            if (m, o) not in held
        ]
        if missing:
            bind.execute(permission.insert(), missing)


def _now() -> sa.Column[object]:
    return sa.Column(
        "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
    )


def upgrade() -> None:
    op.create_table(
        "mailing",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("channel", sa.String(), nullable=False),
        sa.Column("filter", JSON, nullable=False),
        sa.Column("subject", sa.String(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("state", sa.String(), server_default="queueing", nullable=False),
        sa.Column("scope", sa.String(), server_default="all", nullable=False),
        sa.Column("cursor", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        _now(),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["app_user.id"],
            name=op.f("fk_mailing_created_by_id_app_user"), ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mailing")),
    )
    op.create_table(
        "mailing_recipient",
        sa.Column("id", BIGID, nullable=False),
        sa.Column("mailing_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("address", sa.String(), nullable=True),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("reason", sa.String(), nullable=True),
        sa.Column("event_key", sa.String(), nullable=True),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contact.id"],
            name=op.f("fk_mailing_recipient_contact_id_contact"), ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customer.id"],
            name=op.f("fk_mailing_recipient_customer_id_customer"), ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["mailing_id"], ["mailing.id"],
            name=op.f("fk_mailing_recipient_mailing_id_mailing"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mailing_recipient")),
        sa.UniqueConstraint("event_key", name=op.f("uq_mailing_recipient_event_key")),
        sa.UniqueConstraint(
            "mailing_id", "customer_id", name=op.f("uq_mailing_recipient_mailing_id_customer_id")
        ),
    )
    with op.batch_alter_table("mailing_recipient", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_mailing_recipient_customer_id"), ["customer_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_mailing_recipient_address"), ["address"], unique=False
        )
        batch_op.create_index(
            "ix_mailing_recipient_mailing_id_status", ["mailing_id", "status"], unique=False
        )
    op.create_table(
        "mailing_opt_out",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(), nullable=False),
        sa.Column("address", sa.String(), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("mailing_id", sa.Integer(), nullable=True),
        _now(),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customer.id"],
            name=op.f("fk_mailing_opt_out_customer_id_customer"), ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["mailing_id"], ["mailing.id"],
            name=op.f("fk_mailing_opt_out_mailing_id_mailing"), ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mailing_opt_out")),
        sa.UniqueConstraint(
            "channel", "address", name=op.f("uq_mailing_opt_out_channel_address")
        ),
    )
    _grant()


def downgrade() -> None:
    op.get_bind().execute(permission.delete().where(permission.c.module == "mailings"))
    op.drop_table("mailing_opt_out")
    with op.batch_alter_table("mailing_recipient", schema=None) as batch_op:
        batch_op.drop_index("ix_mailing_recipient_mailing_id_status")
        batch_op.drop_index(batch_op.f("ix_mailing_recipient_address"))
        batch_op.drop_index(batch_op.f("ix_mailing_recipient_customer_id"))
    op.drop_table("mailing_recipient")
    op.drop_table("mailing")
