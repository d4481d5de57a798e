"""`streamcore status`: what a running StreamCore is doing, in a few lines."""

from __future__ import annotations

import argparse
import json
from typing import Any

from core.errors import StreamCoreError


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("status", help="show the status of a running StreamCore")
    parser.add_argument(
        "--url",
        help="StreamCore's address (default: the running `streamcore run` or demo, else "
        "http://STREAMCORE_HOST:STREAMCORE_PORT)",
    )
    parser.add_argument("--json", action="store_true", help="print the raw JSON status")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import httpx

    from cli.target import admin_headers, status_target
    from core.settings import load_settings

    settings = load_settings()
    target = status_target(settings, args.url)
    url = target.url
    assert url is not None
    target.say()
    try:
        response = httpx.get(f"{url}/system/status", headers=admin_headers(settings), timeout=10)
    except httpx.HTTPError:
        raise StreamCoreError(
            f"No StreamCore answers at {url}; start it with `uv run streamcore run` or pass --url"
            + target.hint()
        ) from None
    if response.status_code in (401, 403):
        raise StreamCoreError(
            f"{url} refused the status request ({response.status_code}); set "
            "STREAMCORE_ADMIN_TOKEN to the server's admin token"
        )
    status: dict[str, Any] = response.json()
    if args.json:
        print(json.dumps(status, indent=2))
        return 0
    print(summary(status))
    return 0


def summary(status: dict[str, Any]) -> str:
    auth = status.get("auth", {})
    gateway = status.get("gateway", {})
    state = "running" if status.get("running") else "stopped"
    lines = [
        f"StreamCore {status.get('version', '?')}: {state}"
        f" (bus {status['backends']['bus']}, store {status['backends']['store']})",
        f"Twitch: {auth.get('state')}"
        + (f" as {auth['login']}" if auth.get("login") else "")
        + (f"; authorize at {auth['auth_url']}" if auth.get("auth_url") else ""),
        f"Gateway: {gateway.get('state')}"
        + (f", session {gateway['session_id']}" if gateway.get("session_id") else "")
        + (
            f", last message {gateway['last_message_age_s']}s ago"
            if gateway.get("last_message_age_s") is not None
            else ""
        ),
    ]
    for subscription in status.get("subscriptions", []):
        lines.append(
            f"  {subscription['type']} v{subscription['version']}: {subscription['status']}"
        )
    for worker in status.get("workers", []):
        lines.append(
            f"Worker {worker['name']}: handled {worker.get('handled', 0)}, failed "
            f"{worker.get('failed', 0)}, dead letters {worker.get('dead_letters', 0)}, "
            f"lag {worker.get('lag', 0)}"
        )
    for error in status.get("worker_errors", []):
        lines.append(f"Worker skipped: {error['source']}: {error['reason']}")
    lines.append(f"Clients: {status.get('clients', {}).get('connected', 0)} connected")
    lines += _cluster_lines(status.get("cluster") or {})
    return "\n".join(lines)


def _cluster_lines(cluster: dict[str, Any]) -> list[str]:
    """One line per replica, the coordinator marked; nothing for a cluster of one."""
    replicas = cluster.get("replicas") or []
    if len(replicas) < 2:
        return []
    coordinator = (cluster.get("coordinator") or {}).get("replica_id")
    lines = [f"Cluster: {len(replicas)} replicas, coordinator {coordinator or 'none'}"]
    for replica in replicas:
        holds = replica.get("holds") or {}
        shards = holds.get("shards") or []
        lines.append(
            f"  {replica['id']}{' (this one)' if replica.get('self') else ''}: "
            + ("alive" if replica.get("alive") else f"gone {replica.get('last_seen_age_s')}s")
            + (", coordinator" if holds.get("coordinator") else "")
            + (f", shards {','.join(map(str, shards))}" if shards else "")
        )
    return lines
