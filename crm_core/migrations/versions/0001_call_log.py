"""Customers, their phone numbers, and the call log.

Revision ID: 0001
Revises:
Create Date: 2026-11-25

Self-contained on purpose: a migration is a frozen picture of the schema, so it
uses plain SQLAlchemy types (crm_core.models.UtcDateTime is timestamptz / text
underneath) and never imports the live models.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _time(name: str, *, nullable: bool = True, now: bool = False) -> sa.Column[Any]:
    return sa.Column(
        name,
        sa.DateTime(timezone=True),
        server_default=sa.func.now() if now else None,
        nullable=nullable,
    )


def upgrade() -> None:
    op.create_table(
        "customer",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("vip_tier", sa.Integer(), server_default=sa.text("0"), nullable=False),
        _time("created_at", nullable=False, now=True),
        _time("updated_at", nullable=False, now=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer")),
    )
    op.create_table(
        "phone_number",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("number_e164", sa.String(), nullable=False),
        sa.Column("raw", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), server_default="phone", nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customer.id"],
            name=op.f("fk_phone_number_customer_id_customer"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_phone_number")),
    )
    op.create_index(op.f("ix_phone_number_customer_id"), "phone_number", ["customer_id"])
    op.create_index(op.f("ix_phone_number_number_e164"), "phone_number", ["number_e164"])
    op.create_table(
        "call_record",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("linkedid", sa.String(), nullable=False),
        sa.Column("caller", sa.String(), nullable=True),
        sa.Column("caller_name", sa.String(), nullable=True),
        sa.Column("did", sa.String(), nullable=True),
        sa.Column("queues", _json(), nullable=False),
        sa.Column("agents_tried", _json(), nullable=False),
        sa.Column("agent", sa.String(), nullable=True),
        sa.Column("agent_interface", sa.String(), nullable=True),
        _time("started_at"),
        _time("queued_at"),
        _time("answered_at"),
        _time("ended_at"),
        sa.Column("wait_s", sa.Integer(), nullable=True),
        sa.Column("ring_s", sa.Integer(), nullable=True),
        sa.Column("talk_s", sa.Integer(), nullable=True),
        sa.Column("hangup_by", sa.String(), nullable=True),
        sa.Column("outcome", sa.String(), nullable=False),
        sa.Column("transfers", _json(), nullable=False),
        sa.Column("ivr", _json(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        _time("recorded_at", nullable=False, now=True),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customer.id"],
            name=op.f("fk_call_record_customer_id_customer"), ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_record")),
        sa.UniqueConstraint("linkedid", name=op.f("uq_call_record_linkedid")),
    )
    op.create_index(op.f("ix_call_record_caller"), "call_record", ["caller"])
    op.create_index(op.f("ix_call_record_customer_id"), "call_record", ["customer_id"])
    # "latest calls": read backwards along (ended_at, id)
    op.create_index("ix_call_record_ended_at", "call_record", ["ended_at", "id"])


def downgrade() -> None:
    op.drop_table("call_record")
    op.drop_table("phone_number")
    op.drop_table("customer")
