"""The queue a dialled number gets before the IVR, read the way Asterisk reads it: from
deploy/asterisk's ``[globals]`` (extensions.conf and the ``hotline-numbers.conf`` it
``#include``s).

Why: extensions.conf [from-pstn] sets ``DEFAULT_QUEUE`` to ``HOTLINE_QUEUE_<DID>``, or
``HOTLINE_DEFAULT_QUEUE`` when the number has none, BEFORE the IVR (fail open). The
per-number values are generated from Hotline's number plan (``hotline ivr dialplan``);
the simulator runs the same dialplan, so it takes them from the same file instead of a
rule of its own (it used to send every 800 caller to ``vip``). telephony imports no
``ivr``: it only parses the file. A caller that knows the plan better (the demo, which
seeds its own) passes a :class:`QueueDefaults` of its own.

Rules: pure parsing of ``NAME = value`` lines (``;`` starts a comment), ``#include`` and
``#tryinclude`` followed relative to the including file, only inside ``[globals]``;
a missing shipped folder (Hotline installed without its deploy/ files) gives the
dialplan's own fallback, ``support``, with a warning.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger("telephony.simulator")

DEPLOY_ASTERISK = Path(__file__).resolve().parents[2] / "deploy" / "asterisk"
NUMBER_PREFIX = "HOTLINE_QUEUE_"
DEFAULT_NAME = "HOTLINE_DEFAULT_QUEUE"
FALLBACK_QUEUE = "support"  # extensions.conf's HOTLINE_DEFAULT_QUEUE as shipped


@dataclass(frozen=True)
class QueueDefaults:
    """``HOTLINE_QUEUE_<DID>`` values by number, and ``HOTLINE_DEFAULT_QUEUE``."""

    by_number: Mapping[str, str] = field(default_factory=dict)
    default: str = FALLBACK_QUEUE

    def for_number(self, did: str) -> str:
        """The dialplan's DEFAULT_QUEUE for a call to ``did``."""
        return self.by_number.get(did) or self.default


def parse_globals(path: Path, *, _depth: int = 0) -> dict[str, str]:
    """The ``[globals]`` variables of ``path`` (an included file is all globals)."""
    out: dict[str, str] = {}
    in_globals = _depth > 0
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split(";", 1)[0].strip()
        if not line:
            continue
        if line.startswith("["):
            in_globals = line.startswith("[globals]")
            continue
        if not in_globals:
            continue
        if line.startswith(("#include", "#tryinclude")):
            name = line.split(None, 1)[1].strip().strip('"') if " " in line else ""
            included = path.parent / name
            if name and included.is_file() and _depth < 8:
                out.update(parse_globals(included, _depth=_depth + 1))
            continue
        key, sep, value = line.partition("=")
        if sep:
            out[key.strip()] = value.lstrip(">").strip()
    return out


def queue_defaults(variables: Mapping[str, str]) -> QueueDefaults:
    """The queue defaults of a ``[globals]`` block."""
    # only numbers: HOTLINE_QUEUE_TIMEOUT is a setting, not the queue of a DID "TIMEOUT"
    by_number = {name[len(NUMBER_PREFIX):]: value for name, value in variables.items()
                 if name.startswith(NUMBER_PREFIX) and name[len(NUMBER_PREFIX):].isdigit()
                 and value}
    return QueueDefaults(by_number, variables.get(DEFAULT_NAME) or FALLBACK_QUEUE)


def shipped_queue_defaults(folder: Path = DEPLOY_ASTERISK) -> QueueDefaults:
    """What deploy/asterisk as shipped gives each number."""
    conf = folder / "extensions.conf"
    if not conf.is_file():
        log.warning("%s not found: every number defaults to queue %s", conf, FALLBACK_QUEUE)
        return QueueDefaults()
    return queue_defaults(parse_globals(conf))
