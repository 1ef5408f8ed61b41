"""``RedisAuthStore``: the sign-in state in Redis, when the nodes share a Redis bus
(see ``agent_console.api.auth_store`` for the interface and its rules).

Each record is one string key ``<prefix><key>`` holding JSON, with the record's ttl as
the key's expiry; ``modify`` is WATCH / GET / MULTI / SET|DEL / EXEC, run again when
another node changed the key in between. Keys are never scanned: the state of a
Hotline is found only by the keys its code computes.

Sign-outs are also announced on the channel ``<prefix>signed-out`` (Redis pub/sub):
``SignOutFollower`` hands each session id announced by any node to a handler (the
websocket hub closes that session's sockets on every node). A message sent while a
node's subscription is down is lost: that socket then lives until it reconnects, and
its reconnection is refused (the revocation itself is a stored record).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import RedisError

from agent_console.api.auth_store import Change, Record, T

log = logging.getLogger("agent_console.api")

SIGNED_OUT = "signed-out"  # the channel, after the prefix


def _decode(raw: bytes | str | None) -> Record | None:
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except ValueError:  # not ours, or from another version: as if absent
        return None
    return value if isinstance(value, dict) else None


class RedisAuthStore:
    """Records under ``prefix`` in the Redis at ``url``."""

    def __init__(self, url: str, prefix: str) -> None:
        self.prefix = prefix
        self._redis: Redis = Redis.from_url(url)

    async def get(self, key: str) -> Record | None:
        return _decode(await self._redis.get(self.prefix + key))

    async def modify(self, key: str, change: Change[T], ttl_s: float) -> T:
        name = self.prefix + key
        outcome: list[T] = []

        async def attempt(pipe: Pipeline) -> None:
            # run again from the start when the key changed under the WATCH
            outcome.clear()
            old = _decode(await pipe.get(name))
            new, result = change(old)
            outcome.append(result)
            pipe.multi()  # type: ignore[no-untyped-call]
            if new is not None:
                pipe.set(name, json.dumps(new), ex=max(1, math.ceil(ttl_s)))
            elif old is not None:
                pipe.delete(name)

        await self._redis.transaction(attempt, name)
        return outcome[0]

    async def announce_sign_out(self, sid: str) -> None:
        """Tell every node that ``sid`` was signed out."""
        await self._redis.publish(self.prefix + SIGNED_OUT, sid)

    async def close(self) -> None:
        await self._redis.aclose()


class SignOutFollower:
    """Hands each session id signed out on any node to ``handler``, from ``start()``
    (subscribed once it returns, when Redis answers) until ``close()``."""

    def __init__(self, store: RedisAuthStore, handler: Callable[[str], Awaitable[None]],
                 *, retry_max_s: float = 30.0) -> None:
        self.store = store
        self.handler = handler
        self.retry_max_s = retry_max_s
        self._pubsub: Any = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        try:
            self._pubsub = await self._subscribe()
        except RedisError as exc:  # the loop keeps trying; sign-outs are stored anyway
            log.warning("cannot follow sign-outs on Redis yet: %s", exc)
        self._task = asyncio.create_task(self._run(), name="sign-out-follower")

    async def _subscribe(self) -> Any:
        pubsub = self.store._redis.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(self.store.prefix + SIGNED_OUT)
        except BaseException:
            await pubsub.aclose()
            raise
        return pubsub

    async def _run(self) -> None:
        delay = 0.5
        while True:
            try:
                if self._pubsub is None:
                    self._pubsub = await self._subscribe()
                async for message in self._pubsub.listen():
                    delay = 0.5
                    await self._hand_over(message.get("data"))
            except RedisError as exc:
                log.warning("lost the sign-out feed from Redis (%s); again in %.1f s",
                            exc, delay)
            await self._drop()
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.retry_max_s)

    async def _hand_over(self, data: Any) -> None:
        if not isinstance(data, bytes | str):
            return
        sid = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
        try:
            await self.handler(sid)
        except Exception:  # one session's sockets must not stop the feed
            log.exception("sign-out of a session announced by another node failed")

    async def _drop(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            with contextlib.suppress(RedisError):
                await pubsub.aclose()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._drop()

