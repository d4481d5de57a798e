"""The processes the fault benchmark (bench/faults.py) runs, and how it starts and stops them.

- `Redis`: a private redis-server on a free loopback port with the append-only file on, which
  `kill()` SIGKILLs and `start()` brings back on the same port and directory;
- `StreamCore`: `streamcore run` (`python -m cli.main run`) as a subprocess on that Redis and a
  SQLite store in a temporary directory, authorized through its own OAuth flow against the
  simulator and started with POST /system/start (`ready()`), with its status and log summary;
- `Client`: one /ws/events WebSocket client recording every alert.follow frame, reconnecting
  with ?since= after a close;
- the plumbing around them: `spawn` (every child registered in `PROCESSES`, killed if this
  process dies), `stop`, `kill_all`, `signals_cancel` (Ctrl+C and SIGTERM cancel the run while
  the in-process simulator serves), `wait_for` and `free_port`.
The simulator itself runs in-process (simulator.testing.run_simulator), started by the scenario.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from cryptography.fernet import Fernet
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from simulator.testing import RunningSimulator

ROOT = Path(__file__).resolve().parent.parent

EVENT = "alert.follow"
#: Every process this bench started; killed on the way out, whatever happens.
PROCESSES: list[subprocess.Popen[bytes]] = []


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:
    """Children get SIGKILL if this process dies without cleaning up (Linux)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def spawn(command: list[str], **options: Any) -> subprocess.Popen[bytes]:
    # Own session: a Ctrl+C reaches only this process, which then stops the others in order.
    process = subprocess.Popen(
        command, start_new_session=True, preexec_fn=_die_with_parent, **options
    )
    PROCESSES.append(process)
    return process


def stop(process: subprocess.Popen[bytes] | None, grace_s: float = 15.0) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(grace_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


def kill_all() -> None:
    for process in PROCESSES:
        if process.poll() is None:
            process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(5)


def streamcore_environ(sim: RunningSimulator) -> dict[str, str]:
    """The environment for a `streamcore run` under test: the caller's, without any of its
    StreamCore, Twitch or backend settings, plus the simulator's and this checkout's path."""
    prefixes = ("STREAMCORE_", "TWITCH_", "WS_", "EVENTS_", "EVENTSUB_", "WORKER_", "POSTGRES_")
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.upper().startswith(prefixes)
        and name.upper() not in ("REDIS_URL", "DATABASE_URL", "TOKEN_ENCRYPTION_KEY")
    }
    env.update(sim.env(), PYTHONPATH=str(ROOT))
    return env


def run_to_exit(run: Coroutine[Any, Any, int]) -> int:
    """A bench's exit status: `run`'s, 130 when interrupted; every process it started is
    killed on the way out, whatever happens."""
    try:
        return asyncio.run(run)
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("\ninterrupted", file=sys.stderr)
        return 130
    finally:
        kill_all()  # the last resort: nothing this bench started outlives it


@contextlib.contextmanager
def signals_cancel(task: asyncio.Task[Any]) -> Iterator[None]:
    """While the in-process simulator serves, Ctrl+C and SIGTERM cancel the run.

    uvicorn's `Server.serve` replaces the SIGINT and SIGTERM handlers with its own (which
    would quietly stop only the simulator and let the run go on); installed after it started,
    these win, and uvicorn restores the previous ones when it stops. A second signal kills the
    children at once."""
    loop = asyncio.get_running_loop()

    def cancel(signum: int, frame: Any) -> None:
        if task.cancelling():
            kill_all()
        loop.call_soon_threadsafe(task.cancel)

    previous = {sig: signal.signal(sig, cancel) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


async def wait_for(what: str, check: Any, timeout_s: float, interval_s: float = 0.1) -> Any:
    """Poll the async `check` until it returns something truthy; RuntimeError after timeout."""
    deadline = time.monotonic() + timeout_s
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = await check()
        except (OSError, httpx.HTTPError) as error:
            last_error, value = error, None
        if value:
            return value
        await asyncio.sleep(interval_s)
    detail = f" (last error: {last_error})" if last_error else ""
    raise RuntimeError(f"timed out after {timeout_s:g} s waiting for {what}{detail}")


# -- Redis -------------------------------------------------------------------------------------


class Redis:
    """A private redis-server with the append-only file on; kill() and start() again at will."""

    def __init__(self, directory: Path, fsync: str = "always") -> None:
        self.directory = directory
        self.fsync = fsync
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.log = directory / "redis.log"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--appendonly", "yes", "--appendfsync", self.fsync, "--save", ""]
        command += ["--dir", str(self.directory), "--logfile", str(self.log)]
        process = self.process = spawn(command, stdout=subprocess.DEVNULL)

        async def pong() -> bool:
            if process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {process.returncode} ({self.log})")
            reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
            try:
                writer.write(b"PING\r\n")
                # "-LOADING ..." while the append-only file is read back: not ready yet.
                return await asyncio.wait_for(reader.readline(), 1) == b"+PONG\r\n"
            finally:
                writer.close()

        await wait_for(f"redis-server on port {self.port}", pong, 30, 0.02)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


# -- StreamCore --------------------------------------------------------------------------------


class StreamCore:
    """`streamcore run` as a subprocess, pointed at the private Redis and the simulator."""

    def __init__(self, workdir: Path, port: int, redis_url: str, sim: RunningSimulator) -> None:
        self.port = port
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = workdir / "streamcore.log"
        data = workdir / "data"
        data.mkdir()
        env = streamcore_environ(sim)
        env.update(
            REDIS_URL=redis_url,
            STREAMCORE_DATA_DIR=str(data),
            TWITCH_REDIRECT_URI=f"{self.base}/tokens/callback",
            STREAMCORE_LOG_LEVEL="WARNING",
            TOKEN_ENCRYPTION_KEY=Fernet.generate_key().decode(),
        )
        with self.log.open("wb") as log:
            # cwd is the temporary directory, so no .env of the checkout is read.
            self.process = spawn(
                [sys.executable, "-m", "cli.main", "run", "--port", str(self.port)],
                cwd=workdir,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        # POSTs from loopback carry our own Origin (the CSRF guard wants it).
        self.origin = {"Origin": self.base}
        self.http = httpx.AsyncClient(base_url=self.base, timeout=10)

    async def close(self) -> None:
        await self.http.aclose()
        await asyncio.to_thread(stop, self.process)

    async def ready(self) -> None:
        """Answering, authorized as the simulated broadcaster, started, subscribed, fanning out."""

        async def answers() -> bool:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"StreamCore exited with {self.process.returncode}: {self.tail()}"
                )
            return (await self.http.get("/")).status_code == 200

        await wait_for("StreamCore to answer GET /", answers, 60, 0.1)
        link = await self.http.get("/tokens/link")
        link.raise_for_status()
        approval = await self.http.get(link.json()["auth_url"], follow_redirects=False)
        if "location" not in approval.headers:
            raise RuntimeError(f"the simulator did not approve: {approval.status_code}")
        callback = await self.http.get(
            approval.headers["location"], headers={"Accept": "application/json"}
        )
        if callback.status_code != 200 or callback.json().get("status") != "connected":
            raise RuntimeError(f"OAuth callback failed: {callback.status_code} {callback.text}")
        started = await self.http.post("/system/start", headers=self.origin)
        if started.status_code != 200:
            raise RuntimeError(f"POST /system/start: {started.status_code} {started.text}")

        async def running() -> bool:
            status = await self.status()
            follow = [s for s in status["subscriptions"] if s["type"] == "channel.follow"]
            alerts = [w for w in status["workers"] if w["name"] == "alerts"]
            return (
                status["gateway"].get("state") == "connected"
                and bool(follow)
                and all(s["status"] == "enabled" for s in follow)
                and bool(alerts)
                and alerts[0]["state"] == "running"
                and bool(status["clients"].get("subscribed"))
            )

        await wait_for("gateway connected, channel.follow enabled, alerts running", running, 30)

    async def status(self) -> dict[str, Any]:
        response = await self.http.get("/system/status")
        response.raise_for_status()
        return dict(response.json())

    def tail(self, lines: int = 5) -> str:
        text = self.log.read_text(errors="replace").strip().splitlines()
        return " | ".join(text[-lines:])

    def log_summary(self) -> tuple[Counter[str], Counter[str]]:
        """Lines per level, and the distinct WARNING/ERROR messages (numbers blanked)."""
        levels: Counter[str] = Counter()
        messages: Counter[str] = Counter()
        for line in self.log.read_text(errors="replace").splitlines():
            found = re.search(r"\b(DEBUG|INFO|WARNING|ERROR|CRITICAL)\b", line)
            if not found:
                continue
            levels[found.group(1)] += 1
            if found.group(1) in ("WARNING", "ERROR", "CRITICAL"):
                text = line[found.end() :].strip()
                text = re.sub(r"\d+(\.\d+)?", "N", text)[:140]
                messages[f"{found.group(1)} {text}"] += 1
        return levels, messages


# -- clients -----------------------------------------------------------------------------------


@dataclass
class Client:
    """One /ws/events client: every alert.follow frame, in arrival order."""

    number: int
    url: str
    frames: list[tuple[str, float, str]] = field(default_factory=list)  # (marker, at, id)
    other_frames: int = 0
    reconnects: int = 0
    closes: list[str] = field(default_factory=list)
    last_id: str | None = None
    connected: asyncio.Event = field(default_factory=asyncio.Event)

    def markers(self) -> set[str]:
        return {marker for marker, _, _ in self.frames}

    async def run(self) -> None:
        """Read until cancelled; after a close, reconnect with ?since= as streamcore.js does."""
        while True:
            url = self.url if self.last_id is None else f"{self.url}&since={self.last_id}"
            try:
                async with connect(
                    url, compression=None, ping_interval=None, open_timeout=10, max_size=2**20
                ) as socket_:
                    self.connected.set()
                    async for message in socket_:
                        at = time.time()
                        envelope = json.loads(message)
                        if envelope.get("event") != EVENT:
                            self.other_frames += 1
                            continue
                        self.last_id = envelope["id"]
                        self.frames.append((envelope["data"]["user"]["name"], at, envelope["id"]))
                    self.closes.append(f"closed {socket_.close_code} {socket_.close_reason}")
            except (OSError, ConnectionClosed, InvalidHandshake, TimeoutError) as error:
                self.closes.append(f"{type(error).__name__}: {error}")
            self.reconnects += 1
            await asyncio.sleep(0.25)
