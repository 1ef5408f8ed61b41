"""Who may supervise whom: listen to, whisper to, barge into an agent's call, pause or
sign an agent out.

Rules (pure: no I/O; the API loads the agent and calls ``require_agent``):
- module ``supervise``: operation ``read`` = listen (the agent and the caller hear
  nothing), ``update`` = whisper, barge, pause, sign out (the call or the agent changes);
- the scope of the grant applies to the AGENT, a user: ``own`` = oneself, ``team`` =
  the same team, ``region`` = the same region, ``all``; an actor with no team (region)
  has no team (region) scope over anybody;
- an agent outside the scope is refused like an agent without the grant
  (``PermissionDenied``): the API answers 403 without saying whether she exists
  elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from crm_core.permissions import Actor, PermissionDenied, require

MODULE = "supervise"
Mode = Literal["listen", "whisper", "barge"]
MODES: tuple[Mode, ...] = ("listen", "whisper", "barge")
STATE_ACTIONS = ("pause", "sign-out")


@dataclass(frozen=True, kw_only=True)
class AgentFacts:
    """What a decision needs of the supervised agent (a ``User`` with a phone)."""

    user_id: int
    team: str | None
    region: str | None


def operation_of(action: str) -> str:
    """``read`` for listening, ``update`` for everything the agent or caller notices."""
    return "read" if action == "listen" else "update"


def in_scope(actor: Actor, scope: str, agent: AgentFacts) -> bool:
    """Whether ``agent`` is inside ``scope`` for ``actor``."""
    if scope == "all":
        return True
    if scope == "own":
        return agent.user_id == actor.user_id
    if scope == "team":
        return actor.team is not None and agent.team == actor.team
    if scope == "region":
        return actor.region is not None and agent.region == actor.region
    return False


def require_agent(actor: Actor, action: str, agent: AgentFacts) -> str:
    """The scope the actor acts with, or ``PermissionDenied`` (no grant, or the agent is
    outside it)."""
    operation = operation_of(action)
    scope = require(actor, MODULE, operation)
    if not in_scope(actor, scope, agent):
        raise PermissionDenied(MODULE, operation)
    return scope
