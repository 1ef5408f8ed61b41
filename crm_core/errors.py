"""The errors of the CRM services, shared by every crm_core module and the API.

Rules:
- plain ``Exception`` subclasses carrying the data a caller needs to answer
  (HTTP status, message to the user) without parsing strings;
- ``ValidationFailed``: bad input on one field (400/422);
- ``NotFound``: no such record OR outside the actor's scope (404; never reveal
  that an out-of-scope record exists);
- ``DuplicateCustomer``: a new customer looks like an existing one (409, with
  who owns the existing one so the user can ask them);
- ``Conflict``: the record exists but its state forbids the change (409);
  ``DuplicateTicket``, one of them: a repair of an asset that already has an open
  repair ticket (409, with that ticket's id and number).
"""

from __future__ import annotations


class ValidationFailed(Exception):
    """Invalid value for ``field``."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class CallerNotVerified(ValidationFailed):
    """A complaint's caller is not verified (``crm_core.caller_check``): 422
    ``caller_not_verified`` naming the method that failed (None: no check given)."""

    def __init__(self, message: str, method: str | None) -> None:
        super().__init__("verification", message)
        self.method = method


class NotFound(Exception):
    """No ``entity`` with this id that the actor may see."""

    def __init__(self, entity: str, id: object) -> None:  # noqa: A002 - the brief's name
        super().__init__(f"{entity} {id!r} not found")
        self.entity = entity
        self.id = id


class DuplicateCustomer(Exception):
    """The new customer duplicates ``existing_id`` (``reason`` says why)."""

    def __init__(
        self, existing_id: int, existing_name: str, owner_name: str | None, reason: str
    ) -> None:
        owner = owner_name if owner_name is not None else "shared pool"
        super().__init__(
            f"duplicate of customer {existing_id} {existing_name!r} (owner: {owner}): {reason}"
        )
        self.existing_id = existing_id
        self.existing_name = existing_name
        self.owner_name = owner_name
        self.reason = reason


class Conflict(Exception):
    """The record's state forbids this change."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class DuplicateTicket(Conflict):
    """The asset already has the open repair ticket ``number`` (``existing_id``)."""

    def __init__(self, existing_id: int, number: str, status: str) -> None:
        super().__init__(
            f"ticket {number} ({status}) is already open for a repair of this asset: add to "
            "it, or send force: true to open another one anyway (recorded in the audit trail)")
        self.existing_id = existing_id
        self.number = number
        self.status = status


class MoveNotAllowed(Conflict):
    """A ticket may not move from ``from_status`` to ``to_status`` (``allowed``: where it
    may go from there)."""

    def __init__(self, number: str, from_status: str, to_status: str,
                 allowed: tuple[str, ...], why: str | None = None) -> None:
        reason = why or (f"from {from_status} it may go to {', '.join(allowed)}" if allowed
                         else f"{from_status} is final")
        super().__init__(f"ticket {number}: {from_status} -> {to_status} is not allowed: "
                         f"{reason}")
        self.from_status = from_status
        self.to_status = to_status
        self.allowed = allowed
