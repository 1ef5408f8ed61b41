"""Recording links (agent_console.recordings): base URL + a safe, URL-quoted file name."""

from __future__ import annotations

import pytest

from agent_console.recordings import recording_url, with_recording_urls


def test_link_is_the_base_and_the_file_name() -> None:
    assert recording_url("/recordings/", "2026/11/25/1.2.wav") == "/recordings/2026/11/25/1.2.wav"
    assert recording_url("/recordings", "2026/11/25/1.2.wav") == "/recordings/2026/11/25/1.2.wav"
    assert recording_url("https://pbx/rec/", "a-b_c.wav") == "https://pbx/rec/a-b_c.wav"


@pytest.mark.parametrize("name", [None, "", "../x.wav", "/etc/passwd", "a//b.wav", "a b.wav",
                                  "a\x00b", "<b>.wav", 42, "x" * 500])
def test_no_link_for_a_missing_or_unsafe_name(name: object) -> None:
    assert recording_url("/recordings/", name) is None


def test_no_link_without_a_base_url() -> None:
    assert recording_url("", "2026/11/25/1.2.wav") is None


def test_every_call_of_a_view_gets_its_url() -> None:
    view = {"found": True, "calls": [{"linkedid": "1", "recording": "a.wav"}, {"linkedid": "2"}]}
    out = with_recording_urls(view, "/r/")
    assert [c["recording_url"] for c in out["calls"]] == ["/r/a.wav", None]
    assert "recording_url" not in view["calls"][0]  # the input is left alone
    assert with_recording_urls({"found": False}, "/r/") == {"found": False}
