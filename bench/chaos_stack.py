"""The processes of the chaos benchmark (bench/chaos.py), and how it starts, kills and stops them.

- a private redis-server (bench.faults_stack.Redis: free port, append-only file on);
- a fresh schema in the PostgreSQL at POSTGRES_TEST_DSN (default 127.0.0.1:5432, db `test`),
  selected by the replicas through `DATABASE_URL=...?search_path=<schema>` as the tests do;
- the Twitch simulator, in this process (simulator.testing.run_simulator);
- N replicas: `python -m cli.main run` on their own fixed port with STREAMCORE_REPLICA_ID
  r1..rN, one Redis, one schema (`Replica`: SIGKILL and start again on the same id and port);
- Debian's nginx in front of them with the shipped deploy/nginx.conf, rewritten for this
  machine by tests/deploy/nginx_config.py (`Nginx`).
`cluster_stack` starts all of it, authorizes through a replica's own OAuth routes, starts the
system with POST /system/start and creates a client key for the proxy's client; it stops
everything in reverse order. Every child is registered with bench.faults_stack.spawn, so none
outlives the bench.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from cryptography.fernet import Fernet

from bench.faults_stack import (
    Redis,
    free_port,
    signals_cancel,
    spawn,
    stop,
    streamcore_environ,
    wait_for,
)
from simulator.testing import RunningSimulator, run_simulator
from tests.deploy.nginx_config import NGINX_CONF, for_local_nginx

POSTGRES_DSN = os.environ.get("POSTGRES_TEST_DSN", "postgresql://postgres@127.0.0.1:5432/test")
NGINX_PATH = os.environ.get("NGINX_PATH", "/usr/sbin/nginx")
#: Where the simulator sends the browser back; the bench calls the replica's callback itself,
#: so one redirect URI serves every replica.
CALLBACK = "http://127.0.0.1/tokens/callback"
ADMIN_TOKEN = "chaos-bench-admin-token-not-secret"
BEARER = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
#: A replica starting on a busy 2-core machine (imports, migrations): generous, not a measure.
START_S = 60.0


# -- PostgreSQL --------------------------------------------------------------------------------


class Schema:
    """A fresh schema in the test database, dropped at the end."""

    def __init__(self, dsn: str = POSTGRES_DSN) -> None:
        self.dsn = dsn
        self.name = f"chaos_{secrets.token_hex(6)}"

    @property
    def url(self) -> str:
        return f"{self.dsn}{'&' if '?' in self.dsn else '?'}search_path={self.name}"

    async def _execute(self, sql: str) -> None:
        connection = await asyncpg.connect(self.dsn, timeout=5)
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    async def create(self) -> None:
        await self._execute(f'CREATE SCHEMA "{self.name}"')

    async def drop(self) -> None:
        with contextlib.suppress(Exception):
            await self._execute(f'DROP SCHEMA IF EXISTS "{self.name}" CASCADE')


# -- replicas ----------------------------------------------------------------------------------


@dataclass
class Run:
    """One process of a replica: when it started, began serving, and how it ended."""

    process: subprocess.Popen[bytes]
    started: float  # wall clock
    serving: float | None = None
    killed: bool = False


class Replica:
    """`streamcore run` as STREAMCORE_REPLICA_ID=`replica_id` on a fixed port; `kill()` is a
    SIGKILL, `start()` starts it again with the same id and port (each run appends to one log)."""

    def __init__(self, replica_id: str, port: int, workdir: Path, env: dict[str, str]) -> None:
        self.replica_id = replica_id
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log = workdir / f"replica-{replica_id}.log"
        data = workdir / f"data-{replica_id}"
        data.mkdir()
        self.workdir = workdir
        self.env = {**env, "STREAMCORE_REPLICA_ID": replica_id, "STREAMCORE_DATA_DIR": str(data)}
        self.runs: list[Run] = []
        #: Runs that ended without being killed by the bench: (wall clock, exit code, log line).
        self.exits: list[tuple[float, int, str]] = []
        self.http = httpx.AsyncClient(base_url=self.url, timeout=5, headers=BEARER)

    @property
    def run(self) -> Run | None:
        return self.runs[-1] if self.runs else None

    @property
    def alive(self) -> bool:
        return self.run is not None and self.run.process.poll() is None

    def start(self) -> None:
        with self.log.open("ab") as log:
            log.write(f"=== run {len(self.runs) + 1} at {time.time():.3f} ===\n".encode())
            log.flush()
            process = spawn(
                [sys.executable, "-m", "cli.main", "run", "--port", str(self.port)],
                cwd=self.workdir,  # no .env of the checkout is read
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.runs.append(Run(process, time.time()))

    async def kill(self) -> None:
        """SIGKILL: no shutdown, no lease released, no heartbeat removed."""
        run = self.run
        if run is None or run.process.poll() is not None:
            return
        run.killed = True
        run.process.send_signal(signal.SIGKILL)
        # Never wait(): the simulator shares this loop.
        while run.process.poll() is None:  # noqa: ASYNC110 - polling the child
            await asyncio.sleep(0.01)

    async def serving(self) -> bool:
        return (await self.http.get("/")).status_code == 200

    async def wait_serving(self, timeout_s: float = START_S) -> None:
        run = self.run
        assert run is not None

        async def answers() -> bool:
            if run.process.poll() is not None:
                raise RuntimeError(f"replica {self.replica_id} exited: {self.tail()}")
            return await self.serving()

        await wait_for(f"replica {self.replica_id} answering GET /", answers, timeout_s, 0.05)
        run.serving = time.time()

    async def status(self, timeout_s: float = 5.0) -> dict[str, Any]:
        response = await self.http.get("/system/status", timeout=timeout_s)
        response.raise_for_status()
        return dict(response.json())

    def check_exit(self) -> bool:
        """True when the current run ended without being killed by the bench (recorded)."""
        run = self.run
        if run is None or run.killed or run.process.poll() is None:
            return False
        if not any(at == run.started for at, _, _ in self.exits):
            self.exits.append((run.started, int(run.process.returncode), self.tail(1)))
            return True
        return False

    def tail(self, lines: int = 5) -> str:
        text = self.log.read_text(errors="replace").strip().splitlines()
        return " | ".join(text[-lines:])

    async def close(self) -> None:
        await self.http.aclose()
        if self.run is not None:
            await asyncio.to_thread(stop, self.run.process)


def log_summary(paths: list[Path]) -> tuple[Counter[str], Counter[str]]:
    """Lines per level, and the distinct WARNING/ERROR messages (numbers blanked)."""
    levels: Counter[str] = Counter()
    messages: Counter[str] = Counter()
    for path in paths:
        for line in path.read_text(errors="replace").splitlines():
            found = re.search(r"\b(DEBUG|INFO|WARNING|ERROR|CRITICAL)\b", line)
            if not found:
                continue
            levels[found.group(1)] += 1
            if found.group(1) in ("WARNING", "ERROR", "CRITICAL"):
                text = line[found.end() :].strip()
                text = re.sub(r"\d+(\.\d+)?", "N", text)[:140]
                messages[f"{found.group(1)} {text}"] += 1
    return levels, messages


# -- nginx -------------------------------------------------------------------------------------


class Nginx:
    """Debian's nginx in the foreground with deploy/nginx.conf, rewritten only where a machine
    without Docker must differ (tests/deploy/nginx_config.py)."""

    def __init__(self, workdir: Path, replicas: list[Replica]) -> None:
        self.prefix = workdir / "nginx"
        self.prefix.mkdir()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.replicas = replicas

    async def start(self) -> None:
        config = self.prefix / "nginx.conf"
        config.write_text(
            for_local_nginx(
                NGINX_CONF.read_text(),
                prefix=self.prefix,
                port=self.port,
                replicas=[r.port for r in self.replicas],
            )
        )
        with (self.prefix / "nginx.out").open("wb") as output:
            process = self.process = spawn(
                [NGINX_PATH, "-p", str(self.prefix), "-c", str(config), "-g", "daemon off;"],
                stdout=output,
                stderr=subprocess.STDOUT,
            )

        async def answers() -> bool:
            if process.poll() is not None:
                out = (self.prefix / "nginx.out").read_text(errors="replace")
                raise RuntimeError(f"nginx exited with {process.returncode}: {out[-500:]}")
            async with httpx.AsyncClient(timeout=2) as http:
                return (await http.get(self.url)).status_code == 200

        await wait_for("nginx answering GET /", answers, 30)

    async def close(self) -> None:
        await asyncio.to_thread(stop, self.process)


# -- the whole stack ---------------------------------------------------------------------------


@dataclass
class Stack:
    label: str
    workdir: Path
    redis: Redis
    sim: RunningSimulator
    replicas: list[Replica]
    nginx: Nginx
    key: str = ""
    transport: str = "websocket"
    lease_s: float = 5.0
    notes: list[str] = field(default_factory=list)

    def replica(self, replica_id: str) -> Replica:
        return next(r for r in self.replicas if r.replica_id == replica_id)

    async def any_status(self, avoid: str | None = None) -> dict[str, Any] | None:
        """GET /system/status of the first live replica that answers (not `avoid`)."""
        for replica in self.replicas:
            if replica.replica_id == avoid or not replica.alive:
                continue
            with contextlib.suppress(httpx.HTTPError):
                return await replica.status()
        return None


#: The benchmark's transports: TWITCH_EVENTSUB_TRANSPORT's values, and a conduit whose shards
#: are webhooks on the proxy's address (TWITCH_CONDUIT_SHARD_TRANSPORT=webhook).
TRANSPORTS = ("websocket", "conduit", "conduit-webhook")


def is_conduit(transport: str) -> bool:
    return transport.startswith("conduit")


def transport_settings(transport: str, public_url: str) -> dict[str, str]:
    """The environment that selects one of TRANSPORTS (`public_url`: the proxy's origin)."""
    if transport == "conduit-webhook":
        return {
            "TWITCH_EVENTSUB_TRANSPORT": "conduit",
            "TWITCH_CONDUIT_SHARD_TRANSPORT": "webhook",
            "STREAMCORE_PUBLIC_URL": public_url,
        }
    return {"TWITCH_EVENTSUB_TRANSPORT": transport}


def replica_env(
    sim: RunningSimulator,
    redis_url: str,
    database_url: str,
    transport: str,
    lease_s: float,
    public_url: str,
) -> dict[str, str]:
    env = streamcore_environ(sim)
    env.update(transport_settings(transport, public_url))
    env.update(
        TWITCH_REDIRECT_URI=CALLBACK,
        REDIS_URL=redis_url,
        DATABASE_URL=database_url,
        TOKEN_ENCRYPTION_KEY=Fernet.generate_key().decode(),
        STREAMCORE_ADMIN_TOKEN=ADMIN_TOKEN,
        STREAMCORE_HOST="127.0.0.1",
        STREAMCORE_LEASE_S=f"{lease_s:g}",
        STREAMCORE_LOG_LEVEL="INFO",
    )
    return env


async def authorize(replica: Replica) -> None:
    """The browser's part of the OAuth dance against `replica`'s own routes."""
    link = await replica.http.get("/tokens/link")
    link.raise_for_status()
    async with httpx.AsyncClient(timeout=10) as browser:
        approval = await browser.get(link.json()["auth_url"], follow_redirects=False)
    if "location" not in approval.headers:
        raise RuntimeError(f"the simulator did not approve: {approval.status_code}")
    callback = httpx.URL(approval.headers["location"])
    done = await replica.http.get(
        f"/tokens/callback?{callback.query.decode()}", headers={"Accept": "application/json"}
    )
    if done.status_code != 200 or done.json().get("status") != "connected":
        raise RuntimeError(f"OAuth callback failed: {done.status_code} {done.text}")


async def start_system(stack: Stack) -> None:
    """Authorized, started cluster-wide, every replica running; a key for the proxy client."""
    first = stack.replicas[0]
    await authorize(first)
    started = await first.http.post("/system/start", headers={"Origin": first.url})
    if started.status_code != 200:
        raise RuntimeError(f"POST /system/start: {started.status_code} {started.text}")

    async def all_running() -> bool:
        statuses = [await r.status() for r in stack.replicas]
        return all(s.get("running") and s["auth"]["state"] == "ok" for s in statuses)

    await wait_for("every replica running and authorized", all_running, 60, 0.25)
    created = await first.http.post(
        "/keys", json={"name": f"chaos-{stack.label}"}, headers={"Origin": first.url}
    )
    if created.status_code != 201:
        raise RuntimeError(f"POST /keys: {created.status_code} {created.text}")
    stack.key = created.json()["key"]


@contextlib.asynccontextmanager
async def cluster_stack(
    label: str, replicas: int, transport: str, lease_s: float, keep: bool
) -> AsyncIterator[Stack]:
    """Redis, a schema, the simulator, `replicas` replicas and nginx, started and authorized;
    stopped in reverse order whatever happens."""
    main_task = asyncio.current_task()
    assert main_task is not None
    async with private_backends(f"streamcore-chaos-{label}-", keep, f"[{label}] ") as (
        workdir,
        redis,
        schema,
    ):
        # Webhook shards call the proxy's plain-http loopback address.
        webhooks = transport == "conduit-webhook"
        async with run_simulator(redirect_uri=CALLBACK, allow_http_callbacks=webhooks) as sim:
            with signals_cancel(main_task):
                nginx = Nginx(workdir, [])
                env = replica_env(sim, redis.url, schema.url, transport, lease_s, nginx.url)
                members = [Replica(f"r{n + 1}", free_port(), workdir, env) for n in range(replicas)]
                nginx.replicas = members
                stack = Stack(label, workdir, redis, sim, members, nginx, "", transport, lease_s)
                try:
                    for member in members:
                        member.start()
                    await asyncio.gather(*(m.wait_serving() for m in members))
                    await nginx.start()  # first: webhook shards are verified through it
                    await start_system(stack)
                    yield stack
                finally:
                    await nginx.close()
                    await asyncio.gather(*(m.close() for m in members), return_exceptions=True)


@contextlib.asynccontextmanager
async def private_backends(
    prefix: str, keep: bool, say: str = ""
) -> AsyncIterator[tuple[Path, Redis, Schema]]:
    """A work directory, a private redis-server (AOF everysec) in it and a fresh PostgreSQL
    schema; all removed afterwards, unless `keep` (the directory is kept and printed)."""
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    redis = Redis(workdir, "everysec")
    schema = Schema()
    try:
        await redis.start()
        await schema.create()
        yield workdir, redis, schema
    finally:
        redis.kill()
        await schema.drop()
        if keep:
            print(f"{say}kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
