"""The one typed settings object, read once from ``HOTLINE_*`` variables and an
optional TOML file (``HOTLINE_CONFIG=/etc/hotline.toml``). Nothing else in the
code base reads the environment: it is handed a ``Settings``.

Precedence: explicit arguments > environment > TOML file > defaults.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


class Settings(BaseSettings):
    """Hotline configuration. Every field is ``HOTLINE_<NAME>`` in the environment."""

    model_config = SettingsConfigDict(env_prefix="HOTLINE_", extra="ignore")

    config: Path | None = Field(default=None, description="optional TOML file with these keys")
    database_url: str = "sqlite+aiosqlite:///var/hotline.db"
    bus: Literal["memory", "redis"] = "memory"
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_stream: str = "hotline:events"
    # This node's name in the bus's consumer groups (work shared between nodes, e.g. the
    # call log). Default: the host name; two nodes on one host need distinct names, or one
    # would never claim the entries the other left unacked.
    redis_consumer: str | None = None

    # One AMI owner per PBX: with several nodes on a bus, only one connects to Asterisk
    # (it publishes the events); the others set this False and serve their sockets from
    # the bus.
    ami_enabled: bool = True
    # With the Redis bus, every node with ami_enabled is a CANDIDATE: a lease in Redis
    # (hotline.lease) elects the one that connects; if it dies, another takes over after
    # at most ami_lease_ttl_s + ami_lease_renew_s. Controls asked on another node are
    # forwarded to the owner and answered within pbx_request_timeout_s (else 503).
    ami_lease_ttl_s: float = Field(default=4.0, ge=0.5, le=60)
    ami_lease_renew_s: float = Field(default=1.0, gt=0, le=20)
    pbx_request_timeout_s: float = Field(default=10.0, ge=1, le=120)
    ami_host: str = "127.0.0.1"
    ami_port: int = 5038
    ami_username: str = "hotline"
    ami_secret: str = "hotline-secret"
    ami_action_timeout_s: float = 5.0
    ami_ping_interval_s: float = 10.0
    ami_ping_timeout_s: float = 5.0
    ami_reconnect_min_s: float = 0.5
    ami_reconnect_max_s: float = 30.0
    # after a login, how long to wait for FullyBooted (a restarting Asterisk) before the resync
    ami_boot_timeout_s: float = Field(default=60.0, gt=0)
    # What one AMI message may hold (telephony.ami_codec.AmiLimits), far above what
    # Asterisk sends: a longer message is dropped, lines past the count are dropped, a
    # longer line (a caller name...) is cut; each is counted and logged.
    ami_max_message_bytes: int = Field(default=1 << 20, ge=4096)
    ami_max_message_lines: int = Field(default=1000, ge=50)
    ami_max_line_chars: int = Field(default=4096, ge=256)
    # The PBX's CEL journal (deploy/asterisk/cel_custom.conf's CSV file, readable here):
    # after an AMI outage and at start, the calls Hotline could not watch are logged from
    # it (hotline.journal). Empty: no journal, those calls keep the tracker's guess.
    pbx_journal: str = ""

    http_host: str = "127.0.0.1"
    http_port: int = 8080
    # Hotline's address as customers reach it (the unsubscribe links of group mailings,
    # crm_core.mailings); empty: http://<http_host>:<http_port>
    public_url: str = ""
    default_region: str = "CN"
    hotline_numbers: list[str] = Field(default_factory=lambda: ["4008001234", "8008001234"])
    inbound_contexts: list[str] = Field(
        default_factory=lambda: ["from-pstn", "from-trunk", "from-external"]
    )
    # a call whose FIRST channel is in one of these is an agent's Originate (outbound);
    # calls from any other channel are recognised by our Originate's variables
    origin_contexts: list[str] = Field(default_factory=lambda: ["agents"])
    log_level: str = "INFO"

    # The IVR's FastAGI server (ivr.runtime): the dialplan runs
    # AGI(agi://agi_host:agi_port/hotline?did=${EXTEN}); off on nodes that serve no calls.
    # A command may wait for a whole prompt plus the caller's keys: agi_command_timeout_s.
    agi_enabled: bool = True
    agi_host: str = "127.0.0.1"
    agi_port: int = Field(default=4573, ge=0, le=65535)
    agi_command_timeout_s: float = Field(default=120.0, gt=0)
    # Caps on what a FastAGI peer may hold (ivr.agi_limits.AgiLimits). Asterisk's header
    # is ~30 lines, ~1.5 KB, sent at once. Past a cap the connection is closed (logged and
    # counted): the dialplan then queues the caller without the IVR (fail open). Every
    # call of one Asterisk comes from ONE peer: agi_max_sessions_per_peer must be above
    # the IVR calls one PBX has at its busiest.
    agi_header_timeout_s: float = Field(default=5.0, gt=0)
    agi_max_header_bytes: int = Field(default=16 * 1024, ge=1024)
    agi_max_header_lines: int = Field(default=256, ge=16)
    agi_max_line_bytes: int = Field(default=8 * 1024, ge=256)
    agi_max_sessions: int = Field(default=2000, ge=1)
    agi_max_sessions_per_peer: int = Field(default=1000, ge=1)

    # REST API sign-in (agent_console.api). No secret_key: one is generated once and
    # kept in secret_key_file (mode 0600), so sessions survive a restart.
    secret_key: str | None = None
    secret_key_file: Path = Path("var/secret.key")
    session_max_age_s: int = Field(default=8 * 3600, ge=60)
    session_cookie_secure: bool = False  # True behind https: the cookie is then https-only
    # Sign-in throttle (agent_console.api.login_throttle), shared by the nodes: per
    # account AND client address, the first login_max_failures attempts go at once, then
    # each waits login_delay_s doubled per attempt since, at most login_delay_max_s (429
    # with Retry-After); a success from that address starts afresh. Guesses from one
    # address never hold up the owner at another. Per client address, on any accounts:
    # login_rate_per_ip attempts at once, then one every window / that (429 too).
    login_max_failures: int = Field(default=5, ge=1)
    login_delay_s: float = Field(default=1.0, gt=0)
    login_delay_max_s: int = Field(default=15 * 60, ge=1)
    login_rate_per_ip: int = Field(default=100, ge=1)
    login_rate_window_s: int = Field(default=60, ge=1)
    # Reverse proxies in front of Hotline (addresses or networks, e.g. ["127.0.0.1"]):
    # from them, the client's address is the one they add to X-Forwarded-For.
    trusted_proxies: list[str] = Field(default_factory=list)

    # Agent console (issue 5): the queues an agent signs into, the wrap-up after each
    # call (paused at the PBX with reason "wrap-up" until the call log is saved or this
    # many seconds pass; 0 = no wrap-up), and the dialplan contexts the call controls use.
    agent_queues: list[str] = Field(default_factory=lambda: ["support", "vip"])
    wrapup_s: int = Field(default=30, ge=0, le=3600)
    outbound_context: str = "outbound"  # click-to-dial and transfers to a number
    transfer_context: str = "internal"  # transfers to an agent's extension
    queue_transfer_context: str = "hotline-queues"  # transfers to a queue (exten = queue)
    dial_caller_name: str = "Hotline"  # caller ID name of click-to-dial (number: hotline)
    # The wallboard (issue 16): per queue ("*": every other queue) the service-level
    # threshold, the short-abandon cut and the colours' thresholds (crm_core.kpi.QueueRules),
    # e.g. HOTLINE_WALLBOARD_QUEUES='{"*": {"sl_s": 20}, "vip": {"sl_s": 10, "sl_target": 90}}'
    wallboard_queues: dict[str, dict[str, float]] = Field(default_factory=dict)
    # Where the site serves the PBX's recordings folder (deploy/README.md "Call
    # recordings"): a call's link is this + its file name (YYYY/MM/DD/<uniqueid>.wav).
    # "/recordings/" (same origin: the page can also play it) or "https://pbx.example/rec/".
    # Empty: no links.
    recording_base_url: str = ""

    # Ownership rules (crm_core.ownership): a manager may actively take at most
    # ownership_cap customers per ownership_cap_period_days; customers untouched for
    # pool_after_days go back to the shared pool (the daily job).
    ownership_cap: int = Field(default=20, ge=1)
    ownership_cap_period_days: int = Field(default=90, ge=1)
    pool_after_days: int = Field(default=30, ge=1)

    # Tickets (crm_core.tickets, issue 15): a resolved or closed ticket may be reopened
    # within ticket_reopen_days of its resolution; later, a new ticket is opened.
    ticket_reopen_days: int = Field(default=7, ge=0, le=3650)
    # The sales pipeline (crm_core.sales_report, issue 18): the managers' home page shows
    # the contracts worth at least big_contract_amount signed in the last
    # big_contract_days days.
    big_contract_amount: int = Field(default=100_000, ge=0)
    big_contract_days: int = Field(default=10, ge=1, le=366)
    # Outbound call lists (crm_core.outbound_lists): customers are called only within
    # these hours (Asia/Shanghai, "HH:MM-HH:MM") on these ISO weekdays ("1-6" = Mon-Sat)
    outbound_hours: str = "09:00-18:00"
    outbound_days: str = "1-6"
    # Automated survey calls (ivr.survey_dialler, issue 17 item 3): the automated lists'
    # customers are called (within outbound_hours/days) at most survey_max_calls at once,
    # through survey_context (the dialplan dials the number out), into the AGI script
    # "survey" of this node's FastAGI server (survey_agi_host: the address the PBX
    # reaches it at, when agi_host is a wildcard); an answer at most survey_low_score
    # opens a complaint and puts the customer on the agents' follow-up list.
    survey_enabled: bool = True
    survey_max_calls: int = Field(default=4, ge=1, le=200)
    survey_context: str = "outbound"
    survey_agi_host: str = ""
    survey_ring_s: float = Field(default=35.0, gt=0, le=600)
    survey_poll_s: float = Field(default=5.0, gt=0, le=600)
    survey_low_score: int = Field(default=2, ge=1, le=4)

    # Callbacks (ivr.callback_worker): a new callback may be tried max_attempts times
    # (busy / no answer / failed), retry_s apart; an agent who does not answer within
    # agent_ring_s gives it to another after agent_retry_s. Once the agent answers, the
    # dialplan context dials the customer (Exten = the number, caller ID = the first
    # hotline number). Rows another run left "dialing" are judged after orphan_grace_s.
    callback_queue: str = "support"  # queue of callbacks scheduled from the console
    callback_max_attempts: int = Field(default=3, ge=1, le=20)
    callback_retry_s: float = Field(default=120.0, ge=0)
    callback_agent_retry_s: float = Field(default=5.0, ge=0)
    callback_agent_ring_s: float = Field(default=20.0, gt=0, le=600)
    callback_context: str = "outbound"
    callback_poll_s: float = Field(default=1.0, gt=0, le=60)
    callback_orphan_grace_s: float = Field(default=10.0, ge=0)

    # Notifications (crm_core.outbox, hotline.outbox_worker): email over SMTP (smtp_host
    # empty: email waits in the outbox), SMS through an HTTP gateway that takes a POST of
    # JSON {"to": ..., "text": ...} (empty: SMS wait). A failed message is retried
    # outbox_backoff_s x 2^(attempt-1) later, at most outbox_max_attempts times, then
    # marked failed with its last error. Every node runs a worker; each message is sent once.
    smtp_host: str = ""
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_from: str = "hotline@localhost"
    smtp_tls: Literal["auto", "starttls", "tls", "none"] = "auto"
    smtp_timeout_s: float = Field(default=30.0, gt=0)
    sms_gateway_url: str = ""
    sms_timeout_s: float = Field(default=10.0, gt=0)
    outbox_poll_s: float = Field(default=2.0, gt=0, le=300)
    outbox_max_attempts: int = Field(default=8, ge=1, le=50)
    outbox_backoff_s: float = Field(default=30.0, ge=0)
    # SLA (crm_core.sla): the sweep runs every sla_sweep_s on ONE node (a lease in Redis
    # with several nodes); the service director (a username) is the escalation's last step.
    sla_sweep_s: float = Field(default=30.0, gt=0, le=3600)
    sla_director: str = ""
    @field_validator("wallboard_queues")
    @classmethod
    def _queue_rules(cls, value: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
        from crm_core.kpi import QueueRules  # pure, no I/O: names the bad key or value

        for queue, rules in value.items():
            try:
                QueueRules.from_dict(rules)
            except ValueError as exc:
                raise ValueError(f"wallboard_queues[{queue!r}]: {exc}") from None
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for item in value:
            ipaddress.ip_network(item.strip(), strict=False)  # ValueError names the bad one
        return value

    @model_validator(mode="after")
    def _lease_renewed_in_time(self) -> Settings:
        # renewed at least twice within the lease's trusted part (lease.GUARD keeps 20 %)
        if self.ami_lease_renew_s * 2 > self.ami_lease_ttl_s * 0.8:
            raise ValueError("ami_lease_renew_s must be at most 0.4 x ami_lease_ttl_s")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_path = init_settings().get("config") or _env_config_path()
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if toml_path:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_path))
        return tuple(sources)


def _env_config_path() -> str | None:
    # The single place, besides pydantic-settings itself, that reads the environment.
    return os.environ.get("HOTLINE_CONFIG") or None


def load_settings(**overrides: Any) -> Settings:
    """Read the settings once (environment + optional TOML); overrides win."""
    return Settings(**overrides)
