"""AMI decoder benchmark (issue 13, item 8): the sans-I/O ``telephony.ami_codec.AmiDecoder``
on ordinary traffic and on the hostile inputs that were quadratic.

Inputs, each fed to a fresh decoder in the pieces a socket would deliver:
- ``captures``: every real Asterisk capture in ../shared/asterisk, concatenated
  --repeat times, in 64 KB reads (the AMI client's read size): ordinary traffic;
- ``variables``: one message of 75,000 ``Variable: a`` lines (975 KB), in 64 KB reads;
- ``unterminated``: a 10 MB message that never ends, in 1 KB reads (a slow sender),
  then one ordinary event, which must still come out;
- ``caller_names``: 200 Newchannel events, each with a 500 KB caller name, in 64 KB reads.

For each: the CPU time, the messages out, and the decoder's counters (bytes scanned for
the terminator, messages and bytes dropped, lines cut or dropped) where it has them;
for ``caller_names``, the characters of caller name the messages still hold.

Last line: ``ami_decode_mb_per_s=<captures, MB/s> variables_s=<s> unterminated_s=<s>
caller_names_s=<s> caller_name_chars=<N>``.

Usage: python benchmarks/ami_decoder.py [--repeat 20]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from telephony.ami_codec import AmiDecoder, Message  # noqa: E402
from tests.shared import CAPTURES  # noqa: E402

COUNTERS = ("scanned_bytes", "dropped_messages", "dropped_bytes", "truncated_lines",
            "dropped_lines", "malformed_lines")


@dataclass
class Result:
    name: str
    size: int
    cpu_s: float
    messages: list[Message]
    counters: dict[str, int]


def pieces(data: bytes, size: int) -> Iterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


def run(name: str, data: bytes, piece: int, *, banner: bool = False) -> Result:
    decoder = AmiDecoder(expect_banner=banner)
    out: list[Message] = []
    t0 = time.process_time()
    for chunk in pieces(data, piece):
        out.extend(decoder.feed(chunk))
    cpu = time.process_time() - t0
    counters = {k: getattr(decoder, k) for k in COUNTERS if hasattr(decoder, k)}
    return Result(name, len(data), cpu, out, counters)


def captures(repeat: int) -> bytes:
    raw = sorted(p for p in CAPTURES.glob("*.ami") if not p.name.endswith(".sent.ami"))
    # each capture starts with its banner line: keep it out, the stream has none
    bodies = [p.read_bytes().split(b"\r\n", 1)[1] for p in raw]
    return b"".join(bodies) * repeat


def variables() -> bytes:
    return b"Event: VarSet\r\n" + b"Variable: a\r\n" * 75_000 + b"\r\n"


def unterminated() -> bytes:
    return b"Event: Flood\r\n" + b"X" * 10_000_000 + b"\r\n\r\nEvent: After\r\n\r\n"


def caller_names() -> bytes:
    name = "王" * (500_000 // 3)  # 500 KB of UTF-8
    events = [f"Event: Newchannel\r\nUniqueid: {i}\r\nCallerIDName: {name}\r\n\r\n"
              for i in range(200)]
    return "".join(events).encode("utf-8")


def report(result: Result) -> None:
    counters = " ".join(f"{k}={v}" for k, v in result.counters.items())
    print(f"{result.name:13s} {result.size / 1e6:7.2f} MB  {result.cpu_s:7.3f} s CPU  "
          f"{len(result.messages):6d} messages  {counters}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--repeat", type=int, default=20, help="copies of the captures")
    args = ap.parse_args()

    normal = run("captures", captures(args.repeat), 65536)
    report(normal)
    var = run("variables", variables(), 65536)
    report(var)
    values = [len(m.get("Variable", "").split("\n")) for m in var.messages]
    print(f"  Variable values kept: {values}")
    flood = run("unterminated", unterminated(), 1024)
    report(flood)
    print(f"  events out: {[m.get('Event') for m in flood.messages]}")
    names = run("caller_names", caller_names(), 65536)
    report(names)
    kept = sum(len(m.get("CallerIDName", "")) for m in names.messages)
    print(f"  caller name characters kept: {kept:,} in {len(names.messages)} events")
    print(f"ami_decode_mb_per_s={normal.size / 1e6 / max(normal.cpu_s, 1e-9):.1f} "
          f"variables_s={var.cpu_s:.3f} unterminated_s={flood.cpu_s:.3f} "
          f"caller_names_s={names.cpu_s:.3f} caller_name_chars={kept}")


if __name__ == "__main__":
    main()
