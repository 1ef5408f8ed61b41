"""Complaint caller verification over real HTTP on SQLite and PostgreSQL (issue 17 item
5): a complaint opens only with the caller's number on record (the call's, as the
server knows it, before a typed one) or the serial number's last four characters; else
422 caller_not_verified, unless "not verified" with a reason (flagged). The check is
on the ticket and in its history; the answer is never stored nor echoed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select

from crm_core.models import (
    Asset,
    CallRecord,
    Contact,
    Customer,
    PhoneNumber,
    Ticket,
)
from tests.integration.test_api_support import Api, running_api, signed_in


@pytest.fixture
async def api(db_url: str) -> AsyncIterator[Api]:
    async with running_api(db_url) as running:
        yield running


async def seed(api: Api) -> int:
    async with api.sessionmaker.begin() as db:
        c = Customer(name="甲公司", name_key="甲", owner_id=api.users.agent)
        db.add(c)
        await db.flush()
        contact = Contact(customer_id=c.id, name="张工")
        db.add(contact)
        await db.flush()
        db.add_all([
            PhoneNumber(customer_id=c.id, number_e164="+8613800138000", raw="13800138000"),
            PhoneNumber(customer_id=c.id, contact_id=contact.id,
                        number_e164="+8613900139000", raw="13900139000"),
            Asset(customer_id=c.id, serial_number="PRN-2024-00A7X"),
            CallRecord(linkedid="call-ok", caller="13900139000", outcome="answered"),
            CallRecord(linkedid="call-stranger", caller="13700137000", outcome="answered"),
        ])
        return c.id


async def complaint(client: Any, customer: int, **extra: Any) -> Any:
    return await client.post(f"/customers/{customer}/tickets",
                             json={"problem": "送货员态度恶劣", "category": "complaint",
                                   **extra})


async def test_a_complaint_needs_a_verified_caller(api: Api) -> None:
    customer = await seed(api)
    async with signed_in(api, "agent") as agent:
        resp = await complaint(agent, customer)
        assert resp.status == 422
        body = await resp.json()
        assert (body["error"], body["field"]) == ("caller_not_verified", "verification")

        # the contact's number, typed (no call known)
        resp = await complaint(agent, customer, verification={"method": "number",
                                                              "number": "139 0013 9000"})
        assert resp.status == 201, await resp.text()
        made = await resp.json()
        check = made["caller_check"]
        assert (check["method"], check["passed"], check["source"], check["by_id"]) == (
            "number", True, "given", api.users.agent)
        assert made["caller_flagged"] is False
        assert [h["kind"] for h in made["history"]][:2] == ["status", "verification"]

        # the call's number wins over a typed one: on record / a stranger
        resp = await complaint(agent, customer, call_linkedid="call-ok",
                               verification={"method": "number", "number": "110"})
        assert resp.status == 201
        assert (await resp.json())["caller_check"]["source"] == "call"
        resp = await complaint(agent, customer, call_linkedid="call-stranger",
                               verification={"method": "number", "number": "13800138000"})
        assert resp.status == 422
        body = await resp.json()
        assert (body["error"], body["method"]) == ("caller_not_verified", "number")

        # the question: the serial number's last four characters, never echoed
        resp = await complaint(agent, customer, verification={"method": "question",
                                                              "answer": "0a7x"})
        assert resp.status == 201
        assert "0a7x" not in (await resp.text()).lower()
        check = (await resp.json())["caller_check"]
        assert (check["method"], check["passed"]) == ("question", True)
        assert set(check) == {"method", "passed", "by_id", "at"}
        resp = await complaint(agent, customer, verification={"method": "question",
                                                              "answer": "WXYZ"})
        assert resp.status == 422 and "WXYZ" not in await resp.text()

        # not verified: a reason, and the ticket is flagged
        resp = await complaint(agent, customer, verification={"method": "not_verified"})
        assert resp.status == 422
        assert (await resp.json())["field"] == "verification.reason"
        resp = await complaint(agent, customer, verification={
            "method": "not_verified", "reason": "来电号码隐藏, 客户拒绝回答"})
        assert resp.status == 201
        flagged = await resp.json()
        assert flagged["caller_flagged"] is True
        assert flagged["caller_check"]["reason"] == "来电号码隐藏, 客户拒绝回答"
        resp = await agent.get(f"/tickets/{flagged['id']}")
        steps = [h for h in (await resp.json())["history"] if h["kind"] == "verification"]
        assert steps[0]["data"]["method"] == "not_verified"
        assert steps[0]["note"] == "来电号码隐藏, 客户拒绝回答"

        # other tickets are not held up
        resp = await agent.post(f"/customers/{customer}/tickets",
                                json={"problem": "卡纸", "category": "repair"})
        assert resp.status == 201 and (await resp.json())["caller_check"] is None
        resp = await complaint(agent, customer, verification={"method": "guess"})
        assert resp.status == 422
    async with api.sessionmaker() as db:
        kept = (await db.scalars(select(Ticket.caller_check).where(
            Ticket.category == "complaint"))).all()
    assert len(kept) == 4 and not any("answer" in (k or {}) for k in kept)
