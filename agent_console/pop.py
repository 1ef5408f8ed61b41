"""The screen pop message: what an agent's console shows while its phone rings.

Pure: no I/O. The hub resolves the 360 view; this module only shapes frames.

Rules:
- every frame is typed, versioned JSON: ``{"v": 1, "type": ..., ...}``;
- a pop is ``{"v": 1, "type": "pop", "call": {...}, "record": {...}}``; the record
  is the 360 view with ``"known": true`` (``"restricted": true`` and only the owner
  when the agent may not read that customer), or for an unknown caller
  ``{"known": false, "phone": ..., "quick_create": {...prefill}, "candidates": [...]}``
  where candidates are existing customers the caller may be (same name key: the
  duplicate guard's ``{id, name, owner, reason}``);
- a call's end is ``ended`` with its ``outcome``, ``direction``, ``hangup_by`` and the
  ``agent_interface`` who answered it (the console tells "the caller hung up" from
  "a colleague took it" and from "the queue timed out");
- the quick-create prefill is ``{phone, kind: "company", province}``: a business
  hotline's callers are companies, and the province is a guess from the number
  (``numbering.regions``). It never holds a name: the caller-ID name comes from the
  carrier, may be anyone's or an attack, and is only shown beside the field as a hint
  (``call.caller_name``), never typed into it (issue 14 item 7);
- ``call.suggested_disposition``: the call log's disposition the IVR choices point to
  (``agent_console.ivr_disposition``), or None;
- the agent's state is one ``state`` frame built from ``agent_state.AgentView``; a
  wrap-up is announced by ``wrapup`` ``{linkedid, until}`` and closed by
  ``wrapup-end`` ``{linkedid, why}``;
- caller names and numbers come from the phone network and may be hostile: they
  stay plain strings, never escaped or turned into markup here (the page renders
  them as text, ``textContent``); nothing in a frame is HTML;
- an agent's own outbound call (click-to-dial, callback) pops exactly as a queue call:
  ``call.direction`` "outbound", ``caller`` the number dialled, ``queue`` "" and
  ``did`` None; its record is the dialled customer's (or the unknown-caller form);
- the IVR may name the customer (``HOTLINE_CUSTOMER_ID`` or ``CRM_CUSTOMER_ID``):
  only a plain positive integer is taken, anything else is ignored.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from agent_console.ivr_disposition import suggested_disposition
from numbering.regions import province_of_number
from telephony.events import (
    AgentRinging,
    AgentRingNoAnswer,
    CallAnswered,
    CallEnded,
    DomainEvent,
)

FRAME_VERSION = 1
CUSTOMER_ID_VARS = ("HOTLINE_CUSTOMER_ID", "CRM_CUSTOMER_ID")
_MAX_ID_DIGITS = 18


def ivr_customer_id(ivr: dict[str, str]) -> int | None:
    """The customer id the IVR identified, if it gave a usable one."""
    for name in CUSTOMER_ID_VARS:
        raw = (ivr.get(name) or "").strip()
        if raw.isascii() and raw.isdigit() and len(raw) <= _MAX_ID_DIGITS and int(raw) > 0:
            return int(raw)
    return None


def _iso(event: DomainEvent) -> str | None:
    return event.at.isoformat() if event.at is not None else None


def call_part(event: AgentRinging) -> dict[str, Any]:
    """The call as the console shows it (strings passed through untouched)."""
    return {
        "linkedid": event.linkedid,
        "queue": event.queue,
        "agent": event.agent,
        "interface": event.interface,
        "caller": event.caller,
        "caller_name": event.caller_name,
        "did": event.did,
        "ivr": dict(event.ivr),
        "at": _iso(event),
        "direction": event.direction,
        "suggested_disposition": suggested_disposition(event.ivr),
    }


def record_part(event: AgentRinging, view: dict[str, Any]) -> dict[str, Any]:
    """The record side of a pop: the 360 view, or a quick-create prefill."""
    if view.get("found"):
        return {**view, "known": True}
    phone = view.get("phone") or event.caller
    return {
        "known": False,
        "phone": phone,
        "quick_create": {"phone": phone, "kind": "company",
                         "province": province_of_number(phone)},
        "candidates": list(view.get("candidates") or []),
    }


def pop_message(event: AgentRinging, view: dict[str, Any]) -> dict[str, Any]:
    """The pop frame for ``event`` with the resolved 360 ``view``."""
    return {"v": FRAME_VERSION, "type": "pop", "call": call_part(event),
            "record": record_part(event, view)}


def call_frame(event: DomainEvent) -> dict[str, Any] | None:
    """The frame an agent gets for a later step of its call, or None."""
    if isinstance(event, CallAnswered):
        return {"v": FRAME_VERSION, "type": "answered", "linkedid": event.linkedid,
                "interface": event.interface, "at": _iso(event)}
    if isinstance(event, AgentRingNoAnswer):
        return {"v": FRAME_VERSION, "type": "missed", "linkedid": event.linkedid,
                "interface": event.interface, "at": _iso(event)}
    if isinstance(event, CallEnded):
        # how it ended, so the console says what happened (the caller hung up while it
        # rang, the queue timed out, a colleague took it), not a bare "ended"
        s = event.summary
        return {"v": FRAME_VERSION, "type": "ended", "linkedid": event.linkedid,
                "at": _iso(event), "outcome": s.outcome, "direction": s.direction,
                "hangup_by": s.hangup_by, "agent_interface": s.agent_interface}
    return None


def state_frame(view: dict[str, Any], at: datetime | None = None) -> dict[str, Any]:
    """The agent's state (``AgentView.to_dict()``) as a frame; ``call`` only while the
    agent has one (a frame's ``call`` is always an object, as in the pop)."""
    frame = {"v": FRAME_VERSION, "type": "state", **view,
             "at": at.isoformat() if at is not None else None}
    if frame.get("call") is None:
        frame.pop("call", None)
    return frame


def wrapup_frame(interface: str, linkedid: str, until: datetime) -> dict[str, Any]:
    """The agent's wrap-up of ``linkedid`` runs until ``until``."""
    return {"v": FRAME_VERSION, "type": "wrapup", "interface": interface,
            "linkedid": linkedid, "until": until.isoformat()}


def wrapup_end_frame(interface: str, linkedid: str, why: str) -> dict[str, Any]:
    """The wrap-up of ``linkedid`` is over (saved | timer | ready | new-call | signed-out)."""
    return {"v": FRAME_VERSION, "type": "wrapup-end", "interface": interface,
            "linkedid": linkedid, "why": why}


def hello_frame(interface: str, agent_name: str | None) -> dict[str, Any]:
    """The first frame on a fresh socket: who this console answers as."""
    return {"v": FRAME_VERSION, "type": "hello", "interface": interface, "agent": agent_name}


RESYNC = {"v": FRAME_VERSION, "type": "resync"}


def dumps(frame: dict[str, Any]) -> str:
    """JSON text of a frame (non-ASCII kept; anything odd stringified, never raised)."""
    return json.dumps(frame, ensure_ascii=False, default=str)
