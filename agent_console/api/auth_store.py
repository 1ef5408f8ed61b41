"""Where the sign-in state lives so that every node sees it and a restart keeps it:
signed-out sessions, the sign-in throttle, the notices for accounts' owners (and the
records of the web imports, ``agent_console.api.import_runner``, for the same reason).

One small interface (``AuthStore``): records (JSON-ready dicts) by key, read with
``get`` and changed with ``modify(key, change, ttl_s)``, where ``change`` is a pure
function ``old -> (new, result)`` (``new`` None deletes). Three implementations:

- ``SqlAuthStore``: the ``auth_record`` table of the Hotline database (SQLite or
  PostgreSQL), for a deployment without Redis;
- ``RedisAuthStore`` (``agent_console.api.auth_store_redis``): keys under a prefix,
  when the nodes share a Redis bus;
- ``MemoryAuthStore``: one process only (unit tests, tools).

Rules:
- ``modify`` is atomic per key on every store (a row lock in SQL, WATCH/MULTI in
  Redis; ``change`` may run more than once, e.g. when another node wrote in between,
  so it must be pure);
- ``ttl_s`` only collects garbage: a record may outlive it a while (SQL rows are
  swept at most once a minute) or vanish after it, so every decision compares the
  times written INSIDE the record with the caller's clock;
- a store that cannot be reached raises (the request then fails: a sign-in or a
  session check is never decided on state that could not be read).
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from crm_core.models import AuthRecord

Record = dict[str, Any]
T = TypeVar("T")
Change = Callable[[Record | None], tuple[Record | None, T]]

_SWEEP_EVERY_S = 60.0
_MAX_RETRIES = 20  # a record deleted under us this often in a row: give up
# SQLite's writers queue on one lock; a busy node (a shift's agents signing in at once on a
# loaded machine) saw the 5 s busy timeout pass: the change is tried again, a few times
_LOCKED_RETRIES = 4


class AuthStoreConflict(RuntimeError):
    """A record kept vanishing under us (a storm of writes to one key)."""


class AuthStore(Protocol):
    """Shared records by key (see the module rules)."""

    async def get(self, key: str) -> Record | None: ...

    async def modify(self, key: str, change: Change[T], ttl_s: float) -> T: ...

    async def announce_sign_out(self, sid: str) -> None:
        """Tell the other nodes at once (only Redis can: there, each node's sockets of
        that session close; elsewhere there is one node serving sockets)."""

    async def close(self) -> None: ...


class MemoryAuthStore:
    """One process's records (bounded: the oldest written goes first)."""

    def __init__(self, limit: int = 100_000, clock: Callable[[], float] = time.monotonic
                 ) -> None:
        self.limit = limit
        self.clock = clock
        self._table: OrderedDict[str, tuple[float, Record]] = OrderedDict()

    async def get(self, key: str) -> Record | None:
        entry = self._table.get(key)
        if entry is None or entry[0] <= self.clock():
            return None
        return entry[1]

    async def modify(self, key: str, change: Change[T], ttl_s: float) -> T:
        new, result = change(await self.get(key))
        self._table.pop(key, None)
        if new is not None:
            self._table[key] = (self.clock() + ttl_s, new)
            while len(self._table) > self.limit:
                self._table.popitem(last=False)
        return result

    async def announce_sign_out(self, sid: str) -> None:
        """One process: its own hooks already ran."""

    async def close(self) -> None:
        self._table.clear()


class SqlAuthStore:
    """Records in the ``auth_record`` table, shared by every node on the database."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._swept = 0.0
        # an upsert that does nothing on a duplicate key: a record another node inserted
        # first is then read and changed again
        self._insert = (postgresql.insert if engine.dialect.name == "postgresql"
                        else sqlite.insert)

    async def get(self, key: str) -> Record | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(
                select(AuthRecord.value).where(AuthRecord.key == key,
                                               AuthRecord.expires_at > time.time())
            )).one_or_none()
        return row.value if row is not None and isinstance(row.value, dict) else None

    async def modify(self, key: str, change: Change[T], ttl_s: float) -> T:
        async with self.engine.connect() as conn:
            # a peek first: for an absent record that stays absent (a success clearing
            # nothing) there is nothing to lock or write
            found = (await conn.execute(
                select(AuthRecord.key).where(AuthRecord.key == key))).one_or_none()
        if found is None:
            new, result = change(None)
            if new is None:
                return result
        for _ in range(_MAX_RETRIES):
            done, result = await self._change_once(key, change, ttl_s)
            if done:
                await self._sweep()
                return result
        raise AuthStoreConflict(f"auth record {key!r} kept vanishing under us")

    async def _change_once(self, key: str, change: Change[T], ttl_s: float
                           ) -> tuple[bool, Any]:
        for attempt in range(_LOCKED_RETRIES + 1):
            try:
                async with self.engine.begin() as conn:
                    return await self._locked_change(conn, key, change, ttl_s)
            except OperationalError as exc:
                if "locked" not in str(exc.orig) or attempt == _LOCKED_RETRIES:
                    raise
                await asyncio.sleep(0.05 * (attempt + 1))
        raise AssertionError("unreachable")

    async def _locked_change(self, conn: Any, key: str, change: Change[T], ttl_s: float
                             ) -> tuple[bool, Any]:
        """Change the record under a row lock; ``(False, None)`` when the row vanished
        (another writer deleted it between our insert and our lock): try again."""
        # make sure a row exists to lock (an expired placeholder counts as absent); the
        # write also takes SQLite's write lock (BEGIN IMMEDIATE, crm_core.db), and the
        # row lock serialises PostgreSQL's writers: so no change is ever lost
        await conn.execute(self._insert(AuthRecord).values(
            key=key, value={}, expires_at=0.0).on_conflict_do_nothing(index_elements=["key"]))
        row = (await conn.execute(
            select(AuthRecord.value, AuthRecord.expires_at)
            .where(AuthRecord.key == key).with_for_update()
        )).one_or_none()
        if row is None:
            return False, None
        now = time.time()
        alive = row.expires_at > now and isinstance(row.value, dict)
        new, result = change(row.value if alive else None)
        where = AuthRecord.key == key
        if new is None:
            await conn.execute(delete(AuthRecord).where(where))
        else:
            await conn.execute(update(AuthRecord).where(where).values(
                value=new, expires_at=now + ttl_s))
        return True, result

    async def _sweep(self) -> None:
        # rows nobody will read again (their ttl is over): at most once a minute per node
        now = time.time()
        if now - self._swept < _SWEEP_EVERY_S:
            return
        self._swept = now
        async with self.engine.begin() as conn:
            await conn.execute(delete(AuthRecord).where(AuthRecord.expires_at < now))

    async def announce_sign_out(self, sid: str) -> None:
        """No channel between nodes here: the revocation record is what they see."""

    async def close(self) -> None:
        """Nothing of its own: the engine belongs to the app."""
