"""The crm_core tables (SQLAlchemy 2 typed declarative); Alembic owns their DDL.

Rules:
- every change here comes with a migration in ``crm_core/migrations/versions``;
  a test compares the migrated database with this metadata;
- times are aware UTC datetimes on every database: ``UtcDateTime`` stores UTC
  (``timestamptz`` on PostgreSQL, UTC text on SQLite) and always gives back UTC;
- JSON columns are ``JSONB`` on PostgreSQL and JSON text on SQLite;
- constraint and index names follow ``NAMING_CONVENTION`` so migrations are stable.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """An aware UTC datetime; a naive one is taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp that goes in as any aware datetime and comes out as aware UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        utc = as_utc(value)
        # SQLite keeps text without an offset: store UTC so text order is time order
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else as_utc(value)


JsonType = JSON().with_variant(JSONB(), "postgresql")
# BIGINT ids on PostgreSQL; SQLite needs INTEGER for its rowid primary key
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {
        datetime: UtcDateTime(),
        dict[str, Any]: JsonType,
        list[Any]: JsonType,
    }


class Customer(Base):
    """A company or person who calls the hotline (grows: category, region, owner...)."""

    __tablename__ = "customer"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String)
    vip_tier: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        default=utcnow, onupdate=utcnow, server_default=func.now()
    )


class PhoneNumber(Base):
    """One number of a customer; ``number_e164`` is the screen pop's lookup key."""

    __tablename__ = "phone_number"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customer.id", ondelete="CASCADE"), index=True
    )
    # normalised (numbering.normalize): E.164 when valid, else bare digits
    number_e164: Mapped[str] = mapped_column(String, index=True)
    raw: Mapped[str] = mapped_column(String)  # as entered
    kind: Mapped[str] = mapped_column(String, default="phone", server_default="phone")


class CallRecord(Base):
    """One finished inbound call (one Asterisk Linkedid): every CallSummary field."""

    __tablename__ = "call_record"
    __table_args__ = (
        # "latest calls" reads backwards along this index (ended_at DESC, id DESC)
        Index("ix_call_record_ended_at", "ended_at", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    linkedid: Mapped[str] = mapped_column(String, unique=True)
    caller: Mapped[str | None] = mapped_column(String, index=True)
    caller_name: Mapped[str | None] = mapped_column(String)
    did: Mapped[str | None] = mapped_column(String)
    queues: Mapped[list[Any]] = mapped_column(default=list)
    agents_tried: Mapped[list[Any]] = mapped_column(default=list)
    agent: Mapped[str | None] = mapped_column(String)
    agent_interface: Mapped[str | None] = mapped_column(String)
    started_at: Mapped[datetime | None]
    queued_at: Mapped[datetime | None]
    answered_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    wait_s: Mapped[int | None] = mapped_column(Integer)
    ring_s: Mapped[int | None] = mapped_column(Integer)
    talk_s: Mapped[int | None] = mapped_column(Integer)
    hangup_by: Mapped[str | None] = mapped_column(String)
    outcome: Mapped[str] = mapped_column(String, default="ivr-only")
    transfers: Mapped[list[Any]] = mapped_column(default=list)
    ivr: Mapped[dict[str, Any]] = mapped_column(default=dict)
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customer.id", ondelete="SET NULL"), index=True
    )
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())
