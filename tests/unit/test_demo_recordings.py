"""The demo's stand-in recordings: one second of silence for any name a call record
can hold, 404 for anything else (``hotline.demo``)."""

from __future__ import annotations

import io
import wave

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from hotline.demo import DEMO_RECORDINGS, demo_recording, silent_wav


def test_silent_wav_is_a_wav_of_silence() -> None:
    with wave.open(io.BytesIO(silent_wav()), "rb") as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 8000)
        frames = w.readframes(w.getnframes())
    assert w.getnframes() == 8000 and set(frames) == {0}


@pytest.mark.parametrize(("path", "status"), [
    ("2026/11/25/1795478331.182.wav", 200),
    ("2026/11/25/1795478331.182.mp3", 404),
    ("2026/../../etc/passwd.wav", 404),
    ("a%20b.wav", 404),
])
async def test_demo_serves_silence_for_recording_names_only(path: str, status: int) -> None:
    app = web.Application()
    app.router.add_get(DEMO_RECORDINGS + "{name:.+}", demo_recording)
    async with TestClient(TestServer(app)) as client:
        resp = await client.get(DEMO_RECORDINGS + path)
        assert resp.status == status
        if status == 200:
            assert resp.content_type == "audio/wav"
            assert await resp.read() == silent_wav()
