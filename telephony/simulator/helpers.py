"""The simulated PBX's constants and small pure helpers: the logger, dial and
transfer timeouts, queue names, and parsing of Originate fields and variables."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, TypeVar

from telephony.simulator.calls import CallScript
from telephony.simulator.model import DEV_BUSY, DEV_NOT_INUSE, DEV_UNAVAILABLE, UNKNOWN, clean

log = logging.getLogger("telephony.simulator")

T = TypeVar("T")

OUTBOUND_DIAL_TIMEOUT = 30.0  # conf/extensions.conf [outbound]: Dial(...,30)
TRANSFER_DIGIT_TIMEOUT_S = 5.0  # deploy/asterisk/features.conf transferdigittimeout
# How the simulated site dials an agent's phone from deploy's [agents]
# (Dial(${HOTLINE_PHONE_PREFIX}${EXTEN}${HOTLINE_PHONE_SUFFIX},,tT)): a Local pair into
# [phones], as the acceptance rig's overlay dials [rig-phones] (a site: PJSIP/1001-xxxx)
PHONE_CONTEXT = "phones"
# a customer leg that does not answer: (seconds until the result, DialStatus, cause)
_CUSTOMER_FAILS = {"busy": (0.5, "BUSY", 17), "unavailable": (0.0, "CHANUNAVAIL", 0),
                   "noanswer": (OUTBOUND_DIAL_TIMEOUT, "NOANSWER", 19)}


def _queue_name(text: str) -> str:
    """The dialplan's FILTER(A-Za-z0-9_.-,${QUEUE}): no comma may add Queue() options."""
    return "".join(c for c in text if c.isascii() and (c.isalnum() or c in "_.-"))


def _rig_queue(did: str) -> str:
    """The capture rig's dialplan (../shared/asterisk/conf/extensions.conf): its 800
    number was a VIP line. Hotline's own dialplan takes the number plan's instead."""
    return "vip" if did == "8008001234" else "support"


def _sscanf_int(text: str) -> int:
    """app_queue reads QUEUE_PRIO with sscanf("%d"); anything else is priority 0."""
    digits = text.strip()
    sign = -1 if digits.startswith("-") else 1
    digits = digits.lstrip("+-")
    n = len(digits) - len(digits.lstrip("0123456789"))
    return sign * int(digits[:n]) if n else 0


def _secs(seconds: float) -> int:
    """Whole seconds, halves rounded up (Python's round() would round 6.5 to 6)."""
    return int(seconds + 0.5)


def _resolve_none(fut: asyncio.Future[Any]) -> None:
    if not fut.done():
        fut.set_result(None)


def _mode_status(mode: str) -> int:
    return {"busy": DEV_BUSY, "unavailable": DEV_UNAVAILABLE}.get(mode, DEV_NOT_INUSE)


def _nz(value: str) -> str:
    return "" if value == UNKNOWN else value


def _split_local(interface: str) -> tuple[str, str]:
    """``Local/1001@agents/n`` -> ("1001", "agents")."""
    body = interface.split("/", 1)[1] if "/" in interface else interface
    body = body.split("/", 1)[0]
    exten, _, context = body.partition("@")
    return exten, context


def _channel_ids(f: dict[str, str]) -> tuple[str, str] | None:
    """Originate ChannelId/OtherChannelId (Asterisk: the ;2 half gets ``<id>;2`` when
    only the first is given)."""
    first = clean(f.get("ChannelId", "")).strip()
    if not first:
        return None
    return first, clean(f.get("OtherChannelId", "")).strip() or f"{first};2"


def _parse_callerid(text: str) -> tuple[str, str]:
    """``"Wang Fang" <13800138000>`` -> ("13800138000", "Wang Fang")."""
    text = clean(text).strip()
    if "<" in text and text.endswith(">"):
        name, _, num = text[:-1].rpartition("<")
        return num.strip(), name.strip().strip('"')
    return text, ""


def _variables(raw: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in raw.replace(",", "\n").split("\n"):
        key, sep, value = part.partition("=")
        if sep and key.strip():
            out[key.strip()] = value
    return out


def _script_from_vars(v: dict[str, str]) -> CallScript:
    """The capture rig's caller variables: DIGIT, HOLD, PRE, SKIP_AGI, FORCE_QUEUE."""
    def num(key: str, default: float) -> float:
        try:
            return float(v.get(key, "") or default)
        except ValueError:
            return default

    pre = num("PRE", 2.5)
    return CallScript(ivr_digits=v.get("DIGIT", "1"), skip_agi=v.get("SKIP_AGI") == "1",
                      ivr_s=pre + 0.1, queue=v.get("FORCE_QUEUE") or None,
                      hold=num("HOLD", 60.0))
