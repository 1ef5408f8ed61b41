"""What routing reads of the service network on every ticket, kept in memory: the active
stations (as ``dispatch_rules.StationFacts``), the technicians on duty, the SLA policies
and the holiday calendars. They change a few times a day and are read on every ticket born.

Rules:
- one cache per database engine (a new engine starts empty), each entry loaded on first
  use and kept at most ``TTL_S`` seconds (what a change made by another node or process
  takes to be seen);
- any INSERT, UPDATE or DELETE statement of a watched table (``WATCHED``: ORM flushes and
  Core statements alike, ``after_execute``) empties the entries it feeds in every engine
  of the same database in this process, at once and again when its transaction ends
  (a concurrent reader may have reloaded the old rows in between); raw SQL text is not
  seen (the TTL still applies);
- an entry is immutable data (tuples, frozen dataclasses), never ORM objects: it is
  shared across sessions.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from weakref import WeakKeyDictionary

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.sql.dml import UpdateBase

T = TypeVar("T")
TTL_S = 30.0
# table -> the entries built from it
WATCHED: dict[str, tuple[str, ...]] = {
    "service_station": ("stations",), "technician": ("technicians",),
    "sla_policy": ("policies",), "holiday": ("holidays",),
}
_DIRTY = "network_cache_dirty"  # Connection.info: entries to empty again at the end

_caches: WeakKeyDictionary[Engine, dict[str, tuple[float, Any]]] = WeakKeyDictionary()


def _key(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


def forget(engine: Engine, entries: tuple[str, ...] | None = None) -> None:
    """Empty ``entries`` (all when None) in every engine of ``engine``'s database."""
    url = _key(engine)
    for other, cache in list(_caches.items()):
        if other is engine or _key(other) == url:
            if entries is None:
                cache.clear()
            else:
                for name in entries:
                    cache.pop(name, None)


async def cached(session: AsyncSession | AsyncConnection, name: str,
                 load: Callable[[AsyncConnection], Awaitable[T]]) -> T:
    """Entry ``name`` of the session's engine, loaded by ``load`` when missing or old."""
    conn = await session.connection() if isinstance(session, AsyncSession) else session
    engine = conn.sync_engine
    cache = _caches.get(engine)
    if cache is None:
        cache = _caches[engine] = {}
    found = cache.get(name)
    now = time.monotonic()
    if found is not None and now - found[0] < TTL_S:
        return found[1]  # type: ignore[no-any-return]
    value = await load(conn)
    sync = conn.sync_connection
    if sync is None or name not in sync.info.get(_DIRTY, ()):
        cache[name] = (now, value)  # not while this transaction changes what it reads
    return value


@event.listens_for(Engine, "after_execute")
def _after_execute(conn: Connection, clauseelement: Any, *_: Any) -> None:
    if not isinstance(clauseelement, UpdateBase):
        return
    table = getattr(clauseelement, "table", None)
    entries = WATCHED.get(getattr(table, "name", ""))
    if entries:
        forget(conn.engine, entries)
        conn.info.setdefault(_DIRTY, set()).update(entries)


def _end(conn: Connection) -> None:
    if conn.invalidated:  # a statement cut short (a cancel): the connection is gone, and
        return  # its info with it; what it wrote was forgotten as it ran (_after_execute)
    entries = conn.info.pop(_DIRTY, None)
    if entries:
        forget(conn.engine, tuple(entries))


event.listen(Engine, "commit", _end)
event.listen(Engine, "rollback", _end)
