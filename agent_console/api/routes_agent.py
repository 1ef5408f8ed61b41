"""The agent's own state and settings: ``/agent/state``, ``/agent/transfer-targets``, ``/me``.

Rules:
- ``GET /agent/state`` answers what the PBX believes (``agent_state.AgentBoard``, kept
  from AMI events), never what was clicked;
- ``POST /agent/state`` only ASKS the PBX (QueueAdd / QueuePause / QueueRemove,
  ``pbx_actions``) and answers 202: the new state arrives as a websocket ``state``
  frame once the PBX reports it. Going ready also ends a running wrap-up. Each action
  is audited (entity ``agent``, the interface) once the PBX accepted it;
- a pause needs a reason (default ``other``); ``wrap-up`` is the console's own and
  cannot be chosen; reasons are plain text without control characters (they become an
  AMI header value);
- ``PATCH /me`` changes the signed-in user's own language (audited by ``crm_core.users``).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field
from sqlalchemy import select

from agent_console.agent_state import WRAPUP_REASON
from agent_console.api.auth import AUTH
from agent_console.api.console import me_as_agent, pbx_answers, pbx_of, states_of, view_of
from agent_console.api.errors import ApiError
from agent_console.api.routing import Call, Routes
from agent_console.api.schemas import Body, Out, Text, UserBrief
from agent_console.pbx_actions import PBX_STATUSES
from crm_core import users
from crm_core.audit import audit
from crm_core.models import User

PAUSE_REASONS = ("break", "lunch", "training", "meeting", "other")  # what the UI offers
ConsoleState = Literal["signed-out", "ready", "paused", "wrap-up", "ringing", "busy"]  # STATES


class CallOut(Out):
    linkedid: str
    queue: str
    caller: str | None = None
    caller_name: str | None = None
    state: Literal["ringing", "talking"]
    since: str


class AgentStateOut(Out):
    interface: str
    agent: str
    queues: list[str]
    state: ConsoleState
    device: str = Field(description="the PBX device state: available, ringing, busy, ...")
    paused: bool
    reason: str
    wrapup_until: str | None = None
    wrapup_linkedid: str | None = None
    call: CallOut | None = None


class AgentAction(Body):
    action: Literal["sign-in", "ready", "pause", "sign-out"]
    reason: Text | None = Field(default=None, min_length=1, max_length=40,
                                pattern=r"^[^\x00-\x1f\x7f]+$",
                                description=f"pause reason; the console offers {PAUSE_REASONS}")


class Accepted(Out):
    ok: bool
    action: str


class TargetAgent(Out):
    name: str
    interface: str
    state: ConsoleState


class TransferTargets(Out):
    agents: list[TargetAgent]
    queues: list[str]


class MePatch(Body):
    language: Literal["zh-CN", "en"]


async def get_agent_state(call: Call) -> Any:
    me = await me_as_agent(call)
    return view_of(call, me.interface, me.name).to_dict()


async def change_agent_state(call: Call) -> Any:
    body: AgentAction = call.body
    me = await me_as_agent(call)
    pbx = pbx_of(call)
    reason = ""
    with pbx_answers():
        if body.action == "sign-in":
            queues = list(call.request.config_dict[AUTH].config.agent_queues)
            await pbx.sign_in(me.interface, me.name, queues)
        elif body.action == "sign-out":
            queues = list(view_of(call, me.interface).queues) or list(
                call.request.config_dict[AUTH].config.agent_queues)
            await pbx.sign_out(me.interface, queues)
        elif body.action == "pause":
            reason = (body.reason or "other").strip()
            if reason.casefold() == WRAPUP_REASON:
                raise ApiError(422, "validation", "wrap-up is set by the console itself",
                               field="reason")
            await pbx.pause(me.interface, reason)
        else:
            await pbx.unpause(me.interface)
            states = states_of(call)
            if states is not None:
                states.agent_ready(me.interface)
    audit(call.db, user_id=me.user_id, action=f"agent-{body.action}", entity="agent",
          entity_id=me.interface, after={"reason": reason} if reason else None)
    return {"ok": True, "action": body.action}


async def list_transfer_targets(call: Call) -> Any:
    me = await me_as_agent(call)
    rows = (await call.db.execute(
        select(User.agent_interface, User.agent_name, User.display_name)
        .where(User.active.is_(True), User.agent_interface.is_not(None),
               User.agent_interface != me.interface)
        .order_by(User.display_name, User.id)
    )).all()
    agents = [{"name": r.agent_name or r.display_name, "interface": r.agent_interface,
               "state": view_of(call, r.agent_interface).state} for r in rows]
    queues = set(call.request.config_dict[AUTH].config.agent_queues)
    states = states_of(call)
    if states is not None:
        queues |= states.board.queues()
    return {"agents": agents, "queues": sorted(queues)}


async def update_me(call: Call) -> Any:
    body: MePatch = call.body
    return await users.update_user(call.db, call.me, call.me.user_id or 0,
                                   {"language": body.language})


def add_routes(routes: Routes) -> None:
    routes.add("GET", "/agent/state", get_agent_state, tag="agent",
               summary="The signed-in agent's state as the PBX reports it",
               response_model=AgentStateOut, errors=(401, 403))
    routes.add("POST", "/agent/state", change_agent_state, tag="agent",
               summary="Ask the PBX: sign in to the queues, ready, pause (with a reason), "
                       "sign out", body_model=AgentAction, response_model=Accepted,
               status=202, errors=(403, 409, 422, *sorted(PBX_STATUSES)),
               description="The new state arrives as a websocket 'state' frame once the "
                           "PBX reports it.")
    routes.add("GET", "/agent/transfer-targets", list_transfer_targets, tag="agent",
               summary="Agents (with their state) and queues a call can be transferred to",
               response_model=TransferTargets, errors=(401, 403))
    routes.add("PATCH", "/me", update_me, tag="agent",
               summary="Change the signed-in user's own language", body_model=MePatch,
               response_model=UserBrief, errors=(400, 401, 403, 422))
