"""Real `streamcore run` replicas on one Redis and one PostgreSQL schema, against the simulator.

`Cluster` starts and kills replicas (subprocesses, each with its own port, log file and
STREAMCORE_REPLICA_ID), authorizes through a replica's own OAuth routes, and reads the
simulator's control API. `EventsClient` is a `/ws/events` client that records every envelope
it receives, so a test can count deliveries. Nothing here blocks the event loop: the simulator
runs in-process on the same loop as the test.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
from cryptography.fernet import Fernet
from websockets.asyncio.client import ClientConnection, connect

from tests.conftest import clean_redis_db, free_port, fresh_postgres_schema
from tests.polling import eventually

ROOT = Path(__file__).resolve().parents[2]
#: Where the simulator sends the browser back; the test calls the replica's callback itself.
CALLBACK = "http://127.0.0.1/tokens/callback"
#: STREAMCORE_LEASE_S for every replica: short, so takeovers happen within seconds.
LEASE_S = 2.0
#: A replica starting on a busy machine (imports, migrations): generous, never a measure.
START_S = 45.0
#: The chain (lease, gateway, simulator, workers, fan-out) settling: generous as well.
WAIT_S = 20.0


T = TypeVar("T")


async def until(check: Callable[[], Awaitable[T | None]], **options: Any) -> T:
    """`eventually` for a check that answers its value when ready and None before."""
    found = await eventually(check, **options)
    assert found is not None
    return found


def parse_iso(text: str) -> float:
    """A `...Z` timestamp as Unix seconds."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


@dataclass
class Replica:
    """One `streamcore run` process (the latest run of `replica_id`)."""

    replica_id: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path
    log_file: IO[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def tail(self, chars: int = 6000) -> str:
        self.log_file.flush()
        return self.log.read_text(errors="replace")[-chars:]

    async def get(self, path: str) -> httpx.Response:
        async with httpx.AsyncClient(base_url=self.url, timeout=10) as http:
            return await http.get(path)

    async def post(self, path: str) -> httpx.Response:
        async with httpx.AsyncClient(base_url=self.url, timeout=30) as http:
            return await http.post(path)

    async def status(self) -> dict[str, Any]:
        response = await self.get("/system/status")
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    async def wait_exited(self, within_s: float = 30.0) -> int:
        """The exit status, polled (never `wait()`: the simulator shares this event loop)."""
        await eventually(
            lambda: self.process.poll() is not None,
            within_s=within_s,
            what=f"replica {self.replica_id} exiting",
            interval_s=0.05,
        )
        return int(self.process.returncode)

    async def kill(self) -> None:
        """SIGKILL: no shutdown, no lease released, no heartbeat removed."""
        if self.alive:
            self.process.send_signal(signal.SIGKILL)
        await self.wait_exited(10)
        self.log_file.close()

    async def terminate(self) -> None:
        if self.alive:
            self.process.terminate()
            try:
                await self.wait_exited(20)
            except AssertionError:
                self.process.kill()
                await self.wait_exited(10)
        self.log_file.close()


@dataclass
class Cluster:
    """Replicas sharing `env` (the simulator, Redis, the schema, the token key)."""

    sim: Any
    env: dict[str, str]
    directory: Path
    replicas: dict[str, Replica] = field(default_factory=dict)
    #: Every process started, for the teardown (a refused duplicate too).
    processes: list[Replica] = field(default_factory=list)
    runs: int = 0

    # -- processes -----------------------------------------------------------------------------

    def launch(self, replica_id: str, **extra: str) -> Replica:
        """Start `streamcore run` with STREAMCORE_REPLICA_ID=`replica_id` (not waited for)."""
        self.runs += 1
        port = free_port()
        data_dir = self.directory / f"data-{replica_id}"
        data_dir.mkdir(exist_ok=True)
        log = self.directory / f"replica-{replica_id}-{self.runs}.log"
        log_file = log.open("wb")
        inherited = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(
                ("TWITCH_", "REDIS_", "DATABASE_", "POSTGRES_", "STREAMCORE_", "WS_")
            )
        }
        env = {
            **inherited,
            **self.env,
            "STREAMCORE_REPLICA_ID": replica_id,
            "STREAMCORE_DATA_DIR": str(data_dir),
            **extra,
            "PYTHONPATH": str(ROOT),
        }
        process = subprocess.Popen(
            [sys.executable, "-m", "cli.main", "run", "--port", str(port)],
            cwd=self.directory,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        replica = Replica(replica_id, port, process, log, log_file)
        self.processes.append(replica)
        return replica

    async def start(self, replica_id: str, **extra: str) -> Replica:
        """Start a replica and wait until it answers; it becomes `replicas[replica_id]`."""
        replica = self.launch(replica_id, **extra)
        self.replicas[replica_id] = replica
        await self.wait_serving(replica)
        return replica

    async def wait_serving(self, replica: Replica) -> None:
        async def serving() -> bool:
            if not replica.alive:
                raise AssertionError(
                    f"replica {replica.replica_id} exited early:\n{replica.tail()}"
                )
            return (await replica.get("/")).status_code == 200

        await eventually(
            serving,
            within_s=START_S,
            ignoring=(httpx.HTTPError,),
            what=f"replica {replica.replica_id} answering",
            interval_s=0.1,
        )

    async def ensure_up(self, *replica_ids: str) -> None:
        """Start whichever of `replica_ids` is not running."""
        await asyncio.gather(
            *(
                self.start(rid)
                for rid in replica_ids
                if rid not in self.replicas or not self.replicas[rid].alive
            )
        )

    def live(self) -> list[Replica]:
        return [r for r in self.replicas.values() if r.alive]

    async def close(self) -> None:
        await asyncio.gather(*(r.terminate() for r in self.processes), return_exceptions=True)

    def logs(self) -> str:
        """Every live replica's recent log, for a failure message."""
        return "\n".join(f"--- replica {r.replica_id} ---\n{r.tail(3000)}" for r in self.live())

    # -- authorization and the system ----------------------------------------------------------

    async def authorize(self, replica: Replica) -> None:
        """The browser's part of the OAuth dance against `replica`'s own routes."""
        link = (await replica.get("/tokens/link")).json()
        async with httpx.AsyncClient(timeout=10) as browser:
            approval = await browser.get(link["auth_url"], follow_redirects=False)
        callback = httpx.URL(approval.headers["location"])
        assert str(callback).startswith(CALLBACK), callback
        async with httpx.AsyncClient(base_url=replica.url, timeout=10) as http:
            done = await http.get(
                f"/tokens/callback?{callback.query.decode()}",
                headers={"Accept": "application/json"},
            )
        assert done.status_code == 200, done.text

    async def ensure_authorized(self, replica: Replica) -> None:
        if (await replica.status())["auth"]["state"] != "ok":
            await self.authorize(replica)

    async def statuses(self) -> dict[str, dict[str, Any]]:
        """GET /system/status of every live replica, by replica id."""
        live = self.live()
        bodies = await asyncio.gather(*(r.status() for r in live))
        return {r.replica_id: body for r, body in zip(live, bodies, strict=True)}

    async def coordinator(self) -> Replica:
        """The live replica that says it is the coordinator, once exactly one does and every
        live replica names it."""

        async def settled() -> Replica | None:
            statuses = await self.statuses()
            acting = [rid for rid, s in statuses.items() if s["cluster"]["is_coordinator"]]
            named = {
                (s["cluster"]["coordinator"] or {}).get("replica_id") for s in statuses.values()
            }
            if len(acting) == 1 and named == set(acting):
                return self.replicas[acting[0]]
            return None

        return await until(
            settled, within_s=WAIT_S, ignoring=(httpx.HTTPError,), what="one agreed coordinator"
        )

    async def wait_subscribed(self, replica: Replica) -> dict[str, Any]:
        """`replica`'s status once its gateway is connected and subscribed (every wanted
        subscription settled, at least one enabled, none pending)."""

        async def subscribed() -> dict[str, Any] | None:
            status = await replica.status()
            subs = status["subscriptions"]
            if (
                status["gateway"]["state"] == "connected"
                and status["gateway"].get("reason") == "subscribed"
                and any(s["status"] == "enabled" for s in subs)
                and not any(s["status"] == "pending" for s in subs)
            ):
                return status
            return None

        return await until(
            subscribed,
            within_s=WAIT_S,
            ignoring=(httpx.HTTPError,),
            what=f"replica {replica.replica_id}'s gateway subscribed",
        )

    async def running_everywhere(self, running: bool) -> dict[str, dict[str, Any]]:
        """Every live replica's status once each reports `running` and the desired state."""
        desired = "running" if running else "stopped"

        async def settled() -> dict[str, dict[str, Any]] | None:
            statuses = await self.statuses()
            if all(s["running"] is running and s["desired"] == desired for s in statuses.values()):
                return statuses
            return None

        return await until(
            settled,
            within_s=WAIT_S,
            ignoring=(httpx.HTTPError,),
            what=f"every replica reporting running={running}, desired={desired}",
        )

    # -- the simulator's control API -----------------------------------------------------------

    async def sim_get(self, path: str) -> list[dict[str, Any]]:
        async with httpx.AsyncClient(timeout=10) as http:
            response = await http.get(f"{self.sim.http_url}/control/{path}")
        response.raise_for_status()
        data: list[dict[str, Any]] = response.json()["data"]
        return data

    async def sessions(self) -> list[dict[str, Any]]:
        """Every EventSub session the simulator has seen (closed ones too)."""
        return await self.sim_get("sessions")

    async def connected_sessions(self) -> list[dict[str, Any]]:
        return [s for s in await self.sessions() if s["status"] == "connected"]

    async def subscriptions(self) -> list[dict[str, Any]]:
        return await self.sim_get("subscriptions")

    async def trigger(self, sub_type: str, event: dict[str, Any]) -> dict[str, Any]:
        async with httpx.AsyncClient(timeout=10) as http:
            response = await http.post(
                f"{self.sim.http_url}/control/trigger", json={"type": sub_type, "event": event}
            )
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body


@asynccontextmanager
async def cluster_backends(
    directory: Path, extra_env: Mapping[str, str] | None = None
) -> AsyncIterator[Cluster]:
    """The simulator (in-process), a clean Redis database and a fresh PostgreSQL schema; the
    replicas' shared settings, plus `extra_env` (e.g. TWITCH_EVENTSUB_TRANSPORT=conduit).
    Every replica started through the Cluster stops afterwards."""
    from simulator.testing import run_simulator

    async with (
        run_simulator(redirect_uri=CALLBACK) as sim,
        clean_redis_db() as redis_url,
        fresh_postgres_schema() as (dsn, schema),
    ):
        connection = await asyncpg.connect(dsn)
        try:
            await connection.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        finally:
            await connection.close()
        env = {
            **sim.env(),
            "TWITCH_REDIRECT_URI": CALLBACK,
            "REDIS_URL": redis_url,
            "DATABASE_URL": f"{dsn}?search_path={schema}",
            "TOKEN_ENCRYPTION_KEY": Fernet.generate_key().decode(),
            "STREAMCORE_HOST": "127.0.0.1",
            "STREAMCORE_LEASE_S": f"{LEASE_S:g}",
            "STREAMCORE_LOG_LEVEL": "INFO",
            **(extra_env or {}),
        }
        cluster = Cluster(sim, env, directory)
        try:
            yield cluster
        finally:
            await cluster.close()


class HeldRedis:
    """A TCP forwarder to Redis that accepts connections at once but forwards nothing until
    `release()`: a process started through it gets past its imports and then waits on its
    first Redis command, so the test decides to the millisecond when it really starts."""

    def __init__(self, redis_url: str) -> None:
        target = urlsplit(redis_url)
        self._target = (target.hostname or "127.0.0.1", target.port or 6379)
        self.port = free_port()
        self.url = urlunsplit(target._replace(netloc=f"127.0.0.1:{self.port}"))
        self.waiting = 0
        self._released = asyncio.Event()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: list[asyncio.StreamWriter] = []

    async def open(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    def release(self) -> None:
        self._released.set()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.append(writer)
        self.waiting += 1
        try:
            await self._released.wait()
            upstream_reader, upstream_writer = await asyncio.open_connection(*self._target)
            self._writers.append(upstream_writer)
            await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            self._tasks.discard(task)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for writer in self._writers:
            writer.close()
        if self._server is not None:
            await self._server.wait_closed()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    finally:
        writer.close()


class EventsClient:
    """A `/ws/events` client on one replica that records every envelope it receives."""

    def __init__(self, ws: ClientConnection, replica_id: str) -> None:
        self.ws = ws
        self.replica_id = replica_id
        self.received: list[dict[str, Any]] = []
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def open(cls, replica: Replica, events: str) -> EventsClient:
        """Connect and wait for a pong: the replica answers only once the client is
        registered with its fan-out (events/session.py), so nothing published later is
        missed."""
        ws = await connect(f"ws://127.0.0.1:{replica.port}/ws/events?events={events}")
        await ws.send(json.dumps({"op": "ping"}))
        while True:
            envelope = json.loads(await asyncio.wait_for(ws.recv(), 10))
            if envelope["event"] == "system.pong":
                break
        return cls(ws, replica.replica_id)

    async def _read(self) -> None:
        with contextlib.suppress(Exception):
            async for text in self.ws:
                self.received.append(json.loads(text))

    def named(self, name: str) -> list[dict[str, Any]]:
        return [e for e in self.received if e["event"] == name]

    def follows_of(self, user_name: str) -> list[dict[str, Any]]:
        """The `alert.follow` envelopes for `user_name`."""
        return [
            e
            for e in self.named("alert.follow")
            if (e["data"].get("user") or {}).get("name") == user_name
        ]

    async def close(self) -> None:
        await self.ws.close()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader


async def follow_arrives_once(
    cluster: Cluster, client: EventsClient, user_name: str, settle_s: float = 1.5
) -> None:
    """Trigger a channel.follow by `user_name` at the simulator; the client gets its
    `alert.follow` exactly once (counted again `settle_s` after the first arrives)."""
    delivered = await cluster.trigger("channel.follow", {"user_name": user_name})
    assert delivered["delivered"] == 1, delivered
    await eventually(
        lambda: client.follows_of(user_name),
        within_s=WAIT_S,
        what=f"alert.follow for {user_name} on replica {client.replica_id}'s client",
    )
    # Only a wait can show that no second copy follows; the first arrival bounds the delay.
    await asyncio.sleep(settle_s)
    copies = client.follows_of(user_name)
    assert len(copies) == 1, copies


@contextmanager
def logs_on_failure(cluster: Cluster) -> Iterator[None]:
    """Print the live replicas' logs when the block fails (pytest shows them with the error)."""
    try:
        yield
    except BaseException:
        print(cluster.logs())
        raise
