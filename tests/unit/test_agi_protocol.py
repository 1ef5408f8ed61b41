"""The sans-I/O FastAGI protocol against the real Asterisk 22 recordings, and fuzzed."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ivr.agi_protocol import (
    HEADER_BYTES,
    HEADER_LINES,
    AgiDecoder,
    AgiEncodeError,
    AgiEnvironment,
    AgiHangupSignal,
    AgiHeaderRefused,
    AgiReply,
    encode_command,
    parse_environment,
    script_of,
    split_command,
)
from tests.shared import AGI_DIR  # noqa: E402

RECORDINGS = sorted(AGI_DIR.glob("*.agi.in"))


def test_recordings_exist() -> None:
    assert len(RECORDINGS) >= 5


@pytest.mark.parametrize("path", RECORDINGS, ids=lambda p: p.name)
def test_recorded_conversation_decodes(path: Path) -> None:
    events = AgiDecoder().feed(path.read_bytes())
    env = events[0]
    assert isinstance(env, AgiEnvironment)
    assert env.junk == 0
    assert env.env["agi_network"] == "yes"
    assert env.env["agi_version"].startswith("22.")
    assert env.env["agi_accountcode"] == ""  # empty value kept
    assert env.env["agi_callerid"].isdigit()
    assert script_of(env.env) == ("hotline", {"did": "4008001234"})
    replies = events[1:]
    assert all(isinstance(r, AgiReply) and r.ok for r in replies)
    out_lines = (path.parent / path.name.replace(".in", ".out")).read_text().splitlines()
    assert len(replies) == len(out_lines)
    did = replies[1]
    assert isinstance(did, AgiReply)
    assert (did.result, did.data) == (1, "4008001234")
    stream = replies[3]
    assert isinstance(stream, AgiReply)
    assert (stream.result, stream.data, stream.extra) == (0, None, {"endpos": "8000"})
    digit = replies[5]
    assert isinstance(digit, AgiReply)
    assert digit.result == ord("1")


def test_crlf_and_split_feeds_give_the_same_environment() -> None:
    raw = RECORDINGS[0].read_bytes()
    header = raw[: raw.index(b"\n\n") + 2]
    expected = parse_environment(header)
    assert expected is not None
    crlf = header.replace(b"\n", b"\r\n")
    decoder = AgiDecoder()
    events = [e for i in range(len(crlf)) for e in decoder.feed(crlf[i : i + 1])]
    assert events == [expected]


def test_gbk_caller_name_is_decoded_and_broken_bytes_never_raise() -> None:
    # a Chinese carrier may send the caller name in GBK; junk bytes stay replaced, not fatal
    header = (b"agi_request: agi://127.0.0.1/hotline\n" + b"agi_calleridname: "
              + "\u738b\u82b3".encode("gbk") + b"\nagi_rdnis: \xff\xfe\n\n")
    (event,) = AgiDecoder().feed(header)
    assert isinstance(event, AgiEnvironment)
    assert event.env["agi_calleridname"] == "\u738b\u82b3"
    assert "\ufffd" in event.env["agi_rdnis"]


def test_header_junk_and_leading_empty_lines_are_counted_not_fatal() -> None:
    data = b"\r\n\nthis is junk\nagi_request: agi://h/x?a=1&b=\nnot_agi: 1\nagi_empty:\n\n"
    env = parse_environment(data)
    assert env is not None
    assert env.env == {"agi_request": "agi://h/x?a=1&b=", "agi_empty": ""}
    assert env.junk == 4
    assert script_of(env.env) == ("x", {"a": "1", "b": ""})


def test_unfinished_header_is_none() -> None:
    assert parse_environment(b"agi_network: yes\nagi_chan") is None


def test_script_falls_back_to_network_script() -> None:
    assert script_of({"agi_network_script": "ivr/main?did=400&x=%20y"}) == (
        "ivr/main",
        {"did": "400", "x": " y"},
    )
    assert script_of({}) == ("", {})


def _replies(data: bytes) -> list[object]:
    decoder = AgiDecoder()
    decoder.feed(b"agi_network: yes\n\n")
    return list(decoder.feed(data))


def test_error_replies_and_hangup() -> None:
    data = (
        b"510 Invalid or unknown command\n"
        b"520-Invalid command syntax.  Proper usage follows:\n"
        b" Usage: STREAM FILE <filename> <escape_digits> [sample offset]\n"
        b"\n"
        b"520 End of proper usage.\n"
        b"511 Command Not Permitted on a dead channel or intercept routine\n"
        b"HANGUP\n"
        b"200 result=1 (timeout)\n"
        b"200 result=-1 (a (b) c) endpos=12 foo=\n"
    )
    r510, r520, r511, hangup, timeout, nested = _replies(data)
    assert isinstance(r510, AgiReply) and r510.code == 510 and not r510.ok
    assert isinstance(r520, AgiReply) and r520.code == 520
    assert r520.text == "End of proper usage."
    assert r520.usage[0] == "Invalid command syntax.  Proper usage follows:"
    assert len(r520.usage) == 3
    assert isinstance(r511, AgiReply) and r511.dead_channel
    assert isinstance(hangup, AgiHangupSignal)
    assert isinstance(timeout, AgiReply) and timeout.data == "timeout"
    assert isinstance(nested, AgiReply)
    assert (nested.result, nested.data) == (-1, "a (b) c")
    assert nested.extra == {"endpos": "12", "foo": ""}


def test_junk_replies_are_counted() -> None:
    decoder = AgiDecoder()
    decoder.feed(b"agi_network: yes\n\n")
    assert decoder.feed(b"garbage\n999-x\n\n200 result=1\n") == [
        AgiReply(code=200, text="result=1", result=1)
    ]
    assert decoder.junk == 2


def test_over_long_line_is_dropped() -> None:
    decoder = AgiDecoder()
    decoder.feed(b"agi_network: yes\n\n")
    assert decoder.feed(b"2" * 70_000) == []
    assert decoder.feed(b"3" * 70_000 + b"\n200 result=1\n") == [
        AgiReply(code=200, text="result=1", result=1)
    ]
    assert decoder.junk == 1 and decoder.long_lines == 1


def test_endless_header_is_refused_at_the_byte_cap_whatever_the_pieces() -> None:
    # distinct agi_* lines, never the empty line: the decoder kept them all (issue 13)
    decoder = AgiDecoder(max_header_bytes=4096, max_header_lines=100_000)
    events: list[object] = []
    fed = 0
    for i in range(10_000):
        line = b"agi_var_%d: value\n" % i
        events += decoder.feed(line[:5])
        events += decoder.feed(line[5:])
        fed += len(line)
        if events:
            break
    assert events == [AgiHeaderRefused(HEADER_BYTES, 4096)]
    assert decoder.refused == events[0]
    assert 4096 < fed <= 4096 + 20  # refused at the line that crossed the cap
    assert decoder.feed(b"agi_more: x\n\n200 result=1\n") == []  # nothing more decoded
    assert decoder.feed_eof() == []


def test_header_without_newline_is_refused_at_the_byte_cap() -> None:
    decoder = AgiDecoder(max_header_bytes=4096, max_line=1024)
    events = [e for _ in range(100) for e in decoder.feed(b"a" * 100)]
    assert events == [AgiHeaderRefused(HEADER_BYTES, 4096)]
    assert decoder.long_lines == 1


def test_header_of_too_many_lines_is_refused() -> None:
    lines = b"".join(b"agi_v%d: x\n" % i for i in range(9))
    (env,) = AgiDecoder(max_header_lines=10).feed(lines + b"\n")  # 10 lines: the cap
    assert isinstance(env, AgiEnvironment) and len(env.env) == 9
    assert AgiDecoder(max_header_lines=10).feed(lines + b"agi_x: 1\n\n") == [
        AgiHeaderRefused(HEADER_LINES, 10)
    ]
    # junk and empty lines count too: they are lines the peer made us read
    assert AgiDecoder(max_header_lines=10).feed(b"\n" * 11) == [
        AgiHeaderRefused(HEADER_LINES, 10)
    ]


def test_caps_do_not_apply_after_the_header() -> None:
    decoder = AgiDecoder(max_header_bytes=1024, max_header_lines=16)
    decoder.feed(b"agi_network: yes\n\n")
    replies = decoder.feed(b"200 result=1\n" * 500)
    assert len(replies) == 500 and decoder.refused is None


def test_a_long_line_is_searched_for_its_newline_once() -> None:
    # a line fed a byte at a time used to be searched from its start at every byte
    decoder = AgiDecoder()
    decoder.feed(b"agi_network: yes\n\n")
    for byte in b"200 result=1 (" + b"x" * 5000:
        assert decoder.feed(bytes([byte])) == []
    assert decoder._scan == len(decoder._buffer)  # all of it searched, resumed from there
    (reply,) = decoder.feed(b")\n")
    assert isinstance(reply, AgiReply) and reply.data == "x" * 5000


def test_encode_matches_recorded_commands() -> None:
    out = (AGI_DIR / "01-answered-call-1.agi.out").read_bytes().splitlines(keepends=True)
    assert encode_command("GET VARIABLE", "HOTLINE_DID") == out[1]
    assert encode_command("GET FULL VARIABLE", "${CALLERID(num)}") == out[2]
    assert encode_command("STREAM FILE", "hotline-welcome", "") == out[3]
    assert encode_command("WAIT FOR DIGIT", 5000) == out[5]
    assert encode_command("VERBOSE", "Hotline IVR: start", 1) == out[0]


@pytest.mark.parametrize("evil", ["a\nHANGUP", "a\rb", "x\0", "\n", "\ud800"])
def test_encode_refuses_line_breaks(evil: str) -> None:
    with pytest.raises(AgiEncodeError):
        encode_command("SET VARIABLE", "NAME", evil)


@pytest.mark.parametrize("name", ["", "EXEC\nHANGUP", "GET VARIABLE ", "A1"])
def test_encode_refuses_bad_names(name: str) -> None:
    with pytest.raises(AgiEncodeError):
        encode_command(name)


def test_quoting_round_trips_awkward_text() -> None:
    args = ['say "hi"', "back\\slash", "", "a b", "张三"]
    line = encode_command("EXEC", *args).decode()
    assert split_command(line) == ["EXEC", *args]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.text(
            alphabet=st.characters(blacklist_characters="\r\n\0", blacklist_categories=["Cs"]),
            max_size=20,
        )
    )
)
def test_quoting_round_trips(args: list[str]) -> None:
    assert split_command(encode_command("SET VARIABLE", *args).decode()) == [
        "SET",
        "VARIABLE",
        *args,
    ]


@settings(max_examples=500, deadline=None)
@given(st.lists(st.binary(max_size=200), max_size=10))
def test_decoder_never_raises(chunks: list[bytes]) -> None:
    decoder = AgiDecoder()
    for chunk in chunks:
        decoder.feed(chunk)
    decoder.feed_eof()


_LINE = st.sampled_from(
    [
        b"agi_x: y\n",
        b"\n",
        b"\r\n",
        b"junk\n",
        b"200 result=1 (d) endpos=1\n",
        b"520-x\n",
        b"520 End\n",
        b"HANGUP\n",
        b"511 dead\n",
        b"200 result=\n",
        b"200 result=9 (\n",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_LINE, max_size=30), st.integers(min_value=1, max_value=7))
def test_decoder_is_chunking_independent(lines: list[bytes], step: int) -> None:
    data = b"".join(lines)
    whole = AgiDecoder().feed(data)
    decoder = AgiDecoder()
    pieces = [e for i in range(0, len(data), step) for e in decoder.feed(data[i : i + step])]
    assert pieces == whole
    # with caps small enough to trip: the same events, the same refusal, however cut
    caps = {"max_line": 12, "max_header_bytes": 60, "max_header_lines": 6}
    whole = AgiDecoder(**caps).feed(data)
    decoder = AgiDecoder(**caps)
    pieces = [e for i in range(0, len(data), step) for e in decoder.feed(data[i : i + step])]
    assert pieces == whole
