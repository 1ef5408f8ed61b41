"""Links to call recordings: ``recording_base_url`` + the call record's relative file name.

Rules: no base URL (the default) or no recording -> no link (None). The file name is
checked again (``telephony.tracker.safe_recording``: a row may predate the tracker's
check or come from elsewhere), then URL-quoted, so it can only ever name a file below
the base URL. Pure functions: the routes hand in the setting.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from telephony.tracker import safe_recording


def recording_url(base_url: str, recording: Any) -> str | None:
    """The URL of a recording, or None when there is no base URL or no usable name."""
    if not base_url or not isinstance(recording, str):
        return None
    name = safe_recording(recording)
    if name is None:
        return None
    return base_url.rstrip("/") + "/" + quote(name, safe="/")


def with_recording_urls(view: Mapping[str, Any], base_url: str) -> dict[str, Any]:
    """The 360 view with ``recording_url`` on each of its calls (None without a link)."""
    out = dict(view)
    calls = view.get("calls")
    if isinstance(calls, list):
        out["calls"] = [
            {**c, "recording_url": recording_url(base_url, c.get("recording"))}
            if isinstance(c, Mapping) else c
            for c in calls
        ]
    return out
