"""PBX simulator pieces without sockets: event layouts, parsing helpers, queue strategy."""

from __future__ import annotations

import asyncio
from pathlib import Path

from telephony.ami_codec import AmiDecoder, decode_all
from telephony.simulator.dialplan_conf import shipped_queue_defaults
from telephony.simulator.model import (
    AgentSpec,
    Chan,
    QueueSpec,
    build_members,
    default_agents,
    default_queues,
    member_text,
)
from telephony.simulator.pbx import (
    CallScript,
    Pbx,
    SimCall,
    _parse_callerid,
    _script_from_vars,
    _variables,
)
from telephony.simulator.server import parse_event_mask
from tests.shared import CAPTURES  # noqa: E402


def _first(capture: str, event: str) -> dict[str, str]:
    data = (CAPTURES / f"{capture}.ami").read_bytes()
    return next(m for m in decode_all(data) if m.get("Event") == event)


def test_channel_snapshot_has_the_capture_layout() -> None:
    real = _first("01-answered-call", "Newchannel")
    c = Chan("Local/4008001234@from-pstn-0000005b;1", "1795478331.182", "1795478331.182",
             state=0, context="from-pstn", exten="4008001234", created=0.0)
    ours = AmiDecoder(expect_banner=False).feed(
        ("Event: Newchannel\r\nPrivilege: call,all\r\n" + c.snap() + "\r\n").encode())[0]
    assert ours == real


def test_snapshot_cache_follows_changes() -> None:
    c = Chan("X;1", "1.1", "1.1", state=0, context="c", exten="e", created=0.0)
    before = c.snap("Dest")
    c.set(state=6, cid_num="13800138000")
    after = c.snap("Dest")
    assert "DestChannelStateDesc: Up" in after and "DestCallerIDNum: 13800138000" in after
    assert before != after


def test_member_event_layout_matches_capture() -> None:
    real = _first("01-answered-call", "QueueMemberStatus")
    agents, queues = build_members(default_agents(), default_queues(), 1795477563)
    m = queues["support"].members["Local/1001@agents/n"]
    text = "Event: QueueMemberStatus\r\nPrivilege: agent,all\r\n" + member_text(m, "support")
    ours = AmiDecoder(expect_banner=False).feed((text + "\r\n").encode())[0]
    assert list(ours) == list(real)
    assert (ours["MemberName"], ours["StateInterface"], ours["Membership"]) == (
        "Alice", "Local/1001@agents", "static")


def test_queues_conf_member_order_and_penalty() -> None:
    _agents, queues = build_members(default_agents(), default_queues(), 0)
    assert [m.name for m in queues["support"].members.values()] == ["Alice", "Bob", "Carol"]
    assert [m.name for m in queues["vip"].members.values()] == ["Carol", "Alice"]
    assert queues["vip"].members["Local/1001@agents/n"].penalty == 1
    assert queues["burst"].spec.strategy == "rrmemory"


def test_event_mask_parsing() -> None:
    assert parse_event_mask("on") is None
    assert parse_event_mask(None) is None
    assert parse_event_mask("off") == set()
    assert parse_event_mask("call,agent") == {"call", "agent"}
    assert parse_event_mask("call, all") is None


def test_callerid_and_variables_parsing() -> None:
    assert _parse_callerid('"Wang Fang" <13800138000>') == ("13800138000", "Wang Fang")
    assert _parse_callerid("13800138000") == ("13800138000", "")
    assert _variables("DIGIT=1\nHOLD=5.5\nbad") == {"DIGIT": "1", "HOLD": "5.5"}
    script = _script_from_vars({"DIGIT": "", "HOLD": "4", "PRE": "0", "SKIP_AGI": "1"})
    assert (script.ivr_digits, script.hold, script.skip_agi) == ("", 4.0, True)
    assert _script_from_vars({"HOLD": "x"}).hold == 60.0


async def test_strategies_pick_like_asterisk() -> None:
    events: list[bytes] = []
    pbx = Pbx(lambda data, cls: events.append(data), agents=[
        AgentSpec("Local/2001@agents/n", "A", ("rr", "lin")),
        AgentSpec("Local/2002@agents/n", "B", ("rr", "lin")),
    ], queues=[QueueSpec("rr", "rrmemory"), QueueSpec("lin", "linear")])
    rr, lin = pbx.queues["rr"], pbx.queues["lin"]
    caller = SimCall("1", None, "4008001234", CallScript(), _never())
    rr.entries.append(caller)
    lin.entries.append(caller)
    assert [pbx._pick(rr, set(), caller).name for _ in range(3)] == ["A", "B", "A"]  # type: ignore[union-attr]
    assert [pbx._pick(lin, set(), caller).name for _ in range(2)] == ["A", "A"]  # type: ignore[union-attr]
    assert pbx._pick(lin, {"Local/2001@agents/n"}, caller).name == "B"  # type: ignore[union-attr]
    pbx.pause("Local/2001@agents/n", None, True, "Lunch")
    assert pbx._pick(lin, set(), caller).name == "B"  # type: ignore[union-attr]
    pauses = [e for e in events if e.startswith(b"Event: QueueMemberPause")]
    assert len(pauses) == 2  # one per queue
    second = SimCall("2", None, "4008001234", CallScript(), _never())
    lin.entries.append(second)
    assert pbx._pick(lin, set(), second) is None  # only one free member: the first caller's


async def test_place_call_emits_linked_channels_without_a_server() -> None:
    events: list[bytes] = []
    pbx = Pbx(lambda data, cls: events.append(data), time_scale=0.001)
    call = pbx.place_call(caller="13800138000", name="Wang Fang",
                          script=CallScript(skip_agi=True, talk=2.0))
    assert call.linkedid and call.c1 is not None and call.c1.uniqueid == call.linkedid
    await call.done
    msgs = AmiDecoder(expect_banner=False).feed(b"".join(events))
    assert {m["Linkedid"] for m in msgs if "Linkedid" in m} == {call.linkedid}
    complete = next(m for m in msgs if m["Event"] == "AgentComplete")
    assert (complete["HoldTime"], complete["TalkTime"], complete["Reason"]) == ("2", "2",
                                                                                "caller")
    assert not pbx.channels and not pbx.calls
    await pbx.close()


def _never() -> asyncio.Future[SimCall]:
    return asyncio.get_running_loop().create_future()


def test_queue_defaults_come_from_the_dialplans_globals(tmp_path: Path) -> None:
    """[globals] and the file it #includes, as Asterisk reads them: numbers only (the
    setting HOTLINE_QUEUE_TIMEOUT is not the queue of a number), the fallback named."""
    (tmp_path / "extensions.conf").write_text(
        "[globals]\nHOTLINE_QUEUE_TIMEOUT = 300 ; seconds\nHOTLINE_DEFAULT_QUEUE = main\n"
        "#include numbers.conf\n[from-pstn]\nHOTLINE_QUEUE_1 = not-a-global\n")
    (tmp_path / "numbers.conf").write_text("; generated\nHOTLINE_QUEUE_8008001234 = vip\n")
    defaults = shipped_queue_defaults(tmp_path)
    assert defaults.by_number == {"8008001234": "vip"}
    assert (defaults.for_number("8008001234"), defaults.for_number("4008001234")) == (
        "vip", "main")


def test_the_shipped_dialplan_sends_the_800_number_to_support() -> None:
    """deploy/asterisk as shipped (hotline-numbers.conf, generated from the number plan):
    the 800 number is the toll-free service line, not a VIP line."""
    defaults = shipped_queue_defaults()
    assert defaults.for_number("8008001234") == "support"
    assert defaults.for_number("4008001234") == "support"
    assert defaults.default == "support"
    assert Pbx(lambda data, cls: None, agi="127.0.0.1:4573").queue_defaults == defaults
