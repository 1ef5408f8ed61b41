"""Who may log a call, and how a call's customer changes (issue 13 item 3).

Rules:
- a call is KNOWN by its record (``call_record``, written when it ends) or, while it
  runs and just after, by the live agent board, which the caller passes in as
  ``LiveCall`` (crm_core knows no board); a call known by neither does not exist here;
- the agents who TOOK a call (``takers``): the record's answering agent, every agent
  with an answered attempt (a transferred call has one per agent who took it), the
  agent who placed an outbound call (``HOTLINE_ORIGINATED_BY``), and the phones the
  live board saw answer it or place it. Phones are matched to users by
  ``User.agent_interface``, usernames by ``User.username``;
- the agents a call RANG (``rung``): every agent of the record's attempts, whatever
  their result, and the phones the live board saw it ring;
- ``log_right`` decides, purely: one of the takers logs the call (``TAKER``); a call
  NOBODY took (missed, abandoned while ringing) is logged by an agent it rang
  (``RUNG``): its pop was on her screen, and what she notes of it belongs to that
  call, not to the next one (issue 14 item 1); anyone else needs ``calls:update``,
  whose data scope applies to the takers as ``users`` scopes apply to users: ``team``
  = a taker in the actor's team, ``region`` = in the actor's region, ``all`` = any
  call (a call nobody took, abandoned or IVR only, only for ``all``, beside the agents
  it rang); ``own`` adds nothing (the actor would be a taker). That is a supervisor
  logging for an agent (``ON_BEHALF``): the caller audits it;
- the call's customer (``call_record.customer_id``) is set by the first log when the
  record has none (audited ``set-customer``); a log against ANOTHER customer than the
  record's is refused (``CustomerMismatch``) unless it says ``correct=True``: then the
  record moves to that customer, audited ``correct-customer`` with the old and the new
  customer. A call still running has no record: it cannot be corrected yet
  (``Conflict``). The UPDATE compares the customer it read, so two corrections racing
  never both win;
- nothing here commits.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.audit import audit
from crm_core.errors import Conflict
from crm_core.models import CallRecord, User
from crm_core.permissions import Actor, scope_for

ORIGINATED_BY = "HOTLINE_ORIGINATED_BY"  # telephony.tracker's variable (outbound calls)
TAKER, RUNG, ON_BEHALF = "taker", "rung", "on-behalf"


class CustomerMismatch(Conflict):
    """The call belongs to another customer than the one it is logged against."""

    def __init__(self, linkedid: str, current: int, wanted: int) -> None:
        super().__init__(
            f"call {linkedid} is filed under customer {current}: log it against that "
            f"customer, or send correct_customer: true to move the call to customer "
            f"{wanted} (recorded in the audit trail)")
        self.current = current
        self.wanted = wanted


@dataclass(frozen=True, kw_only=True)
class LiveCall:
    """What the live agent board knows of a call: whether it saw it at all, the
    phones (agent interfaces) that answered or placed it, and those it rang."""

    seen: bool = False
    interfaces: frozenset[str] = frozenset()
    rung: frozenset[str] = frozenset()


@dataclass(frozen=True, kw_only=True)
class Taker:
    """A user who took a call, with what a data scope compares."""

    user_id: int
    team: str | None
    region: str | None


@dataclass(frozen=True, kw_only=True)
class CallFacts:
    """A known call: its record (when written), the users who took it and those it
    rang."""

    linkedid: str
    recorded: bool
    customer_id: int | None
    takers: tuple[Taker, ...]
    rung: tuple[Taker, ...] = ()


# --- pure ---------------------------------------------------------------------------------


def record_takers(agent_interface: str | None, agents_tried: Iterable[Any],
                  ivr: dict[str, Any] | None) -> tuple[set[str], set[str]]:
    """(interfaces, usernames) of the agents who took a recorded call."""
    interfaces = {agent_interface} if agent_interface else set()
    for attempt in agents_tried:
        if isinstance(attempt, dict) and attempt.get("result") == "answered" \
                and isinstance(attempt.get("interface"), str):
            interfaces.add(attempt["interface"])
    origin = (ivr or {}).get(ORIGINATED_BY)
    usernames = {origin} if isinstance(origin, str) and origin else set()
    return interfaces, usernames


def record_rung(agents_tried: Iterable[Any]) -> set[str]:
    """The interfaces of every agent a recorded call rang, whatever the result."""
    return {attempt["interface"] for attempt in agents_tried
            if isinstance(attempt, dict) and isinstance(attempt.get("interface"), str)
            and attempt["interface"]}


def taker_in_scope(actor: Actor, scope: str, taker: Taker) -> bool:
    """Whether ``taker`` is inside a calls ``scope`` of ``actor`` (team, region)."""
    if scope == "team":
        return actor.team is not None and taker.team == actor.team
    if scope == "region":
        return actor.region is not None and taker.region == actor.region
    return False  # "own": the actor would be a taker


def log_right(actor: Actor, takers: Iterable[Taker], rung: Iterable[Taker] = ()
              ) -> str | None:
    """``TAKER``, ``RUNG``, ``ON_BEHALF`` (audited by the caller) or None: may not log
    it."""
    takers = tuple(takers)
    if actor.user_id is not None and any(t.user_id == actor.user_id for t in takers):
        return TAKER
    if not takers and actor.user_id is not None and any(t.user_id == actor.user_id
                                                         for t in rung):
        return RUNG
    scope = scope_for(actor, "calls", "update")
    if scope == "all" or (scope is not None and any(taker_in_scope(actor, scope, t)
                                                    for t in takers)):
        return ON_BEHALF
    return None


# --- queries ------------------------------------------------------------------------------


async def call_facts(db: AsyncSession, linkedid: str, live: LiveCall) -> CallFacts | None:
    """The facts of call ``linkedid``, or None when neither its record nor the live
    board knows it."""
    record = (await db.execute(
        select(CallRecord.customer_id, CallRecord.agent_interface, CallRecord.agents_tried,
               CallRecord.ivr).where(CallRecord.linkedid == linkedid)
    )).one_or_none()
    if record is None and not live.seen:
        return None
    interfaces, usernames, rung = set(live.interfaces), set[str](), set(live.rung)
    if record is not None:
        more, usernames = record_takers(record.agent_interface, record.agents_tried or [],
                                        record.ivr)
        interfaces |= more
        rung |= record_rung(record.agents_tried or [])
    return CallFacts(linkedid=linkedid, recorded=record is not None,
                     customer_id=record.customer_id if record is not None else None,
                     takers=await _users(db, interfaces, usernames),
                     rung=await _users(db, rung - interfaces, set()))


async def _users(db: AsyncSession, interfaces: set[str], usernames: set[str]
                 ) -> tuple[Taker, ...]:
    """The users of those phones (``User.agent_interface``) or usernames."""
    if not interfaces and not usernames:
        return ()
    rows = await db.execute(
        select(User.id, User.team, User.region).where(or_(
            User.agent_interface.in_(sorted(interfaces)),
            User.username.in_(sorted(usernames)))).order_by(User.id))
    return tuple(Taker(user_id=r.id, team=r.team, region=r.region) for r in rows)


async def attribute(db: AsyncSession, actor: Actor, facts: CallFacts, customer_id: int, *,
                    correct: bool = False) -> str:
    """Make ``customer_id`` the call's customer as far as the rules allow (module rules);
    what happened: ``unrecorded``, ``same``, ``set`` or ``corrected``. The actor may log
    the call (``log_right``): the caller checked."""
    if not facts.recorded:
        if correct:
            raise Conflict(f"call {facts.linkedid} is not recorded yet (it is still "
                           "running): correct its customer once it has ended")
        return "unrecorded"
    current = facts.customer_id
    if current == customer_id:
        return "same"
    if current is not None and not correct:
        raise CustomerMismatch(facts.linkedid, current, customer_id)
    done = await db.execute(
        update(CallRecord)
        .where(CallRecord.linkedid == facts.linkedid,
               CallRecord.customer_id.is_(None) if current is None
               else CallRecord.customer_id == current)
        .values(customer_id=customer_id)
        .execution_options(synchronize_session=False))
    if getattr(done, "rowcount", 0) != 1:
        raise Conflict(f"the customer of call {facts.linkedid} changed meanwhile: "
                       "reload and try again")
    action = "set-customer" if current is None else "correct-customer"
    audit(db, user_id=actor.user_id, action=action, entity="call", entity_id=facts.linkedid,
          before={"customer_id": current}, after={"customer_id": customer_id})
    return "set" if current is None else "corrected"
