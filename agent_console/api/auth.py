"""Sign-in for the API: passwords, the session cookie, the sign-in throttle, sign-out.

Rules:
- passwords are argon2 hashes (argon2-cffi ``PasswordHasher``); verification runs
  in a worker thread (it is deliberately slow) and an unknown user is verified
  against a dummy hash, so timing does not tell which part was wrong;
- the session is an encrypted cookie (aiohttp-session ``EncryptedCookieStorage``):
  HTTP-only, SameSite=Lax, Secure when configured (behind https), expiring after
  ``session_max_age_s``; it holds the user id, a random session id and the CSRF
  token handed out at sign-in;
- sign-out revokes the session id until its cookie would have expired anyway; the
  revocation, the throttle and the owners' notices live in an ``AuthStore`` every
  node shares and a restart keeps (the database, or Redis with the Redis bus);
- throttle (``login_throttle``): per (account, client address) with delays that grow
  after ``login_max_failures`` attempts, and per client address across accounts; an
  anonymous client can never lock an account for its owner at another address;
- a failed sign-in on an existing account is written to the audit log and counted
  for its owner, who is told at the next successful sign-in; that bookkeeping runs
  after the answer (``settled()`` waits for it), so the answer's timing does not say
  whether the username exists;
- sign-out hooks: ``on_sign_out`` callbacks get the session id (the websocket hub
  closes that session's sockets);
- the client's address is the TCP peer, or behind ``trusted_proxies`` the address
  they forwarded (``client_address``);
- the secret key comes from settings, or is generated once into a 0600 file.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import secrets
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp_session.cookie_storage import EncryptedCookieStorage
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agent_console.api import login_throttle as throttle
from agent_console.api.auth_store import AuthStore, Record
from agent_console.api.client_address import Network, parse_networks
from crm_core.audit import audit
from crm_core.kpi import QueueRules
from crm_core.mailings import Links
from crm_core.outbound_lists import CallHours
from crm_core.ownership import OwnershipRules

log = logging.getLogger("agent_console.api")

COOKIE_NAME = "hotline_session"
NOTICE_TTL_S = 90 * 24 * 3600.0  # an owner away this long is not told of older attempts

Clock = Callable[[], float]


@dataclass(frozen=True, kw_only=True)
class ApiConfig:
    """What the API needs from the settings."""

    secret_key: bytes  # 32 bytes (Fernet key material)
    cookie_secure: bool = False
    session_max_age_s: int = 8 * 3600
    login_max_failures: int = 5  # attempts per (account, address) before the delays
    login_delay_s: float = 1.0  # the first delay; it doubles with every attempt after
    login_delay_max_s: float = 15 * 60
    cookie_name: str = COOKIE_NAME
    region: str = "CN"  # default region for phone numbers written without a country code
    ownership: OwnershipRules = OwnershipRules()  # the cap and the pool rule
    login_rate_per_ip: int = 100  # sign-in attempts per client address per window
    login_rate_window_s: float = 60.0
    trusted_proxies: tuple[Network, ...] = ()  # whose X-Forwarded-For names the client
    agent_queues: tuple[str, ...] = ("support", "vip")  # the queues an agent signs into
    recording_base_url: str = ""  # call recordings' links (agent_console.recordings)
    ticket_reopen_days: int = 7  # crm_core.tickets.REOPEN_DAYS: reopen within so many days
    call_hours: CallHours = CallHours()  # when the call lists hand out entries
    # per queue ("*": the others) the service-level rules of the KPIs (the wallboard's)
    queue_rules: Mapping[str, QueueRules] = field(default_factory=dict)
    # the big contracts of the managers' home page: this amount or more, these last days
    big_contract_amount: int = 100_000
    big_contract_days: int = 10
    # Hotline's public address: the unsubscribe links of group mailings (crm_core.mailings)
    public_url: str = "http://127.0.0.1:8080"

    @property
    def mailing_links(self) -> Links:
        """Signs and reads mailings' unsubscribe links (keyed from the secret key)."""
        return Links(self.secret_key, self.public_url)

    @classmethod
    def from_settings(cls, settings: Any) -> ApiConfig:
        """Build from ``hotline.settings.Settings`` (duck-typed: no hotline import)."""
        return cls(
            secret_key=resolve_secret_key(settings.secret_key, Path(settings.secret_key_file)),
            cookie_secure=settings.session_cookie_secure,
            session_max_age_s=settings.session_max_age_s,
            login_max_failures=settings.login_max_failures,
            login_delay_s=float(settings.login_delay_s),
            login_delay_max_s=float(settings.login_delay_max_s),
            region=settings.default_region,
            ownership=OwnershipRules(
                cap=settings.ownership_cap,
                cap_period_days=settings.ownership_cap_period_days,
                pool_after_days=settings.pool_after_days,
            ),
            login_rate_per_ip=settings.login_rate_per_ip,
            login_rate_window_s=float(settings.login_rate_window_s),
            trusted_proxies=parse_networks(settings.trusted_proxies),
            agent_queues=tuple(settings.agent_queues),
            recording_base_url=settings.recording_base_url,
            ticket_reopen_days=settings.ticket_reopen_days,
            call_hours=CallHours.parse(settings.outbound_hours, settings.outbound_days),
            queue_rules={q: QueueRules.from_dict(r)
                         for q, r in getattr(settings, "wallboard_queues", {}).items()},
            big_contract_amount=getattr(settings, "big_contract_amount", 100_000),
            big_contract_days=getattr(settings, "big_contract_days", 10),
            public_url=getattr(settings, "public_url", "")
            or f"http://{settings.http_host}:{settings.http_port}",
        )

    @property
    def policy(self) -> throttle.ThrottlePolicy:
        """The sign-in throttle's numbers."""
        return throttle.ThrottlePolicy(
            free_failures=self.login_max_failures, first_delay_s=self.login_delay_s,
            max_delay_s=self.login_delay_max_s, address_limit=self.login_rate_per_ip,
            address_window_s=self.login_rate_window_s,
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


def _digest(*parts: str) -> str:
    # fixed-size keys whatever was typed; a username stays out of the store's key space
    return hashlib.sha256("\n".join(parts).encode("utf-8")).hexdigest()[:32]


def username_key(username: str) -> str:
    """The one spelling of a username the throttle counts by."""
    return username.strip().casefold()


@dataclass(frozen=True)
class Refusal:
    """A sign-in refused before its password was checked (429 with ``Retry-After``)."""

    error: str  # "throttled" (this account from this address) | "rate-limited" (address)
    wait_s: float


@dataclass
class AuthState:
    """The API's sign-in machinery (one per API app; its state is in ``store``)."""

    config: ApiConfig
    hasher: PasswordHasher = field(default_factory=PasswordHasher)
    # None until the app starts (the database or Redis exists only then): using it
    # before is a bug, and fails loudly rather than falling back to one node's memory
    store: AuthStore | None = None
    clock: Clock = time.time  # wall-clock seconds: the records outlive this process
    dummy_hash: str = field(init=False)
    on_sign_out: list[Callable[[str], Awaitable[None]]] = field(default_factory=list)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set, init=False)

    def __post_init__(self) -> None:
        self.dummy_hash = self.hasher.hash(secrets.token_urlsafe(16))

    @property
    def shared(self) -> AuthStore:
        if self.store is None:
            raise RuntimeError("the API's sign-in store was never set (AuthState.store)")
        return self.store

    # --- sessions ------------------------------------------------------------------

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

    # --- the throttle -------------------------------------------------------------

    async def admit(self, address: str, username: str) -> Refusal | None:
        """Count this sign-in attempt, or say why it may not be tried now."""
        policy, now = self.config.policy, self.clock()
        wait = await self.shared.modify(
            f"addr:{_digest(address)}", lambda r: throttle.address_take(r, now, policy),
            throttle.address_ttl(policy))
        if wait > 0:
            return Refusal("rate-limited", wait)
        wait = await self.shared.modify(
            self._pair(address, username), lambda r: throttle.pair_claim(r, now, policy),
            throttle.pair_ttl(policy))
        return Refusal("throttled", wait) if wait > 0 else None

    async def succeeded(self, address: str, username: str, user_id: int) -> Record | None:
        """A right password: forget this pair's attempts; what the owner is to be told."""
        await self.shared.modify(self._pair(address, username), lambda _r: (None, None),
                                 throttle.pair_ttl(self.config.policy))
        told = await self.shared.modify(f"notice:{user_id}", lambda r: (None, r),
                                        NOTICE_TTL_S)
        return throttle.notice_summary(told)

    def failed(self, address: str, user_id: int | None,
               sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        """A wrong password: tell the owner of an existing account, after the answer."""
        if user_id is not None:
            self._defer(self._record_failure(address, user_id, sessionmaker))

    async def _record_failure(self, address: str, user_id: int,
                              sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        now = self.clock()
        await self.shared.modify(f"notice:{user_id}",
                                 lambda r: (throttle.notice_add(r, now, address), None),
                                 NOTICE_TTL_S)
        async with sessionmaker.begin() as db:
            audit(db, user_id=None, action="sign_in_failed", entity="app_user",
                  entity_id=user_id, after={"address": address})

    def _pair(self, address: str, username: str) -> str:
        return f"pair:{_digest(username_key(username), address)}"

    def _defer(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work, name="sign-in-bookkeeping")
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("could not record a failed sign-in for its owner",
                      exc_info=task.exception())

    async def settled(self) -> None:
        """Wait for the bookkeeping of the sign-ins answered so far."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    # --- passwords ------------------------------------------------------------------

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
