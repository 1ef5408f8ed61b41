"""The I/O around ``crm_core.caller_check`` (issue 17 item 5): what is on record for a
customer (its and its contacts' numbers, its assets' serial numbers), the number of the
call a ticket is raised from, and the check a complaint ticket keeps.

Rules:
- ``CallerClaim`` is what the agent (or the IVR) states; the number checked is the
  call's (``call_number``: the console's live call, else the call log) whenever the
  server knows it (source ``call``), a number typed by the agent only when it does not
  (source ``given``);
- ``check`` reads what is on record and runs the pure verification; the answer to the
  question is never stored nor answered back;
- a complaint without a check, or with a failed one, is refused (``CallerNotVerified``,
  a 422); ``not_verified`` with a reason lets it open, flagged.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.caller_check import CheckResult, gate, verify
from crm_core.errors import CallerNotVerified, ValidationFailed
from crm_core.models import Asset, CallRecord, PhoneNumber


@dataclass(frozen=True, kw_only=True)
class CallerClaim:
    """How the agent says the caller was verified (``caller_check.METHODS``)."""

    method: str
    number: str | None = None  # typed by the agent (used when the call's is unknown)
    call_number: str | None = None  # the live call's caller, as the server knows it
    answer: str | None = None
    reason: str | None = None
    # where the call's number comes from when it is not a caller's: ``survey`` (the
    # hotline dialled the number on record itself, ``crm_core.survey_answers``)
    source: str | None = None


async def logged_caller(session: AsyncSession, linkedid: str | None) -> str | None:
    """The caller's number of call ``linkedid`` in the call log, if written."""
    if not linkedid:
        return None
    number: str | None = await session.scalar(
        select(CallRecord.caller).where(CallRecord.linkedid == linkedid))
    return number


async def check(session: AsyncSession, customer_id: int, claim: CallerClaim,
                call_linkedid: str | None) -> CheckResult:
    """The verification of ``claim`` against what is on record for the customer."""
    if claim.method == "number":
        server = claim.call_number or await logged_caller(session, call_linkedid)
        caller, source = (server, claim.source or "call") if server else (claim.number,
                                                                           "given")
        registered = (await session.scalars(select(PhoneNumber.number_e164).where(
            PhoneNumber.customer_id == customer_id))).all()
        return verify("number", caller=caller, source=source, registered=registered)
    if claim.method == "question":
        serials = (await session.scalars(select(Asset.serial_number).where(
            Asset.customer_id == customer_id))).all()
        return verify("question", answer=claim.answer, serials=serials)
    try:
        return verify(claim.method, reason=claim.reason)
    except ValueError as exc:
        field = "verification.reason" if claim.method == "not_verified" else \
            "verification.method"
        raise ValidationFailed(field, str(exc)) from None


def admit(result: CheckResult | None) -> None:
    """CallerNotVerified unless a complaint may be opened with ``result``."""
    why = gate(result)
    if why is not None:
        raise CallerNotVerified(why, None if result is None else result.method)
