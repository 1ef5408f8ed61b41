"""A repair ticket's repair record: what the technician found and did (issue 15).

Rules:
- written when the ticket is resolved (``crm_core.ticket_moves.resolve``): a repair
  ticket (``tickets.is_repair``) cannot be resolved without one; a ticket has at most
  one (``repair_record.ticket_id`` is unique);
- ``parse_record`` (pure) checks the JSON input: ``fault`` and ``action`` required,
  ``cause`` optional, ``parts`` a list of ``{"part": name, "qty": whole number 1..9999}``
  (at most ``MAX_PARTS``; the same part twice is added up), ``labour_hours`` 0..999.99
  in steps of 0.01 (optional), ``serial_checked`` and ``first_time_fix`` true/false; a
  bad value is a ``ValidationFailed`` naming it (``parts.2.qty``);
- a resolved ticket's record may still be corrected; once the ticket is closed it is
  frozen with it (``Conflict``: an addendum is a note on the ticket). A reopen keeps
  the record and marks it ``first_time_fix`` false (the first fix did not hold): the
  re-resolution rewrites it, the version it replaces kept in the history row (kind
  ``repair``, ``data.previous``);
- every write is audited (entity ``repair_record``); nothing here commits.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.audit import audit, snapshot
from crm_core.errors import Conflict, ValidationFailed
from crm_core.models import RepairRecord, Ticket, TicketStatusChange
from crm_core.permissions import Actor
from crm_core.records import check_fields, integer, required_text, text

RECORD_FIELDS = ("fault", "cause", "action", "parts", "labour_hours", "serial_checked",
                 "first_time_fix")
MAX_PARTS = 50
MAX_QTY = 9999
MAX_HOURS = Decimal("999.99")


# --- pure ----------------------------------------------------------------------------------


def _flag(value: object, field: str, default: bool) -> bool:
    if value is None:
        return default
    if not isinstance(value, bool):
        raise ValidationFailed(field, "must be true or false")
    return value


def parse_hours(value: object) -> Decimal | None:
    """Labour hours, 0 to 999.99 in steps of 0.01 (None: not given)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise ValidationFailed("labour_hours", "must be a number of hours")
    try:
        hours = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValidationFailed("labour_hours", "must be a number of hours") from None
    if not hours.is_finite() or hours < 0 or hours > MAX_HOURS:
        raise ValidationFailed("labour_hours", f"must be 0 to {MAX_HOURS} hours")
    if hours != hours.quantize(Decimal("0.01")):
        raise ValidationFailed("labour_hours", "at most two decimals")
    return hours.quantize(Decimal("0.01"))


def parse_parts(value: object) -> list[dict[str, Any]]:
    """``[{"part": name, "qty": n}]``, a part named twice added up, in first-seen order."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValidationFailed("parts", 'a list of {"part": name, "qty": number}')
    if len(value) > MAX_PARTS:
        raise ValidationFailed("parts", f"at most {MAX_PARTS} parts")
    totals: dict[str, int] = {}
    for i, item in enumerate(value):
        if not isinstance(item, Mapping):
            raise ValidationFailed(f"parts.{i}", '{"part": name, "qty": number}')
        check_fields(item, ("part", "qty"))
        name = required_text(item.get("part"), f"parts.{i}.part", max_len=200)
        qty = integer(item.get("qty", 1), f"parts.{i}.qty", low=1, high=MAX_QTY)
        totals[name] = totals.get(name, 0) + qty
        if totals[name] > MAX_QTY:
            raise ValidationFailed(f"parts.{i}.qty", f"more than {MAX_QTY} of {name!r}")
    return [{"part": name, "qty": qty} for name, qty in totals.items()]


def parse_record(data: object, *, first_time_fix: bool = True) -> dict[str, Any]:
    """The checked columns of a repair record from JSON input (see the rules);
    ``first_time_fix`` is the default when the input does not say."""
    if not isinstance(data, Mapping):
        raise ValidationFailed("repair_record", "an object with fault, action, parts...")
    check_fields(data, RECORD_FIELDS)
    return {
        "fault": required_text(data.get("fault"), "fault", max_len=4000),
        "cause": text(data.get("cause"), "cause", max_len=4000),
        "action": required_text(data.get("action"), "action", max_len=4000),
        "parts": parse_parts(data.get("parts")),
        "labour_hours": parse_hours(data.get("labour_hours")),
        "serial_checked": _flag(data.get("serial_checked"), "serial_checked", False),
        "first_time_fix": _flag(data.get("first_time_fix"), "first_time_fix", first_time_fix),
    }


# --- I/O -----------------------------------------------------------------------------------


async def record_of(session: AsyncSession, ticket_id: int) -> RepairRecord | None:
    """The ticket's repair record, if written."""
    return await session.scalar(select(RepairRecord).where(RepairRecord.ticket_id == ticket_id))


async def write_record(
    session: AsyncSession, actor: Actor, ticket: Ticket, data: object, *, at: datetime,
) -> RepairRecord:
    """Write (or rewrite) ``ticket``'s repair record from ``data``; ``Conflict`` once the
    ticket is closed or cancelled. The caller checked the actor may update the ticket."""
    if ticket.status in ("closed", "cancelled"):
        raise Conflict(f"ticket {ticket.number} is {ticket.status}: its repair record can "
                       "no longer be changed; add a note instead")
    existing = await record_of(session, ticket.id)
    # a reopened ticket's fix did not hold the first time
    fields = parse_record(data, first_time_fix=ticket.reopen_count == 0)
    if ticket.reopen_count > 0:
        fields["first_time_fix"] = False
    before = None if existing is None else snapshot(existing)
    record = existing or RepairRecord(ticket_id=ticket.id)
    for key, value in fields.items():
        setattr(record, key, value)
    record.technician_id = ticket.technician_id
    record.written_by_id = actor.user_id
    record.written_at = at
    if existing is None:
        session.add(record)
    await session.flush()
    after = snapshot(record)
    session.add(TicketStatusChange(
        ticket_id=ticket.id, from_status=ticket.status, to_status=ticket.status, at=at,
        by_id=actor.user_id, note=None, kind="repair",
        data={"record_id": record.id, **({"previous": before} if before else {})}))
    audit(session, user_id=actor.user_id, action="create" if before is None else "update",
          entity="repair_record", entity_id=record.id, before=before, after=after)
    return record


async def mark_not_first_time(
    session: AsyncSession, actor: Actor, ticket: Ticket
) -> None:
    """On a reopen: the record's fix did not hold (``first_time_fix`` false), audited."""
    record = await record_of(session, ticket.id)
    if record is None or not record.first_time_fix:
        return
    record.first_time_fix = False
    await session.flush()
    audit(session, user_id=actor.user_id, action="update", entity="repair_record",
          entity_id=record.id, before={"first_time_fix": True},
          after={"first_time_fix": False, "reason": "reopened"})
