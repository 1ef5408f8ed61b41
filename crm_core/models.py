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

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    false,
    func,
    text,
    true,
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
    """A company or person: a company asset, with exactly one account manager (or
    none: then it sits in the shared pool)."""

    __tablename__ = "customer"
    __table_args__ = (Index("ix_customer_owner_id_status", "owner_id", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String)
    # the name with legal suffixes (有限公司, Co., Ltd. ...) and spacing removed: duplicate guard
    name_key: Mapped[str] = mapped_column(String, index=True, default="", server_default="")
    kind: Mapped[str] = mapped_column(String, default="company", server_default="company")
    category: Mapped[str | None] = mapped_column(String)
    industry: Mapped[str | None] = mapped_column(String)
    source: Mapped[str | None] = mapped_column(String)  # hotline, trade-fair, referral, web...
    province: Mapped[str | None] = mapped_column(String)
    city: Mapped[str | None] = mapped_column(String)
    address: Mapped[str | None] = mapped_column(Text)
    vip_tier: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    vip_value: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    status: Mapped[str] = mapped_column(String, default="prospect", server_default="prospect")
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    owner_since: Mapped[datetime | None]
    # last time the owner did something with the customer (the pool-return rule reads it)
    last_touched_at: Mapped[datetime | None]
    merged_into_id: Mapped[int | None] = mapped_column(
        ForeignKey("customer.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        default=utcnow, onupdate=utcnow, server_default=func.now()
    )
    # the customer asked not to be called: no call list hands them out (migration 0020)
    do_not_call: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # satisfaction calls come from the IVR's automated survey, not an agent (migration 0027)
    prefers_automated_calls: Mapped[bool] = mapped_column(Boolean, default=False,
                                                          server_default=false())


class Contact(Base):
    """A person at a customer (several per customer), with their role there."""

    __tablename__ = "contact"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customer.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String)
    role: Mapped[str | None] = mapped_column(String)  # purchasing, maintenance, boss...
    email: Mapped[str | None] = mapped_column(String)
    notes: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())


class PhoneNumber(Base):
    """One number of a customer (or of one of its contacts); ``number_e164`` is the
    screen pop's lookup key."""

    __tablename__ = "phone_number"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customer.id", ondelete="CASCADE"), index=True
    )
    contact_id: Mapped[int | None] = mapped_column(
        ForeignKey("contact.id", ondelete="SET NULL"), index=True
    )
    # normalised (numbering.normalize): E.164 when valid, else bare digits
    number_e164: Mapped[str] = mapped_column(String, index=True)
    raw: Mapped[str] = mapped_column(String)  # as entered
    kind: Mapped[str] = mapped_column(String, default="phone", server_default="phone")


class ProductLine(Base):
    """A line of the product catalogue (printers, bus chassis, blister packs...)."""

    __tablename__ = "product_line"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String, unique=True)
    name: Mapped[str] = mapped_column(String)  # zh-CN
    name_en: Mapped[str | None] = mapped_column(String)


class Asset(Base):
    """A product a customer owns, identified by its serial number."""

    __tablename__ = "asset"
    # a customer's newest assets (the screen pop) read backwards along this index
    __table_args__ = (Index("ix_asset_customer_id_id", "customer_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"))
    product_line_id: Mapped[int | None] = mapped_column(
        ForeignKey("product_line.id", ondelete="SET NULL"), index=True
    )
    model: Mapped[str | None] = mapped_column(String)
    serial_number: Mapped[str] = mapped_column(String, unique=True)
    purchase_date: Mapped[date | None] = mapped_column(Date)
    warranty_end: Mapped[date | None] = mapped_column(Date, index=True)
    site: Mapped[str | None] = mapped_column(String)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())


class Interaction(Base):
    """A call, visit, note or email with a customer. Editable on its own day only
    (Asia/Shanghai); afterwards corrections are addenda (``parent_id``)."""

    __tablename__ = "interaction"
    __table_args__ = (
        Index("ix_interaction_customer_id_occurred_at", "customer_id", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contact.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String)  # call | visit | note | email
    occurred_at: Mapped[datetime]
    place: Mapped[str | None] = mapped_column(String)
    content: Mapped[str] = mapped_column(Text, default="", server_default="")
    result: Mapped[str | None] = mapped_column(Text)
    next_step: Mapped[str | None] = mapped_column(Text)
    disposition: Mapped[str | None] = mapped_column(String)  # inquiry, repair, complaint...
    author_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    call_linkedid: Mapped[str | None] = mapped_column(String, index=True)
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("interaction.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())


class Ticket(Base):
    """A service ticket (repair request...), routed to a service station (issue 15)."""

    __tablename__ = "ticket"
    # the id ends it: a customer's newest open tickets come from the index (screen pop)
    __table_args__ = (
        Index("ix_ticket_customer_id_status_id", "customer_id", "status", "id"),
        # a station's open load when routing: one grouped count on this index (0021)
        Index("ix_ticket_station_id_status", "station_id", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String, unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"))
    asset_id: Mapped[int | None] = mapped_column(
        ForeignKey("asset.id", ondelete="SET NULL"), index=True
    )
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contact.id", ondelete="SET NULL"))
    problem: Mapped[str] = mapped_column(Text)
    # new | routed | accepted | on_the_way | on_site | waiting | resolved | closed | cancelled
    # (crm_core.tickets.TICKET_TRANSITIONS)
    status: Mapped[str] = mapped_column(String, default="new", server_default="new")
    priority: Mapped[str] = mapped_column(String, default="normal", server_default="normal")
    category: Mapped[str | None] = mapped_column(String)  # repair, complaint, installation...
    # the call it was raised from (console pop or IVR repair request): the call log links back
    call_linkedid: Mapped[str | None] = mapped_column(String, index=True)
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("app_user.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        default=utcnow, onupdate=utcnow, server_default=func.now()
    )
    # --- dispatch (migration 0016, issue 15) ---
    # the station and technician it is routed / assigned to
    station_id: Mapped[int | None] = mapped_column(
        ForeignKey("service_station.id", ondelete="SET NULL"), index=True
    )
    technician_id: Mapped[int | None] = mapped_column(
        ForeignKey("technician.id", ondelete="SET NULL"), index=True
    )
    routed_at: Mapped[datetime | None]
    # the routing decision in words ("郑州服务站: covers 河南郑州, serves coaches, 12 km, 3 open"),
    # and its alternatives [{station_id, code, name, reason, km, open}...]
    route_reason: Mapped[str | None] = mapped_column(Text)
    route_alternatives: Mapped[list[Any] | None] = mapped_column()
    # a person chose the station instead of the rules: their reason (None: the rules chose)
    route_override: Mapped[str | None] = mapped_column(Text)
    # no station covers the place: sent to a regional hub and flagged for a person to look at
    route_flagged: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # SLA: the policy applied and its due times (UTC), counted in the station's business hours
    sla_policy_id: Mapped[int | None] = mapped_column(
        ForeignKey("sla_policy.id", ondelete="SET NULL")
    )
    accept_due: Mapped[datetime | None]
    arrive_due: Mapped[datetime | None]
    resolve_due: Mapped[datetime | None] = mapped_column(index=True)
    accepted_at: Mapped[datetime | None]
    arrived_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    # the SLA clock is paused (waiting for the customer) since then; paused seconds so far
    sla_paused_at: Mapped[datetime | None]
    sla_paused_s: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    # ok | warning | breached (the sweep's last verdict), and the escalation step reached
    # (0 none, 1 station manager, 2 regional service manager, 3 service director)
    sla_state: Mapped[str] = mapped_column(String, default="ok", server_default="ok")
    escalation_level: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    # when the SLA must next change (warning, breach, next escalation; None: nothing
    # pending), so the sweep reads only those tickets (crm_core.sla, migration 0017)
    sla_next_at: Mapped[datetime | None] = mapped_column(index=True)
    reopen_count: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    # a complaint's caller verification (crm_core.caller_check, 0024): method, passed,
    # who, when; flagged when opened "not verified" with a reason
    caller_check: Mapped[dict[str, Any] | None] = mapped_column()
    caller_flagged: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class TicketCounter(Base):
    """The last sequence number given out on a business (Asia/Shanghai) day: ticket
    numbers come from one indexed upsert of this row, not from a scan of the day's."""

    __tablename__ = "ticket_counter"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    last: Mapped[int] = mapped_column(Integer)


class TicketStatusChange(Base):
    """One step of a ticket's status history."""

    __tablename__ = "ticket_status_change"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id", ondelete="CASCADE"), index=True)
    from_status: Mapped[str | None] = mapped_column(String)
    to_status: Mapped[str] = mapped_column(String)
    at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())
    by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    note: Mapped[str | None] = mapped_column(Text)
    # status | note | route | override | refusal | sla-warning | escalation | notify (0016);
    # ``data`` holds what the step needs to be shown again (station, level, reason...)
    kind: Mapped[str] = mapped_column(String, default="status", server_default="status")
    data: Mapped[dict[str, Any] | None] = mapped_column()


class ServiceStation(Base):
    """A service station of the network (issue 15): where it is, what it serves, how many
    open tickets it can carry, and when it works (``hours`` in its own time zone:
    {"mon": [["08:30", "17:30"]], ...}; ``calendar`` names the holiday calendar)."""

    __tablename__ = "service_station"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String, unique=True)
    name: Mapped[str] = mapped_column(String)  # zh-CN
    name_en: Mapped[str | None] = mapped_column(String)
    province: Mapped[str | None] = mapped_column(String, index=True)
    city: Mapped[str | None] = mapped_column(String)
    district: Mapped[str | None] = mapped_column(String)
    address: Mapped[str | None] = mapped_column(Text)
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    phones: Mapped[list[Any]] = mapped_column(default=list)
    # product line codes it serves; the places it covers beyond its own city
    # ([{"province": "河南", "city": "郑州"}, {"province": "河南"}...]: a province alone: all)
    product_lines: Mapped[list[Any]] = mapped_column(default=list)
    covers: Mapped[list[Any]] = mapped_column(default=list)
    capacity: Mapped[int] = mapped_column(Integer, default=20, server_default=text("20"))
    timezone: Mapped[str] = mapped_column(String, default="Asia/Shanghai",
                                          server_default="Asia/Shanghai")
    hours: Mapped[dict[str, Any]] = mapped_column(default=dict)
    calendar: Mapped[str] = mapped_column(String, default="CN", server_default="CN")
    # a regional hub takes what no station covers in its region (``region``: 华北, 华东...)
    is_hub: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    region: Mapped[str | None] = mapped_column(String, index=True)
    # the escalation chain: station manager -> regional service manager (-> the director,
    # a setting)
    manager_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    regional_manager_id: Mapped[int | None] = mapped_column(
        ForeignKey("app_user.id", ondelete="SET NULL")
    )
    email: Mapped[str | None] = mapped_column(String)
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())


class Technician(Base):
    """A technician of a station, with skills (product line codes and trades)."""

    __tablename__ = "technician"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    station_id: Mapped[int] = mapped_column(
        ForeignKey("service_station.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("app_user.id", ondelete="SET NULL"), unique=True
    )
    name: Mapped[str] = mapped_column(String)
    skills: Mapped[list[Any]] = mapped_column(default=list)
    phone: Mapped[str | None] = mapped_column(String)
    on_duty: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())


class Holiday(Base):
    """A day of a holiday calendar: ``off`` (a public holiday) or ``work`` (an adjusted
    working day, e.g. a Sunday worked to bridge the Spring Festival)."""

    __tablename__ = "holiday"

    calendar: Mapped[str] = mapped_column(String, primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    kind: Mapped[str] = mapped_column(String, default="off", server_default="off")
    name: Mapped[str | None] = mapped_column(String)


class SlaPolicy(Base):
    """Targets for one priority x category x customer tier (None matches any), in
    business minutes of the station: accept, arrive on site, resolve. The most specific
    active policy applies; ``warn_pct`` of a target elapsed raises the warning."""

    __tablename__ = "sla_policy"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String)
    priority: Mapped[str | None] = mapped_column(String)
    category: Mapped[str | None] = mapped_column(String)
    tier: Mapped[int | None] = mapped_column(Integer)
    accept_min: Mapped[int] = mapped_column(Integer)
    arrive_min: Mapped[int | None] = mapped_column(Integer)
    resolve_min: Mapped[int] = mapped_column(Integer)
    warn_pct: Mapped[int] = mapped_column(Integer, default=80, server_default=text("80"))
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())


class RepairRecord(Base):
    """What the technician found and did, written when the ticket is resolved; frozen
    once the ticket is closed (addenda go to the ticket's history)."""

    __tablename__ = "repair_record"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(
        ForeignKey("ticket.id", ondelete="CASCADE"), unique=True
    )
    fault: Mapped[str] = mapped_column(Text)
    cause: Mapped[str | None] = mapped_column(Text)
    action: Mapped[str] = mapped_column(Text)
    parts: Mapped[list[Any]] = mapped_column(default=list)  # [{"part": .., "qty": ..}]
    labour_hours: Mapped[Decimal | None] = mapped_column(Numeric(8, 2))
    serial_checked: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    first_time_fix: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    technician_id: Mapped[int | None] = mapped_column(
        ForeignKey("technician.id", ondelete="SET NULL")
    )
    written_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("app_user.id", ondelete="SET NULL")
    )
    written_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())


class OutboxMessage(Base):
    """A notification written in the same transaction as its event and sent by the outbox
    worker (email over SMTP, SMS through the gateway) with retries; ``event_key`` is
    unique, so an event is queued - and delivered - once."""

    __tablename__ = "outbox_message"
    __table_args__ = (Index("ix_outbox_message_state_next_at", "state", "next_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    event_key: Mapped[str] = mapped_column(String, unique=True)
    channel: Mapped[str] = mapped_column(String)  # email | sms
    recipient: Mapped[str] = mapped_column(String)
    subject: Mapped[str | None] = mapped_column(String)
    body: Mapped[str] = mapped_column(Text)
    ticket_id: Mapped[int | None] = mapped_column(
        ForeignKey("ticket.id", ondelete="SET NULL"), index=True
    )
    # pending -> sending -> sent | failed (attempts exhausted)
    state: Mapped[str] = mapped_column(String, default="pending", server_default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    next_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())
    claim: Mapped[str | None] = mapped_column(String)  # the worker sending it, and until when
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())
    sent_at: Mapped[datetime | None]


class Opportunity(Base):
    """A sales lead, often raised from a service contact."""

    __tablename__ = "opportunity"
    # the id ends it: a customer's newest open opportunities come from the index
    __table_args__ = (
        Index("ix_opportunity_customer_id_stage_id", "customer_id", "stage", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String)
    stage: Mapped[str] = mapped_column(String, default="lead", server_default="lead")
    amount: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    source_interaction_id: Mapped[int | None] = mapped_column(
        ForeignKey("interaction.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())
    closed_at: Mapped[datetime | None]


class OpportunityStageChange(Base):
    """One step of an opportunity's stage history (migration 0025): the funnel's time
    spent in each stage is read from these rows (``crm_core.funnel``)."""

    __tablename__ = "opportunity_stage_change"
    __table_args__ = (
        Index("ix_opportunity_stage_change_opportunity_id_at", "opportunity_id", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    opportunity_id: Mapped[int] = mapped_column(
        ForeignKey("opportunity.id", ondelete="CASCADE"))
    from_stage: Mapped[str | None] = mapped_column(String)  # None: the opportunity's start
    to_stage: Mapped[str] = mapped_column(String)
    at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())
    by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))


class Subscription(Base):
    """A subscription or a contract, with its dates; ``status`` becomes
    ``not_renewed`` by the daily job once ``end_date`` has passed."""

    __tablename__ = "subscription"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customer.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String, default="subscription", server_default="subscription")
    title: Mapped[str] = mapped_column(String)
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date] = mapped_column(Date, index=True)
    # active | renewed | not_renewed | cancelled
    status: Mapped[str] = mapped_column(String, default="active", server_default="active")
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())


class Role(Base):
    """A role (agent, supervisor, manager, admin) and its permissions."""

    __tablename__ = "role"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String, unique=True)
    description: Mapped[str | None] = mapped_column(String)


class RolePermission(Base):
    """Module x operation -> data scope. No row: no access."""

    __tablename__ = "role_permission"
    __table_args__ = (UniqueConstraint("role_id", "module", "operation"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    role_id: Mapped[int] = mapped_column(ForeignKey("role.id", ondelete="CASCADE"))
    module: Mapped[str] = mapped_column(String)  # customers, tickets, reports...
    operation: Mapped[str] = mapped_column(String)  # read create update delete export reassign
    scope: Mapped[str] = mapped_column(String)  # own | team | region | all


class User(Base):
    """An employee who signs in: agent, account manager, supervisor, admin."""

    __tablename__ = "app_user"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String, unique=True)
    display_name: Mapped[str] = mapped_column(String)
    password_hash: Mapped[str | None] = mapped_column(String)
    role_id: Mapped[int | None] = mapped_column(ForeignKey("role.id", ondelete="SET NULL"))
    team: Mapped[str | None] = mapped_column(String)
    region: Mapped[str | None] = mapped_column(String)  # province, for the "region" scope
    language: Mapped[str] = mapped_column(String, default="zh-CN", server_default="zh-CN")
    # the queue member this user answers as (Interface and MemberName on the PBX)
    agent_interface: Mapped[str | None] = mapped_column(String, unique=True)
    agent_name: Mapped[str | None] = mapped_column(String)
    # where notifications reach the user (the SLA's escalation chain), migration 0017
    email: Mapped[str | None] = mapped_column(String)
    phone: Mapped[str | None] = mapped_column(String)
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())


class OwnershipChange(Base):
    """Who owned a customer when: every transfer, reassignment and return to the pool."""

    __tablename__ = "ownership_change"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customer.id", ondelete="CASCADE"), index=True
    )
    from_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("app_user.id", ondelete="SET NULL")
    )
    to_user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())
    by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    reason: Mapped[str | None] = mapped_column(String)  # transfer, leaver, pool, claim, merge


class AuditEntry(Base):
    """Who changed what, when, before/after: one row per write."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_entity_entity_id", "entity", "entity_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())
    user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String)  # create update delete merge reassign ...
    entity: Mapped[str] = mapped_column(String)  # table name
    entity_id: Mapped[str] = mapped_column(String)
    before: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    after: Mapped[dict[str, Any] | None] = mapped_column(JsonType)


class AuthRecord(Base):
    """Sign-in state shared by every node when there is no Redis (agent_console.api.
    auth_store): signed-out sessions, the sign-in throttle, owners' notices. Each change
    holds the row's lock; ``expires_at`` (Unix seconds) lets old rows be swept."""

    __tablename__ = "auth_record"

    key: Mapped[str] = mapped_column(String, primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(JsonType)
    expires_at: Mapped[float] = mapped_column(Float, index=True)


class CallRecord(Base):
    """One finished call (one Asterisk Linkedid): every CallSummary field. ``direction``
    inbound | outbound; ``caller`` is the customer's number either way (an outbound
    call's number dialled), and customer_id is matched by it. KPIs count inbound only."""

    __tablename__ = "call_record"
    __table_args__ = (
        # "latest calls" reads backwards along this index (ended_at DESC, id DESC)
        Index("ix_call_record_ended_at", "ended_at", "id"),
        # a customer's newest calls (the screen pop): ids read backwards from the index
        Index("ix_call_record_customer_id_ended_at_id", "customer_id", "ended_at", "id"),
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
    # the recording's file name relative to the site's recordings folder (migration 0011)
    recording: Mapped[str | None] = mapped_column(String)
    # inbound | outbound (migration 0012; rows logged before are inbound)
    direction: Mapped[str] = mapped_column(String, default="inbound", server_default="inbound")
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customer.id", ondelete="SET NULL")
    )
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())


class IvrFlow(Base):
    """One saved version of an IVR flow document (``ivr.flow``); the newest version of a
    name is the one that runs. Old versions stay, so a change can be read back or undone."""

    __tablename__ = "ivr_flow"
    __table_args__ = (UniqueConstraint("name", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String)
    version: Mapped[int] = mapped_column(Integer)
    document: Mapped[dict[str, Any]] = mapped_column()
    comment: Mapped[str | None] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("app_user.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())


class IvrNumber(Base):
    """The number plan: a dialled number (the 400, the 800, an old department hotline)
    and the flow it runs; ``kind`` and ``label`` tag calls with where they came from."""

    __tablename__ = "ivr_number"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String, unique=True)  # digits as the PBX gives the DID
    flow_name: Mapped[str] = mapped_column(String)
    kind: Mapped[str] = mapped_column(String, default="legacy", server_default="legacy")
    label: Mapped[str | None] = mapped_column(String)  # e.g. 原打印机维修热线
    queue: Mapped[str | None] = mapped_column(String)  # default queue for this number
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())


class CallbackRequest(Base):
    """A caller who asked to be called back, keeping their place in line.

    ``place_at`` is when the caller joined the line (their original queue entry time), so
    a callback is only dialled when no caller who was waiting before it is still waiting.
    ``state``: waiting -> dialing -> done | failed | cancelled (waiting again after a busy
    or unanswered attempt while attempts remain). ``claim`` is written by the one worker
    that dials it (compare-and-set), which is what makes a callback dialled once only,
    also across a restart."""

    __tablename__ = "callback_request"
    __table_args__ = (
        Index("ix_callback_request_state_queue_place_at", "state", "queue", "place_at"),
        # one pending callback per number and queue: asking twice keeps one place (0008)
        Index("uq_callback_request_pending_phone_queue", "phone", "queue", unique=True,
              postgresql_where=text("state IN ('waiting', 'dialing')"),
              sqlite_where=text("state IN ('waiting', 'dialing')")),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    phone: Mapped[str] = mapped_column(String)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customer.id", ondelete="SET NULL"))
    queue: Mapped[str] = mapped_column(String)
    priority: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    preferred_agent: Mapped[str | None] = mapped_column(String)
    origin_linkedid: Mapped[str | None] = mapped_column(String, index=True)
    place_at: Mapped[datetime]
    not_before: Mapped[datetime | None]  # an agent's "call back at 15:00"
    state: Mapped[str] = mapped_column(String, default="waiting", server_default="waiting")
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    max_attempts: Mapped[int] = mapped_column(Integer, default=3, server_default="3")
    next_attempt_at: Mapped[datetime | None]
    claim: Mapped[str | None] = mapped_column(String)  # worker token + attempt while dialing
    agent_interface: Mapped[str | None] = mapped_column(String)
    last_result: Mapped[str | None] = mapped_column(String)  # answered, busy, no-answer, ...
    result_linkedid: Mapped[str | None] = mapped_column(String)
    history: Mapped[list[Any]] = mapped_column(default=list)
    note: Mapped[str | None] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("app_user.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())


class AgentStateSpan(Base):
    """One span of an agent's state (issue 16): signed-in, ready, paused (with its
    reason), ringing, talking, wrap-up, signed-out, from ``started_at`` to ``ended_at``
    (None while it lasts). The reports compute from these and the call log with the same
    functions the wallboard uses on the live stream."""

    __tablename__ = "agent_state_span"
    __table_args__ = (
        Index("ix_agent_state_span_agent_started_at", "agent_interface", "started_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    agent_interface: Mapped[str] = mapped_column(String)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    team: Mapped[str | None] = mapped_column(String)
    state: Mapped[str] = mapped_column(String)
    reason: Mapped[str | None] = mapped_column(String)
    linkedid: Mapped[str | None] = mapped_column(String)
    started_at: Mapped[datetime] = mapped_column(index=True)
    ended_at: Mapped[datetime | None]


class StationUser(Base):
    """A user of a station's staff (role ``station``): sees that station's tickets."""

    __tablename__ = "station_user"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("app_user.id", ondelete="CASCADE"), primary_key=True
    )
    station_id: Mapped[int] = mapped_column(
        ForeignKey("service_station.id", ondelete="CASCADE"), index=True
    )


class CallList(Base):
    """An outbound call list (a campaign) built from a rule and refreshed daily
    (``crm_core.outbound_lists``): follow-up after a repair or a delivery, renewals due,
    or a saved customer filter."""

    __tablename__ = "call_list"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String)
    # repair_followup | delivery_followup | renewal_due | customer_filter
    rule: Mapped[str] = mapped_column(String)
    # satisfaction | renewal | contact: which outcomes an entry of the list takes
    kind: Mapped[str] = mapped_column(String)
    # the rule's parameters: {"days": N} or {"filter": {CustomerFilter fields}}
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    # no-answer / busy come back after retry_delay_min, until max_attempts calls were made
    max_attempts: Mapped[int] = mapped_column(Integer, default=3, server_default=text("3"))
    retry_delay_min: Mapped[int] = mapped_column(Integer, default=120, server_default=text("120"))
    # who works it: a team and/or named agents (their user ids); neither: any agent with
    # the grant (``crm_core.outbound_lists.may_work``)
    team: Mapped[str | None] = mapped_column(String)
    agent_ids: Mapped[list[Any] | None] = mapped_column()
    # worked by the IVR's survey dialler (``ivr.survey_dialler``), never handed to agents
    # (migration 0027)
    automated: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("app_user.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())
    refreshed_at: Mapped[datetime | None]


class CallListEntry(Base):
    """One call to make: a customer, the number, why, when; claimed by one agent at a
    time (``claim``), closed by an outcome. Unique per (list, customer, reason key), so
    rebuilding a list updates its entries and never loses an outcome."""

    __tablename__ = "call_list_entry"
    __table_args__ = (
        UniqueConstraint("list_id", "customer_id", "reason_key"),
        # the next due entry of a list reads this index in order
        Index("ix_call_list_entry_list_id_state_due_at_id", "list_id", "state", "due_at", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("call_list.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customer.id", ondelete="CASCADE"), index=True
    )
    # what made the entry: "ticket:12", "asset:5", "subscription:9", "customer"
    reason_key: Mapped[str] = mapped_column(String)
    reason: Mapped[str] = mapped_column(Text)  # in words, for the agent
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("ticket.id", ondelete="SET NULL"))
    asset_id: Mapped[int | None] = mapped_column(ForeignKey("asset.id", ondelete="SET NULL"))
    subscription_id: Mapped[int | None] = mapped_column(
        ForeignKey("subscription.id", ondelete="SET NULL")
    )
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contact.id", ondelete="SET NULL"))
    number: Mapped[str | None] = mapped_column(String)  # E.164 to dial
    # open | done | invalid-number | do-not-call | gone (the rule no longer selects it)
    state: Mapped[str] = mapped_column(String, default="open", server_default="open")
    due_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    # the last call's result (no-answer, busy, satisfied...); final once state is done
    outcome: Mapped[str | None] = mapped_column(String)
    outcome_data: Mapped[dict[str, Any] | None] = mapped_column()
    history: Mapped[list[Any]] = mapped_column(default=list)
    assigned_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("app_user.id", ondelete="SET NULL")
    )
    # who holds it now (an agent's token) and since when; a stale claim lapses
    claim: Mapped[str | None] = mapped_column(String)
    # indexed: an agent's held entry is found without reading the list
    claimed_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("app_user.id", ondelete="SET NULL"), index=True
    )
    claimed_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        default=utcnow, onupdate=utcnow, server_default=func.now()
    )


class Supplier(Base):
    """A publisher or maker the orders' lines are bought from (issue 18): its batches'
    past stage durations are what the expected arrival of its next batches is computed
    from (``crm_core.order_eta``)."""

    __tablename__ = "supplier"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String, unique=True)
    name: Mapped[str] = mapped_column(String)
    name_en: Mapped[str | None] = mapped_column(String)
    country: Mapped[str | None] = mapped_column(String)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())


class SalesOrder(Base):
    """A customer's order (issue 18): its lines, the salesman who owns it, a due date
    (a course starting in September, a delivery promised). ``status`` is ``open`` until
    it is closed or cancelled; where it stands is its lines' batches' stages."""

    __tablename__ = "sales_order"
    # a caller's open orders, newest first, from the index alone (the IVR, the pop)
    __table_args__ = (
        Index("ix_sales_order_customer_id_status_id", "customer_id", "status", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String, unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"))
    contact_id: Mapped[int | None] = mapped_column(
        ForeignKey("contact.id", ondelete="SET NULL"))
    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("app_user.id", ondelete="SET NULL"), index=True)
    due_date: Mapped[date | None] = mapped_column(Date)
    # open | closed | cancelled
    status: Mapped[str] = mapped_column(String, default="open", server_default="open")
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        default=utcnow, onupdate=utcnow, server_default=func.now())


class SupplierBatch(Base):
    """The lines ordered from one supplier together, moving through the stages
    (``crm_core.order_eta.STAGES``) as one: a stage update is ONE update of this row
    (the lines point at it), which also stores the arrival expected from then on."""

    __tablename__ = "supplier_batch"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # the reference the other departments' records use for it (named in stage updates)
    code: Mapped[str] = mapped_column(String, unique=True)
    supplier_id: Mapped[int] = mapped_column(
        ForeignKey("supplier.id", ondelete="RESTRICT"), index=True)
    stage: Mapped[str] = mapped_column(String, default="ordered", server_default="ordered")
    stage_on: Mapped[date] = mapped_column(Date)
    # {stage: "YYYY-MM-DD"} of every stage reached: the supplier's history is read from it
    stage_dates: Mapped[dict[str, Any]] = mapped_column(default=dict)
    expected_on: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        default=utcnow, onupdate=utcnow, server_default=func.now())


class OrderLine(Base):
    """One title or product of an order. ``batch_id`` None: "to be batched" (no
    supplier batch yet, or no supplier named), held there, never lost. ``state`` is the
    line's own: ``active`` (it follows its batch), ``back_ordered``, ``cancelled``,
    ``partly_delivered`` (``delivered_qty`` of ``quantity``), ``delivered``."""

    __tablename__ = "order_line"
    # (order_id, state, batch_id): an order's live lines and their batches from the
    # index alone; (batch_id): a batch's lines
    __table_args__ = (
        Index("ix_order_line_order_id_state_batch_id", "order_id", "state", "batch_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("sales_order.id", ondelete="CASCADE"))
    batch_id: Mapped[int | None] = mapped_column(
        ForeignKey("supplier_batch.id", ondelete="SET NULL"), index=True)
    supplier_id: Mapped[int | None] = mapped_column(
        ForeignKey("supplier.id", ondelete="SET NULL"))
    title: Mapped[str] = mapped_column(String)
    ref: Mapped[str | None] = mapped_column(String)  # ISBN or model
    quantity: Mapped[int] = mapped_column(Integer, default=1, server_default=text("1"))
    delivered_qty: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    price: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    state: Mapped[str] = mapped_column(String, default="active", server_default="active")
    # what one unit cost us (None: not known; the margin reports skip it), and the
    # catalogue's product line it belongs to (sales by product line): migration 0025
    unit_cost: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    product_line_id: Mapped[int | None] = mapped_column(
        ForeignKey("product_line.id", ondelete="SET NULL"), index=True)


class SatisfactionScore(Base):
    """One satisfaction answer (issue 17 item 4), from a call-list call (channel
    ``agent``) or an automated survey (``ivr``), kept against the people and places that
    earned it: the ticket, its station and technician, the agent who took the original
    call, the product line, the customer, the list (``crm_core.satisfaction``)."""

    __tablename__ = "satisfaction_score"
    __table_args__ = (
        Index("ix_satisfaction_score_scored_at", "scored_at"),
        Index("ix_satisfaction_score_agent_id_scored_at", "agent_id", "scored_at"),
        Index("ix_satisfaction_score_station_id_scored_at", "station_id", "scored_at"),
        # one answer per list entry and question: a replayed outcome never doubles a score
        # (migration 0027; an agent's call asks the one question ``overall``)
        UniqueConstraint("entry_id", "question"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customer.id", ondelete="CASCADE"), index=True)
    ticket_id: Mapped[int | None] = mapped_column(
        ForeignKey("ticket.id", ondelete="SET NULL"), index=True)
    station_id: Mapped[int | None] = mapped_column(
        ForeignKey("service_station.id", ondelete="SET NULL"))
    technician_id: Mapped[int | None] = mapped_column(
        ForeignKey("technician.id", ondelete="SET NULL"), index=True)
    # the agent who took the original call (the ticket's call, else the customer's last)
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    product_line_id: Mapped[int | None] = mapped_column(
        ForeignKey("product_line.id", ondelete="SET NULL"))
    list_id: Mapped[int | None] = mapped_column(ForeignKey("call_list.id", ondelete="SET NULL"))
    entry_id: Mapped[int | None] = mapped_column(
        ForeignKey("call_list_entry.id", ondelete="SET NULL"))
    # which question of the survey (``ivr.survey_flow``): ``overall`` for an agent's call
    question: Mapped[str] = mapped_column(String, default="overall", server_default="overall")
    score: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    channel: Mapped[str] = mapped_column(String, default="agent", server_default="agent")
    # who asked (the calling agent; None for the IVR)
    asked_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("app_user.id", ondelete="SET NULL"))
    scored_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())


class Mailing(Base):
    """A message to a group of customers (issue 18 item 4): a saved customer filter, an
    email (subject, body) or an SMS (text), resolved to recipients batch by batch and
    queued through the outbox (``crm_core.mailings``)."""

    __tablename__ = "mailing"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String)
    channel: Mapped[str] = mapped_column(String)  # email | sms
    # the saved customer filter: {CustomerFilter fields}
    filter: Mapped[dict[str, Any]] = mapped_column(default=dict)
    subject: Mapped[str | None] = mapped_column(String)
    body: Mapped[str] = mapped_column(Text)
    # queueing (recipients still being resolved, batch by batch) -> queued
    state: Mapped[str] = mapped_column(String, default="queueing", server_default="queueing")
    # the creator's data scope on customers when it was made: the group never grows past it
    scope: Mapped[str] = mapped_column(String, default="all", server_default="all")
    cursor: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("app_user.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())
    queued_at: Mapped[datetime | None]


class MailingRecipient(Base):
    """One customer of a mailing: the address it went to (its outbox message has the
    event key ``mailing:<mailing>:<customer>``), or why it was skipped."""

    __tablename__ = "mailing_recipient"
    __table_args__ = (
        UniqueConstraint("mailing_id", "customer_id"),
        Index("ix_mailing_recipient_mailing_id_status", "mailing_id", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    mailing_id: Mapped[int] = mapped_column(ForeignKey("mailing.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customer.id", ondelete="CASCADE"), index=True
    )
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contact.id", ondelete="SET NULL"))
    address: Mapped[str | None] = mapped_column(String, index=True)
    # queued (then the outbox's state says sent / failed) | skipped | bounced | unsubscribed
    status: Mapped[str] = mapped_column(String)
    reason: Mapped[str | None] = mapped_column(String)  # no-address, opted-out, a bounce's text
    event_key: Mapped[str | None] = mapped_column(String, unique=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())


class MailingOptOut(Base):
    """An address that must never receive a mailing again on its channel: unsubscribed
    by its owner (the email's link, an SMS reply), or an email that bounced for good."""

    __tablename__ = "mailing_opt_out"
    __table_args__ = (UniqueConstraint("channel", "address"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String)
    address: Mapped[str] = mapped_column(String)  # lower-case email, or E.164 mobile
    reason: Mapped[str] = mapped_column(String)  # unsubscribed | bounced | opted-out
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customer.id", ondelete="SET NULL")
    )
    mailing_id: Mapped[int | None] = mapped_column(ForeignKey("mailing.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())
