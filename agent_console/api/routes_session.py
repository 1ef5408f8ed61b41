"""``/session``: sign in, who am I, sign out.

Rules:
- a failed sign-in says only "wrong username or password", whatever was wrong
  (no such user, inactive, no password set, wrong password);
- a client address over its sign-in rate gets 429 ``rate-limited``, an account tried
  too often from this address 429 ``throttled``, both with ``Retry-After``, and the
  password is not checked (``AuthState.admit``; the owner at another address is never
  held up by them);
- a failed sign-in on an existing account is audited and counted for its owner; the
  next successful sign-in answers, and the session then keeps, ``failed_sign_ins``
  (how many since the last time the owner signed in, when, the last one's address);
- sign-out revokes the session id, on every node and across restarts, and closes the
  websockets opened with it;
- sign-in starts a NEW session (no fixation) with a fresh CSRF token, returned in
  the body: the browser sends it back as ``X-CSRF-Token`` on every write.
"""

from __future__ import annotations

import math
import secrets
import time
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from aiohttp_session import get_session, new_session
from sqlalchemy import select

from agent_console.api.auth import AUTH
from agent_console.api.client_address import client_address
from agent_console.api.errors import ApiError
from agent_console.api.routing import SESSIONMAKER, Call, Routes
from agent_console.api.schemas import FailedSignIns, Grant, SessionOut, SignIn, UserBrief
from crm_core.models import User
from crm_core.permissions import Actor, load_actor


def _told(notice: Any) -> FailedSignIns | None:
    """The failed sign-ins kept in the session, for the answer (None: nothing to tell)."""
    if not isinstance(notice, dict):
        return None
    try:
        return FailedSignIns(
            count=notice["count"], last_address=notice["address"],
            first_at=datetime.fromtimestamp(notice["first"], UTC),
            last_at=datetime.fromtimestamp(notice["last"], UTC))
    except (KeyError, TypeError, ValueError, OverflowError):
        return None


def _session_out(user: User, actor: Actor, csrf: str, notice: Any = None) -> SessionOut:
    if actor.is_admin:
        grants = [Grant(module="*", operation="*", scope="all")]
    else:
        grants = [Grant(module=m, operation=o, scope=s)  # type: ignore[arg-type]
                  for (m, o), s in sorted(actor.grants.items())]
    return SessionOut(user=UserBrief.model_validate(user), grants=grants, csrf_token=csrf,
                      failed_sign_ins=_told(notice))


def request_address(request: web.Request) -> str:
    """The client's address (the peer, or what a trusted proxy forwarded)."""
    return client_address(request.remote, request.headers.get("X-Forwarded-For"),
                          request.config_dict[AUTH].config.trusted_proxies)


async def sign_in(call: Call) -> SessionOut:
    body: SignIn = call.body
    auth = call.request.config_dict[AUTH]
    address = request_address(call.request)
    refused = await auth.admit(address, body.username)
    if refused is not None:
        message = ("too many sign-in attempts from this address; try again later"
                   if refused.error == "rate-limited" else
                   "too many failed sign-ins to this account from this address; "
                   "try again later")
        raise ApiError(429, refused.error, message,
                       headers={"Retry-After": str(max(1, math.ceil(refused.wait_s)))})
    user = (await call.db.execute(
        select(User).where(User.username == body.username)
    )).scalar_one_or_none()
    usable = user is not None and user.active
    ok = await auth.verify(user.password_hash if usable and user else None, body.password)
    actor = await load_actor(call.db, user.id) if ok and user is not None else None
    if user is None or actor is None:
        auth.failed(address, user.id if user is not None else None,
                    call.request.config_dict[SESSIONMAKER])
        raise ApiError(401, "sign_in_failed", "wrong username or password")
    notice = await auth.succeeded(address, body.username, user.id)
    session = await new_session(call.request)
    csrf = secrets.token_urlsafe(32)
    session["uid"] = user.id
    session["sid"] = secrets.token_urlsafe(16)
    session["csrf"] = csrf
    session["at"] = int(time.time())
    if notice is not None:
        session["told"] = notice
    return _session_out(user, actor, csrf, notice)


async def who_am_i(call: Call) -> SessionOut:
    session = await get_session(call.request)
    user = await call.db.get(User, call.me.user_id)
    if user is None:
        raise ApiError(401, "unauthenticated", "sign in first")
    return _session_out(user, call.me, str(session.get("csrf", "")), session.get("told"))


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
