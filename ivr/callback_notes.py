"""The notes a callback leaves on its customer, told as facts a page can put in words.

Each customer attempt of a callback writes a call interaction on the customer
(``callback_store.finish``), by Hotline itself (no author), linked to the attempt's call
(``call_linkedid`` = the attempt's token ``hlcb-<callback id>-<random>``). Its text is
written once, in both languages; a page shows one language, so it reads the FACTS
instead (issue 14 item 8: the zh-CN page had "Callback attempt 1: answered
(Local/1007@agents/n)" on it).

Rules:
- ``attempt_of`` (pure): in a callback's ``history``, the customer attempt made under
  ``token``: its number (customer outcomes counted in order: agent misses are no
  attempts, as ``callbacks.transition`` counts them), its outcome and the agent's phone;
- ``describe`` adds ``auto`` = ``{kind: "callback", attempt, result, agent, extension}``
  to each such interaction of a page: ``agent`` the user's display name for that phone,
  else the PBX's member name on the call's record, else None with the phone's
  ``extension``; an interaction that is not such a note, or whose callback is gone, is
  left as it is;
- ``agent_label`` is what the stored text names the agent by: never a channel name.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.models import CallbackRequest, CallRecord, User
from ivr.callbacks import CUSTOMER_OUTCOMES
from telephony.personal_queues import agent_extension

TOKEN_PREFIX = "hlcb-"  # ivr.callback_worker.PREFIX (the worker imports this module's)


@dataclass(frozen=True, kw_only=True)
class AttemptFacts:
    attempt: int
    result: str
    interface: str | None


def callback_id_of(token: object) -> int | None:
    """The callback id in an attempt's token, else None (never raises)."""
    if not isinstance(token, str) or not token.startswith(TOKEN_PREFIX):
        return None
    head = token[len(TOKEN_PREFIX):].split("-", 1)[0]
    return int(head) if head.isascii() and head.isdigit() and len(head) <= 18 else None


def attempt_of(history: Sequence[Mapping[str, Any]], token: str) -> AttemptFacts | None:
    """The customer attempt made under ``token`` in ``history`` (see the rules)."""
    made = 0
    for entry in history:
        if not isinstance(entry, Mapping) or entry.get("event") not in CUSTOMER_OUTCOMES:
            continue
        made += 1
        if entry.get("claim") == token:
            agent = entry.get("agent")
            return AttemptFacts(attempt=made, result=str(entry["event"]),
                                interface=agent if isinstance(agent, str) else None)
    return None


def agent_label(display_name: str | None, interface: str | None) -> str | None:
    """How a stored note names the agent: the user's name, else the extension."""
    if display_name:
        return display_name
    ext = agent_extension(interface or "")
    return ext or None


async def user_name(db: AsyncSession, interface: str | None) -> str | None:
    """The display name of the user who answers on ``interface``, if any."""
    if not interface:
        return None
    name: str | None = await db.scalar(
        select(User.display_name).where(User.agent_interface == interface).limit(1))
    return name


async def describe(db: AsyncSession, items: Sequence[MutableMapping[str, Any]]) -> None:
    """Add ``auto`` to the callback notes among ``items`` (interaction dicts), in place."""
    notes: dict[str, tuple[MutableMapping[str, Any], int]] = {}
    for item in items:
        cid = callback_id_of(item.get("call_linkedid"))
        if cid is not None and item.get("author_id") is None and item.get("kind") == "call":
            notes[str(item["call_linkedid"])] = (item, cid)
    if not notes:
        return
    ids = sorted({cid for _, cid in notes.values()})
    histories: dict[int, Any] = dict((await db.execute(
        select(CallbackRequest.id, CallbackRequest.history)
        .where(CallbackRequest.id.in_(ids)))).all())
    facts = {token: attempt_of(histories.get(cid) or [], token)
             for token, (_, cid) in notes.items()}
    interfaces = sorted({f.interface for f in facts.values() if f and f.interface})
    users: dict[str, str] = {}
    if interfaces:
        rows = await db.execute(select(User.agent_interface, User.display_name)
                                .where(User.agent_interface.in_(interfaces)))
        users = {str(i): str(n) for i, n in rows}
    members: dict[str, str | None] = dict((await db.execute(
        select(CallRecord.linkedid, CallRecord.agent)
        .where(CallRecord.linkedid.in_(sorted(facts))))).all())
    for token, (item, _) in notes.items():
        f = facts[token]
        if f is None:
            continue
        name = users.get(f.interface or "") or members.get(token)
        item["auto"] = {"kind": "callback", "attempt": f.attempt, "result": f.result,
                        "agent": name or None,
                        "extension": None if name else agent_extension(f.interface or "") or None}
