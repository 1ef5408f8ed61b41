"""Where the shared fixtures (../shared: real Asterisk captures, AGI sessions) are.

A checkout has ``shared/`` beside it. A clone made elsewhere (``git clone . $(mktemp -d)``)
finds it beside the repository it was cloned from; ``HOTLINE_SHARED_DIR`` overrides both.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _origin_shared() -> Path | None:
    try:
        url = subprocess.run(
            ["git", "-C", str(ROOT), "config", "--get", "remote.origin.url"],
            capture_output=True, text=True, check=False, timeout=10,
        ).stdout.strip()
    except OSError:
        return None
    if not url or "://" in url or not Path(url).is_dir():
        return None
    return Path(url).resolve().parent / "shared"


def shared_dir() -> Path:
    """The shared folder (it may not exist: the tests that need it then fail loudly)."""
    if env := os.environ.get("HOTLINE_SHARED_DIR"):
        return Path(env)
    beside = ROOT.parent / "shared"
    if beside.is_dir():
        return beside
    return _origin_shared() or beside


SHARED = shared_dir()
CAPTURES = SHARED / "asterisk"
AGI_DIR = CAPTURES / "agi"
