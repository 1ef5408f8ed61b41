"""IVR flow stepper, sans-I/O: events in, actions out (in the style of h11).

``FlowRun(flow)`` walks a parsed ``ivr.flow.Flow``. ``start(context)`` and ``feed(event)``
return the actions the adapter must perform (play a prompt, collect digits, look the caller
up, run a self-service action, set routing, hand off). The adapter answers with events
(digits, timeout, lookup result, action result, hang-up). ``path`` and ``result`` can be read
at any time, also after a hang-up mid-flow.

Rules:
- pure: no I/O, no clock (the context carries ``now``, ``timezone`` and ``holidays``);
- never raises on any event sequence: an event the run does not expect is ignored, a broken
  flow or a run that goes on too long hands back to the dialplan (fail open: the dialplan
  queues the call);
- garbage input (a choice not on the menu, too many or too few digits, a timeout) replays
  the prompt up to ``retries`` times, then takes the step's ``default``;
- a self-service result reads back ``data["prompts"]`` (success or failure alike, so a
  "not found" can be said before the error path): a string is a prompt id (``Play``), a
  ``{"say": "digits" | "number" | "date" | "amount", "value": ...}`` item is a value
  spoken from Hotline's own word prompts (``Say``, ``ivr.speech``); anything else in the
  list is skipped;
- callers press early: the prompts of a batch are interruptible (``FlowRun.escape``: the
  keys that stop them) whenever an input can follow before the call is handed off: a
  batch that ends asking for input takes that input's keys (every digit, and a menu's
  ``*``/``#`` choices: a wrong key is answered "invalid" at once), one that ends
  waiting for a lookup or an action takes the keys of every input the flow may ask
  next, and one that ends in a hand-off takes none. The adapter keeps such a key for
  the next input (Asterisk drops a key pressed during a prompt played without escape
  digits, so the greeting must be interruptible for a caller who knows the menu).

Context keys: ``caller`` (number), ``lang`` (default the flow's first language), ``now``
(aware datetime or ISO string), ``timezone`` (IANA name, default Asia/Shanghai),
``holidays`` (ISO dates, added to the branch step's own list).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from ivr.flow import Flow, Step

MAX_STEPS = 200
"""Steps per run before it is cut short (a caller looping a menu forever, a broken flow)."""

DEFAULT_TZ = "Asia/Shanghai"

MAX_READBACK = 64
"""Prompts and values one self-service result may read back."""

TIER_LEVELS: dict[str, int] = {
    "standard": 0, "none": 0, "vip": 1, "silver": 1, "gold": 2, "platinum": 3, "diamond": 4,
}
"""VIP tier names and their levels (``Customer.vip_tier`` 0-5). A branch on ``vip`` with
``tiers`` ["vip", "gold"] is true for any customer at or above the lowest level listed,
so a platinum customer is a VIP too."""


# --- events ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class DtmfReceived:
    digits: str


@dataclass(frozen=True)
class Timeout:
    pass


@dataclass(frozen=True)
class LookupResult:
    customer: dict[str, Any] | None


@dataclass(frozen=True)
class ActionResult:
    name: str
    ok: bool
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Hangup:
    pass


Event = DtmfReceived | Timeout | LookupResult | ActionResult | Hangup


# --- actions ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Play:
    prompt_id: str
    lang: str


@dataclass(frozen=True)
class Say:
    """A value spoken from Hotline's word prompts (``ivr.speech``): ``digits`` one by one,
    a ``number``, a ``date`` (ISO ``YYYY-MM-DD``), an ``amount`` of yuan (``12.50``)."""

    kind: str
    value: str
    lang: str


SAY_KINDS = ("digits", "number", "date", "amount")
DIGIT_KEYS = "0123456789"


@dataclass(frozen=True)
class CollectDigits:
    """Up to ``max_digits`` keys, then ``terminator`` (``#``, ``*`` or none); ``escape``:
    the keys that may start the input, so stop the prompts before it."""

    max_digits: int
    timeout_ms: int
    terminator: str
    escape: str = DIGIT_KEYS

    @property
    def keys_to_read(self) -> int:
        """Keys to read at most: the digits and the terminator. Asterisk's ``GET DATA``
        stops at ``#`` only while it still reads; asked for exactly ``max_digits`` it
        returns before the ``#``, which then reaches the next prompt as a key."""
        return self.max_digits + len(self.terminator)


@dataclass(frozen=True)
class Lookup:
    kind: str
    value: str


@dataclass(frozen=True)
class SelfService:
    name: str
    args: dict[str, str]


@dataclass(frozen=True)
class SetRouting:
    queue: str | None
    priority: int | None
    skill: str | None
    preferred_agent: str | None


@dataclass(frozen=True)
class HandOff:
    kind: str


Action = Play | Say | CollectDigits | Lookup | SelfService | SetRouting | HandOff


class FlowRun:
    """One caller's walk through one flow."""

    def __init__(self, flow: Flow) -> None:
        self.flow = flow
        self.context: dict[str, Any] = {}
        self.customer: dict[str, Any] | None = None
        self.vars: dict[str, Any] = {}
        self.path: list[str] = []
        self.routing: dict[str, Any] = {"queue": None, "priority": None, "skill": None,
                                         "preferred_agent": None}
        self.outcome: str | None = None
        """None while running; the hand-off kind, or "caller_hangup"."""
        self._step: Step | None = None
        self._waiting: str | None = None  # "digits" | "lookup" | "action" while waiting
        self._attempts = 0
        self._steps_taken = 0
        self.lang = flow.languages[0] if flow.languages else "zh"
        self.marks: list[tuple[int, str]] = []
        """For the actions last returned: (index of the first action of a step, step id) of
        each step entered, so a trace can say which step played what."""
        self.escape = ""
        """For the actions last returned: the keys that stop their prompts (module rules)."""
        self._ahead: dict[str, str] = {}

    # --- public API ---

    @property
    def done(self) -> bool:
        return self.outcome is not None

    @property
    def result(self) -> dict[str, Any]:
        """Routing result so far: queue, priority, skill, preferred_agent, customer_id,
        path, outcome, vars."""
        customer_id = None
        if self.customer is not None:
            customer_id = self.customer.get("id", self.customer.get("customer_id"))
        return {**self.routing, "customer_id": customer_id, "path": list(self.path),
                "outcome": self.outcome, "vars": dict(self.vars)}

    def start(self, context: Mapping[str, Any] | None = None) -> list[Action]:
        """Begin the run; ``context`` carries the caller, language and clock."""
        if self._step is not None or self.done:
            return []
        try:
            self.context = dict(context or {})
            lang = self.context.get("lang")
            if isinstance(lang, str) and lang in self.flow.languages:
                self.lang = lang
            self.marks = []
            return self._batch(self._goto(self.flow.start))
        except Exception:  # never raise to the adapter: hand the call back
            return self._batch(self._fail_open())

    def feed(self, event: Event) -> list[Action]:
        """Answer the action the run is waiting on; unexpected events are ignored."""
        if self.done:
            return []
        self.marks = []
        self.escape = ""
        try:
            if isinstance(event, Hangup):
                self.outcome = "caller_hangup"
                self._waiting = None
                return []
            return self._batch(self._feed(event))
        except Exception:
            return self._batch(self._fail_open())

    # --- interruptible prompts ---

    def _batch(self, actions: list[Action]) -> list[Action]:
        """Note which keys stop the prompts of ``actions`` (``escape``) and return them."""
        last = actions[-1] if actions else None
        if isinstance(last, CollectDigits):
            self.escape = last.escape
        elif isinstance(last, Lookup | SelfService) and self._step is not None:
            self.escape = self._keys_ahead(self._step.id)
        else:
            self.escape = ""
        return actions

    def _keys_ahead(self, step_id: str) -> str:
        """The keys that can start an input the flow may ask for next from ``step_id``
        (the steps it can reach without asking anything), in keypad order."""
        if step_id in self._ahead:
            return self._ahead[step_id]
        keys: set[str] = set()
        seen = {step_id}
        todo = [step_id]
        while todo:
            step = self.flow.steps.get(todo.pop())
            if step is None:
                continue
            if step.type in ("menu", "digits") and step.id != step_id:
                keys |= set(_escape(step))
                continue
            for _, target in step.targets():
                if target not in seen:
                    seen.add(target)
                    todo.append(target)
        found = "".join(k for k in DIGIT_KEYS + "*#" if k in keys)
        self._ahead[step_id] = found
        return found

    # --- stepping ---

    def _fail_open(self) -> list[Action]:
        if self.done:
            return []
        self.outcome = "dialplan"
        self._waiting = None
        return [HandOff("dialplan")]

    def _feed(self, event: Event) -> list[Action]:
        step = self._step
        if step is None or self._waiting is None:
            return []
        if self._waiting == "digits" and isinstance(event, DtmfReceived | Timeout):
            return self._on_input(step, event)
        if self._waiting == "lookup" and isinstance(event, LookupResult):
            customer = event.customer
            self.customer = dict(customer) if isinstance(customer, Mapping) else None
            self._waiting = None
            return self._goto(step.next)
        if self._waiting == "action" and isinstance(event, ActionResult):
            if event.name != step.action:
                return []
            self._waiting = None
            data = event.data if isinstance(event.data, Mapping) else {}
            self.vars[str(step.action)] = dict(data)
            actions = self._readback(data.get("prompts"))
            target = step.next if event.ok or step.on_error is None else step.on_error
            return actions + self._goto(target, len(actions))
        return []

    def _readback(self, items: Any) -> list[Action]:
        """The prompts and spoken values of a self-service result (module rules)."""
        actions: list[Action] = []
        if not isinstance(items, list):
            return actions
        for item in items[:MAX_READBACK]:
            if isinstance(item, str) and item:
                actions.append(Play(item, self.lang))
            elif isinstance(item, Mapping):
                kind, value = item.get("say"), item.get("value")
                if kind in SAY_KINDS and isinstance(value, str | int) and not isinstance(
                        value, bool) and str(value):
                    actions.append(Say(str(kind), str(value), self.lang))
        return actions

    def _goto(self, step_id: str | None, offset: int = 0) -> list[Action]:
        """Run automatic steps from ``step_id`` until one waits or the flow hands off;
        ``offset``: actions the caller puts before these (for ``marks``)."""
        actions: list[Action] = []
        while True:
            self._steps_taken += 1
            step = self.flow.steps.get(step_id) if step_id is not None else None
            if step is None or self._steps_taken > MAX_STEPS:
                return actions + self._fail_open()
            self._step, self._attempts = step, 0
            self.path.append(step.id)
            self.marks.append((offset + len(actions), step.id))
            if step.type == "play":
                actions.append(Play(str(step.prompt), self.lang))
                step_id = step.next
            elif step.type == "route":
                actions.append(self._route(step))
                step_id = step.next
            elif step.type == "branch":
                step_id = step.then if self._condition(step) else step.otherwise
            elif step.type == "handoff":
                self.outcome = step.kind or "dialplan"
                self._waiting = None
                return actions + [HandOff(self.outcome)]
            elif step.type in ("menu", "digits"):
                self._waiting = "digits"
                return actions + self._ask(step)
            elif step.type == "lookup":
                self._waiting = "lookup"
                return actions + [Lookup(step.kind or "caller_number", self._value(step.value))]
            elif step.type == "self_service":
                self._waiting = "action"
                args = {k: self._value(v) for k, v in step.args}
                return actions + [SelfService(str(step.action), args)]
            else:
                return actions + self._fail_open()

    def _ask(self, step: Step) -> list[Action]:
        if step.type == "menu":
            width = max((len(k) for k, _ in step.choices), default=1)
            collect = CollectDigits(width, step.timeout_ms, "", _escape(step))
        else:
            collect = CollectDigits(step.max_digits, step.timeout_ms, step.terminator,
                                    _escape(step))
        return [Play(str(step.prompt), self.lang), collect]

    def _on_input(self, step: Step, event: DtmfReceived | Timeout) -> list[Action]:
        if isinstance(event, Timeout):
            self.path.append(f"{step.id}:timeout")
            return self._retry(step)
        digits = event.digits if isinstance(event.digits, str) else ""
        self.path.append(f"{step.id}:{digits[:64]}")
        if step.type == "menu":
            target = dict(step.choices).get(digits)
            if target is None:
                return self._retry(step)
            self._waiting = None
            return self._goto(target)
        if step.terminator and digits.endswith(step.terminator):
            digits = digits[: -len(step.terminator)]
        if not digits.isdigit() or not step.min_digits <= len(digits) <= step.max_digits:
            return self._retry(step)
        self.vars[step.store or step.id] = digits
        self._waiting = None
        return self._goto(step.next)

    def _retry(self, step: Step) -> list[Action]:
        self._attempts += 1
        if self._attempts > step.retries:
            self._waiting = None
            return self._goto(step.default)
        attempts = self._attempts
        actions: list[Action] = []
        if step.invalid_prompt is not None:
            actions.append(Play(step.invalid_prompt, self.lang))
        actions += self._ask(step)
        self._attempts = attempts
        return actions

    # --- step helpers ---

    def _value(self, value: str) -> str:
        """``$caller`` / ``$var`` / ``$customer.field`` resolved; anything else literal."""
        if not value.startswith("$"):
            return value
        name = value[1:]
        if name == "caller":
            return str(self.context.get("caller", ""))
        if name.startswith("customer."):
            found = (self.customer or {}).get(name[len("customer."):])
            return "" if found is None else str(found)
        found = self.vars.get(name)
        return "" if found is None or isinstance(found, dict) else str(found)

    def _route(self, step: Step) -> SetRouting:
        agent = step.preferred_agent
        if agent is not None and agent.startswith("$"):
            agent = (self.customer or {}).get(agent[1:])
            agent = str(agent) if agent not in (None, "") else None
        changes = {"queue": step.queue, "priority": step.priority, "skill": step.skill,
                   "preferred_agent": agent}
        for key, value in changes.items():
            if value is not None:
                self.routing[key] = value
        return SetRouting(step.queue, step.priority, step.skill, agent)

    def _condition(self, step: Step) -> bool:
        customer = self.customer
        if step.condition == "known_customer":
            return customer is not None
        if step.condition == "vip":
            return customer is not None and _is_vip(customer, step.param("tiers", ("vip",)))
        if step.condition == "has_assets":
            assets = (customer or {}).get("assets")
            if isinstance(assets, int) and not isinstance(assets, bool):
                return assets > 0
            return bool(assets) if isinstance(assets, list | tuple) else False
        if step.condition == "open_ticket":
            tickets = (customer or {}).get("open_tickets")
            if isinstance(tickets, bool):
                return tickets
            if isinstance(tickets, int):
                return tickets > 0
            return bool(tickets) if isinstance(tickets, list | tuple) else False
        if step.condition == "business_hours":
            return self._business_hours(step)
        return False

    def _business_hours(self, step: Step) -> bool:
        now = self.context.get("now")
        if isinstance(now, str):
            try:
                now = datetime.fromisoformat(now)
            except ValueError:
                now = None
        if not isinstance(now, datetime):
            return True  # no usable clock: assume open, so a caller reaches an agent
        try:
            tz = ZoneInfo(str(self.context.get("timezone") or DEFAULT_TZ))
        except (ValueError, KeyError, OSError):  # unknown zone name: the site's default
            tz = ZoneInfo(DEFAULT_TZ)
        local = now.astimezone(tz) if now.tzinfo is not None else now.replace(tzinfo=tz)
        today = local.date().isoformat()
        holidays = set(step.param("holidays", ())) | {
            d.isoformat() if isinstance(d, date) else str(d)
            for d in self.context.get("holidays", ()) or ()}
        if today in holidays:
            return False
        workdays = set(step.param("workdays", ()))
        if today not in workdays and local.isoweekday() not in step.param("days", ()):
            return False
        hhmm = local.strftime("%H:%M")
        return bool(step.param("open", "09:00") <= hhmm < step.param("close", "18:00"))


def _level(tier: Any) -> int | None:
    """The level of a tier given as a name ("gold") or a number (2); None if neither."""
    if isinstance(tier, bool):
        return None
    if isinstance(tier, int):
        return tier
    if isinstance(tier, str):
        name = tier.strip().lower()
        if name.isdigit():
            return int(name)
        return TIER_LEVELS.get(name)
    return None


def _escape(step: Step) -> str:
    """The keys that stop the prompts before an input of ``step``: every digit (a menu
    answers a digit that is none of its choices with "invalid" at once, instead of the
    caller's key being lost and the menu waiting its timeout), plus ``*`` and ``#`` where
    they start a menu choice."""
    if step.type != "menu":
        return DIGIT_KEYS
    firsts = {key[0] for key, _ in step.choices if key}
    return DIGIT_KEYS + "".join(k for k in "*#" if k in firsts)


def _is_vip(customer: Mapping[str, Any], tiers: Any) -> bool:
    if customer.get("vip") is True:
        return True
    names = [str(t).strip().lower() for t in tiers] if isinstance(tiers, tuple | list) else []
    levels = [lv for lv in (_level(t) for t in names) if lv is not None and lv > 0]
    number = customer.get("vip_tier")
    if isinstance(number, int) and not isinstance(number, bool):  # the CRM's own tier rules
        return bool(levels) and number >= min(levels)
    tier = customer.get("tier")
    if isinstance(tier, str) and tier.strip().lower() in names:
        return True
    mine = _level(tier)
    return bool(levels) and mine is not None and mine >= min(levels)
