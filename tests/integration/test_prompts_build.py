"""``hotline prompts build`` for real: espeak-ng speaks the catalogue, the files are the
8 kHz 16-bit mono WAV Asterisk plays, a rerun renders only what changed, and a machine
without espeak-ng gets a clear error.

Needs the Debian package espeak-ng (installed by .ci/run); without it these tests FAIL,
they never skip: the build is a deliverable.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import wave
from pathlib import Path

from ivr.default_flow import PROMPTS
from ivr.prompts_build import (
    CATALOGUE,
    RATE,
    VOICES,
    build,
    decode_wav,
    encode_wav,
    missing_prompts,
    plan,
    resample,
    rms,
    trim_silence,
)
from tests.shared import ROOT


def _cli(*args: str, env: dict[str, str] | None = None,
         cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    base = dict(os.environ)
    base.pop("HOTLINE_CONFIG", None)
    base.update(env or {})
    return subprocess.run([sys.executable, "-m", "hotline.cli", "prompts", "build", *args],
                          cwd=cwd or ROOT, env=base, capture_output=True, text=True,
                          timeout=600, check=False)


def _check_wav(path: Path) -> float:
    """A valid WAV for Asterisk's ``wav`` format, with speech in it; its length in s."""
    with wave.open(str(path), "rb") as w:  # the stdlib reader accepts it: a valid file
        assert (w.getframerate(), w.getsampwidth(), w.getnchannels()) == (RATE, 2, 1)
        frames = w.getnframes()
    rate, samples = decode_wav(path.read_bytes())
    assert rate == RATE and len(samples) == frames
    assert frames > RATE // 5, f"{path} is shorter than 0.2 s (one syllable)"
    assert rms(samples) > 500, f"{path} is (nearly) silent"
    return frames / RATE


def test_cli_renders_the_chinese_catalogue_and_skips_it_the_second_time(tmp_path: Path) -> None:
    out = tmp_path / "sounds" / "hotline"
    db = tmp_path / "nothing-here.db"
    env = {"HOTLINE_DATABASE_URL": f"sqlite+aiosqlite:///{db}"}
    first = _cli("--out", str(out), "--lang", "zh", env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    zh = [p for p in CATALOGUE if CATALOGUE[p].get("zh")]
    lines = [ln for ln in first.stdout.splitlines() if ln.startswith("[")]
    assert len(lines) == len(zh)  # one progress line per prompt
    assert all(" rendered " in ln for ln in lines)
    assert f"{len(zh)} rendered, 0 unchanged, 0 failed" in first.stdout
    assert not db.exists()  # reading stored flows never creates a database
    for prompt_id in zh:
        _check_wav(out / "zh" / f"{prompt_id}.wav")
    assert not (out / "en").exists()
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["files"]["zh/welcome"]["text"] == PROMPTS["welcome"]["zh"]

    (out / "zh" / "goodbye.wav").unlink()  # a deleted file is made again
    second = _cli("--out", str(out), "--lang", "zh", env=env)
    assert second.returncode == 0, second.stdout + second.stderr
    assert f"1 rendered, {len(zh) - 1} unchanged, 0 failed" in second.stdout
    assert "zh/goodbye" in next(ln for ln in second.stdout.splitlines() if "rendered " in ln)


def test_a_changed_text_renders_that_file_only(tmp_path: Path) -> None:
    prompts = {"welcome": dict(PROMPTS["welcome"]), "goodbye": dict(PROMPTS["goodbye"]),
               "transfer": dict(PROMPTS["transfer"])}
    lines: list[str] = []
    results = build(tmp_path, ["en", "zh"], prompts=prompts, progress=lines.append)
    assert [r.status for r in results] == ["rendered"] * 6
    before = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*.wav")}
    prompts["goodbye"]["en"] = "Thank you for calling the hotline. Goodbye."
    results = build(tmp_path, ["en", "zh"], prompts=prompts, progress=lines.append)
    assert {r.job.key: r.status for r in results} == {
        "en/welcome": "unchanged", "zh/welcome": "unchanged", "en/goodbye": "rendered",
        "zh/goodbye": "unchanged", "en/transfer": "unchanged", "zh/transfer": "unchanged"}
    after = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*.wav")}
    changed = {p.relative_to(tmp_path).as_posix() for p in after if after[p] != before[p]}
    assert changed == {"en/goodbye.wav"}
    for path in after:
        _check_wav(path)
    assert len(lines) == 12


def test_without_espeak_ng_the_build_says_what_to_install(tmp_path: Path) -> None:
    bare = tmp_path / "bin"
    bare.mkdir()
    done = _cli("--out", str(tmp_path / "out"),
                env={"PATH": str(bare), "HOTLINE_DATABASE_URL": "sqlite+aiosqlite:///x.db"},
                cwd=tmp_path)
    assert done.returncode == 2
    assert "espeak-ng is not installed" in done.stdout
    assert "apt-get install espeak-ng" in done.stdout
    assert not (tmp_path / "out").exists()


def test_chinese_is_spoken_as_mandarin_not_spelt_in_english() -> None:
    """The Debian espeak-ng's ``cmn`` voice reads characters' pinyin as English; the voice
    used must give Mandarin phonemes for every Chinese prompt."""
    espeak = shutil.which("espeak-ng")
    assert espeak is not None, "espeak-ng must be installed (Debian package espeak-ng)"
    voice, _ = VOICES["zh"]
    words = [job for job in plan(CATALOGUE, ["zh"]) if job.prompt_id not in PROMPTS]
    for job in plan(PROMPTS, ["zh"])[:8] + words:  # single characters too: 十, 万, 年
        phonemes = subprocess.run([espeak, "-q", "-x", "-b", "1", "-v", voice],
                                  input=job.text.encode(), capture_output=True,
                                  timeout=60, check=True).stdout.decode()
        assert "(en)" not in phonemes, (job.key, phonemes)


def test_the_words_values_are_spoken_with_are_built_in_each_language() -> None:
    """Numbers, dates and amounts are played from the catalogue's word files (ivr.speech),
    never Asterisk's core sounds: each language gets the words it uses, and only those."""
    keys = {job.key for job in plan(CATALOGUE, ["zh", "en"])}
    for word in ("digit_0", "digit_9", "num_10", "num_100", "num_1000", "unit_yuan",
                 "unit_fen"):
        assert {f"zh/{word}", f"en/{word}"} <= keys
    assert {"zh/num_10000", "zh/num_100000000", "zh/date_year", "zh/date_month",
            "zh/date_day", "zh/unit_jiao"} <= keys
    assert {"en/num_19", "en/num_90", "en/num_1000000", "en/month_12", "en/ordinal_31"} <= keys
    assert "en/num_10000" not in keys and "zh/month_12" not in keys
    assert CATALOGUE["digit_7"] == {"zh": "七", "en": "seven"}


def test_the_silence_around_the_voice_is_cut() -> None:
    voice = [0.0] * 4000 + [1000.0, -800.0] * 800 + [3.0] * 4000
    trimmed = trim_silence(voice, 8000, keep_s=0.05)
    assert len(trimmed) == 400 + 1600 + 400
    assert trimmed[400] == 1000.0 and trimmed[-401] == -800.0
    assert trim_silence([0.0] * 10) == [0.0] * 10  # all silence: left alone


def test_resampler_keeps_the_voice_band_and_stops_aliasing() -> None:
    def tone(freq: float) -> list[int]:
        return [round(8000 * math.sin(2 * math.pi * freq * i / 22050)) for i in range(11025)]

    def level(freq: float) -> float:
        out = resample(tone(freq), 22050, RATE)[400:-400]
        return math.sqrt(sum(s * s for s in out) / len(out)) / (8000 / math.sqrt(2))

    assert 0.97 < level(1000) < 1.03  # speech band: unchanged
    assert 0.97 < level(300) < 1.03
    assert level(6000) < 0.01  # would alias to 2 kHz: filtered out
    assert level(5000) < 0.01
    assert len(resample(tone(1000), 22050, RATE)) == 11025 * 160 // 441


def test_wav_round_trip_and_streamed_headers() -> None:
    from array import array

    samples = array("h", [0, 1000, -1000, 32767, -32768])
    rate, back = decode_wav(encode_wav(samples, RATE))
    assert rate == RATE and list(back) == list(samples)
    streamed = bytearray(encode_wav(samples, 22050))
    streamed[4:8] = b"\xff\xff\xff\x7f"  # espeak-ng --stdout: sizes unknown when streaming
    streamed[40:44] = b"\xff\xff\xff\x7f"
    assert list(decode_wav(bytes(streamed))[1]) == list(samples)


def test_flows_with_prompts_that_have_no_text_are_named() -> None:
    flows = {"default": {"welcome", "goodbye"}, "legacy-printers": {"welcome", "old_menu"}}
    assert missing_prompts(flows, PROMPTS, ["zh", "en"]) == [
        "legacy-printers: old_menu/zh", "legacy-printers: old_menu/en"]
