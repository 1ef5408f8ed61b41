"""``/session``: sign in, who am I, sign out.

Rules:
- a failed sign-in says only "wrong username or password", whatever was wrong
  (no such user, inactive, no password set, wrong password);
- a locked username gets 429 with ``Retry-After`` and its password is not checked;
- so does a client address or a username over its sign-in rate (``AuthState.
  rate_limited``; error ``rate-limited``; an attempt refused for either reason is
  not counted);
- sign-out revokes the session id, on every node and across restarts, and closes the
  websockets opened with it;
- sign-in starts a NEW session (no fixation) with a fresh CSRF token, returned in
  the body: the browser sends it back as ``X-CSRF-Token`` on every write.
"""

from __future__ import annotations

import math
import secrets
import time

from aiohttp_session import get_session, new_session
from sqlalchemy import select

from agent_console.api.auth import AUTH
from agent_console.api.errors import ApiError
from agent_console.api.routing import Call, Routes
from agent_console.api.schemas import Grant, SessionOut, SignIn, UserBrief
from crm_core.models import User
from crm_core.permissions import Actor, load_actor


def _session_out(user: User, actor: Actor, csrf: str) -> SessionOut:
    if actor.is_admin:
        grants = [Grant(module="*", operation="*", scope="all")]
    else:
        grants = [Grant(module=m, operation=o, scope=s)  # type: ignore[arg-type]
                  for (m, o), s in sorted(actor.grants.items())]
    return SessionOut(user=UserBrief.model_validate(user), grants=grants, csrf_token=csrf)


async def sign_in(call: Call) -> SessionOut:
    body: SignIn = call.body
    auth = call.request.config_dict[AUTH]
    locked = auth.guard.locked_for(body.username)
    if locked:
        raise ApiError(429, "locked", "too many failed sign-ins; try again later",
                       headers={"Retry-After": str(math.ceil(locked))})
    wait = auth.rate_limited(call.request.remote or "unknown", body.username)
    if wait:
        raise ApiError(429, "rate-limited", "too many sign-in attempts; try again later",
                       headers={"Retry-After": str(max(1, math.ceil(wait)))})
    user = (await call.db.execute(
        select(User).where(User.username == body.username)
    )).scalar_one_or_none()
    usable = user is not None and user.active
    ok = await auth.verify(user.password_hash if usable and user else None, body.password)
    actor = await load_actor(call.db, user.id) if ok and user is not None else None
    if user is None or actor is None:
        auth.guard.failed(body.username)
        raise ApiError(401, "sign_in_failed", "wrong username or password")
    auth.guard.succeeded(body.username)
    session = await new_session(call.request)
    csrf = secrets.token_urlsafe(32)
    session["uid"] = user.id
    session["sid"] = secrets.token_urlsafe(16)
    session["csrf"] = csrf
    session["at"] = int(time.time())
    return _session_out(user, actor, csrf)


async def who_am_i(call: Call) -> SessionOut:
    session = await get_session(call.request)
    user = await call.db.get(User, call.me.user_id)
    if user is None:
        raise ApiError(401, "unauthenticated", "sign in first")
    return _session_out(user, call.me, str(session.get("csrf", "")))


async def sign_out(call: Call) -> None:
    session = await get_session(call.request)
    sid = session.get("sid")
    auth = call.request.config_dict[AUTH]
    if isinstance(sid, str):
        await auth.revoke(sid)
    session.invalidate()


def add_routes(routes: Routes) -> None:
    routes.add("POST", "/session", sign_in, summary="Sign in", tag="session",
               body_model=SignIn, response_model=SessionOut, public=True,
               errors=(400, 401, 422, 429),
               description="Starts a session cookie; returns the CSRF token for writes.")
    routes.add("GET", "/session", who_am_i, summary="The signed-in user and their grants",
               tag="session", response_model=SessionOut, errors=(401,))
    routes.add("DELETE", "/session", sign_out, summary="Sign out", tag="session",
               status=204, errors=(401, 403))
