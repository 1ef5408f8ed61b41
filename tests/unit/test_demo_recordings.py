"""The demo's stand-in recordings are one second of silence (``hotline.demo``); who may
hear them is ``tests/integration/test_recording_files.py``'s."""

from __future__ import annotations

import io
import wave

from hotline.demo import demo_audio, silent_wav


def test_silent_wav_is_a_wav_of_silence() -> None:
    with wave.open(io.BytesIO(silent_wav()), "rb") as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 8000)
        frames = w.readframes(w.getnframes())
    assert w.getnframes() == 8000 and set(frames) == {0}


async def test_every_demo_recording_is_that_silence() -> None:
    assert await demo_audio("2026/11/25/1795478331.182.wav") == silent_wav()
