"""One AMI owner per PBX: a lease in Redis, with a fencing token.

Several nodes on one Redis bus may each connect to the PBX (``ami_enabled``); only the
holder of the lease does. The lease is one Redis key whose value is its fencing token:

- acquire = ``SET key pending NX PX ttl`` then ``INCR`` of a counter key, in ONE Lua
  script, so each grant gets a token larger than every earlier one;
- renew = ``PEXPIRE`` only if the key still holds our token (compare-and-set in Lua);
- release = ``DEL`` only if it still holds our token;
- a node that crashed releases nothing: the key expires after ``ttl`` and another node's
  next attempt (every renew interval) takes it.

Fencing (never two owners acting): the pure :class:`Fence` keeps the token and the
local deadline of the lease, counted from when the acquire/renew request was SENT (a
reply that comes late, after a pause, never extends it), minus a guard for clock drift.
The owner checks it before it publishes or acts: events go to Redis through a Lua
script that writes them only while the lease key still holds the token they were
published under (``FENCED_XADD``), and PBX actions are sent only after the same
check (``RedisLease.holds``). A paused old owner that wakes up after another node took
over thus has a token that is no longer the key's value: Redis refuses its events, and
its actions are refused before they leave.

This module is the decision logic (:class:`Fence`, pure) and the Redis I/O
(:class:`RedisLease`); the loop that runs them is ``hotline.ownership``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

__all__ = ["FENCED_XADD", "Fence", "RedisLease", "Transition"]

GUARD = 0.2  # share of the ttl a lease is NOT trusted locally (clock drift, slow replies)

_ACQUIRE = """
if redis.call('SET', KEYS[1], 'pending', 'NX', 'PX', ARGV[1]) then
  local token = redis.call('INCR', KEYS[2])
  redis.call('SET', KEYS[1], token, 'PX', ARGV[1])
  return token
end
return false
"""

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

# KEYS: lease key, stream; ARGV: token, maxlen, field, payload... -> entries written, or
# -1 when the lease no longer holds the token (nothing written)
FENCED_XADD = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return -1
end
for i = 4, #ARGV do
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', ARGV[3], ARGV[i])
end
return #ARGV - 3
"""


class Transition(enum.Enum):
    """What an attempt changed: the node became owner, stays one, stopped, or neither."""

    GAINED = "gained"
    KEPT = "kept"
    LOST = "lost"
    NONE = "none"


@dataclass
class Fence:
    """The lease as this node knows it (pure: times are given, never read).

    ``token`` None = not the owner. ``allows(token, now)``: may something done under
    ``token`` still publish or act? Only the current token, and only before the local
    deadline."""

    ttl_s: float
    token: int | None = None
    until: float = 0.0

    def _trust(self, sent_at: float) -> float:
        return sent_at + self.ttl_s * (1 - GUARD)

    def acquired(self, token: int | None, sent_at: float) -> Transition:
        """The answer to an acquire sent at ``sent_at`` (None: someone else holds it)."""
        if token is None:
            return self.expired(sent_at)
        was = self.token
        self.token, self.until = token, self._trust(sent_at)
        return Transition.KEPT if was == token else Transition.GAINED

    def renewed(self, ok: bool, sent_at: float) -> Transition:
        """The answer to a renew sent at ``sent_at`` (False: the key no longer holds our
        token: it expired and another node may own it)."""
        if self.token is None:
            return Transition.NONE
        if not ok:
            return self.lose()
        self.until = max(self.until, self._trust(sent_at))
        return Transition.KEPT

    def expired(self, now: float) -> Transition:
        """No answer from Redis (or a refused acquire): keep the lease only while the
        local deadline allows."""
        if self.token is not None and now >= self.until:
            return self.lose()
        return Transition.KEPT if self.token is not None else Transition.NONE

    def lose(self) -> Transition:
        had = self.token is not None
        self.token, self.until = None, 0.0
        return Transition.LOST if had else Transition.NONE

    def allows(self, token: int | None, now: float) -> bool:
        return token is not None and token == self.token and now < self.until

    def current(self, now: float) -> int | None:
        """The token this node may act under now, or None."""
        return self.token if self.token is not None and now < self.until else None


class RedisLease:
    """The lease key's I/O: acquire, renew, release, and "do I still hold it?"."""

    def __init__(self, redis: Redis, key: str, ttl_s: float) -> None:
        self.redis = redis
        self.key = key
        self.counter = f"{key}:token"
        self.ttl_ms = max(1, int(ttl_s * 1000))
        self._acquire: Any = redis.register_script(_ACQUIRE)
        self._renew: Any = redis.register_script(_RENEW)
        self._release: Any = redis.register_script(_RELEASE)

    async def acquire(self) -> int | None:
        """A new token if the lease was free (we own it now), else None."""
        token = await self._acquire(keys=[self.key, self.counter], args=[self.ttl_ms])
        return int(token) if token else None

    async def renew(self, token: int) -> bool:
        return bool(await self._renew(keys=[self.key], args=[token, self.ttl_ms]))

    async def release(self, token: int) -> bool:
        return bool(await self._release(keys=[self.key], args=[token]))

    async def holds(self, token: int) -> bool:
        """Does the key still hold ``token``? (checked before a PBX action)"""
        value = await self.redis.get(self.key)
        return value is not None and value == str(token).encode()

    async def holder(self) -> int | None:
        """The current owner's token (None: nobody, or being granted)."""
        value = await self.redis.get(self.key)
        try:
            return int(value) if value is not None else None
        except ValueError:
            return None
