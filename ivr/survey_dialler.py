"""The survey dialler (issue 17 item 3): calls the customers of automated call lists
into the survey flow (``ivr.survey_call``), like the callback worker calls callers back.

One step (every ``poll_s``, on a finished call, or when woken):
1. outcomes seen since the last step are written: an unanswered call (``attempt_outcome``:
   the ``;2`` half's DialEnd BUSY -> ``busy``, anything else -> ``no-answer``) closes its
   entry through the call lists' own logic (``crm_core.survey_answers.unanswered`` ->
   ``outbound_lists.close_entry``: recycled after the list's delay up to its attempts);
   an answered one is the AGI's to keep; if ``answer_grace_s`` after its end the entry
   still holds the claim (the AGI server was down, the node died), it counts as
   ``no-answer`` (recycled), so an entry is never left hanging;
2. outside ``hours`` (``CallHours``, Asia/Shanghai) nothing is dialled;
3. up to ``max_calls`` calls at once: for each automated list (then each agents'
   satisfaction list, for the customers flagged ``prefers_automated_calls`` only),
   ``claim_automated`` takes the next due entry (compare-and-set on the claim,
   ``FOR UPDATE SKIP LOCKED`` on PostgreSQL: two nodes never dial one entry; a
   do-not-call customer is never taken),
   then ONE Originate: ``Channel=Local/<digits>@<context>`` (the dialplan's [outbound]
   dials the customer through the trunk), ``Application=AGI``,
   ``Data=<agi_url>?entry=<id>&claim=<token>``, ``ChannelId`` = the claim token (so every
   channel of the call carries it as Linkedid: its events are recognised by it).

An Originate refused before it left gives the claim back (``release_claim``); one whose
result is unknown (the link died) is left to the claim's lapse (``CLAIM_TTL``) rather than
risk a second call to a customer who may be on the line.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_core.errors import Conflict, NotFound
from crm_core.models import CallList
from crm_core.outbound_lists import CallHours, claim_automated, release_claim
from crm_core.survey_answers import unanswered
from ivr.callback_worker import AmiLink, task_cancelling
from ivr.callbacks import dial_string
from telephony.ami import AmiError, AmiNotConnected

log = logging.getLogger("ivr.survey_dialler")

PREFIX = "hlsv-"  # ChannelId of survey calls: hlsv-<random>, the entry's claim token
_EVENTS = frozenset({"DialEnd", "Hangup"})
_EARLY_MEMORY = 256


# --- pure ------------------------------------------------------------------------------


@dataclass
class Attempt:
    """What the PBX said so far about one survey call."""

    token: str
    entry_id: int
    started: float
    action_id: str | None = None
    answered: bool = False  # OriginateResponse Success, or the ;2 DialEnd ANSWER
    dial_status: str | None = None  # the ;2 half's DialEnd (the customer's line)
    failed: str | None = None  # OriginateResponse Failure: its Reason
    ended: bool = False  # the ;1 half (the channel that runs the AGI) hung up
    refused: bool = False  # the PBX refused the Originate (Response: Error)
    done_at: float | None = None  # when its outcome was known


def attempt_outcome(a: Attempt) -> str | None:
    """``answered`` | ``busy`` | ``no-answer`` once the call is over (None: not yet)."""
    if a.answered or a.dial_status == "ANSWER":
        return "answered" if a.ended else None
    if not (a.ended or a.failed is not None or a.refused):
        return None
    if a.dial_status == "BUSY" or (a.dial_status is None and a.failed == "5"):
        return "busy"
    return "no-answer"


# --- the worker ------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class DiallerConfig:
    """The dialler's settings (``hotline.settings``: ``survey_*``)."""

    agi_url: str = "agi://127.0.0.1:4573/survey"
    context: str = "outbound"
    caller_id: str = '"Hotline" <4008001234>'
    ring_s: float = 35.0  # the Originate's wait: beyond [outbound]'s Dial(...,30)
    max_calls: int = 4
    poll_s: float = 5.0
    answer_grace_s: float = 30.0
    region: str = "CN"
    hours: CallHours = field(default_factory=CallHours)

    @classmethod
    def from_settings(cls, settings: Any) -> DiallerConfig:
        numbers = list(settings.hotline_numbers) or ["4008001234"]
        name = str(getattr(settings, "dial_caller_name", "Hotline")).replace('"', "")
        host = settings.survey_agi_host or settings.agi_host
        return cls(
            agi_url=f"agi://{host}:{settings.agi_port}/survey",
            context=settings.survey_context, caller_id=f'"{name}" <{numbers[0]}>',
            ring_s=float(settings.survey_ring_s), max_calls=settings.survey_max_calls,
            poll_s=float(settings.survey_poll_s), region=settings.default_region,
            hours=CallHours.parse(settings.outbound_hours, settings.outbound_days))


class SurveyDialler:
    """Dials the automated lists' due entries into the survey; see the module docstring."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], ami: AmiLink,
                 config: DiallerConfig, *, clock: Callable[[], float] = time.time) -> None:
        self._sm = sessionmaker
        self._ami = ami
        self.config = config
        self._clock = clock
        self._inflight: dict[str, Attempt] = {}
        self._by_action: dict[str, Attempt] = {}
        self._early: dict[str, Mapping[str, str]] = {}
        self._checks: list[Attempt] = []  # answered calls: was the survey kept?
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.stats: dict[str, int] = dict.fromkeys(
            ("steps", "dials", "answered", "busy", "no-answer", "released", "errors"), 0)

    # --- AMI consumer (cheap: no I/O) ---

    def on_event(self, msg: Mapping[str, str]) -> None:
        name = msg.get("Event", "")
        if name == "OriginateResponse":
            self._originate_response(msg)
            return
        if name not in _EVENTS:
            return
        attempt = self._inflight.get(msg.get("Linkedid", ""))
        if attempt is None:
            return
        uid = msg.get("Uniqueid", "")
        if name == "DialEnd" and uid == f"{attempt.token};2":
            attempt.dial_status = msg.get("DialStatus", "") or "UNKNOWN"
        elif name == "Hangup" and uid == attempt.token:
            attempt.ended = True
        self._settle(attempt)

    def on_connected(self) -> None:
        self.wake()

    def on_disconnected(self) -> None:
        pass

    def on_resync_begin(self) -> None:
        pass

    def on_resync_end(self) -> None:
        pass

    def wake(self) -> None:
        self._wakeup.set()

    def finished(self, claim: str) -> None:
        """The survey call ``claim`` ran its course on this node's AGI server."""
        attempt = self._inflight.get(claim)
        if attempt is not None:
            attempt.answered = attempt.ended = True
            self._settle(attempt)

    def _originate_response(self, msg: Mapping[str, str]) -> None:
        action_id = msg.get("ActionID", "")
        attempt = self._by_action.get(action_id) or self._inflight.get(msg.get("Uniqueid", ""))
        if attempt is None:
            if action_id:  # may come before ``originate()`` returned its ActionID
                if len(self._early) >= _EARLY_MEMORY:
                    self._early.pop(next(iter(self._early)))
                self._early[action_id] = msg
            return
        self._apply_response(attempt, msg)

    def _apply_response(self, attempt: Attempt, msg: Mapping[str, str]) -> None:
        if msg.get("Response", "").lower() == "failure":
            attempt.failed = msg.get("Reason", "") or "0"
        else:
            attempt.answered = True
        self._settle(attempt)

    def _settle(self, attempt: Attempt) -> None:
        if attempt.done_at is None and attempt_outcome(attempt) is not None:
            attempt.done_at = self._clock()
            self.wake()

    # --- lifecycle ---

    async def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="survey-dialler")

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.config.poll_s):
                    await self._wakeup.wait()
            self._wakeup.clear()
            if not self._ami.ready:
                continue
            try:
                await self.step()
            except asyncio.CancelledError:
                raise
            except Exception:  # a database or PBX hiccup must not end the dialler
                if task_cancelling():  # a cancellation seen as a database error: stop
                    raise asyncio.CancelledError from None
                self.stats["errors"] += 1
                log.warning("survey dialler step failed", exc_info=True)

    # --- a step ---

    async def step(self) -> None:
        self.stats["steps"] += 1
        await self._write_outcomes()
        now = datetime.fromtimestamp(self._clock(), UTC)
        if not self.config.hours.open_at(now):
            return
        free = self.config.max_calls - len(self._inflight)
        if free <= 0:
            return
        async with self._sm() as session:
            lists = (await session.execute(
                select(CallList.id, CallList.automated)
                .where(CallList.active.is_(True), or_(
                    CallList.automated.is_(True), CallList.kind == "satisfaction"))
                .order_by(CallList.automated.desc(), CallList.id))).all()
        for list_id, automated in lists:
            while free > 0 and await self._dial_next(list_id, now, not automated):
                free -= 1

    async def _dial_next(self, list_id: int, now: datetime, preferring_only: bool) -> bool:
        """Claim and dial the list's next due entry (``preferring_only``: of a customer
        who prefers automated calls); False when none is due."""
        token = f"{PREFIX}{secrets.token_hex(6)}"
        async with self._sm() as session, session.begin():
            entry = await claim_automated(session, list_id, token=token,
                                          preferring_only=preferring_only, now=now)
            if entry is None:
                return False
            entry_id, number = entry.id, entry.number or ""
        attempt = Attempt(token, entry_id, self._clock())
        self._inflight[token] = attempt
        self.stats["dials"] += 1
        digits = dial_string(number, self.config.region)
        if digits is None:  # an open entry's number is valid; be safe all the same
            attempt.refused = True
            self._settle(attempt)
            return True
        await self._originate(attempt, digits)
        return True

    async def _originate(self, attempt: Attempt, digits: str) -> None:
        token, entry_id = attempt.token, attempt.entry_id
        fields: dict[str, str | list[str]] = {
            "Channel": f"Local/{digits}@{self.config.context}", "Application": "AGI",
            "Data": f"{self.config.agi_url}?entry={entry_id}&claim={token}",
            "CallerID": self.config.caller_id,
            "Timeout": str(int(self.config.ring_s * 1000)), "Async": "true",
            "ChannelId": token, "OtherChannelId": f"{token};2",
            "Variable": [f"HOTLINE_SURVEY_ENTRY={entry_id}", f"HOTLINE_SURVEY={token}",
                         f"HOTLINE_DIALLED={digits}"],
        }
        try:
            reply = await self._ami.originate(**fields)
        except AmiNotConnected as exc:
            self._forget(attempt)
            if exc.__cause__ is None:  # refused before a byte left: nothing was dialled
                async with self._sm() as session, session.begin():
                    await release_claim(session, entry_id, token)
                self.stats["released"] += 1
            log.warning("survey entry %s: Originate: %s", entry_id, exc)
            return
        except AmiError as exc:
            if exc.response is not None:  # "Response: Error": the PBX did not place it
                attempt.refused = True
                self._settle(attempt)
            else:  # no reply in time: the claim lapses rather than a second call
                self._forget(attempt)
            log.warning("survey entry %s: Originate: %s", entry_id, exc)
            return
        attempt.action_id = reply.get("ActionID")
        if attempt.action_id:
            self._by_action[attempt.action_id] = attempt
            early = self._early.pop(attempt.action_id, None)
            if early is not None:
                self._apply_response(attempt, early)

    def _forget(self, attempt: Attempt) -> None:
        self._inflight.pop(attempt.token, None)
        if attempt.action_id is not None:
            self._by_action.pop(attempt.action_id, None)

    async def _write_outcomes(self) -> None:
        now = self._clock()
        for attempt in list(self._inflight.values()):
            result = attempt_outcome(attempt)
            if result is None or attempt.done_at is None:
                continue
            if result == "answered":
                self._forget(attempt)  # its slot is free; the AGI keeps the answers
                self.stats["answered"] += 1
                self._late_check(attempt)
                continue
            await self._close(attempt, result, f"dial status {attempt.dial_status or '-'}"
                              f", originate reason {attempt.failed or '-'}")
            self._forget(attempt)
            self.stats[result] += 1
        for attempt in [a for a in self._checks if a.done_at is not None
                        and now >= a.done_at + self.config.answer_grace_s]:
            self._checks.remove(attempt)
            await self._close(attempt, "no-answer", "answered; the survey kept no answer")

    def _late_check(self, attempt: Attempt) -> None:
        self._checks.append(attempt)

    async def _close(self, attempt: Attempt, outcome: str, detail: str) -> None:
        try:
            async with self._sm() as session, session.begin():
                state = await unanswered(session, attempt.entry_id, attempt.token, outcome,
                                         detail=detail,
                                         now=datetime.fromtimestamp(self._clock(), UTC))
            log.info("survey entry %s: %s -> %s", attempt.entry_id, outcome, state)
        except (Conflict, NotFound):
            pass  # kept already (the AGI), or taken over: nothing of ours to close

    def in_flight(self) -> dict[str, int]:
        """Calls under way: token -> entry id."""
        return {token: a.entry_id for token, a in self._inflight.items()}
