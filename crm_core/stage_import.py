"""Import of stage updates (issue 18): the sheet the purchasing, customs, inspection,
warehouse or dispatch department exports, one row per supplier batch that moved.

A row names the BATCH (its code: 批次 / batch), the stage it reached (阶段 / stage, in
Chinese or English: 清关 / customs ...) and the day (日期 / date; today when empty).
Each row is ``crm_core.orders.update_stage``: one update of the batch row.

Rules:
- the file is read as the customer importer reads it (``importer.read_tables``: CSV in
  any of its encodings and separators, or XLSX); columns are found by their headers;
- every row is judged on its own and reported with its row number as the spreadsheet
  shows it: an unknown batch, a stage that goes backwards, an unknown stage word, a bad
  date; a bad row writes nothing and never stops the others (each row runs in a
  savepoint of one transaction);
- rows run in file order, so one file may move a batch twice (shipped, then customs);
  the same stage again is not an error (re-importing a file is harmless: ``unchanged``);
- ``dry_run`` checks every row against the database and writes nothing;
- who may: ``orders``/``update`` with scope ``all`` (a batch holds many customers'
  lines), checked before any row.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_core import orders
from crm_core.errors import NotFound, ValidationFailed
from crm_core.import_messages import CodedError, Msg
from crm_core.importer import (
    ImportResult,
    RowIssue,
    Table,
    cell_text,
    norm_header,
    parse_date,
    read_tables,
)
from crm_core.order_eta import STAGES
from crm_core.permissions import Actor
from crm_core.records import business_day, current

HEADERS: dict[str, tuple[str, ...]] = {
    "batch": ("批次", "批次号", "批号", "批次编号", "batch", "batchcode", "batchno",
              "shipment", "consignment"),
    "stage": ("阶段", "状态", "进度", "环节", "stage", "status", "step"),
    "date": ("日期", "时间", "到达日期", "完成日期", "date", "on", "day", "when"),
}
_HEADER = {norm_header(w): f for f, words in HEADERS.items() for w in words}

STAGE_WORDS: dict[str, tuple[str, ...]] = {
    "ordered": ("订货", "已订货", "已下单", "下单", "采购", "ordered", "order"),
    "shipped": ("发运", "已发运", "已装运", "运输中", "shipped", "intransit", "shipping"),
    "customs": ("海关", "清关", "报关", "清关中", "customs", "clearance"),
    "inspection": ("检验", "商检", "质检", "检验中", "inspection", "inspected"),
    "warehouse": ("入库", "已入库", "仓库", "到库", "warehouse", "stored", "instock"),
    "dispatched": ("发货", "已发货", "出库", "配送", "派送", "dispatched", "dispatch"),
    "delivered": ("送达", "已送达", "签收", "已签收", "delivered", "received"),
}
_STAGE = {norm_header(w): s for s, words in STAGE_WORDS.items() for w in words}
assert set(STAGE_WORDS) == set(STAGES)

ProgressFn = Callable[[int, int], None]


def stage_of(value: object) -> str | None:
    """The stage a cell names (Chinese or English, any case and spacing), else None."""
    return _STAGE.get(norm_header(cell_text(value)))


def columns_of(headers: Sequence[str]) -> dict[str, int]:
    """``{field: column index}`` of the first column naming each field."""
    found: dict[str, int] = {}
    for i, header in enumerate(headers):
        name = _HEADER.get(norm_header(header))
        if name is not None and name not in found:
            found[name] = i
    return found


@dataclass(frozen=True)
class StageRow:
    row: int
    batch: str
    stage: str
    day: date | None


def parse_row(table: Table, cols: dict[str, int], row: int, cells: Sequence[object]
              ) -> StageRow | RowIssue:
    """One row as a ``StageRow``, or the issue that makes it unusable (pure)."""
    def cell(name: str) -> object:
        i = cols.get(name)
        return cells[i] if i is not None and i < len(cells) else None

    def issue(name: str, msg: Msg) -> RowIssue:
        return RowIssue(table.name, row, table.headers[cols[name]] if name in cols else name,
                        cell_text(cell(name)), msg.text, code=msg.code,
                        params=dict(msg.params))

    batch = cell_text(cell("batch"))
    if not batch:
        return issue("batch", Msg("stage_batch_missing"))
    stage = stage_of(cell("stage"))
    if stage is None:
        return issue("stage", Msg("stage_word_unknown", {"stages": ", ".join(STAGES)}))
    raw = cell("date")
    day: date | None = None
    if cell_text(raw):
        try:
            day = parse_date(raw)
        except CodedError as exc:
            return issue("date", exc.msg)
        except ValueError:
            return issue("date", Msg("date_invalid"))
    return StageRow(row, batch, stage, day)


async def import_stage_updates(
    sessionmaker: async_sessionmaker[AsyncSession], path: str | Path, *, actor: Actor,
    dry_run: bool = False, progress: ProgressFn | None = None,
    now: datetime | None = None,
) -> ImportResult:
    """Apply the stage updates of ``path`` (see the module rules). ValueError for a file
    that cannot be used at all (unreadable, no batch or stage column)."""
    orders.require_batch_writer(actor, "update")
    tables = await asyncio.to_thread(read_tables, path)
    result = ImportResult(dry_run=dry_run, created={"moved": 0, "unchanged": 0},
                          duplicate_guard="")
    total = sum(len(t.rows) for t in tables)
    done = 0
    today = business_day(current(now))
    async with sessionmaker() as session, session.begin():
        for table in tables:
            cols = columns_of(table.headers)
            missing = [f for f in ("batch", "stage") if f not in cols]
            if missing:
                raise CodedError("stage_columns_missing", sheet=table.name,
                                 headers=", ".join(h for h in table.headers if h))
            for row, cells in table.rows:
                result.rows += 1
                parsed = parse_row(table, cols, row, cells)
                if isinstance(parsed, RowIssue):
                    result.issues.append(parsed)
                    result.errors += 1
                else:
                    await _apply(session, actor, table, cols, parsed, result, today)
                done += 1
                if progress is not None:
                    progress(done, total)
        if dry_run:
            await session.rollback()
    return result


async def _apply(session: AsyncSession, actor: Actor, table: Table, cols: dict[str, int],
                 row: StageRow, result: ImportResult, today: date) -> None:
    def issue(name: str, msg: Msg, value: str) -> None:
        result.errors += 1
        result.issues.append(RowIssue(
            table.name, row.row, table.headers[cols[name]] if name in cols else name, value,
            msg.text, code=msg.code, params=dict(msg.params)))

    savepoint = await session.begin_nested()
    try:
        moved = await orders.update_stage(session, actor, row.batch, row.stage,
                                          row.day or today, now=None)
    except NotFound:
        await savepoint.rollback()
        issue("batch", Msg("stage_batch_unknown", {"batch": row.batch}), row.batch)
        return
    except ValidationFailed as exc:
        await savepoint.rollback()
        issue("stage" if exc.field == "stage" else "date",
              Msg("stage_refused", {"error": exc.message}), row.stage)
        return
    await savepoint.commit()
    result.created["moved" if moved["changed"] else "unchanged"] += 1
