"""Sign-in for the API: passwords, the session cookie, lock-out and sign-out.

Rules:
- passwords are argon2 hashes (argon2-cffi ``PasswordHasher``); verification runs
  in a worker thread (it is deliberately slow) and an unknown user is verified
  against a dummy hash, so timing does not tell which part was wrong;
- the session is an encrypted cookie (aiohttp-session ``EncryptedCookieStorage``):
  HTTP-only, SameSite=Lax, Secure when configured (behind https), expiring after
  ``session_max_age_s``; it holds the user id, a random session id and the CSRF
  token handed out at sign-in;
- lock-out: after ``max_failures`` consecutive failures for one username, sign-in
  for that username is refused for ``lockout_s`` (success resets the count);
- rate limits: at most ``login_rate_per_ip`` sign-in attempts per client address and
  ``login_rate_per_user`` per username within ``login_rate_window_s`` (sliding window,
  failures AND successes count: a password sprayer and a script hammering one account
  both hit it); over it -> 429 with ``Retry-After`` and no password check;
- sign-out revokes the session id until its cookie would have expired anyway, in an
  ``AuthStore`` every node shares and a restart keeps (the database, or Redis with
  the Redis bus); ``on_sign_out`` callbacks get the session id (the websocket hub
  closes that session's sockets), on this node and, through Redis, on the others;
- KNOWN LIMIT: the failure counters and the rate windows still live in this
  process's memory: lost on restart and not shared between nodes; every table is
  bounded;
- the secret key comes from settings, or is generated once into a 0600 file.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp_session.cookie_storage import EncryptedCookieStorage
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from agent_console.api.auth_store import AuthStore
from crm_core.ownership import OwnershipRules

log = logging.getLogger("agent_console.api")

COOKIE_NAME = "hotline_session"
_TABLE_LIMIT = 10_000  # entries kept in the in-memory tables (oldest dropped first)

Clock = Callable[[], float]


@dataclass(frozen=True, kw_only=True)
class ApiConfig:
    """What the API needs from the settings."""

    secret_key: bytes  # 32 bytes (Fernet key material)
    cookie_secure: bool = False
    session_max_age_s: int = 8 * 3600
    login_max_failures: int = 5
    login_lockout_s: float = 15 * 60
    cookie_name: str = COOKIE_NAME
    region: str = "CN"  # default region for phone numbers written without a country code
    ownership: OwnershipRules = OwnershipRules()  # the cap and the pool rule
    login_rate_per_ip: int = 100  # sign-in attempts per client address per window
    login_rate_per_user: int = 20  # sign-in attempts per username per window
    login_rate_window_s: float = 60.0
    agent_queues: tuple[str, ...] = ("support", "vip")  # the queues an agent signs into
    recording_base_url: str = ""  # call recordings' links (agent_console.recordings)

    @classmethod
    def from_settings(cls, settings: Any) -> ApiConfig:
        """Build from ``hotline.settings.Settings`` (duck-typed: no hotline import)."""
        return cls(
            secret_key=resolve_secret_key(settings.secret_key, Path(settings.secret_key_file)),
            cookie_secure=settings.session_cookie_secure,
            session_max_age_s=settings.session_max_age_s,
            login_max_failures=settings.login_max_failures,
            login_lockout_s=float(settings.login_lockout_s),
            region=settings.default_region,
            ownership=OwnershipRules(
                cap=settings.ownership_cap,
                cap_period_days=settings.ownership_cap_period_days,
                pool_after_days=settings.pool_after_days,
            ),
            login_rate_per_ip=settings.login_rate_per_ip,
            login_rate_per_user=settings.login_rate_per_user,
            login_rate_window_s=float(settings.login_rate_window_s),
            agent_queues=tuple(settings.agent_queues),
            recording_base_url=settings.recording_base_url,
        )


def derive_key(secret: str) -> bytes:
    """32 bytes of key material from any secret string."""
    return hashlib.sha256(secret.encode("utf-8")).digest()


def resolve_secret_key(secret: str | None, path: Path) -> bytes:
    """The configured secret, else the one in ``path`` (created once, mode 0600)."""
    if secret:
        return derive_key(secret)
    if not path.exists():
        _create_secret_file(path)
    return derive_key(path.read_text(encoding="ascii").strip())


def _create_secret_file(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, secrets.token_urlsafe(48).encode("ascii"))
    finally:
        os.close(fd)
    try:
        # link never replaces: if another process won the race, its key is kept
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink()


def make_storage(config: ApiConfig) -> EncryptedCookieStorage:
    """The session cookie storage."""
    return EncryptedCookieStorage(
        config.secret_key, cookie_name=config.cookie_name,
        max_age=config.session_max_age_s, httponly=True, samesite="Lax",
        secure=config.cookie_secure, path="/",
    )


@dataclass
class _Failures:
    count: int = 0
    locked_until: float = 0.0


class LoginGuard:
    """Consecutive sign-in failures per username, and the lock-out they cause."""

    def __init__(self, *, max_failures: int, lockout_s: float, clock: Clock = time.monotonic
                 ) -> None:
        self.max_failures = max_failures
        self.lockout_s = lockout_s
        self.clock = clock
        self._table: OrderedDict[str, _Failures] = OrderedDict()

    @staticmethod
    def _key(username: str) -> str:
        return username.strip().casefold()

    def locked_for(self, username: str) -> float:
        """Seconds the username stays locked (0: not locked)."""
        entry = self._table.get(self._key(username))
        if entry is None:
            return 0.0
        left = entry.locked_until - self.clock()
        if entry.locked_until and left <= 0:
            del self._table[self._key(username)]  # the lock-out is over: start afresh
            return 0.0
        return max(0.0, left)

    def failed(self, username: str) -> None:
        key = self._key(username)
        entry = self._table.pop(key, None) or _Failures()
        entry.count += 1
        if entry.count >= self.max_failures:
            entry.locked_until = self.clock() + self.lockout_s
        self._table[key] = entry
        while len(self._table) > _TABLE_LIMIT:
            self._table.popitem(last=False)

    def succeeded(self, username: str) -> None:
        self._table.pop(self._key(username), None)


class RateLimiter:
    """At most ``limit`` hits per key within a sliding ``window_s`` (bounded table)."""

    def __init__(self, *, limit: int, window_s: float, clock: Clock = time.monotonic) -> None:
        self.limit = limit
        self.window_s = window_s
        self.clock = clock
        self._table: OrderedDict[str, deque[float]] = OrderedDict()

    def retry_after(self, key: str) -> float:
        """Seconds until ``key`` may try again (0: now)."""
        hits = self._hits(key)
        if hits is None or len(hits) < self.limit:
            return 0.0
        return max(0.0, hits[0] + self.window_s - self.clock())

    def hit(self, key: str) -> None:
        hits = self._hits(key)
        if hits is None:
            hits = self._table[key] = deque()
        hits.append(self.clock())
        self._table.move_to_end(key)
        while len(self._table) > _TABLE_LIMIT:
            self._table.popitem(last=False)

    def _hits(self, key: str) -> deque[float] | None:
        hits = self._table.get(key)
        if hits is None:
            return None
        horizon = self.clock() - self.window_s
        while hits and hits[0] <= horizon:
            hits.popleft()
        if not hits:
            del self._table[key]
            return None
        return hits


@dataclass
class AuthState:
    """The API's sign-in machinery (one per API app)."""

    config: ApiConfig
    hasher: PasswordHasher = field(default_factory=PasswordHasher)
    # None until the app starts (the database or Redis exists only then): using it
    # before is a bug, and fails loudly rather than falling back to one node's memory
    store: AuthStore | None = None
    clock: Clock = time.time  # wall-clock seconds: the records outlive this process
    guard: LoginGuard = field(init=False)
    per_ip: RateLimiter = field(init=False)
    per_user: RateLimiter = field(init=False)
    dummy_hash: str = field(init=False)
    on_sign_out: list[Callable[[str], Awaitable[None]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.guard = LoginGuard(max_failures=self.config.login_max_failures,
                                lockout_s=self.config.login_lockout_s)
        window = self.config.login_rate_window_s
        self.per_ip = RateLimiter(limit=self.config.login_rate_per_ip, window_s=window)
        self.per_user = RateLimiter(limit=self.config.login_rate_per_user, window_s=window)
        self.dummy_hash = self.hasher.hash(secrets.token_urlsafe(16))

    @property
    def shared(self) -> AuthStore:
        if self.store is None:
            raise RuntimeError("the API's sign-in store was never set (AuthState.store)")
        return self.store

    async def revoke(self, sid: str) -> None:
        """Sign the session ``sid`` out, for as long as its cookie could live, on every
        node; its sockets close here at once, and on the other nodes when the store can
        tell them (Redis)."""
        until = self.clock() + self.config.session_max_age_s
        await self.shared.modify(f"revoked:{sid}", lambda _old: ({"until": until}, None),
                                 self.config.session_max_age_s)
        await self.signed_out(sid)
        try:
            await self.shared.announce_sign_out(sid)
        except Exception:  # the sign-out stands; other nodes refuse the session anyway
            log.exception("could not announce a sign-out to the other nodes")

    async def signed_out(self, sid: str) -> None:
        """Run the sign-out hooks of this node for ``sid`` (idempotent)."""
        for hook in self.on_sign_out:
            try:
                await hook(sid)
            except Exception:  # a socket that will not close must not stop the sign-out
                log.exception("sign-out hook failed")

    async def is_revoked(self, sid: str) -> bool:
        record = await self.shared.get(f"revoked:{sid}")
        until = record.get("until") if record else None
        return isinstance(until, int | float) and until > self.clock()

    def rate_limited(self, address: str, username: str) -> float:
        """Seconds to wait before this sign-in may be tried (0: go), counting it if not."""
        user_key = LoginGuard._key(username)
        wait = max(self.per_ip.retry_after(address), self.per_user.retry_after(user_key))
        if not wait:
            self.per_ip.hit(address)
            self.per_user.hit(user_key)
        return wait

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """Whether ``password`` matches (always does the work, even without a hash)."""
        target = password_hash or self.dummy_hash
        try:
            await asyncio.to_thread(self.hasher.verify, target, password)
        except (VerificationError, InvalidHashError):
            return False
        return password_hash is not None


AUTH = web.AppKey("api_auth", AuthState)


def hash_password(password: str, hasher: PasswordHasher | None = None) -> str:
    """An argon2 hash for ``User.password_hash``."""
    return (hasher or PasswordHasher()).hash(password)
