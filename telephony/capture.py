"""Load a raw AMI capture (``NN-name.ami``) as timed messages, the way a live
connection would have delivered them.

Rules:
- the ``.ami`` file holds the bytes exactly as received (first line = banner);
  they are decoded with :class:`telephony.ami_codec.AmiDecoder`, fed in the
  very chunks the sibling ``NN-name.timeline.tsv`` lists (``t_s dir offset
  length``, only ``dir == rx``), so TCP splitting is reproduced;
- each message gets the receipt time of the read that completed it, as an
  absolute epoch: ``base + t_s``. The base wall-clock time comes from the
  capture itself, best source first: an ``EventTV`` (ms precision, explicit
  UTC offset, e.g. SuccessfulAuth), the epoch seconds of the first
  ``Newchannel`` Uniqueid, the first CEL ``EventTime`` / Cdr ``StartTime``
  (local time of the recording machine, which was UTC), else the file's mtime;
- without a timeline the whole file is decoded at once and every message gets
  the base time; bytes the timeline does not cover are fed last;
- the banner message is skipped; nothing here raises on odd content (only a
  missing/unreadable file raises ``OSError``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from telephony.ami_codec import BANNER_KEY, AmiDecoder

log = logging.getLogger("telephony.capture")

Timed = tuple[float, dict[str, str]]


def timeline_path(path: Path) -> Path:
    """``NN-name.ami`` -> ``NN-name.timeline.tsv``."""
    return path.with_name(path.name.removesuffix(".ami") + ".timeline.tsv")


def _read_timeline(path: Path) -> list[tuple[float, int, int]]:
    """``(t_s, offset, length)`` of every rx read; empty when there is no usable file."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    reads: list[tuple[float, int, int]] = []
    for line in text.splitlines():
        cols = line.split("\t")
        if len(cols) < 4 or cols[1].strip() != "rx":
            continue
        try:
            reads.append((float(cols[0]), int(cols[2]), int(cols[3])))
        except ValueError:
            continue  # header or garbage line
    return reads


def _chunks(data: bytes, reads: list[tuple[float, int, int]]) -> Iterator[tuple[float, bytes]]:
    pos = 0
    t = 0.0
    for t, offset, length in sorted(reads, key=lambda r: r[1]):
        if offset > pos:  # a gap the timeline does not describe: deliver it now
            yield t, data[pos:offset]
        end = max(pos, offset + length)
        if end > pos:
            yield t, data[max(pos, offset) : end]
        pos = end
    if pos < len(data):
        yield t, data[pos:]


def _parse_eventtv(value: str) -> float | None:
    # 2026-11-23T23:58:50.992+0000
    try:
        return datetime.strptime(value.strip(), "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()
    except ValueError:
        return None


def _parse_local(value: str) -> float | None:
    # CEL EventTime / Cdr StartTime: "2026-11-23 23:58:51", local time = UTC on the recorder
    try:
        naive = datetime.strptime(value.strip()[:19], "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return None
    return naive.replace(tzinfo=UTC).timestamp()


def _uniqueid_epoch(value: str) -> float | None:
    head = value.split(".", 1)[0]
    if not head.isdigit():
        return None
    # Uniqueid seconds are truncated: the channel was made within that second
    return float(head) + 0.5


def _wall_clock(msg: dict[str, str]) -> tuple[int, float] | None:
    """(rank, epoch) of the wall clock a message carries; lower rank = more precise."""
    if "EventTV" in msg:
        tv = _parse_eventtv(msg["EventTV"])
        if tv is not None:
            return 0, tv
    event = msg.get("Event")
    if event == "Newchannel":
        epoch = _uniqueid_epoch(msg.get("Uniqueid", ""))
        if epoch is not None:
            return 1, epoch
    elif event in ("CEL", "Cdr"):
        stamp = _parse_local(msg.get("EventTime") or msg.get("StartTime") or "")
        if stamp is not None:
            return 2, stamp
    return None


def _base_time(timed: list[tuple[float, dict[str, str]]], fallback: float) -> float:
    """Epoch of t_s == 0, from the best first wall clock any message carries."""
    best: tuple[int, float] | None = None
    for t, msg in timed:
        found = _wall_clock(msg)
        if found is not None and (best is None or found[0] < best[0]):
            best = (found[0], found[1] - t)
            if best[0] == 0:
                break
    return fallback if best is None else best[1]


def load_capture(path: Path) -> list[tuple[float, dict[str, str]]]:
    """Every message of the capture with its absolute receipt time (epoch seconds)."""
    path = Path(path)
    data = path.read_bytes()
    decoder = AmiDecoder()
    timed: list[tuple[float, dict[str, str]]] = []
    reads = _read_timeline(timeline_path(path))
    if reads:
        for t, chunk in _chunks(data, reads):
            timed.extend((t, m) for m in decoder.feed(chunk))
    else:
        timed.extend((0.0, m) for m in decoder.feed(data))
    timed = [(t, m) for t, m in timed if BANNER_KEY not in m]
    if decoder.malformed_lines:
        log.debug("%s: %d malformed lines skipped", path.name, decoder.malformed_lines)
    try:
        fallback = path.stat().st_mtime
    except OSError:
        fallback = 0.0
    base = _base_time(timed, fallback)
    return [(base + t, m) for t, m in timed]
