"""The pure parts of the IVR adapter: AGI replies -> events, values -> variables, keypad
digits -> CRM numbers, read-backs, and the engine's spoken values."""

from __future__ import annotations

from ivr.agi_protocol import AgiReply, parse_reply_line
from ivr.default_flow import DEFAULT_FLOW, PROMPTS
from ivr.flow import parse_flow
from ivr.flow_engine import (
    ActionResult,
    DtmfReceived,
    FlowRun,
    LookupResult,
    Play,
    Say,
    SelfService,
    Timeout,
)
from ivr.runtime import (
    VARIABLES,
    call_facts,
    clean_keys,
    clean_value,
    get_data_event,
    key_of,
    sound_file,
    sound_files,
    stat_answer,
    stat_expression,
)
from ivr.services import (
    READBACK_PROMPTS,
    serial_matches,
    ticket_digits,
    ticket_number_from_digits,
)
from telephony.tracker import IVR_NAMES, IVR_PREFIXES


def reply(line: str) -> AgiReply:
    return parse_reply_line(int(line[:3]), line[4:])


def test_get_data_replies() -> None:
    assert get_data_event(reply("200 result=0123")) == DtmfReceived("0123")  # leading 0 kept
    assert get_data_event(reply("200 result=12*3")) == DtmfReceived("12*3")
    assert get_data_event(reply("200 result=12 (timeout)")) == DtmfReceived("12")
    assert get_data_event(reply("200 result= (timeout)")) == Timeout()
    assert get_data_event(reply("200 result=")) == DtmfReceived("")  # just '#'
    assert get_data_event(reply("200 result=-1")) == Timeout()
    assert get_data_event(reply("200 result=ab,c")) == DtmfReceived("xxxx")
    assert get_data_event(reply("510 Invalid or unknown command")) == Timeout()
    assert get_data_event(reply("200 garbage")) == DtmfReceived("")


def test_keys_from_ascii_codes() -> None:
    assert [key_of(c) for c in (49, 48, 35, 42, 65)] == ["1", "0", "#", "*", "A"]
    assert [key_of(c) for c in (0, -1, None)] == [None, None, None]
    assert key_of(120) == "x" and key_of(10**9) == "x"


def test_clean_keys_and_values() -> None:
    assert clean_keys("12\r\n#,") == "12xx#x"
    assert len(clean_keys("1" * 500)) == 64
    assert clean_value("a\r\nHANGUP\0") == "a  HANGUP "
    assert len(clean_value("x" * 5000)) == 1000


def test_sound_files_are_plain_names() -> None:
    assert sound_file("main_menu", "zh") == "hotline/zh/main_menu"
    for bad in ("../../etc/passwd", "a b", "", ".hidden", "x/y"):
        assert sound_file(bad, "zh") is None
    assert sound_file("welcome", "../x") is None


def test_call_facts_from_the_environment() -> None:
    env = {"agi_callerid": "unknown", "agi_calleridname": "王\x07芳", "agi_dnid": "unknown",
           "agi_extension": "8008001234", "agi_uniqueid": "17.1"}
    facts = call_facts(env, {})
    assert (facts.did, facts.caller, facts.caller_name, facts.uniqueid) == (
        "8008001234", "", "王 芳", "17.1")
    assert call_facts(env, {"did": "4008001234", "lang": "en"}).did == "4008001234"
    assert call_facts(env, {"lang": "en"}).lang == "en"
    assert call_facts({}, {}).did == ""


def test_values_are_played_from_hotlines_own_word_prompts() -> None:
    """Never Asterisk's core sounds (none in Chinese): the words of ``ivr.speech`` from
    the catalogue folder of the language."""
    assert sound_files(Say("date", "2026-11-25", "zh")) == [
        "hotline/zh/digit_2", "hotline/zh/digit_0", "hotline/zh/digit_2", "hotline/zh/digit_6",
        "hotline/zh/date_year", "hotline/zh/num_10", "hotline/zh/digit_1",
        "hotline/zh/date_month", "hotline/zh/digit_2", "hotline/zh/num_10",
        "hotline/zh/digit_5", "hotline/zh/date_day"]
    assert sound_files(Say("number", "105", "en")) == [
        "hotline/en/digit_1", "hotline/en/num_100", "hotline/en/digit_5"]
    assert sound_files(Say("digits", "T-07", "zh")) == ["hotline/zh/digit_0",
                                                        "hotline/zh/digit_7"]
    assert sound_files(Say("date", "10/12/2026", "zh")) == []  # not a date: nothing said
    assert sound_files(Play("welcome", "en")) == ["hotline/en/welcome"]
    assert sound_files(Play("../../etc/passwd", "en")) == []


def test_a_sound_is_looked_up_on_the_pbx_with_stat() -> None:
    expression = stat_expression(["hotline/zh/welcome", "hotline/zh/digit_7"])
    first, second = expression.split("|")
    assert first.startswith("${STAT(e,${ASTDATADIR}/sounds/hotline/zh/welcome.wav)}")
    assert "${STAT(e,${ASTDATADIR}/sounds/hotline/zh/digit_7.gsm)}" in second
    assert stat_answer("1000000|0000000", 2) == [True, False]
    assert stat_answer("0010000|0000000", 2) == [True, False]  # any format will do
    # no STAT on that PBX (func_env not loaded: empty text), a garbled answer: unknown
    assert stat_answer("|", 2) == [None, None]
    assert stat_answer("", 1) == [None]
    assert stat_answer("1795478331.183", 1) == [None]
    assert stat_answer("1000000", 2) == [None, None]


def test_ticket_numbers_on_the_keypad() -> None:
    assert ticket_number_from_digits("202611250001") == "T20261125-0001"
    assert ticket_number_from_digits("2026112500012") == "T20261125-00012"
    for bad in ("2026112500", "", "20261125abcd", "２０２６１１２５０００１"):
        assert ticket_number_from_digits(bad) is None
    assert ticket_digits("T20261125-0001") == "202611250001"


def test_serial_numbers_on_the_keypad() -> None:
    serials = [(1, "BPM-2022-0417"), (2, "BPM-2020-0815"), (3, "LXP-1100-0417")]
    assert serial_matches("20220417", serials) == [1]
    assert serial_matches("0815", serials) == [2]  # the tail, unique
    assert serial_matches("0417", serials) == [1, 3]  # ambiguous: the caller is asked again
    assert serial_matches("417", serials) == []  # too short for a tail
    assert serial_matches("99999999", serials) == []


def test_every_readback_prompt_is_in_the_catalogue_in_both_languages() -> None:
    for prompt in READBACK_PROMPTS:
        assert PROMPTS[prompt]["zh"] and PROMPTS[prompt]["en"], prompt


def test_the_tracker_keeps_every_variable_the_ivr_sets() -> None:
    for name in VARIABLES:
        assert name in IVR_NAMES or name.startswith(IVR_PREFIXES), name


def test_readback_plays_prompts_and_says_values_also_on_failure() -> None:
    run = FlowRun(parse_flow(DEFAULT_FLOW))
    run.start({"caller": "1", "now": "2026-11-25T10:00:00+08:00"})
    run.feed(LookupResult(None))
    run.feed(DtmfReceived("1"))
    run.feed(DtmfReceived("202611240007#"))
    actions = run.feed(ActionResult("ticket_status", True, {"prompts": [
        "ticket_number", {"say": "digits", "value": "202611240007"},
        {"say": "date", "value": "2026-11-24"}, {"say": "evil", "value": "x"},
        {"say": "digits", "value": ""}, {"say": "digits", "value": True}, 5, ""]}))
    assert actions[:3] == [Play("ticket_number", "zh"), Say("digits", "202611240007", "zh"),
                           Say("date", "2026-11-24", "zh")]
    assert actions[3] == Play("more", "zh")
    # a failure may say why before its error path
    run = FlowRun(parse_flow(DEFAULT_FLOW))
    run.start({"caller": "1", "now": "2026-11-25T10:00:00+08:00"})
    run.feed(LookupResult({"id": 1, "vip_tier": 0, "assets": [{"id": 1}]}))
    run.feed(DtmfReceived("3"))
    run.feed(ActionResult("list_assets", True, {"prompts": ["press"]}))
    actions = run.feed(DtmfReceived("0"))
    assert actions == [SelfService("repair_request", {"customer_id": "1", "choice": "0"})]
    actions = run.feed(ActionResult("repair_request", False, {"prompts": ["serial_not_found"]}))
    assert actions[0] == Play("serial_not_found", "zh")
    assert Play("enter_serial", "zh") in actions


def test_vip_tiers_count_by_level() -> None:
    flow = parse_flow(DEFAULT_FLOW)  # vip branch: tiers ["vip", "gold"]: level 1 and up
    for customer, vip in (({"id": 1, "vip_tier": 3, "tier": "platinum"}, True),
                          ({"id": 1, "vip_tier": 1}, True),
                          ({"id": 1, "tier": "VIP"}, True),
                          ({"id": 1, "tier": "standard"}, False),
                          ({"id": 1, "vip_tier": 0, "tier": "gold"}, False),
                          ({"id": 1, "tier": "diamond"}, True)):
        run = FlowRun(flow)
        run.start({"caller": "1", "now": "2026-11-25T10:00:00+08:00"})
        run.feed(LookupResult(customer))
        assert ("vip_route" in run.path) is vip, customer


async def test_flow_source_answers_stale_entries_at_once_and_refreshes_them() -> None:
    import asyncio

    from sqlalchemy.ext.asyncio import create_async_engine

    from ivr.runtime import FlowSource

    engine = create_async_engine("sqlite+aiosqlite://")  # never connected: reads are faked
    source = FlowSource(engine, ttl_s=0.0)  # every entry expires at once
    reads: list[int] = []
    gate = asyncio.Event()

    async def read() -> int:
        reads.append(len(reads) + 1)
        if len(reads) > 1:
            await gate.wait()  # the refresh is slow: nobody must wait for it
        return len(reads)

    first = await asyncio.gather(*(source._cached(("flow", "x"), read) for _ in range(5)))
    assert first == [1] * 5 and reads == [1]  # five callers, one read
    assert await source._cached(("flow", "x"), read) == 1  # stale, answered at once
    await asyncio.sleep(0)  # the refresh starts, and hangs on the gate
    assert await source._cached(("flow", "x"), read) == 1 and reads == [1, 2]  # only one
    gate.set()
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert await source._cached(("flow", "x"), read) == 2
    await source.close()
    await engine.dispose()
