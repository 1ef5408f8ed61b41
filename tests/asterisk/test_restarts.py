"""Restarts on the real PBX: Asterisk restarted under a running Hotline (issue 12 item 7)."""

from __future__ import annotations

from .conftest import Site
from .driver import AmiDriver
from .site import HOTLINE_400


async def test_asterisk_restart_resyncs_once_booted(site: Site) -> None:
    await site.ami.close()
    await site.rig.stop()
    await site.rig.start()  # Hotline logs in again while Asterisk is still loading
    site.ami = AmiDriver()
    await site.ami.connect()
    await site.hotline_connected(within=60)
    async with site.hotline.console("alice") as alice:
        assert (await alice.call("POST", "/agent/state", {"action": "sign-in"}))[0] == 202
        await site.ami.call_in(HOTLINE_400, "13912345678", "Zhou Min", keys="0", pre=7,
                               hold=15)
        [row] = await site.hotline.wait_records(1, within=90)
    assert row.outcome == "answered" and row.agent == "Alice"
    log = site.hotline.log.read_text()
    assert "QueueStatus refused" not in log, log[-3000:]
    assert "callback step failed" not in log, log[-3000:]
