"""The event bus: domain events from the call tracker to every consumer.

One interface (``Bus``, ``Subscription``), two implementations:

- ``MemoryBus``: one process; ``publish_nowait`` hands the very same event object to
  every matching subscription's local queue (no copying, no task).
- ``RedisBus``: several nodes; events cross a Redis Stream as JSON
  (``to_dict()`` / ``event_from_dict()``), so the same event comes out that went in.

Rules:
- ``publish_nowait`` never blocks and never awaits: the AMI reader calls it
  synchronously. On Redis it only appends to a local buffer that one owned
  publisher task writes in pipelined ``XADD`` batches (``MAXLEN ~ maxlen``); while
  Redis is down the buffer keeps growing up to ``buffer_limit``, past which the
  oldest event is dropped, counted and logged, and writes are retried with backoff.
- Lossy subscriptions (live pages, wallboards) have a bounded queue: when full the
  OLDEST event is dropped and counted in ``dropped``; a slow consumer never slows the
  publisher or anyone else. On Redis one shared ``XREAD`` task per bus reads the
  stream from where it ended when the bus started, and fans out to them.
- Lossless subscriptions (the call log) lose nothing. In memory the queue is
  unbounded and ``maxsize`` is only a high-water mark that logs a warning once per
  burst. On Redis each lossless name is a consumer group ``<group_prefix>:<name>``
  (several nodes sharing a name each get a share, every event once); an entry is
  acknowledged (``XACK``) only when the consumer takes the NEXT event or calls
  ``sub.ack()``, i.e. after it processed it. A consumer that takes many events and
  writes them in batches sets ``sub.auto_ack = False`` and calls ``sub.ack(count)``
  after each write (the oldest ``count`` taken are acked). Unacked entries are re-read
  on start (own pending list) and claimed from dead consumers after ``claim_idle_ms``:
  delivery is at-least-once, consumers are idempotent.
- A subscription is read by one consumer: ``async for event in sub`` or
  ``await sub.get()``. After ``close()`` it still yields what it already holds, then
  ends (``get()`` raises ``SubscriptionClosed``).
- Every background task is owned and cancelled/awaited by ``close()``, which first
  flushes what was published; bad entries on the stream are logged, counted, skipped.
- Fencing (``hotline.lease``): while ``RedisBus.fence_token`` is set (the node holds
  the AMI lease ``fence_key``), each event published is tagged with it and written by a
  Lua script only if the lease key still holds that token; otherwise the event is
  dropped and counted in ``fenced``: an old owner never writes after losing the lease.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import AsyncIterator, Callable, Collection, Coroutine
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError

from hotline.lease import FENCED_XADD
from telephony.events import DomainEvent, event_from_dict

log = logging.getLogger("hotline.bus")

__all__ = [
    "Bus",
    "MemoryBus",
    "RedisBus",
    "Subscription",
    "SubscriptionClosed",
    "decode_entry",
    "encode_event",
    "make_bus",
]

FIELD = b"e"  # the one field of a stream entry: the event as UTF-8 JSON
FAN_OUT_SLICE = 64  # lossy fan-out yields to the consumers after this many entries


class SubscriptionClosed(Exception):
    """Raised by ``Subscription.get()`` once it is closed and holds nothing more."""


# --------------------------------------------------------------------------- pure helpers


def encode_event(event: DomainEvent) -> bytes:
    """The event as compact UTF-8 JSON (Chinese text kept as is, not \\u-escaped)."""
    return json.dumps(event.to_dict(), ensure_ascii=False, separators=(",", ":")).encode()


def decode_entry(fields: Any) -> DomainEvent:
    """The event in a stream entry's fields; raises ValueError on anything malformed."""
    if not isinstance(fields, dict):
        raise ValueError("stream entry has no fields (deleted or trimmed)")
    raw = fields.get(FIELD)
    if raw is None:
        raise ValueError(f"stream entry has no {FIELD!r} field")
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"stream entry is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError("stream entry is not a JSON object")
    try:
        return event_from_dict(data)
    except Exception as exc:  # any shape of garbage: a reader must never die of it
        raise ValueError(f"stream entry is not a domain event: {exc!r}") from exc


def _backoff(attempt: int, base: float = 0.05, cap: float = 2.0) -> float:
    return float(min(cap, base * (2 ** min(attempt, 16))))


async def stop_task(task: asyncio.Task[Any]) -> None:
    """Cancel a task and wait until it has really ended.

    One ``cancel()`` is not always enough: a cancellation that arrives while redis-py
    is opening a connection can be swallowed (seen with Python 3.11 and redis-py 8:
    the task went on into the connection handshake and waited there). So cancel
    again until it is done.
    """
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=0.1)
    if not task.cancelled() and task.exception() is not None:
        log.error("bus task %s had failed", task.get_name(), exc_info=task.exception())


# --------------------------------------------------------------------------- subscriptions


class Subscription(ABC):
    """What a consumer reads: an async iterator of domain events."""

    name: str
    lossless: bool
    dropped: int
    # Lossless Redis only: True acks each event when the next one is taken (a consumer
    # that finishes an event before taking the next). A consumer that takes many and
    # writes them in batches sets it False and calls ack(count) after each write.
    auto_ack: bool = True

    def __aiter__(self) -> AsyncIterator[DomainEvent]:
        return self

    async def __anext__(self) -> DomainEvent:
        try:
            return await self.get()
        except SubscriptionClosed:
            raise StopAsyncIteration from None

    @abstractmethod
    async def get(self) -> DomainEvent:
        """The next event; raises ``SubscriptionClosed`` when closed and drained."""

    @abstractmethod
    def close(self) -> None:
        """Stop receiving; what is already held can still be read."""

    def ack(self, count: int | None = None) -> None:  # noqa: B027 - a no-op by default
        """Mark the oldest ``count`` events taken (all taken when None) as processed;
        only lossless Redis subscriptions keep track, others ignore it."""


class LocalSubscription(Subscription):
    """A subscription backed by a local deque (every in-memory and lossy Redis one).

    Lossy: ``deque(maxlen=maxsize)`` drops the oldest by itself; we count it.
    Lossless: unbounded; past ``maxsize`` a warning once per burst (a burst ends when
    the consumer is back under half of it).
    """

    def __init__(
        self,
        name: str,
        *,
        lossless: bool,
        maxsize: int,
        types: Collection[str] | None,
        on_close: Callable[[LocalSubscription], None] | None = None,
    ) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be >= 1")
        self.name = name
        self.lossless = lossless
        self.maxsize = maxsize
        self.types: frozenset[str] | None = None if types is None else frozenset(types)
        self.dropped = 0
        self.closed = False
        self._items: deque[DomainEvent] = deque(maxlen=None if lossless else maxsize)
        self._ready = asyncio.Event()
        self._over_high_water = False
        self._on_close = on_close

    def __repr__(self) -> str:
        kind = "lossless" if self.lossless else "lossy"
        return f"<{type(self).__name__} {self.name!r} {kind} queued={len(self._items)}>"

    def wants(self, event: DomainEvent) -> bool:
        return self.types is None or event.type in self.types

    def offer(self, event: DomainEvent) -> None:
        """Queue an event (caller checked ``wants``); never blocks, never raises."""
        if self.closed:
            return
        items = self._items
        if self.lossless:
            items.append(event)
            if len(items) > self.maxsize and not self._over_high_water:
                self._over_high_water = True
                log.warning(
                    "lossless subscription %r is %d events behind (high-water mark %d); "
                    "keeping every event", self.name, len(items), self.maxsize,
                )
        else:
            if len(items) == self.maxsize:
                self.dropped += 1  # the deque's maxlen drops the oldest on append
            items.append(event)
        self._ready.set()

    def _take(self) -> DomainEvent:
        items = self._items
        event = items.popleft()
        if not items:
            self._ready.clear()
        if self._over_high_water and len(items) <= self.maxsize // 2:
            self._over_high_water = False
        return event

    async def get(self) -> DomainEvent:
        while not self._items:
            if self.closed:
                raise SubscriptionClosed(self.name)
            await self._ready.wait()
        return self._take()

    def qsize(self) -> int:
        return len(self._items)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._ready.set()  # wake a waiting get() so it sees the end
        if self._on_close is not None:
            self._on_close(self)


# --------------------------------------------------------------------------- the interface


class Bus(ABC):
    """Publish domain events; subscribe lossy (live views) or lossless (the call log)."""

    @abstractmethod
    async def start(self) -> None:
        """Start background work (nothing to do in memory)."""

    @abstractmethod
    async def close(self) -> None:
        """Flush what was published, stop every task, close every subscription."""

    @abstractmethod
    def publish_nowait(self, event: DomainEvent) -> None:
        """Publish without blocking or awaiting (safe from a synchronous reader)."""

    @abstractmethod
    async def publish(self, event: DomainEvent) -> None:
        """Publish; on Redis, return once the event is written (or the bus closed)."""

    @abstractmethod
    def subscribe(
        self,
        name: str,
        *,
        lossless: bool = False,
        maxsize: int = 1000,
        types: Collection[str] | None = None,
    ) -> Subscription:
        """A new subscription to events published from now on (``types``: event type
        names to receive, e.g. ``{"CallEnded"}``; None means all)."""


# --------------------------------------------------------------------------- in memory


class MemoryBus(Bus):
    """The in-process bus: every subscription gets the same event object, at once."""

    def __init__(self) -> None:
        self._subs: list[LocalSubscription] = []
        self._closed = False
        self.published = 0
        self.rejected = 0  # published after close()

    async def start(self) -> None:
        return None

    def publish_nowait(self, event: DomainEvent) -> None:
        if self._closed:
            self._reject()
            return
        self.published += 1
        etype = event.type
        for sub in self._subs:
            if sub.types is None or etype in sub.types:
                sub.offer(event)

    async def publish(self, event: DomainEvent) -> None:
        self.publish_nowait(event)

    def subscribe(
        self,
        name: str,
        *,
        lossless: bool = False,
        maxsize: int = 1000,
        types: Collection[str] | None = None,
    ) -> Subscription:
        sub = LocalSubscription(
            name, lossless=lossless, maxsize=maxsize, types=types, on_close=self._forget
        )
        if self._closed:
            sub.close()
        else:
            # a new list, so a publish iterating the old one is never disturbed
            self._subs = [*self._subs, sub]
        return sub

    def _forget(self, sub: LocalSubscription) -> None:
        self._subs = [s for s in self._subs if s is not sub]

    def _reject(self) -> None:
        if not self.rejected:
            log.warning("event published on a closed bus: ignored (and counted)")
        self.rejected += 1

    async def close(self) -> None:
        # Everything published is already in the subscriptions' queues: closing them
        # lets each consumer drain what it holds and then end.
        self._closed = True
        for sub in list(self._subs):
            sub.close()
        self._subs = []


# --------------------------------------------------------------------------- Redis


class StreamSubscription(LocalSubscription):
    """A lossless subscription on Redis: a consumer group, acked after processing.

    The local deque holds at most ``maxsize`` entries read from the group (the rest
    stay in Redis); ``_ids`` runs alongside it with their stream ids.
    """

    def __init__(
        self,
        bus: RedisBus,
        name: str,
        *,
        maxsize: int,
        types: Collection[str] | None,
    ) -> None:
        super().__init__(name, lossless=True, maxsize=maxsize, types=types,
                         on_close=bus._forget)
        self.group = f"{bus.group_prefix}:{name}"
        self._bus = bus
        self._ids: deque[bytes] = deque()
        self._taken: deque[bytes] = deque()  # ids handed out and not acked yet
        self._room = asyncio.Event()
        self._room.set()
        self.task: asyncio.Task[None] | None = None

    def offer_entry(self, entry_id: bytes, event: DomainEvent) -> None:
        self._ids.append(entry_id)
        self._items.append(event)
        if len(self._items) >= self.maxsize:
            self._room.clear()
        self._ready.set()

    def room(self) -> int:
        return self.maxsize - len(self._items)

    async def wait_room(self) -> None:
        await self._room.wait()

    async def get(self) -> DomainEvent:
        if self.auto_ack:
            self.ack()  # taking the next event means the previous one was processed
        while not self._items:
            if self.closed:
                raise SubscriptionClosed(self.name)
            await self._ready.wait()
        event = self._take()
        self._taken.append(self._ids.popleft())
        if len(self._items) < self.maxsize:
            self._room.set()
        return event

    def ack(self, count: int | None = None) -> None:
        taken = self._taken
        n = len(taken) if count is None else max(0, min(count, len(taken)))
        for _ in range(n):
            self._bus._queue_ack(self.group, taken.popleft())

    @property
    def unacked(self) -> int:
        """Events taken and not acknowledged yet."""
        return len(self._taken)

    def close(self) -> None:
        if self.closed:
            return
        super().close()
        self._room.set()
        if self.task is not None:
            self.task.cancel()


class RedisBus(Bus):
    """The bus across nodes: one Redis Stream, consumer groups for lossless names."""

    def __init__(
        self,
        url: str,
        stream: str = "hotline:events",
        *,
        maxlen: int = 1_000_000,
        group_prefix: str = "hotline",
        consumer: str | None = None,
        buffer_limit: int = 200_000,
        batch_size: int = 500,
        block_ms: int = 1000,
        claim_idle_ms: int = 60_000,
        close_timeout: float = 5.0,
    ) -> None:
        self.url = url
        self.stream = stream
        self.maxlen = maxlen
        self.group_prefix = group_prefix
        # Stable across restarts of this host, so a restarted node re-reads its own
        # pending entries at once; entries of a consumer that never comes back are
        # claimed by the others after claim_idle_ms.
        self.consumer = consumer or socket.gethostname()
        self.buffer_limit = buffer_limit
        self.batch_size = batch_size
        self.block_ms = block_ms
        self.claim_idle_ms = claim_idle_ms
        self.close_timeout = close_timeout

        self.published = 0  # accepted by publish_nowait
        self.written = 0  # XADDed
        self.dropped = 0  # lost: buffer overflow, or still unwritten when close() gave up
        self.rejected = 0  # published after close()
        self.decode_errors = 0
        self.write_errors = 0
        self.fenced = 0  # refused: published under a lease token that was no longer current
        # the AMI lease (hotline.lease) events are published under, when set by its owner
        self.fence_key: str | None = None
        self.fence_token: int | None = None
        self._fenced_xadd: Any = None

        self._redis: Redis | None = None
        self._buffer: deque[tuple[int, DomainEvent, int | None]] = deque()
        self._seq = 0
        self._done_seq = 0  # every event with seq <= this has left the buffer
        self._progress = asyncio.Event()
        self._wake = asyncio.Event()
        self._overflowing = False
        self._position: bytes | None = None  # stream's last id when we began writing
        self._positioned = asyncio.Event()
        self._lossy: list[LocalSubscription] = []
        self._lossless: list[StreamSubscription] = []
        self._acks: dict[str, list[bytes]] = {}
        self._ack_wake = asyncio.Event()
        self._acks_final = False  # set by close(): the acker flushes and ends
        self._publisher: asyncio.Task[None] | None = None
        self._acker: asyncio.Task[None] | None = None
        self._lossy_reader: asyncio.Task[None] | None = None
        self._readers: set[asyncio.Task[None]] = set()
        self._started = False
        self._closing = False
        self._closed = False

    # ----------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        if self._started or self._closed:
            return
        self._started = True
        socket_timeout = self.block_ms / 1000 + 5.0  # a BLOCK read must not time out
        self._redis = Redis.from_url(
            self.url, socket_timeout=socket_timeout, socket_connect_timeout=2.0
        )
        self._fenced_xadd = self._redis.register_script(FENCED_XADD)
        self._publisher = self._spawn(self._publish_loop(), "publisher")
        self._acker = self._spawn(self._ack_loop(), "acker")
        # Always running (even with no lossy subscription yet), so a lossy subscription
        # made later starts about where it was made, not where the bus started.
        self._lossy_reader = self._spawn(self._lossy_loop(), "lossy-reader")
        for sub in self._lossless:
            self._start_group_reader(sub)

    async def close(self) -> None:
        if self._closed:
            return
        self._closing = True
        self._wake.set()
        if self._publisher is not None:
            await self._finish(self._publisher, "publisher")
        if self._buffer:
            self.dropped += len(self._buffer)
            log.error("bus closed with %d events not written to Redis: lost",
                      len(self._buffer))
            self._buffer.clear()
        self._closed = True
        self._release_publishers()
        for sub in [*self._lossy, *self._lossless]:
            sub.close()
        for task in [self._lossy_reader, *self._readers]:
            if task is not None:
                await stop_task(task)
        self._acks_final = True
        self._ack_wake.set()
        if self._acker is not None:
            await self._finish(self._acker, "acker")
        if self._redis is not None:
            await self._redis.aclose()

    async def _finish(self, task: asyncio.Task[None], what: str) -> None:
        """Let a task end by itself within ``close_timeout``, else cancel it."""
        await asyncio.wait({task}, timeout=self.close_timeout)
        if not task.done():
            log.warning("bus %s did not finish within %.1f s: cancelled", what,
                        self.close_timeout)
        await stop_task(task)

    def _spawn(self, coro: Coroutine[Any, Any, None], what: str) -> asyncio.Task[None]:
        return asyncio.create_task(coro, name=f"bus:{self.stream}:{what}")

    # ----------------------------------------------------------------- publishing

    def publish_nowait(self, event: DomainEvent) -> None:
        if self._closing:
            if not self.rejected:
                log.warning("event published on a closed bus: dropped (and counted)")
            self.rejected += 1
            return
        self._seq += 1
        self.published += 1
        buffer = self._buffer
        buffer.append((self._seq, event, self.fence_token))
        if len(buffer) > self.buffer_limit:
            buffer.popleft()
            self.dropped += 1
            if not self._overflowing:
                self._overflowing = True
                log.error("Redis bus buffer over %d events: dropping the oldest",
                          self.buffer_limit)
        self._wake.set()

    async def publish(self, event: DomainEvent) -> None:
        self.publish_nowait(event)
        seq = self._seq
        while self._done_seq < seq and not self._closed:
            await self._progress.wait()

    async def flush(self, timeout: float = 5.0) -> bool:  # noqa: ASYNC109
        """Wait until everything published so far has been written (or refused by the
        fence); False if that took longer than ``timeout``."""
        seq = self._seq
        try:
            async with asyncio.timeout(timeout):
                while self._done_seq < seq and not self._closed:
                    await self._progress.wait()
        except TimeoutError:
            return False
        return True

    def _release_publishers(self) -> None:
        progress, self._progress = self._progress, asyncio.Event()
        progress.set()

    async def _publish_loop(self) -> None:
        await self._take_position()
        if self._position is None:
            return  # closing while Redis was unreachable: close() counts the loss
        trouble = _Trouble("Redis write")
        while not self._closed:
            if not self._buffer:
                if self._closing:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            size = min(self.batch_size, len(self._buffer))
            batch = [self._buffer.popleft() for _ in range(size)]
            try:
                await self._write(batch)
            except Exception as exc:
                # Back in front, in order; what came since stays behind. A batch that
                # half-succeeded is written again: readers are idempotent.
                self._buffer.extendleft(reversed(batch))
                self.write_errors += 1
                await trouble.failed(exc)
                continue
            trouble.ok()
            self.written += len(batch)
            self._done_seq = batch[-1][0]
            if self._overflowing and len(self._buffer) < self.buffer_limit // 2:
                self._overflowing = False
            self._release_publishers()

    async def _write(self, batch: list[tuple[int, DomainEvent, int | None]]) -> None:
        pipe = self._redis_client().pipeline(transaction=False)
        fenced: dict[int, list[bytes]] = {}  # token -> payloads, in order
        for _, event, token in batch:
            try:
                payload = encode_event(event)
            except (TypeError, ValueError):
                log.exception("cannot encode %s: skipped", event.type)
                continue
            if token is None or self.fence_key is None:
                pipe.xadd(self.stream, {FIELD: payload}, maxlen=self.maxlen, approximate=True)
            else:
                fenced.setdefault(token, []).append(payload)
        await pipe.execute()
        for token, payloads in fenced.items():
            written = await self._fenced_xadd(
                keys=[self.fence_key, self.stream],
                args=[token, self.maxlen, FIELD, *payloads])
            if int(written) < 0:
                if not self.fenced:
                    log.error("events published under AMI lease token %s, which is no longer "
                              "the owner's: refused (fencing)", token)
                self.fenced += len(payloads)

    async def _take_position(self) -> None:
        """Note where the stream ends before we write, so our readers start there."""
        trouble = _Trouble("Redis connect")
        while self._position is None:
            try:
                last: Any = await self._redis_client().xrevrange(self.stream, count=1)
            except Exception as exc:
                if self._closing and trouble.attempt > 0:
                    return
                await trouble.failed(exc)
                continue
            self._position = last[0][0] if last else b"0-0"
        trouble.ok()
        self._positioned.set()

    def _redis_client(self) -> Redis:
        assert self._redis is not None, "RedisBus used before start()"
        return self._redis

    # ----------------------------------------------------------------- subscribing

    def subscribe(
        self,
        name: str,
        *,
        lossless: bool = False,
        maxsize: int = 1000,
        types: Collection[str] | None = None,
    ) -> Subscription:
        if not lossless:
            sub = LocalSubscription(name, lossless=False, maxsize=maxsize, types=types,
                                    on_close=self._forget)
            if self._closing:
                sub.close()
            else:
                self._lossy = [*self._lossy, sub]
            return sub
        if any(s.name == name for s in self._lossless):
            raise ValueError(f"lossless subscription {name!r} already exists on this bus")
        stream_sub = StreamSubscription(self, name, maxsize=maxsize, types=types)
        if self._closing:
            stream_sub.close()
            return stream_sub
        self._lossless.append(stream_sub)
        if self._started:
            self._start_group_reader(stream_sub)
        return stream_sub

    def _forget(self, sub: LocalSubscription) -> None:
        if isinstance(sub, StreamSubscription):
            self._lossless = [s for s in self._lossless if s is not sub]
        else:
            self._lossy = [s for s in self._lossy if s is not sub]

    def _start_group_reader(self, sub: StreamSubscription) -> None:
        task = self._spawn(self._group_loop(sub), f"group:{sub.name}")
        sub.task = task
        self._readers.add(task)
        task.add_done_callback(self._readers.discard)

    def _decode(self, entry_id: bytes, fields: Any) -> DomainEvent | None:
        try:
            return decode_entry(fields)
        except ValueError as exc:
            self.decode_errors += 1
            log.warning("bad entry %r on %s skipped: %s", entry_id, self.stream, exc)
            return None

    # ----------------------------------------------------------------- lossy reader

    async def _lossy_loop(self) -> None:
        """One XREAD (no group) for every lossy subscription of this node."""
        await self._positioned.wait()
        assert self._position is not None
        last = self._position
        trouble = _Trouble("Redis read")
        while not self._closed:
            try:
                reply: Any = await self._redis_client().xread(
                    {self.stream: last}, count=self.batch_size, block=self.block_ms
                )
            except Exception as exc:
                await trouble.failed(exc)
                continue
            trouble.ok()
            for _stream, entries in reply or ():
                for n, (entry_id, fields) in enumerate(entries, 1):
                    last = entry_id
                    if self._lossy:  # nobody listening: do not even decode
                        self._fan_out(entry_id, fields)
                    if n % FAN_OUT_SLICE == 0:
                        # Let consumers drain between slices of a big batch, so one
                        # that keeps up is not overrun by the batch size alone.
                        await asyncio.sleep(0)

    def _fan_out(self, entry_id: bytes, fields: Any) -> None:
        event = self._decode(entry_id, fields)
        if event is None:
            return
        etype = event.type
        for sub in self._lossy:
            if sub.types is None or etype in sub.types:
                sub.offer(event)

    # ----------------------------------------------------------------- lossless readers

    async def _group_loop(self, sub: StreamSubscription) -> None:
        """Feed one lossless subscription from its consumer group, never overfilling it.

        Phases: (1) create the group if need be and re-read our own pending entries
        (delivered before a restart or in a lost reply, never acked); (2) now and
        then claim entries other consumers left unacked for claim_idle_ms; (3) block
        for new entries. After any error, back to (1) from the last id we delivered.
        """
        await self._positioned.wait()
        client = self._redis_client()
        loop = asyncio.get_running_loop()
        delivered = b"0"
        setup = pending = True
        next_claim = 0.0
        trouble = _Trouble(f"Redis group read for {sub.name!r}")
        while not sub.closed:
            try:
                if setup:
                    await self._ensure_group(sub.group)
                    setup, pending = False, True
                await sub.wait_room()
                count = min(self.batch_size, sub.room())
                if pending:
                    entries = await self._read_group(client, sub, delivered, count, None)
                    pending = bool(entries)
                    if entries:
                        delivered = entries[-1][0]
                elif loop.time() >= next_claim:
                    entries = await self._claim(client, sub, count)
                    next_claim = loop.time() + max(self.claim_idle_ms / 2000, 0.05)
                else:
                    entries = await self._read_group(client, sub, b">", count, self.block_ms)
                    if entries:
                        delivered = entries[-1][0]
            except Exception as exc:
                setup = True
                await trouble.failed(exc)
                continue
            trouble.ok()
            if entries and not sub.closed:
                self._deliver(sub, entries)

    async def _read_group(
        self, client: Redis, sub: StreamSubscription, start: bytes, count: int,
        block: int | None,
    ) -> list[Any]:
        reply: Any = await client.xreadgroup(
            sub.group, self.consumer, {self.stream: start}, count=count, block=block
        )
        entries: list[Any] = reply[0][1] if reply else []
        return entries

    async def _claim(self, client: Redis, sub: StreamSubscription, count: int) -> list[Any]:
        """Entries OTHER consumers (gone, or stuck) left unacked for claim_idle_ms.

        Never our own: those may be sitting in our local queue, still to be taken.
        """
        pending: Any = await client.xpending_range(
            self.stream, sub.group, min="-", max="+", count=count, idle=self.claim_idle_ms
        )
        mine = self.consumer.encode()
        ids: list[Any] = [p["message_id"] for p in pending if p["consumer"] != mine]
        if not ids:
            return []
        claimed: Any = await client.xclaim(
            self.stream, sub.group, self.consumer, self.claim_idle_ms, ids
        )
        gone = set(ids) - {entry_id for entry_id, _ in claimed}
        for entry_id in gone:  # trimmed away meanwhile: nothing left to process
            self._queue_ack(sub.group, entry_id)
        log.info("claimed %d pending entries of other consumers for %r", len(claimed), sub.name)
        return list(claimed)

    def _deliver(self, sub: StreamSubscription, entries: list[Any]) -> None:
        for entry_id, fields in entries:
            event = self._decode(entry_id, fields)
            if event is None or not sub.wants(event):
                self._queue_ack(sub.group, entry_id)  # nothing to process: done
            else:
                sub.offer_entry(entry_id, event)

    async def _ensure_group(self, group: str) -> None:
        assert self._position is not None
        try:
            await self._redis_client().xgroup_create(
                self.stream, group, id=self._position, mkstream=True
            )
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    # ----------------------------------------------------------------- acks

    def _queue_ack(self, group: str, entry_id: bytes) -> None:
        if self._acker is None or self._acker.done():
            return  # not started (nothing was delivered) or closed: redelivered later
        self._acks.setdefault(group, []).append(entry_id)
        self._ack_wake.set()

    async def _ack_loop(self) -> None:
        trouble = _Trouble("Redis XACK")
        while True:
            if not self._acks:
                if self._acks_final:
                    return
                self._ack_wake.clear()
                await self._ack_wake.wait()
                continue
            acks, self._acks = self._acks, {}
            try:
                pipe = self._redis_client().pipeline(transaction=False)
                for group, ids in acks.items():
                    pipe.xack(self.stream, group, *ids)
                await pipe.execute()
            except Exception as exc:
                for group, ids in acks.items():
                    self._acks.setdefault(group, [])[:0] = ids
                await trouble.failed(exc)
                continue
            trouble.ok()


class _Trouble:
    """Backoff and log-once for a loop that talks to Redis: it never dies of an error."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.attempt = 0

    async def failed(self, exc: Exception) -> None:
        if self.attempt == 0:
            if isinstance(exc, RedisError | OSError):
                log.warning("%s failed (%s): retrying with backoff", self.what, exc)
            else:  # a bug, not an outage: say so loudly, but keep the loop alive
                log.error("%s failed unexpectedly", self.what, exc_info=exc)
        await asyncio.sleep(_backoff(self.attempt))
        self.attempt += 1

    def ok(self) -> None:
        if self.attempt:
            log.info("%s works again after %d failures", self.what, self.attempt)
            self.attempt = 0


# --------------------------------------------------------------------------- factory


def make_bus(settings: Any) -> Bus:
    """The bus the settings ask for (``bus`` = "memory" | "redis")."""
    kind = getattr(settings, "bus", "memory")
    if kind == "memory":
        return MemoryBus()
    if kind == "redis":
        return RedisBus(settings.redis_url, getattr(settings, "redis_stream", "hotline:events"),
                        consumer=getattr(settings, "redis_consumer", None))
    raise ValueError(f"unknown bus {kind!r}: expected 'memory' or 'redis'")
