"""PBX simulator: a real AMI server over TCP that behaves like the captured Asterisk."""

from telephony.simulator.model import AgentSpec, QueueSpec
from telephony.simulator.pbx import CallScript, SimCall, TransferPlan
from telephony.simulator.server import PbxSimulator

__all__ = ["AgentSpec", "CallScript", "PbxSimulator", "QueueSpec", "SimCall", "TransferPlan"]
