"""File answers (``?format=csv|xlsx``) written by ``crm_core.exporter``.

Rules: the file is written into memory inside the request's transaction (so it is
one consistent snapshot) and sent with a ``Content-Disposition: attachment`` name;
KNOWN LIMIT: a very large export is held in memory once while it is sent.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterable, Iterable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from crm_core.exporter import Columns, export_rows

CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


async def file_response(
    rows: AsyncIterable[dict[str, Any]] | Iterable[dict[str, Any]], columns: Columns,
    fmt: str, *, name: str, lang: str,
) -> web.Response:
    """``rows`` as a CSV/XLSX download called ``<name>-<UTC date>.<fmt>``."""
    buffer = io.BytesIO()
    await export_rows(rows, columns, buffer, fmt, lang=lang, title=name)
    filename = f"{name}-{datetime.now(UTC):%Y%m%d}.{fmt}"
    return web.Response(
        body=buffer.getvalue(),
        headers={"Content-Type": CONTENT_TYPES[fmt],
                 "Content-Disposition": f'attachment; filename="{filename}"'},
    )
