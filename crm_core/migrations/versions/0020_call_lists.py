"""Outbound call lists (issue 17 items 1-2): ``call_list`` (a campaign built from a rule
and refreshed daily) and ``call_list_entry`` (one call to make, claimed by one agent at a
time), the customer's ``do_not_call`` flag, and the grants of module ``call_lists``.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07

``crm_core.users.DEFAULT_ROLES`` gives ``call_lists`` read and update (take the next
entry, record its outcome) to agents, and create and update (make and steer lists) to
managers and supervisors; an existing site gets each grant its role lacks, as 0015 and
0018 did. The grants are copied here as they stand at this revision.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
revision: str = "0020"
down_revision: str | Sequence[str] | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GRANTS: dict[str, dict[tuple[str, str], str]] = {
    "agent": {("call_lists", "read"): "all", ("call_lists", "update"): "all"},
    "manager": {
        ("call_lists", "read"): "all",
        ("call_lists", "create"): "all",
        ("call_lists", "update"): "all",
    },
    "supervisor": {
        ("call_lists", "read"): "all",
        ("call_lists", "create"): "all",
        ("call_lists", "update"): "all",
    },
    "hotline_supervisor": {
        ("call_lists", "read"): "all",
        ("call_lists", "create"): "all",
        ("call_lists", "update"): "all",
    },
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


def upgrade() -> None:
    op.create_table(
        "call_list",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("rule", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("params", JSON, nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), server_default=sa.text("3"), nullable=False),
        sa.Column("retry_delay_min", sa.Integer(), server_default=sa.text("120"), nullable=False),
        sa.Column("team", sa.String(), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["app_user.id"],
            name=op.f("fk_call_list_created_by_id_app_user"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_list")),
    )
    op.create_table(
        "call_list_entry",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("list_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("reason_key", sa.String(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.Column("asset_id", sa.Integer(), nullable=True),
        sa.Column("subscription_id", sa.Integer(), nullable=True),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("number", sa.String(), nullable=True),
        sa.Column("state", sa.String(), server_default="open", nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("outcome", sa.String(), nullable=True),
        sa.Column("outcome_data", JSON, nullable=True),
        sa.Column("history", JSON, nullable=False),
        sa.Column("assigned_user_id", sa.Integer(), nullable=True),
        sa.Column("claim", sa.String(), nullable=True),
        sa.Column("claimed_by_id", sa.Integer(), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["asset_id"],
            ["asset.id"],
            name=op.f("fk_call_list_entry_asset_id_asset"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["assigned_user_id"],
            ["app_user.id"],
            name=op.f("fk_call_list_entry_assigned_user_id_app_user"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["claimed_by_id"],
            ["app_user.id"],
            name=op.f("fk_call_list_entry_claimed_by_id_app_user"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contact.id"],
            name=op.f("fk_call_list_entry_contact_id_contact"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customer.id"],
            name=op.f("fk_call_list_entry_customer_id_customer"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["list_id"],
            ["call_list.id"],
            name=op.f("fk_call_list_entry_list_id_call_list"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscription.id"],
            name=op.f("fk_call_list_entry_subscription_id_subscription"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["ticket.id"],
            name=op.f("fk_call_list_entry_ticket_id_ticket"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_list_entry")),
        sa.UniqueConstraint(
            "list_id",
            "customer_id",
            "reason_key",
            name=op.f("uq_call_list_entry_list_id_customer_id_reason_key"),
        ),
    )
    with op.batch_alter_table("call_list_entry", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_call_list_entry_customer_id"), ["customer_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_call_list_entry_claimed_by_id"), ["claimed_by_id"], unique=False
        )
        batch_op.create_index(
            "ix_call_list_entry_list_id_state_due_at_id",
            ["list_id", "state", "due_at", "id"],
            unique=False,
        )

    # a plain ALTER TABLE ... ADD COLUMN, not a batch: a batch rebuilds the customer table
    # on SQLite, and dropping the old one would cascade to every ticket, asset, contact...
    op.add_column("customer",
                  sa.Column("do_not_call", sa.Boolean(), server_default=sa.false(), nullable=False))
    _grant()


def downgrade() -> None:
    op.get_bind().execute(permission.delete().where(permission.c.module == "call_lists"))
    # a plain ALTER TABLE ... DROP COLUMN (SQLite >= 3.35), not a batch: a batch rebuilds
    # the customer table, and dropping the old one would cascade to every ticket, asset...
    op.drop_column("customer", "do_not_call")

    with op.batch_alter_table("call_list_entry", schema=None) as batch_op:
        batch_op.drop_index("ix_call_list_entry_list_id_state_due_at_id")
        batch_op.drop_index(batch_op.f("ix_call_list_entry_claimed_by_id"))
        batch_op.drop_index(batch_op.f("ix_call_list_entry_customer_id"))

    op.drop_table("call_list_entry")
    op.drop_table("call_list")
