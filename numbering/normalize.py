"""Phone-number normalisation: any way a carrier or a person writes a number
becomes one canonical string, so a caller id and a stored number compare equal.

Rules:
- a number the ``phonenumbers`` library finds valid becomes E.164
  (``+8613800138000``; ``010-5129 7073`` -> ``+861051297073``; 400/800 numbers too);
- anything else that has digits (an extension ``1001``, a short code ``95588``)
  is kept as its bare digits, with a leading ``+`` if it had one;
- empty input and Asterisk's ``<unknown>`` give ``None``;
- never raises: caller ids come from the phone network and may be anything;
- ``typed_number`` is the one rule for a number that comes from OUTSIDE and will be
  stored or dialled (the API, a form, an import, a keypad, a trunk's caller id): only
  what a person writes a phone number with is accepted (digits, spaces, ``- ( ) .``,
  one leading ``+``; full-width forms folded first), never "the digits found in
  anything": ``13800138000,1,Hangup()`` or ``1000@internal`` are no phone numbers,
  and keeping their digits would dial a number nobody gave.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import phonenumbers

_NOT_DIGITS = re.compile(r"[^\d]")
_UNKNOWN = {"", "<unknown>", "unknown", "anonymous", "<anonymous>", "restricted"}
# how people write a phone number: ASCII digits (after NFKC folding), spaces, - ( ) .
_WRITTEN = re.compile(r"^\+?[0-9 \t().\-]+$")
MIN_DIGITS, MAX_DIGITS = 2, 20  # an extension or short code .. the longest dial string


@lru_cache(maxsize=65_536)
def normalize(raw: str | None, region: str = "CN") -> str | None:
    """``raw`` as E.164 when valid, else its digits; ``None`` when there is no number."""
    if raw is None:
        return None
    text = raw.strip()
    if text.lower() in _UNKNOWN:
        return None
    digits = _NOT_DIGITS.sub("", text)
    if not digits:
        return None
    parsed = valid_number(text, region)
    if parsed is not None:
        return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    return ("+" if text.startswith("+") else "") + digits


def valid_number(text: str, region: str = "CN") -> phonenumbers.PhoneNumber | None:
    """``text`` parsed as a number ``phonenumbers`` finds valid, else None (never raises)."""
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    return parsed if phonenumbers.is_valid_number(parsed) else None


def dialled_form(text: str, region: str = "CN") -> str | None:
    """A valid number as it is dialled from ``region`` (``+8613800138000`` ->
    ``138 0013 8000``, abroad ``00 ...``), or None when it is not a valid number."""
    parsed = valid_number(text, region)
    if parsed is None:
        return None
    return str(phonenumbers.format_out_of_country_calling_number(parsed, region))


def typed_number(raw: str | None, region: str = "CN") -> str | None:
    """A phone number given from outside, canonical (``normalize``'s E.164 when valid,
    else the digits of an extension or short code), or None when ``raw`` is not written
    as a phone number: other characters than digits, spaces, ``- ( ) .`` and one
    leading ``+``; a ``+`` form that is not a valid number; fewer than ``MIN_DIGITS``
    or more than ``MAX_DIGITS`` digits. Never raises."""
    if not isinstance(raw, str):
        return None
    text = unicodedata.normalize("NFKC", raw).strip()
    if not _WRITTEN.match(text):
        return None
    digits = _NOT_DIGITS.sub("", text)
    if not MIN_DIGITS <= len(digits) <= MAX_DIGITS:
        return None
    parsed = valid_number(text, region)
    if parsed is not None:
        return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    if text.startswith("+"):
        return None  # an international form that is not a valid number
    return digits
