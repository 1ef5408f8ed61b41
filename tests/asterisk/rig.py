"""A real Asterisk for the acceptance suite: deploy/asterisk AS SHIPPED plus the overlay.

``HOTLINE_TEST_ASTERISK`` names the ``asterisk`` binary of an installation (built by hand,
outside this repository; Asterisk 20 or 22, no PJSIP needed). The rig lays out a folder of
its own (config, spool, logs, astdb), copies deploy/asterisk's files unchanged, adds
``tests/asterisk/overlay`` (the system configs a site already has, and
``extensions_site.conf``, which swaps the phones and the trunk for Local channels), and
runs Asterisk in the foreground from there. Nothing of the installation is written to.

Modules are read from ``<prefix>/lib/asterisk/modules`` (``<prefix>`` = the binary's
folder's parent) unless ``HOTLINE_TEST_ASTERISK_MODULES`` says where.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import struct
import wave
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "deploy" / "asterisk"
OVERLAY = Path(__file__).resolve().parent / "overlay"
AMI_PORT = 5038  # deploy/asterisk/manager.conf as shipped
AMI_USER = "hotline"
AMI_SECRET = "change-me-hotline-secret"
# res_agi's verbose line for STREAM FILE: <channel> Playing 'file.ext' (escape_digits=...)
_PLAYING = re.compile(r"<([^>]+)> Playing '([^']+?)(?:\.[a-z0-9]+)?' \(escape_digits")


def asterisk_binary() -> Path | None:
    """The binary named by HOTLINE_TEST_ASTERISK, or None when unset."""
    value = os.environ.get("HOTLINE_TEST_ASTERISK", "").strip()
    return Path(value) if value else None


def _silence(path: Path, seconds: float = 1.0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(struct.pack("<h", 0) * int(8000 * seconds))


class AsteriskRig:
    """One Asterisk process with its own folder under ``root``."""

    def __init__(self, binary: Path, root: Path) -> None:
        self.binary = binary.resolve()
        self.root = root
        prefix = self.binary.parent.parent
        self.moddir = Path(os.environ.get("HOTLINE_TEST_ASTERISK_MODULES")
                           or prefix / "lib" / "asterisk" / "modules")
        self.prefix = prefix
        self.etc = root / "etc"
        self.sounds = root / "data" / "sounds"
        self.recordings = root / "recordings"
        self.proc: asyncio.subprocess.Process | None = None
        self._console: asyncio.Task[bytes] | None = None

    @property
    def conf(self) -> Path:
        return self.etc / "asterisk.conf"

    @property
    def log(self) -> Path:
        return self.root / "var" / "log" / "messages"

    def write_config(self) -> None:
        """Shipped files unchanged, then the overlay with its paths filled in."""
        self.etc.mkdir(parents=True, exist_ok=True)
        for f in SHIPPED.glob("*.conf"):
            shutil.copyfile(f, self.etc / f.name)
        subst = {"@DIR@": str(self.root), "@PREFIX@": str(self.prefix),
                 "@MODDIR@": str(self.moddir)}
        for f in OVERLAY.glob("*.conf"):
            text = f.read_text(encoding="utf-8")
            for key, value in subst.items():
                text = text.replace(key, value)
            (self.etc / f.name).write_text(text, encoding="utf-8")
        # var/lib/keys: what an installation's ``make install`` creates for res_crypto,
        # which an Asterisk built with it reads at start (an ERROR line without it)
        for sub in ("var/lib", "var/spool", "var/run", "var/log", "var/log/cel-custom",
                    "var/lib/agi-bin", "var/lib/keys"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        _silence(self.root / "moh" / "silence.wav")
        # the attended-transfer prompt Asterisk plays to the transferring agent
        _silence(self.sounds / "en" / "pbx-transfer.wav", 0.2)
        self.recordings.mkdir(parents=True, exist_ok=True)
        # where the dialplan records (HOTLINE_RECORDINGS_DIR): the rig's own folder
        site = self.etc / "extensions_site.conf"
        site.write_text(site.read_text(encoding="utf-8") + (
            f"\n[globals](+)\nHOTLINE_RECORDINGS_DIR = {self.recordings}\n"), encoding="utf-8")

    async def start(self) -> None:
        """Start Asterisk and wait until its AMI port accepts connections."""
        if not self.conf.exists():
            self.write_config()
        self.proc = await asyncio.create_subprocess_exec(
            str(self.binary), "-C", str(self.conf), "-f", "-n", "-q",
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT, start_new_session=True)
        assert self.proc.stdout is not None
        self._console = asyncio.create_task(self.proc.stdout.read())
        for _ in range(300):
            if self.proc.returncode is not None:
                out = await self._console
                raise RuntimeError(f"asterisk exited {self.proc.returncode}: {out[-2000:]!r}")
            with contextlib.suppress(OSError):
                _r, w = await asyncio.open_connection("127.0.0.1", AMI_PORT)
                w.close()
                await w.wait_closed()
                return
            await asyncio.sleep(0.1)
        raise RuntimeError("asterisk did not open its AMI port in 30 s")

    async def cli(self, command: str) -> str:
        """One CLI command over the remote console (asterisk -rx)."""
        proc = await asyncio.create_subprocess_exec(
            str(self.binary), "-C", str(self.conf), "-rx", command,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        out, _ = await proc.communicate()
        return out.decode("utf-8", "replace")

    async def stop(self, *, now: bool = True) -> None:
        """Stop Asterisk (core stop now), killing it if it does not go."""
        if self.proc is None or self.proc.returncode is not None:
            return
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.cli("core stop now" if now else "core stop gracefully"), 10)
        try:
            await asyncio.wait_for(self.proc.wait(), 15)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
        if self._console is not None:
            with contextlib.suppress(Exception):
                await self._console

    @property
    def journal(self) -> Path:
        """The CEL journal deploy/asterisk's cel_custom.conf has Asterisk write."""
        return self.root / "var" / "log" / "cel-custom" / "hotline-cel.csv"

    def log_size(self) -> int:
        """Where Asterisk's log ends now: a mark for ``played`` and ``wait_played``."""
        return self.log.stat().st_size if self.log.exists() else 0

    def played(self, channel: str = "", *, since: int = 0) -> list[str]:
        """The sound files Asterisk played (``STREAM FILE``, its log's ``Playing '...'``
        lines) since the mark ``since``, on the channel named ``channel`` (any: ""),
        in order and without the format: ``hotline/zh/welcome``."""
        if not self.log.exists():
            return []
        with self.log.open("rb") as f:
            f.seek(since)
            text = f.read().decode("utf-8", "replace")
        return [m.group(2) for m in _PLAYING.finditer(text) if channel in ("", m.group(1))]

    def warnings(self) -> list[str]:
        """WARNING and ERROR lines Asterisk logged so far."""
        if not self.log.exists():
            return []
        return [line for line in self.log.read_text("utf-8", "replace").splitlines()
                if " WARNING[" in line or " ERROR[" in line]
