"""The call log's disposition suggested by what the caller chose in the IVR (issue 14
item 6): a caller who pressed 3 (a repair request) and then asked for an agent is most
likely calling about a repair, so the console preselects "repair" and the agent only
confirms it.

The IVR publishes the steps it walked (``HOTLINE_IVR_PATH``: step ids, and ``step:keys``
for each input), the keys (``HOTLINE_DIGITS``) and the routing skill
(``HOTLINE_SKILL``). The steps are ivr/default_flow.py's: main menu 1 ticket status
(``has_ticket``...), 2 order or subscription status (``order_status``), 3 repair
(``can_repair``...), 4 callback, 0 an agent at once (no hint). A caller may go round
the menu (1, then 9 back to the menu, then 3): the LAST step with a meaning decides.
A flow without those step ids gives no hint from its path, only from a ``repair``
skill; the agent then picks the disposition as before.

Rules: pure; the values are the console's dispositions (agent_console.api.routes_calls
``DISPOSITIONS``); anything unexpected in the variables gives None, never an error.
"""

from __future__ import annotations

from collections.abc import Mapping

_REPAIR_STEPS = ("can_repair", "has_assets", "list_assets", "pick_asset", "repair_pick",
                 "ask_serial", "repair", "repair_agent")
_TICKET_STEPS = ("has_ticket", "my_tickets", "ask_ticket", "ticket_by_number")
STEP_DISPOSITION: dict[str, str] = {
    **dict.fromkeys(_REPAIR_STEPS, "repair"),
    **dict.fromkeys(_TICKET_STEPS, "inquiry"),  # how is my ticket doing: a question
    "order_status": "order-status",
}
SKILL_DISPOSITION = {"repair": "repair"}
_MAX_PATH = 8192  # HOTLINE_IVR_PATH keeps 120 steps: far below this


def suggested_disposition(ivr: Mapping[str, object] | None) -> str | None:
    """The disposition the IVR choices point to, or None."""
    if not isinstance(ivr, Mapping):
        return None
    path = ivr.get("HOTLINE_IVR_PATH")
    if isinstance(path, str):
        for entry in reversed(path[-_MAX_PATH:].split(",")):
            found = STEP_DISPOSITION.get(entry.partition(":")[0].strip())
            if found is not None:
                return found
    skill = ivr.get("HOTLINE_SKILL")
    if isinstance(skill, str):
        return SKILL_DISPOSITION.get(skill.strip().lower())
    return None
