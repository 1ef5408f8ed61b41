"""deploy/asterisk loads into a real Asterisk without a warning, as shipped."""

from __future__ import annotations

from .conftest import Site


async def test_shipped_configuration_loads_without_a_warning(site: Site) -> None:
    assert site.rig.warnings() == []
    dialplan = await site.rig.cli("dialplan show from-pstn")
    assert "_X." in dialplan
    queues = await site.rig.cli("queue show")
    for queue in ("support", "vip", "agent-1001"):
        assert queue in queues
    # the rig's overlay is what swaps phones and trunk: the shipped globals are PJSIP
    assert "PJSIP/" in (site.rig.etc / "extensions.conf").read_text()
