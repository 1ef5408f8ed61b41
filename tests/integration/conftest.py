"""Fixtures shared by the integration tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from telephony.simulator import PbxSimulator
from tests.integration.console_support import simulator
from tests.integration.test_auth_shared import _forget


@pytest.fixture
async def sim() -> AsyncIterator[PbxSimulator]:
    """The console tests' simulated PBX (``console_support.simulator``), started; a test
    module with other needs defines its own ``sim``."""
    pbx = simulator()
    await pbx.start()
    yield pbx
    await pbx.close()


@pytest.fixture
async def bus_env(bus_kind: str, redis_stream: str, request: pytest.FixtureRequest
                  ) -> AsyncIterator[dict[str, str]]:
    """The node's bus settings (environment); on Redis, the test's stream and the keys
    beside it (the AMI lease) are deleted afterwards."""
    if bus_kind == "memory":
        yield {"HOTLINE_BUS": "memory"}
        return
    redis_url = str(request.getfixturevalue("redis_url"))
    # the lease as in the failover tests: a restarted node waits at most ttl + renew
    yield {"HOTLINE_BUS": "redis", "HOTLINE_REDIS_URL": redis_url,
           "HOTLINE_REDIS_STREAM": redis_stream, "HOTLINE_REDIS_CONSUMER": "node-a",
           "HOTLINE_AMI_LEASE_TTL_S": "3", "HOTLINE_AMI_LEASE_RENEW_S": "0.5"}
    await _forget(redis_url, redis_stream)
