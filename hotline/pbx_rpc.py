"""The console's PBX controls from any node: requests forwarded to the AMI owner over Redis.

Only the node holding the AMI lease (``hotline.lease``) has a link to the PBX. An agent's
socket and HTTP calls may be on any node, so there:

- :class:`RemotePbx` (same methods as ``agent_console.pbx_actions.PbxActions``) pushes
  a request (JSON) on the list ``<stream>:pbx:requests`` and waits, at most
  ``timeout``, for the reply on a list of its own (``BLPOP``). No reply in time:
  ``PbxUnreachable`` (503), as when the PBX itself does not answer;
- :class:`PbxServer` runs on the owner while it holds the lease: it pops requests and
  carries them out with its own ``PbxActions`` (whose link is fenced: a node that lost
  the lease sends nothing), then pushes the answer, a ``PbxError`` as its code and
  message, on the request's reply list (expiring: nobody may be waiting any more);
- a request not STARTED by its ``start_by`` (wall clock) is dropped unanswered: the
  requester has given up or is about to, and a click-to-dial it already answered 503
  must not ring an agent's phone later;
- :class:`PbxRoute` is what the app's console uses: local actions while this node is
  the owner, else the forwarder.

Bad requests (not JSON, unknown operation, wrong argument types) are logged, counted and
skipped: a request never crashes the owner. Encoding and checking are pure functions.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from agent_console.pbx_actions import (
    DialPlan,
    NotSignedIn,
    PbxActions,
    PbxError,
    PbxRefused,
    PbxUnreachable,
    UnknownCall,
)
from hotline.bus import stop_task

log = logging.getLogger("hotline.pbx_rpc")

__all__ = ["OPS", "PbxRoute", "PbxServer", "RemotePbx", "Request", "decode_request",
           "error_of", "requests_key"]

# operation -> its arguments, each "str", "strs" (list of str) or "vars" (str -> str)
OPS: dict[str, dict[str, str]] = {
    "sign_in": {"interface": "str", "name": "str", "queues": "strs"},
    "sign_out": {"interface": "str", "queues": "strs"},
    "pause": {"interface": "str", "reason": "str"},
    "unpause": {"interface": "str"},
    "dial": {"interface": "str", "digits": "str", "variables": "vars"},
    "blind_transfer": {"channel": "str", "exten": "str", "context": "str"},
    "attended_transfer": {"channel": "str", "exten": "str", "context": "str"},
    "hangup": {"channel": "str"},
    "spy": {"interface": "str", "channel": "str", "mode": "str", "by": "str"},
}
_ERRORS: dict[str, type[PbxError]] = {
    c.code: c for c in (PbxUnreachable, UnknownCall, NotSignedIn, PbxRefused)}
MAX_REQUEST = 64 * 1024  # bytes: far above any real request


def requests_key(stream: str) -> str:
    """The list the owner pops requests from (one per bus stream, i.e. per cluster)."""
    return f"{stream}:pbx:requests"


@dataclass(frozen=True, kw_only=True)
class Request:
    op: str
    args: dict[str, Any]
    reply: str
    start_by: float


def _valid(kind: str, value: Any) -> bool:
    if kind == "str":
        return isinstance(value, str)
    if kind == "strs":
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    return isinstance(value, dict) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items())


def decode_request(raw: bytes | str) -> Request:
    """A request popped from Redis; ValueError on anything malformed."""
    if len(raw) > MAX_REQUEST:
        raise ValueError(f"request of {len(raw)} bytes")
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    op, args, reply, start_by = (data.get(k) for k in ("op", "args", "reply", "start_by"))
    if not isinstance(op, str) or op not in OPS:
        raise ValueError(f"unknown operation {op!r}")
    if not isinstance(reply, str) or not reply:
        raise ValueError("no reply key")
    if not isinstance(start_by, int | float) or isinstance(start_by, bool):
        raise ValueError("no start_by")
    wanted = OPS[op]
    if not isinstance(args, dict) or set(args) != set(wanted):
        raise ValueError(f"{op} takes {sorted(wanted)}")
    for name, kind in wanted.items():
        if not _valid(kind, args[name]):
            raise ValueError(f"{op}: {name} is not {kind}")
    return Request(op=op, args=args, reply=reply, start_by=float(start_by))


def error_of(reply: Mapping[str, Any]) -> PbxError:
    """The ``PbxError`` a failed reply stands for (an unknown code: refused)."""
    cls = _ERRORS.get(str(reply.get("code")), PbxRefused)
    return cls(str(reply.get("message") or "the PBX refused the action"))


class RemotePbx:
    """The console's controls on a node without the PBX link: forwarded to the owner."""

    def __init__(self, redis: Redis, stream: str, *, timeout: float,
                 action_budget: float = 5.0) -> None:
        self.redis = redis
        self.key = requests_key(stream)
        self.timeout = timeout
        # the owner must START a request this long before the requester gives up, so
        # the PBX's own answer (up to the AMI action timeout) can still come back
        self.start_within = max(timeout - action_budget, timeout / 2)
        self.stats = {"sent": 0, "answered": 0, "timed_out": 0}

    async def _call(self, op: str, **args: Any) -> Any:
        reply_key = f"{self.key}:reply:{uuid.uuid4().hex}"
        request = json.dumps({"op": op, "args": args, "reply": reply_key,
                              "start_by": time.time() + self.start_within},
                             ensure_ascii=False)
        self.stats["sent"] += 1
        try:
            await self.redis.rpush(self.key, request)
            popped: Any = await self.redis.blpop([reply_key], timeout=self.timeout)
        except Exception as exc:  # Redis down or slow: the PBX is out of reach from here
            raise PbxUnreachable(f"cannot reach the node that holds the PBX link ({exc})"
                                 ) from exc
        if popped is None:
            self.stats["timed_out"] += 1
            unknown = " (the call may or may not have been placed)" if op == "dial" else ""
            raise PbxUnreachable(f"no node holding the PBX link answered within "
                                 f"{self.timeout:g} s{unknown}; try again shortly")
        self.stats["answered"] += 1
        try:
            reply = json.loads(popped[1])
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise PbxRefused(f"unreadable answer from the PBX's node: {exc}") from exc
        if not isinstance(reply, dict):
            raise PbxRefused("unreadable answer from the PBX's node")
        if not reply.get("ok"):
            raise error_of(reply)
        return reply.get("result")

    async def sign_in(self, interface: str, name: str, queues: Sequence[str]) -> None:
        await self._call("sign_in", interface=interface, name=name, queues=list(queues))

    async def sign_out(self, interface: str, queues: Sequence[str]) -> list[str]:
        result = await self._call("sign_out", interface=interface, queues=list(queues))
        return [str(q) for q in result] if isinstance(result, list) else []

    async def pause(self, interface: str, reason: str) -> None:
        await self._call("pause", interface=interface, reason=reason)

    async def unpause(self, interface: str) -> None:
        await self._call("unpause", interface=interface)

    async def dial(self, interface: str, digits: str, variables: Mapping[str, str]) -> None:
        await self._call("dial", interface=interface, digits=digits, variables=dict(variables))

    async def blind_transfer(self, channel: str, exten: str, context: str) -> None:
        await self._call("blind_transfer", channel=channel, exten=exten, context=context)

    async def attended_transfer(self, channel: str, exten: str, context: str) -> None:
        await self._call("attended_transfer", channel=channel, exten=exten, context=context)

    async def hangup(self, channel: str) -> None:
        await self._call("hangup", channel=channel)

    async def spy(self, interface: str, channel: str, mode: str, by: str) -> None:
        await self._call("spy", interface=interface, channel=channel, mode=mode, by=by)


class PbxServer:
    """On the AMI owner: carries out the requests of the other nodes (see module doc)."""

    def __init__(self, redis: Redis, stream: str, pbx: PbxActions, *,
                 reply_ttl_s: float = 30.0, block_s: float = 1.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.redis = redis
        self.key = requests_key(stream)
        self.pbx = pbx
        self.reply_ttl_ms = int(reply_ttl_s * 1000)
        self.block_s = block_s
        self.clock = clock
        self.stats = {"done": 0, "failed": 0, "late": 0, "bad": 0, "reply_errors": 0}
        self._task: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="pbx-rpc-server")

    async def close(self) -> None:
        """Stop taking requests; those under way are cancelled (their requesters time
        out: 503, as for any lost PBX link)."""
        tasks = [t for t in (self._task, *self._running) if t is not None]
        self._task = None
        for task in tasks:
            await stop_task(task)

    async def _run(self) -> None:
        failures = 0
        while True:
            try:
                popped: Any = await self.redis.blpop([self.key], timeout=self.block_s)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not failures:
                    log.warning("PBX requests cannot be read from Redis (%s): retrying", exc)
                failures += 1
                await asyncio.sleep(min(2.0, 0.05 * 2 ** min(failures, 6)))
                continue
            failures = 0
            if popped is not None:
                self._take(popped[1])

    def _take(self, raw: bytes) -> None:
        try:
            request = decode_request(raw)
        except ValueError as exc:
            self.stats["bad"] += 1
            log.warning("bad PBX request skipped: %s", exc)
            return
        if self.clock() > request.start_by:
            self.stats["late"] += 1
            log.warning("PBX request %s came too late (its requester gave up): not done",
                        request.op)
            return
        task = asyncio.create_task(self._serve(request), name=f"pbx-rpc:{request.op}")
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _serve(self, request: Request) -> None:
        reply: dict[str, Any]
        try:
            result = await getattr(self.pbx, request.op)(**request.args)
            reply = {"ok": True, "result": result}
            self.stats["done"] += 1
        except PbxError as exc:
            reply = {"ok": False, "code": exc.code, "message": exc.message}
            self.stats["failed"] += 1
        except Exception as exc:  # a bug: the requester gets a refusal, the owner lives on
            log.exception("PBX request %s failed", request.op)
            reply = {"ok": False, "code": PbxRefused.code, "message": repr(exc)}
            self.stats["failed"] += 1
        try:
            pipe = self.redis.pipeline(transaction=False)
            pipe.rpush(request.reply, json.dumps(reply, ensure_ascii=False))
            pipe.pexpire(request.reply, self.reply_ttl_ms)
            await pipe.execute()
        except Exception as exc:
            self.stats["reply_errors"] += 1
            log.warning("the answer to PBX request %s was not delivered: %s", request.op, exc)


class PbxRoute:
    """The console's controls: this node's own ``PbxActions`` while it owns the PBX
    link, the owner's (``RemotePbx``) otherwise."""

    def __init__(self, local: PbxActions, remote: RemotePbx,
                 is_owner: Callable[[], bool]) -> None:
        self.local = local
        self.remote = remote
        self.is_owner = is_owner

    @property
    def plan(self) -> DialPlan:
        return self.local.plan

    @property
    def acts_here(self) -> bool:
        return self.local.acts_here and self.is_owner()

    def _target(self) -> PbxActions | RemotePbx:
        return self.local if self.is_owner() else self.remote

    async def sign_in(self, interface: str, name: str, queues: Sequence[str]) -> None:
        await self._target().sign_in(interface, name, queues)

    async def sign_out(self, interface: str, queues: Sequence[str]) -> list[str]:
        return await self._target().sign_out(interface, queues)

    async def pause(self, interface: str, reason: str) -> None:
        await self._target().pause(interface, reason)

    async def unpause(self, interface: str) -> None:
        await self._target().unpause(interface)

    async def dial(self, interface: str, digits: str, variables: Mapping[str, str]) -> None:
        await self._target().dial(interface, digits, variables)

    async def blind_transfer(self, channel: str, exten: str, context: str) -> None:
        await self._target().blind_transfer(channel, exten, context)

    async def attended_transfer(self, channel: str, exten: str, context: str) -> None:
        await self._target().attended_transfer(channel, exten, context)

    async def hangup(self, channel: str) -> None:
        await self._target().hangup(channel)

    async def spy(self, interface: str, channel: str, mode: str, by: str) -> None:
        await self._target().spy(interface, channel, mode, by)
