"""The call log: one ``call_record`` row per finished call, written from ``CallEnded``.

Rules:
- idempotent by Linkedid: ``INSERT ... ON CONFLICT (linkedid) DO NOTHING`` on SQLite
  and PostgreSQL, so a replayed or duplicated event never doubles a row, even when two
  writers race;
- crm_core does not import telephony at run time: a summary is anything shaped like
  ``telephony.events.CallSummary`` (its fields and ``to_dict()``);
- the customer's number is matched to a customer by ``phone_number.number_e164``: one
  indexed query per batch, never one per row. That number is the summary's ``caller``
  in both directions: an inbound call's caller id, an outbound call's number dialled
  (``telephony.tracker`` puts it there), so both are linked the same way;
- ``direction`` is ``inbound`` or ``outbound``; anything else (or a summary of an older
  producer without it) is ``inbound``;
- what goes in is cleaned first (pure functions below): times to UTC, counters to
  sane ints, text without NUL or lone surrogates, which PostgreSQL would refuse; a
  summary that cannot become a row at all raises ``UnwritableSummary``;
- ``CallLogWriter`` never loses a record: while the database fails or stalls it holds
  the batch and retries with capped backoff; only a record that fails *on its own*
  for a reason of its own data is given up, logged in full at ERROR and counted.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
from collections import deque
from collections.abc import AsyncIterable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import phonenumbers
from sqlalchemy import Select, func, insert, select
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from crm_core.models import CallRecord, Customer, PhoneNumber, as_utc, utcnow
from crm_core.names import name_key
from numbering.normalize import normalize

if TYPE_CHECKING:  # types only: crm_core does not import telephony at run time (DESIGN.md)
    from telephony.events import CallSummary, DomainEvent

log = logging.getLogger("crm_core.call_log")

INT_MAX = 2**31 - 1  # INTEGER columns on PostgreSQL
TIME_FIELDS = ("started_at", "queued_at", "answered_at", "ended_at")
INT_FIELDS = ("wait_s", "ring_s", "talk_s")
TEXT_FIELDS = ("caller", "caller_name", "did", "agent", "agent_interface", "hangup_by")
OPTIONAL_TEXT_FIELDS = ("recording",)  # newer summary fields: absent on older producers
# PostgreSQL SQLSTATE classes that blame the data, not the database:
# 22 data exception, 23 integrity constraint violation
ROW_FAULT_SQLSTATES = ("22", "23")
_IN_CHUNK = 500


class UnwritableSummary(ValueError):
    """A summary that cannot be turned into a call_record row (e.g. no Linkedid)."""


# --- pure: cleaning a summary into a row -------------------------------------------------


def clean_text(value: Any) -> str | None:
    """Text the database accepts: no NUL (PostgreSQL refuses it), no lone surrogates."""
    if value is None:
        return None
    text = value if isinstance(value, str) else str(value)
    if "\x00" in text:
        text = text.replace("\x00", "")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text


def clean_json(value: Any) -> Any:
    """JSON-ready data with every string cleaned (``clean_text``), keys made strings."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, Mapping):
        return {clean_text(k): clean_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean_json(v) for v in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    return clean_text(value)


def clean_int(value: Any) -> int | None:
    """A counter as an int that fits an INTEGER column, else None."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if -INT_MAX <= number <= INT_MAX else None


def clean_time(value: Any) -> datetime | None:
    """An aware UTC datetime (ISO strings accepted, naive taken as UTC), else None."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    if isinstance(value, datetime):
        return as_utc(value)
    return None


def clean_direction(value: Any) -> str:
    """``outbound`` or ``inbound`` (the default: what every older summary was)."""
    return "outbound" if value == "outbound" else "inbound"


def summary_to_row(summary: CallSummary, recorded_at: datetime) -> dict[str, Any]:
    """The ``call_record`` row of a summary (``customer_id`` still None)."""
    try:
        dumped = summary.to_dict()
        linkedid = clean_text(summary.linkedid)
        if not linkedid:
            raise UnwritableSummary(f"summary without a linkedid: {summary!r}")
        row: dict[str, Any] = {"linkedid": linkedid}
        for name in TEXT_FIELDS:
            row[name] = clean_text(getattr(summary, name))
        for name in OPTIONAL_TEXT_FIELDS:
            row[name] = clean_text(getattr(summary, name, None))
        for name in TIME_FIELDS:
            row[name] = clean_time(getattr(summary, name))
        for name in INT_FIELDS:
            row[name] = clean_int(getattr(summary, name))
        row["queues"] = clean_json(list(dumped.get("queues") or []))
        row["agents_tried"] = clean_json(list(dumped.get("agents_tried") or []))
        row["transfers"] = clean_json(list(dumped.get("transfers") or []))
        row["ivr"] = clean_json(dict(dumped.get("ivr") or {}))
        row["outcome"] = clean_text(summary.outcome) or "ivr-only"
        row["direction"] = clean_direction(getattr(summary, "direction", None))
    except UnwritableSummary:
        raise
    except Exception as exc:  # anything that is not a usable CallSummary
        raise UnwritableSummary(f"cannot turn {summary!r} into a call record: {exc!r}") from exc
    row["customer_id"] = None
    row["recorded_at"] = recorded_at
    return row


def unique_rows(summaries: Iterable[CallSummary], recorded_at: datetime) -> list[dict[str, Any]]:
    """Rows of ``summaries``, the first of each Linkedid only."""
    rows: dict[str, dict[str, Any]] = {}
    for summary in summaries:
        row = summary_to_row(summary, recorded_at)
        rows.setdefault(row["linkedid"], row)
    return list(rows.values())


def caller_key(caller: str | None, region: str) -> str | None:
    """The ``number_e164`` a caller id is looked up by."""
    return normalize(caller, region) if caller else None


def number_kind(number_e164: str) -> str:
    """``mobile`` | ``landline`` | ``toll-free`` | ``extension`` | ``phone``."""
    if not number_e164.startswith("+"):
        return "extension" if len(number_e164) <= 6 else "phone"
    try:
        kind = phonenumbers.number_type(phonenumbers.parse(number_e164))
    except phonenumbers.NumberParseException:
        return "phone"
    types = phonenumbers.PhoneNumberType
    return {
        types.MOBILE: "mobile",
        types.FIXED_LINE: "landline",
        types.TOLL_FREE: "toll-free",
    }.get(kind, "phone")


def record_to_dict(row: Mapping[str, Any]) -> dict[str, Any]:
    """A call_record row (plus ``customer_name``) as JSON-ready data: times as ISO strings."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        out[key] = value.isoformat() if isinstance(value, datetime) else value
    return out


def _chain(exc: BaseException) -> Iterable[BaseException]:
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo.extend([current.__cause__, current.__context__])
        orig = getattr(current, "orig", None)
        if isinstance(orig, BaseException):
            todo.append(orig)


def is_database_fault(exc: BaseException) -> bool:
    """True when a write failed because of the database (retry, holding the records);
    False when the records themselves are to blame (write them one by one, give up bad ones).
    """
    if isinstance(exc, TimeoutError | OSError | sa_exc.TimeoutError | sa_exc.DisconnectionError):
        return True
    if isinstance(exc, sa_exc.PendingRollbackError | sa_exc.ResourceClosedError):
        return True
    if isinstance(exc, sa_exc.IntegrityError | sa_exc.DataError):
        return False
    if isinstance(exc, sa_exc.DBAPIError):
        if exc.connection_invalidated:
            return True
        state = getattr(exc.orig, "sqlstate", None)
        if isinstance(state, str) and state[:2] in ROW_FAULT_SQLSTATES:
            return False
        # asyncpg refuses a value client-side with an error that is also a ValueError
        return not any(
            isinstance(e, ValueError | TypeError | ArithmeticError) for e in _chain(exc)
        )
    return False


def describe(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}"[:300]


def summary_for_log(summary: Any) -> str:
    """The whole summary as one JSON line (for an ERROR that must let a human redo it)."""
    try:
        return json.dumps(summary.to_dict(), ensure_ascii=False, default=str)
    except Exception:
        return repr(summary)


# --- I/O: the call log ----------------------------------------------------------------------


async def add_customer(
    engine: AsyncEngine,
    name: str,
    numbers: list[str],
    *,
    vip_tier: int = 0,
    region: str = "CN",
) -> int:
    """Create a customer with its phone numbers (normalised); returns the customer id."""
    phones: dict[str, str] = {}
    for raw in numbers:
        key = normalize(raw, region)
        if key is None:
            log.warning("customer %r: %r is not a phone number, skipped", name, raw)
            continue
        phones.setdefault(key, raw)
    async with engine.begin() as conn:
        result = await conn.execute(
            insert(Customer)
            .values(name=name, name_key=name_key(name), vip_tier=vip_tier)
            .returning(Customer.id)
        )
        customer_id = int(result.scalar_one())
        if phones:
            await conn.execute(
                insert(PhoneNumber),
                [
                    {"customer_id": customer_id, "number_e164": key, "raw": raw,
                     "kind": number_kind(key)}
                    for key, raw in phones.items()
                ],
            )
    return customer_id


class CallLog:
    """Reads and writes call records; every write is idempotent by Linkedid."""

    def __init__(self, engine: AsyncEngine, *, region: str = "CN") -> None:
        self.engine = engine
        self.region = region
        self._inserts: dict[str, Any] = {}

    def _insert(self, dialect: str) -> Any:
        stmt = self._inserts.get(dialect)
        if stmt is None:
            dml: Any = postgresql if dialect == "postgresql" else sqlite
            stmt = (
                dml.insert(CallRecord)
                .on_conflict_do_nothing(index_elements=["linkedid"])
                .returning(CallRecord.linkedid)
            )
            self._inserts[dialect] = stmt
        return stmt

    async def _match_customers(self, conn: AsyncConnection, numbers: set[str]) -> dict[str, int]:
        """number_e164 -> customer id (the oldest customer when a number is shared)."""
        found: dict[str, int] = {}
        ordered = sorted(numbers)
        for i in range(0, len(ordered), _IN_CHUNK):
            query = (
                select(PhoneNumber.number_e164, func.min(PhoneNumber.customer_id))
                .where(PhoneNumber.number_e164.in_(ordered[i : i + _IN_CHUNK]))
                .group_by(PhoneNumber.number_e164)
            )
            for number, customer_id in await conn.execute(query):
                found[number] = int(customer_id)
        return found

    async def record(self, summary: CallSummary) -> bool:
        """Write one summary; False when its Linkedid is already logged."""
        return await self.record_many([summary]) == 1

    async def record_many(self, summaries: Sequence[CallSummary]) -> int:
        """Write summaries in one transaction; returns how many were new."""
        rows = unique_rows(summaries, utcnow())
        if not rows:
            return 0
        keys = [caller_key(row["caller"], self.region) for row in rows]
        async with self.engine.begin() as conn:
            matches = await self._match_customers(conn, {k for k in keys if k})
            for row, key in zip(rows, keys, strict=True):
                row["customer_id"] = matches.get(key) if key else None
            result = await conn.execute(self._insert(conn.dialect.name), rows)
            return len(result.all())

    def _select(self) -> Select[Any]:
        return select(
            *CallRecord.__table__.columns, Customer.name.label("customer_name")
        ).outerjoin(Customer, Customer.id == CallRecord.customer_id)

    async def latest(self, limit: int = 20) -> list[dict[str, Any]]:
        """The newest calls first (by end time), JSON-ready, with customer_id and name."""
        query = self._select().order_by(CallRecord.ended_at.desc(), CallRecord.id.desc())
        async with self.engine.connect() as conn:
            result = await conn.execute(query.limit(max(0, limit)))
            return [record_to_dict(row) for row in result.mappings()]

    async def count(self) -> int:
        async with self.engine.connect() as conn:
            result = await conn.execute(select(func.count()).select_from(CallRecord))
            return int(result.scalar_one())

    async def logged(self, linkedids: Iterable[str]) -> set[str]:
        """Which of ``linkedids`` the log already has (in chunks: bound parameters)."""
        wanted = sorted(set(linkedids))
        found: set[str] = set()
        async with self.engine.connect() as conn:
            for i in range(0, len(wanted), 500):
                result = await conn.execute(select(CallRecord.linkedid).where(
                    CallRecord.linkedid.in_(wanted[i:i + 500])))
                found.update(result.scalars())
        return found

    async def last_ended_at(self) -> datetime | None:
        """When the newest logged call ended (where a restart's journal reading starts)."""
        async with self.engine.connect() as conn:
            result = await conn.execute(select(func.max(CallRecord.ended_at)))
            value = result.scalar_one_or_none()
        return clean_time(value)

    async def get(self, linkedid: str) -> dict[str, Any] | None:
        async with self.engine.connect() as conn:
            result = await conn.execute(self._select().where(CallRecord.linkedid == linkedid))
            row = result.mappings().first()
        return None if row is None else record_to_dict(row)


# --- the background writer ------------------------------------------------------------------


class CallLogWriter:
    """Consumes a (lossless) bus subscription and logs every ``CallEnded``, in batches.

    Two owned tasks: a reader that moves summaries from the subscription into a local
    queue as fast as they come, and a writer that takes whatever has queued up (at most
    ``batch_max``) and writes it. ``stall_timeout`` bounds one write attempt: a database
    that does not answer counts as failing. ``close()`` drains, bounded by
    ``close_timeout``; what still cannot be written then is logged in full at ERROR.
    """

    def __init__(
        self,
        call_log: CallLog,
        subscription: AsyncIterable[DomainEvent],
        *,
        batch_max: int = 200,
        retry_min: float = 0.2,
        retry_max: float = 5.0,
        stall_timeout: float = 10.0,
        close_timeout: float = 30.0,
        drain_grace: float = 1.0,
        max_pending: int = 20_000,
        linger: float = 0.05,
    ) -> None:
        self.call_log = call_log
        self.subscription = subscription
        self.batch_max = max(1, batch_max)
        self.retry_min = retry_min
        self.retry_max = max(retry_min, retry_max)
        self.stall_timeout = stall_timeout
        self.close_timeout = close_timeout
        self.drain_grace = drain_grace
        self.max_pending = max(self.batch_max, max_pending)
        # Waiting a moment for more summaries turns a call-per-transaction trickle into
        # batches: under load, far less database CPU per call; idle, 50 ms of latency.
        self.linger = linger
        self.written = 0  # new rows
        self.duplicates = 0  # summaries whose Linkedid was already logged
        self.failures = 0  # summaries given up (logged in full at ERROR)
        self.retries = 0  # write attempts that failed because of the database
        self.received = 0  # CallEnded events taken from the subscription
        self.ignored = 0  # other events
        self.read_errors = 0  # the subscription raised
        self._queue: deque[CallSummary] = deque()
        # Acknowledgement bookkeeping for a Redis (lossless) subscription: an event is
        # acked only once its summary is written (or given up), never when merely taken,
        # so a crash re-delivers what was in our queue. ``_marks[i]`` = events taken up
        # to and including queued summary i.
        self._marks: deque[int] = deque()
        self._taken = 0
        self._acked = 0
        if hasattr(subscription, "auto_ack"):
            subscription.auto_ack = False
        self._inflight: list[CallSummary] = []
        self._has_work = asyncio.Event()
        self._has_room = asyncio.Event()
        self._has_room.set()
        self._closing = False
        self._reader: asyncio.Task[None] | None = None
        self._writer: asyncio.Task[None] | None = None

    @property
    def pending(self) -> int:
        """Summaries taken from the bus and not yet written (queued or being written)."""
        return len(self._queue) + len(self._inflight)

    async def start(self) -> None:
        if self._reader is not None:
            return
        self._reader = asyncio.create_task(self._read(), name="call-log-reader")
        self._writer = asyncio.create_task(self._write(), name="call-log-writer")

    # reader ------------------------------------------------------------------------

    async def _read(self) -> None:
        iterator = aiter(self.subscription)
        delay = self.retry_min
        try:
            while True:
                await self._has_room.wait()
                try:
                    event = await anext(iterator)
                except StopAsyncIteration:
                    return
                except Exception:
                    self.read_errors += 1
                    log.exception("call-log subscription failed; reading again in %.1fs", delay)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, self.retry_max)
                    continue
                delay = self.retry_min
                self._accept(event)
        finally:
            self._has_work.set()  # the writer must notice the end of the input

    def _accept(self, event: Any) -> None:
        # duck-typed: the bus's CallEnded (telephony.events) has type "CallEnded" and a summary
        self._taken += 1
        if getattr(event, "type", None) != "CallEnded" or not hasattr(event, "summary"):
            self.ignored += 1
            if not self._queue and not self._inflight:
                self._ack_upto(self._taken)
            return
        self.received += 1
        self._queue.append(event.summary)
        self._marks.append(self._taken)
        self._has_work.set()
        if len(self._queue) >= self.max_pending and not self._closing:
            self._has_room.clear()  # back-pressure into the bus, not into our memory

    # writer ------------------------------------------------------------------------

    def _input_done(self) -> bool:
        return self._closing and (self._reader is None or self._reader.done())

    async def _write(self) -> None:
        while True:
            if not self._queue:
                if self._input_done():
                    return
                self._has_work.clear()
                await self._has_work.wait()
                continue
            if self.linger > 0 and len(self._queue) < self.batch_max and not self._closing:
                await asyncio.sleep(self.linger)
            count = min(len(self._queue), self.batch_max)
            self._inflight = [self._queue.popleft() for _ in range(count)]
            mark = 0
            for _ in range(count):
                mark = self._marks.popleft()
            if len(self._queue) < self.max_pending:
                self._has_room.set()
            try:
                await self._flush(self._inflight)
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug here must not stop the call log for good
                log.exception("call-log writer failed on a batch of %d", len(self._inflight))
                self._give_up(self._inflight, "writer error")
            self._inflight = []
            self._ack_upto(self._taken if not self._queue else mark)

    def _ack_upto(self, taken: int) -> None:
        """Acknowledge every event taken up to ``taken`` (written, given up or ignored)."""
        count = taken - self._acked
        if count <= 0:
            return
        ack = getattr(self.subscription, "ack", None)
        if ack is not None:
            try:
                ack(count)
            except Exception:
                log.exception("acknowledging %d call-log event(s) failed", count)
        self._acked = taken

    async def _attempt(self, batch: list[CallSummary]) -> int | BaseException:
        """Write ``batch``, retrying while the database is at fault; the error if the
        records are."""
        delay = self.retry_min
        while True:
            try:
                async with asyncio.timeout(self.stall_timeout):
                    return await self.call_log.record_many(batch)
            except Exception as exc:
                if not is_database_fault(exc):
                    return exc
                self.retries += 1
                reason = describe(exc)
                if isinstance(exc, TimeoutError) and not str(exc):
                    reason = f"database did not answer within {self.stall_timeout:g}s"
                log.warning(
                    "call log: writing %d record(s) failed (%s); holding them, retry in %.2fs",
                    len(batch), reason, delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.retry_max)

    async def _flush(self, batch: list[CallSummary]) -> None:
        result = await self._attempt(batch)
        if not isinstance(result, BaseException):
            self._count(len(batch), result)
            return
        if len(batch) == 1:
            self._give_up(batch, describe(result))
            return
        log.warning("call log: batch of %d refused (%s); writing one by one",
                    len(batch), describe(result))
        for summary in batch:
            single = await self._attempt([summary])
            if isinstance(single, BaseException):
                self._give_up([summary], describe(single))
            else:
                self._count(1, single)

    def _count(self, size: int, new: int) -> None:
        self.written += new
        self.duplicates += size - new

    def _give_up(self, summaries: Iterable[Any], reason: str) -> None:
        for summary in summaries:
            self.failures += 1
            log.error("call record NOT written (%s): %s", reason, summary_for_log(summary))

    # shutdown ----------------------------------------------------------------------

    async def _close_subscription(self) -> None:
        close = getattr(self.subscription, "close", None)
        if close is None:
            return
        try:
            result = close()
            if inspect.isawaitable(result):
                await result
        except Exception:
            log.exception("closing the call-log subscription failed")

    async def _wait_reader(self, reader: asyncio.Task[None], deadline: float) -> None:
        """Let the reader run to the end of the subscription while events keep coming."""
        loop = asyncio.get_running_loop()
        while not reader.done():
            seen = self.received + self.ignored
            timeout = min(self.drain_grace, max(0.0, deadline - loop.time()))
            await asyncio.wait([reader], timeout=timeout)
            if self.received + self.ignored == seen or loop.time() >= deadline:
                break
        if not reader.done():
            reader.cancel()
            await asyncio.wait([reader])

    async def close(self) -> None:
        """Write what has been received (and what the subscription still holds), then stop.

        The subscription is closed first; a bus subscription then yields what it holds
        and ends. One that never ends is given up after ``drain_grace`` without a new
        event. Writing is bounded by ``close_timeout``: whatever the database still has
        not taken by then is logged in full at ERROR and counted in ``failures``.
        """
        if self._reader is None or self._writer is None:
            await self._close_subscription()
            return
        tasks = [self._reader, self._writer]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.close_timeout
        try:
            if not self._closing:
                self._closing = True
                self._has_room.set()  # shutting down: take everything the bus still holds
                await asyncio.sleep(0)  # let the reader take what is already buffered
                await self._close_subscription()
            await self._wait_reader(self._reader, deadline)
            self._has_work.set()
            await asyncio.wait([self._writer], timeout=max(0.0, deadline - loop.time()))
        finally:
            # also when close() itself is cancelled: no task of ours outlives it
            for task in tasks:
                task.cancel()
            await asyncio.wait(tasks)
            if self.pending:
                left = [*self._inflight, *self._queue]
                self._inflight = []
                self._queue.clear()
                self._marks.clear()
                self._give_up(left, "call log closed before the database took it")
            for task in tasks:
                if not task.cancelled() and task.exception() is not None:
                    log.error("call-log task ended with %r", task.exception())
