"""Call scenarios written once and played on the real PBX (tests/asterisk's rig) and on the
simulator (Hotline's dialplan mode, over real AMI and FastAGI): the call-log rows, and the
callback rows, they give must agree field by field (issue 12: "the simulator's
differences gone").

A scenario says who is signed in, how each agent's phone behaves, what the caller keys in
the IVR (the prompt he waits for, then his keys), when he gives up, and what the agent
does from her console: transfer the call, or call a customer back. Compared: every field
of the row that is not a duration or a timestamp (those depend on prompt lengths, which
are espeak's on the real PBX and the simulator's own there); for durations only whether
they are set.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# the row's fields compared as they are
SAME = ("caller", "caller_name", "did", "queues", "agent", "agent_interface", "hangup_by",
        "outcome", "direction")
# the IVR's variables compared (the ones the IVR sets from the caller's choices)
IVR_SAME = ("QUEUE", "HOTLINE_IVR_PATH", "HOTLINE_DIGITS", "HOTLINE_AGI", "HOTLINE_DID",
            "HOTLINE_ENTRY", "HOTLINE_ACTION", "HOTLINE_SKILL")
# set or not (their values are times)
SET_OR_NOT = ("queued_at", "answered_at", "wait_s", "talk_s", "ring_s", "recording")
# a callback request's fields compared as they are
CALLBACK_SAME = ("state", "last_result", "attempts")

KNOWN = "13800138000"  # tests/asterisk/site.py: a VIP whose account manager is Carol
TICKET_KEYS = "202611200042"  # his open ticket T20261120-0042, as he keys it
TRANSFER_NUMBER = "02155551234"
HANG_UP = "H"


@dataclass(frozen=True)
class Phone:
    """A desk or customer phone: ``mode`` answer | noanswer | busy; rings ``ring`` s;
    hangs up after ``talk`` s of conversation."""

    mode: str = "answer"
    ring: float = 1.0
    talk: float = 5.0


@dataclass(frozen=True)
class Transfer:
    """Alice transfers the caller once she talks to him (console: POST /calls/../transfer)."""

    mode: str  # blind | attended
    kind: str  # agent | queue | number
    value: str


@dataclass(frozen=True)
class Scenario:
    name: str
    number: str = "13912345678"
    caller_name: str = "Zhou Min"
    did: str = "4008001234"
    # (prompt the caller waits for, what he keys then; HANG_UP: he hangs up instead)
    ivr: tuple[tuple[str, str], ...] = (("main_menu", "0"),)
    queued: bool = True  # the IVR puts him in a queue (else his call ends in the IVR)
    signed_in: tuple[str, ...] = ("alice",)
    phones: dict[str, Phone] = field(default_factory=dict)  # extension -> phone
    patience: float = 600.0  # seconds the caller waits in the queue before giving up
    transfer: Transfer | None = None
    hang_up: bool = False  # Alice hangs up from her console once she talks to the caller
    pause_first: bool = False  # Alice pauses (a break) before she transfers
    late: tuple[str, ...] = ()  # agents signing in once Alice talks to the caller
    # click-to-dial instead of an inbound call: Alice dials this customer
    dial: str | None = None
    # Alice asks, from her console, for a callback to this customer
    callback: str | None = None
    # the phone of the customer dialled, called back or transferred to
    customer: Phone = Phone(ring=2.0, talk=4.0)
    rows: int = 1  # call-log rows the scenario ends with
    settings: dict[str, str] = field(default_factory=dict)  # HOTLINE_* for the app
    # (agent, queue, result) attempts the real PBX makes or not, by a race of its own:
    # left out of both sides' agents_tried when the real PBX is compared
    racy_attempts: tuple[tuple[str, str, str], ...] = ()

    @property
    def attempts_callback(self) -> bool:
        """A callback is booked, and an agent is signed in to make it: its first attempt
        is awaited."""
        booked = self.callback is not None or any(k == "4" for _p, k in self.ivr)
        return booked and bool(self.signed_in)

    @property
    def keys(self) -> str:
        """The caller's keys in the simulator's notation (``parse_ivr_inputs``)."""
        return ",".join(keys for _prompt, keys in self.ivr)

    @property
    def phone_number(self) -> str | None:
        """The customer number whose phone is ``customer``."""
        if self.transfer is not None and self.transfer.kind == "number":
            return self.transfer.value
        if self.dial or self.callback:
            return self.dial or self.callback
        return self.number if self.attempts_callback else None  # he booked a callback


# the callback worker retries an hour later: one attempt per scenario
CALLBACK_SETTINGS = {"HOTLINE_CALLBACK_RETRY_S": "3600", "HOTLINE_CALLBACK_POLL_S": "0.2"}
CUSTOMER = "13600136000"

SCENARIOS = [
    Scenario("answered-agent-hangs-up", phones={"1001": Phone()}),
    Scenario("abandoned", signed_in=(), patience=5.0),
    Scenario("ring-no-answer-then-bob", signed_in=("alice", "bob"),
             phones={"1001": Phone(mode="noanswer"), "1002": Phone()}),
    # the VIP's account manager Carol first (her personal queue), then the IVR's queue
    Scenario("vip-manager-answers", number=KNOWN, caller_name="Wang Fang",
             signed_in=("carol", "alice"), phones={"1003": Phone(talk=3.0)}),
    # Carol does not answer her personal queue; support then offers the caller to her again
    # (first in its order) before Alice. Asterisk offers her again only if her phone's
    # device state is free again by then, which is a race on the real PBX (the Local
    # channel is torn down asynchronously): seen both ways. The simulator frees her at
    # once, the kept rows are a run where Asterisk did too.
    Scenario("vip-manager-no-answer-then-alice", number=KNOWN, caller_name="Wang Fang",
             signed_in=("carol", "alice"),
             phones={"1003": Phone(mode="noanswer"), "1001": Phone(talk=3.0)},
             racy_attempts=(("Carol", "support", "no-answer"),)),
    # the IVR's paths
    Scenario("ivr-ticket-status-then-agent", number=KNOWN, caller_name="Wang Fang",
             ivr=(("main_menu", "1"), ("more", "0")), phones={"1001": Phone(talk=3.0)}),
    Scenario("ivr-ticket-keyed-then-hang-up",
             ivr=(("main_menu", "1"), ("enter_ticket", TICKET_KEYS + "#"),
                  ("more", HANG_UP)), queued=False),
    Scenario("ivr-repair-device-picked", number=KNOWN, caller_name="Wang Fang",
             ivr=(("main_menu", "3"), ("choose_asset", "2"), ("more", HANG_UP)),
             queued=False),
    Scenario("ivr-invalid-key-then-agent",
             ivr=(("main_menu", "7"), ("main_menu", "0")), phones={"1001": Phone(talk=3.0)}),
    Scenario("ivr-callback-booked-and-made", number=KNOWN, caller_name="Wang Fang",
             ivr=(("main_menu", "4"),), queued=False, rows=2,
             customer=Phone(ring=2.0, talk=4.0), settings=CALLBACK_SETTINGS),
    Scenario("after-hours-callback", did="8008001234", signed_in=(),
             ivr=(("closed", "4"),), queued=False),
    # transfers from Alice's console (Bob signs in once she has the caller)
    Scenario("transfer-blind-agent", transfer=Transfer("blind", "agent", "bob"),
             late=("bob",), phones={"1001": Phone(talk=600.0), "1002": Phone(talk=4.0)}),
    Scenario("transfer-attended-agent", transfer=Transfer("attended", "agent", "bob"),
             late=("bob",), phones={"1001": Phone(talk=6.0), "1002": Phone(talk=12.0)}),
    # Alice pauses first: once the caller has left her, vip offers him to Bob only.
    # (Not paused, she is free again as her leg ends, and whether vip rings her or Bob
    # first is a race on the real PBX: seen both ways.)
    Scenario("transfer-blind-queue", transfer=Transfer("blind", "queue", "vip"),
             late=("bob",), pause_first=True,
             phones={"1001": Phone(talk=600.0), "1002": Phone(talk=4.0)}),
    Scenario("transfer-attended-number",
             transfer=Transfer("attended", "number", TRANSFER_NUMBER),
             phones={"1001": Phone(talk=6.0)}, customer=Phone(ring=1.0, talk=12.0)),
    Scenario("console-hang-up", hang_up=True, phones={"1001": Phone(talk=600.0)}),
    Scenario("transfer-blind-number",
             transfer=Transfer("blind", "number", TRANSFER_NUMBER),
             phones={"1001": Phone(talk=600.0)}, customer=Phone(ring=1.0, talk=4.0)),
    # click-to-dial
    Scenario("click-to-dial-answered", signed_in=(), dial="13700137000",
             phones={"1001": Phone(talk=600.0)}),
    Scenario("click-to-dial-no-answer", signed_in=(), dial="13700137000",
             phones={"1001": Phone(talk=600.0)}, customer=Phone(mode="noanswer")),
    # Alice gives up while the customer's phone still rings: her phone hangs up
    Scenario("click-to-dial-agent-gives-up", signed_in=(), dial="13700137000",
             phones={"1001": Phone(talk=8.0)}, customer=Phone(mode="noanswer")),
    # callbacks asked from the console: her phone rings first, then the customer's
    Scenario("callback-both-answer", callback=CUSTOMER, settings=CALLBACK_SETTINGS,
             phones={"1001": Phone(talk=600.0)}, customer=Phone(ring=3.0, talk=4.0)),
    Scenario("callback-customer-no-answer", callback=CUSTOMER, settings=CALLBACK_SETTINGS,
             phones={"1001": Phone(talk=600.0)}, customer=Phone(mode="noanswer")),
    Scenario("callback-customer-busy", callback=CUSTOMER, settings=CALLBACK_SETTINGS,
             phones={"1001": Phone(talk=600.0)}, customer=Phone(mode="busy")),
    # the attempt is logged: an outbound call that failed, Alice's, to the customer
    Scenario("callback-agent-misses", callback=CUSTOMER,
             settings={**CALLBACK_SETTINGS, "HOTLINE_CALLBACK_AGENT_RING_S": "4",
                       "HOTLINE_CALLBACK_AGENT_RETRY_S": "3600"},
             phones={"1001": Phone(mode="noanswer")}),
]


def comparable(row: Any) -> dict[str, Any]:
    """What must agree between the real PBX and the simulator for one call-log row."""
    out: dict[str, Any] = {k: getattr(row, k) for k in SAME}
    out["ivr"] = {k: row.ivr.get(k) for k in IVR_SAME}
    out["agents_tried"] = [(a["agent"], a["queue"], a["result"]) for a in row.agents_tried]
    out["transfers"] = [t["kind"] for t in row.transfers]
    out.update({f"{k} set": getattr(row, k) is not None for k in SET_OR_NOT})
    return out


def comparable_callback(row: Any) -> dict[str, Any]:
    """What must agree for one callback request."""
    out: dict[str, Any] = {k: getattr(row, k) for k in CALLBACK_SAME}
    out["history"] = [h.get("event") for h in (row.history or [])]
    return out


def outcome(rows: list[Any], callbacks: list[Any]) -> dict[str, Any]:
    """A scenario's result as compared (and kept in tests/fixtures/asterisk/same-rows.json)."""
    return {"rows": [comparable(r) for r in rows],
            "callbacks": [comparable_callback(c) for c in callbacks]}
