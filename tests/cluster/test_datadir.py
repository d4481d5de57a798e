"""`DataDirLock`: one process per embedded data dir, across real processes; the kernel drops
the lock of a killed holder; a second `streamcore run` on the same data dir is refused with
one clear line."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cluster import DataDirInUse, DataDirLock
from cluster.datadir import LOCK_FILE
from tests.conftest import free_port
from tests.polling import eventually

REPO = Path(__file__).resolve().parents[2]

HOLD = """
import sys, time
from pathlib import Path
from cluster import DataDirLock
DataDirLock(Path(sys.argv[1])).acquire()
print("locked", flush=True)
time.sleep(600)
"""

TRY = """
import sys
from pathlib import Path
from cluster import DataDirInUse, DataDirLock
try:
    DataDirLock(Path(sys.argv[1])).acquire()
except DataDirInUse as error:
    print(f"refused: {error}", flush=True)
    sys.exit(3)
print("acquired", flush=True)
"""


def python(code: str, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=15)


def hold_in_another_process(
    data_dir: Path, processes: list[subprocess.Popen[str]]
) -> subprocess.Popen[str]:
    holder = python(HOLD, str(data_dir))
    processes.append(holder)
    assert holder.stdout is not None
    line = holder.stdout.readline()
    assert line.strip() == "locked", f"the holder did not take the lock: {line}"
    return holder


def assert_names_dir_and_fix(message: str, data_dir: Path, holder_pid: int) -> None:
    assert str(data_dir) in message
    assert f"pid {holder_pid}" in message
    assert "STREAMCORE_DATA_DIR" in message
    assert "REDIS_URL" in message


@pytest.mark.slow  # subprocesses
def test_second_process_is_refused_while_the_first_holds_the_dir(
    tmp_path: Path, processes: list[subprocess.Popen[str]]
) -> None:
    data_dir = tmp_path / "data"
    holder = hold_in_another_process(data_dir, processes)

    # This test's own process is a second process ...
    with pytest.raises(DataDirInUse) as refused:
        DataDirLock(data_dir).acquire()
    assert_names_dir_and_fix(str(refused.value), data_dir, holder.pid)

    # ... and so is a third one, started fresh.
    other = python(TRY, str(data_dir))
    output, _ = other.communicate(timeout=60)
    assert other.returncode == 3, output
    assert output.startswith("refused: "), output
    assert_names_dir_and_fix(output, data_dir, holder.pid)
    assert holder.poll() is None  # the refused ones never disturbed the holder


@pytest.mark.slow  # subprocesses
def test_killed_holders_lock_is_dropped_by_the_kernel(
    tmp_path: Path, processes: list[subprocess.Popen[str]]
) -> None:
    data_dir = tmp_path / "data"
    holder = hold_in_another_process(data_dir, processes)
    holder.kill()  # SIGKILL: no clean-up code runs
    holder.wait(timeout=15)
    # The lock file is still there, naming the dead process ...
    assert (data_dir / LOCK_FILE).exists()
    # ... but nothing holds the lock any more.
    lock = DataDirLock(data_dir)
    lock.acquire()
    try:
        assert (data_dir / LOCK_FILE).read_text() == f"pid {os.getpid()}\n"
        other = python(TRY, str(data_dir))
        output, _ = other.communicate(timeout=60)
        assert other.returncode == 3 and f"pid {os.getpid()}" in output, output
    finally:
        lock.release()
    other = python(TRY, str(data_dir))
    output, _ = other.communicate(timeout=60)
    assert (other.returncode, output.strip()) == (0, "acquired")


def test_lock_in_one_process_release_and_reacquire(tmp_path: Path) -> None:
    data_dir = tmp_path / "missing" / "data"  # created on acquire
    first = DataDirLock(data_dir)
    first.acquire()
    assert data_dir.is_dir()
    # A second lock on the same dir conflicts even within one process.
    with pytest.raises(DataDirInUse):
        DataDirLock(data_dir).acquire()
    first.release()
    first.release()  # twice is harmless
    second = DataDirLock(data_dir)
    second.acquire()
    second.release()
    # Another dir is independent.
    DataDirLock(tmp_path / "elsewhere").acquire()


# -- two `streamcore run` on one data dir ------------------------------------------------------


def streamcore_run(port: int, data_dir: Path, cwd: Path) -> subprocess.Popen[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TWITCH_", "REDIS_", "DATABASE_", "POSTGRES_", "STREAMCORE_"))
    }
    env.update(PYTHONPATH=str(REPO), STREAMCORE_DATA_DIR=str(data_dir))
    return subprocess.Popen(
        [sys.executable, "-m", "cli.main", "run", "--port", str(port)],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.mark.slow  # `streamcore run` subprocesses
async def test_second_streamcore_run_on_the_same_data_dir_exits_with_one_line(
    tmp_path: Path, processes: list[subprocess.Popen[str]]
) -> None:
    data_dir = tmp_path / "shared-data"
    port = free_port()
    first = streamcore_run(port, data_dir, tmp_path)
    processes.append(first)

    async def healthy() -> bool:
        if first.poll() is not None:
            raise AssertionError(f"the first streamcore exited:\n{first.communicate()[0]}")
        async with httpx.AsyncClient(timeout=1) as client:
            return (await client.get(f"http://127.0.0.1:{port}/")).status_code == 200

    await eventually(
        healthy, within_s=30, ignoring=(httpx.HTTPError,), what="the first streamcore serving"
    )

    second = streamcore_run(free_port(), data_dir, tmp_path)
    processes.append(second)
    output, _ = second.communicate(timeout=60)
    assert second.returncode != 0, output
    assert "Traceback" not in output, output
    lines = [line for line in output.splitlines() if "in use by" in line]
    assert len(lines) == 1, output
    (line,) = lines
    assert str(data_dir) in line
    assert f"pid {first.pid}" in line
    assert "STREAMCORE_DATA_DIR" in line and "REDIS_URL" in line
    # The first one still serves.
    assert await healthy()


@pytest.mark.slow  # `streamcore run` subprocesses
async def test_two_streamcore_runs_started_at_once_on_a_fresh_data_dir_one_serves(
    tmp_path: Path, processes: list[subprocess.Popen[str]]
) -> None:
    data_dir = tmp_path / "fresh-data"  # not created yet: both race to create and migrate it
    ports = [free_port(), free_port()]
    both = [streamcore_run(port, data_dir, tmp_path) for port in ports]
    processes.extend(both)

    async def one_exited() -> bool:
        return any(process.poll() is not None for process in both)

    await eventually(one_exited, within_s=60, interval_s=0.1, what="one of the two exiting")
    (loser,) = [process for process in both if process.poll() is not None]
    (winner,) = [process for process in both if process is not loser]
    output, _ = loser.communicate(timeout=15)
    assert loser.returncode != 0, output
    assert "Traceback" not in output, output
    lines = [line for line in output.splitlines() if "in use by" in line]
    assert len(lines) == 1 and str(data_dir) in lines[0], output
    port = ports[both.index(winner)]

    async def winner_serves() -> bool:
        assert winner.poll() is None, "the winner exited too"
        async with httpx.AsyncClient(timeout=1) as client:
            return (await client.get(f"http://127.0.0.1:{port}/")).status_code == 200

    await eventually(
        winner_serves, within_s=30, ignoring=(httpx.HTTPError,), what="the winner serving"
    )
