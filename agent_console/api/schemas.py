"""Pydantic v2 models of the REST API: request bodies, query strings, responses.

Rules:
- every input the API accepts is one of these models, and the OpenAPI document is
  generated from the same models, so what is documented is what is enforced;
- request bodies forbid unknown fields (a typo is a 422 naming it, never ignored);
- strings that reach the database are ``Text``: no NUL character and no lone
  surrogate (PostgreSQL and UTF-8 refuse them; a 422 here, not a 500 there);
- ids are ``Id`` (1 .. 2**31-1) so an absurd id is a 422/404, never a database error;
- response models ignore extra keys a service may add, so responses match the spec.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

MAX_ID = 2_147_483_647
MAX_OFFSET = 2_147_483_647


def _safe_text(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("must be valid Unicode text") from exc
    return value


Text = Annotated[str, AfterValidator(_safe_text)]
Id = Annotated[int, Field(ge=1, le=MAX_ID)]


class Body(BaseModel):
    """Base of request bodies: unknown fields are an error."""

    model_config = ConfigDict(extra="forbid")


class Query(BaseModel):
    """Base of query strings: unknown parameters are ignored (caches, cache-busters)."""

    model_config = ConfigDict(extra="ignore")


class Out(BaseModel):
    """Base of responses: built from service dicts/dataclasses, extra keys dropped."""

    model_config = ConfigDict(extra="ignore", from_attributes=True)


class IdPath(Query):
    id: Id


class PageQuery(Query):
    limit: int = Field(default=50, ge=1, le=200, description="page size (1..200)")
    offset: int = Field(default=0, ge=0, le=MAX_OFFSET, description="items to skip")


T = TypeVar("T")


class Page(Out, Generic[T]):
    """One page of a list."""

    items: list[T]
    total: int
    limit: int
    offset: int


class ErrorDetail(Out):
    field: str | None = None
    message: str


class ExistingCustomer(Out):
    id: int
    name: str
    owner_name: str | None = None
    reason: str


class ExistingTicket(Out):
    """The open repair ticket a new one would duplicate (409 ``duplicate_ticket``)."""

    id: int
    number: str
    status: str


class Error(Out):
    """Every error response: ``error`` is a stable code, ``message`` is for people."""

    error: str
    message: str
    field: str | None = None
    details: list[ErrorDetail] | None = None
    existing: ExistingCustomer | None = None
    existing_ticket: ExistingTicket | None = None
    # a ticket move refused (409 ``move_not_allowed``): its status, the move, the moves open
    status: str | None = None
    to_status: str | None = None
    allowed: list[str] | None = None
    request_id: str | None = None


# -- session -------------------------------------------------------------------------


class SignIn(Body):
    username: Text = Field(min_length=1, max_length=150)
    password: str = Field(min_length=1, max_length=1024)


class UserBrief(Out):
    id: int
    username: str
    display_name: str
    language: str
    is_admin: bool
    team: str | None = None
    region: str | None = None


class Grant(Out):
    module: str
    operation: str
    scope: Literal["own", "team", "region", "all", "station", "technician"]


class FailedSignIns(Out):
    """Failed sign-ins to this account since its owner last signed in."""

    count: int
    first_at: datetime
    last_at: datetime
    last_address: str = Field(description="the client address of the last one")


class SessionOut(Out):
    user: UserBrief
    grants: list[Grant]
    csrf_token: str = Field(description="send it back as X-CSRF-Token on every write")
    failed_sign_ins: FailedSignIns | None = Field(
        default=None, description="told at the first sign-in after them, then kept for "
                                  "the session; null: none")


class Empty(Out):
    """A body-less success (``{}``)."""


def drop_keys(data: dict[str, Any], *keys: str) -> dict[str, Any]:
    """``data`` without ``keys`` (building service kwargs from a body)."""
    return {k: v for k, v in data.items() if k not in keys}
