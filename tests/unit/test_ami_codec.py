"""The sans-I/O AMI codec on real captures and on hostile bytes."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from telephony.ami_codec import AmiDecoder, decode_all, encode_action, encode_message, is_event
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
    dec = AmiDecoder(expect_banner=False, max_message=1000)
    dec.feed(b"Event: X\r\n" + b"A: b\r\n" * 400)
    assert dec.pending == 0 and dec.dropped_bytes > 1000
    assert dec.feed(b"Event: Y\r\n\r\n") == [{"Event": "Y"}]


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
