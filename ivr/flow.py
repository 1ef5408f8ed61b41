"""IVR flow documents: the data model of a flow and its validation.

A flow is a versioned JSON document (a plain dict once decoded)::

    {"flow": "default", "version": 3, "start": "welcome", "languages": ["zh", "en"],
     "steps": {"welcome": {"type": "play", "prompt": "welcome", "next": "identify"}, ...}}

Step types and their fields (``next``-like fields name another step id):

- ``play``: ``prompt``, ``next``
- ``menu``: ``prompt``, ``choices`` {digit: step}, ``default``, ``retries`` (default 2),
  ``timeout_ms`` (5000), ``invalid_prompt`` (optional)
- ``digits``: ``prompt``, ``min_digits``, ``max_digits``, ``terminator`` ("#"), ``store``
  (variable name), ``next``, ``default``, ``retries``, ``timeout_ms``, ``invalid_prompt``
- ``lookup``: ``kind`` ("caller_number" or a variable's kind), ``value`` (``$var`` or
  ``$caller``; default ``$caller``), ``next``
- ``branch``: ``condition`` (known_customer | vip | open_ticket | has_assets |
  business_hours), ``then``, ``else``; vip takes ``tiers`` (default ["vip"]: tier names,
  see ``flow_engine.TIER_LEVELS``; a customer at or above the lowest tier listed counts);
  has_assets: the caller's customer has at least one asset; business_hours takes ``days`` (ISO
  weekdays, default 1-5), ``open``/``close`` ("HH:MM"), ``holidays`` and ``workdays``
  (ISO dates: closed days, and make-up working days on a weekend)
- ``self_service``: ``action``, ``args`` (values may be ``$var``), ``next``, ``on_error``
- ``route``: any of ``queue``, ``priority``, ``skill``, ``preferred_agent`` (a name, or
  ``$account_manager`` for the customer's own manager), ``next``
- ``handoff``: ``kind`` (queue | hangup | dialplan); the only terminal step

Rules:
- pure: no I/O, no clock; ``parse_flow`` raises ``FlowError`` carrying every problem found,
  each naming the step and the field; ``validate`` never raises and returns the problems
  (empty list = the flow may be saved);
- a flow is refused when a step is unreachable from ``start``, a target is dangling, a
  prompt is not in the catalogue, a loop has no exit or never waits for the caller, or a
  step cannot reach a hand-off.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

STEP_TYPES = ("play", "menu", "digits", "lookup", "branch", "self_service", "route", "handoff")
CONDITIONS = ("known_customer", "vip", "open_ticket", "has_assets", "business_hours")
HANDOFF_KINDS = ("queue", "hangup", "dialplan")
WAITING_TYPES = ("menu", "digits", "lookup", "self_service")
"""Step types that wait for the caller or the outside world (a loop needs one of them)."""

_STEP_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DTMF_KEY = re.compile(r"^[0-9*#]{1,4}$")


class FlowError(ValueError):
    """A flow document that cannot be used; ``problems`` lists every reason."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Step:
    """One step of a flow. Fields that a step type does not use keep their defaults."""

    id: str
    type: str
    prompt: str | None = None
    next: str | None = None
    default: str | None = None
    choices: tuple[tuple[str, str], ...] = ()
    retries: int = 2
    timeout_ms: int = 5000
    invalid_prompt: str | None = None
    min_digits: int = 1
    max_digits: int = 1
    terminator: str = "#"
    store: str | None = None
    kind: str | None = None
    value: str = "$caller"
    condition: str | None = None
    then: str | None = None
    otherwise: str | None = None
    params: tuple[tuple[str, Any], ...] = ()
    action: str | None = None
    args: tuple[tuple[str, str], ...] = ()
    on_error: str | None = None
    queue: str | None = None
    priority: int | None = None
    skill: str | None = None
    preferred_agent: str | None = None

    def targets(self) -> list[tuple[str, str]]:
        """(field, step id) of every step this one can go to."""
        out: list[tuple[str, str]] = []
        for name in ("next", "default", "then", "on_error"):
            target = getattr(self, name)
            if target is not None:
                out.append((name, target))
        if self.otherwise is not None:
            out.append(("else", self.otherwise))
        out.extend((f"choices.{key}", target) for key, target in self.choices)
        return out

    def prompts(self) -> list[tuple[str, str]]:
        """(field, prompt id) of every prompt this step plays."""
        return [(n, p) for n, p in (("prompt", self.prompt), ("invalid_prompt",
                self.invalid_prompt)) if p is not None]

    def param(self, name: str, default: Any = None) -> Any:
        """A condition parameter (business hours, VIP tiers) or ``default``."""
        return dict(self.params).get(name, default)


@dataclass(frozen=True)
class Flow:
    """A parsed flow document."""

    name: str
    version: int
    start: str
    languages: tuple[str, ...]
    steps: Mapping[str, Step] = field(default_factory=dict)

    def prompt_ids(self) -> set[str]:
        """Every prompt id the flow may play."""
        return {p for step in self.steps.values() for _, p in step.prompts()}


# --- parsing ---------------------------------------------------------------------------------

class _Fields:
    """Typed reads of one step's dict, recording problems instead of raising."""

    def __init__(self, step_id: str, raw: Mapping[str, Any], problems: list[str]) -> None:
        self.step_id, self.raw, self.problems = step_id, raw, problems

    def bad(self, name: str, why: str) -> None:
        self.problems.append(f"step {self.step_id!r}: field {name!r} {why}")

    def text(self, name: str, required: bool = False) -> str | None:
        value = self.raw.get(name)
        if value is None:
            if required:
                self.bad(name, "is missing")
            return None
        if not isinstance(value, str) or not value:
            self.bad(name, "must be a non-empty string")
            return None
        return value

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        value = self.raw.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self.bad(name, f"must be an integer from {low} to {high}")
            return default
        return value

    def mapping(self, name: str) -> Mapping[str, Any]:
        value = self.raw.get(name, {})
        if not isinstance(value, Mapping):
            self.bad(name, "must be an object")
            return {}
        return value


_KNOWN_FIELDS: dict[str, set[str]] = {
    "play": {"prompt", "next"},
    "menu": {"prompt", "choices", "default", "retries", "timeout_ms", "invalid_prompt"},
    "digits": {"prompt", "min_digits", "max_digits", "terminator", "store", "next", "default",
               "retries", "timeout_ms", "invalid_prompt"},
    "lookup": {"kind", "value", "next"},
    "branch": {"condition", "then", "else", "tiers", "days", "open", "close", "holidays",
               "workdays"},
    "self_service": {"action", "args", "next", "on_error"},
    "route": {"queue", "priority", "skill", "preferred_agent", "next"},
    "handoff": {"kind"},
}


def _parse_step(step_id: str, raw: Any, problems: list[str]) -> Step | None:
    if not isinstance(raw, Mapping):
        problems.append(f"step {step_id!r}: must be an object")
        return None
    kind = raw.get("type")
    if kind not in STEP_TYPES:
        problems.append(f"step {step_id!r}: field 'type' is unknown step type {kind!r} "
                        f"(expected one of {', '.join(STEP_TYPES)})")
        return None
    f = _Fields(step_id, raw, problems)
    for extra in sorted(set(raw) - _KNOWN_FIELDS[kind] - {"type", "comment"}):
        f.bad(str(extra), f"is not a field of a {kind} step")
    parse = _PARSERS[kind]
    return parse(step_id, f)


def _parse_play(step_id: str, f: _Fields) -> Step:
    return Step(step_id, "play", prompt=f.text("prompt", True), next=f.text("next", True))


def _parse_input(step_id: str, f: _Fields, kind: str) -> Step:
    common: dict[str, Any] = dict(
        prompt=f.text("prompt", True), default=f.text("default", True),
        retries=f.integer("retries", 2, 0, 9), timeout_ms=f.integer("timeout_ms", 5000, 500,
                                                                    60000),
        invalid_prompt=f.text("invalid_prompt"))
    if kind == "menu":
        choices: list[tuple[str, str]] = []
        raw_choices = f.mapping("choices")
        if not raw_choices:
            f.bad("choices", "must list at least one DTMF choice")
        for key, target in raw_choices.items():
            if not isinstance(key, str) or not _DTMF_KEY.match(key):
                f.bad(f"choices.{key}", "is not a DTMF key (0-9, * or #)")
            elif not isinstance(target, str) or not target:
                f.bad(f"choices.{key}", "must name a step")
            else:
                choices.append((key, target))
        return Step(step_id, "menu", choices=tuple(choices), **common)
    low = f.integer("min_digits", 1, 1, 32)
    high = f.integer("max_digits", max(low, 1), 1, 32)
    if low > high:
        f.bad("min_digits", "is larger than max_digits")
    terminator = f.raw.get("terminator", "#")
    if terminator not in ("", "#", "*"):
        f.bad("terminator", "must be '#', '*' or ''")
        terminator = "#"
    return Step(step_id, "digits", min_digits=low, max_digits=high, terminator=terminator,
                store=f.text("store"), next=f.text("next", True), **common)


def _parse_lookup(step_id: str, f: _Fields) -> Step:
    return Step(step_id, "lookup", kind=f.text("kind") or "caller_number",
                value=f.text("value") or "$caller", next=f.text("next", True))


def _dates(f: _Fields, name: str) -> tuple[str, ...]:
    value = f.raw.get(name, [])
    if not isinstance(value, list) or not all(isinstance(d, str) and _DATE.match(d)
                                              for d in value):
        f.bad(name, "must be a list of YYYY-MM-DD dates")
        return ()
    return tuple(value)


def _parse_branch(step_id: str, f: _Fields) -> Step:
    condition = f.text("condition", True)
    if condition is not None and condition not in CONDITIONS:
        f.bad("condition", f"is unknown {condition!r} (expected one of {', '.join(CONDITIONS)})")
    params: dict[str, Any] = {}
    if condition == "vip":
        tiers = f.raw.get("tiers", ["vip"])
        if not isinstance(tiers, list) or not all(isinstance(t, str) for t in tiers):
            f.bad("tiers", "must be a list of tier names")
            tiers = ["vip"]
        params["tiers"] = tuple(tiers)
    if condition == "business_hours":
        for name, default in (("open", "09:00"), ("close", "18:00")):
            value = f.raw.get(name, default)
            if not isinstance(value, str) or not _HHMM.match(value):
                f.bad(name, "must be a time HH:MM")
                value = default
            params[name] = value
        days = f.raw.get("days", [1, 2, 3, 4, 5])
        if not isinstance(days, list) or not all(isinstance(d, int) and 1 <= d <= 7
                                                 for d in days):
            f.bad("days", "must be a list of ISO weekdays 1 (Monday) to 7 (Sunday)")
            days = [1, 2, 3, 4, 5]
        params["days"] = tuple(days)
        params["holidays"] = _dates(f, "holidays")
        params["workdays"] = _dates(f, "workdays")
    return Step(step_id, "branch", condition=condition, then=f.text("then", True),
                otherwise=f.text("else", True), params=tuple(sorted(params.items())))


def _parse_self_service(step_id: str, f: _Fields) -> Step:
    args: list[tuple[str, str]] = []
    for key, value in f.mapping("args").items():
        if not isinstance(value, str | int) or isinstance(value, bool):
            f.bad(f"args.{key}", "must be a string or an integer")
        else:
            args.append((str(key), str(value)))
    return Step(step_id, "self_service", action=f.text("action", True), args=tuple(args),
                next=f.text("next", True), on_error=f.text("on_error"))


def _parse_route(step_id: str, f: _Fields) -> Step:
    priority = None
    if "priority" in f.raw:
        priority = f.integer("priority", 0, 0, 100)
    step = Step(step_id, "route", queue=f.text("queue"), priority=priority,
                skill=f.text("skill"), preferred_agent=f.text("preferred_agent"),
                next=f.text("next", True))
    if (step.queue, step.priority, step.skill, step.preferred_agent) == (None,) * 4:
        f.bad("queue", "is missing: a route step sets at least one of queue, priority, "
                       "skill, preferred_agent")
    return step


def _parse_handoff(step_id: str, f: _Fields) -> Step:
    kind = f.text("kind", True)
    if kind is not None and kind not in HANDOFF_KINDS:
        f.bad("kind", f"is unknown {kind!r} (expected one of {', '.join(HANDOFF_KINDS)})")
    return Step(step_id, "handoff", kind=kind)


_PARSERS: dict[str, Callable[[str, _Fields], Step]] = {
    "play": _parse_play,
    "menu": lambda i, f: _parse_input(i, f, "menu"),
    "digits": lambda i, f: _parse_input(i, f, "digits"),
    "lookup": _parse_lookup,
    "branch": _parse_branch,
    "self_service": _parse_self_service,
    "route": _parse_route,
    "handoff": _parse_handoff,
}


def _parse(doc: Any) -> tuple[Flow | None, list[str]]:
    problems: list[str] = []
    if not isinstance(doc, Mapping):
        return None, ["flow: the document must be an object"]
    version = doc.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        problems.append("flow: field 'version' must be a positive integer")
        version = 0
    name = doc.get("flow", "")
    if not isinstance(name, str):
        problems.append("flow: field 'flow' must be a string")
        name = ""
    languages = doc.get("languages", ["zh"])
    if not isinstance(languages, list) or not languages or not all(
            isinstance(lang, str) and lang for lang in languages):
        problems.append("flow: field 'languages' must be a non-empty list of language codes")
        languages = ["zh"]
    raw_steps = doc.get("steps")
    if not isinstance(raw_steps, Mapping) or not raw_steps:
        problems.append("flow: field 'steps' must be a non-empty object")
        raw_steps = {}
    steps: dict[str, Step] = {}
    for step_id, raw in raw_steps.items():
        if not isinstance(step_id, str) or not _STEP_ID.match(step_id):
            problems.append(f"step {step_id!r}: id must be 1-64 of A-Z a-z 0-9 _ . -")
            continue
        step = _parse_step(step_id, raw, problems)
        if step is not None:
            steps[step_id] = step
    start = doc.get("start")
    if not isinstance(start, str) or start not in raw_steps:
        problems.append(f"flow: field 'start' names no step ({start!r})")
        start = ""
    return Flow(name, version, start, tuple(languages), steps), problems


def parse_flow(doc: Any) -> Flow:
    """Parse a decoded flow document; raise ``FlowError`` listing every field problem.

    Parsing checks shapes only; ``validate`` also checks the graph and the prompts.
    """
    flow, problems = _parse(doc)
    if problems or flow is None:
        raise FlowError(problems or ["flow: unreadable"])
    return flow


# --- graph checks ----------------------------------------------------------------------------

def _sccs(nodes: Iterable[str], edges: Mapping[str, list[str]]) -> list[list[str]]:
    """Strongly connected components (Tarjan, iterative so deep flows cannot overflow)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    counter = 0
    for root in nodes:
        if root in index:
            continue
        work: list[tuple[str, int]] = [(root, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            succ = edges.get(node, [])
            if i < len(succ):
                work.append((node, i + 1))
                nxt = succ[i]
                if nxt not in index:
                    work.append((nxt, 0))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            if low[node] == index[node]:
                comp: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    comp.append(member)
                    if member == node:
                        break
                out.append(sorted(comp))
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return out


def _graph_problems(flow: Flow) -> list[str]:
    problems: list[str] = []
    edges: dict[str, list[str]] = {}
    for step in flow.steps.values():
        edges[step.id] = []
        for name, target in step.targets():
            if target not in flow.steps:
                problems.append(f"step {step.id!r}: field {name!r} names no step ({target!r})")
            elif target not in edges[step.id]:
                edges[step.id].append(target)
    if flow.start not in flow.steps:
        return problems
    seen = {flow.start}
    todo = [flow.start]
    while todo:
        for nxt in edges[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    for step_id in flow.steps:
        if step_id not in seen:
            problems.append(f"step {step_id!r}: unreachable from start {flow.start!r}")
    in_bad_loop: set[str] = set()
    for comp in _sccs(list(flow.steps), edges):
        members = set(comp)
        if len(comp) == 1 and comp[0] not in edges[comp[0]]:
            continue
        loop = " -> ".join(comp)
        if not any(t not in members for s in comp for t in edges[s]):
            problems.append(f"step {comp[0]!r}: loop without exit ({loop})")
            in_bad_loop |= members
        elif not any(flow.steps[s].type in WAITING_TYPES for s in comp):
            problems.append(f"step {comp[0]!r}: loop never waits for the caller ({loop})")
            in_bad_loop |= members
    # Every path must end in a hand-off: each step must be able to reach one.
    reverse: dict[str, list[str]] = {s: [] for s in flow.steps}
    for src, targets in edges.items():
        for dst in targets:
            reverse[dst].append(src)
    ends = [s.id for s in flow.steps.values() if s.type == "handoff"]
    if not ends:
        problems.append("flow: no handoff step (every path must end in queue, hangup or "
                        "dialplan)")
        return problems
    can_end = set(ends)
    todo = list(ends)
    while todo:
        for prev in reverse[todo.pop()]:
            if prev not in can_end:
                can_end.add(prev)
                todo.append(prev)
    for step_id in flow.steps:
        if step_id not in can_end and step_id not in in_bad_loop:
            problems.append(f"step {step_id!r}: no path from here reaches a handoff")
    return problems


def _prompt_problems(flow: Flow, prompts: Collection[str] | Mapping[str, Any]) -> list[str]:
    problems: list[str] = []
    for step in flow.steps.values():
        for name, prompt in step.prompts():
            if prompt not in prompts:
                problems.append(f"step {step.id!r}: field {name!r} prompt {prompt!r} is not "
                                "in the prompt catalogue")
                continue
            texts = prompts[prompt] if isinstance(prompts, Mapping) else None
            if isinstance(texts, Mapping):
                for lang in flow.languages:
                    if not texts.get(lang):
                        problems.append(f"step {step.id!r}: field {name!r} prompt {prompt!r} "
                                        f"has no {lang!r} text")
    return problems


def validate(doc: Any, prompts: Collection[str] | Mapping[str, Any] | None = None) -> list[str]:
    """Every reason to refuse ``doc``; an empty list means it may be saved.

    ``prompts`` is the prompt catalogue: a set of ids, or {id: {lang: text}} in which case
    each of the flow's languages must have a text. ``None`` skips the prompt check.
    """
    try:
        flow, problems = _parse(doc)
        if flow is None:
            return problems
        problems += _graph_problems(flow)
        if prompts is not None:
            problems += _prompt_problems(flow, prompts)
        return problems
    except Exception as exc:  # a validator that crashes would let garbage be saved
        return [f"flow: unreadable document ({type(exc).__name__})"]
