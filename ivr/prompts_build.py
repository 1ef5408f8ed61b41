"""``hotline prompts build``: the bilingual prompt catalogue rendered to sound files.

For a site with no recordings yet: every text of ``CATALOGUE`` is spoken by espeak-ng
(Debian package ``espeak-ng``) and written where Asterisk plays it from. The catalogue is
``ivr.default_flow.PROMPTS`` (what every flow, built-in or stored, takes its prompts
from) and ``ivr.speech.SAY_PROMPTS``, the words numbers, digits, dates and amounts are
spoken with (零 一 ... 十 百 千 万 亿 年 月 日 元 角 分; zero ... nineteen, twenty ...,
hundred, thousand, million, the months, first ... thirty-first, yuan, cents): the IVR
never uses Asterisk's own ``SAY`` sounds, which have no Chinese. A word one language does
not use has no file in it.

Layout: ``<out>/<lang>/<prompt_id>.wav``, 8 kHz, 16-bit, mono PCM: Asterisk's ``wav``
format, the telephone rate (no transcoding at play time). With ``--out
/var/lib/asterisk/sounds/hotline`` the files are ``sounds/hotline/zh/welcome.wav``..., which
is what the IVR plays (``STREAM FILE hotline/<lang>/<prompt_id>``, a name relative to
Asterisk's sounds directory; see deploy/README.md).

Rules:
- idempotent: ``<out>/manifest.json`` keeps, per file, a hash of what made it (text, voice,
  speed, rate, this module's render version); an unchanged prompt whose file is still
  there is skipped, so a rerun after editing one text renders that one file;
- one progress line per prompt (rendered / unchanged / failed);
- the silence before and after the voice is cut (``trim_silence``): values are spoken
  as a row of word files;
- espeak-ng writes 22.05 kHz; the resampler here (windowed-sinc low-pass at 3.4 kHz, the
  telephone band, then 8 kHz) is plain Python: no audioop (gone in Python 3.13), no sox;
- pure parts (catalogue walk, hashing, WAV decoding/encoding, resampling) are separate from
  the I/O (the espeak-ng process, the files); a missing espeak-ng is a clear error
  (``PromptsBuildError``) before anything is written.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import shutil
import struct
import subprocess
import tempfile
from array import array
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from operator import mul
from pathlib import Path
from typing import Any

from ivr.default_flow import PROMPTS
from ivr.speech import SAY_PROMPTS

RATE = 8000  # Hz: what Asterisk's "wav" format is (and the telephone network carries)
CUTOFF_HZ = 3400.0  # top of the telephone band; keeps the 8 kHz result free of aliasing
TAPS = 64  # low-pass filter length (input samples), Blackman window
PEAK = 0.7  # normalise every prompt to the same loudness: peak at -3 dBFS
RENDER_VERSION = 2  # bump when the rendering changes: every file is made again
SILENCE_FLOOR = 0.02  # of the peak: below it, the start and end of a prompt are silence
KEEP_S = 0.05  # silence kept each side of the voice (words in a row still sound apart)
VOICES: dict[str, tuple[str, int]] = {
    # lang: (espeak-ng voice, words per minute). "cmn" reads the characters' pinyin as
    # English in the Debian build; "cmn-latn-pinyin" speaks them as Mandarin.
    "zh": ("cmn-latn-pinyin", 150),
    "en": ("en-us", 150),
}
LANGS = tuple(VOICES)
CATALOGUE: dict[str, dict[str, str]] = {**PROMPTS, **SAY_PROMPTS}
"""Everything the IVR plays: the flows' prompts and the words values are spoken with."""
MANIFEST = "manifest.json"


class PromptsBuildError(Exception):
    """The build cannot run (espeak-ng missing, an unusable output folder)."""


@dataclass(frozen=True)
class Job:
    """One sound file to make."""

    prompt_id: str
    lang: str
    text: str
    voice: str
    speed: int

    @property
    def key(self) -> str:
        return f"{self.lang}/{self.prompt_id}"

    @property
    def fingerprint(self) -> str:
        """What the file depends on; a change in any of these renders it again."""
        blob = json.dumps([self.text, self.voice, self.speed, RATE, RENDER_VERSION],
                          ensure_ascii=False)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Result:
    job: Job
    status: str  # rendered | unchanged | failed
    seconds: float = 0.0
    error: str = ""


# ---------------------------------------------------------------------------- pure: planning
def plan(prompts: Mapping[str, Mapping[str, str]], langs: Sequence[str]) -> list[Job]:
    """Every (prompt, language) with a text, in catalogue order; ids that are not plain
    file names are left out (they could not be played anyway)."""
    jobs: list[Job] = []
    for prompt_id, texts in prompts.items():
        if not _file_name(prompt_id):
            continue
        for lang in langs:
            text = (texts.get(lang) or "").strip()
            if text and lang in VOICES:
                voice, speed = VOICES[lang]
                jobs.append(Job(prompt_id, lang, text, voice, speed))
    return jobs


def missing_prompts(flow_prompts: Mapping[str, Iterable[str]],
                    prompts: Mapping[str, Mapping[str, str]],
                    langs: Sequence[str]) -> list[str]:
    """``flow: prompt/lang`` for every prompt a stored flow uses without a text to speak."""
    out = []
    for flow, ids in sorted(flow_prompts.items()):
        for prompt_id in sorted(set(ids)):
            for lang in langs:
                if not (prompts.get(prompt_id, {}).get(lang) or "").strip():
                    out.append(f"{flow}: {prompt_id}/{lang}")
    return out


def _file_name(prompt_id: str) -> bool:
    return bool(prompt_id) and all(c.isascii() and (c.isalnum() or c in "_.-")
                                   for c in prompt_id) and not prompt_id.startswith(".")


# ------------------------------------------------------------------------ pure: audio
def decode_wav(data: bytes) -> tuple[int, array[int]]:
    """(rate, 16-bit mono samples) of a PCM WAV. espeak-ng's ``--stdout`` header carries
    placeholder sizes (it streams), so the data chunk runs to the end of the bytes."""
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ValueError("not a WAV file")
    pos, rate, fmt_ok = 12, 0, False
    while pos + 8 <= len(data):
        chunk, size = data[pos:pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        body = pos + 8
        if chunk == b"fmt ":
            tag, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", data, body)
            if tag != 1 or channels != 1 or bits != 16:
                raise ValueError(f"need 16-bit mono PCM, got tag {tag}, {channels} "
                                 f"channel(s), {bits} bits")
            fmt_ok = True
        elif chunk == b"data":
            if not fmt_ok:
                raise ValueError("WAV data before its format")
            end = min(len(data), body + size)
            end -= (end - body) % 2
            samples = array("h")
            samples.frombytes(data[body:end])
            if struct.pack("=H", 1) != struct.pack("<H", 1):  # big-endian host
                samples.byteswap()
            return rate, samples
        pos = body + size + (size & 1)
    raise ValueError("WAV without a data chunk")


def encode_wav(samples: array[int], rate: int = RATE) -> bytes:
    """A canonical 44-byte-header PCM WAV, 16-bit mono."""
    pcm = array("h", samples)
    if struct.pack("=H", 1) != struct.pack("<H", 1):
        pcm.byteswap()
    body = pcm.tobytes()
    header = struct.pack("<4sI4s4sIHHIIHH4sI", b"RIFF", 36 + len(body), b"WAVE", b"fmt ", 16,
                         1, 1, rate, rate * 2, 2, 16, b"data", len(body))
    return header + body


@lru_cache(maxsize=8)
def _phases(src: int, dst: int, taps: int, cutoff: float) -> tuple[int, int, list[list[float]]]:
    """Polyphase windowed-sinc coefficients: (up, down, one filter per output phase)."""
    g = math.gcd(src, dst)
    up, down = dst // g, src // g
    fc = cutoff / src  # cycles per input sample
    half = taps // 2
    filters = []
    for phase in range(up):
        frac = phase / up  # where the output sample falls between two input samples
        coeffs = []
        for k in range(taps):
            x = k - half + 1 - frac  # distance from the output instant, in input samples
            sinc = 2 * fc if x == 0 else math.sin(2 * math.pi * fc * x) / (math.pi * x)
            w = (k + 1 - frac) / taps  # Blackman over the filter span
            window = 0.42 - 0.5 * math.cos(2 * math.pi * w) + 0.08 * math.cos(4 * math.pi * w)
            coeffs.append(sinc * window)
        gain = sum(coeffs)
        filters.append([c / gain for c in coeffs])
    return up, down, filters


def resample(samples: Sequence[int], src: int, dst: int = RATE, *, taps: int = TAPS,
             cutoff: float = CUTOFF_HZ) -> list[float]:
    """Band-limit to ``cutoff`` and resample ``src`` Hz -> ``dst`` Hz (rational ratio)."""
    if src == dst:
        return [float(s) for s in samples]
    up, down, filters = _phases(src, dst, taps, min(cutoff, dst / 2 * 0.95, src / 2 * 0.95))
    half = taps // 2
    padded = [0.0] * half + [float(s) for s in samples] + [0.0] * taps
    out: list[float] = []
    n_out = len(samples) * up // down
    for n in range(n_out):
        pos = n * down
        i, phase = divmod(pos, up)  # input index at or before the output instant
        window = padded[i + 1:i + 1 + taps]
        out.append(sum(map(mul, filters[phase], window)))
    return out


def trim_silence(signal: Sequence[float], rate: int = RATE, *, floor: float = SILENCE_FLOOR,
                 keep_s: float = KEEP_S) -> list[float]:
    """Cut the silence espeak-ng puts before and after the voice (about half a second),
    keeping ``keep_s`` each side: a number or a date is a dozen word files in a row, and
    the gaps would make it crawl. Silence is below ``floor`` of the loudest sample."""
    loudest = max((abs(s) for s in signal), default=0.0)
    if loudest <= 0:
        return list(signal)
    voiced = [i for i, s in enumerate(signal) if abs(s) >= floor * loudest]
    keep = int(keep_s * rate)
    return list(signal[max(0, voiced[0] - keep):voiced[-1] + 1 + keep])


def to_pcm16(signal: Sequence[float], peak: float = PEAK) -> array[int]:
    """Scale so the loudest sample sits at ``peak`` of full scale (silence stays silence)."""
    loudest = max((abs(s) for s in signal), default=0.0)
    scale = peak * 32767 / loudest if loudest > 0 else 0.0
    return array("h", (max(-32768, min(32767, round(s * scale))) for s in signal))


def rms(samples: Sequence[int]) -> float:
    return math.sqrt(sum(s * s for s in samples) / len(samples)) if samples else 0.0


# ------------------------------------------------------------------------------------- I/O
def espeak_path() -> str:
    found = shutil.which("espeak-ng")
    if found is None:
        raise PromptsBuildError(
            "espeak-ng is not installed: it speaks the prompts. On Debian: "
            "apt-get install espeak-ng")
    return found


def speak(job: Job, espeak: str) -> bytes:
    """espeak-ng's WAV for one text (the text goes in on stdin: never read as an option)."""
    done = subprocess.run(
        [espeak, "-b", "1", "-v", job.voice, "-s", str(job.speed), "--stdout"],
        input=job.text.encode("utf-8"), capture_output=True, timeout=120, check=False)
    if done.returncode != 0 or not done.stdout:
        raise RuntimeError(f"espeak-ng failed ({done.returncode}): "
                           f"{done.stderr.decode('utf-8', 'replace').strip()}")
    return done.stdout


def render(job: Job, espeak: str) -> bytes:
    rate, samples = decode_wav(speak(job, espeak))
    return encode_wav(to_pcm16(trim_silence(resample(samples, rate, RATE))))


def _load_manifest(out: Path) -> dict[str, Any]:
    try:
        data = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    files = data.get("files") if isinstance(data, dict) else None
    return files if isinstance(files, dict) else {}


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)  # Asterisk runs as another user: it must read them
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def build(out: Path, langs: Sequence[str], *,
          prompts: Mapping[str, Mapping[str, str]] = CATALOGUE,
          force: bool = False, progress: Callable[[str], None] = print,
          render_job: Callable[[Job, str], bytes] = render) -> list[Result]:
    """Render every prompt of ``prompts`` in ``langs`` under ``out`` (module docstring)."""
    espeak = espeak_path()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PromptsBuildError(f"cannot create {out}: {exc}") from exc
    manifest = _load_manifest(out)
    jobs = plan(prompts, langs)
    results: list[Result] = []
    width = len(str(len(jobs)))
    for n, job in enumerate(jobs, 1):
        path = out / job.lang / f"{job.prompt_id}.wav"
        entry = manifest.get(job.key)
        if not isinstance(entry, dict):
            entry = {}
        if entry.get("hash") == job.fingerprint and path.is_file() and not force:
            result = Result(job, "unchanged", _float(entry.get("seconds")))
        else:
            try:
                wav = render_job(job, espeak)
                _write_atomic(path, wav)
            except (OSError, RuntimeError, ValueError, subprocess.SubprocessError) as exc:
                result = Result(job, "failed", error=str(exc))
            else:
                seconds = (len(wav) - 44) / 2 / RATE
                manifest[job.key] = {"hash": job.fingerprint, "text": job.text,
                                     "voice": job.voice, "seconds": round(seconds, 2)}
                result = Result(job, "rendered", seconds)
        results.append(result)
        detail = f"{result.seconds:4.1f} s" if result.status != "failed" else result.error
        progress(f"[{n:>{width}}/{len(jobs)}] {job.key:<32} {result.status:<9} {detail}")
        if result.status == "rendered":  # a crash later keeps what is done
            _save_manifest(out, manifest)
    _save_manifest(out, manifest)
    return results


def _float(value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0.0


def _save_manifest(out: Path, manifest: Mapping[str, Any]) -> None:
    doc = {"format": f"wav {RATE} Hz 16-bit mono", "layout": "<lang>/<prompt_id>.wav",
           "files": dict(sorted(manifest.items()))}
    _write_atomic(out / MANIFEST, json.dumps(doc, ensure_ascii=False, indent=1).encode())


async def stored_flow_prompts(database_url: str) -> dict[str, set[str]]:
    """The prompt ids of the newest version of every flow stored in the database."""
    from sqlalchemy import func, select

    from crm_core.db import make_engine
    from crm_core.models import IvrFlow
    from ivr.flow import FlowError, parse_flow

    engine = make_engine(database_url)
    try:
        async with engine.connect() as conn:
            newest = select(IvrFlow.name, func.max(IvrFlow.version)).group_by(IvrFlow.name)
            latest = {name: version for name, version in await conn.execute(newest)}
            rows = await conn.execute(select(IvrFlow.name, IvrFlow.version, IvrFlow.document))
            found: dict[str, set[str]] = {}
            for name, version, document in rows:
                if latest.get(name) != version:
                    continue
                try:
                    found[name] = parse_flow(document).prompt_ids()
                except FlowError:
                    found[name] = set()  # the runtime runs the default flow instead
            return found
    finally:
        await engine.dispose()


def run(out: str, lang: str, *, database_url: str | None, force: bool = False,
        echo: Callable[[str], None] = print) -> int:
    """The command line: exit 0 when every file is there, 1 when some failed, 2 when the
    build could not run."""
    import asyncio

    from sqlalchemy.engine import make_url

    langs = LANGS if lang == "all" else (lang,)
    if database_url:
        try:
            url = make_url(database_url)
            if url.get_backend_name() == "sqlite" and not Path(url.database or "").is_file():
                raise FileNotFoundError(url.database)  # never create a database here
            flows = asyncio.run(stored_flow_prompts(database_url))
        except Exception as exc:  # no database yet, not migrated: the catalogue is enough
            echo(f"flows in the database not read ({type(exc).__name__}): "
                 "building the whole prompt catalogue")
        else:
            echo(f"flows in the database: {len(flows)} "
                 f"({', '.join(sorted(flows)) or 'none'}); every prompt comes from the "
                 "catalogue")
            for problem in missing_prompts(flows, PROMPTS, langs):
                echo(f"no text to speak for {problem}")
    target = Path(out)
    try:
        results = build(target, langs, force=force, progress=echo)
    except PromptsBuildError as exc:
        echo(f"error: {exc}")
        return 2
    counts = {s: sum(1 for r in results if r.status == s)
              for s in ("rendered", "unchanged", "failed")}
    echo(f"{len(results)} prompts in {target} ({', '.join(langs)}; wav {RATE} Hz 16-bit "
         f"mono): {counts['rendered']} rendered, {counts['unchanged']} unchanged, "
         f"{counts['failed']} failed")
    return 1 if counts["failed"] else 0
