"""Call controls and the call log: ``/calls/dial``, ``/calls/{linkedid}/transfer|hangup|log``.

Rules:
- a control acts on the signed-in agent's OWN phone and OWN call: the call is the one
  the PBX reports for the agent's interface (``agent_state``); another linkedid is a
  404 ("no such call of yours"), a call not yet answered cannot be transferred (409);
- click-to-dial refuses an agent who is ringing or on a call (409 ``agent-busy``); a
  transfer to an agent who is (409 ``target-busy``); the number is any written form
  of a phone number (``dialling.dial_digits``), else 422 naming ``number``;
- the number dialled decides the customer of the call (its pop, its log): a
  ``customer_id`` only says which customer's number it is (a number on two records),
  so one the number does not belong to (its own or its contacts' numbers) is a 422
  naming ``customer_id``, nothing dialled. The console sent the customer on screen
  with any typed number, and the call then popped and was logged as theirs (issue 14
  item 2);
- transfer targets: ``agent`` (interface, agent name or username of an active user with
  a phone) -> that extension in the transfer context; ``queue`` (a known queue) -> the
  queue context; ``account-manager`` (value: a customer id, or empty for the caller's
  customer) -> the owner's extension; ``number`` -> the outbound context;
- the PBX's failures answer 503 / 404 / 409 / 502 (``pbx_actions``); controls the
  PBX accepted are audited (entity ``call``, the linkedid or the interface);
- ``POST /calls/{linkedid}/log`` writes an interaction of kind ``call`` against the
  customer with the disposition, linked by ``call_linkedid``; the same agent saving
  the same call again updates that interaction (200) instead of adding a second one;
  saving ends the agent's wrap-up of that call. Who may, and what happens to the
  call's customer, is ``crm_core.call_access``: a Linkedid neither the call log nor
  the agent board knows is a 404 (``no-such-call``); only an agent who took the call
  logs it (a call nobody took: an agent it rang), or a user with ``calls:update`` in
  scope (a supervisor: audited ``log-on-behalf``), anyone else 403
  (``not-your-call``); a call record without a
  customer gets this one; a call filed under another customer is 409
  (``customer-mismatch``) unless the body says ``correct_customer: true``, which moves
  the call to this customer (audited with the old and the new).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field, StrictBool
from sqlalchemy import select

from agent_console.agent_state import AgentView, CallInfo
from agent_console.api.auth import AUTH
from agent_console.api.console import (
    Me,
    me_as_agent,
    pbx_answers,
    pbx_of,
    states_of,
    view_of,
)
from agent_console.api.errors import ApiError, json_response
from agent_console.api.routing import Call, Routes
from agent_console.api.schemas import MAX_ID, Body, Id, Out, Query, Text
from agent_console.dialling import dial_digits, extension_of, keyable
from agent_console.pbx_actions import PBX_STATUSES
from crm_core import call_access, customers, interactions
from crm_core.audit import audit
from crm_core.lookup import lookup_360, view_360
from crm_core.models import Interaction, User
from numbering.normalize import typed_number

DISPOSITIONS = ("inquiry", "repair", "complaint", "order-status", "sales-lead", "other")
BUSY_STATES = ("ringing", "busy")
LINKEDID = r"^[0-9A-Za-z._:-]+$"


class LinkedidPath(Query):
    linkedid: str = Field(min_length=1, max_length=100, pattern=LINKEDID)


class DialIn(Body):
    number: Text = Field(min_length=1, max_length=64, description="any written form")
    customer_id: int | None = Field(
        default=None, ge=1, le=MAX_ID, description="the customer whose number this is "
        "(optional: the number decides); a customer the number does not belong to is a 422")


class Target(Body):
    kind: Literal["agent", "queue", "account-manager", "number"]
    value: Text = Field(default="", max_length=100)


class TransferIn(Body):
    mode: Literal["blind", "attended"]
    target: Target


class LogIn(Body):
    customer_id: Id
    contact_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    disposition: Literal["inquiry", "repair", "complaint", "order-status", "sales-lead",
                         "other"]
    notes: Text = Field(default="", max_length=20_000)
    correct_customer: StrictBool = Field(
        default=False, description="the call is filed under another customer: move it to "
        "this one (recorded in the audit trail); without it, that is a 409")


class Accepted(Out):
    ok: bool


class Logged(Out):
    model_config = ConfigDict(extra="allow")
    id: int
    kind: str
    call_linkedid: str | None = None
    disposition: str | None = None


# --- helpers ------------------------------------------------------------------------------


def _my_call(view: AgentView, linkedid: str) -> CallInfo:
    if view.call is None or view.call.linkedid != linkedid:
        raise ApiError(404, "not_found", "no such call of yours (it may have ended)")
    return view.call


def _free(call: Call, interface: str, who: str) -> None:
    state = view_of(call, interface).state
    if state in BUSY_STATES:
        code = "agent-busy" if who == "you" else "target-busy"
        raise ApiError(409, code, f"{who} {'are' if who == 'you' else 'is'} on a call "
                                  f"({state}); try again when free")


async def _agent_target(call: Call, me: Me, value: str) -> str:
    wanted = value.strip()
    user = (await call.db.execute(
        select(User.agent_interface).where(
            User.active.is_(True), User.agent_interface.is_not(None),
            (User.agent_interface == wanted) | (User.agent_name == wanted)
            | (User.username == wanted))
        .order_by(User.id).limit(1)
    )).scalar_one_or_none()
    if user is None:
        raise ApiError(422, "validation", "no agent with that name or phone", field="target.value")
    if user == me.interface:
        raise ApiError(422, "validation", "that is your own phone", field="target.value")
    _free(call, user, "that agent")
    return user


async def _account_manager(call: Call, me: Me, value: str, info: CallInfo) -> str:
    raw = value.strip()
    if raw:
        if not raw.isascii() or not raw.isdigit() or not 0 < int(raw) <= MAX_ID:
            raise ApiError(422, "validation", "a customer id, or empty for the caller's "
                                              "customer", field="target.value")
        view = await view_360(call.db, int(raw))
    else:
        region = call.request.config_dict[AUTH].config.region
        view = await lookup_360(call.db, info.caller, region=region)
    if not view.get("found"):
        raise ApiError(404, "not_found", "no such customer: nobody to transfer to")
    owner_id = (view.get("owner") or {}).get("id")
    if owner_id is None:
        raise ApiError(409, "no-account-manager", "this customer has no account manager "
                                                  "(shared pool)")
    owner = await call.db.get(User, owner_id)
    if owner is None or not owner.active or not owner.agent_interface:
        raise ApiError(409, "no-phone", "the account manager has no phone on the PBX")
    if owner.agent_interface == me.interface:
        raise ApiError(422, "validation", "you are this customer's account manager",
                       field="target.value")
    _free(call, owner.agent_interface, "the account manager")
    return owner.agent_interface


async def _destination(call: Call, me: Me, target: Target, info: CallInfo) -> tuple[str, str]:
    """(extension, context) of a transfer target."""
    plan = pbx_of(call).plan
    if target.kind == "number":
        region = call.request.config_dict[AUTH].config.region
        digits = dial_digits(target.value, region)
        if digits is None:
            raise ApiError(422, "validation", "not a phone number", field="target.value")
        return digits, plan.outbound_context
    if target.kind == "queue":
        queues = set(call.request.config_dict[AUTH].config.agent_queues)
        states = states_of(call)
        if states is not None:
            queues |= states.board.queues()
        if target.value not in queues:
            raise ApiError(422, "validation", "no such queue", field="target.value")
        return target.value, plan.queue_context
    if target.kind == "agent":
        interface = await _agent_target(call, me, target.value)
    else:
        interface = await _account_manager(call, me, target.value, info)
    exten = extension_of(interface)
    if exten is None:
        raise ApiError(409, "no-phone", "that phone has no extension the PBX can dial")
    return exten, plan.transfer_context


# --- handlers -----------------------------------------------------------------------------


async def dial(call: Call) -> Any:
    body: DialIn = call.body
    me = await me_as_agent(call)
    digits = dial_digits(body.number, call.request.config_dict[AUTH].config.region)
    if digits is None:
        raise ApiError(422, "validation", "not a phone number", field="number")
    # the agent named as a queue call names her (the call log), the user for the audit
    variables = {"HOTLINE_ORIGINATED_BY": me.username, "HOTLINE_AGENT_NAME": me.name}
    if body.customer_id is not None:
        await customers.get_customer(call.db, call.me, body.customer_id)  # in scope, or 404
        number = typed_number(body.number, call.request.config_dict[AUTH].config.region)
        if number is None or not await customers.has_number(call.db, body.customer_id,
                                                            number):
            raise ApiError(422, "validation", "this number is not one of that customer's "
                           "numbers: the number dialled decides the customer (leave "
                           "customer_id out)", field="customer_id")
        variables["HOTLINE_CUSTOMER_ID"] = str(body.customer_id)
    pbx = pbx_of(call)
    _free(call, me.interface, "you")
    with pbx_answers():
        await pbx.dial(me.interface, digits, variables)
    audit(call.db, user_id=me.user_id, action="dial", entity="call", entity_id=me.interface,
          after={"number": digits, "customer_id": body.customer_id})
    return {"ok": True}


async def transfer(call: Call) -> Any:
    body: TransferIn = call.body
    me = await me_as_agent(call)
    info = _my_call(view_of(call, me.interface), call.path.linkedid)
    if info.state != "talking":
        raise ApiError(409, "conflict", "answer the call before transferring it")
    exten, context = await _destination(call, me, body.target, info)
    if body.mode == "attended" and not keyable(exten):
        raise ApiError(422, "not-keyable", "an attended transfer keys the destination on the"
                       " keypad (0-9 * #): transfer to this queue blind", field="mode")
    pbx = pbx_of(call)
    with pbx_answers():
        if body.mode == "blind":
            await pbx.blind_transfer(info.agent_channel, exten, context)
        else:
            await pbx.attended_transfer(info.agent_channel, exten, context)
    audit(call.db, user_id=me.user_id, action=f"transfer-{body.mode}", entity="call",
          entity_id=info.linkedid, after={"kind": body.target.kind, "value": body.target.value,
                                          "exten": exten, "context": context})
    return {"ok": True}


async def hangup(call: Call) -> Any:
    me = await me_as_agent(call)
    info = _my_call(view_of(call, me.interface), call.path.linkedid)
    pbx = pbx_of(call)
    with pbx_answers():
        await pbx.hangup(info.agent_channel)
    audit(call.db, user_id=me.user_id, action="hangup", entity="call", entity_id=info.linkedid)
    return {"ok": True}


async def _log_right(call: Call, linkedid: str) -> tuple[call_access.CallFacts, str]:
    """The call's facts and the actor's right to log it, or 404 / 403."""
    states = states_of(call)
    live = call_access.LiveCall()
    if states is not None:
        seen, interfaces = states.board.took(linkedid)
        rung = states.board.rang(linkedid)
        live = call_access.LiveCall(seen=seen or bool(rung), interfaces=interfaces,
                                    rung=rung)
    facts = await call_access.call_facts(call.db, linkedid, live)
    if facts is None:
        raise ApiError(404, "no-such-call", f"no call {linkedid}: neither the call log nor "
                                            "any agent's phone has it")
    right = call_access.log_right(call.me, facts.takers, facts.rung)
    if right is None:
        raise ApiError(403, "not-your-call", "only an agent who took this call (or one it "
                                             "rang, when nobody took it), or their "
                                             "supervisor, may log it")
    return facts, right


async def log_call(call: Call) -> Any:
    body: LogIn = call.body
    linkedid = call.path.linkedid
    facts, right = await _log_right(call, linkedid)
    existing = (await call.db.execute(
        select(Interaction.id, Interaction.customer_id).where(
            Interaction.call_linkedid == linkedid, Interaction.author_id == call.me.user_id,
            Interaction.kind == "call", Interaction.parent_id.is_(None))
        .order_by(Interaction.id).limit(1)
    )).one_or_none()
    fields: dict[str, Any] = {"content": body.notes, "disposition": body.disposition,
                              "contact_id": body.contact_id}
    if existing is not None:
        if existing.customer_id != body.customer_id:
            raise ApiError(409, "conflict", f"you logged this call against another customer "
                                            f"(interaction {existing.id}): change that one")
        saved = await interactions.update_interaction(call.db, call.me, existing.id, fields)
    else:
        saved = await interactions.create_interaction(
            call.db, call.me, body.customer_id, kind="call", call_linkedid=linkedid, **fields)
    try:
        await call_access.attribute(call.db, call.me, facts, body.customer_id,
                                    correct=body.correct_customer)
    except call_access.CustomerMismatch as exc:
        raise ApiError(409, "customer-mismatch", exc.message, field="customer_id") from exc
    if right == call_access.ON_BEHALF:
        audit(call.db, user_id=call.me.user_id, action="log-on-behalf", entity="call",
              entity_id=linkedid, after={"interaction_id": saved["id"],
                                         "customer_id": body.customer_id,
                                         "takers": [t.user_id for t in facts.takers]})
    states = states_of(call)
    interface = await call.db.scalar(select(User.agent_interface)
                                     .where(User.id == call.me.user_id))
    if states is not None and interface:
        states.log_saved(interface, linkedid)
    if existing is not None:
        return json_response(Logged.model_validate(saved).model_dump(mode="json"), status=200)
    return saved


def add_routes(routes: Routes) -> None:
    # not an agent 403, not your call / no such customer 404, busy 409, bad number 422,
    # and whatever the PBX answers (pbx_answers)
    controls = (403, 404, 409, 422, *sorted(PBX_STATUSES))
    routes.add("POST", "/calls/dial", dial, tag="calls",
               summary="Click-to-dial: your phone rings, then the number is called with the "
                       "hotline's caller ID", body_model=DialIn, response_model=Accepted,
               status=202, errors=controls)
    routes.add("POST", "/calls/{linkedid:[^/]+}/transfer", transfer, tag="calls",
               summary="Transfer your call (blind or attended) to an agent, a queue, the "
                       "customer's account manager or a number", path_model=LinkedidPath,
               body_model=TransferIn, response_model=Accepted, status=202, errors=controls)
    routes.add("POST", "/calls/{linkedid:[^/]+}/hangup", hangup, tag="calls",
               summary="Hang up your call", path_model=LinkedidPath, response_model=Accepted,
               status=202, errors=controls)
    routes.add("POST", "/calls/{linkedid:[^/]+}/log", log_call, tag="calls",
               summary="Log the call (disposition and notes) against the customer; ends "
                       "your wrap-up", path_model=LinkedidPath, body_model=LogIn,
               response_model=Logged, status=201, also=(200,), errors=(403, 404, 409, 422),
               description="Only an agent who took the call logs it (a call nobody "
                           "took: an agent it rang), or a supervisor (audited); saving "
                           "the same call again updates your log of it (200). A call "
                           "filed under another customer is a 409 (customer-mismatch) "
                           "unless correct_customer is true.")
