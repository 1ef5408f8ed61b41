"""Complaint caller verification (issue 17 item 5), pure: whether the person on the
phone is the customer (or one of its contacts) before a complaint ticket is opened.

Rules:
- a complaint is a ticket of category ``complaint`` (trimmed, any case: ``is_complaint``);
- three ways to state it (``METHODS``):
  ``number``: the caller's number is one of the numbers on record for the customer or
  any of its contacts (compared normalised, ``numbering.normalize``: a number typed
  with spaces or a +86 matches the stored E.164);
  ``question``: the caller gave the last four characters of one of the customer's
  assets' serial numbers (spaces, dashes and case ignored; exactly four characters;
  the answer itself is never kept nor echoed back);
  ``not_verified``: the agent could not verify and says why (a reason is required);
  the ticket is then opened FLAGGED;
- ``gate``: a complaint opens with a passed check or with ``not_verified`` (flagged);
  a failed check refuses it (the caller of the API gets a 422 naming the field);
- the check that is stored (``CheckResult.record``) holds the method, passed, the
  number's source for ``number`` (the call or typed), the reason for ``not_verified``,
  who and when: never the answer to the question.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from numbering.normalize import normalize

COMPLAINT = "complaint"
METHODS = ("number", "question", "not_verified")
ANSWER_LEN = 4
_NOISE = re.compile(r"[\s\-_/.]")


def is_complaint(category: str | None) -> bool:
    return category is not None and category.strip().lower() == COMPLAINT


def _digits_key(number: str) -> str:
    return normalize(number) or ""


def number_on_record(caller: str | None, registered: Iterable[str]) -> bool:
    """Whether ``caller`` is one of the ``registered`` numbers (both normalised)."""
    if caller is None or not re.search(r"\d", caller):
        return False
    key = _digits_key(caller)
    return bool(key) and any(_digits_key(n) == key for n in registered if n)


def serial_tail(serial: str) -> str:
    """The last ``ANSWER_LEN`` characters of a serial number, noise removed, upper case."""
    return _NOISE.sub("", serial).upper()[-ANSWER_LEN:]


def answer_matches(answer: str | None, serials: Iterable[str]) -> bool:
    """Whether ``answer`` is the tail of one of ``serials`` (see the rules)."""
    clean = _NOISE.sub("", answer or "").upper()
    if len(clean) != ANSWER_LEN:
        return False
    return any(len(_NOISE.sub("", s)) >= ANSWER_LEN and serial_tail(s) == clean
               for s in serials)


@dataclass(frozen=True, kw_only=True)
class CheckResult:
    """The outcome of one verification."""

    method: str
    passed: bool
    # number: "call" (the server's), "given" (typed) or "survey" (the hotline dialled it)
    source: str | None = None
    reason: str | None = None  # not_verified: why

    @property
    def flagged(self) -> bool:
        return self.method == "not_verified"

    def record(self, *, by_id: int | None, at: datetime) -> dict[str, Any]:
        """What the ticket keeps (never the answer to the question)."""
        out: dict[str, Any] = {"method": self.method, "passed": self.passed,
                               "by_id": by_id, "at": at.isoformat()}
        if self.source is not None:
            out["source"] = self.source
        if self.reason is not None:
            out["reason"] = self.reason
        return out


def verify(method: str, *, caller: str | None = None, source: str | None = None,
           answer: str | None = None, reason: str | None = None,
           registered: Iterable[str] = (), serials: Iterable[str] = ()) -> CheckResult:
    """The check of ``method`` against what is on record. ValueError for a method not
    in ``METHODS``, or ``not_verified`` without a reason."""
    if method == "number":
        return CheckResult(method=method, passed=number_on_record(caller, registered),
                           source=source)
    if method == "question":
        return CheckResult(method=method, passed=answer_matches(answer, serials))
    if method == "not_verified":
        why = (reason or "").strip()
        if not why:
            raise ValueError("say why the caller could not be verified")
        return CheckResult(method=method, passed=False, reason=why[:1000])
    raise ValueError(f"verification method: one of {', '.join(METHODS)}")


def gate(result: CheckResult | None) -> str | None:
    """Why a complaint may not be opened with ``result`` (None: it may)."""
    if result is None:
        return ("a complaint needs the caller verified first: number on record, the "
                "question, or not_verified with a reason")
    if result.passed or result.flagged:
        return None
    if result.method == "number":
        return "the caller's number is not on record for this customer or its contacts"
    return "the answer does not match any of the customer's assets"
