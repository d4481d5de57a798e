"""`streamcore run` end to end, as a user runs it: a subprocess and real HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port
from tests.polling import eventually

pytestmark = pytest.mark.slow  # `streamcore run` as a subprocess

REPO = Path(__file__).resolve().parents[2]


def streamcore(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    full_env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TWITCH_", "REDIS_", "DATABASE_", "POSTGRES_", "STREAMCORE_"))
    }
    full_env.update(env, PYTHONPATH=str(REPO))
    return subprocess.Popen(
        [sys.executable, "-m", "cli.main", *args],
        cwd=cwd,
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.fixture
def served() -> Iterator[list[subprocess.Popen[str]]]:
    processes: list[subprocess.Popen[str]] = []
    yield processes
    for process in processes:
        if process.poll() is None:
            process.terminate()
            process.wait(10)


async def wait_for_health(port: int, process: subprocess.Popen[str]) -> dict[str, object]:
    """The health answer, once the server answers; fails at once if the process exited."""

    async def health() -> dict[str, object]:
        if process.poll() is not None:
            raise AssertionError(f"streamcore exited early:\n{process.stdout.read()}")  # type: ignore[union-attr]
        async with httpx.AsyncClient(timeout=1) as client:
            answer: dict[str, object] = (await client.get(f"http://127.0.0.1:{port}/")).json()
            return answer

    return await eventually(
        health,
        within_s=30,
        ignoring=(httpx.HTTPError,),
        what=f"streamcore answering on port {port}",
        interval_s=0.1,  # leave the starting process the CPU
    )


def stop_and_read(process: subprocess.Popen[str]) -> str:
    process.terminate()
    output, _ = process.communicate(timeout=15)
    return output


async def test_fresh_checkout_serves_health_on_embedded_backends(
    tmp_path: Path, served: list[subprocess.Popen[str]]
) -> None:
    port = free_port()
    process = streamcore(["run", "--port", str(port)], tmp_path, {})
    served.append(process)
    assert await wait_for_health(port, process) == {"status": "StreamCore Online", "running": False}
    output = stop_and_read(process)
    assert "Bus: in-process" in output
    assert "Store: SQLite" in output
    assert (tmp_path / "data" / "streamcore.db").exists()


async def test_redis_and_postgres_settings_select_those_backends(
    tmp_path: Path,
    served: list[subprocess.Popen[str]],
    redis_url: str,
    postgres_dsn_and_schema: tuple[str, str],
) -> None:
    import asyncpg

    dsn, schema = postgres_dsn_and_schema
    connection = await asyncpg.connect(dsn)
    await connection.execute(f'CREATE SCHEMA "{schema}"')
    await connection.close()
    port = free_port()
    env = {"REDIS_URL": redis_url, "DATABASE_URL": f"{dsn}?search_path={schema}"}
    process = streamcore(["run", "--port", str(port)], tmp_path, env)
    served.append(process)
    assert (await wait_for_health(port, process))["status"] == "StreamCore Online"
    output = stop_and_read(process)
    assert "Bus: Redis" in output
    assert "Store: PostgreSQL" in output
    connection = await asyncpg.connect(dsn)
    try:
        version = await connection.fetchval(f'SELECT MAX(version) FROM "{schema}".schema_version')
    finally:
        await connection.close()
    assert version == 1


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"REDIS_URL": "localhost:6379"}, "Invalid setting REDIS_URL:"),
        ({"DATABASE_URL": "sqlite:///x.db"}, "Invalid setting DATABASE_URL:"),
        ({"REDIS_URL": "redis://127.0.0.1:1/0"}, "Cannot reach Redis at redis://127.0.0.1:1/0"),
        (
            {"DATABASE_URL": "postgresql://u:secretpw@127.0.0.1:1/db"},
            "Cannot reach PostgreSQL at postgresql://u:***@127.0.0.1:1/db",
        ),
    ],
)
def test_bad_backend_url_gives_one_line_error(
    tmp_path: Path, env: dict[str, str], expected: str
) -> None:
    process = streamcore(["run", "--port", str(free_port())], tmp_path, env)
    output, _ = process.communicate(timeout=30)
    assert process.returncode != 0
    assert "Traceback" not in output
    assert "secretpw" not in output
    lines = [line for line in output.splitlines() if expected in line]
    assert len(lines) == 1, output
