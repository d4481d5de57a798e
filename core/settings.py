"""StreamCore's configuration: one pydantic-settings model, read once at start-up.

Every field maps to the environment variable of the same name in upper case, and may also come
from a `.env` file in the working directory. `load_settings()` is the only place that reads the
environment; everything else receives a `Settings` instance.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal
from urllib.parse import quote, urlsplit, urlunsplit

from cryptography.fernet import Fernet
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.constants import EVENTSUB_STREAM_MAXLEN
from core.errors import ConfigError

_HTTP_SCHEMES = ("http", "https")
_WS_SCHEMES = ("ws", "wss")
_REDIS_SCHEMES = ("redis", "rediss", "unix")
_POSTGRES_SCHEMES = ("postgresql", "postgres")


def _check_url(value: str, schemes: tuple[str, ...]) -> str:
    parts = urlsplit(value)
    if parts.scheme not in schemes or not (parts.netloc or parts.path):
        allowed = ", ".join(f"{s}://" for s in schemes)
        raise ValueError(f"must be a URL starting with {allowed}")
    return value.rstrip("/") if parts.scheme in _HTTP_SCHEMES else value


class Settings(BaseSettings):
    """Everything StreamCore can be told. `.env.example` documents each field."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    twitch_client_id: str = ""
    twitch_client_secret: SecretStr = SecretStr("")
    twitch_redirect_uri: str = "http://localhost:8000/tokens/callback"
    twitch_auth_url: str = "https://id.twitch.tv/oauth2"
    twitch_api_url: str = "https://api.twitch.tv/helix"
    twitch_eventsub_ws_url: str = "wss://eventsub.wss.twitch.tv/ws"
    twitch_moderator_id: str = ""
    #: `websocket`: one EventSub session with the user token, held by the coordinator.
    #: `conduit`: a conduit with STREAMCORE_SHARDS shards spread over the replicas (app
    #: token: needs TWITCH_CLIENT_SECRET); a dead replica's shards move with no loss.
    #: `webhook`: Twitch POSTs each notification to STREAMCORE_PUBLIC_URL and retries until
    #: it is stored (app token: needs TWITCH_CLIENT_SECRET), so restarts lose nothing.
    twitch_eventsub_transport: Literal["websocket", "conduit", "webhook"] = "websocket"
    #: The public origin Twitch reaches this server at (webhook transport): https on port 443.
    streamcore_public_url: str = ""
    #: Where Twitch POSTs webhook notifications (under STREAMCORE_PUBLIC_URL).
    streamcore_eventsub_callback_path: str = Field(
        default="/eventsub/callback", pattern=r"^/[A-Za-z0-9/_.-]*$"
    )
    #: Signs webhook notifications (10 to 100 ASCII characters); generated and stored
    #: encrypted when unset.
    twitch_eventsub_secret: SecretStr | None = None
    #: Shards of the conduit (conduit transport).
    streamcore_shards: int = Field(default=2, ge=1, le=20_000)
    #: What a conduit shard is: `websocket` (one session each, on whichever replica holds its
    #: lease) or `webhook` (every shard calls STREAMCORE_PUBLIC_URL's callback, so whichever
    #: replica the proxy picks stores it before answering: a replica's death loses nothing).
    twitch_conduit_shard_transport: Literal["websocket", "webhook"] = "websocket"

    redis_url: SecretStr | None = None
    database_url: SecretStr | None = None
    postgres_host: str | None = None
    postgres_port: int = Field(default=5432, ge=1, le=65535)
    postgres_user: str = "postgres"
    postgres_password: SecretStr = SecretStr("")
    postgres_db: str = "streamcore"

    streamcore_data_dir: Path = Path("./data")
    streamcore_admin_token: SecretStr | None = None
    token_encryption_key: SecretStr | None = None

    streamcore_host: str = "127.0.0.1"
    streamcore_port: int = Field(default=8000, ge=1, le=65535)
    streamcore_log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    streamcore_log_format: Literal["text", "json"] = "text"
    streamcore_stream_maxlen: int = Field(default=EVENTSUB_STREAM_MAXLEN, ge=100)
    streamcore_autostart: bool = False
    #: false: this process runs the gateway and the fan-out only, and the workers run in
    #: processes of their own (`streamcore workers run`, needs REDIS_URL).
    streamcore_run_workers: bool = True
    streamcore_startup_wait_s: float = Field(default=0.0, ge=0, le=3600)
    #: Set by `streamcore demo`: the simulator's URL, which enables the dashboard's trigger
    #: buttons (POST /demo/trigger). Never point it at anything but a StreamCore simulator.
    streamcore_demo_simulator_url: str | None = None
    streamcore_allow_insecure: bool = False
    #: This replica's name in the cluster (status, consumer names); default host:port.
    streamcore_replica_id: str = Field(default="", max_length=100, pattern=r"^[A-Za-z0-9_.:@-]*$")
    #: Leases (the coordinator's, each replica's identity) last this long without renewal,
    #: so a dead replica's part is taken over within about this many seconds.
    streamcore_lease_s: float = Field(default=5.0, ge=1.0, le=300.0)

    # -- event fan-out (WS /ws/events); the policies are described in events/api.py
    ws_require_auth: bool = False
    ws_client_buffer: int = Field(default=1_000, ge=1, le=1_000_000)
    ws_client_buffer_bytes: int = Field(default=1_048_576, ge=4_096, le=1_073_741_824)
    ws_ping_interval_s: float = Field(default=20.0, gt=0, le=3_600)
    ws_ping_timeout_s: float = Field(default=20.0, gt=0, le=3_600)
    ws_inbound_max_bytes: int = Field(default=4_096, ge=64, le=1_048_576)
    ws_inbound_rate: float = Field(default=5.0, gt=0, le=10_000)
    ws_inbound_burst: int = Field(default=20, ge=1, le=100_000)
    #: Action calls per second (and burst) per client key, across replicas (app/callers.py).
    actions_call_rate: float = Field(default=5.0, gt=0, le=10_000)
    actions_call_burst: int = Field(default=10, ge=1, le=100_000)
    events_retention_count: int = Field(default=10_000, ge=10, le=10_000_000)
    events_retention_seconds: int = Field(default=600, ge=1, le=30 * 24 * 3600)
    #: `?since=` replays reading the event log at once per process; more clients queue.
    ws_replay_concurrency: int = Field(default=8, ge=1, le=1_000)
    #: Redis connections per process; a call waits for a free one instead of failing.
    redis_max_connections: int = Field(default=100, ge=8, le=10_000)

    # -- HTTP hardening (app/guards.py, app/sessions.py): request size, trusted Host names and
    # the dashboard's server-side login sessions
    #: Largest request body accepted (Content-Length or streamed); larger ones get 413.
    streamcore_max_body_bytes: int = Field(default=1_048_576, ge=1_024, le=1_073_741_824)
    #: Host names (comma-separated) this server answers besides loopback names, the concrete
    #: STREAMCORE_HOST and the host of TWITCH_REDIRECT_URI; anything else is refused (DNS
    #: rebinding). Their http/https origins may also send state-changing requests.
    streamcore_allowed_hosts: str = ""
    #: A dashboard login lasts at most this long, and ends sooner after this long unused.
    streamcore_session_max_age_s: float = Field(default=7 * 24 * 3600, gt=0, le=366 * 24 * 3600)
    streamcore_session_idle_s: float = Field(default=12 * 3600, gt=0, le=366 * 24 * 3600)

    @field_validator("streamcore_allowed_hosts")
    @classmethod
    def _host_names(cls, value: str) -> str:
        """Lower-case bare names, IPv6 without brackets (as a Host header parses to)."""
        names = []
        for raw in value.split(","):
            name = raw.strip().lower().rstrip(".").removeprefix("[").removesuffix("]")
            if not name:
                continue
            # A URL or a port here is a common slip; say so instead of never matching.
            if ":" in name:  # only an IPv6 address may hold a colon
                try:
                    name = str(ipaddress.IPv6Address(name))
                except ValueError:
                    name = ""
            elif not all(ch.isascii() and (ch.isalnum() or ch in "-._") for ch in name):
                name = ""
            if not name:
                raise ValueError(
                    f"{raw.strip()!r} is not a host name: list bare names such as "
                    "streamcore.example.com,192.168.1.50 (no scheme, port or path)"
                )
            names.append(name)
        return ",".join(names)

    # -- input limits: what WS /ws/events clients may negotiate (read by `streamcore run`,
    # cli/commands/run.py; other entry points follow their server's own options, see README)
    #: permessage-deflate for clients that offer it (every browser does). Off by default: an
    #: idle client then costs ~3x the memory (two zlib contexts) while our small JSON frames,
    #: written pre-framed to every client, gain little.
    ws_compression: bool = False

    # -- EventSub gateway (gateway/service.py): None means Twitch's default keepalive (10 s)
    eventsub_keepalive_timeout_s: int | None = Field(default=None, ge=10, le=600)
    eventsub_max_frame_bytes: int = Field(default=1_048_576, ge=65_536, le=67_108_864)

    @field_validator("streamcore_log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("twitch_redirect_uri", "twitch_auth_url", "twitch_api_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return _check_url(value, _HTTP_SCHEMES)

    @field_validator("twitch_eventsub_ws_url")
    @classmethod
    def _ws_url(cls, value: str) -> str:
        return _check_url(value, _WS_SCHEMES)

    @field_validator(
        "redis_url",
        "database_url",
        "streamcore_admin_token",
        "token_encryption_key",
        "streamcore_demo_simulator_url",
        "eventsub_keepalive_timeout_s",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            _check_url(value.get_secret_value(), _REDIS_SCHEMES)
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            _check_url(value.get_secret_value(), _POSTGRES_SCHEMES)
        return value

    @field_validator("token_encryption_key")
    @classmethod
    def _fernet_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            try:
                Fernet(value.get_secret_value().encode())
            except (ValueError, TypeError):
                raise ValueError(
                    "must be a Fernet key (32 url-safe base64 bytes); make one with "
                    "`uv run python -c 'from cryptography.fernet import Fernet; "
                    "print(Fernet.generate_key().decode())'`"
                ) from None
        return value

    @model_validator(mode="after")
    def _app_token_transports(self) -> Settings:
        transport = self.twitch_eventsub_transport
        if transport != "websocket" and not self.twitch_client_secret.get_secret_value():
            raise ValueError(
                f"TWITCH_EVENTSUB_TRANSPORT={transport} needs TWITCH_CLIENT_SECRET ({transport} "
                "subscriptions use an app access token); set it, or use "
                "TWITCH_EVENTSUB_TRANSPORT=websocket"
            )
        if transport == "webhook" and not self.streamcore_public_url:
            raise ValueError(
                "TWITCH_EVENTSUB_TRANSPORT=webhook needs STREAMCORE_PUBLIC_URL, the https origin "
                "Twitch reaches this server at (e.g. https://streamcore.example.com)"
            )
        if self.webhook_shards and not self.streamcore_public_url:
            raise ValueError(
                "TWITCH_CONDUIT_SHARD_TRANSPORT=webhook needs STREAMCORE_PUBLIC_URL, the https "
                "origin Twitch reaches the replicas at (e.g. https://streamcore.example.com)"
            )
        return self

    @field_validator("streamcore_public_url")
    @classmethod
    def _public_url(cls, value: str) -> str:
        if not value:
            return value
        parts = urlsplit(value)
        host = parts.hostname or ""
        if parts.scheme not in ("http", "https") or not host or parts.path not in ("", "/"):
            raise ValueError("must be an origin such as https://streamcore.example.com (no path)")
        # Twitch calls back only https on port 443; plain http is accepted for loopback
        # hosts, where only StreamCore's simulator can call (streamcore demo).
        if not is_loopback(host) and (parts.scheme != "https" or parts.port not in (None, 443)):
            raise ValueError(
                "Twitch calls webhooks only on https port 443: use https://<your host> "
                "(a reverse proxy terminates TLS, see the README)"
            )
        return value.rstrip("/")

    @field_validator("twitch_eventsub_secret")
    @classmethod
    def _eventsub_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            secret = value.get_secret_value()
            if not secret:
                return None  # empty: generated and stored
            if not (10 <= len(secret) <= 100) or not secret.isascii():
                raise ValueError("must be 10 to 100 ASCII characters (Twitch's rule)")
        return value

    @model_validator(mode="after")
    def _admin_token_strength(self) -> Settings:
        token = self.streamcore_admin_token
        if token is not None and len(token.get_secret_value()) < 16:
            raise ValueError("STREAMCORE_ADMIN_TOKEN must be at least 16 characters")
        return self

    # -- derived values -------------------------------------------------------------------

    @property
    def postgres_dsn(self) -> str | None:
        """The PostgreSQL URL from DATABASE_URL, or built from POSTGRES_*; None for SQLite."""
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        if self.postgres_host:
            password = self.postgres_password.get_secret_value()
            auth = quote(self.postgres_user, safe="")
            if password:
                auth += ":" + quote(password, safe="")
            return (
                f"postgresql://{auth}@{self.postgres_host}:{self.postgres_port}/"
                f"{quote(self.postgres_db, safe='')}"
            )
        return None

    @property
    def sqlite_path(self) -> Path:
        return self.streamcore_data_dir / "streamcore.db"

    @property
    def webhook_shards(self) -> bool:
        """The conduit's shards are webhooks on STREAMCORE_PUBLIC_URL."""
        conduit = self.twitch_eventsub_transport == "conduit"
        return conduit and self.twitch_conduit_shard_transport == "webhook"

    @property
    def receives_webhooks(self) -> bool:
        """Twitch POSTs notifications to this server's callback (every replica serves it)."""
        return self.twitch_eventsub_transport == "webhook" or self.webhook_shards

    @property
    def redis_dsn(self) -> str | None:
        return None if self.redis_url is None else self.redis_url.get_secret_value()

    @property
    def listens_beyond_loopback(self) -> bool:
        return not is_loopback(self.streamcore_host)


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and `localhost`; anything else is reachable from outside."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def redact_url(url: str) -> str:
    """The URL with any password replaced by `***`, safe for logs and error messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


def describe_validation_error(error: ValidationError) -> str:
    """One line naming the first bad variable and what is wrong, without echoing secrets."""
    first = error.errors()[0]
    location = [str(part) for part in first.get("loc", ()) if part != "__root__"]
    message = first.get("msg", "invalid value").removeprefix("Value error, ")
    if not location:
        return f"Invalid configuration: {message}. Fix it in the environment or in .env."
    variable = location[0].upper()
    return f"Invalid setting {variable}: {message}. Fix it in the environment or in .env."


def load_settings(**overrides: object) -> Settings:
    """Read the environment and `.env` once; raise ConfigError with a one-line message."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        raise ConfigError(describe_validation_error(error)) from None
