"""Caps on what FastAGI peers may hold, sans-I/O: the limits, who may open a session,
and how often a refusal is logged.

Why: one peer sending an endless header grew the server by 280 MB, and 990 silent
connections held a descriptor each for two minutes (issue 13). Every cap refuses by
closing the connection: Asterisk's AGI() then returns and the dialplan queues the
caller without the IVR (deploy/asterisk/extensions.conf, "FAIL OPEN").

Rules:
- pure: no sockets, no clocks (the caller passes ``now``), no logging;
- a session is admitted against both caps at once, and released exactly once;
- a flood of refusals gives one log line per kind per ``interval``, carrying the
  count of those held back, so the log cannot itself be flooded.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from ivr.agi_protocol import MAX_HEADER_BYTES, MAX_HEADER_LINES, MAX_LINE

REFUSED_SESSIONS = "sessions"
REFUSED_PEER_SESSIONS = "peer_sessions"


@dataclass(frozen=True, slots=True, kw_only=True)
class AgiLimits:
    """The FastAGI server's caps (``HOTLINE_AGI_*`` settings, see hotline/settings.py)."""

    header_timeout: float = 5.0
    """seconds from the connection to the end of the header"""
    max_header_bytes: int = MAX_HEADER_BYTES
    max_header_lines: int = MAX_HEADER_LINES
    max_line: int = MAX_LINE
    """bytes in one line (header or reply): a longer line is dropped and counted"""
    max_sessions: int = 2000
    """connections open at once, header or not, from all peers"""
    max_sessions_per_peer: int = 1000
    """connections open at once from one address (one Asterisk is one peer)"""


DEFAULT_LIMITS = AgiLimits()


class SessionLimiter:
    """Which connection may open a session: at most ``max_sessions`` in all and
    ``max_per_peer`` from one address."""

    def __init__(self, max_sessions: int, max_per_peer: int) -> None:
        self.max_sessions = max_sessions
        self.max_per_peer = max_per_peer
        self._open: Counter[str] = Counter()
        self._total = 0

    @property
    def total(self) -> int:
        return self._total

    def open_from(self, peer: str) -> int:
        return self._open[peer]

    def admit(self, peer: str) -> str | None:
        """Count the session in and return None, or refuse it: the cap it hit."""
        if self._total >= self.max_sessions:
            return REFUSED_SESSIONS
        if self._open[peer] >= self.max_per_peer:
            return REFUSED_PEER_SESSIONS
        self._open[peer] += 1
        self._total += 1
        return None

    def release(self, peer: str) -> None:
        """An admitted session ended."""
        if self._open[peer] <= 1:
            del self._open[peer]  # no entry left behind per address ever seen
        else:
            self._open[peer] -= 1
        self._total -= 1


class LogThrottle:
    """At most one log line per kind per ``interval`` seconds."""

    def __init__(self, interval: float = 10.0) -> None:
        self.interval = interval
        self._next: dict[str, float] = {}
        self._held: Counter[str] = Counter()

    def allow(self, kind: str, now: float) -> int | None:
        """None: hold this line back (it is counted); else log it, with this many
        lines of the same kind held back since the last one."""
        if now < self._next.get(kind, float("-inf")):
            self._held[kind] += 1
            return None
        self._next[kind] = now + self.interval
        return self._held.pop(kind, 0)
