"""Which Host names this server answers, and which origins may send it state-changing requests.

- **Host** (DNS rebinding): a page on `evil.test` whose name an attacker re-points at
  127.0.0.1 reaches StreamCore as a same-origin page of `evil.test`, so its requests carry
  `Host: evil.test`. Only these names are answered: loopback names (`localhost`, 127.0.0.0/8,
  `::1`, any port), the concrete listen address (STREAMCORE_HOST, unless a wildcard), the host
  of TWITCH_REDIRECT_URI (Twitch sends the browser back there) and STREAMCORE_ALLOWED_HOSTS.
- **Origin** (CSRF): a state-changing request a browser sends on the strength of the login
  cookie or of being local must come from the request's own origin (scheme, host and port), or
  from an http/https origin on a configured name (the public name behind a TLS proxy, where the
  request itself arrives as plain http). Loopback names count only as the request's own origin:
  another local web app (`http://localhost:3000`) is another site.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import SplitResult, urlsplit

from core.settings import Settings, is_loopback

__all__ = ["HostPolicy", "host_name"]

#: Listen addresses that name no host: every interface.
_WILDCARDS = frozenset({"", "0.0.0.0", "::", "*"})
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
#: A WebSocket handshake's own origin is the page's http(s) origin.
_PAGE_SCHEME = {"ws": "http", "wss": "https"}

Origin = tuple[str, str, int]


def _normal(name: str) -> str:
    name = name.lower().rstrip(".")
    try:
        return str(ipaddress.ip_address(name))
    except ValueError:
        return name


def host_name(host_header: str | None) -> str | None:
    """The name in a Host header (`example.com:8000` -> `example.com`, `[::1]:80` -> `::1`),
    or None when the header is missing or malformed."""
    if not host_header:
        return None
    try:
        parts = urlsplit(f"//{host_header}")
        parts.port  # noqa: B018 -- raises ValueError for a malformed port
    except ValueError:
        return None
    if parts.username is not None or parts.path or parts.query or not parts.hostname:
        return None
    return _normal(parts.hostname)


def _origin(parts: SplitResult) -> Origin | None:
    try:
        port = parts.port
    except ValueError:
        return None
    scheme = _PAGE_SCHEME.get(parts.scheme, parts.scheme)
    if scheme not in ("http", "https") or not parts.hostname:
        return None
    return scheme, _normal(parts.hostname), port or _DEFAULT_PORTS[scheme]


class HostPolicy:
    """The Host allowlist and the origin rule (see the module docstring), built from settings."""

    def __init__(self, settings: Settings) -> None:
        names = {name for name in settings.streamcore_allowed_hosts.split(",") if name}
        if settings.streamcore_host.strip() not in _WILDCARDS:
            names.add(_normal(settings.streamcore_host.strip().strip("[]")))
        redirect_host = urlsplit(settings.twitch_redirect_uri).hostname
        if redirect_host:
            names.add(_normal(redirect_host))
        public_host = urlsplit(settings.streamcore_public_url).hostname
        if public_host:  # Twitch calls the webhook callback by this name
            names.add(_normal(public_host))
        #: Configured names: answered, and their http/https origins trusted.
        self.names = frozenset(names)

    def host_allowed(self, host_header: str | None) -> bool:
        name = host_name(host_header)
        return name is not None and (is_loopback(name) or name in self.names)

    def origin_allowed(self, source: str, scheme: str, host_header: str | None) -> bool:
        """Whether `source` (an Origin header, or a Referer URL) may send a state-changing
        request that arrived with `scheme` and `host_header`. `null` never may."""
        presented = _origin(urlsplit(source))
        if presented is None:
            return False
        own = _origin(urlsplit(f"{scheme}://{host_header}")) if host_header else None
        if presented == own:
            return True
        name = presented[1]
        return name in self.names and not is_loopback(name)
