"""Pure parts of the 360 view (``crm_core.lookup``): shaping a result row, the
restricted view, the scope decision, money and day handling, and the statement
itself (one statement, every list bounded, built once). No database."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy.dialects import postgresql, sqlite

from crm_core import lookup
from crm_core.lookup import (
    LIST_CAP,
    LISTS,
    build_statement,
    business_today,
    money,
    restricted,
    shape,
    statement,
    visible_to,
)
from crm_core.permissions import Actor

TODAY = date(2025, 6, 1)


def row(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": 7, "name": "艾克美", "kind": "company", "category": "A", "industry": "printing",
        "source": "web", "province": "北京", "city": "北京", "vip_tier": 1,
        "vip_value": Decimal("10.5"), "status": "active", "merged_into_id": None,
        "owner_id": 3, "matched_customer_id": 7, "owner_name": "王", "owner_team": "north",
        "contact_id": None, "contact_name": None, "contact_role": None, "contact_email": None,
    }
    for name in LISTS:
        base[name] = "[]"
    base.update(overrides)
    return base


def test_shape_of_a_bare_customer_is_json_ready() -> None:
    view = shape(row(), "+8613800138000", TODAY)
    json.dumps(view)
    assert view["found"] is True
    assert view["customer"]["vip_value"] == "10.50"
    assert view["owner"] == {"id": 3, "display_name": "王"}
    assert view["contact"] is None
    assert all(view[name] == [] for name in LISTS)
    assert view["more"] == []
    assert "merged_from" not in view


def test_shape_lists_none_and_text() -> None:
    # PostgreSQL's json_agg gives NULL for no rows; drivers may give text or lists
    view = shape(row(phones=None, contacts=[{"id": 1}], owner_id=None), None, TODAY)
    assert view["phones"] == []
    assert view["contacts"] == [{"id": 1}]
    assert view["owner"] is None


def test_shape_cuts_long_lists_and_says_so() -> None:
    assets = [{"id": i, "warranty_end": None} for i in range(LIST_CAP + 1)]
    view = shape(row(assets=json.dumps(assets)), None, TODAY)
    assert len(view["assets"]) == LIST_CAP
    assert view["more"] == ["assets"]


def test_warranty_is_judged_on_the_business_day() -> None:
    assets = [{"id": 1, "warranty_end": "2025-06-01"}, {"id": 2, "warranty_end": "2025-05-31"},
              {"id": 3, "warranty_end": None}]
    view = shape(row(assets=json.dumps(assets)), None, TODAY)
    assert {a["id"]: a["in_warranty"] for a in view["assets"]} == {1: True, 2: False,
                                                                  3: None}
    assert [a["id"] for a in view["assets"]] == [3, 2, 1]  # newest first
    # 20:00 UTC on 31 May is already 1 June in Shanghai
    assert business_today(datetime(2025, 5, 31, 20, 0, tzinfo=UTC)) == date(2025, 6, 1)


def test_interactions_and_calls_newest_first_whatever_the_aggregate_did() -> None:
    items = [{"id": 1, "occurred_at": "2025-01-01T00:00:00.000+00:00"},
             {"id": 3, "occurred_at": "2025-03-01T00:00:00.000+00:00"},
             {"id": 2, "occurred_at": "2025-03-01T00:00:00.000+00:00"}]
    calls = [{"id": 1, "ended_at": None}, {"id": 2, "ended_at": "2025-01-01T00:00:00.000+00:00"}]
    view = shape(row(interactions=json.dumps(items), calls=json.dumps(calls)), None, TODAY)
    assert [i["id"] for i in view["interactions"]] == [3, 2, 1]
    assert [c["id"] for c in view["calls"]] == [2, 1]


def test_merged_and_contact() -> None:
    view = shape(row(matched_customer_id=5, contact_id=9, contact_name="赵",
                     contact_role="boss"), "+8613800138000", TODAY)
    assert view["merged_from"] == 5
    assert view["contact"] == {"id": 9, "name": "赵", "role": "boss", "email": None}


def test_restricted_view_names_only_the_owner() -> None:
    assert restricted(row(), "+86138") == {"found": True, "restricted": True,
                                           "phone": "+86138", "owner": {"display_name": "王"}}
    assert restricted(row(owner_id=None), None)["owner"] is None


@pytest.mark.parametrize(("actor", "visible"), [
    (Actor(user_id=3, grants={("customers", "read"): "own"}), True),
    (Actor(user_id=4, grants={("customers", "read"): "own"}), False),
    (Actor(user_id=4, team="north", grants={("customers", "read"): "team"}), True),
    (Actor(user_id=4, region="上海", grants={("customers", "read"): "region"}), False),
    (Actor(user_id=4, grants={("customers", "read"): "all"}), True),
    # a team/region scope without a team/region: own customers, as customer_filter
    (Actor(user_id=3, grants={("customers", "read"): "team"}), True),
    (Actor(user_id=4, grants={("customers", "read"): "region"}), False),
    (Actor(user_id=4, grants={("tickets", "read"): "all"}), False),
    (Actor(user_id=None, is_admin=True), True),
])
def test_visible_to(actor: Actor, visible: bool) -> None:
    assert visible_to(actor, row()) is visible


def test_money() -> None:
    assert money(None) is None
    assert money(Decimal("1")) == "1.00"
    assert money(1234.5) == "1234.50"
    assert money("0.1") == "0.10"


@pytest.mark.parametrize("dialect", [sqlite.dialect(), postgresql.dialect()])
def test_one_statement_with_every_list_bounded(dialect: Any) -> None:
    for by in ("number", "customer"):
        sql = str(build_statement(dialect.name, by).compile(dialect=dialect))
        assert sql.count("LIMIT") == len(LISTS) + (1 if by == "number" else 0)
        assert "POSTCOMPILE" not in sql  # no expanding IN lists to re-render per call
        for name in LISTS:
            assert f"AS {name}" in sql


def test_statements_are_built_once() -> None:
    assert statement("sqlite", "number") is statement("sqlite", "number")
    assert statement("postgresql", "number") is not statement("sqlite", "number")


def test_limits_are_clamped() -> None:
    assert lookup._limit(-5) == 0
    assert lookup._limit(10**12) == lookup.MAX_INTERACTIONS
