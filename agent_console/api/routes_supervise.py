"""A supervisor's hand on the agents: ``/supervise/agents``, ``/supervise/calls/{linkedid}``,
``/supervise/agents/{id}/state``.

Rules:
- the right is ``crm_core.supervision``: module ``supervise``, ``read`` to listen,
  ``update`` to whisper, barge, pause or sign out; its scope applies to the AGENT
  (team, region, all). No grant, or an agent outside the scope: 403 ``forbidden``;
- listen / whisper / barge act on a call an agent is TALKING on now, as the PBX reports
  it (``agent_state``): a Linkedid on nobody's phone is a 404 ``no-such-call``, a call
  still ringing an agent a 409 ``not-talking``. The supervisor's own phone
  (``User.agent_interface``) is rung (Originate) and, once she answers, spies on the
  AGENT's leg of the call (``CallInfo.agent_channel``): no phone is a 409 ``no-phone``,
  her own call a 422. The answer is 202: the PBX took the Originate; her phone rings;
- pause / sign out an agent are the agent's own actions (``pbx_actions``) done on her
  behalf: a pause needs a reason (never ``wrap-up``, the console's own) and an agent who
  is signed in (409 ``not-signed-in``). The agent's console shows the new state once the
  PBX reports it, over her websocket, as for her own clicks;
- the PBX's failures answer as the console's controls do (503 / 404 / 409 / 502);
- every action the PBX accepted is audited with the supervisor as its author:
  ``supervise-<mode>`` (entity ``call``, the Linkedid) and ``supervise-<action>``
  (entity ``agent``, her interface), naming the agent.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field
from sqlalchemy import select

from agent_console.agent_state import WRAPUP_REASON, AgentView
from agent_console.api.auth import AUTH
from agent_console.api.console import pbx_answers, pbx_of, states_of, view_of
from agent_console.api.errors import ApiError
from agent_console.api.routes_calls import LinkedidPath
from agent_console.api.routing import Call, Routes
from agent_console.api.schemas import Body, IdPath, Out, Text
from agent_console.pbx_actions import PBX_STATUSES
from crm_core.audit import audit
from crm_core.models import User
from crm_core.permissions import PermissionDenied, require, scope_for, widest
from crm_core.supervision import MODULE, AgentFacts, in_scope, require_agent


class SpyIn(Body):
    mode: Literal["listen", "whisper", "barge"] = Field(
        description="listen: nobody hears you; whisper: the agent hears you; barge: the "
                    "agent and the caller hear you. On the phone, keys 4 / 5 / 6 switch.")


class StateIn(Body):
    action: Literal["pause", "sign-out"]
    reason: Text = Field(min_length=1, max_length=40, pattern=r"^[^\x00-\x1f\x7f]+$",
                         description="why (the agent's console and the audit trail show it)")


class SpyOut(Out):
    ok: bool
    mode: str
    agent: str
    phone: str = Field(description="the supervisor's phone the PBX rings")


class StateOut(Out):
    ok: bool
    action: str
    agent: str


class AgentCallOut(Out):
    linkedid: str
    state: Literal["ringing", "talking"]
    caller: str | None = None


class SupervisedAgent(Out):
    id: int
    name: str
    interface: str
    team: str | None = None
    state: str
    reason: str
    call: AgentCallOut | None = None


class SupervisedAgents(Out):
    agents: list[SupervisedAgent]
    phone: str | None = Field(default=None, description="your phone (None: you have none)")
    listen: bool = Field(description="you may listen (supervise:read)")
    act: bool = Field(description="you may whisper, barge, pause, sign out (supervise:update)")


def _facts(user: User | None) -> AgentFacts:
    if user is None:  # an interface no user holds: only an "all" scope reaches it
        return AgentFacts(user_id=0, team=None, region=None)
    return AgentFacts(user_id=user.id, team=user.team, region=user.region)


async def _my_phone(call: Call) -> str | None:
    phone = await call.db.scalar(select(User.agent_interface)
                                 .where(User.id == call.me.user_id))
    return phone or None


def _call_view(call: Call, linkedid: str) -> AgentView:
    """The agent on call ``linkedid``: the one talking on it, else one it rings."""
    states = states_of(call)
    views = [v for v in (states.board.views() if states is not None else [])
             if v.call is not None and v.call.linkedid == linkedid]
    if not views:
        raise ApiError(404, "no-such-call", f"no agent is on call {linkedid} (it ended, or "
                                            "it is still in the IVR or the queue)")
    talking = [v for v in views if v.call is not None and v.call.state == "talking"]
    return (talking or views)[0]


async def list_agents(call: Call) -> Any:
    listen = scope_for(call.me, MODULE, "read")
    act = scope_for(call.me, MODULE, "update")
    scope = widest(listen, act)
    if scope is None:
        raise PermissionDenied(MODULE, "read")
    rows = (await call.db.scalars(
        select(User).where(User.active.is_(True), User.agent_interface.is_not(None))
        .order_by(User.display_name, User.id))).all()
    agents = []
    for user in rows:
        if not in_scope(call.me, scope, _facts(user)) or not user.agent_interface:
            continue
        view = view_of(call, user.agent_interface, user.agent_name or user.display_name)
        info = view.call
        agents.append({
            "id": user.id, "name": user.agent_name or user.display_name,
            "interface": user.agent_interface, "team": user.team, "state": view.state,
            "reason": view.reason,
            "call": None if info is None else {"linkedid": info.linkedid, "state": info.state,
                                               "caller": info.caller},
        })
    return {"agents": agents, "phone": await _my_phone(call), "listen": listen is not None,
            "act": act is not None}


async def spy_on_call(call: Call) -> Any:
    body: SpyIn = call.body
    linkedid = call.path.linkedid
    require(call.me, MODULE, "read" if body.mode == "listen" else "update")
    view = _call_view(call, linkedid)
    agent = await call.db.scalar(select(User).where(User.agent_interface == view.interface)
                                 .order_by(User.id).limit(1))
    require_agent(call.me, body.mode, _facts(agent))
    info = view.call
    assert info is not None  # _call_view only returns agents on that call
    if info.state != "talking":
        raise ApiError(409, "not-talking", "the agent has not answered this call yet: "
                                           "try again once she talks")
    phone = await _my_phone(call)
    if phone is None:
        raise ApiError(409, "no-phone", "you have no phone on the PBX to listen with: an "
                                        "admin sets your agent phone (agent interface)")
    if phone == view.interface:
        raise ApiError(422, "validation", "this is your own call", field="linkedid")
    pbx = pbx_of(call)
    with pbx_answers():
        await pbx.spy(phone, info.agent_channel, body.mode, call.me.username)
    name = view.agent or (agent.agent_name or agent.display_name if agent else view.interface)
    audit(call.db, user_id=call.me.user_id, action=f"supervise-{body.mode}", entity="call",
          entity_id=linkedid, after={"agent": view.interface,
                                     "agent_user_id": agent.id if agent else None,
                                     "channel": info.agent_channel, "phone": phone})
    return {"ok": True, "mode": body.mode, "agent": name, "phone": phone}


async def change_agent_state(call: Call) -> Any:
    body: StateIn = call.body
    require(call.me, MODULE, "update")
    agent = await call.db.get(User, call.path.id)
    if agent is None or not agent.active or not agent.agent_interface:
        raise ApiError(404, "not_found", "no such agent (a user with a phone)")
    require_agent(call.me, body.action, _facts(agent))
    interface = agent.agent_interface
    name = agent.agent_name or agent.display_name
    reason = body.reason.strip()
    view = view_of(call, interface, name)
    pbx = pbx_of(call)
    with pbx_answers():
        if body.action == "pause":
            if reason.casefold() == WRAPUP_REASON:
                raise ApiError(422, "validation", "wrap-up is set by the console itself",
                               field="reason")
            if view.state == "signed-out":
                raise ApiError(409, "not-signed-in", f"{name} is not signed in: nothing to "
                                                     "pause")
            await pbx.pause(interface, reason)
        else:
            queues = list(view.queues) or list(
                call.request.config_dict[AUTH].config.agent_queues)
            await pbx.sign_out(interface, queues)
    audit(call.db, user_id=call.me.user_id, action=f"supervise-{body.action}",
          entity="agent", entity_id=interface,
          after={"reason": reason, "agent_user_id": agent.id, "by": call.me.username})
    return {"ok": True, "action": body.action, "agent": name}


def add_routes(routes: Routes) -> None:
    pbx = tuple(sorted(PBX_STATUSES))
    routes.add("GET", "/supervise/agents", list_agents, tag="supervise",
               summary="The agents you supervise (your scope of supervise), their state and "
                       "call, and whether you have a phone to listen with",
               response_model=SupervisedAgents, errors=(401, 403))
    routes.add("POST", "/supervise/calls/{linkedid:[^/]+}", spy_on_call, tag="supervise",
               summary="Listen to, whisper to or barge into an agent's call: your phone "
                       "rings, answer it to join", path_model=LinkedidPath, body_model=SpyIn,
               response_model=SpyOut, status=202,
               errors=(401, 403, 404, 409, 422, *pbx),
               description="404 no-such-call: no agent is on that call; 409 not-talking: "
                           "not answered yet; 409 no-phone: you have no phone; 403: no "
                           "supervise grant, or the agent is outside its scope.")
    routes.add("POST", "/supervise/agents/{id}/state", change_agent_state,
               tag="supervise", summary="Pause (with a reason) or sign out an agent",
               path_model=IdPath, body_model=StateIn, response_model=StateOut, status=202,
               errors=(401, 403, 404, 409, 422, *pbx),
               description="The agent's console shows her new state once the PBX reports "
                           "it. Audited with you as its author.")
