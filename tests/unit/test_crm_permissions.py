"""The default role matrix (crm_core.users.DEFAULT_ROLES) read through the permission
gate (crm_core.permissions): what each role may do, on which data scope."""

from __future__ import annotations

import pytest

from crm_core.permissions import (
    MODULES,
    OPERATIONS,
    SCOPES,
    Actor,
    PermissionDenied,
    allows,
    require,
    scope_for,
    widest,
)
from crm_core.users import DEFAULT_ROLES, can


def actor_of(role: str, **kw: object) -> Actor:
    spec = DEFAULT_ROLES[role]
    return Actor(user_id=7, username=role, grants=spec.grants, is_admin=spec.is_admin,
                 **kw)  # type: ignore[arg-type]


def test_matrix_uses_known_modules_operations_scopes() -> None:
    assert set(DEFAULT_ROLES) == {"agent", "manager", "supervisor", "hotline_supervisor",
                                  "station", "technician", "admin"}
    for spec in DEFAULT_ROLES.values():
        for (module, operation), scope in spec.grants.items():
            assert module in MODULES and operation in OPERATIONS and scope in SCOPES


def test_agent_reads_any_caller_creates_unknown_ones_but_changes_no_customer() -> None:
    agent = actor_of("agent")
    for module in ("customers", "contacts", "assets", "interactions", "tickets",
                   "opportunities"):
        assert require(agent, module, "read") == "all"
    for module in ("interactions", "tickets", "opportunities", "contacts"):
        assert require(agent, module, "create") == "all"
        assert require(agent, module, "update") == "own"
    # an unknown caller is created from the pop, into the shared pool (scope all)
    assert require(agent, "customers", "create") == "all"
    for operation in ("update", "delete", "export", "reassign"):
        with pytest.raises(PermissionDenied) as denied:
            require(agent, "customers", operation)
        assert (denied.value.module, denied.value.operation) == ("customers", operation)
    assert not can(agent, "users", "create")


def test_manager_owns_their_customers() -> None:
    manager = actor_of("manager")
    for operation in ("read", "create", "update", "export"):
        assert require(manager, "customers", operation) == "own"
    assert scope_for(manager, "customers", "reassign") is None
    assert scope_for(manager, "customers", "delete") is None
    assert allows(manager, "own", owner_id=7, owner_team=None, province=None)
    assert not allows(manager, "own", owner_id=8, owner_team=None, province=None)
    assert not allows(manager, "own", owner_id=None, owner_team=None, province=None)


def test_supervisor_steers_the_team() -> None:
    sup = actor_of("supervisor", team="north")
    assert require(sup, "customers", "read") == "team"
    assert require(sup, "customers", "reassign") == "team"
    assert require(sup, "reports", "read") == "team"
    assert allows(sup, "team", owner_id=3, owner_team="north", province=None)
    assert not allows(sup, "team", owner_id=3, owner_team="south", province=None)
    with pytest.raises(PermissionDenied):
        require(sup, "customers", "delete")


def test_station_and_technician_see_tickets_only_through_the_network() -> None:
    station = actor_of("station", station_id=3)
    assert require(station, "tickets", "read") == "station"
    assert require(station, "tickets", "update") == "station"
    tech = actor_of("technician", station_id=3, technician_id=9)
    assert require(tech, "tickets", "update") == "technician"
    for actor in (station, tech):
        for module in MODULES:
            if module != "tickets":
                assert scope_for(actor, module, "read") is None, module
        assert scope_for(actor, "tickets", "create") is None
        assert scope_for(actor, "tickets", "delete") is None
        # a customer is never "in" a network scope by its own attributes
        assert not allows(actor, require(actor, "tickets", "read"), owner_id=7,
                          owner_team=None, province=None)
    # the widest of a network scope and a customer scope is the customer scope
    assert widest("station", "own") == "own" and widest("technician", "station") == "station"


def test_admin_may_do_everything() -> None:
    admin = actor_of("admin")
    assert DEFAULT_ROLES["admin"].grants == {}
    for module in MODULES:
        for operation in OPERATIONS:
            assert require(admin, module, operation) == "all"


def test_no_role_no_access() -> None:
    nobody = Actor(user_id=9)
    with pytest.raises(PermissionDenied):
        require(nobody, "customers", "read")
