"""What the console's endpoints (``routes_agent``, ``routes_calls``) share: the keys of
the app they are mounted in, who the signed-in agent is, and PBX errors as answers.

Rules:
- the API sub-app knows nothing of ``hotline``: the composition root sets ``PBX`` and
  ``AGENT_STATES`` on the parent app (handlers read ``request.config_dict``). A
  missing key means "no PBX / no agent board on this server": the controls answer
  503 and the state reads as signed out; never a 500;
- a control needs a user who answers calls (``User.agent_interface``): anybody else
  gets 403 ``not-an-agent`` before anything reaches the PBX;
- a ``PbxError`` becomes its status and code with the PBX's reason in ``message``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from aiohttp import web
from sqlalchemy import select

from agent_console.agent_state import AgentView, signed_out_view
from agent_console.api.errors import ApiError
from agent_console.api.routing import Call
from agent_console.pbx_actions import PbxControls, PbxError
from agent_console.wrapup import AgentStates
from crm_core.models import User

# the console's controls: PbxActions, or a forwarder to the AMI owner (hotline.pbx_rpc)
PBX: web.AppKey[PbxControls] = web.AppKey("console_pbx")
AGENT_STATES = web.AppKey("console_agent_states", AgentStates)


@dataclass(frozen=True)
class Me:
    """The signed-in user as an agent."""

    user_id: int
    username: str
    interface: str
    name: str


async def me_as_agent(call: Call) -> Me:
    """The signed-in agent, or 403 when this user answers no phone."""
    row = (await call.db.execute(
        select(User.agent_interface, User.agent_name, User.display_name)
        .where(User.id == call.me.user_id)
    )).one_or_none()
    if row is None or not row.agent_interface:
        raise ApiError(403, "not-an-agent", "this user does not answer calls (no agent phone)")
    return Me(user_id=call.me.user_id or 0, username=call.me.username,
              interface=row.agent_interface, name=row.agent_name or row.display_name)


def pbx_of(call: Call) -> PbxControls:
    pbx = call.request.config_dict.get(PBX)
    if pbx is None:
        raise ApiError(503, "pbx-unreachable", "this server has no link to the PBX")
    return pbx


def states_of(call: Call) -> AgentStates | None:
    return call.request.config_dict.get(AGENT_STATES)


def view_of(call: Call, interface: str, name: str = "") -> AgentView:
    """What the PBX believes about ``interface`` (signed out when it said nothing)."""
    states = states_of(call)
    view = states.view(interface) if states is not None else None
    return view or signed_out_view(interface, name)


@contextmanager
def pbx_answers() -> Iterator[None]:
    """Turn a PBX failure into the API's answer (503 / 404 / 409 / 502)."""
    try:
        yield
    except PbxError as exc:
        raise ApiError(exc.status, exc.code, exc.message) from exc
