"""How often a client may try to sign in: pure rules over small records, no I/O.

Rules (issue 13 item 5: nobody can lock somebody else out):
- an account is throttled per (account, client address), never as a whole: guesses
  from one address delay only that address's next tries for that account, and the
  owner signing in from another address is never held up by them;
- a pair's first ``free_failures`` attempts go at once; from then on each attempt waits
  ``first_delay_s`` doubled for every attempt since, at most ``max_delay_s`` (429 with
  ``Retry-After``); an attempt is counted when it is let through (so concurrent
  requests cannot all slip through one opening), a success forgets the pair, and a
  pair untouched for ``forget_s`` starts afresh;
- one address may try at most ``address_limit`` sign-ins, on any accounts, in a burst,
  then one every ``address_window_s / address_limit`` (GCRA: a single timestamp per
  address), so one client cannot spray the accounts;
- the account's owner is told at the next sign-in how many attempts failed, when, and
  from where (``notice_*``);
- records are JSON-ready dicts (they live in Redis or a database row, shared by the
  nodes); a record that is malformed (another version, a hand edit) counts as absent;
  every time is the caller's clock (``now``, seconds), never a store's expiry, which
  only collects garbage.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Record = dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class ThrottlePolicy:
    """The numbers of the sign-in throttle (from the settings)."""

    free_failures: int = 5
    first_delay_s: float = 1.0
    max_delay_s: float = 900.0
    forget_s: float = 24 * 3600.0
    address_limit: int = 100
    address_window_s: float = 60.0


def _number(record: Record | None, key: str) -> float | None:
    value = record.get(key) if isinstance(record, dict) else None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


# --- one account from one address --------------------------------------------------------


def pair_delay(attempts: int, policy: ThrottlePolicy) -> float:
    """The wait after ``attempts`` attempts not followed by a success."""
    over = attempts - policy.free_failures
    if over < 0:
        return 0.0
    # 2**over overflows nothing: over is capped where the delay is capped anyway
    return min(policy.first_delay_s * 2.0 ** min(over, 64), policy.max_delay_s)


def pair_claim(record: Record | None, now: float, policy: ThrottlePolicy
               ) -> tuple[Record | None, float]:
    """``(new record, wait)``: wait > 0 refuses the attempt (record unchanged), else
    the attempt goes and is counted."""
    attempts, last = _number(record, "n"), _number(record, "t")
    if attempts is None or last is None or now - last >= policy.forget_s:
        attempts, last = 0.0, now
    wait = last + pair_delay(int(attempts), policy) - now
    if wait > 0:
        return record, wait
    return {"n": int(attempts) + 1, "t": now}, 0.0


def pair_ttl(policy: ThrottlePolicy) -> float:
    """How long a store keeps a pair's record (garbage collection only)."""
    return policy.forget_s + policy.max_delay_s


# --- one address, any account ------------------------------------------------------------


def address_take(record: Record | None, now: float, policy: ThrottlePolicy
                 ) -> tuple[Record | None, float]:
    """``(new record, wait)`` of the address's budget: wait > 0 refuses (unchanged)."""
    interval = policy.address_window_s / policy.address_limit
    tolerance = policy.address_window_s - interval  # a burst of address_limit at once
    due = _number(record, "tat")
    due = now if due is None else max(due, now)
    if due - now > tolerance:
        return record, due - now - tolerance
    return {"tat": due + interval}, 0.0


def address_ttl(policy: ThrottlePolicy) -> float:
    return policy.address_window_s


# --- what the account's owner is told ----------------------------------------------------


def notice_add(record: Record | None, now: float, address: str) -> Record:
    """One more failed sign-in to tell the owner of."""
    count, first = _number(record, "count"), _number(record, "first")
    if count is None or first is None:
        count, first = 0.0, now
    return {"count": int(count) + 1, "first": first, "last": now, "address": address[:64]}


def notice_summary(record: Record | None) -> Record | None:
    """The notice as the session keeps it, or None (nothing to tell, or malformed)."""
    count, first, last = (_number(record, k) for k in ("count", "first", "last"))
    address = record.get("address") if isinstance(record, dict) else None
    if not count or first is None or last is None or not isinstance(address, str):
        return None
    return {"count": int(count), "first": first, "last": last, "address": address}
