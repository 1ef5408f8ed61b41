"""A scenario's steps, written once for both PBXes: each side (tests/asterisk's rig, or the
simulator) supplies the primitives (set a phone, sign an agent in, place the call and key
the IVR, read the rows) and ``play`` runs the same script on either."""

from __future__ import annotations

from typing import Any, Protocol

from tests.integration.console_support import Console, eventually

from .scenarios import Phone, Scenario, outcome

# history events that are not an attempt's outcome (ivr/callback_store.py)
NOT_OUTCOMES = ("requested", "dialing", "not-dialled")


class Side(Protocol):
    async def phone(self, ext: str, phone: Phone) -> None:
        """Extension ``ext``'s desk phone behaves as ``phone``."""

    async def customer(self, number: str, phone: Phone) -> None:
        """The outside number ``number`` behaves as ``phone``."""

    async def console(self, user: str) -> Console:
        """``user``'s console, logged in (the same one each time)."""

    async def sign_in(self, user: str) -> None:
        """``user`` signs in to her queues; back once the PBX has her in them."""

    async def call_in(self, scenario: Scenario) -> None:
        """The caller dials in and keys the IVR as the scenario says; back once he is
        through the IVR (queued, or his call ended there)."""

    async def connected_or_gave_up(self, scenario: Scenario) -> None:
        """Back once an agent answered the queued caller, or he gave up."""

    async def records(self, count: int) -> list[Any]:
        """The call log, once it has ``count`` rows."""

    async def callbacks(self) -> list[Any]:
        """The callback requests."""


def attempted(callback: Any) -> bool:
    """A callback's first attempt has an outcome."""
    return any(h.get("event") not in NOT_OUTCOMES for h in callback.history or [])


async def talking_call(alice: Console) -> str:
    """The Linkedid of the call Alice's console shows her talking on."""
    async def busy() -> str | None:
        _status, body = await alice.call("GET", "/agent/state")
        call = body.get("call") if body.get("state") == "busy" else None
        return call["linkedid"] if call else None

    return str(await eventually(busy, within=90, what="Alice talking to the caller"))


async def play(side: Side, s: Scenario) -> dict[str, Any]:
    """Run ``s`` on ``side``; its rows and callback requests as compared."""
    for ext, phone in s.phones.items():
        await side.phone(ext, phone)
    if s.phone_number is not None:
        await side.customer(s.phone_number, s.customer)
    for user in s.signed_in:
        await side.sign_in(user)
    alice = await side.console("alice")
    if s.dial is not None:
        status, body = await alice.call("POST", "/calls/dial", {"number": s.dial})
        assert status == 202, body
    elif s.callback is not None:
        status, body = await alice.call("POST", "/callbacks", {"phone": s.callback})
        assert status in (200, 201), body
    else:
        await side.call_in(s)
        if s.hang_up:
            linkedid = await talking_call(alice)
            status, body = await alice.call("POST", f"/calls/{linkedid}/hangup")
            assert status == 202, body
        elif s.transfer is not None:
            linkedid = await talking_call(alice)
            for user in s.late:
                await side.sign_in(user)
            if s.pause_first:
                status, body = await alice.call("POST", "/agent/state",
                                                {"action": "pause", "reason": "break"})
                assert status == 202, body
            target = {"kind": s.transfer.kind, "value": s.transfer.value}
            status, body = await alice.call("POST", f"/calls/{linkedid}/transfer",
                                            {"mode": s.transfer.mode, "target": target})
            assert status == 202, body
        elif s.queued:
            await side.connected_or_gave_up(s)
    if s.attempts_callback:
        async def all_attempted() -> bool:
            rows = await side.callbacks()
            return bool(rows) and all(map(attempted, rows))

        await eventually(all_attempted, within=120, what="the callback's first attempt")
    rows = await side.records(s.rows)
    return outcome(rows, await side.callbacks())
