"""The hardening's parts on their own: sessions and the login throttle on a fake clock, the
Host and Origin rules, the allowed-hosts setting, and the guard's list of control paths (which
must be exactly the routes guarded by AdminRequired)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.guards import RequestGuard, is_control_path
from app.origins import HostPolicy, host_name
from app.sessions import NAMESPACE, DashboardSessions
from app.throttle import LoginThrottle
from core.errors import ConfigError
from core.settings import Settings, load_settings
from db_infrastructure.sqlite import SQLiteStore
from tests.security.conftest import ADMIN_TOKEN, http, serving


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class CountingStore(SQLiteStore):
    """SQLite, counting writes (the idle refresh must not write on every request)."""

    puts = 0

    async def put(self, namespace: str, key: str, value: str, ttl_s: float | None = None) -> None:
        self.puts += 1
        await super().put(namespace, key, value, ttl_s)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[CountingStore]:
    backend = CountingStore(tmp_path / "sessions.db")
    await backend.connect()
    yield backend
    await backend.close()


# -- sessions ---------------------------------------------------------------------------------


async def test_a_session_ends_at_its_absolute_expiry_even_in_use(store: CountingStore) -> None:
    clock = Clock()
    sessions = DashboardSessions(store, max_age_s=3600, idle_s=600, clock=clock)
    session_id = await sessions.open()
    for _ in range(11):  # used every 5 minutes: never idle
        assert await sessions.check(session_id)
        clock.now += 300
    clock.now += 300  # 3600 s after login
    assert not await sessions.check(session_id)
    assert await store.items(NAMESPACE) == {}


async def test_a_session_ends_after_the_idle_timeout(store: CountingStore) -> None:
    clock = Clock()
    sessions = DashboardSessions(store, max_age_s=3600, idle_s=600, clock=clock)
    session_id = await sessions.open()
    clock.now += 599
    assert await sessions.check(session_id)  # refreshed: idle again from here
    clock.now += 599
    assert await sessions.check(session_id)
    clock.now += 600
    assert not await sessions.check(session_id)


async def test_use_is_written_back_at_most_once_a_minute(store: CountingStore) -> None:
    clock = Clock()
    sessions = DashboardSessions(store, max_age_s=86_400, idle_s=43_200, clock=clock)
    session_id = await sessions.open()
    assert store.puts == 1
    for _ in range(59):  # the dashboard polls every few seconds
        clock.now += 1
        assert await sessions.check(session_id)
    assert store.puts == 1
    clock.now += 1
    assert await sessions.check(session_id)
    assert store.puts == 2


def test_a_short_idle_timeout_is_refreshed_at_least_twice_per_period() -> None:
    sessions = DashboardSessions(store=None, max_age_s=100, idle_s=10)  # type: ignore[arg-type]
    assert sessions.touch_interval_s == 5


async def test_revoke_and_unknown_or_damaged_sessions(store: CountingStore) -> None:
    sessions = DashboardSessions(store, max_age_s=3600, idle_s=600)
    session_id = await sessions.open()
    (key,) = (await store.items(NAMESPACE)).keys()
    assert session_id not in key and re.fullmatch(r"[0-9a-f]{64}", key)
    assert not await sessions.check("not-a-session")
    assert not await sessions.check(None)
    assert not await sessions.check("x" * 10_000)
    await sessions.revoke(session_id)
    assert not await sessions.check(session_id)
    await store.put(NAMESPACE, key, "{not json")
    assert not await sessions.check(session_id)
    assert await store.items(NAMESPACE) == {}


# -- login throttle ---------------------------------------------------------------------------


def test_the_throttle_blocks_after_five_failures_within_a_minute() -> None:
    clock = Clock()
    throttle = LoginThrottle(clock=clock)
    for _ in range(5):
        assert throttle.retry_after("a") is None
        throttle.failed("a")
        clock.now += 10
    # The first failure was 50 s ago: it leaves the window in 10 s.
    assert throttle.retry_after("a") == 10
    assert throttle.retry_after("b") is None
    clock.now += 10
    assert throttle.retry_after("a") is None
    throttle.failed("a")
    assert throttle.retry_after("a") == 10  # the second failure leaves the window next


def test_a_success_resets_and_memory_is_bounded() -> None:
    clock = Clock()
    throttle = LoginThrottle(clock=clock, max_clients=3)
    for _ in range(5):
        throttle.failed("a")
    throttle.succeeded("a")
    assert throttle.retry_after("a") is None
    for client in ("a", "b", "c", "d"):
        throttle.failed(client)
    assert "a" not in throttle._failures  # the longest quiet address was forgotten
    assert len(throttle._failures) == 3


# -- Host and Origin --------------------------------------------------------------------------


def _policy(**overrides: object) -> HostPolicy:
    return HostPolicy(Settings(_env_file=None, **overrides))  # type: ignore[call-arg, arg-type]


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ("example.com:8000", "example.com"),
        ("EXAMPLE.com.", "example.com"),
        ("[::1]:8000", "::1"),
        ("[0:0:0:0:0:0:0:1]", "::1"),
        ("127.0.0.1", "127.0.0.1"),
        ("", None),
        (None, None),
        ("a@evil.test", None),
        ("evil.test/x", None),
        ("host:notaport", None),
    ],
)
def test_host_names_are_parsed_from_host_headers(header: str | None, name: str | None) -> None:
    assert host_name(header) == name


def test_the_allowlist_holds_loopback_the_listen_address_the_redirect_host_and_the_setting() -> (
    None
):
    policy = _policy(
        streamcore_host="192.0.2.10",
        twitch_redirect_uri="https://streamcore.example.com/tokens/callback",
        streamcore_allowed_hosts="pi.local, 2001:db8::1",
    )
    for allowed in (
        "localhost:8000",
        "127.0.0.1",
        "127.0.0.2:1",
        "[::1]:8000",
        "192.0.2.10:8000",
        "streamcore.example.com",
        "Pi.Local:8000",
        "[2001:db8::1]:8000",
    ):
        assert policy.host_allowed(allowed), allowed
    for refused in ("evil.test", "evil.test:8000", "192.0.2.11", "", None, "localhost.evil.test"):
        assert not policy.host_allowed(refused), refused
    assert "0.0.0.0" not in _policy(streamcore_host="0.0.0.0").names


def test_origins_allowed_are_the_own_origin_and_configured_names_over_http_or_https() -> None:
    policy = _policy(streamcore_allowed_hosts="streamcore.example.com")
    own = ("http", "127.0.0.1:8000")
    assert policy.origin_allowed("http://127.0.0.1:8000", *own)
    assert policy.origin_allowed("http://127.0.0.1:8000/dashboard?x=1", *own)  # a Referer
    assert not policy.origin_allowed("http://127.0.0.1:9000", *own)
    assert not policy.origin_allowed("https://127.0.0.1:8000", *own)
    assert not policy.origin_allowed("http://localhost:8000", *own)  # another loopback site
    assert not policy.origin_allowed("null", *own)
    assert not policy.origin_allowed("file:///home/me/page.html", *own)
    assert not policy.origin_allowed("http://evil.test", *own)
    # Behind a TLS proxy the request arrives as http, the page's origin is https.
    proxied = ("http", "streamcore.example.com")
    assert policy.origin_allowed("https://streamcore.example.com", *proxied)
    assert policy.origin_allowed("http://streamcore.example.com:8080", *proxied)
    assert not policy.origin_allowed("ftp://streamcore.example.com", *proxied)


@pytest.mark.parametrize("value", ["https://example.com", "example.com:8000", "a/b", "ex ample"])
def test_allowed_hosts_must_be_bare_names(value: str) -> None:
    with pytest.raises(ConfigError, match="STREAMCORE_ALLOWED_HOSTS"):
        load_settings(streamcore_allowed_hosts=value)


def test_allowed_hosts_are_normalised() -> None:
    settings = load_settings(streamcore_allowed_hosts=" Example.COM. ,[::1],, 192.168.1.50 ")
    assert settings.streamcore_allowed_hosts == "example.com,::1,192.168.1.50"


# -- the control paths ------------------------------------------------------------------------


async def test_the_guard_covers_exactly_the_routes_guarded_by_admin_required(
    tmp_path: Path,
) -> None:
    """Ask every route of the app, with the guard taken out, whether it wants the admin token
    (401 with WWW-Authenticate: only `require_admin` answers so), and compare."""
    async with serving(tmp_path, streamcore_admin_token=ADMIN_TOKEN) as app:
        app.user_middleware = [m for m in app.user_middleware if m.cls is not RequestGuard]
        app.middleware_stack = None
        admin: set[str] = set()
        public: set[str] = set()
        async with http(app) as api:
            for path, operations in app.openapi()["paths"].items():
                concrete = re.sub(r"\{[^}]+\}", "x", path)
                for method in operations:
                    response = await api.request(method.upper(), concrete)
                    wants_admin = response.status_code == 401 and (
                        response.headers.get("www-authenticate") == "Bearer"
                    )
                    (admin if wants_admin else public).add(f"{method.upper()} {path}")
                    assert is_control_path(concrete) is wants_admin, (method, path)
    assert "POST /keys" in admin and "GET /tokens/link" in admin
    assert "GET /tokens/callback" in public and "GET /dashboard" in public
