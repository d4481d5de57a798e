"""Which StreamCore a command talks to: a flag, the settings, or the server that is running.

A running `streamcore run` or `streamcore demo` keeps a runtime file in its data directory
(app/instance.py); the demo's data directory is `{STREAMCORE_DATA_DIR}/demo`. In order:

1. `--url`, when given;
2. a live `streamcore run` in the configured data directory (same settings, so the same
   store; its file knows the port even when `--port` chose it);
3. a setting that points elsewhere: STREAMCORE_HOST or STREAMCORE_PORT set (status), or
   PostgreSQL configured (keys; the demo keeps its own SQLite store);
4. a live `streamcore demo`;
5. the settings' defaults (status: STREAMCORE_HOST:STREAMCORE_PORT; keys: the store itself).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from app.instance import Instance, demo_data_dir, find_instance, local_url
from core.settings import Settings


@dataclass(frozen=True)
class Target:
    """Where a command goes: `url` (None: the configured store, for keys), and why."""

    url: str | None
    #: The runtime file the URL came from, if any.
    instance: Instance | None = None
    #: A live demo this command did not pick (a setting pointed elsewhere): worth a hint.
    skipped_demo: Instance | None = None

    def say(self) -> None:
        """One line on stderr naming the instance, so stdout stays the command's output."""
        if self.instance is not None:
            print(f"Using {self.instance.describe()}.", file=sys.stderr)

    def hint(self) -> str:
        """Appended to a message when the chosen target is not what the user meant."""
        if self.skipped_demo is None:
            return ""
        return f" (the demo runs at {self.skipped_demo.url}: pass --url {self.skipped_demo.url})"


def admin_headers(settings: Settings) -> dict[str, str]:
    """The Bearer header for the control endpoints, when an admin token is configured."""
    if settings.streamcore_admin_token is None:
        return {}
    return {"Authorization": f"Bearer {settings.streamcore_admin_token.get_secret_value()}"}


def status_target(settings: Settings, url: str | None) -> Target:
    configured = local_url(settings.streamcore_host, settings.streamcore_port)
    elsewhere = bool(settings.model_fields_set & {"streamcore_host", "streamcore_port"})
    return _choose(settings, url, configured, elsewhere)


def keys_target(settings: Settings, url: str | None) -> Target:
    # No server found: the configured store itself (Target(None)).
    return _choose(settings, url, None, settings.postgres_dsn is not None)


def _choose(
    settings: Settings, url: str | None, fallback: str | None, configured_elsewhere: bool
) -> Target:
    """`--url`, else a running `streamcore run` here, else `fallback` when a setting points
    elsewhere or no demo runs, else the running demo (see the module docstring)."""
    if url:
        return Target(url.rstrip("/"))
    running = find_instance(settings.streamcore_data_dir)
    if running is not None:
        return Target(running.url, running)
    demo = find_instance(demo_data_dir(settings.streamcore_data_dir))
    if demo is None:
        return Target(fallback)
    if configured_elsewhere:
        return Target(fallback, skipped_demo=demo)
    return Target(demo.url, demo)
