"""Click-to-dial on the real PBX: the agent's phone rings first ([agents] dials it), then
the customer is dialled from [outbound]. Two channel pairs: the agent picking up is not
the customer answering."""

from __future__ import annotations

from .conftest import Site

CUSTOMER = "13700137000"


async def test_click_to_dial_answered_by_the_customer(site: Site) -> None:
    await site.ami.setvar(f"CUST_{CUSTOMER}_RING", "3")
    await site.ami.setvar(f"CUST_{CUSTOMER}_TALK", "5")
    async with site.hotline.console("alice") as alice:
        status, body = await alice.call("POST", "/calls/dial", {"number": CUSTOMER})
        assert status == 202, body
        rows = await site.hotline.wait_records(1, within=60)
    site.check_replay("outbound-answered", rows)
    [row] = rows
    assert row.direction == "outbound"
    assert row.outcome == "answered", row.__dict__
    assert row.caller == "+86" + CUSTOMER
    assert row.agent == "Alice"
    assert row.hangup_by == "customer"
    # talk is the customer's 5 s, not counted from the agent's pickup (3 s earlier)
    assert row.talk_s is not None and row.talk_s <= 6


async def test_click_to_dial_the_customer_never_answers(site: Site) -> None:
    await site.ami.setvar(f"CUST_{CUSTOMER}_MODE", "noanswer")
    await site.ami.setvar("PHONE_1001_TALK", "12")  # Alice gives up after 12 s
    async with site.hotline.console("alice") as alice:
        status, body = await alice.call("POST", "/calls/dial", {"number": CUSTOMER})
        assert status == 202, body
        rows = await site.hotline.wait_records(1, within=60)
    site.check_replay("outbound-no-answer", rows)
    [row] = rows
    assert row.direction == "outbound"
    assert row.outcome == "no-answer", row.__dict__
    assert row.answered_at is None
    assert not row.talk_s
