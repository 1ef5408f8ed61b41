"""Imports started from the web console, run in the background on the node that got
the upload, their records (``import_jobs``) kept where every node reads them.

Rules:
- a job's record is written to the API's shared record store (the store of the
  sign-in state: the database's ``auth_record`` table, or Redis with the Redis bus)
  under ``import-job:<id>`` and kept ``JOB_TTL_S`` after its last change, so a poll
  answered by any node sees the same job;
- the job runs in a task this ``ImportRunner`` owns: ``close`` (the API app's
  shutdown) cancels it and writes its record ``interrupted``; a node that dies leaves
  a record that reads as interrupted after ``import_jobs.STALE_S``;
- progress is written at most every ``PROGRESS_EVERY_S`` and at least every
  ``HEARTBEAT_S`` while the job runs; the importer's own callback only notes it;
- the uploaded file is received into a folder of its own (``receive``: streamed to
  disk, never more than ``max_bytes``), under the cleaned name the person gave it, and
  the folder is removed when the job ends, however it ends;
- one running job per user on a node: an import is a batch of writes, not a queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agent_console.api import import_jobs as jobs
from agent_console.api.auth_store import AuthStore
from crm_core import importer, order_import, stage_import
from crm_core.import_messages import CodedError
from crm_core.permissions import Actor, PermissionDenied

log = logging.getLogger("agent_console.api.imports")

JOB_TTL_S = 24 * 3600.0
KEY = "import-job:"
CHUNK = 64 * 1024


class TooLarge(Exception):
    """The upload went past ``max_bytes``."""


def job_key(job_id: str) -> str:
    return KEY + job_id


def new_job_id() -> str:
    return secrets.token_hex(16)


async def receive(chunks: AsyncIterator[bytes], folder: Path, filename: str,
                  max_bytes: int) -> Path:
    """Write the uploaded bytes to ``folder/filename`` (``TooLarge`` past ``max_bytes``;
    the file is then removed)."""
    path = folder / filename
    size = 0
    out = await asyncio.to_thread(path.open, "wb")
    try:
        async for chunk in chunks:
            size += len(chunk)
            if size > max_bytes:
                raise TooLarge(f"the file is larger than {max_bytes // (1024 * 1024)} MB")
            await asyncio.to_thread(out.write, chunk)
    except BaseException:
        await asyncio.to_thread(out.close)
        await asyncio.to_thread(path.unlink, True)
        raise
    await asyncio.to_thread(out.close)
    return path


@dataclass
class _Progress:
    done: int = 0
    total: int = 0
    changed: bool = False

    def tick(self, done: int, total: int) -> None:
        self.done, self.total, self.changed = done, total, True


@dataclass
class ImportRunner:
    """The jobs of this node (one per API app)."""

    store_of: Callable[[], AuthStore]  # the shared store (it exists once the app starts)
    clock: Callable[[], float]
    _tasks: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    _users: dict[str, int | None] = field(default_factory=dict)

    def running_for(self, user_id: int | None) -> bool:
        """Whether this node runs a job of ``user_id`` now."""
        return any(uid == user_id for uid in self._users.values())

    async def folder(self) -> Path:
        """A new private folder for one upload."""
        return Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="hotline-import-"))

    async def start(self, *, actor: Actor, sessionmaker: async_sessionmaker[AsyncSession],
                    path: Path, dry_run: bool, default_owner: str | None, region: str,
                    kind: str = "customers") -> dict[str, Any]:
        """Write the job's record, start the import of ``path`` (whose folder the job
        then owns) and return the record."""
        job_id = new_job_id()
        record = jobs.new_record(job_id, user_id=actor.user_id, filename=path.name,
                                 dry_run=dry_run, now=self.clock())
        await self._write(job_id, lambda _old: record)
        task = asyncio.create_task(
            self._run(job_id, actor, sessionmaker, path, dry_run, default_owner, region,
                      kind),
            name=f"import-{job_id}")
        self._tasks[job_id] = task
        self._users[job_id] = actor.user_id
        task.add_done_callback(lambda _t: self._forget(job_id))
        return record

    def _forget(self, job_id: str) -> None:
        self._tasks.pop(job_id, None)
        self._users.pop(job_id, None)

    async def record(self, job_id: str) -> dict[str, Any] | None:
        return await self.store_of().get(job_key(job_id))

    async def _write(self, job_id: str, change: Callable[[Any], Any]) -> None:
        # the change is pure (the store may run it twice): old record -> new record
        await self.store_of().modify(job_key(job_id), lambda old: (change(old), None),
                                     JOB_TTL_S)

    async def _run(self, job_id: str, actor: Actor,
                   sessionmaker: async_sessionmaker[AsyncSession], path: Path, dry_run: bool,
                   default_owner: str | None, region: str, kind: str = "customers"
                   ) -> None:
        progress = _Progress()
        reporter = asyncio.create_task(self._report(job_id, progress),
                                       name=f"import-{job_id}-progress")
        try:
            if kind == "stage_updates":  # issue 18: a row per supplier batch that moved
                result = await stage_import.import_stage_updates(
                    sessionmaker, path, actor=actor, dry_run=dry_run, progress=progress.tick)
            elif kind == "orders":  # issue 18: a row per order line
                result = await order_import.import_orders(
                    sessionmaker, path, actor=actor, dry_run=dry_run, progress=progress.tick)
            else:
                result = await importer.import_file(
                    sessionmaker, path, kind=kind, dry_run=dry_run,
                    default_owner=default_owner, actor=actor, region=region,
                    progress=progress.tick)
            await _stop(reporter)
            await self._write(job_id, partial(jobs.finished, result=result.as_dict(),
                                              now=self.clock()))
        except asyncio.CancelledError:
            await _stop(reporter)
            with contextlib.suppress(Exception):
                await self._write(job_id, partial(
                    jobs.failed, error="stopped: the server shut down", now=self.clock(),
                    state="interrupted"))
            raise
        except (ValueError, PermissionDenied) as exc:  # the file or its columns, or a grant
            await _stop(reporter)
            coded = exc.msg if isinstance(exc, CodedError) else None
            await self._write(job_id, partial(
                jobs.failed, error=str(exc), now=self.clock(),
                code=coded.code if coded else None, params=coded.params if coded else None))
        except Exception:
            log.exception("import job %s failed", job_id)
            await _stop(reporter)
            with contextlib.suppress(Exception):
                await self._write(job_id, partial(
                    jobs.failed, error="internal error: see the server log", now=self.clock()))
        finally:
            await asyncio.to_thread(shutil.rmtree, path.parent, True)

    async def _report(self, job_id: str, progress: _Progress) -> None:
        """Write the progress when it moved (at most every PROGRESS_EVERY_S) and a
        heartbeat at least every HEARTBEAT_S; a failed write is retried next time."""
        last = self.clock()
        while True:
            await asyncio.sleep(jobs.PROGRESS_EVERY_S)
            now = self.clock()
            if not progress.changed and now - last < jobs.HEARTBEAT_S:
                continue
            moved, progress.changed = progress.changed, False
            done, total = progress.done, progress.total
            try:
                if moved:
                    await self._write(job_id, partial(jobs.progressed, done=done, total=total,
                                                      now=now))
                else:
                    await self._write(job_id, partial(jobs.beat, now=now))
                last = now
            except Exception:
                log.exception("import job %s: progress not written", job_id)

    async def close(self) -> None:
        """Cancel every running job (their records say interrupted)."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


async def _stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
