"""Fixtures shared by the integration tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from telephony.simulator import PbxSimulator
from tests.integration.console_support import simulator


@pytest.fixture
async def sim() -> AsyncIterator[PbxSimulator]:
    """The console tests' simulated PBX (``console_support.simulator``), started; a test
    module with other needs defines its own ``sim``."""
    pbx = simulator()
    await pbx.start()
    yield pbx
    await pbx.close()
