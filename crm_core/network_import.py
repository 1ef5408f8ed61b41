"""Import the service network (stations, technicians) from CSV/XLSX through the same
framework as customers (``crm_core.importer``): the same file reading, the same report
(``RowIssue`` with sheet, row as the spreadsheet numbers it, column, value, coded
message), the same progress callback and result, the same import jobs API.

Rules:
- a workbook may hold a stations sheet (name with 服务站/网点/station) and a technicians
  sheet (技术员/工程师/technician); a CSV file is one kind, the one asked for. Stations
  are imported first, so technicians may name a station of the same file;
- a station row: code and name required; province a province of China; product lines
  by code or name (zh/en) of the catalogue: an unknown one is reported with its row;
  covers as ``河南; 山西太原``; capacity; hours as ``08:30-17:30`` (Monday to Friday),
  ``08:00-20:00 每天`` (every day) or a JSON object; hub and active as 是/否; the checks
  are ``crm_core.service_network.clean_station``'s;
- a technician row: the station's code (unknown: reported with its row), a name,
  skills by product line code/name or trade (电气, hydraulic...: unknown: reported);
- a station code already in the database or twice in the file, a technician already at
  that station under the same name: reported as duplicates and skipped;
- every row is judged alone, a row with any problem writes nothing; good rows are
  written in batches (one INSERT per batch), audited (action ``import``); dry run
  checks everything and writes nothing.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Table as SqlTable
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_core.errors import ValidationFailed
from crm_core.import_messages import CodedError, Msg
from crm_core.importer import (
    ImportResult,
    ProgressFn,
    RowIssue,
    Table,
    cell_text,
    norm_header,
    raw_sheets,
)
from crm_core.models import AuditEntry, ProductLine, ServiceStation, Technician
from crm_core.permissions import SYSTEM, Actor, require
from crm_core.places import clean_city
from crm_core.service_network import (
    DAYS,
    TRADES,
    clean_hours,
    clean_station,
    clean_technician,
    complete_station,
)
from numbering.regions import FULL_FORMS, province_key

NETWORK_KINDS = ("stations", "technicians")
BATCH_ROWS = 500

# field -> (zh label, header synonyms)
STATION_HEADERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "code": ("服务站编号", ("服务站编号", "站点编号", "网点编号", "编号", "编码", "代码", "code",
                       "station code", "station no")),
    "name": ("服务站名称", ("服务站名称", "服务站", "站点名称", "网点名称", "名称", "name",
                       "station name", "station")),
    "name_en": ("英文名称", ("英文名称", "英文名", "name en", "english name", "name (en)")),
    "province": ("省份", ("省份", "省", "province")),
    "city": ("城市", ("城市", "市", "地市", "city")),
    "district": ("区县", ("区县", "区", "县", "district")),
    "address": ("地址", ("地址", "详细地址", "address")),
    "latitude": ("纬度", ("纬度", "lat", "latitude")),
    "longitude": ("经度", ("经度", "lng", "lon", "long", "longitude")),
    "phones": ("电话", ("电话", "服务电话", "联系电话", "phone", "phones", "tel")),
    "product_lines": ("产品线", ("产品线", "服务产品线", "服务产品", "product lines",
                              "product line", "products")),
    "covers": ("覆盖范围", ("覆盖范围", "覆盖区域", "服务范围", "covers", "coverage")),
    "capacity": ("接单容量", ("接单容量", "容量", "接单上限", "capacity")),
    "hours": ("工作时间", ("工作时间", "营业时间", "hours", "working hours", "opening hours")),
    "calendar": ("节假日日历", ("节假日日历", "日历", "calendar")),
    "is_hub": ("区域中心", ("区域中心", "是否区域中心", "hub", "is hub", "regional hub")),
    "region": ("大区", ("大区", "区域", "region")),
    "email": ("邮箱", ("邮箱", "电子邮箱", "email", "e-mail")),
    "active": ("启用", ("启用", "是否启用", "active")),
}
TECHNICIAN_HEADERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "station": ("服务站编号", ("服务站编号", "站点编号", "网点编号", "服务站", "station code",
                          "station")),
    "name": ("姓名", ("姓名", "技术员", "工程师", "技术员姓名", "name", "technician")),
    "skills": ("技能", ("技能", "专长", "技能/产品线", "skills", "skill")),
    "phone": ("手机", ("手机", "电话", "手机号", "联系电话", "phone", "mobile")),
    "on_duty": ("在岗", ("在岗", "是否在岗", "on duty", "on_duty")),
    "active": ("启用", ("启用", "是否启用", "active")),
}
HEADERS = {"stations": STATION_HEADERS, "technicians": TECHNICIAN_HEADERS}
_SHEETS = (("technicians", ("技术员", "工程师", "technician", "engineer")),
           ("stations", ("服务站", "网点", "站点", "station")))
_YES = {"是", "y", "yes", "true", "1", "启用", "在岗", "hub", "√"}
_NO = {"否", "n", "no", "false", "0", "停用", "不在岗", "离岗", "×"}
_SPLIT = re.compile(r"[;；,，、/|\n]+")
_SPAN = re.compile(r"^\s*(\d{1,2}:\d{2})\s*[-~至到–—]\s*(\d{1,2}:\d{2})\s*(.*)$")
_EVERY_DAY = ("每天", "每日", "全天", "daily", "every day", "7x", "7天", "周一至周日")


# --- reading (blocking: run in a thread) --------------------------------------------------


def _synonyms(kind: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, (_, words) in HEADERS[kind].items():
        for word in words:
            out.setdefault(norm_header(word), name)
    return out


def _table(name: str, kind: str, raw: list[list[object]]) -> Table | None:
    known = _synonyms(kind)
    header_at = next((i for i, cells in enumerate(raw[:10])
                      if sum(1 for c in cells if norm_header(c) in known) >= 2), None)
    if header_at is None:
        return None
    headers = [cell_text(c) for c in raw[header_at]]
    rows = [(header_at + 2 + i, cells) for i, cells in enumerate(raw[header_at + 1:])
            if any(cell_text(c) for c in cells)]
    return Table(name, kind, headers, rows)


def sheet_kind(name: str) -> str | None:
    low = name.casefold()
    for kind, words in _SHEETS:
        if any(w in low for w in words):
            return kind
    return None


def read_tables(path: str | Path, kind: str, sheet: str | None = None) -> list[Table]:
    """The stations and technicians tables of a CSV/TXT or XLSX file, stations first."""
    tables: list[Table] = []
    for raw in raw_sheets(path, sheet):
        # a workbook's sheet says what it holds by its name, unless the user named it
        named = sheet is not None or raw.encoding is not None
        table = _table(raw.name, kind if named else (sheet_kind(raw.name) or kind), raw.rows)
        if table is None:
            continue
        if raw.encoding is not None:
            table.notes.append(Msg("note_encoding", {"file": raw.name,
                                                     "encoding": raw.encoding}))
        tables.append(table)
    if not tables:
        raise CodedError("no_network_columns", sheet=Path(path).name)
    return sorted(tables, key=lambda t: NETWORK_KINDS.index(t.kind))


# --- parsing cells (pure) -------------------------------------------------------------------


def parse_yes_no(value: object, default: bool) -> bool:
    text = cell_text(value).casefold()
    if not text:
        return default
    if text in _YES:
        return True
    if text in _NO:
        return False
    raise CodedError("yes_no_invalid")


def parse_number(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    text = cell_text(value)
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise CodedError("number_invalid") from None


def parse_covers(value: object) -> list[dict[str, str]]:
    """``河南; 山西太原; 湖北/武汉`` -> ``[{"province": "河南"}, {"province": "山西", "city":
    "太原"}, ...]``."""
    out: list[dict[str, str]] = []
    for part in re.split(r"[;；,，、|\n]+", cell_text(value)):
        part = part.strip()
        if not part:
            continue
        province = province_key(part)
        if province is None:
            raise CodedError("covers_invalid", part=part)
        rest = part
        for form in (*FULL_FORMS.get(province, ()), province):
            if rest.startswith(form):
                rest = rest[len(form):]
                break
        city = clean_city(rest.strip(" /-"))
        out.append({"province": province} | ({"city": city} if city else {}))
    return out


def parse_hours(value: object) -> dict[str, list[list[str]]] | None:
    text = cell_text(value)
    if not text:
        return None
    if text.startswith("{"):
        try:
            return clean_hours(json.loads(text))
        except (ValueError, ValidationFailed):
            raise CodedError("hours_invalid") from None
    spans: list[list[str]] = []
    every_day = False
    for part in re.split(r"[;；,，]+", text):
        m = _SPAN.match(part)
        if m is None:
            raise CodedError("hours_invalid")
        spans.append([m[1].zfill(5), m[2].zfill(5)])
        every_day = every_day or any(w in m[3].casefold() for w in _EVERY_DAY)
    days = DAYS if every_day else DAYS[:5]
    try:
        return clean_hours({d: spans for d in days})
    except ValidationFailed:
        raise CodedError("hours_invalid") from None


# --- the context, read once ----------------------------------------------------------------


@dataclass
class NetworkContext:
    lines: dict[str, str] = field(default_factory=dict)  # code/name (casefolded) -> code
    trades: dict[str, str] = field(default_factory=dict)  # code/zh/en -> code
    stations: dict[str, int] = field(default_factory=dict)  # code casefolded -> id (<0: file)
    technicians: set[tuple[int, str]] = field(default_factory=set)
    file_rows: dict[str, int] = field(default_factory=dict)  # station code -> its row here
    next_fake: int = 0

    def line_codes(self) -> set[str]:
        return set(self.lines.values())


async def load_context(session: AsyncSession) -> NetworkContext:
    ctx = NetworkContext()
    for code, name, name_en in await session.execute(
            select(ProductLine.code, ProductLine.name, ProductLine.name_en)):
        for label in (code, name, name_en):
            if label:
                ctx.lines.setdefault(label.casefold(), code)
    for code, zh, en in TRADES:
        for label in (code, zh, en):
            ctx.trades[label.casefold()] = code
    for sid, code in await session.execute(select(ServiceStation.id, ServiceStation.code)):
        ctx.stations[code.casefold()] = sid
    for sid, name in await session.execute(select(Technician.station_id, Technician.name)):
        ctx.technicians.add((sid, name.casefold()))
    return ctx


# --- one row (pure, given the context) -------------------------------------------------------


class _Row:
    def __init__(self, sheet: str, row: int, cells: dict[str, tuple[str, object]],
                 labels: Mapping[str, tuple[str, tuple[str, ...]]]) -> None:
        self.sheet, self.row, self.cells, self.labels = sheet, row, cells, labels
        self.issues: list[RowIssue] = []

    def get(self, name: str) -> object:
        return self.cells.get(name, ("", None))[1]

    def column(self, name: str) -> str:
        return self.cells.get(name, (self.labels[name][0], None))[0] or self.labels[name][0]

    def add(self, name: str, value: object, msg: Msg, kind: str = "error") -> None:
        self.issues.append(RowIssue(self.sheet, self.row, self.column(name), cell_text(value),
                                    msg.text, kind, msg.code, dict(msg.params)))

    def parse(self, name: str, parser: Callable[[object], Any]) -> Any:
        try:
            return parser(self.get(name))
        except CodedError as exc:
            self.add(name, self.get(name), exc.msg)
            return None


def _map_columns(headers: Sequence[str], kind: str) -> dict[int, str]:
    known = _synonyms(kind)
    out: dict[int, str] = {}
    for i, header in enumerate(headers):
        name = known.get(norm_header(header))
        if name is not None and name not in out.values():
            out[i] = name
    return out


def _cells(headers: Sequence[str], cmap: Mapping[int, str],
           values: Sequence[object]) -> dict[str, tuple[str, object]]:
    return {name: (headers[i], values[i] if i < len(values) else None)
            for i, name in cmap.items()}


def _lines_of(row: _Row, ctx: NetworkContext) -> list[str]:
    codes: list[str] = []
    for part in _SPLIT.split(cell_text(row.get("product_lines"))):
        part = part.strip()
        if not part:
            continue
        code = ctx.lines.get(part.casefold())
        if code is None:
            row.add("product_lines", part, Msg("product_unknown"))
        elif code not in codes:
            codes.append(code)
    return codes


def parse_station_row(sheet: str, row_no: int, cells: dict[str, tuple[str, object]],
                      ctx: NetworkContext) -> tuple[dict[str, Any] | None, list[RowIssue]]:
    """A station row: its column values, or None and the problems."""
    row = _Row(sheet, row_no, cells, STATION_HEADERS)
    code = cell_text(row.get("code"))
    if not code:
        row.add("code", "", Msg("station_code_missing"))
    if not cell_text(row.get("name")):
        row.add("name", "", Msg("station_name_missing"))
    data: dict[str, Any] = {"code": code, "name": cell_text(row.get("name"))}
    for key in ("name_en", "province", "city", "district", "address", "calendar", "region",
                "email"):
        data[key] = cell_text(row.get(key)) or None
    if data["province"] is not None and province_key(data["province"]) is None:
        row.add("province", data["province"], Msg("province_invalid"))
    data["latitude"] = row.parse("latitude", parse_number)
    data["longitude"] = row.parse("longitude", parse_number)
    data["phones"] = [p.strip() for p in _SPLIT.split(cell_text(row.get("phones"))) if p.strip()]
    data["product_lines"] = _lines_of(row, ctx)
    data["covers"] = row.parse("covers", parse_covers) or []
    capacity = row.parse("capacity", parse_number)
    if capacity is not None and (capacity < 0 or not float(capacity).is_integer()):
        row.add("capacity", row.get("capacity"), Msg("capacity_invalid"))
    data["capacity"] = int(capacity) if capacity is not None and capacity >= 0 else None
    data["hours"] = row.parse("hours", parse_hours)
    data["is_hub"] = row.parse("is_hub", lambda v: parse_yes_no(v, False))
    data["active"] = row.parse("active", lambda v: parse_yes_no(v, True))
    if row.issues:
        return None, row.issues
    try:
        values = complete_station(clean_station(data, ctx.line_codes()))
    except ValidationFailed as exc:
        name = exc.field.split(".")[0].split("[")[0]
        row.add(name if name in STATION_HEADERS else "code", data.get(name),
                Msg("field_invalid", {"field": exc.field, "error": exc.message}))
        return None, row.issues
    key = code.casefold()
    if key in ctx.file_rows:
        row.add("code", code, Msg("duplicate_station_code_in_file", {"row": ctx.file_rows[key]}),
                "duplicate")
    elif key in ctx.stations:
        row.add("code", code, Msg("duplicate_station_code"), "duplicate")
    if row.issues:
        return None, row.issues
    return values, []


def parse_technician_row(sheet: str, row_no: int, cells: dict[str, tuple[str, object]],
                         ctx: NetworkContext) -> tuple[dict[str, Any] | None, list[RowIssue]]:
    """A technician row: its column values (``station_id`` may be a placeholder < 0 for a
    station of this file), or None and the problems."""
    row = _Row(sheet, row_no, cells, TECHNICIAN_HEADERS)
    code = cell_text(row.get("station"))
    station_id = ctx.stations.get(code.casefold()) if code else None
    if not code:
        row.add("station", "", Msg("station_code_missing"))
    elif station_id is None:
        row.add("station", code, Msg("station_code_unknown"))
    name = cell_text(row.get("name"))
    if not name:
        row.add("name", "", Msg("technician_name_missing"))
    skills: list[str] = []
    for part in _SPLIT.split(cell_text(row.get("skills"))):
        part = part.strip()
        if not part:
            continue
        skill = ctx.lines.get(part.casefold()) or ctx.trades.get(part.casefold())
        if skill is None:
            row.add("skills", part, Msg("skill_unknown"))
        elif skill not in skills:
            skills.append(skill)
    on_duty = row.parse("on_duty", lambda v: parse_yes_no(v, True))
    active = row.parse("active", lambda v: parse_yes_no(v, True))
    phone = cell_text(row.get("phone")) or None
    if row.issues or station_id is None:
        return None, row.issues
    try:
        values = clean_technician(
            {"station_id": abs(station_id), "name": name, "skills": skills, "phone": phone,
             "on_duty": on_duty, "active": active}, ctx.line_codes())
    except ValidationFailed as exc:
        row.add("name", name, Msg("field_invalid", {"field": exc.field, "error": exc.message}))
        return None, row.issues
    values["station_id"] = station_id
    if (station_id, name.casefold()) in ctx.technicians:
        row.add("name", name, Msg("duplicate_technician", {"station": code}), "duplicate")
        return None, row.issues
    return values, []


# --- the run ----------------------------------------------------------------------------------


@dataclass
class _Run:
    sessionmaker: async_sessionmaker[AsyncSession]
    actor: Actor
    ctx: NetworkContext
    result: ImportResult
    dry_run: bool
    progress: ProgressFn | None
    done: int = 0
    total: int = 0
    fake_to_real: dict[int, int] = field(default_factory=dict)

    def tick(self) -> None:
        self.done += 1
        if self.progress is not None:
            self.progress(self.done, self.total)


async def import_file(
    sessionmaker: async_sessionmaker[AsyncSession],
    path: str | Path,
    *,
    kind: str = "stations",
    sheet: str | None = None,
    dry_run: bool = False,
    actor: Actor = SYSTEM,
    progress: ProgressFn | None = None,
) -> ImportResult:
    """Import a file of stations and/or technicians (see the rules). ValueError: the file
    cannot be used at all; row problems are in ``result.issues``."""
    if kind not in NETWORK_KINDS:
        raise ValueError(f"kind must be one of {NETWORK_KINDS}")
    require(actor, "stations", "create")
    tables = await asyncio.to_thread(read_tables, path, kind, sheet)
    for table in tables:
        have = set(_map_columns(table.headers, table.kind).values())
        needed = {"code", "name"} if table.kind == "stations" else {"station", "name"}
        if not needed <= have:
            raise CodedError("no_network_columns", sheet=table.name)
    async with sessionmaker() as session:
        ctx = await load_context(session)
    result = ImportResult(dry_run=dry_run, created={"stations": 0, "technicians": 0},
                          duplicate_guard="crm_core.network_import")
    run = _Run(sessionmaker, actor, ctx, result, dry_run, progress,
               total=sum(len(t.rows) for t in tables))
    for table in tables:
        for note in table.notes:
            result.note(note)
        await _import_table(run, table)
    result.issues.sort(key=lambda i: ([t.name for t in tables].index(i.sheet)
                                      if i.sheet in [t.name for t in tables] else 99, i.row))
    return result


async def _import_table(run: _Run, table: Table) -> None:
    cmap = _map_columns(table.headers, table.kind)
    batch: list[dict[str, Any]] = []
    for row_no, values in table.rows:
        run.result.rows += 1
        cells = _cells(table.headers, cmap, values)
        try:
            if table.kind == "stations":
                draft, issues = parse_station_row(table.name, row_no, cells, run.ctx)
            else:
                draft, issues = parse_technician_row(table.name, row_no, cells, run.ctx)
        except Exception as exc:  # a row must never stop the import
            msg = Msg("unexpected", {"error": str(exc)})
            draft, issues = None, [RowIssue(table.name, row_no, "", "", msg.text, "error",
                                            msg.code, msg.params)]
        if draft is None:
            run.result.issues.extend(issues)
            if any(i.kind == "error" for i in issues):
                run.result.errors += 1
            else:
                run.result.duplicates += 1
        else:
            draft["_row"] = row_no
            _remember(run.ctx, table.kind, draft)
            batch.append(draft)
            if len(batch) >= BATCH_ROWS:
                await _flush(run, table, batch)
                batch = []
        run.tick()
    if batch:
        await _flush(run, table, batch)


def _remember(ctx: NetworkContext, kind: str, draft: dict[str, Any]) -> None:
    if kind == "stations":
        ctx.next_fake -= 1
        key = str(draft["code"]).casefold()
        ctx.stations[key] = ctx.next_fake
        ctx.file_rows[key] = int(draft["_row"])
        draft["_fake"] = ctx.next_fake
    else:
        ctx.technicians.add((int(draft["station_id"]), str(draft["name"]).casefold()))


def _core(model: Any) -> SqlTable:
    return cast(SqlTable, model.__table__)


async def _flush(run: _Run, table: Table, batch: list[dict[str, Any]]) -> None:
    if run.dry_run:
        run.result.created[table.kind] += len(batch)
        return
    try:
        async with run.sessionmaker.begin() as session:
            await _write(run, session, table.kind, batch)
        run.result.created[table.kind] += len(batch)
    except Exception:
        if len(batch) == 1:
            _failed(run, table, batch[0])
            return
        for draft in batch:  # isolate the failing row(s)
            try:
                async with run.sessionmaker.begin() as session:
                    await _write(run, session, table.kind, [draft])
                run.result.created[table.kind] += 1
            except Exception:
                _failed(run, table, draft)


def _failed(run: _Run, table: Table, draft: dict[str, Any]) -> None:
    msg = Msg("not_written", {"error": "the database refused the row"})
    run.result.issues.append(RowIssue(table.name, int(draft["_row"]), "", "", msg.text,
                                      "error", msg.code, msg.params))
    run.result.errors += 1


async def _write(run: _Run, session: AsyncSession, kind: str,
                 batch: list[dict[str, Any]]) -> None:
    now = datetime.now(UTC)
    rows = [{k: v for k, v in d.items() if not k.startswith("_")} for d in batch]
    if kind == "stations":
        t = _core(ServiceStation)
        result = await session.execute(insert(t).returning(t.c.id, t.c.code), rows)
        ids = {code: int(sid) for sid, code in result}
        for draft in batch:
            run.fake_to_real[int(draft["_fake"])] = ids[draft["code"]]
        entity, made = "service_station", [(ids[r["code"]], r) for r in rows]
    else:
        for r in rows:
            sid = int(r["station_id"])
            r["station_id"] = run.fake_to_real.get(sid, sid) if sid < 0 else sid
            r.setdefault("user_id", None)
        t = _core(Technician)
        result = await session.execute(
            insert(t).returning(t.c.id, sort_by_parameter_order=True), rows)
        entity, made = "technician", list(zip((int(i) for i in result.scalars()), rows,
                                              strict=True))
    await session.execute(insert(_core(AuditEntry)), [
        {"at": now, "user_id": run.actor.user_id, "action": "import", "entity": entity,
         "entity_id": str(rid), "before": None, "after": {**values, "id": rid}}
        for rid, values in made])
