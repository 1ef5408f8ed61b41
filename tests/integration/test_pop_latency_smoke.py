"""The pop latency benchmark's core with tiny numbers, so it cannot rot.

Everything the benchmark does, for real: the CRM generated and loaded, agent users,
``hotline serve`` in its own process connected to the simulator over AMI, agents
signed in over HTTP with their websockets open, calls placed by the load generator.
Asserts that every ring produced the right pop at the right agent; never timings.
"""

from __future__ import annotations

from benchmarks.pop_latency import Config, measure_database


async def test_every_ring_pops_the_callers_record_at_the_ringing_agent(db_url: str) -> None:
    cfg = Config(agents=3, calls_per_s=4.0, duration_s=0.5, customers=30, time_scale=0.05)
    assert cfg.calls == 2
    result = await measure_database("smoke", db_url, cfg, quiet=True)
    # every call rings exactly one agent (they all answer in time): two AgentCalled
    assert result.expected == 2
    assert result.received == 2 and len(result.latencies_ms) == 2
    assert result.wrong == 0 and result.stray == 0
    assert result.ok
