"""The IVR on the real PBX: known and unknown callers through each path of the default
flow's main menu (1 ticket status, 2 order/subscription status, 3 repair request,
4 callback, 0 agent), keyed with real DTMF when the prompt is heard.

What a path must produce is asserted where it lands: the sound files Asterisk played
(the spoken ticket number, date...), the call record's IVR variables, the ticket or
the callback row written for the right customer and device.
"""

from __future__ import annotations

from typing import Any

from ivr.speech import say

from .conftest import IvrCaller, Site
from .site import (
    HOTLINE_800,
    KNOWN,
    SERIAL_NEW,
    SERIAL_OLD,
    SUBSCRIPTION_END,
    TICKET,
    TICKET_UPDATED,
)

UNKNOWN = "13912345678"
RETRY = {"HOTLINE_CALLBACK_RETRY_S": "3600", "HOTLINE_CALLBACK_POLL_S": "0.2"}


def spoken_digits(text: str) -> list[str]:
    """The prompts that read ``text``'s digits one by one (zh)."""
    return [f"digit_{c}" for c in text if c.isdigit()]


def keyed(text: str) -> str:
    """What a caller keys for ``text`` (a ticket or serial number): its digits."""
    return "".join(c for c in text if c.isdigit())


def spoken_date(iso: str) -> list[str]:
    spoken = say("date", iso, "zh")
    assert spoken, iso
    return spoken


def path_of(row: Any) -> list[str]:
    return str(row.ivr.get("HOTLINE_IVR_PATH", "")).split(",")


def follows(path: list[str], steps: list[str]) -> bool:
    """``steps`` appear in ``path`` one right after the other."""
    return any(path[i:i + len(steps)] == steps for i in range(len(path)))


async def at_main_menu(site: Site, number: str) -> IvrCaller:
    caller = await site.ivr_caller(number, "Caller")
    await caller.hears("main_menu")
    return caller


async def test_known_caller_hears_his_open_ticket(site: Site) -> None:
    caller = await site.ivr_caller(KNOWN, "Wang Fang")
    assert await caller.hears("main_menu") == ["welcome", "welcome_back"]
    await caller.press("1")
    heard = await caller.hears("more")
    await caller.hang_up()
    [row] = await site.hotline.wait_records(1)
    site.check_replay("ivr-known-ticket-status", [row])
    assert heard == ["tickets_open", "ticket_number", *spoken_digits(TICKET),
                     "status_accepted", "updated_on",
                     *spoken_date(TICKET_UPDATED.date().isoformat())], heard
    assert row.outcome == "ivr-only", row.__dict__
    assert row.ivr["HOTLINE_CUSTOMER_ID"] == str(site.seeded.known_customer), row.ivr
    assert follows(path_of(row), ["main_menu", "main_menu:1", "has_ticket", "my_tickets",
                                  "more"]), row.ivr


async def test_unknown_caller_keys_a_ticket_number(site: Site) -> None:
    """An unknown caller has no open ticket of his own: he keys one's number (its
    digits, then #) and hears its status; a number that is no ticket is said so."""
    caller = await site.ivr_caller(UNKNOWN, "Zhou Min")
    assert await caller.hears("main_menu") == ["welcome"]
    await caller.press("1")
    assert await caller.hears("enter_ticket") == []
    await caller.press(keyed(TICKET) + "#")
    heard = await caller.hears("more")
    assert heard == ["ticket_number", *spoken_digits(TICKET), "status_accepted",
                     "updated_on", *spoken_date(TICKET_UPDATED.date().isoformat())], heard
    await caller.press("9")  # back to the main menu, another number
    await caller.hears("main_menu")
    await caller.press("1")
    await caller.hears("enter_ticket")
    await caller.press("209901019999#")
    assert await caller.hears("more") == ["ticket_not_found"]
    await caller.hang_up()
    [row] = await site.hotline.wait_records(1)
    site.check_replay("ivr-unknown-ticket-number", [row])
    assert row.outcome == "ivr-only", row.__dict__
    assert not row.ivr.get("HOTLINE_CUSTOMER_ID"), row.ivr
    assert follows(path_of(row), ["main_menu:1", "has_ticket", "ask_ticket",
                                  f"ask_ticket:{keyed(TICKET)}", "ticket_by_number", "more"]
                   ), row.ivr


async def test_order_status_known_and_unknown(site: Site) -> None:
    known = await site.ivr_caller(KNOWN, "Wang Fang")
    await known.hears("main_menu")
    await known.press("2")
    heard = await known.hears("more")
    await known.hang_up()
    assert heard == ["kind_subscription", "ends_on",
                     *spoken_date(SUBSCRIPTION_END.isoformat()), "sub_active"], heard
    stranger = await site.ivr_caller(UNKNOWN, "Zhou Min")
    await stranger.hears("main_menu")
    await stranger.press("2")
    assert await stranger.hears("more") == ["no_subscription"]
    await stranger.hang_up()
    rows = await site.hotline.wait_records(2)
    site.check_replay("ivr-order-status", rows)
    by_caller = {r.caller: r for r in rows}
    for number in (KNOWN, UNKNOWN):
        row = by_caller["+86" + number]
        assert row.outcome == "ivr-only", row.__dict__
        assert follows(path_of(row), ["main_menu:2", "order_status", "more"]), row.ivr


async def test_known_caller_picks_his_device_for_a_repair(site: Site) -> None:
    caller = await site.ivr_caller(KNOWN, "Wang Fang")
    await caller.hears("main_menu")
    await caller.press("3")
    listed = await caller.hears("choose_asset")
    assert listed == ["serial_ending", *spoken_digits(SERIAL_OLD[-4:]), "press", "digit_1",
                      "serial_ending", *spoken_digits(SERIAL_NEW[-4:]), "press", "digit_2"]
    await caller.press("2")
    heard = await caller.hears("more")
    await caller.hang_up()
    [row] = await site.hotline.wait_records(1)
    site.check_replay("ivr-repair-pick", [row])
    [ticket] = [t for t in await site.hotline.tickets() if t.number != TICKET]
    assert ticket.customer_id == site.seeded.known_customer
    assert ticket.asset_id == site.seeded.assets[SERIAL_NEW]
    assert ticket.category == "repair" and ticket.status == "new"
    assert ticket.call_linkedid == row.linkedid
    assert heard == ["repair_created", *spoken_digits(ticket.number)], heard
    assert follows(path_of(row), ["main_menu:3", "can_repair", "has_assets", "list_assets",
                                  "pick_asset", "pick_asset:2", "repair_pick", "more"]), row.ivr


async def test_known_caller_keys_a_serial_number_for_a_repair(site: Site) -> None:
    """0 at the device list: he keys the serial number; that device is out of warranty,
    and he is told so."""
    caller = await site.ivr_caller(KNOWN, "Wang Fang")
    await caller.hears("main_menu")
    await caller.press("3")
    await caller.hears("choose_asset")
    await caller.press("0")
    await caller.hears("enter_serial")
    await caller.press(keyed(SERIAL_OLD) + "#")
    heard = await caller.hears("more")
    await caller.hang_up()
    [row] = await site.hotline.wait_records(1)
    site.check_replay("ivr-repair-serial", [row])
    [ticket] = [t for t in await site.hotline.tickets() if t.number != TICKET]
    assert ticket.customer_id == site.seeded.known_customer
    assert ticket.asset_id == site.seeded.assets[SERIAL_OLD]
    assert ticket.call_linkedid == row.linkedid
    assert heard == ["repair_created", *spoken_digits(ticket.number), "out_of_warranty"], heard
    assert follows(path_of(row), ["pick_asset:0", "repair_pick", "ask_serial",
                                  f"ask_serial:{keyed(SERIAL_OLD)}", "repair", "more"]), row.ivr


async def test_unknown_caller_asking_a_repair_is_queued_for_the_repair_skill(
        site: Site) -> None:
    async with site.agent("alice"):
        await site.ami.setvar("PHONE_1001_TALK", "3")
        caller = await site.ivr_caller(UNKNOWN, "Zhou Min")
        await caller.hears("main_menu")
        await caller.press("3")
        assert await caller.hears("transfer") == []
        [row] = await site.hotline.wait_records(1, within=90)
    site.check_replay("ivr-repair-unknown", [row])
    assert [t.number for t in await site.hotline.tickets()] == [TICKET]  # none without a customer
    assert row.outcome == "answered" and row.agent == "Alice", row.__dict__
    assert row.ivr.get("HOTLINE_SKILL") == "repair", row.ivr
    assert follows(path_of(row), ["main_menu:3", "can_repair", "repair_agent", "to_agent"]), \
        row.ivr


async def test_known_caller_books_a_callback_which_is_then_made(site: Site) -> None:
    """Key 4: the callback is booked for his number and customer, he is told so and the
    IVR hangs up; the callback then rings Alice, then him, and both answer."""
    await site.restart_hotline(**RETRY)
    await site.ami.setvar(f"CUST_{KNOWN}_TALK", "4")
    async with site.agent("alice"):
        caller = await site.ivr_caller(KNOWN, "Wang Fang")
        await caller.hears("main_menu")
        await caller.press("4")
        assert await caller.hears("callback_confirmed") == []
        booked = await site.hotline.wait_callback(lambda r: True)
        done = await site.hotline.wait_callback(lambda r: r.state == "done", within=90)
        rows = await site.hotline.wait_records(2, within=60)
    site.check_replay("ivr-callback-known", rows)
    first = min(rows, key=lambda r: r.id)
    assert first.outcome == "ivr-only", first.__dict__
    assert first.ivr.get("HOTLINE_ACTION") == "hangup", first.ivr
    assert follows(path_of(first), ["main_menu:4", "callback"]), first.ivr
    assert booked.customer_id == site.seeded.known_customer
    assert booked.phone.endswith(KNOWN), booked.phone
    assert booked.origin_linkedid == first.linkedid
    assert done.id == booked.id and done.last_result == "answered", done.history


async def test_unknown_caller_books_a_callback(site: Site) -> None:
    caller = await site.ivr_caller(UNKNOWN, "Zhou Min")
    await caller.hears("main_menu")
    await caller.press("4")
    await caller.hears("callback_confirmed")
    [row] = await site.hotline.wait_records(1)
    site.check_replay("ivr-callback-unknown", [row])
    [booked] = await site.hotline.callbacks()
    assert booked.customer_id is None
    assert booked.phone.endswith(UNKNOWN), booked.phone
    assert booked.origin_linkedid == row.linkedid
    assert booked.state == "waiting"  # nobody is signed in to call him back yet
    assert row.outcome == "ivr-only", row.__dict__


async def test_a_key_off_the_menu_is_refused_and_the_menu_repeated(site: Site) -> None:
    async with site.agent("alice"):
        await site.ami.setvar("PHONE_1001_TALK", "3")
        caller = await site.ivr_caller(UNKNOWN, "Zhou Min")
        await caller.hears("main_menu")
        await caller.press("7")
        assert await caller.hears("main_menu") == ["invalid"]
        await caller.press("0")
        await caller.hears("transfer")
        [row] = await site.hotline.wait_records(1, within=90)
    site.check_replay("ivr-invalid-key", [row])
    assert row.outcome == "answered" and row.agent == "Alice", row.__dict__


async def test_after_hours_a_caller_books_a_callback_from_the_closed_menu(site: Site) -> None:
    """The 800 number is closed (its flow has no business day): the caller gets the
    after-hours menu, without an agent, and books a callback there."""
    caller = await site.ivr_caller(UNKNOWN, "Zhou Min", did=HOTLINE_800)
    assert await caller.hears("closed") == ["welcome"]
    await caller.press("4")
    assert await caller.hears("callback_confirmed") == []
    [row] = await site.hotline.wait_records(1)
    site.check_replay("ivr-after-hours-callback", [row])
    assert "hotline/zh/main_menu" not in caller.sounds() and "main_menu" not in path_of(row)
    assert row.did == HOTLINE_800 and row.outcome == "ivr-only", row.__dict__
    assert follows(path_of(row), ["hours", "closed_menu", "closed_menu:4", "callback"]), row.ivr
    [booked] = await site.hotline.callbacks()
    assert booked.phone.endswith(UNKNOWN) and booked.origin_linkedid == row.linkedid
