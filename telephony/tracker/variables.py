"""The channel variables a call keeps (``ivr`` and ``recording``), whether they come one
by one (a live ``VarSet``) or all at once (a resync's ``Status`` snapshot): ONE rule for
both, stated in the ``telephony.tracker`` docstring ("IVR variables", "Recording")."""

from __future__ import annotations

import logging

from telephony.tracker.book import CallBook
from telephony.tracker.model import (
    INBOUND,
    IVR_NAMES,
    IVR_PREFIXES,
    RECORDING_VAR,
    Call,
    Message,
    safe_recording,
)

log = logging.getLogger("telephony.tracker")


def kept(var: str) -> bool:
    """A variable (leading underscores of inheritance stripped) the call keeps."""
    return var in IVR_NAMES or var.startswith(IVR_PREFIXES)


def apply(book: CallBook, call: Call, var: str, value: str) -> None:
    """``var`` (stripped, ``kept``) of one of the call's caller-side channels is now
    ``value``: an IVR variable, or the recording's name; empty forgets it."""
    if var == RECORDING_VAR:
        _set_recording(book, call, value)
    elif value:
        call.ivr[var] = value
        if var == "HOTLINE_DID" and call.direction == INBOUND:
            book.set_did(call, value, from_var=True)
    else:
        call.ivr.pop(var, None)


def _set_recording(book: CallBook, call: Call, value: str) -> None:
    if not value:
        call.recording = None
        return
    safe = safe_recording(value)
    if safe is None:
        book.unexpected["unsafe recording name"] += 1
        log.debug("unsafe recording name %r for call %s ignored", value[:100], call.linkedid)
        return
    call.recording = safe


def status_variables(msg: Message) -> dict[str, str]:
    """The ``Variable: NAME=value`` lines of an AMI ``Status`` event (Asterisk 22
    ``manager.c`` generate_status: the requested ones, then with ``AllVariables`` every
    variable of the channel, names without their inheritance underscores), which the
    codec joins with newlines. A line without ``=`` is no variable."""
    out: dict[str, str] = {}
    for line in msg.get("Variable", "").split("\n"):
        name, sep, value = line.partition("=")
        name = name.strip().lstrip("_")
        if sep and name:
            out[name] = value
    return out
