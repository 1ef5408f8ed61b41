"""What the call controls send to the PBX, worked out from what a person typed.

Pure: no I/O. ``agent_console.pbx_actions`` sends the results.

Rules:
- a number to dial may be written any way a record holds it (``+86 138 0013 8000``,
  ``010-5129 7073``, ``(021) 5555 1234``): a valid number becomes the digits dialled
  FROM the hotline's region (``13800138000``, ``01051297073``; abroad ``00...``); an
  extension or short code is kept as its digits; anything else is refused (None).
  What counts as a phone number is ``numbering.normalize.typed_number``, the rule every
  number from outside follows (callbacks, customers' numbers, imports, the IVR);
- an AMI header value never carries CR, LF or another control character (they would
  end the header and let a caller-controlled text inject AMI fields): ``header_text``
  drops them;
- an agent's extension is the user part of its interface (``Local/1002@agents/n``,
  ``PJSIP/1002``, ``SIP/1002`` -> ``1002``).
"""

from __future__ import annotations

import re

from numbering.normalize import dialled_form, typed_number

_DIGITS = re.compile(r"[0-9]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_EXTENSION = re.compile(r"^(?:Local|PJSIP|SIP|IAX2|DAHDI)/([^@/;]+)")


def dial_digits(raw: str, region: str = "CN") -> str | None:
    """The digits to dial for ``raw`` from ``region``, or None when it is no number."""
    number = typed_number(raw, region)
    if number is None or not number.startswith("+"):
        return number  # refused, or an extension / short code: its digits as they are
    dialled = dialled_form(number, region)  # a valid number (typed_number checked it)
    return "".join(_DIGITS.findall(dialled)) if dialled is not None else None


def header_text(value: str, max_len: int = 80) -> str:
    """``value`` safe as one AMI header value (control characters dropped, capped)."""
    return _CONTROL.sub("", value).strip()[:max_len]


def caller_id(name: str, number: str) -> str:
    """An AMI ``CallerID`` value: ``"Hotline" <4008001234>``."""
    clean = header_text(name).replace('"', "").replace("<", "").replace(">", "")
    return f'"{clean}" <{"".join(_DIGITS.findall(number))}>'


def keyable(exten: str) -> bool:
    """Whether an attended transfer can reach ``exten``: Asterisk's Atxfer keys the
    destination into the transfer feature as DTMF, and a keypad has 0-9 * # only (a
    queue named ``vip`` is keyed as nothing: seen on Asterisk 22, the caller stayed on
    hold until the agent hung up)."""
    return bool(exten) and all(c in "0123456789*#" for c in exten)


def extension_of(interface: str) -> str | None:
    """The extension of an agent interface (``Local/1002@agents/n`` -> ``1002``)."""
    found = _EXTENSION.match(interface.strip())
    return found.group(1) if found else None


def state_interface(interface: str) -> str:
    """The device whose state a queue member follows (``Local/1004@agents/n`` ->
    ``Local/1004@agents``, as capture 04 adds a dynamic member)."""
    return interface[:-2] if interface.endswith("/n") else interface
