"""asyncio AMI client: one owned connection to Asterisk around the sans-I/O codec.

What it does: connects, logs in (plain Secret, or MD5 challenge), tells the
consumer, resyncs the live state (CoreShowChannels, QueueStatus, Status), pings, and on
any loss reconnects with capped exponential backoff and full jitter.

Rules (each one fixes a defect of panoramisk 1.4 that Hotline must not inherit):
- messages are split in BYTES by :class:`~telephony.ami_codec.AmiDecoder`
  before decoding, so a UTF-8 character cut by TCP is never lost, and GBK
  caller names decode to the right text;
- every action has a timeout (:class:`AmiTimeout`); a reply that comes later
  matches no pending action and is dropped;
- a Ping every ``ping_interval``; no answer within ``ping_timeout`` means the
  link is half-open: it is aborted and reconnected;
- reconnects wait ``backoff_delay(attempt, reconnect_min, reconnect_max, rng)``;
- nothing is ever re-sent: when the link drops, every pending action fails
  with :class:`AmiNotConnected` (for an Originate: "result unknown"), so a
  call is never dialled twice.
The reader task never stops draining the socket: it only reads 64 KiB chunks,
decodes and dispatches (responses to their futures by ActionID, events
synchronously to ``consumer.on_event``). A consumer exception, a malformed line,
non-UTF-8 bytes or a truncated message is logged and counted, never fatal.
OriginateResponse is an EVENT that carries a Response header. Events carrying
the ActionID of a pending list action belong to that list (resync lists also go
to the consumer, in arrival order with live events). Replies matching no pending
action are ignored. Every task is owned and cancelled by :meth:`AmiClient.close`.
Consumer order per link: ``on_connected`` (from the reader, right at the Login
reply, so before any event of the link), then ``on_resync_begin``, the list
events (``...Complete`` included) mixed with live events in arrival order,
``on_resync_end``; finally ``on_disconnected``. A refused resync list is
skipped; a resync cut by a timeout or a lost link gets no ``on_resync_end``
(the snapshot is partial): the next link begins a new one.

Booting PBX: Asterisk opens AMI before its modules are loaded, so right after an
Asterisk restart a login succeeds while app_queue is still missing (QueueStatus:
"Invalid/unknown command"). The resync therefore waits for ``FullyBooted`` (sent
right after the Login reply by a booted Asterisk, broadcast later by a booting one;
at most ``boot_timeout``, then it goes on and says so), and a resync action refused
as an unknown command is asked again with backoff (``RESYNC_RETRY_DELAYS``) before
it is skipped. :attr:`AmiClient.ready` is true from then on: callers that need the
modules (the callback worker) wait for it, not for :attr:`AmiClient.connected`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import logging
import os
import random
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal, Protocol

from telephony.ami_codec import (
    BANNER_KEY,
    DEFAULT_LIMITS,
    AmiDecoder,
    AmiLimits,
    Message,
    encode_action,
)

log = logging.getLogger("telephony.ami")

Fields = Mapping[str, str | int | Iterable[str]]

READ_CHUNK = 65536
# the decoder's counts of what it skipped, cut or dropped: added to stats and logged
_DECODER_COUNTERS = ("malformed_lines", "dropped_messages", "dropped_bytes", "dropped_lines",
                     "truncated_lines")
# the resync's lists, in this order. Status with AllVariables gives each channel's
# variables and age (manager.c generate_status: "Variable: NAME=value" lines, "Seconds"):
# CoreShowChannels has neither, and a call adopted after a restart needs its IVR
# variables and recording name (issue 12 item 8)
RESYNC_ACTIONS: tuple[tuple[str, dict[str, str] | None], ...] = (
    ("CoreShowChannels", None),
    ("QueueStatus", None),
    ("Status", {"AllVariables": "true"}),
)
# a resync action whose module is not loaded yet is asked again after these delays
RESYNC_RETRY_DELAYS = (0.5, 1.0, 2.0, 4.0, 8.0)
_NOT_LOADED = "invalid/unknown command"
_MAX_DEAD_LISTS = 256
_CONSUMER_ERRORS_LOGGED = 10  # then one log line per 1000 failures: no log flood


class AmiConsumer(Protocol):
    """What the client feeds; all calls are synchronous, from the reader or the session."""

    def on_event(self, msg: Mapping[str, str]) -> None: ...
    def on_connected(self) -> None: ...
    def on_disconnected(self) -> None: ...
    def on_resync_begin(self) -> None: ...
    def on_resync_end(self) -> None: ...


class AmiError(Exception):
    """An action failed; ``response`` is the AMI reply when there was one."""

    def __init__(self, message: str = "", response: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.response: dict[str, str] | None = dict(response) if response is not None else None


class AmiTimeout(AmiError):
    """No reply within the timeout (or no connection within ``wait_connected``)."""


class AmiNotConnected(AmiError):
    """No logged-in link, or the link dropped while the action was pending."""


class AmiAuthError(AmiError):
    """Asterisk refused the login."""


def backoff_delay(attempt: int, lo: float, hi: float, rng: Callable[[], float]) -> float:
    """Seconds to wait before reconnect number ``attempt`` (0-based).

    Capped exponential backoff with full jitter: uniform between ``lo`` and
    ``min(hi, lo * 2**attempt)``; ``rng()`` gives the uniform [0, 1) draw."""
    lo = max(0.0, lo)
    hi = max(lo, hi)
    ceiling = min(hi, lo * 2.0 ** min(max(attempt, 0), 64))
    return lo + (ceiling - lo) * min(max(rng(), 0.0), 1.0)


def md5_key(challenge: str, secret: str) -> str:
    """The ``Key`` of an MD5 challenge login: md5(challenge + secret), hex."""
    return hashlib.md5((challenge + secret).encode("utf-8"), usedforsecurity=False).hexdigest()


def originate_timeout(fields: Mapping[str, Any], action_timeout: float) -> float:
    """A synchronous Originate answers only once the call is answered or failed,
    i.e. after the AMI ``Timeout`` (ms, default 30 s); an Async one at once."""
    if str(fields.get("Async", "")).lower() in ("true", "yes", "1", "on"):
        return action_timeout
    try:
        dial_ms = float(fields.get("Timeout", 30000))
    except (TypeError, ValueError):
        dial_ms = 30000.0
    return action_timeout + max(dial_ms, 0.0) / 1000.0


def _is_list_complete(msg: Mapping[str, str]) -> bool:
    return msg.get("EventList", "").lower() == "complete" or msg["Event"].endswith("Complete")


class _Pending:
    """One action awaiting its reply; ``items`` is not None for a list action."""

    __slots__ = ("future", "items", "to_consumer", "progress", "on_reply")

    def __init__(self, future: asyncio.Future[Any], is_list: bool, to_consumer: bool,
                 on_reply: Callable[[Message], None] | None = None) -> None:
        self.future = future
        self.items: list[dict[str, str]] | None = [] if is_list else None
        self.to_consumer = to_consumer
        self.progress = 0
        # run by the reader itself, before the next message of the same read
        self.on_reply = on_reply


class _Link:
    """One TCP connection: its streams, decoder and pending actions."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 limits: AmiLimits) -> None:
        self.reader = reader
        self.writer = writer
        self.decoder = AmiDecoder(limits=limits)
        self.pending: dict[str, _Pending] = {}
        self.dead_lists: set[str] = set()  # list actions given up on: drop their late events
        self.alive = True
        self.seen: dict[str, int] = dict.fromkeys(_DECODER_COUNTERS, 0)  # reported so far
        self.booted = asyncio.Event()  # FullyBooted seen on this link

    def fail_pending(self, reason: str) -> None:
        self.alive = False
        pending, self.pending = self.pending, {}
        for p in pending.values():
            if not p.future.done():
                p.future.set_exception(AmiNotConnected(reason))
                p.future.exception()  # mark retrieved: nobody may be awaiting it any more

    def abort(self) -> None:
        self.alive = False
        transport = self.writer.transport
        if not transport.is_closing():
            transport.abort()


class AmiClient:
    """One AMI connection to one Asterisk, kept alive until :meth:`close`."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        username: str,
        secret: str,
        consumer: AmiConsumer,
        action_timeout: float = 5.0,
        ping_interval: float = 10.0,
        ping_timeout: float = 5.0,
        reconnect_min: float = 0.5,
        reconnect_max: float = 30.0,
        resync: bool = True,
        rng: Callable[[], float] = random.random,
        events: str = "on",
        auth: Literal["plain", "md5"] = "plain",
        boot_timeout: float = 60.0,
        sleep: Callable[[float], Any] = asyncio.sleep,
        limits: AmiLimits = DEFAULT_LIMITS,
    ) -> None:
        self.host = host
        self.port = port
        self.username = username
        self._secret = secret
        self._consumer = consumer
        self.action_timeout = action_timeout
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.reconnect_min = reconnect_min
        self.reconnect_max = reconnect_max
        self.resync = resync
        self._rng = rng
        self.events = events
        self.auth = auth
        self.boot_timeout = boot_timeout
        self._sleep = sleep
        self.limits = limits
        self._ready = False
        self.stats: dict[str, int] = dict.fromkeys(
            ("connects", "reconnects", *_DECODER_COUNTERS, "ping_timeouts",
             "actions_timed_out", "events", "consumer_errors", "auth_failures", "unmatched"),
            0,
        )
        #: the reconnect delays actually waited, newest last (for operators and tests)
        self.reconnect_delays: deque[float] = deque(maxlen=100)
        self.last_error: BaseException | None = None
        self._ids = itertools.count(1)
        self._id_prefix = f"hl-{os.urandom(3).hex()}-"
        self._link: _Link | None = None
        self._connected = False
        self._connected_event = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def from_settings(cls, settings: Any, consumer: AmiConsumer) -> AmiClient:
        """Build from a settings object (duck-typed: ``ami_*`` attributes)."""
        return cls(
            host=settings.ami_host,
            port=int(settings.ami_port),
            username=settings.ami_username,
            secret=settings.ami_secret,
            consumer=consumer,
            action_timeout=float(settings.ami_action_timeout_s),
            ping_interval=float(settings.ami_ping_interval_s),
            ping_timeout=float(settings.ami_ping_timeout_s),
            reconnect_min=float(settings.ami_reconnect_min_s),
            reconnect_max=float(settings.ami_reconnect_max_s),
            boot_timeout=float(getattr(settings, "ami_boot_timeout_s", 60.0)),
            limits=AmiLimits(
                max_message=int(getattr(settings, "ami_max_message_bytes", 1 << 20)),
                max_lines=int(getattr(settings, "ami_max_message_lines", 1000)),
                max_line=int(getattr(settings, "ami_max_line_chars", 4096)),
            ),
        )

    # ----------------------------------------------------------------- public API

    @property
    def connected(self) -> bool:
        """True while a logged-in link is up."""
        return self._connected

    @property
    def ready(self) -> bool:
        """True once the PBX on the current link is booted and resynced (or was waited
        for as long as ``boot_timeout``): its modules answer actions."""
        return self._connected and self._ready

    async def start(self) -> None:
        """Start the owned connection task; returns at once."""
        if self._task is not None and not self._task.done():
            return
        self._closing = False
        self._task = asyncio.create_task(self._run(), name=f"ami-{self.host}:{self.port}")

    async def wait_connected(self, timeout: float) -> None:  # noqa: ASYNC109 (fixed API)
        """Wait until logged in; :class:`AmiTimeout` if that takes longer than ``timeout``."""
        try:
            async with asyncio.timeout(timeout):
                await self._connected_event.wait()
        except TimeoutError:
            raise AmiTimeout(f"not connected to AMI {self.host}:{self.port} "
                             f"within {timeout} s (last error: {self.last_error!r})") from None

    async def send_action(
        self,
        action: str,
        fields: Fields | None = None,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 (fixed API; per-action timeout)
    ) -> dict[str, str]:
        """Send one action and return its Response (``Response: Error`` raises AmiError)."""
        link = self._require_link()
        return await self._request(link, action, fields, self._timeout(timeout))

    async def send_list_action(
        self,
        action: str,
        fields: Fields | None = None,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 (fixed API; inactivity timeout)
    ) -> list[dict[str, str]]:
        """Send an EventList action; return its events up to (not including) the
        ``...Complete`` event. ``timeout`` is the longest silence between items."""
        link = self._require_link()
        return await self._list_request(link, action, fields, self._timeout(timeout), False)

    async def originate(self, **fields: str | int | Iterable[str]) -> dict[str, str]:
        """Originate, never re-sent: if the link drops before the reply, the call
        may or may not have been placed -> AmiNotConnected("result unknown")."""
        link = self._require_link()
        timeout = originate_timeout(fields, self.action_timeout)
        try:
            return await self._request(link, "Originate", fields, timeout)
        except AmiNotConnected as exc:
            raise AmiNotConnected(f"link lost while Originate was pending: result unknown "
                                  f"({exc})") from exc

    async def close(self) -> None:
        """Log off if connected, then cancel and await every task."""
        self._closing = True
        link = self._link
        if self._connected and link is not None and link.alive:
            with contextlib.suppress(AmiError):
                await self._request(link, "Logoff", None, min(self.action_timeout, 1.0))
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # ------------------------------------------------------------- actions on a link

    def _timeout(self, timeout: float | None) -> float:
        return self.action_timeout if timeout is None else timeout

    def _require_link(self) -> _Link:
        link = self._link
        if not self._connected or link is None or not link.alive:
            raise AmiNotConnected(f"not connected to AMI {self.host}:{self.port}")
        return link

    def _register(self, link: _Link, action: str, fields: Fields | None, is_list: bool,
                  to_consumer: bool, on_reply: Callable[[Message], None] | None = None,
                  ) -> tuple[str, _Pending]:
        if not link.alive:
            raise AmiNotConnected("link is down")
        action_id = f"{self._id_prefix}{next(self._ids)}"
        data = encode_action(action, fields, action_id=action_id)  # ValueError on CR/LF
        future = asyncio.get_running_loop().create_future()
        pending = _Pending(future, is_list, to_consumer, on_reply)
        link.pending[action_id] = pending
        link.writer.write(data)
        return action_id, pending

    async def _request(self, link: _Link, action: str, fields: Fields | None, limit: float,
                       on_reply: Callable[[Message], None] | None = None) -> dict[str, str]:
        action_id, pending = self._register(link, action, fields, False, False, on_reply)
        try:
            async with asyncio.timeout(limit):
                await link.writer.drain()
                response: dict[str, str] = await pending.future
        except TimeoutError:
            self.stats["actions_timed_out"] += 1
            raise AmiTimeout(f"{action}: no reply within {limit} s") from None
        except ConnectionError as exc:
            raise AmiNotConnected(f"{action}: {exc}") from exc
        finally:
            link.pending.pop(action_id, None)
        if response.get("Response", "").lower() == "error":
            raise AmiError(f"{action}: {response.get('Message', 'error')}", response)
        return response

    async def _list_request(self, link: _Link, action: str, fields: Fields | None,
                            limit: float, to_consumer: bool) -> list[dict[str, str]]:
        action_id, pending = self._register(link, action, fields, True, to_consumer)
        future = pending.future
        try:
            try:
                async with asyncio.timeout(limit):
                    await link.writer.drain()
            except TimeoutError:
                self.stats["actions_timed_out"] += 1
                raise AmiTimeout(f"{action}: could not even send it in {limit} s") from None
            except ConnectionError as exc:
                raise AmiNotConnected(f"{action}: {exc}") from exc
            seen = -1
            # an inactivity timeout: a long list is fine as long as items keep coming
            while not future.done() and pending.progress != seen:
                seen = pending.progress
                await asyncio.wait((future,), timeout=limit)
            if not future.done():
                self.stats["actions_timed_out"] += 1
                raise AmiTimeout(f"{action}: list not complete, silent for {limit} s")
            items: list[dict[str, str]] = future.result()
            return items
        finally:
            if link.pending.pop(action_id, None) is not None and not future.done():
                link.dead_lists.add(action_id)
                if len(link.dead_lists) > _MAX_DEAD_LISTS:
                    link.dead_lists.pop()

    # --------------------------------------------------------------- reader (hot path)

    async def _read_loop(self, link: _Link) -> None:
        read = link.reader.read
        feed = link.decoder.feed
        try:
            while True:
                data = await read(READ_CHUNK)
                if not data:
                    break
                msgs = feed(data)
                if msgs:
                    self._dispatch(link, msgs)
                self._count_bad_input(link)
        except (ConnectionError, OSError) as exc:
            log.warning("AMI %s:%s read failed: %s", self.host, self.port, exc)
        finally:
            if link.decoder.pending:
                log.warning("AMI link closed inside a message: %d bytes dropped",
                            link.decoder.pending)
                self.stats["dropped_bytes"] += link.decoder.pending
            link.fail_pending("AMI link lost")

    def _count_bad_input(self, link: _Link) -> None:
        decoder, seen = link.decoder, link.seen
        new = {name: getattr(decoder, name) - seen[name] for name in _DECODER_COUNTERS}
        if not any(new.values()):
            return
        for name, count in new.items():
            seen[name] += count
            self.stats[name] += count
        limits = self.limits
        log.warning(
            "AMI %s:%s: bad or oversized input: %d malformed lines skipped; %d messages over "
            "%d bytes dropped (%d bytes); %d lines over %d in a message dropped; %d lines cut "
            "to %d characters", self.host, self.port, new["malformed_lines"],
            new["dropped_messages"], limits.max_message, new["dropped_bytes"],
            new["dropped_lines"], limits.max_lines, new["truncated_lines"], limits.max_line)

    def _dispatch(self, link: _Link, msgs: list[Message]) -> None:
        pending = link.pending
        on_event = self._consumer.on_event
        delivered = 0
        for msg in msgs:
            if "Event" in msg:
                if msg["Event"] == "FullyBooted":
                    link.booted.set()
                action_id = msg.get("ActionID")
                if action_id is not None and (action_id in pending or action_id in link.dead_lists):
                    if not self._list_event(link, action_id, msg):
                        continue
                delivered += 1
                try:
                    on_event(msg)
                except Exception:
                    self._consumer_failed(msg)
            elif "Response" in msg:
                p = pending.get(msg.get("ActionID", ""))
                if p is None:
                    self.stats["unmatched"] += 1  # late reply after a timeout, or not ours
                elif p.items is None:
                    if not p.future.done():
                        p.future.set_result(msg)
                        if p.on_reply is not None:
                            p.on_reply(msg)
                elif msg["Response"].lower() == "error" and not p.future.done():
                    p.future.set_exception(AmiError(msg.get("Message", "error"), msg))
                else:
                    p.progress += 1
            elif BANNER_KEY in msg:
                log.info("AMI %s:%s says %s", self.host, self.port, msg[BANNER_KEY])
        self.stats["events"] += delivered

    def _list_event(self, link: _Link, action_id: str, msg: Message) -> bool:
        """File an event that carries the ActionID of one of our actions; True if
        the consumer gets it too."""
        p = link.pending.get(action_id)
        if p is None:  # a list we gave up on: its late items are noise
            if _is_list_complete(msg):
                link.dead_lists.discard(action_id)
            return False
        if p.items is None:  # e.g. OriginateResponse of a pending Originate
            return True
        p.progress += 1
        if _is_list_complete(msg):
            if not p.future.done():
                p.future.set_result(p.items)
        else:
            p.items.append(msg)
        return p.to_consumer

    def _consumer_failed(self, msg: Mapping[str, str]) -> None:
        n = self.stats["consumer_errors"] = self.stats["consumer_errors"] + 1
        if n <= _CONSUMER_ERRORS_LOGGED or n % 1000 == 0:
            log.exception("AMI consumer failed on %s (failure #%d)",
                          msg.get("Event") or msg.get("Response"), n)

    def _notify(self, callback: Callable[[], None]) -> None:
        try:
            callback()
        except Exception:
            self.stats["consumer_errors"] += 1
            log.exception("AMI consumer callback %s failed", getattr(callback, "__name__", "?"))

    # ------------------------------------------------------------ connection lifecycle

    async def _run(self) -> None:
        attempt = 0
        while not self._closing:
            connects = self.stats["connects"]
            try:
                await self._session()
            except AmiAuthError as exc:
                self.last_error = exc
                self.stats["auth_failures"] += 1
                log.error("AMI login to %s:%s as %r refused: %s",
                          self.host, self.port, self.username, exc)
            except (OSError, AmiError) as exc:
                self.last_error = exc
                log.warning("AMI %s:%s: %s", self.host, self.port, exc or type(exc).__name__)
            except Exception as exc:  # a bug or bad config must not kill the link for good
                self.last_error = exc
                log.exception("AMI %s:%s: session failed", self.host, self.port)
            if self._closing:
                break
            if self.stats["connects"] != connects:  # this link got logged in: start over
                attempt = 0
            delay = backoff_delay(attempt, self.reconnect_min, self.reconnect_max, self._rng)
            attempt += 1
            self.reconnect_delays.append(delay)
            await asyncio.sleep(delay)

    async def _connect(self) -> _Link:
        async with asyncio.timeout(self.action_timeout):
            reader, writer = await asyncio.open_connection(self.host, self.port,
                                                           limit=4 * READ_CHUNK)
        return _Link(reader, writer, self.limits)

    async def _session(self) -> None:
        """One connection, from connect to loss."""
        try:
            link = await self._connect()
        except TimeoutError:
            raise AmiTimeout(f"connect to {self.host}:{self.port} timed out") from None
        self._link = link
        reader = asyncio.create_task(self._read_loop(link), name="ami-reader")
        pinger: asyncio.Task[None] | None = None
        state = {"announced": False}

        def logged_in(reply: Message) -> None:
            # in the reader, so on_connected comes before any event that follows the reply
            if reply.get("Response", "").lower() == "success":
                state["announced"] = True
                self._mark_connected()
                self._notify(self._consumer.on_connected)

        try:
            await self._login(link, logged_in)
            if self.ping_interval > 0:
                pinger = asyncio.create_task(self._ping_loop(link), name="ami-ping")
            await self._wait_booted(link, reader)
            if self.resync:
                await self._resync(link)
            self._ready = True
            watched = {reader} if pinger is None else {reader, pinger}
            await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
        finally:
            await self._teardown(link, reader, pinger, state["announced"])

    async def _teardown(self, link: _Link, reader: asyncio.Task[None],
                        pinger: asyncio.Task[None] | None, announced: bool) -> None:
        self._connected = False
        self._ready = False
        self._connected_event.clear()
        link.abort()
        for task in (pinger, reader):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        link.fail_pending("AMI link lost")
        if self._link is link:
            self._link = None
        if announced:
            # a link we close ourselves (shutdown) is no news; a lost one is
            log.log(logging.INFO if self._closing else logging.WARNING,
                    "AMI %s:%s disconnected", self.host, self.port)
            self._notify(self._consumer.on_disconnected)

    def _mark_connected(self) -> None:
        if self.stats["connects"]:
            self.stats["reconnects"] += 1
        self.stats["connects"] += 1
        self._connected = True
        self._connected_event.set()
        log.info("AMI logged in to %s:%s as %r", self.host, self.port, self.username)

    async def _login(self, link: _Link, on_success: Callable[[Message], None]) -> None:
        fields: dict[str, str] = {"Username": self.username}
        if self.auth == "md5":
            challenge = await self._request(link, "Challenge", {"AuthType": "MD5"},
                                            self.action_timeout)
            fields.update(AuthType="MD5", Key=md5_key(challenge.get("Challenge", ""),
                                                      self._secret))
        else:
            fields["Secret"] = self._secret
        fields["Events"] = self.events
        try:
            await self._request(link, "Login", fields, self.action_timeout, on_success)
        except (AmiTimeout, AmiNotConnected):
            raise
        except AmiError as exc:
            raise AmiAuthError(str(exc), exc.response) from None

    async def _wait_booted(self, link: _Link, reader: asyncio.Task[None]) -> None:
        """Until the PBX says FullyBooted (a lost link ends the session)."""
        if link.booted.is_set():
            return
        log.info("AMI %s:%s: waiting for the PBX to finish booting", self.host, self.port)
        booted = asyncio.create_task(link.booted.wait())
        try:
            done, _ = await asyncio.wait({booted, reader}, timeout=self.boot_timeout,
                                         return_when=asyncio.FIRST_COMPLETED)
        finally:
            booted.cancel()
        if reader in done or not link.alive:
            raise AmiNotConnected("AMI link lost while the PBX was booting")
        if booted not in done:
            log.warning("AMI %s:%s: no FullyBooted within %s s: resyncing anyway", self.host,
                        self.port, self.boot_timeout)

    async def _resync(self, link: _Link) -> None:
        """Snapshot the PBX. A list refused as an unknown command (its module still
        loading) is asked again with backoff, any other refusal is skipped; a timeout
        or a lost link ends the session (no on_resync_end: the snapshot would be
        partial)."""
        self._notify(self._consumer.on_resync_begin)
        for action, fields in RESYNC_ACTIONS:
            for delay in (*RESYNC_RETRY_DELAYS, None):
                try:
                    await self._list_request(link, action, fields, self.action_timeout, True)
                    break
                except (AmiTimeout, AmiNotConnected):
                    raise
                except AmiError as exc:
                    if delay is None or _NOT_LOADED not in str(exc).lower():
                        log.warning("AMI resync: %s refused: %s", action, exc)
                        break
                    log.info("AMI resync: %s not available yet, again in %s s", action, delay)
                    await self._sleep(delay)
        self._notify(self._consumer.on_resync_end)

    async def _ping_loop(self, link: _Link) -> None:
        """Returns when the link is dead (no Pong in time, or gone)."""
        while True:
            await asyncio.sleep(self.ping_interval)
            try:
                await self._request(link, "Ping", None, self.ping_timeout)
            except AmiTimeout:
                self.stats["ping_timeouts"] += 1
                log.warning("AMI %s:%s: no Pong within %s s, link declared dead",
                            self.host, self.port, self.ping_timeout)
                link.abort()  # also ends a resync or any action waiting on this link
                return
            except AmiNotConnected:
                return
            except AmiError:
                pass  # an Error reply still proves the link is alive
