"""The agent console's pages: sign-in, the console, the records search and the
360 page of one customer, plus their static files under ``/static/console/``.

Rules:
- the pages are static documents: nothing about the user, no record and no secret
  is ever written into them on the server (the CSRF token comes from
  ``GET /api/v1/session`` at run time and stays in the page's memory); records and
  caller names reach the page only as JSON and are rendered as text;
- every page and every console file carries a strict Content-Security-Policy:
  scripts, styles, images and sockets from this origin only, no inline script or
  style, no eval, no plugins, no framing, and Trusted Types required so that an
  ``innerHTML = string`` anywhere throws instead of parsing markup; plus nosniff,
  no referrer, DENY framing;
- ``/console``, ``/records...``, ``/backoffice...`` and ``/station`` need a signed-in
  session, else a redirect to ``/login?next=...``; the session check here only spares a
  round trip: the API and the websocket check every request themselves;
- ``GET /login`` of a signed-in user goes straight on, and ``/console`` is for
  users who answer calls; a user without an agent interface goes to their home page
  (``landing.home_page``: ``/station`` for a service station's staff and technicians,
  the live calls page for whoever watches the whole hotline's calls, else
  ``/records``); ``/admin`` is for admins (others go home);
- static files are served from ``static/console`` only: a path that leaves it,
  or names no file, is a 404;
- the pages share one ``<head>``, written here (``head``): each ``<name>.html`` holds
  only its ``<body>``, and ``PAGES`` lists, per page, the modules its script
  ``js/<name>.js`` imports, so that the browser fetches them all at once;
- npm packages (``package.json`` at the repository's root, installed by ``make`` into
  ``node_modules``) are served by Hotline itself under ``/static/vendor/`` (``VENDOR``:
  only the files named there), never from a CDN: no network at run time; a page that
  uses one (``VENDOR_PAGES``) loads it with a classic deferred script before its own,
  and works without it (a missing file is a 404 and the page says what it lacks).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from urllib.parse import quote

from aiohttp import web
from sqlalchemy import and_, select
from sqlalchemy.orm import aliased

from agent_console.api.auth import AuthState, make_storage
from agent_console.api.routing import SESSIONMAKER
from agent_console.landing import home_page
from crm_core.models import RolePermission, User

log = logging.getLogger("agent_console.pages")

CONSOLE_DIR = Path(__file__).parent / "static" / "console"
STATIC_PREFIX = "/static/console/"

CSP = "; ".join((
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",  # the API and the /ws/agent socket (CSP3: 'self' covers ws:)
    "media-src 'self'",  # call recordings, when a site serves them
    "manifest-src 'self'",
    "form-action 'self'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
    "object-src 'none'",
    "require-trusted-types-for 'script'",
    "trusted-types 'none'",
))

SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}

_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}

# page -> every module its script imports, directly or not (preloaded; a test checks
# the list against the imports)
PAGES: dict[str, tuple[str, ...]] = {
    "login": ("api.js", "dom.js", "i18n.js", "notify.js"),
    "console": ("api.js", "caller_verify.js", "dom.js", "hotkeys.js", "i18n.js",
                "next_call.js", "notes.js", "notify.js", "phone.js", "quick_create.js",
                "render.js", "scores.js", "search.js", "session.js", "socket.js", "words.js"),
    "records": ("api.js", "dom.js", "hotkeys.js", "i18n.js", "notify.js", "phone.js",
                "render.js", "session.js", "words.js"),
    "record": ("api.js", "dom.js", "hotkeys.js", "i18n.js", "notify.js", "phone.js",
               "render.js", "search.js", "session.js", "timeline.js", "words.js"),
    "admin": ("admin_roles.js", "admin_users.js", "api.js", "dom.js", "i18n.js", "notify.js",
              "session.js"),
    # a service station's (or technician's) tickets, for a phone (issue 15)
    "station": ("api.js", "dom.js", "i18n.js", "notify.js", "scores.js", "session.js"),
}
# the back office (issue 14 item 11): its hub, then one page per section, each at
# /backoffice/<name>; all import the same modules (office.js: the parts they share)
_BACK_OFFICE = ("api.js", "dom.js", "i18n.js", "notify.js", "office.js", "phone.js",
                "session.js")
SECTIONS = ("ivr", "reminders", "pool", "reassign", "merge", "imports", "exports",
            "dispatch", "stations", "service", "kpi", "calllists", "orders", "batches",
            "funnel", "mailings")
PAGES.update({"backoffice": _BACK_OFFICE, **{name: _BACK_OFFICE for name in SECTIONS}})
# the service desk's stations and the service report draw bar charts (bars.js)
PAGES.update({name: (*_BACK_OFFICE, "bars.js") for name in ("stations", "service")})
# one ticket, at /backoffice/ticket?id=N (issue 15 item 6): a back-office page with a body
# of its own (ticket.html), reached from the dispatch board and a customer's 360 page,
# not a section of the menu; one order, at /backoffice/order?id=N (issue 18 item 5), from
# the orders list, the batches board and a customer's 360 page
BACK_OFFICE_PAGES = ("ticket", "order")
PAGES.update({name: _BACK_OFFICE for name in BACK_OFFICE_PAGES})
# the orders pages show stages, late flags and order links alike (order_tags.js)
PAGES.update({name: (*_BACK_OFFICE, "order_tags.js") for name in ("orders", "order", "batches")})
# the call centre's reports draw theirs with chart.js (charts.js; VENDOR_PAGES)
PAGES["kpi"] = (*_BACK_OFFICE, "calllog.js", "charts.js")
# and so does the sales funnel (issue 18 item 3)
PAGES["funnel"] = (*_BACK_OFFICE, "charts.js")

NODE_MODULES = Path(__file__).resolve().parent.parent / "node_modules"
VENDOR_PREFIX = "/static/vendor/"
VENDOR: dict[str, str] = {"chart.umd.min.js": "chart.js/dist/chart.umd.min.js"}
# the call centre's reports draw their charts with chart.js (issue 16 item 5)
VENDOR_PAGES: dict[str, tuple[str, ...]] = {"kpi": ("chart.umd.min.js",),
                                             "funnel": ("chart.umd.min.js",)}

_AUTH = web.AppKey("console_pages_auth", AuthState)


def _headers(content_type: str, *, cache: str) -> dict[str, str]:
    return {**SECURITY_HEADERS, "Content-Type": content_type, "Cache-Control": cache}


def head(name: str) -> str:
    """The start of page ``name`` up to its ``<body>``: the same for every page but
    for the title's label, the page's script and the modules preloaded for it."""
    js = STATIC_PREFIX + "js/"
    return "".join((
        '<!doctype html>\n<html lang="zh-CN">\n<head>\n<meta charset="utf-8">\n',
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n',
        f'<title data-i18n="{name}.title">Hotline</title>\n',
        f'<link rel="icon" href="{STATIC_PREFIX}icon.svg" type="image/svg+xml">\n',
        f'<link rel="stylesheet" href="{STATIC_PREFIX}console.css">\n',
        *(f'<link rel="modulepreload" href="{js}{module}">\n' for module in PAGES[name]),
        # classic and deferred: it runs before the page's module (document order)
        *(f'<script src="{VENDOR_PREFIX}{file}" defer></script>\n'
          for file in VENDOR_PAGES.get(name, ())),
        f'<script type="module" src="{js}{name}.js"></script>\n</head>\n',
    ))


@cache
def document(name: str) -> bytes:
    """Page ``name`` as served: the shared head, then its body from ``<name>.html``."""
    body = (CONSOLE_DIR / f"{_body_file(name)}.html").read_text(encoding="utf-8")
    if name in SECTIONS:  # the back office's pages differ only in their section's name
        body = body.replace('"backoffice', f'"{name}')
    return (head(name) + body).encode("utf-8")


def _body_file(name: str) -> str:
    return "backoffice" if name in SECTIONS else name


def _page(name: str) -> web.Response:
    # no-store: a signed-out browser's back button must not show a page from cache
    return web.Response(body=document(name),
                        headers=_headers(_TYPES[".html"], cache="no-store"))


@dataclass(frozen=True, kw_only=True)
class Visitor:
    """Who a page request comes from: enough to send them to the right page."""

    user_id: int
    answers_calls: bool
    is_admin: bool
    home: str


async def signed_in_user(request: web.Request) -> Visitor | None:
    """The user of the request's live session, or None."""
    auth = request.config_dict[_AUTH]
    session = await make_storage(auth.config).load_session(request)
    user_id, sid = session.get("uid"), session.get("sid")
    if session.new or not isinstance(user_id, int) or not isinstance(sid, str):
        return None
    if await auth.is_revoked(sid):
        return None
    calls, tickets, spy = aliased(RolePermission), aliased(RolePermission), \
        aliased(RolePermission)
    watch = and_(calls.role_id == User.role_id, calls.module == "calls",
                 calls.operation == "read")
    works = and_(tickets.role_id == User.role_id, tickets.module == "tickets",
                 tickets.operation == "read")
    watches = and_(spy.role_id == User.role_id, spy.module == "supervise",
                   spy.operation == "update")
    async with request.config_dict[SESSIONMAKER]() as db:
        row = (await db.execute(
            select(User.active, User.agent_interface, User.is_admin,
                   calls.scope.label("calls_read"), tickets.scope.label("tickets_read"),
                   spy.scope.label("supervise"))
            .outerjoin(calls, watch).outerjoin(tickets, works).outerjoin(spy, watches)
            .where(User.id == user_id)
        )).one_or_none()
    if row is None or not row.active:
        return None
    answers = bool(row.agent_interface)
    return Visitor(user_id=user_id, answers_calls=answers, is_admin=row.is_admin,
                   home=home_page(answers_calls=answers, calls_read=row.calls_read,
                                  tickets_read=row.tickets_read,
                                  supervises=row.supervise is not None))


_NEXT = re.compile(r"/(console|live|wallboard|admin|station|records(/[0-9]{1,10})?"
                   r"|backoffice(/[a-z]{1,20})?)(\?[^\x00-\x1f\x7f\\]*)?")


def _safe_next(value: str | None) -> str | None:
    """A page of this console to return to after sign-in: never another site, never a
    control character (it goes into a Location header)."""
    if not value or _NEXT.fullmatch(value) is None:
        return None
    return value


def _to_login(request: web.Request) -> web.HTTPFound:
    return web.HTTPFound(f"/login?next={quote(request.path_qs, safe='')}",
                         headers=SECURITY_HEADERS)


async def page_for_signed_in(request: web.Request) -> None:
    """Sends whoever is not signed in to sign-in (and back here after)."""
    if await signed_in_user(request) is None:
        raise _to_login(request)


async def require_signed_in(request: web.Request) -> int:
    """The signed-in user's id, or 401 (for data and sockets: callers' numbers and
    names are nobody's business but the staff's)."""
    who = await signed_in_user(request)
    if who is None:
        raise web.HTTPUnauthorized(text="sign in first", headers=SECURITY_HEADERS)
    return who.user_id


async def root(request: web.Request) -> web.StreamResponse:
    """``/``: the user's home page (``landing.home_page``), or sign-in."""
    who = await signed_in_user(request)
    if who is None:
        raise web.HTTPFound("/login", headers=SECURITY_HEADERS)
    raise web.HTTPFound(who.home, headers=SECURITY_HEADERS)


async def login(request: web.Request) -> web.StreamResponse:
    who = await signed_in_user(request)
    if who is not None:
        target = _safe_next(request.query.get("next")) or who.home
        raise web.HTTPFound(target, headers=SECURITY_HEADERS)
    return _page("login")


async def console(request: web.Request) -> web.StreamResponse:
    who = await signed_in_user(request)
    if who is None:
        raise _to_login(request)
    if not who.answers_calls:  # the sign-in page sends everyone here first
        raise web.HTTPFound(who.home, headers=SECURITY_HEADERS)
    return _page("console")


async def admin(request: web.Request) -> web.StreamResponse:
    """Users, roles and grants: for admins (the API refuses everyone else anyway)."""
    who = await signed_in_user(request)
    if who is None:
        raise _to_login(request)
    if not who.is_admin:
        raise web.HTTPFound(who.home, headers=SECURITY_HEADERS)
    return _page("admin")


async def records(request: web.Request) -> web.StreamResponse:
    await page_for_signed_in(request)
    return _page("records")


async def station(request: web.Request) -> web.StreamResponse:
    """A station's open tickets: any signed-in user (the API shows what their scope
    holds; a station's staff and technicians start here)."""
    await page_for_signed_in(request)
    return _page("station")


async def record(request: web.Request) -> web.StreamResponse:
    raw = request.match_info["id"]
    if not (raw.isascii() and raw.isdigit() and 0 < len(raw) <= 10):
        raise web.HTTPNotFound(headers=SECURITY_HEADERS)
    await page_for_signed_in(request)
    return _page("record")


async def backoffice(request: web.Request) -> web.StreamResponse:
    """``/backoffice``, ``/backoffice/<section>`` and the back office's other pages
    (``BACK_OFFICE_PAGES``): the page says what the user's grants allow (the API decides
    anyway)."""
    section = request.match_info.get("section", "backoffice")
    if section not in SECTIONS and section not in BACK_OFFICE_PAGES and section != "backoffice":
        raise web.HTTPNotFound(headers=SECURITY_HEADERS)
    await page_for_signed_in(request)
    return _page(section)


def resolve_static(relative: str) -> Path | None:
    """The console file named by ``relative``, or None when it names none (or
    lies outside the console folder)."""
    if not relative or "\x00" in relative or "\\" in relative:
        return None
    base = CONSOLE_DIR.resolve()
    target = (base / relative).resolve()
    if not target.is_relative_to(base) or not target.is_file():
        return None
    if target.suffix not in _TYPES:
        return None
    return target


async def static_file(request: web.Request) -> web.StreamResponse:
    target = resolve_static(request.match_info["path"])
    if target is None:
        raise web.HTTPNotFound(headers=SECURITY_HEADERS)
    # no-cache: revalidated each time (ETag), so a new release is seen at once
    return web.FileResponse(target, headers=_headers(_TYPES[target.suffix], cache="no-cache"))


async def vendor_file(request: web.Request) -> web.StreamResponse:
    """A file of an npm package named in ``VENDOR`` (404 when it is not installed)."""
    relative = VENDOR.get(request.match_info["name"])
    target = NODE_MODULES / relative if relative else None
    if target is None or not target.is_file():
        if target is not None:
            log.warning("%s is not installed (run make, or npm ci): pages go without it",
                        target)
        raise web.HTTPNotFound(headers=SECURITY_HEADERS)
    return web.FileResponse(target, headers=_headers(_TYPES[target.suffix], cache="no-cache"))


def add_pages(app: web.Application, auth: AuthState) -> None:
    """Mount the console pages and files on ``app`` (``auth``: the API's sign-in
    state, whose cookie and sign-out table decide who is signed in)."""
    app[_AUTH] = auth
    for name in PAGES:  # read once, now: a missing page fails at start, not on a request
        document(name)
    app.router.add_get("/login", login)
    app.router.add_get("/console", console)
    app.router.add_get("/records", records)
    app.router.add_get("/records/{id}", record)
    app.router.add_get("/admin", admin)
    app.router.add_get("/station", station)
    app.router.add_get("/backoffice", backoffice)
    app.router.add_get("/backoffice/{section}", backoffice)
    app.router.add_get(STATIC_PREFIX + "{path:.+}", static_file)
    app.router.add_get(VENDOR_PREFIX + "{name}", vendor_file)


def add_root(app: web.Application) -> None:
    """``/`` -> the right page (for an app where nothing else serves ``/``)."""
    app.router.add_get("/", root)

