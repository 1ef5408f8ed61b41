"""The AMI owner's loop: hold the lease (``hotline.lease``), and run the owner's duties
only while it is held.

Every ``renew_s`` the loop tries to acquire the lease (not the owner) or renew it (the
owner). Becoming owner runs ``on_gain(token)`` (the app starts its AMI client, whose
first connect resyncs and reconciles from the PBX's journal, the callback worker and
the server of the other nodes' PBX requests); losing it (renew refused, or no answer
from Redis until the local deadline passed) runs ``on_loss()``, which stops them.
Ownership is what the pure ``Fence`` says at each moment, so a node whose loop is stuck
stops being owner by its clock, not when the loop next runs.

:class:`FencedAmi` is the AMI link as the owner's duties use it: before each action it
checks that the lease still holds this node's token (locally, then in Redis), so an
old owner that wakes up after a pause sends nothing to the PBX.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from hotline.cancelling import stop_if_cancelled
from hotline.lease import Fence, RedisLease, Transition
from telephony.ami import AmiClient, AmiNotConnected, Fields

log = logging.getLogger("hotline.ownership")

__all__ = ["FencedAmi", "OwnerLoop"]


class OwnerLoop:
    """Acquire/renew the lease forever; run the duties while it is held."""

    def __init__(self, lease: RedisLease, fence: Fence, *, renew_s: float,
                 on_gain: Callable[[int], Awaitable[None]],
                 on_loss: Callable[[], Awaitable[None]],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.lease = lease
        self.fence = fence
        self.renew_s = renew_s
        self.on_gain = on_gain
        self.on_loss = on_loss
        self.clock = clock
        self.owner = False  # the duties run (on_gain ran, on_loss not yet)
        self.stats = {"gained": 0, "lost": 0, "redis_errors": 0}
        self._failing = False

    def is_owner(self) -> bool:
        """May this node act as the owner NOW (token held, local deadline not past)."""
        return self.fence.current(self.clock()) is not None

    async def _attempt(self) -> Transition:
        fence, sent = self.fence, self.clock()
        try:
            # never wait longer than the lease is trusted: a stuck call ends as "no answer"
            async with asyncio.timeout(max(self.fence.ttl_s / 2, 0.05)):
                if fence.token is None:
                    done = fence.acquired(await self.lease.acquire(), sent)
                else:
                    done = fence.renewed(await self.lease.renew(fence.token), sent)
        except Exception as exc:
            self.stats["redis_errors"] += 1
            if not self._failing:
                log.warning("AMI lease: Redis did not answer (%s); owner only until the "
                            "lease's local deadline", exc)
            self._failing = True
            return fence.expired(self.clock())
        if self._failing:
            log.info("AMI lease: Redis answers again")
            self._failing = False
        return done

    async def step(self) -> None:
        """One attempt, then start or stop the duties to match."""
        await self._attempt()
        token = self.fence.current(self.clock())
        if token is not None and not self.owner:
            self.owner = True
            self.stats["gained"] += 1
            log.info("this node is now the PBX's AMI owner (lease token %d)", token)
            await self.on_gain(token)
        elif token is None and self.owner:
            self.owner = False
            self.stats["lost"] += 1
            self.fence.lose()
            log.warning("this node is no longer the PBX's AMI owner: stopping its AMI link")
            await self.on_loss()

    async def run(self) -> None:
        while True:
            try:
                await self.step()
            except Exception:  # a duty that fails to start or stop must not end the loop
                stop_if_cancelled()
                log.exception("AMI owner loop: a step failed; going on")
            await asyncio.sleep(self.renew_s)

    async def release(self) -> None:
        """Give the lease back (a clean stop): another node takes over at once."""
        token = self.fence.token
        self.fence.lose()
        if token is None:
            return
        try:
            async with asyncio.timeout(2.0):
                await self.lease.release(token)
        except Exception as exc:
            log.warning("AMI lease not released (%s): it expires by itself", exc)


class FencedAmi:
    """The AMI client, acting only while this node holds the lease (see module doc)."""

    def __init__(self, client: AmiClient, fence: Fence, lease: RedisLease, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.client = client
        self.fence = fence
        self.lease = lease
        self.clock = clock
        self.refused = 0

    @property
    def connected(self) -> bool:
        return self.client.connected and self.fence.current(self.clock()) is not None

    @property
    def ready(self) -> bool:
        return self.client.ready and self.connected

    async def _check(self, action: str) -> None:
        token = self.fence.current(self.clock())
        try:
            held = token is not None and await self.lease.holds(token)
        except Exception as exc:
            held = False
            log.warning("AMI lease cannot be checked before %s (%s)", action, exc)
        if not held:
            self.refused += 1
            raise AmiNotConnected(f"{action} not sent: this node no longer holds the PBX "
                                  "link (AMI lease lost)")

    async def send_action(self, action: str, fields: Fields | None = None, *,
                          timeout: float | None = None,  # noqa: ASYNC109 (AmiClient API)
                          ) -> dict[str, str]:
        await self._check(action)
        return await self.client.send_action(action, fields, timeout=timeout)

    async def send_list_action(self, action: str, fields: Fields | None = None, *,
                               timeout: float | None = None,  # noqa: ASYNC109
                               ) -> list[dict[str, str]]:
        await self._check(action)
        return await self.client.send_list_action(action, fields, timeout=timeout)

    async def originate(self, **fields: str | int | Iterable[str]) -> dict[str, str]:
        await self._check("Originate")
        return await self.client.originate(**fields)

    def __getattr__(self, name: str) -> Any:  # stats, wait_connected...: the client's
        return getattr(self.client, name)
