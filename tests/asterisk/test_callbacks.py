"""Callbacks on the real PBX: the agent's phone rings first ([agents] dials it), then
the customer. The agent picking up is not the customer answering (issue 12 item 3)."""

from __future__ import annotations

from .conftest import Site

CUSTOMER = "13600136000"
RETRY = {"HOTLINE_CALLBACK_RETRY_S": "3600", "HOTLINE_CALLBACK_POLL_S": "0.2"}


async def _ask(site: Site) -> int:
    async with site.hotline.console("alice") as alice:
        assert (await alice.call("POST", "/agent/state", {"action": "sign-in"}))[0] == 202
        status, body = await alice.call("POST", "/callbacks", {"phone": CUSTOMER})
        assert status in (200, 201), body
        return int(body["id"])


async def test_customer_never_answers_is_retried_later(site: Site) -> None:
    await site.restart_hotline(**RETRY)
    await site.ami.setvar(f"CUST_{CUSTOMER}_MODE", "noanswer")
    cb = await _ask(site)
    row = await site.hotline.wait_callback(lambda r: r.id == cb and r.attempts == 1,
                                           within=90)
    site.save_capture("callback-customer-no-answer")
    assert row.state == "waiting", (row.state, row.last_result)
    assert row.last_result == "no-answer"


async def test_customer_busy_is_retried_later(site: Site) -> None:
    await site.restart_hotline(**RETRY)
    await site.ami.setvar(f"CUST_{CUSTOMER}_MODE", "busy")
    cb = await _ask(site)
    row = await site.hotline.wait_callback(lambda r: r.id == cb and r.attempts == 1,
                                           within=90)
    site.save_capture("callback-customer-busy")
    assert row.state == "waiting", (row.state, row.last_result)
    assert row.last_result == "busy"


async def test_both_answer_closes_it_answered(site: Site) -> None:
    await site.restart_hotline(**RETRY)
    await site.ami.setvar(f"CUST_{CUSTOMER}_RING", "3")
    await site.ami.setvar(f"CUST_{CUSTOMER}_TALK", "4")
    cb = await _ask(site)
    row = await site.hotline.wait_callback(lambda r: r.id == cb and r.state == "done",
                                           within=90)
    site.save_capture("callback-answered")
    assert row.last_result == "answered"
    assert row.attempts == 1


async def test_agent_who_misses_does_not_use_the_customers_attempt(site: Site) -> None:
    await site.restart_hotline(HOTLINE_CALLBACK_AGENT_RING_S="4", **RETRY)
    await site.ami.setvar("PHONE_1001_MODE", "noanswer")
    cb = await _ask(site)
    row = await site.hotline.wait_callback(
        lambda r: r.id == cb and "agent-missed" in str(r.history), within=90)
    site.save_capture("callback-agent-missed")
    assert row.attempts == 0, (row.state, row.last_result, row.history)
