"""A private redis-server that tests can kill and restart (append-only file on, so the
streams survive), and the `redis_server` fixture that runs one per test."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.polling import eventually


class RedisServer:
    """A private redis-server with an append-only file, so a restart keeps the streams."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        """Start redis-server and return once it answers PING."""
        process = self.process = self._launch()

        async def answers_ping() -> bool:
            if process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {process.returncode}")
            probe = await asyncio.create_subprocess_exec(
                *("redis-cli", "-p", str(self.port), "ping"),
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )
            output, _ = await probe.communicate()
            return output.strip() == b"PONG"

        await eventually(
            answers_ping, what=f"redis-server answering PING on port {self.port}", interval_s=0.05
        )

    def _launch(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--dir",
                str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait()


@pytest.fixture
async def redis_server(tmp_path: Path) -> AsyncIterator[RedisServer]:
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is not installed")
    server = RedisServer(tmp_path)
    await server.start()
    try:
        yield server
    finally:
        if server.process and server.process.poll() is None:
            server.kill()
