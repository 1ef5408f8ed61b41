"""``hotline replay FILE.ami [--json] [--events]``: what the call tracker makes of a
raw AMI capture.

Rules:
- the capture is loaded with :func:`telephony.capture.load_capture` (TCP chunks
  and receipt times from the sibling ``.timeline.tsv``) and fed into a
  :class:`telephony.tracker.CallTracker` whose clock returns the receipt time
  of the message being fed, so the output is the same on every run;
- stdout gets one JSON object per line (``ensure_ascii=False``): by default one
  ``CallSummary.to_dict()`` per finished call, with ``--events`` every domain
  event (``DomainEvent.to_dict()``, which has a ``type`` key);
- calls still open at the end of the file are not printed; each is named on
  stderr (``open at end of capture: <linkedid> (<state>)``);
- a missing or unreadable file: a message on stderr and exit status 2.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TextIO

from telephony.capture import load_capture
from telephony.events import CallEnded, DomainEvent
from telephony.tracker import CallTracker


class _ReplayClock:
    """The tracker's clock: the receipt time of the message being fed."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _line(event: DomainEvent, events: bool) -> str | None:
    if events:
        return json.dumps(event.to_dict(), ensure_ascii=False)
    if isinstance(event, CallEnded):
        return json.dumps(event.summary.to_dict(), ensure_ascii=False)
    return None


def replay_lines(path: Path, *, events: bool = False) -> tuple[list[str], CallTracker]:
    """The JSON lines ``run`` prints for ``path``, and the tracker after the replay."""
    clock = _ReplayClock()
    tracker = CallTracker(clock=clock)
    lines: list[str] = []
    for at, msg in load_capture(path):
        clock.now = at
        for event in tracker.feed(msg):
            line = _line(event, events)
            if line is not None:
                lines.append(line)
    return lines, tracker


def run(path: str, *, events: bool = False, out: TextIO | None = None,
        err: TextIO | None = None) -> int:
    """Print the capture's call summaries (or all domain events); 0 ok, 2 bad file."""
    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    file = Path(path)
    if not file.is_file():
        print(f"hotline replay: no such capture file: {path}", file=err)
        return 2
    try:
        lines, tracker = replay_lines(file, events=events)
    except OSError as exc:
        print(f"hotline replay: cannot read {path}: {exc.strerror or exc}", file=err)
        return 2
    try:
        for line in lines:
            out.write(line + "\n")
        out.flush()
    except BrokenPipeError:  # `hotline replay x.ami | head` is fine
        return 0
    for call in tracker.live_calls():
        print(f"open at end of capture: {call['linkedid']} ({call['state']})", file=err)
    return 0
