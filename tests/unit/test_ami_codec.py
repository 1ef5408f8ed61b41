"""The sans-I/O AMI codec on real captures and on hostile bytes."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from telephony.ami_codec import (
    AmiDecoder,
    AmiLimits,
    decode_all,
    encode_action,
    encode_message,
    is_event,
)
from tests.shared import CAPTURES  # noqa: E402

RAW = sorted(p for p in CAPTURES.glob("*.ami") if not p.name.endswith(".sent.ami"))


def test_captures_are_present() -> None:
    assert len(RAW) >= 15, f"expected the real AMI captures in {CAPTURES}"


@pytest.mark.parametrize("path", RAW, ids=lambda p: p.stem)
def test_capture_decodes_the_same_in_any_chunking(path: Path) -> None:
    data = path.read_bytes()
    whole = decode_all(data)
    assert whole[0] == {"Banner": "Asterisk Call Manager/11.0.0"}
    assert all(m for m in whole)
    rng = random.Random(path.stem)
    dec = AmiDecoder()
    pieces = []
    i = 0
    while i < len(data):
        n = rng.randint(1, 700)
        pieces += dec.feed(data[i : i + n])
        i += n
    assert pieces == whole
    assert dec.pending == 0 and dec.malformed_lines == 0


def test_capture_message_counts_match_the_notes() -> None:
    msgs = decode_all((CAPTURES / "01-answered-call.ami").read_bytes())
    # the .md counts 232 messages besides the banner
    assert len(msgs) - 1 == 232
    assert sum(1 for m in msgs if m.get("Event") == "VarSet") == 93


def test_utf8_character_split_across_reads_is_kept() -> None:
    # panoramisk 1.4 decodes each TCP chunk on its own and loses the "ë"
    raw = "Event: Newchannel\r\nCallerIDName: Zoë\r\n\r\n".encode()
    cut = raw.index(b"\xc3") + 1
    dec = AmiDecoder(expect_banner=False)
    assert dec.feed(raw[:cut]) == []
    assert dec.feed(raw[cut:]) == [{"Event": "Newchannel", "CallerIDName": "Zoë"}]


def test_gbk_caller_name_is_decoded() -> None:
    name = "王芳".encode("gbk")
    raw = b"Event: Newchannel\r\nCallerIDName: " + name + b"\r\nExten: 4008001234\r\n\r\n"
    [msg] = AmiDecoder(expect_banner=False).feed(raw)
    assert msg["CallerIDName"] == "王芳"
    assert msg["Exten"] == "4008001234"


def test_malformed_lines_are_counted_and_skipped() -> None:
    dec = AmiDecoder(expect_banner=False)
    msgs = dec.feed(b"Event: Hangup\r\nthis line has no colon\r\nCause: 16\r\n\r\n\xff\xfe\r\n\r\n")
    assert msgs[0] == {"Event": "Hangup", "Cause": "16"}
    assert dec.malformed_lines == 2


def test_values_keep_colons_and_empty_values() -> None:
    [msg] = AmiDecoder(expect_banner=False).feed(
        b"Event: X\r\nAppData: a: b: c\r\nAccountCode: \r\nEmpty:\r\n\r\n"
    )
    assert msg == {"Event": "X", "AppData": "a: b: c", "AccountCode": "", "Empty": ""}


def test_repeated_keys_are_joined() -> None:
    [msg] = AmiDecoder(expect_banner=False).feed(
        b"Response: Success\r\nOutput: line 1\r\nOutput: line 2\r\n\r\n"
    )
    assert msg["Output"].split("\n") == ["line 1", "line 2"]
    assert AmiDecoder(expect_banner=False).feed(encode_message(msg)) == [msg]


def test_runaway_message_is_dropped_not_buffered_forever() -> None:
    dec = AmiDecoder(expect_banner=False, limits=AmiLimits(max_message=1000))
    assert dec.feed(b"Event: X\r\n" + b"A: b\r\n" * 400) == []
    assert dec.pending <= 3  # at most the start of a terminator cut by the read
    assert dec.dropped_messages == 1
    # the rest of the dropped message is dropped too: it does not come out as a message
    # of its own; decoding resumes at the next one
    assert dec.feed(b"A: b\r\n" * 400 + b"\r\nEvent: Y\r\n\r\n") == [{"Event": "Y"}]
    assert dec.dropped_messages == 1 and dec.malformed_lines == 0
    assert dec.dropped_bytes == len(b"Event: X\r\n") + 800 * len(b"A: b\r\n") + 2


def test_message_over_the_cap_is_dropped_whole_in_one_read_too() -> None:
    dec = AmiDecoder(expect_banner=False, limits=AmiLimits(max_message=1000))
    big = b"Event: Big\r\n" + b"A: b\r\n" * 200 + b"\r\n"
    fits = b"Event: Fits\r\n" + b"A: b\r\n" * 140 + b"\r\n"
    assert [m["Event"] for m in dec.feed(big + fits + b"Event: Z\r\n\r\n")] == ["Fits", "Z"]
    assert dec.dropped_messages == 1 and dec.dropped_bytes == len(big)


def test_unterminated_message_in_small_pieces_is_scanned_once() -> None:
    # 10 MB that never end, 1 KB at a time (a slow hostile sender): each byte is searched
    # for the terminator once (plus the 3 bytes kept across reads), not once per read
    dec = AmiDecoder(expect_banner=False)
    data = b"Event: Flood\r\n" + b"X" * 10_000_000
    reads = 0
    for i in range(0, len(data), 1024):
        assert dec.feed(data[i : i + 1024]) == []
        reads += 1
    assert dec.scanned_bytes <= len(data) + 3 * reads
    assert dec.pending <= 3 and dec.dropped_messages == 1
    assert dec.feed(b"\r\n\r\nEvent: After\r\n\r\n") == [{"Event": "After"}]
    assert dec.dropped_bytes == len(data) + 4


@pytest.mark.parametrize("path", RAW[:3], ids=lambda p: p.stem)
def test_capture_in_small_pieces_is_scanned_once(path: Path) -> None:
    data = path.read_bytes()
    dec = AmiDecoder()
    reads = 0
    for i in range(0, len(data), 100):
        dec.feed(data[i : i + 100])
        reads += 1
    assert dec.scanned_bytes <= len(data) + 3 * reads


def test_banner_that_never_ends_is_not_buffered_forever() -> None:
    dec = AmiDecoder(limits=AmiLimits(max_message=10_000, max_line=1000))
    for _ in range(1000):
        dec.feed(b"X" * 1000)
    assert dec.pending <= 3 and dec.dropped_messages == 1
    assert dec.feed(b"\r\n\r\nEvent: After\r\n\r\n") == [{"Event": "After"}]


def test_75000_variable_lines_are_bounded() -> None:
    # 975 KB, under the message cap: the message is kept with its first max_lines lines
    dec = AmiDecoder(expect_banner=False)
    raw = b"Event: VarSet\r\nChannel: PJSIP/1\r\n" + b"Variable: a\r\n" * 75_000
    msgs = dec.feed(raw + b"Uniqueid: 9\r\n\r\nEvent: Next\r\n\r\n")
    assert [m["Event"] for m in msgs] == ["VarSet", "Next"]
    kept = msgs[0]["Variable"].split("\n")
    assert kept == ["a"] * (AmiLimits().max_lines - 2)
    assert "Uniqueid" not in msgs[0]  # past the cap
    assert dec.dropped_lines == 2 + 75_000 + 1 - AmiLimits().max_lines


def test_repeated_keys_up_to_the_cap_are_all_kept_in_order() -> None:
    dec = AmiDecoder(expect_banner=False, limits=AmiLimits(max_message=2 << 20, max_lines=100_000))
    raw = b"Event: VarSet\r\n" + b"".join(b"Variable: v%d\r\n" % i for i in range(75_000))
    [msg] = dec.feed(raw + b"\r\n")
    assert msg["Variable"].split("\n") == [f"v{i}" for i in range(75_000)]
    assert dec.dropped_lines == 0


@pytest.mark.parametrize("name", ["王" * 200_000, "x" * 500_000], ids=["utf8", "ascii"])
def test_huge_caller_name_is_truncated_to_the_cap(name: str) -> None:
    dec = AmiDecoder(expect_banner=False)
    raw = (f"Event: Newchannel\r\nCallerIDName: {name}\r\nUniqueid: 1\r\n\r\n"
           "Event: Newchannel\r\nCallerIDName: 王芳\r\nUniqueid: 2\r\n\r\n").encode()
    first, second = [m for i in range(0, len(raw), 65536) for m in dec.feed(raw[i : i + 65536])]
    cap = AmiLimits().max_line
    kept = first["CallerIDName"]
    assert kept == name[: cap - len("CallerIDName: ")]  # cut in characters, never mid-byte
    assert first["Uniqueid"] == "1"
    assert second == {"Event": "Newchannel", "CallerIDName": "王芳", "Uniqueid": "2"}
    assert dec.truncated_lines == 1


def test_gbk_caller_name_is_truncated_in_characters() -> None:
    dec = AmiDecoder(expect_banner=False, limits=AmiLimits(max_line=300))
    raw = b"Event: Newchannel\r\nCallerIDName: " + ("张" * 1000).encode("gbk") + b"\r\n\r\n"
    [msg] = dec.feed(raw)
    assert msg["CallerIDName"] == "张" * (300 - len("CallerIDName: "))
    assert dec.truncated_lines == 1


_LIMITS = AmiLimits(max_message=300, max_lines=8, max_line=40)
_LINE = st.sampled_from([b"Event: E", b"Key: v", b"Variable: a=1", b"junk", b"", b"\xff\xfe",
                         b"CallerIDName: " + b"n" * 60, b"A: " + b"z" * 200])


@given(st.lists(st.lists(_LINE, max_size=20), max_size=8),
       st.lists(st.integers(min_value=1, max_value=97), min_size=1, max_size=20))
def test_limits_do_not_depend_on_how_the_stream_is_cut(
    messages: list[list[bytes]], cuts: list[int]
) -> None:
    data = b"".join(b"\r\n".join(lines) + b"\r\n\r\n" for lines in messages)
    whole = AmiDecoder(expect_banner=False, limits=_LIMITS)
    expected = whole.feed(data)
    pieces = AmiDecoder(expect_banner=False, limits=_LIMITS)
    got: list[dict[str, str]] = []
    i = 0
    for n in cuts * (len(data) // max(sum(cuts), 1) + 1):
        got += pieces.feed(data[i : i + n])
        i += n
    got += pieces.feed(data[i:])
    assert got == expected
    for name in ("dropped_messages", "dropped_bytes", "dropped_lines", "truncated_lines",
                 "malformed_lines"):
        assert getattr(pieces, name) == getattr(whole, name), name
    assert all(len(line) <= _LIMITS.max_line for m in got for v in m.values()
               for line in v.split("\n"))
    assert all(len(m) <= _LIMITS.max_lines for m in got)


def test_encode_action_refuses_header_injection() -> None:
    with pytest.raises(ValueError):
        encode_action("Originate", {"CallerID": '"x"\r\nAction: Hangup'})
    data = encode_action("Originate", {"Variable": ["A=1", "B=2"]}, action_id="7")
    assert data == b"Action: Originate\r\nActionID: 7\r\nVariable: A=1\r\nVariable: B=2\r\n\r\n"


def test_originate_response_is_an_event() -> None:
    msg = {"Event": "OriginateResponse", "Response": "Success"}
    assert is_event(msg)


@given(st.binary(max_size=2000), st.integers(min_value=1, max_value=64))
def test_never_raises_on_any_bytes(data: bytes, step: int) -> None:
    dec = AmiDecoder()
    for i in range(0, len(data), step):
        for msg in dec.feed(data[i : i + step]):
            assert isinstance(msg, dict)
