"""The IVR runtime: one FastAGI session runs one flow (the adapter around ``ivr.flow_engine``).

What a call does (DESIGN.md "How data flows" 3): the dialplan runs
``AGI(agi://host:4573/hotline?did=${EXTEN})``; the runtime finds the dialled number in
the number plan (an unknown number runs the default flow: never silence), loads its
flow and walks it with a ``FlowRun``, performing each action on a ``Channel``:

- ``Play`` -> ``STREAM FILE hotline/<lang>/<prompt_id>``; ``Say`` -> the word prompts of
  ``ivr.speech`` (``hotline/<zh|en>/digit_2``...), each a ``STREAM FILE`` too: Asterisk's
  own ``SAY`` commands play its core sounds, which have no Chinese. The prompts take the
  batch's escape keys (``FlowRun.escape``: the keys of the input that may follow; none
  before a hand-off): a caller who knows the menu presses early, the prompt stops, the
  prompts up to the next input are skipped and that key is its first (type-ahead kept
  across a lookup or an action, so a key pressed during the greeting answers the menu);
- ``CollectDigits`` -> ``WAIT FOR DIGIT`` (one key) or ``GET DATA`` (several, reading
  the terminator too: ``GET DATA`` stops at ``#``, but only while it still reads);
- ``Lookup`` -> the caller's 360 view (``crm_core.lookup`` through a held
  ``LookupReader``), plus the account manager's agent interface;
- ``SelfService`` -> ``ivr.services``; ``SetRouting``/``HandOff`` -> ``ivr.routing``.

What the dialplan and the call log get are channel variables (``SET VARIABLE``): ``QUEUE``,
the queue priority as ``QUEUE_PRIO`` (what ``Queue()`` reads; never ``PRIORITY``: that is
Asterisk's built-in current dialplan priority, a variable of that name cannot be read
back), ``HOTLINE_PREFERRED_AGENT``, ``HOTLINE_SKILL``, ``HOTLINE_CUSTOMER_ID``,
``HOTLINE_IVR_PATH`` (step ids and inputs, comma-separated), ``HOTLINE_ENTRY``
(``kind:label`` of the dialled number) and, at the hand-off, ``HOTLINE_DIGITS`` (the keys
entered, comma-separated per input; the path has them too) and ``HOTLINE_ACTION`` (queue |
hangup | dialplan; deploy/asterisk's dialplan hangs up on ``hangup``). The tracker copies
them from AMI ``VarSet`` into the call's ``ivr`` (screen pop, call log).

Rules:
- the variables are (re)published, changed ones only, BEFORE each batch of actions: a
  caller who hangs up mid-menu leaves the path so far on the channel, so the call log
  still has it, and an IVR that dies mid-flow leaves the queue and priority it had
  decided for the dialplan (fail open); the finished run is also logged and kept in
  ``IvrRuntime.recent``;
- a hang-up (EOF, ``HANGUP``, 511) or a stalled PBX (command timeout) ends the run
  cleanly: ``FlowRun`` gets ``Hangup``, nothing is raised to the AGI server;
- a missing sound never fails a call. res_agi answers ``STREAM FILE`` of a file it cannot
  open with ``200 result=-1`` AND counts the command as failed, so the AGI() ends with
  AGISTATUS=FAILURE (the call log's ``HOTLINE_AGI``) however well the flow went. So each
  sound is looked up first, once per ``SOUND_TTL_S`` per runtime (``SoundCheck``: Asterisk
  evaluates ``STAT(e,...)`` of the file under ``${ASTDATADIR}/sounds``, for the formats
  ``SOUND_FORMATS``), and a missing one is skipped and logged. When the lookup cannot
  answer (no func_env) the file is streamed; its ``result=-1`` is the same as a caller
  hanging up mid-prompt, so the run just goes on: a caller who is gone makes the next
  command end in ``HANGUP``/EOF/511 (res_agi sends ``HANGUP`` once the channel is down);
- a failing lookup is an unknown caller, a failing action is a not-ok result, a broken
  flow document is the default flow, a bug is a hand-back to the dialplan (fail open);
- caller-controlled text (caller name, keys) never reaches a command unchecked: keys are
  reduced to ``0-9 * # A-D`` (anything else becomes ``x``), variable values lose their
  control characters, prompt ids must be plain file names.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from collections import Counter, deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from crm_core.lookup import Db, lookup_360, view_360
from crm_core.models import User
from ivr.agi import AgiCommandTimeout, AgiError, AgiSession
from ivr.agi_protocol import AgiReply
from ivr.default_flow import PROMPTS
from ivr.flow import Flow
from ivr.flow_engine import (
    DEFAULT_TZ,
    Action,
    ActionResult,
    CollectDigits,
    DtmfReceived,
    Event,
    FlowRun,
    HandOff,
    Hangup,
    Lookup,
    LookupResult,
    Play,
    Say,
    SelfService,
    SetRouting,
    Timeout,
)
from ivr.number_plan import Entry, unknown_entry
from ivr.routing import AgentFree, AgentPresence, Routing, decide, flow_customer, nobody_free
from ivr.services import WRITES, ServiceContext, ServiceResult, run_action
from ivr.speech import SAY_PROMPTS, say, speech_lang
from ivr.store import builtin_flow, load_flow, resolve_number

log = logging.getLogger("ivr.runtime")

DTMF_KEYS = "0123456789*#ABCD"
LOOKUP_TIMEOUT_S = 2.0  # one attempt at the caller's record
# all attempts: the caller hears the greeting meanwhile, and a known caller served as a
# stranger (no VIP queue, no account manager) is worse than a few seconds more
LOOKUP_BUDGET_S = 8.0
LOOKUP_BACKOFF_S = 0.5
SERVICE_TIMEOUT_S = 8.0
FLOW_TTL_S = 5.0
MANAGER_TTL_S = 30.0
MAX_INPUT = 64
MAX_VALUE = 1000
PUBLISHED_PATH = 120  # steps kept in HOTLINE_IVR_PATH (the newest)
RECENT_CALLS = 200
VARIABLES = ("HOTLINE_ENTRY", "HOTLINE_IVR_PATH", "HOTLINE_CUSTOMER_ID", "QUEUE", "QUEUE_PRIO",
             "HOTLINE_PREFERRED_AGENT", "HOTLINE_SKILL", "HOTLINE_DIGITS", "HOTLINE_ACTION",
             "HOTLINE_DEGRADED")
"""The channel variables the IVR sets (the tracker copies these names into the call)."""
_PROMPT_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")
_GET_DATA = re.compile(r"^result=(?P<keys>\S*)\s*(?:\((?P<flag>[^)]*)\))?")
SOUND_TTL_S = 60.0
SOUND_FORMATS = ("wav", "gsm", "ulaw", "alaw", "sln", "sln16", "g722")
"""File extensions a sound is looked for with: ``hotline prompts build`` writes ``wav``;
recordings a site puts in its place may come in the others Asterisk plays."""
MAX_PROBE = 1500  # characters of one lookup command (res_agi reads lines of 2 KB)


class ChannelGone(Exception):
    """The caller is gone (a channel that is not AGI says so with this)."""


# --- pure helpers ----------------------------------------------------------------------------

def clean_keys(raw: object) -> str:
    """Keys as the flow sees them: DTMF characters kept, anything else ``x``, capped."""
    text = raw if isinstance(raw, str) else ""
    return "".join(c if c in DTMF_KEYS else "x" for c in text[:MAX_INPUT])


def clean_value(value: object) -> str:
    """A channel variable's value: printable text only (no command injection), capped."""
    text = "" if value is None else str(value)
    if text.isprintable():  # the usual case, without a pass per character
        return text[:MAX_VALUE]
    return "".join(c if c.isprintable() else " " for c in text)[:MAX_VALUE]


def key_of(result: int | None) -> str | None:
    """The key of a ``STREAM FILE``/``WAIT FOR DIGIT`` result (its ASCII code), None if none."""
    if result is None or result <= 0:
        return None
    char = chr(result) if result < 0x110000 else "x"
    return char if char in DTMF_KEYS else "x"


def get_data_event(reply: AgiReply) -> DtmfReceived | Timeout:
    """``200 result=123 (timeout)`` -> keys; nothing keyed, ``-1`` or a refusal -> Timeout.

    The text is read, not ``reply.result``: keys are not an integer (``0123``, ``12*3``).
    """
    if not reply.ok:
        return Timeout()
    match = _GET_DATA.match(reply.text.strip())
    keys = match.group("keys") if match else ""
    timed_out = bool(match and match.group("flag") == "timeout")
    if keys == "-1" or (not keys and timed_out):
        return Timeout()
    return DtmfReceived(clean_keys(keys))


def sound_file(prompt_id: str, lang: str) -> str | None:
    """``hotline/<lang>/<prompt_id>``, or None for an id that is not a plain file name."""
    if not _PROMPT_ID.match(prompt_id) or not _PROMPT_ID.match(lang):
        return None
    return f"hotline/{lang}/{prompt_id}"


def prompt_text(prompt_id: str, lang: str) -> str:
    texts = PROMPTS.get(prompt_id) or SAY_PROMPTS.get(prompt_id, {})
    return texts.get(lang) or texts.get("en") or ""


def sound_files(item: Play | Say) -> list[str]:
    """The sound files that speak one action, in order (nothing for an unusable one)."""
    if isinstance(item, Play):
        name = sound_file(item.prompt_id, item.lang)
        if name is None:
            log.warning("IVR: prompt id %r is not a file name; not played", item.prompt_id)
        return [name] if name is not None else []
    lang = speech_lang(item.lang)
    return [f for f in (sound_file(i, lang) for i in say(item.kind, item.value, lang) or [])
            if f is not None]


def stat_expression(names: Sequence[str]) -> str:
    """What ``GET FULL VARIABLE`` evaluates to look ``names`` up: per name, one
    ``STAT(e,...)`` (0 or 1) per format, names separated by ``|``."""
    return "|".join("".join(f"${{STAT(e,${{ASTDATADIR}}/sounds/{name}.{ext})}}"
                            for ext in SOUND_FORMATS) for name in names)


def stat_answer(value: str | None, count: int) -> list[bool | None]:
    """``stat_expression``'s value -> per name: found, missing, or None (no answer: STAT
    unknown to that Asterisk gives empty text, a garbled reply anything)."""
    parts = (value or "").split("|")
    if len(parts) != count:
        return [None] * count
    out: list[bool | None] = []
    for part in parts:
        if len(part) != len(SOUND_FORMATS) or part.strip("01"):
            out.append(None)
        else:
            out.append("1" in part)
    return out


class SoundCheck:
    """Which sound files the PBX has, each asked once per ``ttl_s`` (runtime docstring):
    a prompt built or recorded later is played by the calls after that."""

    def __init__(self, ttl_s: float = SOUND_TTL_S) -> None:
        self.ttl_s = ttl_s
        self._known: dict[str, tuple[float, bool]] = {}
        self.skipped: Counter[str] = Counter()

    def unknown(self, names: Sequence[str]) -> list[str]:
        now = time.monotonic()
        out: list[str] = []
        for name in names:
            hit = self._known.get(name)
            if (hit is None or hit[0] <= now) and name not in out:
                out.append(name)
        return out

    def learn(self, name: str, found: bool | None) -> None:
        """What the PBX said; None (it could not tell) counts as there: streamed, and not
        asked again for ``ttl_s`` either (no lookup per call on such a PBX)."""
        if len(self._known) > 10_000:
            self._known.clear()
        if found is False and self._known.get(name, (0.0, True))[1]:
            log.warning("IVR: sound %s is missing on the PBX: not played (hotline prompts "
                        "build writes it)", name)
        self._known[name] = (time.monotonic() + self.ttl_s, found is not False)

    def playable(self, name: str) -> bool:
        """False only for a file the PBX said it does not have."""
        hit = self._known.get(name)
        if hit is not None and not hit[1]:
            self.skipped[name] += 1
            return False
        return True


@dataclass(frozen=True)
class CallFacts:
    """What the PBX told us about the call."""

    did: str
    caller: str
    caller_name: str
    uniqueid: str | None = None
    lang: str | None = None


def _known(value: str | None) -> str:
    value = (value or "").strip()
    return "" if value.lower() in ("unknown", "<unknown>", "anonymous") else value


def call_facts(env: Mapping[str, str], params: Mapping[str, str]) -> CallFacts:
    """The dialled number (``?did=`` of the AGI URL, else the DNID, else the extension),
    the caller's number and name, the channel id and a language asked for (``?lang=``)."""
    did = _known(params.get("did")) or _known(env.get("agi_dnid")) or _known(
        env.get("agi_extension"))
    return CallFacts(
        did=did, caller=_known(env.get("agi_callerid")),
        caller_name=clean_value(_known(env.get("agi_calleridname")))[:200],
        uniqueid=env.get("agi_uniqueid") or None, lang=params.get("lang") or None)


# --- the number plan and the flows -------------------------------------------------------

def entry_tag(entry: Entry) -> str:
    """``kind:label`` of the dialled number, as ``HOTLINE_ENTRY`` carries it."""
    return clean_value(f"{entry.kind}:{entry.label or ''}")[:200]


class FlowSource:
    """The number plan and the flows (``ivr.store``), each cached ``ttl_s`` (an edit
    applies to calls that start a few seconds later); many calls missing the cache at
    once share one read, and once an entry is known an expired one is answered at once
    while a read refreshes it (no caller waits on the database for it again). Any
    failure gives the default flow: never silence."""

    def __init__(self, engine: AsyncEngine, *, ttl_s: float = FLOW_TTL_S) -> None:
        self.sessions = async_sessionmaker(engine, expire_on_commit=False)
        self.ttl_s = ttl_s
        self._cache: dict[tuple[str, str], tuple[float, Any]] = {}
        self._inflight: dict[tuple[str, str], asyncio.Task[Any]] = {}

    async def entry(self, did: str) -> Entry:
        found = await self._cached(("entry", did), lambda: self._read_entry(did))
        return found if isinstance(found, Entry) else unknown_entry(did)

    async def flow(self, name: str) -> tuple[Flow, int]:
        found = await self._cached(("flow", name), lambda: self._read_flow(name))
        return found if found is not None else (builtin_flow(), 0)

    async def _cached(self, key: tuple[str, str], read: Callable[[], Awaitable[Any]]) -> Any:
        hit = self._cache.get(key)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.ensure_future(self._fill(key, read))
            self._inflight[key] = task
            task.add_done_callback(lambda _: self._inflight.pop(key, None))
        if hit is not None:  # stale: answer at once, the read refreshes it for later calls
            return hit[1]
        # shielded: one caller hanging up must not cancel the read the others wait on
        return await asyncio.shield(task)

    async def close(self) -> None:
        """Cancel reads still running (shutdown)."""
        tasks = list(self._inflight.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _fill(self, key: tuple[str, str], read: Callable[[], Awaitable[Any]]) -> Any:
        try:
            value = await read()
        except Exception:
            log.exception("IVR: reading %s %r failed; using the default", *key)
            value = None
        self._cache[key] = (time.monotonic() + self.ttl_s, value)
        return value

    async def _read_entry(self, did: str) -> Entry:
        async with self.sessions() as session:
            return await resolve_number(session, did)

    async def _read_flow(self, name: str) -> tuple[Flow, int]:
        async with self.sessions() as session:
            return await load_flow(session, name)


# --- channels --------------------------------------------------------------------------------

class Channel(Protocol):
    """Where a run's actions are performed: a FastAGI session, or a script (``ivr try``)."""

    async def play(self, items: Sequence[Play | Say], escape: str) -> str:
        """Play in order; a key of ``escape`` stops playback and is returned (any other
        key is lost, as Asterisk drops it)."""
        ...

    async def collect(self, collect: CollectDigits, first: str) -> DtmfReceived | Timeout:
        ...

    async def set_vars(self, changes: Mapping[str, str]) -> None: ...

    async def hangup(self) -> None: ...

    async def linkedid(self) -> str | None: ...


class AgiChannel:
    """A ``Channel`` on a FastAGI session (module docstring for the commands)."""

    def __init__(self, agi: AgiSession, sounds: SoundCheck | None = None) -> None:
        self.agi = agi
        self.sounds = sounds if sounds is not None else SoundCheck()

    async def play(self, items: Sequence[Play | Say], escape: str) -> str:
        files = [f for item in items for f in sound_files(item)]
        await self._look_up(files)
        for name in files:
            if not self.sounds.playable(name):
                continue
            reply = await self.agi.stream_file(name, escape)
            # result=-1: a file Asterisk could not open, or a caller hanging up: go on,
            # the next command tells (HANGUP, EOF or 511 when the caller is gone)
            key = key_of(reply.result) if reply.ok else None
            if key is not None and key in escape:
                return key
        return ""

    async def _look_up(self, files: Sequence[str]) -> None:
        """Ask the PBX about the files not known yet (a few per command)."""
        todo = self.sounds.unknown(files)
        while todo:
            batch = [todo.pop(0)]
            while todo and len(stat_expression([*batch, todo[0]])) <= MAX_PROBE:
                batch.append(todo.pop(0))
            reply = await self.agi.command("GET FULL VARIABLE", stat_expression(batch))
            value = reply.data if reply.ok and reply.result == 1 else None
            for name, found in zip(batch, stat_answer(value, len(batch)), strict=True):
                self.sounds.learn(name, found)

    async def collect(self, collect: CollectDigits, first: str) -> DtmfReceived | Timeout:
        most = collect.keys_to_read  # the terminator too: it must end GET DATA, not leak
        if first:
            if most <= 1 or first == "#":
                return DtmfReceived(first)
            rest = get_data_event(await self.agi.get_data("", collect.timeout_ms, most - 1))
            return DtmfReceived(first + (rest.digits if isinstance(rest, DtmfReceived) else ""))
        if most <= 1:
            reply = await self.agi.command("WAIT FOR DIGIT", collect.timeout_ms)
            key = key_of(reply.result) if reply.ok else None
            return DtmfReceived(key) if key is not None else Timeout()
        return get_data_event(await self.agi.get_data("", collect.timeout_ms, most))

    async def set_vars(self, changes: Mapping[str, str]) -> None:
        for name, value in changes.items():
            await self.agi.set_variable(name, value)

    async def hangup(self) -> None:
        await self.agi.hangup()

    async def linkedid(self) -> str | None:
        reply = await self.agi.command("GET FULL VARIABLE", "${CHANNEL(linkedid)}")
        if not reply.ok or reply.result != 1:
            return None
        return clean_value(reply.data)[:64] or None


# --- one run ---------------------------------------------------------------------------------

Trace = Callable[[str], None]


class IvrCall:
    """One caller's run of one flow on one channel."""

    def __init__(self, runtime: IvrRuntime, flow: Flow, version: int, entry: Entry,
                 facts: CallFacts, channel: Channel, started_at: datetime,
                 trace: Trace | None) -> None:
        self.rt = runtime
        self.flow = flow
        self.version = version
        self.entry = entry
        self.facts = facts
        self.channel = channel
        self.started_at = started_at
        self.trace = trace
        self.run = FlowRun(flow)
        self.digits: list[str] = []
        self.typed = ""  # a key pressed during a prompt, for the next input (type-ahead)
        self.published: dict[str, str] = {}
        self.degraded: set[str] = set()  # what failed and was worked around (lookup)
        self.ended = "running"

    # --- the loop ---

    async def walk(self) -> dict[str, Any]:
        context = {"caller": self.facts.caller, "lang": self.facts.lang,
                   "now": self.started_at, "timezone": self.rt.timezone,
                   "holidays": list(self.rt.holidays)}
        try:
            actions = self.run.start(context)
            while True:
                if not self.run.done:  # a hand-off publishes its own, final, values
                    await self._publish()
                event = await self._perform(actions)
                if self.run.done or event is None:
                    break
                actions = self.run.feed(event)
            self.ended = "handoff" if self.run.done else "stopped"
            if not self.run.done:  # the engine waits on nothing: hand the call back
                await self._finish(HandOff("dialplan"))
        except (AgiError, ChannelGone) as exc:
            self.run.feed(Hangup())
            self.ended = "timeout" if isinstance(exc, AgiCommandTimeout) else "hangup"
        except asyncio.CancelledError:
            self.ended = "cancelled"
            raise
        except Exception:
            log.exception("IVR: run of %s failed; handing the call back", self.flow.name)
            self.ended = "error"
            with contextlib.suppress(Exception):
                await self._finish(HandOff("dialplan"))
        return self.result()

    async def _perform(self, actions: list[Action]) -> Event | None:
        marks = list(self.run.marks)
        escape = self.run.escape  # the keys that stop this batch's prompts
        plays: list[Play | Say] = []
        for index, action in enumerate(actions):
            while marks and marks[0][0] <= index:
                self._trace(f"step {marks.pop(0)[1]}")
            if isinstance(action, Play | Say):
                self._trace_play(action)
                plays.append(action)
                continue
            if isinstance(action, SetRouting):  # decided when published: no I/O here
                self._say_routing(action)
                continue
            if isinstance(action, CollectDigits):
                await self._play(plays, escape)
                first, self.typed = self.typed, ""
                event = await self.channel.collect(action, first)
                self._note_input(action, event)
                return event
            if isinstance(action, HandOff):
                self.typed = ""  # nothing more is asked: what it plays, it plays through
                await self._play(plays, "")
                await self._finish(action)
                return None
            await self._play(plays, escape)
            plays = []
            if isinstance(action, Lookup):
                return LookupResult(await self._lookup(action))
            elif isinstance(action, SelfService):
                return await self._service(action)
        await self._play(plays, "")
        return None

    async def _play(self, items: list[Play | Say], escape: str) -> None:
        """Play ``items`` unless the caller already keyed ahead; a key that stops them is
        kept for the next input."""
        if items and not self.typed:
            self.typed = await self.channel.play(items, escape)
            if self.typed and self.trace is not None:
                self.trace(f"  key {self.typed!r} pressed during the prompt")

    def _trace(self, line: str) -> None:
        if self.trace is not None:
            self.trace(line)

    def _trace_play(self, item: Play | Say) -> None:
        if isinstance(item, Play):
            self._trace(f"  play {item.prompt_id} [{item.lang}] "
                        f"{prompt_text(item.prompt_id, item.lang)}")
        else:
            self._trace(f"  say {item.kind} {item.value} [{item.lang}]")

    def _note_input(self, action: CollectDigits, event: DtmfReceived | Timeout) -> None:
        if isinstance(event, DtmfReceived):
            event = DtmfReceived(clean_keys(event.digits))
            self.digits.append(event.digits)
        if self.trace is not None:
            got = "timeout" if isinstance(event, Timeout) else repr(event.digits)
            self.trace(f"  collect up to {action.max_digits} key(s), {action.timeout_ms} ms"
                       f" <- {got}")

    def _say_routing(self, action: SetRouting) -> None:
        if self.trace is not None:
            fields = {k: v for k, v in (("queue", action.queue), ("priority", action.priority),
                                        ("skill", action.skill),
                                        ("preferred_agent", action.preferred_agent))
                      if v is not None}
            self.trace(f"  route {json.dumps(fields, ensure_ascii=False)}")

    # --- lookups and actions ---

    async def _lookup(self, action: Lookup) -> dict[str, Any] | None:
        """The caller's record; a failing or slow database is tried again (growing pauses)
        while the budget lasts, then the caller counts as unknown: counted, logged, and
        marked on the call (``HOTLINE_DEGRADED=lookup``) so the pop and the call log
        say why a known caller was served as a stranger."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.rt.lookup_budget_s
        attempt = 0
        while True:
            attempt += 1
            left = deadline - loop.time()
            try:
                async with asyncio.timeout(max(0.05, min(LOOKUP_TIMEOUT_S, left))):
                    customer = await self._resolve(action)
                if attempt > 1:
                    self.rt.counts["lookup_recovered"] += 1
                    log.warning("IVR: caller lookup succeeded at attempt %d", attempt)
                break
            except Exception as exc:  # noqa: BLE001 - any failure: the IVR goes on
                why = type(exc).__name__ if isinstance(exc, TimeoutError) else repr(exc)
                pause = LOOKUP_BACKOFF_S * attempt
                if deadline - loop.time() <= pause:
                    self.rt.counts["lookup_failed"] += 1
                    log.warning("IVR: caller lookup failed %d time(s) (last: %s); the caller "
                                "is served as unknown", attempt, why)
                    self.degraded.add("lookup")
                    await self._publish({"HOTLINE_DEGRADED": ",".join(sorted(self.degraded))})
                    customer = None
                    break
                self.rt.counts["lookup_retried"] += 1
                log.warning("IVR: caller lookup attempt %d failed (%s); trying again",
                            attempt, why)
                await asyncio.sleep(pause)
        if self.trace is not None:
            if customer is None:
                self.trace(f"  lookup {action.kind} {action.value!r} -> unknown caller")
            else:
                self.trace(f"  lookup {action.kind} {action.value!r} -> customer "
                           f"{customer['id']} {customer.get('name')!r} tier "
                           f"{customer['vip_tier']}, {len(customer['open_tickets'])} open "
                           f"ticket(s), {len(customer['assets'])} asset(s), account manager "
                           f"{customer.get('account_manager') or '-'}")
        return customer

    async def _resolve(self, action: Lookup) -> dict[str, Any] | None:
        reader = self.rt.reader
        if action.kind in ("caller_number", "phone"):
            view = await lookup_360(reader, action.value, region=self.rt.region,
                                    interactions=0)
        elif action.kind == "customer_id" and action.value.isascii() and action.value.isdigit():
            view = await view_360(reader, int(action.value[:10]), interactions=0)
        else:
            return None
        owner = view.get("owner") if view.get("found") else None
        manager = None
        if isinstance(owner, Mapping) and isinstance(owner.get("id"), int):
            manager = await self.rt.manager_interface(owner["id"])
        return flow_customer(view, manager)

    async def _service(self, action: SelfService) -> ActionResult:
        routing = self.routing()
        linkedid = None
        if action.name in WRITES:  # what it writes names the call it came from
            linkedid = await self.channel.linkedid()
        ctx = ServiceContext(
            caller=self.facts.caller, customer=self.run.customer, queue=routing.queue,
            priority=routing.priority, linkedid=linkedid or self.facts.uniqueid,
            started_at=self.started_at, preferred_agent=routing.preferred_agent,
            region=self.rt.region)
        try:
            async with asyncio.timeout(SERVICE_TIMEOUT_S):
                result = await run_action(self.rt.sessions, action.name, action.args, ctx,
                                          commit=self.rt.commit)
        except TimeoutError:
            result = ServiceResult(False, {"error": "timeout"})
        self.rt.counts[f"service_{'ok' if result.ok else 'failed'}"] += 1
        if self.trace is not None:
            facts = {k: v for k, v in result.data.items() if k != "prompts"}
            wrote = " (rolled back: dry run)" if facts.get("wrote") and not self.rt.commit else ""
            self.trace(f"  self-service {action.name} {json.dumps(action.args)} -> "
                       f"{'ok' if result.ok else 'not ok'} "
                       f"{json.dumps(facts, ensure_ascii=False, default=str)}{wrote}")
        return ActionResult(action.name, result.ok, result.data)

    # --- routing and variables ---

    def routing(self) -> Routing:
        return decide(self.run.customer, self.entry.queue, self.run.routing, self.rt.agent_free)

    def variables(self) -> dict[str, str]:
        routing = self.routing()
        customer_id = (self.run.customer or {}).get("id")
        values = {
            "HOTLINE_ENTRY": entry_tag(self.entry),
            "HOTLINE_IVR_PATH": ",".join(self.run.path[-PUBLISHED_PATH:]),
            "HOTLINE_CUSTOMER_ID": "" if customer_id is None else str(customer_id),
            "QUEUE": routing.queue,
            "QUEUE_PRIO": str(routing.priority),
            "HOTLINE_PREFERRED_AGENT": routing.preferred_agent or "",
            "HOTLINE_SKILL": routing.skill or "",
        }
        return {k: clean_value(v) for k, v in values.items()}

    async def _publish(self, extra: Mapping[str, str] | None = None) -> None:
        wanted = {**self.variables(), **(extra or {})}
        changes = {k: v for k, v in wanted.items()
                   if self.published.get(k, "") != v}
        if changes:
            await self.channel.set_vars(changes)
            self.published.update(changes)

    async def _finish(self, handoff: HandOff) -> None:
        kind = handoff.kind if handoff.kind in ("queue", "hangup", "dialplan") else "dialplan"
        await self._publish({"HOTLINE_DIGITS": clean_value(",".join(self.digits)),
                             "HOTLINE_ACTION": kind})
        if self.trace is not None:
            self.trace(f"  hand-off {kind}")
        if kind == "hangup":
            await self.channel.hangup()

    def result(self) -> dict[str, Any]:
        routing = self.routing()
        run = self.run.result
        services = {name: {k: v for k, v in data.items() if k != "prompts"}
                    for name, data in run["vars"].items() if isinstance(data, dict)}
        return {
            "queue": routing.queue, "priority": routing.priority,
            "preferred_agent": routing.preferred_agent, "customer_id": run["customer_id"],
            "path": run["path"], "digits": list(self.digits), "entry": entry_tag(self.entry),
            "did": self.entry.number or self.facts.did, "skill": routing.skill,
            "outcome": run["outcome"] or "dialplan", "ended": self.ended,
            "flow": f"{self.flow.name or 'default'}@{self.version}",
            "services": services,
        }


# --- the runtime -----------------------------------------------------------------------------

class IvrRuntime:
    """Runs calls: the FastAGI handler (``handle``) and ``hotline ivr try`` (``call``)."""

    def __init__(
        self, engine: AsyncEngine, *, reader: Db | None = None,
        agent_free: AgentFree = nobody_free, region: str = "CN",
        clock: Callable[[], datetime] | None = None, commit: bool = True,
        timezone: str = DEFAULT_TZ, holidays: Sequence[str] = (),
        flows: FlowSource | None = None, sounds: SoundCheck | None = None,
        lookup_budget_s: float = LOOKUP_BUDGET_S,
    ) -> None:
        self.engine = engine
        self.lookup_budget_s = lookup_budget_s
        self.sessions = async_sessionmaker(engine, expire_on_commit=False)
        self.reader: Db = reader if reader is not None else engine
        self.agent_free = agent_free
        self.region = region
        self.clock = clock or (lambda: datetime.now(UTC))
        self.commit = commit
        self.timezone = timezone
        self.holidays = tuple(holidays)
        self.flows = flows or FlowSource(engine)
        self.sounds = sounds or SoundCheck()
        self.recent: deque[dict[str, Any]] = deque(maxlen=RECENT_CALLS)
        self.counts: Counter[str] = Counter()
        self._managers: dict[int, tuple[float, str | None]] = {}

    async def close(self) -> None:
        """Stop background reads (the app's cleanup calls this after the AGI server)."""
        await self.flows.close()

    async def handle(self, agi: AgiSession) -> None:
        """The ``AgiServer`` handler: one session, one run."""
        facts = call_facts(agi.env, agi.params)
        await self.call(facts, AgiChannel(agi, self.sounds))

    async def call(self, facts: CallFacts, channel: Channel, *,
                   trace: Trace | None = None) -> dict[str, Any]:
        started = self.clock()
        entry = await self.flows.entry(facts.did)
        flow, version = await self.flows.flow(entry.flow_name)
        if trace is not None:
            trace(f"call from {facts.caller or '(no number)'} to {facts.did or '(no DID)'}: "
                  f"entry {entry_tag(entry)}, flow {flow.name or entry.flow_name} v{version}")
        run = IvrCall(self, flow, version, entry, facts, channel, started, trace)
        result: dict[str, Any] = {}
        try:
            result = await run.walk()
        finally:
            if not result:
                result = run.result()
            result["caller"] = facts.caller
            result["caller_name"] = facts.caller_name
            self.counts["calls"] += 1
            self.counts[f"ended_{result['ended']}"] += 1
            self.recent.append(result)
            log.info("IVR call %s: %s", facts.uniqueid or "-",
                     json.dumps(result, ensure_ascii=False, default=str))
        return result

    async def manager_interface(self, user_id: int) -> str | None:
        """The account manager's agent interface when that user is active (cached
        ``MANAGER_TTL_S``: a handful of managers serve every caller)."""
        hit = self._managers.get(user_id)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        found = await self._read_manager(user_id)
        if len(self._managers) > 10_000:
            self._managers.clear()
        self._managers[user_id] = (time.monotonic() + MANAGER_TTL_S, found)
        return found

    async def _read_manager(self, user_id: int) -> str | None:
        query = select(User.agent_interface).where(User.id == user_id, User.active.is_(True))

        async def work(conn: AsyncConnection) -> Any:
            return await conn.scalar(query)

        reader = self.reader
        if isinstance(reader, AsyncSession):
            found = await reader.scalar(query)
        elif isinstance(reader, AsyncEngine):
            async with reader.connect() as conn:
                found = await work(conn)
        elif isinstance(reader, AsyncConnection):
            found = await work(reader)
        else:
            found = await reader.run(work)
        return found if isinstance(found, str) and found else None


async def follow_agent_states(states: AgentPresence, events: AsyncIterator[object]) -> None:
    """Feed the PBX's agent states (a bus subscription) to ``states`` until cancelled."""
    async for event in events:
        try:
            states.feed(event)
        except Exception:  # one odd event must not stop the routing's view of the agents
            log.exception("IVR: could not read agent state %r", event)
