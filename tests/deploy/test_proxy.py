"""deploy/nginx.conf in front of two real StreamCore replicas, as docker-compose.prod.yaml runs
them, without Docker: Debian's nginx runs the shipped file (rewritten only where a machine
without Docker must differ: tests/deploy/nginx_config.py), and each replica is `streamcore run`
as a subprocess with the compose file's environment, on one Redis, one PostgreSQL schema and
one data folder. Everything goes through the proxy: health, the spread over both replicas (the
access log names the replica of each request), the client's Host and the forwarding headers,
the WebSocket upgrade, and a replica killed with SIGKILL (requests fail over, a WebSocket
client resumes on the other replica with ?since= and misses nothing).

nginx comes from Debian (`apt-get install nginx`, .ci/run); without it these tests are skipped
locally and fail under CI=true, as the browser tests are with Chromium."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import asyncpg
import httpx
import pytest
import yaml
from cryptography.fernet import Fernet
from websockets.asyncio.client import ClientConnection, connect
from websockets.protocol import State

from bus.redis import RedisBus
from events.publisher import EventPublisher
from tests.conftest import free_port, unavailable
from tests.deploy.nginx_config import NGINX_CONF, ROOT, for_local_nginx
from tests.polling import eventually

NGINX_PATH = os.environ.get("NGINX_PATH", "/usr/sbin/nginx")
ADMIN_TOKEN = "proxy-test-admin-token-not-secret"
BEARER = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
#: A name the replicas answer besides loopback ones (STREAMCORE_ALLOWED_HOSTS).
KNOWN_HOST = "streamcore.test"
#: A replica starting on a busy 2-core machine: generous, never a measure of speed.
START_S = 45.0


@pytest.fixture(scope="session")
def nginx_path() -> str:
    """Debian's nginx (never downloaded)."""
    if not (os.path.isfile(NGINX_PATH) and os.access(NGINX_PATH, os.X_OK)):
        unavailable(
            f"nginx at {NGINX_PATH}",
            "not installed",
            "install it (apt-get install nginx, see .ci/run) or set NGINX_PATH",
        )
    return NGINX_PATH


def compose_app_environment(given: dict[str, str]) -> dict[str, str]:
    """The app service's environment in docker-compose.prod.yaml, interpolated as compose
    would with `given` as the shell's variables: `${X:?...}` must be given, `${X:-d}` falls
    back to d."""
    environment = yaml.safe_load((ROOT / "docker-compose.prod.yaml").read_text())["services"][
        "app"
    ]["environment"]

    def value(match: re.Match[str]) -> str:
        name, operator, rest = match.group(1), match.group(2), match.group(3)
        if name in given:
            return given[name]
        assert operator == "-", f"docker-compose.prod.yaml requires {name}: give it"
        return rest

    pattern = re.compile(r"\$\{(\w+)(?::([?-])([^}]*))?\}")
    return {key: pattern.sub(value, str(raw)) for key, raw in environment.items()}


@dataclass
class Replica:
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"


@dataclass
class Proxied:
    """nginx on `port` with the shipped config, in front of `replicas`."""

    port: int
    replicas: list[Replica]
    access_log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ws_url(self, query: str) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/events?{query}"

    def access(self) -> list[dict[str, Any]]:
        """The access log's entries, oldest first (written as each request ends)."""
        return [json.loads(line) for line in self.access_log.read_text().splitlines()]


def start_replica(tmp_path: Path, index: int, env: dict[str, str], files: ExitStack) -> Replica:
    port = free_port()
    log = tmp_path / f"replica-{index}.log"
    # Only the settings given here: none of the developer's own reach the replica.
    inherited = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("TWITCH_", "REDIS_", "DATABASE_", "POSTGRES_", "STREAMCORE_"))
    }
    output: IO[bytes] = files.enter_context(log.open("wb"))
    process = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "run", "--port", str(port)],
        cwd=tmp_path,
        env={**inherited, **env, "PYTHONPATH": str(ROOT)},
        stdout=output,
        stderr=subprocess.STDOUT,
    )
    return Replica(port, process, log)


def start_nginx(
    nginx_path: str, prefix: Path, port: int, replicas: list[Replica], files: ExitStack
) -> subprocess.Popen[bytes]:
    """nginx in the foreground with deploy/nginx.conf rewritten for this machine."""
    config = prefix / "nginx.conf"
    local = for_local_nginx(
        NGINX_CONF.read_text(), prefix=prefix, port=port, replicas=[r.port for r in replicas]
    )
    config.write_text(local)
    output: IO[bytes] = files.enter_context((prefix / "nginx.out").open("wb"))
    return subprocess.Popen(
        [nginx_path, "-p", str(prefix), "-c", str(config), "-g", "daemon off;"],
        stdout=output,
        stderr=subprocess.STDOUT,
    )


def tail(log: Path) -> str:
    return log.read_text(errors="replace")[-4000:]


async def wait_until_serving(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    async def serving() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"{url} exited early:\n{tail(log)}")
        async with httpx.AsyncClient(timeout=2) as client:
            return (await client.get(url)).status_code == 200

    await eventually(
        serving, within_s=START_S, ignoring=(httpx.HTTPError,), what=f"{url} answering 200"
    )


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


@pytest.fixture
async def proxied(
    tmp_path: Path,
    nginx_path: str,
    redis_url: str,
    postgres_dsn_and_schema: tuple[str, str],
) -> AsyncIterator[Proxied]:
    dsn, schema = postgres_dsn_and_schema
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(f'CREATE SCHEMA "{schema}"')
    finally:
        await connection.close()
    env = compose_app_environment(
        {
            "STREAMCORE_ADMIN_TOKEN": ADMIN_TOKEN,
            "TOKEN_ENCRYPTION_KEY": Fernet.generate_key().decode(),
            "TWITCH_CLIENT_ID": "proxytestclient",
            "TWITCH_CLIENT_SECRET": "proxytestsecret",
            "POSTGRES_PASSWORD": "unused",
            "STREAMCORE_ALLOWED_HOSTS": KNOWN_HOST,
        }
    )
    # What differs from the containers: the test's own Redis, schema and ports, and loopback
    # instead of 0.0.0.0 (through the proxy a client is remote either way: app/access.py).
    env.update(
        STREAMCORE_HOST="127.0.0.1",
        REDIS_URL=redis_url,
        DATABASE_URL=f"{dsn}?search_path={schema}",
        STREAMCORE_DATA_DIR=str(tmp_path / "data"),  # shared, as the compose file's volume
    )
    prefix = tmp_path / "nginx"
    prefix.mkdir()
    with ExitStack() as files:
        replicas = [start_replica(tmp_path, index, env, files) for index in range(2)]
        try:
            for replica in replicas:
                await wait_until_serving(f"http://{replica.address}/", replica.process, replica.log)
            port = free_port()
            nginx = start_nginx(nginx_path, prefix, port, replicas, files)
            try:
                await wait_until_serving(f"http://127.0.0.1:{port}/", nginx, prefix / "nginx.out")
                yield Proxied(port, replicas, prefix / "access.log")
            finally:
                stop(nginx)
        finally:
            for replica in replicas:
                stop(replica.process)


@pytest.fixture
async def publisher(redis_url: str) -> AsyncIterator[EventPublisher]:
    """Publishes as StreamCore does, on the replicas' Redis."""
    bus = RedisBus(redis_url)
    await bus.connect()
    try:
        yield EventPublisher(bus)
    finally:
        await bus.close()


@pytest.fixture
async def clients() -> AsyncIterator[list[ClientConnection]]:
    opened: list[ClientConnection] = []
    yield opened
    for ws in opened:
        await ws.close()


async def connect_client(url: str, clients: list[ClientConnection]) -> ClientConnection:
    ws = await connect(url, open_timeout=10)
    clients.append(ws)
    return ws


async def open_client(url: str, clients: list[ClientConnection]) -> ClientConnection:
    """A live WebSocket client through the proxy: the replica answers a ping only after
    registering the client with its fan-out (events/session.py)."""
    ws = await connect_client(url, clients)
    await ws.send(json.dumps({"op": "ping"}))
    assert (await receive(ws))["event"] == "system.pong"
    return ws


async def receive(ws: ClientConnection) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 10))
    return value


async def create_key(http: httpx.AsyncClient) -> str:
    created = await http.post("/keys", json={"name": "proxy-test"}, headers=BEARER)
    assert created.status_code == 201, created.text
    key: str = created.json()["key"]
    return key


async def test_requests_spread_over_both_replicas_with_the_clients_host(
    proxied: Proxied,
) -> None:
    async with httpx.AsyncClient(base_url=proxied.url, timeout=10) as http:
        for _ in range(8):
            answer = await http.get("/")
            assert answer.status_code == 200
            assert answer.json()["status"] == "StreamCore Online"
        # The client's Host reaches the replica, which judges it (app/origins.py).
        assert (await http.get("/", headers={"Host": KNOWN_HOST})).status_code == 200
        refused = await http.get("/", headers={"Host": "rebound.example"})
        assert refused.status_code == 400 and refused.json()["error"] == "unknown_host"
        # The forwarding headers make every client remote, even from this machine.
        assert (await http.get("/system/status")).status_code == 401
        assert (await http.get("/system/status", headers=BEARER)).status_code == 200
        # The Host keeps its port, so a browser's POST from the page's own origin is its own.
        login = await http.post(
            "/dashboard/login", data={"token": ADMIN_TOKEN}, headers={"Origin": proxied.url}
        )
        assert login.status_code == 303, login.text
    served = [entry["upstream"] for entry in proxied.access() if entry["path"] == "/"]
    assert set(served) == {replica.address for replica in proxied.replicas}


async def test_websocket_upgrade_through_the_proxy_delivers_a_live_event(
    proxied: Proxied, publisher: EventPublisher, clients: list[ClientConnection]
) -> None:
    async with httpx.AsyncClient(base_url=proxied.url, timeout=10) as http:
        key = await create_key(http)
    keyless = await connect_client(proxied.ws_url("events=alert.*"), clients)
    await asyncio.wait_for(keyless.wait_closed(), 10)
    assert keyless.close_code == 4001  # remote through the proxy: a key is required
    ws = await open_client(proxied.ws_url(f"key={key}"), clients)
    event_id = await publisher.publish("alert.follow", {"user_name": "Ada"})
    envelope = await receive(ws)
    assert (envelope["event"], envelope["id"], envelope["data"]) == (
        "alert.follow",
        event_id,
        {"user_name": "Ada"},
    )
    await ws.close()
    # The access log names the path only: the client's key stays out of it.
    await eventually(lambda: any(e["path"] == "/ws/events" for e in proxied.access()))
    assert key not in proxied.access_log.read_text()


async def test_a_killed_replica_is_routed_around_and_a_client_resumes_with_since(
    proxied: Proxied, publisher: EventPublisher, clients: list[ClientConnection]
) -> None:
    async with httpx.AsyncClient(base_url=proxied.url, timeout=10) as http:
        key = await create_key(http)
        # least_conn puts the second long-lived connection on the other replica.
        pair = [await open_client(proxied.ws_url(f"key={key}"), clients) for _ in range(2)]
        first = await publisher.publish("alert.follow", {"n": 1})
        for ws in pair:
            assert (await receive(ws))["id"] == first

        killed = proxied.replicas[0]
        killed.process.send_signal(signal.SIGKILL)
        killed.process.wait(10)
        dropped = await eventually(
            lambda: [ws for ws in pair if ws.state is State.CLOSED],
            what="the killed replica's client dropped",
        )
        assert len(dropped) == 1, "each replica held one of the two clients"
        survivor = next(ws for ws in pair if ws not in dropped)

        missed = [await publisher.publish("alert.follow", {"n": n}) for n in (2, 3)]
        assert [(await receive(survivor))["id"] for _ in missed] == missed
        before = len(proxied.access())
        for _ in range(8):
            assert (await http.get("/")).status_code == 200
        retried = [e["upstream"] for e in proxied.access()[before:] if "," in e["upstream"]]
        # At least one request went to the dead replica first and was passed on.
        assert retried and all(
            r == f"{killed.address}, {proxied.replicas[1].address}" for r in retried
        ), proxied.access()[before:]

        # Replayed first, then live: the fan-out holds live events until the replay is sent.
        resumed = await connect_client(proxied.ws_url(f"key={key}&since={first}"), clients)
        assert [(await receive(resumed))["id"] for _ in missed] == missed
        live = await publisher.publish("alert.follow", {"n": 4})
        assert (await receive(resumed))["id"] == live
        assert (await receive(survivor))["id"] == live


def test_the_rewrite_for_local_nginx_changes_only_what_docker_provides(tmp_path: Path) -> None:
    shipped = NGINX_CONF.read_text().splitlines()
    local = for_local_nginx(
        "\n".join(shipped), prefix=tmp_path, port=8080, replicas=[8001, 8002]
    ).splitlines()
    removed = [line.strip() for line in shipped if line not in local]
    added = [line.strip() for line in local if line not in shipped]
    assert [line.split()[0] for line in removed] == [
        "user",
        "pid",
        "error_log",
        "access_log",
        "server",
        "listen",
    ]
    assert "server app:8000 resolve max_fails=3 fail_timeout=10s;" in removed
    assert "server 127.0.0.1:8001 max_fails=3 fail_timeout=10s;" in added
    assert "server 127.0.0.1:8002 max_fails=3 fail_timeout=10s;" in added
    assert {line.split()[0] for line in added} == {
        "user",
        "pid",
        "error_log",
        "access_log",
        "client_body_temp_path",
        "proxy_temp_path",
        "fastcgi_temp_path",
        "uwsgi_temp_path",
        "scgi_temp_path",
        "server",
        "listen",
    }
