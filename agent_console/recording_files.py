"""Serving call recordings: ``<prefix><name>`` (the 360 page's "Listen" links) to a
signed-in user with the right to hear that call, whatever the mode (issue 14 item 16: the
demo served them to anyone who knew or guessed a name).

Rules:
- the name is checked as every recording name (``telephony.tracker.safe_recording``) and
  must end in ``.wav``; anything else is a 404;
- not signed in (no session, signed out, deactivated): 401 and nothing more; signed in
  without the right to hear that call, or no call has that recording: 404, the same
  answer, so nobody learns that a recording exists (``crm_core.call_recordings``);
- the audio comes from the ``Source`` handed in (the demo's silence; a site's PBX folder
  would be another), asked only after those checks; no audio: 404;
- ``Cache-Control: private, no-store``: a shared browser must not keep a caller's voice
  for whoever signs in next.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from agent_console.api.routing import SESSIONMAKER
from agent_console.pages import SECURITY_HEADERS, require_signed_in
from crm_core.call_recordings import recording_call
from crm_core.permissions import load_actor
from telephony.tracker import safe_recording

Source = Callable[[str], Awaitable[bytes | None]]
"""The audio of a recording name (checked and allowed), or None when there is none."""


def _not_found() -> web.HTTPNotFound:
    return web.HTTPNotFound(headers=SECURITY_HEADERS)


def recording_handler(source: Source) -> Callable[[web.Request], Awaitable[web.Response]]:
    """The handler of ``<prefix>{name}``: the checks of the rules, then ``source``."""

    async def recording(request: web.Request) -> web.Response:
        name = request.match_info.get("name", "")
        if safe_recording(name) is None or not name.endswith(".wav"):
            raise _not_found()
        user_id = await require_signed_in(request)  # 401
        async with request.config_dict[SESSIONMAKER]() as db:
            actor = await load_actor(db, user_id)
            allowed = actor is not None and await recording_call(db, actor, name) is not None
        if not allowed:
            raise _not_found()
        audio = await source(name)
        if audio is None:
            raise _not_found()
        return web.Response(body=audio, content_type="audio/wav", headers={
            **SECURITY_HEADERS, "Cache-Control": "private, no-store"})

    return recording


def add_recordings(app: web.Application, prefix: str, source: Source) -> None:
    """Serve recordings under ``prefix`` (``/recordings/``) from ``source``."""
    app.router.add_get(prefix.rstrip("/") + "/{name:.+}", recording_handler(source))
