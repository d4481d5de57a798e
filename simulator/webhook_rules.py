"""Twitch's rules for a webhook transport's `callback` and `secret`, plus the simulator's own.

Twitch calls back only https URLs on port 443 (redirects are not followed) and takes a secret
of 10 to 100 ASCII characters: https://dev.twitch.tv/docs/eventsub/handling-webhook-events/ .
The simulator also POSTs only to loopback hosts (127.0.0.0/8, ::1, localhost): it is a local
double and never sends traffic off the machine, whatever the callback says. With
`allow_http_callbacks` (tests, local runs) a loopback callback may also be http and on any port.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

#: What went wrong with a callback: its scheme, port or form (Twitch's rule), or its host (ours).
BAD_URL = "url"
NOT_LOOPBACK = "loopback"

SECRET_MIN, SECRET_MAX = 10, 100


def is_loopback(host: str) -> bool:
    """localhost, or an address in 127.0.0.0/8 or ::1."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def callback_problem(callback: object, allow_http: bool) -> tuple[str, str] | None:
    """None when the simulator may POST to `callback`; else (BAD_URL or NOT_LOOPBACK, why)."""
    if not isinstance(callback, str) or not callback:
        return BAD_URL, "transport.callback is required for method webhook"
    try:
        url = urlsplit(callback)
        port = url.port
    except ValueError:
        return BAD_URL, "transport.callback is not a valid URL"
    host = url.hostname or ""
    if not host or url.scheme not in ("http", "https"):
        return BAD_URL, "transport.callback must be an https URL"
    if not allow_http and (url.scheme != "https" or port not in (None, 443)):
        return BAD_URL, (
            "transport.callback must use https on port 443 (a simulator started with "
            "allow_http_callbacks also accepts http://127.0.0.1:PORT/... and "
            "http://localhost:PORT/...)"
        )
    if not is_loopback(host):
        return NOT_LOOPBACK, (
            f"transport.callback host {host!r} is not a loopback host: the simulator calls "
            "back only 127.0.0.1, localhost or [::1]"
        )
    return None


def secret_ok(secret: object) -> bool:
    """10 to 100 ASCII characters."""
    return isinstance(secret, str) and secret.isascii() and SECRET_MIN <= len(secret) <= SECRET_MAX
