"""The number plan's pure rules: what a dialled number (DID) is, what kind it is, and what
a call to it runs.

A site has one 400 number, one 800 number and any number of legacy numbers (the old
department hotlines); each maps to a flow, and calls keep its kind and label so reports
show which old numbers are still dialled. A number the plan does not know still gets
an answer: the ``default`` flow, tagged ``unknown`` (never silence).

Rules:
- pure: no I/O; ``canonical_did`` never raises (a DID comes from the phone network);
- one canonical form for the plan, the IVR and the reports, the digits a Chinese PBX
  shows for a national call: ``+86 400-800-1234``, ``0086 4008001234`` and
  ``4008001234`` are all ``4008001234``; ``+86 21 5888 0101`` is ``02158880101`` (the
  trunk 0 of a landline is kept, as dialled inside China); short codes and extensions
  keep their digits; a foreign number is ``+`` and its E.164 digits;
- separators (spaces, dashes, dots, brackets, slashes) are ignored; any other character
  (letters, ``#``, ``*``, Asterisk's ``s``) means there is no number: ``None``.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import phonenumbers

DEFAULT_FLOW_NAME = "default"
KINDS = ("400", "800", "legacy")
"""Kinds a plan entry may have; a resolved call may also be ``unknown``."""
UNKNOWN = "unknown"
MAX_DIGITS = 24

FLOW_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
QUEUE_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
"""Queue names go into the dialplan's Queue(): no comma, pipe or space may inject options."""

_SEPARATORS = re.compile(r"[\s\-./()\u00a0\u3000]")
_PLAIN = re.compile(r"^\+?[0-9]+$")


@dataclass(frozen=True)
class Entry:
    """Where a call came in: the number dialled and what runs for it."""

    number: str  # the DID as dialled, canonical digits ("" when there was none)
    kind: str  # "400" | "800" | "legacy" | "unknown"
    label: str | None  # e.g. "原打印机维修热线 / old printer repair line"
    flow_name: str
    queue: str | None  # default queue for this number (None: the flow decides)


@lru_cache(maxsize=4096)
def canonical_did(raw: str | None) -> str | None:
    """``raw`` in the plan's canonical form (module docstring), or ``None`` (no number)."""
    if not isinstance(raw, str):
        return None
    # NFKC: full-width digits and signs typed on a Chinese keyboard are plain digits
    text = _SEPARATORS.sub("", unicodedata.normalize("NFKC", raw))
    if not _PLAIN.match(text):
        return None
    if text.startswith("+"):
        international = text
    elif text.startswith("00"):
        international = "+" + text[2:]
    else:
        international = None
    if international is not None:
        if not international.startswith("+86"):
            return international if 3 <= len(international) <= MAX_DIGITS + 1 else None
        # +86 21 ... : the national form of a landline starts with the trunk 0
        text = _national(international[3:]) or international[3:]
    else:
        national = _national(text)
        if national is None and text.startswith("86"):
            # some trunks send the country code without + or 00: 864008001234
            national = _national(text[2:])
        text = national or text
    return text if 1 <= len(text) <= MAX_DIGITS else None


def _national(digits: str) -> str | None:
    """The national (dialled in China) digits of a valid Chinese number, else None."""
    if not digits or len(digits) > MAX_DIGITS:
        return None
    try:
        parsed = phonenumbers.parse(digits, "CN")
    except phonenumbers.NumberParseException:
        return None
    if parsed.country_code != 86 or not phonenumbers.is_valid_number(parsed):
        return None
    national = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)
    return re.sub(r"[^0-9]", "", national)


def guess_kind(number: str) -> str:
    """The kind of a canonical number when nobody said: 400/800 by prefix, else legacy."""
    if len(number) == 10 and number.startswith("400"):
        return "400"
    if len(number) == 10 and number.startswith("800"):
        return "800"
    return "legacy"


def unknown_entry(did: str | None) -> Entry:
    """What a call to a number outside the plan (or to no number at all) runs."""
    number = canonical_did(did) or ""
    return Entry(number=number, kind=UNKNOWN, label=None, flow_name=DEFAULT_FLOW_NAME,
                 queue=None)


def entry_of(did: str | None, *, number: str, kind: str, label: str | None, flow_name: str,
             queue: str | None, active: bool) -> Entry:
    """The entry of a call to a plan row's number; an inactive row counts as unknown.

    A row whose stored values are unusable (a kind or flow name edited by hand in the
    database) still answers: bad values fall back to ``legacy`` / ``default`` / no queue.
    """
    if not active:
        return unknown_entry(did)
    return Entry(
        number=number,
        kind=kind if kind in KINDS else "legacy",
        label=label or None,
        flow_name=flow_name if isinstance(flow_name, str) and FLOW_NAME.match(flow_name)
        else DEFAULT_FLOW_NAME,
        queue=queue if isinstance(queue, str) and QUEUE_NAME.match(queue) else None,
    )


def flow_name_problem(name: object) -> str | None:
    """Why ``name`` cannot name a flow, or None."""
    if not isinstance(name, str) or not FLOW_NAME.match(name):
        return "must be 1-64 of A-Z a-z 0-9 _ . -"
    return None


def queue_problem(queue: object) -> str | None:
    """Why ``queue`` cannot name a queue, or None (None itself is fine: no queue)."""
    if queue is None:
        return None
    if not isinstance(queue, str) or not QUEUE_NAME.match(queue):
        return "must be 1-64 of A-Z a-z 0-9 _ . - (a queue name of the dialplan)"
    return None
