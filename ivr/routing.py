"""Routing hand-off, pure: the caller's 360 record, the dialled number and the flow's
routing -> the queue, the priority and the agent to offer the call to first.

The IVR hands these to the dialplan as channel variables (``ivr.runtime``); the
dialplan dials ``HOTLINE_PREFERRED_AGENT`` first (when set) and then ``Queue()`` with
``QUEUE_PRIO``/``PRIORITY``.

Rules (issue 6, point 5):
- queue: the dialled number's own queue when the number plan gives one (an old
  department line keeps reaching its department, whatever flow it shares), else the
  queue the flow's route steps set, else ``DEFAULT_QUEUE``;
- priority (Asterisk: higher is served first): the larger of the flow's priority and
  the caller's VIP tier's (``TIER_PRIORITY``: tier 1 silver/vip 10, 2 gold 20,
  3 platinum 30, 4 40, 5 50), clamped to 0-100; an unknown caller gets the flow's;
- preferred agent: the agent interface the flow named (the default flow names the
  account manager for VIPs), else the account manager's own interface for any known
  caller; offered only when that agent is signed in and free (``agent_free``);
  otherwise none, and the call goes straight to the queue;
- ``AgentPresence`` answers ``agent_free``: signed in = a member of her personal queue
  ``agent-<ext>`` (``QueueMemberChanged``), which only Hotline's sign-in fills
  (``telephony.personal_queues``) -- a static member of ``support``, however available
  Asterisk says she is, was never signed in and is not offered a call (a desk would ring
  for nobody); free = the PBX's last word on her device (``AgentStateChanged``) is
  available and not paused. It is fed by the app's bus subscription
  (``PRESENCE_EVENT_TYPES``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from telephony.events import AgentStateChanged, QueueMemberChanged
from telephony.personal_queues import personal_queue

DEFAULT_QUEUE = "support"
TIER_PRIORITY: dict[int, int] = {0: 0, 1: 10, 2: 20, 3: 30, 4: 40, 5: 50}
MAX_PRIORITY = 100
TIER_NAMES: dict[int, str] = {0: "standard", 1: "vip", 2: "gold", 3: "platinum", 4: "diamond",
                              5: "diamond"}
"""``Customer.vip_tier`` as the flow engine's tier names (``flow_engine.TIER_LEVELS``)."""

AgentFree = Callable[[str], bool]


@dataclass(frozen=True)
class Routing:
    """What the dialplan gets: queue, priority, skill, agent to try first."""

    queue: str
    priority: int
    skill: str | None
    preferred_agent: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"queue": self.queue, "priority": self.priority, "skill": self.skill,
                "preferred_agent": self.preferred_agent}


def nobody_free(interface: str) -> bool:
    """``agent_free`` without a PBX (``hotline ivr try``): nobody can be offered a call."""
    return False


def tier_of(customer: Mapping[str, Any] | None) -> int:
    """The caller's VIP tier 0-5 (0 for an unknown caller or an unusable value)."""
    tier = (customer or {}).get("vip_tier")
    if isinstance(tier, bool) or not isinstance(tier, int):
        return 0
    return min(max(tier, 0), max(TIER_PRIORITY))


def priority_for(flow_priority: object, customer: Mapping[str, Any] | None) -> int:
    """max(flow priority, the tier's priority), clamped to 0..MAX_PRIORITY."""
    base = flow_priority if isinstance(flow_priority, int) and not isinstance(
        flow_priority, bool) else 0
    return min(max(base, TIER_PRIORITY[tier_of(customer)], 0), MAX_PRIORITY)


def decide(
    customer: Mapping[str, Any] | None,
    entry_queue: str | None,
    flow_routing: Mapping[str, Any],
    agent_free: AgentFree,
) -> Routing:
    """The routing of one call (module rules).

    ``customer`` is the flow's view of the caller (``flow_customer``), ``entry_queue``
    the dialled number's queue, ``flow_routing`` the run's routing so far (queue,
    priority, skill, preferred_agent), ``agent_free(interface)`` the PBX's answer.
    """
    queue = entry_queue or _text(flow_routing.get("queue")) or DEFAULT_QUEUE
    preferred = _text(flow_routing.get("preferred_agent"))
    if preferred is None and customer is not None:
        preferred = _text(customer.get("account_manager"))
    if preferred is not None and not _free(agent_free, preferred):
        preferred = None
    return Routing(queue=queue, priority=priority_for(flow_routing.get("priority"), customer),
                   skill=_text(flow_routing.get("skill")), preferred_agent=preferred)


def _free(agent_free: AgentFree, interface: str) -> bool:
    try:
        return agent_free(interface) is True
    except Exception:  # a broken state source must not stop the call: no preference
        return False


def _text(value: object) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


# --- the caller as the flow sees it ------------------------------------------------------

def flow_customer(view: Mapping[str, Any] | None,
                  manager_interface: str | None = None) -> dict[str, Any] | None:
    """The flow engine's customer (``id``, ``tier``, ``vip_tier``, ``open_tickets``,
    ``assets``, ``account_manager``) from a ``crm_core.lookup`` 360 view; None when the
    caller is unknown (or the view is restricted)."""
    if not isinstance(view, Mapping) or view.get("found") is not True or view.get("restricted"):
        return None
    customer = view.get("customer")
    if not isinstance(customer, Mapping) or not isinstance(customer.get("id"), int):
        return None
    tier = tier_of(customer)
    tickets = [{"id": t.get("id"), "number": t.get("number"), "status": t.get("status"),
                "updated_at": t.get("updated_at")} for t in _items(view.get("open_tickets"))]
    assets = [{"id": a.get("id"), "serial": a.get("serial_number"), "model": a.get("model"),
               "in_warranty": a.get("in_warranty")} for a in _items(view.get("assets"))]
    owner = view.get("owner")
    contact = view.get("contact")
    return {
        "id": customer["id"],
        "name": customer.get("name"),
        "vip_tier": tier,
        "tier": TIER_NAMES[tier],
        "open_tickets": tickets,
        "assets": assets,
        "owner_id": owner.get("id") if isinstance(owner, Mapping) else None,
        "contact_id": contact.get("id") if isinstance(contact, Mapping) else None,
        "account_manager": manager_interface,
    }


def _items(value: object) -> list[Mapping[str, Any]]:
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []


# --- agent states from the PBX -------------------------------------------------------------

@dataclass(frozen=True)
class AgentState:
    state: str  # available | ringing | busy | on-hold | unavailable | unknown
    paused: bool


PRESENCE_EVENT_TYPES = frozenset({"AgentStateChanged", "QueueMemberChanged"})
"""The bus event types ``AgentPresence.feed`` needs."""


class AgentPresence:
    """Who is signed in (her personal queue) and the last ``AgentStateChanged`` per
    interface; ``free(interface)`` for ``decide``."""

    def __init__(self) -> None:
        self.states: dict[str, AgentState] = {}
        self.signed_in: set[str] = set()

    def feed(self, event: object) -> None:
        """Keep an agent state or a personal-queue membership (anything else is ignored)."""
        if isinstance(event, QueueMemberChanged):
            if event.interface and event.queue == personal_queue(event.interface):
                if event.change == "removed":
                    self.signed_in.discard(event.interface)
                else:  # added, or a snapshot / status of a member: she is in it
                    self.signed_in.add(event.interface)
        elif isinstance(event, AgentStateChanged) and event.interface:
            self.states[event.interface] = AgentState(event.state, event.paused is True)

    def free(self, interface: str) -> bool:
        found = self.states.get(interface)
        return (interface in self.signed_in and found is not None
                and found.state == "available" and not found.paused)
