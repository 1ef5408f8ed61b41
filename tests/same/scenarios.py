"""Call scenarios written once and played on the real PBX (tests/asterisk's rig) and on the
simulator (Hotline's dialplan mode, over real AMI and FastAGI): the call-log rows they give
must agree field by field (issue 12: "the simulator's differences gone").

A scenario says who is signed in, how each agent's phone behaves, what the caller keys at
the main menu and when the caller gives up. Compared: every field of the row that is not a
duration or a timestamp (those depend on prompt lengths, which are espeak's on the real PBX
and the simulator's own there); for durations only whether they are set.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# the row's fields compared as they are
SAME = ("caller", "caller_name", "did", "queues", "agent", "agent_interface", "hangup_by",
        "outcome", "direction")
# the IVR's variables compared (the ones the IVR sets from the caller's choices)
IVR_SAME = ("QUEUE", "HOTLINE_IVR_PATH", "HOTLINE_DIGITS", "HOTLINE_AGI", "HOTLINE_DID",
            "HOTLINE_ENTRY", "HOTLINE_ACTION")
# set or not (their values are times)
SET_OR_NOT = ("queued_at", "answered_at", "wait_s", "talk_s", "ring_s", "recording")


@dataclass(frozen=True)
class Phone:
    """An agent's desk phone: ``mode`` answer | noanswer; rings ``ring`` s; the agent hangs
    up after ``talk`` s of conversation."""

    mode: str = "answer"
    ring: float = 1.0
    talk: float = 5.0


@dataclass(frozen=True)
class Scenario:
    name: str
    number: str = "13912345678"
    caller_name: str = "Zhou Min"
    keys: str = "0"  # at the main menu
    signed_in: tuple[str, ...] = ("alice",)
    phones: dict[str, Phone] = field(default_factory=dict)  # extension -> phone
    patience: float = 600.0  # seconds the caller waits in the queue before giving up
    # click-to-dial instead of an inbound call: Alice dials this customer, whose phone
    # behaves as ``customer`` (``talk``: the CUSTOMER hangs up after that long)
    dial: str | None = None
    customer: Phone = Phone(ring=2.0, talk=4.0)


SCENARIOS = [
    Scenario("answered-agent-hangs-up", phones={"1001": Phone()}),
    Scenario("abandoned", signed_in=(), patience=5.0),
    Scenario("ring-no-answer-then-bob", signed_in=("alice", "bob"),
             phones={"1001": Phone(mode="noanswer"), "1002": Phone()}),
    Scenario("click-to-dial-answered", signed_in=(), dial="13700137000",
             phones={"1001": Phone(talk=600.0)}),
    Scenario("click-to-dial-no-answer", signed_in=(), dial="13700137000",
             phones={"1001": Phone(talk=600.0)}, customer=Phone(mode="noanswer")),
    # Alice gives up while the customer's phone still rings: her phone hangs up
    Scenario("click-to-dial-agent-gives-up", signed_in=(), dial="13700137000",
             phones={"1001": Phone(talk=8.0)}, customer=Phone(mode="noanswer")),
]


def comparable(row: Any) -> dict[str, Any]:
    """What must agree between the real PBX and the simulator for one call-log row."""
    out: dict[str, Any] = {k: getattr(row, k) for k in SAME}
    out["ivr"] = {k: row.ivr.get(k) for k in IVR_SAME}
    out["agents_tried"] = [(a["agent"], a["queue"], a["result"]) for a in row.agents_tried]
    out["transfers"] = [t["kind"] for t in row.transfers]
    out.update({f"{k} set": getattr(row, k) is not None for k in SET_OR_NOT})
    return out
