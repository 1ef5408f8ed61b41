"""``/imports``: a CSV or XLSX file uploaded from the web console, imported in the
background (``crm_core.importer``), its progress polled, its error report downloaded.

Rules:
- ``POST /imports?filename=...`` takes the file itself as the body (any content type;
  the extension of ``filename`` says CSV or XLSX) and answers 202 with the job at once;
  the page then polls ``GET /imports/{job_id}`` (``import_jobs.view``) until its state
  is ``done``, ``failed`` or ``interrupted``;
- who may: ``crm_core.import_rights`` (checked before a byte is read: 403); a job is
  seen only by who started it, or an admin: any other id is a 404, like an unknown one;
- the body is streamed to disk up to ``MAX_UPLOAD_BYTES`` (413 past it; the API app's
  ``client_max_size`` is for JSON bodies); an empty file or another extension is a 422;
  a second import of the same user while one runs on this node is a 409;
- ``GET /imports/{job_id}/report?format=csv|xlsx`` is every rejected row (sheet, row
  as the spreadsheet numbers it, column, value, problem, kind, problem in English),
  headers and problems in the user's language (``lang``, else the user's own); 409
  while the job has not finished;
- every problem, note and job error carries a stable ``code`` and its ``params``
  (``crm_core.import_messages``) beside its English ``message``, so the page can say
  it in its own language.
"""

from __future__ import annotations

import asyncio
import shutil
from typing import Any, Literal

from aiohttp import web
from pydantic import Field

from agent_console.api.auth import AUTH
from agent_console.api.downloads import file_response
from agent_console.api.errors import ApiError
from agent_console.api.import_jobs import clean_filename, view
from agent_console.api.import_runner import ImportRunner, TooLarge, receive
from agent_console.api.routing import SESSIONMAKER, Call, Download, Routes, Upload
from agent_console.api.schemas import Out, Query, Text
from crm_core.import_messages import localized
from crm_core.import_rights import require_import
from crm_core.orders import require_batch_writer

MAX_UPLOAD_BYTES = 32 * 1024 * 1024
IMPORTS = web.AppKey("api_imports", ImportRunner)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
REPORT_COLUMNS = [
    ("sheet", ("工作表/文件", "sheet or file")), ("row", ("行号", "row")),
    ("column", ("列", "column")), ("value", ("内容", "value")),
    ("message", ("问题", "problem")), ("kind", ("类型", "kind")),
    ("message_en", ("问题（英文）", "problem (English)")),
]


class ImportQuery(Query):
    filename: Text = Field(min_length=1, max_length=255,
                           description="the file's name: .csv/.txt (UTF-8, GBK...) or "
                                       ".xlsx/.xlsm")
    kind: Literal["customers", "stations", "technicians", "stage_updates", "orders"] = Field(
        default="customers", description="customers (with contacts and assets); the "
                                         "service network: stations, technicians (a "
                                         "workbook may hold both sheets); or the stage "
                                         "updates of supplier batches (a row per batch: "
                                         "batch code, stage, date); or customers' orders "
                                         "(a row per order line: order number, customer, "
                                         "salesman, due date, title, ISBN/model, quantity, "
                                         "price, supplier)")
    dry_run: bool = Field(default=False, description="check every row, write nothing")
    owner: Text | None = Field(default=None, max_length=150,
                               description="username of the account manager of rows "
                                           "that name none (default: the shared pool)")


class JobPath(Query):
    job_id: str = Field(pattern=r"^[0-9a-f]{32}$")


class ReportQuery(Query):
    format: Literal["csv", "xlsx"] = "csv"
    lang: Literal["zh-CN", "en"] | None = Field(
        default=None, description="language of the headers and of the problems (default: "
                                  "the user's language)")


class Issue(Out):
    sheet: str
    row: int
    column: str
    value: str
    message: str = Field(description="the problem in English")
    kind: str
    code: str = Field(default="", description="stable code of the problem "
                                              "(crm_core.import_messages); empty: none")
    params: dict[str, Any] = Field(default_factory=dict,
                                   description="the values the problem's text names")


class ImportJob(Out):
    id: str
    filename: str
    dry_run: bool
    state: Literal["running", "done", "failed", "interrupted"]
    done: int
    total: int | None = Field(description="rows in the file; null while it is read")
    percent: int | None = Field(description="0-100; null while the rows are not counted")
    started_at: float = Field(description="seconds since the epoch (UTC)")
    updated_at: float
    finished_at: float | None = None
    result: dict[str, Any] | None = Field(
        default=None, description="rows, created (customers, contacts, phones, assets), "
                                  "duplicates, errors, notes (English), note_items "
                                  "({code, params, message}): what the import did or, dry "
                                  "run, would do")
    error: str | None = Field(default=None, description="why nothing could be imported "
                                                        "(English)")
    error_code: str | None = Field(default=None, description="stable code of the error")
    error_params: dict[str, Any] | None = None
    issues_total: int
    issues_truncated: bool = False
    issues_preview: list[Issue] = Field(description="the first rejected rows; all of them: "
                                                    "the report")


def install_runner(app: web.Application) -> None:
    """Give the API app its import runner, closed (jobs interrupted) at shutdown."""
    runner = ImportRunner(store_of=lambda: app[AUTH].shared, clock=app[AUTH].clock)
    app[IMPORTS] = runner

    async def close(_app: web.Application) -> None:
        await runner.close()

    app.on_shutdown.append(close)


def _runner(call: Call) -> ImportRunner:
    return call.request.config_dict[IMPORTS]


async def _mine(call: Call) -> dict[str, Any]:
    """The job of the path, if the actor may see it (else 404, as for an unknown id)."""
    record = await _runner(call).record(call.path.job_id)
    me = call.me
    if record is None or (record.get("user_id") != me.user_id and not me.is_admin):
        raise ApiError(404, "not_found", "import job not found")
    return record


async def start_import(call: Call) -> Any:
    q: ImportQuery = call.query
    if q.kind == "stage_updates":
        require_batch_writer(call.me, "update")
    else:
        require_import(call.me, q.kind)
    filename = clean_filename(q.filename)
    if filename is None:
        raise ApiError(422, "validation", "a .csv, .txt, .xlsx or .xlsm file, please",
                       field="filename")
    runner = _runner(call)
    if runner.running_for(call.me.user_id):
        raise ApiError(409, "conflict", "an import of yours is still running: wait for it")
    request = call.request
    if (request.content_length or 0) > MAX_UPLOAD_BYTES:
        raise ApiError(413, "too_large", f"at most {MAX_UPLOAD_BYTES // (1024 * 1024)} MB")
    folder = await runner.folder()
    try:
        path = await receive(request.content.iter_chunked(64 * 1024), folder, filename,
                             MAX_UPLOAD_BYTES)
        if path.stat().st_size == 0:
            raise ApiError(422, "validation", "the file is empty", field="body")
    except TooLarge as exc:
        await asyncio.to_thread(shutil.rmtree, folder, True)
        raise ApiError(413, "too_large", str(exc)) from exc
    except BaseException:
        await asyncio.to_thread(shutil.rmtree, folder, True)
        raise
    config = request.config_dict[AUTH].config
    record = await runner.start(actor=call.me, sessionmaker=request.config_dict[SESSIONMAKER],
                                path=path, dry_run=q.dry_run, default_owner=q.owner,
                                region=config.region, kind=q.kind)
    return view(record, request.config_dict[AUTH].clock())


async def get_import(call: Call) -> Any:
    return view(await _mine(call), call.request.config_dict[AUTH].clock())


async def import_report(call: Call) -> Any:
    record = await _mine(call)
    if record.get("state") != "done":
        raise ApiError(409, "conflict", "the import has not finished")
    q: ReportQuery = call.query
    lang = q.lang or (call.me.language if call.me.language in ("zh-CN", "en") else "zh-CN")
    rows = [{**issue, "message": localized(issue, lang), "message_en": issue.get("message")}
            for issue in record.get("issues") or []]
    return await file_response(rows, REPORT_COLUMNS, q.format, name="import-errors",
                               lang=lang)


def add_routes(routes: Routes) -> None:
    routes.add("POST", "/imports", start_import, tag="imports", query_model=ImportQuery,
               upload=Upload(media_types=("application/octet-stream", "text/csv", XLSX)),
               response_model=ImportJob, status=202, errors=(401, 403, 409, 413, 422),
               summary="Import customers (contacts, assets), or the service network "
                       "(?kind=stations|technicians), supplier batches' stage updates "
                       "(?kind=stage_updates) or orders (?kind=orders), from an uploaded "
                       "CSV/XLSX file in the background; poll the job it answers",
               description="The body is the file. Needs customers:create and "
                           "customers:reassign at scope all (the network: stations:create "
                           "at scope all; orders: orders:create and orders:update at "
                           "scope all). Rows are judged one by one "
                           "(crm_core.importer): a bad row is reported, never stops the "
                           "others.")
    routes.add("GET", "/imports/{job_id}", get_import, tag="imports", path_model=JobPath,
               response_model=ImportJob, errors=(401, 404, 422),
               summary="An import job: its progress, then what it did")
    routes.add("GET", "/imports/{job_id}/report", import_report, tag="imports",
               path_model=JobPath, query_model=ReportQuery, download=Download(),
               errors=(401, 404, 409, 422),
               summary="Every row an import rejected, as CSV or XLSX (the error report)")
