"""The `streamcore` command as a user runs it: real subprocesses in a scratch folder.

`command(...)` runs one command to its end; `Served` starts `streamcore run` or `streamcore
demo` in its own process group (as a terminal would), waits until it serves, and stops it.
The environment keeps none of the developer's TWITCH_*, REDIS_*, DATABASE_*, POSTGRES_* or
STREAMCORE_* settings, so every test starts from a fresh checkout's defaults.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
#: A cold start (imports, SQLite migrations, the simulator, the OAuth dance) on a busy machine.
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0
#: Above every pid a kernel hands out (Linux's PID_MAX_LIMIT is 2**22): never a live process.
NO_SUCH_PID = 2**22 + 1


def clean_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TWITCH_", "REDIS_", "DATABASE_", "POSTGRES_", "STREAMCORE_"))
    }
    env.update(extra, PYTHONPATH=str(REPO))
    return env


def command(
    args: list[str], cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`streamcore ARGS` in cwd, to its end."""
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args],
        cwd=cwd,
        env=env or clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )


@dataclass
class Served:
    """A `streamcore run` or `streamcore demo` subprocess, leader of its own process group."""

    process: subprocess.Popen[str]
    port: int
    output: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def interrupt(self, times: int = 1) -> None:
        """Ctrl+C as a terminal sends it: SIGINT to the whole process group."""
        for _ in range(times):
            os.killpg(self.process.pid, signal.SIGINT)

    def finish(self) -> tuple[int, str, str]:
        """Wait for the exit: (status, stdout after start-up, stderr)."""
        out, err = self.process.communicate(timeout=STOP_TIMEOUT_S)
        return self.process.returncode, out, err

    def kill(self) -> None:
        """Kill it if it still runs, and close the pipes."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        for pipe in (self.process.stdout, self.process.stderr):
            if pipe is not None:
                pipe.close()


def start(argv: list[str], cwd: Path, port: int, env: dict[str, str] | None = None) -> Served:
    """Start `argv` in its own process group; return once it serves on port."""
    process = subprocess.Popen(
        argv,
        cwd=cwd,
        env=env or clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a shell gives a foreground job
    )
    served = Served(process, port)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            out, err = process.communicate()
            raise AssertionError(f"{argv} exited with {process.returncode}:\n{out}\n{err}")
        try:
            httpx.get(f"{served.url}/", timeout=1)
            return served
        except httpx.HTTPError:
            time.sleep(0.1)
    served.kill()  # closes the pipes: nothing more to read from a server that never served
    raise AssertionError(f"{argv} did not serve on port {port} within {START_TIMEOUT_S} s")


def start_demo(
    cwd: Path, port: int, simulator_port: int, prefix: list[str] | None = None
) -> Served:
    """`streamcore demo` on these ports; return once it printed "Press Ctrl+C to stop."."""
    argv = [*(prefix or [sys.executable, "-m", "cli.main"]), "demo", "--port", str(port)]
    argv += ["--simulator-port", str(simulator_port)]
    process = subprocess.Popen(
        argv,
        cwd=cwd,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    served = Served(process, port)
    assert process.stdout is not None
    deadline = time.monotonic() + START_TIMEOUT_S
    for line in process.stdout:
        served.output.append(line)
        if "Press Ctrl+C to stop." in line:
            return served
        if time.monotonic() > deadline:
            break
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    out, err = process.communicate(timeout=STOP_TIMEOUT_S)
    raise AssertionError(f"the demo did not start:\n{''.join(served.output)}{out}\n{err}")


@pytest.fixture
def servers() -> Iterator[list[Served]]:
    """Servers a test started; any still running at the end are killed."""
    started: list[Served] = []
    yield started
    for served in started:
        served.kill()
