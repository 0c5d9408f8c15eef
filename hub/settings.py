"""One typed, frozen settings object built from the environment.

Nothing else in the code base reads ``os.environ``: the settings object is built once at start-up
and passed down. An invalid value stops start-up with a :class:`SettingsError` that names the
variable and what is expected. Secrets are wrapped in :class:`Secret` so they never reach a log.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from urllib.parse import urlsplit

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
DEFAULT_SLACK_SCOPES = "commands,chat:write,chat:write.public,files:write,app_mentions:read,usergroups:read"
_PATTERN_RE = re.compile(r"^[a-z0-9_*?-]{1,64}\.[A-Za-z0-9_.*?-]{1,128}$")
_SLACK_ID_RE = re.compile(r"^[UWS][A-Z0-9]{2,20}$")
_SNOWFLAKE_RE = re.compile(r"^[0-9]{1,20}$")


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class Secret:
    """A string that never shows itself in ``repr``/``str`` (and so never in logs)."""

    _value: str = field(repr=False)

    def get(self) -> str:
        return self._value

    def __str__(self) -> str:
        return "**********"

    def __repr__(self) -> str:
        return "Secret('**********')"


def default_data_dir(env: Mapping[str, str]) -> Path:
    """Per-user data directory: ``$XDG_DATA_HOME/garageswarm`` or ``~/.local/share/garageswarm``."""
    base = env.get("XDG_DATA_HOME") or str(Path(env.get("HOME") or Path.home()) / ".local" / "share")
    return Path(base) / "garageswarm"


class _Reader:
    """Reads and validates one variable at a time, naming it in every error."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env

    def raw(self, name: str) -> str | None:
        value = self.env.get(name)
        if value is None or value.strip() == "":
            return None
        return value.strip()

    def string(self, name: str, default: str) -> str:
        return self.raw(name) or default

    def secret(self, name: str, *, min_length: int = 1) -> Secret | None:
        value = self.raw(name)
        if value is None:
            return None
        if len(value) < min_length:
            raise SettingsError(f"{name} is too short: expected at least {min_length} characters")
        return Secret(value)

    def integer(self, name: str, default: int, *, low: int, high: int) -> int:
        value = self.raw(name)
        if value is None:
            return default
        try:
            number = int(value)
        except ValueError:
            raise SettingsError(f"{name}={value!r} is not an integer: expected {low}..{high}") from None
        if not low <= number <= high:
            raise SettingsError(f"{name}={number} is out of range: expected {low}..{high}")
        return number

    def number(self, name: str, default: float, *, low: float, high: float) -> float:
        value = self.raw(name)
        if value is None:
            return default
        try:
            number = float(value)
        except ValueError:
            raise SettingsError(f"{name}={value!r} is not a number: expected {low}..{high}") from None
        if not low <= number <= high:
            raise SettingsError(f"{name}={number} is out of range: expected {low}..{high}")
        return number

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        value = (self.raw(name) or default).upper()
        if value not in choices:
            raise SettingsError(f"{name}={value!r} is not one of {', '.join(choices)}")
        return value

    def patterns(self, name: str) -> tuple[str, ...]:
        """Comma-separated tool patterns such as ``git.git_commit,claude_code.*``."""
        value = self.raw(name)
        if value is None:
            return ()
        patterns = tuple(part.strip() for part in value.split(",") if part.strip())
        for pattern in patterns:
            if not _PATTERN_RE.match(pattern):
                raise SettingsError(f"{name}: {pattern!r} is not a tool pattern like server.tool or server.*")
        return patterns

    def url(self, name: str, schemes: tuple[str, ...], default: str | None = None) -> str | None:
        """A URL with one of ``schemes``; the error never echoes the value (it may hold a password)."""
        value = self.raw(name) or default
        if value is None:
            return None
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 - raises ValueError on a malformed port
        except ValueError:
            raise SettingsError(f"{name} is not a valid URL: expected {schemes[0]}://...") from None
        if parts.scheme not in schemes:
            raise SettingsError(
                f"{name} has scheme {parts.scheme or '(none)'!r}: expected one of "
                + ", ".join(f"{s}://" for s in schemes)
            )
        if parts.scheme not in ("unix",) and not parts.hostname and "host=" not in parts.query:
            raise SettingsError(f"{name} has no host: expected {schemes[0]}://HOST[:PORT]/...")
        return value


@dataclass(frozen=True)
class Settings:
    """Everything configurable, read once from the environment (names as in DESIGN.md)."""

    data_dir: Path
    database_url: str | None = None
    redis_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8080
    log_level: str = "INFO"
    secret_key: Secret | None = None
    hub_url: str = "http://127.0.0.1:8080"
    token: Secret | None = None
    api_key: Secret | None = None
    agent_config: Path | None = None
    max_request_bytes: int = 1024 * 1024
    max_retries: int = 3
    heartbeat_interval_s: float = 5.0
    heartbeat_timeout_s: float = 20.0
    requeue_after_s: float = 15.0
    safe_to_repeat: tuple[str, ...] = ()  # tools whose lost calls may run again, whatever they declare
    approval_tools: tuple[str, ...] = ()
    approval_timeout_s: float = 3600.0
    slack_approvers: tuple[str, ...] = ()
    slack_signing_secret: Secret | None = None
    slack_bot_token: Secret | None = None
    slack_api_url: str = "https://slack.com/api/"
    slack_client_id: str | None = None
    slack_client_secret: Secret | None = None
    slack_scopes: str = DEFAULT_SLACK_SCOPES
    discord_application_id: str | None = None
    discord_public_key: str | None = None
    discord_bot_token: Secret | None = None
    discord_api_url: str = "https://discord.com/api/v10"
    discord_approvers: tuple[str, ...] = ()  # Discord user ids or role ids
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: Secret | None = None
    oidc_scopes: str = "openid email profile"
    oidc_groups_claim: str = "groups"
    oidc_role_map: tuple[tuple[str, str, tuple[str, ...]], ...] = ()  # (group, role, tool patterns)
    session_ttl_s: float = 8 * 3600.0
    webhook_max_body_bytes: int = 1024 * 1024
    webhook_rate_limit_per_min: int = 600
    webhook_retry_schedule_s: tuple[float, ...] = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0)
    webhook_timeout_s: float = 10.0
    webhook_disable_after_s: float = 3 * 86400.0
    webhook_allow_networks: tuple[str, ...] = ()
    webhook_retention_days: float = 30.0  # processed inbound and finished outbound deliveries are then deleted

    @property
    def embedded_database(self) -> bool:
        return self.database_url is None

    @property
    def embedded_redis(self) -> bool:
        return self.redis_url is None

    def with_stores(self, database_url: str, redis_url: str) -> Settings:
        """A copy pointing at concrete store URLs (used once the embedded stores are up)."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update(database_url=database_url, redis_url=redis_url)
        return Settings(**values)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Build and validate settings; raise :class:`SettingsError` naming the bad variable."""
        read = _Reader(os.environ if env is None else env)
        data_dir = read.raw("GARAGESWARM_DATA_DIR")
        heartbeat_interval_s = read.number("GARAGESWARM_HEARTBEAT_INTERVAL_S", 5.0, low=0.05, high=300)
        heartbeat_timeout_s = read.number("GARAGESWARM_HEARTBEAT_TIMEOUT_S", 20.0, low=0.1, high=3600)
        if heartbeat_timeout_s <= heartbeat_interval_s:
            raise SettingsError("GARAGESWARM_HEARTBEAT_TIMEOUT_S must be greater than GARAGESWARM_HEARTBEAT_INTERVAL_S")
        _check_slack_install(read)
        if read.raw("OIDC_ISSUER") and not read.raw("OIDC_CLIENT_ID"):
            raise SettingsError("OIDC_CLIENT_ID is required when OIDC_ISSUER is set")
        return cls(
            data_dir=Path(data_dir).expanduser() if data_dir else default_data_dir(read.env),
            database_url=read.url("DATABASE_URL", ("postgresql", "postgres")),
            redis_url=read.url("REDIS_URL", ("redis", "rediss", "unix")),
            host=read.string("HOST", "127.0.0.1"),
            port=read.integer("PORT", 8080, low=1, high=65535),
            log_level=read.choice("LOG_LEVEL", "INFO", LOG_LEVELS),
            secret_key=read.secret("GARAGESWARM_SECRET_KEY", min_length=32),
            hub_url=read.url("GARAGESWARM_HUB_URL", ("http", "https"), "http://127.0.0.1:8080") or "",
            token=read.secret("GARAGESWARM_TOKEN"),
            api_key=read.secret("GARAGESWARM_API_KEY"),
            agent_config=Path(agent_config) if (agent_config := read.raw("GARAGESWARM_AGENT_CONFIG")) else None,
            max_request_bytes=read.integer(
                "GARAGESWARM_MAX_REQUEST_BYTES", 1024 * 1024, low=1024, high=64 * 1024 * 1024
            ),
            max_retries=read.integer("GARAGESWARM_MAX_RETRIES", 3, low=0, high=20),
            heartbeat_interval_s=heartbeat_interval_s,
            heartbeat_timeout_s=heartbeat_timeout_s,
            requeue_after_s=read.number("GARAGESWARM_REQUEUE_AFTER_S", 15.0, low=0.5, high=3600),
            safe_to_repeat=read.patterns("GARAGESWARM_SAFE_TO_REPEAT"),
            approval_tools=read.patterns("GARAGESWARM_APPROVAL_TOOLS"),
            approval_timeout_s=read.number("GARAGESWARM_APPROVAL_TIMEOUT_S", 3600.0, low=1, high=7 * 86400),
            slack_approvers=_slack_ids(read, "SLACK_APPROVERS"),
            slack_signing_secret=read.secret("SLACK_SIGNING_SECRET"),
            slack_bot_token=read.secret("SLACK_BOT_TOKEN"),
            slack_api_url=read.url("SLACK_API_URL", ("http", "https"), "https://slack.com/api/") or "",
            slack_client_id=read.raw("SLACK_CLIENT_ID"),
            slack_client_secret=read.secret("SLACK_CLIENT_SECRET"),
            slack_scopes=read.string("SLACK_SCOPES", DEFAULT_SLACK_SCOPES),
            discord_application_id=read.raw("DISCORD_APPLICATION_ID"),
            discord_public_key=_hex_key(read, "DISCORD_PUBLIC_KEY"),
            discord_bot_token=read.secret("DISCORD_BOT_TOKEN"),
            discord_api_url=read.url("DISCORD_API_URL", ("http", "https"), "https://discord.com/api/v10") or "",
            discord_approvers=_snowflakes(read, "DISCORD_APPROVERS"),
            oidc_issuer=read.url("OIDC_ISSUER", ("https", "http")),
            oidc_client_id=read.raw("OIDC_CLIENT_ID"),
            oidc_client_secret=read.secret("OIDC_CLIENT_SECRET"),
            oidc_scopes=read.string("OIDC_SCOPES", "openid email profile"),
            oidc_groups_claim=read.string("OIDC_GROUPS_CLAIM", "groups"),
            oidc_role_map=_role_map(read, "OIDC_ROLE_MAP"),
            session_ttl_s=read.number("GARAGESWARM_SESSION_TTL_S", 8 * 3600.0, low=60, high=30 * 86400),
            webhook_max_body_bytes=read.integer(
                "GARAGESWARM_WEBHOOK_MAX_BYTES", 1024 * 1024, low=1024, high=64 * 1024 * 1024
            ),
            webhook_rate_limit_per_min=read.integer("GARAGESWARM_WEBHOOK_RATE_LIMIT_PER_MIN", 600, low=1, high=10**7),
            webhook_retry_schedule_s=_seconds_list(read, "GARAGESWARM_WEBHOOK_RETRY_SCHEDULE_S")
            or (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0),
            webhook_timeout_s=read.number("GARAGESWARM_WEBHOOK_TIMEOUT_S", 10.0, low=0.1, high=120),
            webhook_disable_after_s=read.number(
                "GARAGESWARM_WEBHOOK_DISABLE_AFTER_S", 3 * 86400.0, low=1, high=90 * 86400
            ),
            webhook_allow_networks=_networks(read, "GARAGESWARM_WEBHOOK_ALLOW_NETWORKS"),
            webhook_retention_days=read.number("GARAGESWARM_WEBHOOK_RETENTION_DAYS", 30.0, low=1, high=3650),
        )


def _check_slack_install(read: _Reader) -> None:
    """OAuth installs need the client secret, and a secret key to encrypt the tokens they store."""
    if not read.raw("SLACK_CLIENT_ID"):
        return
    if not read.raw("SLACK_CLIENT_SECRET"):
        raise SettingsError("SLACK_CLIENT_SECRET is required when SLACK_CLIENT_ID is set")
    if not read.raw("GARAGESWARM_SECRET_KEY"):
        raise SettingsError("GARAGESWARM_SECRET_KEY is required when SLACK_CLIENT_ID is set (tokens are encrypted)")


def _slack_ids(read: _Reader, name: str) -> tuple[str, ...]:
    value = read.raw(name)
    ids = tuple(part.strip() for part in (value or "").split(",") if part.strip())
    for slack_id in ids:
        if not _SLACK_ID_RE.match(slack_id):
            raise SettingsError(f"{name}: {slack_id!r} is not a Slack user id (U…/W…) or user group id (S…)")
    return ids


def _snowflakes(read: _Reader, name: str) -> tuple[str, ...]:
    """Comma-separated Discord ids (users or roles: both are snowflakes)."""
    value = read.raw(name)
    ids = tuple(part.strip() for part in (value or "").split(",") if part.strip())
    for snowflake in ids:
        if not _SNOWFLAKE_RE.match(snowflake):
            raise SettingsError(f"{name}: {snowflake!r} is not a Discord user or role id (digits)")
    return ids


def _hex_key(read: _Reader, name: str) -> str | None:
    value = read.raw(name)
    if value is None:
        return None
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raise SettingsError(f"{name} is not hex: expected the 64-hex-digit application public key") from None
    if len(raw) != 32:
        raise SettingsError(f"{name} has {len(raw)} bytes: expected 32 (64 hex digits)")
    return value.lower()


def _seconds_list(read: _Reader, name: str) -> tuple[float, ...]:
    """Comma-separated delays in seconds, such as ``5,300,1800``."""
    value = read.raw(name)
    if value is None:
        return ()
    try:
        delays = tuple(float(part) for part in value.split(",") if part.strip())
    except ValueError:
        raise SettingsError(f"{name}={value!r} is not a list of seconds like 5,300,1800") from None
    if not delays or len(delays) > 20 or any(not 0 <= d <= 7 * 86400 for d in delays):
        raise SettingsError(f"{name}: expected 1-20 comma-separated delays of 0..604800 seconds")
    return delays


def _networks(read: _Reader, name: str) -> tuple[str, ...]:
    """Comma-separated IP addresses or networks (``127.0.0.1,10.0.0.0/8``) outbound webhooks may reach."""
    value = read.raw(name)
    networks = tuple(part.strip() for part in (value or "").split(",") if part.strip())
    for network in networks:
        try:
            ipaddress.ip_network(network, strict=False)
        except ValueError:
            raise SettingsError(f"{name}: {network!r} is not an IP address or network like 10.0.0.0/8") from None
    return networks


ROLE_NAMES = ("admin", "operator", "approver", "viewer")


def _role_map(read: _Reader, name: str) -> tuple[tuple[str, str, tuple[str, ...]], ...]:
    """``GROUP=ROLE[:PATTERN|PATTERN],...``: ID-token groups granting roles (operators with tool patterns)."""
    value = read.raw(name)
    entries = []
    for part in (value or "").split(","):
        if not part.strip():
            continue
        group, sep, grant = part.strip().partition("=")
        role, _, patterns = grant.partition(":")
        tools = tuple(p.strip() for p in patterns.split("|") if p.strip())
        if not sep or not group.strip() or role.strip() not in ROLE_NAMES:
            raise SettingsError(f"{name}: {part.strip()!r} is not GROUP=ROLE with ROLE one of {', '.join(ROLE_NAMES)}")
        if any(t != "*" and not _PATTERN_RE.match(t) for t in tools):
            raise SettingsError(f"{name}: {part.strip()!r} has a tool pattern that is not server.tool, server.* or *")
        entries.append((group.strip(), role.strip(), tools))
    return tuple(entries)
