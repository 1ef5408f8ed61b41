"""Grants as the admin page sends them (crm_core.roles.parse_grants), the hotline
supervisor's default rights, and the page each user starts on (agent_console.landing)."""

from __future__ import annotations

import pytest

from agent_console.landing import home_page
from crm_core.errors import ValidationFailed
from crm_core.permissions import MODULES, OPERATIONS, Actor, require, scope_for
from crm_core.roles import grants_out, parse_grants
from crm_core.users import DEFAULT_ROLES


def test_known_grants_parse_both_ways() -> None:
    sent = {"calls:read": "all", "customers:update": "own", "reports:export": "team"}
    parsed = parse_grants(sent)
    assert parsed == {("calls", "read"): "all", ("customers", "update"): "own",
                      ("reports", "export"): "team"}
    assert grants_out(parsed) == {  # in the matrix's order: modules, then operations
        "customers:update": "own", "reports:export": "team", "calls:read": "all"}
    assert parse_grants({}) == {}
    every = {f"{m}:{o}": "region" for m in MODULES for o in OPERATIONS}
    assert len(parse_grants(every)) == len(MODULES) * len(OPERATIONS)


@pytest.mark.parametrize(("sent", "field"), [
    ({"bogus:read": "all"}, "grants.bogus:read"),
    ({"customers:fly": "all"}, "grants.customers:fly"),
    ({"customers": "all"}, "grants.customers"),
    ({"customers:read": "everything"}, "grants.customers:read"),
    ({"customers:read": None}, "grants.customers:read"),
    ({":read": "all"}, "grants.:read"),
    (["customers:read"], "grants"),
    ("customers:read=all", "grants"),
])
def test_unknown_modules_operations_and_scopes_are_refused_by_name(sent: object, field: str
                                                                  ) -> None:
    with pytest.raises(ValidationFailed) as refused:
        parse_grants(sent)
    assert refused.value.field == field


def test_hotline_supervisor_sees_the_whole_hotline_but_sells_nothing() -> None:
    spec = DEFAULT_ROLES["hotline_supervisor"]
    sup = Actor(user_id=5, username="zhao.min", grants=spec.grants, team="热线")
    for module in ("calls", "customers", "users", "reports", "tickets", "interactions"):
        assert require(sup, module, "read") == "all"
    assert require(sup, "calls", "update") == "all"  # logs a call for any agent
    assert require(sup, "reports", "export") == "all"
    for module, operation in (("customers", "update"), ("customers", "reassign"),
                              ("users", "update"), ("opportunities", "create")):
        assert scope_for(sup, module, operation) is None
    assert not spec.is_admin


@pytest.mark.parametrize(("answers", "calls_read", "page"), [
    (True, "all", "/console"),  # an agent, whatever they read
    (True, None, "/console"),
    (False, "all", "/live"),  # the hotline supervisor
    (False, "team", "/records"),  # a sales team's supervisor
    (False, "own", "/records"),
    (False, None, "/records"),  # an admin (no grant: is_admin) or a bare account
])
def test_each_user_starts_where_their_work_is(answers: bool, calls_read: str | None,
                                              page: str) -> None:
    assert home_page(answers_calls=answers, calls_read=calls_read) == page


@pytest.mark.parametrize("role", ["station", "technician"])
def test_the_service_network_starts_on_the_station_page(role: str) -> None:
    tickets_read = DEFAULT_ROLES[role].grants[("tickets", "read")]
    calls_read = DEFAULT_ROLES[role].grants.get(("calls", "read"))
    assert home_page(answers_calls=False, calls_read=calls_read,
                     tickets_read=tickets_read) == "/station"
    # a desk user reading every ticket does not: their work is elsewhere
    assert home_page(answers_calls=False, calls_read="all", tickets_read="all") == "/live"


def test_the_hotline_supervisor_with_a_desk_phone_starts_on_the_live_page() -> None:
    # her phone is for listening in; an agent, who reads every call too, has no supervise
    assert home_page(answers_calls=True, calls_read="all", supervises=True) == "/live"
    assert home_page(answers_calls=True, calls_read="all", supervises=False) == "/console"
    # a sales team's supervisor (supervise at scope team, calls of the team) is not moved
    assert home_page(answers_calls=False, calls_read="team", supervises=True) == "/records"
