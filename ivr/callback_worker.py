"""The callback worker: calls customers back when their place in line comes up.

It runs in the app (a ``cleanup_ctx`` of ``hotline.app``) beside the AMI client,
which feeds it the PBX's events through :class:`AmiFanout` (after the call tracker).
The decisions are ``ivr.callbacks`` (pure); the rows are ``ivr.callback_store``.

One step (on a PBX event of a queue, a new request, an attempt's outcome, or every
``poll_s``):
1. outcomes seen since the last step are written (``finish``: compare-and-set on the
   claim that dialled);
2. rows left in "dialing" by someone else (a previous run of the app, a worker that
   died) and attempts we lost sight of (AMI outage) are checked against the PBX;
3. for each queue with a due callback (or members we hold): QueueStatus -> the pure
   ``plan`` -> QueuePause to hold/release agents, and for each dial: ``claim`` the row,
   then ONE Originate: the agent's interface first (``Timeout`` = agent_ring_s), and on
   answer the dialplan ``context`` dials ``Exten`` = the customer's number, caller ID =
   the hotline number. ``ChannelId`` = the claim token, so every channel of the attempt
   carries the token as its Linkedid: that is how its events are recognised, now and
   after a restart. ``HOTLINE_CALLBACK_ID`` is set on the channel for the dialplan/CDR.

Outcome of an attempt (``ivr.callbacks.outcome``): OriginateResponse Failure -> the
agent missed it (Success: the agent answered); the DialEnd of the ORIGIN channel itself
(Uniqueid = token: the channel that runs ``context`` after the agent answered) gives
the customer's DialStatus (ANSWER, BUSY, NOANSWER, ...); the Hangup of the token channel
without a dial result ends it. Other Dial* events of the attempt are the agent's side:
a real ``[agents]`` context dials the agent's PHONE from the partner half (``token;2``),
and that DialEnd ANSWER is the agent picking up, never the customer (issue 12 item 3).

Never dialled twice:
- a row is dialled only by the worker whose claim turned it from waiting to dialing;
- the Originate is never re-sent (``AmiClient.originate``); when it certainly did not
  leave (no link at all) the claim is released, otherwise the attempt stays "dialing";
- a "dialing" row not ours, and our attempts after an AMI outage, are looked up in
  CoreShowChannels (Linkedid = token): a live attempt is adopted and followed to its
  end (a customer leg already up means answered); an attempt whose channels are gone
  ended while nobody watched: ``interrupted``, never dialled again (failed, for a
  person to look at). Rows claimed less than ``orphan_grace_s`` ago are left alone:
  their worker may be about to send its Originate.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ivr import callback_store as store
from ivr.callback_notes import TOKEN_PREFIX
from ivr.callbacks import (
    RESERVE_REASON,
    Facts,
    Member,
    Plan,
    Policy,
    QueueState,
    WaitingCaller,
    dial_string,
    next_wake,
    outcome,
    plan,
)
from telephony.ami import AmiConsumer, AmiError, AmiNotConnected, Fields

log = logging.getLogger("ivr.callback_worker")

PREFIX = TOKEN_PREFIX  # ChannelId of callback attempts: hlcb-<callback id>-<random>
_QUEUE_EVENTS = frozenset({
    "QueueCallerJoin", "QueueCallerLeave", "QueueCallerAbandon", "QueueMemberStatus",
    "QueueMemberPause", "QueueMemberAdded", "QueueMemberRemoved", "AgentConnect",
})
_ATTEMPT_EVENTS = frozenset({"DialBegin", "DialEnd", "Hangup", "Newchannel"})
_JOINED_MEMORY = 50_000
_MAX_ID_DIGITS = 19  # a BigInteger
_EARLY_MEMORY = 256
STALE_AFTER_S = 120.0  # beyond the agent ring: an attempt this quiet is looked up


@dataclass(frozen=True, kw_only=True)
class WorkerConfig:
    """The worker's settings (see ``hotline.settings``: ``callback_*``)."""

    context: str = "outbound"
    caller_id: str = '"Hotline" <4008001234>'
    agent_ring_s: float = 20.0
    poll_s: float = 1.0
    orphan_grace_s: float = 10.0
    region: str = "CN"
    policy: Policy = field(default_factory=Policy)

    @classmethod
    def from_settings(cls, settings: Any) -> WorkerConfig:
        numbers = list(settings.hotline_numbers) or ["4008001234"]
        name = str(getattr(settings, "dial_caller_name", "Hotline")).replace('"', "")
        return cls(
            context=settings.callback_context, caller_id=f'"{name}" <{numbers[0]}>',
            agent_ring_s=float(settings.callback_agent_ring_s),
            poll_s=float(settings.callback_poll_s),
            orphan_grace_s=float(settings.callback_orphan_grace_s),
            region=settings.default_region,
            policy=Policy(max_attempts=settings.callback_max_attempts,
                          retry_s=float(settings.callback_retry_s),
                          agent_retry_s=float(settings.callback_agent_retry_s)),
        )


def claimed_callback(token: str) -> int | None:
    """The callback a claim token names (``hlcb-<callback id>-<random>``: an attempt's
    ChannelId, so the Linkedid of its calls), or None for any other Linkedid."""
    if not token.startswith(PREFIX):
        return None
    digits = token[len(PREFIX):].partition("-")[0]
    if not digits.isascii() or not digits.isdigit() or len(digits) > _MAX_ID_DIGITS:
        return None
    return int(digits)


def task_cancelling() -> bool:
    """Whether the running task was asked to stop: a cancellation landing in a database
    call can surface as another error (``PendingRollbackError``), which a loop that logs
    a failed round and goes on would swallow, and its ``close()`` wait for ever (as
    ``hotline.cancelling``, which ``ivr`` may not import)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


class AmiFanout:
    """An AMI consumer handing everything to several consumers, in order (the tracker
    feed first); one consumer's failure never keeps the others from an event."""

    def __init__(self, first: AmiConsumer) -> None:
        self._consumers: list[AmiConsumer] = [first]

    def add(self, consumer: AmiConsumer) -> None:
        self._consumers.append(consumer)

    def remove(self, consumer: AmiConsumer) -> None:
        with contextlib.suppress(ValueError):
            self._consumers.remove(consumer)

    def _each(self, call: Callable[[AmiConsumer], None]) -> None:
        for consumer in tuple(self._consumers):
            try:
                call(consumer)
            except Exception:
                log.exception("AMI consumer %s failed", type(consumer).__name__)

    def on_event(self, msg: Mapping[str, str]) -> None:
        self._each(lambda c: c.on_event(msg))

    def on_connected(self) -> None:
        self._each(lambda c: c.on_connected())

    def on_disconnected(self) -> None:
        self._each(lambda c: c.on_disconnected())

    def on_resync_begin(self) -> None:
        self._each(lambda c: c.on_resync_begin())

    def on_resync_end(self) -> None:
        self._each(lambda c: c.on_resync_end())


@dataclass
class _Attempt:
    """One dial in flight (ours, or adopted after a restart)."""

    token: str
    callback_id: int
    agent: str
    started_at: datetime
    queue: str | None = None
    action_id: str | None = None
    seen: bool = False  # any event of its channels arrived
    checked_at: float = 0.0
    adopted: bool = False
    concluding: bool = False
    originate_failed: str | None = None
    refused: bool = False
    agent_answered: bool = False
    customer_dialled: bool = False
    dial_status: str | None = None
    customer_answered: bool = False
    ended: bool = False
    cut: bool = False

    def facts(self) -> Facts:
        return Facts(originate_failed=self.originate_failed, refused=self.refused,
                     agent_answered=self.agent_answered,
                     customer_dialled=self.customer_dialled, dial_status=self.dial_status,
                     customer_answered=self.customer_answered, ended=self.ended, cut=self.cut)


def _utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _int(value: str | None, default: int = 0) -> int:
    try:
        return int(value or default)
    except ValueError:
        return default


def queue_state(name: str, items: Iterable[Mapping[str, str]], joined: Mapping[str, float],
                now: float) -> QueueState | None:
    """A QueueStatus answer as the pure ``QueueState`` (None: no such queue). Join
    times are when we saw QueueCallerJoin; for callers who joined before we were
    listening, now minus their ``Wait``."""
    found = False
    callers: list[WaitingCaller] = []
    members: list[Member] = []
    for item in items:
        if item.get("Queue") != name:
            continue
        event = item.get("Event")
        if event == "QueueParams":
            found = True
        elif event == "QueueMember":
            members.append(Member(
                interface=item.get("Location", "") or item.get("Interface", ""),
                name=item.get("Name", "") or item.get("MemberName", ""),
                status=_int(item.get("Status"), -1), paused=item.get("Paused") == "1",
                reason=item.get("PausedReason", "")))
        elif event == "QueueEntry":
            uid = item.get("Uniqueid", "")
            at = joined.get(uid, now - _int(item.get("Wait")))
            callers.append(WaitingCaller(uniqueid=uid, joined_at=_utc(at),
                                         priority=_int(item.get("Priority"))))
    if not found:
        return None
    return QueueState(name=name, callers=tuple(callers), members=tuple(members))


class AmiLink(Protocol):
    """What the worker needs of the AMI link: ``telephony.ami.AmiClient``, or the
    fenced view of it that the app gives the AMI owner (``hotline.ownership.FencedAmi``)."""

    @property
    def connected(self) -> bool: ...

    @property
    def ready(self) -> bool: ...

    async def send_action(self, action: str, fields: Fields | None = None, *,
                          timeout: float | None = None,  # noqa: ASYNC109 (AmiClient API)
                          ) -> dict[str, str]: ...

    async def send_list_action(self, action: str, fields: Fields | None = None, *,
                               timeout: float | None = None,  # noqa: ASYNC109
                               ) -> list[dict[str, str]]: ...

    async def originate(self, **fields: str | int | Iterable[str]) -> dict[str, str]: ...


class CallbackWorker:
    """Dials callbacks whose place in line has come; see the module docstring."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], ami: AmiLink,
                 config: WorkerConfig, *, clock: Callable[[], float] = time.time) -> None:
        self._sm = sessionmaker
        self._ami = ami
        self.config = config
        self._clock = clock
        self._inflight: dict[str, _Attempt] = {}
        self._by_action: dict[str, _Attempt] = {}
        self._outcomes: list[_Attempt] = []
        self._joined: dict[str, float] = {}  # caller Uniqueid -> when it joined a queue
        # OriginateResponse events that came before ``originate()`` returned their ActionID
        self._early: dict[str, Mapping[str, str]] = {}
        self._held: set[str] = set()  # queues where we hold (paused) members
        self._wakeup = asyncio.Event()
        self._has_waiting = True  # until the first look says otherwise
        self._recover = True  # look for orphans and stale holds at the next step
        self._check_at = 0.0
        self._next_due: float | None = None
        self._task: asyncio.Task[None] | None = None
        self.stats: dict[str, int] = dict.fromkeys(
            ("steps", "dials", "adopted", "interrupted", "released", "errors"), 0)

    # ------------------------------------------------------------ AMI consumer

    def on_event(self, msg: Mapping[str, str]) -> None:
        """From the AMI reader: must stay cheap (dict lookups, no I/O)."""
        name = msg.get("Event", "")
        if name in _QUEUE_EVENTS:
            self._queue_event(name, msg)
        elif name in _ATTEMPT_EVENTS:
            lid = msg.get("Linkedid", "")
            if lid.startswith(PREFIX):
                attempt = self._inflight.get(lid)
                if attempt is not None:
                    self._attempt_event(attempt, name, msg)
        elif name == "OriginateResponse":
            self._originate_response(msg)

    def on_connected(self) -> None:
        self._recover = True
        self.wake()

    def on_disconnected(self) -> None:
        for attempt in self._inflight.values():
            attempt.cut = True  # its events during the outage are lost to us

    def on_resync_begin(self) -> None:
        pass

    def on_resync_end(self) -> None:
        pass

    def wake(self) -> None:
        """Look again now (a new request, a changed queue, an outcome)."""
        self._wakeup.set()

    def _queue_event(self, name: str, msg: Mapping[str, str]) -> None:
        uid = msg.get("Uniqueid", "")
        if name == "QueueCallerJoin" and uid:
            if len(self._joined) >= _JOINED_MEMORY:
                self._joined.pop(next(iter(self._joined)))
            self._joined[uid] = self._event_time(msg)
        elif name in ("QueueCallerLeave", "QueueCallerAbandon"):
            self._joined.pop(uid, None)
        if self._has_waiting or self._held:
            self.wake()

    def _event_time(self, msg: Mapping[str, str]) -> float:
        with contextlib.suppress(ValueError):
            stamp = float(msg.get("Timestamp", "") or "nan")
            if 0 < stamp < 32_503_680_000:
                return stamp
        return self._clock()

    def _attempt_event(self, attempt: _Attempt, name: str, msg: Mapping[str, str]) -> None:
        attempt.seen = True
        # only the origin channel dials the customer; the agent's phone is dialled by
        # its partner half (token;2), a leg of the agent's side
        customer_leg = "Channel" in msg and msg.get("Uniqueid") == attempt.token
        if name == "DialBegin" and customer_leg:
            attempt.customer_dialled = True
        elif name == "DialEnd" and customer_leg:
            attempt.dial_status = msg.get("DialStatus", "") or "UNKNOWN"
        elif name == "Hangup" and msg.get("Uniqueid") == attempt.token:
            attempt.ended = True
        self._maybe_done(attempt)

    def _originate_response(self, msg: Mapping[str, str]) -> None:
        action_id = msg.get("ActionID", "")
        attempt = self._by_action.get(action_id)
        if attempt is None:
            attempt = self._inflight.get(msg.get("Uniqueid", ""))
        if attempt is None:
            # the reply and this event may come in one read, before ``originate()``
            # hands us the ActionID: keep it a moment (any Originate's, so bounded)
            if action_id:
                if len(self._early) >= _EARLY_MEMORY:
                    self._early.pop(next(iter(self._early)))
                self._early[action_id] = msg
            return
        self._apply_originate_response(attempt, msg)

    def _apply_originate_response(self, attempt: _Attempt, msg: Mapping[str, str]) -> None:
        attempt.seen = True
        if msg.get("Response", "").lower() == "failure":
            attempt.originate_failed = msg.get("Reason", "") or "0"
            self._maybe_done(attempt)
        else:
            attempt.agent_answered = True

    def _maybe_done(self, attempt: _Attempt) -> None:
        if not attempt.concluding and outcome(attempt.facts()) is not None:
            attempt.concluding = True
            self._outcomes.append(attempt)
            self.wake()

    # ------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="callback-worker")

    async def close(self) -> None:
        """Stop; attempts in flight stay "dialing" for the next run to adopt. Members we
        hold are released (best effort: the next run releases what is left)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._ami.connected and self._held:
            with contextlib.suppress(AmiError, OSError, TimeoutError):
                async with asyncio.timeout(2.0):
                    await self._release_all_holds()

    async def _run(self) -> None:
        while True:
            delay = self.config.poll_s
            if self._next_due is not None:
                delay = min(delay, max(0.0, self._next_due - self._clock()))
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._wakeup.wait()
            self._wakeup.clear()
            if not self._ami.ready:  # logged in to a PBX still loading app_queue: wait
                continue
            try:
                await self.step()
            except asyncio.CancelledError:
                raise
            except Exception:  # a database or PBX hiccup must not end the worker
                if task_cancelling():
                    raise asyncio.CancelledError from None
                self.stats["errors"] += 1
                log.warning("callback step failed", exc_info=True)
                await asyncio.sleep(min(self.config.poll_s, 1.0))

    # ------------------------------------------------------------------ a step

    async def step(self) -> None:
        """One look at the callbacks and the PBX (see the module docstring)."""
        self.stats["steps"] += 1
        await self._write_outcomes()
        if self._recover or self._clock() >= self._check_at:
            await self._check_dialing()
        rows = await store.waiting_rows(self._sm)
        self._has_waiting = bool(rows)
        now = _utc(self._clock())
        pending = [w.pending for w in rows]
        due = next_wake(pending, now)
        self._next_due = None if due is None else due.timestamp()
        queues = sorted({p.queue for p in pending if p.due(now)} | self._held)
        if not queues:
            return
        by_id = {w.pending.id: w for w in rows}
        busy = {a.agent for a in self._inflight.values()}
        for queue in queues:
            items = await self._ami.send_list_action("QueueStatus", {"Queue": queue})
            state = queue_state(queue, items, self._joined, self._clock())
            if state is None:
                log.warning("callbacks wait for queue %r, which the PBX does not know", queue)
                self._held.discard(queue)
                continue
            decided = plan(state, pending, now, busy=frozenset(busy))
            await self._apply(queue, state, decided, by_id, busy)

    async def _apply(self, queue: str, state: QueueState, decided: Plan,
                     by_id: dict[int, store.Waiting], busy: set[str]) -> None:
        held = {m.interface for m in state.members if m.reserved}
        for interface in decided.reserve:
            await self._pause(queue, interface, True)
            held.add(interface)
        for interface in decided.release:
            await self._pause(queue, interface, False)
            held.discard(interface)
        for dial in decided.dials:
            busy.add(dial.interface)
            await self._dial(by_id[dial.callback_id], queue, dial.interface)
            if dial.interface in held:  # ours now: let the queue have them after this call
                await self._pause(queue, dial.interface, False)
                held.discard(dial.interface)
        if held:
            self._held.add(queue)
        else:
            self._held.discard(queue)

    async def _pause(self, queue: str, interface: str, paused: bool) -> None:
        fields = {"Interface": interface, "Queue": queue, "Paused": str(paused).lower()}
        if paused:
            fields["Reason"] = RESERVE_REASON
        try:
            await self._ami.send_action("QueuePause", fields)
        except AmiNotConnected:
            raise
        except AmiError as exc:  # the member left the queue meanwhile: nothing to hold
            log.info("QueuePause %s in %s (%s): %s", interface, queue, paused, exc)

    async def _release_all_holds(self) -> None:
        items = await self._ami.send_list_action("QueueStatus")
        for item in items:
            if (item.get("Event") == "QueueMember" and item.get("Paused") == "1"
                    and item.get("PausedReason") == RESERVE_REASON):
                await self._pause(item.get("Queue", ""), item.get("Location", ""), False)
        self._held.clear()

    # -------------------------------------------------------------- dialling

    async def _dial(self, row: store.Waiting, queue: str, interface: str) -> None:
        callback_id = row.pending.id
        token = f"{PREFIX}{callback_id}-{secrets.token_hex(5)}"
        now = _utc(self._clock())
        if not await store.claim(self._sm, callback_id, seen=row.claim, token=token,
                                 agent=interface, now=now):
            return  # another worker has it
        attempt = _Attempt(token, callback_id, interface, now, queue=queue,
                           checked_at=self._clock())
        self._inflight[token] = attempt
        self.stats["dials"] += 1
        digits = dial_string(row.phone, self.config.region)
        if digits is None:  # cannot happen for a stored (normalised) number; be safe
            attempt.dial_status, attempt.concluding = "INVALIDNUMBER", True
            self._outcomes.append(attempt)
            return
        fields: dict[str, str | list[str]] = {
            "Channel": interface, "Context": self.config.context, "Exten": digits,
            "Priority": "1", "CallerID": self.config.caller_id,
            "Timeout": str(int(self.config.agent_ring_s * 1000)), "Async": "true",
            "ChannelId": token, "OtherChannelId": f"{token};2",
            # HOTLINE_DIALLED: the tracker knows the number (the agent's pop) while the
            # agent's phone rings, not only from the OriginateResponse once answered
            "Variable": [f"HOTLINE_CALLBACK_ID={callback_id}", f"HOTLINE_CALLBACK={token}",
                         f"HOTLINE_DIALLED={digits}"],
        }
        try:
            reply = await self._ami.originate(**fields)
        except AmiNotConnected as exc:
            if exc.__cause__ is None:  # refused before a byte left: nothing was dialled
                self._forget(attempt)
                await store.release(self._sm, callback_id, token=token,
                                    now=_utc(self._clock()), why=str(exc))
                self.stats["released"] += 1
            else:  # the link died with the Originate pending: result unknown
                attempt.cut = True
                self._recover = True
            return
        except AmiError as exc:
            if exc.response is not None:  # "Response: Error": the PBX did not place it
                attempt.refused = True
                self._maybe_done(attempt)
            else:  # no reply in time: it may be ringing; its events or a lookup will say
                attempt.cut = True
            log.warning("callback %s: Originate to %s: %s", callback_id, interface, exc)
            return
        attempt.action_id = reply.get("ActionID")
        if attempt.action_id:
            self._by_action[attempt.action_id] = attempt
            early = self._early.pop(attempt.action_id, None)
            if early is not None:
                self._apply_originate_response(attempt, early)

    def _forget(self, attempt: _Attempt) -> None:
        self._inflight.pop(attempt.token, None)
        if attempt.action_id is not None:
            self._by_action.pop(attempt.action_id, None)

    async def _write_outcomes(self) -> None:
        while self._outcomes:
            attempt = self._outcomes[0]
            result = outcome(attempt.facts())
            if result is None:  # cannot happen: queued only once decided
                self._outcomes.pop(0)
                continue
            detail: dict[str, Any] = {}
            if attempt.dial_status:
                detail["dial_status"] = attempt.dial_status
            if attempt.originate_failed is not None:
                detail["originate_reason"] = attempt.originate_failed
            if attempt.adopted:
                detail["adopted"] = True
            step = await store.finish(
                self._sm, attempt.callback_id, token=attempt.token, result=result,
                now=_utc(self._clock()), policy=self.config.policy, agent=attempt.agent,
                started_at=attempt.started_at, detail=detail)
            self._outcomes.pop(0)
            self._forget(attempt)
            if step is not None:
                log.info("callback %s: %s -> %s", attempt.callback_id, result, step.state)

    # ---------------------------------------------------- restart and outages

    async def _check_dialing(self) -> None:
        """Look up "dialing" rows that are not ours, our attempts we lost sight of or
        that went quiet, and members left held by an earlier run."""
        now = self._clock()
        recovering, self._recover = self._recover, False
        self._check_at = now + max(self.config.orphan_grace_s, self.config.poll_s)
        if recovering:
            await self._find_old_holds()
        rows = await store.dialing_rows(self._sm)
        orphans = [r for r in rows if r.claim not in self._inflight]
        stale = now - self.config.agent_ring_s - STALE_AFTER_S
        doubtful = [a for a in self._inflight.values() if not a.concluding and (
            a.cut or a.checked_at < stale)]
        if not orphans and not doubtful:
            return
        channels = await self._ami.send_list_action("CoreShowChannels")
        by_call: dict[str, list[Mapping[str, str]]] = {}
        for chan in channels:
            by_call.setdefault(chan.get("Linkedid", ""), []).append(chan)
        for row in orphans:
            live = by_call.get(row.claim) if row.claim else None
            if live:
                self._adopt(row, live, now)
            elif now - row.updated_at.timestamp() >= self.config.orphan_grace_s:
                attempt = _Attempt(row.claim, row.id, row.agent_interface or "",
                                   row.updated_at, adopted=True, ended=True, cut=True)
                self._inflight[row.claim] = attempt
                self.stats["interrupted"] += 1
                self._maybe_done(attempt)
        for attempt in doubtful:
            live = by_call.get(attempt.token)
            attempt.checked_at = now
            if live:
                self._learn(attempt, live)
                attempt.cut = False  # from here on we see its events again
                self._maybe_done(attempt)
            elif attempt.cut or attempt.seen:
                attempt.ended, attempt.cut = True, True
                self.stats["interrupted"] += 1
                self._maybe_done(attempt)
            else:  # link up all along and not one event: the PBX never made the call
                attempt.refused = True
                self._maybe_done(attempt)

    def _adopt(self, row: store.Dialing, live: list[Mapping[str, str]], now: float) -> None:
        attempt = _Attempt(row.claim, row.id, row.agent_interface or "", row.updated_at,
                           adopted=True, seen=True, checked_at=now)
        self._inflight[row.claim] = attempt
        self._learn(attempt, live)
        self.stats["adopted"] += 1
        log.info("callback %s: adopted its live attempt %s", row.id, row.claim)
        self._maybe_done(attempt)

    def _learn(self, attempt: _Attempt, live: list[Mapping[str, str]]) -> None:
        """What a CoreShowChannels snapshot says of an attempt: a channel of the call
        other than the agent's pair is the customer's leg; up means answered."""
        ours = {attempt.token, f"{attempt.token};2"}
        for chan in live:
            if chan.get("Uniqueid") in ours:
                continue
            attempt.customer_dialled = True
            if chan.get("ChannelState") == "6":
                attempt.customer_answered = True

    async def _find_old_holds(self) -> None:
        """Queues where members are still paused with our reason (a previous run)."""
        items = await self._ami.send_list_action("QueueStatus")
        for item in items:
            if (item.get("Event") == "QueueMember" and item.get("Paused") == "1"
                    and item.get("PausedReason") == RESERVE_REASON and item.get("Queue")):
                self._held.add(item["Queue"])

    # ----------------------------------------------------------------- views

    def in_flight(self) -> dict[str, int]:
        """Attempts being followed: token -> callback id."""
        return {token: a.callback_id for token, a in self._inflight.items()}

