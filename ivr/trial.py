"""A caller's walk through the IVR without a PBX: ``hotline ivr try`` and the back
office's "try a call" (``POST /ivr/try``).

The flow of the dialled number (the default flow for an unknown number), or a DRAFT
given as a document not saved yet, runs in ``ivr.runtime`` exactly as for a FastAGI
call, on a scripted channel: each request for input takes the next answer (keys,
``None`` for silence, ``"hangup"``); when the answers run out the caller stays silent.

Rules:
- nothing it does stays: the self-service writes (repair tickets, callbacks) are rolled
  back unless ``commit`` (the command's ``--commit``; never from the web);
- nobody is free to take a call unless named (there is no PBX to ask);
- a walk is bounded (``MAX_SECONDS``, ``MAX_LINES`` of trace): a scripted caller never
  waits, so only a runaway flow could take long, and then the walk ends there;
- a draft must pass the same checks as a save (``ivr.store.check_flow``): the caller
  of ``try_call`` gives it parsed (``Flow``), with the version a save would make; it
  runs whatever flow the plan gives the dialled number.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from ivr.flow import Flow
from ivr.flow_engine import CollectDigits, DtmfReceived, Play, Say, Timeout
from ivr.runtime import CallFacts, ChannelGone, FlowSource, IvrRuntime, clean_keys

MAX_SECONDS = 10.0
MAX_LINES = 2000
RESULT_KEYS = ("queue", "priority", "preferred_agent", "customer_id", "path", "digits",
               "entry", "did", "skill", "outcome", "ended", "flow", "services")

Say_ = Callable[[str], None]


class ScriptedChannel:
    """A ``Channel`` that answers from a list and tells ``say`` what happens on it."""

    def __init__(self, script: Sequence[str | None], say: Say_ = print) -> None:
        self.script = list(script)
        self.say = say

    async def play(self, items: Sequence[Play | Say], escape: str) -> str:
        return ""  # the run traces each prompt; a scripted caller never presses early

    async def collect(self, collect: CollectDigits, first: str) -> DtmfReceived | Timeout:
        answer = self.script.pop(0) if self.script else None
        if answer is not None and answer.lower() == "hangup":
            self.say("  caller hangs up")
            raise ChannelGone("hangup")
        return Timeout() if answer is None else DtmfReceived(clean_keys(answer))

    async def set_vars(self, changes: Mapping[str, str]) -> None:
        for name, value in changes.items():
            if name not in ("HOTLINE_IVR_PATH", "HOTLINE_DIGITS"):  # the result has them
                self.say(f"  set {name}={value}")

    async def hangup(self) -> None:
        self.say("  IVR hangs up")

    async def linkedid(self) -> str | None:
        return None


class DraftFlows(FlowSource):
    """The number plan of the database, but the call runs the draft, whatever flow the
    dialled number has (trying an edit is the point; the entry still gives the number's
    kind, label and queue)."""

    def __init__(self, engine: AsyncEngine, draft: Flow, version: int) -> None:
        super().__init__(engine, ttl_s=0.0)
        self.draft = (draft, version)

    async def flow(self, name: str) -> tuple[Flow, int]:
        return self.draft


class _Lines:
    """The trace, bounded."""

    def __init__(self, echo: Say_ | None) -> None:
        self.lines: list[str] = []
        self.echo = echo

    def __call__(self, line: str) -> None:
        if len(self.lines) < MAX_LINES:
            self.lines.append(line)
        elif len(self.lines) == MAX_LINES:
            self.lines.append("  … (trace cut)")
        if self.echo is not None:
            self.echo(line)


async def try_call(
    engine: AsyncEngine, *, did: str, caller: str = "", answers: Sequence[str | None] = (),
    lang: str | None = None, now: datetime | None = None, region: str = "CN",
    agents_free: Collection[str] = (), commit: bool = False,
    draft: tuple[Flow, int] | None = None, echo: Say_ | None = None,
) -> tuple[list[str], dict[str, Any]]:
    """Walk one scripted call (module rules): the trace lines and the routing result
    (``RESULT_KEYS``). ``draft``: (parsed flow, the version a save would make) run
    instead of the number's saved flow; ``echo``: also hand each trace line to it."""
    lines = _Lines(echo)
    free = set(agents_free)
    flows = DraftFlows(engine, *draft) if draft is not None else None
    runtime = IvrRuntime(engine, agent_free=free.__contains__, region=region, commit=commit,
                         clock=None if now is None else (lambda: now), flows=flows)
    facts = CallFacts(did=did, caller=caller, caller_name="", uniqueid=None, lang=lang)
    try:
        async with asyncio.timeout(MAX_SECONDS):
            result = await runtime.call(facts, ScriptedChannel(answers, lines), trace=lines)
    except TimeoutError:
        lines(f"  … stopped after {MAX_SECONDS:.0f} s")
        result = {"ended": "stopped"}
    finally:
        await runtime.close()
    return lines.lines, {key: result.get(key) for key in RESULT_KEYS}
