"""Who may supervise whom (crm_core.supervision): listen = supervise:read, whisper / barge /
pause / sign out = supervise:update, the scope applying to the agent."""

from __future__ import annotations

import pytest

from crm_core.permissions import Actor, PermissionDenied
from crm_core.supervision import AgentFacts, operation_of, require_agent
from crm_core.users import DEFAULT_ROLES

ALICE = AgentFacts(user_id=6, team="热线", region=None)
ZOE = AgentFacts(user_id=9, team="华南", region="广东")


def actor(role: str, team: str | None = None, region: str | None = None) -> Actor:
    return Actor(user_id=2, username="sup", team=team, region=region,
                 grants=DEFAULT_ROLES[role].grants)


def test_listening_reads_and_everything_else_updates() -> None:
    assert operation_of("listen") == "read"
    for action in ("whisper", "barge", "pause", "sign-out"):
        assert operation_of(action) == "update"


def test_the_hotline_supervisor_supervises_every_agent() -> None:
    sup = actor("hotline_supervisor", team="热线")
    for agent in (ALICE, ZOE):
        for action in ("listen", "whisper", "barge", "pause", "sign-out"):
            assert require_agent(sup, action, agent) == "all"


def test_a_team_supervisor_supervises_her_team_only() -> None:
    sup = actor("supervisor", team="热线")
    assert require_agent(sup, "barge", ALICE) == "team"
    with pytest.raises(PermissionDenied):
        require_agent(sup, "listen", ZOE)
    with pytest.raises(PermissionDenied):  # no team: no team scope over anybody
        require_agent(actor("supervisor"), "listen", AgentFacts(user_id=7, team=None,
                                                                region=None))


@pytest.mark.parametrize("role", ["agent", "manager"])
def test_agents_and_account_managers_supervise_nobody(role: str) -> None:
    with pytest.raises(PermissionDenied):
        require_agent(actor(role, team="热线"), "listen", ALICE)


def test_region_and_own_scopes() -> None:
    grants = {("supervise", "read"): "region", ("supervise", "update"): "own"}
    sup = Actor(user_id=9, username="zoe", region="广东", grants=grants)
    assert require_agent(sup, "listen", ZOE) == "region"
    assert require_agent(sup, "pause", ZOE) == "own"  # herself
    with pytest.raises(PermissionDenied):
        require_agent(sup, "pause", AgentFacts(user_id=10, team=None, region="广东"))
    assert require_agent(Actor(user_id=None, is_admin=True), "barge", ZOE) == "all"
