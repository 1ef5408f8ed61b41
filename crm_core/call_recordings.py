"""Who may hear a call's recording (issue 14 item 16: the demo played them to anyone).

Rules:
- a recording is known by its call record (``call_record.recording``, the file name the
  tracker kept); a name that no record holds is heard by nobody;
- ``hear_right`` decides, purely: the agents who TOOK the call (``call_access`` takers:
  who answered it, every answered transfer, who placed it) hear it; anyone else needs
  ``calls``/``read``: ``all`` hears every call, a narrower scope the calls of a customer
  inside it (the calls the 360 view lists to them, ``permissions.customer_filter``) and,
  for ``team``/``region``, the calls an agent of the actor's team/region took. No grant
  and not a taker: never;
- the dialplan names recordings ``YYYY/MM/DD/<uniqueid>.wav`` (deploy/README.md "Call
  recordings": the PBX's local day the recording began), so the record is looked up
  among the calls that ended from the day before that date to three days after, along
  ``ix_call_record_ended_at``, never by a scan of every call ever logged; a name without
  that date (another site's naming) is looked up without the window;
- nothing here writes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.call_access import LiveCall, Taker, call_facts, taker_in_scope
from crm_core.models import CallRecord, Customer
from crm_core.permissions import Actor, customer_filter, scope_for

_DATED = re.compile(r"^(\d{4})/(\d{2})/(\d{2})/")
WINDOW_BEFORE = timedelta(days=1)  # the PBX's local day vs UTC
WINDOW_AFTER = timedelta(days=3)  # a call recorded from late one day ends within these


def recording_day(name: str) -> date | None:
    """The day a dialplan-named recording (``2026/11/25/...``) began, else None."""
    match = _DATED.match(name)
    if match is None:
        return None
    try:
        return date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:
        return None


def hear_right(actor: Actor, takers: Iterable[Taker], *, customer_in_scope: bool) -> bool:
    """Whether ``actor`` may hear a call taken by ``takers`` (see the rules);
    ``customer_in_scope``: the call's customer is inside the actor's ``calls``/``read``
    scope."""
    takers = tuple(takers)
    if actor.user_id is not None and any(t.user_id == actor.user_id for t in takers):
        return True
    scope = scope_for(actor, "calls", "read")
    if scope is None:
        return False
    return scope == "all" or customer_in_scope or any(
        taker_in_scope(actor, scope, t) for t in takers)


async def _linkedid_of(db: AsyncSession, name: str) -> str | None:
    stmt = select(CallRecord.linkedid).where(CallRecord.recording == name)
    day = recording_day(name)
    if day is not None:
        start = datetime.combine(day, time.min, UTC)
        stmt = stmt.where(CallRecord.ended_at >= start - WINDOW_BEFORE,
                          CallRecord.ended_at < start + WINDOW_AFTER)
    found: str | None = await db.scalar(stmt.order_by(CallRecord.id).limit(1))
    return found


async def recording_call(db: AsyncSession, actor: Actor, name: str) -> str | None:
    """The Linkedid of the call recorded as ``name`` when ``actor`` may hear it; None
    when no call has that recording or the actor may not hear it (the same answer: a
    user never learns that a recording they may not hear exists)."""
    linkedid = await _linkedid_of(db, name)
    if linkedid is None:
        return None
    facts = await call_facts(db, linkedid, LiveCall())
    if facts is None:
        return None
    scope = scope_for(actor, "calls", "read")
    in_scope = False
    if scope is not None and scope != "all" and facts.customer_id is not None:
        in_scope = await db.scalar(select(Customer.id).where(
            Customer.id == facts.customer_id, customer_filter(actor, scope))) is not None
    return linkedid if hear_right(actor, facts.takers, customer_in_scope=in_scope) else None
