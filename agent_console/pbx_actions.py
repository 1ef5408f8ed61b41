"""The agent console's PBX actions: which AMI action, with which fields, per control.

Rules:
- one method per control, each ONE AMI action per queue or channel, with the fields
  of the real Asterisk 22 captures (``../shared/asterisk``):
  sign in = ``QueueAdd`` to each of the agent's queues (MemberName, StateInterface,
  Paused false; capture 04), then to her personal queue ``agent-<ext>``
  (``telephony.personal_queues``), LAST: being in it is what "signed in" means, so she
  is only signed in once she is in her queues; sign out = ``QueueRemove`` from every
  queue, her personal queue LAST (a link lost half-way leaves her signed in, not
  signed out while still in a queue that rings her); pause =
  ``QueuePause`` Paused true with a ``Reason`` and no Queue (every queue at once, 04);
  ready = ``QueuePause`` Paused false; click-to-dial = ``Originate`` Async from the
  agent's own interface into the outbound context, caller ID the hotline number (07),
  with the variables the call tracker recognises an outbound call by
  (HOTLINE_ORIGINATED_BY from the API, HOTLINE_DIALLED);
  blind transfer = ``BlindTransfer`` of the agent's leg (05); attended = ``Atxfer``
  of the agent's leg (06); hang up = ``Hangup`` of the agent's leg;
  listen / whisper / barge (a supervisor, capture 08) = ``Originate`` Async of
  ``Local/<supervisor's ext>@<spy_phone_context>/n`` (which rings her phone) into
  ``<spy_context>``, Exten = the mode, with ``HOTLINE_SPY_CHANNEL`` = the agent's leg:
  the dialplan runs ``ChanSpy`` on it (deploy/asterisk/extensions.conf [supervise]). The
  spy session is a call of its own (its own Linkedid, created in a context the call
  tracker does not follow): it never becomes a call record nor touches the agent's;
- every value written into a header goes through ``dialling.header_text`` (no CR/LF:
  no AMI field injection by a pause reason or a number);
- PBX failures become ``PbxError``s that name what the agent can do about it:
  no link / no reply = ``PbxUnreachable`` (503), a channel the PBX does not know =
  ``UnknownCall`` (404), an interface in no queue = ``NotSignedIn`` (409), any other
  refusal = ``PbxRefused`` (502) with the PBX's own message; "Already there" on
  QueueAdd and "Not there" on QueueRemove are the wanted end state, not errors;
- sign-out goes on through every queue whatever one answers: Asterisk refuses to remove
  a STATIC member (queues.conf ``member =>``) with "Member not dynamic"; that membership
  is only queues.conf's to end, so it is logged and returned (``sign_out``'s answer),
  never a reason to leave her in the other queues. Only her personal queue listing her
  statically is an error: she could never sign out (queues.conf must list nobody there);
- an Originate is never re-sent (``AmiClient.originate``): a link lost while it was
  pending is "result unknown" (503), the agent decides whether to dial again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from agent_console.dialling import caller_id, extension_of, header_text, state_interface
from telephony.ami import AmiError, AmiNotConnected, AmiTimeout
from telephony.personal_queues import personal_queue

log = logging.getLogger("agent_console.pbx")

Fields = Mapping[str, str | int | Iterable[str]]
DIAL_TIMEOUT_MS = 30_000  # how long the agent's own phone rings for a click-to-dial
SPY_MODES = ("listen", "whisper", "barge")  # extensions of the spy context
SPY_CHANNEL_VAR = "HOTLINE_SPY_CHANNEL"  # the agent's leg ChanSpy spies on


class ActionSender(Protocol):
    """What this module needs of ``telephony.ami.AmiClient``."""

    @property
    def connected(self) -> bool: ...

    async def send_action(self, action: str, fields: Fields | None = None, *,
                          timeout: float | None = None,  # noqa: ASYNC109 (AmiClient API)
                          ) -> dict[str, str]: ...

    async def originate(self, **fields: str | int | Iterable[str]) -> dict[str, str]: ...


class PbxControls(Protocol):
    """The console's controls, whoever carries them out: ``PbxActions`` on the node that
    holds the PBX link, a forwarder to that node elsewhere (``hotline.pbx_rpc``)."""

    @property
    def plan(self) -> DialPlan: ...

    @property
    def acts_here(self) -> bool:
        """True where this node's own PBX link carries the controls (the AMI owner):
        the one node that runs the automatic ones (wrap-up pauses), once."""
        ...

    async def sign_in(self, interface: str, name: str, queues: Sequence[str]) -> None: ...

    async def sign_out(self, interface: str, queues: Sequence[str]) -> list[str]: ...

    async def pause(self, interface: str, reason: str) -> None: ...

    async def unpause(self, interface: str) -> None: ...

    async def dial(self, interface: str, digits: str, variables: Mapping[str, str]) -> None: ...

    async def blind_transfer(self, channel: str, exten: str, context: str) -> None: ...

    async def attended_transfer(self, channel: str, exten: str, context: str) -> None: ...

    async def hangup(self, channel: str) -> None: ...

    async def spy(self, interface: str, channel: str, mode: str, by: str) -> None: ...


class PbxError(Exception):
    """A control the PBX did not carry out; ``status``/``code`` are the API's answer."""

    status = 502
    code = "pbx-refused"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class PbxUnreachable(PbxError):
    status, code = 503, "pbx-unreachable"


class UnknownCall(PbxError):
    status, code = 404, "not_found"


class NotSignedIn(PbxError):
    status, code = 409, "not-signed-in"


class PbxRefused(PbxError):
    status, code = 502, "pbx-refused"


# every status a PbxError answers (the API documents them on the controls)
PBX_STATUSES = frozenset(c.status for c in (PbxError, PbxUnreachable, UnknownCall, NotSignedIn,
                                            PbxRefused))

_UNKNOWN_CHANNEL = ("no such channel", "channel does not exist", "no channel found")
_NOT_DYNAMIC = "member not dynamic"  # app_queue.c manager_remove_queue_member


def _personal(interface: str) -> str:
    queue = personal_queue(interface)
    if queue is None:
        raise PbxRefused(f"{interface!r} has no extension, so no personal queue agent-<ext>")
    return queue


def _without(queues: Sequence[str], personal: str) -> list[str]:
    """``queues`` once each, in order, without the personal queue (it goes last)."""
    return [q for q in dict.fromkeys(queues) if q and q != personal]


def _reply_message(exc: AmiError) -> str:
    return (exc.response or {}).get("Message", "") or str(exc)


@dataclass(frozen=True, kw_only=True)
class DialPlan:
    """Where the controls send calls (settings: ``HOTLINE_*_CONTEXT``)."""

    outbound_context: str = "outbound"
    transfer_context: str = "internal"
    queue_context: str = "hotline-queues"
    caller_name: str = "Hotline"
    caller_number: str = "4008001234"
    spy_phone_context: str = "supervisor-phone"  # rings the supervisor's phone
    spy_context: str = "supervise"  # Exten listen | whisper | barge runs ChanSpy


class PbxActions:
    """The console's controls as AMI actions on one PBX link (``client`` None: this node
    has no PBX link, every control is ``PbxUnreachable``)."""

    def __init__(self, client: ActionSender | None, plan: DialPlan | None = None) -> None:
        self.client = client
        self._plan = plan or DialPlan()

    @property
    def plan(self) -> DialPlan:
        return self._plan

    @property
    def acts_here(self) -> bool:
        return self.client is not None

    async def _send(self, action: str, fields: Fields, *, tolerate: tuple[str, ...] = ()
                    ) -> dict[str, str]:
        client = self._client()
        try:
            return await client.send_action(action, fields)
        except AmiError as exc:
            message = _reply_message(exc)
            if any(t in message.lower() for t in tolerate):
                return dict(exc.response or {})
            raise _mapped(action, exc) from exc

    def _client(self) -> ActionSender:
        if self.client is None:
            raise PbxUnreachable("this server has no link to the PBX")
        if not self.client.connected:
            raise PbxUnreachable("the PBX is unreachable (not connected); try again shortly")
        return self.client

    # --- agent state ------------------------------------------------------------------

    async def sign_in(self, interface: str, name: str, queues: Sequence[str]) -> None:
        """QueueAdd to every queue (already a member: fine), her personal queue last."""
        personal = _personal(interface)
        for queue in [*_without(queues, personal), personal]:
            try:
                await self._send("QueueAdd", {
                    "Queue": header_text(queue), "Interface": header_text(interface),
                    "MemberName": header_text(name), "StateInterface": state_interface(interface),
                    "Paused": "false",
                }, tolerate=("already there",))
            except PbxRefused as exc:
                if queue == personal and "no such queue" in exc.message.lower():
                    raise PbxRefused(f"the PBX has no personal queue {personal} for {interface}:"
                                     " add it to queues.conf (one per agent)") from exc
                raise

    async def sign_out(self, interface: str, queues: Sequence[str]) -> list[str]:
        """QueueRemove from every queue, her personal queue last (not a member: fine).

        Returns the queues that keep her as a STATIC member (Asterisk: "Member not
        dynamic"): only queues.conf can take her out of those."""
        personal = _personal(interface)
        static: list[str] = []
        for queue in [*_without(queues, personal), personal]:
            reply = await self._send("QueueRemove", {"Queue": header_text(queue),
                                                     "Interface": header_text(interface)},
                                     tolerate=("not there", _NOT_DYNAMIC))
            if _NOT_DYNAMIC in reply.get("Message", "").lower():
                static.append(queue)
        if personal in static:
            raise PbxRefused(f"{personal} lists {interface} as a static member in "
                             "queues.conf, so the PBX cannot sign you out: remove that "
                             "member => line (Hotline adds agents there at sign-in)")
        if static:
            log.warning("%s signed out but stays a STATIC member of %s (queues.conf "
                        "member => lines; the PBX answered 'Member not dynamic')",
                        interface, ", ".join(static))
        return static

    async def pause(self, interface: str, reason: str) -> None:
        """QueuePause in every queue with ``reason``."""
        await self._send("QueuePause", {"Interface": header_text(interface), "Paused": "true",
                                        "Reason": header_text(reason, 40)})

    async def unpause(self, interface: str) -> None:
        await self._send("QueuePause", {"Interface": header_text(interface), "Paused": "false"})

    # --- calls ------------------------------------------------------------------------

    async def dial(self, interface: str, digits: str, variables: Mapping[str, str]) -> None:
        """Originate (Async): the agent's phone rings, then the dialplan dials ``digits``.
        ``HOTLINE_DIALLED`` = the digits rides along, so the call tracker knows the
        customer's number of this outbound call even if the agent never answers."""
        client = self._client()
        plan = self.plan
        exten = header_text(digits, 32)
        fields: dict[str, str | int | Iterable[str]] = {
            "Channel": header_text(interface), "Context": plan.outbound_context,
            "Exten": exten, "Priority": "1",
            "CallerID": caller_id(plan.caller_name, plan.caller_number),
            "Timeout": str(DIAL_TIMEOUT_MS), "Async": "true",
        }
        sent = {**variables, "HOTLINE_DIALLED": exten}
        fields["Variable"] = [f"{k}={header_text(v)}" for k, v in sent.items()]
        try:
            await client.originate(**fields)
        except AmiError as exc:
            raise _mapped("Originate", exc) from exc

    async def blind_transfer(self, channel: str, exten: str, context: str) -> None:
        await self._send("BlindTransfer", {"Channel": header_text(channel, 200),
                                           "Exten": header_text(exten, 40),
                                           "Context": header_text(context, 80)})

    async def attended_transfer(self, channel: str, exten: str, context: str) -> None:
        # Atxfer "keys" the number on the agent's channel; Asterisk collects it digit by
        # digit and, where a pattern (_X.) could match more, waits transferdigittimeout
        # (5 s, caller on hold) for another digit. '#' ends the number at once.
        await self._send("Atxfer", {"Channel": header_text(channel, 200),
                                    "Exten": header_text(exten, 40) + "#",
                                    "Context": header_text(context, 80)})

    async def hangup(self, channel: str) -> None:
        await self._send("Hangup", {"Channel": header_text(channel, 200), "Cause": "16"})

    async def spy(self, interface: str, channel: str, mode: str, by: str) -> None:
        """Originate (Async): the supervisor's phone (``interface``) rings; answered, the
        dialplan runs ChanSpy on the agent's leg ``channel`` in ``mode``."""
        if mode not in SPY_MODES:
            raise PbxRefused(f"unknown spy mode {mode!r}")
        exten = extension_of(interface)
        if exten is None:
            raise PbxRefused(f"{interface!r} has no extension the PBX can ring")
        client = self._client()
        plan = self.plan
        fields: dict[str, str | int | Iterable[str]] = {
            "Channel": f"Local/{header_text(exten, 40)}@{plan.spy_phone_context}/n",
            "Context": plan.spy_context, "Exten": mode, "Priority": "1",
            "CallerID": caller_id(plan.caller_name, plan.caller_number),
            "Timeout": str(DIAL_TIMEOUT_MS), "Async": "true",
            "Variable": [f"{SPY_CHANNEL_VAR}={header_text(channel, 200)}",
                         f"HOTLINE_SPY_BY={header_text(by)}"],
        }
        try:
            await client.originate(**fields)
        except AmiError as exc:
            raise _mapped("Originate", exc) from exc


def _mapped(action: str, exc: AmiError) -> PbxError:
    if isinstance(exc, AmiTimeout):
        return PbxUnreachable(f"the PBX did not answer {action} in time; try again")
    if isinstance(exc, AmiNotConnected):
        if action == "Originate" and "unknown" in str(exc):
            return PbxUnreachable("the link to the PBX dropped while dialling: the call may or "
                                  "may not have been placed")
        return PbxUnreachable("the PBX is unreachable (link lost); try again shortly")
    message = _reply_message(exc)
    low = message.lower()
    if any(text in low for text in _UNKNOWN_CHANNEL):
        return UnknownCall(f"the PBX has no such call leg any more ({message})")
    if "interface not found" in low:
        return NotSignedIn("you are in no queue: sign in first")
    log.warning("PBX refused %s: %s", action, message)
    return PbxRefused(f"the PBX refused {action}: {message}")
