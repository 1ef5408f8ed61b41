"""The IVR's configuration in the database: the number plan and the versioned flows.

Two audiences:
- the IVR at run time (``resolve_number``, ``load_flow``): a call always gets a flow.
  An unknown, blank or garbage DID runs the ``default`` flow tagged ``unknown``; a flow
  with no saved version, or whose newest saved document no longer validates (an upgrade
  changed the rules, a hand edit in the database), runs the built-in ``DEFAULT_FLOW``
  (version 0) and says so in the log. These two never raise: a database fault is logged
  and answered with the default, because silence on a hotline is the worst answer;
- the admin API (the ``*_flow*`` / ``*_number*`` services taking an ``Actor``): reads
  need the ``ivr`` module's ``read`` grant, writes its ``create``/``update``/``delete``
  grant, which no default role has (admins only, unless a site grants it).

Rules:
- a flow is saved as a NEW version (``max + 1``), never overwritten; the stored
  document carries its own ``flow`` name and ``version``; it is validated against the
  prompt catalogue (``ivr.default_flow.PROMPTS``) first and refused with ``FlowError``
  listing every problem, step by step, before anything is written;
- numbers are stored in the canonical form of ``ivr.number_plan.canonical_did``, so
  ``+86 400-800-1234`` and ``4008001234`` are one number (a second one is a 409);
- a number's flow must have a saved version, or be ``default``;
- every write adds its audit entry (``crm_core.audit``) in the same transaction;
  nothing here commits.
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Sequence
from functools import cache
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.audit import audit, changes, snapshot
from crm_core.errors import Conflict, NotFound, ValidationFailed
from crm_core.models import IvrFlow, IvrNumber
from crm_core.permissions import Actor, require
from crm_core.records import check_fields, check_page, choice, page, paginate, text
from ivr.default_flow import DEFAULT_FLOW, PROMPTS
from ivr.flow import Flow, FlowError, parse_flow, validate
from ivr.number_plan import (
    DEFAULT_FLOW_NAME,
    KINDS,
    Entry,
    canonical_did,
    entry_of,
    flow_name_problem,
    guess_kind,
    queue_problem,
    unknown_entry,
)

__all__ = [
    "Entry", "load_flow", "resolve_number", "save_flow", "seed_defaults", "check_flow",
    "list_flows", "get_flow", "flow_versions", "dry_run", "put_flow", "list_numbers",
    "get_number", "create_number", "update_number", "delete_number", "preview",
]

log = logging.getLogger("ivr.store")

MODULE = "ivr"
MAX_DEPTH = 32
NUMBER_FIELDS = ("flow_name", "kind", "label", "queue", "active")


@cache
def builtin_flow() -> Flow:
    """The built-in default flow, parsed once (a unit test keeps it valid)."""
    return parse_flow(DEFAULT_FLOW)


# --- run time: never raise ---------------------------------------------------------------

async def resolve_number(db: AsyncSession, did: str | None) -> Entry:
    """The plan entry of a dialled number; outside the plan (or no number): ``default``
    flow, kind ``unknown``. Never raises."""
    number = canonical_did(did)
    if number is None:
        return unknown_entry(did)
    try:
        row = await db.scalar(select(IvrNumber).where(IvrNumber.number == number))
    except Exception:  # noqa: BLE001 - a caller on the line gets the default flow
        log.exception("number plan unreadable for DID %r: running the default flow", number)
        return unknown_entry(did)
    if row is None:
        return unknown_entry(did)
    return entry_of(did, number=row.number, kind=row.kind, label=row.label,
                    flow_name=row.flow_name, queue=row.queue, active=row.active)


async def load_flow(db: AsyncSession, name: str) -> tuple[Flow, int]:
    """The newest saved version of flow ``name`` and its number; the built-in default
    flow and version 0 when there is none or it no longer validates. Never raises."""
    try:
        row = await db.scalar(
            select(IvrFlow).where(IvrFlow.name == name)
            .order_by(IvrFlow.version.desc()).limit(1))
    except Exception:  # noqa: BLE001 - a caller on the line gets the default flow
        log.exception("flow %r unreadable: running the built-in default flow", name)
        return builtin_flow(), 0
    if row is None:
        return builtin_flow(), 0
    problems = validate(row.document, PROMPTS)
    if not problems:
        try:
            return parse_flow(row.document), row.version
        except FlowError as exc:  # validate and parse agree; belt and braces
            problems = exc.problems
    log.error("flow %r version %s no longer validates, running the built-in default flow: %s",
              name, row.version, "; ".join(problems[:5]))
    return builtin_flow(), 0


# --- saving flows ------------------------------------------------------------------------

def _json_problems(document: Any) -> list[str]:
    """What a database JSON column cannot hold: NUL, lone surrogates, NaN, deep nesting."""
    problems: list[str] = []
    todo: list[tuple[Any, str, int]] = [(document, "document", 0)]
    while todo and len(problems) < 5:
        value, where, depth = todo.pop()
        if depth > MAX_DEPTH:
            problems.append(f"flow: {where} is nested deeper than {MAX_DEPTH} levels")
            continue
        if isinstance(value, str):
            if "\x00" in value:
                problems.append(f"flow: {where} contains a NUL character")
            else:
                try:
                    value.encode("utf-8")
                except UnicodeEncodeError:
                    problems.append(f"flow: {where} is not valid Unicode text")
        elif isinstance(value, float) and not math.isfinite(value):
            problems.append(f"flow: {where} is not a finite number")
        elif isinstance(value, dict):
            for key, item in value.items():
                todo.append((key, f"{where} key", depth + 1))
                todo.append((item, f"{where}.{key}"[:120], depth + 1))
        elif isinstance(value, list):
            todo.extend((item, f"{where}[{i}]", depth + 1) for i, item in enumerate(value))
    return problems


def check_flow(name: str, document: Any, version: int = 1) -> tuple[dict[str, Any], list[str]]:
    """The document as it would be stored as ``name`` version ``version`` (its ``flow``
    and ``version`` fields filled in), and every reason to refuse it (pure)."""
    problems: list[str] = []
    why = flow_name_problem(name)
    if why is not None:
        problems.append(f"flow: name {name!r} {why}")
    if not isinstance(document, dict):
        return {}, [*problems, "flow: the document must be an object"]
    problems += _json_problems(document)
    if problems:
        return {}, problems
    stored = copy.deepcopy(document)
    given = stored.get("flow")
    if given is not None and given != name:
        problems.append(f"flow: field 'flow' is {given!r} but the document is saved as "
                        f"{name!r}")
    stored["flow"] = name
    stored["version"] = version
    problems += validate(stored, PROMPTS)
    return stored, problems


async def _latest_version(db: AsyncSession, name: str) -> int:
    latest = await db.scalar(select(func.max(IvrFlow.version)).where(IvrFlow.name == name))
    return int(latest or 0)


async def save_flow(
    db: AsyncSession, name: str, document: dict[str, Any], *, actor_id: int | None,
    comment: str | None = None, base_version: int | None = None,
) -> IvrFlow:
    """Save ``document`` as the next version of flow ``name`` (audited) and return it.

    ``FlowError`` (nothing written) when it does not validate; ``Conflict`` when
    ``base_version`` is given and is no longer the newest version (someone saved since).
    The ``version`` field of ``document`` is ignored: the store numbers versions.
    """
    latest = await _latest_version(db, name) if flow_name_problem(name) is None else 0
    stored, problems = check_flow(name, document, latest + 1)
    if problems:
        raise FlowError(problems)
    if base_version is not None and base_version != latest:
        raise Conflict(f"flow {name!r} is at version {latest}, not {base_version}: "
                       "reload it and apply your change again")
    row = IvrFlow(name=name, version=latest + 1, document=stored, comment=comment,
                  created_by_id=actor_id)
    try:
        async with db.begin_nested():
            db.add(row)
    except IntegrityError as exc:  # two saves at the same moment: one wins
        raise Conflict(f"flow {name!r} was saved by someone else at the same time: "
                       "reload it and apply your change again") from exc
    audit(db, user_id=actor_id, action="create", entity="ivr_flow", entity_id=row.id,
          after=snapshot(row))
    return row


async def seed_defaults(db: AsyncSession, numbers: Sequence[str]) -> None:
    """The default flow as version 1 and ``numbers`` in the plan (``default`` flow), each
    only when absent: safe to run at every start, on several nodes at once."""
    if await db.scalar(select(IvrFlow.id).where(IvrFlow.name == DEFAULT_FLOW_NAME)
                       .limit(1)) is None:
        row = IvrFlow(name=DEFAULT_FLOW_NAME, version=1, document=copy.deepcopy(DEFAULT_FLOW),
                      comment="built-in default flow")
        try:
            async with db.begin_nested():
                db.add(row)
                await db.flush()
                audit(db, user_id=None, action="seed", entity="ivr_flow", entity_id=row.id,
                      after=snapshot(row))
        except IntegrityError:
            log.info("default flow seeded by another node meanwhile")
    for raw in numbers:
        number = canonical_did(raw)
        if number is None:
            log.warning("hotline number %r is not a phone number: not added to the plan", raw)
            continue
        if await db.scalar(select(IvrNumber.id).where(IvrNumber.number == number)) is not None:
            continue
        plan = IvrNumber(number=number, flow_name=DEFAULT_FLOW_NAME, kind=guess_kind(number),
                         active=True)
        try:
            async with db.begin_nested():
                db.add(plan)
                await db.flush()
                audit(db, user_id=None, action="seed", entity="ivr_number",
                      entity_id=plan.id, after=snapshot(plan))
        except IntegrityError:
            log.info("number %s added to the plan by another node meanwhile", number)


# --- the admin API's services: flows ----------------------------------------------------

def _flow_out(row: IvrFlow, *, with_document: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": row.name, "version": row.version, "comment": row.comment,
        "created_at": row.created_at, "created_by_id": row.created_by_id, "builtin": False,
    }
    if with_document:
        out["document"] = row.document
    return out


def _builtin_out() -> dict[str, Any]:
    return {"name": DEFAULT_FLOW_NAME, "version": 0, "comment": "built-in default flow",
            "created_at": None, "created_by_id": None, "builtin": True,
            "document": copy.deepcopy(DEFAULT_FLOW)}


async def list_flows(db: AsyncSession, actor: Actor) -> list[dict[str, Any]]:
    """Every flow: its newest version, and how many plan numbers run it."""
    require(actor, MODULE, "read")
    newest = (select(IvrFlow.name, func.max(IvrFlow.version).label("version"))
              .group_by(IvrFlow.name).subquery())
    rows = (await db.scalars(
        select(IvrFlow).join(newest, (IvrFlow.name == newest.c.name)
                             & (IvrFlow.version == newest.c.version))
        .order_by(IvrFlow.name))).all()
    used: dict[str, int] = {name: int(n) for name, n in await db.execute(
        select(IvrNumber.flow_name, func.count(IvrNumber.id)).group_by(IvrNumber.flow_name))}
    out = [_flow_out(row, with_document=False) for row in rows]
    if not any(row.name == DEFAULT_FLOW_NAME for row in rows):
        builtin = _builtin_out()
        del builtin["document"]
        out.insert(0, builtin)
    for item in out:
        item["numbers"] = int(used.get(item["name"], 0))
    return out


async def get_flow(db: AsyncSession, actor: Actor, name: str, version: int | None = None
                   ) -> dict[str, Any]:
    """The newest (or the given) version of flow ``name`` with its document.

    ``default`` without a saved version is the built-in flow, version 0."""
    require(actor, MODULE, "read")
    stmt = select(IvrFlow).where(IvrFlow.name == name)
    if version is not None:
        stmt = stmt.where(IvrFlow.version == version)
    row = await db.scalar(stmt.order_by(IvrFlow.version.desc()).limit(1))
    if row is not None:
        return _flow_out(row)
    if name == DEFAULT_FLOW_NAME and version in (None, 0):
        return _builtin_out()  # nothing saved yet (or version 0 asked): the built-in flow
    raise NotFound("ivr flow", name if version is None else f"{name} v{version}")


async def flow_versions(db: AsyncSession, actor: Actor, name: str) -> list[dict[str, Any]]:
    """Every saved version of flow ``name``, newest first (without the documents)."""
    require(actor, MODULE, "read")
    rows = (await db.scalars(select(IvrFlow).where(IvrFlow.name == name)
                             .order_by(IvrFlow.version.desc()))).all()
    if not rows and name != DEFAULT_FLOW_NAME:
        raise NotFound("ivr flow", name)
    return [_flow_out(row, with_document=False) for row in rows]


async def dry_run(db: AsyncSession, actor: Actor, name: str, document: Any) -> dict[str, Any]:
    """What saving ``document`` as flow ``name`` would say, without saving anything."""
    require(actor, MODULE, "read")
    latest = await _latest_version(db, name) if flow_name_problem(name) is None else 0
    _, problems = check_flow(name, document, latest + 1)
    return {"valid": not problems, "problems": problems, "version": latest + 1}


async def put_flow(
    db: AsyncSession, actor: Actor, name: str, document: Any, *, comment: str | None = None,
    base_version: int | None = None,
) -> dict[str, Any]:
    """Save a new version of flow ``name`` (``FlowError``: refused, nothing written)."""
    require(actor, MODULE, "update")
    if not isinstance(document, dict):
        raise FlowError(["flow: the document must be an object"])
    row = await save_flow(db, name, document, actor_id=actor.user_id,
                          comment=text(comment, "comment", max_len=2000),
                          base_version=base_version)
    return _flow_out(row)


# --- the admin API's services: the number plan ------------------------------------------

def _number_out(row: IvrNumber) -> dict[str, Any]:
    return {"id": row.id, "number": row.number, "flow_name": row.flow_name, "kind": row.kind,
            "label": row.label, "queue": row.queue, "active": row.active,
            "created_at": row.created_at}


def _number(value: object, field: str = "number") -> str:
    number = canonical_did(value if isinstance(value, str) else None)
    if number is None:
        raise ValidationFailed(field, "is not a phone number (digits, optionally +86 and "
                                      "separators)")
    return number


async def _load_number(db: AsyncSession, number: object) -> IvrNumber:
    canonical = canonical_did(number if isinstance(number, str) else None)
    row = None
    if canonical is not None:
        row = await db.scalar(select(IvrNumber).where(IvrNumber.number == canonical))
    if row is None:
        raise NotFound("ivr number", number)
    return row


async def _checked_flow_name(db: AsyncSession, value: object) -> str:
    why = flow_name_problem(value)
    if why is not None:
        raise ValidationFailed("flow_name", why)
    assert isinstance(value, str)
    if value != DEFAULT_FLOW_NAME and await _latest_version(db, value) == 0:
        raise ValidationFailed("flow_name", f"no flow named {value!r} is saved (save it "
                                            "first, or use 'default')")
    return value


def _checked_queue(value: object) -> str | None:
    why = queue_problem(value)
    if why is not None:
        raise ValidationFailed("queue", why)
    return value if isinstance(value, str) else None


def _checked_active(value: object) -> bool:
    if not isinstance(value, bool):
        raise ValidationFailed("active", "must be true or false")
    return value


async def list_numbers(
    db: AsyncSession, actor: Actor, *, kind: str | None = None, active: bool | None = None,
    limit: int = 50, offset: int = 0,
) -> dict[str, Any]:
    """The number plan: 400 first, then 800, then the legacy numbers, by number."""
    require(actor, MODULE, "read")
    limit, offset = check_page(limit, offset)
    stmt = select(IvrNumber)
    if kind is not None:
        stmt = stmt.where(IvrNumber.kind == choice(kind, "kind", KINDS))
    if active is not None:
        stmt = stmt.where(IvrNumber.active == _checked_active(active))
    rows, total = await paginate(db, stmt.order_by(IvrNumber.kind, IvrNumber.number),
                                 limit, offset)
    return page([_number_out(row[0]) for row in rows], total, limit, offset)


async def get_number(db: AsyncSession, actor: Actor, number: str) -> dict[str, Any]:
    """One plan entry (``number`` in any format)."""
    require(actor, MODULE, "read")
    return _number_out(await _load_number(db, number))


async def create_number(
    db: AsyncSession, actor: Actor, *, number: str, flow_name: str = DEFAULT_FLOW_NAME,
    kind: str | None = None, label: str | None = None, queue: str | None = None,
    active: bool = True,
) -> dict[str, Any]:
    """Add a number to the plan (``Conflict`` when it is there already, in any format)."""
    require(actor, MODULE, "create")
    canonical = _number(number)
    row = IvrNumber(
        number=canonical, flow_name=await _checked_flow_name(db, flow_name),
        kind=guess_kind(canonical) if kind is None else choice(kind, "kind", KINDS),
        label=text(label, "label"), queue=_checked_queue(queue), active=_checked_active(active),
    )
    if await db.scalar(select(IvrNumber.id).where(IvrNumber.number == canonical)) is not None:
        raise Conflict(f"number {canonical} is already in the plan")
    db.add(row)
    await db.flush()
    audit(db, user_id=actor.user_id, action="create", entity="ivr_number", entity_id=row.id,
          after=snapshot(row))
    return _number_out(row)


async def update_number(db: AsyncSession, actor: Actor, number: str, data: dict[str, Any]
                        ) -> dict[str, Any]:
    """Change a plan entry's ``flow_name``, ``kind``, ``label``, ``queue`` or ``active``."""
    require(actor, MODULE, "update")
    check_fields(data, NUMBER_FIELDS)
    row = await _load_number(db, number)
    before = snapshot(row)
    if "flow_name" in data:
        row.flow_name = await _checked_flow_name(db, data["flow_name"])
    if "kind" in data:
        row.kind = choice(data["kind"], "kind", KINDS)
    if "label" in data:
        row.label = text(data["label"], "label")
    if "queue" in data:
        row.queue = _checked_queue(data["queue"])
    if "active" in data:
        row.active = _checked_active(data["active"])
    await db.flush()
    after = snapshot(row)
    diff = changes(before, after)
    if diff:
        audit(db, user_id=actor.user_id, action="update", entity="ivr_number",
              entity_id=row.id, before={k: before[k] for k in diff}, after=diff)
    return _number_out(row)


async def delete_number(db: AsyncSession, actor: Actor, number: str) -> None:
    """Take a number out of the plan (its calls then run the default flow, as unknown)."""
    require(actor, MODULE, "delete")
    row = await _load_number(db, number)
    before = snapshot(row)
    await db.delete(row)
    await db.flush()
    audit(db, user_id=actor.user_id, action="delete", entity="ivr_number", entity_id=row.id,
          before=before)


async def preview(db: AsyncSession, actor: Actor, did: str) -> dict[str, Any]:
    """What a call to ``did`` would run: its plan entry and the flow version."""
    require(actor, MODULE, "read")
    entry = await resolve_number(db, did)
    flow, version = await load_flow(db, entry.flow_name)
    return {"number": entry.number, "kind": entry.kind, "label": entry.label,
            "flow_name": entry.flow_name, "queue": entry.queue, "runs_flow": flow.name,
            "runs_version": version}
